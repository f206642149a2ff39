/*
 * test_node_classes.c: node failures are classified per node, the same
 * way everywhere (node_error_fn, redlock_inspect()'s views): a wrong
 * password on every node or on one, an ACL user without permission for
 * our commands (NOPERM), a database index the server does not have.
 * Real redis-servers.
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

/* Wrong password on every node: each node reports EAUTH, and inspect
 * shows EAUTH for each. */
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
    assert_int_equal(redlock_acquire(c.m, "one", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_lock_nodes_granted(l), 2);
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
    redlock_acquire_opts_init(&ao);
    ao.retry_count = 0;
    ao.info = &info;
    redlock_lock *l = NULL;
    redlock_status st = redlock_acquire_ex(c.m, "np", 2, 10000, &ao, &l);
    assert_int_not_equal(st, REDLOCK_OK);
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
    rl_cluster_stop(&c);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_password_all),
        cmocka_unit_test(test_wrong_password_one),
        cmocka_unit_test(test_noperm),
        cmocka_unit_test(test_bad_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
