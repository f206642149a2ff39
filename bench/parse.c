/*
 * parse.c: parsing of redlock-bench's flag values (durations, integers,
 * lists, workload ids) and the configuration defaults. Pure functions, so
 * tests/unit/test_bench_parse.c can check them alone.
 *
 * Every parser rejects rather than guesses: no atoi, no silent truncation,
 * no trailing junk.
 */
#include "bench.h"
#include "duration.h"
#include "redlock.h" /* macros only: this core does not link the library */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Ids and names of the workloads, indexed by bench_wl (SOAK last). */
static const char *const wl_ids[] = {"W1", "W2", "W3",  "W3P",
                                     "W4", "W5", "W2A", "SOAK"};
static const char *const wl_names[] = {
    "serial", "parallel", "contended",      "poll-10ms",
    "lease",  "failover", "parallel-async", "soak"};
/* The order the workloads run in: W2A beside W2, whose figures it is
 * set against, rather than after W5 as its number would have it. */
static const int wl_order[] = {BENCH_W1,  BENCH_W2, BENCH_W2A, BENCH_W3,
                               BENCH_W3P, BENCH_W4, BENCH_W5};

_Static_assert(sizeof(wl_ids) / sizeof(wl_ids[0]) == BENCH_SOAK + 1,
               "an id per workload");
_Static_assert(sizeof(wl_names) / sizeof(wl_names[0]) == BENCH_SOAK + 1,
               "a name per workload");
_Static_assert(sizeof(wl_order) / sizeof(wl_order[0]) == BENCH_WL_COUNT,
               "every workload in the run order");

/* The id of workload wl, "?" if out of range. */
const char *bench_wl_id(int wl)
{
    if (wl < 0 || wl > BENCH_SOAK)
        return "?";
    return wl_ids[wl];
}

/* The short name of workload wl, "?" if out of range. */
const char *bench_wl_name(int wl)
{
    if (wl < 0 || wl > BENCH_SOAK)
        return "?";
    return wl_names[wl];
}

/* The i-th workload to run; -1 if i is out of range. */
int bench_wl_order(int i)
{
    if (i < 0 || i >= BENCH_WL_COUNT)
        return -1;
    return wl_order[i];
}

/* Whether wl has the per-cycle CPU and context-switch figures. Every id
 * is listed (no default), so a new workload must choose here. */
int bench_wl_per_cycle(int wl)
{
    switch ((bench_wl)wl) {
    case BENCH_W1:
    case BENCH_W2:
    case BENCH_W3:
    case BENCH_W3P:
    case BENCH_W2A:
        return 1;
    case BENCH_W4:
    case BENCH_W5:
    case BENCH_WL_COUNT: /* == BENCH_SOAK */
        return 0;
    }
    return 0;
}

/* Defaults, as --help documents them. */
void bench_config_defaults(bench_config *c)
{
    memset(c, 0, sizeof(*c));
    c->node_counts[0] = BENCH_DEFAULT_NODES;
    c->node_count_n = 1;
    c->workloads = BENCH_WL_DEFAULT;
    c->ttl_ms = BENCH_DEFAULT_TTL_MS;
    c->retry_delay_ms = BENCH_DEFAULT_RETRY_DELAY_MS;
    c->retry_jitter_ms = BENCH_DEFAULT_RETRY_JITTER_MS;
    c->election_ttl_ms = BENCH_DEFAULT_ELECTION_TTL_MS;
    c->restart_guard_ms = REDLOCK_RESTART_GUARD_AUTO;
    bench_copy(c->key_prefix, sizeof(c->key_prefix), "redlock-bench:");
    c->leases = BENCH_DEFAULT_LEASES;
    c->candidates = BENCH_DEFAULT_CANDIDATES;
    c->soak_ms = BENCH_DEFAULT_SOAK_MS;
    c->soak_fault_ms = BENCH_DEFAULT_SOAK_FAULT_MS;
}

/* Zero r and set what identifies it. */
void bench_result_init(bench_result *r, int wl, size_t nodes)
{
    memset(r, 0, sizeof(*r));
    r->wl = wl;
    r->nodes = nodes;
    r->heap_per_lease_b = -1.0; /* unknown until measured */
}

/* Free the result's owned buffers. */
void bench_result_free(bench_result *r)
{
    free(r->acq_hist);
    free(r->rss_samples_kb);
    free(r->heap_samples_kb);
    r->acq_hist = NULL;
    r->rss_samples_kb = NULL;
    r->heap_samples_kb = NULL;
    r->rss_samples = 0;
    free(r->windows);
    free(r->faults);
    r->windows = NULL;
    r->faults = NULL;
    r->windows_n = r->faults_n = 0;
}

/* Percentiles of h (nanoseconds) in microseconds. */
void bench_pcts_from_hist(bench_pcts *p, const bench_hist *h)
{
    p->count = h->count;
    p->p50 = (double)bench_hist_percentile(h, 50.0) / 1000.0;
    p->p90 = (double)bench_hist_percentile(h, 90.0) / 1000.0;
    p->p99 = (double)bench_hist_percentile(h, 99.0) / 1000.0;
    p->p999 = (double)bench_hist_percentile(h, 99.9) / 1000.0;
    p->max = (double)h->max / 1000.0;
    if (h->count == 0)
        p->max = 0.0;
}

/* Durations: the parser the CLI uses too (tools/common/duration.c): a
 * bare number is seconds, fractions and compounds ("1m30s") are exact to
 * the millisecond; then the bench's own limit. */
int bench_parse_duration_ms(const char *s, uint64_t *ms)
{
    uint64_t v;

    if (tool_duration_parse(s, &v, NULL, 0) != 0 || v > BENCH_DURATION_MAX_MS)
        return -1;
    *ms = v;
    return 0;
}

/* A duration with a unit, within [min, max] milliseconds. */
int bench_parse_duration_unit_ms(const char *s, uint32_t min, uint32_t max,
                                 uint32_t *out)
{
    uint64_t v;
    size_t len = s != NULL ? strlen(s) : 0;

    if (len == 0 || !isalpha((unsigned char)s[len - 1]))
        return -1; /* no unit: see bench.h */
    if (tool_duration_parse(s, &v, NULL, 0) != 0 || v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* "auto" or a duration with a unit; see bench.h. */
int bench_parse_restart_guard(const char *s, uint32_t *out)
{
    if (s != NULL && strcmp(s, "auto") == 0) {
        *out = REDLOCK_RESTART_GUARD_AUTO;
        return 0;
    }
    return bench_parse_duration_unit_ms(s, 0, REDLOCK_TTL_MAX_MS, out);
}

/* One unsigned decimal integer within [min, max]. */
int bench_parse_u32(const char *s, uint32_t min, uint32_t max,
                    uint32_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* "1,3,5": each element through bench_parse_u32. */
int bench_parse_u32_list(const char *s, uint32_t min, uint32_t max,
                         uint32_t *out, size_t cap)
{
    char item[32];
    size_t n = 0;
    const char *p = s;

    if (s == NULL || *s == '\0')
        return -1;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= sizeof(item) || n == cap)
            return -1;
        memcpy(item, p, len);
        item[len] = '\0';
        if (bench_parse_u32(item, min, max, &out[n]) != 0)
            return -1;
        n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return (int)n;
}

/* "W1,W3P" or "all" into a mask; ids are case-insensitive. */
int bench_parse_workloads(const char *s, unsigned *mask)
{
    char item[16];
    unsigned m = 0;
    const char *p = s;

    if (s == NULL || *s == '\0')
        return -1;
    if (strcasecmp(s, "all") == 0) {
        *mask = BENCH_WL_ALL;
        return 0;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        int found = 0;
        if (len == 0 || len >= sizeof(item))
            return -1;
        memcpy(item, p, len);
        item[len] = '\0';
        for (int w = 0; w < BENCH_WL_COUNT; w++) {
            if (strcasecmp(item, wl_ids[w]) == 0) {
                m |= BENCH_WL_BIT(w);
                found = 1;
            }
        }
        if (!found)
            return -1;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *mask = m;
    return 0;
}
