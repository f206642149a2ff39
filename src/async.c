/*
 * async.c: non-blocking acquire, extend, release, fence draws and lease
 * acquires for event loops: the manager's async engine and the
 * completion queues (redlock.h, "Non-blocking operations"; docs/api.md,
 * "Event loops"; docs/design.md section 23).
 *
 * DESIGN
 * A submit call checks its arguments on the caller's thread (bad input is
 * refused there, with nothing kept), then appends a pending operation to
 * the engine's incoming list and wakes it. The engine is one thread per
 * manager, started with the first operation, in the shape of the lease
 * thread (lease.c): it posts each step of an operation as an op with an
 * on_done hook that writes its eventfd, and it sleeps in poll() until a
 * hook, a submission or its next timer. Each pass it looks at every
 * pending operation it owns (an op decided or past its wait, a cancel
 * asked for, a retry timer due) and moves it on. The steps themselves are
 * lock.c's (redlock__attempt_post/_finish, redlock__extend_post/_finish,
 * redlock__release_post/_finish; fence.h's rounds for a fence draw), the
 * very code the blocking calls run,
 * so every rule of the algorithm stays written once; only the waiting
 * differs: a blocking call waits for its step on its own thread, the
 * engine waits for all of them at once. A failed attempt's undo is posted
 * and not waited for (per-node FIFO order puts it ahead of the next
 * attempt's SET on every node), and retries wait on the engine's timers.
 *
 * A finished operation is appended to its queue's ready list; the queue's
 * eventfd is readable exactly while that list is not empty (written when
 * the list becomes non-empty, drained when a dispatch empties it, both
 * under the queue's mutex). redlock_queue_dispatch() pops one completion
 * at a time and runs its callback with no lock held, so callbacks may
 * submit more work. In REDLOCK_QUEUE_THREAD mode the queue's own thread
 * does the dispatching, woken by a condition variable.
 *
 * Every pending operation is owned by exactly one party at a time: the
 * submitter until it is on the incoming list, then the engine, then the
 * queue's ready list, then the dispatcher, which frees it after the
 * callback. So its fields need no lock; the only field two threads touch
 * is the cancel flag (an atomic). That is also why redlock_cancel() may
 * only be called while the handle is valid (before its callback ran).
 *
 * Rejected: finishing steps on the node workers (in the op's on_done
 * hook): a worker would then post the next attempt, the undo and a
 * completion, taking queue locks from inside its I/O pass, and one slow
 * callback queue would stall a node; a thread per operation (what this
 * replaces); scanning only the operations whose hook fired (a hook that
 * fires after its operation gave up on the op would then name freed
 * memory): the engine scans its operations, which costs one uncontended
 * op mutex each per pass, and the pass runs only when something changed.
 * Pub/sub wake-ups (wake.c) are not used here yet: they wait on a
 * condition variable per waiter; the engine's retries are timed only.
 *
 * Locks: redlock__async.mu (the incoming list, the engine's state) and
 * redlock_queue.mu (a ready list) are leaves of the LOCK ORDER in
 * internal.h; the engine takes an op's mutex only with neither held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "async.h"
#include "clock.h"
#include "fence.h"
#include "heap.h"
#include "lease.h"
#include "internal.h"
#include "lock.h"
#include "manager.h"
#include "op.h"
#include "options.h"
#include "quorum.h"

#define PENDING_MAGIC 0x524c5044u /* "RLPD" */
#define QUEUE_MAGIC 0x524c5155u   /* "RLQU" */

typedef enum pending_kind {
    P_ACQUIRE,
    P_EXTEND,
    P_RELEASE,
    P_FENCE
} pending_kind;

typedef enum pending_state {
    S_NEW,     /* on the incoming list */
    S_WAIT_OP, /* a step is posted; waiting for its op */
    S_TIMER,   /* an acquire waiting for its retry timer (or deadline),
                  a fence draw for its next round */
    S_DONE     /* on the queue's ready list or being dispatched */
} pending_state;

struct redlock_pending {
    uint32_t magic;
    redlock_queue *q;
    pending_kind kind;
    pending_state state;
    redlock_async_fn cb;
    void *userdata;
    redlock_lock *lock;
    atomic_bool cancel;       /* asked by redlock_cancel() */
    redlock_status result;
    struct redlock_pending *next; /* incoming or ready list */
    /* The engine's (no lock: only it touches them while it owns p). */
    size_t live_index;        /* position in as->live */
    redlock__heap_node due;   /* S_WAIT_OP: the step's limit; S_TIMER:
                                 the timer */
    redlock__step step;
    uint32_t ttl_ms;
    redlock__policy pol;      /* acquire */
    uint32_t retries;         /* acquire: retry slots started */
    uint64_t slot_end;        /* acquire: end of the current slot, 0 */
    bool timer_is_deadline;   /* S_TIMER: firing means ETIMEDOUT */
    redlock__fence fence;     /* fence draw: its key and proposal */
    bool fence_writing;       /* the posted step is the round's write */
    int fence_round;
    uint64_t fence_number;    /* the number drawn (OK), for the callback */
    bool want_lease;          /* redlock_lease_acquire_async() */
    redlock_lease_options lopts; /* its lease options (copied) */
    redlock_lease *lease;     /* the lease started (OK), for the callback */
    redlock_status lease_error; /* the lease could not start: its status
                                   (the lock is being released) */
};

struct redlock_queue {
    uint32_t magic;
    redlock_manager *m;       /* a reference */
    redlock_queue_mode mode;
    pthread_mutex_t mu;       /* ready list, pending, dispatching */
    pthread_cond_t cv;        /* ready list grew, pending fell, stop */
    int efd;                  /* readable while ready is not empty */
    redlock_pending *ready_head, *ready_tail;
    size_t pending;           /* submitted, callback not yet run */
    bool dispatching;         /* a dispatch is running */
    pthread_t dispatcher;     /* ... on this thread */
    bool stop;                /* THREAD mode: the thread must end */
    atomic_bool cancel_all;   /* destroy: cancel every operation */
    bool has_thread;
    pthread_t thread;
};

struct redlock__async {
    redlock_manager *m;
    pthread_mutex_t mu;       /* everything up to the line below */
    redlock_pending *in_head, *in_tail;
    bool started;             /* the thread runs */
    bool stopping;            /* shutdown asked */
    bool stopped;             /* the thread finished: submit refuses */
    pthread_t thread;
    int wake_fd;
    atomic_bool wake_pending;
    /* The engine thread's alone. */
    redlock_pending **live;
    size_t live_len, live_cap;
    redlock__heap heap;
};

/* ------------------------------------------------------------------------
 * Engine
 * ------------------------------------------------------------------------ */

/* Wake the engine (the op hook, submissions, cancels). Never blocks. */
static void engine_wake(void *arg)
{
    redlock__async *as = arg;
    if (atomic_exchange(&as->wake_pending, true))
        return;
    uint64_t one = 1;
    ssize_t w = write(as->wake_fd, &one, sizeof(one));
    (void)w;
}

redlock__async *redlock__async_new(redlock_manager *m)
{
    redlock__async *as = calloc(1, sizeof(*as));
    if (as == NULL)
        return NULL;
    as->m = m;
    atomic_init(&as->wake_pending, false);
    redlock__heap_init(&as->heap);
    /* Made here, not with the thread: a cancel or a queue destroy may
     * wake the engine from any thread before the first submit. */
    as->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (as->wake_fd < 0 || pthread_mutex_init(&as->mu, NULL) != 0) {
        if (as->wake_fd >= 0)
            close(as->wake_fd);
        free(as);
        return NULL;
    }
    return as;
}

/* Track p as live (engine thread). */
static bool live_add(redlock__async *as, redlock_pending *p)
{
    if (as->live_len == as->live_cap) {
        size_t cap = as->live_cap != 0 ? 2 * as->live_cap : 64;
        redlock_pending **v = realloc(as->live, cap * sizeof(*v));
        if (v == NULL)
            return false;
        as->live = v;
        as->live_cap = cap;
    }
    p->live_index = as->live_len;
    as->live[as->live_len++] = p;
    return true;
}

static void live_remove(redlock__async *as, redlock_pending *p)
{
    size_t i = p->live_index;
    as->live[i] = as->live[--as->live_len];
    as->live[i]->live_index = i;
}

/* Append a finished operation to its queue's ready list. */
static void deliver(redlock_pending *p, redlock_status st)
{
    p->result = st;
    p->state = S_DONE;
    p->next = NULL;
    redlock_queue *q = p->q;
    pthread_mutex_lock(&q->mu);
    bool was_empty = q->ready_head == NULL;
    if (q->ready_tail != NULL)
        q->ready_tail->next = p;
    else
        q->ready_head = p;
    q->ready_tail = p;
    if (was_empty) {
        uint64_t one = 1;
        ssize_t w = write(q->efd, &one, sizeof(one));
        (void)w;
    }
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Hand a finished live operation to its queue (engine thread). */
static void complete(redlock__async *as, redlock_pending *p,
                     redlock_status st)
{
    live_remove(as, p);
    redlock__heap_remove(&as->heap, &p->due);
    deliver(p, st);
}

/* Finish an acquire that did not win: its lock is freed. */
static void acquire_failed(redlock__async *as, redlock_pending *p,
                           redlock_status st)
{
    redlock__acquire_abort(p->lock);
    p->lock = NULL;
    complete(as, p, st);
}

/* Wait for p's posted step until its limit. */
static void wait_step(redlock__async *as, redlock_pending *p)
{
    p->state = S_WAIT_OP;
    if (!redlock__heap_set(&as->heap, &p->due, p->step.limit_us)) {
        /* Out of memory for the heap: the scan still sees the op, and
         * the pass after its limit finds it (a 1 s pass at most). */
    }
}

/* Make the next attempt of acquire p, or finish it. */
static void attempt_start(redlock__async *as, redlock_pending *p,
                          uint64_t now)
{
    if (atomic_load_explicit(&as->m->closing, memory_order_acquire)) {
        acquire_failed(as, p, REDLOCK_ECLOSED);
        return;
    }
    if (p->pol.deadline_us != 0 && now >= p->pol.deadline_us) {
        acquire_failed(as, p, REDLOCK_ETIMEDOUT);
        return;
    }
    redlock_status st = redlock__attempt_post(p->lock, p->ttl_ms,
                                              p->pol.deadline_us,
                                              engine_wake, as, &p->step);
    if (st != REDLOCK_OK) {
        acquire_failed(as, p, st);
        return;
    }
    wait_step(as, p);
}

/* Acquire p (of redlock_lease_acquire_async()) won: start its lease
 * (never waits for Redis). If the lease cannot start, the lock is
 * released, as redlock_lease_acquire() does, and p completes with the
 * lease's status once the release is decided. Returns true while p is
 * still the engine's. */
static bool lease_start(redlock__async *as, redlock_pending *p)
{
    redlock_status st = redlock_lease_start(p->lock, &p->lopts, &p->lease);
    if (st == REDLOCK_OK) {
        complete(as, p, REDLOCK_OK);
        return false;
    }
    p->lease = NULL;
    p->lease_error = st;
    p->kind = P_RELEASE; /* its lock is freed after the callback */
    if (redlock__release_post(p->lock, engine_wake, as, &p->step) !=
        REDLOCK_OK) {
        complete(as, p, st);
        return false;
    }
    wait_step(as, p);
    return true;
}

/* An attempt of acquire p is decided (v) or its wait is over. Returns
 * true if p is still the engine's (waiting for its retry timer); false
 * once it was handed to its queue (then p must not be touched: the
 * dispatcher may have freed it). */
static bool attempt_done(redlock__async *as, redlock_pending *p,
                         redlock__verdict v, uint64_t now)
{
    redlock__undo undo;
    redlock_status st = redlock__attempt_finish(p->lock, &p->step, v,
                                                p->pol.deadline_us, NULL,
                                                &undo);
    redlock__undo_drop(&undo); /* posted; not waited for */
    if (st == REDLOCK_OK) {
        redlock__log(as->m, REDLOCK_LOG_DEBUG,
                     "acquired (non-blocking) %zu resource(s)",
                     redlock_lock_resource_count(p->lock));
        if (p->want_lease)
            return lease_start(as, p);
        complete(as, p, REDLOCK_OK);
        return false;
    }
    if (!redlock__retry_worthwhile(st)) {
        acquire_failed(as, p, st);
        return false;
    }
    /* The retry slots of acquire_run() (lock.c), with a timer for the
     * sleep. */
    now = redlock__clock_now_us();
    if ((p->slot_end == 0 || now >= p->slot_end) &&
        !redlock__acquire_next_slot(&p->pol, &p->retries, now, &p->slot_end)) {
        acquire_failed(as, p, st);
        return false;
    }
    p->timer_is_deadline =
        p->pol.deadline_us != 0 && p->slot_end >= p->pol.deadline_us;
    uint64_t at = p->timer_is_deadline ? p->pol.deadline_us : p->slot_end;
    p->state = S_TIMER;
    if (!redlock__heap_set(&as->heap, &p->due, at)) {
        acquire_failed(as, p, REDLOCK_ENOMEM);
        return false;
    }
    return true;
}

/* End fence draw p with st (after its rounds, or stopped). */
static void fence_done(redlock__async *as, redlock_pending *p,
                       redlock_status st)
{
    complete(as, p, redlock__fence_end(&p->fence, p->lock, st,
                                       &p->fence_number));
}

/* Start a round of fence draw p: post its read. */
static void fence_round(redlock__async *as, redlock_pending *p)
{
    p->fence_writing = false;
    p->step.op = redlock__fence_read_post(&p->fence, engine_wake, as,
                                          &p->step.limit_us);
    if (p->step.op == NULL)
        fence_done(as, p, REDLOCK_ENOMEM);
    else
        wait_step(as, p);
}

/* A step of fence draw p is decided or its wait over. Returns true if p
 * is still the engine's. */
static bool fence_step_done(redlock__async *as, redlock_pending *p)
{
    redlock__op *op = p->step.op;
    p->step.op = NULL;
    if (!p->fence_writing) {
        redlock_status st = redlock__fence_read_finish(&p->fence, op);
        if (st != REDLOCK_OK) {
            fence_done(as, p, st);
            return false;
        }
        p->fence_writing = true;
        p->step.op = redlock__fence_write_post(&p->fence, engine_wake, as,
                                               &p->step.limit_us);
        if (p->step.op == NULL) {
            fence_done(as, p, REDLOCK_ENOMEM);
            return false;
        }
        wait_step(as, p);
        return true;
    }
    redlock_status st = redlock__fence_write_finish(&p->fence, op);
    /* Lost a race with another draw: another round after a pause, as
     * redlock_fence_next() does, while the lock is valid. */
    if (st == REDLOCK_ETAKEN && ++p->fence_round < REDLOCK__FENCE_ROUNDS &&
        redlock_lock_validity_ms(p->lock) > 0) {
        p->state = S_TIMER;
        p->timer_is_deadline = false;
        if (redlock__heap_set(&as->heap, &p->due,
                              redlock__clock_now_us() +
                                  redlock__fence_pause_us()))
            return true;
        st = REDLOCK_ENOMEM;
    }
    fence_done(as, p, st);
    return false;
}

/* The step of p is decided (v) or its wait is over. Returns true if p
 * is still the engine's (see attempt_done()). */
static bool step_done(redlock__async *as, redlock_pending *p,
                      redlock__verdict v, uint64_t now)
{
    redlock__heap_remove(&as->heap, &p->due);
    switch (p->kind) {
    case P_ACQUIRE:
        return attempt_done(as, p, v, now);
    case P_EXTEND:
        complete(as, p, redlock__extend_finish(p->lock, &p->step, v));
        return false;
    case P_RELEASE: {
        redlock_status st = redlock__release_finish(p->lock, &p->step, v);
        complete(as, p, p->lease_error != REDLOCK_OK ? p->lease_error : st);
        return false;
    }
    case P_FENCE:
        return fence_step_done(as, p);
    }
    return false;
}

/* Start a submitted operation. */
static void start(redlock__async *as, redlock_pending *p, uint64_t now)
{
    if (!live_add(as, p)) {
        /* Out of memory to track it: it ends at once, having sent
         * nothing. */
        if (p->kind == P_ACQUIRE) {
            redlock__acquire_abort(p->lock);
            p->lock = NULL;
        } else if (p->kind == P_FENCE)
            (void)redlock__fence_end(&p->fence, p->lock, REDLOCK_ENOMEM,
                                     &p->fence_number);
        /* An extend's lock is given back, and a release's freed, after
         * the callback, as always; the keys expire by their TTL. */
        deliver(p, REDLOCK_ENOMEM);
        return;
    }
    switch (p->kind) {
    case P_ACQUIRE:
        attempt_start(as, p, now);
        break;
    case P_EXTEND: {
        redlock_status st = redlock__extend_post(p->lock, p->ttl_ms,
                                                 engine_wake, as, &p->step);
        if (st != REDLOCK_OK)
            complete(as, p, st);
        else
            wait_step(as, p);
        break;
    }
    case P_RELEASE: {
        redlock_status st =
            redlock__release_post(p->lock, engine_wake, as, &p->step);
        if (st != REDLOCK_OK)
            complete(as, p, st);
        else
            wait_step(as, p);
        break;
    }
    case P_FENCE:
        fence_round(as, p);
        break;
    }
}

/* An op's verdict so far; *all (may be NULL): every node answered. */
static redlock__verdict op_verdict_all(redlock__op *op, bool *all)
{
    pthread_mutex_lock(&op->mu);
    redlock__verdict v = redlock__verdict_of(op->n, op->yes, op->no,
                                             op->error);
    if (all != NULL)
        *all = op->answered >= op->n;
    pthread_mutex_unlock(&op->mu);
    return v;
}

static redlock__verdict op_verdict(redlock__op *op)
{
    return op_verdict_all(op, NULL);
}

/* Act on a cancel, or (closing) end p with ECLOSED. */
static void stop_pending(redlock__async *as, redlock_pending *p,
                         redlock_status why)
{
    if (p->kind == P_RELEASE)
        return; /* a release is not cancelled; its step goes on */
    if (p->state == S_TIMER) {
        if (p->kind == P_FENCE)
            fence_done(as, p, why);
        else
            acquire_failed(as, p, why);
        return;
    }
    if (p->kind == P_FENCE) {
        /* A round's write already decided stands (a number won is
         * handed out); anything else ends the draw here. */
        redlock__verdict fv = op_verdict(p->step.op);
        if (p->fence_writing && fv != REDLOCK__PENDING) {
            if (fence_step_done(as, p))
                stop_pending(as, p, why);
            return;
        }
        redlock__heap_remove(&as->heap, &p->due);
        if (!p->fence_writing) /* a read's unsent commands may be skipped */
            atomic_store_explicit(&p->step.op->abandoned, true,
                                  memory_order_release);
        redlock__op_unref(p->step.op);
        p->step.op = NULL;
        fence_done(as, p, why);
        return;
    }
    /* S_WAIT_OP: an outcome already certain stands (won, or lost for
     * good); an acquire that would retry after it is stopped then. */
    redlock__verdict v = op_verdict(p->step.op);
    if (v != REDLOCK__PENDING) {
        if (step_done(as, p, v, redlock__clock_now_us()))
            stop_pending(as, p, why);
        return;
    }
    redlock__heap_remove(&as->heap, &p->due);
    if (p->kind == P_ACQUIRE) {
        redlock__attempt_cancel(p->lock, &p->step);
        acquire_failed(as, p, why);
    } else {
        (void)redlock__extend_finish(p->lock, &p->step, REDLOCK__PENDING);
        complete(as, p, why);
    }
}

/* One look at every live operation. */
static void scan(redlock__async *as, uint64_t now)
{
    for (size_t i = 0; i < as->live_len;) {
        redlock_pending *p = as->live[i];
        if ((atomic_load_explicit(&p->cancel, memory_order_acquire) ||
             atomic_load_explicit(&p->q->cancel_all, memory_order_acquire)) &&
            p->kind != P_RELEASE) {
            stop_pending(as, p, REDLOCK_ECANCELED);
        } else if (p->state == S_WAIT_OP) {
            bool all;
            redlock__verdict v = op_verdict_all(p->step.op, &all);
            if (v != REDLOCK__PENDING || all || now >= p->step.limit_us)
                step_done(as, p, v, now);
        } else if (p->state == S_TIMER && now >= p->due.key) {
            redlock__heap_remove(&as->heap, &p->due);
            if (p->kind == P_FENCE)
                fence_round(as, p);
            else if (p->timer_is_deadline)
                acquire_failed(as, p, REDLOCK_ETIMEDOUT);
            else {
                p->slot_end = 0; /* the next failure starts a new slot */
                attempt_start(as, p, now);
            }
        }
        /* p moved on or stayed: either way index i now holds another
         * live operation, or p itself. */
        if (i < as->live_len && as->live[i] == p)
            i++;
    }
}

/* Milliseconds until the engine must look again. */
static int engine_timeout_ms(redlock__async *as, uint64_t now)
{
    redlock__heap_node *top = redlock__heap_top(&as->heap);
    uint64_t due = now + 1000000u; /* a look at least every second */
    if (top != NULL && top->key < due)
        due = top->key;
    if (due <= now)
        return 0;
    return (int)((due - now + 999u) / 1000u);
}

static void *engine_main(void *arg)
{
    redlock__async *as = arg;
    redlock__mark_callback_thread(as->m);
    for (;;) {
        /* Drain, then clear the flag (as the lease thread does): a wake
         * after the clear writes the fd again, so none is lost. */
        redlock__eventfd_drain(as->wake_fd);
        (void)atomic_exchange(&as->wake_pending, false);
        pthread_mutex_lock(&as->mu);
        redlock_pending *in = as->in_head;
        as->in_head = as->in_tail = NULL;
        bool stopping = as->stopping;
        pthread_mutex_unlock(&as->mu);
        uint64_t now = redlock__clock_now_us();
        while (in != NULL) {
            redlock_pending *p = in;
            in = in->next;
            p->next = NULL;
            start(as, p, now);
        }
        if (stopping) {
            /* Every live operation ends now (ECLOSED); no new one comes
             * once stopped is set, under mu, with the list empty. */
            while (as->live_len > 0) {
                redlock_pending *p = as->live[as->live_len - 1];
                if (p->kind == P_RELEASE)
                    step_done(as, p, op_verdict(p->step.op), now);
                else
                    stop_pending(as, p, REDLOCK_ECLOSED);
            }
            pthread_mutex_lock(&as->mu);
            bool more = as->in_head != NULL;
            if (!more)
                as->stopped = true;
            pthread_mutex_unlock(&as->mu);
            if (more)
                continue;
            break;
        }
        scan(as, now);
        struct pollfd pfd = {as->wake_fd, POLLIN, 0};
        int rc = poll(&pfd, 1, engine_timeout_ms(as, redlock__clock_now_us()));
        if (rc < 0 && errno != EINTR)
            redlock__sleep_us(1000);
    }
    return NULL;
}

void redlock__async_shutdown(redlock__async *as)
{
    if (as == NULL)
        return;
    pthread_mutex_lock(&as->mu);
    as->stopping = true;
    bool started = as->started;
    if (!started)
        as->stopped = true;
    pthread_mutex_unlock(&as->mu);
    if (!started)
        return;
    engine_wake(as);
    pthread_join(as->thread, NULL);
}

void redlock__async_free(redlock__async *as)
{
    if (as == NULL)
        return;
    if (as->wake_fd >= 0)
        close(as->wake_fd);
    free(as->live);
    redlock__heap_free(&as->heap);
    pthread_mutex_destroy(&as->mu);
    free(as);
}

/* Hand p to the engine, starting its thread if needed. ECLOSED once it
 * stopped; EIO if the thread cannot be made. */
static redlock_status engine_submit(redlock__async *as, redlock_pending *p)
{
    redlock_status st = REDLOCK_OK;
    pthread_mutex_lock(&as->mu);
    if (as->stopping || as->stopped)
        st = REDLOCK_ECLOSED;
    else if (!as->started) {
        if (redlock__thread_start(&as->thread, NULL, engine_main, as) != 0)
            st = REDLOCK_EIO;
        else
            as->started = true;
    }
    if (st == REDLOCK_OK) {
        p->next = NULL;
        if (as->in_tail != NULL)
            as->in_tail->next = p;
        else
            as->in_head = p;
        as->in_tail = p;
    }
    pthread_mutex_unlock(&as->mu);
    if (st == REDLOCK_OK)
        engine_wake(as);
    return st;
}

/* ------------------------------------------------------------------------
 * Completion queues
 * ------------------------------------------------------------------------ */

static void cancel_all_of(redlock_queue *q);

static bool queue_ok(const redlock_queue *q)
{
    return q != NULL && q->magic == QUEUE_MAGIC;
}

void redlock_queue_options_init(redlock_queue_options *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof(*o));
    o->struct_size = sizeof(*o);
    o->mode = REDLOCK_QUEUE_DISPATCH;
}

/* Run one waiting callback; false if none was waiting. */
static bool dispatch_one(redlock_queue *q)
{
    pthread_mutex_lock(&q->mu);
    redlock_pending *p = q->ready_head;
    if (p != NULL) {
        q->ready_head = p->next;
        if (q->ready_head == NULL) {
            q->ready_tail = NULL;
            redlock__eventfd_drain(q->efd); /* empty: not readable any more */
        }
    }
    pthread_mutex_unlock(&q->mu);
    if (p == NULL)
        return false;
    /* An extended lock is the caller's again from its callback on (not
     * before: until then a second operation on it is refused). */
    if (p->kind == P_EXTEND || p->kind == P_FENCE)
        atomic_store_explicit(&p->lock->async_busy, false,
                              memory_order_release);
    if (p->cb != NULL)
        p->cb(p, p->result,
              p->lease_error != REDLOCK_OK ? NULL : p->lock, p->userdata);
    if (p->kind == P_RELEASE)
        redlock_lock_free(p->lock);
    p->magic = REDLOCK__DEAD_MAGIC;
    free(p);
    pthread_mutex_lock(&q->mu);
    q->pending--;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return true;
}

/* Become q's dispatcher; false if a dispatch runs (on this thread: a
 * callback nesting; on another: one at a time). */
static bool dispatch_enter(redlock_queue *q)
{
    pthread_mutex_lock(&q->mu);
    bool ok = !q->dispatching;
    if (ok) {
        q->dispatching = true;
        q->dispatcher = pthread_self();
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

static void dispatch_leave(redlock_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->dispatching = false;
    pthread_cond_broadcast(&q->cv); /* a destroy or the queue's thread */
    pthread_mutex_unlock(&q->mu);
}

size_t redlock_queue_dispatch(redlock_queue *q, size_t max)
{
    if (!queue_ok(q) || q->mode == REDLOCK_QUEUE_THREAD ||
        !dispatch_enter(q))
        return 0; /* (the queue's own thread dispatches a THREAD queue) */
    size_t n = 0;
    while ((max == 0 || n < max) && dispatch_one(q))
        n++;
    dispatch_leave(q);
    return n;
}

/* REDLOCK_QUEUE_THREAD: dispatch until told to stop. */
static void *queue_main(void *arg)
{
    redlock_queue *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stop && (q->ready_head == NULL || q->dispatching))
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stop)
            break;
        q->dispatching = true;
        q->dispatcher = pthread_self();
        pthread_mutex_unlock(&q->mu);
        while (dispatch_one(q)) {
        }
        pthread_mutex_lock(&q->mu);
        q->dispatching = false;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

redlock_status redlock_queue_create(redlock_manager *m,
                                    const redlock_queue_options *opts,
                                    redlock_queue **out)
{
    if (out == NULL || m == NULL)
        return REDLOCK_EINVAL;
    *out = NULL;
    if (m->magic != REDLOCK__MANAGER_MAGIC)
        return REDLOCK_EMISUSE;
    redlock_queue_options o;
    redlock_queue_options_init(&o);
    if (opts != NULL) {
        if (opts->struct_size != sizeof(*opts))
            return REDLOCK_EINVAL;
        o = *opts;
    }
    if (o.mode != REDLOCK_QUEUE_DISPATCH && o.mode != REDLOCK_QUEUE_THREAD)
        return REDLOCK_EINVAL;
    if (atomic_load_explicit(&m->closing, memory_order_acquire))
        return REDLOCK_ECLOSED;
    redlock_queue *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return REDLOCK_ENOMEM;
    q->mode = o.mode;
    atomic_init(&q->cancel_all, false);
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->efd < 0) {
        free(q);
        return REDLOCK_EIO;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->magic = QUEUE_MAGIC;
    q->m = m;
    redlock__manager_ref(m);
    if (o.mode == REDLOCK_QUEUE_THREAD) {
        if (redlock__thread_start(&q->thread, NULL, queue_main, q) != 0) {
            q->magic = REDLOCK__DEAD_MAGIC;
            redlock__manager_unref(m);
            close(q->efd);
            pthread_cond_destroy(&q->cv);
            pthread_mutex_destroy(&q->mu);
            free(q);
            return REDLOCK_EIO;
        }
        q->has_thread = true;
    }
    *out = q;
    return REDLOCK_OK;
}

int redlock_queue_fd(const redlock_queue *q)
{
    return queue_ok(q) ? q->efd : -1;
}

size_t redlock_queue_pending(const redlock_queue *q)
{
    if (!queue_ok(q))
        return 0;
    redlock_queue *w = (redlock_queue *)q; /* the mutex, not the queue */
    pthread_mutex_lock(&w->mu);
    size_t n = w->pending;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void redlock_queue_destroy(redlock_queue *q)
{
    if (!queue_ok(q))
        return;
    pthread_mutex_lock(&q->mu);
    bool nested = q->dispatching && pthread_equal(q->dispatcher,
                                                  pthread_self());
    pthread_mutex_unlock(&q->mu);
    if (nested) {
        redlock__log(q->m, REDLOCK_LOG_ERROR,
                     "redlock_queue_destroy() called from a callback of "
                     "the same queue: ignored");
        return;
    }
    if (q->has_thread) {
        pthread_mutex_lock(&q->mu);
        q->stop = true;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->thread, NULL);
        q->has_thread = false;
    }
    cancel_all_of(q);
    /* Run every callback still due here, until none is pending. */
    while (dispatch_enter(q) == false) {
        /* Another thread is dispatching (a misuse in DISPATCH mode, as
         * it races with the free below): wait for it to finish. */
        pthread_mutex_lock(&q->mu);
        while (q->dispatching)
            pthread_cond_wait(&q->cv, &q->mu);
        pthread_mutex_unlock(&q->mu);
    }
    for (;;) {
        while (dispatch_one(q)) {
        }
        pthread_mutex_lock(&q->mu);
        while (q->pending > 0 && q->ready_head == NULL)
            pthread_cond_wait(&q->cv, &q->mu);
        bool done = q->pending == 0;
        pthread_mutex_unlock(&q->mu);
        if (done)
            break;
    }
    redlock_manager *m = q->m;
    q->magic = REDLOCK__DEAD_MAGIC;
    close(q->efd);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
    redlock__manager_unref(m);
}

/* ------------------------------------------------------------------------
 * Submitting and cancelling
 * ------------------------------------------------------------------------ */

/* A new pending operation of q (counted in q->pending), or NULL. */
static redlock_pending *pending_new(redlock_queue *q, pending_kind kind,
                                   redlock_async_fn cb, void *userdata)
{
    redlock_pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->magic = PENDING_MAGIC;
    p->q = q;
    p->kind = kind;
    p->state = S_NEW;
    p->cb = cb;
    p->userdata = userdata;
    atomic_init(&p->cancel, false);
    redlock__heap_node_init(&p->due);
    return p;
}

/* Count p in its queue and hand it to the engine; on failure nothing of
 * it is kept (the caller frees what p holds). */
static redlock_status submit(redlock_pending *p)
{
    redlock_queue *q = p->q;
    pthread_mutex_lock(&q->mu);
    q->pending++;
    pthread_mutex_unlock(&q->mu);
    redlock_status st = engine_submit(q->m->async, p);
    if (st != REDLOCK_OK) {
        pthread_mutex_lock(&q->mu);
        q->pending--;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
    return st;
}

/* The checks every submit call starts with. */
static redlock_status submit_args(const redlock_queue *q,
                                  redlock_pending **out)
{
    if (out != NULL)
        *out = NULL;
    if (q == NULL)
        return REDLOCK_EINVAL;
    return queue_ok(q) ? REDLOCK_OK : REDLOCK_EMISUSE;
}

static redlock_status acquire_submit(redlock_queue *q,
                                     const void *const *res,
                                     const size_t *lens, size_t count,
                                     uint32_t ttl_ms,
                                     const redlock_acquire_opts *opts,
                                     const redlock_lease_options *lopts,
                                     bool want_lease, redlock_async_fn cb,
                                     void *userdata, redlock_pending **out)
{
    redlock_status st = submit_args(q, out);
    if (st != REDLOCK_OK)
        return st;
    if (want_lease && lopts != NULL &&
        lopts->struct_size != sizeof(*lopts))
        return REDLOCK_EINVAL; /* not from redlock_lease_options_init() */
    redlock_pending *p = pending_new(q, P_ACQUIRE, cb, userdata);
    if (p == NULL)
        return REDLOCK_ENOMEM;
    p->want_lease = want_lease;
    redlock_lease_options_init(&p->lopts);
    if (want_lease && lopts != NULL)
        p->lopts = *lopts;
    st = redlock__acquire_begin(q->m, res, lens, count, ttl_ms, opts, false,
                                NULL, &p->pol, &p->lock);
    if (st == REDLOCK_OK) {
        p->ttl_ms = ttl_ms;
        p->pol.info = NULL; /* not filled by the non-blocking calls */
        /* Stored before the engine may finish (and another thread free)
         * the operation. */
        if (out != NULL)
            *out = p;
        st = submit(p);
        if (st != REDLOCK_OK)
            redlock__acquire_abort(p->lock);
    }
    if (st != REDLOCK_OK) {
        if (out != NULL)
            *out = NULL;
        p->magic = REDLOCK__DEAD_MAGIC;
        free(p);
        return st;
    }
    return REDLOCK_OK;
}

redlock_status redlock_acquire_async(redlock_queue *q, const void *resource,
                                     size_t resource_len, uint32_t ttl_ms,
                                     const redlock_acquire_opts *opts,
                                     redlock_async_fn cb, void *userdata,
                                     redlock_pending **out)
{
    const void *res[1] = {resource};
    size_t lens[1] = {resource_len};
    return acquire_submit(q, res, lens, 1, ttl_ms, opts, NULL, false, cb,
                          userdata, out);
}

redlock_status redlock_acquire_multi_async(
    redlock_queue *q, const void *const *resources, const size_t *lens,
    size_t count, uint32_t ttl_ms, const redlock_acquire_opts *opts,
    redlock_async_fn cb, void *userdata, redlock_pending **out)
{
    return acquire_submit(q, resources, lens, count, ttl_ms, opts, NULL,
                          false, cb, userdata, out);
}

/* Claim lock for one non-blocking operation: EMISUSE if one is pending. */
static bool claim(redlock_lock *lock)
{
    bool expected = false;
    return atomic_compare_exchange_strong_explicit(
        &lock->async_busy, &expected, true, memory_order_acq_rel,
        memory_order_acquire);
}

static redlock_status lock_submit(redlock_queue *q, redlock_lock *lock,
                                  pending_kind kind, uint32_t ttl_ms,
                                  redlock_async_fn cb, void *userdata,
                                  redlock_pending **out)
{
    redlock_status st = submit_args(q, out);
    if (st != REDLOCK_OK)
        return st;
    st = kind == P_EXTEND ? redlock__extend_check(lock, ttl_ms)
                          : redlock__lock_check(lock);
    if (st != REDLOCK_OK)
        return st;
    if (lock->m != q->m)
        return REDLOCK_EINVAL; /* a lock of another manager */
    if (atomic_load_explicit(&q->m->closing, memory_order_acquire))
        return REDLOCK_ECLOSED;
    if (!claim(lock))
        return REDLOCK_EMISUSE;
    redlock_pending *p = pending_new(q, kind, cb, userdata);
    if (p == NULL) {
        atomic_store_explicit(&lock->async_busy, false,
                              memory_order_release);
        return REDLOCK_ENOMEM;
    }
    p->lock = lock;
    p->ttl_ms = ttl_ms;
    if (out != NULL)
        *out = p; /* before the engine may finish it */
    st = submit(p);
    if (st != REDLOCK_OK) {
        if (out != NULL)
            *out = NULL;
        atomic_store_explicit(&lock->async_busy, false,
                              memory_order_release);
        p->magic = REDLOCK__DEAD_MAGIC;
        free(p);
        return st;
    }
    return REDLOCK_OK;
}

redlock_status redlock_extend_async(redlock_queue *q, redlock_lock *lock,
                                    uint32_t ttl_ms, redlock_async_fn cb,
                                    void *userdata, redlock_pending **out)
{
    return lock_submit(q, lock, P_EXTEND, ttl_ms, cb, userdata, out);
}

redlock_status redlock_release_async(redlock_queue *q, redlock_lock *lock,
                                     redlock_async_fn cb, void *userdata,
                                     redlock_pending **out)
{
    return lock_submit(q, lock, P_RELEASE, 0, cb, userdata, out);
}

redlock_status redlock_fence_next_async(redlock_queue *q, redlock_lock *lock,
                                        redlock_async_fn cb, void *userdata,
                                        redlock_pending **out)
{
    redlock_status st = submit_args(q, out);
    if (st != REDLOCK_OK)
        return st;
    redlock__fence f;
    st = redlock__fence_begin(lock, &f);
    if (st != REDLOCK_OK)
        return st;
    uint64_t none;
    if (lock->m != q->m || !claim(lock)) {
        st = lock->m != q->m ? REDLOCK_EINVAL : REDLOCK_EMISUSE;
        (void)redlock__fence_end(&f, lock, st, &none);
        return st;
    }
    redlock_pending *p = pending_new(q, P_FENCE, cb, userdata);
    if (p == NULL)
        st = REDLOCK_ENOMEM;
    else {
        p->lock = lock;
        p->fence = f;
        if (out != NULL)
            *out = p; /* before the engine may finish it */
        st = submit(p);
    }
    if (st != REDLOCK_OK) {
        if (out != NULL)
            *out = NULL;
        (void)redlock__fence_end(&f, lock, st, &none);
        atomic_store_explicit(&lock->async_busy, false,
                              memory_order_release);
        if (p != NULL) {
            p->magic = REDLOCK__DEAD_MAGIC;
            free(p);
        }
        return st;
    }
    return REDLOCK_OK;
}

redlock_status redlock_lease_acquire_async(
    redlock_queue *q, const char *resource, uint32_t ttl_ms,
    const redlock_acquire_opts *aopts, const redlock_lease_options *lopts,
    redlock_async_fn cb, void *userdata, redlock_pending **out)
{
    const void *res[1] = {resource};
    size_t lens[1] = {resource != NULL ? strlen(resource) : 0};
    return acquire_submit(q, res, lens, 1, ttl_ms, aopts, lopts, true, cb,
                          userdata, out);
}

redlock_lease *redlock_pending_lease(const redlock_pending *p)
{
    return p != NULL && p->magic == PENDING_MAGIC && p->want_lease
               ? p->lease
               : NULL;
}

uint64_t redlock_pending_fence(const redlock_pending *p)
{
    return p != NULL && p->magic == PENDING_MAGIC && p->kind == P_FENCE
               ? p->fence_number
               : 0;
}

redlock_status redlock_cancel(redlock_pending *p)
{
    if (p == NULL)
        return REDLOCK_EINVAL;
    if (p->magic != PENDING_MAGIC)
        return REDLOCK_EMISUSE;
    atomic_store_explicit(&p->cancel, true, memory_order_release);
    engine_wake(p->q->m->async);
    return REDLOCK_OK;
}

/* Cancel every operation of q still with the engine: its scan reads the
 * queue's flag beside each operation's own. */
static void cancel_all_of(redlock_queue *q)
{
    atomic_store_explicit(&q->cancel_all, true, memory_order_release);
    engine_wake(q->m->async);
}
