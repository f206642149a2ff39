/*
 * report.c: everything redlock-bench prints: the human table with each
 * figure beside its limit, the limits lines, the live progress line (only
 * ever handed a terminal), one JSON object per result (--json) and CSV
 * rows (--csv).
 *
 * The JSON field list is the one in docs/bench.md ("Output"); fields that
 * do not apply to a workload are null (latencies not measured, limits not
 * measured) or left out (the workload-specific extras).
 */
#include "bench.h"
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "redlock_version.h"

/* Goals from the issues, shown beside the figures in the table. */
#define GOAL_W1_RATIO_MAX 1.5  /* issue 5: W1 acquire p50 <= 1.5 x L1
                                  (shown when L1q is not measured) */
#define GOAL_W1_L1Q_MAX 1.25   /* issue 13: W1 acquire p50 <= 1.25 x L1q */
#define GOAL_W1_CPU_MAX 1.5    /* issue 13: W1 CPU per cycle <= 1.5 x L1q's
                                  per SET+DEL iteration */
#define GOAL_W3_GAP_MAX 2.0    /* issue 13: W3 hand-over p50 <= 2 x L1q */
#define GOAL_W3_VS_POLL_MIN 3.0 /* issue 13: W3 acquisitions/s >= 3 x W3P */
#define GOAL_W2_RATIO_MIN 0.5  /* W2 >= 50 % of L2 / (2N) */
#define GOAL_W4_CORE_MAX 0.01  /* 1000 leases < 1 % of one core */
/* The fast-path goals of W2 at N=3: client CPU per cycle, and three times
 * the 25.5k cycles/s measured before it. */
#define GOAL_W2_CPU_US_MAX 15.0
#define GOAL_W2_CYCLES_MIN 75000.0
/* Issue 11: one thread with K in flight (W2A) against W2's threads in
 * the same run: cycles/s at least W2's, client CPU per cycle at most
 * W2's (ratios, so the machine's speed cancels out). */
#define GOAL_W2A_RATE_MIN 1.0
#define GOAL_W2A_CPU_MAX 1.0
#define GOAL_RSS_PER_LEASE_MAX 1024.0 /* bytes per lease: live bytes
                                         (glibc), else RSS */

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* Bounded copy that always terminates dst. */
int bench_copy(char *dst, size_t dstlen, const char *src)
{
    size_t n;

    if (dstlen == 0)
        return -1;
    n = strlen(src);
    if (n >= dstlen) {
        memcpy(dst, src, dstlen - 1);
        dst[dstlen - 1] = '\0';
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

/* The version of the tree the bench was built from (the header's, not
 * redlock_version(), so that this file links without the library and the
 * unit tests can use it alone). */
const char *bench_version(void)
{
    return REDLOCK_VERSION_STRING;
}

/* ------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------ */

/* Write a percentile object ({"p50":..,...}) or null when not measured. */
static void json_pcts(bench_json *j, const char *key, const bench_pcts *p)
{
    if (p->count == 0) {
        bench_json_null(j, key);
        return;
    }
    bench_json_object_begin(j, key);
    bench_json_num(j, "p50", p->p50, 1);
    bench_json_num(j, "p90", p->p90, 1);
    bench_json_num(j, "p99", p->p99, 1);
    bench_json_num(j, "p999", p->p999, 1);
    bench_json_num(j, "max", p->max, 1);
    bench_json_u64(j, "count", p->count);
    bench_json_object_end(j);
}

/* The soak's fault names, by bench_fault_kind. */
const char *bench_fault_name(int kind)
{
    static const char *const names[BENCH_FAULT_KINDS] = {
        "pause-minority", "client-kill", "script-flush", "debug-sleep"};
    return kind >= 0 && kind < BENCH_FAULT_KINDS ? names[kind] : "?";
}

/* When the growth base is taken; see bench.h. */
uint64_t bench_soak_base_ms(uint64_t soak_ms, uint64_t fault_ms)
{
    uint64_t base = BENCH_SOAK_WARMUP_MS;
    if (fault_ms > 0) {
        uint64_t round = fault_ms * BENCH_SOAK_FAULT_KINDS +
                         BENCH_SOAK_SETTLE_MS;
        if (round > base && round <= soak_ms / 2)
            base = round;
    }
    return base;
}

/* Whether the soak showed no growth: fds and threads as at the start,
 * RSS since the base grown by less than the limit. */
int bench_soak_no_growth(const bench_result *r)
{
    return r->fds_end == r->fds_start && r->threads_end == r->threads_start &&
           r->rss_end_kb - r->rss_warm_kb < BENCH_SOAK_RSS_GROWTH_MAX_KB &&
           (r->heap_warm_kb < 0 || r->heap_end_kb < 0 ||
            r->heap_end_kb - r->heap_warm_kb < BENCH_SOAK_HEAP_GROWTH_MAX_KB);
}

/* The soak's start/end figures, growth, windows and faults. */
static void json_soak(bench_json *j, const bench_result *r)
{
    bench_json_num(j, "soak_duration_s", r->duration_s, 1);
    if (r->soak_fault_ms > 0)
        bench_json_num(j, "fault_interval_s",
                       (double)r->soak_fault_ms / 1000.0, 1);
    else
        bench_json_null(j, "fault_interval_s");
    bench_json_bool(j, "faults_skipped_foreign_nodes", r->faults_foreign);
    bench_json_i64(j, "rss_kb_start", r->rss_start_kb);
    bench_json_i64(j, "rss_kb_warm", r->rss_warm_kb);
    bench_json_num(j, "rss_base_s", (double)r->rss_base_ms / 1000.0, 0);
    bench_json_i64(j, "heap_in_use_kb_warm", r->heap_warm_kb);
    bench_json_i64(j, "heap_in_use_kb_end", r->heap_end_kb);
    bench_json_i64(j, "rss_kb_end", r->rss_end_kb);
    bench_json_i64(j, "rss_kb_warm_untrimmed", r->rss_warm_untrimmed_kb);
    bench_json_i64(j, "rss_kb_end_untrimmed", r->rss_end_untrimmed_kb);
    bench_json_i64(j, "fds_start", r->fds_start);
    bench_json_i64(j, "fds_end", r->fds_end);
    bench_json_i64(j, "threads_start", r->threads_start);
    bench_json_i64(j, "threads_end", r->threads_end);
    bench_json_object_begin(j, "growth");
    bench_json_i64(j, "rss_kb", r->rss_end_kb - r->rss_warm_kb);
    bench_json_i64(j, "heap_in_use_kb", r->heap_end_kb - r->heap_warm_kb);
    bench_json_i64(j, "fds", r->fds_end - r->fds_start);
    bench_json_i64(j, "threads", r->threads_end - r->threads_start);
    bench_json_bool(j, "pass", bench_soak_no_growth(r));
    bench_json_object_end(j);
    bench_json_array_begin(j, "samples");
    for (size_t i = 0; r->windows != NULL && i < r->windows_n; i++) {
        const bench_soak_window *x = &r->windows[i];
        bench_json_object_begin(j, NULL);
        bench_json_num(j, "t_s", x->t_s, 1);
        bench_json_i64(j, "rss_kb", x->rss_kb);
        bench_json_num(j, "w2_cycles_per_s", x->w2_cycles_per_s, 1);
        bench_json_num(j, "w4_ext_per_s", x->w4_ext_per_s, 1);
        bench_json_u64(j, "lost", x->lost);
        bench_json_object_end(j);
    }
    bench_json_array_end(j);
    bench_json_array_begin(j, "faults");
    for (size_t i = 0; r->faults != NULL && i < r->faults_n; i++) {
        const bench_soak_fault *x = &r->faults[i];
        bench_json_object_begin(j, NULL);
        bench_json_num(j, "t_s", x->t_s, 1);
        bench_json_str(j, "kind", bench_fault_name(x->kind));
        bench_json_bool(j, "ok", x->ok);
        bench_json_bool(j, "quorum_taken", x->quorum_taken);
        bench_json_str(j, "detail", x->detail);
        bench_json_object_end(j);
    }
    bench_json_array_end(j);
    bench_json_bool(j, "lost_allowed", r->quorum_fault);
}

/* One result as one JSON object: the spec's fields first, then the
 * workload's own. */
int bench_format_json(const bench_result *r, const char *run_id, char *buf,
                      size_t len)
{
    bench_json j;
    const bench_limits *l = &r->limits;

    bench_json_init(&j, buf, len);
    bench_json_object_begin(&j, NULL);
    bench_json_str(&j, "tool", "redlock-bench");
    bench_json_str(&j, "version", bench_version());
    bench_json_str(&j, "workload", bench_wl_id(r->wl));
    bench_json_str(&j, "name", bench_wl_name(r->wl));
    if (run_id != NULL)
        bench_json_str(&j, "run_id", run_id);
    bench_json_u64(&j, "nodes", r->nodes);
    bench_json_bool(&j, "tls", r->tls);
    bench_json_u64(&j, "threads", r->threads);
    bench_json_num(&j, "duration_s", r->duration_s, 3);
    bench_json_u64(&j, "cycles", r->cycles);
    bench_json_num(&j, "cycles_per_s", r->cycles_per_s, 1);
    json_pcts(&j, "acquire_us", &r->acquire_us);
    json_pcts(&j, "release_us", &r->release_us);
    bench_json_object_begin(&j, "failures");
    bench_json_u64(&j, "taken", r->fail_taken);
    bench_json_u64(&j, "quorum", r->fail_quorum);
    bench_json_u64(&j, "other", r->fail_other);
    bench_json_object_end(&j);
    bench_json_u64(&j, "violations", r->violations);
    bench_json_u64(&j, "lost", r->lost);
    bench_json_num(&j, "cpu_s", r->cpu_s, 3);
    bench_json_i64(&j, "rss_kb", r->rss_kb);
    bench_json_object_begin(&j, "limits");
    if (l->have_ping)
        bench_json_num(&j, "ping_us_p50", l->ping_us_p50, 1);
    else
        bench_json_null(&j, "ping_us_p50");
    if (l->have_capacity)
        bench_json_num(&j, "capacity_ops_s", l->capacity_ops_s, 0);
    else
        bench_json_null(&j, "capacity_ops_s");
    if (l->have_ping) {
        bench_json_num(&j, "fanout_ping_us_p50", l->fanout_us_p50, 1);
        bench_json_array_begin(&j, "ping_us_p50_per_node");
        for (size_t i = 0; i < l->nodes && i < BENCH_NODES_MAX; i++)
            bench_json_num(&j, NULL, l->ping_us_p50_node[i], 1);
        bench_json_array_end(&j);
    }
    if (l->have_inline) {
        bench_json_num(&j, "l1q_us_p50", l->inline_us_p50, 1);
        bench_json_num(&j, "l1q_us_p99", l->inline_us_p99, 1);
        bench_json_num(&j, "l1q_cpu_us_per_iter", l->inline_cpu_us, 2);
        bench_json_u64(&j, "l1q_iterations", l->inline_iters);
    } else {
        bench_json_null(&j, "l1q_us_p50");
        bench_json_null(&j, "l1q_us_p99");
        bench_json_null(&j, "l1q_cpu_us_per_iter");
    }
    /* Issue 17: how many nodes were clusters (limits on one shard) or
     * Sentinel masters, and why nothing was measured, if so. */
    bench_json_u64(&j, "cluster_nodes", l->cluster_nodes);
    bench_json_u64(&j, "sentinel_nodes", l->sentinel_nodes);
    if (l->not_measured[0] != '\0')
        bench_json_str(&j, "not_measured", l->not_measured);
    bench_json_object_end(&j);
    if (r->limit_ratio > 0.0)
        bench_json_num(&j, "limit_ratio", r->limit_ratio, 3);
    else
        bench_json_null(&j, "limit_ratio");
    if (bench_wl_per_cycle(r->wl)) {
        bench_json_num(&j, "context_switches_per_cycle", r->csw_per_cycle, 2);
        bench_json_num(&j, "cpu_us_per_cycle", r->cpu_us_per_cycle, 2);
    }
    if (r->wl == BENCH_W2A)
        bench_json_u64(&j, "in_flight", r->in_flight);
    if (r->wl == BENCH_W1) {
        if (r->l1q_ratio > 0.0) {
            bench_json_object_begin(&j, "l1q_ratio");
            bench_json_num(&j, "acquire_p50", r->l1q_ratio, 3);
            if (r->l1q_cpu_ratio > 0.0)
                bench_json_num(&j, "cpu_per_cycle", r->l1q_cpu_ratio, 3);
            else
                bench_json_null(&j, "cpu_per_cycle");
            bench_json_object_end(&j);
        } else {
            bench_json_null(&j, "l1q_ratio");
        }
    }
    if (r->wl == BENCH_W3 || r->wl == BENCH_W3P) {
        json_pcts(&j, "handover_us", &r->handover_us);
        bench_json_u64(&j, "handover_early", r->handover_early);
    }
    if (r->ttl_ms > 0)
        bench_json_u64(&j, "ttl_ms", r->ttl_ms);
    if (r->has_retry) {
        bench_json_object_begin(&j, "retry");
        bench_json_u64(&j, "delay_ms", r->retry_delay_ms);
        bench_json_u64(&j, "jitter_ms", r->retry_jitter_ms);
        bench_json_object_end(&j);
    }
    if (r->wl == BENCH_W4 || r->wl == BENCH_SOAK) {
        bench_json_u64(&j, "leases", r->leases);
        bench_json_u64(&j, "extensions", r->extensions);
        bench_json_num(&j, "extensions_per_s", r->extensions_per_s, 1);
        bench_json_num(&j, "rss_per_lease_b", r->rss_per_lease_b, 0);
        if (r->heap_per_lease_b >= 0.0)
            bench_json_num(&j, "heap_per_lease_b", r->heap_per_lease_b, 0);
        else
            bench_json_null(&j, "heap_per_lease_b");
        if (r->wl == BENCH_W4) {
            /* Not for the soak: W2's threads share the process's CPU. */
            bench_json_num(&j, "cpu_s_per_1000_leases_per_s",
                           r->cpu_s_per_1000_leases_per_s, 5);
            bench_json_num(&j, "cpu_us_per_extension",
                           r->cpu_us_per_extension, 1);
            bench_json_num(&j, "context_switches_per_extension",
                           r->csw_per_extension, 2);
        }
    }
    if (r->wl == BENCH_W5) {
        bench_json_u64(&j, "candidates", r->candidates);
        bench_json_u64(&j, "failovers", r->failovers);
        bench_json_object_begin(&j, "failover_ttl");
        bench_json_num(&j, "p50", r->failover_ttl_p50, 3);
        bench_json_num(&j, "max", r->failover_ttl_max, 3);
        bench_json_object_end(&j);
        bench_json_object_begin(&j, "failover_ms");
        bench_json_num(&j, "p50", r->failover_ms_p50, 1);
        bench_json_num(&j, "max", r->failover_ms_max, 1);
        bench_json_object_end(&j);
    }
    if (r->wl == BENCH_SOAK) {
        bench_json_i64(&j, "rss_start_kb", r->rss_start_kb);
        bench_json_i64(&j, "rss_end_kb", r->rss_end_kb);
        bench_json_num(&j, "rss_growth_per_lease_b",
                       r->rss_growth_per_lease_b, 1);
        bench_json_array_begin(&j, "rss_kb_samples");
        for (size_t i = 0; i < r->rss_samples; i++)
            bench_json_i64(&j, NULL, r->rss_samples_kb[i]);
        bench_json_array_end(&j);
        if (r->heap_samples_kb != NULL) {
            bench_json_array_begin(&j, "heap_in_use_kb_samples");
            for (size_t i = 0; i < r->rss_samples; i++)
                bench_json_i64(&j, NULL, r->heap_samples_kb[i]);
            bench_json_array_end(&j);
        }
    }
    if (r->wl == BENCH_SOAK)
        json_soak(&j, r);
    if (r->sweep)
        bench_json_bool(&j, "sweep", 1);
    if (r->error[0] != '\0')
        bench_json_str(&j, "error", r->error);
    bench_json_object_end(&j);
    return bench_json_finish(&j);
}

/* ------------------------------------------------------------------------
 * CSV
 * ------------------------------------------------------------------------ */

/* Column names, in the order bench_format_csv() writes them. */
static const char csv_header[] =
    "tool,version,run_id,workload,nodes,threads,duration_s,cycles,"
    "cycles_per_s,acq_p50_us,acq_p90_us,acq_p99_us,acq_p999_us,acq_max_us,"
    "rel_p50_us,rel_p99_us,fail_taken,fail_quorum,fail_other,violations,"
    "lost,cpu_s,rss_kb,ping_us_p50,capacity_ops_s,limit_ratio,ttl_ms,"
    "retry_delay_ms,retry_jitter_ms,leases,extensions_per_s,"
    "cpu_s_per_1000_leases_per_s,rss_per_lease_b,failovers,"
    "failover_ttl_p50,failover_ttl_max,sweep,error,cpu_us_per_cycle,"
    "l1q_us_p50,l1q_us_p99,l1q_cpu_us_per_iter,l1q_ratio,handover_p50_us,"
    "handover_p99_us,heap_per_lease_b,in_flight";

/* A growing CSV row in a caller's buffer. */
typedef struct csv_row {
    char *buf;
    size_t cap, len;
    int overflow, cells;
} csv_row;

/* Append one cell (already formatted, no separators inside). */
static void csv_cell(csv_row *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void csv_cell(csv_row *c, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (c->overflow)
        return;
    if (c->cells++ > 0) {
        if (c->len + 2 > c->cap) {
            c->overflow = 1;
            return;
        }
        c->buf[c->len++] = ',';
        c->buf[c->len] = '\0';
    }
    va_start(ap, fmt);
    n = vsnprintf(c->buf + c->len, c->cap - c->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= c->cap - c->len) {
        c->overflow = 1;
        return;
    }
    c->len += (size_t)n;
}

/* Append n empty cells (figures that do not apply to this row). */
static void csv_blank(csv_row *c, int n)
{
    for (int i = 0; i < n; i++)
        csv_cell(c, "%s", "");
}

/* The header line. */
int bench_format_csv_header(char *buf, size_t len)
{
    if (bench_copy(buf, len, csv_header) != 0)
        return -1;
    return (int)strlen(buf);
}

/* One result as one CSV row; empty cells for what does not apply. The
 * error text has commas and quotes replaced so the row stays simple. */
int bench_format_csv(const bench_result *r, const char *run_id, char *buf,
                     size_t len)
{
    csv_row c = {buf, len, 0, 0, 0};
    const bench_pcts *a = &r->acquire_us, *rl = &r->release_us;
    const bench_limits *l = &r->limits;
    char err[sizeof(r->error)];
    int lease = (r->wl == BENCH_W4 || r->wl == BENCH_SOAK);

    if (len == 0)
        return -1;
    buf[0] = '\0';
    bench_copy(err, sizeof(err), r->error);
    for (char *p = err; *p; p++)
        if (*p == ',' || *p == '"' || *p == '\n')
            *p = ';';
    csv_cell(&c, "redlock-bench");
    csv_cell(&c, "%s", bench_version());
    csv_cell(&c, "%s", run_id != NULL ? run_id : "");
    csv_cell(&c, "%s", bench_wl_id(r->wl));
    csv_cell(&c, "%zu", r->nodes);
    csv_cell(&c, "%" PRIu32, r->threads);
    csv_cell(&c, "%.3f", r->duration_s);
    csv_cell(&c, "%" PRIu64, r->cycles);
    csv_cell(&c, "%.1f", r->cycles_per_s);
    if (a->count > 0) {
        csv_cell(&c, "%.1f", a->p50);
        csv_cell(&c, "%.1f", a->p90);
        csv_cell(&c, "%.1f", a->p99);
        csv_cell(&c, "%.1f", a->p999);
        csv_cell(&c, "%.1f", a->max);
    } else {
        csv_blank(&c, 5);
    }
    if (rl->count > 0) {
        csv_cell(&c, "%.1f", rl->p50);
        csv_cell(&c, "%.1f", rl->p99);
    } else {
        csv_blank(&c, 2);
    }
    csv_cell(&c, "%" PRIu64, r->fail_taken);
    csv_cell(&c, "%" PRIu64, r->fail_quorum);
    csv_cell(&c, "%" PRIu64, r->fail_other);
    csv_cell(&c, "%" PRIu64, r->violations);
    csv_cell(&c, "%" PRIu64, r->lost);
    csv_cell(&c, "%.3f", r->cpu_s);
    csv_cell(&c, "%ld", r->rss_kb);
    if (l->have_ping)
        csv_cell(&c, "%.1f", l->ping_us_p50);
    else
        csv_blank(&c, 1);
    if (l->have_capacity)
        csv_cell(&c, "%.0f", l->capacity_ops_s);
    else
        csv_blank(&c, 1);
    if (r->limit_ratio > 0.0)
        csv_cell(&c, "%.3f", r->limit_ratio);
    else
        csv_blank(&c, 1);
    csv_cell(&c, "%" PRIu32, r->ttl_ms);
    if (r->has_retry) {
        csv_cell(&c, "%" PRIu32, r->retry_delay_ms);
        csv_cell(&c, "%" PRIu32, r->retry_jitter_ms);
    } else {
        csv_blank(&c, 2);
    }
    if (lease) {
        csv_cell(&c, "%" PRIu32, r->leases);
        csv_cell(&c, "%.1f", r->extensions_per_s);
        if (r->wl == BENCH_W4)
            csv_cell(&c, "%.5f", r->cpu_s_per_1000_leases_per_s);
        else
            csv_blank(&c, 1);
        csv_cell(&c, "%.0f", r->rss_per_lease_b);
    } else {
        csv_blank(&c, 4);
    }
    if (r->wl == BENCH_W5) {
        csv_cell(&c, "%" PRIu64, r->failovers);
        csv_cell(&c, "%.3f", r->failover_ttl_p50);
        csv_cell(&c, "%.3f", r->failover_ttl_max);
    } else {
        csv_blank(&c, 3);
    }
    csv_cell(&c, "%d", r->sweep);
    csv_cell(&c, "%s", err);
    /* Columns added with L1q and the hand-over gap (issue 13), after the
     * old ones so that readers by position keep working. */
    if (bench_wl_per_cycle(r->wl))
        csv_cell(&c, "%.2f", r->cpu_us_per_cycle);
    else
        csv_blank(&c, 1);
    if (l->have_inline) {
        csv_cell(&c, "%.1f", l->inline_us_p50);
        csv_cell(&c, "%.1f", l->inline_us_p99);
        csv_cell(&c, "%.2f", l->inline_cpu_us);
    } else {
        csv_blank(&c, 3);
    }
    if (r->l1q_ratio > 0.0)
        csv_cell(&c, "%.3f", r->l1q_ratio);
    else
        csv_blank(&c, 1);
    if (r->handover_us.count > 0) {
        csv_cell(&c, "%.1f", r->handover_us.p50);
        csv_cell(&c, "%.1f", r->handover_us.p99);
    } else {
        csv_blank(&c, 2);
    }
    if (lease && r->heap_per_lease_b >= 0.0)
        csv_cell(&c, "%.0f", r->heap_per_lease_b);
    else
        csv_blank(&c, 1);
    /* Added with W2A (issue 11), last for the same reason. */
    if (r->wl == BENCH_W2A)
        csv_cell(&c, "%" PRIu32, r->in_flight);
    else
        csv_blank(&c, 1);
    if (c.overflow)
        return -1;
    return (int)c.len;
}

/* ------------------------------------------------------------------------
 * Human table
 * ------------------------------------------------------------------------ */

/* "met" or "MISSED" for a goal. */
static const char *verdict(int ok)
{
    return ok ? "met" : "MISSED";
}

/* The result of workload wl at node count n among r[0..count), not a
 * sweep row; NULL if none. */
static const bench_result *find_result(const bench_result *r, size_t count,
                                       int wl, size_t nodes)
{
    for (size_t i = 0; i < count; i++)
        if (r[i].wl == wl && r[i].nodes == nodes && !r[i].sweep)
            return &r[i];
    return NULL;
}

/* Memory per lease for the notes: the goal is judged on live bytes
 * (glibc's bytes in use), which do not depend on what earlier workloads
 * left in the allocator; the RSS growth follows as a diagnostic. Without
 * glibc's figure, the RSS growth is judged as before. */
static void lease_memory(const bench_result *r, char *out, size_t len)
{
    if (r->heap_per_lease_b >= 0.0)
        snprintf(out, len, "%.0f live B/lease (goal < 1 KiB: %s; RSS "
                           "%.0f B/lease)",
                 r->heap_per_lease_b,
                 verdict(r->heap_per_lease_b < GOAL_RSS_PER_LEASE_MAX),
                 r->rss_per_lease_b);
    else
        snprintf(out, len, "%.0f B/lease of RSS (goal < 1 KiB: %s)",
                 r->rss_per_lease_b,
                 verdict(r->rss_per_lease_b < GOAL_RSS_PER_LEASE_MAX));
}

/* W1's notes: the goals against L1q (acquire p50, client CPU per cycle),
 * then, as diagnostics, the ratios to L1 and to the fan-out through
 * worker threads. Without L1q, the issue-5 goal against L1. */
static void w1_notes(const bench_result *r, char *out, size_t len)
{
    const bench_limits *l = &r->limits;
    double fan = l->fanout_us_p50 > 0.0 ? r->acquire_us.p50 / l->fanout_us_p50
                                        : 0.0;

    if (r->l1q_ratio > 0.0) {
        snprintf(out, len, "acq p50 = %.2f x L1q (goal <= %.2f: %s); CPU "
                           "%.1f us per cycle (acquire+release) = %.2f x "
                           "L1q's SET+DEL iteration (goal <= %.1f: %s); "
                           "diagnostics: %.2f x L1, %.2f x the fan-out "
                           "through worker threads",
                 r->l1q_ratio, GOAL_W1_L1Q_MAX,
                 verdict(r->l1q_ratio <= GOAL_W1_L1Q_MAX),
                 r->cpu_us_per_cycle, r->l1q_cpu_ratio, GOAL_W1_CPU_MAX,
                 verdict(r->l1q_cpu_ratio > 0.0 &&
                         r->l1q_cpu_ratio <= GOAL_W1_CPU_MAX),
                 r->limit_ratio, fan);
    } else if (r->limit_ratio > 0.0) {
        snprintf(out, len, "L1q not measured; acq p50 = %.2f x L1 (goal <= "
                           "%.1f for N=3,5: %s); %.2f x the fan-out",
                 r->limit_ratio, GOAL_W1_RATIO_MAX,
                 verdict(r->limit_ratio <= GOAL_W1_RATIO_MAX), fan);
    }
}

/* W3's notes: the hand-over gap against L1q with the violations, and the
 * acquisitions/s against W3P's (p: the W3P row of the same N, or NULL). */
static void w3_notes(const bench_result *r, const bench_result *p, char *out,
                     size_t len)
{
    const bench_limits *l = &r->limits;
    char gap[160], poll[96];

    if (l->have_inline && l->inline_us_p50 > 0.0 &&
        r->handover_us.count > 0) {
        double x = r->handover_us.p50 / l->inline_us_p50;
        snprintf(gap, sizeof(gap), "hand-over p50 %.0f us, p99 %.0f us = "
                                   "%.2f x L1q (goal p50 <= %.0f x L1q with "
                                   "0 violations: %s)",
                 r->handover_us.p50, r->handover_us.p99, x, GOAL_W3_GAP_MAX,
                 verdict(x <= GOAL_W3_GAP_MAX && r->violations == 0));
    } else {
        snprintf(gap, sizeof(gap), "hand-over p50 %.0f us, p99 %.0f us "
                                   "(no L1q); violations goal 0: %s",
                 r->handover_us.p50, r->handover_us.p99,
                 verdict(r->violations == 0));
    }
    if (p != NULL && p->cycles_per_s > 0.0)
        snprintf(poll, sizeof(poll), "; %.2f x W3P acquisitions/s (goal >= "
                                     "%.0f: %s)",
                 r->cycles_per_s / p->cycles_per_s, GOAL_W3_VS_POLL_MIN,
                 verdict(r->cycles_per_s >=
                         GOAL_W3_VS_POLL_MIN * p->cycles_per_s));
    else
        poll[0] = '\0';
    snprintf(out, len, "retry %" PRIu32 "+%" PRIu32 " ms; %s%s",
             r->retry_delay_ms, r->retry_jitter_ms, gap, poll);
}

/* W2A's notes: its cycles/s and CPU per cycle against W2's row of the
 * same node count (w2, or NULL if W2 did not run there). */
static void w2a_notes(const bench_result *r, const bench_result *w2,
                      char *out, size_t len)
{
    int n = snprintf(out, len, "%" PRIu32 " in flight from 1 thread: ",
                     r->in_flight);

    if (n < 0 || (size_t)n >= len)
        return;
    out += n;
    len -= (size_t)n;
    if (w2 != NULL && w2->cycles_per_s > 0.0 && w2->cpu_us_per_cycle > 0.0) {
        double rate = r->cycles_per_s / w2->cycles_per_s;
        double cpu = r->cpu_us_per_cycle / w2->cpu_us_per_cycle;
        snprintf(out, len, "%.0f cycles/s = %.2f x W2 (goal >= %.0f: %s), "
                           "CPU %.1f us/cycle = %.2f x W2 (goal <= %.0f: "
                           "%s); W2 ran %" PRIu32 " threads; %.1f context "
                           "switches/cycle (W2 %.1f)",
                 r->cycles_per_s, rate, GOAL_W2A_RATE_MIN,
                 verdict(rate >= GOAL_W2A_RATE_MIN), r->cpu_us_per_cycle,
                 cpu, GOAL_W2A_CPU_MAX,
                 verdict(r->cpu_us_per_cycle > 0.0 &&
                         cpu <= GOAL_W2A_CPU_MAX),
                 w2->threads, r->csw_per_cycle, w2->csw_per_cycle);
    } else {
        snprintf(out, len, "%.0f cycles/s, CPU %.1f us/cycle, %.1f context "
                           "switches/cycle; W2 did not run at N=%zu, so "
                           "no ratio (goals: >= W2's cycles/s, <= its CPU "
                           "per cycle)",
                 r->cycles_per_s, r->cpu_us_per_cycle, r->csw_per_cycle,
                 r->nodes);
    }
}

/* The notes column of one row: the figure beside its limit or goal. */
static void row_notes(const bench_result *r, const bench_result *all,
                      size_t count, char *out, size_t len)
{
    out[0] = '\0';
    switch (r->wl) {
    case BENCH_W1:
        w1_notes(r, out, len);
        break;
    case BENCH_W2: {
        char n3[160] = "";
        if (r->nodes == 3)
            snprintf(n3, sizeof(n3), "%.0f cycles/s (goal >= %.0f: %s), "
                                     "CPU %.1f us/cycle (goal <= %.0f: "
                                     "%s); ",
                     r->cycles_per_s, GOAL_W2_CYCLES_MIN,
                     verdict(r->cycles_per_s >= GOAL_W2_CYCLES_MIN),
                     r->cpu_us_per_cycle, GOAL_W2_CPU_US_MAX,
                     verdict(r->cpu_us_per_cycle > 0.0 &&
                             r->cpu_us_per_cycle <= GOAL_W2_CPU_US_MAX));
        if (r->limit_ratio > 0.0)
            snprintf(out, len, "%s%.0f%% of L2/(2N) = %.0f/s (goal >= "
                               "%.0f%% for N=1,3: %s); bench used %.2f of "
                               "%ld cores, %.1f context switches/cycle",
                     n3, 100.0 * r->limit_ratio,
                     r->limits.capacity_ops_s / (2.0 * (double)r->nodes),
                     100.0 * GOAL_W2_RATIO_MIN,
                     verdict(r->limit_ratio >= GOAL_W2_RATIO_MIN),
                     r->duration_s > 0.0 ? r->cpu_s / r->duration_s : 0.0,
                     sysconf(_SC_NPROCESSORS_ONLN), r->csw_per_cycle);
        break;
    }
    case BENCH_W2A:
        w2a_notes(r, find_result(all, count, BENCH_W2, r->nodes), out, len);
        break;
    case BENCH_W3:
        w3_notes(r, find_result(all, count, BENCH_W3P, r->nodes), out,
                 len);
        break;
    case BENCH_W3P:
        snprintf(out, len, "retry %" PRIu32 "+%" PRIu32 " ms (10 ms "
                           "polling client); hand-over p50 %.0f us, p99 "
                           "%.0f us",
                 r->retry_delay_ms, r->retry_jitter_ms, r->handover_us.p50,
                 r->handover_us.p99);
        break;
    case BENCH_W4: {
        char mem[128];
        lease_memory(r, mem, sizeof(mem));
        snprintf(out, len, "%" PRIu32 " leases: %.0f ext/s, %.2f%% of a "
                           "core per 1000 (goal < 1%%: %s; %.0f us CPU, "
                           "%.1f context switches per extension), lost %"
                           PRIu64 " (%s), %s",
                 r->leases, r->extensions_per_s,
                 100.0 * r->cpu_s_per_1000_leases_per_s,
                 verdict(r->cpu_s_per_1000_leases_per_s < GOAL_W4_CORE_MAX),
                 r->cpu_us_per_extension, r->csw_per_extension, r->lost,
                 verdict(r->lost == 0), mem);
        break;
    }
    case BENCH_W5:
        snprintf(out, len, "%" PRIu64 " failovers: new leader p50 %.2f "
                           "TTL, max %.2f TTL (TTL %" PRIu32 " ms, retry %"
                           PRIu32 "+%" PRIu32 " ms)",
                 r->failovers, r->failover_ttl_p50, r->failover_ttl_max,
                 r->ttl_ms, r->retry_delay_ms, r->retry_jitter_ms);
        break;
    case BENCH_SOAK: {
        char mem[128];
        lease_memory(r, mem, sizeof(mem));
        snprintf(out, len, "RSS %ld -> %ld kB, %s, %zu faults, lost %"
                           PRIu64 ", no growth: %s (see the soak report)",
                 r->rss_start_kb, r->rss_end_kb, mem, r->faults_n, r->lost,
                 bench_soak_no_growth(r) ? "PASS" : "FAIL");
        break;
    }
    default:
        break;
    }
    if (r->sweep)
        snprintf(out, len, "thread sweep for --plot");
}

/* Print a latency cell: the value, or "-" when not measured. */
static void lat_cell(FILE *out, const bench_pcts *p, double v)
{
    if (p->count == 0)
        fprintf(out, " %9s", "-");
    else
        fprintf(out, " %9.1f", v);
}

/* The table: one row per result, latencies in microseconds. */
void bench_report_table(FILE *out, const bench_result *r, size_t n,
                        const bench_config *cfg)
{
    char notes[512];
    char fails[48];
    size_t last_nodes = 0;

    (void)cfg;
    fprintf(out, "\n%-5s %-14s %3s %5s %7s %10s %10s %9s %9s %9s %9s "
                 "%13s %4s %4s  %s\n",
            "WL", "NAME", "N", "THR", "DUR_S", "CYCLES", "CYCLES/S",
            "ACQ_P50", "ACQ_P99", "ACQ_P999", "REL_P50", "FAIL_T/Q/O",
            "VIOL", "LOST", "BESIDE ITS LIMIT / GOAL (latencies in us)");
    for (size_t i = 0; i < n; i++) {
        const bench_result *x = &r[i];
        if (i > 0 && x->nodes != last_nodes)
            fputc('\n', out);
        last_nodes = x->nodes;
        snprintf(fails, sizeof(fails), "%" PRIu64 "/%" PRIu64 "/%" PRIu64,
                 x->fail_taken, x->fail_quorum, x->fail_other);
        fprintf(out, "%-5s %-14s %3zu %5" PRIu32 " %7.2f %10" PRIu64
                     " %10.1f",
                bench_wl_id(x->wl), bench_wl_name(x->wl), x->nodes,
                x->threads, x->duration_s, x->cycles, x->cycles_per_s);
        lat_cell(out, &x->acquire_us, x->acquire_us.p50);
        lat_cell(out, &x->acquire_us, x->acquire_us.p99);
        lat_cell(out, &x->acquire_us, x->acquire_us.p999);
        lat_cell(out, &x->release_us, x->release_us.p50);
        row_notes(x, r, n, notes, sizeof(notes));
        fprintf(out, " %13s %4" PRIu64 " %4" PRIu64 "  %s%s%s\n", fails,
                x->violations, x->lost, notes,
                x->error[0] != '\0' ? "  ERROR: " : "", x->error);
    }
}

/* The soak's own report: throughput windows, faults, start and end
 * figures and the no-growth verdict. */
void bench_report_soak(FILE *out, const bench_result *r)
{
    int growth_ok = bench_soak_no_growth(r);
    int lost_ok = r->lost == 0 || r->quorum_fault;

    fprintf(out, "\nsoak N=%zu: %.1f s of W2 (%" PRIu32 " threads) and W4 "
                 "(%" PRIu32 " leases); ",
            r->nodes, r->duration_s, r->threads, r->leases);
    if (r->faults_foreign)
        fprintf(out, "no faults injected: the nodes were given with --node, "
                     "and the bench only disturbs nodes it started\n");
    else if (r->soak_fault_ms == 0)
        fprintf(out, "no faults injected (--soak-fault-interval 0)\n");
    else
        fprintf(out, "a fault every %.1f s, %zu injected\n",
                (double)r->soak_fault_ms / 1000.0, r->faults_n);
    fprintf(out, "  %8s %9s %12s %10s %5s\n", "T_S", "RSS_KB",
            "W2_CYCLES/S", "W4_EXT/S", "LOST");
    for (size_t i = 0; r->windows != NULL && i < r->windows_n; i++) {
        const bench_soak_window *x = &r->windows[i];
        fprintf(out, "  %8.1f %9ld %12.1f %10.1f %5" PRIu64 "\n", x->t_s,
                x->rss_kb, x->w2_cycles_per_s, x->w4_ext_per_s, x->lost);
    }
    for (size_t i = 0; r->faults != NULL && i < r->faults_n; i++) {
        const bench_soak_fault *x = &r->faults[i];
        fprintf(out, "  fault at %6.1f s: %-14s %s%s%s\n", x->t_s,
                bench_fault_name(x->kind), x->detail,
                x->ok ? "" : " [FAILED]",
                x->quorum_taken ? " [took a quorum away]" : "");
    }
    fprintf(out, "  start (1 s): RSS %ld kB, %ld fds, %ld threads\n",
            r->rss_start_kb, r->fds_start, r->threads_start);
    fprintf(out, "  base (%u s): RSS %ld kB after malloc_trim (%ld kB "
                 "before)\n",
            (unsigned)(r->rss_base_ms / 1000u), r->rss_warm_kb,
            r->rss_warm_untrimmed_kb);
    fprintf(out, "  end:         RSS %ld kB after malloc_trim (%ld kB before), "
                 "%ld fds, %ld threads\n",
            r->rss_end_kb, r->rss_end_untrimmed_kb, r->fds_end,
            r->threads_end);
    fprintf(out, "  growth since %u s: heap in use %+ld kB (limit < %d kB), "
                 "RSS %+ld kB (limit < %d kB), fds %+ld, threads %+ld: %s\n",
            (unsigned)(r->rss_base_ms / 1000u),
            r->heap_end_kb - r->heap_warm_kb, BENCH_SOAK_HEAP_GROWTH_MAX_KB,
            r->rss_end_kb - r->rss_warm_kb, BENCH_SOAK_RSS_GROWTH_MAX_KB,
            r->fds_end - r->fds_start, r->threads_end - r->threads_start,
            growth_ok ? "PASS (no growth)" : "FAIL");
    if (r->heap_samples_kb != NULL && r->rss_samples > 0 &&
        r->heap_samples_kb[0] >= 0) {
        /* Sample i is taken at i + 1 s: tells live memory from memory the
         * allocator kept after a peak (e.g. queues behind a paused node). */
        size_t warm = (size_t)(r->rss_base_ms / 1000u) - 1u, peak = 0;
        if (warm >= r->rss_samples)
            warm = 0;
        for (size_t i = 0; i < r->rss_samples; i++)
            if (r->heap_samples_kb[i] > r->heap_samples_kb[peak])
                peak = i;
        fprintf(out, "  malloc'd bytes in use (glibc): %ld kB at %zu s, "
                     "%ld kB at the end, peak %ld kB at %zu s\n",
                r->heap_samples_kb[warm], warm + 1,
                r->heap_samples_kb[r->rss_samples - 1],
                r->heap_samples_kb[peak], peak + 1);
    }
    fprintf(out, "  W4 leases lost: %" PRIu64 ": %s\n", r->lost,
            r->lost == 0 ? "PASS"
            : lost_ok    ? "allowed (a fault took a quorum away)"
                         : "FAIL");
}

/* One line of limits per node set. */
void bench_report_limits(FILE *out, const bench_limits *l)
{
    fprintf(out, "limits N=%zu: L1 PING p50 per node", l->nodes);
    if (l->have_ping) {
        for (size_t i = 0; i < l->nodes && i < BENCH_NODES_MAX; i++)
            fprintf(out, " %.1f", l->ping_us_p50_node[i]);
        fprintf(out, " us (slowest %.1f us); quorum fan-out through "
                     "worker threads %.1f us",
                l->ping_us_p50, l->fanout_us_p50);
    } else {
        fprintf(out, " not measured");
    }
    if (l->have_inline)
        fprintf(out, "; L1q inline quorum SET p50 %.1f us, p99 %.1f us, "
                     "client CPU %.1f us per SET+DEL iteration",
                l->inline_us_p50, l->inline_us_p99, l->inline_cpu_us);
    else
        fprintf(out, "; L1q not measured");
    if (l->have_capacity && l->cluster_nodes > 0)
        fprintf(out, "; L2 SET capacity %.0f/s (first master of each "
                     "cluster only: one shard; no W2/L2 ratio)\n",
                l->capacity_ops_s);
    else if (l->have_capacity)
        fprintf(out, "; L2 SET capacity %.0f/s, L2/(2N) = %.0f cycles/s\n",
                l->capacity_ops_s,
                l->capacity_ops_s / (2.0 * (double)l->nodes));
    else
        fprintf(out, "; L2 not measured\n");
    if (l->not_measured[0] != '\0')
        fprintf(out, "limits N=%zu: not measured for these nodes: %s\n",
                l->nodes, l->not_measured);
    if (l->not_measured[0] == '\0' && l->cluster_nodes > 0)
        fprintf(out, "limits N=%zu: %zu cluster node(s) measured on their "
                     "first seed, with keys of its slots\n",
                l->nodes, l->cluster_nodes);
    if (l->not_measured[0] == '\0' && l->sentinel_nodes > 0)
        fprintf(out, "limits N=%zu: %zu Sentinel node(s) measured on the "
                     "master their sentinels named at setup\n",
                l->nodes, l->sentinel_nodes);
}

/* ------------------------------------------------------------------------
 * Progress line
 * ------------------------------------------------------------------------ */

/* Redraw the progress line in place. */
void bench_progress(FILE *out, const char *wl, size_t nodes,
                    double elapsed_s, double total_s, uint64_t cycles)
{
    double rate = elapsed_s > 0.0 ? (double)cycles / elapsed_s : 0.0;

    if (out == NULL)
        return;
    fprintf(out, "\r\033[K[%s N=%zu] %5.1f/%.1f s  %" PRIu64 " done  "
                 "%.0f/s",
            wl, nodes, elapsed_s, total_s, cycles, rate);
    fflush(out);
}

/* Erase the progress line. */
void bench_progress_clear(FILE *out)
{
    if (out == NULL)
        return;
    fputs("\r\033[K", out);
    fflush(out);
}
