/*
 * nodes.c: the nodes of a bench run and the limits measured on them.
 *
 * Nodes are either redis-servers started here through the test fixture
 * (tests/support/redis_spawn.h: loopback, free ports, persistence off,
 * killed with their temp dirs at the end, an atexit net as last resort)
 * or the --node URIs, which are borrowed and never stopped.
 *
 * DESIGN of the limits, measured with hiredis directly (not through the
 * library), so they say what the nodes can do, not what redlock does:
 *  - L1 round trip: per node, one connection, PING serially (after a
 *    warm-up), p50 in microseconds. A serial acquire waits for a quorum of
 *    nodes, so it cannot beat the round trip of the slowest node it needs;
 *    the slowest node's p50 is reported as "the" L1.
 *  - L1 fan-out: a PING to every node at once, each sent by its own
 *    worker thread that the measuring thread wakes through an eventfd,
 *    answering through a mutex and condition variable; timed until a
 *    quorum answered. This is the serial acquire of any design that, like
 *    libredlock, keeps each connection on its own worker thread, with the
 *    library's own work taken out: the round trip plus the thread
 *    hand-offs plus N servers and N workers sharing the machine's cores.
 *    Set beside W1 it says how much of W1's distance from L1 is that.
 *  - L2 capacity: what `redis-benchmark -t set -P 16 -c 50` measures, on
 *    every node at once: one client thread per node, 50 connections each,
 *    16 pipelined SETs per connection per round. A round first queues and
 *    flushes the SETs on every connection, then reads every reply, so the
 *    50 connections are in flight together, as redis-benchmark's event
 *    loop would keep them. Like redis-benchmark, each connection's batch
 *    is formatted once and its keys are fixed (800 per node); they expire
 *    after 10 s, so a run against the user's own nodes leaves nothing
 *    behind for long.
 *  - rediss:// nodes: the same three, over TLS (verified as the manager
 *    verifies: the CA or system store, the URI's host, the client
 *    certificate), so that L1 and L2 are the limits of TLS nodes and W1/L1
 *    and W2/L2 still compare like with like. hiredis 0.14 has no TLS, so
 *    a TLS connection is a blocking socket under OpenSSL with hiredis's
 *    formatter and reply reader (bconn below). The handshake is outside
 *    every timed part. Rejected: measuring TLS nodes' limits in plaintext
 *    on a second port (then the limits would not be those of the nodes
 *    the workloads use).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"
#include "uri.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <limits.h>
#include <netdb.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* L1: PINGs per node before and during the measurement. */
#define L1_WARMUP 200
#define L1_SAMPLES 2000
/* L1 fan-out: rounds of PINGs through the worker threads. */
#define HANDOFF_SAMPLES 1000
/* L2: connections per node, pipeline depth, warm-up and measured time,
 * size of the key space written. */
#define L2_CONNS 50
#define L2_PIPELINE 16
#define L2_WARMUP_MS 200
#define L2_MEASURE_MS 1500
/* Connect and command timeout of the limit clients. */
#define NODE_TIMEOUT_MS 2000

/* ------------------------------------------------------------------------
 * Spawned or given nodes
 * ------------------------------------------------------------------------ */

/* Start n servers on loopback. */
int bench_nodes_spawn(bench_nodes *nd, size_t n, const rs_options *o)
{
    memset(nd, 0, sizeof(*nd));
    if (n == 0 || n > BENCH_NODES_MAX) {
        fprintf(stderr, "redlock-bench: cannot spawn %zu nodes (1..%d)\n", n,
                BENCH_NODES_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (rs_start_ex(&nd->srv[i], o) != 0) {
            rs_stop_many(nd->srv, i);
            fprintf(stderr, "redlock-bench: could not start %zu redis-server "
                            "processes\n", n);
            return -1;
        }
    }
    nd->n = n;
    nd->spawned = 1;
    rs_uris(nd->srv, n, nd->uris);
    return 0;
}

/* Borrow the given URIs. */
int bench_nodes_use(bench_nodes *nd, const char *const *uris, size_t n)
{
    memset(nd, 0, sizeof(*nd));
    if (n == 0 || n > BENCH_NODES_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        nd->uris[i] = uris[i];
    nd->n = n;
    return 0;
}

/* Stop what we started; a second call does nothing. */
void bench_nodes_stop(bench_nodes *nd)
{
    if (nd->spawned)
        rs_stop_many(nd->srv, nd->n);
    nd->spawned = 0;
}

/* ------------------------------------------------------------------------
 * Connections of the limit clients: hiredis (plain) or TLS
 * ------------------------------------------------------------------------ */

/* One connection of a limit client. Plain nodes use a hiredis context, as
 * before; rediss:// nodes a blocking socket under an OpenSSL SSL object,
 * with hiredis only formatting commands and parsing replies (hiredis 0.14
 * has no TLS). Either way a command costs one write and the reads its
 * reply needs, so the limits of TLS nodes are those of TLS itself. */
typedef struct bconn {
    redisContext *c;   /* plain */
    SSL *ssl;          /* TLS: ssl, fd, rd */
    int fd;
    redisReader *rd;
    char display[128]; /* for messages; no credentials */
} bconn;

/* Everything the limit clients share: the TLS context (NULL when no node
 * speaks TLS), built once per measurement. */
typedef struct bench_link {
    SSL_CTX *ctx;
    const bench_tls *tls;
} bench_link;

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
static SSL_CTX *link_ctx_new(const bench_tls *tls)
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
static void bc_free(bconn *b)
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

/* The TLS half of bc_connect(): handshake with a's host verified (as an
 * address for an IP literal, else as a name, also sent as SNI). */
static int bc_tls_open(bconn *b, const bench_link *lk, const redlock__uri *a)
{
    char buf[256];
    long verify;

    b->fd = tcp_connect(a->host, a->port);
    if (b->fd < 0) {
        fprintf(stderr, "redlock-bench: connect %s: %s\n", a->display,
                strerror(errno));
        return -1;
    }
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
    b->rd = redisReaderCreate();
    return b->rd != NULL ? 0 : -1;
}

/* Write n bytes over b. Returns 0 or -1. */
static int bc_write(bconn *b, const char *buf, size_t n)
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
        int w = SSL_write(b->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
        if (w <= 0) {
            ERR_clear_error();
            return -1;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read the next reply. Returns it (free with freeReplyObject), or NULL on
 * an error or timeout. */
static redisReply *bc_read(bconn *b)
{
    void *reply = NULL;

    if (b->c != NULL)
        return redisGetReply(b->c, &reply) == REDIS_OK ? reply : NULL;
    for (;;) {
        char buf[16384];
        int n;

        if (redisReaderGetReply(b->rd, &reply) != REDIS_OK)
            return NULL;
        if (reply != NULL)
            return reply;
        n = SSL_read(b->ssl, buf, sizeof(buf));
        if (n <= 0) {
            ERR_clear_error();
            return NULL;
        }
        if (redisReaderFeed(b->rd, buf, (size_t)n) != REDIS_OK)
            return NULL;
    }
}

/* Send one command (argv form) and read its reply; NULL on failure. */
static redisReply *bc_command(bconn *b, int argc, const char **argv)
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
static const char *bc_errstr(const bconn *b)
{
    return b->c != NULL ? b->c->errstr : "TLS connection failed";
}

/* Connect to uri (plain or TLS) with timeouts, AUTH and SELECT. Returns a
 * connection, or NULL with a message on stderr. */
static bconn *bc_connect(const char *uri, const bench_link *lk)
{
    redlock__uri a;
    bconn *b;
    redisReply *r;
    char why[200];
    struct timeval tv = {NODE_TIMEOUT_MS / 1000,
                         (NODE_TIMEOUT_MS % 1000) * 1000};

    /* The library's own parser (src/uri.c, compiled into the bench), so
     * the limits connect exactly where the manager does. */
    if (redlock__uri_parse(uri, &a, why, sizeof(why)) != REDLOCK_OK) {
        fprintf(stderr, "redlock-bench: node URI for the limits: %s\n",
                why);
        return NULL;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        redlock__uri_clear(&a);
        return NULL;
    }
    b->fd = -1;
    snprintf(b->display, sizeof(b->display), "%s", a.display);
    if (a.tls) {
        if (lk->ctx == NULL || bc_tls_open(b, lk, &a) != 0)
            goto fail;
    } else {
        if (a.is_unix)
            b->c = redisConnectUnixWithTimeout(a.path, tv);
        else
            b->c = redisConnectWithTimeout(a.host, a.port, tv);
        if (b->c == NULL || b->c->err) {
            fprintf(stderr, "redlock-bench: connect %s: %s\n", a.display,
                    b->c != NULL ? b->c->errstr : "out of memory");
            goto fail;
        }
        redisSetTimeout(b->c, tv);
    }
    if (a.password != NULL) {
        const char *auth[3] = {"AUTH", a.user != NULL ? a.user : a.password,
                               a.password};
        r = bc_command(b, a.user != NULL ? 3 : 2, auth);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "redlock-bench: %s: AUTH refused\n", a.display);
            if (r != NULL)
                freeReplyObject(r);
            goto fail;
        }
        freeReplyObject(r);
    }
    if (a.db != 0) {
        char dbbuf[16];
        const char *sel[2] = {"SELECT", dbbuf};
        snprintf(dbbuf, sizeof(dbbuf), "%d", a.db);
        r = bc_command(b, 2, sel);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "redlock-bench: %s: SELECT refused\n",
                    a.display);
            if (r != NULL)
                freeReplyObject(r);
            goto fail;
        }
        freeReplyObject(r);
    }
    redlock__uri_clear(&a);
    return b;

fail:
    bc_free(b);
    redlock__uri_clear(&a);
    return NULL;
}

/* Nanoseconds on CLOCK_MONOTONIC. */
static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------
 * L1
 * ------------------------------------------------------------------------ */

/* PING one node serially; stores the p50 in microseconds. */
static int measure_ping(const char *uri, const bench_link *lk,
                        double *p50_us)
{
    static const char *ping[] = {"PING"};
    bconn *c = bc_connect(uri, lk);
    bench_hist *h;
    int rc = 0;

    if (c == NULL)
        return -1;
    h = bench_hist_new();
    if (h == NULL) {
        bc_free(c);
        return -1;
    }
    for (int i = 0; i < L1_WARMUP + L1_SAMPLES && !bench_stop_requested();
         i++) {
        uint64_t t0 = mono_ns();
        redisReply *r = bc_command(c, 1, ping);
        uint64_t t1 = mono_ns();
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "redlock-bench: PING failed: %s\n",
                    r == NULL ? bc_errstr(c) : r->str);
            if (r != NULL)
                freeReplyObject(r);
            rc = -1;
            break;
        }
        freeReplyObject(r);
        if (i >= L1_WARMUP)
            bench_hist_record(h, t1 - t0);
    }
    *p50_us = (double)bench_hist_percentile(h, 50.0) / 1000.0;
    if (h->count == 0)
        rc = -1;
    free(h);
    bc_free(c);
    return rc;
}

/* One worker of the fan-out: its node's connection and wake-up eventfd. */
typedef struct fan_worker {
    struct fanout *f;
    bconn *c;
    int efd;
    pthread_t tid;
    int started;
} fan_worker;

/* The fan-out: one worker per node; the measuring thread wakes them all
 * through their eventfds, they PING and count answers under mu. */
typedef struct fanout {
    fan_worker w[BENCH_NODES_MAX];
    size_t n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ok;        /* answers of this round (under mu) */
    int answered;  /* answers of this round, good or not (under mu) */
    int failed;    /* a PING failed (under mu) */
    int quit;      /* under mu */
} fanout;

/* A fan-out worker: wait on the eventfd, PING, count the answer. */
static void *fan_worker_main(void *arg)
{
    fan_worker *w = arg;
    fanout *f = w->f;

    for (;;) {
        struct pollfd p = {w->efd, POLLIN, 0};
        uint64_t v;
        int quit, ok;
        redisReply *r;
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            break;
        if (read(w->efd, &v, sizeof(v)) != (ssize_t)sizeof(v))
            continue;
        pthread_mutex_lock(&f->mu);
        quit = f->quit;
        pthread_mutex_unlock(&f->mu);
        if (quit)
            break;
        {
            static const char *ping[] = {"PING"};
            r = bc_command(w->c, 1, ping);
        }
        ok = r != NULL && r->type != REDIS_REPLY_ERROR;
        if (r != NULL)
            freeReplyObject(r);
        pthread_mutex_lock(&f->mu);
        f->answered++;
        if (ok)
            f->ok++;
        else
            f->failed = 1;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
    }
    return NULL;
}

/* Wake every worker once. Returns 0 or -1. */
static int fan_wake(fanout *f)
{
    uint64_t one = 1;
    for (size_t i = 0; i < f->n; i++)
        if (write(f->w[i].efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
            return -1;
    return 0;
}

/* PING every node at once, each through its own worker thread, and time
 * until a quorum (n/2 + 1) answered; stores the p50 in microseconds. Each
 * round then waits for the remaining answers (untimed) so that rounds do
 * not overlap. */
static int measure_fanout(const bench_nodes *nd, const bench_link *lk,
                          double *p50_us)
{
    fanout *f = calloc(1, sizeof(*f));
    bench_hist *hist = bench_hist_new();
    int quorum = (int)(nd->n / 2 + 1), rc = 0;

    if (f == NULL || hist == NULL) {
        free(f);
        free(hist);
        return -1;
    }
    f->n = nd->n;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    for (size_t i = 0; i < f->n; i++) {
        fan_worker *w = &f->w[i];
        w->f = f;
        w->efd = -1;
        w->c = bc_connect(nd->uris[i], lk);
        if (w->c != NULL)
            w->efd = eventfd(0, EFD_CLOEXEC);
        if (w->c == NULL || w->efd < 0 ||
            pthread_create(&w->tid, NULL, fan_worker_main, w) != 0) {
            rc = -1;
            break;
        }
        w->started = 1;
    }
    for (int i = 0; rc == 0 && i < L1_WARMUP + HANDOFF_SAMPLES &&
                    !bench_stop_requested();
         i++) {
        uint64_t t0, t1;
        pthread_mutex_lock(&f->mu);
        f->ok = f->answered = 0;
        pthread_mutex_unlock(&f->mu);
        t0 = mono_ns();
        if (fan_wake(f) != 0) {
            rc = -1;
            break;
        }
        pthread_mutex_lock(&f->mu);
        while (f->ok < quorum && !f->failed)
            pthread_cond_wait(&f->cv, &f->mu);
        t1 = mono_ns();
        while (f->answered < (int)f->n)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->failed)
            rc = -1;
        pthread_mutex_unlock(&f->mu);
        if (rc == 0 && i >= L1_WARMUP)
            bench_hist_record(hist, t1 - t0);
    }
    pthread_mutex_lock(&f->mu);
    f->quit = 1;
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < f->n; i++) {
        fan_worker *w = &f->w[i];
        if (w->started) {
            uint64_t one = 1;
            if (write(w->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
                rc = -1; /* cannot happen: the counter is far from full */
            pthread_join(w->tid, NULL);
        }
        if (w->efd >= 0)
            close(w->efd);
        bc_free(w->c);
    }
    *p50_us = (double)bench_hist_percentile(hist, 50.0) / 1000.0;
    if (hist->count == 0)
        rc = -1;
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(hist);
    free(f);
    return rc;
}

/* ------------------------------------------------------------------------
 * L2
 * ------------------------------------------------------------------------ */

/* One L2 client thread: its node, the shared clock window, its count. */
typedef struct l2_client {
    const char *uri;
    const bench_link *lk;
    const char *prefix;
    const char *run_id;
    uint64_t measure_from_ns, end_ns;
    uint64_t ops;     /* SETs answered within the measured window */
    int failed;
    pthread_t tid;
} l2_client;

/* Build the batch of L2_PIPELINE SETs for connection `conn` once, as
 * redis-benchmark formats its pipeline once: the keys are fixed per
 * connection ("<prefix><run-id>:l2:<conn * P + k>"), so each round costs
 * the client a memcpy, not 16 printf-style formattings. Returns a
 * malloc'd buffer and its length in *len, or NULL. */
static char *l2_batch(const l2_client *cl, size_t conn, size_t *len)
{
    char *batch = NULL;
    size_t total = 0;

    for (size_t k = 0; k < L2_PIPELINE; k++) {
        char key[BENCH_PREFIX_MAX + 64];
        char *cmd = NULL, *grown;
        int n;
        snprintf(key, sizeof(key), "%s%s:l2:%zu", cl->prefix, cl->run_id,
                 conn * L2_PIPELINE + k);
        n = redisFormatCommand(&cmd, "SET %s xxx PX 10000", key);
        if (n <= 0) {
            free(batch);
            return NULL;
        }
        grown = realloc(batch, total + (size_t)n);
        if (grown == NULL) {
            free(cmd);
            free(batch);
            return NULL;
        }
        batch = grown;
        memcpy(batch + total, cmd, (size_t)n);
        total += (size_t)n;
        free(cmd);
    }
    *len = total;
    return batch;
}

/* The L2 loop for one node: rounds of (queue + flush everywhere, then read
 * everything) until the window ends. */
static void *l2_thread(void *arg)
{
    l2_client *cl = arg;
    bconn *conns[L2_CONNS];
    char *batch[L2_CONNS];
    size_t batch_len[L2_CONNS];
    size_t nconn = 0;

    for (; nconn < L2_CONNS; nconn++) {
        batch[nconn] = l2_batch(cl, nconn, &batch_len[nconn]);
        if (batch[nconn] == NULL) {
            cl->failed = 1;
            goto out;
        }
        conns[nconn] = bc_connect(cl->uri, cl->lk);
        if (conns[nconn] == NULL) {
            free(batch[nconn]);
            cl->failed = 1;
            goto out;
        }
    }
    while (!bench_stop_requested()) {
        uint64_t now = mono_ns();
        if (now >= cl->end_ns)
            break;
        for (size_t i = 0; i < nconn; i++)
            if (bc_write(conns[i], batch[i], batch_len[i]) != 0)
                goto fail;
        for (size_t i = 0; i < nconn; i++) {
            for (int k = 0; k < L2_PIPELINE; k++) {
                void *rep = bc_read(conns[i]);
                if (rep == NULL)
                    goto fail;
                if (((redisReply *)rep)->type == REDIS_REPLY_ERROR) {
                    freeReplyObject(rep);
                    goto fail;
                }
                freeReplyObject(rep);
            }
        }
        now = mono_ns();
        if (now >= cl->measure_from_ns && now <= cl->end_ns)
            cl->ops += (uint64_t)nconn * L2_PIPELINE;
    }
    goto out;
fail:
    fprintf(stderr, "redlock-bench: L2 SET failed on %s\n", cl->uri);
    cl->failed = 1;
out:
    for (size_t i = 0; i < nconn; i++) {
        bc_free(conns[i]);
        free(batch[i]);
    }
    return NULL;
}

/* Run one L2 client thread per node over the same window; ops/s summed. */
static int measure_capacity(const bench_nodes *nd, const bench_link *lk,
                            const char *prefix, const char *run_id,
                            double *ops_s)
{
    l2_client cl[BENCH_NODES_MAX];
    uint64_t start = mono_ns();
    uint64_t from = start + (uint64_t)L2_WARMUP_MS * 1000000u;
    uint64_t end = from + (uint64_t)L2_MEASURE_MS * 1000000u;
    uint64_t ops = 0;
    size_t started = 0;
    int rc = 0;

    for (size_t i = 0; i < nd->n; i++) {
        memset(&cl[i], 0, sizeof(cl[i]));
        cl[i].uri = nd->uris[i];
        cl[i].lk = lk;
        cl[i].prefix = prefix;
        cl[i].run_id = run_id;
        cl[i].measure_from_ns = from;
        cl[i].end_ns = end;
        if (pthread_create(&cl[i].tid, NULL, l2_thread, &cl[i]) != 0) {
            rc = -1;
            break;
        }
        started++;
    }
    for (size_t i = 0; i < started; i++) {
        pthread_join(cl[i].tid, NULL);
        if (cl[i].failed)
            rc = -1;
        ops += cl[i].ops;
    }
    if (rc == 0 && started == nd->n && !bench_stop_requested())
        *ops_s = (double)ops / ((double)L2_MEASURE_MS / 1000.0);
    else
        rc = -1;
    return rc;
}

static int measure_limits(const bench_nodes *nd, const bench_link *lk,
                          const char *prefix, const char *run_id,
                          bench_limits *l);

/* L1, the fan-out figure, then L2. */
int bench_measure_limits(const bench_nodes *nd, const bench_tls *tls,
                         const char *prefix, const char *run_id,
                         bench_limits *l)
{
    static const bench_tls no_tls;
    bench_link lk = {NULL, tls != NULL ? tls : &no_tls};
    int any_tls = 0, rc = 0;

    memset(l, 0, sizeof(*l));
    l->nodes = nd->n;
    for (size_t i = 0; i < nd->n; i++)
        any_tls |= strncasecmp(nd->uris[i], "rediss://", 9) == 0;
    if (any_tls) {
        lk.ctx = link_ctx_new(lk.tls);
        if (lk.ctx == NULL)
            return -1;
    }
    rc = measure_limits(nd, &lk, prefix, run_id, l);
    if (lk.ctx != NULL)
        SSL_CTX_free(lk.ctx);
    return rc;
}

/* bench_measure_limits() once the TLS context exists. */
static int measure_limits(const bench_nodes *nd, const bench_link *lk,
                          const char *prefix, const char *run_id,
                          bench_limits *l)
{
    l->have_ping = 1;
    for (size_t i = 0; i < nd->n; i++) {
        if (measure_ping(nd->uris[i], lk, &l->ping_us_p50_node[i]) != 0) {
            l->have_ping = 0;
            break;
        }
        if (l->ping_us_p50_node[i] > l->ping_us_p50)
            l->ping_us_p50 = l->ping_us_p50_node[i];
    }
    if (l->have_ping && measure_fanout(nd, lk, &l->fanout_us_p50) != 0)
        l->have_ping = 0;
    if (!l->have_ping)
        return -1;
    if (measure_capacity(nd, lk, prefix, run_id, &l->capacity_ops_s) != 0)
        return -1;
    l->have_capacity = 1;
    return 0;
}
