/*
 * test_fault_key_changed.c: fault scenario "key deleted or changed behind
 * the holder".
 *
 * The parent holds two leases of its own (obs-0, obs-1) while the clients
 * contend for fr-0 .. fr-3. At +1.5 s, on every node: obs-0 is DELeted,
 * and obs-1 and every fr-k are overwritten with SET to a foreign value
 * with a 4 s TTL, as if another, unrelated writer had taken them. What
 * must hold:
 *   - both parent leases report the loss as REDLOCK_ENOTHELD, in time, and
 *     the deleted key is never re-created (a lease never re-acquires);
 *   - 2.5 s later every foreign value is still there on every node: no
 *     holder's extend, release or lease stop, and no undo of a failed
 *     attempt, touched a key that did not hold its own token;
 *   - no overlap, no late loss, no hang.
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

/* How long the foreign values live, and when they are checked. */
#define FOREIGN_TTL_MS "4000"
#define CHECK_AFTER_MS 2500

/* SET key value PX FOREIGN_TTL_MS on every node. */
static void set_foreign(fh_run *r, const char *key, const char *value)
{
    const char *argv[5] = {"SET", key, value, "PX", FOREIGN_TTL_MS};
    char out[64];
    for (size_t i = 0; i < r->cfg.nodes; i++) {
        assert_int_equal(fh_cmd(r, i, out, sizeof(out), 5, argv), 0);
        assert_string_equal(out, "OK");
    }
    fh_fault(r, "SET %s %s PX %s on every node", key, value, FOREIGN_TTL_MS);
}

/* Nodes on which GET key is not value. */
static int count_changed(fh_run *r, const char *key, const char *value)
{
    const char *argv[2] = {"GET", key};
    char out[128];
    int changed = 0;
    for (size_t i = 0; i < r->cfg.nodes; i++) {
        if (fh_cmd(r, i, out, sizeof(out), 2, argv) != 0 ||
            strcmp(out, value) != 0) {
            printf("[%s] node %zu: GET %s = %s, expected %s\n", r->cfg.name,
                   i, key, out, value);
            changed++;
        }
    }
    return changed;
}

/* The scenario. */
static void test_key_changed(void **state)
{
    fh_run *r = *state;
    fh_config cfg;
    fh_config_init(&cfg, "key_changed");
    cfg.lease_threads = 2;
    cfg.extend = 1;
    assert_int_equal(fh_start(r, &cfg), 0);
    fh_at(r, 800);
    assert_int_equal(fh_observe_start(r, 2), 0);

    fh_at(r, 1500);
    const char *del[2] = {"DEL", "obs-0"};
    char out[64];
    for (size_t i = 0; i < cfg.nodes; i++)
        assert_int_equal(fh_cmd(r, i, out, sizeof(out), 2, del), 0);
    fh_fault(r, "DEL obs-0 on every node");
    uint64_t changed_at = fh_now();
    set_foreign(r, "obs-1", "foreign-obs-1");
    char key[16], value[32];
    for (int k = 0; k < cfg.resources; k++) {
        snprintf(key, sizeof(key), "fr-%d", k);
        snprintf(value, sizeof(value), "foreign-fr-%d", k);
        set_foreign(r, key, value);
    }

    fh_sleep_until(changed_at + (uint64_t)CHECK_AFTER_MS * 1000u);
    int changed = count_changed(r, "obs-1", "foreign-obs-1");
    for (int k = 0; k < cfg.resources; k++) {
        snprintf(key, sizeof(key), "fr-%d", k);
        snprintf(value, sizeof(value), "foreign-fr-%d", k);
        changed += count_changed(r, key, value);
    }
    /* The parent's lease stops (and its release) come after the check, so
     * check obs-1 again once they ran. */
    fh_observe_stop(r);
    changed += count_changed(r, "obs-1", "foreign-obs-1");
    long long recreated = 0;
    const char *exists[2] = {"EXISTS", "obs-0"};
    for (size_t i = 0; i < cfg.nodes; i++) {
        assert_int_equal(fh_cmd(r, i, out, sizeof(out), 2, exists), 0);
        recreated += strcmp(out, "0") != 0;
    }

    assert_int_equal(fh_finish(r), 0);
    fh_summary(r, "foreign_values_changed=%d deleted_key_recreated=%lld "
                  "parent_leases_lost_notheld=%zu/%zu",
               changed, recreated, r->obs_lost_notheld, r->obs_leases);
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_int_equal(changed, 0);
    assert_int_equal(recreated, 0);
    assert_int_equal(r->obs_lost_notheld, r->obs_leases);
}

/* Run the scenario. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_changed, fh_setup,
                                        fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
