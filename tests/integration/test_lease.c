/*
 * test_lease.c: leases against real redis-server processes: long holds
 * with short TTLs, a thousand leases on one thread, paused minorities,
 * losses (majority paused, key deleted) signalled in every form before the
 * validity ends, limits, stop and destroy hygiene, and scoped locking.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rl_test.h"

/* What an on_lost callback saw. */
typedef struct lost_record {
    pthread_mutex_t mu;
    int calls;
    redlock_status why;
    uint64_t at_us;            /* when the callback ran */
    uint64_t validity_end_us;  /* the lock's validity end at that moment */
} lost_record;

/* on_lost: record the call. */
static void record_lost(redlock_lease *lease, redlock_status why, void *ud)
{
    lost_record *r = ud;
    pthread_mutex_lock(&r->mu);
    r->calls++;
    r->why = why;
    r->at_us = rl_now_us();
    r->validity_end_us =
        redlock_lock_validity_end_us(redlock_lease_lock(lease));
    pthread_mutex_unlock(&r->mu);
}

/* Fresh record. */
static void record_init(lost_record *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
}

/* Check that the lock was released, not left to expire: every key is
 * gone (within 5 s, to allow for the last node's reply) and the servers
 * expired none since expired_before (rl_expired_keys() read before the
 * release). Waiting alone cannot tell: the TTLs here are shorter than the
 * wait. */
static void assert_released(rl_cluster *c, long long expired_before)
{
    assert_true(expired_before >= 0);
    assert_true(rl_await_keys(c, 0, 5000));
    assert_int_equal(rl_expired_keys(c), expired_before);
}

/* Options whose lease loses a paused node's vote quickly. */
static void fast_timeout(redlock_options *o)
{
    o->command_timeout_ms = 200;
    o->retry_delay_ms = 20;
    o->retry_jitter_ms = 10;
}

/* A lease keeps a lock whose TTL is a tenth of the hold alive: 1 s for
 * 10 s. (300 ms with 200 ms to renew in was once too tight under the
 * sanitizers on a loaded machine; what is tested is the same.) */
static void test_lease_keeps_short_lock(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    lost_record r;
    record_init(&r);
    redlock_lease_options lo;
    redlock_lease_options_init(&lo);
    lo.on_lost = record_lost;
    lo.userdata = &r;
    /* Renew with 700 ms of the TTL left (not the default third), so a
     * loaded CI machine running sanitizers and other tests in parallel
     * has 700 ms to get each extension through. */
    lo.renew_threshold_ms = 700;
    redlock_lease *lease = NULL;
    assert_int_equal(redlock_lease_acquire(c.m, "long-job", 1000, NULL, &lo,
                                           &lease),
                     REDLOCK_OK);
    /* Wait out 10 s on the loss signal itself: it must not fire. */
    redlock_status held = redlock_lease_wait(lease, 10000);
    if (held != REDLOCK_ETIMEDOUT)
        print_message("lost after %u renewals: %s\n",
                      redlock_lease_renewals(lease), redlock_strerror(held));
    assert_int_equal(held, REDLOCK_ETIMEDOUT);
    assert_int_equal(redlock_lease_lost(lease), 0);
    assert_int_equal(redlock_lease_status(lease), REDLOCK_OK);
    /* Not a rate: fewer than 9 extensions in 10 s and a 1 s TTL would
     * have expired on the servers. */
    assert_true(redlock_lease_renewals(lease) >= 9);
    assert_int_equal(r.calls, 0);
    /* Someone else cannot get it meanwhile. */
    redlock_lock *other = NULL;
    assert_int_equal(redlock_try_acquire(c.m, "long-job", 1000, &other),
                     REDLOCK_ETAKEN);
    long long expired = rl_expired_keys(&c);
    assert_int_equal(redlock_lease_stop(lease, NULL), REDLOCK_OK);
    assert_released(&c, expired);
    assert_int_equal(r.calls, 0);
    rl_cluster_stop(&c);
}

/* 1000 leases on one manager: none lost over 5 s. */
static void test_thousand_leases(void **state)
{
    (void)state;
    enum { N = 1000 };
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_lease **leases = calloc(N, sizeof(*leases));
    assert_non_null(leases);
    int threads = rl_count_threads();
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "lease-%d", i);
        assert_int_equal(redlock_lease_acquire(c.m, name, 1000, NULL, NULL,
                                               &leases[i]),
                         REDLOCK_OK);
    }
    /* One lease thread and one callback thread for all of them. */
    assert_true(rl_count_threads() <= threads + 2);
    uint64_t until = rl_now_us() + 5000000u;
    for (int i = 0; i < N; i++) {
        uint64_t now = rl_now_us();
        int64_t left = now < until ? (int64_t)(until - now) / 1000 : 0;
        assert_int_equal(redlock_lease_wait(leases[i], left),
                         REDLOCK_ETIMEDOUT);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(redlock_lease_lost(leases[i]), 0);
        assert_true(redlock_lease_renewals(leases[i]) >= 5);
    }
    long long expired = rl_expired_keys(&c);
    for (int i = 0; i < N; i++)
        assert_int_equal(redlock_lease_stop(leases[i], NULL), REDLOCK_OK);
    free(leases);
    assert_released(&c, expired);
    rl_cluster_stop(&c);
}

/* A minority of nodes SIGSTOPped for 2 s: no lease lost. */
static void test_minority_paused_no_loss(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 5, fast_timeout), 0);
    redlock_lease *lease[10];
    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof(name), "mp-%d", i);
        assert_int_equal(redlock_lease_acquire(c.m, name, 500, NULL, NULL,
                                               &lease[i]),
                         REDLOCK_OK);
    }
    assert_int_equal(rs_pause(&c.srv[0]), 0);
    assert_int_equal(rs_pause(&c.srv[1]), 0);
    assert_int_equal(redlock_lease_wait(lease[0], 2000), REDLOCK_ETIMEDOUT);
    assert_int_equal(rs_resume(&c.srv[0]), 0);
    assert_int_equal(rs_resume(&c.srv[1]), 0);
    assert_int_equal(redlock_lease_wait(lease[0], 500), REDLOCK_ETIMEDOUT);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(redlock_lease_status(lease[i]), REDLOCK_OK);
        assert_int_equal(redlock_lease_stop(lease[i], NULL), REDLOCK_OK);
    }
    rl_cluster_stop(&c);
}

/* A majority paused: the lease is lost, and the holder learns it in every
 * form no later than the end of the validity it was last granted. */
static void test_majority_paused_loss_signalled(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, fast_timeout), 0);
    lost_record r;
    record_init(&r);
    redlock_lease_options lo;
    redlock_lease_options_init(&lo);
    lo.on_lost = record_lost;
    lo.userdata = &r;
    redlock_lease *lease = NULL;
    assert_int_equal(redlock_lease_acquire(c.m, "doomed", 600, NULL, &lo,
                                           &lease),
                     REDLOCK_OK);
    assert_int_equal(rs_pause(&c.srv[0]), 0);
    assert_int_equal(rs_pause(&c.srv[1]), 0);
    /* The fd becomes readable. */
    struct pollfd p = {redlock_lease_fd(lease), POLLIN, 0};
    assert_int_equal(poll(&p, 1, 5000), 1);
    uint64_t seen = rl_now_us();
    uint64_t end = redlock_lock_validity_end_us(redlock_lease_lock(lease));
    assert_true(seen <= end + 1000); /* fd: by the validity end (1 ms slack
                                        for this thread's own wake-up) */
    assert_int_equal(redlock_lease_lost(lease), 1);
    redlock_status why = redlock_lease_wait(lease, 0);
    assert_true(why == REDLOCK_EEXPIRED || why == REDLOCK_ENOTHELD);
    /* The callback ran once, before the validity ended. */
    pthread_mutex_lock(&r.mu);
    int calls = r.calls;
    pthread_mutex_unlock(&r.mu);
    for (int i = 0; i < 2000 && calls == 0; i++) {
        usleep(1000);
        pthread_mutex_lock(&r.mu);
        calls = r.calls;
        pthread_mutex_unlock(&r.mu);
    }
    assert_int_equal(calls, 1);
    assert_true(r.at_us <= r.validity_end_us);
    assert_int_equal(r.why, why);
    rs_resume(&c.srv[0]);
    rs_resume(&c.srv[1]);
    assert_int_equal(redlock_lease_stop(lease, NULL), why);
    rl_cluster_stop(&c);
}

/* The key deleted (or replaced) behind the holder: the lease reports the
 * loss and does not re-acquire the lock. */
static void test_key_deleted_behind_holder(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_lease *lease = NULL;
    assert_int_equal(redlock_lease_acquire(c.m, "stolen", 600, NULL, NULL,
                                           &lease),
                     REDLOCK_OK);
    char out[32];
    const char *del[2] = {"DEL", "stolen"};
    for (size_t i = 0; i < 3; i++)
        rs_command(&c.srv[i], out, sizeof(out), 2, del);
    assert_int_equal(redlock_lease_wait(lease, 5000), REDLOCK_ENOTHELD);
    /* Never re-acquired: the key is not back on a quorum. (The DELs are
     * not atomic: a renewal between the first and the others may win on
     * the two untouched nodes and restore the first one; that copy is
     * ours and goes with the release.) */
    assert_true(rl_total_keys(&c) <= 1);
    long long expired = rl_expired_keys(&c);
    assert_int_equal(redlock_lease_stop(lease, NULL), REDLOCK_ENOTHELD);
    assert_released(&c, expired);
    rl_cluster_stop(&c);
}

/* Where one node's copy of a key is awaited. */
typedef struct key_on_node {
    rl_cluster *c;
    size_t node;
    const char *key;
    const char *value;  /* NULL: wait for the key to be gone */
} key_on_node;

/* rl_await condition: the node holds key = value (or no key). */
static bool key_is(void *arg)
{
    key_on_node *k = arg;
    char out[128];
    if (rl_get(k->c, k->node, k->key, out, sizeof(out)) != 0)
        return false;
    return k->value != NULL ? strcmp(out, k->value) == 0
                            : strcmp(out, "(nil)") == 0;
}

/* restore_on_extend off: the spec's plain extension. */
static void no_restore(redlock_options *o)
{
    fast_timeout(o);
    o->restore_on_extend = 0;
}

/* A node that lost the key (here: DEL, as after a restart without
 * persistence) gets it back from the next winning extension, so the lease
 * then survives a pause of another node: without the restore it would
 * rest on the one remaining node and be lost. */
static void test_lease_restores_lost_key(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, fast_timeout), 0);
    redlock_lease *lease = NULL;
    assert_int_equal(redlock_lease_acquire(c.m, "mended", 500, NULL, NULL,
                                           &lease),
                     REDLOCK_OK);
    const char *token = redlock_lock_token(redlock_lease_lock(lease));
    char out[32];
    const char *del[2] = {"DEL", "mended"};
    assert_int_equal(rs_command(&c.srv[0], out, sizeof(out), 2, del), 0);
    key_on_node k = {&c, 0, "mended", token};
    assert_true(rl_await(key_is, &k, 5000));
    /* The restored copy has a TTL, like the others. */
    const char *pttl[2] = {"PTTL", "mended"};
    assert_int_equal(rs_command(&c.srv[0], out, sizeof(out), 2, pttl), 0);
    assert_true(atoll(out) > 0 && atoll(out) <= 500);
    /* Node 1 stops answering for longer than the TTL: nodes 0 and 2 keep
     * the quorum. */
    assert_int_equal(rs_pause(&c.srv[1]), 0);
    redlock_status held = redlock_lease_wait(lease, 1500);
    assert_int_equal(rs_resume(&c.srv[1]), 0);
    assert_int_equal(held, REDLOCK_ETIMEDOUT);
    assert_int_equal(redlock_lease_status(lease), REDLOCK_OK);
    /* And node 1, whose copy expired meanwhile, is mended in turn. */
    k.node = 1;
    assert_true(rl_await(key_is, &k, 5000));
    /* (Node 1's expired copy was reclaimed before the restore.) */
    long long expired = rl_expired_keys(&c);
    assert_int_equal(redlock_lease_stop(lease, NULL), REDLOCK_OK);
    assert_released(&c, expired);
    rl_cluster_stop(&c);
}

/* rl_await condition: the lease has renewed at least `want` times. */
typedef struct renewals_at_least {
    redlock_lease *lease;
    unsigned want;
} renewals_at_least;

/* rl_await condition for renewals_at_least. */
static bool renewed(void *arg)
{
    renewals_at_least *r = arg;
    return redlock_lease_renewals(r->lease) >= r->want;
}

/* A copy held under another token is never overwritten by a restore: the
 * lease renews on the other two nodes and leaves it alone. */
static void test_lease_restore_spares_foreign(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, fast_timeout), 0);
    redlock_lease *lease = NULL;
    assert_int_equal(redlock_lease_acquire(c.m, "shared", 300, NULL, NULL,
                                           &lease),
                     REDLOCK_OK);
    assert_true(rl_await_keys(&c, 3, 5000)); /* node 0's SET landed */
    assert_int_equal(rl_set(&c, 0, "shared", "foreign", 0), 0);
    renewals_at_least r = {lease, redlock_lease_renewals(lease) + 4};
    assert_true(rl_await(renewed, &r, 5000));
    assert_int_equal(redlock_lease_status(lease), REDLOCK_OK);
    char out[32];
    assert_int_equal(rl_get(&c, 0, "shared", out, sizeof(out)), 0);
    assert_string_equal(out, "foreign");
    assert_int_equal(redlock_lease_stop(lease, NULL), REDLOCK_OK);
    assert_int_equal(rl_get(&c, 0, "shared", out, sizeof(out)), 0);
    assert_string_equal(out, "foreign");
    rl_cluster_stop(&c);
}

/* With restore_on_extend = 0 (the spec's plain extension) a lost copy
 * stays lost while the lease goes on renewing on the other two nodes. */
static void test_lease_no_restore_option(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, no_restore), 0);
    redlock_lease *lease = NULL;
    assert_int_equal(redlock_lease_acquire(c.m, "worn", 300, NULL, NULL,
                                           &lease),
                     REDLOCK_OK);
    /* The acquire returned at a quorum: wait until the third node has its
     * copy too, or our DEL could come before its SET. */
    assert_true(rl_await_keys(&c, 3, 5000));
    char out[32];
    const char *del[2] = {"DEL", "worn"};
    assert_int_equal(rs_command(&c.srv[0], out, sizeof(out), 2, del), 0);
    renewals_at_least r = {lease, redlock_lease_renewals(lease) + 4};
    assert_true(rl_await(renewed, &r, 5000));
    assert_int_equal(redlock_lease_status(lease), REDLOCK_OK);
    key_on_node k = {&c, 0, "worn", NULL};
    assert_true(key_is(&k));
    long long expired = rl_expired_keys(&c);
    assert_int_equal(redlock_lease_stop(lease, NULL), REDLOCK_OK);
    assert_released(&c, expired);
    rl_cluster_stop(&c);
}

/* max_renewals and max_hold_ms end a lease with ERANGE. */
static void test_lease_limits(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 1, NULL), 0);
    redlock_lease_options lo;
    redlock_lease_options_init(&lo);
    lo.max_renewals = 2;
    redlock_lease *lease = NULL;
    assert_int_equal(redlock_lease_acquire(c.m, "lim", 300, NULL, &lo,
                                           &lease),
                     REDLOCK_OK);
    assert_int_equal(redlock_lease_wait(lease, 5000), REDLOCK_ERANGE);
    assert_int_equal(redlock_lease_renewals(lease), 2);
    redlock_lease_stop(lease, NULL);
    redlock_lease_options_init(&lo);
    lo.max_hold_ms = 400;
    uint64_t t0 = rl_now_us();
    assert_int_equal(redlock_lease_acquire(c.m, "lim2", 300, NULL, &lo,
                                           &lease),
                     REDLOCK_OK);
    assert_int_equal(redlock_lease_wait(lease, 5000), REDLOCK_ERANGE);
    assert_true(rl_now_us() - t0 >= 400000);
    redlock_lease_stop(lease, NULL);
    rl_cluster_stop(&c);
}

/* on_lost that counts calls, for the stop test. */
static void count_lost(redlock_lease *lease, redlock_status why, void *ud)
{
    (void)lease;
    (void)why;
    lost_record *r = ud;
    pthread_mutex_lock(&r->mu);
    r->calls++;
    pthread_mutex_unlock(&r->mu);
}

/* Stopping hands the lock back (still held), leaks no fd, and no callback
 * runs after stop returns; destroy with leases running loses them with
 * ECLOSED and leaves no thread. */
static void test_stop_and_destroy_clean(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    /* Let every node's connection come up before counting fds. */
    redlock_lock *warm = NULL;
    assert_int_equal(redlock_acquire(c.m, "warm", 2000, &warm), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 3, 5000));
    assert_int_equal(redlock_release(warm), REDLOCK_OK);
    int fds = rl_count_fds();
    lost_record r;
    record_init(&r);
    redlock_lease_options lo;
    redlock_lease_options_init(&lo);
    lo.on_lost = count_lost;
    lo.userdata = &r;
    redlock_lease *lease = NULL;
    assert_int_equal(redlock_lease_acquire(c.m, "back", 2000, NULL, &lo,
                                           &lease),
                     REDLOCK_OK);
    redlock_lock *lock = NULL;
    assert_int_equal(redlock_lease_stop(lease, &lock), REDLOCK_OK);
    assert_non_null(lock);
    assert_true(redlock_lock_validity_ms(lock) > 0);
    assert_int_equal(redlock_extend(lock, 2000), REDLOCK_OK);
    assert_int_equal(redlock_release(lock), REDLOCK_OK);
    assert_int_equal(rl_count_fds(), fds);
    assert_int_equal(r.calls, 0);

    int threads = rl_count_threads();
    redlock_manager *m2 = rl_manager_new(&c, NULL);
    redlock_lease *l2 = NULL;
    assert_int_equal(redlock_lease_acquire(m2, "closing", 2000, NULL, &lo,
                                           &l2),
                     REDLOCK_OK);
    redlock_manager_destroy(m2);
    assert_int_equal(redlock_lease_status(l2), REDLOCK_ECLOSED);
    assert_int_equal(r.calls, 1);
    assert_int_equal(redlock_lease_stop(l2, NULL), REDLOCK_ECLOSED);
    assert_int_equal(rl_await_threads(threads, 5000), threads);
    rl_cluster_stop(&c);
}

/* Work for the scoped-lock test: check the lease, then optionally wait for
 * it to be lost. */
static int scoped_work(redlock_lease *lease, void *ud)
{
    int *mode = ud;
    if (redlock_lease_lost(lease))
        return -1;
    if (*mode == 1)
        redlock_lease_wait(lease, 5000);
    return 42;
}

/* Argument for delete_soon. */
typedef struct deleter {
    rl_cluster *c;
} deleter;

/* Delete the scoped key on every node once it exists. */
static void *delete_soon(void *arg)
{
    deleter *d = arg;
    char out[32];
    const char *ex[2] = {"EXISTS", "scoped2"};
    for (int i = 0; i < 5000; i++) {
        rs_command(&d->c->srv[0], out, sizeof(out), 2, ex);
        if (strcmp(out, "1") == 0)
            break;
        usleep(1000);
    }
    const char *del[2] = {"DEL", "scoped2"};
    for (size_t i = 0; i < d->c->n; i++)
        rs_command(&d->c->srv[i], out, sizeof(out), 2, del);
    return NULL;
}

/* redlock_with_lock() runs fn under a lease and releases; it reports a
 * loss during fn as ELOST. */
static void test_with_lock(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    int mode = 0, result = 0;
    long long expired = rl_expired_keys(&c);
    assert_int_equal(redlock_with_lock(c.m, "scoped", 1000, NULL, NULL,
                                       scoped_work, &mode, &result),
                     REDLOCK_OK);
    assert_int_equal(result, 42);
    assert_released(&c, expired);

    pthread_t t;
    deleter d = {&c};
    pthread_create(&t, NULL, delete_soon, &d);
    mode = 1;
    assert_int_equal(redlock_with_lock(c.m, "scoped2", 600, NULL, NULL,
                                       scoped_work, &mode, &result),
                     REDLOCK_ELOST);
    pthread_join(t, NULL);
    assert_int_equal(result, 42);
    rl_cluster_stop(&c);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lease_keeps_short_lock),
        cmocka_unit_test(test_thousand_leases),
        cmocka_unit_test(test_minority_paused_no_loss),
        cmocka_unit_test(test_majority_paused_loss_signalled),
        cmocka_unit_test(test_key_deleted_behind_holder),
        cmocka_unit_test(test_lease_restores_lost_key),
        cmocka_unit_test(test_lease_restore_spares_foreign),
        cmocka_unit_test(test_lease_no_restore_option),
        cmocka_unit_test(test_lease_limits),
        cmocka_unit_test(test_stop_and_destroy_clean),
        cmocka_unit_test(test_with_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
