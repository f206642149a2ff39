/*
 * test_bench_histogram.c: the bench's log-linear histogram. Bucket layout
 * (every value lands in a bucket that contains it, buckets are at most
 * 1/128 of their value wide), percentile maths on known data, accuracy
 * within 1 % of the exact percentile over a wide random distribution,
 * merging, and the empty histogram.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench.h"
#include "histogram.h"

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* Next pseudo-random 64-bit value. */
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* Compare two uint64_t for qsort. */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Every value maps to a bucket that contains it; widths stay within
 * 1/128 of the lower bound; indices grow with the value. */
static void test_bucket_layout(void **state)
{
    (void)state;
    size_t prev = 0;
    for (uint64_t v = 0; v < 100000; v++) {
        size_t i = bench_hist_index(v);
        assert_true(i < BENCH_HIST_BUCKETS);
        assert_true(bench_hist_bucket_low(i) <= v);
        assert_true(v < bench_hist_bucket_low(i) + bench_hist_bucket_width(i));
        assert_true(i >= prev);
        prev = i;
    }
    for (int k = 0; k < 100000; k++) {
        uint64_t v = rng() >> (rng() % 64);
        size_t i = bench_hist_index(v);
        uint64_t low = bench_hist_bucket_low(i);
        if (v >= (1ull << BENCH_HIST_MAX_BITS)) {
            assert_int_equal(i, BENCH_HIST_BUCKETS - 1);
            continue;
        }
        assert_true(low <= v);
        assert_true(v - low < bench_hist_bucket_width(i));
        if (low >= 2 * BENCH_HIST_SUB)
            assert_true(bench_hist_bucket_width(i) * BENCH_HIST_SUB <= low);
    }
    /* Below 2 * SUB, every value has its own bucket. */
    for (uint64_t v = 0; v < 2 * BENCH_HIST_SUB; v++)
        assert_int_equal(bench_hist_bucket_width(bench_hist_index(v)), 1);
}

/* Percentile ranks on 1..200 (all exact buckets): the nearest-rank
 * definition, p100 = max, and the 99.9 rounding case. */
static void test_percentile_maths(void **state)
{
    (void)state;
    bench_hist *h = bench_hist_new();
    assert_non_null(h);
    for (uint64_t v = 1; v <= 200; v++)
        bench_hist_record(h, v);
    assert_int_equal(h->count, 200);
    assert_int_equal(h->min, 1);
    assert_int_equal(h->max, 200);
    assert_int_equal(bench_hist_percentile(h, 50.0), 100);
    assert_int_equal(bench_hist_percentile(h, 90.0), 180);
    assert_int_equal(bench_hist_percentile(h, 99.0), 198);
    assert_int_equal(bench_hist_percentile(h, 99.9), 200);
    assert_int_equal(bench_hist_percentile(h, 100.0), 200);
    assert_int_equal(bench_hist_percentile(h, 0.5), 1);
    assert_int_equal(bench_hist_percentile(h, 0.0), 1);
    assert_true(bench_hist_mean(h) > 100.49 && bench_hist_mean(h) < 100.51);

    /* 1000 samples: p99.9 is rank 999, not 1000 (binary rounding). */
    bench_hist_init(h);
    for (uint64_t v = 1; v <= 1000; v++)
        bench_hist_record(h, v < 999 ? 1 : (v == 999 ? 150 : 200));
    assert_int_equal(bench_hist_percentile(h, 99.9), 150);
    assert_int_equal(bench_hist_percentile(h, 99.8), 1);
    assert_int_equal(bench_hist_percentile(h, 100.0), 200);

    /* One sample: every percentile is that sample, exactly (clamped to
     * min and max even though it sits in a wide bucket). */
    bench_hist_init(h);
    bench_hist_record(h, 123456789);
    assert_int_equal(bench_hist_percentile(h, 50.0), 123456789);
    assert_int_equal(bench_hist_percentile(h, 99.9), 123456789);
    free(h);
}

/* Against the exact percentiles of 200 000 log-uniform samples from 1 ns
 * to ~17 s, every reported percentile is within 1 % (the layout promises
 * 0.39 %). */
static void test_accuracy(void **state)
{
    (void)state;
    enum { N = 200000 };
    static const double qs[] = {1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};
    uint64_t *v = malloc(N * sizeof(*v));
    bench_hist *h = bench_hist_new();
    assert_non_null(v);
    assert_non_null(h);
    for (size_t i = 0; i < N; i++) {
        unsigned bits = (unsigned)(rng() % 34); /* up to 2^34 ns */
        v[i] = (rng() & ((1ull << bits) - 1)) | (1ull << bits);
        bench_hist_record(h, v[i]);
    }
    qsort(v, N, sizeof(*v), cmp_u64);
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        size_t rank = (size_t)((qs[k] / 100.0) * N + 0.999999);
        double exact = (double)v[rank - 1];
        double got = (double)bench_hist_percentile(h, qs[k]);
        double rel = (got - exact) / exact;
        if (rel < 0)
            rel = -rel;
        assert_true(rel <= 0.01);
        assert_true(rel <= 1.0 / (2.0 * BENCH_HIST_SUB) + 1e-12);
    }
    assert_int_equal(bench_hist_percentile(h, 100.0), v[N - 1]);
    assert_int_equal(h->min, v[0]);
    free(v);
    free(h);
}

/* Merging two histograms equals recording everything into one. */
static void test_merge(void **state)
{
    (void)state;
    bench_hist *a = bench_hist_new(), *b = bench_hist_new();
    bench_hist *all = bench_hist_new();
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(all);
    for (int i = 0; i < 5000; i++) {
        uint64_t x = rng() % 10000000;
        bench_hist_record((i & 1) ? a : b, x);
        bench_hist_record(all, x);
    }
    bench_hist_merge(a, b);
    assert_int_equal(a->count, all->count);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->max, all->max);
    assert_int_equal(a->sum, all->sum);
    assert_memory_equal(a->buckets, all->buckets, sizeof(a->buckets));
    free(a);
    free(b);
    free(all);
}

/* An empty histogram answers 0 everywhere and converts to "not
 * measured"; huge values land in the last bucket with max exact. */
static void test_empty_and_huge(void **state)
{
    (void)state;
    bench_hist *h = bench_hist_new();
    bench_pcts p;
    assert_non_null(h);
    assert_int_equal(bench_hist_percentile(h, 50.0), 0);
    assert_int_equal(bench_hist_percentile(h, 100.0), 0);
    assert_true(bench_hist_mean(h) == 0.0);
    bench_pcts_from_hist(&p, h);
    assert_int_equal(p.count, 0);
    assert_true(p.max == 0.0);

    bench_hist_record(h, UINT64_MAX);
    assert_int_equal(h->buckets[BENCH_HIST_BUCKETS - 1], 1);
    assert_int_equal(bench_hist_percentile(h, 100.0), UINT64_MAX);
    assert_int_equal(h->sum, UINT64_MAX);
    bench_hist_record(h, 5); /* the sum saturates, never wraps */
    assert_int_equal(h->sum, UINT64_MAX);

    /* Microsecond conversion of the summary. */
    bench_hist_init(h);
    bench_hist_record(h, 150000); /* 150 us */
    bench_pcts_from_hist(&p, h);
    assert_int_equal(p.count, 1);
    assert_true(p.p50 > 149.99 && p.p50 < 150.01);
    assert_true(p.max > 149.99 && p.max < 150.01);
    free(h);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_layout),
        cmocka_unit_test(test_percentile_maths),
        cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_empty_and_huge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
