/*
 * test_node_class.c: the classification of node failures, driven by
 * tables: error replies to our commands (reply.c), error replies to each
 * handshake command (reply.c), failed connects (classify.c), and the
 * run_id line of INFO server (reply.c), and the duplicate-server rule
 * over sequences of handshakes (classify.c). These decide the status that
 * node_error_fn, redlock_inspect()'s views and
 * redlock_acquire_info.node_status report for a node.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "classify.h"
#include "reply.h"

/* Error replies to a command after the handshake. */
static void test_reply_error_status(void **state)
{
    (void)state;
    static const struct {
        const char *err;
        redlock_status other, want;
    } rows[] = {
        {"NOAUTH Authentication required.", REDLOCK_EIO, REDLOCK_EAUTH},
        {"WRONGPASS invalid username-password pair or user is disabled.",
         REDLOCK_EIO, REDLOCK_EAUTH},
        {"NOPERM this user has no permissions to run the 'set' command",
         REDLOCK_EIO, REDLOCK_EAUTH},
        {"NOPERM this user has no permissions to run the 'evalsha' command",
         REDLOCK_EPROTO, REDLOCK_EAUTH},
        {"NOPERM", REDLOCK_EIO, REDLOCK_EAUTH},
        /* a longer word is not the code */
        {"NOPERMS nope", REDLOCK_EIO, REDLOCK_EIO},
        {"ERR NOPERM inside", REDLOCK_EIO, REDLOCK_EIO},
        {"WRONGTYPE Operation against a key holding the wrong kind of value",
         REDLOCK_EIO, REDLOCK_EIO},
        {"OOM command not allowed when used memory > 'maxmemory'.",
         REDLOCK_EIO, REDLOCK_EIO},
        {"ERR unknown command", REDLOCK_EPROTO, REDLOCK_EPROTO},
        {"", REDLOCK_EIO, REDLOCK_EIO},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_status got = redlock__reply_error_status(
            rows[i].err, strlen(rows[i].err), rows[i].other);
        if (got != rows[i].want)
            print_error("row %zu: \"%s\"\n", i, rows[i].err);
        assert_int_equal(got, rows[i].want);
    }
    assert_int_equal(redlock__reply_error_status(NULL, 0, REDLOCK_EIO),
                     REDLOCK_EIO);
}

/* Error replies to each handshake command. */
static void test_handshake_error_status(void **state)
{
    (void)state;
    static const struct {
        redlock__hs_cmd cmd;
        const char *err;
        redlock_status want;
    } rows[] = {
        /* AUTH: every error is an authentication failure */
        {REDLOCK__HS_AUTH,
         "WRONGPASS invalid username-password pair or user is disabled.",
         REDLOCK_EAUTH},
        {REDLOCK__HS_AUTH, "ERR invalid password", REDLOCK_EAUTH},
        {REDLOCK__HS_AUTH,
         "ERR AUTH <password> called without any password configured for "
         "the default user. Are you sure your configuration is correct?",
         REDLOCK_EAUTH},
        {REDLOCK__HS_AUTH, "ERR Client sent AUTH, but no password is set",
         REDLOCK_EAUTH},
        /* SELECT: the database, unless it is about who we are */
        {REDLOCK__HS_SELECT, "ERR DB index is out of range", REDLOCK_EDB},
        {REDLOCK__HS_SELECT, "ERR invalid DB index", REDLOCK_EDB},
        {REDLOCK__HS_SELECT, "ERR SELECT is not allowed in cluster mode",
         REDLOCK_EDB},
        {REDLOCK__HS_SELECT, "NOAUTH Authentication required.",
         REDLOCK_EAUTH},
        {REDLOCK__HS_SELECT,
         "NOPERM this user has no permissions to run the 'select' command",
         REDLOCK_EAUTH},
        /* INFO and SCRIPT LOAD: only NOAUTH is fatal */
        {REDLOCK__HS_INFO, "NOAUTH Authentication required.", REDLOCK_EAUTH},
        {REDLOCK__HS_INFO,
         "NOPERM this user has no permissions to run the 'info' command",
         REDLOCK_OK},
        {REDLOCK__HS_INFO, "ERR unknown command 'INFO'", REDLOCK_OK},
        {REDLOCK__HS_SCRIPT, "NOAUTH Authentication required.",
         REDLOCK_EAUTH},
        {REDLOCK__HS_SCRIPT,
         "NOPERM this user has no permissions to run the 'script|load' "
         "command",
         REDLOCK_OK},
        {REDLOCK__HS_SCRIPT, "ERR unknown command 'SCRIPT'", REDLOCK_OK},
        /* a server at maxclients, whichever command met it */
        {REDLOCK__HS_AUTH, "ERR max number of clients reached",
         REDLOCK_EREFUSED},
        {REDLOCK__HS_SELECT, "ERR max number of clients reached",
         REDLOCK_EREFUSED},
        {REDLOCK__HS_SCRIPT, "ERR max number of clients reached",
         REDLOCK_EREFUSED},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_status got = redlock__handshake_error_status(
            rows[i].cmd, rows[i].err, strlen(rows[i].err));
        if (got != rows[i].want)
            print_error("row %zu: cmd %d \"%s\"\n", i, (int)rows[i].cmd,
                        rows[i].err);
        assert_int_equal(got, rows[i].want);
    }
}

/* Failed connects: the errno, else hiredis's text. */
static void test_connect_error_status(void **state)
{
    (void)state;
    char refused[128], timedout[128], text[200];
    snprintf(refused, sizeof(refused), "%s", strerror(ECONNREFUSED));
    snprintf(timedout, sizeof(timedout), "%s", strerror(ETIMEDOUT));
    assert_int_equal(redlock__connect_error_status(ECONNREFUSED, NULL),
                     REDLOCK_EREFUSED);
    assert_int_equal(redlock__connect_error_status(ETIMEDOUT, NULL),
                     REDLOCK_ETIMEDOUT);
    assert_int_equal(redlock__connect_error_status(ENETUNREACH, NULL),
                     REDLOCK_EIO);
    assert_int_equal(redlock__connect_error_status(EHOSTUNREACH, NULL),
                     REDLOCK_EIO);
    assert_int_equal(redlock__connect_error_status(ENOENT, NULL),
                     REDLOCK_EIO);
    assert_int_equal(redlock__connect_error_status(0, NULL), REDLOCK_EIO);
    /* errno lost, but hiredis wrote the text */
    assert_int_equal(redlock__connect_error_status(0, refused),
                     REDLOCK_EREFUSED);
    snprintf(text, sizeof(text), "connect: %s", refused);
    assert_int_equal(redlock__connect_error_status(0, text),
                     REDLOCK_EREFUSED);
    assert_int_equal(redlock__connect_error_status(0, timedout),
                     REDLOCK_ETIMEDOUT);
    assert_int_equal(redlock__connect_error_status(
                         0, "Name or service not known"),
                     REDLOCK_EIO);
}

/* The run_id line of INFO server. */
/* The reconnect delay: the backoff, bounded by the work waiting. */
static void test_reconnect_delay(void **state)
{
    (void)state;
    const struct {
        uint32_t backoff_ms, min_ms;
        bool releases;
        uint64_t bound_us;
        uint64_t want_us;
    } rows[] = {
        {2000, 50, false, 0, 2000000},        /* idle: the backoff */
        {2000, 50, true, 0, 50000},           /* a release waits */
        {30, 50, true, 0, 30000},             /* already shorter */
        {2000, 50, false, 1000000, 250000},   /* a quarter of the wait */
        {2000, 50, false, 100000, 50000},     /* never under min */
        {100, 50, false, 1000000, 100000},    /* backoff shorter */
        {2000, 50, true, 1000000, 50000},     /* both: the smaller */
        {UINT32_MAX, UINT32_MAX, false, 0, (uint64_t)UINT32_MAX * 1000u},
        {UINT32_MAX, 1, false, UINT64_MAX, (uint64_t)UINT32_MAX * 1000u},
        {UINT32_MAX, 1, false, 4000000, 1000000},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t got = redlock__reconnect_delay_us(
            rows[i].backoff_ms, rows[i].min_ms, rows[i].releases,
            rows[i].bound_us);
        if (got != rows[i].want_us)
            fail_msg("row %zu: %llu us, expected %llu", i,
                     (unsigned long long)got,
                     (unsigned long long)rows[i].want_us);
    }
}

static void test_parse_run_id(void **state)
{
    (void)state;
    const char *id = "0123456789abcdef0123456789abcdef01234567";
    char info[512], out[41];
    snprintf(info, sizeof(info),
             "# Server\r\nredis_version:7.0.15\r\nrun_id:%s\r\n"
             "tcp_port:6379\r\n",
             id);
    assert_true(redlock__parse_run_id(info, strlen(info), out));
    assert_string_equal(out, id);
    /* \n line ends, and the last line without one */
    snprintf(info, sizeof(info), "# Server\nrun_id:%s", id);
    assert_true(redlock__parse_run_id(info, strlen(info), out));
    assert_string_equal(out, id);
    /* absent, too short, too long, not hex, another key that ends so */
    static const char *bad[] = {
        "# Server\r\nredis_version:7.0.15\r\n",
        "run_id:0123\r\n",
        "run_id:0123456789abcdef0123456789abcdef012345678\r\n",
        "run_id:0123456789abcdef0123456789abcdef0123456z\r\n",
        "xrun_id:0123456789abcdef0123456789abcdef01234567\r\n",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(out, "junk");
        assert_false(redlock__parse_run_id(bad[i], strlen(bad[i]), out));
        assert_string_equal(out, "");
    }
    assert_false(redlock__parse_run_id(NULL, 0, out));
    /* a length that cuts the line short */
    snprintf(info, sizeof(info), "run_id:%s\r\n", id);
    assert_false(redlock__parse_run_id(info, 20, out));
}

/* The uptime_in_seconds line of INFO server (the restart guard). */
static void test_parse_uptime(void **state)
{
    (void)state;
    uint64_t v = 7;
    const char *info = "# Server\r\nrun_id:0123\r\nuptime_in_seconds:42\r\n"
                       "uptime_in_days:0\r\n";
    assert_true(redlock__parse_uptime(info, strlen(info), &v));
    assert_int_equal(v, 42);
    info = "# Server\nuptime_in_seconds:0";
    assert_true(redlock__parse_uptime(info, strlen(info), &v));
    assert_int_equal(v, 0);
    /* saturates instead of wrapping */
    info = "uptime_in_seconds:99999999999999999999999\r\n";
    assert_true(redlock__parse_uptime(info, strlen(info), &v));
    assert_int_equal(v, UINT64_MAX);
    info = "uptime_in_seconds:18446744073709551615\r\n";
    assert_true(redlock__parse_uptime(info, strlen(info), &v));
    assert_int_equal(v, UINT64_MAX);
    info = "uptime_in_seconds:18446744073709551614\r\n";
    assert_true(redlock__parse_uptime(info, strlen(info), &v));
    assert_int_equal(v, UINT64_MAX - 1);
    static const char *bad[] = {
        "# Server\r\nuptime_in_days:3\r\n",
        "uptime_in_seconds:\r\n",
        "uptime_in_seconds:-3\r\n",
        "uptime_in_seconds:3x\r\n",
        "xuptime_in_seconds:3\r\n",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        assert_false(redlock__parse_uptime(bad[i], strlen(bad[i]), &v));
        assert_int_equal(v, 0);
    }
    assert_false(redlock__parse_uptime(NULL, 0, &v));
    /* a length that cuts the line before its digits */
    info = "uptime_in_seconds:42\r\n";
    assert_false(redlock__parse_uptime(info, 18, &v));
}

/* One step of a duplicate scenario: node `node` reports run_id `id`
 * ("" unknown), after which dup_of must read `want` (n entries). */
typedef struct dup_step {
    size_t node;
    const char *id;
    int want[4];
} dup_step;

/* Play steps over n nodes from "nothing known, all vote". */
static void play_dups(size_t n, const dup_step *steps, size_t count)
{
    char ids[4][41];
    int dup_of[4];
    memset(ids, 0, sizeof(ids));
    for (size_t i = 0; i < n; i++)
        dup_of[i] = -1;
    for (size_t s = 0; s < count; s++) {
        snprintf(ids[steps[s].node], sizeof(ids[0]), "%s", steps[s].id);
        redlock__dup_update(n, (const char(*)[41])ids, dup_of,
                            steps[s].node);
        for (size_t i = 0; i < n; i++) {
            if (dup_of[i] != steps[s].want[i])
                print_error("step %zu: node %zu is %d, want %d\n", s, i,
                            dup_of[i], steps[s].want[i]);
            assert_int_equal(dup_of[i], steps[s].want[i]);
        }
    }
}

/* The duplicate-server rule over sequences of handshakes. */
static void test_dup_update(void **state)
{
    (void)state;
    /* A and B: two servers, nobody is a duplicate */
    static const dup_step distinct[] = {
        {0, "A", {-1, -1, -1}},
        {1, "B", {-1, -1, -1}},
        {2, "C", {-1, -1, -1}},
        {0, "A", {-1, -1, -1}}, /* reconnect, same server */
    };
    play_dups(3, distinct, 4);
    /* nodes 0 and 2 on one server: whichever reports second is the
     * duplicate, and stays one across reconnects of either */
    static const dup_step second_is_dup[] = {
        {2, "A", {-1, -1, -1}},
        {1, "B", {-1, -1, -1}},
        {0, "A", {2, -1, -1}}, /* 0 came second: 0 does not vote */
        {2, "A", {2, -1, -1}}, /* the voter reconnects */
        {0, "A", {2, -1, -1}}, /* the duplicate reconnects */
    };
    play_dups(3, second_is_dup, 5);
    /* the voter's name now leads to another server: the duplicate votes
     * again; and a third name for server A becomes its duplicate */
    static const dup_step moved[] = {
        {0, "A", {-1, -1, -1, -1}},
        {1, "A", {-1, 0, -1, -1}},
        {2, "A", {-1, 0, 0, -1}},
        {0, "X", {-1, -1, 1, -1}}, /* 1 votes for A now, 2 follows it */
        {3, "A", {-1, -1, 1, 1}},
        {1, "Y", {-1, -1, -1, 2}}, /* 2 votes for A, 3 follows it */
    };
    play_dups(4, moved, 6);
    /* an unknown run_id (INFO refused) is never a duplicate */
    static const dup_step unknown[] = {
        {0, "", {-1, -1}},
        {1, "", {-1, -1}},
        {0, "A", {-1, -1}},
        {1, "A", {-1, 0}},
        {1, "", {-1, -1}},
    };
    play_dups(2, unknown, 5);
    /* a duplicate whose server changes to another voter's follows it */
    static const dup_step follow[] = {
        {0, "A", {-1, -1, -1}},
        {1, "B", {-1, -1, -1}},
        {2, "A", {-1, -1, 0}},
        {2, "B", {-1, -1, 1}},
        {2, "C", {-1, -1, -1}},
    };
    play_dups(3, follow, 5);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_error_status),
        cmocka_unit_test(test_handshake_error_status),
        cmocka_unit_test(test_connect_error_status),
        cmocka_unit_test(test_reconnect_delay),
        cmocka_unit_test(test_parse_run_id),
        cmocka_unit_test(test_parse_uptime),
        cmocka_unit_test(test_dup_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
