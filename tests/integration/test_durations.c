/*
 * test_durations.c: every duration parameter of the public API at its
 * edges: 0, 1, the documented maximum, one past it, INT64_MAX and
 * UINT64_MAX (as far as the parameter's type can hold them). Each value is
 * either refused with the documented status, before anything reaches a
 * node and with nothing left behind, or accepted and then behaves as the
 * header says (a huge value saturates: it means "no limit", never a
 * wrapped-around small one).
 *
 * DESIGN. One table per parameter, one row per value, with the expected
 * status. "Nothing sent" is checked with the servers' own command
 * counters (INFO stats), since a refused call must not even try. Waits
 * that must NOT end are checked with a short bounded wait (the only fixed
 * time in this file: "still waiting after 200 ms"), and then ended by a
 * real event (the manager's destroy), never by a sleep.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rl_test.h"

/* ------------------------------------------------------------------------
 * Fixture and helpers
 * ------------------------------------------------------------------------ */

/* One cluster of three servers for the whole group. */
static int setup(void **state)
{
    rl_cluster *c = test_malloc(sizeof(*c));
    if (rl_cluster_start(c, 3, NULL) != 0) {
        test_free(c);
        return -1;
    }
    *state = c;
    return 0;
}

/* Stop it. */
static int teardown(void **state)
{
    rl_cluster *c = *state;
    rl_cluster_stop(c);
    test_free(c);
    return 0;
}

/* Wait until every key is gone (a release is confirmed by a quorum; the
 * last node may apply it a moment later). */
static void await_no_keys(rl_cluster *c)
{
    assert_true(rl_await_keys(c, 0, 5000));
}

/* ------------------------------------------------------------------------
 * redlock_lease_wait(timeout_ms)
 * ------------------------------------------------------------------------ */

/* A thread blocked in redlock_lease_wait(). */
typedef struct waiter {
    redlock_lease *lease;
    int64_t timeout_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    redlock_status st;
} waiter;

/* Thread body: wait, then report. */
static void *waiter_main(void *arg)
{
    waiter *w = arg;
    redlock_status st = redlock_lease_wait(w->lease, w->timeout_ms);
    pthread_mutex_lock(&w->mu);
    w->st = st;
    w->done = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Start a waiter thread on lease with timeout_ms. */
static void waiter_start(waiter *w, redlock_lease *lease, int64_t timeout_ms)
{
    memset(w, 0, sizeof(*w));
    w->lease = lease;
    w->timeout_ms = timeout_ms;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &a);
    pthread_condattr_destroy(&a);
    assert_int_equal(pthread_create(&w->thread, NULL, waiter_main, w), 0);
}

/* Wait up to ms for the waiter to finish; returns whether it did. */
static bool waiter_done_within(waiter *w, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    while (!w->done && rc == 0)
        rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
    bool done = w->done;
    pthread_mutex_unlock(&w->mu);
    return done;
}

/* Join the waiter and free its sync objects. */
static void waiter_join(waiter *w)
{
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

/* lease_wait's timeout: 0 and 1 come back as ETIMEDOUT; every negative
 * value and every large positive one (INT64_MAX, and the first value
 * whose microseconds no longer fit) mean "no limit": the waiter is still
 * there after 200 ms, and comes back with the loss reason once the lease
 * is lost (here: the manager is destroyed, which loses every lease with
 * ECLOSED). */
static void test_lease_wait_timeout(void **state)
{
    rl_cluster *c = *state;
    static const struct {
        int64_t timeout_ms;
        bool waits; /* true: no limit (saturated) */
    } rows[] = {
        {0, false},
        {1, false},
        {-1, true},
        {-2, true},
        {INT64_MIN, true},
        {INT64_MAX / 1000 + 1, true}, /* first whose us exceed INT64_MAX */
        {INT64_MAX, true},
    };
    enum { N = sizeof(rows) / sizeof(rows[0]) };
    redlock_manager *m = rl_manager_new(c, NULL);
    assert_non_null(m);
    redlock_lease *lease = NULL;
    assert_int_equal(redlock_lease_acquire(m, "wait-edge", 10000, NULL, NULL,
                                           &lease),
                     REDLOCK_OK);
    waiter w[N];
    for (size_t i = 0; i < N; i++)
        waiter_start(&w[i], lease, rows[i].timeout_ms);
    for (size_t i = 0; i < N; i++) {
        if (rows[i].waits)
            continue;
        assert_true(waiter_done_within(&w[i], 5000));
        assert_int_equal(w[i].st, REDLOCK_ETIMEDOUT);
    }
    /* The ones without a limit are all still waiting after 200 ms. */
    bool any_done = false;
    for (size_t i = 0; i < N; i++) {
        if (!rows[i].waits)
            continue;
        bool done = waiter_done_within(&w[i], i == 2 ? 200 : 0);
        if (done)
            print_message("timeout_ms %lld returned %s at once\n",
                          (long long)rows[i].timeout_ms,
                          redlock_status_name(w[i].st));
        any_done |= done;
    }
    assert_false(any_done);
    /* Lose the lease: every waiter comes back with the reason. */
    redlock_manager_destroy(m);
    for (size_t i = 0; i < N; i++) {
        assert_true(waiter_done_within(&w[i], 5000));
        if (rows[i].waits)
            assert_int_equal(w[i].st, REDLOCK_ECLOSED);
        waiter_join(&w[i]);
    }
    /* The lock is still ours on the nodes; stop frees the lease (its
     * release answers ECLOSED: the manager is gone), and the group's
     * manager releases the keys by token. */
    char token[REDLOCK_TOKEN_LEN + 1];
    memcpy(token, redlock_lock_token(redlock_lease_lock(lease)),
           sizeof(token));
    assert_int_equal(redlock_lease_stop(lease, NULL), REDLOCK_ECLOSED);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_lock_adopt(c->m, "wait-edge", 9, token, 10000,
                                        &l),
                     REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    await_no_keys(c);
}

/* ------------------------------------------------------------------------
 * redlock_lease_options.max_hold_ms
 * ------------------------------------------------------------------------ */

/* The lease of a row has renewed `renewals` times, or was lost. */
typedef struct renew_wait {
    redlock_lease *lease;
    uint32_t renewals;
} renew_wait;

/* Condition for rl_await(). */
static bool renewed_or_lost(void *arg)
{
    renew_wait *r = arg;
    return redlock_lease_renewals(r->lease) >= r->renewals ||
           redlock_lease_lost(r->lease);
}

/* max_hold_ms: 0 is no limit; 1 loses the lease with ERANGE at its first
 * due time; any large value (the first whose microseconds overflow,
 * INT64_MAX, UINT64_MAX) saturates to "no limit": the lease keeps
 * renewing. */
static void test_lease_max_hold(void **state)
{
    rl_cluster *c = *state;
    static const struct {
        uint64_t max_hold_ms;
        redlock_status after; /* status once two renewals were due */
    } rows[] = {
        {0, REDLOCK_OK},
        {1, REDLOCK_ERANGE},
        {UINT64_MAX / 1000 + 1, REDLOCK_OK}, /* first whose us overflow */
        {INT64_MAX, REDLOCK_OK},
        {UINT64_MAX, REDLOCK_OK},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_lease_options lo;
        redlock_lease_options_init(&lo);
        lo.max_hold_ms = rows[i].max_hold_ms;
        /* Renew every ~100 ms: two renewals take about 200 ms. */
        lo.renew_threshold_ms = 200;
        redlock_lease *lease = NULL;
        assert_int_equal(redlock_lease_acquire(c->m, "hold-edge", 300, NULL,
                                               &lo, &lease),
                         REDLOCK_OK);
        renew_wait rw = {lease, 2};
        assert_true(rl_await(renewed_or_lost, &rw, 10000));
        redlock_status st = redlock_lease_status(lease);
        if (st != rows[i].after)
            fail_msg("max_hold_ms %llu: %s after %u renewals, want %s",
                     (unsigned long long)rows[i].max_hold_ms,
                     redlock_status_name(st), redlock_lease_renewals(lease),
                     redlock_status_name(rows[i].after));
        redlock_lease_stop(lease, NULL);
        await_no_keys(c);
    }
}

/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------ */

/* Run the group. Optional argv[1]: a cmocka name filter. */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lease_wait_timeout),
        cmocka_unit_test(test_lease_max_hold),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
