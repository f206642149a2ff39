/*
 * bconn.c: the connections of the limit clients (nodes.c, limit_inline.c):
 * plain through hiredis, or our own socket (TCP or Unix) with OpenSSL on
 * top for rediss:// nodes, hiredis then only formatting commands and
 * parsing replies.
 *
 * DESIGN
 * Moved out of nodes.c unchanged when L1q (limit_inline.c) needed the
 * same connections, plus one addition: bc_connect_raw() gives a plain
 * node our own socket too, because L1q drives N non-blocking sockets
 * from one thread and reads them through redisReader, as the library's
 * own connections do (src/conn.c), while L1 and L2 keep the hiredis
 * contexts they were measured with before. Connect, AUTH and SELECT are
 * blocking with NODE_TIMEOUT_MS; a caller that wants a non-blocking
 * socket switches bc->fd after bc_connect_raw() returns. Rejected: giving
 * L1q hiredis contexts (redisBufferRead on a non-blocking context works,
 * but it is not how the library reads, and TLS would still need the
 * socket path).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bconn.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* Connect and command timeout of the limit clients. */
#define NODE_TIMEOUT_MS 2000

/* The first queued OpenSSL error, or fallback. */
static const char *tls_err(const char *fallback, char *buf, size_t len)
{
    unsigned long e = ERR_get_error();

    ERR_clear_error();
    if (e == 0)
        return fallback;
    ERR_error_string_n(e, buf, len);
    return buf;
}

/* Build the TLS context of the limit clients from tls: verify the peer
 * against the CA (or the system store) unless insecure, present the client
 * certificate if given. Returns NULL with a message on stderr. */
SSL_CTX *bench_link_ctx_new(const bench_tls *tls)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char buf[256];

    if (ctx == NULL) {
        fprintf(stderr, "redlock-bench: limits: SSL_CTX_new: %s\n",
                tls_err("failed", buf, sizeof(buf)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, tls->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                       NULL);
    if ((tls->ca_file != NULL || tls->ca_dir != NULL)
            ? SSL_CTX_load_verify_locations(ctx, tls->ca_file,
                                            tls->ca_dir) != 1
            : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        fprintf(stderr, "redlock-bench: limits: cannot load the CAs: %s\n",
                tls_err("failed", buf, sizeof(buf)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (tls->cert_file != NULL &&
        (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx, tls->key_file, SSL_FILETYPE_PEM) !=
             1)) {
        fprintf(stderr, "redlock-bench: limits: cannot load the client "
                        "certificate: %s\n",
                tls_err("failed", buf, sizeof(buf)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Connect a blocking TCP socket to host:port (any address it resolves to)
 * with NODE_TIMEOUT_MS for connect (SO_SNDTIMEO bounds connect() on
 * Linux), sends and receives. Returns the fd or -1 (errno set). */
static int tcp_connect(const char *host, int port)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct timeval tv = {NODE_TIMEOUT_MS / 1000,
                         (NODE_TIMEOUT_MS % 1000) * 1000};
    char portbuf[16];
    int fd = -1, one = 1, err = ECONNREFUSED;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    if (getaddrinfo(host, portbuf, &hints, &res) != 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        errno = err;
    return fd;
}

/* 1 if host is an IPv4 or IPv6 literal. */
static int is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 ||
           inet_pton(AF_INET6, host, buf) == 1;
}

/* Free a connection (NULL is ignored). */
void bc_free(bconn *b)
{
    if (b == NULL)
        return;
    if (b->c != NULL)
        redisFree(b->c);
    if (b->ssl != NULL) {
        SSL_shutdown(b->ssl);
        SSL_free(b->ssl);
    }
    if (b->fd >= 0)
        close(b->fd);
    if (b->rd != NULL)
        redisReaderFree(b->rd);
    free(b);
}

/* Connect a blocking Unix-domain socket to path, with the same send and
 * receive timeouts as tcp_connect(). Returns the fd or -1 (errno set). */
static int unix_connect(const char *path)
{
    struct sockaddr_un sa;
    struct timeval tv = {NODE_TIMEOUT_MS / 1000,
                         (NODE_TIMEOUT_MS % 1000) * 1000};
    int fd, err;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* Our own socket to a's node (TCP or Unix), with a reply reader. */
static int bc_sock_open(bconn *b, const redlock__uri *a)
{
    b->fd = a->is_unix ? unix_connect(a->path) : tcp_connect(a->host, a->port);
    if (b->fd < 0) {
        fprintf(stderr, "redlock-bench: connect %s: %s\n", a->display,
                strerror(errno));
        return -1;
    }
    b->rd = redisReaderCreate();
    return b->rd != NULL ? 0 : -1;
}

/* The TLS half of bc_connect(): our socket, then a handshake with a's host
 * verified (as an address for an IP literal, else as a name, also sent as
 * SNI). */
static int bc_tls_open(bconn *b, const bench_link *lk, const redlock__uri *a)
{
    char buf[256];
    long verify;

    if (bc_sock_open(b, a) != 0)
        return -1;
    b->ssl = SSL_new(lk->ctx);
    if (b->ssl == NULL || SSL_set_fd(b->ssl, b->fd) != 1) {
        fprintf(stderr, "redlock-bench: %s: SSL setup: %s\n", a->display,
                tls_err("failed", buf, sizeof(buf)));
        return -1;
    }
    if (is_ip_literal(a->host)) {
        if (!lk->tls->insecure &&
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(b->ssl), a->host) !=
                1)
            return -1;
    } else {
        SSL_set_tlsext_host_name(b->ssl, a->host);
        if (!lk->tls->insecure && SSL_set1_host(b->ssl, a->host) != 1)
            return -1;
    }
    if (SSL_connect(b->ssl) != 1) {
        verify = SSL_get_verify_result(b->ssl);
        fprintf(stderr, "redlock-bench: %s: TLS handshake: %s\n", a->display,
                verify != X509_V_OK
                    ? X509_verify_cert_error_string(verify)
                    : tls_err("connection closed", buf, sizeof(buf)));
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* Write n bytes over b. Returns 0 or -1. */
int bc_write(bconn *b, const char *buf, size_t n)
{
    if (b->c != NULL) {
        int done = 0;
        if (redisAppendFormattedCommand(b->c, buf, n) != REDIS_OK)
            return -1;
        while (!done)
            if (redisBufferWrite(b->c, &done) != REDIS_OK)
                return -1;
        return 0;
    }
    while (n > 0) {
        ssize_t w;
        if (b->ssl != NULL) {
            w = SSL_write(b->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
            if (w <= 0)
                ERR_clear_error();
        } else {
            w = write(b->fd, buf, n);
            if (w < 0 && errno == EINTR)
                continue;
        }
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read the next reply. Returns it (free with freeReplyObject), or NULL on
 * an error or timeout. */
redisReply *bc_read(bconn *b)
{
    void *reply = NULL;

    if (b->c != NULL)
        return redisGetReply(b->c, &reply) == REDIS_OK ? reply : NULL;
    for (;;) {
        char buf[16384];
        ssize_t n;

        if (redisReaderGetReply(b->rd, &reply) != REDIS_OK)
            return NULL;
        if (reply != NULL)
            return reply;
        if (b->ssl != NULL) {
            n = SSL_read(b->ssl, buf, sizeof(buf));
            if (n <= 0)
                ERR_clear_error();
        } else {
            n = read(b->fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
        }
        if (n <= 0)
            return NULL;
        if (redisReaderFeed(b->rd, buf, (size_t)n) != REDIS_OK)
            return NULL;
    }
}

/* Send one command (argv form) and read its reply; NULL on failure. */
redisReply *bc_command(bconn *b, int argc, const char **argv)
{
    char *cmd = NULL;
    redisReply *r;
    int len;

    if (b->c != NULL)
        return redisCommandArgv(b->c, argc, argv, NULL);
    len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
    if (len < 0 || cmd == NULL)
        return NULL;
    r = bc_write(b, cmd, (size_t)len) == 0 ? bc_read(b) : NULL;
    redisFreeCommand(cmd);
    return r;
}

/* What went wrong on b, for a message. */
const char *bc_errstr(const bconn *b)
{
    if (b->c != NULL)
        return b->c->errstr;
    return b->ssl != NULL ? "TLS connection failed" : "connection failed";
}

/* bc_connect() and bc_connect_raw(): raw selects our own socket for
 * plain nodes too. */
/* Connect to the server a names (for a cluster URI: its first seed; the
 * caller resolves Sentinel masters itself). */
static bconn *bc_open_parsed(const redlock__uri *a, const bench_link *lk,
                             int raw)
{
    bconn *b;
    redisReply *r;
    struct timeval tv = {NODE_TIMEOUT_MS / 1000,
                         (NODE_TIMEOUT_MS % 1000) * 1000};

    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->fd = -1;
    snprintf(b->display, sizeof(b->display), "%s", a->display);
    if (a->tls) {
        if (lk->ctx == NULL || bc_tls_open(b, lk, a) != 0)
            goto fail;
    } else if (raw) {
        if (bc_sock_open(b, a) != 0)
            goto fail;
    } else {
        if (a->is_unix)
            b->c = redisConnectUnixWithTimeout(a->path, tv);
        else
            b->c = redisConnectWithTimeout(a->host, a->port, tv);
        if (b->c == NULL || b->c->err) {
            fprintf(stderr, "redlock-bench: connect %s: %s\n", a->display,
                    b->c != NULL ? b->c->errstr : "out of memory");
            goto fail;
        }
        redisSetTimeout(b->c, tv);
    }
    if (a->password != NULL) {
        const char *auth[3] = {"AUTH", a->user != NULL ? a->user : a->password,
                               a->password};
        r = bc_command(b, a->user != NULL ? 3 : 2, auth);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "redlock-bench: %s: AUTH refused\n", a->display);
            if (r != NULL)
                freeReplyObject(r);
            goto fail;
        }
        freeReplyObject(r);
    }
    if (a->db != 0) {
        char dbbuf[16];
        const char *sel[2] = {"SELECT", dbbuf};
        snprintf(dbbuf, sizeof(dbbuf), "%d", a->db);
        r = bc_command(b, 2, sel);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "redlock-bench: %s: SELECT refused\n",
                    a->display);
            if (r != NULL)
                freeReplyObject(r);
            goto fail;
        }
        freeReplyObject(r);
    }
    return b;

fail:
    bc_free(b);
    return NULL;
}

static bconn *bc_open(const char *uri, const bench_link *lk, int raw)
{
    redlock__uri a;
    bconn *b;
    char why[200];

    /* The library's own parser (src/uri.c, compiled into the bench), so
     * the limits connect exactly where the manager does. */
    if (redlock__uri_parse(uri, &a, why, sizeof(why)) != REDLOCK_OK) {
        fprintf(stderr, "redlock-bench: node URI for the limits: %s\n",
                why);
        return NULL;
    }
    b = bc_open_parsed(&a, lk, raw);
    redlock__uri_clear(&a);
    return b;
}

bconn *bc_connect_uri(const redlock__uri *a, const bench_link *lk)
{
    return bc_open_parsed(a, lk, 0);
}


bconn *bc_connect(const char *uri, const bench_link *lk)
{
    return bc_open(uri, lk, 0);
}

bconn *bc_connect_raw(const char *uri, const bench_link *lk)
{
    return bc_open(uri, lk, 1);
}

uint64_t bench_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
