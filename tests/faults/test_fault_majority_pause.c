/*
 * test_fault_majority_pause.c: fault scenario "majority of nodes paused".
 *
 * Three of five nodes are SIGSTOPped for 2.5 s (2.5 TTLs), then
 * SIGCONTed; the parent holds four leases of its own when they stop.
 * What must hold: no acquire succeeds while they are stopped, and none
 * returns later than its deadline_us (plus the scheduling slack), although
 * every attempt then waits for stopped nodes;
 * every lease holder is told of the loss before its validity ends (no late
 * loss, and no lease that still reads as held after its validity); no
 * overlap, during or afterwards; acquires succeed again after the resume.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "fault_harness.h"

/* A grant recorded this long after the last SIGSTOP took effect cannot
 * come from replies sent before it (the client records granted_at right
 * after the call returns; this covers a descheduled client thread). */
#define RECORD_SLACK_US 300000u

/* The scenario. */
static void test_majority_paused(void **state)
{
    fh_run *r = *state;
    fh_config cfg;
    fh_config_init(&cfg, "majority_paused");
    cfg.extend = 1;
    cfg.run_ms = 6000;
    assert_int_equal(fh_start(r, &cfg), 0);

    fh_at(r, 1000);
    assert_int_equal(fh_observe_start(r, 4), 0);
    fh_at(r, 1500);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(rs_pause(&r->srv[i]), 0);
        fh_fault(r, "SIGSTOP node %zu (%d)", i, r->srv[i].port);
    }
    uint64_t stopped = fh_now();
    fh_at(r, 4000);
    uint64_t resumed = fh_now();
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(rs_resume(&r->srv[i]), 0);
    fh_window(r, "quiet", stopped + RECORD_SLACK_US, resumed);
    fh_window(r, "after", resumed, r->end_us);
    fh_observe_stop(r);

    assert_int_equal(fh_finish(r), 0);
    size_t during = fh_grants_in(r, "quiet");
    size_t after = fh_grants_in(r, "after");
    fh_summary(r, "grants_while_stopped=%zu grants_after_resume=%zu", during,
               after);

    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(during, 0);
    assert_true(after > 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    /* deadline_us is a hard bound: no acquire returned later than the
     * scheduling slack after it. */
    assert_int_equal(r->total.acquire_late, 0);
    assert_int_equal(r->total.lease_silent, 0);
    /* The parent's leases were held when the nodes stopped: every one is
     * lost, and (late_losses above) each was told in time. */
    assert_int_equal(r->obs_lost, r->obs_leases);
}

/* Run the scenario. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_majority_paused, fh_setup,
                                        fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
