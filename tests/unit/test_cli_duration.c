/*
 * test_cli_duration.c: the CLI's duration parser and printer
 * (tools/redlock/duration.c): every accepted form, every rejected one with
 * its reason, overflow at the edges, and print/parse round trips.
 *
 * The parser is compiled into this test directly (it is pure and has no
 * dependencies), so the test needs nothing from the tool's build.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/redlock/duration.c"

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

/* Every unit, no unit, zero, and the largest values that still fit. */
static void test_accepted(void **state)
{
    static const good_case cases[] = {
        {"0", 0},
        {"1", 1},
        {"1500", 1500},
        {"1500ms", 1500},
        {"0ms", 0},
        {"10s", 10000},
        {"0s", 0},
        {"2m", 120000},
        {"1h", 3600000},
        {"007s", 7000},
        {"18446744073709551615", UINT64_MAX},
        {"18446744073709551615ms", UINT64_MAX},
        {"18446744073709551s", 18446744073709551000ull},
        {"5124095576030h", 5124095576030ull * 3600000ull},
        {"307445734561825m", 307445734561825ull * 60000ull},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ms = 12345;
        char err[128] = "";

        if (cli_parse_duration(cases[i].text, &ms, err, sizeof(err)) != 0)
            fail_msg("'%s' rejected: %s", cases[i].text, err);
        assert_int_equal(ms, cases[i].ms);
    }
}

/* Junk, signs, fractions, spaces, unknown units and overflow. */
static void test_rejected(void **state)
{
    static const bad_case cases[] = {
        {"", "empty"},
        {"-5s", "negative"},
        {"-0", "negative"},
        {"+5s", "expected a whole number"},
        {"ms", "expected a whole number"},
        {"s", "expected a whole number"},
        {" 10s", "expected a whole number"},
        {"10s ", "unknown unit"},
        {"10 s", "unknown unit"},
        {"1.5s", "fractions"},
        {"1,5s", "fractions"},
        {"10x", "unknown unit"},
        {"10sec", "unknown unit"},
        {"10S", "unknown unit"},
        {"10ss", "unknown unit"},
        {"10msx", "unknown unit"},
        {"10d", "unknown unit"},
        {"0x10", "unknown unit"},
        {"1e3", "unknown unit"},
        {"abc", "expected a whole number"},
        {"18446744073709551616", "too large"},
        {"99999999999999999999999999ms", "too large"},
        {"18446744073709552s", "too large"},
        {"307445734561826m", "too large"},
        {"5124095576031h", "too large"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ms = 4242;
        char err[128] = "";

        if (cli_parse_duration(cases[i].text, &ms, err, sizeof(err)) == 0)
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
    assert_int_equal(cli_parse_duration(NULL, &ms, NULL, 0), -1);
    assert_int_equal(cli_parse_duration("x", &ms, NULL, 0), -1);
    assert_int_equal(cli_parse_duration("5s", &ms, NULL, 0), 0);
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

        cli_format_duration(cases[i].ms, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].text);
        assert_int_equal(cli_parse_duration(buf, &back, NULL, 0), 0);
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
