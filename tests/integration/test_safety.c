/*
 * test_safety.c: regression tests for the safety and liveness promises of
 * include/redlock.h and docs/safety.md that were once broken, each against
 * real redis-server processes:
 *   - the extend rule (safety.md §10): a failed, shorter extend never
 *     leaves the holder counting on more than the keys' TTL, so nobody
 *     else can win while the holder's validity reads > 0; nor does one
 *     still waiting for its answers;
 *   - a fencing number drawn after the lock expired is refused;
 *   - the same server given twice is refused at create;
 *   - redlock_manager_destroy() cuts short the sleep between retries;
 *   - a slot that waited in a node's queue past its deadline is not sent.
 * Lease-thread promises (callbacks, wake-ups, elections) are in
 * test_lease_signals.c.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "rl_test.h"

/* Start a cluster of n nodes with the test options. */
static int setup_n(void **state, size_t n)
{
    rl_cluster *c = test_malloc(sizeof(*c));
    if (rl_cluster_start(c, n, NULL) != 0) {
        test_free(c);
        return -1;
    }
    *state = c;
    return 0;
}

/* Three nodes. */
static int setup3(void **state) { return setup_n(state, 3); }

/* Stop everything the test started. */
static int teardown(void **state)
{
    rl_cluster *c = *state;
    rl_cluster_stop(c);
    test_free(c);
    return 0;
}

/* PTTL of key on node i in ms (-2: no key, -1: no TTL, -3: error). */
/* CLIENT PAUSE ms on node i (every client's commands wait). */
static void client_pause(rl_cluster *c, size_t i, int ms)
{
    char out[64], arg[16];
    snprintf(arg, sizeof(arg), "%d", ms);
    const char *argv[3] = {"CLIENT", "PAUSE", arg};
    assert_int_equal(rs_command(&c->srv[i], out, sizeof(out), 3, argv), 0);
    assert_string_equal(out, "OK");
}

/* For rl_await: every node of the cluster has applied a TTL of at most
 * 200 ms to "res" (or the key is gone). */
static bool short_ttl_everywhere(void *arg)
{
    rl_cluster *c = arg;
    for (size_t i = 0; i < c->n; i++) {
        long long t = rl_pttl(c, i, "res");
        if (t == -3 || t == -1 || t > 200)
            return false;
    }
    return true;
}

/*
 * The reproduced double holder: A holds "res" for 10 s; every node is
 * delayed (CLIENT PAUSE, shorter than the command timeout) while A
 * extends to 100 ms, so the extend gives up without a quorum; the paused
 * PEXPIREs then run and the keys expire. From then on B can win, so A's
 * validity must have ended by the time B starts an attempt that wins, and
 * must never read more than the keys' TTL allows.
 */
static void test_failed_short_extend(void **state)
{
    rl_cluster *c = *state;
    redlock_manager *mb = rl_manager_new(c, NULL);
    assert_non_null(mb);
    redlock_lock *la = NULL;
    assert_int_equal(redlock_acquire(c->m, "res", 10000, &la), REDLOCK_OK);
    assert_true(redlock_lock_validity_ms(la) > 9000);

    for (size_t i = 0; i < c->n; i++)
        client_pause(c, i, 300);
    redlock_status st = redlock_extend(la, 100);
    assert_int_not_equal(st, REDLOCK_OK);
    /* The PEXPIRE 100 may run on any node: 100 ms is all A may count on
     * from the start of the extend. */
    int64_t left = redlock_lock_validity_ms(la);
    print_message("extend: %s, validity now %lld ms\n",
                  redlock_status_name(st), (long long)left);
    assert_true(left <= 100);

    /* The pause ends, the PEXPIREs run. */
    assert_true(rl_await(short_ttl_everywhere, c, 5000));

    /* B wins only once A's validity is over. */
    bool b_won = false;
    for (int i = 0; i < 400 && !b_won; i++) {
        uint64_t b_start = redlock_clock_us();
        redlock_lock *lb = NULL;
        st = redlock_try_acquire(mb, "res", 10000, &lb);
        if (st == REDLOCK_OK) {
            b_won = true;
            assert_true(redlock_lock_validity_end_us(la) <= b_start);
            assert_true(redlock_lock_validity_ms(la) <= 0);
            redlock_release(lb);
        } else {
            assert_int_equal(st, REDLOCK_ETAKEN);
            redlock__sleep_us(5000);
        }
    }
    assert_true(b_won); /* the keys expired by their 100 ms TTL */
    redlock_lock_free(la);
    redlock_manager_destroy(mb);
}

/* An extend running on its own thread. */
typedef struct inflight_extend {
    redlock_lock *lock;
    uint32_t ttl_ms;
    redlock_status st;
    atomic_bool done;
} inflight_extend;

/* Thread: redlock_extend(lock, ttl_ms). */
static void *extend_thread(void *arg)
{
    inflight_extend *e = arg;
    e->st = redlock_extend(e->lock, e->ttl_ms);
    atomic_store(&e->done, true);
    return NULL;
}

/* For rl_await: node 0 has applied the shorter TTL (at most 5 s). */
static bool short_ttl_on_node0(void *arg)
{
    long long t = rl_pttl(arg, 0, "res");
    return t >= 0 && t <= 5000;
}

/*
 * Found by the model (docs/model.md §6): while a shorter extend is still
 * waiting for answers, its PEXPIRE may already have landed on some nodes,
 * so the validity the holder reads must already be no longer than the new
 * TTL allows, not the old, longer end. Nodes 1 and 2 are paused, so the
 * extend waits out its command timeout; once node 0 shows the short TTL,
 * validity must read at most 5 s while the call is still in flight.
 */
static void test_inflight_short_extend(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "res", 20000, &l), REDLOCK_OK);
    assert_true(redlock_lock_validity_ms(l) > 15000);
    client_pause(c, 1, 4000);
    client_pause(c, 2, 4000);
    inflight_extend e = {.lock = l, .ttl_ms = 5000};
    atomic_init(&e.done, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, extend_thread, &e), 0);
    assert_true(rl_await(short_ttl_on_node0, c, 3000));
    int64_t left = redlock_lock_validity_ms(l);
    bool in_flight = !atomic_load(&e.done);
    print_message("validity during the extend: %lld ms (in flight: %d)\n",
                  (long long)left, in_flight);
    assert_int_equal(pthread_join(t, NULL), 0); /* before any failure */
    assert_true(in_flight); /* the 2 s command timeout has not run out */
    assert_true(left <= 5000);
    assert_int_not_equal(e.st, REDLOCK_OK);
    assert_true(redlock_lock_validity_ms(l) <= 5000);
    redlock_lock_free(l);
}

/* For rl_await: every node has "res" with more than 10 s to live. */
static bool long_ttl_everywhere(void *arg)
{
    rl_cluster *c = arg;
    for (size_t i = 0; i < c->n; i++)
        if (rl_pttl(c, i, "res") <= 10000)
            return false;
    return true;
}

/*
 * After a shortening, a command of the short extension may still be
 * applied by a node after a later, longer one (left on a closed
 * connection): later validities are computed from the shortest TTL sent.
 * A successful shortening is the holder's choice and is allowed.
 */
static void test_shortening_then_lengthening(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "res", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_extend(l, 1000), REDLOCK_OK);
    int64_t v = redlock_lock_validity_ms(l);
    assert_true(v > 0 && v <= 1000);
    assert_int_equal(redlock_extend(l, 20000), REDLOCK_OK);
    v = redlock_lock_validity_ms(l);
    assert_true(v > 0 && v <= 1000);
    /* The keys themselves carry the longer TTL (once the slowest node
     * has applied it: the call returned at a quorum). */
    assert_true(rl_await(long_ttl_everywhere, c, 5000));
    assert_int_equal(redlock_release(l), REDLOCK_OK);
}

/*
 * A fencing number drawn while the draw outlives the lock's validity is
 * refused: the holder must not carry a number above the next holder's.
 */
static void test_fence_after_expiry(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "res", 200, &l), REDLOCK_OK);
    assert_true(redlock_lock_validity_ms(l) > 0);
    for (size_t i = 0; i < c->n; i++)
        client_pause(c, i, 500);
    uint64_t fence = 0;
    redlock_status st = redlock_fence_next(l, &fence);
    print_message("fence_next: %s, fence %llu, validity %lld ms\n",
                  redlock_status_name(st), (unsigned long long)fence,
                  (long long)redlock_lock_validity_ms(l));
    assert_int_equal(st, REDLOCK_EEXPIRED);
    assert_true(redlock_lock_validity_ms(l) <= 0);
    redlock_lock_free(l);
}

/* The same server twice, by the same URI after normalisation or by the
 * same unix path, is refused with EINVAL naming both entries; nothing is
 * started. */
static void test_duplicate_nodes(void **state)
{
    rl_cluster *c = *state;
    /* The cluster's own manager connects in the background: wait until
     * every node answered it before counting fds. */
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "res", 10000, &l), REDLOCK_OK);
    assert_true(rl_await_keys(c, 3, 5000));
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    int threads = rl_count_threads(), fds = rl_count_fds();
    char a[64], b[64], d[64];
    snprintf(a, sizeof(a), "redis://127.0.0.1:%d", c->srv[0].port);
    snprintf(b, sizeof(b), "redis://127.0.0.1:%d", c->srv[1].port);
    snprintf(d, sizeof(d), "redis://127.0.0.1:%d/0", c->srv[1].port);
    const char *cases[][5] = {
        {a, b, c->uris[2], a, a}, /* 5 URIs, one repeated */
        {a, b, d, NULL, NULL},    /* same server, other spelling */
    };
    const size_t counts[] = {5, 3};
    for (size_t k = 0; k < 2; k++) {
        redlock_options o;
        rl_test_options(&o, NULL);
        redlock_manager *m = NULL;
        char err[256] = "";
        redlock_status st = redlock_manager_create_ex(
            cases[k], counts[k], &o, &m, err, sizeof(err));
        print_message("create: %s: %s\n", redlock_status_name(st), err);
        assert_int_equal(st, REDLOCK_EINVAL);
        assert_null(m);
        assert_non_null(strstr(err, "same server"));
        assert_non_null(strstr(err, k == 0 ? "node 1" : "node 2"));
        assert_non_null(strstr(err, k == 0 ? "node 4" : "node 3"));
    }
    /* Two spellings of one unix path. */
    const char *unix_uris[2] = {"unix:///tmp/redlock-x.sock",
                                "unix:///tmp/redlock-x.sock?db=1"};
    redlock_manager *m = NULL;
    assert_int_equal(redlock_manager_create(unix_uris, 2, NULL, &m),
                     REDLOCK_EINVAL);
    assert_null(m);
    /* Nothing left behind. */
    assert_int_equal(rl_await_threads(threads, 5000), threads);
    assert_int_equal(rl_count_fds(), fds);
}

/* A blocked acquire and what it returned. */
typedef struct blocked_acquire {
    redlock_manager *m;
    redlock_status st;
    uint64_t returned_us;
} blocked_acquire;

/* Thread: acquire "res" with the manager's (long) retry delay. */
static void *acquire_thread(void *arg)
{
    blocked_acquire *b = arg;
    redlock_lock *l = NULL;
    b->st = redlock_acquire(b->m, "res", 10000, &l);
    b->returned_us = redlock_clock_us();
    if (l != NULL)
        redlock_lock_free(l);
    return NULL;
}

/* For rl_await: node 0 has refused at least one SET NX (the waiter's first
 * attempt was made and failed). */
static bool first_attempt_failed(void *arg)
{
    rl_cluster *c = arg;
    char out[4096];
    const char *argv[2] = {"INFO", "commandstats"};
    if (rs_command(&c->srv[0], out, sizeof(out), 2, argv) != 0)
        return false;
    const char *p = strstr(out, "cmdstat_set:calls=");
    return p != NULL && strtol(p + 18, NULL, 10) >= 2;
}

/* Options with a 30 s retry delay. */
static void long_retry(redlock_options *o)
{
    o->retry_delay_ms = 30000;
    o->retry_jitter_ms = 0;
    o->retry_count = 5;
}

/* redlock_manager_destroy() interrupts a caller sleeping between acquire
 * retries: it returns ECLOSED promptly, not after its 30 s delay. */
static void test_destroy_interrupts_retry_sleep(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 1, long_retry), 0);
    redlock_manager *holder = rl_manager_new(&c, NULL);
    redlock_lock *held = NULL;
    assert_int_equal(redlock_acquire(holder, "res", 60000, &held),
                     REDLOCK_OK);
    blocked_acquire b = {c.m, REDLOCK_OK, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, acquire_thread, &b), 0);
    assert_true(rl_await(first_attempt_failed, &c, 10000));
    uint64_t destroyed = redlock_clock_us();
    redlock_manager_destroy(c.m);
    c.m = NULL;
    pthread_join(t, NULL);
    print_message("acquire returned %s %llu ms after destroy\n",
                  redlock_status_name(b.st),
                  (unsigned long long)(b.returned_us - destroyed) / 1000u);
    assert_int_equal(b.st, REDLOCK_ECLOSED);
    assert_true(b.returned_us - destroyed < 5000000u);
    redlock_release(held);
    redlock_manager_destroy(holder);
    rl_cluster_stop(&c);
}

/* ------------------------------------------------------------------------
 * A slot that waited in the queue past its deadline is not sent
 * ------------------------------------------------------------------------ */

/* Holds node 0's worker inside its "down" event while armed. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool armed;     /* block the next "down" event of node 0 */
    bool blocked;   /* the worker is inside the callback */
    bool open;      /* let it go */
    char node0[64];
} gate;

static gate the_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                        false, false, false, ""};

/* Node event callback: runs on the node's worker thread. */
static void gate_event(const char *node, redlock_status st,
                       const char *message, void *userdata)
{
    (void)message;
    gate *g = userdata;
    pthread_mutex_lock(&g->mu);
    if (st != REDLOCK_OK && g->armed && strcmp(node, g->node0) == 0) {
        g->armed = false;
        g->blocked = true;
        pthread_cond_broadcast(&g->cv);
        while (!g->open)
            pthread_cond_wait(&g->cv, &g->mu);
        g->blocked = false;
    }
    pthread_mutex_unlock(&g->mu);
}

/* cmdstat calls of name ("evalsha") on node i; 0 if never called. */
static long calls_of(rl_cluster *c, size_t i, const char *name)
{
    char out[8192], want[64];
    const char *argv[2] = {"INFO", "commandstats"};
    if (rs_command(&c->srv[i], out, sizeof(out), 2, argv) != 0)
        return -1;
    snprintf(want, sizeof(want), "cmdstat_%s:calls=", name);
    const char *p = strstr(out, want);
    return p != NULL ? strtol(p + strlen(want), NULL, 10) : 0;
}

/* For rl_await: "res" is gone from node 0. */
static bool gone_on_node0(void *arg)
{
    rl_cluster *c = arg;
    return rl_pttl(c, 0, "res") == -2;
}

/*
 * Node 0's worker is held inside its "down" callback (user code) while an
 * extension is posted; the other nodes decide it, and its deadline
 * passes. Node 0 is not ready, so the caller cannot write to it itself
 * (the fast path needs a ready, idle node): its slot waits in the queue.
 * When the worker comes back, that slot is past its deadline: it must be
 * failed, not written (as a restore must never be written late). (Held in
 * "connected" instead, the node is ready and idle, and the caller writes
 * the extension itself, in time.)
 */
static void test_queued_slot_past_deadline(void **state)
{
    (void)state;
    rl_cluster c;
    memset(&c, 0, sizeof(c));
    c.n = 3;
    assert_int_equal(rs_start_many(c.srv, 3), 0);
    rs_uris(c.srv, 3, c.uris);
    snprintf(the_gate.node0, sizeof(the_gate.node0), "127.0.0.1:%d",
             c.srv[0].port);
    redlock_options o;
    rl_test_options(&o, NULL);
    o.node_error_fn = gate_event;
    o.node_error_userdata = &the_gate;
    assert_int_equal(redlock_manager_create(c.uris, 3, &o, &c.m),
                     REDLOCK_OK);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "res", 30000, &l), REDLOCK_OK);
    /* Node 0's worker is connected (its SET landed) before we drop the
     * connection: a first connect reports no "connected" event. */
    assert_true(rl_await_keys(&c, 3, 10000));

    /* Drop node 0's connection; hold its worker in the down event. */
    pthread_mutex_lock(&the_gate.mu);
    the_gate.armed = true;
    pthread_mutex_unlock(&the_gate.mu);
    const char *kill[4] = {"CLIENT", "KILL", "TYPE", "normal"};
    char out[64];
    rs_command(&c.srv[0], out, sizeof(out), 4, kill);
    uint64_t give_up = redlock_clock_us() + 10000000u;
    pthread_mutex_lock(&the_gate.mu);
    while (!the_gate.blocked && redlock_clock_us() < give_up) {
        pthread_mutex_unlock(&the_gate.mu);
        redlock__sleep_us(1000);
        pthread_mutex_lock(&the_gate.mu);
    }
    bool blocked = the_gate.blocked;
    pthread_mutex_unlock(&the_gate.mu);
    assert_true(blocked); /* the drop was reported within 10 s */
    long before = calls_of(&c, 0, "evalsha") + calls_of(&c, 0, "eval");

    /* Nodes 1 and 2 decide it; its deadline (about 97 ms) passes. */
    assert_int_equal(redlock_extend(l, 100), REDLOCK_OK);
    uint64_t past = redlock_clock_us() + 300000u;
    while (redlock_clock_us() < past)
        redlock__sleep_us(past - redlock_clock_us());

    pthread_mutex_lock(&the_gate.mu);
    the_gate.open = true;
    pthread_cond_broadcast(&the_gate.cv);
    pthread_mutex_unlock(&the_gate.mu);
    /* The release follows on node 0 in order: once it ran, the late
     * extension was either written before it or never. (The keys on
     * nodes 1 and 2 expired by their 100 ms TTL: not held there.) */
    assert_int_equal(redlock_release(l), REDLOCK_ENOTHELD);
    assert_true(rl_await(gone_on_node0, &c, 5000));
    long after = calls_of(&c, 0, "evalsha") + calls_of(&c, 0, "eval");
    print_message("scripts run on node 0 after the gate: %ld\n",
                  after - before);
    assert_int_equal(after - before, 1); /* the release only */
    redlock_manager_destroy(c.m);
    rs_stop_many(c.srv, 3);
}

/* Run the tests. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failed_short_extend, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_inflight_short_extend, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shortening_then_lengthening,
                                        setup3, teardown),
        cmocka_unit_test_setup_teardown(test_fence_after_expiry, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_nodes, setup3,
                                        teardown),
        cmocka_unit_test(test_destroy_interrupts_retry_sleep),
        cmocka_unit_test(test_queued_slot_past_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
