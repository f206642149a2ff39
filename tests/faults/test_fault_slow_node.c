/*
 * test_fault_slow_node.c: fault scenario "slow node".
 *
 * DEBUG SLEEP blocks one node for 1 s, then, later, another one (the
 * fixture starts every server with --enable-debug-command local, and the
 * command comes from loopback). What must hold: operations are decided by
 * the other nodes: while a node sleeps, the parent's uncontended probe
 * acquires (fh_probe_start()) and their extends are decided in far less
 * than the command timeout they would take if the library waited for the
 * sleeper; no uncontended lease is lost (the parent holds four across
 * both sleeps); no call returns past its bound, no acquire past its
 * deadline_us (plus the scheduling slack); no overlap, no late loss, no
 * loss the holder was not told of.
 *
 * Not asserted: that the clients' contended leases and extends all
 * succeed. A contended lock is often won on exactly a quorum (the other
 * nodes held a rival's attempt at that moment, and rivals keep taking
 * them between their undos); if the sleeping node is one of that quorum,
 * no extension can win until it wakes, and the lease is lost (EEXPIRED)
 * or the extend fails (ENOQUORUM). That is Redlock's rule (docs/leases.md
 * 1.5; a MONITOR trace of such a loss is in docs/testing.md); the counts
 * are reported in the summary.
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
    assert_int_equal(fh_probe_start(r), 0);
    fh_at(r, 800);
    assert_int_equal(fh_observe_start(r, 4), 0);
    fh_at(r, 1200);
    debug_sleep(r, 0, "1", "sleep0");
    fh_at(r, 3000);
    debug_sleep(r, 3, "1", "sleep3");
    fh_observe_stop(r);
    fh_probe_stop(r);

    assert_int_equal(fh_finish(r), 0);
    size_t g0 = fh_grants_in(r, "sleep0"), g3 = fh_grants_in(r, "sleep3");
    size_t n_before, n0, n3, ok0, ok3;
    uint64_t before = fh_probe_stats(r, r->start_us,
                                     fh_window_get(r, "sleep0")->from_us,
                                     &n_before, NULL);
    uint64_t p0 = fh_probe_in(r, "sleep0", false, &n0, &ok0);
    uint64_t p3 = fh_probe_in(r, "sleep3", false, &n3, &ok3);
    size_t e0, e3, eok0, eok3;
    uint64_t x0 = fh_probe_in(r, "sleep0", true, &e0, &eok0);
    uint64_t x3 = fh_probe_in(r, "sleep3", true, &e3, &eok3);
    fh_summary(r, "grants_during_sleeps=%zu+%zu probes=%zu+%zu "
                  "max_probe_ms_before=%.1f max_probe_ms_during=%.1f+%.1f "
                  "max_probe_extend_ms_during=%.1f+%.1f "
                  "contended_extends_failed=%llu contended_leases_lost=%llu",
               g0, g3, n0, n3, (double)before / 1000.0, (double)p0 / 1000.0,
               (double)p3 / 1000.0, (double)x0 / 1000.0,
               (double)x3 / 1000.0,
               (unsigned long long)r->total.extend_fail,
               (unsigned long long)r->total.lease_lost);
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    /* deadline_us is a hard bound: no acquire returned later than the
     * scheduling slack after it. */
    assert_int_equal(r->total.acquire_late, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_int_equal(r->obs_lost, 0);
    assert_int_equal(r->total.slow_calls, 0);
    /* What the contended clients lost is only what the rule explains: an
     * extend without a quorum, a lease whose validity ran out. */
    assert_int_equal(r->total.extend_fail,
                     r->total.extend_st[REDLOCK_ENOQUORUM]);
    assert_int_equal(r->total.lease_lost, r->total.lease_lost_expired);
    /* Decided by the other nodes: every probe that started while a node
     * slept was granted, well within half the command timeout (a round
     * trip takes under a millisecond; waiting for the sleeper would take
     * the whole command timeout). Counting the clients' grants instead
     * cannot tell the two apart on a loaded machine. */
    uint64_t bound = (uint64_t)cfg.command_timeout_ms * 1000u / 2;
    assert_true(n0 > 0);
    assert_true(n3 > 0);
    assert_int_equal(ok0, n0);
    assert_int_equal(ok3, n3);
    assert_true(p0 < bound);
    assert_true(p3 < bound);
    /* ...and so was each probe lock's extend: its SET reached every
     * healthy node ahead of it, so all of them say yes. */
    assert_int_equal(eok0, e0);
    assert_int_equal(eok3, e3);
    assert_true(x0 < bound);
    assert_true(x3 < bound);
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
