/*
 * sentinel.c: a Sentinel-managed master as one Redlock node (see
 * sentinel.h).
 *
 * DESIGN
 * Like a cluster node (cluster.c), a sentinel node is a router over
 * ordinary node workers (node.c): one per sentinel, used only for
 * SENTINEL get-master-addr-by-name, and one per master met, which carries
 * the locks. Every slot goes to the current master's worker on the
 * submitting thread; no thread hand-off is added.
 *
 * Finding the master: a sentinel is asked (a one-node RAW op with a
 * command timeout); an error or a nil answer moves on to the next
 * sentinel at once, so one dead sentinel costs one command timeout. A
 * new address is confirmed with ROLE on it; a server that says it is not
 * a master makes the node ask again. A failover is followed three ways:
 * every sentinel member's subscriber connection (subscribe.c, with no
 * channel prefix) listens to +switch-master, and a message makes the
 * node ask again at once, used or not; while the node is in use the
 * sentinels are asked again at most every SENTINEL_POLL_MS (a sentinel
 * whose subscription was lost, or an ACL without SUBSCRIBE); and at once
 * when the master answers READONLY (it was demoted). The message's text
 * is not used: the answer to the question is the one source of the
 * address. Rejected: a pub/sub client of its own here (subscribe.c
 * already reconnects, re-subscribes and is driven by the member's worker).
 *
 * Before any sentinel has answered, slots wait in a list here; they are
 * sent to the master once one is named, or fail when every sentinel was
 * asked in vain. Each keeps its op's deadline (the master's worker drops
 * or fails it when it has passed).
 *
 * Failover is a restart (docs/safety.md, "Cluster and Sentinel nodes"):
 * a master met after the first one is a newcomer (node.h): its restart
 * guard starts at its first handshake, whatever its uptime, because the
 * replica promoted may not have received the keys the old master
 * acknowledged. The old master's worker is kept (it may still hold
 * releases) until the manager stops.
 *
 * Locking: sn->mu guards the master list, the waiting list and the
 * asking state; it is taken by submitting threads (holding nothing else)
 * and by member workers in on_done hooks and on READONLY (under their
 * io_mu); under it a thread only creates and starts workers. Slots and
 * ops are queued at workers after it is dropped.
 */
#define _GNU_SOURCE
#include "sentinel.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "internal.h"

/* Most masters one sentinel node meets (each failover adds one). Past it
 * the node stops following failovers and says so in its slots' errors. */
#define SENTINEL_MASTERS_MAX 32
/* Shortest interval between two rounds of asking while the node is used. */
#define SENTINEL_POLL_MS 1000u
/* After a round in which no sentinel named a master. */
#define SENTINEL_RETRY_MS 200u

struct redlock__sentinel {
    redlock__node_env env;
    size_t idx;
    redlock__uri uri;
    redlock__node *self;
    pthread_mutex_t mu;
    redlock__node *sentinels[REDLOCK__URI_SEEDS_MAX + 1];
    size_t n_sentinels;
    redlock__node *masters[SENTINEL_MASTERS_MAX]; /* the last is current */
    _Atomic size_t n_masters;
    char host[256];               /* the current master's address */
    int port;
    redlock__slot *wait_head, *wait_tail; /* slots before any master */
    bool started, stopping;
    atomic_int dup_of;            /* lock-free: set under the manager's
                                     dup_mu (a leaf) */
    redlock__op *ask;             /* the last question (our reference) */
    size_t ask_at;                /* the sentinel it went to */
    bool ask_busy;
    uint64_t ask_next_us;
    size_t ask_from;              /* sentinel to ask next */
    size_t ask_tries;             /* sentinels asked in vain this round */
    redlock__op *role;            /* the last ROLE check (our reference) */
    char why[200];                /* why the last round failed */
    bool round_failed;            /* the last round named no master (set
                                     until a question is sent again) */
};

bool redlock__sentinel_parse_addr(const void *reply, char *host,
                                  size_t hostlen, int *port)
{
    const redisReply *r = reply;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return false;
    const redisReply *h = r->element[0], *p = r->element[1];
    if (h->len == 0 || h->len >= hostlen || memchr(h->str, '\0', h->len) ||
        p->len == 0 || p->len > 5)
        return false;
    long v = 0;
    for (size_t i = 0; i < p->len; i++) {
        if (p->str[i] < '0' || p->str[i] > '9')
            return false;
        v = v * 10 + (p->str[i] - '0');
    }
    if (v < 1 || v > 65535)
        return false;
    memcpy(host, h->str, h->len);
    host[h->len] = '\0';
    *port = (int)v;
    return true;
}

static redlock__node *current(redlock__sentinel *sn)
{
    size_t n = atomic_load_explicit(&sn->n_masters, memory_order_relaxed);
    return n > 0 ? sn->masters[n - 1] : NULL;
}

/* ------------------------------------------------------------------------
 * Asking the sentinels
 * ------------------------------------------------------------------------ */

static void ask_done(void *arg);
static void role_done(void *arg);

/* Build the next question if one is due (sn->mu held); *post and *at
 * receive it, to queue after the lock is dropped. */
static void ask_want(redlock__sentinel *sn, uint64_t now, redlock__op **post,
                     redlock__node **at)
{
    *post = NULL;
    if (sn->ask_busy || sn->stopping || !sn->started ||
        sn->n_sentinels == 0 || now < sn->ask_next_us)
        return;
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name",
                           sn->uri.master_name};
    size_t lens[3] = {8, 23, strlen(sn->uri.master_name)};
    redlock__op *op = redlock__op_new_single(
        3, argv, lens,
        redlock__after_ms(now, sn->env.opts->command_timeout_ms), ask_done,
        sn);
    if (op == NULL)
        return;
    if (sn->ask != NULL)
        redlock__op_unref(sn->ask);
    sn->ask = op;
    sn->ask_busy = true;
    sn->round_failed = false;
    sn->ask_at = sn->ask_from % sn->n_sentinels;
    sn->ask_next_us = redlock__after_ms(now, SENTINEL_POLL_MS);
    *post = op;
    *at = sn->sentinels[sn->ask_at];
}

static void post(redlock__op *op, redlock__node *at)
{
    if (op != NULL)
        redlock__node_submit(at, &op->slots[0]);
}

/* Take the waiting slots (sn->mu held). */
static redlock__slot *take_waiting(redlock__sentinel *sn)
{
    redlock__slot *s = sn->wait_head;
    sn->wait_head = sn->wait_tail = NULL;
    return s;
}

/* Send the slots of list to nd, or fail them with why (nd NULL). */
static void hand_on(redlock__slot *list, redlock__node *nd,
                    redlock_status st, const char *name, const char *why)
{
    while (list != NULL) {
        redlock__slot *s = list;
        list = s->next;
        s->next = NULL;
        if (nd != NULL)
            redlock__node_submit(nd, s);
        else
            redlock__op_complete(s, REDLOCK__ANS_ERROR, st, name, why);
    }
}

/* Make host:port the current master (sn->mu held). Returns its worker,
 * or NULL when none could be made (sn->why says why). *role_op receives
 * a ROLE question for it. */
static redlock__node *switch_master(redlock__sentinel *sn, const char *host,
                                    int port, uint64_t now,
                                    redlock__op **role_op)
{
    *role_op = NULL;
    size_t n = atomic_load_explicit(&sn->n_masters, memory_order_relaxed);
    if (sn->stopping) {
        /* No worker may start once stop has counted the masters. */
        snprintf(sn->why, sizeof(sn->why), "manager is shutting down");
        return NULL;
    }
    if (n >= SENTINEL_MASTERS_MAX) {
        snprintf(sn->why, sizeof(sn->why),
                 "the master moved more than %d times: not followed",
                 SENTINEL_MASTERS_MAX);
        return NULL;
    }
    redlock__uri u;
    if (redlock__uri_member(&sn->uri, host, port, &u) != REDLOCK_OK) {
        snprintf(sn->why, sizeof(sn->why), "out of memory");
        return NULL;
    }
    uint64_t first = n > 0 ? redlock__node_first_write_us(sn->masters[n - 1])
                           : UINT64_MAX;
    /* A master after the first one: a failover happened; guarded. */
    redlock__node *nd = redlock__node_new_member(&sn->env, sn->idx, &u,
                                                 sn->self, "master", n > 0,
                                                 first);
    if (nd == NULL) {
        redlock__uri_clear(&u);
        snprintf(sn->why, sizeof(sn->why), "out of memory");
        return NULL;
    }
    if (redlock__node_start(nd) != 0) {
        redlock__node_free(nd);
        snprintf(sn->why, sizeof(sn->why), "could not start a worker");
        return NULL;
    }
    snprintf(sn->host, sizeof(sn->host), "%s", host);
    sn->port = port;
    sn->masters[n] = nd;
    atomic_store(&sn->n_masters, n + 1);
    /* After publishing: set_dup sees this master or this sees its value
     * (repeated until stable, as in cluster.c). */
    for (int of = atomic_load(&sn->dup_of);;) {
        redlock__node_set_dup(nd, of);
        int again = atomic_load(&sn->dup_of);
        if (again == of)
            break;
        of = again;
    }
    const char *argv[1] = {"ROLE"};
    size_t lens[1] = {4};
    redlock__op *op = redlock__op_new_single(
        1, argv, lens,
        redlock__after_ms(now, sn->env.opts->command_timeout_ms), role_done,
        sn);
    if (op != NULL) {
        if (sn->role != NULL)
            redlock__op_unref(sn->role);
        sn->role = op;
        *role_op = op;
    }
    return nd;
}

/* on_done of a question to a sentinel (on a sentinel's worker). */
static void ask_done(void *arg)
{
    redlock__sentinel *sn = arg;
    uint64_t now = redlock__clock_now_us();
    redlock__op *next = NULL, *role_op = NULL;
    redlock__node *next_at = NULL, *to = NULL;
    redlock__slot *waiting = NULL;
    char why[200] = "";
    pthread_mutex_lock(&sn->mu);
    redlock__op *op = sn->ask;
    char host[256];
    int port = 0;
    bool named = false;
    pthread_mutex_lock(&op->mu);
    redlock__answer ans = redlock__op_answer_at(op, 0);
    const redisReply *r = redlock__op_reply_at(op, 0);
    if (ans == REDLOCK__ANS_YES)
        named = redlock__sentinel_parse_addr(r, host, sizeof(host), &port);
    if (!named && ans != REDLOCK__ANS_YES)
        snprintf(sn->why, sizeof(sn->why), "sentinel %s", op->first_error);
    else if (!named)
        snprintf(sn->why, sizeof(sn->why), "sentinel %s: %s",
                 redlock__node_name(sn->sentinels[sn->ask_at]),
                 r != NULL && r->type == REDIS_REPLY_NIL
                     ? "does not know the master name"
                     : "answered no address");
    pthread_mutex_unlock(&op->mu);
    sn->ask_busy = false;
    if (named) {
        sn->ask_tries = 0;
        redlock__node *cur = current(sn);
        if (cur != NULL && sn->port == port &&
            strcasecmp(sn->host, host) == 0)
            to = cur;
        else
            to = switch_master(sn, host, port, now, &role_op);
        waiting = take_waiting(sn);
        if (to == NULL) {
            snprintf(why, sizeof(why), "%s", sn->why);
            sn->round_failed = current(sn) == NULL; /* fail fast too */
        }
    } else {
        sn->ask_from++;
        if (++sn->ask_tries < sn->n_sentinels) {
            sn->ask_next_us = 0; /* the next sentinel, now */
            ask_want(sn, now, &next, &next_at);
        } else {
            /* Every sentinel was asked in vain: fail what waits, and
             * what comes until the next round (submit). */
            sn->ask_tries = 0;
            sn->round_failed = true;
            sn->ask_next_us = redlock__after_ms(now, SENTINEL_RETRY_MS);
            waiting = take_waiting(sn);
            snprintf(why, sizeof(why), "no sentinel named a master: %.160s",
                     sn->why);
        }
    }
    pthread_mutex_unlock(&sn->mu);
    post(next, next_at);
    post(role_op, to);
    hand_on(waiting, to, REDLOCK_EIO, sn->uri.display, why);
}

/* on_done of ROLE on a new master: one that is not a master makes the
 * node ask the sentinels again on its next use. */
static void role_done(void *arg)
{
    redlock__sentinel *sn = arg;
    pthread_mutex_lock(&sn->mu);
    redlock__op *op = sn->role;
    pthread_mutex_lock(&op->mu);
    if (redlock__op_answer_at(op, 0) == REDLOCK__ANS_NONE) {
        /* A newer ROLE question replaced this one: it will answer. */
        pthread_mutex_unlock(&op->mu);
        pthread_mutex_unlock(&sn->mu);
        return;
    }
    const redisReply *r = redlock__op_reply_at(op, 0);
    bool master = redlock__op_answer_at(op, 0) == REDLOCK__ANS_YES &&
                  r != NULL && r->type == REDIS_REPLY_ARRAY &&
                  r->elements > 0 &&
                  (r->element[0]->type == REDIS_REPLY_STRING ||
                   r->element[0]->type == REDIS_REPLY_STATUS) &&
                  r->element[0]->len == 6 &&
                  memcmp(r->element[0]->str, "master", 6) == 0;
    pthread_mutex_unlock(&op->mu);
    if (!master)
        sn->ask_next_us = 0;
    pthread_mutex_unlock(&sn->mu);
}

/* ------------------------------------------------------------------------
 * Routing
 * ------------------------------------------------------------------------ */

void redlock__sentinel_submit(redlock__sentinel *sn, redlock__slot *s)
{
    redlock__op *q;
    redlock__node *at = NULL;
    const char *refuse = NULL;
    redlock_status refuse_st = REDLOCK_ECLOSED;
    char why[240];
    pthread_mutex_lock(&sn->mu);
    redlock__node *nd = current(sn);
    ask_want(sn, redlock__clock_now_us(), &q, &at);
    if (nd == NULL) {
        if (sn->stopping) {
            refuse = "manager is shutting down";
        } else if (sn->round_failed) {
            /* No master known, the last round failed, and the next is
             * not due yet (SENTINEL_RETRY_MS): fail at once, as a plain
             * node that is down does, rather than wait for a question
             * nothing would send (found under TSan: such a slot waited
             * until its caller gave up, with no reason given). */
            snprintf(why, sizeof(why), "no sentinel named a master: %.160s",
                     sn->why);
            refuse = why;
            refuse_st = REDLOCK_EIO;
        } else {
            s->next = NULL;
            if (sn->wait_tail != NULL)
                sn->wait_tail->next = s;
            else
                sn->wait_head = s;
            sn->wait_tail = s;
        }
    }
    pthread_mutex_unlock(&sn->mu);
    post(q, at);
    if (nd != NULL)
        redlock__node_submit(nd, s);
    else if (refuse != NULL)
        redlock__op_complete(s, REDLOCK__ANS_ERROR, refuse_st,
                             sn->uri.display, refuse);
}

bool redlock__sentinel_try_send(redlock__sentinel *sn, redlock__slot *s,
                                int *fd, uint64_t *gen, redlock__node **via)
{
    redlock__op *q;
    redlock__node *at = NULL;
    pthread_mutex_lock(&sn->mu);
    redlock__node *nd = current(sn);
    ask_want(sn, redlock__clock_now_us(), &q, &at); /* the poll on use */
    pthread_mutex_unlock(&sn->mu);
    post(q, at);
    return nd != NULL && redlock__node_try_send(nd, s, fd, gen, via);
}

void redlock__sentinel_on_error(redlock__sentinel *sn, const char *text,
                                size_t len)
{
    if (len >= 8 && memcmp(text, "READONLY", 8) == 0)
        redlock__sentinel_switched(sn); /* demoted: ask who is master */
}

void redlock__sentinel_switched(redlock__sentinel *sn)
{
    redlock__op *q;
    redlock__node *at = NULL;
    pthread_mutex_lock(&sn->mu);
    sn->ask_next_us = 0;
    ask_want(sn, redlock__clock_now_us(), &q, &at);
    pthread_mutex_unlock(&sn->mu);
    post(q, at);
}

void redlock__sentinel_master_run_id(redlock__sentinel *sn,
                                     const redlock__node *member,
                                     const char *run_id)
{
    pthread_mutex_lock(&sn->mu);
    bool cur = member == current(sn);
    pthread_mutex_unlock(&sn->mu);
    /* Outside sn->mu: the manager's dup_mu is a leaf, and its set_dup
     * hook comes back to redlock__sentinel_set_dup() (lock-free). */
    if (cur)
        sn->env.set_run_id(sn->env.ctx, sn->idx, run_id);
}

/* ------------------------------------------------------------------------
 * Life
 * ------------------------------------------------------------------------ */

redlock__sentinel *redlock__sentinel_new(const redlock__node_env *env,
                                         size_t idx, redlock__uri *u,
                                         redlock__node *self)
{
    redlock__sentinel *sn = calloc(1, sizeof(*sn));
    if (sn == NULL)
        return NULL;
    if (pthread_mutex_init(&sn->mu, NULL) != 0) {
        free(sn);
        return NULL;
    }
    sn->env = *env;
    sn->idx = idx;
    sn->self = self;
    atomic_init(&sn->dup_of, -1);
    atomic_init(&sn->n_masters, 0);
    sn->uri = *u;
    memset(u, 0, sizeof(*u));
    for (size_t i = 0; i <= sn->uri.n_seeds; i++) {
        redlock__uri su;
        if (redlock__uri_sentinel_at(&sn->uri, i, &su) != REDLOCK_OK)
            goto fail;
        redlock__node *nd = redlock__node_new_member(
            env, idx, &su, self, "sentinel", false, UINT64_MAX);
        if (nd == NULL) {
            redlock__uri_clear(&su);
            goto fail;
        }
        sn->sentinels[sn->n_sentinels++] = nd;
    }
    return sn;
fail:
    redlock__sentinel_free(sn);
    return NULL;
}

int redlock__sentinel_start(redlock__sentinel *sn)
{
    int rc = 0;
    pthread_mutex_lock(&sn->mu);
    for (size_t i = 0; i < sn->n_sentinels && rc == 0; i++)
        rc = redlock__node_start(sn->sentinels[i]);
    redlock__op *q = NULL;
    redlock__node *at = NULL;
    if (rc == 0) {
        sn->started = true;
        ask_want(sn, redlock__clock_now_us(), &q, &at);
    }
    pthread_mutex_unlock(&sn->mu);
    post(q, at);
    /* Every sentinel tells of a failover on +switch-master: follow it at
     * once, used or not (a sentinel that refuses the subscription leaves
     * the poll and READONLY). */
    for (size_t i = 0; rc == 0 && i < sn->n_sentinels; i++)
        (void)redlock__node_sub_want(sn->sentinels[i], "+switch-master", 14,
                                     true);
    return rc;
}

void redlock__sentinel_stop(redlock__sentinel *sn, uint64_t deadline_us)
{
    if (sn == NULL)
        return;
    pthread_mutex_lock(&sn->mu);
    sn->stopping = true; /* switch_master starts no worker from now */
    redlock__slot *waiting = take_waiting(sn);
    size_t n = atomic_load_explicit(&sn->n_masters, memory_order_relaxed);
    pthread_mutex_unlock(&sn->mu);
    hand_on(waiting, NULL, REDLOCK_ECLOSED, sn->uri.display,
            "manager is shutting down");
    /* The sentinels first: no question is answered after this. */
    for (size_t i = 0; i < sn->n_sentinels; i++)
        redlock__node_stop(sn->sentinels[i], deadline_us);
    for (size_t i = 0; i < n; i++)
        redlock__node_stop(sn->masters[i], deadline_us);
}

void redlock__sentinel_free(redlock__sentinel *sn)
{
    if (sn == NULL)
        return;
    size_t n = atomic_load_explicit(&sn->n_masters, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        redlock__node_free(sn->masters[i]);
    for (size_t i = 0; i < sn->n_sentinels; i++)
        redlock__node_free(sn->sentinels[i]);
    if (sn->ask != NULL)
        redlock__op_unref(sn->ask);
    if (sn->role != NULL)
        redlock__op_unref(sn->role);
    redlock__uri_clear(&sn->uri);
    pthread_mutex_destroy(&sn->mu);
    free(sn);
}

void redlock__sentinel_set_dup(redlock__sentinel *sn, int of)
{
    atomic_store(&sn->dup_of, of);
    size_t n = atomic_load(&sn->n_masters);
    for (size_t i = 0; i < n; i++)
        redlock__node_set_dup(sn->masters[i], of);
}

uint64_t redlock__sentinel_guard_left_us(redlock__sentinel *sn,
                                         uint64_t now)
{
    size_t n = atomic_load_explicit(&sn->n_masters, memory_order_acquire);
    return n > 0 ? redlock__node_guard_left_us(sn->masters[n - 1], now) : 0;
}

void redlock__sentinel_write_counts(redlock__sentinel *sn, uint64_t *inl,
                                    uint64_t *worker)
{
    *inl = 0;
    *worker = 0;
    size_t n = atomic_load_explicit(&sn->n_masters, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        uint64_t a, b;
        redlock__node_write_counts(sn->masters[i], &a, &b);
        *inl += a;
        *worker += b;
    }
}
