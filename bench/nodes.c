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
 *  - L1q inline quorum fan-out (limit_inline.c): one thread, N
 *    non-blocking sockets, SET NX PX to all until a quorum said OK: the
 *    serial acquire with no worker threads at all, the yardstick of W1.
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
 *    formatter and reply reader (bconn.c). The handshake is outside
 *    every timed part. Rejected: measuring TLS nodes' limits in plaintext
 *    on a second port (then the limits would not be those of the nodes
 *    the workloads use).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"
#include "bconn.h"
#include "limit_inline.h"
#include "limit_target.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

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

/* Start n clusters of `shards` masters each. rc_start() starts its
 * servers from this thread (PR_SET_PDEATHSIG follows the thread that
 * forked, and this is the main thread) and registers them with
 * redis_spawn's atexit net, like bench_nodes_spawn(). A stop asked for
 * while the clusters start (SIGINT) is honoured after the current
 * rc_start() returns: everything started is stopped and -1 returned. */
int bench_nodes_spawn_cluster(bench_nodes *nd, size_t n, size_t shards)
{
    memset(nd, 0, sizeof(*nd));
    if (n == 0 || n > BENCH_NODES_MAX || shards < RC_MIN_MASTERS ||
        shards > BENCH_SHARDS_MAX) {
        fprintf(stderr, "redlock-bench: cannot spawn %zu clusters of %zu "
                        "shards\n", n, shards);
        return -1;
    }
    nd->clusters = calloc(n, sizeof(*nd->clusters));
    if (nd->clusters == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (bench_stop_requested() ||
            rc_start(&nd->clusters[i], shards, 0) != 0) {
            for (size_t k = 0; k <= i; k++)
                rc_stop(&nd->clusters[k]); /* safe on a zeroed cluster */
            free(nd->clusters);
            nd->clusters = NULL;
            if (!bench_stop_requested())
                fprintf(stderr, "redlock-bench: could not start %zu Redis "
                                "Clusters of %zu masters\n", n, shards);
            return -1;
        }
        nd->uris[i] = nd->clusters[i].uri;
    }
    nd->n = n;
    nd->spawned = 1;
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
    if (nd->spawned && nd->clusters != NULL) {
        for (size_t i = 0; i < nd->n; i++)
            rc_stop(&nd->clusters[i]);
        free(nd->clusters);
        nd->clusters = NULL;
    } else if (nd->spawned) {
        rs_stop_many(nd->srv, nd->n);
    }
    nd->spawned = 0;
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
        uint64_t t0 = bench_mono_ns();
        redisReply *r = bc_command(c, 1, ping);
        uint64_t t1 = bench_mono_ns();
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
        w->c = bc_connect(nd->limit_uri[i], lk);
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
        t0 = bench_mono_ns();
        if (fan_wake(f) != 0) {
            rc = -1;
            break;
        }
        pthread_mutex_lock(&f->mu);
        while (f->ok < quorum && !f->failed)
            pthread_cond_wait(&f->cv, &f->mu);
        t1 = bench_mono_ns();
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
    const char *tag;  /* the nodes' limit_tag */
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
        snprintf(key, sizeof(key), "%s%s%s:l2:%zu", cl->prefix, cl->run_id,
                 cl->tag, conn * L2_PIPELINE + k);
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
        uint64_t now = bench_mono_ns();
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
        now = bench_mono_ns();
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
    uint64_t start = bench_mono_ns();
    uint64_t from = start + (uint64_t)L2_WARMUP_MS * 1000000u;
    uint64_t end = from + (uint64_t)L2_MEASURE_MS * 1000000u;
    uint64_t ops = 0;
    size_t started = 0;
    int rc = 0;

    for (size_t i = 0; i < nd->n; i++) {
        memset(&cl[i], 0, sizeof(cl[i]));
        cl[i].uri = nd->limit_uri[i];
        cl[i].tag = nd->limit_tag;
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

/* Where the limit clients go (limit_target.c), L1, the fan-out figure,
 * then L2. */
int bench_measure_limits(bench_nodes *nd, const bench_tls *tls,
                         const char *prefix, const char *run_id,
                         bench_limits *l)
{
    static const bench_tls no_tls;
    bench_link lk = {NULL, tls != NULL ? tls : &no_tls};
    int any_tls = 0, rc = 0;

    memset(l, 0, sizeof(*l));
    l->nodes = nd->n;
    for (size_t i = 0; i < nd->n; i++) {
        redlock__uri u;
        /* u.tls, not the scheme: rediss://, a TLS cluster and
         * sentinels:// all set it. A bad URI fails later, in
         * limit_target.c. */
        if (redlock__uri_parse(nd->uris[i], &u, NULL, 0) == REDLOCK_OK) {
            any_tls |= u.tls;
            redlock__uri_clear(&u);
        }
    }
    if (any_tls) {
        lk.ctx = bench_link_ctx_new(lk.tls);
        if (lk.ctx == NULL)
            return -1;
    }
    rc = bench_limit_targets(nd, &lk, prefix, run_id, l, l->not_measured,
                             sizeof(l->not_measured));
    if (rc > 0) {
        rc = 0; /* not measurable here: said so, nothing measured */
    } else if (rc == 0) {
        l->not_measured[0] = '\0';
        rc = measure_limits(nd, &lk, prefix, run_id, l);
    }
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
        if (measure_ping(nd->limit_uri[i], lk, &l->ping_us_p50_node[i]) !=
            0) {
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
    /* L1q failing alone (reported on stderr) leaves the others usable. */
    if (!bench_stop_requested())
        bench_measure_inline(nd, lk, prefix, run_id, l);
    if (measure_capacity(nd, lk, prefix, run_id, &l->capacity_ops_s) != 0)
        return -1;
    l->have_capacity = 1;
    return 0;
}
