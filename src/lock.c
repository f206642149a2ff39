/*
 * lock.c: acquire, extend and release: the Redlock algorithm.
 *
 * DESIGN (the life of an acquire; see docs/design.md for the picture)
 *   1. Check arguments; nothing is sent for bad input.
 *   2. Draw a fresh token from the CSPRNG.
 *   3. Each attempt: note the start time t0 on CLOCK_BOOTTIME, post
 *      SET key token NX PX ttl (or the multi-key script) to every node at
 *      once, and sleep until the outcome is certain: a quorum said yes, or
 *      so many said no or failed that a quorum is impossible, or the wait
 *      limit min(t0 + command timeout, t0 + ttl - drift, deadline) passed.
 *   4. validity = ttl - (now - t0) - (ttl * drift_factor + 2 ms), measured
 *      from the start of THIS attempt. Won only with a quorum and
 *      validity > 0.
 *   5. Otherwise release on every node that might have set the key (not
 *      those that answered "no"), wait for the nodes that said yes to
 *      confirm, then sleep delay + jitter and try again. Per-node FIFO
 *      order means the next attempt's SET reaches each node after this
 *      release, so we are never blocked by our own stale keys.
 * The rules themselves (quorum impossible, wait limit, validity, the
 * failure statuses, the extend rule) are pure functions in quorum.c; this
 * file only calls them. Rejected: writing them inline here, as they once
 * were, in copies that lease.c and fence.c then had to keep in step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "hashslot.h"
#include "lock.h"
#include "manager.h"
#include "op.h"
#include "options.h"
#include "quorum.h"
#include "scripts.h"
#include "token.h"
#include "value.h"

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* True if m looks like a live manager. */
static bool manager_ok(const redlock_manager *m)
{
    return m != NULL && m->magic == REDLOCK__MANAGER_MAGIC;
}

/* True if lock looks like a live lock handle. */
static bool lock_ok(const redlock_lock *lock)
{
    return lock != NULL && lock->magic == REDLOCK__LOCK_MAGIC;
}

/* True once destroy has begun. */
static bool closing(const redlock_manager *m)
{
    return atomic_load_explicit(&m->closing, memory_order_acquire);
}

/* Check a TTL against its documented range. */
static redlock_status check_ttl(uint32_t ttl_ms)
{
    return ttl_ms == 0 || ttl_ms > REDLOCK_TTL_MAX_MS ? REDLOCK_ERANGE
                                                      : REDLOCK_OK;
}

/* Check a TTL that is to be granted (acquire, extend): in range, and
 * above the drift allowance of m, without which it could never yield
 * validity. */
static redlock_status check_grant_ttl(const redlock_manager *m,
                                      uint32_t ttl_ms)
{
    redlock_status st = check_ttl(ttl_ms);
    if (st == REDLOCK_OK &&
        redlock__ttl_too_short(ttl_ms, m->opts.drift_factor))
        st = REDLOCK_ETTLSHORT;
    return st;
}

/* Free a lock's memory (not the manager reference). The keys live in the
 * lock's own block. */
static void lock_free_memory(redlock_lock *lock)
{
    redlock__wires_unref(lock->acquired_wires);
    redlock__wires_unref(lock->last_extend);
    lock->magic = REDLOCK__DEAD_MAGIC;
    free(lock);
}

/* Build a lock handle (not yet acquired) with prefixed copies of the
 * resources, all in one allocation: the lock, then the key pointers and
 * lengths, then the key bytes. Returns NULL on OOM (or a size overflow,
 * which the resource limits already rule out). */
static redlock_lock *lock_new(redlock_manager *m, const void *const *res,
                              const size_t *lens, size_t count)
{
    size_t head = sizeof(redlock_lock);
    head = (head + 15) & ~(size_t)15;
    size_t vec = count * (sizeof(char *) + sizeof(size_t));
    size_t bytes = 0;
    for (size_t i = 0; i < count; i++) {
        size_t len = m->prefix_len + lens[i] + 1;
        if (len < lens[i] || bytes + len < bytes)
            return NULL;
        bytes += len;
    }
    redlock_lock *lock = calloc(1, head + vec + bytes);
    if (lock == NULL)
        return NULL;
    lock->magic = REDLOCK__LOCK_MAGIC;
    lock->m = m;
    lock->count = count;
    char *base = (char *)lock + head;
    lock->keys = (char **)(void *)base;
    lock->key_lens = (size_t *)(void *)(base + count * sizeof(char *));
    char *p = base + vec;
    for (size_t i = 0; i < count; i++) {
        size_t len = m->prefix_len + lens[i];
        memcpy(p, m->prefix, m->prefix_len);
        memcpy(p + m->prefix_len, res[i], lens[i]);
        p[len] = '\0';
        lock->keys[i] = p;
        lock->key_lens[i] = len;
        p += len + 1;
    }
    atomic_init(&lock->validity_end_us, 0);
    atomic_init(&lock->nodes_granted, 0);
    return lock;
}

/* Build a script op: EVALSHA sha numkeys keys... token [flag] [ttl
 * [value]], where value is what the key stores: the token, and the owner
 * if the lock has one (value.c), and flag the release's "announce" (NULL:
 * none). */
static redlock__op *script_op(const redlock_lock *lock,
                              redlock__op_kind kind, redlock__script_id id,
                              uint32_t ttl_ms, bool with_ttl, bool with_value,
                              const char *flag)
{
    const char *argv[3 + REDLOCK_MULTI_MAX + 3];
    size_t lens[3 + REDLOCK_MULTI_MAX + 3];
    char numkeys[16], ttl[16], value[REDLOCK__VALUE_MAX + 1];
    int argc = 0;
    snprintf(numkeys, sizeof(numkeys), "%zu", lock->count);
    snprintf(ttl, sizeof(ttl), "%u", (unsigned)ttl_ms);
    argv[argc] = "EVALSHA";
    lens[argc++] = 7;
    argv[argc] = redlock__script_sha(id);
    lens[argc++] = 40;
    argv[argc] = numkeys;
    lens[argc++] = strlen(numkeys);
    for (size_t i = 0; i < lock->count; i++) {
        argv[argc] = lock->keys[i];
        lens[argc++] = lock->key_lens[i];
    }
    argv[argc] = lock->token;
    lens[argc++] = REDLOCK_TOKEN_LEN;
    if (flag != NULL) { /* the release's announce flag */
        argv[argc] = flag;
        lens[argc++] = strlen(flag);
    }
    if (with_ttl) {
        argv[argc] = ttl;
        lens[argc++] = strlen(ttl);
        if (with_value) {
            argv[argc] = value;
            lens[argc++] =
                redlock__value_build(value, lock->token, lock->owner);
        }
    }
    if (with_ttl) /* before it can be queued: the restart guard's AUTO */
        redlock__manager_note_ttl(lock->m, ttl_ms);
    return redlock__op_new(kind, lock->m->n, argc, argv, lens, id);
}

/* Build the acquire op for one attempt. */
static redlock__op *acquire_op(const redlock_lock *lock, uint32_t ttl_ms)
{
    if (lock->count > 1)
        return script_op(lock, REDLOCK__OP_ACQUIRE_MULTI,
                         REDLOCK__SCRIPT_ACQUIRE_MULTI, ttl_ms, true, true,
                         NULL);
    char ttl[16], value[REDLOCK__VALUE_MAX + 1];
    snprintf(ttl, sizeof(ttl), "%u", (unsigned)ttl_ms);
    size_t value_len = redlock__value_build(value, lock->token, lock->owner);
    const char *argv[6] = {"SET", lock->keys[0], value, "NX", "PX", ttl};
    size_t lens[6] = {3, lock->key_lens[0], value_len, 2, 2, strlen(ttl)};
    redlock__manager_note_ttl(lock->m, ttl_ms);
    return redlock__op_new(REDLOCK__OP_ACQUIRE, lock->m->n, 6, argv, lens,
                           REDLOCK__SCRIPT_COUNT);
}

/* Post a release of lock's keys to the nodes i with which[i]; the others
 * count as "no" (nothing of ours there). It stays queued for nodes that
 * cannot take it now until the keys have surely expired. Returns the op
 * (caller's reference) or NULL on OOM. announce: the script announces
 * each key it deletes on its wake channel (a release of a held lock; not
 * the undo of a failed attempt, see scripts.c). */
static redlock__op *release_op(redlock_lock *lock, bool inline_io,
                               void (*on_done)(void *), void *arg,
                               const bool *which, bool announce)
{
    redlock__op *op =
        script_op(lock, REDLOCK__OP_RELEASE, REDLOCK__SCRIPT_RELEASE, 0,
                  false, false, announce ? "1" : "0");
    if (op == NULL)
        return NULL;
    uint64_t now = redlock__clock_now_us();
    op->keep_until_us = redlock__keys_gone_us(now, lock->max_ttl_ms,
                                              lock->m->opts.drift_factor);
    op->on_done = on_done;
    op->on_done_arg = arg;
    /* Only a caller that will wait for it may write it itself: replies
     * to what it wrote are its to read (op.h, inline_slots). */
    op->inline_io = inline_io && on_done == NULL;
    redlock__op_submit_some(lock->m->nodes, op, which, REDLOCK__ANS_NO);
    return op;
}

/* True if node i may hold a key of the winning acquire: its SET was
 * written (or a restore sent there). A SET still queued is cancelled
 * here, so that node needs no release. */
static bool acquired_on(redlock_lock *lock, size_t i)
{
    if (lock->acquired_wires == NULL ||
        (lock->restored_nodes >> i & 1u) != 0)
        return true;
    return !redlock__wire_cancel_unsent(&lock->acquired_wires->state[i]);
}

/* Mark the op as no longer waited on, so queued slots can be skipped. */
static void abandon(redlock__op *op)
{
    /* release: pairs with the worker's acquire load in droppable(). */
    atomic_store_explicit(&op->abandoned, true, memory_order_release);
}

/* After a failed attempt, undo whatever it may have set: release on every
 * node that did not answer "no" (posted here; u->op NULL if no node needs
 * it or out of memory). undo_wait() then waits (bounded by the command
 * timeout) for the nodes that said "yes" to confirm, and gives the nodes
 * that had not answered yet a short grace to confirm too, so that a
 * healthy but slower node does not keep our key after we return, while a
 * stalled node costs only that grace (twice the attempt, at least 50 ms,
 * at most the command timeout). Whatever is still unconfirmed stays
 * queued behind our SET on that node. attempt_us is how long the attempt
 * took. The non-blocking calls (async.c) do not wait: per-node FIFO order
 * puts the release ahead of anything they post later. */
static void undo_post(redlock_lock *lock, redlock__op *acq,
                      uint64_t attempt_us, uint64_t user_deadline,
                      bool will_wait, redlock__undo *u)
{
    redlock_manager *m = lock->m;
    bool needed[REDLOCK_NODES_MAX];
    bool any_needed = false;
    memset(u, 0, sizeof(*u));
    pthread_mutex_lock(&acq->mu);
    for (size_t i = 0; i < m->n; i++) {
        uint8_t a = redlock__op_answer_at(acq, i);
        u->granted[i] = a == REDLOCK__ANS_YES;
        /* A node that said "no" has nothing of ours; one whose SET was
         * never written (cancelled now, or failed before sending) neither.
         * A "yes" was written: no need to try to cancel it. */
        needed[i] = u->granted[i] ||
                    (a != REDLOCK__ANS_NO &&
                     !redlock__op_cancel_unsent(acq, i));
        /* Worth a short wait: nodes that may still confirm our delete. */
        u->maybe[i] = needed[i] && a != REDLOCK__ANS_ERROR;
        u->any_granted |= u->granted[i];
        any_needed |= needed[i];
    }
    pthread_mutex_unlock(&acq->mu);
    if (!any_needed)
        return;
    u->op = release_op(lock, will_wait, NULL, NULL, needed,
                       false); /* quiet */
    if (u->op == NULL)
        return; /* out of memory: the keys expire by TTL */
    uint64_t now = redlock__clock_now_us();
    uint64_t grace = 2 * attempt_us > 50000 ? 2 * attempt_us : 50000;
    uint64_t cap = (uint64_t)m->opts.command_timeout_ms * 1000u;
    if (grace > cap)
        grace = cap;
    u->grace_end_us = now + grace;
    u->granted_end_us = now + cap;
    /* The caller's deadline is a hard bound: past it, the release stays
     * queued behind our SETs but is no longer waited for. */
    if (user_deadline != 0) {
        uint64_t d = user_deadline > now ? user_deadline : now;
        if (u->grace_end_us > d)
            u->grace_end_us = d;
        if (u->granted_end_us > d)
            u->granted_end_us = d;
    }
}

/* Wait for an undo's confirmations (see undo_post()), then drop it. */
static void undo_wait(redlock__undo *u)
{
    if (u->op == NULL)
        return;
    /* One reader across both waits (last only on the final one): the
     * confirmations of granted nodes may come after the grace. */
    redlock__op_wait_nodes(u->op, u->maybe, u->grace_end_us,
                           !u->any_granted);
    if (u->any_granted)
        redlock__op_wait_nodes(u->op, u->granted, u->granted_end_us, true);
    redlock__undo_drop(u);
}

void redlock__undo_drop(redlock__undo *u)
{
    if (u->op == NULL)
        return;
    abandon(u->op); /* releases are never dropped, whatever this says */
    redlock__op_unref(u->op);
    u->op = NULL;
}

/* a + b, saturating at UINT32_MAX (an acquire retried until its
 * deadline may make any number of attempts). */
static uint32_t add_sat(uint32_t a, size_t b)
{
    return b >= (size_t)(UINT32_MAX - a) ? UINT32_MAX : a + (uint32_t)b;
}

/* Record one attempt's tallies in the caller's info struct. */
static void note_attempt(redlock_acquire_info *info, size_t yes, size_t no,
                         size_t error)
{
    if (info == NULL)
        return;
    redlock_attempt_tally t = {(uint32_t)yes, (uint32_t)no, (uint32_t)error};
    if (info->attempts < REDLOCK_INFO_ATTEMPTS_MAX)
        info->per_attempt[info->attempts] = t;
    info->attempts = add_sat(info->attempts, 1);
    info->last = t;
    info->total.yes = add_sat(info->total.yes, yes);
    info->total.no = add_sat(info->total.no, no);
    info->total.error = add_sat(info->total.error, error);
}

/* What each node said in an attempt (op decided, or its wait over): OK
 * granted, ETAKEN refused, EPENDING no answer yet, else its error. */
static void node_statuses(redlock__op *op, redlock_status *out)
{
    pthread_mutex_lock(&op->mu);
    for (size_t i = 0; i < op->n; i++) {
        redlock_status err = redlock__op_error_at(op, i);
        switch (redlock__op_answer_at(op, i)) {
        case REDLOCK__ANS_YES:
            out[i] = REDLOCK_OK;
            break;
        case REDLOCK__ANS_NO:
            out[i] = REDLOCK_ETAKEN;
            break;
        case REDLOCK__ANS_ERROR:
            out[i] = err != REDLOCK_OK ? err : REDLOCK_EIO;
            break;
        case REDLOCK__ANS_NONE:
            out[i] = REDLOCK_EPENDING;
            break;
        }
    }
    pthread_mutex_unlock(&op->mu);
}

/* Post one attempt to take the lock (a fresh token first: a late release
 * from an earlier attempt, re-sent after NOSCRIPT or left running on a
 * closed connection, can then never delete this attempt's keys). */
redlock_status redlock__attempt_post(redlock_lock *lock, uint32_t ttl_ms,
                                     uint64_t user_deadline,
                                     void (*on_done)(void *), void *arg,
                                     redlock__step *step)
{
    redlock_manager *m = lock->m;
    memset(step, 0, sizeof(*step));
    redlock__token_new(lock->token);
    redlock__op *op = acquire_op(lock, ttl_ms);
    if (op == NULL)
        return REDLOCK_ENOMEM;
    uint64_t t0 = redlock__clock_now_us();
    uint64_t limit = redlock__wait_limit_us(t0, m->opts.command_timeout_ms,
                                            ttl_ms, m->opts.drift_factor,
                                            user_deadline);
    op->deadline_us = limit;
    lock->ttl_ms = ttl_ms;
    if (ttl_ms > lock->max_ttl_ms)
        lock->max_ttl_ms = ttl_ms;
    op->on_done = on_done;
    op->on_done_arg = arg;
    op->inline_io = on_done == NULL; /* a blocking caller waits */
    step->op = op;
    step->t0 = t0;
    step->limit_us = limit;
    step->ttl_ms = ttl_ms;
    redlock__op_submit(m->nodes, op);
    return REDLOCK_OK;
}

/* Decide a posted attempt whose outcome is certain or whose wait is over
 * (v: its verdict then). On success fills the lock's validity; otherwise
 * returns why and posts the undo into *undo (undo->op NULL if none). Drops
 * the step's op. */
redlock_status redlock__attempt_finish(redlock_lock *lock, redlock__step *step,
                                       redlock__verdict v,
                                       uint64_t user_deadline,
                                       redlock_acquire_info *info,
                                       redlock__undo *undo)
{
    redlock_manager *m = lock->m;
    redlock__op *op = step->op;
    uint64_t t0 = step->t0;
    uint32_t ttl_ms = step->ttl_ms;
    uint64_t t1 = redlock__clock_now_us();
    memset(undo, 0, sizeof(*undo));
    step->op = NULL;

    size_t yes, no, error;
    char detail[160];
    redlock__op_tally(op, &yes, &no, &error, detail, sizeof(detail));
    size_t unanswered = m->n - yes - no - error;
    note_attempt(info, yes, no, error + unanswered);
    if (info != NULL)
        snprintf(info->detail, sizeof(info->detail), "%s", detail);
    /* Taken after the tallies: a node answering in between shows here
     * but not there, which only makes the per-node view more complete. */
    redlock_status nodes[REDLOCK_NODES_MAX];
    node_statuses(op, nodes);
    if (info != NULL)
        memcpy(info->node_status, nodes, m->n * sizeof(nodes[0]));

    int64_t validity = redlock__validity_us(ttl_ms, m->opts.drift_factor,
                                            t0, t1);
    redlock_status st;
    if (v == REDLOCK__WON && validity > 0) {
        if (info != NULL)
            info->last_status = REDLOCK_OK;
        atomic_store_explicit(&lock->validity_end_us,
                              t1 + (uint64_t)validity, memory_order_relaxed);
        atomic_store_explicit(&lock->nodes_granted, yes,
                              memory_order_relaxed);
        if (info != NULL)
            info->validity_ms = validity / 1000;
        redlock__wires_unref(lock->acquired_wires);
        lock->acquired_wires = redlock__wires_ref(op->wires);
        redlock__op_unref(op);
        return REDLOCK_OK;
    }
    /* Failed: SETs not yet written to slow nodes may be skipped (a win
     * keeps them, so every reachable node ends up holding the lock). */
    abandon(op);
    if (closing(m))
        st = REDLOCK_ECLOSED;
    else if (v == REDLOCK__WON)
        st = REDLOCK_EEXPIRED;
    else if (v == REDLOCK__PENDING && user_deadline != 0 &&
             t1 >= user_deadline)
        st = REDLOCK_ETIMEDOUT;
    else {
        /* Refusals no retry can fix first (fast failure), then the
         * spec's taken / no quorum. */
        st = redlock__config_failure_status(m->n, nodes);
        if (st == REDLOCK_OK)
            st = redlock__acquire_failure_status(m->n, yes, no);
    }
    if (info != NULL)
        info->last_status = st;
    undo_post(lock, op, t1 - t0, user_deadline, op->inline_io, undo);
    redlock__op_unref(op);
    return st;
}

/* Undo a posted attempt that its caller gave up on (a cancelled
 * non-blocking acquire): whatever it may have set is released, as after
 * a failed attempt. Drops the step's op; the undo is not waited for. */
void redlock__attempt_cancel(redlock_lock *lock, redlock__step *step)
{
    redlock__op *op = step->op;
    step->op = NULL;
    if (op == NULL)
        return;
    abandon(op);
    redlock__undo u;
    undo_post(lock, op, redlock__clock_now_us() - step->t0, 0, false, &u);
    redlock__undo_drop(&u);
    redlock__op_unref(op);
}

/* One blocking attempt: post, wait on this thread, decide, undo. */
static redlock_status attempt(redlock_lock *lock, uint32_t ttl_ms,
                              uint64_t user_deadline,
                              redlock_acquire_info *info)
{
    redlock__step step;
    redlock_status st = redlock__attempt_post(lock, ttl_ms, user_deadline,
                                              NULL, NULL, &step);
    if (st != REDLOCK_OK)
        return st;
    redlock__verdict v = redlock__op_wait(step.op, step.limit_us, false);
    redlock__undo undo;
    st = redlock__attempt_finish(lock, &step, v, user_deadline, info, &undo);
    undo_wait(&undo);
    return st;
}

/* Check and normalise the resources of an acquire call. */
static redlock_status check_resources(const void *const *res,
                                      const size_t *lens, size_t count,
                                      size_t *out_lens)
{
    if (res == NULL || count == 0)
        return REDLOCK_EINVAL;
    if (count > REDLOCK_MULTI_MAX)
        return REDLOCK_ERANGE;
    for (size_t i = 0; i < count; i++) {
        if (res[i] == NULL)
            return REDLOCK_EINVAL;
        out_lens[i] = lens != NULL ? lens[i] : strlen(res[i]);
        if (out_lens[i] == 0)
            return REDLOCK_EINVAL;
        if (out_lens[i] > REDLOCK_RESOURCE_MAX)
            return REDLOCK_ERANGE;
        for (size_t j = 0; j < i; j++)
            if (out_lens[j] == out_lens[i] &&
                memcmp(res[j], res[i], out_lens[i]) == 0)
                return REDLOCK_EINVAL;
    }
    return REDLOCK_OK;
}

/* The acquire loop shared by every acquire entry point. info (NULL: the
 * caller wants none) is the library's own copy, zeroed. */
/* Start the next retry slot at now (the delay plus jitter): false when
 * p's retry_count is used up. Until a deadline, slots are not compared
 * (the count saturates): the deadline, destroy or a status no retry can
 * change ends the loop. */
static bool next_slot(const redlock__policy *p, uint32_t *slots,
                      uint64_t now, uint64_t *slot_end)
{
    if (!p->retry_until_deadline && *slots >= p->retry_count)
        return false;
    if (*slots < UINT32_MAX)
        (*slots)++;
    *slot_end = now + redlock__retry_delay_us(
                          p->retry_delay_ms, p->retry_jitter_ms,
                          redlock__random_upto(p->retry_jitter_ms));
    return true;
}

/* Check an acquire's arguments and make its lock (holding a manager
 * reference); see lock.h. */
redlock_status redlock__acquire_begin(redlock_manager *m,
                                      const void *const *res,
                                      const size_t *lens_in, size_t count,
                                      uint32_t ttl_ms,
                                      const redlock_acquire_opts *opts,
                                      bool single_attempt,
                                      redlock_acquire_info *info,
                                      redlock__policy *p, redlock_lock **out)
{
    redlock_status st = REDLOCK_OK;
    *out = NULL;
    if (m == NULL)
        st = REDLOCK_EINVAL;
    else if (!manager_ok(m))
        st = REDLOCK_EMISUSE;
    if (st == REDLOCK_OK)
        st = redlock__acquire_policy(&m->opts, opts, p);
    if (st != REDLOCK_OK) {
        if (info != NULL)
            info->last_status = st;
        return st;
    }
    p->info = info;
    if (single_attempt) {
        p->retry_count = 0;
        p->retry_until_deadline = false;
    }
    size_t lens[REDLOCK_MULTI_MAX];
    st = check_resources(res, lens_in, count, lens);
    if (st == REDLOCK_OK)
        st = check_grant_ttl(m, ttl_ms);
    if (st == REDLOCK_OK && closing(m))
        st = REDLOCK_ECLOSED;
    if (st != REDLOCK_OK) {
        if (p->info != NULL)
            p->info->last_status = st;
        return st;
    }
    redlock__manager_ref(m);
    redlock_lock *lock = lock_new(m, res, lens, count);
    if (lock == NULL) {
        redlock__manager_unref(m);
        if (p->info != NULL)
            p->info->last_status = REDLOCK_ENOMEM;
        return REDLOCK_ENOMEM;
    }
    /* A cluster node can run a multi-key script only on one hash slot:
     * refuse now rather than fail every vote there with CROSSSLOT. */
    if (m->has_cluster && !redlock__keys_one_slot(
                              (const char *const *)lock->keys,
                              lock->key_lens, count)) {
        redlock__acquire_abort(lock);
        if (p->info != NULL)
            p->info->last_status = REDLOCK_ECROSSSLOT;
        return REDLOCK_ECROSSSLOT;
    }
    /* The call's owner (checked by the policy), else the manager's. */
    const char *owner = p->owner != NULL ? p->owner : m->opts.owner;
    if (owner != NULL)
        snprintf(lock->owner, sizeof(lock->owner), "%s", owner);
    p->owner = NULL; /* copied: the caller's memory is not kept */
    lock->ttl_ms = ttl_ms;
    *out = lock;
    return REDLOCK_OK;
}

/* Free a lock whose acquire failed (see lock.h). */
void redlock__acquire_abort(redlock_lock *lock)
{
    redlock_manager *m = lock->m;
    lock_free_memory(lock);
    redlock__manager_unref(m);
}

bool redlock__acquire_next_slot(const redlock__policy *p, uint32_t *slots,
                                uint64_t now, uint64_t *slot_end)
{
    return next_slot(p, slots, now, slot_end);
}

static redlock_status acquire_run(redlock_manager *m,
                                  const void *const *res,
                                  const size_t *lens_in, size_t count,
                                  uint32_t ttl_ms,
                                  const redlock_acquire_opts *opts,
                                  bool single_attempt, redlock_lock **out,
                                  redlock_acquire_info *info)
{
    if (out == NULL) {
        if (info != NULL)
            info->last_status = REDLOCK_EINVAL;
        return REDLOCK_EINVAL;
    }
    *out = NULL;
    redlock__policy p;
    redlock_lock *lock = NULL;
    redlock_status st = redlock__acquire_begin(m, res, lens_in, count, ttl_ms,
                                               opts, single_attempt, info,
                                               &p, &lock);
    if (st != REDLOCK_OK)
        return st;
    uint64_t started = redlock__clock_now_us();
    /* Pub/sub wake-ups (wake.c): registered after the first attempt
     * that another holder refused. */
    redlock__waiter waiter;
    memset(&waiter, 0, sizeof(waiter));
    /* Retries are counted in slots of the retry delay (plus jitter): a
     * slot starts after a failed attempt and ends at its timer. A wake-up
     * inside it (a confirmed subscription, a release announced) tries
     * again at once without starting a new slot, so retry_count bounds
     * the time spent as before, and a waiter is not given up early
     * because releases were announced. */
    uint32_t slots = 0;     /* retry slots started */
    uint64_t slot_end = 0;  /* end of the current slot (0: none) */
    for (;;) {
        if (closing(m)) {
            st = REDLOCK_ECLOSED;
            break;
        }
        if (p.deadline_us != 0 && redlock__clock_now_us() >= p.deadline_us) {
            st = REDLOCK_ETIMEDOUT;
            break;
        }
        st = attempt(lock, ttl_ms, p.deadline_us, p.info);
        if (!redlock__retry_worthwhile(st))
            break;
        uint64_t now = redlock__clock_now_us();
        if ((slot_end == 0 || now >= slot_end) &&
            !next_slot(&p, &slots, now, &slot_end))
            break;
        bool to_deadline = p.deadline_us != 0 && slot_end >= p.deadline_us;
        uint64_t until = to_deadline ? p.deadline_us : slot_end;
        if (st == REDLOCK_ETAKEN && !waiter.registered &&
            redlock__wake_register(m, lock->keys, lock->key_lens, count,
                                   &waiter) &&
            !waiter.preconfirmed) {
            /* Subscribe first, then try (Redisson #3018): once a node
             * confirmed the subscription, try again at once, so that a
             * release between the last attempt and the subscription is
             * not missed. No confirmation within the slot: that was the
             * timed retry's wait. (A key whose subscription other waiters
             * of this manager had confirmed already needs no such attempt:
             * a release since then left a grant, or woke a waiter that is
             * trying; this one just waits, below.) */
            if (redlock__wake_await_confirmed(m, &waiter, until))
                continue; /* same slot */
            if (closing(m))
                continue; /* the loop's check returns ECLOSED */
            if (to_deadline) {
                st = REDLOCK_ETIMEDOUT;
                break;
            }
            slot_end = 0;
            continue;
        }
        if (waiter.registered) {
            /* A grant, the slot's end (or the deadline), or destroy. A
             * slot that ends while releases of the key are being
             * announced makes no timed attempt: the key is being handed
             * from waiter to waiter, and a timed attempt would only find
             * it held, or split a woken waiter's vote. The timer attempts
             * again once a whole slot passed without an announcement (a
             * holder that died and left its key to expire, a message
             * lost). The slot still counts against retry_count. */
            redlock__wake_how how;
            bool gave_up = false;
            for (;;) {
                uint64_t seq = redlock__wake_seq(m, &waiter);
                how = redlock__wake_wait(m, &waiter, until);
                if (how != REDLOCK__WAKE_TIMER || to_deadline ||
                    redlock__wake_seq(m, &waiter) == seq)
                    break;
                now = redlock__clock_now_us();
                if (!next_slot(&p, &slots, now, &slot_end)) {
                    gave_up = true; /* st: the last attempt's */
                    break;
                }
                to_deadline = p.deadline_us != 0 && slot_end >= p.deadline_us;
                until = to_deadline ? p.deadline_us : slot_end;
            }
            if (gave_up)
                break;
            if (how == REDLOCK__WAKE_CLOSED) {
                st = REDLOCK_ECLOSED;
                break;
            }
            if (how == REDLOCK__WAKE_TIMER) {
                if (to_deadline) {
                    st = REDLOCK_ETIMEDOUT;
                    break;
                }
                slot_end = 0;
            }
            continue; /* a grant: same slot */
        }
        if (to_deadline) {
            /* No attempt could start before the deadline. */
            if (p.deadline_us > now &&
                !redlock__manager_sleep_us(m, p.deadline_us - now))
                st = REDLOCK_ECLOSED;
            else
                st = REDLOCK_ETIMEDOUT;
            break;
        }
        /* Cut short by destroy: the loop's check returns ECLOSED. */
        if (until > now)
            (void)redlock__manager_sleep_us(m, until - now);
        slot_end = 0;
    }
    redlock__wake_unregister(m, &waiter);
    if (p.info != NULL) {
        p.info->elapsed_us = redlock__clock_now_us() - started;
        if (p.info->attempts == 0)
            p.info->last_status = st; /* no attempt was made */
    }
    if (st != REDLOCK_OK) {
        redlock__acquire_abort(lock);
        return st;
    }
    redlock__log(m, REDLOCK_LOG_DEBUG, "acquired %zu resource(s)", count);
    *out = lock;
    return REDLOCK_OK;
}

/* acquire_run() with the caller's info filled from the library's own
 * copy on return, as much of it as the caller's version of the struct
 * has (see REDLOCK__ACQUIRE_OPTS_V1_SIZE). */
static redlock_status acquire_core(redlock_manager *m,
                                   const void *const *res,
                                   const size_t *lens_in, size_t count,
                                   uint32_t ttl_ms,
                                   const redlock_acquire_opts *opts,
                                   bool single_attempt, redlock_lock **out)
{
    redlock_acquire_info *user = NULL;
    size_t user_size = 0;
    if (opts != NULL && opts->struct_size == sizeof(*opts)) {
        user = opts->info;
        user_size = sizeof(*user);
    } else if (opts != NULL &&
               opts->struct_size == REDLOCK__ACQUIRE_OPTS_V1_SIZE) {
        user = opts->info;
        user_size = REDLOCK__ACQUIRE_INFO_V1_SIZE;
    }
    redlock_acquire_info own;
    memset(&own, 0, sizeof(own));
    redlock_status st = acquire_run(m, res, lens_in, count, ttl_ms, opts,
                                    single_attempt, out,
                                    user != NULL ? &own : NULL);
    if (user != NULL)
        memcpy(user, &own, user_size);
    return st;
}

/* ------------------------------------------------------------------------
 * Public API: acquire
 * ------------------------------------------------------------------------ */

/* Acquire a NUL-terminated resource with the manager's retry policy. */
redlock_status redlock_acquire(redlock_manager *m, const char *resource,
                               uint32_t ttl_ms, redlock_lock **out)
{
    const void *res[1] = {resource};
    return acquire_core(m, resource != NULL ? res : NULL, NULL, 1, ttl_ms,
                        NULL, false, out);
}

/* A single attempt. */
redlock_status redlock_try_acquire(redlock_manager *m, const char *resource,
                                   uint32_t ttl_ms, redlock_lock **out)
{
    const void *res[1] = {resource};
    return acquire_core(m, resource != NULL ? res : NULL, NULL, 1, ttl_ms,
                        NULL, true, out);
}

/* Binary-safe resource, per-call options. */
redlock_status redlock_acquire_ex(redlock_manager *m, const void *resource,
                                  size_t resource_len, uint32_t ttl_ms,
                                  const redlock_acquire_opts *opts,
                                  redlock_lock **out)
{
    const void *res[1] = {resource};
    size_t lens[1] = {resource_len};
    return acquire_core(m, resource != NULL ? res : NULL, lens, 1, ttl_ms,
                        opts, false, out);
}

/* Several resources, all or nothing on each node. */
redlock_status redlock_acquire_multi(redlock_manager *m,
                                     const void *const *resources,
                                     const size_t *lens, size_t count,
                                     uint32_t ttl_ms,
                                     const redlock_acquire_opts *opts,
                                     redlock_lock **out)
{
    return acquire_core(m, resources, lens, count, ttl_ms, opts, false, out);
}

/* ------------------------------------------------------------------------
 * Public API: extend and release
 * ------------------------------------------------------------------------ */

/* An extend op for lock with ttl_ms, not yet submitted (for the lease
 * thread, which waits for it asynchronously). Records ttl_ms as possibly
 * applied. NULL on OOM. */
redlock__op *redlock__extend_op_new(redlock_lock *lock, uint32_t ttl_ms,
                                    uint32_t *floor_ms)
{
    redlock__op *op = script_op(lock, REDLOCK__OP_EXTEND,
                                REDLOCK__SCRIPT_EXTEND, ttl_ms, true, false,
                                NULL);
    if (op == NULL)
        return NULL;
    /* Any node may apply this TTL, whatever the outcome, and possibly
     * after a later extension (docs/design.md §8): a later release must
     * stay queued long enough to outlive it, and no later validity may
     * count on more than the smallest TTL sent. */
    if (ttl_ms > lock->max_ttl_ms)
        lock->max_ttl_ms = ttl_ms;
    lock->ext_floor_ms = redlock__extend_floor_ms(lock->ext_floor_ms, ttl_ms);
    *floor_ms = lock->ext_floor_ms;
    return op;
}

/* Re-create lock's keys on the nodes whose extend answer was "a key is
 * gone", once ext has won a quorum; see internal.h. The restore is only
 * worth sending until the new validity ends: a restore still unsent by
 * then is dropped by the worker. */
void redlock__lock_restore_missing(redlock_lock *lock, redlock__op *ext,
                                   uint32_t ttl_ms, uint64_t validity_end_us)
{
    redlock_manager *m = lock->m;
    uint64_t gone = 0;
    if (lock->last_extend != NULL)
        gone = atomic_load_explicit(&lock->last_extend->missing,
                                    memory_order_relaxed) &
               ~lock->last_extend_restored;
    uint64_t now_gone = ext->wires != NULL
                            ? atomic_load_explicit(&ext->wires->missing,
                                                   memory_order_relaxed)
                            : 0;
    gone |= now_gone;
    redlock__wires_unref(lock->last_extend);
    lock->last_extend = redlock__wires_ref(ext->wires);
    lock->last_extend_restored = now_gone;
    if (!m->opts.restore_on_extend || gone == 0)
        return;
    bool which[REDLOCK_NODES_MAX];
    for (size_t i = 0; i < ext->n; i++)
        which[i] = (gone >> i & 1u) != 0;
    redlock__op *op = script_op(lock, REDLOCK__OP_EXTEND,
                                REDLOCK__SCRIPT_RESTORE, ttl_ms, true, true,
                                NULL);
    if (op == NULL)
        return; /* out of memory: the next extension tries again */
    op->deadline_us = validity_end_us;
    for (size_t i = 0; i < ext->n; i++) {
        if (which[i])
            lock->restored_nodes |= (uint64_t)1 << i;
        /* Sent as EVAL with the source from the start: an EVALSHA could
         * meet NOSCRIPT and be re-sent behind a later release, and then
         * re-create the keys after it. */
        redlock__op_send_eval(op, i);
    }
    redlock__op_submit_some(m->nodes, op, which, REDLOCK__ANS_NONE);
    redlock__op_unref(op);
}

/* Record a successful extension measured from t0 (for the lease thread). */
void redlock__lock_extended(redlock_lock *lock, uint32_t ttl_ms,
                            uint64_t validity_end_us, size_t yes)
{
    lock->ttl_ms = ttl_ms;
    atomic_store_explicit(&lock->nodes_granted, yes, memory_order_relaxed);
    atomic_store_explicit(&lock->validity_end_us, validity_end_us,
                          memory_order_relaxed);
}

/* Check a lock handle and a TTL before an extend. */
redlock_status redlock__extend_check(redlock_lock *lock, uint32_t ttl_ms)
{
    redlock_status st = redlock__lock_check(lock); /* the handle */
    if (st != REDLOCK_OK)
        return st;
    st = check_grant_ttl(lock->m, ttl_ms);
    if (st != REDLOCK_OK)
        return st;
    if (closing(lock->m))
        return REDLOCK_ECLOSED;
    return REDLOCK_OK;
}

/* Post an extension of a checked lock (redlock__extend_check()). */
redlock_status redlock__extend_post(redlock_lock *lock, uint32_t ttl_ms,
                                    void (*on_done)(void *), void *arg,
                                    redlock__step *step)
{
    redlock_manager *m = lock->m;
    memset(step, 0, sizeof(*step));
    uint32_t floor_ms = 0;
    redlock__op *op = redlock__extend_op_new(lock, ttl_ms, &floor_ms);
    if (op == NULL)
        return REDLOCK_ENOMEM;
    /* t0 before posting: no node can apply the new TTL before it. */
    uint64_t t0 = redlock__clock_now_us();
    double df = m->opts.drift_factor;
    uint64_t limit = redlock__wait_limit_us(t0, m->opts.command_timeout_ms,
                                            floor_ms, df, 0);
    op->deadline_us = limit;
    /* From the moment the PEXPIREs are posted, a shorter TTL may land on
     * any node: until the answers say otherwise the holder may count only
     * on what a failed extend leaves (found by the model, docs/model.md).
     * A longer TTL leaves the end as it was. */
    uint64_t end_before = atomic_load_explicit(&lock->validity_end_us,
                                               memory_order_relaxed);
    atomic_store_explicit(&lock->validity_end_us,
                          redlock__extend_end_us(false, end_before, t0,
                                                 floor_ms, df),
                          memory_order_relaxed);
    op->on_done = on_done;
    op->on_done_arg = arg;
    op->inline_io = on_done == NULL;
    step->op = op;
    step->t0 = t0;
    step->limit_us = limit;
    step->ttl_ms = ttl_ms;
    step->floor_ms = floor_ms;
    redlock__op_submit(m->nodes, op);
    return REDLOCK_OK;
}

/* Decide a posted extension (v: its verdict once certain or its wait
 * over). Drops the step's op. */
redlock_status redlock__extend_finish(redlock_lock *lock, redlock__step *step,
                                      redlock__verdict v)
{
    redlock_manager *m = lock->m;
    redlock__op *op = step->op;
    step->op = NULL;
    uint64_t t0 = step->t0;
    uint32_t ttl_ms = step->ttl_ms, floor_ms = step->floor_ms;
    double df = m->opts.drift_factor;
    uint64_t end_if_won = redlock__extend_end_us(true, 0, t0, floor_ms, df);
    uint64_t t1 = redlock__clock_now_us();
    size_t yes, no, error;
    redlock__op_tally(op, &yes, &no, &error, NULL, 0);
    bool won = v == REDLOCK__WON && end_if_won > t1;
    /* On failure, extensions not yet written may be skipped; on success
     * they still go out so every reachable node keeps the key, and nodes
     * that lost the key get it back. */
    if (won)
        redlock__lock_restore_missing(lock, op, ttl_ms, end_if_won);
    else
        abandon(op);
    redlock__op_unref(op);

    /* The extend rule (docs/safety.md §10): a win sets the validity end
     * from this call's start; anything else may still have shortened the
     * keys on some nodes, so it can only bring the end closer. */
    uint64_t old_end = atomic_load_explicit(&lock->validity_end_us,
                                            memory_order_relaxed);
    atomic_store_explicit(&lock->validity_end_us,
                          redlock__extend_end_us(won, old_end, t0, floor_ms,
                                                 df),
                          memory_order_relaxed);
    if (won) {
        lock->ttl_ms = ttl_ms;
        atomic_store_explicit(&lock->nodes_granted, yes,
                              memory_order_relaxed);
        return REDLOCK_OK;
    }
    if (closing(m))
        return REDLOCK_ECLOSED;
    if (v == REDLOCK__WON)
        return REDLOCK_EEXPIRED;
    return redlock__keep_failure_status(m->n, no);
}

/* Extend: check, post, wait on this thread, decide. */
redlock_status redlock_extend(redlock_lock *lock, uint32_t ttl_ms)
{
    redlock_status st = redlock__extend_check(lock, ttl_ms);
    if (st != REDLOCK_OK)
        return st;
    redlock__step step;
    st = redlock__extend_post(lock, ttl_ms, NULL, NULL, &step);
    if (st != REDLOCK_OK)
        return st;
    redlock__verdict v = redlock__op_wait(step.op, step.limit_us, false);
    return redlock__extend_finish(lock, &step, v);
}

/* Check a lock handle before any operation on it (see lock.h). */
redlock_status redlock__lock_check(const redlock_lock *lock)
{
    if (lock == NULL)
        return REDLOCK_EINVAL;
    if (!lock_ok(lock))
        return REDLOCK_EMISUSE;
    /* Before anything else of the lock: the async engine may be writing
     * it (async.c). */
    if (atomic_load_explicit(&lock->async_busy, memory_order_acquire))
        return REDLOCK_EMISUSE;
    if (lock->released)
        return REDLOCK_ERELEASED;
    return REDLOCK_OK;
}

/* Mark a checked lock released and post its release on every node it
 * may hold (step->op NULL and ECLOSED if the manager is closing). */
redlock_status redlock__release_post(redlock_lock *lock,
                                     void (*on_done)(void *), void *arg,
                                     redlock__step *step)
{
    redlock_manager *m = lock->m;
    memset(step, 0, sizeof(*step));
    atomic_store_explicit(&lock->validity_end_us, 0, memory_order_relaxed);
    lock->released = true;
    if (closing(m))
        return REDLOCK_ECLOSED;
    bool which[REDLOCK_NODES_MAX];
    for (size_t i = 0; i < m->n; i++)
        which[i] = acquired_on(lock, i);
    redlock__op *op = release_op(lock, on_done == NULL, on_done, arg, which,
                                 true);
    if (op == NULL)
        return REDLOCK_ENOMEM;
    step->op = op;
    step->t0 = redlock__clock_now_us();
    step->limit_us = step->t0 + (uint64_t)m->opts.command_timeout_ms * 1000u;
    return REDLOCK_OK;
}

/* Decide a posted release. Drops the step's op. */
redlock_status redlock__release_finish(redlock_lock *lock, redlock__step *step,
                                       redlock__verdict v)
{
    redlock__op *op = step->op;
    step->op = NULL;
    size_t no = 0;
    redlock__op_tally(op, NULL, &no, NULL, NULL, 0);
    abandon(op); /* releases still reach every node */
    redlock__op_unref(op);
    if (v == REDLOCK__WON)
        return REDLOCK_OK;
    if (closing(lock->m))
        return REDLOCK_ECLOSED;
    return redlock__keep_failure_status(lock->m->n, no);
}

/* Release on all nodes and mark the handle released. */
static redlock_status release_keys(redlock_lock *lock)
{
    redlock__step step;
    redlock_status st = redlock__release_post(lock, NULL, NULL, &step);
    if (st != REDLOCK_OK)
        return st;
    redlock__verdict v = redlock__op_wait(step.op, step.limit_us, false);
    return redlock__release_finish(lock, &step, v);
}

/* Release but keep the handle. */
redlock_status redlock_release_keep(redlock_lock *lock)
{
    redlock_status st = redlock__lock_check(lock);
    return st != REDLOCK_OK ? st : release_keys(lock);
}

/* Release and free. */
redlock_status redlock_release(redlock_lock *lock)
{
    redlock_status st = redlock_release_keep(lock);
    if (st != REDLOCK_EINVAL && st != REDLOCK_EMISUSE)
        redlock_lock_free(lock);
    return st;
}

/* A handle for a lock held elsewhere, identified by its token. */
redlock_status redlock_lock_adopt(redlock_manager *m, const void *resource,
                                  size_t resource_len, const char *token,
                                  uint32_t ttl_ms, redlock_lock **out)
{
    if (out == NULL || m == NULL)
        return REDLOCK_EINVAL;
    *out = NULL;
    if (!manager_ok(m))
        return REDLOCK_EMISUSE;
    const void *res[1] = {resource};
    size_t lens_in[1] = {resource_len};
    size_t lens[1];
    redlock_status st =
        check_resources(resource != NULL ? res : NULL, lens_in, 1, lens);
    if (st != REDLOCK_OK)
        return st;
    st = check_ttl(ttl_ms);
    if (st != REDLOCK_OK)
        return st;
    /* The token, or the whole stored value "<token> <owner>". */
    if (token == NULL ||
        strspn(token, "0123456789abcdef") != REDLOCK_TOKEN_LEN ||
        (token[REDLOCK_TOKEN_LEN] != '\0' &&
         (token[REDLOCK_TOKEN_LEN] != ' ' ||
          !redlock__owner_valid(token + REDLOCK_TOKEN_LEN + 1))))
        return REDLOCK_EINVAL;
    if (closing(m))
        return REDLOCK_ECLOSED;
    redlock__manager_ref(m);
    redlock_lock *lock = lock_new(m, res, lens, 1);
    if (lock == NULL) {
        redlock__manager_unref(m);
        return REDLOCK_ENOMEM;
    }
    memcpy(lock->token, token, REDLOCK_TOKEN_LEN);
    lock->token[REDLOCK_TOKEN_LEN] = '\0';
    if (token[REDLOCK_TOKEN_LEN] == ' ')
        snprintf(lock->owner, sizeof(lock->owner), "%s",
                 token + REDLOCK_TOKEN_LEN + 1);
    lock->ttl_ms = ttl_ms;
    lock->max_ttl_ms = ttl_ms;
    *out = lock;
    return REDLOCK_OK;
}

/* Forget the handle; the keys expire by TTL. */
void redlock_lock_free(redlock_lock *lock)
{
    if (!lock_ok(lock))
        return;
    redlock_manager *m = lock->m;
    lock_free_memory(lock);
    redlock__manager_unref(m);
}

/* ------------------------------------------------------------------------
 * Public API: accessors
 * ------------------------------------------------------------------------ */

/* First resource without the prefix. */
const char *redlock_lock_resource(const redlock_lock *lock, size_t *len)
{
    if (!lock_ok(lock)) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    size_t prefix = lock->m->prefix_len;
    if (len != NULL)
        *len = lock->key_lens[0] - prefix;
    return lock->keys[0] + prefix;
}

/* Resource count. */
size_t redlock_lock_resource_count(const redlock_lock *lock)
{
    return lock_ok(lock) ? lock->count : 0;
}

/* The hex token. */
const char *redlock_lock_token(const redlock_lock *lock)
{
    return lock_ok(lock) ? lock->token : NULL;
}

/* The owner label, or NULL if none. */
const char *redlock_lock_owner(const redlock_lock *lock)
{
    return lock_ok(lock) && lock->owner[0] != '\0' ? lock->owner : NULL;
}

/* Remaining validity in ms (negative once expired). */
int64_t redlock_lock_validity_ms(const redlock_lock *lock)
{
    if (!lock_ok(lock))
        return 0;
    uint64_t end = atomic_load_explicit(&lock->validity_end_us,
                                        memory_order_relaxed);
    if (end == 0)
        return 0;
    int64_t left = redlock__validity_left_us(end, redlock__clock_now_us());
    /* Round toward -inf so a positive result is never an overstatement
     * (written so that -INT64_MAX does not overflow). */
    return left >= 0 ? left / 1000 : -((-left - 1) / 1000 + 1);
}

/* Absolute validity end on redlock_clock_us(). */
uint64_t redlock_lock_validity_end_us(const redlock_lock *lock)
{
    return lock_ok(lock) ? atomic_load_explicit(&lock->validity_end_us,
                                                memory_order_relaxed)
                         : 0;
}

/* Nodes that granted the last acquire or extend. */
size_t redlock_lock_nodes_granted(const redlock_lock *lock)
{
    return lock_ok(lock) ? atomic_load_explicit(&lock->nodes_granted,
                                                memory_order_relaxed)
                         : 0;
}
