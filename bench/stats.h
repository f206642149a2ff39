/*
 * stats.h: the pure arithmetic behind two of redlock-bench's figures, kept
 * apart from sockets and threads so the unit tests can drive it alone
 * (tests/unit/test_bench_stats.c):
 *  - the quorum tally of the inline fan-out limit L1q (limit_inline.c):
 *    which reply of a round completes the quorum, and when a quorum can
 *    no longer come;
 *  - the hand-over gap of W3/W3P (workloads.c): from the moment one
 *    holder's release returned to the moment the next holder's grant
 *    returned.
 *
 * DESIGN
 * The hand-over gap pairs hold k's release with hold k + 1's grant. Holds
 * are numbered by the critical section itself (the shared counter the
 * holder reads while it owns the lock), so the pairing needs no clock
 * ordering between threads. The two sides arrive on different threads in
 * either order: the next grant can return before the previous release
 * does, because the library lets the next holder in once a quorum has
 * deleted the key while the releaser may still be waiting for its last
 * replies. Each side stores its timestamp in the pair's slot and then
 * increments the slot's count; the side that sees it was second records
 * the gap, into its own thread's histogram, and clears the slot for
 * reuse. A grant that returned before its release did is a gap of 0 and
 * is counted as "early". Rejected: a mutex around a shared histogram (a
 * lock taken by every holder right after its grant would lengthen the
 * very gap it measures), and "the first grant after the last release"
 * read from one shared timestamp (a grant that beat the releaser's store
 * would be paired with the wrong release).
 */
#ifndef REDLOCK_BENCH_STATS_H
#define REDLOCK_BENCH_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"

/* ------------------------------------------------------------------------
 * Quorum tally (L1q)
 * ------------------------------------------------------------------------ */

/* The quorum of n nodes: n / 2 + 1 (n >= 1). */
size_t bench_quorum(size_t n);

/* The replies of one round of a fan-out to n nodes. */
typedef struct bench_tally {
    size_t n;        /* nodes asked */
    size_t ok;       /* replies that granted (OK) */
    size_t answered; /* replies of any kind */
} bench_tally;

/* What one reply did to the round. */
typedef enum bench_tally_event {
    BENCH_TALLY_PENDING = 0, /* no decision yet, or decided before */
    BENCH_TALLY_QUORUM,      /* this reply completed the quorum */
    BENCH_TALLY_NO_QUORUM    /* this reply made a quorum impossible */
} bench_tally_event;

/* Start a round to n nodes. */
void bench_tally_init(bench_tally *t, size_t n);

/* Count one reply (ok: 1 if it granted). Returns the event it caused;
 * QUORUM and NO_QUORUM each happen at most once per round, and never
 * both. Replies beyond n are ignored (PENDING). */
bench_tally_event bench_tally_note(bench_tally *t, int ok);

/* 1 once every node of the round answered. */
int bench_tally_done(const bench_tally *t);

/* Client CPU per iteration in microseconds: cpu_s over iters (0 if
 * iters is 0). */
double bench_cpu_us_per_iter(double cpu_s, uint64_t iters);

/* ------------------------------------------------------------------------
 * Hand-over gap (W3, W3P)
 * ------------------------------------------------------------------------ */

/* Record the gap from a release that returned at rel_ns to the next
 * grant, returned at grant_ns (nanoseconds, one clock), in h; a grant that
 * returned first is recorded as 0 and counted in *early. */
void bench_handover_record(bench_hist *h, uint64_t *early, uint64_t rel_ns,
                           uint64_t grant_ns);

/* From whole arrays: rel[k] and grant[k] are when hold k's release and
 * grant returned (0: unknown), k < n. Records the gap rel[k] ->
 * grant[k + 1] for every k with both known. Returns the gaps recorded. */
size_t bench_handover_gaps(const uint64_t *rel, const uint64_t *grant,
                           size_t n, bench_hist *h, uint64_t *early);

/* One pair of a ring shared by the holders: slot k % ring_n pairs hold
 * k's release with hold k + 1's grant. Zeroed before use. */
typedef struct bench_handover_slot {
    atomic_uint_fast64_t rel_ns;
    atomic_uint_fast64_t grant_ns;
    atomic_uint parts; /* sides stored so far: 0, 1 */
} bench_handover_slot;

/* Hold `hold`'s release returned at rel_ns: store it; if the next grant
 * is already there, record the gap into h / *early (the caller's own)
 * and free the slot. Thread-safe against the matching grant side. */
void bench_handover_release(bench_handover_slot *ring, size_t ring_n,
                            uint64_t hold, uint64_t rel_ns, bench_hist *h,
                            uint64_t *early);

/* Hold `hold`'s grant returned at grant_ns (hold >= 1; hold 0 has no
 * release before it and is ignored): as bench_handover_release(), for the
 * other side of pair hold - 1. */
void bench_handover_grant(bench_handover_slot *ring, size_t ring_n,
                          uint64_t hold, uint64_t grant_ns, bench_hist *h,
                          uint64_t *early);

#endif /* REDLOCK_BENCH_STATS_H */
