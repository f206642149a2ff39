/*
 * fence.c: fencing numbers, strictly increasing per resource.
 *
 * DESIGN
 * The counter "<key>:fence" lives on every node (no TTL). A draw is a
 * quorum read followed by a quorum conditional write, the way an
 * ABD-style register works:
 *   1. read the counter from every node; once a quorum answered, take the
 *      largest value v;
 *   2. send "set to v+1 if the stored value is smaller" to every node; the
 *      draw succeeds once a quorum reports that OUR write was the one that
 *      raised the counter.
 * A later draw reads a quorum, which overlaps the quorum that stored v+1,
 * so it sees at least v+1 and writes at least v+2: numbers increase with
 * real time. Two concurrent draws cannot both succeed with the same
 * number: each needs to be first on a majority, and two majorities share a
 * node. A draw that loses such a race reads again (a few times, with
 * jitter).
 *
 * Where it breaks: a node restarted without its data forgets the counter.
 * With a quorum of nodes still holding it, draws stay monotonic; if a
 * majority lost it at once, numbers can repeat. docs/safety.md says so.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fence.h"
#include "internal.h"
#include "lock.h"
#include "manager.h"
#include "op.h"
#include "quorum.h"
#include "scripts.h"
#include "token.h"

/* KEYS[1]: counter. Returns its value (0 if unset). */
static const char read_lua[] =
    "return tonumber(redis.call('get', KEYS[1]) or '0')\n";

/* KEYS[1]: counter, ARGV[1]: proposed value. Sets it if larger than the
 * stored one and returns 1, else returns 0. */
static const char write_lua[] =
    "local c = tonumber(redis.call('get', KEYS[1]) or '0')\n"
    "if c < tonumber(ARGV[1]) then\n"
    "  redis.call('set', KEYS[1], ARGV[1])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

/* Post one script to every node; on_done NULL: the caller waits for it
 * on its own thread (and may do the I/O itself). Returns the op (the
 * caller's reference) or NULL on OOM; *limit is how long to wait. */
static redlock__op *post(redlock_manager *m, redlock__op_kind kind,
                         const char *script, const char *key, size_t keylen,
                         const char *arg, void (*on_done)(void *),
                         void *done_arg, uint64_t *limit)
{
    const char *argv[5] = {"EVAL", script, "1", key, arg};
    size_t lens[5] = {4, strlen(script), 1, keylen,
                      arg != NULL ? strlen(arg) : 0};
    redlock__op *op = redlock__op_new(kind, m->n, arg != NULL ? 5 : 4, argv,
                                      lens, REDLOCK__SCRIPT_COUNT);
    if (op == NULL)
        return NULL;
    *limit = redlock__clock_now_us() +
             (uint64_t)m->opts.command_timeout_ms * 1000u;
    op->deadline_us = *limit;
    op->on_done = on_done;
    op->on_done_arg = done_arg;
    op->inline_io = on_done == NULL;
    redlock__op_submit(m->nodes, op);
    return op;
}

/* Largest counter value among the answers of a read (op->mu held).
 * Returns false if an answer was not an integer. */
static bool max_read(const redlock__op *op, long long *max)
{
    *max = 0;
    for (size_t i = 0; i < op->n; i++) {
        if (redlock__op_answer_at(op, i) != REDLOCK__ANS_YES)
            continue;
        const redisReply *r = redlock__op_reply_at(op, i);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER)
            return false;
        if (r->integer > *max)
            *max = r->integer;
    }
    return true;
}

/* Check a lock before a draw and make its counter's key; see fence.h. */
redlock_status redlock__fence_begin(redlock_lock *lock, redlock__fence *f)
{
    memset(f, 0, sizeof(*f));
    redlock_status st = redlock__lock_check(lock); /* the handle */
    if (st != REDLOCK_OK)
        return st;
    if (atomic_load_explicit(&lock->m->closing, memory_order_acquire))
        return REDLOCK_ECLOSED;
    /* A holder whose validity ran out must not get a number above the
     * next holder's. */
    if (redlock_lock_validity_ms(lock) <= 0)
        return REDLOCK_EEXPIRED;
    f->keylen = lock->key_lens[0] + 6;
    f->key = malloc(f->keylen);
    if (f->key == NULL)
        return REDLOCK_ENOMEM;
    memcpy(f->key, lock->keys[0], lock->key_lens[0]);
    memcpy(f->key + lock->key_lens[0], ":fence", 6);
    f->m = lock->m;
    return REDLOCK_OK;
}

redlock__op *redlock__fence_read_post(redlock__fence *f,
                                      void (*on_done)(void *), void *arg,
                                      uint64_t *limit)
{
    return post(f->m, REDLOCK__OP_RAW, read_lua, f->key, f->keylen, NULL,
                on_done, arg, limit);
}

/* The read is decided or its wait over: the largest value, or why not. */
redlock_status redlock__fence_read_finish(redlock__fence *f, redlock__op *rd)
{
    long long max = 0;
    pthread_mutex_lock(&rd->mu);
    bool won = redlock__verdict_of(rd->n, rd->yes, rd->no, rd->error) ==
               REDLOCK__WON;
    bool ok = won && max_read(rd, &max);
    pthread_mutex_unlock(&rd->mu);
    atomic_store_explicit(&rd->abandoned, true, memory_order_release);
    redlock__op_unref(rd);
    if (!won)
        return REDLOCK_ENOQUORUM;
    if (!ok || max < 0 || max >= (1LL << 53) - 1)
        return REDLOCK_EPROTO;
    f->next = (uint64_t)max + 1;
    return REDLOCK_OK;
}

redlock__op *redlock__fence_write_post(redlock__fence *f,
                                       void (*on_done)(void *), void *arg,
                                       uint64_t *limit)
{
    char next[32];
    snprintf(next, sizeof(next), "%llu", (unsigned long long)f->next);
    return post(f->m, REDLOCK__OP_INT, write_lua, f->key, f->keylen, next,
                on_done, arg, limit);
}

/* The write is decided or its wait over: OK (f->next is ours), ETAKEN
 * (lost a race with another draw: draw again) or why not. */
redlock_status redlock__fence_write_finish(redlock__fence *f,
                                           redlock__op *wr)
{
    size_t yes, no, error;
    redlock__op_tally(wr, &yes, &no, &error, NULL, 0);
    redlock__verdict v = redlock__verdict_of(wr->n, yes, no, error);
    redlock__op_unref(wr); /* not abandoned: every node should store it */
    if (v == REDLOCK__WON)
        return REDLOCK_OK;
    /* Nodes that did not answer count as failed, as in an acquire. */
    return redlock__acquire_failure_status(f->m->n, yes, no);
}

/* The outcome of a draw that ended with st after its rounds; see
 * fence.h. Frees the key. */
redlock_status redlock__fence_end(redlock__fence *f, redlock_lock *lock,
                                  redlock_status st, uint64_t *fence)
{
    free(f->key);
    f->key = NULL;
    /* The draw may take several rounds, each bounded by the command
     * timeout: a number won after the validity ran out could be above the
     * next holder's, so it is not handed out (it stays on the nodes, which
     * is harmless: numbers only need to increase). */
    if (st == REDLOCK_OK || st == REDLOCK_ETAKEN) {
        if (redlock_lock_validity_ms(lock) <= 0)
            st = REDLOCK_EEXPIRED;
        else if (st == REDLOCK_ETAKEN)
            st = REDLOCK_ENOQUORUM;
    }
    *fence = st == REDLOCK_OK ? f->next : 0;
    return st;
}

/* One blocking read-then-write round. */
static redlock_status draw_once(redlock__fence *f)
{
    uint64_t limit;
    redlock__op *rd = redlock__fence_read_post(f, NULL, NULL, &limit);
    if (rd == NULL)
        return REDLOCK_ENOMEM;
    redlock__op_wait(rd, limit, false);
    redlock_status st = redlock__fence_read_finish(f, rd);
    if (st != REDLOCK_OK)
        return st;
    redlock__op *wr = redlock__fence_write_post(f, NULL, NULL, &limit);
    if (wr == NULL)
        return REDLOCK_ENOMEM;
    redlock__op_wait(wr, limit, false);
    return redlock__fence_write_finish(f, wr);
}

/* Draw the next fencing number for the lock's first resource. */
redlock_status redlock_fence_next(redlock_lock *lock, uint64_t *fence)
{
    if (fence == NULL)
        return REDLOCK_EINVAL;
    *fence = 0;
    redlock__fence f;
    redlock_status st = redlock__fence_begin(lock, &f);
    if (st != REDLOCK_OK)
        return st;
    for (int round = 0; round < REDLOCK__FENCE_ROUNDS; round++) {
        st = draw_once(&f);
        if (st != REDLOCK_ETAKEN)
            break;
        if (redlock_lock_validity_ms(lock) <= 0)
            break; /* reported as EEXPIRED below */
        redlock__sleep_us(redlock__fence_pause_us());
    }
    return redlock__fence_end(&f, lock, st, fence);
}

/* The pause between two rounds: 1 to 5 ms. */
uint64_t redlock__fence_pause_us(void)
{
    return 1000u + redlock__random_upto(4000u);
}
