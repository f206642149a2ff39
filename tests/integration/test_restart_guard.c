/*
 * test_restart_guard.c: the restart guard against real redis-servers
 * (docs/safety.md, "Restart guard"). A node restarted without its data
 * is not sent acquires or extends until the guard time has passed since
 * its restart; it still gets releases and reads. Checked here:
 *   - AUTO (the default): nodes started before the manager's first lock
 *     are usable at once; a node restarted after it is guarded for the
 *     largest TTL sent (its slots answer REDLOCK_EGUARDED, unsent: no key
 *     lands there; an event and inspect say so), and votes again once
 *     that has passed (an "up" event);
 *   - an explicit guard above the nodes' uptime guards fresh nodes, and
 *     releases still reach them;
 *   - 0 turns it off: a restarted node grants at once.
 * The rule's arithmetic is tested in tests/unit/test_quorum.c.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rl_test.h"

/* What await_status waits for. */
typedef struct status_wait {
    rl_events *ev;
    size_t node;
    redlock_status st;
} status_wait;

/* True when the last event of w->node has status w->st. */
static bool last_status_is(void *arg)
{
    status_wait *w = arg;
    pthread_mutex_lock(&w->ev->mu);
    bool yes = w->ev->count > 0 && w->ev->last_status[w->node] == w->st &&
               (w->st != REDLOCK_OK || w->ev->up[w->node] > 0);
    pthread_mutex_unlock(&w->ev->mu);
    return yes;
}

/* Wait until node's last event has status st (up to timeout_ms). */
static bool await_status(rl_events *ev, size_t node, redlock_status st,
                         int timeout_ms)
{
    status_wait w = {ev, node, st};
    return rl_await(last_status_is, &w, timeout_ms);
}

/* A copy of node's last event message. */
static void last_message(rl_events *ev, size_t node, char *out, size_t len)
{
    pthread_mutex_lock(&ev->mu);
    snprintf(out, len, "%s", ev->last_message[node]);
    pthread_mutex_unlock(&ev->mu);
}

/* SIGKILL node i and start it again at once, empty. */
static void restart_empty(rl_cluster *c, size_t i)
{
    rs_kill(&c->srv[i], 1);
    assert_int_equal(rs_restart(&c->srv[i]), 0);
}


/* AUTO: fresh nodes vote at once; a node restarted after the first lock
 * is guarded for the largest TTL sent, then votes again. */
static void test_auto_guards_restarted_node(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_acquire_info info;
    redlock_lock *a = NULL;
    /* Fresh nodes (uptime about 0 s) are usable: nothing of ours was
     * sent before they started. */
    assert_int_equal(rl_try_once(c.m, "rg-a", 1000, &info, &a), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 3, 5000)); /* on every node */
    /* The largest TTL sent so far comes from an extension: 5 s. */
    assert_int_equal(redlock_extend(a, 5000), REDLOCK_OK);
    assert_int_equal(redlock_release(a), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 5000));

    /* Node 0 restarts empty after our first TTL went out. */
    restart_empty(&c, 0);
    assert_true(await_status(&c.ev, 0, REDLOCK_EGUARDED, 10000));
    char msg[200];
    last_message(&c.ev, 0, msg, sizeof(msg));
    assert_non_null(strstr(msg, "restart guard: run_id changed from"));
    assert_non_null(strstr(msg, "guard 5.0 s (auto"));

    /* Acquires skip it: granted by the other two (node 0 answers
     * EGUARDED, or had not when the quorum decided), no key on node 0. */
    redlock_lock *b = NULL;
    assert_int_equal(rl_try_once(c.m, "rg-b", 1000, &info, &b), REDLOCK_OK);
    assert_true(info.node_status[0] == REDLOCK_EGUARDED ||
                info.node_status[0] == REDLOCK_EPENDING);
    /* Extensions too. */
    assert_int_equal(redlock_extend(b, 1000), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 2, 5000));
    char val[128];
    assert_int_equal(rl_get(&c, 0, "rg-b", val, sizeof(val)), 0);
    assert_string_equal(val, "(nil)");
    /* Reads still go; the view says why it does not vote. */
    redlock_node_view views[3];
    assert_int_equal(redlock_inspect(c.m, "rg-b", 4, views, 3), REDLOCK_OK);
    assert_int_equal(views[0].reachable, 1);
    assert_int_equal(views[0].held, 0);
    assert_int_equal(views[0].error, REDLOCK_EGUARDED);
    assert_int_equal(views[1].error, REDLOCK_OK);
    assert_int_equal(views[1].held, 1);
    assert_int_equal(redlock_release(b), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 5000));

    /* Node 1 restarts too: two of three guarded, no quorum, and both
     * answers say why (a lost attempt waits for them). */
    restart_empty(&c, 1);
    assert_true(await_status(&c.ev, 1, REDLOCK_EGUARDED, 10000));
    assert_int_equal(rl_try_once(c.m, "rg-c", 1000, &info, &b),
                     REDLOCK_ENOQUORUM);
    assert_int_equal(info.node_status[0], REDLOCK_EGUARDED);
    assert_int_equal(info.node_status[1], REDLOCK_EGUARDED);
    assert_non_null(strstr(info.detail, "restart guard"));
    assert_true(rl_await_keys(&c, 0, 5000));

    /* The guard ends (5 s + drift after the restart): reported as up,
     * and node 0 grants again. */
    assert_true(await_status(&c.ev, 0, REDLOCK_OK, 15000));
    last_message(&c.ev, 0, msg, sizeof(msg));
    assert_non_null(strstr(msg, "restart guard over"));
    assert_true(await_status(&c.ev, 1, REDLOCK_OK, 15000));
    /* A longer TTL now (20 s) does not start an ended guard again. */
    redlock_lock *d = NULL;
    assert_int_equal(rl_try_once(c.m, "rg-d", 20000, &info, &d), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 3, 5000)); /* node 0 and 1 grant */
    assert_int_equal(redlock_release(d), REDLOCK_OK);
    rl_cluster_stop(&c);
}

/* restart_guard_ms for the tweak below. */
static uint32_t tweak_guard_ms;

/* Set the guard. */
static void set_guard(redlock_options *o)
{
    o->restart_guard_ms = tweak_guard_ms;
}

/* An explicit guard longer than the nodes' uptime guards fresh nodes:
 * nothing is granted and no key is left; a release still reaches them. */
static void test_explicit_guard_fresh_nodes(void **state)
{
    (void)state;
    rl_cluster c;
    tweak_guard_ms = 0; /* the first manager: off */
    assert_int_equal(rl_cluster_start(&c, 3, set_guard), 0);
    redlock_lock *a = NULL;
    assert_int_equal(redlock_acquire(c.m, "rg-e", 30000, &a), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 3, 5000));
    char token[REDLOCK_TOKEN_LEN + 1];
    snprintf(token, sizeof(token), "%s", redlock_lock_token(a));

    /* A second manager with a guard of one hour. */
    rl_events ev;
    rl_events_init(&ev, &c);
    redlock_options o;
    rl_test_options(&o, &ev);
    o.restart_guard_ms = 3600000;
    redlock_manager *g = NULL;
    assert_int_equal(redlock_manager_create(c.uris, c.n, &o, &g),
                     REDLOCK_OK);
    for (size_t i = 0; i < 3; i++)
        assert_true(await_status(&ev, i, REDLOCK_EGUARDED, 10000));
    char msg[200];
    last_message(&ev, 1, msg, sizeof(msg));
    assert_non_null(strstr(msg, "restart guard: uptime"));
    assert_non_null(strstr(msg, "guard 3600.0 s:"));

    redlock_acquire_info info;
    redlock_lock *b = NULL;
    assert_int_equal(rl_try_once(g, "rg-f", 1000, &info, &b),
                     REDLOCK_ENOQUORUM);
    assert_null(b);
    /* Lost once two refused; the third may not have answered yet. */
    size_t guarded = 0;
    for (size_t i = 0; i < 3; i++) {
        assert_true(info.node_status[i] == REDLOCK_EGUARDED ||
                    info.node_status[i] == REDLOCK_EPENDING);
        guarded += info.node_status[i] == REDLOCK_EGUARDED;
    }
    assert_true(guarded >= 2);
    assert_true(rl_await_keys(&c, 3, 5000)); /* only rg-e's three */

    /* The guarded manager releases the first one's lock everywhere. */
    redlock_lock *adopted = NULL;
    assert_int_equal(redlock_lock_adopt(g, "rg-e", 4, token, 30000,
                                        &adopted),
                     REDLOCK_OK);
    assert_int_equal(redlock_release(adopted), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 5000));
    redlock_lock_free(a);
    redlock_manager_destroy(g);
    rl_events_destroy(&ev);
    rl_cluster_stop(&c);
}

/* Guard 0: a node restarted empty grants at once (the plain spec). */
static void test_guard_off(void **state)
{
    (void)state;
    rl_cluster c;
    tweak_guard_ms = 0;
    assert_int_equal(rl_cluster_start(&c, 3, set_guard), 0);
    redlock_lock *a = NULL;
    redlock_acquire_info info;
    assert_int_equal(rl_try_once(c.m, "rg-g", 5000, &info, &a), REDLOCK_OK);
    assert_int_equal(redlock_release(a), REDLOCK_OK);
    restart_empty(&c, 0);
    assert_true(await_status(&c.ev, 0, REDLOCK_OK, 10000));
    assert_int_equal(rl_try_once(c.m, "rg-h", 5000, &info, &a), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 3, 5000)); /* node 0 granted too */
    assert_int_equal(redlock_release(a), REDLOCK_OK);
    rl_cluster_stop(&c);
}

/* Run them. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_guards_restarted_node),
        cmocka_unit_test(test_explicit_guard_fresh_nodes),
        cmocka_unit_test(test_guard_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
