/*
 * test_spawn.c: checks of the redis-server fixture (tests/support) itself:
 * distinct ports, commands, DBSIZE, pause/resume, kill/restart on the same
 * port with AOF reload, password protection and directory cleanup, extra
 * arguments and a config file (kept across a restart).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "redis_spawn.h"

#define N_SERVERS 3

/* Per-test state: servers that teardown always stops. */
typedef struct spawn_state {
    rs_server srv[N_SERVERS];
} spawn_state;

/* Allocate a zeroed state (rs_stop is safe on zeroed servers). */
static int setup(void **state)
{
    spawn_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -1;
    *state = st;
    return 0;
}

/* Stop every server of the test, even after a failed assertion. */
static int teardown(void **state)
{
    spawn_state *st = *state;
    rs_stop_many(st->srv, N_SERVERS);
    free(st);
    return 0;
}

/* 1 if path exists (as anything), 0 if not. */
static int path_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Connect to 127.0.0.1:port without authenticating and send PING with
 * timeout_ms for connect and reply. Returns the reply (caller frees) or
 * NULL on connect error or timeout. */
static redisReply *raw_ping(int port, long timeout_ms)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r = NULL;

    if (c == NULL)
        return NULL;
    if (c->err == 0) {
        redisSetTimeout(c, tv);
        r = redisCommand(c, "PING");
    }
    redisFree(c);
    return r;
}

/* 1 if a plain PING on port answers PONG within timeout_ms, else 0. */
static int ping_ok(int port, long timeout_ms)
{
    redisReply *r = raw_ping(port, timeout_ms);
    int ok = r != NULL && r->type == REDIS_REPLY_STATUS &&
             strcmp(r->str, "PONG") == 0;
    freeReplyObject(r);
    return ok;
}

/* Three servers on distinct ports; SET/GET, DBSIZE, DEBUG, rs_uris. */
static void test_start_many_and_commands(void **state)
{
    spawn_state *st = *state;
    const char *uris[N_SERVERS];
    char out[256], expect[64];

    assert_int_equal(rs_start_many(st->srv, N_SERVERS), 0);
    for (int i = 0; i < N_SERVERS; i++) {
        assert_true(st->srv[i].pid > 0);
        assert_true(st->srv[i].port > 0);
        assert_true(path_exists(st->srv[i].dir));
        snprintf(expect, sizeof(expect), "redis://127.0.0.1:%d",
                 st->srv[i].port);
        assert_string_equal(st->srv[i].uri, expect);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(st->srv[i].port, st->srv[j].port);
    }
    rs_uris(st->srv, N_SERVERS, uris);
    for (int i = 0; i < N_SERVERS; i++)
        assert_ptr_equal(uris[i], st->srv[i].uri);

    const char *set[] = { "SET", "k", "hello" };
    assert_int_equal(rs_command(&st->srv[0], out, sizeof(out), 3, set), 0);
    assert_string_equal(out, "OK");
    const char *get[] = { "GET", "k" };
    assert_int_equal(rs_command(&st->srv[0], out, sizeof(out), 2, get), 0);
    assert_string_equal(out, "hello");
    assert_int_equal(rs_command(&st->srv[1], out, sizeof(out), 2, get), 0);
    assert_string_equal(out, "(nil)");
    const char *incr[] = { "INCR", "n" };
    assert_int_equal(rs_command(&st->srv[2], out, sizeof(out), 2, incr), 0);
    assert_string_equal(out, "1");
    const char *bad[] = { "NOSUCHCOMMAND" };
    assert_int_equal(rs_command(&st->srv[2], out, sizeof(out), 1, bad), 0);
    assert_true(strncmp(out, "ERR ", 4) == 0);
    const char *rpush[] = { "RPUSH", "l", "a", "b" };
    assert_int_equal(rs_command(&st->srv[2], out, sizeof(out), 4, rpush), 0);
    const char *lrange[] = { "LRANGE", "l", "0", "-1" };
    assert_int_equal(rs_command(&st->srv[2], out, sizeof(out), 4, lrange),
                     0);
    assert_string_equal(out, "a\nb");

    /* DEBUG is enabled for local connections. */
    const char *dbg[] = { "DEBUG", "SLEEP", "0" };
    assert_int_equal(rs_command(&st->srv[1], out, sizeof(out), 3, dbg), 0);
    assert_string_equal(out, "OK");

    /* Truncation keeps the output NUL-terminated. */
    char tiny[3];
    assert_int_equal(rs_command(&st->srv[0], tiny, sizeof(tiny), 2, get), 0);
    assert_string_equal(tiny, "he");

    assert_int_equal(rs_dbsize(&st->srv[0]), 1);
    assert_int_equal(rs_dbsize(&st->srv[1]), 0);
    assert_int_equal(rs_dbsize(&st->srv[2]), 2);
}

/* A paused server does not answer within 300 ms; resumed, it does. */
static void test_pause_resume(void **state)
{
    spawn_state *st = *state;
    rs_server *s = &st->srv[0];

    assert_int_equal(rs_start(s), 0);
    assert_true(ping_ok(s->port, 300));
    assert_int_equal(rs_pause(s), 0);
    assert_int_equal(s->paused, 1);
    assert_false(ping_ok(s->port, 300));
    assert_int_equal(rs_resume(s), 0);
    assert_int_equal(s->paused, 0);
    assert_true(ping_ok(s->port, 300));

    /* rs_kill on a paused server must not hang. */
    assert_int_equal(rs_pause(s), 0);
    rs_stop(s);
    assert_int_equal(s->pid, 0);
}

/* Kill keeping the directory, then restart on the same port: the data
 * comes back from the AOF. */
static void test_kill_restart_same_port(void **state)
{
    spawn_state *st = *state;
    rs_server *s = &st->srv[0];
    rs_options o = { 0 };
    char out[64], dir[sizeof(s->dir)];
    int port;
    pid_t old_pid;

    o.appendonly = 1;
    assert_int_equal(rs_start_ex(s, &o), 0);
    assert_int_equal(s->appendonly, 1);
    const char *set[] = { "SET", "durable", "yes" };
    assert_int_equal(rs_command(s, out, sizeof(out), 3, set), 0);
    assert_string_equal(out, "OK");

    port = s->port;
    old_pid = s->pid;
    snprintf(dir, sizeof(dir), "%s", s->dir);
    rs_kill(s, 1);
    assert_int_equal(s->pid, 0);
    assert_int_equal(kill(old_pid, 0), -1); /* reaped: no such process */
    assert_int_equal(errno, ESRCH);
    assert_true(path_exists(dir));
    assert_false(ping_ok(port, 300));

    assert_int_equal(rs_restart(s), 0);
    assert_int_equal(s->port, port);
    assert_string_equal(s->dir, dir);
    assert_true(s->pid > 0);
    assert_true(ping_ok(port, 300));
    const char *get[] = { "GET", "durable" };
    assert_int_equal(rs_command(s, out, sizeof(out), 2, get), 0);
    assert_string_equal(out, "yes");

    /* Without AOF, a restart comes back empty on the same port. */
    rs_server *m = &st->srv[1];
    assert_int_equal(rs_start(m), 0);
    assert_int_equal(rs_command(m, out, sizeof(out), 3, set), 0);
    port = m->port;
    rs_kill(m, 1);
    assert_int_equal(rs_restart(m), 0);
    assert_int_equal(m->port, port);
    assert_int_equal(rs_dbsize(m), 0);
}

/* requirepass: plain access is refused, rs_command authenticates. */
static void test_password(void **state)
{
    spawn_state *st = *state;
    rs_server *s = &st->srv[0];
    rs_options o = { 0 };
    char out[64], expect[128];
    redisReply *r;

    o.password = "s3cret";
    assert_int_equal(rs_start_ex(s, &o), 0);
    assert_string_equal(s->password, "s3cret");
    snprintf(expect, sizeof(expect), "redis://:s3cret@127.0.0.1:%d", s->port);
    assert_string_equal(s->uri, expect);

    r = raw_ping(s->port, 2000);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_true(strncmp(r->str, "NOAUTH", 6) == 0);
    freeReplyObject(r);

    const char *set[] = { "SET", "k", "v" };
    assert_int_equal(rs_command(s, out, sizeof(out), 3, set), 0);
    assert_string_equal(out, "OK");
    assert_int_equal(rs_dbsize(s), 1);

    /* Restart keeps the password. */
    rs_kill(s, 1);
    assert_int_equal(rs_restart(s), 0);
    r = raw_ping(s->port, 2000);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    const char *ping[] = { "PING" };
    assert_int_equal(rs_command(s, out, sizeof(out), 1, ping), 0);
    assert_string_equal(out, "PONG");
}

/* rs_stop kills, reaps and removes the directory; it is idempotent. */
static void test_stop_removes_dir(void **state)
{
    spawn_state *st = *state;
    rs_server *s = &st->srv[0];
    char dir[sizeof(s->dir)], out[64];
    pid_t pid;

    assert_int_equal(rs_start(s), 0);
    snprintf(dir, sizeof(dir), "%s", s->dir);
    pid = s->pid;
    assert_true(path_exists(dir));
    rs_stop(s);
    assert_int_equal(s->pid, 0);
    assert_false(path_exists(dir));
    assert_int_equal(kill(pid, 0), -1);
    rs_stop(s); /* safe twice */

    /* A kill keeping the dir, then stop, removes it too. */
    assert_int_equal(rs_start(s), 0);
    snprintf(dir, sizeof(dir), "%s", s->dir);
    rs_kill(s, 1);
    assert_true(path_exists(dir));
    rs_stop(s);
    assert_false(path_exists(dir));

    /* Commands on a stopped server fail cleanly. */
    const char *ping[] = { "PING" };
    assert_int_equal(rs_command(s, out, sizeof(out), 1, ping), -1);
    assert_int_equal(rs_pause(s), -1);
}

/* A missing binary fails fast without retries or leftovers. */
static void test_bad_binary(void **state)
{
    spawn_state *st = *state;
    rs_options o = { 0 };

    o.redis_server = "/nonexistent/redis-server";
    assert_int_equal(rs_start_ex(&st->srv[0], &o), -1);
    assert_int_equal(st->srv[0].pid, 0);
    assert_string_equal(st->srv[0].dir, "");
}

/* Extra arguments and a config file reach the server, and survive
 * rs_restart(); too many extra arguments are refused. */
static void test_extra_args_and_config(void **state)
{
    spawn_state *st = *state;
    static const char *const extra[] = { "--maxmemory", "12345678" };
    const char *mm[] = { "CONFIG", "GET", "maxmemory" };
    const char *pol[] = { "CONFIG", "GET", "maxmemory-policy" };
    const char *many[RS_EXTRA_MAX + 1];
    char out[256], path[512];
    rs_options o = { 0 };
    struct stat sb;

    o.extra_args = extra;
    o.extra_argc = 2;
    o.config_text = "maxmemory-policy allkeys-lru";
    assert_int_equal(rs_start_ex(&st->srv[0], &o), 0);
    assert_int_equal(st->srv[0].has_config, 1);
    snprintf(path, sizeof(path), "%s/redis.conf", st->srv[0].dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(rs_command(&st->srv[0], out, sizeof(out), 3, mm), 0);
    assert_string_equal(out, "maxmemory\n12345678");
    assert_int_equal(rs_command(&st->srv[0], out, sizeof(out), 3, pol), 0);
    assert_string_equal(out, "maxmemory-policy\nallkeys-lru");

    rs_kill(&st->srv[0], 1);
    assert_int_equal(rs_restart(&st->srv[0]), 0);
    assert_int_equal(rs_command(&st->srv[0], out, sizeof(out), 3, mm), 0);
    assert_string_equal(out, "maxmemory\n12345678");
    assert_int_equal(rs_command(&st->srv[0], out, sizeof(out), 3, pol), 0);
    assert_string_equal(out, "maxmemory-policy\nallkeys-lru");

    for (size_t i = 0; i <= RS_EXTRA_MAX; i++)
        many[i] = "--appendonly";
    o.extra_args = many;
    o.extra_argc = RS_EXTRA_MAX + 1;
    o.config_text = NULL;
    assert_int_equal(rs_start_ex(&st->srv[1], &o), -1);
    assert_int_equal(st->srv[1].pid, 0);
}

/* Run the fixture checks. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_many_and_commands, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_restart_same_port, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_removes_dir, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extra_args_and_config, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("spawn", tests, NULL, NULL);
}
