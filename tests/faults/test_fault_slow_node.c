/*
 * test_fault_slow_node.c: fault scenario "slow node".
 *
 * DEBUG SLEEP blocks one node for 1 s, then, later, another one (the
 * fixture starts every server with --enable-debug-command local, and the
 * command comes from loopback). What must hold: operations are decided by
 * the other nodes: acquires keep succeeding while a node sleeps, no lease
 * is lost (the parent holds four across both sleeps), no call returns past
 * its bound, no acquire past its deadline_us (plus the scheduling slack);
 * no overlap and no late loss.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fault_harness.h"

/* DEBUG SLEEP seconds on node i (returns when the node wakes up). */
static void debug_sleep(fh_run *r, size_t i, const char *seconds,
                        const char *label)
{
    const char *argv[3] = {"DEBUG", "SLEEP", seconds};
    char out[128];
    uint64_t from = fh_now();
    fh_fault(r, "DEBUG SLEEP %s on node %zu (%d)", seconds, i,
             r->srv[i].port);
    assert_int_equal(fh_cmd(r, i, out, sizeof(out), 3, argv), 0);
    assert_string_equal(out, "OK");
    fh_window(r, label, from, fh_now());
}

/* The scenario. */
static void test_slow_node(void **state)
{
    fh_run *r = *state;
    fh_config cfg;
    fh_config_init(&cfg, "slow_node");
    cfg.extend = 1;
    assert_int_equal(fh_start(r, &cfg), 0);
    fh_at(r, 800);
    assert_int_equal(fh_observe_start(r, 4), 0);
    fh_at(r, 1200);
    debug_sleep(r, 0, "1", "sleep0");
    fh_at(r, 3000);
    debug_sleep(r, 3, "1", "sleep3");
    fh_observe_stop(r);

    assert_int_equal(fh_finish(r), 0);
    size_t g0 = fh_grants_in(r, "sleep0"), g3 = fh_grants_in(r, "sleep3");
    fh_summary(r, "grants_during_sleeps=%zu+%zu", g0, g3);
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    /* deadline_us is a hard bound: no acquire returned later than the
     * scheduling slack after it. */
    assert_int_equal(r->total.acquire_late, 0);
    assert_int_equal(r->total.lease_lost, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_int_equal(r->obs_lost, 0);
    assert_int_equal(r->total.extend_fail, 0);
    assert_int_equal(r->total.slow_calls, 0);
    /* Locks keep being granted while each node sleeps. How many depends on
     * the hold times and on the machine's load (seen from 3 to 33 per 1 s
     * sleep on a loaded 2-core box), so only "some" is asserted. */
    assert_true(g0 >= 2);
    assert_true(g3 >= 2);
}

/* Run the scenario. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slow_node, fh_setup,
                                        fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
