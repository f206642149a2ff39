/*
 * test_sentinel_tls.c: a Sentinel-managed master over TLS as one Redlock
 * node (sentinels://H:P/NAME?sentinel=..., src/sentinel.c), against real
 * TLS-only groups (tests/support/sentinel_spawn.h with the certificates
 * of tests/support/tls_certs.h). Checked here:
 *   - acquire, extend and release reach the master the sentinels name;
 *     nothing in the group listens in the clear (port 0 on every data
 *     server and sentinel), so the sentinels were asked, and the master
 *     written, over TLS;
 *   - an idle node follows SENTINEL FAILOVER: the +switch-master message
 *     comes on the subscriber connection to a sentinel, over TLS, and the
 *     node connects to the new master; a fresh lock is then on it;
 *   - a CA that did not sign the group: REDLOCK_ETLS ("certificate verify
 *     failed") for the sentinels, and nothing is written;
 *   - sentinel:// (no TLS) to TLS-only sentinels fails the node's vote
 *     with a clear status; it does not hang past the deadline.
 *
 * DESIGN
 *  - One CA for the file (group setup), one group per test: a group
 *    takes a few seconds, certificates tens of milliseconds.
 *  - "Over TLS" is proved by the processes' configuration (no plaintext
 *    port), as in test_cluster_tls.c, not by counting connections.
 *  Rejected: a TLS variant of every test_sentinel_node.c test (the
 *  sentinel logic is the same; what TLS changes is which connections
 *  use it: the sentinels, their subscribers, the master).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rl_test.h"
#include "sentinel_spawn.h"
#include "tls_certs.h"

static rs_tls_certs certs;

static int setup_certs(void **state)
{
    (void)state;
    return rs_tls_certs_create(&certs) == 0 ? 0 : -1;
}

static int remove_certs(void **state)
{
    (void)state;
    rs_tls_certs_remove(&certs);
    return 0;
}

/* ------------------------------------------------------------------------
 * Node events: the last event with a given status, and whether a message
 * with a given text was seen
 * ------------------------------------------------------------------------ */

typedef struct events {
    pthread_mutex_t mu;
    int etls;          /* events with REDLOCK_ETLS */
    char last_tls[256];
    char want[96];     /* a REDLOCK_OK message to watch for */
    bool seen;
} events;

static void on_event(const char *node, redlock_status st, const char *msg,
                     void *userdata)
{
    (void)node;
    events *e = userdata;
    pthread_mutex_lock(&e->mu);
    if (st == REDLOCK_ETLS) {
        e->etls++;
        snprintf(e->last_tls, sizeof(e->last_tls), "%s", msg);
    }
    if (st == REDLOCK_OK && e->want[0] != '\0' && strstr(msg, e->want))
        e->seen = true;
    pthread_mutex_unlock(&e->mu);
}

static bool want_seen(void *arg)
{
    events *e = arg;
    pthread_mutex_lock(&e->mu);
    bool yes = e->seen;
    pthread_mutex_unlock(&e->mu);
    return yes;
}

static bool verify_failed(void *arg)
{
    events *e = arg;
    pthread_mutex_lock(&e->mu);
    bool yes =
        e->etls > 0 && strstr(e->last_tls, "certificate verify failed");
    pthread_mutex_unlock(&e->mu);
    return yes;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Start a TLS-only group: a master, one replica, three sentinels. */
static void start_tls_group(rsn_group *g, const char *name)
{
    rsn_options o;
    memset(&o, 0, sizeof(o));
    o.tls_cert_file = certs.server_cert;
    o.tls_key_file = certs.server_key;
    o.tls_ca_file = certs.ca_file;
    assert_int_equal(rsn_start_ex(g, name, 3, 1, &o), 0);
    assert_int_equal(g->tls, 1);
    assert_true(strncmp(g->uri, "sentinels://", 12) == 0);
}

/* Nothing of g listens in the clear: CONFIG GET port is 0 and
 * replication is TLS on every data server. Sentinels refuse CONFIG; the
 * fixture starts them with port 0 too (s->tls), and
 * test_wrong_ca_and_plaintext shows they do not answer in the clear. */
static void assert_tls_only(rsn_group *g)
{
    for (size_t i = 0; i < g->n_data; i++) {
        const char *port[3] = {"CONFIG", "GET", "port"};
        const char *repl[3] = {"CONFIG", "GET", "tls-replication"};
        char v[64];
        assert_int_equal(rs_command(&g->data[i], v, sizeof(v), 3, port), 0);
        assert_string_equal(v, "port\n0");
        assert_int_equal(rs_command(&g->data[i], v, sizeof(v), 3, repl), 0);
        assert_string_equal(v, "tls-replication\nyes");
    }
    for (size_t i = 0; i < g->n_sentinels; i++)
        assert_int_equal(g->sentinel[i].tls, 1);
}

/* A manager on uri trusting ca_file, events into ev, the guard as given. */
static redlock_manager *make_manager(const char *uri, const char *ca_file,
                                     events *ev, uint32_t guard_ms)
{
    redlock_options o;
    rl_test_options(&o, NULL);
    o.tls_ca_file = ca_file;
    o.restart_guard_ms = guard_ms;
    o.node_error_fn = on_event;
    o.node_error_userdata = ev;
    const char *uris[1] = {uri};
    redlock_manager *m = NULL;
    char err[256] = "";
    redlock_status st =
        redlock_manager_create_ex(uris, 1, &o, &m, err, sizeof(err));
    if (st != REDLOCK_OK)
        fail_msg("manager_create on %s: %s: %s", uri, redlock_strerror(st),
                 err);
    return m;
}

static void events_init(events *e)
{
    memset(e, 0, sizeof(*e));
    pthread_mutex_init(&e->mu, NULL);
}

/* The value of key on s ("" if none), into out. */
static void get_on(rs_server *s, const char *key, char *out, size_t len)
{
    const char *get[2] = {"GET", key};
    assert_int_equal(rs_command(s, out, len, 2, get), 0);
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

/* Acquire, extend and release through TLS-only sentinels and master. */
static void test_lock_cycle_over_tls(void **state)
{
    (void)state;
    rsn_group g;
    start_tls_group(&g, "tlslocks");
    assert_tls_only(&g);
    int mi = rsn_master_index(&g);
    assert_true(mi >= 0);
    events ev;
    events_init(&ev);
    redlock_manager *m =
        make_manager(g.uri, certs.ca_file, &ev, REDLOCK_RESTART_GUARD_AUTO);
    redlock_lock *lk = NULL;
    redlock_acquire_info info;
    redlock_status st = rl_try_once(m, "tls-res", 30000, &info, &lk);
    if (st != REDLOCK_OK)
        fail_msg("acquire on %s: %s: %s", g.uri, redlock_strerror(st),
                 info.detail);
    char out[128];
    get_on(&g.data[mi], "tls-res", out, sizeof(out));
    assert_non_null(strstr(out, redlock_lock_token(lk)));
    assert_int_equal(redlock_extend(lk, 60000), REDLOCK_OK);
    const char *pttl[2] = {"PTTL", "tls-res"};
    assert_int_equal(rs_command(&g.data[mi], out, sizeof(out), 2, pttl), 0);
    assert_true(atoll(out) > 30000);
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    /* Deleted, not expired (the TTL is 60 s). */
    assert_true(rl_await_dbsize(&g.data[mi], 0, 5000));
    redlock_manager_destroy(m);
    pthread_mutex_destroy(&ev.mu);
    rsn_stop(&g);
}

/* An idle node follows a failover announced over TLS, and locks on the
 * new master. */
static void test_follows_failover_over_tls(void **state)
{
    (void)state;
    rsn_group g;
    start_tls_group(&g, "tlsswitch");
    events ev;
    events_init(&ev);
    /* The new master is guarded (a failover is a restart): the node
     * says "connected (restart guard over ...)" once it votes again. */
    redlock_manager *m =
        make_manager(g.uri, certs.ca_file, &ev, REDLOCK_RESTART_GUARD_AUTO);
    redlock_acquire_info info;
    redlock_lock *lk = NULL;
    assert_int_equal(rl_try_once(m, "tls-warm", 5000, &info, &lk),
                     REDLOCK_OK);
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    int before = rsn_master_index(&g);
    assert_int_equal(rsn_failover(&g), 0);
    int after = rsn_master_index(&g);
    assert_true(after >= 0 && after != before);
    pthread_mutex_lock(&ev.mu);
    snprintf(ev.want, sizeof(ev.want), "master 127.0.0.1:%d: connected",
             g.data[after].port);
    pthread_mutex_unlock(&ev.mu);
    /* No command from here until the node has connected and its guard
     * passed (the guard is the longest TTL used, 5 s here). */
    assert_true(rl_await(want_seen, &ev, 20000));
    assert_int_equal(rl_try_once(m, "tls-after", 30000, &info, &lk),
                     REDLOCK_OK);
    char out[128];
    get_on(&g.data[after], "tls-after", out, sizeof(out));
    assert_non_null(strstr(out, redlock_lock_token(lk)));
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    redlock_manager_destroy(m);
    pthread_mutex_destroy(&ev.mu);
    rsn_stop(&g);
}

/* A CA that did not sign the group: the sentinels fail verification,
 * no vote, nothing written; plaintext sentinel:// to the same TLS-only
 * sentinels fails within its deadline. */
static void test_wrong_ca_and_plaintext(void **state)
{
    (void)state;
    rsn_group g;
    start_tls_group(&g, "tlsbad");
    int mi = rsn_master_index(&g);
    assert_true(mi >= 0);

    events ev;
    events_init(&ev);
    redlock_manager *m = make_manager(g.uri, certs.other_ca_file, &ev,
                                      REDLOCK_RESTART_GUARD_AUTO);
    redlock_acquire_info info;
    redlock_lock *lk = NULL;
    assert_int_not_equal(rl_try_once(m, "bad-ca", 5000, &info, &lk),
                         REDLOCK_OK);
    assert_null(lk);
    assert_true(rl_await(verify_failed, &ev, 10000));
    redlock_manager_destroy(m);
    pthread_mutex_destroy(&ev.mu);

    /* The same group named without TLS. */
    char plain[1100];
    snprintf(plain, sizeof(plain), "sentinel://%s",
             g.uri + strlen("sentinels://"));
    events_init(&ev);
    m = make_manager(plain, NULL, &ev, REDLOCK_RESTART_GUARD_AUTO);
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.info = &info;
    ao.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
    ao.deadline_us = rl_now_us() + 2000000;
    redlock_status st = redlock_acquire_ex(m, "plain", 5, 5000, &ao, &lk);
    assert_int_not_equal(st, REDLOCK_OK);
    assert_null(lk);
    /* Within its deadline, with room for a loaded machine. */
    assert_true(rl_now_us() < ao.deadline_us + 5000000);
    redlock_manager_destroy(m);
    pthread_mutex_destroy(&ev.mu);

    assert_int_equal(rs_dbsize(&g.data[mi]), 0);
    rsn_stop(&g);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_cycle_over_tls),
        cmocka_unit_test(test_follows_failover_over_tls),
        cmocka_unit_test(test_wrong_ca_and_plaintext),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup_certs, remove_certs);
}
