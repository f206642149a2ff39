/*
 * test_fault_restart_rolling.c: fault scenario "rolling restart without
 * persistence" (issue 16), against the restart guard (docs/safety.md,
 * "Restart guard").
 *
 * Three nodes, no persistence. Node 1 is SIGKILLed and restarted empty,
 * then node 2 at once, twice, while leases and contenders run: two of
 * three nodes have lost the keys they held, enough for a second holder
 * to get a quorum while the first still holds. Runs:
 *   - contending clients with the guard (AUTO, the default: every client
 *     sent its TTL to those nodes before they restarted): the checker
 *     must find 0 overlaps; no late loss, no hang, and locks are granted
 *     again once the guard is over;
 *   - the same without the guard (0): the overlaps are REPORTED, not
 *     asserted: whether a contender lands in the window is a matter of
 *     timing;
 *   - deterministic controls (fh_rolling_control()): A holds a lock with a
 *     30 s TTL on all three nodes, nodes 1 and 2 restart empty, then B
 *     asks for it. Without a guard B gets it and the checker finds the
 *     one overlap (the hazard stays visible); with the guard in A's own
 *     manager (AUTO), or with an explicit guard of A's TTL in a new
 *     manager (the production setting), B does not; with AUTO in a new
 *     manager B does (AUTO covers only the manager's own TTLs: the
 *     documented limit).
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

/* The contending run: node 1 at +1500 ms, node 2 right after it (before
 * a lease renewal can restore its keys on node 1), and once more at
 * +3500 ms. */
static void rolling_run(fh_run *r, const char *name, uint32_t guard_ms)
{
    fh_config cfg;
    fh_config_init(&cfg, name);
    cfg.nodes = 3;
    cfg.lease_threads = 2; /* long holds that span the restarts */
    cfg.restart_guard_ms = guard_ms;
    cfg.run_ms = 6500; /* room after the guard of the last restarts */
    assert_int_equal(fh_start(r, &cfg), 0);
    fh_at(r, 1500);
    uint64_t from = fh_now();
    kill_restart(r, 1);
    kill_restart(r, 2);
    fh_at(r, 3500);
    kill_restart(r, 1);
    kill_restart(r, 2);
    fh_window(r, "restarts", from, fh_now());
    /* The guard lasts the TTL plus its drift allowance after the last
     * restart; a margin on top. */
    fh_window(r, "after", fh_now() + (uint64_t)cfg.ttl_ms * 1000u + 500000u,
              r->end_us);
    assert_int_equal(fh_finish(r), 0);
}

/* With the guard (the default): no overlap. */
static void test_rolling_guarded(void **state)
{
    fh_run *r = *state;
    rolling_run(r, "restart_rolling_guarded", REDLOCK_RESTART_GUARD_AUTO);
    fh_summary(r, "guard=auto grants_during_restarts=%zu",
               fh_grants_in(r, "restarts"));
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_true(fh_grants_in(r, "after") > 0);
}

/* Without it: the same run, overlaps reported (timing decides). */
static void test_rolling_unguarded(void **state)
{
    fh_run *r = *state;
    rolling_run(r, "restart_rolling_unguarded", 0);
    fh_summary(r, "guard=off overlaps_reported_not_failed=%zu",
               r->rep.overlaps);
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.late_losses, 0);
    assert_true(fh_grants_in(r, "after") > 0);
}

/* Control, no guard: B gets A's lock from the two empty nodes. */
static void test_control_unguarded(void **state)
{
    fh_run *r = *state;
    fh_control ctl;
    assert_int_equal(fh_rolling_control(r, 0, FH_B_SAME_MANAGER, 0, &ctl), 0);
    assert_int_equal(ctl.a_status, REDLOCK_OK);
    assert_int_equal(ctl.b_status, REDLOCK_OK);
    assert_int_equal(ctl.b_nodes_granted, 2);
    assert_int_equal(ctl.rep.holds, 2);
    assert_int_equal(ctl.rep.overlaps, 1);
    assert_int_equal(ctl.rep.late_losses, 0);
}

/* Control, AUTO in A's manager: the restarted nodes are guarded for A's
 * TTL, so B gets nothing. */
static void test_control_auto(void **state)
{
    fh_run *r = *state;
    fh_control ctl;
    assert_int_equal(fh_rolling_control(r, REDLOCK_RESTART_GUARD_AUTO,
                                        FH_B_SAME_MANAGER,
                                        REDLOCK_RESTART_GUARD_AUTO, &ctl),
                     0);
    assert_int_equal(ctl.a_status, REDLOCK_OK);
    assert_int_not_equal(ctl.b_status, REDLOCK_OK);
    assert_int_equal(ctl.rep.overlaps, 0);
}

/* Control, an explicit guard of A's TTL in another process's manager:
 * B gets nothing either. */
static void test_control_explicit(void **state)
{
    fh_run *r = *state;
    fh_control ctl;
    assert_int_equal(fh_rolling_control(r, REDLOCK_RESTART_GUARD_AUTO,
                                        FH_B_NEW_MANAGER, 30000, &ctl),
                     0);
    assert_int_equal(ctl.a_status, REDLOCK_OK);
    assert_int_not_equal(ctl.b_status, REDLOCK_OK);
    assert_int_equal(ctl.rep.overlaps, 0);
}

/* Control, AUTO in another process's manager: it has sent nothing before
 * the restarts, so it guards nothing, and B gets the lock (why
 * production sets the guard explicitly). */
static void test_control_auto_other_process(void **state)
{
    fh_run *r = *state;
    fh_control ctl;
    assert_int_equal(fh_rolling_control(r, REDLOCK_RESTART_GUARD_AUTO,
                                        FH_B_NEW_MANAGER,
                                        REDLOCK_RESTART_GUARD_AUTO, &ctl),
                     0);
    assert_int_equal(ctl.b_status, REDLOCK_OK);
    assert_int_equal(ctl.rep.overlaps, 1);
}

/* Run them all. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rolling_guarded, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_rolling_unguarded, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_control_unguarded, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_control_auto, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_control_explicit, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_control_auto_other_process,
                                        fh_setup, fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
