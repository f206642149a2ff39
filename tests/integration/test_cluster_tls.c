/*
 * test_cluster_tls.c: a Redis Cluster over TLS as one Redlock node
 * (rediss://H:P?cluster=yes&seed=..., src/cluster.c), against real
 * TLS-only clusters (tests/support/cluster_spawn.h, rc_start_ex with the
 * certificates of tests/support/tls_certs.h). Checked here:
 *   - acquire, extend and release of resources in every shard: each key
 *     is on its slot's master with our token, and a release deletes it
 *     (TTLs are long, so expiry cannot pass for a release);
 *   - the slot map comes from CLUSTER SHARDS, whose masters have only a
 *     "tls-port" (Redis 7.0 gives no "port" when the plaintext port is
 *     0): with the map in, fresh keys go to their master without MOVED;
 *   - the servers have no plaintext port at all (port 0, bus and
 *     replication over TLS), so every success above is over TLS;
 *   - a CA that did not sign the servers: the node's vote fails with
 *     REDLOCK_ETLS ("certificate verify failed") and nothing is written;
 *   - mutual TLS (servers asking for a client certificate): a manager
 *     without one fails with REDLOCK_ETLS, one with ours locks;
 *   - redirects over TLS, with replicas replicating over TLS: a lock's
 *     slot migrated (its extension follows MOVED to the new master's TLS
 *     port), and a replica promoted by CLUSTER FAILOVER (reached by a
 *     fresh lock in its slots).
 *
 * DESIGN
 *  - One CA (tls_certs) for the whole file, made in the group setup: a
 *    set takes tens of milliseconds, a cluster a few seconds, so each
 *    test starts its own cluster and shares the files.
 *  - "Over TLS" is proved by the servers' configuration (CONFIG GET port
 *    is 0: nothing listens in the clear), not by counting connections:
 *    a count would also need the fixture's own connections excluded.
 *  - The tls-port path of apply_shards is proved by the absence of MOVED
 *    for keys locked after the map is in: a map that failed to load
 *    (a missing port) would still work through MOVED from the first
 *    shard, so plain success would not show it.
 *  Rejected: adding these cases to test_cluster_node.c (a plain cluster
 *  per test there; mixing certificates in would make every test pay for
 *  them) or to test_tls.c (standalone servers, rl_cluster helpers that
 *  know nothing of slots).
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

#include <hiredis/hiredis.h>

#include "cluster_spawn.h"
#include "rl_test.h"
#include "tls_certs.h"

/* Resources per test: enough that every one of 3 shards gets some. */
enum { N_RES = 24 };

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
 * Node events: the last REDLOCK_ETLS message seen (any node name: a
 * cluster node reports for its shards)
 * ------------------------------------------------------------------------ */

typedef struct tls_events {
    pthread_mutex_t mu;
    int etls;              /* events with REDLOCK_ETLS */
    char last[256];        /* message of the last of them */
} tls_events;

static void on_node_event(const char *node, redlock_status st,
                          const char *message, void *userdata)
{
    tls_events *ev = userdata;
    (void)node;
    if (st != REDLOCK_ETLS)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->etls++;
    snprintf(ev->last, sizeof(ev->last), "%s", message);
    pthread_mutex_unlock(&ev->mu);
}

/* Argument of etls_seen(). */
typedef struct etls_wait {
    tls_events *ev;
    const char *what;      /* substring the message must have */
} etls_wait;

static bool etls_seen(void *arg)
{
    etls_wait *w = arg;
    pthread_mutex_lock(&w->ev->mu);
    bool ok = w->ev->etls > 0 && strstr(w->ev->last, w->what) != NULL;
    pthread_mutex_unlock(&w->ev->mu);
    return ok;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Start a TLS-only cluster of 3 masters (mutual TLS if auth_clients). */
static void start_tls_cluster(rc_cluster *c, int auth_clients)
{
    rc_options o;
    memset(&o, 0, sizeof(o));
    o.tls_cert_file = certs.server_cert;
    o.tls_key_file = certs.server_key;
    o.tls_ca_file = certs.ca_file;
    o.tls_auth_clients = auth_clients;
    if (auth_clients) {
        o.tls_client_cert_file = certs.client_cert;
        o.tls_client_key_file = certs.client_key;
    }
    assert_int_equal(rc_start_ex(c, 3, 0, &o), 0);
    assert_int_equal(c->tls, 1);
    assert_true(strncmp(c->uri, "rediss://", 9) == 0);
    assert_non_null(strstr(c->uri, "?cluster=yes&seed="));
}

/* The value of a CONFIG GET parameter on srv[i] ("name\nvalue"). */
static void config_get(rc_cluster *c, size_t i, const char *name, char *out,
                       size_t len)
{
    char reply[256];
    const char *argv[3] = {"CONFIG", "GET", name};
    assert_int_equal(rc_command(c, i, reply, sizeof(reply), 3, argv), 0);
    const char *nl = strchr(reply, '\n');
    assert_non_null(nl);
    snprintf(out, len, "%s", nl + 1);
}

/* Every server listens on TLS only: no plaintext port, and the bus and
 * replication are TLS too. */
static void assert_tls_only(rc_cluster *c)
{
    for (size_t i = 0; i < c->n; i++) {
        char v[64];
        config_get(c, i, "port", v, sizeof(v));
        assert_string_equal(v, "0");
        config_get(c, i, "tls-port", v, sizeof(v));
        assert_int_equal(atoi(v), c->srv[i].port);
        config_get(c, i, "tls-cluster", v, sizeof(v));
        assert_string_equal(v, "yes");
        config_get(c, i, "tls-replication", v, sizeof(v));
        assert_string_equal(v, "yes");
    }
}

/* The value after key in a flat key/value array (CLUSTER SHARDS), or
 * NULL. */
static const redisReply *field(const redisReply *r, const char *key)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[i]->str, key) == 0)
            return r->element[i + 1];
    return NULL;
}

/* The premise of the tls-port path: srv[0]'s CLUSTER SHARDS gives every
 * master its TLS port as "tls-port", and no plaintext "port" (Redis 7.0
 * leaves it out when it is 0; a port 0 would do as well). */
static void assert_shards_tls_port(rc_cluster *c)
{
    const char *argv[2] = {"CLUSTER", "SHARDS"};
    char err[256];
    redisReply *r = rs_command_reply(&c->srv[0], 2, argv, err, sizeof(err));
    if (r == NULL)
        fail_msg("CLUSTER SHARDS: %s", err);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    size_t masters = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *nodes = field(r->element[i], "nodes");
        assert_non_null(nodes);
        for (size_t k = 0; k < nodes->elements; k++) {
            const redisReply *nd = nodes->element[k];
            const redisReply *role = field(nd, "role");
            if (role == NULL || strcmp(role->str, "master") != 0)
                continue;
            const redisReply *tls_port = field(nd, "tls-port");
            const redisReply *port = field(nd, "port");
            assert_non_null(tls_port);
            assert_int_equal(tls_port->type, REDIS_REPLY_INTEGER);
            bool ours = false;
            for (size_t j = 0; j < c->n; j++)
                ours = ours || c->srv[j].port == tls_port->integer;
            assert_true(ours);
            if (port != NULL)
                assert_int_equal(port->integer, 0);
            masters++;
        }
    }
    assert_int_equal(masters, c->n_masters);
    freeReplyObject(r);
}

/* A manager on the cluster with test options, trusting ca_file, with a
 * client certificate if cert is not NULL; events into ev (may be NULL). */
static redlock_status make_manager(rc_cluster *c, const char *ca_file,
                                   const char *cert, const char *key,
                                   tls_events *ev, redlock_manager **m)
{
    redlock_options o;
    rl_test_options(&o, NULL);
    o.connect_timeout_ms = 3000;
    o.tls_ca_file = ca_file;
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    if (ev != NULL) {
        o.node_error_fn = on_node_event;
        o.node_error_userdata = ev;
    }
    const char *uris[1] = {c->uri};
    char err[256] = "";
    redlock_status st =
        redlock_manager_create_ex(uris, 1, &o, m, err, sizeof(err));
    if (st != REDLOCK_OK)
        print_message("manager_create: %s: %s\n", redlock_strerror(st), err);
    return st;
}

/* A counter of INFO summed over the masters (0 where Redis omits it). */
static long long sum_on_masters(rc_cluster *c, const char *section,
                                const char *prefix)
{
    long long t = rc_info_sum(c, section, prefix);
    assert_true(t >= 0);
    return t;
}

/* Acquire N_RES resources named prefix-<i> (30 s), check each key is on
 * its slot's master with our token and that every master got some. */
static void acquire_all(rc_cluster *c, redlock_manager *m, const char *prefix,
                        redlock_lock **locks)
{
    bool shard_seen[RC_MAX_SERVERS] = {false};
    for (int i = 0; i < N_RES; i++) {
        char res[48], val[128];
        snprintf(res, sizeof(res), "%s-%d", prefix, i);
        assert_int_equal(redlock_acquire(m, res, 30000, &locks[i]),
                         REDLOCK_OK);
        int master = rc_master_of_slot(c, rc_keyslot(c, res));
        assert_true(master >= 0 && (size_t)master < c->n_masters);
        shard_seen[master] = true;
        assert_int_equal(rc_get(c, res, val, sizeof(val)), 0);
        assert_non_null(strstr(val, redlock_lock_token(locks[i])));
    }
    for (size_t i = 0; i < c->n_masters; i++)
        assert_true(shard_seen[i]);
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

/* Acquire, extend and release across every shard of a TLS-only cluster;
 * the map from CLUSTER SHARDS' tls-port routes without MOVED. */
static void test_lock_cycle_over_tls_cluster(void **state)
{
    (void)state;
    rc_cluster c;
    start_tls_cluster(&c, 0);
    assert_tls_only(&c);
    assert_shards_tls_port(&c);
    /* The fixture asks too: count only what the manager adds. */
    long long shards0 = sum_on_masters(&c, "commandstats",
                                       "cmdstat_cluster|shards:calls=");
    redlock_manager *m = NULL;
    assert_int_equal(make_manager(&c, certs.ca_file, NULL, NULL, NULL, &m),
                     REDLOCK_OK);
    redlock_lock *locks[N_RES];
    acquire_all(&c, m, "tlscl", locks);
    assert_int_equal(0, rc_await_total_keys(&c, N_RES, 5000));
    /* Extend: the TTLs on the masters move up to the new one. */
    for (int i = 0; i < N_RES; i++)
        assert_int_equal(redlock_extend(locks[i], 60000), REDLOCK_OK);
    for (int i = 0; i < N_RES; i += 5) {
        char res[48];
        snprintf(res, sizeof(res), "tlscl-%d", i);
        long long pttl = rc_pttl(&c, res);
        assert_true(pttl > 30000 && pttl <= 60000);
    }
    for (int i = 0; i < N_RES; i++)
        assert_int_equal(redlock_release(locks[i]), REDLOCK_OK);
    /* Deleted by the releases (TTLs are 60 s). */
    assert_int_equal(0, rc_await_total_keys(&c, 0, 5000));

    /* The map came from CLUSTER SHARDS (the masters there have a
     * tls-port and no port) and routes by itself: fresh keys in every
     * shard cost no MOVED. */
    long long shards = sum_on_masters(&c, "commandstats",
                                      "cmdstat_cluster|shards:calls=") -
                       shards0;
    assert_true(shards > 0);
    long long moved0 =
        sum_on_masters(&c, "errorstats", "errorstat_MOVED:count=");
    acquire_all(&c, m, "tlscl2", locks);
    for (int i = 0; i < N_RES; i++)
        assert_int_equal(redlock_release(locks[i]), REDLOCK_OK);
    long long moved =
        sum_on_masters(&c, "errorstats", "errorstat_MOVED:count=") - moved0;
    print_message("CLUSTER SHARDS calls %lld; MOVED after the map: %lld\n",
                  shards, moved);
    assert_int_equal(moved, 0);
    assert_int_equal(0, rc_await_total_keys(&c, 0, 5000));
    redlock_manager_destroy(m);
    rc_stop(&c);
}

/* A CA that did not sign the servers: the vote fails with REDLOCK_ETLS
 * (a configuration failure: no retry helps, so the acquire stops at
 * once) and nothing is written anywhere. */
static void test_wrong_ca(void **state)
{
    (void)state;
    rc_cluster c;
    start_tls_cluster(&c, 0);
    tls_events ev;
    memset(&ev, 0, sizeof(ev));
    pthread_mutex_init(&ev.mu, NULL);
    redlock_manager *m = NULL;
    assert_int_equal(
        make_manager(&c, certs.other_ca_file, NULL, NULL, &ev, &m),
        REDLOCK_OK);
    redlock_acquire_info info;
    memset(&info, 0, sizeof(info));
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.info = &info;
    ao.retry_count = 50;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire_ex(m, "tlscl-ca", 8, 10000, &ao, &l),
                     REDLOCK_ETLS);
    assert_null(l);
    assert_true(info.attempts <= 2); /* the first refusal decides */
    assert_int_equal(info.node_status[0], REDLOCK_ETLS);
    etls_wait w = {&ev, "certificate verify failed"};
    assert_true(rl_await(etls_seen, &w, 10000));
    redlock_node_view v[1];
    assert_int_equal(redlock_inspect(m, "tlscl-ca", 8, v, 1), REDLOCK_OK);
    assert_int_equal(v[0].reachable, 0);
    assert_int_equal(v[0].error, REDLOCK_ETLS);
    redlock_manager_destroy(m);
    assert_int_equal(rc_total_keys(&c), 0);
    pthread_mutex_destroy(&ev.mu);
    rc_stop(&c);
}

/* Mutual TLS: the servers ask for a client certificate; a manager
 * without one gets REDLOCK_ETLS and writes nothing, one with ours locks
 * in every shard. */
static void test_mutual_tls_cluster(void **state)
{
    (void)state;
    rc_cluster c;
    start_tls_cluster(&c, 1);
    tls_events ev;
    memset(&ev, 0, sizeof(ev));
    pthread_mutex_init(&ev.mu, NULL);
    redlock_manager *m = NULL;
    assert_int_equal(make_manager(&c, certs.ca_file, NULL, NULL, &ev, &m),
                     REDLOCK_OK);
    redlock_lock *l = NULL;
    assert_int_not_equal(redlock_try_acquire(m, "tlscl-m", 10000, &l),
                         REDLOCK_OK);
    assert_null(l);
    etls_wait w = {&ev, "certificate required"};
    assert_true(rl_await(etls_seen, &w, 10000));
    redlock_manager_destroy(m);
    m = NULL;
    assert_int_equal(rc_total_keys(&c), 0);

    assert_int_equal(make_manager(&c, certs.ca_file, certs.client_cert,
                                  certs.client_key, NULL, &m),
                     REDLOCK_OK);
    redlock_lock *locks[N_RES];
    acquire_all(&c, m, "tlscl-m", locks);
    assert_int_equal(0, rc_await_total_keys(&c, N_RES, 5000));
    for (int i = 0; i < N_RES; i++)
        assert_int_equal(redlock_release(locks[i]), REDLOCK_OK);
    assert_int_equal(0, rc_await_total_keys(&c, 0, 5000));
    redlock_manager_destroy(m);
    pthread_mutex_destroy(&ev.mu);
    rc_stop(&c);
}

/* A resource name whose slot master `want` serves, into res. */
static void resource_on(rc_cluster *c, int want, const char *prefix,
                        char *res, size_t len)
{
    for (int i = 0; i < 10000; i++) {
        snprintf(res, len, "%s-%d", prefix, i);
        if (rc_master_of_slot(c, rc_keyslot(c, res)) == want)
            return;
    }
    fail_msg("no resource found on server %d", want);
}

/* Assert that res's key is on server `on` with l's token. */
static void assert_key_on(rc_cluster *c, const char *res, int on,
                          redlock_lock *l)
{
    char val[128];
    assert_int_equal(rc_master_of_slot(c, rc_keyslot(c, res)), on);
    assert_int_equal(rc_get(c, res, val, sizeof(val)), 0);
    assert_non_null(strstr(val, redlock_lock_token(l)));
}

/* Redirects over TLS: a slot migrated with a lock held (the extension
 * follows MOVED to the new master's TLS port), and a replica promoted
 * by CLUSTER FAILOVER (replication over TLS; a fresh lock in its slots
 * reaches it through MOVED or the refreshed map). The restart guard is
 * off: the promoted replica is guarded otherwise (test_cluster_node
 * checks that part), and this test is about reaching it. */
static void test_redirects_over_tls(void **state)
{
    (void)state;
    rc_cluster c;
    rc_options o;
    memset(&o, 0, sizeof(o));
    o.tls_cert_file = certs.server_cert;
    o.tls_key_file = certs.server_key;
    o.tls_ca_file = certs.ca_file;
    assert_int_equal(rc_start_ex(&c, 3, 1, &o), 0);
    assert_tls_only(&c);
    redlock_options ro;
    rl_test_options(&ro, NULL);
    ro.connect_timeout_ms = 3000;
    ro.tls_ca_file = certs.ca_file;
    ro.restart_guard_ms = 0;
    const char *uris[1] = {c.uri};
    redlock_manager *m = NULL;
    char err[256] = "";
    assert_int_equal(redlock_manager_create_ex(uris, 1, &ro, &m, err,
                                               sizeof(err)),
                     REDLOCK_OK);

    /* Migration: the lock's slot moves from master 0 to master 1. */
    char res[48];
    resource_on(&c, 0, "tlsmv", res, sizeof(res));
    int slot = rc_keyslot(&c, res);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(m, res, 30000, &l), REDLOCK_OK);
    assert_key_on(&c, res, 0, l);
    long long moved0 =
        sum_on_masters(&c, "errorstats", "errorstat_MOVED:count=");
    assert_int_equal(rc_migrate_slot(&c, slot, 0, 1), 0);
    assert_key_on(&c, res, 1, l);
    assert_int_equal(redlock_extend(l, 60000), REDLOCK_OK);
    long long pttl = rc_pttl(&c, res);
    assert_true(pttl > 30000 && pttl <= 60000);
    /* Master 0 sent the extension on: it answered MOVED over TLS. */
    assert_true(sum_on_masters(&c, "errorstats", "errorstat_MOVED:count=") >
                moved0);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_int_equal(0, rc_await_total_keys(&c, 0, 5000));

    /* Failover: the replica of master 2 takes over its slots. */
    size_t replica = c.n;
    for (size_t i = c.n_masters; i < c.n; i++) {
        char rep[1024];
        const char *argv[2] = {"INFO", "replication"};
        char want[32];
        assert_int_equal(rc_command(&c, i, rep, sizeof(rep), 2, argv), 0);
        snprintf(want, sizeof(want), "master_port:%d", c.srv[2].port);
        if (strstr(rep, want) != NULL)
            replica = i;
    }
    assert_true(replica < c.n);
    resource_on(&c, 2, "tlsfo", res, sizeof(res));
    /* The manager knows master 2 before the failover. */
    assert_int_equal(redlock_acquire(m, res, 30000, &l), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_int_equal(rc_failover(&c, replica), 0);
    assert_int_equal(rc_is_master(&c, replica), 1);
    assert_int_equal(redlock_acquire(m, res, 30000, &l), REDLOCK_OK);
    assert_key_on(&c, res, (int)replica, l);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    /* On the promoted replica too (rc_total_keys counts masters now). */
    assert_int_equal(0, rc_await_total_keys(&c, 0, 5000));
    redlock_manager_destroy(m);
    rc_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_cycle_over_tls_cluster),
        cmocka_unit_test(test_wrong_ca),
        cmocka_unit_test(test_mutual_tls_cluster),
        cmocka_unit_test(test_redirects_over_tls),
    };
    return cmocka_run_group_tests(tests, setup_certs, remove_certs);
}
