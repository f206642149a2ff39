/*
 * workloads.c: the workloads of docs/bench.md W1 to W4, the W3P
 * comparison client, and the pieces the soak (soak.c) and W5
 * (failover.c) build on (workloads_int.h).
 *
 * DESIGN
 * Each workload gets a fresh manager on the run's nodes (so one workload's
 * queues, leases or memory never colour the next one's figures) and is
 * driven by the calling thread: it starts the workers, redraws the
 * progress line every 100 ms, clears the shared `running` flag when the
 * duration is up or a stop was requested, joins the workers and merges
 * their per-thread histograms and counters. Workers never share a
 * histogram, so recording costs no lock.
 *
 *  - W1/W2: each cycle acquires a fresh key "<run-id>:<n>" (a single
 *    attempt: the key is new, so a refusal is a failure, not contention)
 *    and releases it. W1 is W2 with one thread.
 *  - W3/W3P: every thread wants the one key "<run-id>:w3"; it retries until
 *    it wins (in calls bounded to 200 ms so a stop request is seen), then
 *    runs a critical section that (a) counts a violation if another thread
 *    is already inside, and (b) increments a shared counter with a
 *    separate load and store (relaxed atomics, so a lost update is a
 *    detectable fact rather than undefined behaviour, and TSan stays quiet
 *    when the lock works). Any difference between the counter and the
 *    acquisitions also counts as violations. W3P is the same with retry
 *    delay 10 ms and no jitter, as a client-side loop of single attempts
 *    (so it gets no pub/sub wake-ups): the "poll every 10 ms" client the
 *    issue compares against.
 *  - W4: L locks with TTL 1000 ms handed to the manager's lease thread,
 *    held for D seconds; CPU (getrusage, the whole process) and extensions
 *    are counted over the hold only.
 *  - W5 (failover.c), W2A (parallel_async.c) and --soak (soak.c) have
 *    their own files.
 *
 * Time is CLOCK_MONOTONIC for every measurement; the library's clock
 * (redlock_clock_us) is used only to build acquire deadlines.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"
#include "workloads_int.h"

#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/resource.h>

#include "redlock.h"

/* How often the driver wakes to redraw progress and check the clock. */

/* Longest single acquire call of W3 before the stop flag is checked. */
#define W3_CALL_MS 200

/* ------------------------------------------------------------------------
 * Stop flag, clocks, process figures
 * ------------------------------------------------------------------------ */

/* Set once by SIGINT/SIGTERM (through bench_request_stop); lock-free, so
 * storing it from a signal handler is safe. */
static atomic_int stop_flag;

/* Ask every loop to stop. Async-signal-safe. */
void bench_request_stop(void)
{
    atomic_store_explicit(&stop_flag, 1, memory_order_relaxed);
}

/* Whether a stop was requested. */
int bench_stop_requested(void)
{
    return atomic_load_explicit(&stop_flag, memory_order_relaxed);
}

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t wl_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleep ms milliseconds (a signal may cut it short; callers loop). */
void wl_sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Process CPU time (user + system, all threads) in seconds. */
double wl_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Context switches (voluntary + involuntary) of the whole process so
 * far; Linux sums them over all threads for RUSAGE_SELF. */
uint64_t wl_context_switches(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_nvcsw + (uint64_t)ru.ru_nivcsw;
}

/* Bytes the allocator has handed out and not had back (glibc's
 * mallinfo2, summed over every arena; -1 elsewhere). Set beside the RSS
 * it tells live memory from memory the allocator keeps after free(). */
long long wl_heap_in_use_b(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 mi = mallinfo2();
    long long b = (long long)(mi.uordblks + mi.hblkhd);
    /* 0 in use with this much running: malloc is not glibc's (a
     * sanitizer's allocator answers mallinfo2 with zeros). Unknown, never
     * a made-up 0 per lease. */
    return b > 0 ? b : -1;
#else
    return -1;
#endif
}

/* The same in KiB (-1: unknown). */
long wl_heap_in_use_kb(void)
{
    long long b = wl_heap_in_use_b();
    return b < 0 ? -1 : (long)(b / 1024);
}

/* Live bytes per lease from glibc's bytes in use before and after taking
 * `held` leases (-1 if glibc cannot tell or none were taken). */
double wl_heap_per_lease_b(long long before, long long after, uint32_t held)
{
    if (before < 0 || after < 0 || held == 0)
        return -1.0;
    return (double)(after - before) / (double)held;
}

/* Current resident set in KiB (from /proc/self/statm), or 0. */
long wl_rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    long page = sysconf(_SC_PAGESIZE);
    int ok;

    if (f == NULL)
        return 0;
    ok = fscanf(f, "%lu %lu", &size, &resident) == 2;
    fclose(f);
    if (!ok || page <= 0)
        return 0;
    return (long)(resident * (unsigned long)page / 1024u);
}

/* Write "what: status" into r->error. */
void wl_set_error(bench_result *r, const char *what, redlock_status st)
{
    snprintf(r->error, sizeof(r->error), "%s: %s", what,
             redlock_strerror(st));
}

/* Create a manager on the run's nodes with the bench's key prefix, TLS
 * settings (cfg->tls) and the given retry policy (LIBRARY_RETRY for the library's own). Returns the
 * status; *out is NULL on failure. */
redlock_status wl_make_manager(const bench_config *cfg,
                               const char *const *uris, size_t n,
                               uint32_t delay_ms, uint32_t jitter_ms,
                               redlock_manager **out)
{
    redlock_options o;

    redlock_options_init(&o);
    o.key_prefix = cfg->key_prefix;
    o.restart_guard_ms = cfg->restart_guard_ms;
    o.tls_ca_file = cfg->tls.ca_file;
    o.tls_ca_dir = cfg->tls.ca_dir;
    o.tls_cert_file = cfg->tls.cert_file;
    o.tls_key_file = cfg->tls.key_file;
    o.tls_insecure_skip_verify = cfg->tls.insecure;
    if (delay_ms != LIBRARY_RETRY) {
        o.retry_delay_ms = delay_ms;
        o.retry_jitter_ms = jitter_ms;
    }
    return redlock_manager_create(uris, n, &o, out);
}

/* ------------------------------------------------------------------------
 * Worker threads (W1, W2, W3, W3P, soak)
 * ------------------------------------------------------------------------ */

/* Count a failed call in its class: taken, quorum, or other. Every status
 * is listed (no default) so that a new one fails the build here, as
 * STYLE.md 3.13 asks. */
void wl_count_failure(worker *w, redlock_status st)
{
    switch (st) {
    case REDLOCK_OK:
        break;
    case REDLOCK_ETAKEN:
        w->taken++;
        break;
    case REDLOCK_ENOQUORUM:
        w->quorum++;
        break;
    case REDLOCK_ETIMEDOUT:
    case REDLOCK_EEXPIRED:
    case REDLOCK_ENOTHELD:
    case REDLOCK_ELOST:
    case REDLOCK_EINVAL:
    case REDLOCK_ENOMEM:
    case REDLOCK_EIO:
    case REDLOCK_EPROTO:
    case REDLOCK_ECLOSED:
    case REDLOCK_EMISUSE:
    case REDLOCK_ECRYPTO:
    case REDLOCK_EURI:
    case REDLOCK_ERANGE:
    case REDLOCK_ENONODES:
    case REDLOCK_ERELEASED:
    case REDLOCK_EAUTH:
    case REDLOCK_ETTLSHORT:
    case REDLOCK_EDB:
    case REDLOCK_EREFUSED:
    case REDLOCK_EPENDING:
    case REDLOCK_EDUPNODE:
    case REDLOCK_ETLS:
    case REDLOCK_EGUARDED:
    case REDLOCK_ECANCELED:
    case REDLOCK_ECROSSSLOT:
        w->other++;
        break;
    }
}

/* W1/W2 worker: acquire a fresh key (one attempt), release it, repeat. */
void *wl_cycle_thread(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    redlock_acquire_opts o;
    char res[RES_MAX];

    redlock_acquire_opts_init(&o);
    o.retry_count = 0;
    while (atomic_load_explicit(&sh->running, memory_order_relaxed)) {
        uint64_t n = atomic_fetch_add(&sh->next_key, 1);
        int len = snprintf(res, sizeof(res), "%s:%" PRIu64,
                           sh->run->run_id, n);
        redlock_lock *lk = NULL;
        uint64_t t0 = wl_mono_ns(), t1, t2;
        redlock_status st =
            redlock_acquire_ex(sh->m, res, (size_t)len, sh->ttl_ms, &o, &lk);
        t1 = wl_mono_ns();
        if (st != REDLOCK_OK) {
            wl_count_failure(w, st);
            if (st != REDLOCK_ETAKEN)
                wl_sleep_ms(FAIL_PAUSE_MS);
            continue;
        }
        bench_hist_record(w->acq, t1 - t0);
        st = redlock_release(lk);
        t2 = wl_mono_ns();
        if (st != REDLOCK_OK) {
            wl_count_failure(w, st);
            continue;
        }
        bench_hist_record(w->rel, t2 - t1);
        w->cycles++;
        atomic_fetch_add_explicit(&sh->progress, 1, memory_order_relaxed);
    }
    return NULL;
}

/* W3/W3P worker: wait for the one key, run the checked critical section,
 * release; time the hand-over from each release to the next grant. */
static void *contend_thread(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    size_t keylen = strlen(sh->key);

    while (atomic_load_explicit(&sh->running, memory_order_relaxed)) {
        redlock_lock *lk = NULL;
        redlock_status st = REDLOCK_ETAKEN;
        uint64_t t0 = wl_mono_ns(), t1, t2, v;

        while (atomic_load_explicit(&sh->running, memory_order_relaxed)) {
            redlock_acquire_info info;
            redlock_acquire_opts o;
            redlock_acquire_opts_init(&o);
            o.retry_count = sh->poll ? 0 : REDLOCK_RETRY_UNTIL_DEADLINE;
            o.retry_delay_ms = sh->retry_delay_ms;
            o.retry_jitter_ms = sh->retry_jitter_ms;
            o.deadline_us = redlock_clock_us() + (uint64_t)W3_CALL_MS * 1000u;
            o.info = &info;
            memset(&info, 0, sizeof(info));
            st = redlock_acquire_ex(sh->m, sh->key, keylen, sh->ttl_ms, &o,
                                    &lk);
            /* Every attempt but a winning last one lost to a holder. */
            w->taken += info.attempts - (st == REDLOCK_OK ? 1u : 0u);
            if (st == REDLOCK_OK)
                break;
            if (st != REDLOCK_ETAKEN && st != REDLOCK_ETIMEDOUT) {
                wl_count_failure(w, st);
                wl_sleep_ms(FAIL_PAUSE_MS);
            } else if (sh->poll) {
                wl_sleep_ms((uint64_t)sh->retry_delay_ms); /* the poll */
            }
        }
        if (lk == NULL)
            break;
        t1 = wl_mono_ns();
        bench_hist_record(w->acq, t1 - t0);

        /* The critical section. v numbers the holds, so this grant pairs
         * with hold v - 1's release (stats.h, "hand-over gap"). */
        if (atomic_fetch_add(&sh->inside, 1) != 0)
            w->violations++;
        v = atomic_load_explicit(&sh->counter, memory_order_relaxed);
        bench_handover_grant(sh->handover, HANDOVER_RING, v, t1, w->gap,
                             &w->early);
        sched_yield(); /* widen the window a second holder would hit */
        atomic_store_explicit(&sh->counter, v + 1, memory_order_relaxed);
        atomic_fetch_sub(&sh->inside, 1);
        w->cycles++;
        atomic_fetch_add_explicit(&sh->progress, 1, memory_order_relaxed);

        t1 = wl_mono_ns();
        st = redlock_release(lk);
        t2 = wl_mono_ns();
        /* Also after a failed release: the next grant then waits for the
         * key to expire, and that gap is real. */
        bench_handover_release(sh->handover, HANDOVER_RING, v, t2, w->gap,
                               &w->early);
        if (st == REDLOCK_OK)
            bench_hist_record(w->rel, t2 - t1);
        else
            wl_count_failure(w, st);
    }
    return NULL;
}

/* Allocate n workers with their histograms; NULL if out of memory. */
worker *wl_workers_new(shared *sh, uint32_t n)
{
    worker *w = calloc(n, sizeof(*w));
    if (w == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        w[i].sh = sh;
        w[i].acq = bench_hist_new();
        w[i].rel = bench_hist_new();
        w[i].gap = bench_hist_new();
        if (w[i].acq == NULL || w[i].rel == NULL || w[i].gap == NULL) {
            for (uint32_t k = 0; k <= i; k++) {
                free(w[k].acq);
                free(w[k].rel);
                free(w[k].gap);
            }
            free(w);
            return NULL;
        }
    }
    return w;
}

/* Merge n joined workers into r (histograms, counters), then free them.
 * The acquire histogram is kept in r->acq_hist for --plot. */
void wl_workers_collect(worker *w, uint32_t n, bench_result *r)
{
    bench_hist *acq = bench_hist_new(), *rel = bench_hist_new();
    bench_hist *gap = bench_hist_new();

    for (uint32_t i = 0; i < n; i++) {
        if (acq != NULL)
            bench_hist_merge(acq, w[i].acq);
        if (rel != NULL)
            bench_hist_merge(rel, w[i].rel);
        r->cycles += w[i].cycles;
        r->fail_taken += w[i].taken;
        r->fail_quorum += w[i].quorum;
        r->fail_other += w[i].other;
        r->violations += w[i].violations;
        free(w[i].acq);
        if (gap != NULL)
            bench_hist_merge(gap, w[i].gap);
        r->handover_early += w[i].early;
        free(w[i].rel);
        free(w[i].gap);
    }
    free(w);
    if (acq != NULL)
        bench_pcts_from_hist(&r->acquire_us, acq);
    if (rel != NULL)
        bench_pcts_from_hist(&r->release_us, rel);
    if (gap != NULL && gap->count > 0)
        bench_pcts_from_hist(&r->handover_us, gap);
    free(rel);
    free(gap);
    free(r->acq_hist);
    r->acq_hist = acq;
}

/* Start n workers running fn. Returns how many started. */
uint32_t wl_workers_start(worker *w, uint32_t n, void *(*fn)(void *))
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        if (pthread_create(&w[i].tid, NULL, fn, &w[i]) != 0)
            break;
        w[i].started = 1;
    }
    return i;
}

/* Stop and join the workers that started. */
void wl_workers_join(shared *sh, worker *w, uint32_t n)
{
    atomic_store(&sh->running, 0);
    for (uint32_t i = 0; i < n; i++)
        if (w[i].started)
            pthread_join(w[i].tid, NULL);
}

/* Let the workers run for duration_ms (or until a stop request) while
 * redrawing the progress line from *progress. Returns the elapsed time
 * in seconds, measured from t0_ns. */
static double drive(const bench_run *run, const char *id, uint64_t t0_ns,
                    uint64_t duration_ms, atomic_uint_fast64_t *progress)
{
    uint64_t end = t0_ns + duration_ms * 1000000u;
    double total = (double)duration_ms / 1000.0;

    for (;;) {
        uint64_t now = wl_mono_ns();
        if (now >= end || bench_stop_requested())
            break;
        bench_progress(run->progress, id, run->nodes->n,
                       (double)(now - t0_ns) / 1e9, total,
                       atomic_load(progress));
        wl_sleep_ms((end - now) / 1000000u < TICK_MS ? (end - now) / 1000000u + 1
                                                  : TICK_MS);
    }
    bench_progress_clear(run->progress);
    return (double)(wl_mono_ns() - t0_ns) / 1e9;
}

/* Run W1, W2, W3 or W3P. */
static int run_threads(const bench_run *run, int wl, uint32_t threads,
                       uint64_t duration_ms, bench_result *r)
{
    const bench_config *cfg = run->cfg;
    shared *sh;
    worker *w;
    uint32_t started;
    uint64_t t0, csw0;
    double cpu0;
    redlock_status st;
    int contended = (wl == BENCH_W3 || wl == BENCH_W3P);
    uint32_t delay = wl == BENCH_W3P ? BENCH_POLL_DELAY_MS
                                     : cfg->retry_delay_ms;
    uint32_t jitter = wl == BENCH_W3P ? 0 : cfg->retry_jitter_ms;

    sh = calloc(1, sizeof(*sh));
    if (sh == NULL) {
        wl_set_error(r, "setup", REDLOCK_ENOMEM);
        return -1;
    }
    sh->run = run;
    sh->ttl_ms = cfg->ttl_ms;
    sh->retry_delay_ms = delay;
    sh->retry_jitter_ms = jitter;
    sh->poll = wl == BENCH_W3P;
    snprintf(sh->key, sizeof(sh->key), "%s:%s", run->run_id,
             wl == BENCH_W3P ? "w3p" : "w3");
    atomic_store(&sh->running, 1);
    r->threads = threads;
    r->ttl_ms = cfg->ttl_ms;
    if (contended) {
        r->has_retry = 1;
        r->retry_delay_ms = delay;
        r->retry_jitter_ms = jitter;
    }
    st = wl_make_manager(cfg, run->nodes->uris, run->nodes->n, delay,
                         jitter, &sh->m);
    if (st != REDLOCK_OK) {
        wl_set_error(r, "manager", st);
        free(sh);
        return -1;
    }
    w = wl_workers_new(sh, threads);
    if (w == NULL) {
        wl_set_error(r, "setup", REDLOCK_ENOMEM);
        redlock_manager_destroy(sh->m);
        free(sh);
        return -1;
    }
    cpu0 = wl_cpu_seconds();
    csw0 = wl_context_switches();
    t0 = wl_mono_ns();
    started = wl_workers_start(w, threads, contended ? contend_thread
                                                  : wl_cycle_thread);
    if (started < threads) {
        snprintf(r->error, sizeof(r->error),
                 "only %" PRIu32 " of %" PRIu32 " threads started", started,
                 threads);
        wl_workers_join(sh, w, started);
    } else {
        drive(run, bench_wl_id(wl), t0, duration_ms, &sh->progress);
        wl_workers_join(sh, w, threads);
    }
    r->duration_s = (double)(wl_mono_ns() - t0) / 1e9;
    r->cpu_s = wl_cpu_seconds() - cpu0;
    csw0 = wl_context_switches() - csw0;
    wl_workers_collect(w, threads, r);
    if (r->cycles > 0) {
        r->csw_per_cycle = (double)csw0 / (double)r->cycles;
        r->cpu_us_per_cycle = bench_cpu_us_per_iter(r->cpu_s, r->cycles);
    }
    if (contended) {
        uint64_t counted = atomic_load(&sh->counter);
        /* A lost update means two holders overlapped unnoticed. */
        if (counted != r->cycles)
            r->violations += counted > r->cycles ? counted - r->cycles
                                                 : r->cycles - counted;
    }
    r->cycles_per_s = r->duration_s > 0.0 ? (double)r->cycles / r->duration_s
                                          : 0.0;
    redlock_manager_destroy(sh->m);
    r->rss_kb = wl_rss_kb();
    free(sh);
    return started < threads ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * W4: leases
 * ------------------------------------------------------------------------ */

/* on_lost: count it (runs on the lease thread; just an atomic add). */
static void on_lease_lost(redlock_lease *lease, redlock_status why,
                          void *userdata)
{
    lease_set *ls = userdata;
    (void)lease;
    (void)why;
    atomic_fetch_add(&ls->lost_cb, 1);
}

/* Acquire ls->want leases "<run-id>:lease:<i>" with TTL 1000 ms. Returns
 * 0 if all were taken, -1 otherwise (r->error says why). */
int wl_leases_start(const bench_run *run, lease_set *ls, bench_result *r)
{
    redlock_lease_options lo;
    char res[RES_MAX];

    ls->leases = calloc(ls->want, sizeof(*ls->leases));
    ls->acq = bench_hist_new();
    ls->rel = bench_hist_new();
    if (ls->leases == NULL || ls->acq == NULL || ls->rel == NULL) {
        wl_set_error(r, "setup", REDLOCK_ENOMEM);
        return -1;
    }
    redlock_lease_options_init(&lo);
    lo.on_lost = on_lease_lost;
    lo.userdata = ls;
    for (uint32_t i = 0; i < ls->want && !bench_stop_requested(); i++) {
        redlock_status st;
        uint64_t t0;
        snprintf(res, sizeof(res), "%s:lease:%" PRIu32, run->run_id, i);
        t0 = wl_mono_ns();
        st = redlock_lease_acquire(ls->m, res, BENCH_LEASE_TTL_MS, NULL, &lo,
                                   &ls->leases[ls->held]);
        if (st != REDLOCK_OK) {
            wl_count_failure(&ls->fails, st);
            wl_set_error(r, "lease acquire", st);
            return -1;
        }
        bench_hist_record(ls->acq, wl_mono_ns() - t0);
        ls->held++;
    }
    return ls->held == ls->want ? 0 : -1;
}

/* Total extensions of the held leases so far. */
uint64_t wl_leases_renewals(const lease_set *ls)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < ls->held; i++)
        sum += redlock_lease_renewals(ls->leases[i]);
    return sum;
}

/* Leases lost so far: the larger of the flags set and callbacks seen. */
uint64_t wl_leases_lost(lease_set *ls)
{
    uint64_t flagged = 0, cb = atomic_load(&ls->lost_cb);
    for (uint32_t i = 0; i < ls->held; i++)
        flagged += redlock_lease_lost(ls->leases[i]) ? 1u : 0u;
    return flagged > cb ? flagged : cb;
}

/* Stop every lease (releasing its lock), timing each stop. */
void wl_leases_stop(lease_set *ls)
{
    for (uint32_t i = 0; i < ls->held; i++) {
        uint64_t t0 = wl_mono_ns();
        redlock_status st = redlock_lease_stop(ls->leases[i], NULL);
        if (st == REDLOCK_OK)
            bench_hist_record(ls->rel, wl_mono_ns() - t0);
        else
            wl_count_failure(&ls->fails, st);
    }
    ls->held = 0;
}

/* Free what wl_leases_start allocated (after wl_leases_stop). */
void wl_leases_free(lease_set *ls)
{
    free(ls->leases);
    free(ls->acq);
    free(ls->rel);
    ls->leases = NULL;
    ls->acq = ls->rel = NULL;
}

/* Copy the lease set's latencies and failures into r. */
static void leases_report(lease_set *ls, bench_result *r)
{
    if (ls->acq != NULL)
        bench_pcts_from_hist(&r->acquire_us, ls->acq);
    if (ls->rel != NULL)
        bench_pcts_from_hist(&r->release_us, ls->rel);
    r->fail_taken += ls->fails.taken;
    r->fail_quorum += ls->fails.quorum;
    r->fail_other += ls->fails.other;
    if (ls->acq != NULL && r->acq_hist == NULL) {
        r->acq_hist = ls->acq;
        ls->acq = NULL;
    }
}

/* Run W4: take L leases, hold them D seconds, measure, stop them. */
static int run_leases(const bench_run *run, uint64_t duration_ms,
                      bench_result *r)
{
    const bench_config *cfg = run->cfg;
    lease_set *ls = calloc(1, sizeof(*ls));
    redlock_status st;
    long rss0, rss1;
    long long heap0, heap1;
    double cpu0, cpu1, held_s;
    uint64_t ext0, ext1, t0, csw0, csw1;
    int rc = 0;

    r->threads = 1; /* the manager's one lease thread does the work */
    r->ttl_ms = BENCH_LEASE_TTL_MS;
    r->leases = cfg->leases;
    if (ls == NULL) {
        wl_set_error(r, "setup", REDLOCK_ENOMEM);
        return -1;
    }
    ls->want = cfg->leases;
    st = wl_make_manager(cfg, run->nodes->uris, run->nodes->n,
                         LIBRARY_RETRY, LIBRARY_RETRY, &ls->m);
    if (st != REDLOCK_OK) {
        wl_set_error(r, "manager", st);
        free(ls);
        return -1;
    }
    rss0 = wl_rss_kb();
    heap0 = wl_heap_in_use_b();
    if (wl_leases_start(run, ls, r) != 0)
        rc = -1;
    rss1 = wl_rss_kb();
    heap1 = wl_heap_in_use_b();
    r->heap_per_lease_b = wl_heap_per_lease_b(heap0, heap1, ls->held);
    if (ls->held > 0)
        r->rss_per_lease_b = (double)(rss1 - rss0) * 1024.0 / ls->held;

    cpu0 = wl_cpu_seconds();
    csw0 = wl_context_switches();
    ext0 = wl_leases_renewals(ls);
    t0 = wl_mono_ns();
    if (rc == 0) {
        uint64_t end = t0 + duration_ms * 1000000u;
        while (!bench_stop_requested() && wl_mono_ns() < end) {
            uint64_t now = wl_mono_ns();
            /* Only summed when a progress line is drawn: reading 1000
             * counters is work the CPU figure should not include. */
            if (run->progress != NULL)
                bench_progress(run->progress, "W4", run->nodes->n,
                               (double)(now - t0) / 1e9,
                               (double)duration_ms / 1000.0,
                               wl_leases_renewals(ls) - ext0);
            wl_sleep_ms((end - now) / 1000000u < TICK_MS
                         ? (end - now) / 1000000u + 1
                         : TICK_MS);
        }
        bench_progress_clear(run->progress);
    }
    held_s = (double)(wl_mono_ns() - t0) / 1e9;
    cpu1 = wl_cpu_seconds();
    csw1 = wl_context_switches();
    ext1 = wl_leases_renewals(ls);
    r->lost = wl_leases_lost(ls);
    r->duration_s = held_s;
    r->extensions = ext1 - ext0;
    r->cycles = r->extensions;
    r->cpu_s = cpu1 - cpu0;
    if (r->extensions > 0) {
        r->cpu_us_per_extension = r->cpu_s * 1e6 / (double)r->extensions;
        r->csw_per_extension = (double)(csw1 - csw0) / (double)r->extensions;
    }
    if (held_s > 0.0) {
        r->extensions_per_s = (double)r->extensions / held_s;
        r->cycles_per_s = r->extensions_per_s;
        if (ls->held > 0)
            r->cpu_s_per_1000_leases_per_s =
                r->cpu_s / held_s / ((double)ls->held / 1000.0);
    }
    r->rss_kb = wl_rss_kb();
    wl_leases_stop(ls);
    leases_report(ls, r);
    redlock_manager_destroy(ls->m);
    wl_leases_free(ls);
    free(ls);
    return rc;
}

/* ------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------ */

/* Run one workload; see bench.h. */
int bench_run_workload(const bench_run *run, int wl, uint32_t threads,
                       uint64_t duration_ms, bench_result *out)
{
    bench_result_init(out, wl, run->nodes->n);
    switch (wl) {
    case BENCH_W1:
        return run_threads(run, wl, 1, duration_ms, out);
    case BENCH_W2:
    case BENCH_W3:
    case BENCH_W3P:
        return run_threads(run, wl, threads, duration_ms, out);
    case BENCH_W4:
        return run_leases(run, duration_ms, out);
    case BENCH_W5:
        return wl_run_failover(run, duration_ms, out);
    case BENCH_W2A:
        return wl_run_parallel_async(run, threads, duration_ms, out);
    default:
        snprintf(out->error, sizeof(out->error), "unknown workload");
        return -1;
    }
}
