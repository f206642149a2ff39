/*
 * test_bench_parse.c: parsing of redlock-bench's flag values: durations
 * with and without units, integers in a range (--async K among them),
 * comma lists, workload ids (their numbers, which W2A did not change, and
 * the run order), and the configuration defaults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bench.h"
#include "redlock.h"

/* Durations (the parser shared with the CLI): plain seconds, units,
 * fractions, compounds. */
static void test_duration_valid(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        uint64_t ms;
    } ok[] = {
        {"5", 5000},     {"0", 0},           {"1.5", 1500},
        {"1.5s", 1500},  {"250ms", 250},     {"2m", 120000},
        {"1h", 3600000}, {"0.25", 250},      {"10s", 10000},
        {"0.5", 500},    {"0.001", 1},       {"1m30s", 90000},
        {"2h", 7200000}, {"60", 60000},      {"3.0", 3000},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ms = 12345;
        assert_int_equal(bench_parse_duration_ms(ok[i].in, &ms), 0);
        assert_int_equal(ms, ok[i].ms);
    }
}

/* Durations: everything else is refused and leaves the output alone. */
static void test_duration_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",     "s",      "-1",    "+1",   "1x",    "1 s",  " 1",   "1s ",
        "1..2", ".",      "1e3",   "0x10", "inf",   "nan",  "1sec", "ms",
        "1mss", "1.5.5s", "99999999999999999999", "1000000000000h",
        /* Refused since the parser is shared with the CLI: no digit on
         * one side of the point, finer than a millisecond (was rounded),
         * compounds out of order or without a unit. */
        ".5",   "3.",     "0.0004", "0.0006", "1.2345ms", "30s1m", "1m30",
        NULL,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms = 777;
        assert_int_equal(bench_parse_duration_ms(bad[i], &ms), -1);
        assert_int_equal(ms, 777);
    }
}

/* Durations at their edges: the documented maximum (BENCH_DURATION_MAX_MS,
 * 366 days) is accepted and one millisecond more is refused, as is every
 * value a 64-bit count of nanoseconds could not hold (the workloads time
 * themselves in nanoseconds): 18446744073710 ms would wrap to 0.4 ms. */
static void test_duration_edges(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        uint64_t ms;
    } rows[] = {
        {"0ms", 0, 0},
        {"1ms", 0, 1},
        {"31622400000ms", 0, BENCH_DURATION_MAX_MS},
        {"31622400", 0, BENCH_DURATION_MAX_MS},
        {"8784h", 0, BENCH_DURATION_MAX_MS},
        {"31622400001ms", -1, 0},
        {"8784.001h", -1, 0},
        {"18446744073710ms", -1, 0},          /* ns would wrap */
        {"9223372036854775807ms", -1, 0},     /* INT64_MAX */
        {"18446744073709551615ms", -1, 0},    /* UINT64_MAX */
        {"18446744073709551616ms", -1, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t ms = 777;
        int rc = bench_parse_duration_ms(rows[i].in, &ms);
        if (rc != rows[i].rc)
            fail_msg("'%s': %d, want %d", rows[i].in, rc, rows[i].rc);
        assert_int_equal(ms, rows[i].rc == 0 ? rows[i].ms : 777);
    }
    /* The largest duration still fits in nanoseconds, with room. */
    assert_true(BENCH_DURATION_MAX_MS < UINT64_MAX / 1000000u / 4u);
}

/* Integers: range checks, no sign, no junk. */
static void test_u32(void **state)
{
    (void)state;
    uint32_t v = 0;
    assert_int_equal(bench_parse_u32("64", 1, 1024, &v), 0);
    assert_int_equal(v, 64);
    assert_int_equal(bench_parse_u32("1", 1, 1024, &v), 0);
    assert_int_equal(bench_parse_u32("1024", 1, 1024, &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(bench_parse_u32("0", 1, 1024, &v), -1);
    assert_int_equal(bench_parse_u32("1025", 1, 1024, &v), -1);
    assert_int_equal(bench_parse_u32("-1", 0, 10, &v), -1);
    assert_int_equal(bench_parse_u32("+1", 0, 10, &v), -1);
    assert_int_equal(bench_parse_u32("1x", 0, 10, &v), -1);
    assert_int_equal(bench_parse_u32("", 0, 10, &v), -1);
    assert_int_equal(bench_parse_u32(" 1", 0, 10, &v), -1);
    assert_int_equal(bench_parse_u32("99999999999999999999", 0, UINT32_MAX,
                                     &v),
                     -1);
    assert_int_equal(bench_parse_u32("4294967295", 0, UINT32_MAX, &v), 0);
    assert_int_equal(v, UINT32_MAX);
}

/* Lists: "1,3,5"; empty items, junk and overflow of the array fail. */
static void test_u32_list(void **state)
{
    (void)state;
    uint32_t out[4];
    assert_int_equal(bench_parse_u32_list("1,3,5", 1, 16, out, 4), 3);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 3);
    assert_int_equal(out[2], 5);
    assert_int_equal(bench_parse_u32_list("7", 1, 16, out, 4), 1);
    assert_int_equal(out[0], 7);
    assert_int_equal(bench_parse_u32_list("1,2,3,4,5", 1, 16, out, 4), -1);
    assert_int_equal(bench_parse_u32_list("1,,3", 1, 16, out, 4), -1);
    assert_int_equal(bench_parse_u32_list("1,3,", 1, 16, out, 4), -1);
    assert_int_equal(bench_parse_u32_list(",1", 1, 16, out, 4), -1);
    assert_int_equal(bench_parse_u32_list("1,17", 1, 16, out, 4), -1);
    assert_int_equal(bench_parse_u32_list("", 1, 16, out, 4), -1);
}

/* Workload ids: case-insensitive, "all", unknown ids refused. */
static void test_workloads(void **state)
{
    (void)state;
    unsigned m = 0;
    assert_int_equal(bench_parse_workloads("W1,W3", &m), 0);
    assert_int_equal(m, BENCH_WL_BIT(BENCH_W1) | BENCH_WL_BIT(BENCH_W3));
    assert_int_equal(bench_parse_workloads("w3p,w5", &m), 0);
    assert_int_equal(m, BENCH_WL_BIT(BENCH_W3P) | BENCH_WL_BIT(BENCH_W5));
    assert_int_equal(bench_parse_workloads("all", &m), 0);
    assert_int_equal(m, BENCH_WL_ALL);
    m = 99;
    assert_int_equal(bench_parse_workloads("W6", &m), -1);
    assert_int_equal(bench_parse_workloads("W1,", &m), -1);
    assert_int_equal(bench_parse_workloads("", &m), -1);
    assert_int_equal(bench_parse_workloads("SOAK", &m), -1);
    assert_int_equal(m, 99);
    for (int w = 0; w < BENCH_WL_COUNT; w++) {
        assert_int_equal(bench_parse_workloads(bench_wl_id(w), &m), 0);
        assert_int_equal(m, BENCH_WL_BIT(w));
    }
    assert_string_equal(bench_wl_id(BENCH_SOAK), "SOAK");
    assert_string_equal(bench_wl_id(99), "?");
    /* "all" is every workload, W2A included; W2A is named like the rest
     * and its bit is its own. */
    assert_int_equal(bench_parse_workloads("all", &m), 0);
    assert_true((m & BENCH_WL_BIT(BENCH_W2A)) != 0);
    assert_int_equal(bench_parse_workloads("w2a,W2", &m), 0);
    assert_int_equal(m, BENCH_WL_BIT(BENCH_W2A) | BENCH_WL_BIT(BENCH_W2));
    assert_int_equal(bench_parse_workloads("W2AA", &m), -1);
}

/* W2A was added without renumbering: the ids before it keep their
 * numbers (they are in old JSON and CSV consumers' hands), SOAK stays
 * the count, and every workload runs exactly once, W2A right after W2. */
static void test_workload_ids(void **state)
{
    (void)state;
    int seen[BENCH_WL_COUNT] = {0};
    assert_int_equal(BENCH_W1, 0);
    assert_int_equal(BENCH_W2, 1);
    assert_int_equal(BENCH_W3, 2);
    assert_int_equal(BENCH_W3P, 3);
    assert_int_equal(BENCH_W4, 4);
    assert_int_equal(BENCH_W5, 5);
    assert_int_equal(BENCH_W2A, 6);
    assert_int_equal(BENCH_WL_COUNT, 7);
    assert_int_equal(BENCH_SOAK, BENCH_WL_COUNT);
    assert_string_equal(bench_wl_id(BENCH_W5), "W5");
    assert_string_equal(bench_wl_id(BENCH_W2A), "W2A");
    assert_string_equal(bench_wl_name(BENCH_W2A), "parallel-async");
    assert_string_equal(bench_wl_name(BENCH_SOAK), "soak");
    for (int i = 0; i < BENCH_WL_COUNT; i++) {
        int wl = bench_wl_order(i);
        assert_true(wl >= 0 && wl < BENCH_WL_COUNT);
        seen[wl]++;
    }
    for (int w = 0; w < BENCH_WL_COUNT; w++)
        assert_int_equal(seen[w], 1);
    assert_int_equal(bench_wl_order(1), BENCH_W2);
    assert_int_equal(bench_wl_order(2), BENCH_W2A);
    assert_int_equal(bench_wl_order(-1), -1);
    assert_int_equal(bench_wl_order(BENCH_WL_COUNT), -1);
    /* Per-cycle CPU and context switches: W1-W3P and W2A only. */
    assert_int_equal(bench_wl_per_cycle(BENCH_W2A), 1);
    assert_int_equal(bench_wl_per_cycle(BENCH_W3P), 1);
    assert_int_equal(bench_wl_per_cycle(BENCH_W4), 0);
    assert_int_equal(bench_wl_per_cycle(BENCH_W5), 0);
    assert_int_equal(bench_wl_per_cycle(BENCH_SOAK), 0);
}

/* --async K is read by the strict integer parser in 1..4096. */
static void test_async_k(void **state)
{
    (void)state;
    uint32_t k = 7;
    assert_int_equal(bench_parse_u32("64", 1, BENCH_ASYNC_MAX, &k), 0);
    assert_int_equal(k, 64);
    assert_int_equal(bench_parse_u32("4096", 1, BENCH_ASYNC_MAX, &k), 0);
    assert_int_equal(k, 4096);
    k = 7;
    assert_int_equal(bench_parse_u32("0", 1, BENCH_ASYNC_MAX, &k), -1);
    assert_int_equal(bench_parse_u32("4097", 1, BENCH_ASYNC_MAX, &k), -1);
    assert_int_equal(bench_parse_u32("5000", 1, BENCH_ASYNC_MAX, &k), -1);
    assert_int_equal(bench_parse_u32("junk", 1, BENCH_ASYNC_MAX, &k), -1);
    assert_int_equal(bench_parse_u32("8x", 1, BENCH_ASYNC_MAX, &k), -1);
    assert_int_equal(bench_parse_u32("-8", 1, BENCH_ASYNC_MAX, &k), -1);
    assert_int_equal(k, 7);
}

/* The defaults the --help text promises. */
static void test_defaults(void **state)
{
    (void)state;
    bench_config c;
    bench_config_defaults(&c);
    assert_int_equal(c.node_count_n, 1);
    assert_int_equal(c.node_counts[0], 3);
    /* Every workload but W2A (it runs only when asked for). */
    assert_int_equal(c.workloads, BENCH_WL_DEFAULT);
    assert_int_equal(c.workloads & BENCH_WL_BIT(BENCH_W2A), 0);
    assert_int_equal(c.workloads | BENCH_WL_BIT(BENCH_W2A), BENCH_WL_ALL);
    assert_int_equal(c.async_k, 0);
    assert_int_equal(c.ttl_ms, 10000);
    assert_int_equal(c.leases, 1000);
    assert_int_equal(c.candidates, 3);
    assert_int_equal(c.election_ttl_ms, 1000);
    assert_int_equal(c.restart_guard_ms, REDLOCK_RESTART_GUARD_AUTO);
    assert_int_equal(c.soak_ms, 600000);
    assert_int_equal(c.duration_ms, 0);
    assert_int_equal(c.threads, 0);
    assert_string_equal(c.key_prefix, "redlock-bench:");
    assert_int_equal(c.json, 0);
    assert_null(c.plot_dir);
}

/* bench_copy truncates safely and says so. */
static void test_copy(void **state)
{
    (void)state;
    char buf[4];
    assert_int_equal(bench_copy(buf, sizeof(buf), "abc"), 0);
    assert_string_equal(buf, "abc");
    assert_int_equal(bench_copy(buf, sizeof(buf), "abcd"), -1);
    assert_string_equal(buf, "abc");
    assert_int_equal(bench_copy(buf, 0, "x"), -1);
}

/* --restart-guard: auto, or a time with a unit in 0ms..168h. */
static void test_restart_guard(void **state)
{
    (void)state;
    uint32_t v = 7;
    assert_int_equal(bench_parse_restart_guard("auto", &v), 0);
    assert_int_equal(v, REDLOCK_RESTART_GUARD_AUTO);
    assert_int_equal(bench_parse_restart_guard("0ms", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(bench_parse_restart_guard("30s", &v), 0);
    assert_int_equal(v, 30000);
    assert_int_equal(bench_parse_restart_guard("168h", &v), 0);
    assert_int_equal(v, REDLOCK_TTL_MAX_MS);
    v = 7;
    static const char *bad[] = {"169h", "30", "-1s", "", "AUTO", "auto ",
                                "1.5", NULL};
    for (size_t i = 0; bad[i] != NULL; i++)
        assert_int_equal(bench_parse_restart_guard(bad[i], &v), -1);
    assert_int_equal(bench_parse_restart_guard(NULL, &v), -1);
    assert_int_equal(v, 7);
}

/* Run the group. */
/* The former millisecond flags: a unit is required; ranges hold. */
static void test_duration_unit(void **state)
{
    (void)state;
    uint32_t v = 7;
    assert_int_equal(bench_parse_duration_unit_ms("10s", 10, 604800000, &v),
                     0);
    assert_int_equal(v, 10000);
    assert_int_equal(bench_parse_duration_unit_ms("250ms", 0, 3600000, &v),
                     0);
    assert_int_equal(v, 250);
    assert_int_equal(bench_parse_duration_unit_ms("168h", 10, 604800000, &v),
                     0);
    assert_int_equal(v, 604800000);
    static const char *const bad[] = {"10000", "10", "", "9ms", "168h1ms",
                                      "1.5", "x", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        assert_int_equal(
            bench_parse_duration_unit_ms(bad[i], 10, 604800000, &v), -1);
        assert_int_equal(v, 7);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_valid),
        cmocka_unit_test(test_duration_invalid),
        cmocka_unit_test(test_duration_edges),
        cmocka_unit_test(test_duration_unit),
        cmocka_unit_test(test_u32),
        cmocka_unit_test(test_u32_list),
        cmocka_unit_test(test_workloads),
        cmocka_unit_test(test_workload_ids),
        cmocka_unit_test(test_async_k),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_restart_guard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
