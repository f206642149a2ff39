/*
 * test_fast_path.c: the fast path (docs/design.md, "Inline I/O"): a
 * calling thread writes to idle nodes itself and reads their replies
 * while it waits.
 *
 * - Serial operations on idle nodes are written by the calling thread
 *   (the nodes' write counters say who wrote each command), and no
 *   command is written twice.
 * - A node that answers late (SIGSTOPped, then resumed) while the caller
 *   does inline I/O: the decision comes from the other nodes, and the late
 *   reply is still read, in order: the connection stays up (a reply
 *   matched to the wrong command would end it or misread a later one),
 *   the late SET landed and the release that follows it removes it, and
 *   later operations on that node get their own answers.
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manager.h"
#include "node.h"
#include "redlock.h"
#include "rl_test.h"

/* Commands written to node i by calling threads and by its worker. */
static void counts(rl_cluster *c, size_t i, uint64_t *inl, uint64_t *wrk)
{
    redlock__node_write_counts(c->m->nodes[i], inl, wrk);
}

/* For rl_await: the key "late" exists on node 2. */
static bool late_on_node2(void *arg)
{
    return rl_pttl(arg, 2, "late") > 0;
}

static void long_timeouts(redlock_options *o)
{
    o->command_timeout_ms = 10000; /* the pause must not fail the node */
}

static void test_serial_ops_written_inline(void **state)
{
    (void)state;
    rl_cluster c;
    /* Long command timeouts: on a loaded machine a reply slower than the
     * default second would end the connection, and a release in flight
     * then is written again on the next one (node.c, conn_fail()), which
     * this count would take for a command written twice. */
    assert_int_equal(rl_cluster_start(&c, 3, long_timeouts), 0);
    /* Connected: the first acquire may have waited for the handshakes. */
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "warm", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    /* The release returned on a quorum; its command to the third node
     * may still be queued at that node's worker. Counted below, it would
     * look like a command written twice (CI saw 301 of 300). */
    assert_true(rl_await_keys(&c, 0, 10000));
    uint64_t inl0[3], wrk0[3];
    for (size_t i = 0; i < 3; i++)
        counts(&c, i, &inl0[i], &wrk0[i]);

    enum { CYCLES = 50 };
    for (int k = 0; k < CYCLES; k++) {
        char res[32];
        snprintf(res, sizeof(res), "fp:%d", k);
        assert_int_equal(redlock_acquire(c.m, res, 10000, &l), REDLOCK_OK);
        assert_int_equal(redlock_release(l), REDLOCK_OK);
    }
    assert_true(rl_await_keys(&c, 0, 10000));
    uint64_t inl = 0, all = 0;
    for (size_t i = 0; i < 3; i++) {
        uint64_t a, b;
        counts(&c, i, &a, &b);
        inl += a - inl0[i];
        all += (a - inl0[i]) + (b - wrk0[i]);
    }
    print_message("commands written inline: %llu of %llu\n",
                  (unsigned long long)inl, (unsigned long long)all);
    /* No connection ended (the premise of the count below). */
    for (size_t i = 0; i < 3; i++)
        assert_false(rl_wait_down(&c.ev, i, 1, 0));
    /* No command was written twice (one the worker still had queued
     * when its op was decided may be skipped: at most one each)... */
    assert_true(all <= (uint64_t)CYCLES * 2u * 3u);
    /* ...and idle nodes were written by the calling thread. */
    assert_true(inl > 0);
    rl_cluster_stop(&c);
}

static void test_late_node_read_in_order(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, long_timeouts), 0);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "warm", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    /* Nothing of the warm-up left in flight: each node is idle again, so
     * the acquire below is written by this thread where it can be. */
    assert_true(rl_await_keys(&c, 0, 10000));
    uint64_t wrk;
    long long expired = rl_expired_keys(&c);

    /* Node 2 stops answering; nodes 0 and 1 decide. The fast path is
     * opportunistic (a caller writes only if it gets the node's I/O lock
     * at once), so on a loaded machine a try may take the worker's path
     * on some node: such a try is released and made again, up to 20
     * times, until this thread wrote to all three nodes itself. */
    bool all_inline = false;
    redlock_status st = REDLOCK_OK;
    for (int t = 0; t < 20 && !all_inline; t++) {
        uint64_t before[3];
        for (size_t i = 0; i < 3; i++)
            counts(&c, i, &before[i], &wrk);
        assert_int_equal(kill(c.srv[2].pid, SIGSTOP), 0);
        st = redlock_acquire(c.m, "late", 30000, &l);
        size_t granted = st == REDLOCK_OK ? redlock_lock_nodes_granted(l) : 0;
        assert_int_equal(kill(c.srv[2].pid, SIGCONT), 0);
        assert_int_equal(st, REDLOCK_OK);
        assert_int_equal(granted, 2);
        all_inline = true;
        for (size_t i = 0; i < 3; i++) {
            uint64_t a;
            counts(&c, i, &a, &wrk);
            all_inline = all_inline && a > before[i];
        }
        /* The late SET lands on node 2 once it resumed... */
        assert_true(rl_await(late_on_node2, &c, 10000));
        if (!all_inline) {
            assert_int_equal(redlock_release(l), REDLOCK_OK);
            assert_true(rl_await_keys(&c, 0, 10000));
        }
    }
    assert_true(all_inline); /* decided on the fast path */

    /* ...and the release behind it removes it there too. */
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 10000));

    /* Later commands to node 2 get their own replies: every node grants
     * each acquire once it is answering again, and each release removes
     * what it took. */
    for (int k = 0; k < 20; k++) {
        char res[32];
        snprintf(res, sizeof(res), "after:%d", k);
        assert_int_equal(redlock_acquire(c.m, res, 10000, &l), REDLOCK_OK);
        assert_int_equal(redlock_release(l), REDLOCK_OK);
    }
    assert_true(rl_await_keys(&c, 0, 10000));
    /* Removed by the releases, none by TTL: */
    assert_int_equal(rl_expired_keys(&c), expired);
    /* The late reply was matched to its command: node 2's connection
     * never failed (a reply without a request, or one misread, ends it). */
    assert_false(rl_wait_down(&c.ev, 2, 1, 0));
    rl_cluster_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_ops_written_inline),
        cmocka_unit_test(test_late_node_read_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
