/*
 * stats.c: the quorum tally of L1q and the hand-over gap of W3; see
 * stats.h for the design (why the pairing goes by hold number, why the
 * second side records).
 *
 * DESIGN
 * Pure functions over plain counters, histograms and a ring of atomics;
 * no clock is read here (callers pass timestamps), so every path can be
 * replayed by a unit test with made-up times.
 */
#include "stats.h"

/* ------------------------------------------------------------------------
 * Quorum tally
 * ------------------------------------------------------------------------ */

size_t bench_quorum(size_t n)
{
    return n / 2 + 1;
}

void bench_tally_init(bench_tally *t, size_t n)
{
    t->n = n;
    t->ok = 0;
    t->answered = 0;
}

bench_tally_event bench_tally_note(bench_tally *t, int ok)
{
    size_t q = bench_quorum(t->n);
    size_t bad_before, bad_now;

    if (t->answered >= t->n)
        return BENCH_TALLY_PENDING;
    bad_before = t->answered - t->ok;
    t->answered++;
    if (ok) {
        t->ok++;
        return t->ok == q ? BENCH_TALLY_QUORUM : BENCH_TALLY_PENDING;
    }
    /* A quorum is impossible once more than n - q nodes refused. */
    bad_now = bad_before + 1;
    return (bad_now == t->n - q + 1 && t->ok < q) ? BENCH_TALLY_NO_QUORUM
                                                  : BENCH_TALLY_PENDING;
}

int bench_tally_done(const bench_tally *t)
{
    return t->answered >= t->n;
}

double bench_cpu_us_per_iter(double cpu_s, uint64_t iters)
{
    return iters > 0 ? cpu_s * 1e6 / (double)iters : 0.0;
}

/* ------------------------------------------------------------------------
 * Hand-over gap
 * ------------------------------------------------------------------------ */

void bench_handover_record(bench_hist *h, uint64_t *early, uint64_t rel_ns,
                           uint64_t grant_ns)
{
    if (grant_ns < rel_ns) {
        (*early)++;
        bench_hist_record(h, 0);
        return;
    }
    bench_hist_record(h, grant_ns - rel_ns);
}

size_t bench_handover_gaps(const uint64_t *rel, const uint64_t *grant,
                           size_t n, bench_hist *h, uint64_t *early)
{
    size_t gaps = 0;

    for (size_t k = 0; k + 1 < n; k++) {
        if (rel[k] == 0 || grant[k + 1] == 0)
            continue;
        bench_handover_record(h, early, rel[k], grant[k + 1]);
        gaps++;
    }
    return gaps;
}

/* The side arriving second finds parts == 1 (the first side's timestamp
 * is visible: its store precedes its increment, which the acq_rel
 * increment here reads), records the gap and clears the slot. */
static void handover_side(bench_handover_slot *s, bench_hist *h,
                          uint64_t *early)
{
    if (atomic_fetch_add_explicit(&s->parts, 1, memory_order_acq_rel) == 0)
        return;
    bench_handover_record(h, early,
                          atomic_load_explicit(&s->rel_ns,
                                               memory_order_relaxed),
                          atomic_load_explicit(&s->grant_ns,
                                               memory_order_relaxed));
    atomic_store_explicit(&s->rel_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&s->grant_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&s->parts, 0, memory_order_release);
}

void bench_handover_release(bench_handover_slot *ring, size_t ring_n,
                            uint64_t hold, uint64_t rel_ns, bench_hist *h,
                            uint64_t *early)
{
    bench_handover_slot *s = &ring[hold % ring_n];

    atomic_store_explicit(&s->rel_ns, rel_ns, memory_order_relaxed);
    handover_side(s, h, early);
}

void bench_handover_grant(bench_handover_slot *ring, size_t ring_n,
                          uint64_t hold, uint64_t grant_ns, bench_hist *h,
                          uint64_t *early)
{
    bench_handover_slot *s;

    if (hold == 0)
        return;
    s = &ring[(hold - 1) % ring_n];
    atomic_store_explicit(&s->grant_ns, grant_ns, memory_order_relaxed);
    handover_side(s, h, early);
}
