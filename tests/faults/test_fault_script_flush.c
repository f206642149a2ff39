/*
 * test_fault_script_flush.c: fault scenario "script cache lost".
 *
 * SCRIPT FLUSH is sent to every node every 100 ms for 3.5 s while the
 * clients extend (plain locks half way through each hold, leases on their
 * own schedule) and release. The library answers NOSCRIPT by re-sending
 * the script with EVAL. What must hold: NOSCRIPT really happened on every
 * node (INFO errorstats; otherwise the run proved nothing about the
 * fallback); no extend and no release fails,
 * no lease is lost (the parent holds four throughout), no call returns
 * past its bound; no overlap and no late loss.
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
static void test_script_flush(void **state)
{
    fh_run *r = *state;
    fh_config cfg;
    fh_config_init(&cfg, "script_flush");
    cfg.extend = 1;
    assert_int_equal(fh_start(r, &cfg), 0);
    fh_at(r, 300);
    assert_int_equal(fh_observe_start(r, 4), 0);

    long long noscript[FH_MAX_NODES];
    for (size_t i = 0; i < cfg.nodes; i++) {
        noscript[i] = rs_info_count(&r->srv[i], "errorstats",
                                    "errorstat_NOSCRIPT:count=");
        assert_true(noscript[i] >= 0);
    }
    const char *flush[2] = {"SCRIPT", "FLUSH"};
    char out[64];
    int rounds = 0;
    for (uint32_t t = 500; t <= 4000; t += 100) {
        fh_at(r, t);
        for (size_t i = 0; i < cfg.nodes; i++)
            assert_int_equal(fh_cmd(r, i, out, sizeof(out), 2, flush), 0);
        rounds++;
        r->faults += (int)cfg.nodes;
    }
    printf("[%s] SCRIPT FLUSH on all %zu nodes, %d times, every 100 ms\n",
           cfg.name, cfg.nodes, rounds);
    fh_observe_stop(r);

    assert_int_equal(fh_finish(r), 0);
    long long least = -1;
    for (size_t i = 0; i < cfg.nodes; i++) {
        long long now = rs_info_count(&r->srv[i], "errorstats",
                                      "errorstat_NOSCRIPT:count=");
        assert_true(now >= 0);
        noscript[i] = now - noscript[i];
        if (least < 0 || noscript[i] < least)
            least = noscript[i];
    }
    fh_summary(r, "flush_rounds=%d least_noscript_per_node=%lld", rounds,
               least);
    /* Every node answered NOSCRIPT at least once (in practice hundreds
     * of times): the fallback was exercised everywhere. */
    assert_true(least > 0);
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    assert_true(r->total.extends > 0);
    assert_int_equal(r->total.extend_fail, 0);
    assert_int_equal(r->total.release_fail, 0);
    assert_int_equal(r->total.lease_lost, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_int_equal(r->obs_lost, 0);
    assert_true(r->obs_renewals > 0);
    assert_int_equal(r->total.slow_calls, 0);
}

/* Run the scenario. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_script_flush, fh_setup,
                                        fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
