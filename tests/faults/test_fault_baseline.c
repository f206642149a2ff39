/*
 * test_fault_baseline.c: the control run of the fault suite: the same
 * contending clients as every scenario, with no fault injected. Whatever
 * a scenario reports beyond these figures is the fault's doing.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "fault_harness.h"

/* No fault: everything clean, every call within its bound. */
static void test_no_fault(void **state)
{
    fh_run *r = *state;
    fh_config cfg;
    fh_config_init(&cfg, "no_fault");
    cfg.extend = 1;
    assert_int_equal(fh_start(r, &cfg), 0);
    assert_int_equal(fh_finish(r), 0);
    fh_summary(r, NULL);

    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    /* Progress, not a rate: every client process got locks (a count
     * such as "at least 50 holds" depends on the machine's load). */
    for (int p = 0; p < cfg.procs; p++)
        assert_true(r->stats[p].grants > 0);
    assert_int_equal(r->total.lease_lost, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_int_equal(r->total.extend_fail, 0);
    assert_int_equal(r->total.release_fail, 0);
    assert_int_equal(r->total.slow_calls, 0);
    assert_int_equal(r->total.node_down, 0);
}

/* Run the scenario. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_fault, fh_setup,
                                        fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
