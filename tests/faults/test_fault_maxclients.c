/*
 * test_fault_maxclients.c: fault scenario "node at its client limit".
 *
 * On three of five nodes (a majority) an admin connection lowers
 * maxclients to 1 (itself) and drops every other connection with CLIENT
 * KILL TYPE normal; for 1.5 s every reconnect is refused by the server
 * with "-ERR max number of clients reached". Then the limit is put back.
 * What must hold: the refusal reaches the user as a clear error (a node
 * event or an acquire detail that names it, asserted at the end of the
 * test); no acquire succeeds without a majority and no call hangs or
 * returns past its bound; the parent's leases are lost and told in time;
 * after the limit is raised the nodes reconnect and locks are granted
 * again; no overlap, no late loss.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "fault_harness.h"

/* The message Redis sends to a connection over its client limit. */
#define MAXCLIENTS_ERROR "max number of clients reached"

/* Nodes whose limit is lowered. */
#define LIMITED 3

/* Run a command on an admin connection and expect a status or integer
 * reply; returns the reply's text (static buffer) for messages. */
static const char *admin(redisContext *c, const char *fmt, const char *arg)
{
    static char text[256];
    redisReply *rep = redisCommand(c, fmt, arg);
    assert_non_null(rep);
    assert_int_not_equal(rep->type, REDIS_REPLY_ERROR);
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
        snprintf(text, sizeof(text), "%s", rep->element[1]->str);
    else if (rep->type == REDIS_REPLY_STATUS)
        snprintf(text, sizeof(text), "%s", rep->str);
    else if (rep->type == REDIS_REPLY_INTEGER)
        snprintf(text, sizeof(text), "%lld", rep->integer);
    else
        text[0] = '\0';
    freeReplyObject(rep);
    return text;
}

/* The scenario. */
static void test_maxclients(void **state)
{
    fh_run *r = *state;
    fh_config cfg;
    fh_config_init(&cfg, "maxclients");
    cfg.watch_text = MAXCLIENTS_ERROR;
    assert_int_equal(fh_start(r, &cfg), 0);

    redisContext *adm[LIMITED];
    char saved[LIMITED][32];
    struct timeval tv = {2, 0};
    for (size_t i = 0; i < LIMITED; i++) {
        adm[i] = redisConnectWithTimeout("127.0.0.1", r->srv[i].port, tv);
        assert_non_null(adm[i]);
        assert_int_equal(adm[i]->err, 0);
        redisSetTimeout(adm[i], tv);
        snprintf(saved[i], sizeof(saved[i]), "%s",
                 admin(adm[i], "CONFIG GET %s", "maxclients"));
    }
    fh_at(r, 800);
    assert_int_equal(fh_observe_start(r, 4), 0);

    fh_at(r, 1500);
    uint64_t from = fh_now();
    for (size_t i = 0; i < LIMITED; i++) {
        admin(adm[i], "CONFIG SET maxclients %s", "1");
        const char *killed = admin(adm[i], "CLIENT KILL TYPE %s", "normal");
        fh_fault(r, "node %zu (%d): CONFIG SET maxclients 1, CLIENT KILL "
                    "TYPE normal (%s killed)",
                 i, r->srv[i].port, killed);
    }
    fh_at(r, 3000);
    uint64_t to = fh_now();
    for (size_t i = 0; i < LIMITED; i++) {
        admin(adm[i], "CONFIG SET maxclients %s", saved[i]);
        printf("[%s] node %zu: maxclients back to %s\n", cfg.name, i,
               saved[i]);
        redisFree(adm[i]);
    }
    /* After the first reconnect delay the grants come back. */
    fh_window(r, "limited", from + 100000u, to);
    fh_window(r, "after", to + 700000u, r->end_us);
    fh_observe_stop(r);

    assert_int_equal(fh_finish(r), 0);
    size_t during = fh_grants_in(r, "limited");
    size_t after = fh_grants_in(r, "after");
    fh_summary(r, "grants_while_limited=%zu grants_after_raise=%zu "
                  "clear_error_messages=%llu",
               during, after, (unsigned long long)r->total.watch_hits);
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_int_equal(r->total.slow_calls, 0);
    assert_int_equal(during, 0);
    assert_true(after > 0);
    assert_int_equal(r->obs_lost, r->obs_leases);
    for (int p = 0; p < cfg.procs; p++) {
        assert_true(r->stats[p].node_down >= LIMITED);
        assert_true(r->stats[p].node_up >= LIMITED);
    }
    /* A clear error: the server's reason reaches the user, through a
     * node event (a change of reason while down is reported) or an
     * acquire's detail. */
    if (r->total.watch_hits == 0)
        printf("[%s] no node event or acquire detail names \"%s\"; last "
               "node-down event: %s\n",
               cfg.name, MAXCLIENTS_ERROR, r->total.last_down_msg);
    assert_true(r->total.watch_hits > 0);
}

/* Run the scenario. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_maxclients, fh_setup,
                                        fh_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
