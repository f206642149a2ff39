/*
 * test_threads.c: 16 application threads hammering one manager, each on
 * its own resources and all on one contended resource, with a check that
 * no two threads are ever inside the contended critical section at once.
 * Runs under TSan in CI.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "rl_test.h"

enum { THREADS = 16, OWN_CYCLES = 100, SHARED_WINS = 5 };

/* State shared by the hammering threads. */
typedef struct hammer {
    redlock_manager *m;
    atomic_int inside;      /* threads inside the contended section */
    atomic_int violations;  /* times a thread found another inside */
    atomic_int own_ok, own_failed, shared_ok;
    int id;
} hammer;

/* Per-thread argument. */
typedef struct hammer_arg {
    hammer *h;
    int id;
} hammer_arg;

/* One thread: cycles on its own key, then wins the shared key a few
 * times. */
static void *hammer_main(void *arg)
{
    hammer_arg *a = arg;
    hammer *h = a->h;
    char key[32];
    snprintf(key, sizeof(key), "own-%d", a->id);
    for (int i = 0; i < OWN_CYCLES; i++) {
        redlock_lock *l = NULL;
        if (redlock_try_acquire(h->m, key, 10000, &l) == REDLOCK_OK &&
            redlock_release(l) == REDLOCK_OK)
            atomic_fetch_add(&h->own_ok, 1);
        else
            atomic_fetch_add(&h->own_failed, 1);
    }
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    o.retry_count = 100000;
    o.retry_delay_ms = 1;
    o.retry_jitter_ms = 5;
    for (int i = 0; i < SHARED_WINS; i++) {
        redlock_lock *l = NULL;
        if (redlock_acquire_ex(h->m, "contended", 9, 10000, &o, &l) !=
            REDLOCK_OK)
            continue;
        if (atomic_fetch_add(&h->inside, 1) != 0)
            atomic_fetch_add(&h->violations, 1);
        atomic_fetch_sub(&h->inside, 1);
        if (redlock_release(l) == REDLOCK_OK)
            atomic_fetch_add(&h->shared_ok, 1);
    }
    return NULL;
}

/* 16 threads, 3 nodes: every cycle succeeds, every contended win is
 * exclusive, and nothing is left on the nodes. */
static void test_sixteen_threads(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    hammer h;
    h.m = c.m;
    atomic_init(&h.inside, 0);
    atomic_init(&h.violations, 0);
    atomic_init(&h.own_ok, 0);
    atomic_init(&h.own_failed, 0);
    atomic_init(&h.shared_ok, 0);
    pthread_t t[THREADS];
    hammer_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i].h = &h;
        args[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &args[i]),
                         0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&h.own_failed), 0);
    assert_int_equal(atomic_load(&h.own_ok), THREADS * OWN_CYCLES);
    assert_int_equal(atomic_load(&h.shared_ok), THREADS * SHARED_WINS);
    assert_int_equal(atomic_load(&h.violations), 0);
    assert_true(rl_await_keys(&c, 0, 5000));
    rl_cluster_stop(&c);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sixteen_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
