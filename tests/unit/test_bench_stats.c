/*
 * test_bench_stats.c: the pure parts of two bench figures (bench/stats.c).
 * The quorum tally of L1q: the quorum of 1 to 7 nodes, the reply that
 * completes it (once), the reply after which it cannot come (once), and
 * late or surplus replies; the CPU per iteration. The hand-over gap of
 * W3: gaps from whole arrays of release and grant times (unknown entries
 * skipped, early grants counted as 0), and the ring that pairs a release
 * with the next grant whichever side arrives first, slot reuse included.
 *
 * DESIGN
 * Timestamps are made up (no clock is read), so every case is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "histogram.h"
#include "stats.h"

/* Quorum sizes: n / 2 + 1. */
static void test_quorum_sizes(void **state)
{
    static const size_t want[] = {0, 1, 2, 2, 3, 3, 4, 4};
    (void)state;

    for (size_t n = 1; n <= 7; n++)
        assert_int_equal(bench_quorum(n), want[n]);
}

/* The QUORUM event comes with exactly the q-th OK, whatever failed
 * before it, and only once. */
static void test_tally_quorum(void **state)
{
    bench_tally t;
    (void)state;

    /* N=3: OK, OK -> quorum on the second; the third is PENDING. */
    bench_tally_init(&t, 3);
    assert_int_equal(bench_tally_note(&t, 1), BENCH_TALLY_PENDING);
    assert_int_equal(bench_tally_note(&t, 1), BENCH_TALLY_QUORUM);
    assert_false(bench_tally_done(&t));
    assert_int_equal(bench_tally_note(&t, 1), BENCH_TALLY_PENDING);
    assert_true(bench_tally_done(&t));

    /* N=5: a refusal first, then three OKs: the quorum on the fourth. */
    bench_tally_init(&t, 5);
    assert_int_equal(bench_tally_note(&t, 0), BENCH_TALLY_PENDING);
    assert_int_equal(bench_tally_note(&t, 1), BENCH_TALLY_PENDING);
    assert_int_equal(bench_tally_note(&t, 1), BENCH_TALLY_PENDING);
    assert_int_equal(bench_tally_note(&t, 1), BENCH_TALLY_QUORUM);
    assert_int_equal(bench_tally_note(&t, 0), BENCH_TALLY_PENDING);
    assert_int_equal(t.ok, 3);
    assert_int_equal(t.answered, 5);

    /* N=1: the one OK is the quorum. */
    bench_tally_init(&t, 1);
    assert_int_equal(bench_tally_note(&t, 1), BENCH_TALLY_QUORUM);
    /* Surplus replies are ignored. */
    assert_int_equal(bench_tally_note(&t, 1), BENCH_TALLY_PENDING);
    assert_int_equal(t.answered, 1);
}

/* NO_QUORUM comes with the refusal that leaves too few nodes, once. */
static void test_tally_no_quorum(void **state)
{
    bench_tally t;
    (void)state;

    /* N=3: two refusals make a quorum of 2 impossible. */
    bench_tally_init(&t, 3);
    assert_int_equal(bench_tally_note(&t, 0), BENCH_TALLY_PENDING);
    assert_int_equal(bench_tally_note(&t, 0), BENCH_TALLY_NO_QUORUM);
    assert_int_equal(bench_tally_note(&t, 1), BENCH_TALLY_PENDING);

    /* N=5: OK, then three refusals: impossible on the third refusal. */
    bench_tally_init(&t, 5);
    assert_int_equal(bench_tally_note(&t, 1), BENCH_TALLY_PENDING);
    assert_int_equal(bench_tally_note(&t, 0), BENCH_TALLY_PENDING);
    assert_int_equal(bench_tally_note(&t, 0), BENCH_TALLY_PENDING);
    assert_int_equal(bench_tally_note(&t, 0), BENCH_TALLY_NO_QUORUM);
    assert_int_equal(bench_tally_note(&t, 0), BENCH_TALLY_PENDING);

    /* N=1: one refusal. */
    bench_tally_init(&t, 1);
    assert_int_equal(bench_tally_note(&t, 0), BENCH_TALLY_NO_QUORUM);
}

/* Every order of n answers of which k are OK gives QUORUM iff k >= q and
 * NO_QUORUM iff k < q, each exactly once (all 2^n orders, n <= 7). */
static void test_tally_exhaustive(void **state)
{
    (void)state;

    for (size_t n = 1; n <= 7; n++) {
        for (unsigned bits = 0; bits < (1u << n); bits++) {
            bench_tally t;
            size_t ok = 0, quorum = 0, none = 0;
            bench_tally_init(&t, n);
            for (size_t i = 0; i < n; i++) {
                int yes = (bits >> i) & 1u;
                bench_tally_event e = bench_tally_note(&t, yes);
                ok += (size_t)yes;
                quorum += e == BENCH_TALLY_QUORUM;
                none += e == BENCH_TALLY_NO_QUORUM;
            }
            if (ok >= bench_quorum(n)) {
                assert_int_equal(quorum, 1);
                assert_int_equal(none, 0);
            } else {
                assert_int_equal(quorum, 0);
                assert_int_equal(none, 1);
            }
        }
    }
}

/* CPU per iteration in microseconds. */
static void test_cpu_per_iter(void **state)
{
    (void)state;

    assert_true(bench_cpu_us_per_iter(0.5, 1000) > 499.99 &&
                bench_cpu_us_per_iter(0.5, 1000) < 500.01);
    assert_true(bench_cpu_us_per_iter(1.0, 0) == 0.0);
}

/* Gaps from arrays: rel[k] -> grant[k + 1]; unknown (0) entries skipped;
 * a grant before its release is 0 and early. */
static void test_handover_arrays(void **state)
{
    /* hold:            0      1      2      3      4 */
    uint64_t grant[] = {1000, 5000, 9000, 12500, 0};
    uint64_t rel[] = {4000, 8000, 13000, 15000, 20000};
    bench_hist *h = bench_hist_new();
    uint64_t early = 0;
    size_t n;
    (void)state;

    assert_non_null(h);
    /* Pairs: 4000->5000 (1000), 8000->9000 (1000), 13000->12500 (early),
     * 15000->0 (skipped). */
    n = bench_handover_gaps(rel, grant, 5, h, &early);
    assert_int_equal(n, 3);
    assert_int_equal(h->count, 3);
    assert_int_equal(early, 1);
    assert_int_equal(h->min, 0);
    assert_int_equal(h->max, 1000);
    assert_int_equal(bench_hist_percentile(h, 50.0), 1000);

    /* One hold, or none: no gap. */
    bench_hist_init(h);
    early = 0;
    assert_int_equal(bench_handover_gaps(rel, grant, 1, h, &early), 0);
    assert_int_equal(bench_handover_gaps(rel, grant, 0, h, &early), 0);
    assert_int_equal(h->count, 0);
    free(h);
}

/* The ring: either side first, each pair recorded once, by the side that
 * came second, into that side's histogram; hold 0's grant is ignored. */
static void test_handover_ring(void **state)
{
    bench_handover_slot ring[4];
    bench_hist *hr = bench_hist_new(), *hg = bench_hist_new();
    uint64_t early_r = 0, early_g = 0;
    (void)state;

    assert_non_null(hr);
    assert_non_null(hg);
    memset(ring, 0, sizeof(ring));

    bench_handover_grant(ring, 4, 0, 100, hg, &early_g); /* no pair */
    /* Pair 0: release first, then the grant of hold 1 records it. */
    bench_handover_release(ring, 4, 0, 1000, hr, &early_r);
    assert_int_equal(hr->count + hg->count, 0);
    bench_handover_grant(ring, 4, 1, 1300, hg, &early_g);
    assert_int_equal(hg->count, 1);
    assert_int_equal(hg->max, 300);
    /* Pair 1: the grant of hold 2 first (early), the release records. */
    bench_handover_grant(ring, 4, 2, 2000, hg, &early_g);
    bench_handover_release(ring, 4, 1, 2100, hr, &early_r);
    assert_int_equal(hr->count, 1);
    assert_int_equal(hr->max, 0);
    assert_int_equal(early_r, 1);
    assert_int_equal(early_g, 0);
    /* Slots are reused: holds 4..9 wrap the 4-slot ring. */
    for (uint64_t k = 4; k < 10; k++) {
        bench_handover_release(ring, 4, k, 10000 * k, hr, &early_r);
        bench_handover_grant(ring, 4, k + 1, 10000 * k + 50, hg, &early_g);
    }
    assert_int_equal(hg->count, 1 + 6);
    assert_int_equal(hg->max, 300);
    assert_int_equal(hg->min, 50);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(atomic_load(&ring[i].parts), 0); /* all freed */
    free(hr);
    free(hg);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quorum_sizes),
        cmocka_unit_test(test_tally_quorum),
        cmocka_unit_test(test_tally_no_quorum),
        cmocka_unit_test(test_tally_exhaustive),
        cmocka_unit_test(test_cpu_per_iter),
        cmocka_unit_test(test_handover_arrays),
        cmocka_unit_test(test_handover_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
