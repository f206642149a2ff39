/*
 * test_sentinel_node.c: a Sentinel-managed master as one Redlock node
 * (sentinel://H:P/NAME?sentinel=..., src/sentinel.c), against real groups
 * of redis-server and redis-sentinel (tests/support/sentinel_spawn.h),
 * and a Redlock whose three nodes are a plain server, a cluster and a
 * Sentinel group. Checked here:
 *   - acquire, extend and release reach the master the sentinels name,
 *     also when the first sentinel of the URI is down;
 *   - a sentinel password that differs from the data password; a wrong
 *     one fails the node's votes with a message naming the sentinel;
 *   - SENTINEL FAILOVER while a lock is held, the new master lacking its
 *     key: with the restart guard a rival manager gets no grant while the
 *     holder's validity lasts; with the guard off, the overlap is visible;
 *   - an idle node follows a failover (+switch-master), no traffic needed;
 *   - one master given as two nodes (two sentinel URIs, or a sentinel URI
 *     and the master's address) votes once;
 *   - destroy while a sentinel's answer arrives leaves no thread behind;
 *   - mixed nodes: every kind holds the key; with the plain server
 *     stopped, the other two still make a quorum; the CLI takes the three
 *     kinds in REDLOCK_NODES and --node.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster_spawn.h"
#include "rl_test.h"
#include "sentinel_spawn.h"

/* Acquire, extend and release through the sentinels, the first of
 * which is down. */
static void test_acquire_extend_release(void **state)
{
    (void)state;
    rsn_group g;
    assert_int_equal(rsn_start(&g, "locks", 3, 1), 0);
    int mi = rsn_master_index(&g);
    assert_true(mi >= 0);
    /* A dead sentinel first: the node asks the next one. */
    char uri[1200];
    rs_server dead;
    assert_int_equal(rs_start(&dead), 0);
    int dead_port = dead.port;
    rs_stop(&dead);
    int n = snprintf(uri, sizeof(uri), "sentinel://127.0.0.1:%d/locks",
                     dead_port);
    for (size_t i = 0; i < g.n_sentinels; i++)
        n += snprintf(uri + n, sizeof(uri) - (size_t)n,
                      "%csentinel=127.0.0.1:%d", i == 0 ? '?' : '&',
                      g.sentinel[i].port);
    const char *uris[1] = {uri};
    redlock_manager *m = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
    redlock_lock *lk = NULL;
    redlock_acquire_info info;
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.info = &info;
    redlock_status st = redlock_acquire_ex(m, "sn-res", 6, 30000, &ao, &lk);
    if (st != REDLOCK_OK)
        fail_msg("acquire on %s: %s: %s", uri, redlock_strerror(st),
                 info.detail);
    char out[128];
    const char *get[2] = {"GET", "sn-res"};
    assert_int_equal(rs_command(&g.data[mi], out, sizeof(out), 2, get), 0);
    assert_non_null(strstr(out, redlock_lock_token(lk)));
    assert_int_equal(redlock_extend(lk, 60000), REDLOCK_OK);
    const char *pttl[2] = {"PTTL", "sn-res"};
    assert_int_equal(rs_command(&g.data[mi], out, sizeof(out), 2, pttl), 0);
    assert_true(atoll(out) > 30000);
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    assert_true(rl_await_dbsize(&g.data[mi], 0, 5000)); /* deleted, not expired */
    redlock_manager_destroy(m);
    rsn_stop(&g);
}

/* The sentinels' password is not the data servers'. */
static void test_separate_passwords(void **state)
{
    (void)state;
    rsn_group g;
    rsn_options o = {.data_password = "data-pw",
                     .sentinel_password = "sentinel-pw"};
    assert_int_equal(rsn_start_ex(&g, "pw", 3, 1, &o), 0);
    char uri[1200];
    /* sentinel://:data-pw@127.0.0.1:S1/pw?...&sentinel_password=... */
    snprintf(uri, sizeof(uri), "sentinel://:data-pw@%s&sentinel_password=%s",
             g.uri + strlen("sentinel://"), "sentinel-pw");
    const char *uris[1] = {uri};
    redlock_manager *m = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
    redlock_lock *lk = NULL;
    redlock_acquire_info info;
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.info = &info;
    redlock_status st = redlock_acquire_ex(m, "pw-res", 6, 30000, &ao, &lk);
    if (st != REDLOCK_OK)
        fail_msg("acquire: %s: %s", redlock_strerror(st), info.detail);
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    redlock_manager_destroy(m);

    /* A wrong sentinel password: no master can be found; the answer
     * says which sentinel refused. */
    snprintf(uri, sizeof(uri), "sentinel://:data-pw@%s&sentinel_password=%s",
             g.uri + strlen("sentinel://"), "wrong");
    m = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
    ao.retry_count = 0;
    /* Twice: the second comes right after a round of questions failed,
     * before the next is due, and must fail at once with the reason too
     * (it used to wait for a question nothing would send, until its
     * caller gave up: no reason; seen under TSan). */
    for (int k = 0; k < 2; k++) {
        st = redlock_acquire_ex(m, "pw-res", 6, 30000, &ao, &lk);
        assert_int_not_equal(st, REDLOCK_OK);
        print_message("wrong sentinel password: %s: %s\n",
                      redlock_strerror(st), info.detail);
        assert_non_null(strstr(info.detail, "no sentinel named a master"));
    }
    redlock_manager_destroy(m);
    rsn_stop(&g);
}

/* Hold a lock, fail the group over, lose the key on the new master; say
 * whether a rival got a grant within the holder's validity, and whether
 * it saw EGUARDED. */
static void failover_run(uint32_t guard_ms, bool *overlap, bool *guarded)
{
    rsn_group g;
    assert_int_equal(rsn_start(&g, "fo", 3, 1), 0);
    const char *uris[1] = {g.uri};
    redlock_manager *holder = rl_manager_on(uris, 1, guard_ms);
    redlock_manager *rival = rl_manager_on(uris, 1, guard_ms);
    redlock_acquire_info info;
    redlock_lock *lk = NULL;
    /* Both have met the first master. */
    for (int i = 0; i < 2; i++) {
        redlock_manager *mm = i == 0 ? holder : rival;
        char warm[32];
        snprintf(warm, sizeof(warm), "warm-%d", i);
        redlock_status st = rl_try_once(mm, warm, 10000, &info, &lk);
        if (st != REDLOCK_OK)
            fail_msg("warm-up: %s: %s", redlock_strerror(st), info.detail);
        assert_int_equal(redlock_release(lk), REDLOCK_OK);
    }
    const char *res = "fo-res";
    assert_int_equal(rl_try_once(holder, res, 10000, &info, &lk), REDLOCK_OK);
    uint64_t valid_until =
        rl_now_us() + (uint64_t)redlock_lock_validity_ms(lk) * 1000u;
    assert_int_equal(rsn_failover(&g), 0);
    int mi = rsn_master_index(&g);
    assert_true(mi >= 0);
    /* Asynchronous replication may lose an acknowledged write. */
    char out[64];
    const char *del[2] = {"DEL", res};
    assert_int_equal(rs_command(&g.data[mi], out, sizeof(out), 2, del), 0);
    *overlap = false;
    *guarded = false;
    while (rl_now_us() + 200000 < valid_until) {
        redlock_lock *r = NULL;
        redlock_status st = rl_try_once(rival, res, 2000, &info, &r);
        if (st == REDLOCK_OK) {
            *overlap = rl_now_us() < valid_until;
            redlock_release(r);
            break;
        }
        if (info.node_status[0] == REDLOCK_EGUARDED)
            *guarded = true;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL); /* the rival's retry pace, not a wait */
    }
    redlock_release(lk);
    redlock_manager_destroy(rival);
    redlock_manager_destroy(holder);
    rsn_stop(&g);
}

static void test_failover_guard(void **state)
{
    (void)state;
    bool overlap, guarded;
    failover_run(REDLOCK_RESTART_GUARD_AUTO, &overlap, &guarded);
    print_message("guard on: overlap %d, EGUARDED seen %d\n", overlap,
                  guarded);
    assert_false(overlap);
    assert_true(guarded);
    failover_run(0, &overlap, &guarded);
    print_message("guard off: overlap %d\n", overlap);
    assert_true(overlap);
    assert_false(guarded);
}


/* One master given as two nodes votes once: two sentinel URIs starting
 * at different sentinels, and a sentinel URI with its master's own
 * address. */
static void test_same_master_twice(void **state)
{
    (void)state;
    rsn_group g;
    assert_int_equal(rsn_start(&g, "twice", 3, 1), 0);
    int mi = rsn_master_index(&g);
    assert_true(mi >= 0);
    char other[256];
    snprintf(other, sizeof(other), "sentinel://127.0.0.1:%d/twice",
             g.sentinel[1].port);
    for (int k = 0; k < 2; k++) {
        const char *uris[2] = {g.uri, k == 0 ? other : g.data[mi].uri};
        redlock_manager *m = rl_manager_on(uris, 2, REDLOCK_RESTART_GUARD_AUTO);
        int dup = rl_await_dup(m, 2, 10000);
        assert_true(dup >= 0);
        redlock_acquire_info info;
        redlock_lock *lk = NULL;
        assert_int_equal(rl_try_once(m, "dup-res", 1000, &info, &lk),
                         REDLOCK_EDUPNODE); /* no quorum of 2; says why */
        assert_int_equal(info.node_status[dup], REDLOCK_EDUPNODE);
        redlock_manager_destroy(m);
    }
    rsn_stop(&g);
}

/* Node events seen, for test_idle_node_follows_switch. */
typedef struct seen_events {
    pthread_mutex_t mu;
    char want[96];
    bool seen;
} seen_events;

static void on_event(const char *node, redlock_status st, const char *msg,
                     void *userdata)
{
    (void)node;
    seen_events *e = userdata;
    pthread_mutex_lock(&e->mu);
    if (st == REDLOCK_OK && e->want[0] != '\0' && strstr(msg, e->want))
        e->seen = true;
    pthread_mutex_unlock(&e->mu);
}

static bool event_seen(void *arg)
{
    seen_events *e = arg;
    pthread_mutex_lock(&e->mu);
    bool yes = e->seen;
    pthread_mutex_unlock(&e->mu);
    return yes;
}

/* An idle node follows a failover: the sentinels' +switch-master makes it
 * connect to the new master with no command sent (the poll alone needs
 * traffic). */
static void test_idle_node_follows_switch(void **state)
{
    (void)state;
    rsn_group g;
    assert_int_equal(rsn_start(&g, "idle", 3, 1), 0);
    seen_events ev;
    memset(&ev, 0, sizeof(ev));
    pthread_mutex_init(&ev.mu, NULL);
    redlock_options o;
    rl_test_options(&o, NULL);
    o.node_error_fn = on_event;
    o.node_error_userdata = &ev;
    const char *uris[1] = {g.uri};
    redlock_manager *m = NULL;
    assert_int_equal(redlock_manager_create(uris, 1, &o, &m), REDLOCK_OK);
    redlock_acquire_info info;
    redlock_lock *lk = NULL;
    assert_int_equal(rl_try_once(m, "idle-warm", 5000, &info, &lk), REDLOCK_OK);
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    int before = rsn_master_index(&g);
    assert_int_equal(rsn_failover(&g), 0);
    int after = rsn_master_index(&g);
    assert_true(after >= 0 && after != before);
    pthread_mutex_lock(&ev.mu);
    snprintf(ev.want, sizeof(ev.want), "master 127.0.0.1:%d: connected",
             g.data[after].port);
    pthread_mutex_unlock(&ev.mu);
    /* No command from here on. */
    assert_true(rl_await(event_seen, &ev, 10000));
    redlock_manager_destroy(m);
    pthread_mutex_destroy(&ev.mu);
    rsn_stop(&g);
}

/* Destroy right after create, while a sentinel's answer may arrive: no
 * master worker may be started once stop has begun (found by review: one
 * was, and was freed while running; TSan saw it within 300 rounds). */
static void test_destroy_while_asking(void **state)
{
    (void)state;
    rsn_group g;
    assert_int_equal(rsn_start(&g, "stop", 1, 0), 0);
    const char *uris[1] = {g.uri};
    int threads = rl_count_threads();
    for (int i = 0; i < 300; i++) {
        redlock_manager *m = rl_manager_on(uris, 1, REDLOCK_RESTART_GUARD_AUTO);
        /* 0 to 2 ms: before, during and after the first answer. */
        struct timespec ts = {0, (long)(i % 40) * 50 * 1000};
        nanosleep(&ts, NULL);
        redlock_manager_destroy(m);
    }
    assert_true(rl_await_threads(threads, 5000) <= threads);
    rsn_stop(&g);
}

/* What await_cluster_key waits for. */
typedef struct ckey_wait {
    rc_cluster *c;
    const char *key;
} ckey_wait;

static bool cluster_has_key(void *arg)
{
    ckey_wait *w = arg;
    char v[128];
    return rc_get(w->c, w->key, v, sizeof(v)) == 0 &&
           strcmp(v, "(nil)") != 0;
}

static bool await_cluster_key(rc_cluster *c, const char *key, int ms)
{
    ckey_wait w = {c, key};
    return rl_await(cluster_has_key, &w, ms);
}

#ifndef REDLOCK_CLI_PATH
#error "REDLOCK_CLI_PATH must name the redlock binary (see CMakeLists.txt)"
#endif

/* Run the CLI with argv (NULL-terminated, argv[0] ignored) and the
 * environment's REDLOCK_NODES; its stdout (first line) into out. Returns
 * its exit status, -1 on error. */
static int run_cli(const char *const *argv, char *out, size_t len)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(REDLOCK_CLI_PATH, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < len && (r = read(fds[0], out + got, len - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = '\0';
    char *nl = strchr(out, '\n');
    if (nl != NULL)
        *nl = '\0';
    close(fds[0]);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A plain server, a cluster and a Sentinel group as one Redlock. */
static void test_mixed_three_kinds(void **state)
{
    (void)state;
    rs_server plain;
    assert_int_equal(rs_start(&plain), 0);
    rc_cluster c;
    assert_int_equal(rc_start(&c, 3, 0), 0);
    rsn_group g;
    assert_int_equal(rsn_start(&g, "mix", 3, 1), 0);
    const char *uris[3] = {plain.uri, c.uri, g.uri};
    redlock_manager *m = rl_manager_on(uris, 3, REDLOCK_RESTART_GUARD_AUTO);
    redlock_lock *lk = NULL;
    redlock_acquire_info info;
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.info = &info;
    assert_int_equal(redlock_acquire_ex(m, "mix-res", 7, 30000, &ao, &lk),
                     REDLOCK_OK);
    /* Decided on a quorum: a node still answering is EPENDING. */
    for (int i = 0; i < 3; i++)
        assert_true(info.node_status[i] == REDLOCK_OK ||
                    info.node_status[i] == REDLOCK_EPENDING);
    int mi = rsn_master_index(&g);
    assert_true(mi >= 0);
    assert_true(rl_await_dbsize(&plain, 1, 5000));
    assert_true(rl_await_dbsize(&g.data[mi], 1, 5000));
    assert_true(await_cluster_key(&c, "mix-res", 5000));
    char v[128];
    assert_int_equal(rc_get(&c, "mix-res", v, sizeof(v)), 0);
    assert_non_null(strstr(v, redlock_lock_token(lk)));
    assert_int_equal(redlock_extend(lk, 30000), REDLOCK_OK);
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    assert_true(rl_await_dbsize(&plain, 0, 5000));
    assert_true(rl_await_dbsize(&g.data[mi], 0, 5000));
    /* The plain server stops: the cluster and the group are a quorum. */
    assert_int_equal(rs_pause(&plain), 0);
    lk = NULL;
    assert_int_equal(redlock_acquire_ex(m, "mix-2", 5, 30000, &ao, &lk),
                     REDLOCK_OK);
    assert_int_equal(redlock_lock_nodes_granted(lk), 2);
    assert_int_not_equal(info.node_status[0], REDLOCK_OK);
    assert_int_equal(redlock_release(lk), REDLOCK_OK);
    assert_int_equal(rs_resume(&plain), 0);
    redlock_manager_destroy(m);

    /* The CLI takes the three kinds in REDLOCK_NODES and in --node. */
    char nodes[2304];
    snprintf(nodes, sizeof(nodes), "%s,%s,%s", plain.uri, c.uri, g.uri);
    assert_int_equal(setenv("REDLOCK_NODES", nodes, 1), 0);
    char token[128];
    const char *acq[] = {"redlock", "acquire", "mix-cli", "--ttl", "30",
                         NULL};
    assert_int_equal(run_cli(acq, token, sizeof(token)), 0);
    assert_int_equal(strlen(token), REDLOCK_TOKEN_LEN);
    assert_true(rl_await_dbsize(&plain, 1, 5000));
    assert_true(rl_await_dbsize(&g.data[mi], 1, 5000));
    assert_true(await_cluster_key(&c, "mix-cli", 5000));
    unsetenv("REDLOCK_NODES");
    const char *rel[] = {"redlock", "release", "mix-cli", token,
                         "--node",  plain.uri, "--node", c.uri,
                         "--node",  g.uri,     NULL};
    char out[256];
    assert_int_equal(run_cli(rel, out, sizeof(out)), 0);
    assert_true(rl_await_dbsize(&plain, 0, 5000));
    assert_true(rl_await_dbsize(&g.data[mi], 0, 5000));
    assert_int_equal(rc_total_keys(&c), 0);
    rsn_stop(&g);
    rc_stop(&c);
    rs_stop(&plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acquire_extend_release),
        cmocka_unit_test(test_separate_passwords),
        cmocka_unit_test(test_failover_guard),
        cmocka_unit_test(test_same_master_twice),
        cmocka_unit_test(test_idle_node_follows_switch),
        cmocka_unit_test(test_destroy_while_asking),
        cmocka_unit_test(test_mixed_three_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
