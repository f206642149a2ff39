/*
 * test_fault_client_kill.c: fault scenario "connections dropped".
 *
 * CLIENT KILL TYPE normal is sent to every node four times, 800 ms apart,
 * closing every client connection (each CLIENT KILL spares its own). What
 * must hold: every client process hears of it through node_error_fn (down
 * events) and reconnects (up events); locks are granted again after the
 * last kill; no call hangs or returns past its bound; no overlap and no
 * late loss.
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
static void test_client_kill(void **state)
{
    fh_run *r = *state;
    fh_config cfg;
    fh_config_init(&cfg, "connections_dropped");
    cfg.extend = 1;
    assert_int_equal(fh_start(r, &cfg), 0);

    const char *argv[3] = {"CLIENT", "KILL", "TYPE"};
    const char *kill_normal[4] = {argv[0], argv[1], argv[2], "normal"};
    char out[128];
    for (int round = 0; round < 4; round++) {
        fh_at(r, 1000 + 800 * (uint32_t)round);
        for (size_t i = 0; i < cfg.nodes; i++) {
            assert_int_equal(fh_cmd(r, i, out, sizeof(out), 4, kill_normal),
                             0);
            fh_fault(r, "CLIENT KILL TYPE normal on node %zu: %s killed", i,
                     out);
        }
    }
    fh_window(r, "after", fh_now() + 300000u, r->end_us);

    assert_int_equal(fh_finish(r), 0);
    fh_summary(r, "grants_after_last_kill=%zu", fh_grants_in(r, "after"));
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_int_equal(r->total.slow_calls, 0);
    assert_true(fh_grants_in(r, "after") > 0);
    for (int p = 0; p < cfg.procs; p++) {
        /* Every process was told, and reconnected. */
        assert_true(r->stats[p].node_down > 0);
        assert_true(r->stats[p].node_up > 0);
    }
}

/* Run the scenario. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_kill, fh_setup,
                                        fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
