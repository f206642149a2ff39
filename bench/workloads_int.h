/*
 * workloads_int.h: what the workload files of redlock-bench share
 * (workloads.c: W1-W4 and the dispatch; soak.c: --soak; failover.c: W5
 * and its candidate process; parallel_async.c: W2A). Not part of
 * bench.h: nothing outside these four files needs it.
 *
 * DESIGN
 * workloads.c owns the pieces the others build on: the clocks and process
 * figures, the manager every workload creates, the worker threads with
 * their per-thread histograms (W1-W3P, and W2 inside the soak) and the
 * lease set (W4, and W4 inside the soak). The soak and W5 were part of
 * workloads.c until it reached 1,700 lines; they moved out unchanged, and
 * what they used from it is declared here with a wl_ prefix (cross-file
 * internal), everything else stays static in its file. Rejected: one
 * header per piece (clock, workers, leases) - three tiny headers for
 * three files that always include all of them.
 */
#ifndef REDLOCK_BENCH_WORKLOADS_INT_H
#define REDLOCK_BENCH_WORKLOADS_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include <pthread.h>

#include "bench.h"
#include "redlock.h"
#include "stats.h"

/* How often a driver wakes to redraw progress and check the clock. */
#define TICK_MS 100
/* Pause after a failure that is not contention (nodes down), so a dead
 * cluster does not turn the bench into a busy loop. */
#define FAIL_PAUSE_MS 1
/* Longest resource name the bench builds. */
#define RES_MAX 96
/* Retry policy argument of wl_make_manager(): keep the library's
 * defaults. */
#define LIBRARY_RETRY UINT32_MAX

/* ------------------------------------------------------------------------
 * Clocks and process figures
 * ------------------------------------------------------------------------ */

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t wl_mono_ns(void);
/* Sleep ms milliseconds (a signal may cut it short; callers loop). */
void wl_sleep_ms(uint64_t ms);
/* Process CPU time (user + system, all threads) in seconds. */
double wl_cpu_seconds(void);
/* Context switches (voluntary + involuntary) of the whole process. */
uint64_t wl_context_switches(void);
/* glibc's bytes in use (mallinfo2: uordblks + hblkhd, every arena), in
 * bytes; -1 where glibc cannot tell. */
long long wl_heap_in_use_b(void);
/* The same in KiB (-1: unknown). */
long wl_heap_in_use_kb(void);
/* Live bytes per lease: (after - before) / held, from two readings of
 * wl_heap_in_use_b() around taking the leases; -1 if unknown. Unlike RSS
 * it does not depend on what earlier workloads left in the allocator. */
double wl_heap_per_lease_b(long long before, long long after, uint32_t held);
/* Current resident set in KiB, or 0. */
long wl_rss_kb(void);

/* Write "what: status" into r->error. */
void wl_set_error(bench_result *r, const char *what, redlock_status st);

/* Create a manager on uris with the bench's key prefix, TLS settings and
 * the given retry policy (LIBRARY_RETRY: the library's). Returns the
 * status; *out is NULL on failure. */
redlock_status wl_make_manager(const bench_config *cfg,
                               const char *const *uris, size_t n,
                               uint32_t delay_ms, uint32_t jitter_ms,
                               redlock_manager **out);

/* ------------------------------------------------------------------------
 * Worker threads (W1, W2, W3, W3P, soak)
 * ------------------------------------------------------------------------ */

/* Holds the W3 hand-over ring spans (stats.h): slot k pairs hold k's
 * release with hold k + 1's grant, which cannot be HANDOVER_RING holds
 * later, since hold k + 1 needs hold k's key gone. */
#define HANDOVER_RING 1024u

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
    int poll;                        /* W3P: one attempt per call, and the
                                        client sleeps retry_delay_ms between
                                        calls (a polling client: it gets no
                                        wake-ups, unlike the library's own
                                        retries) */
    atomic_int inside;               /* threads in the critical section */
    atomic_uint_fast64_t counter;    /* incremented load-then-store */
    bench_handover_slot handover[HANDOVER_RING]; /* W3: release -> grant */
} shared;

/* One worker: its thread, histograms and counters (owned by it until
 * joined). */
typedef struct worker {
    shared *sh;
    pthread_t tid;
    int started;
    bench_hist *acq, *rel, *gap;   /* gap: W3 hand-overs it recorded */
    uint64_t cycles, taken, quorum, other, violations;
    uint64_t early;                 /* W3: grants before the release */
} worker;

/* Count a failed call in its class: taken, quorum, or other. */
void wl_count_failure(worker *w, redlock_status st);
/* W1/W2 worker: acquire a fresh key (one attempt), release it, repeat. */
void *wl_cycle_thread(void *arg);
/* Allocate n workers with their histograms; NULL if out of memory. */
worker *wl_workers_new(shared *sh, uint32_t n);
/* Merge n joined workers into r (histograms, counters), then free them. */
void wl_workers_collect(worker *w, uint32_t n, bench_result *r);
/* Start n workers running fn. Returns how many started. */
uint32_t wl_workers_start(worker *w, uint32_t n, void *(*fn)(void *));
/* Stop and join the workers that started. */
void wl_workers_join(shared *sh, worker *w, uint32_t n);

/* ------------------------------------------------------------------------
 * Lease sets (W4, soak)
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

/* Acquire ls->want leases "<run-id>:lease:<i>" with TTL 1000 ms. Returns
 * 0 if all were taken, -1 otherwise (r->error says why). */
int wl_leases_start(const bench_run *run, lease_set *ls, bench_result *r);
/* Total extensions of the held leases so far. */
uint64_t wl_leases_renewals(const lease_set *ls);
/* Leases lost so far: the larger of the flags set and callbacks seen. */
uint64_t wl_leases_lost(lease_set *ls);
/* Stop every lease (releasing its lock), timing each stop. */
void wl_leases_stop(lease_set *ls);
/* Free what wl_leases_start allocated (after wl_leases_stop). */
void wl_leases_free(lease_set *ls);

/* ------------------------------------------------------------------------
 * failover.c
 * ------------------------------------------------------------------------ */

/* Run W5 for duration_ms into r. Returns 0, or -1 (r->error says why). */
int wl_run_failover(const bench_run *run, uint64_t duration_ms,
                    bench_result *r);

/* ------------------------------------------------------------------------
 * parallel_async.c
 * ------------------------------------------------------------------------ */

/* Run W2A for duration_ms into r: W2's cycles from the calling thread
 * alone, k of them in flight through one completion queue. Returns 0, or
 * -1 (r->error says why). */
int wl_run_parallel_async(const bench_run *run, uint32_t k,
                          uint64_t duration_ms, bench_result *r);

#endif /* REDLOCK_BENCH_WORKLOADS_INT_H */
