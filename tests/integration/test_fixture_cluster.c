/*
 * test_fixture_cluster.c: checks of the Redis Cluster fixture
 * (tests/support/cluster_spawn.c) itself, on one cluster of 3 masters
 * with 1 replica each shared by the tests in order: it starts healthy
 * with every slot served, a key goes to the master of its slot, a slot
 * with a key in it moves (ASK while half moved, MOVED after), a replica
 * is promoted (with its master running, then with its master paused),
 * and stopping leaves no process and no directory behind.
 *
 * DESIGN: one cluster for the group, not one per test: creating one
 * costs seconds (redis-cli waits for the nodes to join), and the checks
 * build on each other's state (the failover runs last). Rejected: a
 * fresh cluster per test (about 4x the wall time on 2 cores, for no
 * extra coverage of the fixture).
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
#include <time.h>

#include "cluster_spawn.h"

/* The cluster of the group (a static: group setup and teardown see it). */
static rc_cluster cl;

/* Start 3 masters x 1 replica for the whole group. */
static int group_setup(void **state)
{
    (void)state;
    return rc_start(&cl, 3, 1);
}

/* Stop whatever is still running (safe after test_stop_leaves_nothing). */
static int group_teardown(void **state)
{
    (void)state;
    rc_stop(&cl);
    return 0;
}

/* Milliseconds on the monotonic clock. */
static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A pause between polls of a condition. */
static void nap(void)
{
    struct timespec ts = { 0, 20 * 1000000L };
    nanosleep(&ts, NULL);
}

/* Run a command on srv[i] into out; fails the test if no reply came. */
static void cmd(size_t i, char *out, size_t len, int argc, const char **argv)
{
    assert_int_equal(rc_command(&cl, i, out, len, argc, argv), 0);
}

/* The number after "field:" in INFO text, or -1. */
static long long info_number(const char *text, const char *field)
{
    const char *p = strstr(text, field);
    return p == NULL ? -1 : strtoll(p + strlen(field), NULL, 10);
}

/* The started roles, every node healthy, every slot served, the URI. */
static void test_started(void **state)
{
    static const int samples[] = { 0, 1, 5460, 5461, 10922, 10923, 16383 };
    static const char *info[] = { "CLUSTER", "INFO" };
    char out[4096], want[1024];
    int seen[3] = { 0, 0, 0 };
    (void)state;

    assert_int_equal(cl.n_masters, 3);
    assert_int_equal(cl.n_replicas, 3);
    assert_int_equal(cl.n, 6);
    for (size_t i = 0; i < cl.n; i++) {
        assert_true(cl.srv[i].pid > 0);
        assert_int_equal(rc_is_master(&cl, i), i < 3 ? 1 : 0);
        cmd(i, out, sizeof(out), 2, info);
        assert_non_null(strstr(out, "cluster_state:ok"));
        assert_int_equal(info_number(out, "cluster_slots_assigned:"), 16384);
        assert_int_equal(info_number(out, "cluster_slots_ok:"), 16384);
        assert_int_equal(info_number(out, "cluster_known_nodes:"), 6);
        assert_int_equal(info_number(out, "cluster_size:"), 3);
    }
    for (size_t k = 0; k < sizeof(samples) / sizeof(samples[0]); k++) {
        int m = rc_master_of_slot(&cl, samples[k]);
        assert_in_range(m, 0, 2);
        seen[m] = 1;
    }
    assert_int_equal(seen[0] + seen[1] + seen[2], 3);
    assert_int_equal(rc_master_of_slot(&cl, -1), -1);
    assert_int_equal(rc_master_of_slot(&cl, 16384), -1);
    snprintf(want, sizeof(want),
             "redis://127.0.0.1:%d?cluster=yes&seed=127.0.0.1:%d"
             "&seed=127.0.0.1:%d",
             cl.srv[0].port, cl.srv[1].port, cl.srv[2].port);
    assert_string_equal(cl.uri, want);
    assert_int_equal(rc_total_keys(&cl), 0);
}

/* A key lands on its slot's master; another master redirects with MOVED;
 * replicas do not count in rc_total_keys. */
static void test_set_on_master(void **state)
{
    char out[256], want[128];
    const char *get[] = { "GET", "fx:{a}" };
    int slot, m;
    long long pttl;
    (void)state;

    slot = rc_keyslot(&cl, "fx:{a}");
    assert_int_equal(slot, 15495); /* CRC16("a") mod 16384 */
    m = rc_master_of_slot(&cl, slot);
    assert_in_range(m, 0, 2);
    assert_int_equal(rc_set(&cl, "fx:{a}", "v1", 60000), 0);
    assert_int_equal(rc_get(&cl, "fx:{a}", out, sizeof(out)), 0);
    assert_string_equal(out, "v1");
    pttl = rc_pttl(&cl, "fx:{a}");
    assert_in_range(pttl, 1, 60000);
    assert_int_equal(rc_pttl(&cl, "fx:{a}missing"), -2);
    assert_int_equal(rc_get(&cl, "fx:{a}missing", out, sizeof(out)), 0);
    assert_string_equal(out, "(nil)");
    cmd((size_t)(m + 1) % 3, out, sizeof(out), 2, get);
    snprintf(want, sizeof(want), "MOVED %d 127.0.0.1:%d", slot,
             cl.srv[m].port);
    assert_string_equal(out, want);
    assert_int_equal(rc_total_keys(&cl), 1);
}

/* A slot with a key moves: ASK from the source for a key already moved
 * (and for a missing one) between begin and end, MOVED after. */
static void test_migrate_slot(void **state)
{
    const char *get1[] = { "GET", "fx:{m}1" };
    const char *get2[] = { "GET", "fx:{m}2" };
    char out[256], ask[128], moved[128];
    int slot, from, to;
    (void)state;

    slot = rc_keyslot(&cl, "fx:{m}1");
    assert_int_equal(rc_keyslot(&cl, "fx:{m}2"), slot);
    from = rc_master_of_slot(&cl, slot);
    assert_in_range(from, 0, 2);
    to = (from + 1) % 3;
    assert_int_equal(rc_set(&cl, "fx:{m}1", "moving", 0), 0);

    assert_int_equal(rc_migrate_begin(&cl, slot, (size_t)from, (size_t)to),
                     0);
    snprintf(ask, sizeof(ask), "ASK %d 127.0.0.1:%d", slot,
             cl.srv[to].port);
    cmd((size_t)from, out, sizeof(out), 2, get1);
    assert_string_equal(out, "moving"); /* still here: served */
    cmd((size_t)from, out, sizeof(out), 2, get2);
    assert_string_equal(out, ask);      /* missing: try the target */

    assert_int_equal(rc_migrate_keys(&cl, slot, (size_t)from, (size_t)to),
                     1);
    cmd((size_t)from, out, sizeof(out), 2, get1);
    assert_string_equal(out, ask);      /* moved, slot not yet handed */
    assert_int_equal(rs_dbsize(&cl.srv[from]) >= 0, 1);
    assert_int_equal(rc_migrate_keys(&cl, slot, (size_t)from, (size_t)to),
                     0);                /* nothing left */

    assert_int_equal(rc_migrate_end(&cl, slot, (size_t)from, (size_t)to),
                     0);
    assert_int_equal(rc_master_of_slot(&cl, slot), to);
    cmd((size_t)to, out, sizeof(out), 2, get1);
    assert_string_equal(out, "moving");
    snprintf(moved, sizeof(moved), "MOVED %d 127.0.0.1:%d", slot,
             cl.srv[to].port);
    cmd((size_t)from, out, sizeof(out), 2, get1);
    assert_string_equal(out, moved);
    assert_int_equal(rc_get(&cl, "fx:{m}1", out, sizeof(out)), 0);
    assert_string_equal(out, "moving");
    assert_int_equal(rc_total_keys(&cl), 2);

    /* A bad request is refused, not attempted. */
    assert_int_equal(rc_migrate_begin(&cl, slot, (size_t)to, (size_t)to),
                     -1);
}

/* A replica is promoted: it is a master, serves its old master's slots
 * with the data written before, and the old master becomes a replica. */
static void test_failover(void **state)
{
    static const char *repl[] = { "INFO", "replication" };
    char out[4096], key[64];
    size_t replica = 3;
    int old = -1, slot = -1;
    long long deadline;
    (void)state;

    cmd(replica, out, sizeof(out), 2, repl);
    for (size_t i = 0; i < 3; i++) {
        if (info_number(out, "master_port:") == cl.srv[i].port)
            old = (int)i;
    }
    assert_in_range(old, 0, 2);
    /* A key in a slot of the old master, written before the failover. */
    for (int k = 0; k < 1000 && slot < 0; k++) {
        int s;
        snprintf(key, sizeof(key), "fx:fo:%d", k);
        s = rc_keyslot(&cl, key);
        if (rc_master_of_slot(&cl, s) == old)
            slot = s;
    }
    assert_true(slot >= 0);
    assert_int_equal(rc_set(&cl, key, "kept", 0), 0);

    assert_int_equal(rc_failover(&cl, replica), 0);
    assert_int_equal(rc_is_master(&cl, replica), 1);
    assert_int_equal(rc_master_of_slot(&cl, slot), (int)replica);
    assert_int_equal(rc_get(&cl, key, out, sizeof(out)), 0);
    assert_string_equal(out, "kept");
    deadline = mono_ms() + 10000;
    while (rc_is_master(&cl, (size_t)old) != 0 && mono_ms() < deadline)
        nap();
    assert_int_equal(rc_is_master(&cl, (size_t)old), 0);
    /* A server that is a master now cannot be failed over. */
    assert_int_equal(rc_failover(&cl, replica), -1);
}

/* A replica whose master is paused (SIGSTOP) is promoted too, and the
 * master rejoins as a replica once resumed. */
static void test_failover_paused_master(void **state)
{
    static const char *repl[] = { "INFO", "replication" };
    char out[4096];
    int master = -1, replica = -1, slot = -1;
    long long deadline;
    (void)state;

    for (size_t r = 3; r < cl.n && master < 0; r++) {
        if (rc_is_master(&cl, r) != 0)
            continue;
        cmd(r, out, sizeof(out), 2, repl);
        for (size_t m = 0; m < 3; m++) {
            if (info_number(out, "master_port:") == cl.srv[m].port &&
                rc_is_master(&cl, m) == 1) {
                master = (int)m;
                replica = (int)r;
            }
        }
    }
    assert_true(master >= 0);
    for (int s = 0; s < 16384 && slot < 0; s += 97) {
        if (rc_master_of_slot(&cl, s) == master)
            slot = s;
    }
    assert_true(slot >= 0);

    assert_int_equal(rs_pause(&cl.srv[master]), 0);
    assert_int_equal(rc_failover(&cl, (size_t)replica), 0);
    assert_int_equal(rc_master_of_slot(&cl, slot), replica);
    assert_int_equal(rs_resume(&cl.srv[master]), 0);
    deadline = mono_ms() + 10000;
    while (rc_is_master(&cl, (size_t)master) != 0 && mono_ms() < deadline)
        nap();
    assert_int_equal(rc_is_master(&cl, (size_t)master), 0);
}

/* rc_stop leaves no process of ours and no directory behind. */
static void test_stop_leaves_nothing(void **state)
{
    pid_t pids[RC_MAX_SERVERS];
    char dirs[RC_MAX_SERVERS][256], own[256];
    struct stat sb;
    size_t n = cl.n;
    (void)state;

    for (size_t i = 0; i < n; i++) {
        pids[i] = cl.srv[i].pid;
        snprintf(dirs[i], sizeof(dirs[i]), "%s", cl.srv[i].dir);
    }
    snprintf(own, sizeof(own), "%s", cl.dir);
    rc_stop(&cl);
    for (size_t i = 0; i < n; i++) {
        assert_true(pids[i] > 0);
        /* reaped by rs_kill: the PID no longer names our child */
        assert_int_equal(kill(pids[i], 0) == -1 && errno == ESRCH, 1);
        assert_int_equal(cl.srv[i].pid, 0);
        assert_int_equal(stat(dirs[i], &sb), -1);
    }
    assert_int_equal(stat(own, &sb), -1);
}

/* Run the fixture checks in order on one cluster. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_started),
        cmocka_unit_test(test_set_on_master),
        cmocka_unit_test(test_migrate_slot),
        cmocka_unit_test(test_failover),
        cmocka_unit_test(test_failover_paused_master),
        cmocka_unit_test(test_stop_leaves_nothing),
    };
    return cmocka_run_group_tests_name("fixture_cluster", tests, group_setup,
                                       group_teardown);
}
