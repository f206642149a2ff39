/*
 * workloads.c: the workloads of docs/bench.md, W1 to W5, the W3P
 * comparison client and --soak.
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
 *    delay 10 ms and no jitter: the "poll every 10 ms" client the issue
 *    compares against.
 *  - W4: L locks with TTL 1000 ms handed to the manager's lease thread,
 *    held for D seconds; CPU (getrusage, the whole process) and extensions
 *    are counted over the hold only.
 *  - W5: each candidate is a separate process (this program re-executed
 *    with --candidate-fd) with its own manager and redlock_election. The
 *    leader is killed with SIGKILL (a real crash: it neither resigns nor
 *    releases) and the time until another candidate reports "elected" on
 *    the shared pipe is the failover time. A replacement candidate is
 *    started after each kill, so C candidates are always campaigning.
 *
 * Time is CLOCK_MONOTONIC for every measurement; the library's clock
 * (redlock_clock_us) is used only to build acquire deadlines.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "redlock.h"

/* How often the driver wakes to redraw progress and check the clock. */
#define TICK_MS 100
/* Longest single acquire call of W3 before the stop flag is checked. */
#define W3_CALL_MS 200
/* Pause after a failure that is not contention (nodes down), so a dead
 * cluster does not turn the bench into a busy loop. */
#define FAIL_PAUSE_MS 1
/* W5: how long to wait for the first leader, and for a new one after a
 * kill, beyond the TTL. */
#define W5_FIRST_LEADER_MS 15000
#define W5_NEW_LEADER_EXTRA_MS 10000
/* W5: how long stopped candidates get to resign before SIGKILL. */
#define W5_STOP_GRACE_MS 3000
/* W5: most candidate processes alive at once. */
#define W5_CANDIDATES_MAX 64
/* Longest resource name the bench builds. */
#define RES_MAX 96

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
static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleep ms milliseconds (a signal may cut it short; callers loop). */
static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Process CPU time (user + system, all threads) in seconds. */
static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Context switches (voluntary + involuntary) of the whole process so
 * far; Linux sums them over all threads for RUSAGE_SELF. */
static uint64_t context_switches(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_nvcsw + (uint64_t)ru.ru_nivcsw;
}

/* Bytes the allocator has handed out and not had back, in KiB (glibc's
 * mallinfo2; -1 elsewhere). Set beside the RSS it tells live memory from
 * memory the allocator keeps after free(). */
static long heap_in_use_kb(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 mi = mallinfo2();
    return (long)((mi.uordblks + mi.hblkhd) / 1024u);
#else
    return -1;
#endif
}

/* Current resident set in KiB (from /proc/self/statm), or 0. */
static long rss_kb(void)
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

/* RSS in KiB after handing the allocator's free pages back to the kernel
 * (glibc malloc_trim), so that it counts pages in use, not pages kept
 * after a transient peak; *untrimmed gets the RSS just before. Used for
 * the soak's growth base and end only (the per-second samples are raw). */
static long rss_trimmed_kb(long *untrimmed)
{
    *untrimmed = rss_kb();
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    return rss_kb();
}

/* Write "what: status" into r->error. */
static void set_error(bench_result *r, const char *what, redlock_status st)
{
    snprintf(r->error, sizeof(r->error), "%s: %s", what,
             redlock_strerror(st));
}

/* Retry policy argument of make_manager(): keep the library's defaults. */
#define LIBRARY_RETRY UINT32_MAX

/* Create a manager on the run's nodes with the bench's key prefix, TLS
 * settings (cfg->tls) and the given retry policy (LIBRARY_RETRY for the library's own). Returns the
 * status; *out is NULL on failure. */
static redlock_status make_manager(const bench_config *cfg,
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

/* State every worker of one workload shares. */
typedef struct shared {
    const bench_run *run;
    redlock_manager *m;
    atomic_int running;              /* cleared by the driver to stop */
    atomic_uint_fast64_t progress;   /* cycles so far, for the progress line */
    atomic_uint_fast64_t next_key;   /* W1/W2: fresh key numbers */
    uint32_t ttl_ms;
    /* W3, W3P */
    char key[RES_MAX];
    int64_t retry_delay_ms, retry_jitter_ms;
    atomic_int inside;               /* threads in the critical section */
    atomic_uint_fast64_t counter;    /* incremented load-then-store */
} shared;

/* One worker: its thread, histograms and counters (owned by it until
 * joined). */
typedef struct worker {
    shared *sh;
    pthread_t tid;
    int started;
    bench_hist *acq, *rel;
    uint64_t cycles, taken, quorum, other, violations;
} worker;

/* Count a failed call in its class: taken, quorum, or other. Every status
 * is listed (no default) so that a new one fails the build here, as
 * STYLE.md 3.13 asks. */
static void count_failure(worker *w, redlock_status st)
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
        w->other++;
        break;
    }
}

/* W1/W2 worker: acquire a fresh key (one attempt), release it, repeat. */
static void *cycle_thread(void *arg)
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
        uint64_t t0 = mono_ns(), t1, t2;
        redlock_status st =
            redlock_acquire_ex(sh->m, res, (size_t)len, sh->ttl_ms, &o, &lk);
        t1 = mono_ns();
        if (st != REDLOCK_OK) {
            count_failure(w, st);
            if (st != REDLOCK_ETAKEN)
                sleep_ms(FAIL_PAUSE_MS);
            continue;
        }
        bench_hist_record(w->acq, t1 - t0);
        st = redlock_release(lk);
        t2 = mono_ns();
        if (st != REDLOCK_OK) {
            count_failure(w, st);
            continue;
        }
        bench_hist_record(w->rel, t2 - t1);
        w->cycles++;
        atomic_fetch_add_explicit(&sh->progress, 1, memory_order_relaxed);
    }
    return NULL;
}

/* W3/W3P worker: wait for the one key, run the checked critical section,
 * release. */
static void *contend_thread(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    size_t keylen = strlen(sh->key);

    while (atomic_load_explicit(&sh->running, memory_order_relaxed)) {
        redlock_lock *lk = NULL;
        redlock_status st = REDLOCK_ETAKEN;
        uint64_t t0 = mono_ns(), t1, t2, v;

        while (atomic_load_explicit(&sh->running, memory_order_relaxed)) {
            redlock_acquire_info info;
            redlock_acquire_opts o;
            redlock_acquire_opts_init(&o);
            o.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
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
                count_failure(w, st);
                sleep_ms(FAIL_PAUSE_MS);
            }
        }
        if (lk == NULL)
            break;
        t1 = mono_ns();
        bench_hist_record(w->acq, t1 - t0);

        /* The critical section. */
        if (atomic_fetch_add(&sh->inside, 1) != 0)
            w->violations++;
        v = atomic_load_explicit(&sh->counter, memory_order_relaxed);
        sched_yield(); /* widen the window a second holder would hit */
        atomic_store_explicit(&sh->counter, v + 1, memory_order_relaxed);
        atomic_fetch_sub(&sh->inside, 1);
        w->cycles++;
        atomic_fetch_add_explicit(&sh->progress, 1, memory_order_relaxed);

        t1 = mono_ns();
        st = redlock_release(lk);
        t2 = mono_ns();
        if (st == REDLOCK_OK)
            bench_hist_record(w->rel, t2 - t1);
        else
            count_failure(w, st);
    }
    return NULL;
}

/* Allocate n workers with their histograms; NULL if out of memory. */
static worker *workers_new(shared *sh, uint32_t n)
{
    worker *w = calloc(n, sizeof(*w));
    if (w == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        w[i].sh = sh;
        w[i].acq = bench_hist_new();
        w[i].rel = bench_hist_new();
        if (w[i].acq == NULL || w[i].rel == NULL) {
            for (uint32_t k = 0; k <= i; k++) {
                free(w[k].acq);
                free(w[k].rel);
            }
            free(w);
            return NULL;
        }
    }
    return w;
}

/* Merge n joined workers into r (histograms, counters), then free them.
 * The acquire histogram is kept in r->acq_hist for --plot. */
static void workers_collect(worker *w, uint32_t n, bench_result *r)
{
    bench_hist *acq = bench_hist_new(), *rel = bench_hist_new();

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
        free(w[i].rel);
    }
    free(w);
    if (acq != NULL)
        bench_pcts_from_hist(&r->acquire_us, acq);
    if (rel != NULL)
        bench_pcts_from_hist(&r->release_us, rel);
    free(rel);
    free(r->acq_hist);
    r->acq_hist = acq;
}

/* Start n workers running fn. Returns how many started. */
static uint32_t workers_start(worker *w, uint32_t n, void *(*fn)(void *))
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
static void workers_join(shared *sh, worker *w, uint32_t n)
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
        uint64_t now = mono_ns();
        if (now >= end || bench_stop_requested())
            break;
        bench_progress(run->progress, id, run->nodes->n,
                       (double)(now - t0_ns) / 1e9, total,
                       atomic_load(progress));
        sleep_ms((end - now) / 1000000u < TICK_MS ? (end - now) / 1000000u + 1
                                                  : TICK_MS);
    }
    bench_progress_clear(run->progress);
    return (double)(mono_ns() - t0_ns) / 1e9;
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
        set_error(r, "setup", REDLOCK_ENOMEM);
        return -1;
    }
    sh->run = run;
    sh->ttl_ms = cfg->ttl_ms;
    sh->retry_delay_ms = delay;
    sh->retry_jitter_ms = jitter;
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
    st = make_manager(cfg, run->nodes->uris, run->nodes->n, delay, jitter,
                      &sh->m);
    if (st != REDLOCK_OK) {
        set_error(r, "manager", st);
        free(sh);
        return -1;
    }
    w = workers_new(sh, threads);
    if (w == NULL) {
        set_error(r, "setup", REDLOCK_ENOMEM);
        redlock_manager_destroy(sh->m);
        free(sh);
        return -1;
    }
    cpu0 = cpu_seconds();
    csw0 = context_switches();
    t0 = mono_ns();
    started = workers_start(w, threads, contended ? contend_thread
                                                  : cycle_thread);
    if (started < threads) {
        snprintf(r->error, sizeof(r->error),
                 "only %" PRIu32 " of %" PRIu32 " threads started", started,
                 threads);
        workers_join(sh, w, started);
    } else {
        drive(run, bench_wl_id(wl), t0, duration_ms, &sh->progress);
        workers_join(sh, w, threads);
    }
    r->duration_s = (double)(mono_ns() - t0) / 1e9;
    r->cpu_s = cpu_seconds() - cpu0;
    csw0 = context_switches() - csw0;
    workers_collect(w, threads, r);
    if (r->cycles > 0)
        r->csw_per_cycle = (double)csw0 / (double)r->cycles;
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
    r->rss_kb = rss_kb();
    free(sh);
    return started < threads ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * W4: leases
 * ------------------------------------------------------------------------ */

/* A set of leases on one manager and what happened to them. */
typedef struct lease_set {
    redlock_manager *m;
    redlock_lease **leases;
    uint32_t want, held;
    atomic_uint_fast64_t lost_cb;   /* on_lost callbacks seen */
    bench_hist *acq, *rel;
    worker fails;                   /* failure counters only */
} lease_set;

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
static int leases_start(const bench_run *run, lease_set *ls,
                        bench_result *r)
{
    redlock_lease_options lo;
    char res[RES_MAX];

    ls->leases = calloc(ls->want, sizeof(*ls->leases));
    ls->acq = bench_hist_new();
    ls->rel = bench_hist_new();
    if (ls->leases == NULL || ls->acq == NULL || ls->rel == NULL) {
        set_error(r, "setup", REDLOCK_ENOMEM);
        return -1;
    }
    redlock_lease_options_init(&lo);
    lo.on_lost = on_lease_lost;
    lo.userdata = ls;
    for (uint32_t i = 0; i < ls->want && !bench_stop_requested(); i++) {
        redlock_status st;
        uint64_t t0;
        snprintf(res, sizeof(res), "%s:lease:%" PRIu32, run->run_id, i);
        t0 = mono_ns();
        st = redlock_lease_acquire(ls->m, res, BENCH_LEASE_TTL_MS, NULL, &lo,
                                   &ls->leases[ls->held]);
        if (st != REDLOCK_OK) {
            count_failure(&ls->fails, st);
            set_error(r, "lease acquire", st);
            return -1;
        }
        bench_hist_record(ls->acq, mono_ns() - t0);
        ls->held++;
    }
    return ls->held == ls->want ? 0 : -1;
}

/* Total extensions of the held leases so far. */
static uint64_t leases_renewals(const lease_set *ls)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < ls->held; i++)
        sum += redlock_lease_renewals(ls->leases[i]);
    return sum;
}

/* Leases lost so far: the larger of the flags set and callbacks seen. */
static uint64_t leases_lost(lease_set *ls)
{
    uint64_t flagged = 0, cb = atomic_load(&ls->lost_cb);
    for (uint32_t i = 0; i < ls->held; i++)
        flagged += redlock_lease_lost(ls->leases[i]) ? 1u : 0u;
    return flagged > cb ? flagged : cb;
}

/* Stop every lease (releasing its lock), timing each stop. */
static void leases_stop(lease_set *ls)
{
    for (uint32_t i = 0; i < ls->held; i++) {
        uint64_t t0 = mono_ns();
        redlock_status st = redlock_lease_stop(ls->leases[i], NULL);
        if (st == REDLOCK_OK)
            bench_hist_record(ls->rel, mono_ns() - t0);
        else
            count_failure(&ls->fails, st);
    }
    ls->held = 0;
}

/* Free what leases_start allocated (after leases_stop). */
static void leases_free(lease_set *ls)
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
    double cpu0, cpu1, held_s;
    uint64_t ext0, ext1, t0, csw0, csw1;
    int rc = 0;

    r->threads = 1; /* the manager's one lease thread does the work */
    r->ttl_ms = BENCH_LEASE_TTL_MS;
    r->leases = cfg->leases;
    if (ls == NULL) {
        set_error(r, "setup", REDLOCK_ENOMEM);
        return -1;
    }
    ls->want = cfg->leases;
    st = make_manager(cfg, run->nodes->uris, run->nodes->n,
                      LIBRARY_RETRY, LIBRARY_RETRY, &ls->m);
    if (st != REDLOCK_OK) {
        set_error(r, "manager", st);
        free(ls);
        return -1;
    }
    rss0 = rss_kb();
    if (leases_start(run, ls, r) != 0)
        rc = -1;
    rss1 = rss_kb();
    if (ls->held > 0)
        r->rss_per_lease_b = (double)(rss1 - rss0) * 1024.0 / ls->held;

    cpu0 = cpu_seconds();
    csw0 = context_switches();
    ext0 = leases_renewals(ls);
    t0 = mono_ns();
    if (rc == 0) {
        uint64_t end = t0 + duration_ms * 1000000u;
        while (!bench_stop_requested() && mono_ns() < end) {
            uint64_t now = mono_ns();
            /* Only summed when a progress line is drawn: reading 1000
             * counters is work the CPU figure should not include. */
            if (run->progress != NULL)
                bench_progress(run->progress, "W4", run->nodes->n,
                               (double)(now - t0) / 1e9,
                               (double)duration_ms / 1000.0,
                               leases_renewals(ls) - ext0);
            sleep_ms((end - now) / 1000000u < TICK_MS
                         ? (end - now) / 1000000u + 1
                         : TICK_MS);
        }
        bench_progress_clear(run->progress);
    }
    held_s = (double)(mono_ns() - t0) / 1e9;
    cpu1 = cpu_seconds();
    csw1 = context_switches();
    ext1 = leases_renewals(ls);
    r->lost = leases_lost(ls);
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
    r->rss_kb = rss_kb();
    leases_stop(ls);
    leases_report(ls, r);
    redlock_manager_destroy(ls->m);
    leases_free(ls);
    free(ls);
    return rc;
}

/* ------------------------------------------------------------------------
 * Soak: W2 and W4 together, RSS every second, faults from a thread
 * ------------------------------------------------------------------------ */

/* How long the pause fault keeps its nodes stopped. */
#define SOAK_PAUSE_MS 2000
/* No fault is started before this point of the soak (so the start
 * figures, taken at 1 s, never see a fault's connection) ... */
#define SOAK_FAULT_FIRST_MIN_MS 2000
/* ... nor in the last stretch of it, so the end figures see the nodes and
 * the library's connections settled again. */
#define SOAK_FAULT_QUIET_END_MS 5000
/* Length of one rs_command() reply rendering we keep. */
#define SOAK_REPLY_MAX 64

/* Entries of a /proc directory, "." and ".." and the directory's own
 * descriptor left out; -1 if it cannot be read. */
static long count_dir_entries(const char *path, int self_fd_dir)
{
    DIR *d = opendir(path);
    struct dirent *e;
    long n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    /* Listing /proc/self/fd shows the descriptor opendir() used. */
    return self_fd_dir && n > 0 ? n - 1 : n;
}

/* Open file descriptors of this process. */
static long open_fds(void)
{
    return count_dir_entries("/proc/self/fd", 1);
}

/* Threads of this process. */
static long thread_count(void)
{
    return count_dir_entries("/proc/self/task", 0);
}

/* The fault injector's state, shared with the soak's driver. */
typedef struct soak_faults {
    const bench_run *run;
    bench_nodes *nodes;
    pthread_t tid;
    int started;
    atomic_int running;       /* cleared by the driver to stop it */
    uint64_t t0_ns, end_ns;   /* the soak's start and planned end */
    uint64_t interval_ms;
    bench_soak_fault *log;    /* written by the thread; read after join */
    size_t n;
} soak_faults;

/* Sleep until `until_ns` in ticks, returning early (0) if the injector is
 * asked to stop; 1 if the time was reached. */
static int faults_sleep_until(soak_faults *f, uint64_t until_ns)
{
    for (;;) {
        uint64_t now = mono_ns();
        if (!atomic_load(&f->running) || bench_stop_requested())
            return 0;
        if (now >= until_ns)
            return 1;
        sleep_ms((until_ns - now) / 1000000u < TICK_MS
                     ? (until_ns - now) / 1000000u + 1
                     : TICK_MS);
    }
}

/* Append "text" to the fault's detail (truncating quietly). */
static void fault_note(bench_soak_fault *x, const char *text)
{
    size_t used = strlen(x->detail);
    if (used + 1 < sizeof(x->detail))
        snprintf(x->detail + used, sizeof(x->detail) - used, "%s", text);
}

/* Run one command on spawned node i, noting "node<i>: <reply>" in x.
 * Returns 0 if a reply came that is not an error. */
static int fault_command(bench_nodes *nd, size_t i, bench_soak_fault *x,
                         int argc, const char **argv)
{
    char reply[SOAK_REPLY_MAX], note[SOAK_REPLY_MAX + 32];
    int rc = rs_command(&nd->srv[i], reply, sizeof(reply), argc, argv);

    /* Errors are rendered as Redis sent them: "ERR ...", "NOSCRIPT ...". */
    if (rc == 0 && (strncmp(reply, "ERR", 3) == 0 ||
                    strncmp(reply, "NOPERM", 6) == 0))
        rc = -1;
    snprintf(note, sizeof(note), "%snode%zu: %s", x->detail[0] ? "; " : "",
             i, reply);
    fault_note(x, note);
    return rc == 0 ? 0 : -1;
}

/* Inject fault number k (kind k mod 4) on the spawned nodes into x. */
static void fault_inject(soak_faults *f, size_t k, bench_soak_fault *x)
{
    bench_nodes *nd = f->nodes;
    size_t n = nd->n, quorum = n / 2 + 1, minority = (n - 1) / 2;
    size_t one = k / BENCH_FAULT_KINDS % n; /* the node this round hits */
    static const char *kill_argv[] = {"CLIENT", "KILL", "TYPE", "normal"};
    static const char *flush_argv[] = {"SCRIPT", "FLUSH"};
    static const char *sleep_argv[] = {"DEBUG", "SLEEP", "0.5"};
    char note[48];

    x->kind = (int)(k % BENCH_FAULT_KINDS);
    x->ok = 1;
    switch ((bench_fault_kind)x->kind) {
    case BENCH_FAULT_PAUSE: {
        size_t paused[BENCH_NODES_MAX], np = 0;
        if (minority == 0) {
            fault_note(x, "skipped: no minority to pause with N < 3");
            break;
        }
        for (size_t i = 0; i < minority; i++) {
            size_t idx = (one + i) % n;
            if (rs_pause(&nd->srv[idx]) == 0) {
                paused[np++] = idx;
                snprintf(note, sizeof(note), "%snode%zu SIGSTOP",
                         x->detail[0] ? "; " : "", idx);
            } else {
                x->ok = 0;
                snprintf(note, sizeof(note), "%snode%zu SIGSTOP failed",
                         x->detail[0] ? "; " : "", idx);
            }
            fault_note(x, note);
        }
        /* Always resume, also when a stop was requested meanwhile. */
        {
            uint64_t until = mono_ns() + (uint64_t)SOAK_PAUSE_MS * 1000000u;
            while (mono_ns() < until && !bench_stop_requested())
                sleep_ms(TICK_MS);
        }
        for (size_t i = 0; i < np; i++) {
            if (rs_resume(&nd->srv[paused[i]]) != 0) {
                x->ok = 0;
                fault_note(x, "; SIGCONT failed");
            }
        }
        fault_note(x, np > 0 ? "; SIGCONT after 2 s" : "");
        break;
    }
    case BENCH_FAULT_CLIENT_KILL:
        if (fault_command(nd, one, x, 4, kill_argv) != 0)
            x->ok = 0;
        fault_note(x, " clients killed");
        x->quorum_taken = 1 > n - quorum;
        break;
    case BENCH_FAULT_SCRIPT_FLUSH:
        for (size_t i = 0; i < n; i++)
            if (fault_command(nd, i, x, 2, flush_argv) != 0)
                x->ok = 0;
        break;
    case BENCH_FAULT_DEBUG_SLEEP:
        if (fault_command(nd, one, x, 3, sleep_argv) != 0)
            x->ok = 0;
        fault_note(x, " after DEBUG SLEEP 0.5");
        x->quorum_taken = 1 > n - quorum;
        break;
    case BENCH_FAULT_KINDS:
        break;
    }
}

/* The fault thread: every interval, inject the next fault, log it (at
 * once on run->log, and in f->log for the report), until stopped. Faults
 * never overlap; none starts before SOAK_FAULT_FIRST_MIN_MS or within
 * SOAK_FAULT_QUIET_END_MS of the end. */
static void *faults_thread(void *arg)
{
    soak_faults *f = arg;
    uint64_t step = f->interval_ms * 1000000u;
    uint64_t next = f->t0_ns + step;
    uint64_t first_min = f->t0_ns + (uint64_t)SOAK_FAULT_FIRST_MIN_MS *
                                         1000000u;
    uint64_t last = f->end_ns > (uint64_t)SOAK_FAULT_QUIET_END_MS * 1000000u
                        ? f->end_ns - (uint64_t)SOAK_FAULT_QUIET_END_MS *
                                          1000000u
                        : 0;

    if (next < first_min)
        next = first_min;
    while (f->n < BENCH_SOAK_FAULTS_MAX && next <= last &&
           faults_sleep_until(f, next)) {
        bench_soak_fault *x = &f->log[f->n];
        uint64_t began = mono_ns();

        memset(x, 0, sizeof(*x));
        x->t_s = (double)(began - f->t0_ns) / 1e9;
        fault_inject(f, f->n, x);
        f->n++;
        if (f->run->log != NULL) {
            bench_progress_clear(f->run->progress);
            fprintf(f->run->log, "soak N=%zu: t=%.1f s fault %s: %s%s "
                                 "(%.2f s)\n",
                    f->nodes->n, x->t_s, bench_fault_name(x->kind),
                    x->detail, x->ok ? "" : " [FAILED]",
                    (double)(mono_ns() - began) / 1e9);
            fflush(f->run->log);
        }
        next += step;
        if (next < mono_ns())
            next = mono_ns(); /* a fault outlasted the interval */
    }
    /* Stay until stopped, so the end's thread count matches the start's. */
    faults_sleep_until(f, UINT64_MAX);
    return NULL;
}

/* Start the fault thread if faults apply (spawned nodes, interval > 0),
 * noting in r why not otherwise. Returns 0, or -1 if it could not start
 * (then the soak runs without faults, r->error says so). */
static int faults_start(soak_faults *f, const bench_run *run,
                        uint64_t t0_ns, uint64_t end_ns, bench_result *r)
{
    memset(f, 0, sizeof(*f));
    f->run = run;
    f->nodes = run->nodes;
    f->t0_ns = t0_ns;
    f->end_ns = end_ns;
    f->interval_ms = run->cfg->soak_fault_ms;
    if (f->interval_ms == 0)
        return 0;
    if (!run->nodes->spawned) {
        r->faults_foreign = 1;
        return 0;
    }
    f->log = calloc(BENCH_SOAK_FAULTS_MAX, sizeof(*f->log));
    if (f->log == NULL) {
        set_error(r, "fault log", REDLOCK_ENOMEM);
        return -1;
    }
    atomic_store(&f->running, 1);
    if (pthread_create(&f->tid, NULL, faults_thread, f) != 0) {
        snprintf(r->error, sizeof(r->error), "fault thread did not start");
        free(f->log);
        f->log = NULL;
        return -1;
    }
    f->started = 1;
    r->soak_fault_ms = f->interval_ms;
    return 0;
}

/* Stop and join the fault thread, handing its log to r. */
static void faults_stop(soak_faults *f, bench_result *r)
{
    if (f->started) {
        atomic_store(&f->running, 0);
        pthread_join(f->tid, NULL);
        f->started = 0;
    }
    r->faults = f->log;
    r->faults_n = f->n;
    f->log = NULL;
    for (size_t i = 0; i < r->faults_n; i++)
        if (r->faults[i].quorum_taken)
            r->quorum_fault = 1;
}

/* The soak driver's running figures between two windows. */
typedef struct soak_window_state {
    uint64_t t_ns, cycles, ext;
} soak_window_state;

/* Close the window that began at *ws and ends now, if it is at least
 * `min_ms` long: append it to r->windows and start the next one. */
static void soak_window(bench_result *r, shared *sh, lease_set *ls,
                        uint64_t t0_ns, soak_window_state *ws,
                        uint64_t min_ms)
{
    uint64_t now = mono_ns(), cycles, ext;
    double dt = (double)(now - ws->t_ns) / 1e9;
    bench_soak_window *x;

    if (now - ws->t_ns < min_ms * 1000000u || r->windows == NULL ||
        r->windows_n >= BENCH_SOAK_WINDOWS_MAX || dt <= 0.0)
        return;
    cycles = atomic_load(&sh->progress);
    ext = leases_renewals(ls);
    x = &r->windows[r->windows_n++];
    x->t_s = (double)(now - t0_ns) / 1e9;
    x->rss_kb = rss_kb();
    x->w2_cycles_per_s = (double)(cycles - ws->cycles) / dt;
    x->w4_ext_per_s = (double)(ext - ws->ext) / dt;
    x->lost = leases_lost(ls);
    ws->t_ns = now;
    ws->cycles = cycles;
    ws->ext = ext;
}

/* Run --soak. */
int bench_run_soak(const bench_run *run, bench_result *r)
{
    const bench_config *cfg = run->cfg;
    uint32_t threads = cfg->threads != 0 ? cfg->threads
                                         : BENCH_DEFAULT_W2_THREADS;
    shared *sh = calloc(1, sizeof(*sh));
    lease_set *ls = calloc(1, sizeof(*ls));
    soak_faults *f = calloc(1, sizeof(*f));
    worker *w = NULL;
    uint32_t started = 0;
    uint64_t t0, end, ext0, next_sample, warm_at;
    soak_window_state ws;
    long rss_before;
    double cpu0;
    redlock_status st;
    int rc = 0;

    bench_result_init(r, BENCH_SOAK, run->nodes->n);
    r->threads = threads;
    r->leases = cfg->leases;
    r->ttl_ms = BENCH_LEASE_TTL_MS;
    if (sh == NULL || ls == NULL || f == NULL) {
        free(sh);
        free(ls);
        free(f);
        set_error(r, "setup", REDLOCK_ENOMEM);
        return -1;
    }
    sh->run = run;
    sh->ttl_ms = cfg->ttl_ms;
    atomic_store(&sh->running, 1);
    st = make_manager(cfg, run->nodes->uris, run->nodes->n,
                      LIBRARY_RETRY, LIBRARY_RETRY, &sh->m);
    if (st != REDLOCK_OK) {
        set_error(r, "manager", st);
        free(sh);
        free(ls);
        free(f);
        return -1;
    }
    ls->m = sh->m;
    ls->want = cfg->leases;
    rss_before = rss_kb();
    if (leases_start(run, ls, r) != 0)
        rc = -1;
    if (ls->held > 0)
        r->rss_per_lease_b =
            (double)(rss_kb() - rss_before) * 1024.0 / ls->held;
    w = rc == 0 ? workers_new(sh, threads) : NULL;
    if (rc == 0 && w == NULL) {
        set_error(r, "setup", REDLOCK_ENOMEM);
        rc = -1;
    }
    cpu0 = cpu_seconds();
    ext0 = leases_renewals(ls);
    t0 = mono_ns();
    end = t0 + cfg->soak_ms * 1000000u;
    if (rc == 0) {
        r->rss_samples_kb =
            calloc(BENCH_RSS_SAMPLES_MAX, sizeof(*r->rss_samples_kb));
        r->heap_samples_kb =
            calloc(BENCH_RSS_SAMPLES_MAX, sizeof(*r->heap_samples_kb));
        r->windows = calloc(BENCH_SOAK_WINDOWS_MAX, sizeof(*r->windows));
        started = workers_start(w, threads, cycle_thread);
        if (started < threads) {
            snprintf(r->error, sizeof(r->error),
                     "only %" PRIu32 " of %" PRIu32 " threads started",
                     started, threads);
            rc = -1;
        }
    }
    if (rc == 0) {
        if (faults_start(f, run, t0, end, r) != 0)
            rc = -1; /* the soak still runs, without faults */
        if (run->log != NULL) {
            bench_progress_clear(run->progress);
            if (r->faults_foreign)
                fprintf(run->log, "soak N=%zu: %.0f s; no faults: the "
                                  "nodes were given with --node\n",
                        run->nodes->n, (double)cfg->soak_ms / 1000.0);
            else if (r->soak_fault_ms > 0)
                fprintf(run->log, "soak N=%zu: %.0f s; a fault every %.1f "
                                  "s\n",
                        run->nodes->n, (double)cfg->soak_ms / 1000.0,
                        (double)r->soak_fault_ms / 1000.0);
            else
                fprintf(run->log, "soak N=%zu: %.0f s; no faults\n",
                        run->nodes->n, (double)cfg->soak_ms / 1000.0);
            fflush(run->log);
        }
        ws.t_ns = t0;
        ws.cycles = atomic_load(&sh->progress);
        ws.ext = ext0;
        next_sample = t0 + 1000000000u;
        r->rss_base_ms = bench_soak_base_ms(
            cfg->soak_ms, r->faults_foreign ? 0 : r->soak_fault_ms);
        warm_at = t0 + r->rss_base_ms * 1000000u;
        while (!bench_stop_requested() && mono_ns() < end) {
            uint64_t now = mono_ns();
            if (now >= next_sample) {
                /* The first sample, after a second of warm-up (thread
                 * stacks, arenas, connections), is the start; the latest
                 * the end. */
                r->rss_end_kb = rss_kb();
                if (r->rss_samples_kb != NULL &&
                    r->heap_samples_kb != NULL &&
                    r->rss_samples < BENCH_RSS_SAMPLES_MAX) {
                    r->heap_samples_kb[r->rss_samples] = heap_in_use_kb();
                    r->rss_samples_kb[r->rss_samples++] = r->rss_end_kb;
                }
                if (r->rss_start_kb == 0) {
                    r->rss_start_kb = r->rss_end_kb;
                    r->fds_start = open_fds();
                    r->threads_start = thread_count();
                }
                if (r->rss_warm_kb == 0 && now >= warm_at) {
                    r->rss_warm_kb =
                        rss_trimmed_kb(&r->rss_warm_untrimmed_kb);
                    r->heap_warm_kb = heap_in_use_kb();
                }
                next_sample += 1000000000u;
            }
            if (now - ws.t_ns >= (uint64_t)BENCH_SOAK_WINDOW_MS * 1000000u)
                soak_window(r, sh, ls, t0, &ws, BENCH_SOAK_WINDOW_MS);
            bench_progress(run->progress, "SOAK", run->nodes->n,
                           (double)(now - t0) / 1e9,
                           (double)cfg->soak_ms / 1000.0,
                           atomic_load(&sh->progress));
            sleep_ms(TICK_MS);
        }
        bench_progress_clear(run->progress);
        /* The end figures, with the workers and the (idle) fault thread
         * still there, as they were for the start figures. */
        soak_window(r, sh, ls, t0, &ws, 1000u);
        r->rss_end_kb = rss_trimmed_kb(&r->rss_end_untrimmed_kb);
        r->heap_end_kb = heap_in_use_kb();
        r->fds_end = open_fds();
        r->threads_end = thread_count();
        if (r->rss_start_kb == 0) {
            r->rss_start_kb = r->rss_end_kb;
            r->fds_start = r->fds_end;
            r->threads_start = r->threads_end;
        }
        if (r->rss_warm_kb == 0) {
            r->rss_warm_kb = r->rss_start_kb; /* shorter than the warm-up */
            r->rss_warm_untrimmed_kb = r->rss_start_kb;
            r->heap_warm_kb = r->heap_samples_kb != NULL &&
                                      r->rss_samples > 0
                                  ? r->heap_samples_kb[0]
                                  : r->heap_end_kb;
            r->rss_base_ms = 1000u;
        }
    }
    faults_stop(f, r);
    workers_join(sh, w, started);
    r->duration_s = (double)(mono_ns() - t0) / 1e9;
    r->cpu_s = cpu_seconds() - cpu0;
    r->extensions = leases_renewals(ls) - ext0;
    r->lost = leases_lost(ls);
    if (w != NULL)
        workers_collect(w, threads, r); /* W2's cycles and latencies */
    if (r->duration_s > 0.0) {
        r->cycles_per_s = (double)r->cycles / r->duration_s;
        r->extensions_per_s = (double)r->extensions / r->duration_s;
    }
    if (ls->held > 0)
        r->rss_growth_per_lease_b =
            (double)(r->rss_end_kb - r->rss_start_kb) * 1024.0 / ls->held;
    r->rss_kb = rss_kb();
    leases_stop(ls);
    r->fail_taken += ls->fails.taken;
    r->fail_quorum += ls->fails.quorum;
    r->fail_other += ls->fails.other;
    leases_free(ls);
    redlock_manager_destroy(sh->m);
    free(ls);
    free(sh);
    free(f);
    return rc;
}

/* ------------------------------------------------------------------------
 * W5: failover between candidate processes
 * ------------------------------------------------------------------------ */

/* The candidate processes of one W5 run and the pipe they report on. */
typedef struct w5 {
    const bench_run *run;
    int rfd, wfd;               /* pipe: candidates write, we read */
    pid_t pids[W5_CANDIDATES_MAX];
    size_t npids;
    char name[RES_MAX];
    char buf[512];              /* partial line from the pipe */
    size_t buflen;
    const char *argv[32 + 2 * BENCH_NODES_MAX];
    char fdstr[16], ttlstr[16], delaystr[16], jitterstr[16], guardstr[16];
} w5;

/* Build the argv of a candidate: this program in --candidate-fd mode. */
static void w5_argv(w5 *x)
{
    const bench_config *cfg = x->run->cfg;
    size_t i = 0;

    snprintf(x->fdstr, sizeof(x->fdstr), "%d", x->wfd);
    snprintf(x->ttlstr, sizeof(x->ttlstr), "%" PRIu32 "ms",
             cfg->election_ttl_ms);
    snprintf(x->delaystr, sizeof(x->delaystr), "%" PRIu32 "ms",
             cfg->retry_delay_ms);
    snprintf(x->jitterstr, sizeof(x->jitterstr), "%" PRIu32 "ms",
             cfg->retry_jitter_ms);
    if (cfg->restart_guard_ms == REDLOCK_RESTART_GUARD_AUTO)
        snprintf(x->guardstr, sizeof(x->guardstr), "auto");
    else
        snprintf(x->guardstr, sizeof(x->guardstr), "%" PRIu32 "ms",
                 cfg->restart_guard_ms);
    x->argv[i++] = x->run->self_exe;
    x->argv[i++] = "--candidate-fd";
    x->argv[i++] = x->fdstr;
    x->argv[i++] = "--election";
    x->argv[i++] = x->name;
    x->argv[i++] = "--election-ttl";
    x->argv[i++] = x->ttlstr;
    x->argv[i++] = "--retry-delay";
    x->argv[i++] = x->delaystr;
    x->argv[i++] = "--retry-jitter";
    x->argv[i++] = x->jitterstr;
    x->argv[i++] = "--restart-guard";
    x->argv[i++] = x->guardstr;
    x->argv[i++] = "--key-prefix";
    x->argv[i++] = cfg->key_prefix;
    /* The bench's TLS settings, as flags: they win over the variables
     * the candidate inherits. */
    if (cfg->tls.ca_file != NULL || cfg->tls.ca_dir != NULL) {
        x->argv[i++] = "--tls-ca";
        x->argv[i++] = cfg->tls.ca_file != NULL ? cfg->tls.ca_file
                                                : cfg->tls.ca_dir;
    }
    if (cfg->tls.cert_file != NULL) {
        x->argv[i++] = "--tls-cert";
        x->argv[i++] = cfg->tls.cert_file;
        x->argv[i++] = "--tls-key";
        x->argv[i++] = cfg->tls.key_file;
    }
    if (cfg->tls.insecure)
        x->argv[i++] = "--tls-insecure";
    for (size_t k = 0; k < x->run->nodes->n; k++) {
        x->argv[i++] = "--node";
        x->argv[i++] = x->run->nodes->uris[k];
    }
    x->argv[i] = NULL;
}

/* Start one candidate process. Between fork and exec only async-signal-
 * safe calls are made. Returns its pid, or -1. */
static pid_t w5_spawn(w5 *x)
{
    pid_t parent = getpid(), pid;

    if (x->npids == W5_CANDIDATES_MAX)
        return -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        sigset_t none;
        /* Die with the bench, even if it is SIGKILLed. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* The write end is close-on-exec in the bench; keep it here. */
        if (fcntl(x->wfd, F_SETFD, 0) != 0)
            _exit(127);
        execv(x->run->self_exe, (char *const *)x->argv);
        _exit(127);
    }
    x->pids[x->npids++] = pid;
    return pid;
}

/* Forget pid (after it was reaped). */
static void w5_forget(w5 *x, pid_t pid)
{
    for (size_t i = 0; i < x->npids; i++) {
        if (x->pids[i] == pid) {
            x->pids[i] = x->pids[--x->npids];
            return;
        }
    }
}

/*
 * Read the pipe until deadline_ns (absolute, monotonic) or until a
 * candidate other than `exclude` reports "E <pid>". Lines "D <pid>" (a
 * demotion) clear *leader when they name it. Returns the new leader's
 * pid, or 0 at the deadline or on a stop request. With until_deadline set
 * it keeps reading to the deadline and returns the leader then.
 */
static pid_t w5_wait(w5 *x, pid_t exclude, uint64_t deadline_ns,
                     pid_t *leader, int until_deadline)
{
    for (;;) {
        char *nl;
        uint64_t now = mono_ns();
        struct pollfd pfd = {x->rfd, POLLIN, 0};
        int timeout;

        while ((nl = memchr(x->buf, '\n', x->buflen)) != NULL) {
            char kind = x->buf[0];
            long pid = 0;
            char *end;
            *nl = '\0';
            if (x->buflen > 2) {
                errno = 0;
                pid = strtol(x->buf + 2, &end, 10);
                if (errno != 0 || end == x->buf + 2)
                    pid = 0;
            }
            x->buflen -= (size_t)(nl + 1 - x->buf);
            memmove(x->buf, nl + 1, x->buflen);
            if (kind == 'E' && pid > 0) {
                *leader = (pid_t)pid;
                if ((pid_t)pid != exclude && !until_deadline)
                    return (pid_t)pid;
            } else if (kind == 'D' && pid > 0 && *leader == (pid_t)pid) {
                *leader = 0;
            }
        }
        if (now >= deadline_ns || bench_stop_requested())
            return until_deadline ? *leader : 0;
        timeout = (int)((deadline_ns - now) / 1000000u) + 1;
        if (timeout > TICK_MS)
            timeout = TICK_MS;
        if (poll(&pfd, 1, timeout) > 0) {
            ssize_t n = read(x->rfd, x->buf + x->buflen,
                             sizeof(x->buf) - 1 - x->buflen);
            if (n > 0)
                x->buflen += (size_t)n;
            if (x->buflen == sizeof(x->buf) - 1)
                x->buflen = 0; /* garbage: no line fits; drop it */
        }
    }
}

/* Ask every candidate to stop (SIGTERM: it resigns and exits), give them
 * W5_STOP_GRACE_MS, then SIGKILL and reap the rest. */
static void w5_stop_all(w5 *x)
{
    uint64_t deadline = mono_ns() + (uint64_t)W5_STOP_GRACE_MS * 1000000u;

    for (size_t i = 0; i < x->npids; i++)
        kill(x->pids[i], SIGTERM);
    /* Reap only our candidates: the spawned redis-servers are children of
     * this process too, and belong to redis_spawn. */
    while (x->npids > 0 && mono_ns() < deadline) {
        int reaped = 0;
        for (size_t i = 0; i < x->npids; i++) {
            if (waitpid(x->pids[i], NULL, WNOHANG) == x->pids[i]) {
                w5_forget(x, x->pids[i]);
                reaped = 1;
                break;
            }
        }
        if (!reaped)
            sleep_ms(10);
    }
    for (size_t i = 0; i < x->npids; i++) {
        kill(x->pids[i], SIGKILL);
        waitpid(x->pids[i], NULL, 0);
    }
    x->npids = 0;
}

/* Run W5. */
static int run_failover(const bench_run *run, uint64_t duration_ms,
                        bench_result *r)
{
    const bench_config *cfg = run->cfg;
    uint64_t ttl_ns = (uint64_t)cfg->election_ttl_ms * 1000000u;
    uint64_t t0, end, hard_end;
    bench_hist *h = bench_hist_new();
    w5 *x = calloc(1, sizeof(*x));
    pid_t leader = 0;
    int fds[2], rc = 0;
    unsigned seed = (unsigned)getpid() ^ (unsigned)mono_ns();

    r->threads = cfg->candidates;
    r->candidates = cfg->candidates;
    r->ttl_ms = cfg->election_ttl_ms;
    r->has_retry = 1;
    r->retry_delay_ms = cfg->retry_delay_ms;
    r->retry_jitter_ms = cfg->retry_jitter_ms;
    if (h == NULL || x == NULL) {
        free(h);
        free(x);
        set_error(r, "setup", REDLOCK_ENOMEM);
        return -1;
    }
    if (run->self_exe == NULL || pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(r->error, sizeof(r->error), "cannot start candidates: %s",
                 run->self_exe == NULL ? "own path unknown" : strerror(errno));
        free(h);
        free(x);
        return -1;
    }
    x->run = run;
    x->rfd = fds[0];
    x->wfd = fds[1];
    fcntl(x->rfd, F_SETFL, fcntl(x->rfd, F_GETFL) | O_NONBLOCK);
    snprintf(x->name, sizeof(x->name), "%s:w5", run->run_id);
    w5_argv(x);
    for (uint32_t i = 0; i < cfg->candidates; i++) {
        if (w5_spawn(x) < 0) {
            snprintf(r->error, sizeof(r->error), "fork: %s",
                     strerror(errno));
            rc = -1;
            goto out;
        }
    }
    if (w5_wait(x, 0, mono_ns() + (uint64_t)W5_FIRST_LEADER_MS * 1000000u +
                          ttl_ns,
                &leader, 0) == 0) {
        if (!bench_stop_requested()) {
            snprintf(r->error, sizeof(r->error), "no leader elected");
            rc = -1;
        }
        goto out;
    }
    t0 = mono_ns();
    end = t0 + duration_ms * 1000000u;
    hard_end = end + 20 * ttl_ns + (uint64_t)W5_NEW_LEADER_EXTRA_MS * 1000000u;
    while (!bench_stop_requested()) {
        uint64_t now = mono_ns(), hold, t_kill, got;
        pid_t victim, next;
        if ((now >= end && r->failovers > 0) || now >= hard_end)
            break;
        /* Let the leader hold for one to two TTLs, so kills land at every
         * phase of its renewal cycle. */
        hold = ttl_ns + (uint64_t)(rand_r(&seed) % 1000) * (ttl_ns / 1000u);
        w5_wait(x, 0, now + hold, &leader, 1);
        bench_progress(run->progress, "W5", run->nodes->n,
                       (double)(mono_ns() - t0) / 1e9,
                       (double)duration_ms / 1000.0, r->failovers);
        if (bench_stop_requested())
            break;
        if (leader == 0) {
            /* Lost its lease on its own; wait for whoever comes next. */
            w5_wait(x, 0, mono_ns() + 10 * ttl_ns, &leader, 0);
            continue;
        }
        victim = leader;
        kill(victim, SIGKILL);
        t_kill = mono_ns();
        waitpid(victim, NULL, 0);
        w5_forget(x, victim);
        leader = 0;
        if (w5_spawn(x) < 0) {
            snprintf(r->error, sizeof(r->error), "fork: %s",
                     strerror(errno));
            rc = -1;
            break;
        }
        next = w5_wait(x, victim,
                       t_kill + 10 * ttl_ns +
                           (uint64_t)W5_NEW_LEADER_EXTRA_MS * 1000000u,
                       &leader, 0);
        got = mono_ns();
        if (next == 0) {
            if (!bench_stop_requested()) {
                snprintf(r->error, sizeof(r->error),
                         "no new leader within 10 TTL after a kill");
                rc = -1;
            }
            break;
        }
        bench_hist_record(h, got - t_kill);
        r->failovers++;
    }
    bench_progress_clear(run->progress);
    r->duration_s = (double)(mono_ns() - t0) / 1e9;
out:
    w5_stop_all(x);
    close(x->rfd);
    close(x->wfd);
    r->cycles = r->failovers;
    if (r->duration_s > 0.0)
        r->cycles_per_s = (double)r->failovers / r->duration_s;
    if (h->count > 0) {
        double ttl_ms = (double)cfg->election_ttl_ms;
        r->failover_ms_p50 = (double)bench_hist_percentile(h, 50.0) / 1e6;
        r->failover_ms_max = (double)h->max / 1e6;
        r->failover_ttl_p50 = r->failover_ms_p50 / ttl_ms;
        r->failover_ttl_max = r->failover_ms_max / ttl_ms;
    }
    r->rss_kb = rss_kb();
    free(h);
    free(x);
    return rc;
}

/* ------------------------------------------------------------------------
 * The W5 candidate process
 * ------------------------------------------------------------------------ */

/* Set by SIGTERM/SIGINT in a candidate: resign and exit. */
static volatile sig_atomic_t candidate_stop;

/* Signal handler of the candidate. */
static void candidate_signal(int sig)
{
    (void)sig;
    candidate_stop = 1;
}

/* Write one report line to the bench (a single write below PIPE_BUF is
 * atomic, so lines from several candidates never interleave). */
static void candidate_report(int fd, char kind)
{
    char line[32];
    int n = snprintf(line, sizeof(line), "%c %ld\n", kind, (long)getpid());
    if (n > 0 && write(fd, line, (size_t)n) < 0)
        candidate_stop = 1; /* the bench is gone */
}

/* on_elected: tell the bench. */
static void candidate_elected(redlock_election *e, uint64_t fence,
                              void *userdata)
{
    (void)e;
    (void)fence;
    candidate_report(*(int *)userdata, 'E');
}

/* on_demoted: tell the bench. */
static void candidate_demoted(redlock_election *e, redlock_status why,
                              void *userdata)
{
    (void)e;
    (void)why;
    candidate_report(*(int *)userdata, 'D');
}

/* Campaign until told to stop; see bench.h. */
int bench_candidate_main(const bench_config *cfg, int fd, const char *name)
{
    redlock_election_callbacks cb = {candidate_elected, candidate_demoted};
    redlock_manager *m = NULL;
    redlock_election *e = NULL;
    struct sigaction sa;
    redlock_status st;
    int fdv = fd;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = candidate_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fcntl(fd, F_SETFD, FD_CLOEXEC);

    st = make_manager(cfg, cfg->node_uris, cfg->node_uri_count,
                      cfg->retry_delay_ms, cfg->retry_jitter_ms, &m);
    if (st != REDLOCK_OK) {
        fprintf(stderr, "redlock-bench candidate: manager: %s\n",
                redlock_strerror(st));
        return 1;
    }
    st = redlock_election_start(m, name, cfg->election_ttl_ms, &cb, &fdv,
                                &e);
    if (st != REDLOCK_OK) {
        fprintf(stderr, "redlock-bench candidate: election: %s\n",
                redlock_strerror(st));
        redlock_manager_destroy(m);
        return 1;
    }
    while (!candidate_stop) {
        /* POLLERR/POLLHUP on the write end: the bench closed the pipe. */
        struct pollfd pfd = {fd, 0, 0};
        if (poll(&pfd, 1, TICK_MS) > 0 &&
            (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
            break;
    }
    redlock_election_destroy(e);
    redlock_manager_destroy(m);
    return 0;
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
        return run_failover(run, duration_ms, out);
    default:
        snprintf(out->error, sizeof(out->error), "unknown workload");
        return -1;
    }
}
