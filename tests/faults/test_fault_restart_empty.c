/*
 * test_fault_restart_empty.c: fault scenario "node killed and restarted
 * empty, immediately" -- the documented hazard of docs/safety.md section 5.
 *
 * Nodes are killed with SIGKILL and restarted at once on the same port
 * without persistence, so they come back without the keys they held.
 * Two runs:
 *   - one node at a time, twice (keys live on all five nodes, so one empty
 *     node cannot hand a second holder a quorum);
 *   - a rolling restart of three nodes within one TTL, twice (a lock whose
 *     keys sat on those three loses its majority, and a second client can
 *     take it while the first still holds it).
 * The clients run with the library's default restart guard (AUTO: each
 * client process has sent its TTL to every node before the restarts, so
 * each guards the restarted nodes for that TTL; docs/safety.md, section
 * 5.1), and both runs must show no overlap. Without the guard, the
 * rolling run recorded overlaps (14 in the run of docs/safety.md): that
 * hazard, and the guard's own scenario, are in
 * test_fault_restart_rolling.c; delayed restarts and AOF with appendfsync
 * always remove it too (test_fault_restart_delayed.c,
 * test_fault_restart_aof.c). What must hold as well: no late loss, no
 * hang, and the clients carry on with the restarted nodes.
 * And a deterministic control (fh_restart_control()): A holds a lock on
 * all five nodes, three restart empty, and B, a new manager (AUTO: it
 * has written nothing before the restarts, so it guards nothing), must
 * get the lock from them, with the checker reporting exactly that one
 * overlap. It proves end to end that the hazard is real, that the
 * checker fires on it, and that AUTO does not cover other processes.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "fault_harness.h"

/* SIGKILL node i and start it again, empty, on its port. */
static void kill_restart(fh_run *r, size_t i)
{
    rs_kill(&r->srv[i], 1);
    assert_int_equal(rs_restart(&r->srv[i]), 0);
    fh_fault(r, "kill -9 node %zu (%d), restarted empty", i,
             r->srv[i].port);
}

/* Checks common to both runs. */
static void common_checks(const fh_run *r)
{
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.late_losses, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_true(fh_grants_in(r, "after") > 0);
}

/* One node at a time. */
static void test_restart_one_empty(void **state)
{
    fh_run *r = *state;
    fh_config cfg;
    fh_config_init(&cfg, "restart_one_empty");
    cfg.lease_threads = 2; /* long holds that span the restarts */
    assert_int_equal(fh_start(r, &cfg), 0);
    fh_at(r, 1500);
    kill_restart(r, 0);
    fh_at(r, 3000);
    kill_restart(r, 1);
    fh_window(r, "after", fh_now() + 500000u, r->end_us);
    assert_int_equal(fh_finish(r), 0);
    fh_summary(r, "guard=auto");
    common_checks(r);
    assert_int_equal(r->rep.overlaps, 0);
}

/* Three nodes within one TTL (a majority of the keys' nodes). */
static void test_restart_rolling_empty(void **state)
{
    fh_run *r = *state;
    fh_config cfg;
    fh_config_init(&cfg, "restart_rolling_empty");
    cfg.lease_threads = 2; /* long holds that span the restarts */
    cfg.run_ms = 6500;     /* room after the guard of the last restarts */
    assert_int_equal(fh_start(r, &cfg), 0);
    fh_at(r, 1500);
    for (size_t i = 0; i < 3; i++)
        kill_restart(r, i);
    fh_at(r, 3000);
    for (size_t i = 2; i < 5; i++)
        kill_restart(r, i);
    /* The guard keeps a majority out for a TTL after the last restart. */
    fh_window(r, "after", fh_now() + (uint64_t)cfg.ttl_ms * 1000u + 500000u,
              r->end_us);
    assert_int_equal(fh_finish(r), 0);
    fh_summary(r, "guard=auto");
    common_checks(r);
    assert_int_equal(r->rep.overlaps, 0);
}

/* The control: B gets A's lock from three empty nodes; the checker sees
 * the one overlap. */
static void test_restart_control_empty(void **state)
{
    fh_run *r = *state;
    fh_control ctl;
    assert_int_equal(fh_restart_control(r, 0, &ctl), 0);
    assert_int_equal(ctl.a_status, REDLOCK_OK);
    assert_int_equal(ctl.b_status, REDLOCK_OK);
    assert_int_equal(ctl.b_nodes_granted, 3);
    assert_int_equal(ctl.rep.holds, 2);
    assert_int_equal(ctl.rep.overlaps, 1);
    assert_int_equal(ctl.rep.late_losses, 0);
}

/* Run all three. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restart_one_empty, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_restart_rolling_empty,
                                        fh_setup, fh_teardown),
        cmocka_unit_test_setup_teardown(test_restart_control_empty,
                                        fh_setup, fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
