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

/* Commands the servers of c have processed so far (INFO stats), not
 * counting the INFO commands this helper sends itself. */
static long long commands_processed(rl_cluster *c)
{
    long long total = 0;
    for (size_t i = 0; i < c->n; i++) {
        char out[8192];
        const char *argv[2] = {"INFO", "stats"};
        assert_int_equal(rs_command(&c->srv[i], out, sizeof(out), 2, argv),
                         0);
        const char *p = strstr(out, "total_commands_processed:");
        assert_non_null(p);
        total += strtoll(p + strlen("total_commands_processed:"), NULL, 10);
    }
    return total;
}

/* Marks the moment before a call that must send nothing. */
typedef struct quiet_mark {
    long long commands;
} quiet_mark;

/* Take a mark. */
static quiet_mark quiet_begin(rl_cluster *c)
{
    /* Commands of earlier calls may still be on their way (the UNSUBSCRIBE
     * of a waiter that gave up, an undo not waited for past a deadline):
     * the mark is taken once 20 reads in a row (several milliseconds) saw
     * only their own INFO commands. */
    long long before = commands_processed(c);
    for (int i = 0, quiet = 0; i < 5000 && quiet < 20; i++) {
        long long now = commands_processed(c);
        quiet = now == before + (long long)c->n ? quiet + 1 : 0;
        before = now;
    }
    quiet_mark q = {commands_processed(c)};
    return q;
}

/* Check that the servers saw no command since the mark, but the INFO of
 * the mark itself (one per server). */
static void quiet_end(rl_cluster *c, quiet_mark q, const char *what)
{
    long long now = commands_processed(c);
    if (now != q.commands + (long long)c->n)
        fail_msg("%s: %lld command(s) reached the servers", what,
                 now - q.commands - (long long)c->n);
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
 * ttl_ms of acquire, extend, adopt, leases and elections
 * ------------------------------------------------------------------------ */

/* Expected outcome of a row: a status, or "attempted": the TTL was
 * accepted and a quorum asked. With a TTL just above its drift allowance
 * the validity window is under a millisecond, so the outcome may be OK,
 * EEXPIRED (the round trip used it up) or ENOQUORUM (the attempt stopped
 * waiting when the window closed), but never a refusal. */
#define ATTEMPTED ((redlock_status)-1)

/* One ttl_ms and what each entry point says to it. */
typedef struct ttl_row {
    uint32_t ttl_ms;
    redlock_status want;
} ttl_row;

/* The values every TTL is tried with. With drift_factor 0.01 the
 * allowance of a TTL t is t/100 + 2 ms, so 1 and 2 ms do not exceed it
 * and 3 ms is the shortest TTL that can yield validity. In every table
 * the refused rows come first: an accepted row may leave a release on
 * its way to the last node, which must not land in a refused row's
 * "nothing sent" window. */
static const ttl_row acquire_rows[] = {
    {0, REDLOCK_ERANGE},
    {1, REDLOCK_ETTLSHORT},
    {2, REDLOCK_ETTLSHORT},
    {REDLOCK_TTL_MAX_MS + 1, REDLOCK_ERANGE},
    {UINT32_MAX, REDLOCK_ERANGE},
    {3, ATTEMPTED},
    {REDLOCK_TTL_MAX_MS, REDLOCK_OK},
};

/* Check st against a row's expectation. */
static void expect_row(const char *what, uint32_t ttl_ms, redlock_status st,
                       redlock_status want)
{
    bool ok = want == ATTEMPTED ? st == REDLOCK_OK || st == REDLOCK_EEXPIRED ||
                                      st == REDLOCK_ENOQUORUM
                                : st == want;
    if (!ok)
        fail_msg("%s(ttl_ms %lu): %s, want %s", what, (unsigned long)ttl_ms,
                 redlock_status_name(st),
                 want == ATTEMPTED ? "OK, EEXPIRED or ENOQUORUM"
                                   : redlock_status_name(want));
}

/* The acquire family: a refused TTL sends nothing and leaves no key,
 * and the per-call info says why without an attempt. */
static void test_acquire_ttl(void **state)
{
    rl_cluster *c = *state;
    enum { CALLS = 4 };
    static const char *const names[CALLS] = {"acquire", "try_acquire",
                                             "acquire_ex", "acquire_multi"};
    for (size_t i = 0; i < sizeof(acquire_rows) / sizeof(acquire_rows[0]);
         i++) {
        const ttl_row *r = &acquire_rows[i];
        for (int call = 0; call < CALLS; call++) {
            redlock_lock *l = (redlock_lock *)0x1;
            redlock_acquire_info info;
            redlock_acquire_opts o;
            redlock_acquire_opts_init(&o);
            o.info = &info;
            const void *res[2] = {"ttl-a", "ttl-b"};
            bool refused = r->want != ATTEMPTED && r->want != REDLOCK_OK;
            quiet_mark q = quiet_begin(c);
            uint64_t t0 = rl_now_us();
            redlock_status st = REDLOCK_OK;
            switch (call) {
            case 0:
                st = redlock_acquire(c->m, "ttl-a", r->ttl_ms, &l);
                break;
            case 1:
                st = redlock_try_acquire(c->m, "ttl-a", r->ttl_ms, &l);
                break;
            case 2:
                st = redlock_acquire_ex(c->m, "ttl-a", 5, r->ttl_ms, &o, &l);
                break;
            case 3:
                st = redlock_acquire_multi(c->m, res, NULL, 2, r->ttl_ms, &o,
                                           &l);
                break;
            }
            uint64_t took_us = rl_now_us() - t0;
            expect_row(names[call], r->ttl_ms, st, r->want);
            if (refused) {
                quiet_end(c, q, names[call]);
                assert_null(l);
                /* At once: no attempt, no retry delay. */
                assert_true(took_us < 100000);
                if (call >= 2) {
                    assert_int_equal(info.attempts, 0);
                    assert_int_equal(info.last_status, r->want);
                }
            }
            if (st == REDLOCK_OK)
                redlock_release(l); /* a 3 ms lock may be gone already */
            await_no_keys(c);
        }
    }
}

/* The refusal follows the manager's drift factor: with 0.49 a TTL of 3
 * ms has an allowance of 3.47 ms (refused), 4 ms one of 3.96 ms (not). */
static void test_acquire_ttl_drift(void **state)
{
    rl_cluster *c = *state;
    redlock_options o;
    rl_test_options(&o, NULL);
    o.drift_factor = 0.49;
    redlock_manager *m = NULL;
    assert_int_equal(redlock_manager_create(c->uris, c->n, &o, &m),
                     REDLOCK_OK);
    /* Warm up: every node connected, its handshake done. */
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(m, "drift", 1000, &l), REDLOCK_OK);
    assert_true(rl_await_keys(c, 3, 5000));
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    await_no_keys(c);
    quiet_mark q = quiet_begin(c);
    assert_int_equal(redlock_acquire(m, "drift", 3, &l), REDLOCK_ETTLSHORT);
    quiet_end(c, q, "acquire(3 ms, drift 0.49)");
    redlock_status st = redlock_acquire(m, "drift", 4, &l);
    expect_row("acquire(drift 0.49)", 4, st, ATTEMPTED);
    if (st == REDLOCK_OK)
        redlock_release(l);
    redlock_manager_destroy(m);
    await_no_keys(c);
}

/* extend: the same rows on a held lock; a refusal sends nothing and
 * leaves the lock as it was. */
static void test_extend_ttl(void **state)
{
    rl_cluster *c = *state;
    for (size_t i = 0; i < sizeof(acquire_rows) / sizeof(acquire_rows[0]);
         i++) {
        const ttl_row *r = &acquire_rows[i];
        redlock_lock *l = NULL;
        assert_int_equal(redlock_acquire(c->m, "ttl-ext", 10000, &l),
                         REDLOCK_OK);
        assert_true(rl_await_keys(c, 3, 5000)); /* every SET has landed */
        uint64_t end = redlock_lock_validity_end_us(l);
        bool refused = r->want != ATTEMPTED && r->want != REDLOCK_OK;
        quiet_mark q = quiet_begin(c);
        redlock_status st = redlock_extend(l, r->ttl_ms);
        expect_row("extend", r->ttl_ms, st, r->want);
        if (refused) {
            quiet_end(c, q, "extend");
            assert_int_equal(redlock_lock_validity_end_us(l), end);
        }
        /* After a 3 ms extension the keys may have expired already. */
        redlock_status rel = redlock_release(l);
        if (r->want != ATTEMPTED)
            assert_int_equal(rel, REDLOCK_OK);
        await_no_keys(c);
    }
}

/* lock_adopt: the TTL only bounds how long a release stays queued, and
 * nothing is ever granted with it, so it is not held against the drift
 * allowance: 1 ms is accepted; 0 and above the maximum are not. Adopt
 * never sends anything. */
static void test_adopt_ttl(void **state)
{
    rl_cluster *c = *state;
    static const ttl_row rows[] = {
        {0, REDLOCK_ERANGE},
        {1, REDLOCK_OK},
        {REDLOCK_TTL_MAX_MS, REDLOCK_OK},
        {REDLOCK_TTL_MAX_MS + 1, REDLOCK_ERANGE},
        {UINT32_MAX, REDLOCK_ERANGE},
    };
    const char *token = "0123456789abcdef0123456789abcdef";
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_lock *l = NULL;
        quiet_mark q = quiet_begin(c);
        redlock_status st =
            redlock_lock_adopt(c->m, "adopt", 5, token, rows[i].ttl_ms, &l);
        quiet_end(c, q, "lock_adopt");
        expect_row("lock_adopt", rows[i].ttl_ms, st, rows[i].want);
        redlock_lock_free(l);
    }
    /* An adopted 1 ms lock cannot be leased with its own TTL. */
    redlock_lock *l = NULL;
    assert_int_equal(redlock_lock_adopt(c->m, "adopt", 5, token, 1, &l),
                     REDLOCK_OK);
    redlock_lease *lease = NULL;
    assert_int_equal(redlock_lease_start(l, NULL, &lease),
                     REDLOCK_ETTLSHORT);
    assert_null(lease);
    redlock_lock_free(l);
}

/* lease_start's ttl_ms (0: the lock's): refused ones leave the lock with
 * the caller, still held, and start nothing. 3 ms passes the drift test
 * but leaves no room for a renewal threshold above the 2 ms loss margin:
 * ERANGE, as documented. */
static void test_lease_ttl(void **state)
{
    rl_cluster *c = *state;
    static const ttl_row rows[] = {
        {1, REDLOCK_ETTLSHORT},
        {2, REDLOCK_ETTLSHORT},
        {3, REDLOCK_ERANGE},
        {REDLOCK_TTL_MAX_MS + 1, REDLOCK_ERANGE},
        {UINT32_MAX, REDLOCK_ERANGE},
        {0, REDLOCK_OK}, /* the lock's 10 s */
        {REDLOCK_TTL_MAX_MS, REDLOCK_OK},
    };
    int threads = rl_count_threads();
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_lock *l = NULL;
        assert_int_equal(redlock_acquire(c->m, "ttl-lease", 10000, &l),
                         REDLOCK_OK);
        assert_true(rl_await_keys(c, 3, 5000));
        redlock_lease_options lo;
        redlock_lease_options_init(&lo);
        lo.ttl_ms = rows[i].ttl_ms;
        redlock_lease *lease = (redlock_lease *)0x1;
        quiet_mark q = quiet_begin(c);
        redlock_status st = redlock_lease_start(l, &lo, &lease);
        expect_row("lease_start", rows[i].ttl_ms, st, rows[i].want);
        if (st != REDLOCK_OK) {
            quiet_end(c, q, "lease_start");
            assert_null(lease);
            assert_true(redlock_lock_validity_ms(l) > 0);
            assert_int_equal(redlock_release(l), REDLOCK_OK);
        } else {
            assert_int_equal(redlock_lease_stop(lease, NULL), REDLOCK_OK);
        }
        await_no_keys(c);
    }
    /* At most the lease thread was started. */
    assert_true(rl_count_threads() <= threads + 1);
}

/* Work for with_lock: records that it ran. */
static int mark_ran(redlock_lease *lease, void *ud)
{
    (void)lease;
    *(int *)ud = 1;
    return 0;
}

/* The combined calls refuse the same TTLs before sending anything (the
 * work never runs), and take the maximum. */
static void test_lease_acquire_ttl(void **state)
{
    rl_cluster *c = *state;
    static const ttl_row rows[] = {
        {0, REDLOCK_ERANGE},
        {1, REDLOCK_ETTLSHORT},
        {2, REDLOCK_ETTLSHORT},
        {REDLOCK_TTL_MAX_MS + 1, REDLOCK_ERANGE},
        {UINT32_MAX, REDLOCK_ERANGE},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_lease *lease = (redlock_lease *)0x1;
        quiet_mark q = quiet_begin(c);
        redlock_status st = redlock_lease_acquire(c->m, "ttl-la",
                                                  rows[i].ttl_ms, NULL, NULL,
                                                  &lease);
        quiet_end(c, q, "lease_acquire");
        expect_row("lease_acquire", rows[i].ttl_ms, st, rows[i].want);
        assert_null(lease);
        int ran = 0, result = -1;
        q = quiet_begin(c);
        st = redlock_with_lock(c->m, "ttl-wl", rows[i].ttl_ms, NULL, NULL,
                               mark_ran, &ran, &result);
        quiet_end(c, q, "with_lock");
        expect_row("with_lock", rows[i].ttl_ms, st, rows[i].want);
        assert_int_equal(ran, 0);
        assert_int_equal(rl_total_keys(c), 0);
    }
    /* The maximum is accepted by both, and the work runs. */
    redlock_lease *lease = NULL;
    assert_int_equal(redlock_lease_acquire(c->m, "ttl-la", REDLOCK_TTL_MAX_MS,
                                           NULL, NULL, &lease),
                     REDLOCK_OK);
    assert_int_equal(redlock_lease_stop(lease, NULL), REDLOCK_OK);
    await_no_keys(c);
    int ran = 0, result = -1;
    assert_int_equal(redlock_with_lock(c->m, "ttl-wl", REDLOCK_TTL_MAX_MS,
                                       NULL, NULL, mark_ran, &ran, &result),
                     REDLOCK_OK);
    assert_int_equal(ran, 1);
    assert_int_equal(result, 0);
    await_no_keys(c);
}

/* election_start: too short for the drift allowance is ETTLSHORT; below
 * 10 ms (no room for its lease) or above the maximum ERANGE. Refused
 * calls start no thread and send nothing. */
static void test_election_ttl(void **state)
{
    rl_cluster *c = *state;
    static const ttl_row rows[] = {
        {0, REDLOCK_ERANGE},
        {1, REDLOCK_ETTLSHORT},
        {2, REDLOCK_ETTLSHORT},
        {3, REDLOCK_ERANGE},
        {9, REDLOCK_ERANGE},
        {REDLOCK_TTL_MAX_MS + 1, REDLOCK_ERANGE},
        {UINT32_MAX, REDLOCK_ERANGE},
        {10, REDLOCK_OK},
        {REDLOCK_TTL_MAX_MS, REDLOCK_OK},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int threads = rl_count_threads();
        redlock_election *e = (redlock_election *)0x1;
        quiet_mark q = quiet_begin(c);
        redlock_status st = redlock_election_start(c->m, "ttl-edge",
                                                   rows[i].ttl_ms, NULL, NULL,
                                                   &e);
        expect_row("election_start", rows[i].ttl_ms, st, rows[i].want);
        if (st != REDLOCK_OK) {
            quiet_end(c, q, "election_start");
            assert_null(e);
            assert_int_equal(rl_await_threads(threads, 5000), threads);
            continue;
        }
        redlock_election_destroy(e);
        /* The term's fencing counter has no TTL: remove it. */
        for (size_t k = 0; k < c->n; k++) {
            char out[64];
            const char *argv[1] = {"FLUSHALL"};
            assert_int_equal(rs_command(&c->srv[k], out, sizeof(out), 1,
                                        argv),
                             0);
        }
    }
}

/* ------------------------------------------------------------------------
 * redlock_acquire_opts: retry_count, retry_delay_ms, retry_jitter_ms,
 * deadline_us
 * ------------------------------------------------------------------------ */

/* Which per-call field a row sets. */
enum { F_COUNT, F_DELAY, F_JITTER };

/* The retry fields take -1 (the manager's) or 0..UINT32_MAX, used as
 * given, and retry_count also REDLOCK_RETRY_UNTIL_DEADLINE (-2); anything
 * else is refused with ERANGE before anything is sent.
 * An accepted UINT32_MAX never wraps into a short wait: on a held
 * resource with a 300 ms deadline the call ends at the deadline. */
static void test_acquire_opts_retry(void **state)
{
    rl_cluster *c = *state;
    static const struct {
        int64_t value;
        redlock_status want;
    } rows[] = {
        {-2, REDLOCK_ERANGE}, /* OK for retry_count: see below */
        {-3, REDLOCK_ERANGE},
        {INT64_MIN, REDLOCK_ERANGE},
        {(int64_t)UINT32_MAX + 1, REDLOCK_ERANGE},
        {INT64_MAX, REDLOCK_ERANGE},
        {-1, REDLOCK_OK},
        {0, REDLOCK_OK},
        {1, REDLOCK_OK},
        {UINT32_MAX, REDLOCK_OK},
    };
    static const char *const fields[] = {"retry_count", "retry_delay_ms",
                                         "retry_jitter_ms"};
    for (int f = F_COUNT; f <= F_JITTER; f++) {
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
            redlock_acquire_info info;
            redlock_acquire_opts o;
            redlock_acquire_opts_init(&o);
            o.info = &info;
            int64_t *field = f == F_COUNT   ? &o.retry_count
                             : f == F_DELAY ? &o.retry_delay_ms
                                            : &o.retry_jitter_ms;
            *field = rows[i].value;
            redlock_lock *l = (redlock_lock *)0x1;
            quiet_mark q = quiet_begin(c);
            redlock_status st =
                redlock_acquire_ex(c->m, "opts", 4, 10000, &o, &l);
            redlock_status want =
                f == F_COUNT &&
                        rows[i].value == REDLOCK_RETRY_UNTIL_DEADLINE
                    ? REDLOCK_OK
                    : rows[i].want;
            if (st != want)
                fail_msg("%s %lld: %s, want %s", fields[f],
                         (long long)rows[i].value, redlock_status_name(st),
                         redlock_status_name(want));
            if (st != REDLOCK_OK) {
                quiet_end(c, q, fields[f]);
                assert_null(l);
                assert_int_equal(info.attempts, 0);
                assert_int_equal(info.last_status, st);
                continue;
            }
            /* Accepted: and on a held resource the value is honoured
             * without wrapping (retry_count 1 unless it is the field). */
            assert_true(rl_await_keys(c, 3, 5000));
            redlock_acquire_opts_init(&o);
            o.retry_count = 1;
            *field = rows[i].value;
            o.deadline_us = rl_now_us() + 300000u;
            redlock_lock *l2 = NULL;
            uint64_t t0 = rl_now_us();
            st = redlock_acquire_ex(c->m, "opts", 4, 10000, &o, &l2);
            uint64_t took_ms = (rl_now_us() - t0) / 1000u;
            /* ETAKEN: the retries ran out before the deadline (count 0
             * or 1 with short delays); ETIMEDOUT: the deadline came
             * first (a huge count, delay or jitter). */
            if (st != REDLOCK_ETAKEN && st != REDLOCK_ETIMEDOUT)
                fail_msg("%s %lld on a held lock: %s", fields[f],
                         (long long)rows[i].value, redlock_status_name(st));
            assert_true(took_ms < 5000);
            assert_int_equal(redlock_release(l), REDLOCK_OK);
            await_no_keys(c);
        }
    }
}

/* deadline_us: 0 is none; any time already passed (1, a moment ago) is
 * ETIMEDOUT before anything is sent; INT64_MAX and UINT64_MAX are far
 * future deadlines (in effect none). */
static void test_acquire_opts_deadline(void **state)
{
    rl_cluster *c = *state;
    uint64_t now = rl_now_us();
    const struct {
        uint64_t deadline_us;
        redlock_status want;
    } rows[] = {
        {1, REDLOCK_ETIMEDOUT},
        {now - 1, REDLOCK_ETIMEDOUT},
        {0, REDLOCK_OK},
        {INT64_MAX, REDLOCK_OK},
        {UINT64_MAX, REDLOCK_OK},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_acquire_info info;
        redlock_acquire_opts o;
        redlock_acquire_opts_init(&o);
        o.info = &info;
        o.deadline_us = rows[i].deadline_us;
        redlock_lock *l = NULL;
        quiet_mark q = quiet_begin(c);
        redlock_status st = redlock_acquire_ex(c->m, "dl", 2, 10000, &o, &l);
        if (st != rows[i].want)
            fail_msg("deadline_us %llu: %s, want %s",
                     (unsigned long long)rows[i].deadline_us,
                     redlock_status_name(st),
                     redlock_status_name(rows[i].want));
        if (st != REDLOCK_OK) {
            quiet_end(c, q, "deadline_us");
            assert_int_equal(info.attempts, 0);
            continue;
        }
        assert_int_equal(redlock_release(l), REDLOCK_OK);
        await_no_keys(c);
    }
}

/* ------------------------------------------------------------------------
 * redlock_options: every *_ms field
 * ------------------------------------------------------------------------ */

/* The manager's duration options at 0, 1 and UINT32_MAX (their type's
 * maximum; none has a smaller documented maximum). Each is refused with
 * ERANGE where the header says so, or accepted as given: the library
 * computes with them in 64 bits, so even UINT32_MAX does not wrap. A
 * manager that takes UINT32_MAX for a field locks and unlocks normally,
 * and every manager leaves no thread behind. */
static void test_manager_options(void **state)
{
    rl_cluster *c = *state;
    static const struct {
        const char *field;
        size_t offset;
        uint32_t value;
        redlock_status want;
    } rows[] = {
#define ROW(f, v, st) {#f, offsetof(redlock_options, f), v, st}
        ROW(retry_delay_ms, 0, REDLOCK_OK),
        ROW(retry_delay_ms, 1, REDLOCK_OK),
        ROW(retry_delay_ms, UINT32_MAX, REDLOCK_OK),
        ROW(retry_jitter_ms, 0, REDLOCK_OK),
        ROW(retry_jitter_ms, 1, REDLOCK_OK),
        ROW(retry_jitter_ms, UINT32_MAX, REDLOCK_OK),
        ROW(connect_timeout_ms, 0, REDLOCK_ERANGE),
        ROW(connect_timeout_ms, 1, REDLOCK_OK),
        ROW(connect_timeout_ms, UINT32_MAX, REDLOCK_OK),
        ROW(command_timeout_ms, 0, REDLOCK_ERANGE),
        ROW(command_timeout_ms, 1, REDLOCK_OK),
        ROW(command_timeout_ms, UINT32_MAX, REDLOCK_OK),
        ROW(reconnect_min_ms, 0, REDLOCK_ERANGE),
        ROW(reconnect_min_ms, 1, REDLOCK_OK),
        ROW(reconnect_min_ms, UINT32_MAX, REDLOCK_ERANGE), /* > max */
        ROW(reconnect_max_ms, 0, REDLOCK_ERANGE),          /* < min */
        ROW(reconnect_max_ms, 1, REDLOCK_ERANGE),          /* < min */
        ROW(reconnect_max_ms, UINT32_MAX, REDLOCK_OK),
        ROW(shutdown_timeout_ms, 0, REDLOCK_OK),
        ROW(shutdown_timeout_ms, 1, REDLOCK_OK),
        ROW(shutdown_timeout_ms, UINT32_MAX, REDLOCK_OK),
#undef ROW
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int threads = rl_count_threads();
        int fds = rl_count_fds();
        redlock_options o;
        rl_test_options(&o, NULL);
        memcpy((char *)&o + rows[i].offset, &rows[i].value,
               sizeof(uint32_t));
        redlock_manager *m = (redlock_manager *)0x1;
        char err[256] = "";
        redlock_status st =
            redlock_manager_create_ex(c->uris, c->n, &o, &m, err,
                                      sizeof(err));
        if (st != rows[i].want)
            fail_msg("%s %lu: %s (%s), want %s", rows[i].field,
                     (unsigned long)rows[i].value, redlock_status_name(st),
                     err, redlock_status_name(rows[i].want));
        if (st != REDLOCK_OK) {
            assert_null(m);
            assert_non_null(strstr(err, rows[i].field[0] == 'r' &&
                                            rows[i].field[2] == 'c'
                                        ? "reconnect"
                                        : "timeout"));
        } else if (rows[i].value == UINT32_MAX) {
            redlock_lock *l = NULL;
            assert_int_equal(redlock_acquire(m, "mopt", 10000, &l),
                             REDLOCK_OK);
            assert_int_equal(redlock_release(l), REDLOCK_OK);
        }
        redlock_manager_destroy(m == (redlock_manager *)0x1 ? NULL : m);
        assert_int_equal(rl_await_threads(threads, 5000), threads);
        assert_int_equal(rl_count_fds(), fds);
        await_no_keys(c);
    }
}

/* ------------------------------------------------------------------------
 * redlock_lease_options.renew_threshold_ms
 * ------------------------------------------------------------------------ */

/* With a 10 s lease the loss margin is 50 ms: the threshold must be above
 * it and below the TTL; 0 means a third. Refused ones leave the lock with
 * the caller; nothing is clamped. */
static void test_lease_threshold(void **state)
{
    rl_cluster *c = *state;
    static const struct {
        uint32_t threshold_ms;
        redlock_status want;
    } rows[] = {
        {1, REDLOCK_ERANGE},
        {50, REDLOCK_ERANGE},
        {10000, REDLOCK_ERANGE},
        {UINT32_MAX, REDLOCK_ERANGE},
        {0, REDLOCK_OK},
        {51, REDLOCK_OK},
        {9999, REDLOCK_OK},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_lock *l = NULL;
        assert_int_equal(redlock_acquire(c->m, "thr", 10000, &l),
                         REDLOCK_OK);
        assert_true(rl_await_keys(c, 3, 5000));
        redlock_lease_options lo;
        redlock_lease_options_init(&lo);
        lo.ttl_ms = 10000;
        lo.renew_threshold_ms = rows[i].threshold_ms;
        redlock_lease *lease = NULL;
        quiet_mark q = quiet_begin(c);
        redlock_status st = redlock_lease_start(l, &lo, &lease);
        if (st != rows[i].want)
            fail_msg("renew_threshold_ms %lu: %s, want %s",
                     (unsigned long)rows[i].threshold_ms,
                     redlock_status_name(st),
                     redlock_status_name(rows[i].want));
        if (st != REDLOCK_OK) {
            quiet_end(c, q, "renew_threshold_ms");
            assert_int_equal(redlock_release(l), REDLOCK_OK);
        } else {
            assert_int_equal(redlock_lease_stop(lease, NULL), REDLOCK_OK);
        }
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
        cmocka_unit_test(test_acquire_ttl),
        cmocka_unit_test(test_acquire_ttl_drift),
        cmocka_unit_test(test_extend_ttl),
        cmocka_unit_test(test_adopt_ttl),
        cmocka_unit_test(test_lease_ttl),
        cmocka_unit_test(test_lease_acquire_ttl),
        cmocka_unit_test(test_election_ttl),
        cmocka_unit_test(test_acquire_opts_retry),
        cmocka_unit_test(test_acquire_opts_deadline),
        cmocka_unit_test(test_manager_options),
        cmocka_unit_test(test_lease_threshold),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
