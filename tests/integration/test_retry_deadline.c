/*
 * test_retry_deadline.c: redlock_acquire_opts.retry_count =
 * REDLOCK_RETRY_UNTIL_DEADLINE. The acquire retries past the manager's
 * retry_count until the holder lets go (OK), until the deadline
 * (ETIMEDOUT, not before it and within 100 ms after it), or, without a
 * deadline, until the manager is destroyed (ECLOSED); a status no retry
 * can change (EAUTH) still ends it at once. Real redis-servers.
 * Attempts are counted from outside by the SET calls a node served.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rl_test.h"

/* An acquire running on its own thread. */
typedef struct waiter {
    redlock_manager *m;
    const char *res;
    uint64_t deadline_us;
    redlock_acquire_info info;
    redlock_status st;
    redlock_lock *lock;
    uint64_t returned_us;
} waiter;

/* Acquire w->res, retrying until w->deadline_us (0: no end). */
static void *wait_acquire(void *arg)
{
    waiter *w = arg;
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
    ao.deadline_us = w->deadline_us;
    ao.info = &w->info;
    w->st = redlock_acquire_ex(w->m, w->res, strlen(w->res), 10000, &ao,
                               &w->lock);
    w->returned_us = rl_now_us();
    return NULL;
}

/* SET calls server s has served so far. */
static long long set_calls(const rs_server *s)
{
    long long n = rs_info_count(s, "commandstats", "cmdstat_set:calls=");
    assert_true(n >= 0);
    return n;
}

/* Argument of more_sets(). */
typedef struct set_count {
    const rs_server *s;
    long long want;
} set_count;

/* Condition: the server has served at least `want` SETs. */
static bool more_sets(void *arg)
{
    set_count *c = arg;
    return set_calls(c->s) >= c->want;
}

/* Wait until the waiter has made `attempts` more attempts than `base` SET
 * calls on node 0 show (each attempt sends one SET to every node). */
static void await_attempts(rl_cluster *c, long long base, int attempts)
{
    set_count sc = {&c->srv[0], base + attempts};
    assert_true(rl_await(more_sets, &sc, 20000));
}

/* The manager's retry_count is 3 (rl_test_options); the waiter goes on
 * past it and wins once the holder releases, well before its deadline. */
static void test_ok_when_released(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_lock *holder = NULL;
    assert_int_equal(redlock_acquire(c.m, "job", 30000, &holder),
                     REDLOCK_OK);
    /* the holder's own SETs have all landed: later ones are the waiter's */
    assert_true(rl_await_keys(&c, 3, 5000));
    long long base = set_calls(&c.srv[0]);
    waiter w;
    memset(&w, 0, sizeof(w));
    w.m = c.m;
    w.res = "job";
    w.deadline_us = rl_now_us() + 60u * 1000000u;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_acquire, &w), 0);
    await_attempts(&c, base, 6); /* more than retry_count + 1 = 4 */
    assert_int_equal(redlock_release(holder), REDLOCK_OK);
    pthread_join(t, NULL);
    assert_int_equal(w.st, REDLOCK_OK);
    assert_non_null(w.lock);
    assert_true(w.info.attempts >= 6);
    assert_true(w.returned_us < w.deadline_us);
    assert_int_equal(redlock_release(w.lock), REDLOCK_OK);
    rl_cluster_stop(&c);
}

/* Held throughout: ETIMEDOUT, not before the deadline and within 100 ms
 * after it. The same call with a counted retry_count would have ended
 * with ETAKEN after its 3 retry slots (4 or 5 attempts). */
static void test_timeout_at_deadline(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_lock *holder = NULL;
    assert_int_equal(redlock_acquire(c.m, "busy", 30000, &holder),
                     REDLOCK_OK);
    redlock_lock *l = NULL;
    redlock_acquire_info info;
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.info = &info;
    assert_int_equal(redlock_acquire_ex(c.m, "busy", 4, 10000, &ao, &l),
                     REDLOCK_ETAKEN);
    /* retry_count + 1 = 4 timed attempts, and at most one more made at
     * once when the wake subscription is confirmed. */
    assert_true(info.attempts >= 4 && info.attempts <= 5);

    waiter w;
    memset(&w, 0, sizeof(w));
    w.m = c.m;
    w.res = "busy";
    w.deadline_us = rl_now_us() + 800u * 1000u;
    wait_acquire(&w);
    assert_int_equal(w.st, REDLOCK_ETIMEDOUT);
    assert_null(w.lock);
    assert_true(w.returned_us >= w.deadline_us);
    assert_true(w.returned_us <= w.deadline_us + 100u * 1000u);
    assert_true(w.info.attempts >= 2);
    assert_int_equal(w.info.last_status, REDLOCK_ETAKEN);
    assert_int_equal(redlock_release(holder), REDLOCK_OK);
    rl_cluster_stop(&c);
}

/* No deadline: the waiter retries until the manager is destroyed, and
 * then returns ECLOSED (also when destroy comes during a delay). */
static void test_forever_ends_at_destroy(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_lock *holder = NULL;
    assert_int_equal(redlock_acquire(c.m, "forever", 30000, &holder),
                     REDLOCK_OK);
    assert_true(rl_await_keys(&c, 3, 5000));
    long long base = set_calls(&c.srv[0]);
    waiter w;
    memset(&w, 0, sizeof(w));
    w.m = c.m;
    w.res = "forever";
    w.deadline_us = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_acquire, &w), 0);
    await_attempts(&c, base, 6);
    redlock_manager_destroy(c.m);
    c.m = NULL;
    pthread_join(t, NULL);
    assert_int_equal(w.st, REDLOCK_ECLOSED);
    assert_null(w.lock);
    assert_true(w.info.attempts >= 6);
    redlock_lock_free(holder);
    rl_cluster_stop(&c);
}

/* Wrong password on every node: retrying until a deadline a minute away,
 * the call still ends at once with EAUTH, after one attempt. */
static void test_forever_auth_ends(void **state)
{
    (void)state;
    rl_cluster c;
    memset(&c, 0, sizeof(c));
    c.n = 3;
    rs_options so = {0};
    so.password = "right-pw";
    char uris[3][160];
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(rs_start_ex(&c.srv[i], &so), 0);
        snprintf(uris[i], sizeof(uris[i]), "redis://:wrong@127.0.0.1:%d",
                 c.srv[i].port);
        c.uris[i] = uris[i];
    }
    rl_events_init(&c.ev, &c);
    c.m = rl_manager_new(&c, &c.ev);
    assert_non_null(c.m);
    /* with a far deadline, so that a regression fails instead of hanging:
     * the call must end long before it */
    waiter w;
    memset(&w, 0, sizeof(w));
    w.m = c.m;
    w.res = "auth";
    w.deadline_us = rl_now_us() + 60u * 1000000u;
    wait_acquire(&w);
    assert_int_equal(w.st, REDLOCK_EAUTH);
    assert_int_equal(w.info.attempts, 1);
    rl_cluster_stop(&c);
}

/* -2 is the only new value: -3 is still out of range, and a single
 * attempt call ignores nothing (try_acquire has no options). */
static void test_range(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 1, NULL), 0);
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.retry_count = -3;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire_ex(c.m, "r", 1, 10000, &ao, &l),
                     REDLOCK_ERANGE);
    ao.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
    assert_int_equal(redlock_acquire_ex(c.m, "r", 1, 10000, &ao, &l),
                     REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rl_cluster_stop(&c);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_when_released),
        cmocka_unit_test(test_timeout_at_deadline),
        cmocka_unit_test(test_forever_ends_at_destroy),
        cmocka_unit_test(test_forever_auth_ends),
        cmocka_unit_test(test_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
