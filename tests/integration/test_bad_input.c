/*
 * test_bad_input.c: every kind of bad input gets its own clear status and
 * leaves nothing behind: no key on any node, no thread, no fd; and sends
 * nothing (no node's INFO commandstats moves during the bad calls).
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

/* ------------------------------------------------------------------------
 * "Nothing was sent": every node's INFO commandstats, before and after.
 * ------------------------------------------------------------------------ */

/* Commands node s has received, from INFO commandstats: the sum of every
 * command's calls and rejected_calls, except the INFO and DBSIZE this
 * test sends itself (each over a connection of its own). Commands a
 * script runs count too (Redis 7 counts them under their own names). -1
 * on error. */
static long long commands_run(const rs_server *s)
{
    static char out[65536];
    const char *argv[2] = {"INFO", "commandstats"};
    if (rs_command(s, out, sizeof(out), 2, argv) != 0)
        return -1;
    long long total = 0;
    for (const char *line = out; line != NULL && *line != '\0';) {
        const char *calls = strstr(line, ":calls=");
        const char *eol = strchr(line, '\n');
        if (strncmp(line, "cmdstat_", 8) == 0 && calls != NULL &&
            (eol == NULL || calls < eol) &&
            strncmp(line, "cmdstat_info:", 13) != 0 &&
            strncmp(line, "cmdstat_dbsize:", 15) != 0) {
            total += strtoll(calls + 7, NULL, 10);
            const char *rej = strstr(calls, ",rejected_calls=");
            if (rej != NULL && (eol == NULL || rej < eol))
                total += strtoll(rej + 16, NULL, 10);
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    return total;
}

/* Snapshot of commands_run() on every node. */
typedef struct sent_mark {
    long long n[RL_MAX_NODES];
} sent_mark;

/* Take a snapshot. */
static sent_mark sent_now(rl_cluster *c)
{
    sent_mark m;
    for (size_t i = 0; i < c->n; i++) {
        m.n[i] = commands_run(&c->srv[i]);
        assert_true(m.n[i] >= 0);
    }
    return m;
}

/* No node has run a command since the snapshot was taken. */
static void assert_nothing_sent(rl_cluster *c, const sent_mark *before)
{
    for (size_t i = 0; i < c->n; i++) {
        long long now = commands_run(&c->srv[i]);
        if (now != before->n[i])
            print_message("node %zu ran %lld commands\n", i,
                          now - before->n[i]);
        assert_int_equal(now, before->n[i]);
    }
}

/* rl_await condition: every node has answered the manager's handshake
 * (its 4 SCRIPT LOADs), so no command of ours is still on its way. */
static bool handshakes_done(void *arg)
{
    rl_cluster *c = arg;
    for (size_t i = 0; i < c->n; i++)
        if (rs_info_count(&c->srv[i], "commandstats",
                          "cmdstat_script|load:calls=") < 4)
            return false;
    return true;
}

/* Start one cluster for the whole group. */
static int setup(void **state)
{
    rl_cluster *c = test_malloc(sizeof(*c));
    if (rl_cluster_start(c, 3, NULL) != 0) {
        test_free(c);
        return -1;
    }
    if (!rl_await(handshakes_done, c, 10000)) {
        rl_cluster_stop(c);
        test_free(c);
        return -1;
    }
    *state = c;
    return 0;
}

/* Stop it. */
static int teardown(void **state)
{
    rl_cluster *c = *state;
    if (c == NULL)
        return 0; /* setup failed and cleaned up */
    rl_cluster_stop(c);
    test_free(c);
    return 0;
}

/* Bad arguments to acquire: each its own status, nothing sent (no node
 * runs a command meanwhile). */
static void test_bad_acquire_args(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *l = (redlock_lock *)0x1;
    static char long_name[REDLOCK_RESOURCE_MAX + 2];
    memset(long_name, 'x', REDLOCK_RESOURCE_MAX + 1);

    sent_mark before = sent_now(c);
    assert_int_equal(redlock_acquire(c->m, NULL, 1000, &l), REDLOCK_EINVAL);
    assert_null(l);
    assert_int_equal(redlock_acquire(c->m, "", 1000, &l), REDLOCK_EINVAL);
    assert_int_equal(redlock_acquire(c->m, long_name, 1000, &l),
                     REDLOCK_ERANGE);
    assert_nothing_sent(c, &before);
    long_name[REDLOCK_RESOURCE_MAX] = '\0'; /* exactly the limit is fine */
    assert_int_equal(redlock_try_acquire(c->m, long_name, 1000, &l),
                     REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    /* Every node has run the release before the next snapshot. */
    assert_true(rl_await_keys(c, 0, 5000));
    before = sent_now(c);
    assert_int_equal(redlock_acquire(c->m, "r", 0, &l), REDLOCK_ERANGE);
    assert_int_equal(redlock_acquire(c->m, "r", REDLOCK_TTL_MAX_MS + 1, &l),
                     REDLOCK_ERANGE);
    assert_int_equal(redlock_acquire(NULL, "r", 1000, &l), REDLOCK_EINVAL);
    assert_int_equal(redlock_acquire(c->m, "r", 1000, NULL), REDLOCK_EINVAL);
    assert_int_equal(redlock_acquire_ex(c->m, NULL, 3, 1000, NULL, &l),
                     REDLOCK_EINVAL);
    assert_int_equal(redlock_acquire_ex(c->m, "abc", 0, 1000, NULL, &l),
                     REDLOCK_EINVAL);
    assert_int_equal(redlock_acquire_multi(c->m, NULL, NULL, 2, 1000, NULL,
                                           &l),
                     REDLOCK_EINVAL);
    const void *many[REDLOCK_MULTI_MAX + 1];
    for (int i = 0; i <= REDLOCK_MULTI_MAX; i++)
        many[i] = "k";
    assert_int_equal(redlock_acquire_multi(c->m, many, NULL,
                                           REDLOCK_MULTI_MAX + 1, 1000, NULL,
                                           &l),
                     REDLOCK_ERANGE);
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    o.retry_count = -5;
    assert_int_equal(redlock_acquire_ex(c->m, "r", 1, 1000, &o, &l),
                     REDLOCK_ERANGE);
    o.retry_count = -1;
    o.struct_size = 3;
    assert_int_equal(redlock_acquire_ex(c->m, "r", 1, 1000, &o, &l),
                     REDLOCK_EINVAL);
    assert_nothing_sent(c, &before);
    assert_true(rl_await_keys(c, 0, 5000));
}

/* Extending or releasing a released lock, NULL handles, bad TTLs. */
static void test_bad_lock_use(void **state)
{
    rl_cluster *c = *state;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c->m, "used", 5000, &l), REDLOCK_OK);
    /* Every node has run the SET before the snapshot. */
    assert_true(rl_await_keys(c, (long long)c->n, 5000));
    sent_mark before = sent_now(c);
    assert_int_equal(redlock_extend(l, 0), REDLOCK_ERANGE);
    assert_int_equal(redlock_extend(l, REDLOCK_TTL_MAX_MS + 1),
                     REDLOCK_ERANGE);
    assert_nothing_sent(c, &before);
    assert_int_equal(redlock_release_keep(l), REDLOCK_OK);
    assert_true(rl_await_keys(c, 0, 5000));
    before = sent_now(c);
    assert_int_equal(redlock_extend(l, 5000), REDLOCK_ERELEASED);
    assert_int_equal(redlock_release_keep(l), REDLOCK_ERELEASED);
    assert_int_equal(redlock_lock_validity_ms(l), 0);
    assert_string_equal(redlock_lock_resource(l, NULL), "used");
    assert_int_equal(redlock_release(l), REDLOCK_ERELEASED); /* frees */
    assert_int_equal(redlock_extend(NULL, 1000), REDLOCK_EINVAL);
    assert_int_equal(redlock_release(NULL), REDLOCK_EINVAL);
    assert_int_equal(redlock_release_keep(NULL), REDLOCK_EINVAL);
    redlock_lock_free(NULL);
    assert_null(redlock_lock_token(NULL));
    assert_nothing_sent(c, &before);
    assert_true(rl_await_keys(c, 0, 5000));
}

/* Bad manager configurations: clear status and message, no thread or fd
 * left behind. */
static void test_bad_manager_config(void **state)
{
    rl_cluster *c = *state;
    int fds = rl_count_fds();
    int threads = rl_count_threads();
    redlock_manager *m = (redlock_manager *)0x1;
    char err[256];
    redlock_options o;
    sent_mark before = sent_now(c);

    assert_int_equal(redlock_manager_create_ex(c->uris, 0, NULL, &m, err,
                                               sizeof(err)),
                     REDLOCK_ENONODES);
    assert_null(m);
    assert_true(strlen(err) > 0);
    assert_int_equal(redlock_manager_create(NULL, 3, NULL, &m),
                     REDLOCK_ENONODES);

    const char *bad[3] = {c->uris[0], "redis://:hunter2@host:99999",
                          c->uris[2]};
    assert_int_equal(redlock_manager_create_ex(bad, 3, NULL, &m, err,
                                               sizeof(err)),
                     REDLOCK_EURI);
    assert_null(strstr(err, "hunter2"));
    assert_non_null(strstr(err, "node 2"));
    const char *garbage[1] = {"not a uri"};
    assert_int_equal(redlock_manager_create(garbage, 1, NULL, &m),
                     REDLOCK_EURI);

    redlock_options_init(&o);
    o.drift_factor = 0.5;
    assert_int_equal(redlock_manager_create_ex(c->uris, 3, &o, &m, err,
                                               sizeof(err)),
                     REDLOCK_ERANGE);
    assert_non_null(strstr(err, "drift"));
    o.drift_factor = -0.1;
    assert_int_equal(redlock_manager_create(c->uris, 3, &o, &m),
                     REDLOCK_ERANGE);
    redlock_options_init(&o);
    o.command_timeout_ms = 0;
    assert_int_equal(redlock_manager_create(c->uris, 3, &o, &m),
                     REDLOCK_ERANGE);
    redlock_options_init(&o);
    char prefix[REDLOCK_KEY_PREFIX_MAX + 2];
    memset(prefix, 'p', sizeof(prefix) - 1);
    prefix[sizeof(prefix) - 1] = '\0';
    o.key_prefix = prefix;
    assert_int_equal(redlock_manager_create(c->uris, 3, &o, &m),
                     REDLOCK_ERANGE);
    redlock_options_init(&o);
    o.restore_on_extend = 2;
    assert_int_equal(redlock_manager_create_ex(c->uris, 3, &o, &m, err,
                                               sizeof(err)),
                     REDLOCK_EINVAL);
    assert_non_null(strstr(err, "restore_on_extend"));
    redlock_options_init(&o);
    o.struct_size = 0;
    assert_int_equal(redlock_manager_create(c->uris, 3, &o, &m),
                     REDLOCK_EINVAL);
    assert_int_equal(redlock_manager_create(c->uris, 3, NULL, NULL),
                     REDLOCK_EINVAL);
    assert_null(m);

    assert_int_equal(rl_count_fds(), fds);
    assert_int_equal(rl_await_threads(threads, 5000), threads);
    assert_nothing_sent(c, &before);
    assert_true(rl_await_keys(c, 0, 5000));
}

/* A good manager, once destroyed, leaves no thread or fd behind, and a
 * lock outliving it answers ECLOSED. */
static void test_destroy_leaves_nothing(void **state)
{
    rl_cluster *c = *state;
    int fds = rl_count_fds();
    int threads = rl_count_threads();
    redlock_manager *m = rl_manager_new(c, NULL);
    assert_non_null(m);
    assert_int_equal(rl_count_threads(), threads + 3);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(m, "outlive", 5000, &l), REDLOCK_OK);
    redlock_manager_destroy(m);
    assert_int_equal(rl_await_threads(threads, 5000), threads);
    assert_int_equal(redlock_extend(l, 5000), REDLOCK_ECLOSED);
    assert_int_equal(redlock_release(l), REDLOCK_ECLOSED);
    assert_int_equal(rl_count_fds(), fds);
    redlock_manager_destroy(NULL);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_acquire_args),
        cmocka_unit_test(test_bad_lock_use),
        cmocka_unit_test(test_bad_manager_config),
        cmocka_unit_test(test_destroy_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
