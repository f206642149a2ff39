/*
 * lease.c: the lease thread, which keeps leased locks alive, and loss
 * signalling.
 *
 * DESIGN
 * Each manager has one lease thread (started with the first lease) that
 * keeps any number of leases in a binary min-heap ordered by the time
 * each next needs attention ("due"). For a lease, due is the earlier of:
 *   renew_at  = validity_end - renew_threshold   (or a retry time), and
 *   loss_at   = validity_end - loss_margin       (declare it lost).
 * The thread never blocks on Redis: an extension is an op posted to every
 * node (op.c), whose completion wakes the thread through an eventfd
 * (op->on_done). So one slow node never delays other leases' renewals,
 * and renewals due at about the same time (within batch_window) are
 * posted back to back, which each node worker pipelines into one write.
 *
 * A failed extension (no quorum in time) is retried with jitter while
 * validity remains. A quorum of "not ours" (token gone or replaced) loses
 * the lease at once: we never re-acquire a lapsed lock, since that would
 * hide a gap in exclusivity. Reaching loss_at without a confirmed
 * extension loses it too. loss_margin is small (at most 5 ms) so that the
 * holder hears of a loss before its validity ends, even if this thread is
 * woken a little late; redlock_lease_lost() also compares the clock with
 * the validity end itself, so the flag can never be late.
 *
 * On loss, in this order: the status (an atomic) is set, the lease's
 * eventfd is written, waiters in redlock_lease_wait() are woken, all by
 * the lease thread under ls->mu; then the on_lost callback is queued for
 * the lease's CALLBACK thread, which runs user code (on_lost and the
 * renewal log lines) one call at a time, in order, without any lock
 * held. So a slow callback delays only the callbacks after it, never a
 * renewal, a loss check or another lease's flag, fd and waiters.
 * Rejected: running callbacks on the lease thread once every loss of the
 * pass was marked (a slow callback still froze every renewal and every
 * later loss); a thread per callback (unbounded threads, no order).
 *
 * redlock_lease_stop() waits for the lease's callback only while it is
 * running. A callback still queued is skipped, and the callback thread
 * frees the stopped lease's memory when it reaches it. So stopping a
 * lease (which an election's resign or destroy does) from another lease's
 * callback cannot wait on the callback thread it runs on.
 *
 * Wake-ups: an op's on_done hook writes wake_fd only if wake_pending was
 * clear; the lease thread drains wake_fd BEFORE clearing wake_pending, so
 * a write it drains was made before its pass looks at the ops, and a wake
 * after the clear writes the fd again. (Clearing first let a drain eat the
 * write of a wake that came in between, and every wake after it was
 * skipped until the next timeout.)
 *
 * Locks: ls->mu guards the heap, the in-flight list, the callback queue
 * and every lease's scheduling fields. It is never held while posting
 * extensions (a refused post completes synchronously and runs their
 * on_done hook) or calling user code. The one op posted under it is a
 * restore (no hook), so that it precedes any release after
 * redlock_lease_stop(). Its place is in the LOCK ORDER list in internal.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "heap.h"
#include "internal.h"
#include "lease.h"
#include "lock.h"
#include "manager.h"
#include "op.h"
#include "quorum.h"
#include "token.h"

#define LEASE_MAGIC 0x524c4c53u /* "RLLS" */
/* Renewals due within this window of each other are started together, so
 * that they reach each node in one pipelined batch. */
#define BATCH_WINDOW_US 10000u

struct redlock_lease {
    uint32_t magic;
    redlock__leases *ls;
    redlock_lock *lock;            /* owned while the lease runs */
    redlock_lease_options opts;    /* ttl_ms and threshold resolved */
    uint64_t started_us;
    uint64_t hold_end_us;          /* started_us + max_hold_ms, saturated;
                                      UINT64_MAX: no limit */
    atomic_int status;             /* REDLOCK_OK while held */
    atomic_uint renewals;
    atomic_int efd;                /* eventfd, readable once lost; made on
                                      the first redlock_lease_fd() call
                                      (under ls->mu), -1 until then */
    _Atomic uint64_t *mirror;      /* optional copy of the validity end */

    /* Under ls->mu. */
    redlock__heap_node due;        /* in ls->heap, keyed by the due time */
    uint64_t renew_at_us;
    redlock__op *inflight;         /* extension in flight, or NULL */
    uint64_t inflight_t0;          /* taken before it was posted */
    uint32_t inflight_floor_ms;    /* TTL its validity is computed from */
    size_t inflight_index;         /* position in ls->inflight */
    bool finished;                 /* lost or stopped: no more work */
    bool callback_pending;         /* on_lost queued, not yet finished */
    bool skip_callback;            /* stopped: do not run it */
    bool orphaned;                 /* stopped while its callback was queued:
                                      the callback thread frees it */
};

/* A callback (or a log line) for the callback thread. */
typedef struct pending_call {
    redlock_lease *lease;   /* NULL: nothing to call */
    redlock_status why;     /* REDLOCK_OK: a renewal, logged at DEBUG */
    uint32_t renewals;      /* for a renewal */
    int64_t left_ms;        /* validity left after a renewal */
} pending_call;

struct redlock__leases {
    struct redlock_manager *m;
    pthread_mutex_t mu;
    pthread_cond_t cv;             /* loss and callback-finished events */
    pthread_cond_t cb_cv;          /* work for the callback thread */
    int wake_fd;                   /* eventfd: op done, new lease, stop */
    atomic_bool wake_pending;      /* wake_fd written and not yet taken:
                                      later wakes skip the syscall */
    pthread_t thread;              /* the lease thread */
    pthread_t cb_thread;           /* the callback thread */
    bool started;                  /* the lease thread runs */
    bool cb_started;               /* the callback thread runs */
    bool stopping;                 /* the lease thread must stop */
    bool cb_stopping;              /* the callback thread must stop once
                                      its queue is empty */
    redlock__heap heap;            /* running leases by due time */
    redlock_lease **inflight;      /* leases with an extension in flight */
    size_t inflight_len, inflight_cap;
    pending_call *cbq;             /* ring of calls for the callback thread */
    size_t cbq_head, cbq_len, cbq_cap;
    redlock_lease *calling;        /* lease whose callback is running */
    uint64_t late_renewals;        /* renewals acted on > LATE_US after
                                      their outcome was known */
};

/* A renewal acted on later than this after its outcome was known counts
 * as late (redlock__leases_late_renewals()). */
#define LATE_US 250000u

/* Renewal log lines queued for the callback thread beyond this many
 * waiting entries are dropped. */
#define CBQ_LOG_MAX 1024u

/* Test hook: called by the lease thread between taking its wake-up and
 * looking at the ops (the window where a wake-up could once be lost). */
void (*_Atomic redlock__lease_pass_hook)(redlock__leases *ls);

/* ------------------------------------------------------------------------
 * Heap of leases by due time
 * ------------------------------------------------------------------------ */

/* The lease whose heap node is n. */
static redlock_lease *lease_of(redlock__heap_node *n)
{
    return n == NULL ? NULL
                     : (redlock_lease *)(void *)((char *)n -
                                                 offsetof(redlock_lease, due));
}

/* The lease due first, or NULL. */
static redlock_lease *heap_top(redlock__leases *ls)
{
    return lease_of(redlock__heap_top(&ls->heap));
}

/* Remove a lease from the heap if it is there. */
static void heap_remove(redlock__leases *ls, redlock_lease *l)
{
    redlock__heap_remove(&ls->heap, &l->due);
}

/* Insert or move a lease to due time `due`. Returns false on OOM. */
static bool heap_set(redlock__leases *ls, redlock_lease *l, uint64_t due)
{
    return redlock__heap_set(&ls->heap, &l->due, due);
}

/* ------------------------------------------------------------------------
 * In-flight list
 * ------------------------------------------------------------------------ */

/* Remember that l has an extension in flight. Returns false on OOM. */
static bool inflight_add(redlock__leases *ls, redlock_lease *l)
{
    if (ls->inflight_len == ls->inflight_cap) {
        size_t cap = ls->inflight_cap ? ls->inflight_cap * 2 : 64;
        redlock_lease **a = realloc(ls->inflight, cap * sizeof(*a));
        if (a == NULL)
            return false;
        ls->inflight = a;
        ls->inflight_cap = cap;
    }
    l->inflight_index = ls->inflight_len;
    ls->inflight[ls->inflight_len++] = l;
    return true;
}

/* Forget l's extension: drop our op reference (abandoning it first if
 * asked) and take l off the in-flight list. */
static void inflight_drop(redlock__leases *ls, redlock_lease *l,
                          bool abandon)
{
    if (l->inflight == NULL)
        return;
    if (abandon)
        atomic_store_explicit(&l->inflight->abandoned, true,
                              memory_order_release);
    redlock__op_unref(l->inflight);
    l->inflight = NULL;
    size_t i = l->inflight_index;
    ls->inflight_len--;
    if (i != ls->inflight_len) {
        ls->inflight[i] = ls->inflight[ls->inflight_len];
        ls->inflight[i]->inflight_index = i;
    }
}

/* ------------------------------------------------------------------------
 * Timing
 * ------------------------------------------------------------------------ */

/* The lock's current validity end. */
static uint64_t validity_end(const redlock_lease *l)
{
    return atomic_load_explicit(&l->lock->validity_end_us,
                                memory_order_relaxed);
}

/* How long before the validity end a lease is declared lost: 5 % of the
 * TTL, between 2 and 50 ms. It covers a late wake-up of this thread, so
 * that the fd and the callback come before the validity ends; declaring
 * a loss that early is only pessimistic, never unsafe. */
static uint64_t loss_margin_us(uint32_t ttl_ms)
{
    uint64_t m = (uint64_t)ttl_ms * 50u; /* 5 % in us */
    if (m < 2000u)
        m = 2000u;
    if (m > 50000u)
        m = 50000u;
    return m;
}

/* When l must be declared lost if no extension has been confirmed. */
static uint64_t loss_at(const redlock_lease *l)
{
    uint64_t end = validity_end(l);
    uint64_t margin = loss_margin_us(l->opts.ttl_ms);
    return end > margin ? end - margin : 0;
}

/* Reschedule l for the earlier of its renewal and its loss time. */
static void schedule(redlock__leases *ls, redlock_lease *l)
{
    uint64_t due = loss_at(l);
    if (l->inflight == NULL && l->renew_at_us < due)
        due = l->renew_at_us;
    heap_set(ls, l, due);
}

/* ------------------------------------------------------------------------
 * The callback queue (ls->mu held)
 * ------------------------------------------------------------------------ */

/* Append a call for the callback thread and wake it; false on OOM (the
 * entry is dropped). */
static bool cbq_push(redlock__leases *ls, pending_call c)
{
    if (ls->cbq_len == ls->cbq_cap) {
        size_t cap = ls->cbq_cap ? ls->cbq_cap * 2 : 16;
        pending_call *v = malloc(cap * sizeof(*v));
        if (v == NULL)
            return false;
        for (size_t i = 0; i < ls->cbq_len; i++)
            v[i] = ls->cbq[(ls->cbq_head + i) % ls->cbq_cap];
        free(ls->cbq);
        ls->cbq = v;
        ls->cbq_cap = cap;
        ls->cbq_head = 0;
    }
    ls->cbq[(ls->cbq_head + ls->cbq_len) % ls->cbq_cap] = c;
    ls->cbq_len++;
    pthread_cond_signal(&ls->cb_cv);
    return true;
}

/* Take the oldest call; false if there is none. */
static bool cbq_pop(redlock__leases *ls, pending_call *out)
{
    if (ls->cbq_len == 0)
        return false;
    *out = ls->cbq[ls->cbq_head];
    ls->cbq_head = (ls->cbq_head + 1) % ls->cbq_cap;
    ls->cbq_len--;
    return true;
}

/* ------------------------------------------------------------------------
 * Loss
 * ------------------------------------------------------------------------ */

/* Mark l lost (with ls->mu held): status, fd and waiters now; the
 * callback is queued for the callback thread. */
static void mark_lost(redlock__leases *ls, redlock_lease *l,
                      redlock_status why)
{
    if (l->finished)
        return;
    l->finished = true;
    heap_remove(ls, l);
    inflight_drop(ls, l, true);
    /* release: readers of the flag see a complete reason. */
    atomic_store_explicit(&l->status, (int)why, memory_order_release);
    uint64_t one = 1;
    int fd = atomic_load_explicit(&l->efd, memory_order_relaxed);
    ssize_t w = fd >= 0 ? write(fd, &one, sizeof(one)) : 0;
    (void)w;
    if (l->mirror != NULL)
        atomic_store_explicit(l->mirror, 0, memory_order_release);
    pthread_cond_broadcast(&ls->cv);
    bool cb = l->opts.on_lost != NULL;
    pending_call c = {cb ? l : NULL, why, 0, 0};
    if (!cbq_push(ls, c))
        return; /* the flag, fd and waiters were still signalled */
    l->callback_pending = cb;
}

/* The callback thread: runs queued on_lost callbacks and log lines one at
 * a time, in order, without ls->mu held across user code. `calling` lets
 * redlock_lease_stop() wait for a running callback; a lease stopped before
 * its queued callback ran is skipped, and freed here if lease_stop left
 * it to us. Stops once asked to and the queue is empty. */
static void *callback_main(void *arg)
{
    redlock__leases *ls = arg;
    redlock__mark_callback_thread(ls->m);
    pthread_mutex_lock(&ls->mu);
    for (;;) {
        pending_call c;
        if (!cbq_pop(ls, &c)) {
            if (ls->cb_stopping)
                break;
            pthread_cond_wait(&ls->cb_cv, &ls->mu);
            continue;
        }
        pthread_mutex_unlock(&ls->mu);
        /* Logged here, not under ls->mu: log_fn is user code. */
        if (c.why == REDLOCK_OK) {
            redlock__log(ls->m, REDLOCK_LOG_DEBUG,
                         "lease renewed (%u), %lld ms left",
                         (unsigned)c.renewals, (long long)c.left_ms);
            pthread_mutex_lock(&ls->mu);
            continue;
        }
        redlock__log(ls->m, REDLOCK_LOG_WARN, "lease lost: %s",
                     redlock_strerror(c.why));
        pthread_mutex_lock(&ls->mu);
        redlock_lease *l = c.lease;
        if (l == NULL)
            continue; /* no callback registered */
        if (l->skip_callback) {
            l->callback_pending = false;
            pthread_cond_broadcast(&ls->cv);
            if (l->orphaned)
                free(l); /* stopped meanwhile: its memory is ours */
            continue;
        }
        ls->calling = l;
        pthread_mutex_unlock(&ls->mu);
        l->opts.on_lost(l, c.why, l->opts.userdata);
        pthread_mutex_lock(&ls->mu);
        ls->calling = NULL;
        l->callback_pending = false;
        pthread_cond_broadcast(&ls->cv);
    }
    pthread_mutex_unlock(&ls->mu);
    return NULL;
}

/* ------------------------------------------------------------------------
 * The lease thread
 * ------------------------------------------------------------------------ */

/* op->on_done hook: wake the lease thread. Runs on a worker thread (or
 * any thread). A batch of a thousand renewals finishing together costs
 * one eventfd write, not a thousand: only the first wake since the lease
 * thread last looked writes it. */
static void wake(void *arg)
{
    redlock__leases *ls = arg;
    /* seq_cst: ordered after the caller's own writes (the op's answer),
     * and against the lease thread's clearing store. */
    if (atomic_exchange(&ls->wake_pending, true))
        return; /* already signalled; the thread has not looked yet */
    uint64_t one = 1;
    ssize_t w = write(ls->wake_fd, &one, sizeof(one));
    (void)w;
}

/* Ops to post once ls->mu is released. */
typedef struct op_list {
    redlock__op **v;
    size_t len, cap;
} op_list;

/* Start an extension for l (ls->mu held); the op is posted later. */
static void start_extend(redlock__leases *ls, redlock_lease *l,
                         op_list *posts, uint64_t now)
{
    uint32_t floor_ms = 0;
    redlock__op *op = redlock__extend_op_new(l->lock, l->opts.ttl_ms,
                                             &floor_ms);
    if (op != NULL && posts->len == posts->cap) {
        size_t cap = posts->cap ? posts->cap * 2 : 64;
        redlock__op **v = realloc(posts->v, cap * sizeof(*v));
        if (v == NULL) {
            redlock__op_unref(op);
            op = NULL;
        } else {
            posts->v = v;
            posts->cap = cap;
        }
    }
    if (op == NULL) {
        /* Out of memory: try again shortly; loss_at still bounds it. */
        l->renew_at_us = now + 10000u;
        schedule(ls, l);
        return;
    }
    /* The lease's loss time is the caller's deadline of this renewal
     * (on_due() made sure it is still ahead). */
    op->deadline_us = redlock__wait_limit_us(
        now, ls->m->opts.command_timeout_ms, floor_ms,
        ls->m->opts.drift_factor, loss_at(l));
    op->on_done = wake;
    op->on_done_arg = ls;
    atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
    posts->v[posts->len++] = op; /* the posting reference */
    l->inflight = op;
    l->inflight_t0 = now;
    l->inflight_floor_ms = floor_ms;
    if (!inflight_add(ls, l)) {
        l->inflight = NULL;
        redlock__op_unref(op);
    }
    schedule(ls, l);
}

/* Delay before retrying a failed extension: the manager's retry delay
 * plus jitter, but at most a quarter of the validity left, so several
 * tries fit before the loss time. */
static uint64_t retry_after_us(redlock__leases *ls, redlock_lease *l,
                               uint64_t now)
{
    uint64_t left = loss_at(l) > now ? loss_at(l) - now : 0;
    uint64_t d = redlock__retry_delay_us(
        ls->m->opts.retry_delay_ms, ls->m->opts.retry_jitter_ms,
        redlock__random_upto(ls->m->opts.retry_jitter_ms));
    if (d > left / 4)
        d = left / 4;
    return d;
}

/* Handle l's extension if it is decided or has timed out (ls->mu held). */
static void check_extend(redlock__leases *ls, redlock_lease *l, uint64_t now)
{
    redlock__op *op = l->inflight;
    redlock_manager *m = ls->m;
    pthread_mutex_lock(&op->mu);
    redlock__verdict v = redlock__verdict_of(op->n, op->yes, op->no,
                                             op->error);
    bool all = op->answered >= op->n;
    size_t yes = op->yes, no = op->no;
    uint64_t known_us = op->done_notified ? op->notified_us : 0;
    pthread_mutex_unlock(&op->mu);
    if (v == REDLOCK__PENDING && !all && now < op->deadline_us)
        return;
    if (known_us != 0 && now > known_us + LATE_US)
        ls->late_renewals++;
    uint64_t t0 = l->inflight_t0;
    double df = m->opts.drift_factor;
    uint64_t end = redlock__extend_end_us(true, 0, t0, l->inflight_floor_ms,
                                          df);
    if (v == REDLOCK__WON && end > now) {
        int64_t validity = (int64_t)(end - now);
        /* Queued under ls->mu, so it precedes the release of a
         * redlock_lease_stop() that follows. The op has no on_done hook,
         * so a synchronous refusal takes no lock of ours. */
        redlock__lock_restore_missing(l->lock, op, l->opts.ttl_ms, end);
        inflight_drop(ls, l, false); /* the rest still get it */
        redlock__lock_extended(l->lock, l->opts.ttl_ms, end, yes);
        if (l->mirror != NULL)
            atomic_store_explicit(l->mirror, end, memory_order_release);
        unsigned n = atomic_fetch_add_explicit(&l->renewals, 1,
                                               memory_order_relaxed) + 1;
        /* A renewal's log line is dropped while the callback thread is
         * far behind (a blocked on_lost): the queue must not grow with
         * every renewal. Losses are never dropped. */
        if (m->opts.log_fn != NULL && m->opts.log_level >= REDLOCK_LOG_DEBUG &&
            ls->cbq_len < CBQ_LOG_MAX) {
            pending_call c = {NULL, REDLOCK_OK, n, validity / 1000};
            cbq_push(ls, c);
        }
        uint64_t threshold = (uint64_t)l->opts.renew_threshold_ms * 1000u;
        l->renew_at_us = end > threshold ? end - threshold : now;
        if (l->opts.max_renewals != 0 && n >= l->opts.max_renewals)
            l->renew_at_us = UINT64_MAX; /* hold to the end, then lose */
        schedule(ls, l);
        return;
    }
    inflight_drop(ls, l, true);
    /* The extend rule (docs/safety.md §10): a renewal that did not win
     * (including one started early by the batch window) may still have
     * set a shorter TTL on some nodes; the end can only come closer. */
    end = redlock__extend_end_us(false, validity_end(l), t0,
                                 l->inflight_floor_ms, df);
    if (end != validity_end(l)) {
        atomic_store_explicit(&l->lock->validity_end_us, end,
                              memory_order_relaxed);
        if (l->mirror != NULL)
            atomic_store_explicit(l->mirror, end, memory_order_release);
        pthread_cond_broadcast(&ls->cv); /* waiters time out at the end */
    }
    if (redlock__keep_failure_status(m->n, no) == REDLOCK_ENOTHELD) {
        mark_lost(ls, l, REDLOCK_ENOTHELD);
        return;
    }
    /* No quorum in time: retry while validity remains. */
    l->renew_at_us = now + retry_after_us(ls, l, now);
    schedule(ls, l);
}

/* True once a lease has used up its renewals or its hold time. */
static bool limit_reached(const redlock_lease *l, uint64_t now)
{
    return (l->opts.max_renewals != 0 &&
            atomic_load_explicit(&l->renewals, memory_order_relaxed) >=
                l->opts.max_renewals) ||
           now >= l->hold_end_us;
}

/* Act on a lease whose due time has come (ls->mu held). */
static void on_due(redlock__leases *ls, redlock_lease *l, uint64_t now,
                   op_list *posts)
{
    if (now >= loss_at(l)) {
        mark_lost(ls, l,
                  limit_reached(l, now) ? REDLOCK_ERANGE : REDLOCK_EEXPIRED);
        return;
    }
    if (now >= l->hold_end_us) {
        mark_lost(ls, l, REDLOCK_ERANGE);
        return;
    }
    /* Renewals due within the batch window start now, together with the
     * ones already due, so they share one pipelined write per node. */
    if (l->inflight == NULL && now + BATCH_WINDOW_US >= l->renew_at_us) {
        start_extend(ls, l, posts, now);
        return;
    }
    schedule(ls, l);
}

/* The lease thread. */
static void *lease_main(void *arg)
{
    redlock__leases *ls = arg;
    redlock__mark_callback_thread(ls->m);
    op_list posts = {0};
    for (;;) {
        /* Drain, then clear the flag (see DESIGN): a write drained here
         * was made before the pass below looks; a wake after the clear
         * writes the fd again, so none is lost. */
        redlock__eventfd_drain(ls->wake_fd);
        void (*hook)(redlock__leases *) = atomic_load_explicit(
            &redlock__lease_pass_hook, memory_order_acquire);
        if (hook != NULL)
            hook(ls);
        /* An exchange, not a store: reading a waker's `true` makes this
         * an acquire of everything that waker wrote before its exchange
         * (the op's answer), not only ordering by the op's mutex. */
        (void)atomic_exchange(&ls->wake_pending, false);
        pthread_mutex_lock(&ls->mu);
        uint64_t now = redlock__clock_now_us();
        if (ls->stopping) {
            while (heap_top(ls) != NULL)
                mark_lost(ls, heap_top(ls), REDLOCK_ECLOSED);
            pthread_mutex_unlock(&ls->mu);
            break;
        }
        /* Finished or timed-out extensions. */
        for (size_t i = 0; i < ls->inflight_len;) {
            redlock_lease *l = ls->inflight[i];
            check_extend(ls, l, now);
            if (i < ls->inflight_len && ls->inflight[i] == l)
                i++;
        }
        /* Due leases. A renewal slightly early is harmless; a loss is
         * only declared at its time. */
        redlock_lease *l;
        while ((l = heap_top(ls)) != NULL) {
            bool renewal = l->inflight == NULL &&
                           l->renew_at_us <= l->due.key;
            uint64_t window = renewal ? BATCH_WINDOW_US : 0;
            if (l->due.key > now + window)
                break;
            on_due(ls, l, now, &posts);
            if (heap_top(ls) == l && l->due.key <= now + window)
                break; /* could not make progress (OOM): avoid spinning */
        }
        int timeout = -1;
        if (heap_top(ls) != NULL) {
            uint64_t due = heap_top(ls)->due.key;
            timeout = due <= now ? 0 : (int)((due - now + 999u) / 1000u);
        }
        for (size_t i = 0; i < ls->inflight_len; i++) {
            uint64_t d = ls->inflight[i]->inflight->deadline_us;
            int t = d <= now ? 0 : (int)((d - now + 999u) / 1000u);
            if (timeout < 0 || t < timeout)
                timeout = t;
        }
        pthread_mutex_unlock(&ls->mu);

        for (size_t i = 0; i < posts.len; i++) {
            redlock__op_submit(ls->m->nodes, posts.v[i]);
            redlock__op_unref(posts.v[i]);
        }
        posts.len = 0;
        if (timeout != 0) {
            struct pollfd p = {ls->wake_fd, POLLIN, 0};
            poll(&p, 1, timeout);
        }
    }
    free(posts.v);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Subsystem lifetime
 * ------------------------------------------------------------------------ */

/* Allocate the subsystem; the thread starts with the first lease. */
redlock__leases *redlock__leases_new(struct redlock_manager *m)
{
    redlock__leases *ls = calloc(1, sizeof(*ls));
    if (ls == NULL)
        return NULL;
    ls->m = m;
    redlock__heap_init(&ls->heap);
    atomic_init(&ls->wake_pending, false);
    ls->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ls->wake_fd < 0) {
        free(ls);
        return NULL;
    }
    if (pthread_mutex_init(&ls->mu, NULL) != 0) {
        close(ls->wake_fd);
        free(ls);
        return NULL;
    }
    if (redlock__cond_init(&ls->cv) != 0) {
        pthread_mutex_destroy(&ls->mu);
        close(ls->wake_fd);
        free(ls);
        return NULL;
    }
    if (redlock__cond_init(&ls->cb_cv) != 0) {
        pthread_cond_destroy(&ls->cv);
        pthread_mutex_destroy(&ls->mu);
        close(ls->wake_fd);
        free(ls);
        return NULL;
    }
    return ls;
}

/* Start the callback and lease threads if needed (ls->mu held, never
 * dropped: another lease_start must not see a half-made pair). Returns 0
 * or an errno. If the lease thread cannot start, an idle callback thread
 * is kept for the next try, and shutdown joins whichever threads run. */
static int ensure_thread(redlock__leases *ls)
{
    if (ls->started)
        return 0;
    int rc = 0;
    if (!ls->cb_started) {
        ls->cb_stopping = false;
        rc = redlock__thread_start(&ls->cb_thread, NULL, callback_main, ls);
        if (rc == 0)
            ls->cb_started = true;
    }
    if (rc == 0) {
        rc = redlock__thread_start(&ls->thread, NULL, lease_main, ls);
        if (rc == 0)
            ls->started = true;
    }
    return rc;
}

/* Lose every lease with ECLOSED and join the thread. */
void redlock__leases_shutdown(redlock__leases *ls)
{
    pthread_mutex_lock(&ls->mu);
    ls->stopping = true; /* no thread starts from now on */
    bool started = ls->started, cb_started = ls->cb_started;
    pthread_mutex_unlock(&ls->mu);
    /* Without a lease thread nothing can be leased (starting one needs
     * it); a callback thread may still idle after a failed start. */
    if (started) {
        wake(ls);
        pthread_join(ls->thread, NULL);
    }
    if (cb_started) {
        /* Every loss is queued now: the callback thread runs what is
         * left, then stops. */
        pthread_mutex_lock(&ls->mu);
        ls->cb_stopping = true;
        pthread_cond_signal(&ls->cb_cv);
        pthread_mutex_unlock(&ls->mu);
        pthread_join(ls->cb_thread, NULL);
    }
    pthread_mutex_lock(&ls->mu);
    ls->started = false;
    ls->cb_started = false;
    pthread_mutex_unlock(&ls->mu);
}

/* Wake the lease thread (as a finished op does). */
void redlock__leases_wake(redlock__leases *ls)
{
    wake(ls);
}

/* Renewals acted on late so far. */
uint64_t redlock__leases_late_renewals(redlock__leases *ls)
{
    pthread_mutex_lock(&ls->mu);
    uint64_t n = ls->late_renewals;
    pthread_mutex_unlock(&ls->mu);
    return n;
}

/* Free the subsystem. */
void redlock__leases_free(redlock__leases *ls)
{
    redlock__heap_free(&ls->heap);
    free(ls->inflight);
    free(ls->cbq);
    pthread_cond_destroy(&ls->cb_cv);
    pthread_cond_destroy(&ls->cv);
    pthread_mutex_destroy(&ls->mu);
    close(ls->wake_fd);
    free(ls);
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

/* Defaults: TTL from the lock, threshold a third of it, no limits. */
void redlock_lease_options_init(redlock_lease_options *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof(*o));
    o->struct_size = sizeof(*o);
}

/* Hand a held lock to the lease thread, mirroring its validity end. */
redlock_status redlock__lease_start_mirrored(redlock_lock *lock,
                                             const redlock_lease_options *opts,
                                             _Atomic uint64_t *mirror,
                                             redlock_lease **out)
{
    if (out == NULL)
        return REDLOCK_EINVAL;
    *out = NULL;
    redlock_status hst = redlock__lock_check(lock); /* the handle */
    if (hst != REDLOCK_OK)
        return hst;
    redlock_lease_options o;
    redlock_lease_options_init(&o);
    if (opts != NULL) {
        if (opts->struct_size != sizeof(*opts))
            return REDLOCK_EINVAL;
        o = *opts;
    }
    if (o.ttl_ms == 0)
        o.ttl_ms = lock->ttl_ms;
    if (o.ttl_ms == 0 || o.ttl_ms > REDLOCK_TTL_MAX_MS)
        return REDLOCK_ERANGE;
    if (redlock__ttl_too_short(o.ttl_ms, lock->m->opts.drift_factor))
        return REDLOCK_ETTLSHORT; /* no renewal could ever succeed */
    if (o.renew_threshold_ms == 0)
        o.renew_threshold_ms = o.ttl_ms / 3;
    if (o.renew_threshold_ms >= o.ttl_ms ||
        (uint64_t)o.renew_threshold_ms * 1000u <= loss_margin_us(o.ttl_ms))
        return REDLOCK_ERANGE;
    redlock_manager *m = lock->m;
    redlock__leases *ls = m->leases;
    if (atomic_load_explicit(&m->closing, memory_order_acquire))
        return REDLOCK_ECLOSED;

    redlock_lease *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return REDLOCK_ENOMEM;
    atomic_init(&l->efd, -1); /* made lazily: most holders never ask */
    l->magic = LEASE_MAGIC;
    l->ls = ls;
    l->lock = lock;
    l->mirror = mirror;
    if (mirror != NULL)
        atomic_store_explicit(mirror, validity_end(l), memory_order_release);
    l->opts = o;
    l->started_us = redlock__clock_now_us();
    /* Saturates: a max_hold_ms too large for the clock is no limit. */
    l->hold_end_us = o.max_hold_ms == 0
                         ? UINT64_MAX
                         : redlock__after_ms(l->started_us, o.max_hold_ms);
    atomic_init(&l->status, REDLOCK_OK);
    atomic_init(&l->renewals, 0);
    redlock__heap_node_init(&l->due);

    pthread_mutex_lock(&ls->mu);
    redlock_status st = REDLOCK_OK;
    uint64_t now = redlock__clock_now_us();
    if (ls->stopping)
        st = REDLOCK_ECLOSED;
    else if (loss_at(l) <= now)
        st = REDLOCK_EEXPIRED;
    else if (ensure_thread(ls) != 0)
        st = REDLOCK_EIO;
    if (st == REDLOCK_OK) {
        uint64_t end = validity_end(l);
        uint64_t threshold = (uint64_t)o.renew_threshold_ms * 1000u;
        l->renew_at_us = end > threshold ? end - threshold : now;
        if (!heap_set(ls, l, l->renew_at_us))
            st = REDLOCK_ENOMEM;
        else
            schedule(ls, l);
    }
    pthread_mutex_unlock(&ls->mu);
    if (st != REDLOCK_OK) {
        l->magic = REDLOCK__DEAD_MAGIC;
        free(l);
        return st;
    }
    wake(ls);
    *out = l;
    return REDLOCK_OK;
}

/* Hand a held lock to the lease thread. */
redlock_status redlock_lease_start(redlock_lock *lock,
                                   const redlock_lease_options *opts,
                                   redlock_lease **out)
{
    return redlock__lease_start_mirrored(lock, opts, NULL, out);
}

/* Acquire, then lease. */
redlock_status redlock_lease_acquire(redlock_manager *m, const char *resource,
                                     uint32_t ttl_ms,
                                     const redlock_acquire_opts *aopts,
                                     const redlock_lease_options *lopts,
                                     redlock_lease **out)
{
    if (out == NULL)
        return REDLOCK_EINVAL;
    *out = NULL;
    redlock_lock *lock = NULL;
    redlock_status st = redlock_acquire_ex(
        m, resource, resource != NULL ? strlen(resource) : 0, ttl_ms, aopts,
        &lock);
    if (st != REDLOCK_OK)
        return st;
    st = redlock_lease_start(lock, lopts, out);
    if (st != REDLOCK_OK)
        redlock_release(lock);
    return st;
}

/* True if l is a live lease handle. */
static bool lease_ok(const redlock_lease *l)
{
    return l != NULL && l->magic == LEASE_MAGIC;
}

/* The loss reason, or EEXPIRED once the clock passed the validity end
 * before the thread declared it, or OK. */
static redlock_status status_now(const redlock_lease *lease)
{
    redlock_status st = (redlock_status)atomic_load_explicit(
        &lease->status, memory_order_acquire);
    uint64_t now = redlock__clock_now_us();
    if (st == REDLOCK_OK && now >= validity_end(lease))
        st = limit_reached(lease, now) ? REDLOCK_ERANGE : REDLOCK_EEXPIRED;
    return st;
}

/* Stop renewing; hand back or release the lock; free the lease. */
redlock_status redlock_lease_stop(redlock_lease *lease,
                                  redlock_lock **lock_out)
{
    if (lease == NULL)
        return REDLOCK_EINVAL;
    if (!lease_ok(lease))
        return REDLOCK_EMISUSE;
    redlock__leases *ls = lease->ls;
    pthread_mutex_lock(&ls->mu);
    if ((ls->cb_started && pthread_equal(pthread_self(), ls->cb_thread)) ||
        (ls->started && pthread_equal(pthread_self(), ls->thread))) {
        pthread_mutex_unlock(&ls->mu);
        return REDLOCK_EMISUSE; /* from an on_lost callback */
    }
    lease->finished = true;
    heap_remove(ls, lease);
    /* An extension in flight still reaches the nodes; it is only our
     * interest in its answer that ends here. */
    inflight_drop(ls, lease, false);
    /* No callback may run after we return: wait for a running one; skip a
     * queued one and leave the memory to the callback thread, which frees
     * it when it reaches the entry (waiting for it here could wait on the
     * very callback that called us, through an election's resign). */
    lease->skip_callback = true;
    while (ls->calling == lease)
        pthread_cond_wait(&ls->cv, &ls->mu);
    lease->magic = REDLOCK__DEAD_MAGIC;
    redlock_status lost = status_now(lease);
    redlock_lock *lock = lease->lock;
    int fd = atomic_load_explicit(&lease->efd, memory_order_relaxed);
    bool orphan = lease->callback_pending;
    lease->orphaned = orphan;
    pthread_mutex_unlock(&ls->mu);

    if (fd >= 0)
        close(fd);
    if (!orphan)
        free(lease);
    if (lock_out != NULL) {
        *lock_out = lock;
        return lost;
    }
    redlock_status st = redlock_release(lock);
    return lost != REDLOCK_OK ? lost : st;
}

/* Lock-free loss check: the flag, or the clock past the validity end. */
int redlock_lease_lost(const redlock_lease *lease)
{
    if (!lease_ok(lease))
        return 1;
    if (atomic_load_explicit(&lease->status, memory_order_acquire) !=
        REDLOCK_OK)
        return 1;
    return redlock__clock_now_us() >= validity_end(lease);
}

/* OK while held, else the reason. */
redlock_status redlock_lease_status(const redlock_lease *lease)
{
    if (!lease_ok(lease))
        return REDLOCK_EMISUSE;
    return status_now(lease);
}

/* The loss eventfd. */
int redlock_lease_fd(const redlock_lease *lease)
{
    if (!lease_ok(lease))
        return -1;
    /* acquire: pairs with the release store below, so a reader that sees
     * the fd sees it fully made. */
    int fd = atomic_load_explicit(&lease->efd, memory_order_acquire);
    if (fd >= 0)
        return fd;
    redlock_lease *l = (redlock_lease *)lease; /* the fd is made once */
    pthread_mutex_lock(&l->ls->mu);
    fd = atomic_load_explicit(&l->efd, memory_order_relaxed);
    if (fd < 0) {
        fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd >= 0) {
            /* Lost before anyone asked: readable from the start. Under
             * ls->mu, so mark_lost() cannot slip in between. */
            if (atomic_load_explicit(&l->status, memory_order_acquire) !=
                REDLOCK_OK) {
                uint64_t one = 1;
                ssize_t w = write(fd, &one, sizeof(one));
                (void)w;
            }
            atomic_store_explicit(&l->efd, fd, memory_order_release);
        }
    }
    pthread_mutex_unlock(&l->ls->mu);
    return fd;
}

/* Block until lost or timeout. */
redlock_status redlock_lease_wait(redlock_lease *lease, int64_t timeout_ms)
{
    if (!lease_ok(lease))
        return lease == NULL ? REDLOCK_EINVAL : REDLOCK_EMISUSE;
    redlock__leases *ls = lease->ls;
    uint64_t start = redlock__clock_now_us();
    /* Negative: no limit. A positive timeout too large for the clock
     * saturates to no limit too, rather than wrapping into the past. */
    uint64_t until = timeout_ms < 0
                         ? UINT64_MAX
                         : redlock__after_ms(start, (uint64_t)timeout_ms);
    pthread_mutex_lock(&ls->mu);
    redlock_status st;
    for (;;) {
        st = redlock_lease_status(lease);
        uint64_t now = redlock__clock_now_us();
        if (st != REDLOCK_OK || now >= until)
            break;
        uint64_t wake_at = validity_end(lease);
        if (until < wake_at)
            wake_at = until;
        uint64_t wait = wake_at > now ? wake_at - now : 0;
        if (wait > 1000000u)
            wait = 1000000u; /* re-read the validity now and then */
        redlock__cond_wait_us(&ls->cv, &ls->mu, wait > 0 ? wait : 1);
    }
    pthread_mutex_unlock(&ls->mu);
    return st == REDLOCK_OK ? REDLOCK_ETIMEDOUT : st;
}

/* The leased lock (borrowed). */
const redlock_lock *redlock_lease_lock(const redlock_lease *lease)
{
    return lease_ok(lease) ? lease->lock : NULL;
}

/* Successful extensions so far. */
uint32_t redlock_lease_renewals(const redlock_lease *lease)
{
    return lease_ok(lease) ? atomic_load_explicit(&lease->renewals,
                                                  memory_order_relaxed)
                           : 0;
}
