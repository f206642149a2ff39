/*
 * op.c: fan-out operations: one command sent to every node, decided on a
 * quorum.
 *
 * DESIGN
 * An op carries the command (argv, copied once into the op's own block and
 * shared read-only by every worker), one slot per node, and the tallies.
 * The calling thread submits the op to every node at once, then waits.
 * Whoever reads a node's answer records it under op->mu and wakes the
 * caller as soon as the verdict is certain (a quorum said yes, or too
 * many said no or failed for a quorum to be possible), or when every node
 * has answered. The caller therefore never waits for the slowest node
 * once the outcome is known.
 *
 * Two ways to a node (node.h): an op whose caller will wait (inline_io)
 * is written by the caller itself to every idle node, and the caller then
 * waits by polling those sockets plus one eventfd, reading the replies as
 * they come (the fast path: no thread hand-off). Busy nodes get the slot
 * through their worker's queue, as every op without inline_io does, and
 * the caller sleeps on op->cv (or, when it also reads some nodes, on the
 * eventfd, which every other answerer writes while op->waiter_fd is set).
 * The eventfds come from a per-manager pool (redlock__wakers) of a fixed
 * size, made at create: a thread holds one only while it waits, the
 * manager's fd count never moves after create, and when all are in use a
 * caller takes the workers' path. When the first
 * wait returns, the nodes it read are handed back (node_leave): a later
 * wait on the same op sleeps on op->cv.
 *
 * Lifetime: one reference for the caller, one per slot still held by a
 * node. The caller may stop waiting (deadline, decision) and drop its
 * reference; late answers then land in memory that is still valid and the
 * last worker to finish frees it. When the caller stops waiting it sets
 * `abandoned`, which lets workers skip slots not yet sent (except
 * releases, which are never skipped while the key may still exist).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

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
    op->waiter_fd = -1;
    op->inl_efd = -1;
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

redlock__op *redlock__op_new_single(int argc, const char *const *argv,
                                    const size_t *lens, uint64_t deadline_us,
                                    void (*on_done)(void *), void *arg)
{
    redlock__op *op = redlock__op_new(REDLOCK__OP_RAW, 1, argc, argv, lens,
                                      REDLOCK__SCRIPT_COUNT);
    if (op == NULL)
        return NULL;
    op->deadline_us = deadline_us;
    op->on_done = on_done;
    op->on_done_arg = arg;
    atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
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

/* Empty an eventfd's counter; see op.h. */
void redlock__eventfd_drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
    }
}

/* ------------------------------------------------------------------------
 * Waiter eventfds
 * ------------------------------------------------------------------------ */

int redlock__wakers_init(redlock__wakers *w)
{
    memset(w, 0, sizeof(*w));
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return -1;
    /* All made now: the manager's fd count stays what it is at create,
     * however many threads wait at once later. */
    for (size_t i = 0; i < REDLOCK__WAKERS; i++) {
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) {
            redlock__wakers_clear(w);
            return -1;
        }
        w->free_fds[w->len++] = fd;
    }
    return 0;
}

void redlock__wakers_clear(redlock__wakers *w)
{
    for (size_t i = 0; i < w->len; i++)
        close(w->free_fds[i]);
    pthread_mutex_destroy(&w->mu);
    memset(w, 0, sizeof(*w));
}

/* Take an eventfd from the pool; -1 when all are taken (the caller then
 * takes the workers' path). */
static int wakers_get(redlock__wakers *w)
{
    int fd = -1;
    pthread_mutex_lock(&w->mu);
    if (w->len > 0)
        fd = w->free_fds[--w->len];
    pthread_mutex_unlock(&w->mu);
    return fd;
}

/* Empty an eventfd's counter. */
static void drain_fd(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r; /* EAGAIN: it was empty */
}

/* Give an eventfd back. It is not drained (a read that finds it empty
 * is a system call per operation for nothing): the waiter drains it
 * whenever its poll sees it, and a write that came in after that only
 * costs the fd's next user one spurious turn of its loop. */
static void wakers_put(redlock__wakers *w, int fd)
{
    pthread_mutex_lock(&w->mu);
    w->free_fds[w->len++] = fd; /* it came from here: there is room */
    pthread_mutex_unlock(&w->mu);
}

/* The op this thread is waiting on with inline I/O: its own answers need
 * no eventfd write. */
static _Thread_local const redlock__op *tl_waiting_op;

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
        if (decided || op->answered >= op->n || op->wake_each) {
            pthread_cond_broadcast(&op->cv);
            /* A waiter polling sockets (inline I/O) sleeps on its eventfd,
             * not on cv. Written under mu: the waiter takes waiter_fd
             * away under mu before it gives the fd back. */
            if (op->waiter_fd >= 0 && tl_waiting_op != op) {
                uint64_t one = 1;
                ssize_t w = write(op->waiter_fd, &one, sizeof(one));
                (void)w;
            }
        }
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

/* True when a waiter for (wait_all, which) may stop; under op->mu. */
static bool wait_over(const redlock__op *op, bool wait_all, const bool *which)
{
    if (which == NULL)
        return op_ready(op, wait_all);
    for (size_t i = 0; i < op->n; i++)
        if (which[i] && op->slots[i].answer == REDLOCK__ANS_NONE)
            return false;
    return true;
}

/* Wait on the op's condition variable (no inline I/O to do). */
static void wait_cv(redlock__op *op, uint64_t deadline_us, bool wait_all,
                    const bool *which)
{
    pthread_mutex_lock(&op->mu);
    while (!wait_over(op, wait_all, which)) {
        uint64_t now = redlock__clock_now_us();
        if (deadline_us != 0 && now >= deadline_us)
            break;
        uint64_t wait = deadline_us != 0 ? deadline_us - now : 1000000u;
        redlock__cond_wait_us(&op->cv, &op->mu, wait);
    }
    pthread_mutex_unlock(&op->mu);
}

/* Wait while reading the nodes this thread wrote inline: poll their
 * sockets and the eventfd other answerers write, read whatever arrives
 * (answering any op's slots, in order), until the wait is over or
 * deadline_us. Then, with hand_back, hand what is still in flight to the
 * workers: the duty ends with this wait (without it, the next wait on the
 * op goes on reading, so that a reply arriving between two waits is not
 * left to the worker's next housekeeping pass). */
static void wait_inline(redlock__op *op, uint64_t deadline_us, bool wait_all,
                        const bool *which, bool hand_back)
{
    struct pollfd pfd[1 + REDLOCK_NODES_MAX];
    size_t slot_of[1 + REDLOCK_NODES_MAX];
    bool stale[REDLOCK_NODES_MAX] = {false};
    tl_waiting_op = op;
    for (;;) {
        size_t k = 1;
        pthread_mutex_lock(&op->mu);
        bool over = wait_over(op, wait_all, which);
        for (size_t i = 0; !over && i < op->n && i < REDLOCK_NODES_MAX; i++) {
            const redlock__slot *s = &op->slots[i];
            if (s->inl != NULL && !stale[i] &&
                s->answer == REDLOCK__ANS_NONE) {
                pfd[k].fd = s->inl_fd;
                pfd[k].events = POLLIN;
                pfd[k].revents = 0;
                slot_of[k++] = i;
            }
        }
        pthread_mutex_unlock(&op->mu);
        if (over)
            break;
        uint64_t now = redlock__clock_now_us();
        if (deadline_us != 0 && now >= deadline_us)
            break;
        pfd[0].fd = op->inl_efd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        struct timespec ts, *tp = NULL;
        if (deadline_us != 0) {
            uint64_t left = deadline_us - now;
            ts.tv_sec = (time_t)(left / 1000000u);
            ts.tv_nsec = (long)(left % 1000000u) * 1000L;
            tp = &ts;
        }
        if (ppoll(pfd, (nfds_t)k, tp, NULL) < 0 && errno != EINTR)
            break; /* cannot poll: the workers' path below takes over */
        if (pfd[0].revents != 0)
            drain_fd(op->inl_efd);
        for (size_t j = 1; j < k; j++) {
            size_t i = slot_of[j];
            if (pfd[j].revents != 0 &&
                !redlock__node_read(op->slots[i].inl, op->slots[i].inl_gen))
                stale[i] = true; /* closed: the worker answers it */
        }
    }
    tl_waiting_op = NULL;
    if (!hand_back)
        return; /* another wait follows: keep reading these nodes */
    pthread_mutex_lock(&op->mu);
    op->waiter_fd = -1;
    pthread_mutex_unlock(&op->mu);
    wakers_put(op->inl_wakers, op->inl_efd);
    op->inl_efd = -1;
    /* Stragglers: a last look (a reply may have just come in), then the
     * worker watches for the rest. */
    for (size_t i = 0; i < op->n && i < REDLOCK_NODES_MAX; i++) {
        redlock__slot *s = &op->slots[i];
        if (s->inl == NULL)
            continue;
        pthread_mutex_lock(&op->mu);
        bool open = s->answer == REDLOCK__ANS_NONE;
        pthread_mutex_unlock(&op->mu);
        if (open && !stale[i])
            redlock__node_read(s->inl, s->inl_gen);
        redlock__node_leave(s->inl);
        s->inl = NULL;
    }
    op->inline_slots = 0;
}

/* Wait for a certain outcome (or all answers) until deadline_us. */
redlock__verdict redlock__op_wait(redlock__op *op, uint64_t deadline_us,
                                  bool wait_all)
{
    if (op->inline_slots > 0)
        wait_inline(op, deadline_us, wait_all, NULL, true);
    else
        wait_cv(op, deadline_us, wait_all, NULL);
    pthread_mutex_lock(&op->mu);
    redlock__verdict v =
        redlock__verdict_of(op->n, op->yes, op->no, op->error);
    pthread_mutex_unlock(&op->mu);
    return v;
}

/* Wait until every node in `which` has answered op, or deadline_us. */
void redlock__op_wait_nodes(redlock__op *op, const bool *which,
                            uint64_t deadline_us, bool last)
{
    pthread_mutex_lock(&op->mu);
    op->wake_each = true; /* each answer may be one of ours */
    pthread_mutex_unlock(&op->mu);
    if (op->inline_slots > 0)
        wait_inline(op, deadline_us, false, which, last);
    else
        wait_cv(op, deadline_us, false, which);
}

/* Post every slot to its node. */
void redlock__op_submit(struct redlock__node *const *nodes, redlock__op *op)
{
    redlock__op_submit_some(nodes, op, NULL, REDLOCK__ANS_NONE);
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

/* Post only the slots marked in which[] (length op->n; NULL: all); the
 * others get `skipped` as their answer at once (unless it is ANS_NONE).
 * With inline_io, idle nodes are written on this thread (node.h). */
void redlock__op_submit_some(struct redlock__node *const *nodes,
                             redlock__op *op, const bool *which,
                             redlock__answer skipped)
{
    int count = 0;
    if (skipped != REDLOCK__ANS_NONE && which != NULL)
        for (size_t i = 0; i < op->n; i++)
            if (!which[i])
                redlock__op_answer(&op->slots[i], skipped, REDLOCK_OK,
                                   redlock__node_name(nodes[i]),
                                   "not needed on this node");
    for (size_t i = 0; i < op->n; i++)
        count += which == NULL || which[i] ? 1 : 0;
    /* One reference per slot, taken before any node can complete one. */
    atomic_fetch_add_explicit(&op->refs, count, memory_order_relaxed);
    /* Inline I/O needs an eventfd to sleep on besides the sockets. */
    bool inl = op->inline_io && op->on_done == NULL && op->n > 0 &&
               op->n <= REDLOCK_NODES_MAX && op->inline_slots == 0;
    if (inl) {
        op->inl_wakers = redlock__node_wakers(nodes[0]);
        op->inl_efd = wakers_get(op->inl_wakers);
        inl = op->inl_efd >= 0;
        if (inl) {
            pthread_mutex_lock(&op->mu);
            op->waiter_fd = op->inl_efd;
            pthread_mutex_unlock(&op->mu);
        }
    }
    for (size_t i = 0; i < op->n; i++) {
        if (which != NULL && !which[i])
            continue;
        redlock__slot *s = &op->slots[i];
        int fd;
        uint64_t gen;
        struct redlock__node *via;
        if (inl && redlock__node_try_send(nodes[i], s, &fd, &gen, &via)) {
            s->inl = via; /* nodes[i], or the cluster shard written */
            s->inl_fd = fd;
            s->inl_gen = gen;
            op->inline_slots++;
        } else {
            redlock__node_submit(nodes[i], s);
        }
    }
    if (inl && op->inline_slots == 0) {
        pthread_mutex_lock(&op->mu);
        op->waiter_fd = -1;
        pthread_mutex_unlock(&op->mu);
        wakers_put(op->inl_wakers, op->inl_efd);
        op->inl_efd = -1;
    }
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
