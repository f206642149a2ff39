/*
 * test_cluster_node.c: a Redis Cluster as one Redlock node
 * (redis://H:P?cluster=yes&seed=..., src/cluster.c), against real
 * clusters made with redis-cli --cluster create (tests/support/
 * cluster_spawn.h). Checked here:
 *   - acquire, extend and release of resources in every shard: each key
 *     is on its slot's master, and a release deletes it (TTLs are long, so
 *     expiry cannot pass for a release);
 *   - the fast path writes to the key's shard on the calling thread;
 *   - the slot map comes from CLUSTER SHARDS, or CLUSTER SLOTS where that
 *     is refused; with it in, keys go to their master without MOVED;
 *     while used, it is asked for about once a second, not on every
 *     submit;
 *   - a multi-resource lock with one hash tag works (both keys on one
 *     master); without one it is refused at once with REDLOCK_ECROSSSLOT
 *     and leaves nothing behind; election names follow the same rule;
 *   - slot migration under load (SETSLOT MIGRATING/IMPORTING, MIGRATE,
 *     SETSLOT NODE): acquires in the moving slot keep succeeding through
 *     ASK (ASKING reaches the target) and MOVED (the source answers it),
 *     with no double grant;
 *   - a failback to a master that served the slots before, but not since,
 *     is guarded too;
 *   - one cluster given as two nodes (different seeds) votes once;
 *   - TRYAGAIN (keys split by a migration) is sent again after a short
 *     wait, a bounded number of times;
 *   - a shard master killed: once the cluster promotes its replica, the
 *     node locks on it again (no MOVED comes from a dead server);
 *   - a master with no replica killed: the cluster is down, its live
 *     masters answer CLUSTERDOWN, a failed vote (no grant, no wait,
 *     nothing written);
 *   - CLUSTER FAILOVER while a lock is held, the new master lacking its
 *     key (as asynchronous replication may leave it): with the restart
 *     guard, a rival manager gets no grant while the holder's validity
 *     lasts; with the guard off, the overlap is visible.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_spawn.h"
#include "manager.h"
#include "node.h"
#include "rl_test.h"

/* Acquire, extend and release in every shard. */
static void test_acquire_extend_release_across_slots(void **state)
{
    (void)state;
    rc_cluster c;
    assert_int_equal(rc_start(&c, 3, 0), 0);
    const char *uris[1] = {c.uri};
    redlock_manager *m = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
    enum { N = 48 };
    redlock_lock *locks[N];
    bool shard_seen[RC_MAX_SERVERS] = {false};
    for (int i = 0; i < N; i++) {
        char res[32];
        snprintf(res, sizeof(res), "cl-res-%d", i);
        assert_int_equal(redlock_acquire(m, res, 30000,
                                         &locks[i]),
                         REDLOCK_OK);
        /* The key is on its slot's master, with our token. */
        int master = rc_master_of_slot(&c, rc_keyslot(&c, res));
        assert_true(master >= 0);
        shard_seen[master] = true;
        char val[128];
        assert_int_equal(rc_get(&c, res, val, sizeof(val)), 0);
        assert_non_null(strstr(val, redlock_lock_token(locks[i])));
    }
    for (size_t i = 0; i < c.n_masters; i++)
        assert_true(shard_seen[i]); /* every shard was used */
    assert_int_equal(0, rc_await_total_keys(&c, N, 5000));
    /* Extend: the TTL on the master moves up to the new one. */
    for (int i = 0; i < N; i++)
        assert_int_equal(redlock_extend(locks[i], 60000), REDLOCK_OK);
    long long pttl = rc_pttl(&c, "cl-res-7");
    assert_true(pttl > 30000 && pttl <= 60000);
    for (int i = 0; i < N; i++)
        assert_int_equal(redlock_release(locks[i]), REDLOCK_OK);
    /* Deleted by the releases (TTLs are 60 s). */
    assert_int_equal(0, rc_await_total_keys(&c, 0, 5000));
    redlock_manager_destroy(m);
    rc_stop(&c);
}

/* Calls of a subcommand on every master ("cmdstat_cluster|shards"). */
static long long calls_on_masters(rc_cluster *c, const char *stat)
{
    long long t = rc_info_sum(c, "commandstats", stat);
    assert_true(t >= 0);
    return t;
}

/* The map comes from CLUSTER SHARDS; where that is refused (an ACL here,
 * as on a server before Redis 7), from CLUSTER SLOTS. */
static void test_map_from_shards_or_slots(void **state)
{
    (void)state;
    for (int deny = 0; deny < 2; deny++) {
        rc_cluster c;
        assert_int_equal(rc_start(&c, 3, 0), 0);
        if (deny)
            for (size_t i = 0; i < c.n; i++) {
                char out[256];
                const char *acl[4] = {"ACL", "SETUSER", "default",
                                      "-cluster|shards"};
                assert_int_equal(rc_command(&c, i, out, sizeof(out), 4, acl),
                                 0);
                assert_string_equal(out, "OK");
            }
        /* The fixture asks too: count only what the manager adds. */
        long long shards0 =
            calls_on_masters(&c, "cmdstat_cluster|shards:calls=");
        long long slots0 =
            calls_on_masters(&c, "cmdstat_cluster|slots:calls=");
        const char *uris[1] = {c.uri};
        redlock_manager *m = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
        /* Keys in every shard: the first ones may take a MOVED until the
         * map is in. */
        for (int i = 0; i < 24; i++) {
            char res[32];
            snprintf(res, sizeof(res), "map-%d", i);
            redlock_lock *lk = NULL;
            assert_int_equal(redlock_acquire(m, res, 30000, &lk), REDLOCK_OK);
            assert_int_equal(redlock_release(lk), REDLOCK_OK);
        }
        long long shards =
            calls_on_masters(&c, "cmdstat_cluster|shards:calls=") - shards0;
        long long slots =
            calls_on_masters(&c, "cmdstat_cluster|slots:calls=") - slots0;
        print_message("%s: CLUSTER SHARDS %lld, CLUSTER SLOTS %lld calls\n",
                      deny ? "SHARDS denied" : "default", shards, slots);
        if (deny) {
            assert_true(slots > 0);
        } else {
            assert_true(shards > 0);
            assert_int_equal(slots, 0);
        }
        /* Once the map is in, routing needs no redirect: 24 fresh keys
         * cost no MOVED. */
        long long moved0 = 0;
        for (size_t i = 0; i < c.n_masters; i++)
            moved0 += rs_info_count(&c.srv[i], "errorstats",
                                    "errorstat_MOVED:count=");
        for (int i = 0; i < 24; i++) {
            char res[32];
            snprintf(res, sizeof(res), "map2-%d", i);
            redlock_lock *lk = NULL;
            assert_int_equal(redlock_acquire(m, res, 30000, &lk), REDLOCK_OK);
            assert_int_equal(redlock_release(lk), REDLOCK_OK);
        }
        long long moved1 = 0;
        for (size_t i = 0; i < c.n_masters; i++)
            moved1 += rs_info_count(&c.srv[i], "errorstats",
                                    "errorstat_MOVED:count=");
        assert_int_equal(moved1, moved0);
        redlock_manager_destroy(m);
        rc_stop(&c);
    }
}

/* While the node is used, the map is asked for once a second (a master
 * that died sends no MOVED), not on every submit once 100 ms passed:
 * that was ten CLUSTER SHARDS a second per node, each keeping a shard's
 * connection off the fast path while it ran. An upper bound: a slow
 * machine makes fewer cycles, never more requests. */
static void test_map_refresh_cadence(void **state)
{
    (void)state;
    rc_cluster c;
    assert_int_equal(rc_start(&c, 3, 0), 0);
    const char *uris[1] = {c.uri};
    redlock_manager *m = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
    redlock_lock *lk = NULL;
    assert_int_equal(redlock_acquire(m, "cad-warm", 30000, &lk), REDLOCK_OK);
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    long long before = calls_on_masters(&c, "cmdstat_cluster|shards:calls=");
    uint64_t t0 = rl_now_us();
    long cycles = 0;
    while (rl_now_us() - t0 < 3000000u) {
        char res[32];
        snprintf(res, sizeof(res), "cad-%ld", cycles++ % 64);
        assert_int_equal(redlock_acquire(m, res, 30000, &lk), REDLOCK_OK);
        assert_int_equal(redlock_release(lk), REDLOCK_OK);
    }
    double secs = (double)(rl_now_us() - t0) / 1e6;
    long long asked =
        calls_on_masters(&c, "cmdstat_cluster|shards:calls=") - before;
    print_message("%ld cycles in %.1f s: CLUSTER SHARDS asked %lld times\n",
                  cycles, secs, asked);
    assert_true(asked >= 1);                      /* it is asked */
    assert_true((double)asked <= secs / 1.0 + 2); /* about once a second */
    redlock_manager_destroy(m);
    rc_stop(&c);
}

/* The fast path reaches a cluster node's shards: an uncontended acquire
 * and release on an idle node are written by the calling thread, to the
 * key's master, with no worker hand-off (node.h, redlock__node_try_send). */
static void test_fast_path_to_shards(void **state)
{
    (void)state;
    rc_cluster c;
    assert_int_equal(rc_start(&c, 3, 0), 0);
    const char *uris[1] = {c.uri};
    redlock_manager *m = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
    /* Warm-up: connections made and the map in (a MOVED or the map
     * question go through the workers). */
    for (int i = 0; i < 24; i++) {
        char res[32];
        snprintf(res, sizeof(res), "fpw-%d", i);
        redlock_lock *lk = NULL;
        assert_int_equal(redlock_acquire(m, res, 30000, &lk), REDLOCK_OK);
        assert_int_equal(redlock_release(lk), REDLOCK_OK);
    }
    assert_int_equal(0, rc_await_total_keys(&c, 0, 5000));
    /* A cycle may take the workers' path when a worker is mid-pass on a
     * loaded machine (the fast path only tries the lock): try a few, one
     * must be written inline entirely. */
    bool inline_cycle = false;
    for (int k = 0; k < 20 && !inline_cycle; k++) {
        uint64_t inl0, wrk0, inl1, wrk1;
        redlock__node_write_counts(m->nodes[0], &inl0, &wrk0);
        char res[32];
        snprintf(res, sizeof(res), "fp-%d", k);
        redlock_lock *lk = NULL;
        assert_int_equal(redlock_acquire(m, res, 30000, &lk), REDLOCK_OK);
        assert_int_equal(redlock_release(lk), REDLOCK_OK);
        assert_int_equal(0, rc_await_total_keys(&c, 0, 5000));
        redlock__node_write_counts(m->nodes[0], &inl1, &wrk1);
        inline_cycle = inl1 - inl0 == 2 && wrk1 == wrk0;
    }
    assert_true(inline_cycle);
    redlock_manager_destroy(m);
    rc_stop(&c);
}

/* Hash-tagged multi-resource locks work; others are refused at once. */
static void test_multi_key_needs_hash_tag(void **state)
{
    (void)state;
    rc_cluster c;
    assert_int_equal(rc_start(&c, 3, 0), 0);
    rs_server plain;
    assert_int_equal(rs_start(&plain), 0);
    const char *uris[2] = {plain.uri, c.uri};
    /* Two nodes: a plain server and the cluster (both must grant). */
    redlock_manager *m = rl_manager_on(uris, 2, REDLOCK_RESTART_GUARD_AUTO);

    const char *tagged[2] = {"{order42}:items", "{order42}:payment"};
    redlock_lock *lk = NULL;
    assert_int_equal(
        redlock_acquire_multi(m, (const void *const *)tagged, NULL, 2, 30000,
                              NULL, &lk),
        REDLOCK_OK);
    char v1[128], v2[128];
    assert_int_equal(rc_get(&c, tagged[0], v1, sizeof(v1)), 0);
    assert_int_equal(rc_get(&c, tagged[1], v2, sizeof(v2)), 0);
    assert_string_not_equal(v1, "(nil)");
    assert_string_equal(v1, v2);
    assert_int_equal(rc_master_of_slot(&c, rc_keyslot(&c, tagged[0])),
                     rc_master_of_slot(&c, rc_keyslot(&c, tagged[1])));
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    assert_int_equal(0, rc_await_total_keys(&c, 0, 5000));

    /* Different slots: refused before anything is sent. */
    const char *apart[2] = {"items", "payment"};
    assert_int_not_equal(rc_keyslot(&c, apart[0]),
                         rc_keyslot(&c, apart[1]));
    redlock_acquire_info info;
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.info = &info;
    lk = NULL;
    assert_int_equal(
        redlock_acquire_multi(m, (const void *const *)apart, NULL, 2, 30000,
                              &ao, &lk),
        REDLOCK_ECROSSSLOT);
    assert_null(lk);
    assert_int_equal(info.last_status, REDLOCK_ECROSSSLOT);
    assert_int_equal(rs_dbsize(&plain), 0); /* not even the plain node */
    assert_int_equal(rc_total_keys(&c), 0);
    assert_non_null(strstr(redlock_strerror(REDLOCK_ECROSSSLOT),
                           "hash tag"));

    /* Elections: "election:NAME" and its ":fence" must share a slot. */
    redlock_election *e = NULL;
    redlock_election_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    assert_int_equal(redlock_election_start(m, "jobs", 3000, &cb, NULL, &e),
                     REDLOCK_ECROSSSLOT);
    assert_null(e);
    redlock_leader_view lv;
    assert_int_equal(redlock_election_observe(m, "jobs", &lv),
                     REDLOCK_ECROSSSLOT);
    assert_int_equal(redlock_election_observe(m, "{jobs}", &lv),
                     REDLOCK_OK);
    assert_int_equal(lv.held, 0);
    redlock_manager_destroy(m);
    rs_stop(&plain);
    rc_stop(&c);
}

/* Load for the migration test: each thread locks its own resources of
 * the moving slot (and one elsewhere) over and over. A grant while the
 * same resource is held by this process is a double grant. */
enum { MIG_THREADS = 4, MIG_RES = 4 };
typedef struct mig_load {
    redlock_manager *m;
    int id;
    atomic_bool *stop;
    atomic_int held[MIG_RES];
    long ok, failed;
    redlock_status last_fail;
    long double_grants;
} mig_load;

static void *mig_thread(void *arg)
{
    mig_load *l = arg;
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.retry_count = 20;
    ao.retry_delay_ms = 20;
    unsigned k = 0;
    while (!atomic_load(l->stop)) {
        int r = (int)(k++ % MIG_RES);
        char res[48];
        snprintf(res, sizeof(res), "{mig}:t%d:r%d", l->id, r);
        redlock_lock *lk = NULL;
        redlock_status st =
            redlock_acquire_ex(l->m, res, strlen(res), 10000, &ao, &lk);
        if (st != REDLOCK_OK) {
            l->failed++;
            l->last_fail = st;
            continue;
        }
        if (atomic_fetch_add(&l->held[r], 1) != 0)
            l->double_grants++;
        __atomic_add_fetch(&l->ok, 1, __ATOMIC_RELAXED);
        atomic_fetch_sub(&l->held[r], 1);
        if (redlock_release(lk) != REDLOCK_OK) {
            l->failed++;
            l->last_fail = REDLOCK_EIO;
        }
    }
    return NULL;
}

/* What await_ok waits for: the load made n more grants. */
typedef struct progress {
    mig_load *loads;
    long from;
} progress;

static long total_ok(mig_load *loads)
{
    long t = 0;
    for (int i = 0; i < MIG_THREADS; i++)
        t += __atomic_load_n(&loads[i].ok, __ATOMIC_RELAXED);
    return t;
}

static bool progressed(void *arg)
{
    progress *p = arg;
    return total_ok(p->loads) >= p->from + 50;
}

static void await_progress(mig_load *loads)
{
    progress p = {loads, total_ok(loads)};
    assert_true(rl_await(progressed, &p, 20000));
}

/* A slot moves while acquires run in it: ASK, then MOVED, never a failed
 * or double grant. */
static void test_slot_migration_under_load(void **state)
{
    (void)state;
    rc_cluster c;
    assert_int_equal(rc_start(&c, 3, 0), 0);
    const char *uris[1] = {c.uri};
    redlock_manager *m = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
    int slot = rc_keyslot(&c, "{mig}");
    int from = rc_master_of_slot(&c, slot);
    assert_true(from >= 0);
    size_t to = ((size_t)from + 1) % c.n_masters;

    atomic_bool stop = false;
    mig_load loads[MIG_THREADS];
    pthread_t th[MIG_THREADS];
    memset(loads, 0, sizeof(loads));
    for (int i = 0; i < MIG_THREADS; i++) {
        loads[i].m = m;
        loads[i].id = i;
        loads[i].stop = &stop;
        assert_int_equal(pthread_create(&th[i], NULL, mig_thread, &loads[i]),
                         0);
    }
    await_progress(loads);
    long long asking0 = rs_info_count(&c.srv[to], "commandstats",
                                      "cmdstat_asking:calls=");
    long long moved0 = rs_info_count(&c.srv[from], "errorstats",
                                     "errorstat_MOVED:count=");
    /* MIGRATING/IMPORTING: new keys of the slot are made on the target
     * through ASK; the keys still on the source are moved over. */
    assert_int_equal(rc_migrate_begin(&c, slot, (size_t)from, to), 0);
    await_progress(loads);
    assert_true(rc_migrate_keys(&c, slot, (size_t)from, to) >= 0);
    await_progress(loads);
    assert_true(rc_migrate_keys(&c, slot, (size_t)from, to) >= 0);
    assert_int_equal(rc_migrate_end(&c, slot, (size_t)from, to), 0);
    /* Now the source answers MOVED; the router learns the new owner. */
    await_progress(loads);
    await_progress(loads);
    atomic_store(&stop, true);
    long ok = 0, failed = 0, doubles = 0;
    redlock_status last = REDLOCK_OK;
    for (int i = 0; i < MIG_THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += loads[i].ok;
        failed += loads[i].failed;
        doubles += loads[i].double_grants;
        if (loads[i].failed)
            last = loads[i].last_fail;
    }
    print_message("migration: %ld grants, %ld failed (last %s)\n", ok,
                  failed, redlock_strerror(last));
    assert_int_equal(doubles, 0);
    assert_int_equal(failed, 0);
    /* Both redirects were taken. */
    assert_true(rs_info_count(&c.srv[to], "commandstats",
                              "cmdstat_asking:calls=") > asking0);
    assert_true(rs_info_count(&c.srv[from], "errorstats",
                              "errorstat_MOVED:count=") > moved0);
    assert_int_equal(rc_master_of_slot(&c, slot), (int)to);
    /* Every release deleted its key, wherever it lived. */
    assert_int_equal(0, rc_await_total_keys(&c, 0, 5000));
    redlock_manager_destroy(m);
    rc_stop(&c);
}

/* A multi-key command whose keys a migration has split gets TRYAGAIN;
 * the shard's worker sends it again after a short wait, within the
 * deadline, a bounded number of times (the source counts each). */
static void test_tryagain_short_retry(void **state)
{
    (void)state;
    rc_cluster c;
    assert_int_equal(rc_start(&c, 3, 0), 0);
    const char *uris[1] = {c.uri};
    redlock_manager *m = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
    const char *keys[2] = {"{ta}:a", "{ta}:b"};
    redlock_lock *lk = NULL;
    assert_int_equal(redlock_acquire_multi(m, (const void *const *)keys,
                                           NULL, 2, 30000, NULL, &lk),
                     REDLOCK_OK);
    int slot = rc_keyslot(&c, "{ta}");
    int from = rc_master_of_slot(&c, slot);
    size_t to = ((size_t)from + 1) % c.n_masters;
    /* Half-migrated: the slot MIGRATING/IMPORTING, one key moved. */
    assert_int_equal(rc_migrate_begin(&c, slot, (size_t)from, to), 0);
    char out[256], port[16];
    snprintf(port, sizeof(port), "%d", c.srv[to].port);
    const char *mig[6] = {"MIGRATE", "127.0.0.1", port, keys[0], "0",
                          "5000"};
    assert_int_equal(rc_command(&c, (size_t)from, out, sizeof(out), 6, mig),
                     0);
    assert_string_equal(out, "OK");
    long long before = rs_info_count(&c.srv[from], "errorstats",
                                     "errorstat_TRYAGAIN:count=");
    /* The extend cannot succeed there while the keys are split: one
     * TRYAGAIN, then five short retries, then a failed vote. */
    redlock_status st = redlock_extend(lk, 30000);
    long long after = rs_info_count(&c.srv[from], "errorstats",
                                    "errorstat_TRYAGAIN:count=");
    print_message("extend on split keys: %s, TRYAGAIN answered %lld times\n",
                  redlock_strerror(st), after - before);
    assert_int_not_equal(st, REDLOCK_OK);
    assert_int_equal(after - before, 6);
    /* The migration ends: the same lock extends and releases again. */
    assert_true(rc_migrate_keys(&c, slot, (size_t)from, to) >= 0);
    assert_int_equal(rc_migrate_end(&c, slot, (size_t)from, to), 0);
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    assert_int_equal(0, rc_await_total_keys(&c, 0, 5000));
    redlock_manager_destroy(m);
    rc_stop(&c);
}

/* The replica whose master is srv[master], or -1. */
static int replica_of(rc_cluster *c, int master)
{
    return master < 0 ? -1 : rc_replica_of(c, (size_t)master);
}

/* A resource named prefix-<i> whose slot srv[master] does not serve, into
 * out; fails the test if none of 1000 is. */
static void resource_off(rc_cluster *c, int master, const char *prefix,
                         char *out, size_t len)
{
    for (int i = 0; i < 1000; i++) {
        snprintf(out, len, "%s-%d", prefix, i);
        int owner = rc_master_of_slot(c, rc_keyslot(c, out));
        if (owner >= 0 && owner != master)
            return;
    }
    fail_msg("no resource %s-* off srv[%d]", prefix, master);
}

/* Whether redlock_inspect() on m (one node) says res's server is in its
 * restart guard. */
static bool inspect_guarded(redlock_manager *m, const char *res)
{
    redlock_node_view v[1];
    assert_int_equal(redlock_inspect(m, res, strlen(res), v, 1), REDLOCK_OK);
    return v[0].reachable == 1 && v[0].error == REDLOCK_EGUARDED;
}

/* Hold a lock, fail its shard over, and lose its key on the new master;
 * return whether a rival manager got a grant while the holder's validity
 * lasted, and whether it saw EGUARDED. While it does, redlock_inspect()
 * says the resource's node is guarded, but not for a resource of a shard
 * that did not fail over. */
static void failover_run(uint32_t guard_ms, bool replica_seed,
                         bool *overlap, bool *guarded)
{
    rc_cluster c;
    assert_int_equal(rc_start(&c, 3, 1), 0);
    const char *res = "fo-res";
    int slot = rc_keyslot(&c, res);
    int master = rc_master_of_slot(&c, slot);
    int replica = replica_of(&c, master);
    assert_true(master >= 0 && replica >= 0);
    char other[32];
    resource_off(&c, master, "fo-other", other, sizeof(other));
    /* With replica_seed the replica is a seed too (a common way to list
     * a cluster): its worker exists, connected, before it is promoted. */
    char uri[1200];
    snprintf(uri, sizeof(uri), "%s", c.uri);
    if (replica_seed)
        snprintf(uri + strlen(uri), sizeof(uri) - strlen(uri),
                 "&seed=127.0.0.1:%d", c.srv[replica].port);
    const char *uris[1] = {uri};
    redlock_manager *holder = rl_manager_on(uris, 1, guard_ms);
    redlock_manager *rival = rl_manager_on(uris, 1, guard_ms);
    /* Both managers have met the old master (and learnt the map) before
     * the failover. */
    redlock_acquire_info info;
    redlock_lock *lk = NULL;
    for (int i = 0; i < 2; i++) {
        redlock_manager *mm = i == 0 ? holder : rival;
        for (int k = 0; k < 8; k++) {
            char warm[32];
            snprintf(warm, sizeof(warm), "fo-warm-%d-%d", i, k);
            redlock_status st = rl_try_once(mm, warm, 20000, &info, &lk);
            if (st != REDLOCK_OK)
                fail_msg("warm-up %s: %s: %s", warm, redlock_strerror(st),
                         info.detail);
            assert_int_equal(redlock_release(lk), REDLOCK_OK);
        }
    }
    /* The holder's lock. */
    assert_int_equal(rl_try_once(holder, res, 10000, &info, &lk), REDLOCK_OK);
    uint64_t valid_until =
        rl_now_us() + (uint64_t)redlock_lock_validity_ms(lk) * 1000u;
    /* Wait until the replica has the key, then fail over. */
    assert_int_equal(rc_failover(&c, (size_t)replica), 0);
    /* Asynchronous replication may lose an acknowledged write: make it so
     * on the new master. */
    char out[128];
    const char *del[2] = {"DEL", res};
    assert_int_equal(rc_command(&c, (size_t)replica, out, sizeof(out), 2,
                                del),
                     0);
    *overlap = false;
    *guarded = false;
    while (rl_now_us() + 200000 < valid_until) {
        redlock_lock *r = NULL;
        redlock_status st = rl_try_once(rival, res, 2000, &info, &r);
        if (st == REDLOCK_OK) {
            *overlap = rl_now_us() < valid_until;
            redlock_release(r);
            break;
        }
        if (info.node_status[0] == REDLOCK_EGUARDED && !*guarded) {
            *guarded = true;
            /* Per shard: [the longest guard of any shard once showed
             * for every resource]. The guard lasts the TTL (10 s) from
             * the failover; both reads come well within it. */
            assert_true(inspect_guarded(rival, res));
            assert_false(inspect_guarded(rival, other));
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL); /* the rival's retry pace, not a wait */
    }
    redlock_release(lk);
    redlock_manager_destroy(rival);
    redlock_manager_destroy(holder);
    rc_stop(&c);
}

/* Server i of cluster c, for the await predicates below. */
typedef struct role_wait {
    rc_cluster *c;
    size_t i;
} role_wait;

/* Condition: server i says role:master. */
static bool says_master(void *arg)
{
    role_wait *w = arg;
    return rc_is_master(w->c, w->i) == 1;
}

/* A shard master that dies sends no MOVED: once the cluster has promoted
 * its replica, the node learns the new master from the map (asked again
 * soon after the dead shard's connection failed) and locks there again,
 * after the promoted master's guard. No timing is asserted: how soon is
 * the bench's business. */
static void test_dead_master_replaced(void **state)
{
    (void)state;
    rc_cluster c;
    assert_int_equal(rc_start(&c, 3, 1), 0);
    const char *res = "dead-res";
    int master = rc_master_of_slot(&c, rc_keyslot(&c, res));
    int replica = replica_of(&c, master);
    assert_true(master >= 0 && replica >= 0);
    const char *uris[1] = {c.uri};
    redlock_manager *m = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
    redlock_acquire_info info;
    redlock_lock *lk = NULL;
    assert_int_equal(rl_try_once(m, res, 2000, &info, &lk), REDLOCK_OK);
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    rs_kill(&c.srv[master], 0);
    /* The cluster fails over by itself (cluster-node-timeout 1 s). */
    role_wait w = {&c, (size_t)replica};
    assert_true(rl_await(says_master, &w, 30000));
    redlock_status st = REDLOCK_ENOQUORUM;
    uint64_t promoted = rl_now_us();
    uint64_t until = promoted + 30000000u;
    while (rl_now_us() < until) {
        st = rl_try_once(m, res, 2000, &info, &lk);
        if (st == REDLOCK_OK)
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL); /* a client's retry pace, not a wait */
    }
    if (st != REDLOCK_OK)
        fail_msg("no grant after the failover: %s: %s", redlock_strerror(st),
                 info.detail);
    print_message("granted %.1f s after the promotion was seen (guard: the "
                  "2 s TTL)\n", (double)(rl_now_us() - promoted) / 1e6);
    char out[128];
    const char *get[2] = {"GET", res};
    assert_int_equal(rc_command(&c, (size_t)replica, out, sizeof(out), 2, get),
                     0);
    assert_non_null(strstr(out, redlock_lock_token(lk)));
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    redlock_manager_destroy(m);
    rc_stop(&c);
}

/* Condition: server i says cluster_state:fail. */
static bool cluster_state_fail(void *arg)
{
    role_wait *w = arg;
    char out[4096];
    const char *argv[2] = {"CLUSTER", "INFO"};
    return rc_command(w->c, w->i, out, sizeof(out), 2, argv) == 0 &&
           strstr(out, "cluster_state:fail") != NULL;
}

/* A cluster that lost a master with no replica is down (full coverage
 * required, the default): its live masters answer CLUSTERDOWN, which is
 * a failed vote: no grant, no hang, nothing written. */
static void test_clusterdown_is_failed_vote(void **state)
{
    (void)state;
    rc_cluster c;
    assert_int_equal(rc_start(&c, 3, 0), 0);
    const char *uris[1] = {c.uri};
    redlock_manager *m = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
    /* A resource on a master that stays up. */
    char res[32];
    int victim = 0;
    resource_off(&c, victim, "down", res, sizeof(res));
    int owner = rc_master_of_slot(&c, rc_keyslot(&c, res));
    redlock_acquire_info info;
    redlock_lock *lk = NULL;
    assert_int_equal(rl_try_once(m, res, 5000, &info, &lk), REDLOCK_OK);
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    assert_int_equal(0, rc_await_total_keys(&c, 0, 5000));
    rs_kill(&c.srv[victim], 0);
    role_wait w = {&c, (size_t)owner};
    assert_true(rl_await(cluster_state_fail, &w, 30000));
    uint64_t t0 = rl_now_us();
    redlock_status st = rl_try_once(m, res, 5000, &info, &lk);
    print_message("acquire on a down cluster: %s (%s) in %.0f ms\n",
                  redlock_strerror(st), info.detail,
                  (double)(rl_now_us() - t0) / 1000.0);
    assert_int_not_equal(st, REDLOCK_OK);
    assert_null(lk);
    assert_int_not_equal(info.node_status[0], REDLOCK_OK);
    assert_int_not_equal(info.node_status[0], REDLOCK_ETAKEN);
    assert_non_null(strstr(info.detail, "CLUSTERDOWN"));
    assert_int_equal(rs_dbsize(&c.srv[owner]), 0);
    redlock_manager_destroy(m);
    rc_stop(&c);
}

/* CLUSTER FAILOVER is a restart: the guard keeps the lock exclusive. */
static void test_failover_guard(void **state)
{
    (void)state;
    bool overlap, guarded;
    failover_run(REDLOCK_RESTART_GUARD_AUTO, false, &overlap, &guarded);
    print_message("guard on: overlap %d, EGUARDED seen %d\n", overlap,
                  guarded);
    assert_false(overlap);
    assert_true(guarded);
    /* The promoted replica was a seed, known before the failover: it is
     * guarded when it first serves slots. */
    failover_run(REDLOCK_RESTART_GUARD_AUTO, true, &overlap, &guarded);
    print_message("guard on, replica as seed: overlap %d, EGUARDED seen "
                  "%d\n", overlap, guarded);
    assert_false(overlap);
    assert_true(guarded);
    /* The same with the guard off: the rival is granted the lock the
     * holder still believes it holds. */
    failover_run(0, false, &overlap, &guarded);
    print_message("guard off: overlap %d\n", overlap);
    assert_true(overlap);
    assert_false(guarded);
}

/* What await_usable waits for: m grants res (and releases it). */
typedef struct usable_wait {
    redlock_manager *m;
    const char *res;
} usable_wait;

static bool grants(void *arg)
{
    usable_wait *w = arg;
    redlock_acquire_info info;
    redlock_lock *lk = NULL;
    if (rl_try_once(w->m, w->res, 1000, &info, &lk) != REDLOCK_OK)
        return false;
    redlock_release(lk);
    return true;
}

/* Fail over A -> B, use B once its guard passed, then fail back B -> A
 * with the key lost on A: A served slots before, but not since, so it is
 * guarded again (found by review: it was not). */
static void test_failback_guard(void **state)
{
    (void)state;
    rc_cluster c;
    assert_int_equal(rc_start(&c, 3, 1), 0);
    const char *res = "fb-res";
    int a = rc_master_of_slot(&c, rc_keyslot(&c, res));
    int b = replica_of(&c, a);
    assert_true(a >= 0 && b >= 0);
    const char *uris[1] = {c.uri};
    redlock_manager *holder = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
    redlock_manager *rival = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
    redlock_acquire_info info;
    redlock_lock *lk = NULL;
    /* Short TTLs: the AUTO guard is the largest TTL sent (4 s). */
    for (int i = 0; i < 2; i++) {
        redlock_manager *mm = i == 0 ? holder : rival;
        for (int k = 0; k < 8; k++) {
            char warm[32];
            snprintf(warm, sizeof(warm), "fb-warm-%d-%d", i, k);
            assert_int_equal(rl_try_once(mm, warm, 4000, &info, &lk),
                             REDLOCK_OK);
            assert_int_equal(redlock_release(lk), REDLOCK_OK);
        }
    }
    assert_int_equal(rc_failover(&c, (size_t)b), 0);
    usable_wait wh = {holder, res}, wr = {rival, res};
    assert_true(rl_await(grants, &wh, 30000)); /* B, after its guard */
    assert_true(rl_await(grants, &wr, 30000));
    /* The holder's lock, on B; then back to A, which lacks the key. */
    assert_int_equal(rl_try_once(holder, res, 4000, &info, &lk), REDLOCK_OK);
    uint64_t valid_until =
        rl_now_us() + (uint64_t)redlock_lock_validity_ms(lk) * 1000u;
    assert_int_equal(rc_failover(&c, (size_t)a), 0);
    char out[128];
    const char *del[2] = {"DEL", res};
    assert_int_equal(rc_command(&c, (size_t)a, out, sizeof(out), 2, del), 0);
    bool overlap = false;
    while (rl_now_us() + 200000 < valid_until) {
        redlock_lock *r = NULL;
        if (rl_try_once(rival, res, 2000, &info, &r) == REDLOCK_OK) {
            overlap = rl_now_us() < valid_until;
            redlock_release(r);
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL); /* the rival's retry pace, not a wait */
    }
    print_message("failback: overlap %d\n", overlap);
    assert_false(overlap);
    redlock_release(lk);
    redlock_manager_destroy(rival);
    redlock_manager_destroy(holder);
    rc_stop(&c);
}


/* One cluster given twice, through different seeds, votes once. */
static void test_same_cluster_twice(void **state)
{
    (void)state;
    rc_cluster c;
    assert_int_equal(rc_start(&c, 3, 0), 0);
    char other[128];
    snprintf(other, sizeof(other), "redis://127.0.0.1:%d?cluster=yes",
             c.srv[2].port);
    const char *uris[2] = {c.uri, other};
    redlock_manager *m = rl_manager_on(uris, 2, REDLOCK_RESTART_GUARD_AUTO);
    int dup = rl_await_dup(m, 2, 10000);
    assert_true(dup >= 0);
    /* Two nodes, one of them a duplicate: no quorum of 2, and the
     * configuration error is the answer. */
    redlock_acquire_info info;
    redlock_lock *lk = NULL;
    assert_int_equal(rl_try_once(m, "dup-res", 1000, &info, &lk),
                     REDLOCK_EDUPNODE);
    assert_int_equal(info.node_status[dup], REDLOCK_EDUPNODE);
    redlock_manager_destroy(m);
    rc_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acquire_extend_release_across_slots),
        cmocka_unit_test(test_multi_key_needs_hash_tag),
        cmocka_unit_test(test_map_from_shards_or_slots),
        cmocka_unit_test(test_map_refresh_cadence),
        cmocka_unit_test(test_fast_path_to_shards),
        cmocka_unit_test(test_slot_migration_under_load),
        cmocka_unit_test(test_tryagain_short_retry),
        cmocka_unit_test(test_failover_guard),
        cmocka_unit_test(test_dead_master_replaced),
        cmocka_unit_test(test_clusterdown_is_failed_vote),
        cmocka_unit_test(test_failback_guard),
        cmocka_unit_test(test_same_cluster_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
