/*
 * parallel_async.c: W2A ("parallel-async"), W2's cycles driven from ONE
 * thread that keeps K of them in flight through the library's
 * non-blocking calls (redlock.h, "Non-blocking operations"; issue 11).
 *
 * DESIGN
 * The calling thread is the event loop. It makes a completion queue in
 * REDLOCK_QUEUE_DISPATCH mode, submits K acquires of fresh keys
 * "<run-id>:a<n>" (one attempt each, as W2's), then poll()s the queue's
 * fd and dispatches; the callbacks run on it. An acquire's callback
 * records the acquire latency (submit to callback) and submits the
 * release; a release's callback records the release latency, counts the
 * cycle and submits the next acquire. So K cycles stay in flight with no
 * other thread of ours; the library's async engine and node workers do
 * the rest. The K slots carry their step's submit time; histograms and
 * counters are one worker's (workloads_int.h), touched by this thread
 * only, so no lock.
 *
 * The figures are measured as run_threads() measures W2's, so the rows
 * compare column by column: process CPU and context switches
 * (getrusage, every thread) and the wall time from just before the first
 * submit to the end of the drain, which is where W2 has joined its
 * threads after their last cycle. The drain: stop submitting, dispatch
 * until redlock_queue_pending() is 0 (every callback ran), then destroy
 * the queue and the manager.
 *
 * A failure other than REDLOCK_ETAKEN parks its slot for FAIL_PAUSE_MS,
 * as a W2 thread sleeps after one, so that a dead cluster does not turn
 * the loop into a busy loop; while slots are parked the loop wakes every
 * millisecond to restart them.
 *
 * Rejected: REDLOCK_QUEUE_THREAD (callbacks on the queue's own thread):
 * the issue asks for one thread of ours driving the cycles, and the
 * hand-off to a second thread would be a cost W2 does not pay; epoll: one
 * fd, so poll() says the same with less setup.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"
#include "workloads_int.h"

#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "redlock.h"

/* Longest the drain waits for the operations still in flight before
 * redlock_queue_destroy() cancels them: far beyond the library's command
 * timeout, so only a bug reaches it. */
#define DRAIN_MAX_MS 30000u

typedef struct w2a_state w2a_state;

/* One of the K cycles in flight. */
typedef struct w2a_slot {
    w2a_state *a;
    uint64_t t0;        /* submit time of the step in flight (ns) */
    uint64_t resume_ns; /* parked: when to start the next cycle */
    int parked;
} w2a_slot;

/* The run: the queue, the options of every acquire, the counters. */
struct w2a_state {
    const bench_run *run;
    redlock_queue *q;
    redlock_acquire_opts o;
    uint32_t ttl_ms;
    worker *w;          /* counters and histograms (one "worker") */
    uint64_t next_key;
    int submitting;     /* cleared when the duration is up */
    uint32_t k;
    uint32_t parked;    /* slots waiting out FAIL_PAUSE_MS */
    w2a_slot *slots;
};

static void start_cycle(w2a_slot *s);

/* Set s aside for FAIL_PAUSE_MS (see DESIGN). */
static void park(w2a_slot *s, uint64_t now)
{
    s->parked = 1;
    s->resume_ns = now + (uint64_t)FAIL_PAUSE_MS * 1000000u;
    s->a->parked++;
}

/* Start s's next cycle, unless the run is winding down. */
static void next_cycle(w2a_slot *s)
{
    if (s->a->submitting)
        start_cycle(s);
}

/* Release callback: the cycle is done; start the next one. */
static void on_released(redlock_pending *p, redlock_status st,
                        redlock_lock *lock, void *userdata)
{
    w2a_slot *s = userdata;
    w2a_state *a = s->a;
    uint64_t t2 = wl_mono_ns();

    (void)p;
    (void)lock; /* freed by the library when we return */
    if (st == REDLOCK_OK) {
        bench_hist_record(a->w->rel, t2 - s->t0);
        a->w->cycles++;
    } else {
        wl_count_failure(a->w, st);
    }
    next_cycle(s);
}

/* Acquire callback: record the latency and release the new lock. */
static void on_acquired(redlock_pending *p, redlock_status st,
                        redlock_lock *lock, void *userdata)
{
    w2a_slot *s = userdata;
    w2a_state *a = s->a;
    uint64_t t1 = wl_mono_ns();

    (void)p;
    if (st != REDLOCK_OK) {
        wl_count_failure(a->w, st);
        if (st == REDLOCK_ETAKEN)
            next_cycle(s);
        else
            park(s, t1);
        return;
    }
    bench_hist_record(a->w->acq, t1 - s->t0);
    s->t0 = t1;
    st = redlock_release_async(a->q, lock, on_released, s, NULL);
    if (st != REDLOCK_OK) {
        /* Refused: nothing was kept and the handle is still ours
         * (redlock.h); the keys expire by their TTL. */
        wl_count_failure(a->w, st);
        redlock_lock_free(lock);
        next_cycle(s);
    }
}

/* Submit the acquire of a fresh key for slot s. */
static void start_cycle(w2a_slot *s)
{
    w2a_state *a = s->a;
    char res[RES_MAX];
    int len = snprintf(res, sizeof(res), "%s:a%" PRIu64, a->run->run_id,
                       a->next_key++);
    redlock_status st;

    s->t0 = wl_mono_ns();
    st = redlock_acquire_async(a->q, res, (size_t)len, a->ttl_ms, &a->o,
                               on_acquired, s, NULL);
    if (st != REDLOCK_OK) {
        wl_count_failure(a->w, st);
        park(s, s->t0);
    }
}

/* Restart the parked slots whose pause is over. */
static void restart_parked(w2a_state *a, uint64_t now)
{
    for (uint32_t i = 0; i < a->k && a->parked > 0; i++) {
        w2a_slot *s = &a->slots[i];
        if (!s->parked || now < s->resume_ns)
            continue;
        s->parked = 0;
        a->parked--;
        next_cycle(s);
    }
}

/* Milliseconds from now to until, rounded up, at most cap. */
static int wait_ms(uint64_t now, uint64_t until, int cap)
{
    uint64_t ms = until > now ? (until - now + 999999u) / 1000000u : 0;
    return ms < (uint64_t)cap ? (int)ms : cap;
}

/* Wait for completions (at most timeout_ms) and run them here. */
static void poll_dispatch(w2a_state *a, int timeout_ms)
{
    struct pollfd pfd = {redlock_queue_fd(a->q), POLLIN, 0};

    /* EINTR (a stop request) just ends this wait; callers loop. */
    if (poll(&pfd, 1, timeout_ms) > 0)
        redlock_queue_dispatch(a->q, a->k);
}

/* The loop for duration_ms from t0 (or until a stop request): dispatch
 * completions, restart parked slots, redraw the progress line every
 * TICK_MS. */
static void drive_async(w2a_state *a, uint64_t t0, uint64_t duration_ms)
{
    const bench_run *run = a->run;
    uint64_t end = t0 + duration_ms * 1000000u, draw = t0;
    double total = (double)duration_ms / 1000.0;

    for (;;) {
        uint64_t now = wl_mono_ns();
        int timeout;
        if (now >= end || bench_stop_requested())
            break;
        if (now >= draw) {
            bench_progress(run->progress, bench_wl_id(BENCH_W2A),
                           run->nodes->n, (double)(now - t0) / 1e9, total,
                           a->w->cycles);
            draw = now + (uint64_t)TICK_MS * 1000000u;
        }
        timeout = wait_ms(now, end < draw ? end : draw, TICK_MS);
        if (a->parked > 0)
            timeout = FAIL_PAUSE_MS;
        poll_dispatch(a, timeout);
        if (a->parked > 0)
            restart_parked(a, wl_mono_ns());
    }
    bench_progress_clear(run->progress);
}

/* Stop submitting and dispatch until every callback ran. Returns 0, or
 * -1 if operations were still pending after DRAIN_MAX_MS. */
static int drain(w2a_state *a)
{
    uint64_t limit = wl_mono_ns() + (uint64_t)DRAIN_MAX_MS * 1000000u;

    a->submitting = 0;
    while (redlock_queue_pending(a->q) > 0) {
        if (wl_mono_ns() >= limit)
            return -1;
        poll_dispatch(a, TICK_MS);
    }
    return 0;
}

/* The manager, queue, slots and counters of one run. Returns 0, or -1
 * with r->error set and nothing left allocated. */
static int w2a_setup(const bench_run *run, uint32_t k, w2a_state *a,
                     redlock_manager **m, bench_result *r)
{
    const bench_config *cfg = run->cfg;
    redlock_queue_options qo;
    redlock_status st;

    a->run = run;
    a->k = k;
    a->ttl_ms = cfg->ttl_ms;
    redlock_acquire_opts_init(&a->o);
    a->o.retry_count = 0; /* a fresh key: a refusal is a failure */
    a->slots = calloc(k, sizeof(*a->slots));
    a->w = wl_workers_new(NULL, 1);
    if (a->slots == NULL || a->w == NULL) {
        wl_set_error(r, "setup", REDLOCK_ENOMEM);
        goto fail;
    }
    for (uint32_t i = 0; i < k; i++)
        a->slots[i].a = a;
    /* W2's manager: the same options (the retry policy does not matter
     * with retry_count 0). */
    st = wl_make_manager(cfg, run->nodes->uris, run->nodes->n,
                         cfg->retry_delay_ms, cfg->retry_jitter_ms, m);
    if (st != REDLOCK_OK) {
        wl_set_error(r, "manager", st);
        goto fail;
    }
    redlock_queue_options_init(&qo);
    qo.mode = REDLOCK_QUEUE_DISPATCH;
    st = redlock_queue_create(*m, &qo, &a->q);
    if (st != REDLOCK_OK) {
        wl_set_error(r, "queue", st);
        redlock_manager_destroy(*m);
        *m = NULL;
        goto fail;
    }
    return 0;

fail:
    if (a->w != NULL)
        wl_workers_collect(a->w, 1, r); /* frees it; r gets zeros */
    a->w = NULL;
    free(a->slots);
    a->slots = NULL;
    return -1;
}

/* Run W2A; see workloads_int.h. */
int wl_run_parallel_async(const bench_run *run, uint32_t k,
                          uint64_t duration_ms, bench_result *r)
{
    w2a_state a;
    redlock_manager *m = NULL;
    uint64_t t0, csw0;
    double cpu0;
    int rc = 0;

    memset(&a, 0, sizeof(a));
    r->threads = 1; /* the one thread that drives the cycles */
    r->in_flight = k;
    r->ttl_ms = run->cfg->ttl_ms;
    if (w2a_setup(run, k, &a, &m, r) != 0)
        return -1;

    cpu0 = wl_cpu_seconds();
    csw0 = wl_context_switches();
    t0 = wl_mono_ns();
    a.submitting = 1;
    for (uint32_t i = 0; i < k; i++)
        start_cycle(&a.slots[i]);
    drive_async(&a, t0, duration_ms);
    if (drain(&a) != 0) {
        snprintf(r->error, sizeof(r->error),
                 "%zu operations still pending %u s after the end",
                 redlock_queue_pending(a.q), DRAIN_MAX_MS / 1000u);
        rc = -1;
    }
    r->duration_s = (double)(wl_mono_ns() - t0) / 1e9;
    r->cpu_s = wl_cpu_seconds() - cpu0;
    csw0 = wl_context_switches() - csw0;

    /* Cancels and completes anything the drain gave up on. */
    redlock_queue_destroy(a.q);
    wl_workers_collect(a.w, 1, r);
    if (r->cycles > 0) {
        r->csw_per_cycle = (double)csw0 / (double)r->cycles;
        r->cpu_us_per_cycle = bench_cpu_us_per_iter(r->cpu_s, r->cycles);
    }
    r->cycles_per_s = r->duration_s > 0.0 ? (double)r->cycles / r->duration_s
                                          : 0.0;
    redlock_manager_destroy(m);
    r->rss_kb = wl_rss_kb();
    free(a.slots);
    return rc;
}
