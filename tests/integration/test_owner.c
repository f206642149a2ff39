/*
 * test_owner.c: owner labels. The key stores "<token> <owner>"; inspect
 * shows the token and the owner apart; extend keeps the value and a
 * restore re-creates it whole; a bad owner is refused before anything is
 * sent; a handle adopted by its token alone still extends and releases;
 * and a plain SET NX / compare-and-delete client and we leave each
 * other's keys alone. Real redis-servers.
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

#include "rl_test.h"

/* Tweak for rl_cluster_start(): the manager's owner. */
static void owner_svc(redlock_options *o)
{
    o->owner = "svc-a";
}

/* Expect GET key on node i to be want. */
static void expect_stored(rl_cluster *c, size_t i, const char *key,
                         const char *want)
{
    char out[256];
    assert_int_equal(rl_get(c, i, key, out, sizeof(out)), 0);
    if (strcmp(out, want) != 0)
        print_error("node %zu: %s = \"%s\", want \"%s\"\n", i, key, out,
                    want);
    assert_string_equal(out, want);
}

/* "<token> <owner>" of lock into buf. */
static const char *value_of(const redlock_lock *l, char *buf, size_t len)
{
    const char *owner = redlock_lock_owner(l);
    if (owner != NULL)
        snprintf(buf, len, "%s %s", redlock_lock_token(l), owner);
    else
        snprintf(buf, len, "%s", redlock_lock_token(l));
    return buf;
}

/* The manager's owner, a per-call owner, and "" for none: stored on every
 * node, given back by redlock_lock_owner(), split apart by inspect. */
static void test_owner_stored(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, owner_svc), 0);
    char want[128];

    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "res", 10000, &l), REDLOCK_OK);
    assert_string_equal(redlock_lock_owner(l), "svc-a");
    snprintf(want, sizeof(want), "%s svc-a", redlock_lock_token(l));
    assert_true(rl_await_keys(&c, 3, 5000));
    for (size_t i = 0; i < 3; i++)
        expect_stored(&c, i, "res", want);
    redlock_node_view v[3];
    assert_int_equal(redlock_inspect(c.m, "res", 3, v, 3), REDLOCK_OK);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(v[i].held, 1);
        assert_string_equal(v[i].holder, redlock_lock_token(l));
        assert_string_equal(v[i].owner, "svc-a");
    }
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 5000));

    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.owner = "job-7@host";
    assert_int_equal(redlock_acquire_ex(c.m, "res", 3, 10000, &ao, &l),
                     REDLOCK_OK);
    assert_string_equal(redlock_lock_owner(l), "job-7@host");
    assert_true(rl_await_keys(&c, 3, 5000));
    expect_stored(&c, 0, "res", value_of(l, want, sizeof(want)));
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 5000));

    ao.owner = "";
    assert_int_equal(redlock_acquire_ex(c.m, "res", 3, 10000, &ao, &l),
                     REDLOCK_OK);
    assert_null(redlock_lock_owner(l));
    assert_true(rl_await_keys(&c, 3, 5000));
    expect_stored(&c, 1, "res", redlock_lock_token(l));
    assert_int_equal(redlock_inspect(c.m, "res", 3, v, 3), REDLOCK_OK);
    assert_string_equal(v[1].owner, "");
    assert_string_equal(v[1].holder, redlock_lock_token(l));
    assert_int_equal(redlock_release(l), REDLOCK_OK);

    /* multi-resource locks store the owner on every key */
    const void *res[2] = {"m1", "m2"};
    assert_int_equal(redlock_acquire_multi(c.m, res, NULL, 2, 10000, NULL,
                                           &l),
                     REDLOCK_OK);
    assert_true(rl_await_keys(&c, 6, 5000));
    value_of(l, want, sizeof(want));
    expect_stored(&c, 2, "m1", want);
    expect_stored(&c, 2, "m2", want);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 5000));
    rl_cluster_stop(&c);
}

/* Argument of ttl_above(). */
typedef struct ttl_check {
    rl_cluster *c;
    size_t node;
    const char *key;
    long long min_ms;
} ttl_check;

/* Condition: PTTL of key on the node is above min_ms. */
static bool ttl_above(void *arg)
{
    ttl_check *t = arg;
    char out[64];
    const char *argv[2] = {"PTTL", t->key};
    if (rs_command(&t->c->srv[t->node], out, sizeof(out), 2, argv) != 0)
        return false;
    return strtoll(out, NULL, 10) > t->min_ms;
}

/* Extend keeps the value (and sets the new TTL); a node that lost the
 * key gets it back, owner included, from the restore; a lease renews it
 * the same way. */
static void test_owner_extend_restore(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, owner_svc), 0);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "ext", 5000, &l), REDLOCK_OK);
    char want[128];
    value_of(l, want, sizeof(want));
    assert_true(rl_await_keys(&c, 3, 5000));
    assert_int_equal(redlock_extend(l, 60000), REDLOCK_OK);
    for (size_t i = 0; i < 3; i++) {
        expect_stored(&c, i, "ext", want);
        ttl_check t = {&c, i, "ext", 10000};
        assert_true(rl_await(ttl_above, &t, 5000));
    }
    /* node 0 loses the key; the next extension wins on 1 and 2 and
     * restores node 0 with the whole value */
    char out[64];
    const char *del[2] = {"DEL", "ext"};
    assert_int_equal(rs_command(&c.srv[0], out, sizeof(out), 2, del), 0);
    assert_int_equal(redlock_extend(l, 60000), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 3, 5000));
    expect_stored(&c, 0, "ext", want);
    ttl_check t0 = {&c, 0, "ext", 10000};
    assert_true(rl_await(ttl_above, &t0, 5000));
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 5000));

    /* a lease renews and keeps the value */
    redlock_lease *lease = NULL;
    redlock_lease_options lo;
    redlock_lease_options_init(&lo);
    assert_int_equal(redlock_lease_acquire(c.m, "lease", 300, NULL, &lo,
                                           &lease),
                     REDLOCK_OK);
    value_of(redlock_lease_lock(lease), want, sizeof(want));
    while (redlock_lease_renewals(lease) < 2)
        assert_int_equal(redlock_lease_wait(lease, 20), REDLOCK_ETIMEDOUT);
    for (size_t i = 0; i < 3; i++)
        expect_stored(&c, i, "lease", want);
    assert_int_equal(redlock_lease_stop(lease, NULL), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 5000));
    rl_cluster_stop(&c);
}

/* Bad owners: refused at create and per call, before anything is
 * sent. */
static void test_owner_invalid(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 1, NULL), 0);
    char long_owner[REDLOCK_OWNER_MAX + 2];
    memset(long_owner, 'x', sizeof(long_owner));
    long_owner[REDLOCK_OWNER_MAX + 1] = '\0';
    const char *bad[] = {"with space", "tab\t", "nl\n", "\x7f", long_owner,
                         "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        redlock_options o;
        rl_test_options(&o, NULL);
        o.owner = bad[i];
        redlock_manager *m = (redlock_manager *)0x1;
        char err[256] = "";
        assert_int_equal(redlock_manager_create_ex(c.uris, 1, &o, &m, err,
                                                   sizeof(err)),
                         REDLOCK_EINVAL);
        assert_null(m);
        assert_non_null(strstr(err, "owner"));
    }
    /* the longest valid owner, and "" (none), are accepted */
    redlock_options o;
    rl_test_options(&o, NULL);
    long_owner[REDLOCK_OWNER_MAX] = '\0';
    o.owner = long_owner;
    redlock_manager *m = NULL;
    assert_int_equal(redlock_manager_create(c.uris, 1, &o, &m), REDLOCK_OK);
    redlock_manager_destroy(m);
    o.owner = "";
    assert_int_equal(redlock_manager_create(c.uris, 1, &o, &m), REDLOCK_OK);
    redlock_manager_destroy(m);

    long long sets = rs_info_count(&c.srv[0], "commandstats",
                                   "cmdstat_set:calls=");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (bad[i] == long_owner)
            continue;
        redlock_acquire_opts ao;
        redlock_acquire_opts_init(&ao);
        ao.owner = bad[i];
        redlock_lock *l = (redlock_lock *)0x1;
        assert_int_equal(redlock_acquire_ex(c.m, "r", 1, 10000, &ao, &l),
                         REDLOCK_EINVAL);
        assert_null(l);
    }
    assert_int_equal(rs_info_count(&c.srv[0], "commandstats",
                                   "cmdstat_set:calls="),
                     sets);
    rl_cluster_stop(&c);
}

/* redlock_lock_adopt() by the token alone extends and releases a key
 * that carries an owner; adopting the whole value knows the owner; a
 * token followed by a bad owner is refused. */
static void test_adopt_forms(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, owner_svc), 0);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "adopt", 10000, &l), REDLOCK_OK);
    char token[REDLOCK_TOKEN_LEN + 1], value[128];
    snprintf(token, sizeof(token), "%s", redlock_lock_token(l));
    value_of(l, value, sizeof(value));
    redlock_lock_free(l);
    assert_true(rl_await_keys(&c, 3, 5000));

    redlock_lock *a = NULL;
    assert_int_equal(redlock_lock_adopt(c.m, "adopt", 5, token, 10000, &a),
                     REDLOCK_OK);
    assert_null(redlock_lock_owner(a));
    assert_int_equal(redlock_extend(a, 20000), REDLOCK_OK);
    expect_stored(&c, 0, "adopt", value); /* the owner stays */
    redlock_lock *b = NULL;
    assert_int_equal(redlock_lock_adopt(c.m, "adopt", 5, value, 10000, &b),
                     REDLOCK_OK);
    assert_string_equal(redlock_lock_owner(b), "svc-a");
    assert_string_equal(redlock_lock_token(b), token);
    redlock_lock_free(b);
    assert_int_equal(redlock_release(a), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 5000));

    char bad[128];
    snprintf(bad, sizeof(bad), "%s two words", token);
    assert_int_equal(redlock_lock_adopt(c.m, "adopt", 5, bad, 10000, &b),
                     REDLOCK_EINVAL);
    snprintf(bad, sizeof(bad), "%s ", token);
    assert_int_equal(redlock_lock_adopt(c.m, "adopt", 5, bad, 10000, &b),
                     REDLOCK_EINVAL);
    snprintf(bad, sizeof(bad), "%sx", token);
    assert_int_equal(redlock_lock_adopt(c.m, "adopt", 5, bad, 10000, &b),
                     REDLOCK_EINVAL);
    rl_cluster_stop(&c);
}

/* The compare-and-delete script a plain (non-Redlock-library) client
 * uses: delete only if the value equals ARGV[1]. */
static const char plain_cad[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('del', KEYS[1]) else return 0 end";

/* Run the plain client's compare-and-delete of key with value on node i;
 * returns what it deleted (0 or 1). */
static long long plain_release(rl_cluster *c, size_t i, const char *key,
                               const char *value)
{
    char out[64];
    const char *argv[5] = {"EVAL", plain_cad, "1", key, value};
    assert_int_equal(rs_command(&c->srv[i], out, sizeof(out), 5, argv), 0);
    return strtoll(out, NULL, 10);
}

/* Interoperability with a plain SET NX PX / compare-and-delete client:
 * it sees our key as held (SET NX fails), it cannot delete it with our
 * token alone (it needs the whole value), and our release never deletes
 * its key, even one whose value starts with our token. */
static void test_interop_plain_client(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, owner_svc), 0);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "shared", 10000, &l), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 3, 5000));
    char out[64], value[128];
    value_of(l, value, sizeof(value));
    for (size_t i = 0; i < 3; i++) {
        const char *setnx[6] = {"SET", "shared", "plain-token", "NX", "PX",
                                "10000"};
        assert_int_equal(rs_command(&c.srv[i], out, sizeof(out), 6, setnx),
                         0);
        assert_string_equal(out, "(nil)"); /* held */
        assert_int_equal(plain_release(&c, i, "shared",
                                       redlock_lock_token(l)),
                         0);
    }
    expect_stored(&c, 0, "shared", value);
    /* given the whole stored value, its compare-and-delete works */
    assert_int_equal(plain_release(&c, 0, "shared", value), 1);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 5000));

    /* its key, taken with SET NX: we see it held, and a release with a
     * token it starts with (but no space after) does not delete it */
    char token[REDLOCK_TOKEN_LEN + 1];
    snprintf(token, sizeof(token), "%s",
             "00112233445566778899aabbccddeeff");
    char theirs[64];
    snprintf(theirs, sizeof(theirs), "%sX", token);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(rl_set(&c, i, "theirs", theirs, 30000), 0);
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.retry_count = 0;
    assert_int_equal(redlock_acquire_ex(c.m, "theirs", 6, 10000, &ao, &l),
                     REDLOCK_ETAKEN);
    redlock_lock *a = NULL;
    assert_int_equal(redlock_lock_adopt(c.m, "theirs", 6, token, 10000, &a),
                     REDLOCK_OK);
    assert_int_equal(redlock_extend(a, 10000), REDLOCK_ENOTHELD);
    assert_int_equal(redlock_release(a), REDLOCK_ENOTHELD);
    for (size_t i = 0; i < 3; i++)
        expect_stored(&c, i, "theirs", theirs);
    rl_cluster_stop(&c);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_stored),
        cmocka_unit_test(test_owner_extend_restore),
        cmocka_unit_test(test_owner_invalid),
        cmocka_unit_test(test_adopt_forms),
        cmocka_unit_test(test_interop_plain_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
