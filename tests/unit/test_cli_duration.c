/*
 * test_cli_duration.c: the duration parser and printer that `redlock`
 * and `redlock-bench` share (tools/common/duration.c): bare numbers as
 * seconds, units, fractions and compounds, every rejected form with its
 * reason, overflow at the edges, and print/parse round trips.
 *
 * The parser is compiled into this test directly (it is pure and has no
 * dependencies), so the test needs nothing from the tools' builds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/common/duration.c"

/* One accepted input and its value in milliseconds. */
typedef struct good_case {
    const char *text;
    uint64_t ms;
} good_case;

/* One rejected input and a phrase its reason must contain. */
typedef struct bad_case {
    const char *text;
    const char *reason;
} bad_case;

/* Bare numbers (seconds), every unit, fractions, compounds, zero, and
 * the largest values that still fit. */
static void test_accepted(void **state)
{
    static const good_case cases[] = {
        /* A bare number is seconds, as in flock and etcdctl. */
        {"0", 0},
        {"1", 1000},
        {"10", 10000},
        {"1.5", 1500},
        {"0.25", 250},
        {"0.001", 1},
        {"007", 7000},
        /* One unit. */
        {"1500ms", 1500},
        {"0ms", 0},
        {"250ms", 250},
        {"10s", 10000},
        {"0s", 0},
        {"2m", 120000},
        {"1h", 3600000},
        {"2h", 7200000},
        {"007s", 7000},
        /* Fractions with a unit, exact to the millisecond. */
        {"1.5s", 1500},
        {"1.500s", 1500},
        {"0.5m", 30000},
        {"0.25h", 900000},
        {"1.0ms", 1},
        /* Compounds: largest unit first, each once. */
        {"1m30s", 90000},
        {"1h30m", 5400000},
        {"1h2m3s4ms", 3723004},
        {"1h0m", 3600000},
        {"1m0.5s", 60500},
        {"2s500ms", 2500},
        {"1.5h30m", 7200000},
        /* The edges of 64 bits. */
        {"18446744073709551615ms", UINT64_MAX},
        {"18446744073709551s", 18446744073709551000ull},
        {"18446744073709551", 18446744073709551000ull},
        {"18446744073709551.615", UINT64_MAX},
        {"5124095576030h", 5124095576030ull * 3600000ull},
        {"307445734561825m", 307445734561825ull * 60000ull},
        {"5124095576030h25m", 5124095576030ull * 3600000ull + 1500000ull},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ms = 12345;
        char err[160] = "";

        if (tool_duration_parse(cases[i].text, &ms, err, sizeof(err)) != 0)
            fail_msg("'%s' rejected: %s", cases[i].text, err);
        if (ms != cases[i].ms)
            fail_msg("'%s': %llu ms, want %llu", cases[i].text,
                     (unsigned long long)ms, (unsigned long long)cases[i].ms);
    }
}

/* Junk, signs, bad fractions, spaces, unknown units, bad compounds and
 * overflow. */
static void test_rejected(void **state)
{
    static const bad_case cases[] = {
        {"", "empty"},
        {"-5s", "negative"},
        {"-0", "negative"},
        {"+5s", "expected a number"},
        {"ms", "expected a number"},
        {"s", "expected a number"},
        {" 10s", "expected a number"},
        {"abc", "expected a number"},
        {"inf", "expected a number"},
        {"nan", "expected a number"},
        {"10s ", "unknown unit"},
        {"10 s", "unknown unit"},
        {"10x", "unknown unit"},
        {"10sec", "unknown unit"},
        {"10S", "unknown unit"},
        {"10ss", "unknown unit"},
        {"10msx", "unknown unit"},
        {"10mss", "unknown unit"},
        {"10d", "unknown unit"},
        {"0x10", "unknown unit"},
        {"1e3", "unknown unit"},
        {"1,5s", "with a point"},
        {".5s", "digit before the point"},
        {".5", "digit before the point"},
        {"1m.5s", "digit before the point"},
        {"3.", "digit after the point"},
        {"3.s", "digit after the point"},
        {"1..2", "digit after the point"},
        {"1.5.5s", "at most one point"},
        {"0.5ms", "finer than a millisecond"},
        {"1.0005s", "finer than a millisecond"},
        {"0.0004", "finer than a millisecond"},
        {"1.00000001h", "finer than a millisecond"},
        {"1m30", "needs a unit"},
        {"1h30", "needs a unit"},
        {"30s1m", "largest to smallest"},
        {"1s1s", "largest to smallest"},
        {"1ms1s", "largest to smallest"},
        {"18446744073709551616ms", "too large"},
        {"99999999999999999999999999ms", "too large"},
        {"18446744073709552s", "too large"},
        {"18446744073709552", "too large"},
        {"307445734561826m", "too large"},
        {"5124095576031h", "too large"},
        {"5124095576030h26m", "too large"},
        {"18446744073709551615ms1ms", "largest to smallest"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ms = 4242;
        char err[160] = "";

        if (tool_duration_parse(cases[i].text, &ms, err, sizeof(err)) == 0)
            fail_msg("'%s' accepted as %llu", cases[i].text,
                     (unsigned long long)ms);
        assert_int_equal(ms, 4242); /* untouched on failure */
        if (strstr(err, cases[i].reason) == NULL)
            fail_msg("'%s': reason '%s' lacks '%s'", cases[i].text, err,
                     cases[i].reason);
    }
}

/* NULL input and no error buffer are handled. */
static void test_null_and_no_buffer(void **state)
{
    uint64_t ms = 1;

    (void)state;
    assert_int_equal(tool_duration_parse(NULL, &ms, NULL, 0), -1);
    assert_int_equal(tool_duration_parse("x", &ms, NULL, 0), -1);
    assert_int_equal(tool_duration_parse("5s", &ms, NULL, 0), 0);
    assert_int_equal(ms, 5000);
    assert_int_equal(tool_duration_parse("5", &ms, NULL, 0), 0);
    assert_int_equal(ms, 5000);
}

/* The printer writes the shortest exact form, and it parses back. */
static void test_format_round_trip(void **state)
{
    static const struct {
        uint64_t ms;
        const char *text;
    } cases[] = {
        {0, "0ms"},          {1, "1ms"},
        {999, "999ms"},      {1000, "1s"},
        {1500, "1500ms"},    {30000, "30s"},
        {60000, "1m"},       {90000, "90s"},
        {5400000, "90m"},    {3600000, "1h"},
        {604800000, "168h"}, {UINT64_MAX, "18446744073709551615ms"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        uint64_t back = 0;

        tool_duration_format(cases[i].ms, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].text);
        assert_int_equal(tool_duration_parse(buf, &back, NULL, 0), 0);
        assert_int_equal(back, cases[i].ms);
    }
}

/* Run the tests. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_null_and_no_buffer),
        cmocka_unit_test(test_format_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
