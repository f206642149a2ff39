/*
 * test_fault_minority_pause.c: fault scenario "minority of nodes paused".
 *
 * Two of five nodes are SIGSTOPped for 2 s (two TTLs) while two client
 * processes of four threads contend for four resources, then SIGCONTed.
 * The parent also holds four leases of its own across the pause.
 * What must hold: no lease is lost; acquires keep succeeding during the
 * pause; no call returns later than its bound (an acquire's deadline, the
 * command timeout of extend and release) beyond the scheduling slack; no
 * overlap and no late loss.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "fault_harness.h"

/* The scenario. */
static void test_minority_paused(void **state)
{
    fh_run *r = *state;
    fh_config cfg;
    fh_config_init(&cfg, "minority_paused");
    cfg.extend = 1;
    assert_int_equal(fh_start(r, &cfg), 0);

    fh_at(r, 1000);
    assert_int_equal(fh_observe_start(r, 4), 0);
    fh_at(r, 1500);
    uint64_t from = fh_now();
    assert_int_equal(rs_pause(&r->srv[3]), 0);
    fh_fault(r, "SIGSTOP node 3 (%d)", r->srv[3].port);
    assert_int_equal(rs_pause(&r->srv[4]), 0);
    fh_fault(r, "SIGSTOP node 4 (%d)", r->srv[4].port);
    fh_at(r, 3500);
    uint64_t to = fh_now();
    assert_int_equal(rs_resume(&r->srv[3]), 0);
    assert_int_equal(rs_resume(&r->srv[4]), 0);
    fh_window(r, "paused", from, to);
    fh_at(r, 4000);
    fh_observe_stop(r);

    assert_int_equal(fh_finish(r), 0);
    size_t during = fh_grants_in(r, "paused");
    fh_summary(r, "grants_during_pause=%zu", during);

    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    assert_int_equal(r->total.lease_lost, 0);
    assert_int_equal(r->obs_lost, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_true(r->total.lease_renewals > 0);
    assert_true(during >= 10);
    assert_int_equal(r->total.slow_calls, 0);
    assert_int_equal(r->total.extend_fail, 0);
}

/* Run the scenario. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_minority_paused, fh_setup,
                                        fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
