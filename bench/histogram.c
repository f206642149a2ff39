/*
 * histogram.c: the log-linear latency histogram of redlock-bench (see
 * histogram.h for the bucket layout and its error bound).
 */
#include "histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Empty h: no samples, min at its sentinel. */
void bench_hist_init(bench_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

/* Allocate and initialise a histogram; NULL if out of memory. */
bench_hist *bench_hist_new(void)
{
    bench_hist *h = malloc(sizeof(*h));
    if (h != NULL)
        bench_hist_init(h);
    return h;
}

/* Bucket of v. Values below 2 * SUB map to themselves for the first SUB
 * and to exact one-wide buckets in the first row; from then on each row
 * (power of two) has SUB buckets of width 2^(row). */
size_t bench_hist_index(uint64_t v)
{
    unsigned k, shift;
    uint64_t sub;

    if (v < BENCH_HIST_SUB)
        return (size_t)v;
    k = 63u - (unsigned)__builtin_clzll(v); /* floor(log2 v) >= SUB_BITS */
    if (k >= BENCH_HIST_MAX_BITS)
        return BENCH_HIST_BUCKETS - 1;
    shift = k - BENCH_HIST_SUB_BITS;
    sub = (v >> shift) - BENCH_HIST_SUB; /* in [0, SUB) */
    return BENCH_HIST_SUB + (size_t)shift * BENCH_HIST_SUB + (size_t)sub;
}

/* Lower bound of bucket i: the smallest value that maps to it. */
uint64_t bench_hist_bucket_low(size_t i)
{
    size_t row, sub;

    if (i < BENCH_HIST_SUB)
        return (uint64_t)i;
    row = (i - BENCH_HIST_SUB) / BENCH_HIST_SUB;
    sub = (i - BENCH_HIST_SUB) % BENCH_HIST_SUB;
    return ((uint64_t)BENCH_HIST_SUB + sub) << row;
}

/* Width of bucket i: how many distinct values map to it. */
uint64_t bench_hist_bucket_width(size_t i)
{
    if (i < BENCH_HIST_SUB)
        return 1;
    return (uint64_t)1 << ((i - BENCH_HIST_SUB) / BENCH_HIST_SUB);
}

/* Count one sample, keeping exact min, max and a saturating sum. */
void bench_hist_record(bench_hist *h, uint64_t v)
{
    h->buckets[bench_hist_index(v)]++;
    h->count++;
    h->sum = (h->sum + v < h->sum) ? UINT64_MAX : h->sum + v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

/* Add src's samples into dst. */
void bench_hist_merge(bench_hist *dst, const bench_hist *src)
{
    if (src->count == 0)
        return;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum = (dst->sum + src->sum < dst->sum) ? UINT64_MAX
                                                : dst->sum + src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

/* Value at percentile q: walk the buckets up to the sample of rank
 * ceil(q/100 * count) and answer the middle of its bucket. The small
 * epsilon keeps 99.9 % of 1000 samples at rank 999, not 1000, despite
 * binary rounding. */
uint64_t bench_hist_percentile(const bench_hist *h, double q)
{
    uint64_t rank, seen = 0, mid;
    double want;

    if (h->count == 0)
        return 0;
    if (!(q < 100.0))
        return h->max;
    if (q <= 0.0)
        return h->min;
    want = ceil(q / 100.0 * (double)h->count - 1e-9);
    rank = want < 1.0 ? 1 : (uint64_t)want;
    if (rank > h->count)
        rank = h->count;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            mid = bench_hist_bucket_low(i) +
                  (bench_hist_bucket_width(i) - 1) / 2;
            if (mid < h->min)
                mid = h->min;
            if (mid > h->max)
                mid = h->max;
            return mid;
        }
    }
    return h->max; /* not reached: the buckets hold count samples */
}

/* Arithmetic mean, 0 when empty. */
double bench_hist_mean(const bench_hist *h)
{
    if (h->count == 0)
        return 0.0;
    return (double)h->sum / (double)h->count;
}
