/*
 * test_fault_restart_aof.c: fault scenario "node restarted with AOF
 * appendfsync always".
 *
 * All five nodes run with appendonly yes and appendfsync always. The same
 * rolling restart that lets a second holder in without persistence
 * (test_fault_restart_empty.c: three nodes killed with SIGKILL and
 * restarted at once, twice) is done here on the same data directories, so
 * each node reloads its keys, with their expiry times, from the AOF. What
 * must hold: no overlap, no late loss, no hang.
 * And the deterministic control of test_fault_restart_empty.c with AOF
 * (fh_restart_control()): A holds a lock on all five nodes, three are
 * killed and restart from their AOF, and B must be refused (ETAKEN),
 * with no overlap.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "fault_harness.h"

/* SIGKILL node i and restart it on its data directory. */
static void kill_restart(fh_run *r, size_t i)
{
    rs_kill(&r->srv[i], 1);
    assert_int_equal(rs_restart(&r->srv[i]), 0);
    fh_fault(r, "kill -9 node %zu (%d), restarted from its AOF", i,
             r->srv[i].port);
}

/* The scenario. */
static void test_restart_aof(void **state)
{
    fh_run *r = *state;
    fh_config cfg;
    fh_config_init(&cfg, "restart_aof_always");
    cfg.lease_threads = 2; /* long holds that span the restarts */
    cfg.appendonly = 1;
    assert_int_equal(fh_start(r, &cfg), 0);
    fh_at(r, 1500);
    for (size_t i = 0; i < 3; i++)
        kill_restart(r, i);
    fh_at(r, 3000);
    for (size_t i = 2; i < 5; i++)
        kill_restart(r, i);
    fh_window(r, "after", fh_now() + 500000u, r->end_us);

    assert_int_equal(fh_finish(r), 0);
    fh_summary(r, NULL);
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_true(fh_grants_in(r, "after") > 0);
}

/* The control: the restarted nodes still hold A's key, so B is
 * refused. */
static void test_restart_control_aof(void **state)
{
    fh_run *r = *state;
    fh_control ctl;
    assert_int_equal(fh_restart_control(r, 1, &ctl), 0);
    assert_int_equal(ctl.a_status, REDLOCK_OK);
    assert_int_equal(ctl.b_status, REDLOCK_ETAKEN);
    assert_int_equal(ctl.rep.holds, 1);
    assert_int_equal(ctl.rep.overlaps, 0);
    assert_int_equal(ctl.rep.late_losses, 0);
}

/* Run the scenario and the control. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restart_aof, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_restart_control_aof, fh_setup,
                                        fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
