/*
 * test_node_classes.c: node failures are classified per node, the same
 * way everywhere (node_error_fn, redlock_inspect()'s views): a wrong
 * password on every node or on one, an ACL user without permission for
 * our commands (NOPERM), a database index the server does not have.
 * When so many nodes refuse for such a reason that a quorum is impossible,
 * an acquire fails at once with that class instead of retrying into
 * ENOQUORUM; redlock_acquire_info.node_status says what each node said
 * (granted, taken, pending, or its error class). Real redis-servers.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rl_test.h"

#define PASSWORD "right-pw"

/* Start n servers requiring PASSWORD. */
static void start_with_password(rl_cluster *c, size_t n)
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    rs_options so = {0};
    so.password = PASSWORD;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rs_start_ex(&c->srv[i], &so), 0);
    rl_events_init(&c->ev, c);
}

/* A manager on uris with test options and c's event recorder. */
static redlock_manager *manager_on(rl_cluster *c, const char *const *uris,
                                   size_t n)
{
    redlock_options o;
    rl_test_options(&o, &c->ev);
    redlock_manager *m = NULL;
    char err[256] = "";
    redlock_status st =
        redlock_manager_create_ex(uris, n, &o, &m, err, sizeof(err));
    if (st != REDLOCK_OK)
        print_error("create: %s: %s\n", redlock_strerror(st), err);
    assert_int_equal(st, REDLOCK_OK);
    return m;
}

/* Wait for node i's first down event and check its class. */
static void expect_down(rl_cluster *c, size_t i, redlock_status st)
{
    assert_true(rl_wait_down(&c->ev, i, 1, 10000));
    pthread_mutex_lock(&c->ev.mu);
    redlock_status got = c->ev.last_status[i];
    char msg[200];
    snprintf(msg, sizeof(msg), "%s", c->ev.last_message[i]);
    pthread_mutex_unlock(&c->ev.mu);
    if (got != st)
        print_error("node %zu: %s: %s\n", i, redlock_status_name(got), msg);
    assert_int_equal(got, st);
    assert_null(strstr(msg, PASSWORD));
}

/* Options for an acquire that would retry for a long time, with info:
 * 100000 retries, bounded by a 20 s deadline so that a regression fails
 * (ETIMEDOUT) instead of hanging. */
static void long_retry_opts(redlock_acquire_opts *ao,
                            redlock_acquire_info *info)
{
    redlock_acquire_opts_init(ao);
    ao->retry_count = 100000;
    ao->retry_delay_ms = 50;
    ao->deadline_us = rl_now_us() + 20u * 1000000u;
    ao->info = info;
}

/* Check that an acquire failed at once with st: one attempt, more than
 * n - quorum nodes reported st (so a quorum was impossible), and the
 * others st too or had not answered when that was decided. */
static void expect_fast_failure(redlock_manager *m, const char *res,
                                size_t n, redlock_status st)
{
    redlock_acquire_info info;
    redlock_acquire_opts ao;
    long_retry_opts(&ao, &info);
    redlock_lock *l = NULL;
    redlock_status got = redlock_acquire_ex(m, res, strlen(res), 10000,
                                            &ao, &l);
    if (got != st)
        print_error("acquire: %s (%s)\n", redlock_status_name(got),
                    info.detail);
    assert_int_equal(got, st);
    assert_null(l);
    assert_int_equal(info.attempts, 1);
    assert_int_equal(info.last_status, st);
    size_t with_st = 0;
    for (size_t i = 0; i < n; i++) {
        if (info.node_status[i] != REDLOCK_EPENDING)
            assert_int_equal(info.node_status[i], st);
        with_st += info.node_status[i] == st;
    }
    assert_true(with_st > n - (n / 2 + 1));
    assert_null(strstr(info.detail, PASSWORD));
}

/* Wrong password on every node: each node reports EAUTH, inspect shows
 * EAUTH for each, and an acquire that may retry 100000 times fails after
 * one attempt with EAUTH. */
static void test_wrong_password_all(void **state)
{
    (void)state;
    rl_cluster c;
    start_with_password(&c, 3);
    char uris[3][160];
    const char *u[3];
    for (size_t i = 0; i < 3; i++) {
        snprintf(uris[i], sizeof(uris[i]), "redis://:wrong-pw@127.0.0.1:%d",
                 c.srv[i].port);
        u[i] = uris[i];
    }
    c.m = manager_on(&c, u, 3);
    for (size_t i = 0; i < 3; i++)
        expect_down(&c, i, REDLOCK_EAUTH);
    redlock_node_view v[3];
    assert_int_equal(redlock_inspect(c.m, "r", 1, v, 3), REDLOCK_OK);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(v[i].reachable, 0);
        assert_int_equal(v[i].error, REDLOCK_EAUTH);
    }
    expect_fast_failure(c.m, "r", 3, REDLOCK_EAUTH);
    rl_cluster_stop(&c);
}

/* Right after create, before any handshake has finished: the first
 * acquire waits for the handshakes, and still fails at once with EAUTH
 * (the refusals come back as that attempt's answers). */
static void test_wrong_password_first_call(void **state)
{
    (void)state;
    rl_cluster c;
    start_with_password(&c, 3);
    char uris[3][160];
    const char *u[3];
    for (size_t i = 0; i < 3; i++) {
        snprintf(uris[i], sizeof(uris[i]), "redis://:wrong-pw@127.0.0.1:%d",
                 c.srv[i].port);
        u[i] = uris[i];
    }
    c.m = manager_on(&c, u, 3);
    expect_fast_failure(c.m, "first", 3, REDLOCK_EAUTH);
    rl_cluster_stop(&c);
}

/* Wrong password on one node of three: locks work on the other two, and
 * that node alone is reported and shown as EAUTH. */
static void test_wrong_password_one(void **state)
{
    (void)state;
    rl_cluster c;
    start_with_password(&c, 3);
    char uris[3][160];
    const char *u[3];
    for (size_t i = 0; i < 3; i++) {
        snprintf(uris[i], sizeof(uris[i]), "redis://:%s@127.0.0.1:%d",
                 i == 0 ? "wrong-pw" : PASSWORD, c.srv[i].port);
        u[i] = uris[i];
    }
    c.m = manager_on(&c, u, 3);
    expect_down(&c, 0, REDLOCK_EAUTH);
    redlock_lock *l = NULL;
    redlock_acquire_info info;
    redlock_acquire_opts ao;
    long_retry_opts(&ao, &info);
    assert_int_equal(redlock_acquire_ex(c.m, "one", 3, 10000, &ao, &l),
                     REDLOCK_OK);
    assert_int_equal(redlock_lock_nodes_granted(l), 2);
    assert_int_equal(info.attempts, 1);
    assert_int_equal(info.node_status[0], REDLOCK_EAUTH);
    assert_int_equal(info.node_status[1], REDLOCK_OK);
    assert_int_equal(info.node_status[2], REDLOCK_OK);
    redlock_node_view v[3];
    assert_int_equal(redlock_inspect(c.m, "one", 3, v, 3), REDLOCK_OK);
    assert_int_equal(v[0].error, REDLOCK_EAUTH);
    for (size_t i = 1; i < 3; i++) {
        assert_int_equal(v[i].reachable, 1);
        assert_int_equal(v[i].held, 1);
        assert_int_equal(v[i].error, REDLOCK_OK);
    }
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    pthread_mutex_lock(&c.ev.mu);
    int down1 = c.ev.down[1], down2 = c.ev.down[2];
    pthread_mutex_unlock(&c.ev.mu);
    assert_int_equal(down1, 0);
    assert_int_equal(down2, 0);
    rl_cluster_stop(&c);
}

/* Give every server of c an ACL user "locker" (password PASSWORD) that
 * may do everything but SET, EVALSHA and EVAL, and return its URIs. */
static void add_limited_user(rl_cluster *c, char uris[][160], const char **u)
{
    for (size_t i = 0; i < c->n; i++) {
        const char *argv[] = {"ACL",   "SETUSER", "locker",   "on",
                              ">" PASSWORD, "~*",  "&*",     "+@all",
                              "-set",  "-evalsha", "-eval"};
        char out[128];
        assert_int_equal(rs_command(&c->srv[i], out, sizeof(out),
                                    (int)(sizeof(argv) / sizeof(argv[0])),
                                    argv),
                         0);
        assert_string_equal(out, "OK");
        snprintf(uris[i], 160, "redis://locker:%s@127.0.0.1:%d", PASSWORD,
                 c->srv[i].port);
        u[i] = uris[i];
    }
}

/* An ACL user without SET, EVALSHA and EVAL: the handshake succeeds (no
 * node event), and every node's answer to our commands is classified
 * EAUTH (NOPERM), not a generic error. */
static void test_noperm(void **state)
{
    (void)state;
    rl_cluster c;
    start_with_password(&c, 3);
    char uris[3][160];
    const char *u[3];
    add_limited_user(&c, uris, u);
    c.m = manager_on(&c, u, 3);
    redlock_node_view v[3];
    assert_int_equal(redlock_inspect(c.m, "np", 2, v, 3), REDLOCK_OK);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(v[i].reachable, 0);
        assert_int_equal(v[i].error, REDLOCK_EAUTH);
    }
    redlock_acquire_info info;
    redlock_acquire_opts ao;
    long_retry_opts(&ao, &info);
    redlock_lock *l = NULL;
    redlock_status st = redlock_acquire_ex(c.m, "np", 2, 10000, &ao, &l);
    assert_int_equal(st, REDLOCK_EAUTH);
    assert_int_equal(info.attempts, 1);
    size_t refused = 0;
    for (size_t i = 0; i < 3; i++) {
        if (info.node_status[i] != REDLOCK_EPENDING)
            assert_int_equal(info.node_status[i], REDLOCK_EAUTH);
        refused += info.node_status[i] == REDLOCK_EAUTH;
    }
    assert_true(refused >= 2);
    assert_non_null(strstr(info.detail, "NOPERM"));
    pthread_mutex_lock(&c.ev.mu);
    int events = c.ev.count;
    pthread_mutex_unlock(&c.ev.mu);
    assert_int_equal(events, 0);
    rl_cluster_stop(&c);
}

/* A database index the server does not have (it has 16): EDB in the node
 * event and in inspect. */
static void test_bad_db(void **state)
{
    (void)state;
    rl_cluster c;
    memset(&c, 0, sizeof(c));
    c.n = 1;
    assert_int_equal(rs_start(&c.srv[0]), 0);
    rl_events_init(&c.ev, &c);
    char uri[128];
    snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d/99", c.srv[0].port);
    const char *u[1] = {uri};
    /* the node's display name shows a database other than 0 */
    snprintf(c.ev.node_names[0], sizeof(c.ev.node_names[0]),
             "127.0.0.1:%d/99", c.srv[0].port);
    c.m = manager_on(&c, u, 1);
    expect_down(&c, 0, REDLOCK_EDB);
    pthread_mutex_lock(&c.ev.mu);
    assert_non_null(strstr(c.ev.last_message[0], "DB index"));
    pthread_mutex_unlock(&c.ev.mu);
    redlock_node_view v[1];
    assert_int_equal(redlock_inspect(c.m, "r", 1, v, 1), REDLOCK_OK);
    assert_int_equal(v[0].error, REDLOCK_EDB);
    expect_fast_failure(c.m, "r", 1, REDLOCK_EDB);
    rl_cluster_stop(&c);
}

/* node_status tells granted, taken and pending apart: node 2 is paused
 * (SIGSTOP), so its answer cannot arrive before the decision. */
static void test_node_status_taken_pending(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_lock *l = NULL;
    /* all three connected */
    assert_int_equal(redlock_acquire(c.m, "warm", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_int_equal(rs_pause(&c.srv[2]), 0);

    redlock_acquire_info info;
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.retry_count = 0;
    ao.info = &info;
    assert_int_equal(redlock_acquire_ex(c.m, "free", 4, 10000, &ao, &l),
                     REDLOCK_OK);
    assert_int_equal(info.node_status[0], REDLOCK_OK);
    assert_int_equal(info.node_status[1], REDLOCK_OK);
    assert_int_equal(info.node_status[2], REDLOCK_EPENDING);
    redlock_lock_free(l);

    assert_int_equal(rl_set(&c, 0, "held", "someone-else", 30000), 0);
    assert_int_equal(rl_set(&c, 1, "held", "someone-else", 30000), 0);
    assert_int_equal(redlock_acquire_ex(c.m, "held", 4, 10000, &ao, &l),
                     REDLOCK_ETAKEN);
    assert_int_equal(info.node_status[0], REDLOCK_ETAKEN);
    assert_int_equal(info.node_status[1], REDLOCK_ETAKEN);
    assert_int_equal(info.node_status[2], REDLOCK_EPENDING);
    assert_int_equal(rs_resume(&c.srv[2]), 0);
    rl_cluster_stop(&c);
}

/* A caller built against the first version of redlock_acquire_opts
 * (struct_size without owner) is accepted, and its shorter
 * redlock_acquire_info is filled only up to its own end. */
static void test_old_struct_size(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 1, NULL), 0);
    union {
        redlock_acquire_info info;
        unsigned char bytes[sizeof(redlock_acquire_info)];
    } u;
    memset(&u, 0xab, sizeof(u));
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.struct_size = offsetof(redlock_acquire_opts, owner);
    ao.retry_count = 0;
    ao.info = &u.info;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire_ex(c.m, "old", 3, 10000, &ao, &l),
                     REDLOCK_OK);
    assert_int_equal(u.info.attempts, 1);
    assert_int_equal(u.info.last.yes, 1);
    assert_int_equal(u.info.last_status, REDLOCK_OK);
    for (size_t i = offsetof(redlock_acquire_info, node_status);
         i < sizeof(u.bytes); i++)
        assert_int_equal(u.bytes[i], 0xab);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    /* any other size is still refused */
    ao.struct_size = offsetof(redlock_acquire_opts, owner) + 1;
    assert_int_equal(redlock_acquire_ex(c.m, "old", 3, 10000, &ao, &l),
                     REDLOCK_EINVAL);
    rl_cluster_stop(&c);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_password_all),
        cmocka_unit_test(test_wrong_password_first_call),
        cmocka_unit_test(test_wrong_password_one),
        cmocka_unit_test(test_noperm),
        cmocka_unit_test(test_bad_db),
        cmocka_unit_test(test_node_status_taken_pending),
        cmocka_unit_test(test_old_struct_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
