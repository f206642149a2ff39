/*
 * test_lease_signals.c: regression tests for the lease thread's promises
 * (include/redlock.h, docs/leases.md, docs/safety.md section 8), each once
 * broken:
 *   - a slow on_lost callback delays neither other leases' renewals nor
 *     their loss signals (fd readable before the validity ends);
 *   - a wake-up of the lease thread is never lost, so a renewal's outcome
 *     is acted on as soon as it is known;
 *   - an election destroyed from another lease's on_lost callback, while
 *     the election's own loss is queued behind it, does not deadlock.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "lease.h"
#include "manager.h"
#include "rl_test.h"

/* Start three nodes with the test options. */
static int setup3(void **state)
{
    rl_cluster *c = test_malloc(sizeof(*c));
    if (rl_cluster_start(c, 3, NULL) != 0) {
        test_free(c);
        return -1;
    }
    *state = c;
    return 0;
}

/* Stop everything the test started. */
static int teardown(void **state)
{
    rl_cluster *c = *state;
    rl_cluster_stop(c);
    test_free(c);
    return 0;
}

/* DEL key on every node. */
static void del_everywhere(rl_cluster *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++) {
        char out[64];
        const char *argv[2] = {"DEL", key};
        assert_int_equal(rs_command(&c->srv[i], out, sizeof(out), 2, argv),
                         0);
    }
}

/* A callback that blocks until opened (at most 5 s), telling when it
 * started. */
typedef struct slow_cb {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, open, finished;
    uint64_t hold_us; /* return after this long even if not opened */
} slow_cb;

/* Initialise a slow callback's state. */
static void slow_init(slow_cb *s, uint64_t hold_us)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &a);
    pthread_condattr_destroy(&a);
    s->hold_us = hold_us;
}

/* Free a slow callback's state. */
static void slow_destroy(slow_cb *s)
{
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

/* Absolute CLOCK_MONOTONIC time us from now. */
static struct timespec mono_in(uint64_t us)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + (us % 1000000u) * 1000u;
    ts.tv_sec += (time_t)(us / 1000000u + ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    return ts;
}

/* on_lost: block (the callback thread) until opened or hold_us passed. */
static void slow_on_lost(redlock_lease *lease, redlock_status why, void *ud)
{
    (void)lease;
    (void)why;
    slow_cb *s = ud;
    pthread_mutex_lock(&s->mu);
    s->started = true;
    pthread_cond_broadcast(&s->cv);
    struct timespec until = mono_in(s->hold_us);
    while (!s->open)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0)
            break;
    s->finished = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Wait (at most timeout_us) until the slow callback started. */
static bool slow_await_start(slow_cb *s, uint64_t timeout_us)
{
    pthread_mutex_lock(&s->mu);
    struct timespec until = mono_in(timeout_us);
    while (!s->started)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0)
            break;
    bool ok = s->started;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* Let the slow callback return. */
static void slow_open(slow_cb *s)
{
    pthread_mutex_lock(&s->mu);
    s->open = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Start a lease on resource with ttl_ms and an optional callback. */
static redlock_lease *lease_on(redlock_manager *m, const char *resource,
                               uint32_t ttl_ms, redlock_lease_lost_fn fn,
                               void *ud)
{
    redlock_lease_options lo;
    redlock_lease_options_init(&lo);
    lo.on_lost = fn;
    lo.userdata = ud;
    redlock_lease *l = NULL;
    assert_int_equal(redlock_lease_acquire(m, resource, ttl_ms, NULL, &lo,
                                           &l),
                     REDLOCK_OK);
    return l;
}

/*
 * One lease's on_lost sleeps; meanwhile another lease must keep renewing,
 * and a third lease that is lost must have its fd readable before its
 * validity ends. (When callbacks ran on the lease thread, the sleeping
 * callback froze every renewal and every loss signal behind it.)
 */
static void test_slow_callback_delays_nothing(void **state)
{
    rl_cluster *c = *state;
    slow_cb s;
    slow_init(&s, 5000000u);
    redlock_lease *slow = lease_on(c->m, "slow", 1000, slow_on_lost, &s);
    redlock_lease *healthy = lease_on(c->m, "healthy", 600, NULL, NULL);
    redlock_lease *watched = lease_on(c->m, "watched", 1000, NULL, NULL);
    int fd = redlock_lease_fd(watched);
    assert_true(fd >= 0);

    /* The slow lease is lost at its next renewal; its callback blocks. */
    del_everywhere(c, "slow");
    assert_true(slow_await_start(&s, 5000000u));

    /* The watched lease is lost at its next renewal: its fd must be
     * readable before the validity it was granted ends. */
    del_everywhere(c, "watched");
    const redlock_lock *wl = redlock_lease_lock(watched);
    uint64_t end = redlock_lock_validity_end_us(wl);
    uint64_t now = redlock_clock_us();
    int wait_ms = end > now ? (int)((end - now) / 1000u) : 0;
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, wait_ms);
    print_message("watched fd: %s, %lld ms before its validity end\n",
                  rc == 1 ? "readable" : "NOT readable",
                  (long long)((int64_t)end - (int64_t)redlock_clock_us()) /
                      1000);
    assert_int_equal(rc, 1);
    assert_int_equal(redlock_lease_status(watched), REDLOCK_ENOTHELD);

    /* While the callback still sleeps, the healthy lease (600 ms TTL)
     * lives on well past several of its TTLs. */
    uint64_t until = redlock_clock_us() + 1500000u;
    while (redlock_clock_us() < until) {
        assert_int_equal(redlock_lease_lost(healthy), 0);
        redlock__sleep_us(10000);
    }
    pthread_mutex_lock(&s.mu);
    bool still_sleeping = !s.finished;
    pthread_mutex_unlock(&s.mu);
    assert_true(still_sleeping); /* the check above ran during the sleep */
    assert_true(redlock_lease_renewals(healthy) >= 2);

    slow_open(&s);
    assert_int_equal(redlock_lease_stop(healthy, NULL), REDLOCK_OK);
    assert_int_equal(redlock_lease_stop(watched, NULL), REDLOCK_ENOTHELD);
    assert_int_equal(redlock_lease_stop(slow, NULL), REDLOCK_ENOTHELD);
    slow_destroy(&s);
}

/* ------------------------------------------------------------------------
 * Lost wake-ups
 * ------------------------------------------------------------------------ */

/* Armed: the next pass of the lease thread gets a wake-up in the window
 * between taking its wake-up and looking at the ops, as when an op
 * finishes right then. */
static atomic_bool hook_armed;

/* The pass hook: one wake-up in the window. */
static void wake_in_window(redlock__leases *ls)
{
    if (atomic_exchange(&hook_armed, false))
        redlock__leases_wake(ls);
}

/* For rl_await: the lease has renewed more than *(uint32_t *)arg[1]. */
typedef struct renew_wait {
    redlock_lease *lease;
    uint32_t above;
} renew_wait;

/* rl_await condition: renewals went above the mark. */
static bool renewed(void *arg)
{
    renew_wait *w = arg;
    return redlock_lease_renewals(w->lease) > w->above;
}

/*
 * A renewal is in flight (its reply held back by CLIENT PAUSE) when the
 * lease thread takes a wake-up with another arriving in the window. Its
 * reply must still wake the thread at once: no renewal may be acted on
 * more than 250 ms after its outcome was known. (With the flag cleared
 * before the drain, the second wake-up was eaten, the flag stayed set,
 * and the reply was acted on only at the loss check, ~1.3 s later.)
 */
static void test_no_lost_wakeup(void **state)
{
    rl_cluster *c = *state;
    redlock__leases *ls = c->m->leases;
    atomic_store_explicit(&redlock__lease_pass_hook, wake_in_window,
                          memory_order_release);
    redlock_lease_options lo;
    redlock_lease_options_init(&lo);
    lo.renew_threshold_ms = 2400; /* a renewal every ~600 ms */
    redlock_lease *l = NULL;
    assert_int_equal(redlock_lease_acquire(c->m, "res", 3000, NULL, &lo, &l),
                     REDLOCK_OK);
    uint64_t late_before = redlock__leases_late_renewals(ls);
    for (int round = 0; round < 2; round++) {
        /* Hold every reply for 1 s: a renewal is posted within 600 ms. */
        for (size_t i = 0; i < c->n; i++) {
            char out[64];
            const char *argv[3] = {"CLIENT", "PAUSE", "1000"};
            assert_int_equal(
                rs_command(&c->srv[i], out, sizeof(out), 3, argv), 0);
        }
        uint64_t paused = redlock_clock_us();
        uint32_t before = redlock_lease_renewals(l);
        while (redlock_clock_us() < paused + 700000u)
            redlock__sleep_us(paused + 700000u - redlock_clock_us());
        atomic_store(&hook_armed, true);
        redlock__leases_wake(ls);
        /* The pause ends; the renewal's outcome must be acted on now. */
        renew_wait w = {l, before};
        assert_true(rl_await(renewed, &w, 5000));
        assert_int_equal(redlock_lease_lost(l), 0);
    }
    uint64_t late = redlock__leases_late_renewals(ls) - late_before;
    print_message("renewals acted on late: %llu\n", (unsigned long long)late);
    atomic_store_explicit(&redlock__lease_pass_hook, NULL,
                          memory_order_release);
    assert_int_equal(late, 0);
    assert_int_equal(redlock_lease_stop(l, NULL), REDLOCK_OK);
}

/* ------------------------------------------------------------------------
 * Election destroyed from a lease callback
 * ------------------------------------------------------------------------ */

/* What the destroying callback did. */
typedef struct destroyer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    redlock_election *e;
    bool done;
} destroyer;

/* on_lost of lease X: destroy the election. */
static void destroy_election(redlock_lease *lease, redlock_status why,
                             void *ud)
{
    (void)lease;
    (void)why;
    destroyer *d = ud;
    redlock_election_destroy(d->e);
    pthread_mutex_lock(&d->mu);
    d->done = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* For rl_await: the election is leader. */
static bool is_leader(void *arg)
{
    return redlock_election_is_leader(arg) == 1;
}

/*
 * Lease X's on_lost destroys an election whose own lease is lost at about
 * the same time, its loss queued behind X's. Destroy stops the
 * election's lease, which must not wait for that queued callback (it
 * would wait on the thread running X's callback: a deadlock). A third
 * lease's slow callback makes both losses pile up behind it.
 */
static void test_election_destroy_from_lease_callback(void **state)
{
    rl_cluster *c = *state;
    redlock_election *e = NULL;
    assert_int_equal(redlock_election_start(c->m, "boss", 1000, NULL, NULL,
                                             &e),
                     REDLOCK_OK);
    assert_true(rl_await(is_leader, e, 10000));
    destroyer d;
    memset(&d, 0, sizeof(d));
    pthread_mutex_init(&d.mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&d.cv, &a);
    pthread_condattr_destroy(&a);
    d.e = e;
    slow_cb s;
    slow_init(&s, 2000000u);
    /* X's validity always ends before the election's: 300 ms vs 1000. */
    redlock_lease *x = lease_on(c->m, "x", 300, destroy_election, &d);
    redlock_lease *z = lease_on(c->m, "z", 1000, slow_on_lost, &s);

    del_everywhere(c, "z");
    assert_true(slow_await_start(&s, 5000000u));
    del_everywhere(c, "x");
    del_everywhere(c, "election:boss");

    pthread_mutex_lock(&d.mu);
    struct timespec until = mono_in(15000000u);
    while (!d.done)
        if (pthread_cond_timedwait(&d.cv, &d.mu, &until) != 0)
            break;
    bool done = d.done;
    pthread_mutex_unlock(&d.mu);
    if (!done) {
        print_message("deadlock: redlock_election_destroy() from an "
                      "on_lost callback did not return in 15 s\n");
        fflush(NULL);
        _exit(1); /* the threads are stuck: teardown would hang */
    }
    assert_int_not_equal(redlock_lease_stop(x, NULL), REDLOCK_OK);
    assert_int_not_equal(redlock_lease_stop(z, NULL), REDLOCK_OK);
    slow_destroy(&s);
    pthread_cond_destroy(&d.cv);
    pthread_mutex_destroy(&d.mu);
}

/* Run the tests. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slow_callback_delays_nothing,
                                        setup3, teardown),
        cmocka_unit_test_setup_teardown(test_no_lost_wakeup, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_election_destroy_from_lease_callback, setup3, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
