/*
 * test_locking.c: the Redlock operations against real redis-server
 * processes (1, 3 and 5 nodes): acquire, extend, release, contention
 * between managers, partial holds by others, wrong tokens, expiry,
 * multi-resource locks, binary resource names and the acquire statistics.
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

#include "lock.h"
#include "rl_test.h"

/* Start a cluster of (size_t)*state nodes. */
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

/* Setups for 1, 3 and 5 nodes. */
static int setup1(void **state) { return setup_n(state, 1); }
static int setup3(void **state) { return setup_n(state, 3); }
static int setup5(void **state) { return setup_n(state, 5); }

/* Stop everything the test started. */
static int teardown(void **state)
{
    rl_cluster *c = *state;
    rl_cluster_stop(c);
    test_free(c);
    return 0;
}

/* Wait until the nodes hold `want` keys: a call returns once a quorum
 * answered, so the slowest node may still be applying it. */
static void await_keys(rl_cluster *c, long long want)
{
    if (!rl_await_keys(c, want, 5000))
        print_message("keys: want %lld, have %lld\n", want,
                      rl_total_keys(c));
    assert_true(rl_await_keys(c, want, 0));
}

/* Acquire sets our token on every node, extend pushes the validity out,
 * release removes every key. */
static void test_acquire_extend_release(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "res", 10000, &l), REDLOCK_OK);
    assert_non_null(l);
    const char *tok = redlock_lock_token(l);
    assert_int_equal(strlen(tok), REDLOCK_TOKEN_LEN);
    size_t len = 0;
    assert_string_equal(redlock_lock_resource(l, &len), "res");
    assert_int_equal(len, 3);
    int64_t v = redlock_lock_validity_ms(l);
    assert_true(v > 0 && v <= 10000 - 102);
    assert_true(redlock_lock_nodes_granted(l) >= redlock_manager_quorum(c->m));
    assert_true(redlock_lock_nodes_granted(l) <= c->n);
    await_keys(c, (long long)c->n);
    for (size_t i = 0; i < c->n; i++) {
        char got[64];
        assert_int_equal(rl_get(c, i, "res", got, sizeof(got)), 0);
        assert_string_equal(got, tok);
    }
    assert_int_equal(redlock_extend(l, 30000), REDLOCK_OK);
    int64_t v2 = redlock_lock_validity_ms(l);
    assert_true(v2 > 10000 && v2 <= 30000 - 302);
    /* A quorum applied the new TTL before extend returned. */
    size_t extended = 0;
    for (size_t i = 0; i < c->n; i++) {
        char out[64];
        const char *pttl[2] = {"PTTL", "res"};
        assert_int_equal(rs_command(&c->srv[i], out, sizeof(out), 2, pttl),
                         0);
        extended += atoi(out) > 10000;
    }
    assert_true(extended >= redlock_manager_quorum(c->m));
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    await_keys(c, 0);
}

/* A second manager is refused while the first holds the lock, and gets it
 * once released. */
static void test_two_managers_contend(void **state)
{
    rl_cluster *c = *state;
    redlock_manager *m2 = rl_manager_new(c, NULL);
    assert_non_null(m2);
    redlock_lock *a = NULL, *b = NULL;
    assert_int_equal(redlock_acquire(c->m, "shared", 10000, &a), REDLOCK_OK);
    redlock_acquire_info info;
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    o.retry_count = 2;
    o.info = &info;
    assert_int_equal(redlock_acquire_ex(m2, "shared", 6, 10000, &o, &b),
                     REDLOCK_ETAKEN);
    assert_null(b);
    /* retry_count + 1 timed attempts, and at most one more made at once
     * when the wake subscription is confirmed (no release meanwhile). */
    assert_true(info.attempts >= 3 && info.attempts <= 4);
    assert_int_equal(info.last_status, REDLOCK_ETAKEN);
    /* The holder's SET may still be on its way to the slowest node, so
     * that node may have said yes to us; never a quorum. */
    assert_true(info.last.yes < redlock_manager_quorum(m2));
    assert_true(info.last.no >= 1);
    assert_int_equal(redlock_release(a), REDLOCK_OK);
    assert_int_equal(redlock_try_acquire(m2, "shared", 10000, &b),
                     REDLOCK_OK);
    assert_int_equal(redlock_release(b), REDLOCK_OK);
    redlock_manager_destroy(m2);
    await_keys(c, 0);
}

/* 5 nodes: held by another owner on a minority (2), we still win on the
 * other 3; on a majority (3), we are refused with ETAKEN and leave no key
 * of ours behind. */
static void test_minority_and_majority_held(void **state)
{
    rl_cluster *c = *state;
    rl_set(c, 0, "part", "someone-else", 20000);
    rl_set(c, 1, "part", "someone-else", 20000);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_try_acquire(c->m, "part", 10000, &l),
                     REDLOCK_OK);
    assert_int_equal(redlock_lock_nodes_granted(l), 3);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    /* The others' keys survived our release. */
    char got[64];
    rl_get(c, 0, "part", got, sizeof(got));
    assert_string_equal(got, "someone-else");

    rl_set(c, 2, "part", "someone-else", 20000);
    redlock_acquire_info info;
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    o.retry_count = 0;
    o.info = &info;
    assert_int_equal(redlock_acquire_ex(c->m, "part", 4, 10000, &o, &l),
                     REDLOCK_ETAKEN);
    assert_int_equal(info.attempts, 1);
    assert_true(info.last.no >= 3);
    /* Our partial keys on nodes 3 and 4 are undone: confirmed before
     * return where a node said yes, queued behind the SET elsewhere. */
    await_keys(c, 3);
    rl_get(c, 3, "part", got, sizeof(got));
    assert_string_equal(got, "(nil)");
    rl_get(c, 4, "part", got, sizeof(got));
    assert_string_equal(got, "(nil)");
}

/* A lock whose keys were replaced by someone else's token cannot be
 * extended or released by us, and their keys survive; a lock handle with a
 * forged token cannot touch the real holder's keys. */
static void test_wrong_token(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "tok", 10000, &l), REDLOCK_OK);
    await_keys(c, (long long)c->n);
    char real[REDLOCK_TOKEN_LEN + 1];
    memcpy(real, redlock_lock_token(l), sizeof(real));
    /* Forge: same key, different token (internal struct). */
    l->token[0] = l->token[0] == 'a' ? 'b' : 'a';
    assert_int_equal(redlock_extend(l, 10000), REDLOCK_ENOTHELD);
    assert_int_equal(redlock_release_keep(l), REDLOCK_ENOTHELD);
    for (size_t i = 0; i < c->n; i++) {
        char got[64];
        rl_get(c, i, "tok", got, sizeof(got));
        assert_string_equal(got, real);
    }
    /* The handle is spent: extend and release say so. */
    assert_int_equal(redlock_extend(l, 10000), REDLOCK_ERELEASED);
    assert_int_equal(redlock_release_keep(l), REDLOCK_ERELEASED);
    assert_int_equal(redlock_release(l), REDLOCK_ERELEASED);
}

/* Keys overwritten behind a holder (another client's SET on every node):
 * extend and release through the library both answer ENOTHELD, and the
 * intruder's value survives them on every node. */
static void test_changed_behind_holder(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "taken", 10000, &l), REDLOCK_OK);
    await_keys(c, (long long)c->n);
    for (size_t i = 0; i < c->n; i++)
        assert_int_equal(rl_set(c, i, "taken", "intruder", 0), 0);
    assert_int_equal(redlock_extend(l, 10000), REDLOCK_ENOTHELD);
    assert_int_equal(redlock_release(l), REDLOCK_ENOTHELD);
    /* The intruder's keys have no TTL: only a DEL that did not compare
     * tokens could remove them. */
    for (size_t i = 0; i < c->n; i++) {
        char got[64];
        assert_int_equal(rl_get(c, i, "taken", got, sizeof(got)), 0);
        assert_string_equal(got, "intruder");
    }
    assert_int_equal(rl_total_keys(c), (long long)c->n);
}

/* Condition for rl_await: no keys left on any node. */
static bool no_keys(void *arg)
{
    return rl_total_keys(arg) == 0;
}

/* Once a lock's keys expired, extend fails with ENOTHELD (it never
 * re-acquires), and validity is reported as run out. */
static void test_expired_cannot_extend(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "short", 150, &l), REDLOCK_OK);
    assert_true(rl_await(no_keys, c, 5000));
    assert_true(redlock_lock_validity_ms(l) <= 0);
    assert_int_equal(redlock_extend(l, 10000), REDLOCK_ENOTHELD);
    await_keys(c, 0);
    assert_int_equal(redlock_release(l), REDLOCK_ENOTHELD);
}

/* rl_await condition: node 0 holds r-b again. */
typedef struct restored_probe {
    rl_cluster *c;
    const char *token;
} restored_probe;

/* True once node 0's r-b holds the probe's token. */
static bool rb_restored(void *arg)
{
    restored_probe *p = arg;
    char out[64];
    return rl_get(p->c, 0, "r-b", out, sizeof(out)) == 0 &&
           strcmp(out, p->token) == 0;
}

/* An extension that wins a quorum re-creates the keys on a node that lost
 * one (restore_on_extend, on by default): every key of the lock, with the
 * new TTL. The extension is decided by the first two answers, so the
 * third node's "gone" may come after it: the next extension restores it
 * then. So a few extensions at most are needed. */
static void test_extend_restores_missing(void **state)
{
    rl_cluster *c = *state;
    const void *res[2] = {"r-a", "r-b"};
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire_multi(c->m, res, NULL, 2, 10000, NULL,
                                           &l),
                     REDLOCK_OK);
    await_keys(c, 2 * (long long)c->n);
    char out[64];
    const char *del[2] = {"DEL", "r-b"};
    assert_int_equal(rs_command(&c->srv[0], out, sizeof(out), 2, del), 0);
    restored_probe p = {c, redlock_lock_token(l)};
    bool restored = false;
    for (int i = 0; i < 10 && !restored; i++) {
        assert_int_equal(redlock_extend(l, 30000), REDLOCK_OK);
        restored = rl_await(rb_restored, &p, 500);
    }
    assert_true(restored);
    const char *pttl[2] = {"PTTL", "r-a"};
    assert_int_equal(rs_command(&c->srv[0], out, sizeof(out), 2, pttl), 0);
    assert_true(atoll(out) > 10000);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    await_keys(c, 0);
}

/* acquire_multi takes every resource or none, on each node. */
static void test_multi(void **state)
{
    rl_cluster *c = *state;
    const void *res[3] = {"m-a", "m-b", "m-c"};
    redlock_lock *l = NULL, *x = NULL;
    assert_int_equal(redlock_acquire_multi(c->m, res, NULL, 3, 10000, NULL,
                                           &l),
                     REDLOCK_OK);
    assert_int_equal(redlock_lock_resource_count(l), 3);
    await_keys(c, 3 * (long long)c->n);
    assert_int_equal(redlock_try_acquire(c->m, "m-b", 10000, &x),
                     REDLOCK_ETAKEN);
    assert_int_equal(redlock_extend(l, 20000), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    await_keys(c, 0);

    /* One resource held elsewhere on every node: nothing is set. */
    for (size_t i = 0; i < c->n; i++)
        rl_set(c, i, "m-c", "other", 20000);
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    o.retry_count = 1;
    assert_int_equal(redlock_acquire_multi(c->m, res, NULL, 3, 10000, &o,
                                           &l),
                     REDLOCK_ETAKEN);
    assert_int_equal(rl_total_keys(c), (long long)c->n);

    /* Duplicates are refused before anything is sent. */
    const void *dup[2] = {"d", "d"};
    assert_int_equal(redlock_acquire_multi(c->m, dup, NULL, 2, 1000, NULL,
                                           &l),
                     REDLOCK_EINVAL);
}

/* Resource names may hold any bytes: NUL, space, newline. */
static void test_binary_resource(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *a = NULL, *b = NULL, *d = NULL;
    assert_int_equal(redlock_acquire_ex(c->m, "a\0b c\n", 6, 10000, NULL,
                                        &a),
                     REDLOCK_OK);
    assert_int_equal(redlock_acquire_ex(c->m, "a\0c", 3, 10000, NULL, &b),
                     REDLOCK_OK);
    assert_int_equal(redlock_acquire(c->m, "a", 10000, &d), REDLOCK_OK);
    await_keys(c, 3 * (long long)c->n);
    size_t len = 0;
    const char *r = redlock_lock_resource(a, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(r, "a\0b c\n", 6);
    assert_int_equal(redlock_release(a), REDLOCK_OK);
    assert_int_equal(redlock_release(b), REDLOCK_OK);
    assert_int_equal(redlock_release(d), REDLOCK_OK);
    await_keys(c, 0);
}

/* Options that change the key prefix. */
static void prefix_tweak(redlock_options *o)
{
    o->key_prefix = "app:lock:";
}

/* The key prefix is prepended on the nodes but not in the accessor. */
static void test_key_prefix(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 1, prefix_tweak), 0);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "job", 5000, &l), REDLOCK_OK);
    char got[64];
    rl_get(&c, 0, "app:lock:job", got, sizeof(got));
    assert_string_equal(got, redlock_lock_token(l));
    assert_string_equal(redlock_lock_resource(l, NULL), "job");
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rl_cluster_stop(&c);
}

/* How late past its deadline_us an acquire may return: scheduling only
 * (a wake-up from a timed wait and a return), since deadline_us is
 * documented as a hard bound. 50 ms would be met on an idle machine (a
 * few hundred microseconds are typical); 100 ms leaves room for a thread
 * descheduled on a loaded 2-core box, and is still far below what a wait
 * that ignores the deadline costs (a retry delay of 20 ms, an undo grace
 * of twice the attempt, or a command timeout of 2 s). */
#define DEADLINE_SLACK_US 100000u

/* Acquire "busy" (refused by every node at once) with deadline_us 300 ms
 * from now and the given retry delay; check it returns ETIMEDOUT at the
 * deadline, and return the attempts made. */
static uint32_t acquire_until_deadline(rl_cluster *c, int64_t delay_ms)
{
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    redlock_acquire_info info;
    o.retry_count = 200;
    o.retry_delay_ms = delay_ms;
    o.retry_jitter_ms = 5;
    o.info = &info;
    o.deadline_us = rl_now_us() + 300000;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire_ex(c->m, "busy", 4, 10000, &o, &l),
                     REDLOCK_ETIMEDOUT);
    uint64_t back = rl_now_us();
    print_message("delay %lld ms: returned %.1f ms after the deadline, %u "
                  "attempts\n",
                  (long long)delay_ms,
                  ((double)back - (double)o.deadline_us) / 1000.0,
                  info.attempts);
    assert_true(back >= o.deadline_us - 10000);
    assert_true(back <= o.deadline_us + DEADLINE_SLACK_US);
    return info.attempts;
}

/* An absolute deadline ends a blocked acquire with ETIMEDOUT at the
 * deadline, and no attempt starts after it. Every node refuses at once, so
 * only the retry loop can overrun. With 20 ms delays it retries many
 * times and stops at the deadline. With 250 ms delays (and a deadline
 * 300 ms away) the first refusal subscribes to the resource's wake
 * channel and, once a node confirms, tries again at once (pub/sub: the
 * retry that closes the subscribe/release race, docs/design.md); the
 * next attempt starts at about 250 ms; the delay after it would end past
 * the deadline, so the loop must sleep only until the deadline and make
 * no fourth attempt (a fourth one would also return about 200 ms late).
 * retry_count is finite so that a loop that ignores the deadline ends
 * (with ETAKEN) instead of hanging. */
static void test_deadline(void **state)
{
    rl_cluster *c = *state;
    for (size_t i = 0; i < c->n; i++)
        rl_set(c, i, "busy", "other", 30000);
    assert_true(acquire_until_deadline(c, 20) >= 2);
    uint32_t attempts = acquire_until_deadline(c, 250);
    assert_true(attempts >= 1 && attempts <= 3);
    assert_int_equal(rl_total_keys(c), (long long)c->n);
}

/* One node of three stopped (SIGSTOP), one refusing, one granting: no
 * attempt can be decided (the stopped node's answer would make a quorum),
 * so each waits for it. The deadline, far shorter than the command
 * timeout (2 s), must end that wait and the undo that follows: the call
 * returns ETIMEDOUT within DEADLINE_SLACK_US of it. Once the node
 * resumes, the SET queued to it is followed by its release, so only the
 * other owner's key is left. */
static void test_deadline_paused_minority(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "warm", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    await_keys(c, 0);
    rl_set(c, 0, "pm", "other", 30000);
    assert_int_equal(rs_pause(&c->srv[2]), 0);
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    redlock_acquire_info info;
    o.retry_count = 200;
    o.retry_delay_ms = 20;
    o.retry_jitter_ms = 5;
    o.info = &info;
    o.deadline_us = rl_now_us() + 300000;
    redlock_status st = redlock_acquire_ex(c->m, "pm", 2, 10000, &o, &l);
    uint64_t back = rl_now_us();
    print_message("returned %.1f ms after the deadline, %u attempts, last "
                  "yes/no/error %u/%u/%u\n",
                  ((double)back - (double)o.deadline_us) / 1000.0,
                  info.attempts, info.last.yes, info.last.no,
                  info.last.error);
    assert_int_equal(rs_resume(&c->srv[2]), 0);
    assert_int_equal(st, REDLOCK_ETIMEDOUT);
    assert_null(l);
    assert_true(back <= o.deadline_us + DEADLINE_SLACK_US);
    assert_true(info.attempts >= 1);
    assert_int_equal(info.last.no, 1);
    await_keys(c, 1);
}

/* Run the group: basic operations on 1, 3 and 5 nodes. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_acquire_extend_release, setup1,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_acquire_extend_release, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_acquire_extend_release, setup5,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_two_managers_contend, setup1,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_two_managers_contend, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_minority_and_majority_held,
                                        setup5, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_token, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_changed_behind_holder, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_changed_behind_holder, setup5,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_expired_cannot_extend, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_multi, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_extend_restores_missing, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_binary_resource, setup3,
                                        teardown),
        cmocka_unit_test(test_key_prefix),
        cmocka_unit_test_setup_teardown(test_deadline, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_paused_minority,
                                        setup3, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
