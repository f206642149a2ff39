/*
 * test_cli_password.c: how the CLI puts a password from REDLOCK_PASSWORD
 * or --password-file into node URIs (tools/redlock/password.c): only where
 * a URI has none, percent-encoded, for redis://, rediss:// and unix://
 * forms; and
 * that the library's URI parser reads the result back to the same
 * password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/redlock/password.c"
#include "uri.h"

/* One input URI, a password, and the URI expected out. */
typedef struct inject_case {
    const char *uri;
    const char *password;
    const char *want;
} inject_case;

/* The documented rewrites. */
static void test_inject(void **state)
{
    static const inject_case cases[] = {
        {"redis://h:1/2", "pw", "redis://:pw@h:1/2"},
        {"redis://h", "pw", "redis://:pw@h"},
        {"REDIS://h", "pw", "REDIS://:pw@h"},
        {"redis://[::1]:6379", "pw", "redis://:pw@[::1]:6379"},
        {"redis://user@h", "pw", "redis://user:pw@h"},
        {"redis://user:@h", "pw", "redis://user:pw@h"},
        {"redis://:@h", "pw", "redis://:pw@h"},
        {"redis://:own@h", "pw", "redis://:own@h"},
        {"redis://u:own@h/3", "pw", "redis://u:own@h/3"},
        {"redis://:p@ss@h", "pw", "redis://:p@ss@h"},
        {"redis://h", "a b@c:d/e%f", "redis://:a%20b%40c%3Ad%2Fe%25f@h"},
        {"redis://h", "-._~AZaz09", "redis://:-._~AZaz09@h"},
        {"unix:///s.sock", "pw", "unix:///s.sock?password=pw"},
        {"unix:///s.sock?db=1", "pw", "unix:///s.sock?db=1&password=pw"},
        {"unix:///s.sock?password=&db=1", "pw",
         "unix:///s.sock?db=1&password=pw"},
        {"unix:///s.sock?password=", "pw", "unix:///s.sock?password=pw"},
        {"unix:///s.sock?db=2&password=own", "pw",
         "unix:///s.sock?db=2&password=own"},
        {"unix:///s.sock?user=u",
         "p&q=", "unix:///s.sock?user=u&password=p%26q%3D"},
        {"rediss://h:1/2", "pw", "rediss://:pw@h:1/2"},
        {"REDISS://h", "pw", "REDISS://:pw@h"},
        {"rediss://user@h", "pw", "rediss://user:pw@h"},
        {"rediss://:own@h", "pw", "rediss://:own@h"},
        {"rediss://h", "a b@c", "rediss://:a%20b%40c@h"},
        {"sentinel://s:1/m?db=2", "pw", "sentinel://:pw@s:1/m?db=2"},
        {"sentinels://u@s/m", "pw", "sentinels://u:pw@s/m"},
        {"sentinel://:own@s/m", "pw", "sentinel://:own@s/m"},
        {"sentinel://s/m?sentinel_password=sp", "pw",
         "sentinel://:pw@s/m?sentinel_password=sp"},
        /* a '@' in the query is no credentials' end (the parser refuses
         * the URI; our password must not go into its query) */
        {"sentinel://h/m?sentinel_user=ops@corp", "pw",
         "sentinel://h/m?sentinel_user=ops@corp"},
        {"http://h", "pw", "http://h"},
        {"redis://h", "", "redis://h"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = cli_password_inject(cases[i].uri, cases[i].password);

        assert_non_null(got);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s + '%s': got %s, want %s", cases[i].uri,
                     cases[i].password, got, cases[i].want);
        cli_password_free_uri(got);
    }
    assert_null(cli_password_inject(NULL, "pw"));
    cli_password_free_uri(NULL);
}

/* Whatever the bytes of the password, the library parses the injected
 * URI back to exactly that password (and the right host or path). */
static void test_round_trip_through_parser(void **state)
{
    static const char *const passwords[] = {
        "simple", "with space",     "at@sign",          "colon:slash/",
        "pct%41", "q?hash#amp&eq=", "\x01\x7f\xc3\xa9", "@@::@@",
    };
    static const char *const uris[] = {
        "redis://10.0.0.1:6380/4",
        "redis://user@host",
        "unix:///tmp/r.sock",
        "unix:///tmp/r.sock?db=3",
        "rediss://10.0.0.1:6380/4",
        "rediss://user@host",
        "sentinels://s1:26380/mm?sentinel=s2&sentinel_password=sp",
        "sentinel://s1/mm?db=1",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(passwords) / sizeof(passwords[0]); i++) {
        for (size_t j = 0; j < sizeof(uris) / sizeof(uris[0]); j++) {
            char *got = cli_password_inject(uris[j], passwords[i]);
            redlock__uri u;
            char err[200] = "";

            assert_non_null(got);
            if (redlock__uri_parse(got, &u, err, sizeof(err)) != REDLOCK_OK)
                fail_msg("%s: %s", uris[j], err);
            assert_non_null(u.password);
            assert_string_equal(u.password, passwords[i]);
            if (j == 1 || j == 5)
                assert_string_equal(u.user, "user");
            assert_int_equal(u.tls, j >= 4 && j <= 6);
            if (j >= 6) {
                assert_int_equal(u.kind, REDLOCK__URI_SENTINEL);
                assert_string_equal(u.master_name, "mm");
                if (j == 6)
                    assert_string_equal(u.sentinel_password, "sp");
            }
            redlock__uri_clear(&u);
            cli_password_free_uri(got);
        }
    }
}

/* Run the tests. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inject),
        cmocka_unit_test(test_round_trip_through_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
