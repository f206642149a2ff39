/*
 * test_dup_nodes.c: two node URIs that create cannot tell apart but that
 * lead to one server ("localhost" and "127.0.0.1" on the same port) are
 * found by the run_id of INFO server: the node whose handshake finished
 * second is reported (EDUPNODE, a message naming both, an ERROR log line)
 * and does not vote, so that server's answer counts once; a manager of
 * two nodes logs a warning at create. Real redis-servers.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rl_test.h"

/* Log lines at or above WARN, kept for the test to search. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];
static size_t log_len;

/* log_fn: keep "<level> <line>\n". Any thread. */
static void keep_log(redlock_log_level level, const char *message,
                     void *userdata)
{
    (void)userdata;
    if (level > REDLOCK_LOG_WARN)
        return;
    pthread_mutex_lock(&log_mu);
    int w = snprintf(log_text + log_len, sizeof(log_text) - log_len,
                     "%s %s\n", level == REDLOCK_LOG_ERROR ? "ERROR" : "WARN",
                     message);
    if (w > 0 && (size_t)w < sizeof(log_text) - log_len)
        log_len += (size_t)w;
    pthread_mutex_unlock(&log_mu);
}

/* Forget the kept log. */
static void log_clear(void)
{
    pthread_mutex_lock(&log_mu);
    log_len = 0;
    log_text[0] = '\0';
    pthread_mutex_unlock(&log_mu);
}

/* True if a kept line starts with prefix and contains a and b. */
static bool log_has(const char *prefix, const char *a, const char *b)
{
    bool found = false;
    pthread_mutex_lock(&log_mu);
    for (const char *p = log_text; *p != '\0' && !found;) {
        const char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)len, p);
        found = strncmp(line, prefix, strlen(prefix)) == 0 &&
                strstr(line, a) != NULL && (b == NULL || strstr(line, b));
        p += len + (end != NULL);
    }
    pthread_mutex_unlock(&log_mu);
    return found;
}

/* A manager on uris, with events recorded under the given node names. */
static redlock_manager *manager_on(rl_events *ev, const char *const *uris,
                                   const char names[][64], size_t n)
{
    memset(ev, 0, sizeof(*ev));
    pthread_mutex_init(&ev->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->cv, &a);
    pthread_condattr_destroy(&a);
    ev->n = n;
    for (size_t i = 0; i < n; i++) {
        size_t len = strnlen(names[i], sizeof(ev->node_names[i]) - 1);
        memcpy(ev->node_names[i], names[i], len);
        ev->node_names[i][len] = '\0';
    }
    redlock_options o;
    rl_test_options(&o, ev);
    o.log_fn = keep_log;
    o.log_level = REDLOCK_LOG_WARN;
    redlock_manager *m = NULL;
    char err[256] = "";
    redlock_status st =
        redlock_manager_create_ex(uris, n, &o, &m, err, sizeof(err));
    if (st != REDLOCK_OK)
        print_error("create: %s\n", err);
    assert_int_equal(st, REDLOCK_OK);
    return m;
}

/* Argument of dup_reported(). */
typedef struct dup_wait {
    rl_events *ev;
    int which; /* out: the node reported as the duplicate */
} dup_wait;

/* Condition: node 0 or 1 has been reported as EDUPNODE. */
static bool dup_reported(void *arg)
{
    dup_wait *d = arg;
    pthread_mutex_lock(&d->ev->mu);
    d->which = -1;
    for (int i = 0; i < 2; i++)
        if (d->ev->down[i] > 0 && d->ev->last_status[i] == REDLOCK_EDUPNODE)
            d->which = i;
    pthread_mutex_unlock(&d->ev->mu);
    return d->which >= 0;
}

/* Nodes 0 and 1 are one server (127.0.0.1 and localhost), node 2 another.
 * One of the two is reported and does not vote: with node 2 down, an
 * extension cannot win on that one server counted twice. */
static void test_same_server_twice(void **state)
{
    (void)state;
    rs_server srv[2];
    memset(srv, 0, sizeof(srv));
    assert_int_equal(rs_start_many(srv, 2), 0);
    char uris[3][128];
    char names[3][64];
    snprintf(uris[0], sizeof(uris[0]), "redis://127.0.0.1:%d", srv[0].port);
    snprintf(uris[1], sizeof(uris[1]), "redis://localhost:%d", srv[0].port);
    snprintf(uris[2], sizeof(uris[2]), "redis://127.0.0.1:%d", srv[1].port);
    snprintf(names[0], sizeof(names[0]), "127.0.0.1:%d", srv[0].port);
    snprintf(names[1], sizeof(names[1]), "localhost:%d", srv[0].port);
    snprintf(names[2], sizeof(names[2]), "127.0.0.1:%d", srv[1].port);
    const char *u[3] = {uris[0], uris[1], uris[2]};
    log_clear();
    rl_events ev;
    redlock_manager *m = manager_on(&ev, u, names, 3);

    dup_wait d = {&ev, -1};
    assert_true(rl_await(dup_reported, &d, 10000));
    int dup = d.which, voter = 1 - d.which;
    pthread_mutex_lock(&ev.mu);
    char msg[200];
    snprintf(msg, sizeof(msg), "%s", ev.last_message[dup]);
    int voter_down = ev.down[voter];
    pthread_mutex_unlock(&ev.mu);
    assert_non_null(strstr(msg, names[0]));
    assert_non_null(strstr(msg, names[1]));
    assert_int_equal(voter_down, 0);
    assert_true(log_has("ERROR", names[0], names[1]));

    /* the duplicate does not vote: granted by the voter and node 2 */
    redlock_acquire_info info;
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.info = &info;
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire_ex(m, "dup", 3, 30000, &ao, &l),
                     REDLOCK_OK);
    /* The other two may decide before the duplicate's refusal is
     * recorded: it is refused, or had not answered; never a yes. */
    assert_true(info.node_status[dup] == REDLOCK_EDUPNODE ||
                info.node_status[dup] == REDLOCK_EPENDING);
    assert_int_equal(info.node_status[voter], REDLOCK_OK);
    redlock_node_view v[3];
    assert_int_equal(redlock_inspect(m, "dup", 3, v, 3), REDLOCK_OK);
    assert_int_equal(v[dup].error, REDLOCK_EDUPNODE);
    assert_int_equal(v[voter].held, 1);

    /* with node 2 gone, only one server answers: no quorum, although the
     * same server is listed twice */
    rs_stop(&srv[1]);
    assert_int_equal(redlock_extend(l, 30000), REDLOCK_ENOQUORUM);
    redlock_lock_free(l);
    assert_int_equal(redlock_acquire_ex(m, "dup2", 4, 30000, &ao, &l),
                     REDLOCK_ENOQUORUM);
    assert_int_equal(info.node_status[dup], REDLOCK_EDUPNODE);
    /* the two errors may decide the attempt before the voter answers */
    assert_true(info.node_status[voter] == REDLOCK_OK ||
                info.node_status[voter] == REDLOCK_EPENDING);
    redlock_manager_destroy(m);
    rl_events_destroy(&ev);
    rs_stop_many(srv, 2);
}

/* Two nodes: a warning at create that they tolerate no failure. And two
 * names of one server: the acquire fails at once with EDUPNODE, since one
 * server can never make a quorum of two. */
static void test_two_nodes(void **state)
{
    (void)state;
    rs_server srv[2];
    memset(srv, 0, sizeof(srv));
    assert_int_equal(rs_start_many(srv, 2), 0);
    char uris[2][128], names[2][64];
    for (size_t i = 0; i < 2; i++) {
        snprintf(uris[i], sizeof(uris[i]), "redis://127.0.0.1:%d",
                 srv[i].port);
        snprintf(names[i], sizeof(names[i]), "127.0.0.1:%d", srv[i].port);
    }
    const char *u[2] = {uris[0], uris[1]};
    log_clear();
    rl_events ev;
    redlock_manager *m = manager_on(&ev, u, names, 2);
    assert_true(log_has("WARN", "2 nodes", "no node failure"));
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(m, "two", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_lock_nodes_granted(l), 2);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    redlock_manager_destroy(m);
    rl_events_destroy(&ev);

    /* the second node is the first one's server under another name */
    snprintf(uris[1], sizeof(uris[1]), "redis://localhost:%d", srv[0].port);
    snprintf(names[1], sizeof(names[1]), "localhost:%d", srv[0].port);
    m = manager_on(&ev, u, names, 2);
    dup_wait d = {&ev, -1};
    assert_true(rl_await(dup_reported, &d, 10000));
    redlock_acquire_info info;
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.retry_count = 100000;
    ao.deadline_us = rl_now_us() + 20u * 1000000u; /* a regression fails */
    ao.info = &info;
    assert_int_equal(redlock_acquire_ex(m, "two", 3, 10000, &ao, &l),
                     REDLOCK_EDUPNODE);
    assert_int_equal(info.attempts, 1);
    redlock_manager_destroy(m);
    rl_events_destroy(&ev);
    rs_stop_many(srv, 2);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_server_twice),
        cmocka_unit_test(test_two_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
