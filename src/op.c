/*
 * op.c: fan-out operations: one command sent to every node, decided on a
 * quorum.
 *
 * DESIGN
 * An op carries the command (argv, copied once into the op's own block and
 * shared read-only by every worker), one slot per node, and the tallies.
 * The calling thread submits the op to every node's queue at once, then
 * sleeps on op->cv. Each worker, as its node answers, records the answer
 * under op->mu and signals the caller as soon as the verdict is certain
 * (a quorum said yes, or too many said no or failed for a quorum to be
 * possible), or when every node has answered. The caller therefore never
 * waits for the slowest node once the outcome is known.
 *
 * Lifetime: one reference for the caller, one per slot still held by a
 * node. The caller may stop waiting (deadline, decision) and drop its
 * reference; late answers then land in memory that is still valid and the
 * last worker to finish frees it. When the caller stops waiting it sets
 * `abandoned`, which lets workers skip slots not yet sent (except
 * releases, which are never skipped while the key may still exist).
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "node.h"
#include "op.h"
#include "quorum.h"

/* Allocate one block holding the op, its slots, argv and the bytes. */
redlock__op *redlock__op_new(redlock__op_kind kind, size_t n, int argc,
                             const char *const *argv, const size_t *argvlen,
                             redlock__script_id script)
{
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += argvlen[i] + 1;
    size_t head = sizeof(redlock__op) + n * sizeof(redlock__slot);
    head = (head + 15) & ~(size_t)15;
    size_t vec = (size_t)argc * (sizeof(char *) + sizeof(size_t));
    redlock__op *op = calloc(1, head + vec + bytes);
    if (op == NULL)
        return NULL;
    bool acquire = kind == REDLOCK__OP_ACQUIRE ||
                   kind == REDLOCK__OP_ACQUIRE_MULTI;
    if (acquire || kind == REDLOCK__OP_EXTEND) {
        op->wires = calloc(1, sizeof(redlock__wires) + n);
        if (op->wires == NULL) {
            free(op);
            return NULL;
        }
        atomic_init(&op->wires->refs, 1);
        atomic_init(&op->wires->missing, 0);
    }
    if (pthread_mutex_init(&op->mu, NULL) != 0) {
        redlock__wires_unref(op->wires);
        free(op);
        return NULL;
    }
    if (redlock__cond_init(&op->cv) != 0) {
        pthread_mutex_destroy(&op->mu);
        redlock__wires_unref(op->wires);
        free(op);
        return NULL;
    }
    atomic_init(&op->refs, 1);
    atomic_init(&op->abandoned, false);
    op->kind = kind;
    op->n = n;
    op->script = script;
    op->argc = argc;
    char *base = (char *)op + head;
    op->argv = (const char **)(void *)base;
    op->argvlen = (size_t *)(void *)(base + (size_t)argc * sizeof(char *));
    char *p = base + vec;
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], argvlen[i]);
        p[argvlen[i]] = '\0';
        op->argv[i] = p;
        op->argvlen[i] = argvlen[i];
        p += argvlen[i] + 1;
    }
    for (size_t i = 0; i < n; i++) {
        op->slots[i].op = op;
        op->slots[i].node = (uint32_t)i;
        atomic_init(&op->slots[i].wire_own, REDLOCK__WIRE_QUEUED);
        op->slots[i].wire = &op->slots[i].wire_own;
        if (acquire) {
            atomic_init(&op->wires->state[i], REDLOCK__WIRE_QUEUED);
            op->slots[i].wire = &op->wires->state[i];
        }
    }
    return op;
}

/* Drop a reference; the last one frees the op and any kept replies. */
void redlock__op_unref(redlock__op *op)
{
    if (op == NULL)
        return;
    /* acq_rel: the freeing thread must see every write made by the other
     * holders before they dropped their references. */
    if (atomic_fetch_sub_explicit(&op->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < op->n; i++)
        if (op->slots[i].reply != NULL)
            freeReplyObject(op->slots[i].reply);
    pthread_cond_destroy(&op->cv);
    pthread_mutex_destroy(&op->mu);
    redlock__wires_unref(op->wires);
    free(op);
}

/* Take a reference on a wire-state block. */
redlock__wires *redlock__wires_ref(redlock__wires *w)
{
    if (w != NULL)
        atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
    return w;
}

/* Drop a reference; the last one frees the block. */
void redlock__wires_unref(redlock__wires *w)
{
    if (w != NULL &&
        atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) == 1)
        free(w);
}

/* True when the waiter has something to act on. */
static bool op_ready(const redlock__op *op, bool wait_all)
{
    if (op->answered >= op->n)
        return true;
    if (wait_all)
        return false;
    return redlock__verdict_of(op->n, op->yes, op->no, op->error) !=
           REDLOCK__PENDING;
}

/* Record one node's answer (first answer wins) and wake the waiter. */
void redlock__op_answer(redlock__slot *s, redlock__answer ans,
                        redlock_status err, const char *node_name,
                        const char *detail)
{
    redlock__op *op = s->op;
    pthread_mutex_lock(&op->mu);
    if (s->answer == REDLOCK__ANS_NONE) {
        bool was_pending = redlock__verdict_of(op->n, op->yes, op->no,
                                               op->error) == REDLOCK__PENDING;
        s->answer = (uint8_t)ans;
        s->error = err;
        if (ans == REDLOCK__ANS_YES)
            op->yes++;
        else if (ans == REDLOCK__ANS_NO)
            op->no++;
        else {
            op->error++;
            if (op->first_error[0] == '\0')
                snprintf(op->first_error, sizeof(op->first_error), "%s: %s",
                         node_name != NULL ? node_name : "?",
                         detail != NULL ? detail : redlock_strerror(err));
        }
        op->answered++;
        /* Wake waiters only when what they wait for may have happened: the
         * verdict became certain, or every node answered, or a waiter asked
         * for every answer. An answer that changes neither would only cost
         * the waiting caller a context switch. */
        bool decided = was_pending &&
                       redlock__verdict_of(op->n, op->yes, op->no,
                                           op->error) != REDLOCK__PENDING;
        if (decided || op->answered >= op->n || op->wake_each)
            pthread_cond_broadcast(&op->cv);
    }
    bool notify = op->on_done != NULL && !op->done_notified &&
                  op_ready(op, false);
    if (notify) {
        op->done_notified = true;
        op->notified_us = redlock__clock_now_us();
    }
    pthread_mutex_unlock(&op->mu);
    if (notify)
        op->on_done(op->on_done_arg);
}

/* Record one node's answer and drop the slot's reference. */
void redlock__op_complete(redlock__slot *s, redlock__answer ans,
                          redlock_status err, const char *node_name,
                          const char *detail)
{
    redlock__op *op = s->op;
    redlock__op_answer(s, ans, err, node_name, detail);
    redlock__op_unref(op);
}

/* Wait for a certain outcome (or all answers) until deadline_us. */
redlock__verdict redlock__op_wait(redlock__op *op, uint64_t deadline_us,
                                  bool wait_all)
{
    pthread_mutex_lock(&op->mu);
    while (!op_ready(op, wait_all)) {
        uint64_t now = redlock__clock_now_us();
        if (deadline_us != 0 && now >= deadline_us)
            break;
        uint64_t wait = deadline_us != 0 ? deadline_us - now : 1000000u;
        redlock__cond_wait_us(&op->cv, &op->mu, wait);
    }
    redlock__verdict v =
        redlock__verdict_of(op->n, op->yes, op->no, op->error);
    pthread_mutex_unlock(&op->mu);
    return v;
}

/* Post every slot to its node. */
void redlock__op_submit(struct redlock__node *const *nodes, redlock__op *op)
{
    /* One reference per slot, taken before any node can complete one. */
    atomic_fetch_add_explicit(&op->refs, (int)op->n, memory_order_relaxed);
    for (size_t i = 0; i < op->n; i++)
        redlock__node_submit(nodes[i], &op->slots[i]);
}

/* Cancel a wire state unless it was written; see internal.h. A slot
 * answered while still QUEUED was failed before sending (node down, queue
 * full, expired) and will never be sent. */
bool redlock__wire_cancel_unsent(atomic_uchar *wire)
{
    unsigned char expected = REDLOCK__WIRE_QUEUED;
    if (atomic_compare_exchange_strong_explicit(
            wire, &expected, REDLOCK__WIRE_CANCELLED,
            memory_order_acq_rel, memory_order_acquire))
        return true;
    return expected == REDLOCK__WIRE_CANCELLED;
}

/* Post only the slots marked in which[] (length op->n); the others get
 * `skipped` as their answer at once (unless it is ANS_NONE). */
void redlock__op_submit_some(struct redlock__node *const *nodes,
                             redlock__op *op, const bool *which,
                             redlock__answer skipped)
{
    int count = 0;
    if (skipped != REDLOCK__ANS_NONE)
        for (size_t i = 0; i < op->n; i++)
            if (!which[i])
                redlock__op_answer(&op->slots[i], skipped, REDLOCK_OK,
                                   redlock__node_name(nodes[i]),
                                   "not needed on this node");
    for (size_t i = 0; i < op->n; i++)
        count += which[i] ? 1 : 0;
    atomic_fetch_add_explicit(&op->refs, count, memory_order_relaxed);
    for (size_t i = 0; i < op->n; i++)
        if (which[i])
            redlock__node_submit(nodes[i], &op->slots[i]);
}

/* Copy out the tallies under the op's lock. */
void redlock__op_tally(redlock__op *op, size_t *yes, size_t *no,
                       size_t *error, char *first_error, size_t errlen)
{
    pthread_mutex_lock(&op->mu);
    if (yes != NULL)
        *yes = op->yes;
    if (no != NULL)
        *no = op->no;
    if (error != NULL)
        *error = op->error;
    if (first_error != NULL && errlen > 0)
        snprintf(first_error, errlen, "%s", op->first_error);
    pthread_mutex_unlock(&op->mu);
}
