/*
 * test_fault_failover.c: fault scenario "failover inside a cluster /
 * Sentinel node" (docs/safety.md 5.1, 5.2).
 *
 * One Redlock node that is a whole Redis Cluster (3 masters, 1 replica
 * each) or a Sentinel-managed master (1 replica, 3 sentinels). A failover
 * inside it promotes a replica that asynchronous replication may have
 * left without keys the old master acknowledged: a restart as far as
 * Redlock is concerned. The library guards the promoted master (no yes
 * votes, no extends) for the guard time after it first meets it; the
 * default guard (AUTO) is the largest TTL the manager sent.
 *
 * Runs, for the cluster and for the Sentinel group:
 *   - contended: 2 client processes x 4 threads (2 with leases) and 2
 *     observer leases contend for fr-0 .. fr-3 ({fr}-0 .. {fr}-3 in the
 *     cluster: one shard) with the default guard; at +1500 ms the node
 *     fails over (the cluster: the shard serving them) and every fr-*
 *     key on the promoted master is deleted the moment it says
 *     role:master (the writes replication lost). Must hold:
 *     no overlap, no late loss, no hang, no lease that ran out silently,
 *     and grants again after the guard. The summary says how many grants
 *     before the promotion, from it until the fixture saw the failover
 *     complete (the clients still on the old master), in the guard's TTL
 *     after that, and after, and how many failed acquires met EGUARDED
 *     ("restart guard" messages are counted too);
 *   - controls (fh_failover_control()): A holds "ctl" (30 s), B (created
 *     before the failover, used once) asks after the failover and the key
 *     loss. Guard off: B gets it, the checker finds exactly 1 overlap (the
 *     hazard is real and the checker sees it); AUTO: B is refused with
 *     EGUARDED and the checker finds none.
 *
 * DESIGN
 * The "lost writes" are made by deleting keys at the promotion (from the
 * fixtures' poll, fh_failover()), not by cutting replication before the
 * failover: a replica whose link is down cannot be promoted by a graceful
 * failover, and a forced one of a stopped master is the restart scenario
 * again. Deleting every fr-* key is the worst case replication can give.
 * Rejected: waiting for a contender to land in the gap (the overlap with
 * the guard off would then be a matter of timing; the controls make it
 * deterministic, as fh_restart_control() does for restarts); more than
 * one Redlock node per run (each node is 5-6 servers on 2 cores; with
 * one node the node's vote alone decides, which is the sharpest test of
 * its guard).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "fault_harness.h"

/* Resources the clients contend for, deleted on the promoted master. */
#define RESOURCES 4

/* The contended run on one node of kind. In the cluster the resources
 * carry a hash tag, {fr}-0 .. {fr}-3: all on the shard that fails over
 * (spread over three shards, the one failed over held one or two of them
 * and, at the promotion, often no key at all). */
static void contended_run(fh_run *r, fh_node_kind kind, const char *name)
{
    static const char *const plain[RESOURCES] = {"fr-0", "fr-1", "fr-2",
                                                 "fr-3"};
    static const char *const tagged[RESOURCES] = {"{fr}-0", "{fr}-1", "{fr}-2",
                                                  "{fr}-3"};
    const bool cluster = kind == FH_NODE_CLUSTER;
    const char *const *keys = cluster ? tagged : plain;
    fh_config cfg;
    fh_config_init(&cfg, name);
    cfg.nodes = 1;
    cfg.node_kind = kind;
    cfg.resources = RESOURCES;
    cfg.resource_prefix = cluster ? "{fr}-" : "fr-";
    cfg.lease_threads = 2; /* long holds that span the failover */
    cfg.run_ms = 7000;     /* the failover (1-3 s), the guard, then more */
    cfg.watch_text = "restart guard";
    assert_int_equal(fh_start(r, &cfg), 0);
    assert_int_equal(fh_observe_start(r, 2), 0);

    fh_at(r, 1500);
    fh_failover_info fi;
    assert_int_equal(fh_failover(r, 0, keys[0], keys, RESOURCES, &fi), 0);
    uint64_t guard_us = (uint64_t)cfg.ttl_ms * 1000u;
    /* Until the clients learn of the new master (about when the fixture
     * sees the failover complete) they keep using the old one; then the
     * promoted master is guarded for a TTL (AUTO). */
    fh_window(r, "before", r->start_us, fi.promoted_us);
    fh_window(r, "switch", fi.promoted_us, fi.done_us);
    fh_window(r, "guard", fi.done_us, fi.done_us + guard_us);
    fh_window(r, "after", fi.done_us + guard_us + 500000u, r->end_us);

    fh_observe_stop(r);
    assert_int_equal(fh_finish(r), 0);
    fh_summary(r,
               "node=%s guard=auto promoted_ms=%.0f complete_ms=%.0f "
               "keys_deleted=%zu grants_before=%zu grants_switch=%zu "
               "grants_guard=%zu grants_after=%zu eguarded=%llu "
               "guard_msgs=%llu",
               cluster ? "cluster" : "sentinel",
               ((double)fi.promoted_us - (double)r->start_us) / 1000.0,
               ((double)fi.done_us - (double)r->start_us) / 1000.0, fi.deleted,
               fh_grants_in(r, "before"), fh_grants_in(r, "switch"),
               fh_grants_in(r, "guard"), fh_grants_in(r, "after"),
               (unsigned long long)r->total.guarded,
               (unsigned long long)r->total.watch_hits);
    assert_int_equal(r->faults, 1);
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_true(fh_grants_in(r, "before") > 0);
    assert_true(fh_grants_in(r, "after") > 0);
}

static void test_failover_cluster(void **state)
{
    contended_run(*state, FH_NODE_CLUSTER, "failover_cluster");
}

static void test_failover_sentinel(void **state)
{
    contended_run(*state, FH_NODE_SENTINEL, "failover_sentinel");
}

/* The control with the guard off: the hazard, seen by the checker. */
static void control_off(fh_run *r, fh_node_kind kind)
{
    fh_control ctl;
    assert_int_equal(fh_failover_control(r, kind, 0, &ctl), 0);
    assert_int_equal(ctl.a_status, REDLOCK_OK);
    assert_int_equal(ctl.deleted, 1);
    assert_int_equal(ctl.b_status, REDLOCK_OK);
    assert_int_equal(ctl.rep.holds, 2);
    assert_int_equal(ctl.rep.overlaps, 1);
    assert_int_equal(ctl.rep.late_losses, 0);
}

/* The control with the default guard: B is refused while A holds. */
static void control_auto(fh_run *r, fh_node_kind kind)
{
    fh_control ctl;
    assert_int_equal(
        fh_failover_control(r, kind, REDLOCK_RESTART_GUARD_AUTO, &ctl), 0);
    assert_int_equal(ctl.a_status, REDLOCK_OK);
    assert_int_equal(ctl.deleted, 1);
    assert_int_not_equal(ctl.b_status, REDLOCK_OK);
    assert_true(ctl.b_guarded);
    assert_int_equal(ctl.rep.holds, 1);
    assert_int_equal(ctl.rep.overlaps, 0);
    assert_int_equal(ctl.rep.late_losses, 0);
}

static void test_control_cluster_off(void **state)
{
    control_off(*state, FH_NODE_CLUSTER);
}

static void test_control_cluster_auto(void **state)
{
    control_auto(*state, FH_NODE_CLUSTER);
}

static void test_control_sentinel_off(void **state)
{
    control_off(*state, FH_NODE_SENTINEL);
}

static void test_control_sentinel_auto(void **state)
{
    control_auto(*state, FH_NODE_SENTINEL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failover_cluster, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_failover_sentinel, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_control_cluster_off, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_control_cluster_auto, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_control_sentinel_off, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_control_sentinel_auto, fh_setup,
                                        fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
