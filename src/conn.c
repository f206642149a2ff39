/*
 * conn.c: our own connection to a Redis node: sockets, name resolution,
 * TLS, output buffer and reply reader.
 *
 * DESIGN
 * hiredis 0.14.1 (what Debian 12 ships) stays for what it is made for:
 * formatting commands (redisFormatCommandArgv) and parsing RESP
 * (redisReader). Its connection code does not fit us: it has no TLS, it
 * resolves names with a blocking getaddrinfo() inside
 * redisConnectNonBlock() (a slow DNS server then stalls the node's worker,
 * its timers and destroy), and its sockets get FD_CLOEXEC only after they
 * exist (a fork()+exec() on another thread in between leaks them). So this
 * file owns the socket, and is the only one in src/ that does.
 *
 *   - Sockets are created with SOCK_NONBLOCK | SOCK_CLOEXEC (atomic: no
 *     window for a child to inherit them), then TCP_NODELAY (commands are
 *     small and latency-bound) and SO_KEEPALIVE (a peer that vanished
 *     without a reset is found even when idle; the worker's command
 *     timeout covers busy connections).
 *   - Names are resolved on a short-lived detached thread per lookup that
 *     signals an eventfd the worker polls, so the worker never blocks and
 *     its connect timeout bounds the lookup. The request is reference-
 *     counted between the two: whichever lets go last frees it, so closing
 *     a connection (or destroying the manager) never waits for a lookup,
 *     and a lookup that ends late touches only its own memory. A lookup
 *     still running when its connect gave up is kept, and the next
 *     connect waits on it rather than start another: a resolver that
 *     hangs costs one thread per node, not one per reconnect. IP literals
 *     and unix paths skip the thread. Every address the name gives is
 *     tried in turn (IPv4 and IPv6) within the connect timeout.
 *     Rejected: getaddrinfo_a() (its completion runs on a glibc thread
 *     just the same, gai_cancel() cannot stop a running lookup, and the
 *     notification's lifetime rules are harder to state); one resolver
 *     thread per manager (a slow name would hold up the lookups of the
 *     other nodes behind it); a blocking getaddrinfo() on the worker (the
 *     problem above).
 *   - TLS is OpenSSL 3 on the non-blocking socket: one SSL_CTX per
 *     manager (redlock__tls), one SSL per connection. The handshake is
 *     driven by poll like the connect, so the worker's connect timeout
 *     bounds it. SNI and host name (or IP) verification are on unless the
 *     caller opts out loudly. A TLS failure is always ETLS with its cause
 *     in the message, and a rediss:// node is never tried in plaintext.
 *     SSL_read/SSL_write may each want the other direction
 *     (WANT_READ/WANT_WRITE): both are tracked and turned into poll
 *     events. Rejected: hiredis async contexts (no TLS in 0.14.1, and an
 *     event-loop adapter for one fd per thread adds nothing).
 *   - Output: commands are formatted into one buffer and written together
 *     (pipelining). Input: each read feeds a redisReader built with our
 *     bounded reply functions (reply.h), with the unparsed input checked
 *     against REDLOCK_REPLY_MAX_BUFFER after every read, so a hostile
 *     node cannot make us allocate without bound.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "classify.h"
#include "conn.h"
#include "internal.h"
#include "reply.h"
#include "uri.h"

/* Bytes read from the socket per call. */
#define READ_CHUNK 16384u
/* Unused reader buffer hiredis keeps between replies; a larger one is
 * freed once empty, so a burst of big replies does not pin memory. */
#define READER_MAXBUF (64u * 1024u)
/* An output buffer at least this large is freed once written. */
#define OBUF_KEEP (64u * 1024u)
/* Keepalive: first probe after this many idle seconds. */
#define KEEPALIVE_IDLE_S 30

/* ------------------------------------------------------------------------
 * TLS settings (one per manager)
 * ------------------------------------------------------------------------ */

struct redlock__tls {
    SSL_CTX *ctx;
    /* Held around each handshake step (SSL_connect) of every connection
     * of the manager: certificate verification against the shared store
     * is not free of races in Debian's OpenSSL 3.0 (openssl/openssl#25202,
     * and by_dir lookups, fixed only in 3.2 by openssl/openssl#24295).
     * A step is short and handshakes are rare (connects only), so
     * serialising them costs a few ms at most when every node connects
     * at once. A leaf in the LOCK ORDER list (internal.h). */
    pthread_mutex_t handshake_mu;
    char *server_name; /* NULL: each node's host */
    bool insecure;
};


/* Describe OpenSSL's oldest queued error into buf (and clear the queue). */
static void ssl_err_text(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(buf, len, "%s", fallback);
        return;
    }
    char tmp[200];
    ERR_error_string_n(e, tmp, sizeof(tmp));
    snprintf(buf, len, "%s", tmp);
    ERR_clear_error();
}

redlock_status redlock__tls_new(const redlock_options *o, redlock__tls **out,
                                char *err, size_t errlen)
{
    *out = NULL;
    if ((o->tls_cert_file == NULL) != (o->tls_key_file == NULL)) {
        snprintf(err, errlen, "TLS: %s",
                 o->tls_cert_file != NULL
                     ? "tls_cert_file needs tls_key_file"
                     : "tls_key_file needs tls_cert_file");
        return REDLOCK_ETLS;
    }
    redlock__tls *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return REDLOCK_ENOMEM;
    }
    if (pthread_mutex_init(&t->handshake_mu, NULL) != 0) {
        free(t);
        snprintf(err, errlen, "out of memory");
        return REDLOCK_ENOMEM;
    }
    char why[200];
    ERR_clear_error();
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL) {
        ssl_err_text(why, sizeof(why), "unknown error");
        snprintf(err, errlen, "TLS: cannot create context: %s", why);
        pthread_mutex_destroy(&t->handshake_mu);
        free(t);
        return REDLOCK_ETLS;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Redis closes without close_notify (restart, crash, SIGTERM), which
     * OpenSSL 3 reports as an SSL error ("unexpected eof"): taken as a
     * plain end of stream instead, it is the I/O failure it is, not a TLS
     * refusal (REDLOCK_ETLS fails an acquire fast). A reply cut short is
     * still caught by the RESP parser. */
    SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    const char *bad = NULL, *what = NULL;
    if (o->tls_ca_file != NULL || o->tls_ca_dir != NULL) {
        if (o->tls_ca_file != NULL &&
            SSL_CTX_load_verify_file(t->ctx, o->tls_ca_file) != 1) {
            bad = o->tls_ca_file;
            what = "CA file";
        } else if (o->tls_ca_dir != NULL &&
                   SSL_CTX_load_verify_dir(t->ctx, o->tls_ca_dir) != 1) {
            bad = o->tls_ca_dir;
            what = "CA directory";
        }
    } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        bad = "(system store)";
        what = "default CA store";
    }
    if (bad == NULL && o->tls_cert_file != NULL) {
        if (SSL_CTX_use_certificate_chain_file(t->ctx, o->tls_cert_file) !=
            1) {
            bad = o->tls_cert_file;
            what = "client certificate";
        } else if (SSL_CTX_use_PrivateKey_file(t->ctx, o->tls_key_file,
                                               SSL_FILETYPE_PEM) != 1) {
            bad = o->tls_key_file;
            what = "client key";
        } else if (SSL_CTX_check_private_key(t->ctx) != 1) {
            bad = o->tls_key_file;
            what = "client key (does not match the certificate)";
        }
    }
    if (bad != NULL) {
        ssl_err_text(why, sizeof(why), "cannot be loaded");
        snprintf(err, errlen, "TLS: cannot load %s %s: %s", what, bad, why);
        redlock__tls_free(t);
        return REDLOCK_ETLS;
    }
    t->insecure = o->tls_insecure_skip_verify != 0;
    SSL_CTX_set_verify(t->ctx, t->insecure ? SSL_VERIFY_NONE
                                           : SSL_VERIFY_PEER,
                       NULL);
    if (o->tls_server_name != NULL && o->tls_server_name[0] != '\0') {
        t->server_name = strdup(o->tls_server_name);
        if (t->server_name == NULL) {
            redlock__tls_free(t);
            snprintf(err, errlen, "out of memory");
            return REDLOCK_ENOMEM;
        }
    }
    *out = t;
    return REDLOCK_OK;
}

void redlock__tls_free(redlock__tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->handshake_mu);
    free(t->server_name);
    free(t);
}

bool redlock__conn_is_ip_literal(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return s != NULL && (inet_pton(AF_INET, s, buf) == 1 ||
                         inet_pton(AF_INET6, s, buf) == 1);
}

/* ------------------------------------------------------------------------
 * The resolver: one detached thread per lookup
 * ------------------------------------------------------------------------ */

static _Atomic(redlock__resolve_fn) test_resolver;

void redlock__conn_test_set_resolver(redlock__resolve_fn fn)
{
    atomic_store_explicit(&test_resolver, fn, memory_order_relaxed);
}

/* A lookup shared by the connection and its resolver thread; the last of
 * the two to let go frees it. */
typedef struct resolve_req {
    atomic_int refs;
    atomic_bool done;     /* release: rc and res are written */
    int efd;              /* eventfd the thread writes when done */
    int rc;               /* getaddrinfo()'s result */
    struct addrinfo *res;
    char port[8];
    char host[];
} resolve_req;

static void req_unref(resolve_req *r)
{
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (r->res != NULL)
        freeaddrinfo(r->res);
    close(r->efd);
    free(r);
}

static void *resolver_main(void *arg)
{
    resolve_req *r = arg;
    redlock__resolve_fn fn =
        atomic_load_explicit(&test_resolver, memory_order_relaxed);
    if (fn != NULL) {
        r->rc = fn(r->host, r->port, &r->res);
    } else {
        struct addrinfo hints;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC; /* IPv4 and IPv6; all tried */
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        r->rc = getaddrinfo(r->host, r->port, &hints, &r->res);
    }
    atomic_store_explicit(&r->done, true, memory_order_release);
    uint64_t one = 1;
    ssize_t w = write(r->efd, &one, sizeof(one));
    (void)w;
    req_unref(r);
    return NULL;
}

/* Start a lookup of host:port; NULL with err set on failure. */
static resolve_req *resolve_start(const char *host, int port, char *err,
                                  size_t errlen)
{
    size_t hl = strlen(host);
    resolve_req *r = calloc(1, sizeof(*r) + hl + 1);
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(r->host, host, hl + 1);
    snprintf(r->port, sizeof(r->port), "%d", port);
    atomic_init(&r->refs, 2);
    atomic_init(&r->done, false);
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->efd < 0) {
        snprintf(err, errlen, "cannot resolve %s: eventfd: %s", host,
                 strerror(errno));
        free(r);
        return NULL;
    }
    pthread_attr_t attr;
    pthread_t th;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = redlock__thread_start(&th, &attr, resolver_main, r);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: no resolver thread: %s",
                 host, strerror(rc));
        close(r->efd);
        free(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------------------
 * The connection
 * ------------------------------------------------------------------------ */

struct redlock__conn {
    const redlock__uri *u;
    redlock__tls *tls;           /* NULL for redis:// and unix:// */
    redlock__reply_guard *guard;
    redlock__conn_phase phase;
    int fd;
    resolve_req *rq;             /* while RESOLVING */
    resolve_req *stale_rq;       /* a lookup still running when the last
                                    connect gave up: the next connect
                                    waits on it instead of starting
                                    another, so a hung resolver costs at
                                    most one thread per connection */
    struct addrinfo *ai_list;    /* owned; addresses to try */
    struct addrinfo *ai_cur;     /* the one being connected to */
    bool ai_numeric;             /* ai_list came from a literal */
    int last_errno;              /* of the last address that failed */
    SSL *ssl;
    bool want_write;             /* TLS handshake or SSL_read wants POLLOUT */
    bool write_wants_read;       /* SSL_write wants POLLIN first */
    redisReader *reader;
    char *obuf;
    size_t olen, opos, ocap;
};

redlock__conn *redlock__conn_new(const redlock__uri *u, redlock__tls *tls,
                                 redlock__reply_guard *guard)
{
    redlock__conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->u = u;
    c->tls = u->tls ? tls : NULL;
    c->guard = guard;
    c->fd = -1;
    c->phase = REDLOCK__CONN_CLOSED;
    return c;
}

void redlock__conn_close(redlock__conn *c)
{
    if (c == NULL)
        return;
    if (c->ssl != NULL) {
        SSL_free(c->ssl); /* no close_notify: the socket goes anyway */
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->rq != NULL) {
        if (c->stale_rq == NULL &&
            !atomic_load_explicit(&c->rq->done, memory_order_acquire))
            c->stale_rq = c->rq; /* kept for the next connect */
        else
            req_unref(c->rq); /* a running lookup frees it when it ends */
        c->rq = NULL;
    }
    if (c->ai_list != NULL) {
        freeaddrinfo(c->ai_list);
        c->ai_list = c->ai_cur = NULL;
    }
    if (c->reader != NULL) {
        redisReaderFree(c->reader);
        c->reader = NULL;
    }
    free(c->obuf);
    c->obuf = NULL;
    c->olen = c->opos = c->ocap = 0;
    c->want_write = c->write_wants_read = false;
    c->phase = REDLOCK__CONN_CLOSED;
}

void redlock__conn_free(redlock__conn *c)
{
    if (c == NULL)
        return;
    redlock__conn_close(c);
    if (c->stale_rq != NULL)
        req_unref(c->stale_rq); /* a running lookup frees it when it ends */
    free(c);
}

redlock__conn_phase redlock__conn_phase_of(const redlock__conn *c)
{
    return c->phase;
}

int redlock__conn_fd(const redlock__conn *c)
{
    if (c->phase == REDLOCK__CONN_RESOLVING)
        return c->rq->efd;
    return c->phase == REDLOCK__CONN_CLOSED ? -1 : c->fd;
}

short redlock__conn_events(const redlock__conn *c)
{
    switch (c->phase) {
    case REDLOCK__CONN_RESOLVING:
        return POLLIN;
    case REDLOCK__CONN_CONNECTING:
        return POLLOUT;
    case REDLOCK__CONN_TLS:
        return c->want_write ? POLLOUT : POLLIN;
    case REDLOCK__CONN_OPEN: {
        short ev = POLLIN;
        if (c->want_write ||
            (c->opos < c->olen && !c->write_wants_read))
            ev |= POLLOUT;
        return ev;
    }
    default:
        return 0;
    }
}

const char *redlock__conn_timeout_message(const redlock__conn *c)
{
    switch (c->phase) {
    case REDLOCK__CONN_RESOLVING:
        return "name resolution timed out";
    case REDLOCK__CONN_TLS:
        return "TLS handshake timed out";
    default:
        return "connect timed out";
    }
}

/* Close and describe a failure; returns st. */
static redlock_status fail(redlock__conn *c, redlock_status st, char *err,
                           size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static redlock_status fail(redlock__conn *c, redlock_status st, char *err,
                           size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    redlock__conn_close(c);
    return st;
}

/* Set the socket options every TCP connection gets. */
static void tune_tcp(int fd)
{
    int one = 1, idle = KEEPALIVE_IDLE_S;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
}

/* The name the node's certificate must carry. */
static const char *tls_name(const redlock__conn *c)
{
    return c->tls->server_name != NULL ? c->tls->server_name : c->u->host;
}

/* Describe why a TLS handshake (or later TLS I/O) failed. */
static redlock_status tls_failure(redlock__conn *c, int ssl_err, int sys_err,
                                  char *err, size_t errlen, bool handshake)
{
    /* The verify result speaks only for a handshake that verified: with
     * verification off OpenSSL still records one (say "self-signed"),
     * which must not turn a reset into a certificate failure. */
    long vr = c->ssl != NULL && handshake && !c->tls->insecure
                  ? SSL_get_verify_result(c->ssl)
                  : X509_V_OK;
    char why[200];
    if (vr == X509_V_ERR_HOSTNAME_MISMATCH ||
        vr == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        char name[120];
        snprintf(name, sizeof(name), "%s", tls_name(c));
        ERR_clear_error();
        return fail(c, REDLOCK_ETLS, err, errlen,
                    "TLS hostname mismatch: the node's certificate is not "
                    "valid for \"%s\"",
                    name);
    }
    if (vr != X509_V_OK) {
        ERR_clear_error();
        return fail(c, REDLOCK_ETLS, err, errlen,
                    "TLS certificate verify failed: %s",
                    X509_verify_cert_error_string(vr));
    }
    if (ssl_err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        /* The connection itself broke (reset, closed): an I/O failure
         * a reconnect may cure, not a TLS refusal. */
        if (sys_err != 0)
            snprintf(why, sizeof(why), "%s", strerror(sys_err));
        else
            snprintf(why, sizeof(why), "connection closed by the node");
        return fail(c, REDLOCK_EIO, err, errlen, "TLS %s failed: %s",
                    handshake ? "handshake" : "connection", why);
    } else {
        ssl_err_text(why, sizeof(why), "unknown TLS error");
    }
    return fail(c, REDLOCK_ETLS, err, errlen, "TLS %s failed: %s",
                handshake ? "handshake" : "connection", why);
}

/* One step of the TLS handshake. */
static redlock_status tls_step(redlock__conn *c, char *err, size_t errlen)
{
    ERR_clear_error();
    pthread_mutex_lock(&c->tls->handshake_mu);
    errno = 0;
    int rc = SSL_connect(c->ssl);
    int sys = errno;
    pthread_mutex_unlock(&c->tls->handshake_mu);
    if (rc == 1) {
        c->phase = REDLOCK__CONN_OPEN;
        c->want_write = false;
        return REDLOCK_OK;
    }
    int se = SSL_get_error(c->ssl, rc);
    if (se == SSL_ERROR_WANT_READ) {
        c->want_write = false;
        return REDLOCK_OK;
    }
    if (se == SSL_ERROR_WANT_WRITE) {
        c->want_write = true;
        return REDLOCK_OK;
    }
    return tls_failure(c, se, sys, err, errlen, true);
}

/* TLS writes that cannot raise SIGPIPE. OpenSSL's socket BIO writes
 * with write(), which raises SIGPIPE when the peer has gone. Workers
 * block every signal, but a calling thread on the fast path (node.c) does
 * TLS I/O too, and its SIGPIPE would kill the process by default. So TLS
 * connections use a copy of the socket BIO whose write is
 * send(MSG_NOSIGNAL), as plain connections use. Built once per process
 * and never freed (one small static allocation, like OpenSSL's own
 * methods). */
static BIO_METHOD *nosig_method;
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

static int nosig_write(BIO *b, const char *buf, int len)
{
    int fd = -1;
    BIO_get_fd(b, &fd);
    ssize_t n;
    do
        n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    BIO_clear_retry_flags(b);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_write(b);
    return (int)n;
}

static void nosig_init(void)
{
    const BIO_METHOD *sock = BIO_s_socket();
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK |
                                     BIO_TYPE_DESCRIPTOR,
                                 "redlock socket (no SIGPIPE)");
    if (m == NULL)
        return;
    if (BIO_meth_set_write(m, nosig_write) != 1 ||
        BIO_meth_set_read(m, BIO_meth_get_read(sock)) != 1 ||
        BIO_meth_set_puts(m, BIO_meth_get_puts(sock)) != 1 ||
        BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(sock)) != 1 ||
        BIO_meth_set_create(m, BIO_meth_get_create(sock)) != 1 ||
        BIO_meth_set_destroy(m, BIO_meth_get_destroy(sock)) != 1) {
        BIO_meth_free(m);
        return;
    }
    nosig_method = m;
}

/* Attach c's socket to c->ssl through the no-SIGPIPE BIO. */
static bool ssl_attach(redlock__conn *c)
{
    pthread_once(&nosig_once, nosig_init);
    if (nosig_method == NULL)
        return false;
    BIO *bio = BIO_new(nosig_method);
    if (bio == NULL)
        return false;
    BIO_set_fd(bio, c->fd, BIO_NOCLOSE);
    SSL_set_bio(c->ssl, bio, bio); /* the SSL owns it from now on */
    return true;
}

/* The socket is connected: start TLS, or be open. */
static redlock_status connected(redlock__conn *c, char *err, size_t errlen)
{
    if (c->ai_list != NULL) {
        freeaddrinfo(c->ai_list);
        c->ai_list = c->ai_cur = NULL;
    }
    if (c->tls == NULL) {
        c->phase = REDLOCK__CONN_OPEN;
        return REDLOCK_OK;
    }
    ERR_clear_error();
    c->ssl = SSL_new(c->tls->ctx);
    if (c->ssl == NULL || !ssl_attach(c)) {
        char why[200];
        ssl_err_text(why, sizeof(why), "out of memory");
        return fail(c, REDLOCK_ETLS, err, errlen, "TLS setup failed: %s",
                    why);
    }
    const char *name = tls_name(c);
    bool ip = redlock__conn_is_ip_literal(name);
    bool ok = true;
    if (!ip)
        ok = SSL_set_tlsext_host_name(c->ssl, name) == 1; /* SNI */
    if (ok && !c->tls->insecure) {
        if (ip)
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
                                               name) == 1;
        else {
            SSL_set_hostflags(c->ssl,
                              X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = SSL_set1_host(c->ssl, name) == 1;
        }
    }
    if (!ok) {
        char why[200];
        ssl_err_text(why, sizeof(why), "invalid name");
        return fail(c, REDLOCK_ETLS, err, errlen,
                    "TLS setup failed for name \"%.100s\": %s", name, why);
    }
    c->phase = REDLOCK__CONN_TLS;
    return tls_step(c, err, errlen);
}

/* Connect to the current address or the next ones; fails when none is
 * left. */
static redlock_status try_addresses(redlock__conn *c, char *err,
                                    size_t errlen)
{
    for (; c->ai_cur != NULL; c->ai_cur = c->ai_cur->ai_next) {
        struct addrinfo *a = c->ai_cur;
        int fd = socket(a->ai_family,
                        SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        a->ai_protocol);
        if (fd < 0) {
            c->last_errno = errno;
            continue;
        }
        tune_tcp(fd);
        c->fd = fd;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            return connected(c, err, errlen);
        if (errno == EINPROGRESS || errno == EINTR) {
            c->phase = REDLOCK__CONN_CONNECTING;
            return REDLOCK_OK;
        }
        c->last_errno = errno;
        close(fd);
        c->fd = -1;
    }
    int e = c->last_errno != 0 ? c->last_errno : ECONNREFUSED;
    return fail(c, redlock__connect_error_status(e, NULL), err, errlen,
                "connect failed: %s", strerror(e));
}

/* Connect to a unix socket. */
static redlock_status open_unix(redlock__conn *c, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(c->u->path) >= sizeof(sa.sun_path))
        return fail(c, REDLOCK_EIO, err, errlen,
                    "connect failed: socket path too long");
    memcpy(sa.sun_path, c->u->path, strlen(c->u->path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        int e = errno;
        return fail(c, REDLOCK_EIO, err, errlen, "connect failed: %s",
                    strerror(e));
    }
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return connected(c, err, errlen);
    if (errno == EINPROGRESS || errno == EINTR) {
        c->phase = REDLOCK__CONN_CONNECTING;
        return REDLOCK_OK;
    }
    int e = errno;
    return fail(c, redlock__connect_error_status(e, NULL), err, errlen,
                "connect failed: %s", strerror(e));
}

/* Take the finished lookup's addresses and start connecting. */
static redlock_status resolved(redlock__conn *c, char *err, size_t errlen)
{
    resolve_req *r = c->rq;
    c->rq = NULL;
    int rc = r->rc;
    c->ai_list = c->ai_cur = r->res;
    r->res = NULL;
    req_unref(r);
    if (rc != 0) {
        /* EAI_SYSTEM keeps its reason in errno, which was the resolver
         * thread's; the text of EAI_SYSTEM is enough here. */
        return fail(c, REDLOCK_EIO, err, errlen,
                    "cannot resolve %.100s: %s", c->u->host,
                    gai_strerror(rc));
    }
    c->last_errno = 0;
    return try_addresses(c, err, errlen);
}

redlock_status redlock__conn_open(redlock__conn *c, char *err, size_t errlen)
{
    redlock__conn_close(c);
    c->reader = redisReaderCreate();
    if (c->reader == NULL)
        return fail(c, REDLOCK_ENOMEM, err, errlen, "out of memory");
    /* Replies are built within limits (reply.h); hiredis keeps at most
     * READER_MAXBUF of empty buffer between replies. */
    redlock__reply_reader_init(c->reader, c->guard);
    c->reader->maxbuf = READER_MAXBUF;
    c->last_errno = 0;
    if (c->u->is_unix)
        return open_unix(c, err, errlen);
    if (c->u->tls && c->tls == NULL)
        return fail(c, REDLOCK_ETLS, err, errlen,
                    "TLS node without TLS settings");
    if (redlock__conn_is_ip_literal(c->u->host)) {
        /* A literal: getaddrinfo() with AI_NUMERICHOST does no lookup. */
        struct addrinfo hints, *res = NULL;
        char port[8];
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
        snprintf(port, sizeof(port), "%d", c->u->port);
        int rc = getaddrinfo(c->u->host, port, &hints, &res);
        if (rc != 0)
            return fail(c, REDLOCK_EIO, err, errlen, "bad address %.100s: %s",
                        c->u->host, gai_strerror(rc));
        c->ai_list = c->ai_cur = res;
        return try_addresses(c, err, errlen);
    }
    if (c->stale_rq != NULL) {
        /* The lookup the last connect gave up on: wait for it (or take
         * its answer) rather than start a second one beside it. */
        c->rq = c->stale_rq;
        c->stale_rq = NULL;
        c->phase = REDLOCK__CONN_RESOLVING;
        return REDLOCK_OK;
    }
    c->rq = resolve_start(c->u->host, c->u->port, err, errlen);
    if (c->rq == NULL) {
        char why[200];
        snprintf(why, sizeof(why), "%s", err);
        return fail(c, REDLOCK_EIO, err, errlen, "%s", why);
    }
    c->phase = REDLOCK__CONN_RESOLVING;
    return REDLOCK_OK;
}

redlock_status redlock__conn_advance(redlock__conn *c, char *err,
                                     size_t errlen)
{
    switch (c->phase) {
    case REDLOCK__CONN_RESOLVING:
        if (!atomic_load_explicit(&c->rq->done, memory_order_acquire))
            return REDLOCK_OK;
        return resolved(c, err, errlen);
    case REDLOCK__CONN_CONNECTING: {
        struct pollfd p = {c->fd, POLLOUT, 0};
        if (poll(&p, 1, 0) <= 0)
            return REDLOCK_OK; /* not yet */
        int e = 0;
        socklen_t len = sizeof(e);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
            e = errno;
        if (e == 0)
            return connected(c, err, errlen);
        if (c->u->is_unix)
            return fail(c, redlock__connect_error_status(e, NULL), err,
                        errlen, "connect failed: %s", strerror(e));
        /* This address failed: try the next. */
        c->last_errno = e;
        close(c->fd);
        c->fd = -1;
        c->ai_cur = c->ai_cur->ai_next;
        return try_addresses(c, err, errlen);
    }
    case REDLOCK__CONN_TLS:
        return tls_step(c, err, errlen);
    default:
        return REDLOCK_OK;
    }
}

/* ------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------ */

bool redlock__conn_append(redlock__conn *c, int argc, const char **argv,
                          const size_t *lens)
{
    if (c->phase == REDLOCK__CONN_CLOSED)
        return false;
    char *cmd = NULL;
    int n = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (n < 0 || cmd == NULL)
        return false;
    if (c->opos > 0 && c->opos == c->olen)
        c->opos = c->olen = 0;
    size_t need = c->olen + (size_t)n;
    if (need > c->ocap) {
        size_t cap = c->ocap < 4096 ? 4096 : c->ocap;
        while (cap < need)
            cap *= 2;
        char *nb = realloc(c->obuf, cap);
        if (nb == NULL) {
            redisFreeCommand(cmd);
            return false;
        }
        c->obuf = nb;
        c->ocap = cap;
    }
    memcpy(c->obuf + c->olen, cmd, (size_t)n);
    c->olen += (size_t)n;
    redisFreeCommand(cmd);
    return true;
}

bool redlock__conn_has_output(const redlock__conn *c)
{
    return c->opos < c->olen;
}

redlock_status redlock__conn_flush(redlock__conn *c, char *err,
                                   size_t errlen)
{
    if (c->phase != REDLOCK__CONN_OPEN)
        return REDLOCK_OK;
    c->write_wants_read = false;
    while (c->opos < c->olen) {
        size_t left = c->olen - c->opos;
        if (c->ssl != NULL) {
            int want = left > (size_t)INT32_MAX ? INT32_MAX : (int)left;
            ERR_clear_error();
            errno = 0;
            int n = SSL_write(c->ssl, c->obuf + c->opos, want);
            if (n > 0) {
                c->opos += (size_t)n;
                continue;
            }
            int se = SSL_get_error(c->ssl, n);
            int sys = errno;
            if (se == SSL_ERROR_WANT_WRITE)
                break; /* POLLOUT: has_output */
            if (se == SSL_ERROR_WANT_READ) {
                c->write_wants_read = true;
                break;
            }
            return tls_failure(c, se, sys, err, errlen, false);
        }
        ssize_t n = send(c->fd, c->obuf + c->opos, left, MSG_NOSIGNAL);
        if (n > 0) {
            c->opos += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        int e = n < 0 ? errno : EPIPE;
        return fail(c, REDLOCK_EIO, err, errlen, "write failed: %s",
                    strerror(e));
    }
    if (c->opos == c->olen) {
        c->opos = c->olen = 0;
        if (c->ocap >= OBUF_KEEP) {
            free(c->obuf);
            c->obuf = NULL;
            c->ocap = 0;
        }
    }
    return REDLOCK_OK;
}

/* ------------------------------------------------------------------------
 * Input
 * ------------------------------------------------------------------------ */

redlock_status redlock__conn_read(redlock__conn *c, bool *eof, char *err,
                                  size_t errlen)
{
    *eof = true;
    if (c->phase != REDLOCK__CONN_OPEN)
        return REDLOCK_OK;
    char buf[READ_CHUNK];
    ssize_t n;
    if (c->ssl != NULL) {
        c->want_write = false;
        ERR_clear_error();
        errno = 0;
        int r = SSL_read(c->ssl, buf, (int)sizeof(buf));
        if (r <= 0) {
            int se = SSL_get_error(c->ssl, r);
            int sys = errno;
            if (se == SSL_ERROR_WANT_READ)
                return REDLOCK_OK;
            if (se == SSL_ERROR_WANT_WRITE) {
                c->want_write = true;
                return REDLOCK_OK;
            }
            if (se == SSL_ERROR_ZERO_RETURN)
                return fail(c, REDLOCK_EIO, err, errlen,
                            "read failed: connection closed by the node");
            if (se == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
                return fail(c, REDLOCK_EIO, err, errlen, "read failed: %s",
                            sys != 0 ? strerror(sys)
                                     : "connection closed by the node");
            return tls_failure(c, se, sys, err, errlen, false);
        }
        n = r;
    } else {
        do
            n = recv(c->fd, buf, sizeof(buf), 0);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return REDLOCK_OK;
        if (n < 0) {
            int e = errno;
            return fail(c, REDLOCK_EIO, err, errlen, "read failed: %s",
                        strerror(e));
        }
        if (n == 0)
            return fail(c, REDLOCK_EIO, err, errlen,
                        "read failed: connection closed by the node");
    }
    if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK)
        return fail(c, REDLOCK_ENOMEM, err, errlen,
                    "read failed: out of memory");
    if (redlock__reply_buffer_over_limit(c->reader))
        return fail(c, REDLOCK_EPROTO, err, errlen,
                    "protocol error: incomplete reply over the buffer "
                    "limit");
    /* A short read from a TCP or unix stream took all the socket held:
     * asking again would only return EAGAIN (one wasted system call per
     * reply on the fast path); what comes later wakes the next poll. TLS
     * goes on until OpenSSL says it wants to read, as its records may
     * hold more than one read returns. */
    *eof = c->ssl == NULL && (size_t)n < sizeof(buf);
    return REDLOCK_OK;
}

redlock_status redlock__conn_get_reply(redlock__conn *c, void **reply,
                                       char *err, size_t errlen)
{
    *reply = NULL;
    if (c->phase != REDLOCK__CONN_OPEN)
        return REDLOCK_OK;
    if (redisReaderGetReply(c->reader, reply) != REDIS_OK) {
        /* hiredis reports a value our builder refused as OOM; the guard
         * knows the real reason. */
        char why[160];
        snprintf(why, sizeof(why), "%s",
                 c->guard != NULL && c->guard->refused != NULL
                     ? c->guard->refused
                     : c->reader->errstr);
        *reply = NULL;
        return fail(c, REDLOCK_EPROTO, err, errlen, "protocol error: %s",
                    why);
    }
    return REDLOCK_OK;
}
