/*
 * test_fault_restart_delayed.c: fault scenario "node killed and restarted
 * after the maximum TTL" (the spec's delayed restart).
 *
 * Three nodes are killed with SIGKILL one after another, and each is
 * restarted empty (no persistence) only after every key it could have held
 * has expired: the longest TTL any client uses, plus the drift allowance,
 * plus a margin. The same rolling restart done immediately lets a second
 * holder in (test_fault_restart_empty.c); delayed, it must not. What must
 * hold: no overlap, no late loss, no hang, and locks keep being granted by
 * the other nodes while one is down.
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
static void test_restart_delayed(void **state)
{
    fh_run *r = *state;
    fh_config cfg;
    fh_config_init(&cfg, "restart_delayed");
    cfg.lease_threads = 2; /* long holds that span the restarts */
    cfg.run_ms = 6500;
    assert_int_equal(fh_start(r, &cfg), 0);
    /* The TTL plus the drift allowance (1 % + 2 ms) plus a margin. */
    uint32_t down_ms = cfg.ttl_ms + cfg.ttl_ms / 100 + 2 + 150;
    uint64_t from = 0;

    fh_at(r, 1000);
    for (size_t i = 0; i < 3; i++) {
        rs_kill(&r->srv[i], 1);
        uint64_t killed = fh_now();
        if (from == 0)
            from = killed;
        fh_sleep_until(killed + (uint64_t)down_ms * 1000u);
        assert_int_equal(rs_restart(&r->srv[i]), 0);
        fh_fault(r, "kill -9 node %zu (%d), restarted empty after %u ms", i,
                 r->srv[i].port, down_ms);
    }
    fh_window(r, "restarts", from, fh_now());
    fh_window(r, "after", fh_now() + 500000u, r->end_us);

    assert_int_equal(fh_finish(r), 0);
    fh_summary(r, "down_ms=%u grants_during_restarts=%zu", down_ms,
               fh_grants_in(r, "restarts"));
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_true(fh_grants_in(r, "restarts") > 0);
    assert_true(fh_grants_in(r, "after") > 0);
}

/* Run the scenario. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restart_delayed, fh_setup,
                                        fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
