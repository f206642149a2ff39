/*
 * limit_inline.c: L1q, the inline quorum fan-out: the fastest serial
 * acquire-and-release a client on this machine could do against these
 * nodes, with no library and no worker threads in the way.
 *
 * DESIGN
 * One thread holds one non-blocking socket per node (bc_connect_raw():
 * plain sockets, or OpenSSL on the socket for rediss:// nodes; hiredis
 * only formats the commands, redisFormatCommandArgv, and parses the
 * replies, redisReader, as the library does). Each iteration:
 *   1. formats SET <key> <tok> NX PX 10000 once and writes it to all N
 *      sockets at once, then polls them all;
 *   2. stops the clock when a quorum (N/2 + 1) answered OK: that time is
 *      the L1q sample (p50 and p99 reported);
 *   3. reads the remaining replies (untimed), then writes DEL <key> to all
 *      N and reads every reply (untimed), so every iteration leaves the
 *      nodes as it found them.
 * Each iteration uses a fresh key "<prefix><run-id>:l1q:<i>", as W1 does,
 * so SET NX never meets an old key; PX 10000 only matters if a DEL were
 * lost. The loop's own CPU (getrusage RUSAGE_THREAD over the measured
 * iterations, warm-up excluded) divided by the iterations covers the SET
 * round and the DEL round: the like-for-like yardstick for a W1 cycle,
 * which is an acquire and a release (the library's release is a
 * compare-and-delete script; DEL is the cheapest way to say the same to
 * a node). TLS nodes are measured over TLS (non-blocking SSL_read and
 * SSL_write, retried on WANT_READ / WANT_WRITE), so W1 over TLS compares
 * with L1q over TLS.
 *
 * Rejected: timing the DEL round too (W1's goal is about the acquire
 * latency; the release is not part of it), and reusing one key with DEL
 * timed out of the loop (a SET NX that finds the key not yet deleted on
 * one node would make the quorum step depend on the previous iteration).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "limit_inline.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/resource.h>

#include <openssl/err.h>

#include "stats.h"

/* Iterations before and during the measurement. */
#define L1Q_WARMUP 200
#define L1Q_SAMPLES 2000
/* Longest wait for a node's reply before the measurement gives up. */
#define L1Q_REPLY_TIMEOUT_MS 2000

/* One node of the fan-out: its connection and this round's state. */
typedef struct iq_node {
    bconn *c;
    const char *out;   /* the round's command, shared by every node */
    size_t out_len;
    size_t out_off;    /* bytes of it written so far */
    int want;          /* replies still expected this round (0 or 1) */
} iq_node;

/* The measurement's state. */
typedef struct iq {
    iq_node node[BENCH_NODES_MAX];
    size_t n;
    bench_tally tally;
    uint64_t quorum_at; /* when the quorum said OK this round; 0: not yet */
    int counting;       /* 1: this round's replies go to the tally */
    const char *tag;    /* the nodes' limit_tag (limit_target.c) */
} iq;

/* Thread CPU time (user + system) in seconds. */
static double thread_cpu_s(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        return 0.0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Write as much of x's pending command as the socket takes now. Returns 0
 * (all or part written, or the socket is full), or -1 on an error. */
static int iq_flush(iq_node *x)
{
    while (x->out_off < x->out_len) {
        const char *p = x->out + x->out_off;
        size_t left = x->out_len - x->out_off;
        ssize_t w;

        if (x->c->ssl != NULL) {
            int r = SSL_write(x->c->ssl, p, left > INT_MAX ? INT_MAX
                                                           : (int)left);
            if (r <= 0) {
                int e = SSL_get_error(x->c->ssl, r);
                ERR_clear_error();
                /* Same buffer and length next time, as OpenSSL wants. */
                return (e == SSL_ERROR_WANT_WRITE ||
                        e == SSL_ERROR_WANT_READ) ? 0 : -1;
            }
            w = r;
        } else {
            w = write(x->c->fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
        }
        x->out_off += (size_t)w;
    }
    return 0;
}

/* Take every complete reply out of x's reader: count it, and note the
 * moment the quorum of OKs was reached. Returns 0, or -1 on a protocol
 * error or an unexpected reply. */
static int iq_take_replies(iq *q, iq_node *x)
{
    for (;;) {
        void *reply = NULL;
        redisReply *r;
        int ok;

        if (redisReaderGetReply(x->c->rd, &reply) != REDIS_OK)
            return -1;
        if (reply == NULL)
            return 0;
        r = reply;
        ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
        if (r->type == REDIS_REPLY_ERROR || x->want == 0) {
            freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
        x->want--;
        if (q->counting && bench_tally_note(&q->tally, ok) ==
                               BENCH_TALLY_QUORUM)
            q->quorum_at = bench_mono_ns();
    }
}

/* Read what x's socket has now into its reader. Returns 0 (data read or
 * nothing there yet), or -1 on an error or a closed connection. */
static int iq_read(iq *q, iq_node *x)
{
    for (;;) {
        char buf[4096];
        ssize_t n;

        if (x->c->ssl != NULL) {
            int r = SSL_read(x->c->ssl, buf, (int)sizeof(buf));
            if (r <= 0) {
                int e = SSL_get_error(x->c->ssl, r);
                ERR_clear_error();
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    break;
                return -1;
            }
            n = r;
        } else {
            n = read(x->c->fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n <= 0)
                return -1;
        }
        if (redisReaderFeed(x->c->rd, buf, (size_t)n) != REDIS_OK)
            return -1;
    }
    return iq_take_replies(q, x);
}

/* Send cmd to every node and wait until every node answered. With
 * counting set, the replies go to the tally and q->quorum_at is when a
 * quorum said OK. Returns 0, or -1 on an error, a timeout, or (counting)
 * a round in which no quorum said OK. */
static int iq_round(iq *q, const char *cmd, size_t len, int counting)
{
    struct pollfd pfd[BENCH_NODES_MAX];
    size_t waiting = q->n;

    q->counting = counting;
    q->quorum_at = 0;
    bench_tally_init(&q->tally, q->n);
    for (size_t i = 0; i < q->n; i++) {
        iq_node *x = &q->node[i];
        x->out = cmd;
        x->out_len = len;
        x->out_off = 0;
        x->want = 1;
        if (iq_flush(x) != 0)
            return -1;
    }
    while (waiting > 0) {
        int rc;
        for (size_t i = 0; i < q->n; i++) {
            iq_node *x = &q->node[i];
            pfd[i].fd = x->want > 0 ? x->c->fd : -1;
            pfd[i].events = POLLIN;
            if (x->out_off < x->out_len)
                pfd[i].events |= POLLOUT;
            pfd[i].revents = 0;
        }
        rc = poll(pfd, (nfds_t)q->n, L1Q_REPLY_TIMEOUT_MS);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        waiting = 0;
        for (size_t i = 0; i < q->n; i++) {
            iq_node *x = &q->node[i];
            if ((pfd[i].revents & (POLLOUT | POLLIN | POLLERR | POLLHUP)) &&
                x->out_off < x->out_len && iq_flush(x) != 0)
                return -1;
            if ((pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) &&
                iq_read(q, x) != 0)
                return -1;
            if (x->want > 0)
                waiting++;
        }
    }
    return counting && q->quorum_at == 0 ? -1 : 0;
}

/* Format "SET key tok NX PX 10000" or "DEL key" (del set) for iteration i
 * into *cmd (free with redisFreeCommand). Returns the length or -1. */
static int iq_format(const char *prefix, const char *run_id,
                     const char *tag, uint64_t i, int del, char **cmd)
{
    char key[BENCH_PREFIX_MAX + 64], tok[48];
    const char *argv[6] = {"SET", key, tok, "NX", "PX", "10000"};

    snprintf(key, sizeof(key), "%s%s%s:l1q:%" PRIu64, prefix, run_id, tag,
             i);
    snprintf(tok, sizeof(tok), "%s%016" PRIx64, run_id, i);
    if (del) {
        argv[0] = "DEL";
        return redisFormatCommandArgv(cmd, 2, argv, NULL);
    }
    return redisFormatCommandArgv(cmd, 6, argv, NULL);
}

/* One iteration: the timed SET quorum step, then the untimed rest. Stores
 * the quorum step's nanoseconds in *ns. Returns 0 or -1. */
static int iq_iteration(iq *q, const char *prefix, const char *run_id,
                        uint64_t i, uint64_t *ns)
{
    char *cmd = NULL;
    uint64_t t0;
    int len, rc;

    len = iq_format(prefix, run_id, q->tag, i, 0, &cmd);
    if (len < 0)
        return -1;
    t0 = bench_mono_ns();
    rc = iq_round(q, cmd, (size_t)len, 1);
    redisFreeCommand(cmd);
    if (rc != 0)
        return -1;
    *ns = q->quorum_at - t0;
    len = iq_format(prefix, run_id, q->tag, i, 1, &cmd);
    if (len < 0)
        return -1;
    rc = iq_round(q, cmd, (size_t)len, 0);
    redisFreeCommand(cmd);
    return rc;
}

/* Connect every node with a non-blocking socket. Returns 0 or -1. */
static int iq_connect(iq *q, const bench_nodes *nd, const bench_link *lk)
{
    q->n = nd->n;
    q->tag = nd->limit_tag;
    for (size_t i = 0; i < nd->n; i++) {
        iq_node *x = &q->node[i];
        int fl;
        x->c = bc_connect_raw(nd->limit_uri[i], lk);
        if (x->c == NULL)
            return -1;
        fl = fcntl(x->c->fd, F_GETFL);
        if (fl < 0 || fcntl(x->c->fd, F_SETFL, fl | O_NONBLOCK) != 0)
            return -1;
    }
    return 0;
}

/* Measure L1q; see limit_inline.h. */
int bench_measure_inline(const bench_nodes *nd, const bench_link *lk,
                         const char *prefix, const char *run_id,
                         bench_limits *l)
{
    iq *q = calloc(1, sizeof(*q));
    bench_hist *h = bench_hist_new();
    double cpu0 = 0.0;
    uint64_t i, measured = 0;
    int rc = 0;

    l->have_inline = 0;
    if (q == NULL || h == NULL || nd->n == 0 || nd->n > BENCH_NODES_MAX) {
        rc = -1;
        goto out;
    }
    if (iq_connect(q, nd, lk) != 0) {
        rc = -1;
        goto out;
    }
    for (i = 0; i < L1Q_WARMUP + L1Q_SAMPLES && !bench_stop_requested();
         i++) {
        uint64_t ns;
        if (i == L1Q_WARMUP)
            cpu0 = thread_cpu_s();
        if (iq_iteration(q, prefix, run_id, i, &ns) != 0) {
            fprintf(stderr, "redlock-bench: L1q: iteration %" PRIu64
                            " failed (no quorum of OK, a node error or a "
                            "timeout)\n", i);
            rc = -1;
            break;
        }
        if (i >= L1Q_WARMUP) {
            bench_hist_record(h, ns);
            measured++;
        }
    }
    if (rc == 0 && measured > 0) {
        l->inline_cpu_us =
            bench_cpu_us_per_iter(thread_cpu_s() - cpu0, measured);
        l->inline_us_p50 = (double)bench_hist_percentile(h, 50.0) / 1000.0;
        l->inline_us_p99 = (double)bench_hist_percentile(h, 99.0) / 1000.0;
        l->inline_iters = measured;
        l->have_inline = 1;
    } else {
        rc = -1;
    }
out:
    if (q != NULL)
        for (size_t k = 0; k < q->n; k++)
            bc_free(q->node[k].c);
    free(q);
    free(h);
    return rc;
}
