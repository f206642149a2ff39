/*
 * test_cli_flags.c: the CLI's duration flags (--ttl, --wait, --grace,
 * --timeout) at their edges: 0, 1 ms, bare numbers (seconds), the
 * documented maximum, one past it,
 * INT64_MAX and UINT64_MAX milliseconds, and one past UINT64_MAX. Each
 * value is either stored exactly or refused as a usage error (status 64);
 * none is clamped or wrapped. And the TLS flags (--tls-ca, --tls-cert,
 * --tls-key, --tls-insecure): stored, paired, empty values refused.
 *
 * The flag table and parser (tools/redlock/flags.c) and the duration
 * parser are compiled into this test directly: they are pure, and print
 * only the usage message (to stderr, which the test silences).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../tools/common/duration.c"
#include "../../tools/redlock/flags.c"

/* Which field of cli_args a flag sets. */
enum { T_TTL, T_WAIT, T_GRACE, T_TIMEOUT };

/* One flag value and its outcome: 0 and the stored milliseconds, or
 * CLI_EXIT_USAGE. */
typedef struct flag_row {
    int which;
    const char *value;
    int rc;
    uint64_t ms;
} flag_row;

/* Parse "redlock <cmd> r --<flag> <value> -- true" with stderr silenced;
 * fills *a on success. */
static int parse_cmd(const char *command, const char *flag, const char *value,
                     cli_args *a)
{
    char prog[] = "redlock", res[] = "r", dashdash[] = "--", child[] = "true";
    char *argv[] = {prog,          (char *)command, res,   (char *)flag,
                    (char *)value, dashdash,        child, NULL};
    int argc = strcmp(command, "exec") == 0 || strcmp(command, "elect") == 0
                   ? 7
                   : 5;
    int saved = dup(2);
    int null = open("/dev/null", O_WRONLY);
    assert_true(saved >= 0 && null >= 0);
    fflush(stderr);
    dup2(null, 2);
    int rc = cli_parse_args(argc, argv, a);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(null);
    return rc;
}

/* exec accepts all four flags. */
static int parse_one(const char *flag, const char *value, cli_args *a)
{
    return parse_cmd("exec", flag, value, a);
}

/* Every row of the table. */
static void test_duration_flags(void **state)
{
    (void)state;
    static const char *const names[] = {"--ttl", "--wait", "--grace",
                                        "--timeout"};
#define INT64_MAX_S "9223372036854775807"
#define UINT64_MAX_S "18446744073709551615"
#define UINT64_OVER_S "18446744073709551616"
    static const flag_row rows[] = {
        /* --ttl: for exec (and elect) 10 ms .. REDLOCK_TTL_MAX_MS. A bare
         * number is seconds. */
        {T_TTL, "0", CLI_EXIT_USAGE, 0},
        {T_TTL, "1ms", CLI_EXIT_USAGE, 0},
        {T_TTL, "9ms", CLI_EXIT_USAGE, 0},
        {T_TTL, "10ms", 0, 10},
        {T_TTL, "0.01", 0, 10},
        {T_TTL, "1", 0, 1000},
        {T_TTL, "1.5", 0, 1500},
        {T_TTL, "1m30s", 0, 90000},
        {T_TTL, "604800", 0, REDLOCK_TTL_MAX_MS},
        {T_TTL, "604800000ms", 0, REDLOCK_TTL_MAX_MS},
        {T_TTL, "168h", 0, REDLOCK_TTL_MAX_MS},
        {T_TTL, "604800.001", CLI_EXIT_USAGE, 0},
        {T_TTL, "604800001ms", CLI_EXIT_USAGE, 0},
        {T_TTL, INT64_MAX_S, CLI_EXIT_USAGE, 0},
        {T_TTL, INT64_MAX_S "ms", CLI_EXIT_USAGE, 0},
        {T_TTL, UINT64_MAX_S "ms", CLI_EXIT_USAGE, 0},
        {T_TTL, UINT64_OVER_S "ms", CLI_EXIT_USAGE, 0},
        /* --wait: 0 (one attempt) .. CLI_MAX_WAIT_MS (366 days). */
        {T_WAIT, "0", 0, 0},
        {T_WAIT, "1ms", 0, 1},
        {T_WAIT, "1", 0, 1000},
        {T_WAIT, "31622400", 0, CLI_MAX_WAIT_MS},
        {T_WAIT, "31622400000ms", 0, CLI_MAX_WAIT_MS},
        {T_WAIT, "8784h", 0, CLI_MAX_WAIT_MS},
        {T_WAIT, "31622400001ms", CLI_EXIT_USAGE, 0},
        {T_WAIT, "31622401", CLI_EXIT_USAGE, 0},
        {T_WAIT, INT64_MAX_S, CLI_EXIT_USAGE, 0},
        {T_WAIT, UINT64_MAX_S "ms", CLI_EXIT_USAGE, 0},
        {T_WAIT, UINT64_OVER_S "ms", CLI_EXIT_USAGE, 0},
        /* --grace: 0 (SIGKILL at once) .. CLI_MAX_GRACE_MS (a day). */
        {T_GRACE, "0", 0, 0},
        {T_GRACE, "1ms", 0, 1},
        {T_GRACE, "86400", 0, CLI_MAX_GRACE_MS},
        {T_GRACE, "24h", 0, CLI_MAX_GRACE_MS},
        {T_GRACE, "86400001ms", CLI_EXIT_USAGE, 0},
        {T_GRACE, "86401", CLI_EXIT_USAGE, 0},
        {T_GRACE, INT64_MAX_S, CLI_EXIT_USAGE, 0},
        {T_GRACE, UINT64_MAX_S "ms", CLI_EXIT_USAGE, 0},
        {T_GRACE, UINT64_OVER_S "ms", CLI_EXIT_USAGE, 0},
        /* --timeout: 1 ms .. CLI_MAX_TIMEOUT_MS (ten minutes). */
        {T_TIMEOUT, "0", CLI_EXIT_USAGE, 0},
        {T_TIMEOUT, "1ms", 0, 1},
        {T_TIMEOUT, "1", 0, 1000},
        {T_TIMEOUT, "600", 0, CLI_MAX_TIMEOUT_MS},
        {T_TIMEOUT, "10m", 0, CLI_MAX_TIMEOUT_MS},
        {T_TIMEOUT, "600001ms", CLI_EXIT_USAGE, 0},
        {T_TIMEOUT, "601", CLI_EXIT_USAGE, 0},
        {T_TIMEOUT, INT64_MAX_S, CLI_EXIT_USAGE, 0},
        {T_TIMEOUT, UINT64_MAX_S "ms", CLI_EXIT_USAGE, 0},
        {T_TIMEOUT, UINT64_OVER_S "ms", CLI_EXIT_USAGE, 0},
    };
#undef INT64_MAX_S
#undef UINT64_MAX_S
#undef UINT64_OVER_S
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const flag_row *r = &rows[i];
        cli_args a;
        int rc = parse_one(names[r->which], r->value, &a);
        if (rc != r->rc)
            fail_msg("%s %s: %d, want %d", names[r->which], r->value, rc,
                     r->rc);
        if (rc != 0)
            continue;
        uint64_t got = 0;
        switch (r->which) {
        case T_TTL:
            got = a.ttl_ms;
            assert_true(a.ttl_set);
            break;
        case T_WAIT:
            got = a.wait_ms;
            assert_true(a.wait_set);
            break;
        case T_GRACE:
            got = a.grace_ms;
            break;
        case T_TIMEOUT:
            got = a.timeout_ms;
            break;
        }
        if (got != r->ms)
            fail_msg("%s %s: stored %llu, want %llu", names[r->which],
                     r->value, (unsigned long long)got,
                     (unsigned long long)r->ms);
        cli_args_free(&a);
    }
}

/* --ttl for the commands that do not renew: 1 ms .. REDLOCK_TTL_MAX_MS
 * in the parser; 1 and 2 ms are then refused by the library
 * (REDLOCK_ETTLSHORT, also status 64, tested in test_cli). For elect,
 * as for exec, at least 10 ms. */
static void test_ttl_per_command(void **state)
{
    (void)state;
    static const struct {
        const char *cmd, *value;
        int rc;
    } rows[] = {
        {"acquire", "0", CLI_EXIT_USAGE},
        {"acquire", "1ms", 0},
        {"acquire", "9ms", 0},
        {"acquire", "1", 0},
        {"acquire", "604800", 0},
        {"acquire", "604800001ms", CLI_EXIT_USAGE},
        {"acquire", "604801", CLI_EXIT_USAGE},
        {"elect", "1ms", CLI_EXIT_USAGE},
        {"elect", "9ms", CLI_EXIT_USAGE},
        {"elect", "10ms", 0},
        {"elect", "604801", CLI_EXIT_USAGE},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        cli_args a;
        int rc = parse_cmd(rows[i].cmd, "--ttl", rows[i].value, &a);
        if (rc != rows[i].rc)
            fail_msg("%s --ttl %s: %d, want %d", rows[i].cmd, rows[i].value,
                     rc, rows[i].rc);
        if (rc == 0)
            cli_args_free(&a);
    }
}

/* The limits fit the fields and the arithmetic done with them: --ttl in
 * uint32_t, and every limit in microseconds in 64 bits with room to add a
 * clock reading. */
static void test_limits_fit(void **state)
{
    (void)state;
    assert_true(REDLOCK_TTL_MAX_MS <= UINT32_MAX);
    assert_true(CLI_MAX_TIMEOUT_MS <= UINT32_MAX);
    assert_true(CLI_MAX_WAIT_MS < UINT64_MAX / 1000u / 2u);
    assert_true(CLI_MAX_GRACE_MS < UINT64_MAX / 1000u / 2u);
}

/* Parse a NULL-terminated argument list (without the program name) with
 * stderr silenced. */
static int parse_list(const char *const *args, cli_args *a)
{
    char *argv[16];
    int argc = 0;

    argv[argc++] = (char *)"redlock";
    for (size_t i = 0; args[i] != NULL && argc < 15; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    int saved = dup(2);
    int null = open("/dev/null", O_WRONLY);
    assert_true(saved >= 0 && null >= 0);
    fflush(stderr);
    dup2(null, 2);
    int rc = cli_parse_args(argc, argv, a);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(null);
    return rc;
}

/* The TLS flags: stored as given on every command that talks to nodes;
 * a certificate without its key (or the reverse) and empty file names
 * are usage errors whose message names the flag. */
static void test_tls_flags(void **state)
{
    (void)state;
    static const struct {
        const char *args[10];
        int rc;
        const char *ca, *cert, *key;
        int insecure;
        const char *msg; /* rc 64: a part of the usage message */
    } rows[] = {
        {{"acquire", "r", "--tls-ca", "ca.pem", NULL}, 0, "ca.pem", NULL,
         NULL, 0, NULL},
        {{"status", "r", "--tls-ca=/d", "--tls-cert", "c.pem", "--tls-key",
          "k.pem", NULL},
         0, "/d", "c.pem", "k.pem", 0, NULL},
        {{"release", "r", "0123", "--tls-insecure", NULL}, 0, NULL, NULL,
         NULL, 1, NULL},
        {{"exec", "r", "--tls-cert", "c", "--tls-key", "k", "--", "true",
          NULL},
         0, NULL, "c", "k", 0, NULL},
        {{"elect", "n", "--tls-insecure", "--tls-ca", "x", "--", "true",
          NULL},
         0, "x", NULL, NULL, 1, NULL},
        {{"acquire", "r", "--tls-cert", "c.pem", NULL}, CLI_EXIT_USAGE, NULL,
         NULL, NULL, 0, "--tls-cert needs --tls-key"},
        {{"acquire", "r", "--tls-key", "k.pem", NULL}, CLI_EXIT_USAGE, NULL,
         NULL, NULL, 0, "--tls-key needs --tls-cert"},
        {{"acquire", "r", "--tls-ca=", NULL}, CLI_EXIT_USAGE, NULL, NULL,
         NULL, 0, "--tls-ca: empty file name"},
        {{"acquire", "r", "--tls-cert", "", "--tls-key", "k", NULL},
         CLI_EXIT_USAGE, NULL, NULL, NULL, 0, "--tls-cert: empty"},
        {{"acquire", "r", "--tls-ca", NULL}, CLI_EXIT_USAGE, NULL, NULL,
         NULL, 0, "needs an argument"},
        {{"acquire", "r", "--tls-insecure=yes", NULL}, CLI_EXIT_USAGE, NULL,
         NULL, NULL, 0, "takes no argument"},
        /* Not at the top level, as for every node flag. */
        {{"--tls-insecure", NULL}, CLI_EXIT_USAGE, NULL, NULL, NULL, 0,
         "missing command"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        cli_args a;
        int rc = parse_list(rows[i].args, &a);

        if (rc != rows[i].rc)
            fail_msg("row %zu: %d, want %d (%s)", i, rc, rows[i].rc,
                     cli_usage_message());
        if (rc != 0) {
            if (strstr(cli_usage_message(), rows[i].msg) == NULL)
                fail_msg("row %zu: message '%s' lacks '%s'", i,
                         cli_usage_message(), rows[i].msg);
            continue;
        }
#define STR_EQ(got, want)                                                      \
    do {                                                                       \
        if (((got) == NULL) != ((want) == NULL) ||                             \
            ((got) != NULL && strcmp((got), (want)) != 0))                     \
            fail_msg("row %zu: %s = %s, want %s", i, #got,                     \
                     (got) ? (got) : "NULL", (want) ? (want) : "NULL");        \
    } while (0)
        STR_EQ(a.tls_ca, rows[i].ca);
        STR_EQ(a.tls_cert, rows[i].cert);
        STR_EQ(a.tls_key, rows[i].key);
#undef STR_EQ
        assert_int_equal(a.tls_insecure, rows[i].insecure);
        cli_args_free(&a);
    }
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_flags),
        cmocka_unit_test(test_ttl_per_command),
        cmocka_unit_test(test_limits_fit),
        cmocka_unit_test(test_tls_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
