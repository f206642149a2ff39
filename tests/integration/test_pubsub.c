/*
 * test_pubsub.c: pub/sub wake-ups for waiters (docs/design.md, "How
 * waiters are woken"). Real redis-servers.
 *
 * A waiter that finds its resource taken subscribes to the resource's
 * wake channel on every node and is woken by the holder's release well
 * before its retry delay; without the subscriber connection it falls
 * back to timed retries; subscriptions end when the waiters leave (PUBSUB
 * NUMSUB awaited on each node); multi-resource acquires are woken by any
 * of their keys; destroy ends a wait at once. The manager's counters
 * (redlock__wake_get_stats(), a test hook) say how each wait ended, so
 * no assertion depends on a timing rate. No fixed sleeps: every
 * condition is awaited with a deadline.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manager.h"
#include "rl_test.h"
#include "scripts.h"
#include "subscribe.h"
#include "tls_certs.h"

/* An acquire running on its own thread. */
typedef struct waiter {
    redlock_manager *m;
    const char *res[2];
    size_t count;          /* resources */
    uint32_t delay_ms;     /* retry delay (jitter 0) */
    uint64_t deadline_us;  /* 0: none */
    redlock_acquire_info info;
    redlock_status st;
    redlock_lock *lock;
    uint64_t returned_us;
    atomic_bool done;
    pthread_t thread;
} waiter;

/* Acquire w's resources, retrying until the deadline (or destroy). */
static void *wait_acquire(void *arg)
{
    waiter *w = arg;
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
    ao.retry_delay_ms = w->delay_ms;
    ao.retry_jitter_ms = 0;
    ao.deadline_us = w->deadline_us;
    ao.info = &w->info;
    size_t lens[2] = {strlen(w->res[0]),
                      w->count > 1 ? strlen(w->res[1]) : 0};
    w->st = redlock_acquire_multi(w->m, (const void *const *)w->res, lens,
                                  w->count, 10000, &ao, &w->lock);
    w->returned_us = rl_now_us();
    atomic_store(&w->done, true);
    return NULL;
}

/* Start a waiter on one or two resources. */
static void start_waiter(waiter *w, redlock_manager *m, const char *a,
                         const char *b, uint32_t delay_ms,
                         uint64_t deadline_us)
{
    memset(w, 0, sizeof(*w));
    w->m = m;
    w->res[0] = a;
    w->res[1] = b;
    w->count = b != NULL ? 2 : 1;
    w->delay_ms = delay_ms;
    w->deadline_us = deadline_us;
    assert_int_equal(pthread_create(&w->thread, NULL, wait_acquire, w), 0);
}

/* PUBSUB NUMSUB of res's wake channel on server s (-1 on error). */
static long long numsub(const rs_server *s, const char *res)
{
    char ch[256], out[512];
    snprintf(ch, sizeof(ch), "%s%s", REDLOCK__WAKE_CHANNEL_PREFIX, res);
    const char *argv[3] = {"PUBSUB", "NUMSUB", ch};
    if (rs_command(s, out, sizeof(out), 3, argv) != 0)
        return -1;
    const char *nl = strrchr(out, '\n');
    return nl != NULL ? strtoll(nl + 1, NULL, 10) : -1;
}

/* Argument of the await conditions below. */
typedef struct cond_arg {
    rl_cluster *c;
    redlock_manager *m;
    const char *res;
    long long want;
    long long base;
} cond_arg;

/* Every node has `want` subscribers on res's wake channel. */
static bool numsub_is(void *arg)
{
    cond_arg *a = arg;
    for (size_t i = 0; i < a->c->n; i++)
        if (numsub(&a->c->srv[i], a->res) != a->want)
            return false;
    return true;
}

static void await_numsub(rl_cluster *c, const char *res, long long want)
{
    cond_arg a = {c, NULL, res, want, 0};
    assert_true(rl_await(numsub_is, &a, 10000));
}

static redlock__wake_stats stats_of(redlock_manager *m)
{
    redlock__wake_stats st;
    redlock__wake_get_stats(m, &st);
    return st;
}

static bool confirmed_at_least(void *arg)
{
    cond_arg *a = arg;
    return (long long)stats_of(a->m).confirmed >= a->want;
}

static bool waits_at_least(void *arg)
{
    cond_arg *a = arg;
    return (long long)stats_of(a->m).waits >= a->want;
}

static bool confirm_timeouts_at_least(void *arg)
{
    cond_arg *a = arg;
    return (long long)stats_of(a->m).confirm_timeouts >= a->want;
}

static bool entries_are(void *arg)
{
    cond_arg *a = arg;
    return (long long)stats_of(a->m).entries == a->want;
}

/* Wait until the manager's waiters have begun `n` waits for a message
 * in all: the first comes after the confirmed subscription and the
 * attempt made at once (a release during that attempt leaves a grant
 * for the wait), so from then on a release reaches the waiter as a
 * message. (Counting the
 * SETs a node served would not do: a node's SET may be skipped when the
 * other two refused first.) With res, also await one subscriber of its
 * channel on every node. */
static void await_waiting(rl_cluster *c, long long n, const char *res)
{
    cond_arg a = {c, c->m, NULL, n, 0};
    assert_true(rl_await(waits_at_least, &a, 10000));
    if (res != NULL)
        await_numsub(c, res, 1);
}

/* Per test: three servers and a manager (with rl_test_options()). */
static int setup(void **state)
{
    rl_cluster *c = calloc(1, sizeof(*c));
    if (c == NULL || rl_cluster_start(c, 3, NULL) != 0) {
        free(c);
        return -1;
    }
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    redlock__sub_test_refuse(false);
    rl_cluster_stop(*state);
    free(*state);
    return 0;
}

/* Per test: three TLS-only, password-protected servers and a manager
 * that verifies them: the subscriber connections need TLS and AUTH too. */
static rs_tls_certs certs;

static int setup_tls_auth(void **state)
{
    rl_cluster *c = calloc(1, sizeof(*c));
    if (c == NULL || rs_tls_certs_create(&certs) != 0) {
        free(c);
        return -1;
    }
    c->n = 3;
    for (size_t i = 0; i < c->n; i++) {
        rs_options o;
        memset(&o, 0, sizeof(o));
        o.password = "pubsub-pw";
        o.tls_cert_file = certs.server_cert;
        o.tls_key_file = certs.server_key;
        o.tls_ca_file = certs.ca_file;
        if (rs_start_ex(&c->srv[i], &o) != 0)
            return -1;
    }
    rs_uris(c->srv, c->n, c->uris);
    rl_events_init(&c->ev, c);
    redlock_options o;
    rl_test_options(&o, &c->ev);
    o.connect_timeout_ms = 3000;
    o.tls_ca_file = certs.ca_file;
    if (redlock_manager_create(c->uris, c->n, &o, &c->m) != REDLOCK_OK)
        return -1;
    *state = c;
    return 0;
}

static int teardown_tls_auth(void **state)
{
    teardown(state);
    rs_tls_certs_remove(&certs);
    return 0;
}

/* Join w, which must have got its lock, and release it; if it was the
 * last waiter of its resources, await that no node keeps a subscription
 * for them. */
static void finish(rl_cluster *c, waiter *w, bool last)
{
    pthread_join(w->thread, NULL);
    assert_int_equal(w->st, REDLOCK_OK);
    assert_int_equal(redlock_release(w->lock), REDLOCK_OK);
    for (size_t i = 0; last && i < w->count; i++)
        await_numsub(c, w->res[i], 0);
}

/* Hold res on every node with a lock of c's manager. */
static redlock_lock *hold(rl_cluster *c, const char *res)
{
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, res, 30000, &l), REDLOCK_OK);
    assert_true(rl_await_keys(c, (long long)c->n, 5000));
    return l;
}

/* Hold res, then start a waiter w on it with the given retry delay and
 * a deadline 60 s away; with refuse, no subscriber connection may open
 * (redlock__sub_test_refuse()) from before the waiter starts. */
static redlock_lock *hold_and_wait(rl_cluster *c, waiter *w, const char *res,
                                   uint32_t delay_ms, bool refuse)
{
    redlock_lock *holder = hold(c, res);
    redlock__sub_test_refuse(refuse);
    start_waiter(w, c->m, res, NULL, delay_ms,
                 rl_now_us() + 60u * 1000000u);
    return holder;
}

/* Release holder and finish w: it must be granted within 1 s of the
 * release, and the manager must have ended a wait by a message and, if
 * no_timer, none by the timer. */
static void release_wakes(rl_cluster *c, redlock_lock *holder, waiter *w,
                          bool no_timer)
{
    uint64_t released = rl_now_us();
    assert_int_equal(redlock_release(holder), REDLOCK_OK);
    finish(c, w, true); /* and no subscription is left behind */
    print_message("granted %.1f ms after the release, %u attempts\n",
                  (double)(w->returned_us - released) / 1000.0,
                  w->info.attempts);
    assert_true(w->returned_us - released < 1000000u);
    redlock__wake_stats st = stats_of(c->m);
    assert_true(st.by_message >= 1);
    if (no_timer)
        assert_int_equal(st.by_timer, 0);
}

/* The required case: a retry delay of 5 s, and the grant within 1 s of
 * the release, woken by a message (not by the timer). */
static void test_woken_by_release(void **state)
{
    rl_cluster *c = *state;
    waiter w;
    redlock_lock *holder = hold_and_wait(c, &w, "job", 5000, false);
    await_waiting(c, 1, "job");
    release_wakes(c, holder, &w, true);
    assert_int_equal(stats_of(c->m).confirm_timeouts, 0);
    /* refused, at once, woken (and again if the release had not yet
     * reached a quorum when the first message came) */
    assert_true(w.info.attempts >= 3);
    assert_int_equal(stats_of(c->m).entries, 0);
}

/* Subscribe first, then try: a release that lands between the waiter's
 * first refusal and its subscription is not missed (the attempt made at
 * once after the confirmation takes the lock), with a 5 s retry delay. */
static void test_release_before_subscription(void **state)
{
    rl_cluster *c = *state;
    /* Hold back the subscription: the waiter's first refusal registers,
     * but no node can confirm until the hook is cleared. */
    waiter w;
    redlock_lock *holder = hold_and_wait(c, &w, "early", 5000, true);
    cond_arg a = {c, c->m, "early", 1, 0};
    assert_true(rl_await(entries_are, &a, 10000)); /* registered */
    /* Released before any node subscribed: no message can reach it. */
    assert_int_equal(redlock_release(holder), REDLOCK_OK);
    assert_true(rl_await_keys(c, 0, 5000)); /* a quorum answered first */
    uint64_t released = rl_now_us();
    redlock__sub_test_refuse(false);
    finish(c, &w, true);
    /* The reconnect backoff after a refusal is reconnect_min_ms (tests:
     * well under a second), then the attempt follows at once. */
    assert_true(w.returned_us - released < 4000000u);
    redlock__wake_stats st = stats_of(c->m);
    assert_int_equal(st.by_message, 0);
    assert_int_equal(w.info.attempts, 2);
}

/* No node confirms the subscription (subscriber connections refused):
 * the waiter gives up waiting for a confirmation after its retry delay
 * and keeps retrying on its timer; it gets the lock after the release
 * without any message. */
static void test_no_confirmation_falls_back(void **state)
{
    rl_cluster *c = *state;
    waiter w;
    redlock_lock *holder = hold_and_wait(c, &w, "lost", 100, true);
    cond_arg a = {c, c->m, "lost", 1, 0};
    assert_true(rl_await(confirm_timeouts_at_least, &a, 10000));
    assert_true(rl_await(waits_at_least, &a, 10000));
    assert_int_equal(redlock_release(holder), REDLOCK_OK);
    finish(c, &w, true);
    redlock__wake_stats st = stats_of(c->m);
    assert_int_equal(st.by_message, 0);
    assert_true(st.by_timer >= 1);
    assert_int_equal(st.confirmed, 0);
    assert_int_equal(stats_of(c->m).entries, 0);
}

/* The subscriber connections are killed (CLIENT KILL TYPE pubsub) while
 * a waiter waits, and cannot come back (test hook): the release sends
 * no message it can hear, and the waiter falls back to its timed retry.
 * Once they may come back, they re-subscribe, and the next release wakes
 * a new waiter by message again. */
static void test_killed_subscriber_falls_back(void **state)
{
    rl_cluster *c = *state;
    waiter w;
    redlock_lock *holder = hold_and_wait(c, &w, "kill", 300, false);
    await_waiting(c, 1, "kill");
    redlock__sub_test_refuse(true);
    for (size_t i = 0; i < c->n; i++) {
        const char *argv[4] = {"CLIENT", "KILL", "TYPE", "pubsub"};
        char out[64];
        assert_int_equal(rs_command(&c->srv[i], out, sizeof(out), 4, argv),
                         0);
    }
    await_numsub(c, "kill", 0);
    assert_int_equal(redlock_release(holder), REDLOCK_OK);
    pthread_join(w.thread, NULL);
    assert_int_equal(w.st, REDLOCK_OK);
    redlock__wake_stats st = stats_of(c->m);
    assert_int_equal(st.by_message, 0);
    assert_true(st.by_timer >= 1);

    /* Back: the waiter's own lock now holds "kill"; a second waiter is
     * woken by its release once re-subscribed. */
    redlock__sub_test_refuse(false);
    holder = w.lock;
    long long waits0 = (long long)stats_of(c->m).waits;
    waiter w2;
    start_waiter(&w2, c->m, "kill", NULL, 5000,
                 rl_now_us() + 60u * 1000000u);
    cond_arg a = {c, c->m, "kill", (long long)st.confirmed + 1, 0};
    assert_true(rl_await(confirmed_at_least, &a, 10000));
    await_waiting(c, waits0 + 1, NULL);
    release_wakes(c, holder, &w2, false);
}

/* w[0] or w[1] has returned. */
static bool either_done(void *arg)
{
    waiter *w = arg;
    return atomic_load(&w[0].done) || atomic_load(&w[1].done);
}

/* Three waiters share one subscription per node (NUMSUB 1); one that
 * reaches its deadline leaves without unsubscribing the others; once all
 * have left, every node's NUMSUB is 0 again. */
static void test_deregistration(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *holder = hold(c, "shared");
    waiter w[3];
    start_waiter(&w[0], c->m, "shared", NULL, 5000,
                 rl_now_us() + 60u * 1000000u);
    start_waiter(&w[1], c->m, "shared", NULL, 5000,
                 rl_now_us() + 60u * 1000000u);
    start_waiter(&w[2], c->m, "shared", NULL, 5000,
                 rl_now_us() + 1500u * 1000u); /* gives up */
    cond_arg a = {c, c->m, "shared", 1, 0};
    assert_true(rl_await(confirmed_at_least, &a, 10000));
    await_numsub(c, "shared", 1);
    pthread_join(w[2].thread, NULL);
    assert_int_equal(w[2].st, REDLOCK_ETIMEDOUT);
    a.want = 1;
    assert_true(rl_await(entries_are, &a, 10000)); /* still one key */
    assert_int_equal(numsub(&c->srv[0], "shared"), 1);
    assert_int_equal(redlock_release(holder), REDLOCK_OK);
    /* Both are woken; one wins, the other waits for its release. */
    assert_true(rl_await(either_done, w, 10000));
    waiter *first = atomic_load(&w[0].done) ? &w[0] : &w[1];
    waiter *second = first == &w[0] ? &w[1] : &w[0];
    finish(c, first, false);
    finish(c, second, true); /* the last to leave: NUMSUB 0 */
    a.want = 0;
    assert_true(rl_await(entries_are, &a, 10000));
}

/* A multi-resource waiter subscribes to each key and is woken by the
 * release of either; its subscriptions end when it leaves. */
static void test_multi_resource(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *holder = hold(c, "b");
    waiter w;
    start_waiter(&w, c->m, "a", "b", 5000, rl_now_us() + 60u * 1000000u);
    await_waiting(c, 1, "a");
    await_numsub(c, "b", 1);
    release_wakes(c, holder, &w, true);
}

/* Destroy while a waiter waits for a message (retry delay 5 s, no
 * deadline): it returns ECLOSED at once, not after its delay. */
static void test_destroy_wakes_waiter(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *holder = hold(c, "end");
    waiter w;
    start_waiter(&w, c->m, "end", NULL, 5000, 0);
    await_waiting(c, 1, NULL);
    uint64_t t0 = rl_now_us();
    redlock_manager_destroy(c->m);
    c->m = NULL;
    pthread_join(w.thread, NULL);
    assert_int_equal(w.st, REDLOCK_ECLOSED);
    print_message("returned %.1f ms after destroy began\n",
                  (double)(w.returned_us - t0) / 1000.0);
    assert_true(w.returned_us - t0 < 1000000u);
    redlock_lock_free(holder);
}

/* Over TLS with AUTH: the subscriber connections authenticate and
 * speak TLS like the command connections, and the release wakes the
 * waiter by message. */
static void test_tls_and_auth(void **state)
{
    rl_cluster *c = *state;
    assert_non_null(strstr(c->uris[0], "rediss://"));
    waiter w;
    redlock_lock *holder = hold_and_wait(c, &w, "secure", 5000, false);
    await_waiting(c, 1, "secure");
    release_wakes(c, holder, &w, true);
}

/* An ACL user without channels (Redis 7's default for new users): its
 * releases still succeed (the script's PUBLISH runs under redis.pcall),
 * its subscriber connections are refused SUBSCRIBE (NOPERM), and its
 * waiters fall back to timed retries. */
static void test_acl_without_channels(void **state)
{
    rl_cluster *c = *state;
    char uris[3][160];
    const char *u[3];
    for (size_t i = 0; i < c->n; i++) {
        const char *argv[] = {"ACL", "SETUSER", "nochan", "on", ">pw-1",
                              "~*",  "resetchannels", "+@all"};
        char out[128];
        assert_int_equal(rs_command(&c->srv[i], out, sizeof(out), 8, argv),
                         0);
        assert_string_equal(out, "OK");
        snprintf(uris[i], sizeof(uris[i]), "redis://nochan:pw-1@127.0.0.1:%d",
                 c->srv[i].port);
        u[i] = uris[i];
    }
    redlock_options o;
    rl_test_options(&o, NULL);
    redlock_manager *m = NULL;
    assert_int_equal(redlock_manager_create(u, c->n, &o, &m), REDLOCK_OK);
    redlock_lock *holder = NULL;
    assert_int_equal(redlock_acquire(m, "acl", 30000, &holder), REDLOCK_OK);
    waiter w;
    start_waiter(&w, m, "acl", NULL, 200, rl_now_us() + 60u * 1000000u);
    cond_arg a = {c, m, "acl", 1, 0};
    assert_true(rl_await(confirm_timeouts_at_least, &a, 10000));
    assert_int_equal(redlock_release(holder), REDLOCK_OK);
    pthread_join(w.thread, NULL);
    assert_int_equal(w.st, REDLOCK_OK);
    assert_int_equal(redlock_release(w.lock), REDLOCK_OK);
    redlock__wake_stats st = stats_of(m);
    assert_int_equal(st.by_message, 0);
    assert_int_equal(st.confirmed, 0);
    redlock_manager_destroy(m);
}

#define WITH_CLUSTER(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* A failed attempt's undo announces nothing. Another client holds
 * "split" on nodes 0 and 1 (a quorum); node 2 grants each attempt and
 * the undo deletes it there. Announcing that delete woke the waiter
 * itself at once, so it retried in a tight loop (hundreds to thousands of
 * attempts in 2 s, found by review). Nobody releases here: no wait may
 * end by message, and the attempts follow the 300 ms timer. */
static void test_undo_wakes_nobody(void **state)
{
    rl_cluster *c = *state;
    rl_set(c, 0, "split", "other", 30000);
    rl_set(c, 1, "split", "other", 30000);
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    redlock_acquire_info info;
    ao.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
    ao.retry_delay_ms = 300;
    ao.retry_jitter_ms = 0;
    ao.deadline_us = rl_now_us() + 2000000u;
    ao.info = &info;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire_ex(c->m, "split", 5, 10000, &ao, &l),
                     REDLOCK_ETIMEDOUT);
    redlock__wake_stats st = stats_of(c->m);
    print_message("attempts %u, waits ended by message %llu, by timer "
                  "%llu\n",
                  info.attempts, (unsigned long long)st.by_message,
                  (unsigned long long)st.by_timer);
    assert_int_equal(st.by_message, 0);
    /* 2 s of 300 ms slots: about 8 (the timer), never hundreds. */
    assert_true(info.attempts <= 16);
}

/* Wake-ups do not use up retry_count: it counts retry slots (the delay
 * plus jitter), and the attempt made at once when the subscription is
 * confirmed stays in its slot. With retry_count 1 and a 300 ms delay, a
 * refused call lasts at least that one delay (it ended after ~2 ms once,
 * the confirmation having spent its only retry). */
static void test_wakes_keep_retry_budget(void **state)
{
    rl_cluster *c = *state;
    for (size_t i = 0; i < c->n; i++)
        rl_set(c, i, "budget", "other", 30000);
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    redlock_acquire_info info;
    ao.retry_count = 1;
    ao.retry_delay_ms = 300;
    ao.retry_jitter_ms = 0;
    ao.info = &info;
    redlock_lock *l = NULL;
    uint64_t t0 = rl_now_us();
    assert_int_equal(redlock_acquire_ex(c->m, "budget", 6, 10000, &ao, &l),
                     REDLOCK_ETAKEN);
    uint64_t took = rl_now_us() - t0;
    print_message("retry_count 1: %u attempts in %llu ms\n", info.attempts,
                  (unsigned long long)(took / 1000u));
    assert_true(took >= 300000u);
    assert_true(info.attempts >= 2 && info.attempts <= 3);
}

/* Waiters that come and go while the subscriber connection is down
 * leave nothing in its channel table: 1100 keys (the table holds 1024)
 * registered and left with the subscriber refused, then a fresh key is
 * still taken. Before, unwanted entries stayed until the connection came
 * back, which it never did once the table was full, as nothing could be
 * wanted any more (found by review). */
static void slow_reconnects(redlock_options *o)
{
    o->reconnect_min_ms = 3000; /* one refused connect, then a long wait */
    o->reconnect_max_ms = 3000;
}

static void test_table_survives_churn_while_down(void **state)
{
    (void)state;
    rl_cluster cl, *c = &cl;
    redlock__sub_test_refuse(true);
    assert_int_equal(rl_cluster_start(c, 3, slow_reconnects), 0);
    for (int i = 0; i < 1100; i++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "churn:%d", i);
        char *k = buf;
        size_t l = strlen(buf);
        redlock__waiter x;
        memset(&x, 0, sizeof(x));
        (void)redlock__wake_register(c->m, &k, &l, 1, &x);
        redlock__wake_unregister(c->m, &x);
    }
    char fresh[] = "churn:fresh";
    char *k = fresh;
    size_t l = strlen(fresh);
    redlock__waiter w;
    memset(&w, 0, sizeof(w));
    bool ok = redlock__wake_register(c->m, &k, &l, 1, &w);
    redlock__sub_test_refuse(false);
    assert_true(ok);
    /* And once the subscriber may connect, the fresh key is confirmed. */
    assert_true(redlock__wake_await_confirmed(c->m, &w,
                                              rl_now_us() + 20000000u));
    redlock__wake_unregister(c->m, &w);
    rl_cluster_stop(c);
}

/* One release wakes one waiter, not the herd. Six waiters of one key
 * (5 s retry delay) are all asleep when the holder releases; each node
 * announces the release, and a message gives a grant only while no
 * waiter woken by an earlier one is still trying, so at most one wait
 * per node's message ends by message (3), where waking every waiter on
 * every message ended 6 or more. Exactly one waiter wins. */
static bool one_done(void *arg)
{
    waiter *w = arg;
    for (int i = 0; i < 6; i++)
        if (atomic_load(&w[i].done))
            return true;
    return false;
}

static void test_release_wakes_one(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *holder = NULL;
    assert_int_equal(redlock_acquire(c->m, "herd", 30000, &holder),
                     REDLOCK_OK);
    waiter w[6];
    uint64_t deadline = rl_now_us() + 30000000u;
    for (int i = 0; i < 6; i++)
        start_waiter(&w[i], c->m, "herd", NULL, 5000, deadline);
    /* Each waiter waits once it is subscribed and its at-once attempt
     * failed. */
    cond_arg a = {c, c->m, "herd", 6, 0};
    assert_true(rl_await(waits_at_least, &a, 20000));
    uint64_t before = stats_of(c->m).by_message;
    assert_int_equal(redlock_release(holder), REDLOCK_OK);
    assert_true(rl_await(one_done, w, 10000));
    /* The other nodes' copies of the announcement arrive meanwhile. */
    await_numsub(c, "herd", 1);
    uint64_t woken = stats_of(c->m).by_message - before;
    print_message("waits ended by message after one release: %llu\n",
                  (unsigned long long)woken);
    redlock_manager_destroy(c->m); /* the rest end with ECLOSED */
    c->m = NULL;
    int won = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(w[i].thread, NULL);
        if (w[i].st == REDLOCK_OK) {
            won++;
            redlock_lock_free(w[i].lock);
        } else {
            assert_int_equal(w[i].st, REDLOCK_ECLOSED);
        }
    }
    assert_int_equal(won, 1);
    assert_true(woken >= 1 && woken <= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        WITH_CLUSTER(test_woken_by_release),
        WITH_CLUSTER(test_release_before_subscription),
        WITH_CLUSTER(test_no_confirmation_falls_back),
        WITH_CLUSTER(test_killed_subscriber_falls_back),
        WITH_CLUSTER(test_deregistration),
        WITH_CLUSTER(test_multi_resource),
        WITH_CLUSTER(test_destroy_wakes_waiter),
        WITH_CLUSTER(test_acl_without_channels),
        WITH_CLUSTER(test_undo_wakes_nobody),
        WITH_CLUSTER(test_wakes_keep_retry_budget),
        WITH_CLUSTER(test_release_wakes_one),
        cmocka_unit_test(test_table_survives_churn_while_down),
        cmocka_unit_test_setup_teardown(test_tls_and_auth, setup_tls_auth,
                                        teardown_tls_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
