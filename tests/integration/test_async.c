/*
 * test_async.c: the non-blocking calls (redlock.h, "Non-blocking
 * operations"; src/async.c) against three real redis-server processes.
 *
 * - acquire, extend and release complete through the queue's fd and
 *   dispatch, on the dispatching thread, each callback exactly once, and
 *   the keys on the nodes say what the outcome says;
 * - a taken resource fails with ETAKEN (no retries) and leaves no key of
 *   ours; with retries and a deadline it is won once the holder releases,
 *   or fails with ETIMEDOUT at the deadline (not before);
 * - cancel: a waiting acquire completes with ECANCELED and holds nothing;
 *   an attempt in flight (a node stopped) is undone; cancelling a release
 *   changes nothing;
 * - completion order: callbacks run in the order operations finished;
 * - misuse: bad arguments are refused at once with nothing sent and no
 *   callback; a second operation on a busy lock is EMISUSE;
 * - destroy with operations pending: each completes with ECLOSED exactly
 *   once (manager destroyed), or ECANCELED (queue destroyed), and no fd or
 *   thread is left;
 * - REDLOCK_QUEUE_THREAD mode runs callbacks on the queue's thread.
 */
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "redlock.h"
#include "rl_test.h"

/* One completion as a callback saw it. */
typedef struct seen {
    int calls;                /* callback runs (must end at 1) */
    redlock_status st;
    redlock_lock *lock;
    pthread_t thread;
    int order;                /* position among this test's completions */
} seen;

static int completions; /* of the current test, on the dispatching thread */

static void on_done(redlock_pending *p, redlock_status st,
                    redlock_lock *lock, void *userdata)
{
    (void)p;
    seen *s = userdata;
    s->calls++;
    s->st = st;
    s->lock = lock;
    s->thread = pthread_self();
    s->order = completions++;
}

/* Dispatch q until s has completed, polling its fd (no sleeps), up to
 * timeout_ms. */
static bool run_until(redlock_queue *q, const seen *s, int timeout_ms)
{
    uint64_t end = rl_now_us() + (uint64_t)timeout_ms * 1000u;
    while (s->calls == 0) {
        uint64_t now = rl_now_us();
        if (now >= end)
            return false;
        struct pollfd pfd = {redlock_queue_fd(q), POLLIN, 0};
        int left = (int)((end - now) / 1000u) + 1;
        if (poll(&pfd, 1, left) > 0)
            redlock_queue_dispatch(q, 0);
    }
    return true;
}

/* Dispatch q until nothing is pending on it. */
static bool run_all(redlock_queue *q, int timeout_ms)
{
    uint64_t end = rl_now_us() + (uint64_t)timeout_ms * 1000u;
    while (redlock_queue_pending(q) > 0) {
        uint64_t now = rl_now_us();
        if (now >= end)
            return false;
        struct pollfd pfd = {redlock_queue_fd(q), POLLIN, 0};
        if (poll(&pfd, 1, (int)((end - now) / 1000u) + 1) > 0)
            redlock_queue_dispatch(q, 0);
    }
    return true;
}

/* Nodes holding key with the lock's token. */
static int holders(rl_cluster *c, const char *key, const char *token)
{
    int n = 0;
    for (size_t i = 0; i < c->n; i++) {
        char got[128];
        if (rl_get(c, i, key, got, sizeof(got)) == 0 &&
            strncmp(got, token, strlen(token)) == 0)
            n++;
    }
    return n;
}

/* For rl_await: "cy" is on node 0 / gone from node 0; "cz" is on no
 * node. */
static bool on_node0(void *arg)
{
    return rl_pttl(arg, 0, "cy") > 0;
}

static bool gone_from_node0(void *arg)
{
    return rl_pttl(arg, 0, "cy") == -2;
}

static bool cz_gone(void *arg)
{
    rl_cluster *c = arg;
    for (size_t i = 0; i < c->n; i++)
        if (rl_pttl(c, i, "cz") != -2)
            return false;
    return true;
}

static int setup(void **state)
{
    rl_cluster *c = calloc(1, sizeof(*c));
    if (c == NULL || rl_cluster_start(c, 3, NULL) != 0) {
        free(c);
        return -1;
    }
    completions = 0;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    rl_cluster *c = *state;
    for (size_t i = 0; i < c->n; i++)
        kill(c->srv[i].pid, SIGCONT); /* a test may have stopped one */
    rl_cluster_stop(c);
    free(c);
    return 0;
}

static void test_acquire_extend_release(void **state)
{
    rl_cluster *c = *state;
    redlock_queue *q = NULL;
    assert_int_equal(redlock_queue_create(c->m, NULL, &q), REDLOCK_OK);
    assert_true(redlock_queue_fd(q) >= 0);

    seen a = {0}, e = {0}, r = {0};
    redlock_pending *h = NULL;
    assert_int_equal(redlock_acquire_async(q, "ax", 2, 10000, NULL, on_done,
                                           &a, &h),
                     REDLOCK_OK);
    assert_non_null(h);
    assert_true(run_until(q, &a, 10000));
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.st, REDLOCK_OK);
    assert_non_null(a.lock);
    assert_true(pthread_equal(a.thread, pthread_self()));
    assert_true(redlock_lock_validity_ms(a.lock) > 0);
    char token[REDLOCK_TOKEN_LEN + 1];
    snprintf(token, sizeof(token), "%s", redlock_lock_token(a.lock));
    /* Won on a quorum; the third SET follows. */
    assert_true(holders(c, "ax", token) >= 2);

    assert_int_equal(redlock_extend_async(q, a.lock, 20000, on_done, &e,
                                          NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &e, 10000));
    assert_int_equal(e.st, REDLOCK_OK);
    assert_ptr_equal(e.lock, a.lock);
    assert_true(redlock_lock_validity_ms(a.lock) > 10000);
    assert_true(rl_pttl(c, 0, "ax") > 10000 || rl_pttl(c, 1, "ax") > 10000);

    assert_int_equal(redlock_release_async(q, a.lock, on_done, &r, NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &r, 10000));
    assert_int_equal(r.st, REDLOCK_OK);
    assert_true(rl_await_keys(c, 0, 10000));
    /* Each callback ran once; nothing is pending; the fd is quiet. */
    assert_int_equal(a.calls + e.calls + r.calls, 3);
    assert_int_equal(redlock_queue_pending(q), 0);
    struct pollfd pfd = {redlock_queue_fd(q), POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 0), 0);
    redlock_queue_destroy(q);
}

static void test_taken_and_retries(void **state)
{
    rl_cluster *c = *state;
    redlock_queue *q = NULL;
    assert_int_equal(redlock_queue_create(c->m, NULL, &q), REDLOCK_OK);
    redlock_lock *held = NULL;
    assert_int_equal(redlock_acquire(c->m, "tk", 30000, &held), REDLOCK_OK);
    assert_true(rl_await_keys(c, 3, 10000));

    /* No retries: ETAKEN, and nothing of ours is left. */
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    o.retry_count = 0;
    seen t = {0};
    assert_int_equal(redlock_acquire_async(q, "tk", 2, 10000, &o, on_done,
                                           &t, NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &t, 10000));
    assert_int_equal(t.st, REDLOCK_ETAKEN);
    assert_null(t.lock);

    /* Retrying to a deadline: ETIMEDOUT, not before the deadline. */
    redlock_acquire_opts_init(&o);
    o.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
    o.deadline_us = rl_now_us() + 300000;
    seen d = {0};
    assert_int_equal(redlock_acquire_async(q, "tk", 2, 10000, &o, on_done,
                                           &d, NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &d, 10000));
    assert_int_equal(d.st, REDLOCK_ETIMEDOUT);
    assert_true(rl_now_us() >= o.deadline_us);

    /* Retrying: won once the holder lets go. The loop keeps turning
     * while it waits (the engine's timers, not this thread, retry). */
    redlock_acquire_opts_init(&o);
    o.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
    o.deadline_us = rl_now_us() + 20000000;
    seen w = {0};
    assert_int_equal(redlock_acquire_async(q, "tk", 2, 10000, &o, on_done,
                                           &w, NULL),
                     REDLOCK_OK);
    assert_int_equal(redlock_queue_dispatch(q, 0), 0);
    assert_int_equal(w.calls, 0);
    assert_int_equal(redlock_release(held), REDLOCK_OK);
    assert_true(run_until(q, &w, 15000));
    assert_int_equal(w.st, REDLOCK_OK);
    seen r = {0};
    assert_int_equal(redlock_release_async(q, w.lock, on_done, &r, NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &r, 10000));
    assert_int_equal(r.st, REDLOCK_OK);
    assert_true(rl_await_keys(c, 0, 10000));
    redlock_queue_destroy(q);
}

static void test_cancel(void **state)
{
    rl_cluster *c = *state;
    redlock_queue *q = NULL;
    assert_int_equal(redlock_queue_create(c->m, NULL, &q), REDLOCK_OK);

    /* A waiting acquire (the resource is held) is cancelled. */
    redlock_lock *held = NULL;
    assert_int_equal(redlock_acquire(c->m, "cx", 30000, &held), REDLOCK_OK);
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    o.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
    o.deadline_us = rl_now_us() + 30000000;
    seen w = {0};
    redlock_pending *h = NULL;
    assert_int_equal(redlock_acquire_async(q, "cx", 2, 10000, &o, on_done,
                                           &w, &h),
                     REDLOCK_OK);
    assert_int_equal(redlock_cancel(h), REDLOCK_OK);
    assert_true(run_until(q, &w, 10000));
    assert_int_equal(w.st, REDLOCK_ECANCELED);
    assert_null(w.lock);
    assert_int_equal(redlock_release(held), REDLOCK_OK);
    assert_true(rl_await_keys(c, 0, 10000));

    /* An attempt in flight: nodes 1 and 2 are stopped, so no outcome is
     * certain while it waits (up to the 2 s command timeout). Its SET on
     * node 0 is undone by the cancel, long before its 10 s TTL. */
    assert_int_equal(kill(c->srv[1].pid, SIGSTOP), 0);
    assert_int_equal(kill(c->srv[2].pid, SIGSTOP), 0);
    seen f = {0};
    assert_int_equal(redlock_acquire_async(q, "cy", 2, 10000, NULL, on_done,
                                           &f, &h),
                     REDLOCK_OK);
    assert_true(rl_await(on_node0, c, 10000));
    assert_int_equal(redlock_queue_dispatch(q, 0), 0);
    assert_int_equal(f.calls, 0);
    assert_int_equal(redlock_cancel(h), REDLOCK_OK);
    assert_true(run_until(q, &f, 10000));
    assert_int_equal(f.st, REDLOCK_ECANCELED);
    assert_null(f.lock);
    assert_true(rl_await(gone_from_node0, c, 5000));
    assert_int_equal(kill(c->srv[1].pid, SIGCONT), 0);
    assert_int_equal(kill(c->srv[2].pid, SIGCONT), 0);

    /* Cancelling a release changes nothing: it completes, and releases. */
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "cz", 30000, &l), REDLOCK_OK);
    seen r = {0};
    assert_int_equal(redlock_release_async(q, l, on_done, &r, &h),
                     REDLOCK_OK);
    assert_int_equal(redlock_cancel(h), REDLOCK_OK);
    assert_true(run_until(q, &r, 10000));
    assert_int_equal(r.st, REDLOCK_OK);
    assert_true(rl_await(cz_gone, c, 10000));
    redlock_queue_destroy(q);
}

/* Completion order: a quick try of a held resource finishes before a
 * retrying acquire of the same resource that only wins once the holder
 * releases; both before the release submitted last. */
static void test_completion_order(void **state)
{
    rl_cluster *c = *state;
    redlock_queue *q = NULL;
    assert_int_equal(redlock_queue_create(c->m, NULL, &q), REDLOCK_OK);
    redlock_lock *held = NULL;
    assert_int_equal(redlock_acquire(c->m, "ord", 30000, &held), REDLOCK_OK);
    redlock_acquire_opts slow;
    redlock_acquire_opts_init(&slow);
    slow.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
    slow.deadline_us = rl_now_us() + 20000000;
    redlock_acquire_opts quick;
    redlock_acquire_opts_init(&quick);
    quick.retry_count = 0;
    seen s1 = {0}, s2 = {0};
    assert_int_equal(redlock_acquire_async(q, "ord", 3, 10000, &slow,
                                           on_done, &s1, NULL),
                     REDLOCK_OK);
    assert_int_equal(redlock_acquire_async(q, "ord", 3, 10000, &quick,
                                           on_done, &s2, NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &s2, 10000));
    assert_int_equal(s2.st, REDLOCK_ETAKEN);
    assert_int_equal(s1.calls, 0);
    assert_int_equal(redlock_release(held), REDLOCK_OK);
    assert_true(run_until(q, &s1, 15000));
    assert_int_equal(s1.st, REDLOCK_OK);
    assert_true(s2.order < s1.order);
    seen r = {0};
    assert_int_equal(redlock_release_async(q, s1.lock, on_done, &r, NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &r, 10000));
    assert_true(s1.order < r.order);
    redlock_queue_destroy(q);
}

static void test_bad_input(void **state)
{
    rl_cluster *c = *state;
    redlock_queue *q = NULL;
    redlock_queue_options qo;
    redlock_queue_options_init(&qo);
    qo.mode = (redlock_queue_mode)7;
    assert_int_equal(redlock_queue_create(c->m, &qo, &q), REDLOCK_EINVAL);
    assert_null(q);
    assert_int_equal(redlock_queue_create(NULL, NULL, &q), REDLOCK_EINVAL);
    assert_int_equal(redlock_queue_create(c->m, NULL, &q), REDLOCK_OK);

    seen s = {0};
    redlock_pending *h = (redlock_pending *)&s;
    assert_int_equal(redlock_acquire_async(NULL, "r", 1, 1000, NULL,
                                           on_done, &s, &h),
                     REDLOCK_EINVAL);
    assert_null(h);
    assert_int_equal(redlock_acquire_async(q, "r", 1, 0, NULL, on_done, &s,
                                           NULL),
                     REDLOCK_ERANGE);
    assert_int_equal(redlock_acquire_async(q, NULL, 1, 1000, NULL, on_done,
                                           &s, NULL),
                     REDLOCK_EINVAL);
    assert_int_equal(redlock_acquire_async(q, "", 0, 1000, NULL, on_done,
                                           &s, NULL),
                     REDLOCK_EINVAL);
    assert_int_equal(redlock_extend_async(q, NULL, 1000, on_done, &s, NULL),
                     REDLOCK_EINVAL);
    assert_int_equal(redlock_release_async(q, NULL, on_done, &s, NULL),
                     REDLOCK_EINVAL);
    assert_int_equal(redlock_cancel(NULL), REDLOCK_EINVAL);

    /* A lock busy with a non-blocking extend takes no second operation. */
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "busy", 10000, &l), REDLOCK_OK);
    seen e = {0};
    assert_int_equal(redlock_extend_async(q, l, 10000, on_done, &e, NULL),
                     REDLOCK_OK);
    assert_int_equal(redlock_release_async(q, l, on_done, &s, NULL),
                     REDLOCK_EMISUSE);
    assert_true(run_until(q, &e, 10000));
    assert_int_equal(e.st, REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_int_equal(s.calls, 0); /* no refused call ever calls back */
    assert_int_equal(redlock_queue_pending(q), 0);
    assert_true(rl_await_keys(c, 0, 10000));
    redlock_queue_destroy(q);
}

/* Failures and cancels of extend and release: a key replaced behind the
 * holder makes both fail with ENOTHELD; an extend in flight (two nodes
 * stopped) is cancelled with ECANCELED and leaves the validity end where
 * a failed extend would (never later than before). */
static void test_extend_release_failure_and_cancel(void **state)
{
    rl_cluster *c = *state;
    redlock_queue *q = NULL;
    assert_int_equal(redlock_queue_create(c->m, NULL, &q), REDLOCK_OK);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "ef", 10000, &l), REDLOCK_OK);
    assert_true(rl_await_keys(c, 3, 10000));
    for (size_t i = 0; i < c->n; i++)
        assert_int_equal(rl_set(c, i, "ef", "someone-else", 10000), 0);
    seen e = {0}, r = {0};
    assert_int_equal(redlock_extend_async(q, l, 10000, on_done, &e, NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &e, 10000));
    assert_int_equal(e.st, REDLOCK_ENOTHELD);
    assert_int_equal(redlock_release_async(q, l, on_done, &r, NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &r, 10000));
    assert_int_equal(r.st, REDLOCK_ENOTHELD);
    char got[64];
    assert_int_equal(rl_get(c, 0, "ef", got, sizeof(got)), 0);
    assert_string_equal(got, "someone-else"); /* not ours: kept */

    redlock_lock *m = NULL;
    assert_int_equal(redlock_acquire(c->m, "eg", 10000, &m), REDLOCK_OK);
    uint64_t end_before = redlock_lock_validity_end_us(m);
    assert_int_equal(kill(c->srv[1].pid, SIGSTOP), 0);
    assert_int_equal(kill(c->srv[2].pid, SIGSTOP), 0);
    seen x = {0};
    redlock_pending *h = NULL;
    assert_int_equal(redlock_extend_async(q, m, 20000, on_done, &x, &h),
                     REDLOCK_OK);
    assert_int_equal(redlock_queue_dispatch(q, 0), 0);
    assert_int_equal(redlock_cancel(h), REDLOCK_OK);
    assert_true(run_until(q, &x, 10000));
    assert_int_equal(x.st, REDLOCK_ECANCELED);
    assert_true(redlock_lock_validity_end_us(m) <= end_before);
    assert_int_equal(kill(c->srv[1].pid, SIGCONT), 0);
    assert_int_equal(kill(c->srv[2].pid, SIGCONT), 0);
    redlock_lock_free(m);
    redlock_queue_destroy(q);
}

/* A lease acquired without blocking: its lease runs (renewals), and is
 * ended from the loop with lease_stop (lock handed back) and a release;
 * a lease that cannot start releases its lock and reports why; bad lease
 * options are refused at once. */
static redlock_lease *lease_seen;

static void on_lease(redlock_pending *p, redlock_status st,
                     redlock_lock *lock, void *userdata)
{
    lease_seen = redlock_pending_lease(p);
    on_done(p, st, lock, userdata);
}

static void test_lease_acquire_async(void **state)
{
    rl_cluster *c = *state;
    redlock_queue *q = NULL;
    assert_int_equal(redlock_queue_create(c->m, NULL, &q), REDLOCK_OK);
    seen a = {0};
    assert_int_equal(redlock_lease_acquire_async(q, "la", 300, NULL, NULL,
                                                 on_lease, &a, NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &a, 10000));
    assert_int_equal(a.st, REDLOCK_OK);
    redlock_lease *lease = lease_seen;
    assert_non_null(lease);
    assert_ptr_equal(a.lock, redlock_lease_lock(lease));
    /* Kept alive past its 300 ms TTL. */
    assert_int_equal(redlock_lease_wait(lease, 1000), REDLOCK_ETIMEDOUT);
    assert_true(redlock_lease_renewals(lease) >= 1);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_lease_stop(lease, &l), REDLOCK_OK);
    seen r = {0};
    assert_int_equal(redlock_release_async(q, l, on_done, &r, NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &r, 10000));
    assert_int_equal(r.st, REDLOCK_OK);
    assert_true(rl_await_keys(c, 0, 10000));

    /* The lease cannot start (threshold not below the TTL): released. */
    redlock_lease_options lo;
    redlock_lease_options_init(&lo);
    lo.renew_threshold_ms = 5000;
    seen b = {0};
    lease_seen = (redlock_lease *)&b;
    assert_int_equal(redlock_lease_acquire_async(q, "lb", 1000, NULL, &lo,
                                                 on_lease, &b, NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &b, 10000));
    assert_int_equal(b.st, REDLOCK_ERANGE);
    assert_null(b.lock);
    assert_null(lease_seen);
    assert_true(rl_await_keys(c, 0, 10000));

    /* Options not from _init(): refused, no callback. */
    redlock_lease_options bad;
    memset(&bad, 0, sizeof(bad));
    seen z = {0};
    assert_int_equal(redlock_lease_acquire_async(q, "lc", 1000, NULL, &bad,
                                                 on_lease, &z, NULL),
                     REDLOCK_EINVAL);
    assert_int_equal(redlock_queue_pending(q), 0);
    assert_int_equal(z.calls, 0);
    redlock_queue_destroy(q);
}

/* A fencing number drawn without blocking: above the one drawn before by
 * the blocking call, and increasing; the lock is busy while it is drawn;
 * bad input is refused. */
static uint64_t fence_seen;

static void on_fence(redlock_pending *p, redlock_status st,
                     redlock_lock *lock, void *userdata)
{
    fence_seen = st == REDLOCK_OK ? redlock_pending_fence(p) : 0;
    on_done(p, st, lock, userdata);
}

static void test_fence_async(void **state)
{
    rl_cluster *c = *state;
    redlock_queue *q = NULL;
    assert_int_equal(redlock_queue_create(c->m, NULL, &q), REDLOCK_OK);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "fx", 10000, &l), REDLOCK_OK);
    uint64_t n1 = 0;
    assert_int_equal(redlock_fence_next(l, &n1), REDLOCK_OK);
    seen f = {0};
    assert_int_equal(redlock_fence_next_async(q, l, on_fence, &f, NULL),
                     REDLOCK_OK);
    uint64_t busy = 0;
    assert_int_equal(redlock_fence_next(l, &busy), REDLOCK_EMISUSE);
    assert_true(run_until(q, &f, 10000));
    assert_int_equal(f.st, REDLOCK_OK);
    assert_ptr_equal(f.lock, l);
    assert_true(fence_seen > n1);
    uint64_t n2 = fence_seen;
    seen g = {0};
    assert_int_equal(redlock_fence_next_async(q, l, on_fence, &g, NULL),
                     REDLOCK_OK);
    assert_true(run_until(q, &g, 10000));
    assert_int_equal(g.st, REDLOCK_OK);
    assert_true(fence_seen > n2);
    /* A draw in flight (two nodes stopped: no quorum can answer) is
     * cancelled: ECANCELED, no number. */
    assert_int_equal(kill(c->srv[1].pid, SIGSTOP), 0);
    assert_int_equal(kill(c->srv[2].pid, SIGSTOP), 0);
    seen k = {0};
    redlock_pending *h = NULL;
    assert_int_equal(redlock_fence_next_async(q, l, on_fence, &k, &h),
                     REDLOCK_OK);
    assert_int_equal(redlock_cancel(h), REDLOCK_OK);
    assert_true(run_until(q, &k, 10000));
    assert_int_equal(k.st, REDLOCK_ECANCELED);
    assert_int_equal(fence_seen, 0);
    assert_int_equal(kill(c->srv[1].pid, SIGCONT), 0);
    assert_int_equal(kill(c->srv[2].pid, SIGCONT), 0);
    /* Bad input, refused at once with no callback. */
    assert_int_equal(redlock_fence_next_async(q, NULL, on_fence, &g, NULL),
                     REDLOCK_EINVAL);
    assert_int_equal(redlock_release_keep(l), REDLOCK_OK);
    assert_int_equal(redlock_fence_next_async(q, l, on_fence, &g, NULL),
                     REDLOCK_ERELEASED);
    assert_int_equal(g.calls, 1);
    assert_int_equal(redlock_pending_fence(NULL), 0);
    redlock_lock_free(l);
    redlock_queue_destroy(q);
}

/* A lock stays the engine's until its extend's callback has run: between
 * the engine finishing the extend and the loop dispatching it, a second
 * operation on the lock is refused (it was accepted when the engine gave
 * the lock back before the callback, and a blocking release then freed a
 * lock the callback was about to get). */
static void test_busy_until_callback(void **state)
{
    rl_cluster *c = *state;
    redlock_queue *q = NULL;
    assert_int_equal(redlock_queue_create(c->m, NULL, &q), REDLOCK_OK);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "bw", 10000, &l), REDLOCK_OK);
    seen e = {0}, e2 = {0};
    assert_int_equal(redlock_extend_async(q, l, 10000, on_done, &e, NULL),
                     REDLOCK_OK);
    /* Finished by the engine: the queue's fd is readable; not yet
     * dispatched. */
    struct pollfd pfd = {redlock_queue_fd(q), POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    assert_int_equal(e.calls, 0);
    assert_int_equal(redlock_extend_async(q, l, 10000, on_done, &e2, NULL),
                     REDLOCK_EMISUSE);
    assert_int_equal(redlock_release_keep(l), REDLOCK_EMISUSE);
    assert_int_equal(redlock_extend(l, 10000), REDLOCK_EMISUSE);
    assert_true(run_until(q, &e, 10000));
    assert_int_equal(e.st, REDLOCK_OK);
    assert_int_equal(e2.calls, 0);
    assert_int_equal(redlock_release(l), REDLOCK_OK); /* ours again */
    redlock_queue_destroy(q);
}

/* A queue destroyed while another thread dispatches waits for that
 * dispatch, and returns when it ends (it once slept on, unwoken). */
typedef struct slow_cb {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool in_callback, destroying;
    redlock_queue *q;
} slow_cb;

static void on_done_slow(redlock_pending *p, redlock_status st,
                         redlock_lock *lock, void *userdata)
{
    (void)p;
    (void)st;
    slow_cb *s = userdata;
    if (lock != NULL)
        redlock_lock_free(lock);
    pthread_mutex_lock(&s->mu);
    s->in_callback = true;
    pthread_cond_broadcast(&s->cv);
    while (!s->destroying)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    /* Give the destroying thread time to block on this dispatch (its
     * wait cannot be observed from here). */
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
}

static void *dispatch_thread(void *arg)
{
    slow_cb *s = arg;
    struct pollfd pfd = {redlock_queue_fd(s->q), POLLIN, 0};
    if (poll(&pfd, 1, 10000) == 1)
        redlock_queue_dispatch(s->q, 1);
    return NULL;
}

static void *destroy_thread(void *arg)
{
    slow_cb *s = arg;
    redlock_queue_destroy(s->q);
    pthread_mutex_lock(&s->mu);
    s->destroying = false; /* reused as "destroy returned" */
    s->in_callback = false;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void test_destroy_waits_for_dispatch(void **state)
{
    rl_cluster *c = *state;
    slow_cb s;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    assert_int_equal(redlock_queue_create(c->m, NULL, &s.q), REDLOCK_OK);
    assert_int_equal(redlock_acquire_async(s.q, "dd", 2, 10000, NULL,
                                           on_done_slow, &s, NULL),
                     REDLOCK_OK);
    pthread_t d, x;
    assert_int_equal(pthread_create(&d, NULL, dispatch_thread, &s), 0);
    pthread_mutex_lock(&s.mu);
    while (!s.in_callback)
        pthread_cond_wait(&s.cv, &s.mu);
    s.destroying = true;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    assert_int_equal(pthread_create(&x, NULL, destroy_thread, &s), 0);
    pthread_join(d, NULL);
    /* The destroy returns once the dispatch is over. */
    uint64_t end = rl_now_us() + 10000000u;
    pthread_mutex_lock(&s.mu);
    while (s.destroying && rl_now_us() < end) {
        pthread_mutex_unlock(&s.mu);
        struct pollfd none = {-1, 0, 0};
        (void)poll(&none, 0, 5);
        pthread_mutex_lock(&s.mu);
    }
    bool returned = !s.destroying;
    pthread_mutex_unlock(&s.mu);
    assert_true(returned);
    pthread_join(x, NULL);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
}

/* Destroying the manager with operations pending completes each with
 * ECLOSED exactly once (or its outcome, if it had one already); the
 * queue outlives the manager; nothing is left behind. */
static void test_destroy_pending(void **state)
{
    rl_cluster *c = *state;
    /* The fixture's own manager goes first: under load one of its
     * connections was once still being made when fds0 was counted, and
     * came up later as "ours" (CI: 28 fds for 27, the third node's
     * socket). */
    redlock_manager_destroy(c->m);
    c->m = NULL;
    int fds0 = rl_count_fds();
    int threads0 = rl_count_threads();
    redlock_manager *m = rl_manager_new(c, NULL);
    assert_non_null(m);
    redlock_queue *q = NULL;
    assert_int_equal(redlock_queue_create(m, NULL, &q), REDLOCK_OK);
    redlock_lock *held = NULL;
    assert_int_equal(redlock_acquire(m, "dx", 30000, &held), REDLOCK_OK);
    enum { N = 20 };
    seen s[N];
    memset(s, 0, sizeof(s));
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    o.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
    o.deadline_us = rl_now_us() + 60000000;
    for (int i = 0; i < N; i++)
        assert_int_equal(redlock_acquire_async(q, "dx", 2, 10000, &o,
                                               on_done, &s[i], NULL),
                         REDLOCK_OK);
    redlock_lock_free(held); /* keep its keys: the waiters keep waiting */
    redlock_manager_destroy(m);
    /* After destroy, a submit is refused at once. */
    seen late = {0};
    assert_int_equal(redlock_acquire_async(q, "dy", 2, 10000, NULL, on_done,
                                           &late, NULL),
                     REDLOCK_ECLOSED);
    assert_true(run_all(q, 10000));
    for (int i = 0; i < N; i++) {
        assert_int_equal(s[i].calls, 1);
        assert_int_equal(s[i].st, REDLOCK_ECLOSED);
    }
    assert_int_equal(late.calls, 0);
    redlock_queue_destroy(q);
    assert_true(rl_await_threads(threads0, 10000));
    assert_int_equal(rl_await_fds(fds0, 10000), fds0);
}

/* Destroying a queue with operations pending runs every callback once
 * (ECANCELED) on the destroying thread. */
static void test_queue_destroy_pending(void **state)
{
    rl_cluster *c = *state;
    redlock_queue *q = NULL;
    assert_int_equal(redlock_queue_create(c->m, NULL, &q), REDLOCK_OK);
    redlock_lock *held = NULL;
    assert_int_equal(redlock_acquire(c->m, "qx", 30000, &held), REDLOCK_OK);
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    o.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
    o.deadline_us = rl_now_us() + 60000000;
    seen s[5];
    memset(s, 0, sizeof(s));
    for (int i = 0; i < 5; i++)
        assert_int_equal(redlock_acquire_async(q, "qx", 2, 10000, &o,
                                               on_done, &s[i], NULL),
                         REDLOCK_OK);
    redlock_queue_destroy(q);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(s[i].calls, 1);
        assert_int_equal(s[i].st, REDLOCK_ECANCELED);
        assert_true(pthread_equal(s[i].thread, pthread_self()));
    }
    assert_int_equal(redlock_release(held), REDLOCK_OK);
    assert_true(rl_await_keys(c, 0, 10000));
}

/* REDLOCK_QUEUE_THREAD: callbacks run on the queue's own thread. */
typedef struct thread_seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    seen s;
} thread_seen;

static void on_done_locked(redlock_pending *p, redlock_status st,
                           redlock_lock *lock, void *userdata)
{
    thread_seen *t = userdata;
    pthread_mutex_lock(&t->mu);
    on_done(p, st, lock, &t->s);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* Threads of this process whose blocked-signal mask is empty. */
static int threads_with_signals_open(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int open_ = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], line[128];
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue; /* the thread ended meanwhile */
        while (fgets(line, sizeof(line), f) != NULL)
            if (strncmp(line, "SigBlk:", 7) == 0 &&
                strtoull(line + 7, NULL, 16) == 0)
                open_++;
        fclose(f);
    }
    closedir(d);
    return open_;
}

static void test_thread_mode(void **state)
{
    rl_cluster *c = *state;
    redlock_queue_options qo;
    redlock_queue_options_init(&qo);
    qo.mode = REDLOCK_QUEUE_THREAD;
    redlock_queue *q = NULL;
    assert_int_equal(redlock_queue_create(c->m, &qo, &q), REDLOCK_OK);
    thread_seen t;
    memset(&t, 0, sizeof(t));
    pthread_mutex_init(&t.mu, NULL);
    pthread_cond_init(&t.cv, NULL);
    assert_int_equal(redlock_acquire_async(q, "th", 2, 10000, NULL,
                                           on_done_locked, &t, NULL),
                     REDLOCK_OK);
    assert_int_equal(redlock_queue_dispatch(q, 0), 0); /* its thread's */
    pthread_mutex_lock(&t.mu);
    while (t.s.calls == 0)
        pthread_cond_wait(&t.cv, &t.mu);
    pthread_mutex_unlock(&t.mu);
    assert_int_equal(t.s.st, REDLOCK_OK);
    assert_false(pthread_equal(t.s.thread, pthread_self()));
    /* The engine and the queue's thread started with every signal
     * blocked, as all of the library's threads (signals go to ours). */
    assert_int_equal(threads_with_signals_open(), 1); /* this one */
    assert_int_equal(redlock_release(t.s.lock), REDLOCK_OK);
    redlock_queue_destroy(q);
    assert_int_equal(t.s.calls, 1);
    pthread_cond_destroy(&t.cv);
    pthread_mutex_destroy(&t.mu);
}

#define WITH_CLUSTER(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        WITH_CLUSTER(test_acquire_extend_release),
        WITH_CLUSTER(test_taken_and_retries),
        WITH_CLUSTER(test_cancel),
        WITH_CLUSTER(test_completion_order),
        WITH_CLUSTER(test_bad_input),
        WITH_CLUSTER(test_destroy_pending),
        WITH_CLUSTER(test_queue_destroy_pending),
        WITH_CLUSTER(test_thread_mode),
        WITH_CLUSTER(test_busy_until_callback),
        WITH_CLUSTER(test_fence_async),
        WITH_CLUSTER(test_lease_acquire_async),
        WITH_CLUSTER(test_extend_release_failure_and_cancel),
        WITH_CLUSTER(test_destroy_waits_for_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
