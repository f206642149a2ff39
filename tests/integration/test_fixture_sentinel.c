/*
 * test_fixture_sentinel.c: checks of the Sentinel fixture
 * (tests/support/sentinel_spawn.c) itself: a group of 1 master, 1
 * replica and 3 sentinels starts with every sentinel agreeing on the
 * master, data replicates, rsn_failover() switches the master (and the
 * data survives), the group works with a sentinel password that differs
 * from the data password, bad arguments start nothing, and stopping
 * leaves no process and no directory behind.
 *
 * DESIGN: a fresh group per test (setup/teardown), unlike the cluster
 * test: the checks do not build on each other, and a group is ready in
 * a few seconds (sentinels find each other through the master's hello
 * channel every 2 s).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sentinel_spawn.h"

/* Allocate a zeroed group (rsn_stop is safe on a zeroed one). */
static int setup(void **state)
{
    rsn_group *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return -1;
    *state = g;
    return 0;
}

/* Stop whatever is still running, even after a failed assertion. */
static int teardown(void **state)
{
    rsn_group *g = *state;
    rsn_stop(g);
    free(g);
    return 0;
}

/* Run a command on s into out; fails the test if no reply came. */
static void cmd(const rs_server *s, char *out, size_t len, int argc,
                const char **argv)
{
    assert_int_equal(rs_command(s, out, len, argc, argv), 0);
}

/* rsn_stop(g), then check that no PID of the group names a process and
 * no temp dir of it is left. */
static void stop_and_check(rsn_group *g)
{
    pid_t pids[RSN_MAX_DATA + RSN_MAX_SENTINELS];
    char dirs[RSN_MAX_DATA + RSN_MAX_SENTINELS][256];
    size_t n = 0;
    struct stat sb;

    for (size_t i = 0; i < g->n_data; i++, n++) {
        pids[n] = g->data[i].pid;
        snprintf(dirs[n], sizeof(dirs[n]), "%s", g->data[i].dir);
    }
    for (size_t i = 0; i < g->n_sentinels; i++, n++) {
        pids[n] = g->sentinel[i].pid;
        snprintf(dirs[n], sizeof(dirs[n]), "%s", g->sentinel[i].dir);
    }
    rsn_stop(g);
    for (size_t k = 0; k < n; k++) {
        assert_true(pids[k] > 0);
        assert_int_equal(kill(pids[k], 0) == -1 && errno == ESRCH, 1);
        assert_int_equal(stat(dirs[k], &sb), -1);
    }
}

/* A key written on the master reaches the replica (WAIT), and then
 * reads back from data[i]. */
static void write_replicated(rsn_group *g, size_t master, const char *key)
{
    const char *set[] = { "SET", key, "kept" };
    const char *wait[] = { "WAIT", "1", "5000" };
    char out[256];

    cmd(&g->data[master], out, sizeof(out), 3, set);
    assert_string_equal(out, "OK");
    cmd(&g->data[master], out, sizeof(out), 3, wait);
    assert_string_equal(out, "1");
}

/* 1 master, 1 replica, 3 sentinels: started, agreed, failed over. */
static void test_group_failover(void **state)
{
    rsn_group *g = *state;
    const char *get[] = { "GET", "fx:sn" };
    const char *sconf[] = { "SENTINEL", "CONFIG", "GET", "resolve-hostnames" };
    char out[512], want[1024];

    assert_int_equal(rsn_start(g, "fxmaster", 3, 1), 0);
    assert_int_equal(g->n_data, 2);
    assert_int_equal(g->n_sentinels, 3);
    assert_int_equal(g->quorum, 2);
    snprintf(want, sizeof(want),
             "sentinel://127.0.0.1:%d/fxmaster?sentinel=127.0.0.1:%d"
             "&sentinel=127.0.0.1:%d",
             g->sentinel[0].port, g->sentinel[1].port, g->sentinel[2].port);
    assert_string_equal(g->uri, want);
    assert_int_equal(rsn_master_index(g), 0);
    assert_int_equal(rsn_is_master(g, 0), 1);
    assert_int_equal(rsn_is_master(g, 1), 0);
    cmd(&g->sentinel[1], out, sizeof(out), 4, sconf);
    assert_string_equal(out, "resolve-hostnames\nno");
    write_replicated(g, 0, "fx:sn");

    assert_int_equal(rsn_failover(g), 0);
    assert_int_equal(rsn_master_index(g), 1);
    assert_int_equal(rsn_is_master(g, 1), 1);
    for (size_t i = 0; i < g->n_sentinels; i++) {
        const char *addr[] = { "SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                               "fxmaster" };
        snprintf(want, sizeof(want), "127.0.0.1\n%d", g->data[1].port);
        cmd(&g->sentinel[i], out, sizeof(out), 3, addr);
        assert_string_equal(out, want);
    }
    cmd(&g->data[1], out, sizeof(out), 2, get);
    assert_string_equal(out, "kept");
    stop_and_check(g);
}

/* A sentinel password that differs from the data password: each side
 * refuses the other's and no password, and the group still fails over. */
static void test_passwords(void **state)
{
    rsn_group *g = *state;
    rsn_options o = {.data_password = "data-pw.1",
                     .sentinel_password = "sentinel-pw.2"};
    const char *ping[] = { "PING" };
    char out[512];
    rs_server probe;

    assert_int_equal(rsn_start_ex(g, "fxauth", 3, 1, &o), 0);
    assert_string_equal(g->data_password, "data-pw.1");
    assert_string_equal(g->sentinel_password, "sentinel-pw.2");

    probe = g->sentinel[0];
    probe.password[0] = '\0';
    cmd(&probe, out, sizeof(out), 1, ping);
    assert_non_null(strstr(out, "NOAUTH"));
    snprintf(probe.password, sizeof(probe.password), "%s", "data-pw.1");
    assert_int_equal(rs_command(&probe, out, sizeof(out), 1, ping), -1);
    assert_non_null(strstr(out, "WRONGPASS"));
    cmd(&g->sentinel[0], out, sizeof(out), 1, ping);
    assert_string_equal(out, "PONG");

    probe = g->data[0];
    probe.password[0] = '\0';
    cmd(&probe, out, sizeof(out), 1, ping);
    assert_non_null(strstr(out, "NOAUTH"));
    snprintf(probe.password, sizeof(probe.password), "%s", "sentinel-pw.2");
    assert_int_equal(rs_command(&probe, out, sizeof(out), 1, ping), -1);
    assert_non_null(strstr(out, "WRONGPASS"));

    write_replicated(g, 0, "fx:auth");
    assert_int_equal(rsn_failover(g), 0);
    assert_int_equal(rsn_master_index(g), 1);
    stop_and_check(g);
}

/* Bad arguments start nothing. */
static void test_bad_args(void **state)
{
    rsn_group *g = *state;
    rsn_options o = {.data_password = "has space"};

    assert_int_equal(rsn_start(g, "two words", 3, 1), -1);
    assert_int_equal(rsn_start(g, "", 3, 1), -1);
    assert_int_equal(rsn_start(g, "ok", 0, 1), -1);
    assert_int_equal(rsn_start(g, "ok", RSN_MAX_SENTINELS + 1, 1), -1);
    assert_int_equal(rsn_start(g, "ok", 1, RSN_MAX_DATA), -1);
    assert_int_equal(rsn_start_ex(g, "ok", 1, 0, &o), -1);
    assert_int_equal(g->n_data, 0);
    assert_int_equal(g->n_sentinels, 0);
    assert_int_equal(g->data[0].pid, 0);
    assert_int_equal(rsn_master_index(g), -1);
    assert_int_equal(rsn_failover(g), -1);
}

/* Run the fixture checks, each on a fresh group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_failover, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_passwords, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
    };
    return cmocka_run_group_tests_name("fixture_sentinel", tests, NULL,
                                       NULL);
}
