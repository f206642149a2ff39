/*
 * test_bench_json.c: the bench's JSON writer and checker, and the shape of
 * its output lines: every field docs/bench.md promises is there with the
 * right type, latencies not measured are null, workload extras appear
 * where they belong, and the CSV row has as many cells as its header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench.h"
#include "json.h"

/* Writer: nesting, commas, escapes, numbers, null for non-finite. */
static void test_writer(void **state)
{
    (void)state;
    char buf[256];
    bench_json j;
    bench_json_init(&j, buf, sizeof(buf));
    bench_json_object_begin(&j, NULL);
    bench_json_str(&j, "s", "a\"b\\c\n\x01");
    bench_json_u64(&j, "u", UINT64_MAX);
    bench_json_i64(&j, "i", -5);
    bench_json_num(&j, "d", 2.50, 3);
    bench_json_num(&j, "z", 3.0, 3);
    bench_json_num(&j, "nz", -0.0001, 2);
    bench_json_num(&j, "inf", INFINITY, 1);
    bench_json_bool(&j, "t", 1);
    bench_json_null(&j, "n");
    bench_json_array_begin(&j, "a");
    bench_json_u64(&j, NULL, 1);
    bench_json_object_begin(&j, NULL);
    bench_json_object_end(&j);
    bench_json_array_end(&j);
    bench_json_object_end(&j);
    assert_true(bench_json_finish(&j) > 0);
    assert_string_equal(buf,
                        "{\"s\":\"a\\\"b\\\\c\\u000a\\u0001\","
                        "\"u\":18446744073709551615,\"i\":-5,\"d\":2.5,"
                        "\"z\":3,\"nz\":0,\"inf\":null,\"t\":true,\"n\":null,"
                        "\"a\":[1,{}]}");
    assert_int_equal(bench_json_check(buf, NULL, 0), 0);

    /* Overflow is reported, never written past the buffer. */
    char small[8];
    bench_json_init(&j, small, sizeof(small));
    bench_json_object_begin(&j, NULL);
    bench_json_str(&j, "key", "value");
    bench_json_object_end(&j);
    assert_int_equal(bench_json_finish(&j), -1);
    assert_true(strlen(small) < sizeof(small));

    /* Unclosed nesting is an error too. */
    bench_json_init(&j, buf, sizeof(buf));
    bench_json_object_begin(&j, NULL);
    assert_int_equal(bench_json_finish(&j), -1);
}

/* Checker: RFC 8259 values accepted, malformed ones refused. */
static void test_checker(void **state)
{
    (void)state;
    static const char *const good[] = {
        "{}", "[]", "0", "-0.5e+3", "\"x\\u00e9\\n\"", "true", "null",
        " {\"a\" : [1, 2, {\"b\": null}], \"c\": \"d\"} ",
        "{\"a\":{\"b\":{\"c\":1}}}",
    };
    static const char *const bad[] = {
        "",        "{",          "{\"a\":1,}", "[1,]",     "01",
        "1.",      ".5",         "+1",         "\"abc",    "{'a':1}",
        "{\"a\"}", "{\"a\":1}x", "tru",        "nul",      "\"\\x\"",
        "NaN",     "[1 2]",      "{\"a\":1 \"b\":2}",      "\"a\nb\"",
        "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]",
    };
    char err[64];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(bench_json_check(good[i], err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(bench_json_check(bad[i], err, sizeof(err)), -1);
        assert_true(strlen(err) > 0);
    }
}

/* Path lookup: nested members, numbers, strings, null, missing. */
static void test_find(void **state)
{
    (void)state;
    const char *doc = "{\"a\":1,\"b\":{\"c\":\"x\\\"y\",\"d\":null,"
                      "\"e\":[1,{\"c\":9}],\"f\":-2.5},\"c\":3}";
    double v;
    char s[16];
    assert_int_equal(bench_json_number(doc, "a", &v), 0);
    assert_true(v == 1.0);
    assert_int_equal(bench_json_number(doc, "c", &v), 0);
    assert_true(v == 3.0);
    assert_int_equal(bench_json_number(doc, "b.f", &v), 0);
    assert_true(v == -2.5);
    assert_int_equal(bench_json_string(doc, "b.c", s, sizeof(s)), 0);
    assert_string_equal(s, "x\"y");
    assert_int_equal(bench_json_is_null(doc, "b.d"), 1);
    assert_int_equal(bench_json_is_null(doc, "a"), 0);
    assert_int_equal(bench_json_is_null(doc, "zz"), -1);
    assert_int_equal(bench_json_number(doc, "b.c", &v), -1);
    assert_int_equal(bench_json_number(doc, "b.x", &v), -1);
    assert_int_equal(bench_json_number(doc, "a.b", &v), -1);
    assert_int_equal(bench_json_number("{\"a\":1,}", "a", &v), -1);
}

/* A result with every section filled in, as a W2 run would give. */
static void fill_w2(bench_result *r)
{
    bench_result_init(r, BENCH_W2, 3);
    r->threads = 64;
    r->duration_s = 5.0;
    r->cycles = 123456;
    r->cycles_per_s = 24691.2;
    r->acquire_us = (bench_pcts){100, 150.0, 300.0, 800.0, 2000.0, 4000.0};
    r->release_us = (bench_pcts){100, 120.0, 200.0, 500.0, 900.0, 1000.0};
    r->fail_taken = 1;
    r->fail_quorum = 2;
    r->fail_other = 3;
    r->cpu_s = 4.5;
    r->rss_kb = 9000;
    r->limits.nodes = 3;
    r->limits.have_ping = 1;
    r->limits.have_capacity = 1;
    r->limits.ping_us_p50 = 25.0;
    r->limits.ping_us_p50_node[0] = 24.0;
    r->limits.ping_us_p50_node[1] = 25.0;
    r->limits.ping_us_p50_node[2] = 23.0;
    r->limits.capacity_ops_s = 400000.0;
    r->limits.have_inline = 1;
    r->limits.inline_us_p50 = 60.0;
    r->limits.inline_us_p99 = 120.0;
    r->limits.inline_cpu_us = 45.5;
    r->limits.inline_iters = 2000;
    r->limit_ratio = 0.37;
    r->ttl_ms = 10000;
}

/* The number at path in line is exactly want. */
static void expect_num(const char *line, const char *path, double want)
{
    double v = 0.0;

    if (bench_json_number(line, path, &v) != 0 || v != want)
        fail_msg("%s: want %g in: %s", path, want, line);
}

/* Every field the spec lists, with its type. */
static void check_spec_fields(const char *line, const char *wl)
{
    static const char *const numbers[] = {
        "nodes",           "threads",         "duration_s",
        "cycles",          "cycles_per_s",    "failures.taken",
        "failures.quorum", "failures.other",  "violations",
        "lost",            "cpu_s",           "rss_kb",
    };
    static const char *const objects[] = {"acquire_us", "release_us",
                                          "limits.ping_us_p50",
                                          "limits.capacity_ops_s"};
    char s[32];
    double v;
    const char *val;
    size_t len;

    assert_int_equal(bench_json_check(line, NULL, 0), 0);
    assert_int_equal(bench_json_string(line, "tool", s, sizeof(s)), 0);
    assert_string_equal(s, "redlock-bench");
    assert_int_equal(bench_json_string(line, "version", s, sizeof(s)), 0);
    assert_true(strlen(s) > 0);
    assert_int_equal(bench_json_string(line, "workload", s, sizeof(s)), 0);
    assert_string_equal(s, wl);
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
        assert_int_equal(bench_json_number(line, numbers[i], &v), 0);
    for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++)
        assert_int_equal(bench_json_find(line, objects[i], &val, &len), 0);
    /* A single line: no newline inside. */
    assert_null(strchr(line, '\n'));
}

/* W2 line: the spec's shape, percentiles as numbers, the limits. */
static void test_format_w2(void **state)
{
    (void)state;
    bench_result r;
    char line[8192];
    double v;
    fill_w2(&r);
    assert_true(bench_format_json(&r, "abcd1234", line, sizeof(line)) > 0);
    check_spec_fields(line, "W2");
    static const char *const pcts[] = {"p50", "p90", "p99", "p999", "max"};
    for (size_t i = 0; i < 5; i++) {
        char path[32];
        snprintf(path, sizeof(path), "acquire_us.%s", pcts[i]);
        assert_int_equal(bench_json_number(line, path, &v), 0);
    }
    assert_int_equal(bench_json_number(line, "acquire_us.p50", &v), 0);
    assert_true(v == 150.0);
    assert_int_equal(bench_json_number(line, "release_us.p99", &v), 0);
    assert_true(v == 500.0);
    assert_int_equal(bench_json_number(line, "cycles", &v), 0);
    assert_true(v == 123456.0);
    assert_int_equal(bench_json_number(line, "cycles_per_s", &v), 0);
    assert_true(v == 24691.2);
    assert_int_equal(bench_json_number(line, "failures.other", &v), 0);
    assert_true(v == 3.0);
    assert_int_equal(bench_json_number(line, "limits.ping_us_p50", &v), 0);
    assert_true(v == 25.0);
    assert_int_equal(bench_json_number(line, "limits.capacity_ops_s", &v),
                     0);
    assert_true(v == 400000.0);
    /* L1q, the inline quorum fan-out, beside L1 and L2. */
    expect_num(line, "limits.l1q_us_p50", 60.0);
    expect_num(line, "limits.l1q_us_p99", 120.0);
    expect_num(line, "limits.l1q_cpu_us_per_iter", 45.5);
    expect_num(line, "limits.l1q_iterations", 2000.0);
    assert_int_equal(bench_json_number(line, "limit_ratio", &v), 0);
    assert_true(v == 0.37);
    assert_int_equal(bench_json_is_null(line, "leases"), -1);
    assert_int_equal(bench_json_is_null(line, "failovers"), -1);
    assert_int_equal(bench_json_is_null(line, "error"), -1);
}

/* W2A line: the spec's fields, the per-cycle figures W2 has, and
 * in_flight (K), which no other workload carries. */
static void test_format_w2a(void **state)
{
    (void)state;
    bench_result r;
    char line[8192];
    fill_w2(&r);
    assert_true(bench_format_json(&r, "abcd1234", line, sizeof(line)) > 0);
    assert_int_equal(bench_json_is_null(line, "in_flight"), -1);
    r.wl = BENCH_W2A;
    r.threads = 1;
    r.in_flight = 64;
    r.cpu_us_per_cycle = 12.5;
    r.csw_per_cycle = 1.25;
    assert_true(bench_format_json(&r, "abcd1234", line, sizeof(line)) > 0);
    check_spec_fields(line, "W2A");
    expect_num(line, "threads", 1.0);
    expect_num(line, "in_flight", 64.0);
    expect_num(line, "cpu_us_per_cycle", 12.5);
    expect_num(line, "context_switches_per_cycle", 1.25);
    expect_num(line, "limit_ratio", 0.37);
    {
        char name[32];
        assert_int_equal(bench_json_string(line, "name", name, sizeof(name)),
                         0);
        assert_string_equal(name, "parallel-async");
    }
    assert_int_equal(bench_json_is_null(line, "leases"), -1);
    assert_int_equal(bench_json_is_null(line, "handover_us"), -1);
}

/* W1 line: the ratios to L1q; W3 line: the hand-over gap. */
static void test_format_w1_w3(void **state)
{
    (void)state;
    bench_result r;
    char line[8192];
    fill_w2(&r);
    r.wl = BENCH_W1;
    r.cpu_us_per_cycle = 91.0;
    r.l1q_ratio = 1.2;
    r.l1q_cpu_ratio = 2.0;
    assert_true(bench_format_json(&r, "abcd1234", line, sizeof(line)) > 0);
    check_spec_fields(line, "W1");
    expect_num(line, "cpu_us_per_cycle", 91.0);
    expect_num(line, "l1q_ratio.acquire_p50", 1.2);
    expect_num(line, "l1q_ratio.cpu_per_cycle", 2.0);
    assert_int_equal(bench_json_is_null(line, "handover_us"), -1);
    r.l1q_ratio = 0.0; /* no L1q: null */
    assert_true(bench_format_json(&r, "abcd1234", line, sizeof(line)) > 0);
    assert_int_equal(bench_json_is_null(line, "l1q_ratio"), 1);

    fill_w2(&r);
    r.wl = BENCH_W3;
    r.handover_us = (bench_pcts){50, 80.0, 90.0, 200.0, 300.0, 400.0};
    r.handover_early = 3;
    assert_true(bench_format_json(&r, "abcd1234", line, sizeof(line)) > 0);
    check_spec_fields(line, "W3");
    expect_num(line, "handover_us.p50", 80.0);
    expect_num(line, "handover_us.p99", 200.0);
    expect_num(line, "handover_early", 3.0);
    assert_int_equal(bench_json_is_null(line, "l1q_ratio"), -1);
}

/* W5 line: latencies null, failover figures present; an error string is
 * escaped into valid JSON. */
static void test_format_w5(void **state)
{
    (void)state;
    bench_result r;
    char line[8192], s[64];
    double v;
    bench_result_init(&r, BENCH_W5, 1);
    r.candidates = 3;
    r.threads = 3;
    r.failovers = 4;
    r.failover_ttl_p50 = 0.71;
    r.failover_ttl_max = 0.98;
    r.failover_ms_p50 = 710.0;
    r.failover_ms_max = 980.0;
    r.has_retry = 1;
    r.retry_delay_ms = 1;
    r.retry_jitter_ms = 2;
    snprintf(r.error, sizeof(r.error), "bad \"thing\"\n");
    assert_true(bench_format_json(&r, NULL, line, sizeof(line)) > 0);
    check_spec_fields(line, "W5");
    assert_int_equal(bench_json_is_null(line, "acquire_us"), 1);
    assert_int_equal(bench_json_is_null(line, "release_us"), 1);
    assert_int_equal(bench_json_is_null(line, "limits.ping_us_p50"), 1);
    assert_int_equal(bench_json_is_null(line, "limits.l1q_us_p50"), 1);
    assert_int_equal(bench_json_is_null(line, "limits.l1q_cpu_us_per_iter"),
                     1);
    assert_int_equal(bench_json_is_null(line, "limit_ratio"), 1);
    assert_int_equal(bench_json_number(line, "failovers", &v), 0);
    assert_true(v == 4.0);
    assert_int_equal(bench_json_number(line, "failover_ttl.p50", &v), 0);
    assert_true(v == 0.71);
    assert_int_equal(bench_json_number(line, "failover_ttl.max", &v), 0);
    assert_int_equal(bench_json_number(line, "retry.jitter_ms", &v), 0);
    assert_true(v == 2.0);
    assert_int_equal(bench_json_string(line, "error", s, sizeof(s)), 0);
    assert_int_equal(bench_json_is_null(line, "run_id"), -1);
}

/* W4 line: the lease figures. */
static void test_format_w4(void **state)
{
    (void)state;
    bench_result r;
    char line[8192];
    double v;
    bench_result_init(&r, BENCH_W4, 5);
    r.leases = 1000;
    r.extensions = 15000;
    r.extensions_per_s = 1500.0;
    r.cpu_s_per_1000_leases_per_s = 0.0123;
    r.rss_per_lease_b = 700.0;
    r.lost = 0;
    assert_true(bench_format_json(&r, "x", line, sizeof(line)) > 0);
    check_spec_fields(line, "W4");
    assert_int_equal(bench_json_number(line, "leases", &v), 0);
    assert_true(v == 1000.0);
    assert_int_equal(bench_json_number(line, "extensions_per_s", &v), 0);
    assert_true(v == 1500.0);
    assert_int_equal(
        bench_json_number(line, "cpu_s_per_1000_leases_per_s", &v), 0);
    assert_true(v == 0.0123);
    assert_int_equal(bench_json_number(line, "rss_per_lease_b", &v), 0);
    assert_int_equal(bench_json_number(line, "lost", &v), 0);
    assert_true(v == 0.0);
    /* Live bytes per lease: null until measured, then a number. */
    assert_int_equal(bench_json_is_null(line, "heap_per_lease_b"), 1);
    r.heap_per_lease_b = 412.0;
    assert_true(bench_format_json(&r, "x", line, sizeof(line)) > 0);
    expect_num(line, "heap_per_lease_b", 412.0);
}

/* Soak line: lease figures without the W4-only CPU ratio, the RSS and
 * heap samples as arrays. */
static void test_format_soak(void **state)
{
    (void)state;
    bench_result r;
    char line[8192];
    double v;
    const char *val;
    size_t len;
    long rss[3] = {100, 110, 120}, heap[3] = {50, 51, 52};
    bench_result_init(&r, BENCH_SOAK, 3);
    r.leases = 1000;
    r.rss_start_kb = 100;
    r.rss_end_kb = 120;
    r.rss_growth_per_lease_b = 20.48;
    r.rss_samples_kb = rss;
    r.heap_samples_kb = heap;
    r.rss_samples = 3;
    assert_true(bench_format_json(&r, "x", line, sizeof(line)) > 0);
    check_spec_fields(line, "SOAK");
    assert_int_equal(bench_json_number(line, "rss_end_kb", &v), 0);
    assert_true(v == 120.0);
    assert_int_equal(bench_json_number(line, "rss_growth_per_lease_b", &v),
                     0);
    assert_int_equal(bench_json_find(line, "rss_kb_samples", &val, &len), 0);
    assert_int_equal(strncmp(val, "[100,110,120]", len), 0);
    assert_int_equal(
        bench_json_find(line, "heap_in_use_kb_samples", &val, &len), 0);
    assert_int_equal(strncmp(val, "[50,51,52]", len), 0);
    assert_int_equal(bench_json_is_null(line, "cpu_s_per_1000_leases_per_s"),
                     -1);
}

/* The soak's growth base comes after a round of every fault kind when
 * half the run remains; the verdict holds fds, threads, live heap and RSS
 * to their limits. */
static void test_soak_verdict(void **state)
{
    (void)state;
    assert_int_equal(bench_soak_base_ms(600000, 30000), 130000);
    assert_int_equal(bench_soak_base_ms(100000, 10000), 50000);
    assert_int_equal(bench_soak_base_ms(34000, 5000), BENCH_SOAK_WARMUP_MS);
    assert_int_equal(bench_soak_base_ms(600000, 0), BENCH_SOAK_WARMUP_MS);
    assert_int_equal(bench_soak_base_ms(600000, 1000), BENCH_SOAK_WARMUP_MS);

    bench_result r;
    bench_result_init(&r, BENCH_SOAK, 3);
    r.fds_start = r.fds_end = 12;
    r.threads_start = r.threads_end = 70;
    r.heap_warm_kb = 7000;
    r.heap_end_kb = 7100;
    r.rss_warm_kb = 14000;
    r.rss_end_kb = 16000;
    assert_true(bench_soak_no_growth(&r));
    r.heap_end_kb = 7000 + BENCH_SOAK_HEAP_GROWTH_MAX_KB;
    assert_false(bench_soak_no_growth(&r));
    r.heap_end_kb = r.heap_warm_kb = -1; /* unknown: RSS alone decides */
    assert_true(bench_soak_no_growth(&r));
    r.rss_end_kb = 14000 + BENCH_SOAK_RSS_GROWTH_MAX_KB;
    assert_false(bench_soak_no_growth(&r));
    r.rss_end_kb = 14000;
    r.fds_end = 13;
    assert_false(bench_soak_no_growth(&r));
    r.fds_end = 12;
    r.threads_end = 71;
    assert_false(bench_soak_no_growth(&r));
}

/* A buffer too small for the line is an error, not a truncated line. */
static void test_format_too_small(void **state)
{
    (void)state;
    bench_result r;
    char line[64];
    fill_w2(&r);
    assert_int_equal(bench_format_json(&r, "x", line, sizeof(line)), -1);
    assert_int_equal(bench_format_csv(&r, "x", line, sizeof(line)), -1);
}

/* Count the commas of s (the CSV has no quoted cells). */
static size_t commas(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == ',';
    return n;
}

/* CSV: as many cells as the header, for every kind of row. */
static void test_csv(void **state)
{
    (void)state;
    char header[1024], row[2048];
    bench_result r;
    assert_true(bench_format_csv_header(header, sizeof(header)) > 0);
    fill_w2(&r);
    assert_true(bench_format_csv(&r, "id", row, sizeof(row)) > 0);
    assert_int_equal(commas(row), commas(header));
    bench_result_init(&r, BENCH_W5, 1);
    snprintf(r.error, sizeof(r.error), "a, \"b\"");
    assert_true(bench_format_csv(&r, NULL, row, sizeof(row)) > 0);
    assert_int_equal(commas(row), commas(header));
    bench_result_init(&r, BENCH_W4, 1);
    assert_true(bench_format_csv(&r, "id", row, sizeof(row)) > 0);
    assert_int_equal(commas(row), commas(header));
    assert_int_equal(strncmp(header, "tool,version,run_id,workload", 28), 0);
    /* W2A: K in the last column (added last, so readers by position keep
     * working); empty there for the others. */
    fill_w2(&r);
    assert_true(bench_format_csv(&r, "id", row, sizeof(row)) > 0);
    assert_int_equal(row[strlen(row) - 1], ',');
    r.wl = BENCH_W2A;
    r.in_flight = 64;
    assert_true(bench_format_csv(&r, "id", row, sizeof(row)) > 0);
    assert_int_equal(commas(row), commas(header));
    assert_non_null(strstr(row, ",W2A,"));
    assert_string_equal(strrchr(row, ','), ",64");
    assert_string_equal(strrchr(header, ','), ",in_flight");
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_checker),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_format_w2),
        cmocka_unit_test(test_format_w2a),
        cmocka_unit_test(test_format_w1_w3),
        cmocka_unit_test(test_format_w5),
        cmocka_unit_test(test_format_w4),
        cmocka_unit_test(test_format_soak),
        cmocka_unit_test(test_soak_verdict),
        cmocka_unit_test(test_format_too_small),
        cmocka_unit_test(test_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
