/*
 * test_election_observe.c: redlock_election_observe() from a third
 * manager that takes part in nothing: before any candidate, while one
 * leads (its owner label, its token prefix and its term's fence), after a
 * change of leader (the new owner, prefix and a larger fence), and with
 * too few nodes left to read a quorum. Real redis-servers.
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

/* A manager on c's servers with the given owner label. */
static redlock_manager *manager_owned(rl_cluster *c, const char *owner)
{
    redlock_options o;
    rl_test_options(&o, NULL);
    o.owner = owner;
    redlock_manager *m = NULL;
    assert_int_equal(redlock_manager_create(c->uris, c->n, &o, &m),
                     REDLOCK_OK);
    return m;
}

/* rl_await condition: the election leads. */
static bool leads(void *arg)
{
    return redlock_election_is_leader(arg) != 0;
}

/* Argument of observed_owner(). */
typedef struct watch {
    redlock_manager *m;
    const char *owner;
    size_t nodes;
    redlock_leader_view v;
} watch;

/* rl_await condition: observe shows a leader with that owner, stored on
 * `nodes` nodes. */
static bool observed_owner(void *arg)
{
    watch *w = arg;
    return redlock_election_observe(w->m, "sched", &w->v) == REDLOCK_OK &&
           w->v.held && strcmp(w->v.owner, w->owner) == 0 &&
           w->v.nodes_agreeing == w->nodes;
}

/* The leader's owner, token prefix and fence, before and after a change
 * of leader. */
static void test_observe_leader_change(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_manager *ma = manager_owned(&c, "cand-a");
    redlock_manager *mb = manager_owned(&c, "cand-b");

    redlock_leader_view v;
    assert_int_equal(redlock_election_observe(c.m, "sched", &v),
                     REDLOCK_OK);
    assert_int_equal(v.held, 0);
    assert_string_equal(v.owner, "");
    assert_string_equal(v.token_prefix, "");
    assert_int_equal(v.fence, 0);
    assert_int_equal(v.ttl_ms, -2);
    assert_int_equal(v.nodes_agreeing, 0);

    redlock_election *a = NULL, *b = NULL;
    assert_int_equal(redlock_election_start(ma, "sched", 2000, NULL, NULL,
                                            &a),
                     REDLOCK_OK);
    assert_true(rl_await(leads, a, 10000));
    char token[REDLOCK_TOKEN_LEN + 1];
    uint64_t fence_a = 0;
    assert_int_equal(redlock_election_leader_token(a, token, sizeof(token),
                                                   &fence_a),
                     REDLOCK_OK);
    watch w = {c.m, "cand-a", 3, {0}};
    assert_true(rl_await(observed_owner, &w, 5000));
    assert_memory_equal(w.v.token_prefix, token, 8);
    assert_int_equal(w.v.token_prefix[8], '\0');
    assert_int_equal(w.v.fence, fence_a);
    assert_true(w.v.ttl_ms > 0 && w.v.ttl_ms <= 2000);

    /* b campaigns; a resigns; b takes over with a larger fence */
    assert_int_equal(redlock_election_start(mb, "sched", 2000, NULL, NULL,
                                            &b),
                     REDLOCK_OK);
    assert_int_equal(redlock_election_resign(a), REDLOCK_OK);
    assert_true(rl_await(leads, b, 10000));
    uint64_t fence_b = 0;
    assert_int_equal(redlock_election_leader_token(b, token, sizeof(token),
                                                   &fence_b),
                     REDLOCK_OK);
    assert_true(fence_b > fence_a);
    watch wb = {c.m, "cand-b", 3, {0}};
    assert_true(rl_await(observed_owner, &wb, 5000));
    assert_memory_equal(wb.v.token_prefix, token, 8);
    assert_int_equal(wb.v.fence, fence_b);

    /* the observer's own key prefix must match: another prefix sees no
     * election */
    redlock_options o;
    rl_test_options(&o, NULL);
    o.key_prefix = "other:";
    redlock_manager *mo = NULL;
    assert_int_equal(redlock_manager_create(c.uris, 3, &o, &mo), REDLOCK_OK);
    assert_int_equal(redlock_election_observe(mo, "sched", &v), REDLOCK_OK);
    assert_int_equal(v.held, 0);
    redlock_manager_destroy(mo);

    redlock_election_destroy(b);
    redlock_election_destroy(a);
    redlock_manager_destroy(mb);
    redlock_manager_destroy(ma);
    rl_cluster_stop(&c);
}

/* Bad arguments, and too few nodes for a quorum read. */
static void test_observe_errors(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_leader_view v;
    assert_int_equal(redlock_election_observe(NULL, "x", &v),
                     REDLOCK_EINVAL);
    assert_int_equal(redlock_election_observe(c.m, "", &v), REDLOCK_EINVAL);
    assert_int_equal(redlock_election_observe(c.m, NULL, &v),
                     REDLOCK_EINVAL);
    assert_int_equal(redlock_election_observe(c.m, "x", NULL),
                     REDLOCK_EINVAL);
    static char long_name[REDLOCK_RESOURCE_MAX];
    memset(long_name, 'n', sizeof(long_name) - 1);
    assert_int_equal(redlock_election_observe(c.m, long_name, &v),
                     REDLOCK_ERANGE);
    rs_stop(&c.srv[0]);
    rs_stop(&c.srv[1]);
    assert_int_equal(redlock_election_observe(c.m, "x", &v),
                     REDLOCK_ENOQUORUM);
    assert_int_equal(v.held, 0);
    assert_int_equal(v.ttl_ms, -2);
    rl_cluster_stop(&c);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observe_leader_change),
        cmocka_unit_test(test_observe_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
