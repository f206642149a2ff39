/*
 * test_node_failures.c: the manager against nodes that are down, killed,
 * restarted, paused (SIGSTOP), flushed of their scripts, password
 * protected, or on another database; and destroy while callers wait.
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "scripts.h"
#include "rl_test.h"

/* ------------------------------------------------------------------------
 * Error-level log lines of the manager (see log_tweak()).
 * ------------------------------------------------------------------------ */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_errors;          /* REDLOCK_LOG_ERROR lines seen */
static char log_last[512];      /* the last of them */

/* log_fn: count error lines and keep the last. Any thread. */
static void record_log(redlock_log_level level, const char *message,
                       void *userdata)
{
    (void)userdata;
    if (level != REDLOCK_LOG_ERROR)
        return;
    pthread_mutex_lock(&log_mu);
    log_errors++;
    snprintf(log_last, sizeof(log_last), "%s", message);
    pthread_mutex_unlock(&log_mu);
}

/* Forget what was logged. */
static void log_reset(void)
{
    pthread_mutex_lock(&log_mu);
    log_errors = 0;
    log_last[0] = '\0';
    pthread_mutex_unlock(&log_mu);
}

/* Error lines logged so far, the last copied into last. */
static int log_error_count(char *last, size_t len)
{
    pthread_mutex_lock(&log_mu);
    int n = log_errors;
    snprintf(last, len, "%s", log_last);
    pthread_mutex_unlock(&log_mu);
    return n;
}

/* rl_await condition: an error line containing arg was logged. */
static bool logged(void *arg)
{
    char last[512];
    return log_error_count(last, sizeof(last)) > 0 &&
           strstr(last, arg) != NULL;
}

/* Options that pass error lines to record_log(). */
static void log_tweak(redlock_options *o)
{
    o->log_fn = record_log;
    o->log_level = REDLOCK_LOG_ERROR;
}

/* rl_await condition: the server's script cache holds every script of
 * ours under our digest (SCRIPT EXISTS answers 1 for each). */
static bool all_scripts_loaded(void *arg)
{
    char out[256];
    const char *exists[2 + REDLOCK__SCRIPT_COUNT] = {"SCRIPT", "EXISTS"};
    for (int k = 0; k < REDLOCK__SCRIPT_COUNT; k++)
        exists[2 + k] = redlock__script_sha((redlock__script_id)k);
    return rs_command(arg, out, sizeof(out), 2 + REDLOCK__SCRIPT_COUNT,
                      exists) == 0 &&
           strcmp(out, "1\n1\n1\n1") == 0;
}

/* NOSCRIPT errors node i has answered so far (INFO errorstats). */
static long long noscript_count(const rs_server *s)
{
    long long n = rs_info_count(s, "errorstats", "errorstat_NOSCRIPT:count=");
    assert_true(n >= 0);
    return n;
}

/* A node that is down when the manager starts does not fail create; locks
 * still work on the quorum and the outage is reported, as a refused
 * connection (nothing listens on its port). */
static void test_node_down_at_startup(void **state)
{
    (void)state;
    rl_cluster c;
    memset(&c, 0, sizeof(c));
    c.n = 3;
    assert_int_equal(rs_start_many(c.srv, 3), 0);
    rs_uris(c.srv, 3, c.uris);
    rs_stop(&c.srv[2]); /* its port is now closed */
    rl_events_init(&c.ev, &c);
    c.m = rl_manager_new(&c, &c.ev);
    assert_non_null(c.m);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "r", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_lock_nodes_granted(l), 2);
    assert_true(rl_wait_down(&c.ev, 2, 1, 5000));
    assert_int_equal(c.ev.last_status[2], REDLOCK_EREFUSED);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rl_cluster_stop(&c);
}

/* The restart guard off (for the test below). */
static void guard_off(redlock_options *o)
{
    o->restart_guard_ms = 0;
}

/* A node killed mid-run and restarted (empty, same port) is reconnected
 * and used again: with it back, a second node can fail and locks still
 * work. The restart guard is off here: this is about reconnecting (with
 * the guard, the node would sit out the 10 s TTL first; that is
 * test_restart_guard.c's subject). */
static void test_node_killed_and_restarted(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, guard_off), 0);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "a", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);

    rs_kill(&c.srv[0], 1);
    assert_int_equal(redlock_acquire(c.m, "b", 10000, &l), REDLOCK_OK);
    assert_true(redlock_lock_nodes_granted(l) == 2);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_true(rl_wait_down(&c.ev, 0, 1, 5000));

    assert_int_equal(rs_restart(&c.srv[0]), 0);
    assert_true(rl_wait_up(&c.ev, 0, 1, 10000));
    rs_kill(&c.srv[1], 1);
    assert_int_equal(redlock_acquire(c.m, "c", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_lock_nodes_granted(l), 2);
    char got[64];
    rl_get(&c, 0, "c", got, sizeof(got));
    assert_string_equal(got, redlock_lock_token(l));
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rl_cluster_stop(&c);
}

/* After SCRIPT FLUSH on every node, extend and release still work (the
 * scripts are re-sent with EVAL on NOSCRIPT), and NOSCRIPT really
 * happened on every node (INFO errorstats), so the fallback was used. */
static void test_script_flush(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "s", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_extend(l, 10000), REDLOCK_OK); /* loads it */
    long long before[3];
    for (size_t i = 0; i < 3; i++)
        before[i] = noscript_count(&c.srv[i]);
    const char *flush[2] = {"SCRIPT", "FLUSH"};
    char out[64];
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(rs_command(&c.srv[i], out, sizeof(out), 2, flush),
                         0);
    assert_int_equal(redlock_extend(l, 10000), REDLOCK_OK);
    for (size_t i = 0; i < 3; i++)
        rs_command(&c.srv[i], out, sizeof(out), 2, flush);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    /* Every node has run the release, which it got after the extend. */
    assert_true(rl_await_keys(&c, 0, 5000));
    for (size_t i = 0; i < 3; i++)
        assert_true(noscript_count(&c.srv[i]) > before[i]);
    rl_cluster_stop(&c);
}

/* On real nodes, the digests we send are the ones SCRIPT LOAD answers:
 * no digest mismatch is logged, each node's cache holds every script
 * under our digest, and a run of every script (multi acquire, extend,
 * release) draws no NOSCRIPT. A wrong digest in scripts.c fails each of
 * these (the NOSCRIPT fallback alone would hide it). */
static void test_script_digests_match(void **state)
{
    (void)state;
    log_reset();
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, log_tweak), 0);
    const void *res[2] = {"dg-a", "dg-b"};
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire_multi(c.m, res, NULL, 2, 10000, NULL,
                                           &l),
                     REDLOCK_OK);
    assert_int_equal(redlock_extend(l, 10000), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 5000));
    for (size_t i = 0; i < 3; i++) {
        /* The calls above were decided by a quorum: the third node's
         * handshake may still be under way (a loaded machine), so its
         * script cache is awaited, not read once. */
        assert_true(rl_await(all_scripts_loaded, &c.srv[i], 5000));
        assert_int_equal(noscript_count(&c.srv[i]), 0);
    }
    char last[512];
    int errors = log_error_count(last, sizeof(last));
    if (errors != 0)
        print_message("logged: %s\n", last);
    assert_int_equal(errors, 0);
    rl_cluster_stop(&c);
}

/* Options with a long command timeout, so that "decided without waiting
 * for the stopped nodes" is visible. */
static void slow_timeout(redlock_options *o)
{
    o->command_timeout_ms = 8000;
}

/* With a minority of nodes SIGSTOPped, acquire, extend and release are
 * decided by the others, long before the command timeout. */
static void test_minority_paused(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 5, slow_timeout), 0);
    redlock_lock *warm = NULL;
    assert_int_equal(redlock_acquire(c.m, "warm", 10000, &warm), REDLOCK_OK);
    assert_int_equal(redlock_release(warm), REDLOCK_OK);
    assert_int_equal(rs_pause(&c.srv[3]), 0);
    assert_int_equal(rs_pause(&c.srv[4]), 0);
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = rl_now_us();
        redlock_lock *l = NULL;
        assert_int_equal(redlock_acquire(c.m, "p", 10000, &l), REDLOCK_OK);
        assert_int_equal(redlock_extend(l, 10000), REDLOCK_OK);
        assert_int_equal(redlock_release(l), REDLOCK_OK);
        uint64_t took = rl_now_us() - t0;
        /* Three round trips on loopback; the timeout is 8 s. */
        assert_true(took < 2000000);
    }
    assert_int_equal(rs_resume(&c.srv[3]), 0);
    assert_int_equal(rs_resume(&c.srv[4]), 0);
    rl_cluster_stop(&c);
}

/* Short command timeout for the majority test. */
static void short_timeout(redlock_options *o)
{
    o->command_timeout_ms = 300;
}

/* With a majority paused, acquire fails as "quorum unreachable", not as
 * "taken", within a bounded time, and succeeds again once they resume. */
static void test_majority_paused(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, short_timeout), 0);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "warm", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rs_pause(&c.srv[0]);
    rs_pause(&c.srv[1]);
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    redlock_acquire_info info;
    o.retry_count = 1;
    o.info = &info;
    uint64_t t0 = rl_now_us();
    assert_int_equal(redlock_acquire_ex(c.m, "q", 1, 10000, &o, &l),
                     REDLOCK_ENOQUORUM);
    assert_true(rl_now_us() - t0 < 5000000);
    assert_true(info.last.error >= 2);
    assert_int_equal(info.attempts, 2);
    rs_resume(&c.srv[0]);
    rs_resume(&c.srv[1]);
    o.retry_count = 50;
    o.retry_delay_ms = 50;
    assert_int_equal(redlock_acquire_ex(c.m, "q", 1, 10000, &o, &l),
                     REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rl_cluster_stop(&c);
}

/* A password-protected node: the right password works; a wrong one gives
 * a clear error through the callback that never shows the password. */
static void test_auth(void **state)
{
    (void)state;
    rl_cluster c;
    memset(&c, 0, sizeof(c));
    c.n = 1;
    rs_options so = {0};
    so.password = "s3cret-pw";
    assert_int_equal(rs_start_ex(&c.srv[0], &so), 0);
    rs_uris(c.srv, 1, c.uris);
    rl_events_init(&c.ev, &c);
    c.m = rl_manager_new(&c, &c.ev);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "auth", 5000, &l), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    redlock_manager_destroy(c.m);

    char uri[160];
    snprintf(uri, sizeof(uri), "redis://:wrong-pw@127.0.0.1:%d",
             c.srv[0].port);
    const char *uris[1] = {uri};
    rl_events ev;
    rl_events_init(&ev, &c);
    redlock_options o;
    rl_test_options(&o, &ev);
    assert_int_equal(redlock_manager_create(uris, 1, &o, &c.m), REDLOCK_OK);
    redlock_acquire_info info;
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.retry_count = 0;
    ao.info = &info;
    assert_true(rl_wait_down(&ev, 0, 1, 5000));
    assert_int_equal(ev.last_status[0], REDLOCK_EAUTH);
    assert_null(strstr(ev.last_message[0], "wrong-pw"));
    assert_int_equal(redlock_acquire_ex(c.m, "auth", 4, 5000, &ao, &l),
                     REDLOCK_EAUTH);
    assert_null(strstr(info.detail, "wrong-pw"));
    redlock_manager_destroy(c.m);
    c.m = NULL;
    rl_events_destroy(&ev);
    rl_cluster_stop(&c);
}

/* A /db suffix makes every key land in that database. */
static void test_select_db(void **state)
{
    (void)state;
    rl_cluster c;
    memset(&c, 0, sizeof(c));
    c.n = 1;
    assert_int_equal(rs_start(&c.srv[0]), 0);
    char uri[128];
    snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d/3", c.srv[0].port);
    c.uris[0] = uri;
    rl_events_init(&c.ev, &c);
    c.m = rl_manager_new(&c, NULL);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "db3", 5000, &l), REDLOCK_OK);
    assert_int_equal(rs_dbsize(&c.srv[0]), 0); /* db 0 untouched */
    static const char count_db3[] =
        "redis.call('select', 3) return redis.call('dbsize')";
    const char *eval[3] = {"EVAL", count_db3, "0"};
    char out[32];
    assert_int_equal(rs_command(&c.srv[0], out, sizeof(out), 3, eval), 0);
    assert_string_equal(out, "1");
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rl_cluster_stop(&c);
}

/* Argument of a thread blocked in acquire. */
typedef struct blocked_call {
    redlock_manager *m;
    redlock_status st;
} blocked_call;

/* Try for a long time to take a resource someone else holds. */
static void *blocked_acquire(void *arg)
{
    blocked_call *b = arg;
    redlock_acquire_opts o;
    redlock_acquire_opts_init(&o);
    o.retry_count = 100000;
    o.retry_delay_ms = 5;
    redlock_lock *l = NULL;
    b->st = redlock_acquire_ex(b->m, "held", 4, 10000, &o, &l);
    return NULL;
}

/* Condition: the server has run SET at least 20 times. */
static bool many_sets(void *arg)
{
    char out[8192];
    const char *argv[2] = {"INFO", "commandstats"};
    if (rs_command(arg, out, sizeof(out), 2, argv) != 0)
        return false;
    const char *p = strstr(out, "cmdstat_set:calls=");
    return p != NULL && atoi(p + strlen("cmdstat_set:calls=")) >= 20;
}

/* A stand-in node on loopback that accepts one connection and records
 * every byte it receives, answering nothing until told to answer the
 * handshake: it plays a node whose connection is being re-established. */
typedef struct silent_node {
    int listen_fd, conn_fd;
    int port;
    pthread_t thread;
    pthread_mutex_t mu;
    char got[1 << 16];
    size_t len;
    int answer_handshake;  /* set by the test: send HANDSHAKE_REPLIES */
    int wrong_digests;     /* answer SCRIPT LOAD with a digest not ours */
    int stop;
} silent_node;

/* The manager's handshake (no password, db 0) is INFO server, then
 * SCRIPT LOAD of each of its scripts. */
#define HANDSHAKE_REPLIES (1 + REDLOCK__SCRIPT_COUNT)

/* Answer the handshake as Redis would: INFO server with a run_id, then
 * the SCRIPT LOADs with our digests, or with another digest. */
static void silent_answer_handshake(silent_node *s)
{
    static const char info[] =
        "# Server\r\nrun_id:00000000000000000000000000000000000000aa\r\n";
    char head[32];
    int hn = snprintf(head, sizeof(head), "$%zu\r\n", sizeof(info) - 1);
    assert_true(write(s->conn_fd, head, (size_t)hn) == hn);
    assert_true(write(s->conn_fd, info, sizeof(info) - 1) ==
                (ssize_t)(sizeof(info) - 1));
    assert_true(write(s->conn_fd, "\r\n", 2) == 2);
    for (int i = 0; i < REDLOCK__SCRIPT_COUNT; i++) {
        char reply[64];
        const char *sha = s->wrong_digests
                              ? "0123456789012345678901234567890123456789"
                              : redlock__script_sha((redlock__script_id)i);
        int n = snprintf(reply, sizeof(reply), "$40\r\n%s\r\n", sha);
        assert_true(write(s->conn_fd, reply, (size_t)n) == n);
    }
}

/* Count occurrences of needle in the bytes received so far. */
static int silent_count(silent_node *s, const char *needle)
{
    int n = 0;
    size_t k = strlen(needle);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i + k <= s->len; i++)
        if (memcmp(s->got + i, needle, k) == 0)
            n++;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* The node's thread: accept, read everything, answer when told. */
static void *silent_main(void *arg)
{
    silent_node *s = arg;
    int answered = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int stop = s->stop, answer = s->answer_handshake;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        if (s->conn_fd < 0) {
            struct pollfd p = {s->listen_fd, POLLIN, 0};
            if (poll(&p, 1, 20) == 1)
                s->conn_fd = accept(s->listen_fd, NULL, NULL);
            continue;
        }
        if (answer && !answered) {
            silent_answer_handshake(s);
            answered = 1;
        }
        struct pollfd p = {s->conn_fd, POLLIN, 0};
        if (poll(&p, 1, 20) != 1)
            continue;
        char buf[4096];
        ssize_t r = read(s->conn_fd, buf, sizeof(buf));
        if (r <= 0) {
            close(s->conn_fd);
            s->conn_fd = -1;
            continue;
        }
        pthread_mutex_lock(&s->mu);
        size_t room = sizeof(s->got) - s->len;
        size_t take = (size_t)r < room ? (size_t)r : room;
        memcpy(s->got + s->len, buf, take);
        s->len += take;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

/* Listen on a free loopback port and start the thread. */
static void silent_start(silent_node *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->conn_fd = -1;
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->listen_fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->listen_fd, 4), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&a, &len),
                     0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, silent_main, s), 0);
}

/* Stop the thread and close the sockets. */
static void silent_stop(silent_node *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    if (s->conn_fd >= 0)
        close(s->conn_fd);
    close(s->listen_fd);
    pthread_mutex_destroy(&s->mu);
}

/* rl_await condition: the whole handshake has arrived. */
static bool handshake_seen(void *arg)
{
    return silent_count(arg, "LOAD") >= REDLOCK__SCRIPT_COUNT;
}

/* rl_await condition: the probe key's SET has arrived. */
static bool probe_seen(void *arg)
{
    return silent_count(arg, "sn-probe") >= 1;
}

/* Locks taken and released while a node's connection is still in its
 * handshake leave nothing for that node: when the handshake completes,
 * neither their SETs (cancelled by the releases) nor the releases (not
 * needed where no SET was written) are sent. The next lock's SET is. */
static void test_release_skips_unsent_acquire(void **state)
{
    (void)state;
    rs_server srv[2];
    assert_int_equal(rs_start_many(srv, 2), 0);
    silent_node sn;
    silent_start(&sn);
    const char *uris[3];
    rs_uris(srv, 2, uris);
    char third[64];
    snprintf(third, sizeof(third), "redis://127.0.0.1:%d", sn.port);
    uris[2] = third;
    redlock_options o;
    rl_test_options(&o, NULL);
    o.connect_timeout_ms = 30000;
    o.command_timeout_ms = 30000;
    o.shutdown_timeout_ms = 100;
    redlock_manager *m = NULL;
    assert_int_equal(redlock_manager_create(uris, 3, &o, &m), REDLOCK_OK);
    assert_true(rl_await(handshake_seen, &sn, 10000));

    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof(name), "sn-%d", i);
        redlock_lock *l = NULL;
        assert_int_equal(redlock_acquire(m, name, 10000, &l), REDLOCK_OK);
        assert_int_equal(redlock_lock_nodes_granted(l), 2);
        assert_int_equal(redlock_release(l), REDLOCK_OK);
    }
    pthread_mutex_lock(&sn.mu);
    sn.answer_handshake = 1;
    pthread_mutex_unlock(&sn.mu);
    /* Per-node FIFO: once the probe's SET arrives, anything queued before
     * it would have arrived first. */
    redlock_lock *probe = NULL;
    assert_int_equal(redlock_acquire(m, "sn-probe", 10000, &probe),
                     REDLOCK_OK);
    assert_true(rl_await(probe_seen, &sn, 10000));
    assert_int_equal(silent_count(&sn, "sn-"), 1);  /* the probe only */
    assert_int_equal(silent_count(&sn, "EVALSHA"), 0); /* no release */
    assert_int_equal(redlock_release(probe), REDLOCK_OK);
    redlock_manager_destroy(m);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(rs_dbsize(&srv[i]), 0);
    silent_stop(&sn);
    rs_stop_many(srv, 2);
}

/* rl_await condition: a script call arrived as EVAL with its source. */
static bool eval_seen(void *arg)
{
    return silent_count(arg, "$4\r\nEVAL\r\n") >= 1;
}

/* A node whose SCRIPT LOAD answers another digest than ours: the
 * mismatch is logged as an error that says so, and that connection gets
 * the scripts as EVAL with their source (never as an EVALSHA that would
 * miss), while the other nodes decide the lock as usual. */
static void test_script_digest_mismatch(void **state)
{
    (void)state;
    log_reset();
    rs_server srv[2];
    assert_int_equal(rs_start_many(srv, 2), 0);
    silent_node sn;
    silent_start(&sn);
    pthread_mutex_lock(&sn.mu);
    sn.wrong_digests = 1;
    sn.answer_handshake = 1;
    pthread_mutex_unlock(&sn.mu);
    const char *uris[3];
    rs_uris(srv, 2, uris);
    char third[64];
    snprintf(third, sizeof(third), "redis://127.0.0.1:%d", sn.port);
    uris[2] = third;
    redlock_options o;
    rl_test_options(&o, NULL);
    log_tweak(&o);
    o.command_timeout_ms = 30000; /* the stand-in never answers commands */
    o.shutdown_timeout_ms = 100;
    redlock_manager *m = NULL;
    assert_int_equal(redlock_manager_create(uris, 3, &o, &m), REDLOCK_OK);
    char what[] = "script digest mismatch";
    assert_true(rl_await(logged, what, 10000));
    char last[512];
    log_error_count(last, sizeof(last));
    assert_non_null(strstr(last, third + strlen("redis://")));
    assert_non_null(strstr(last, "0123456789012345678901234567890123456789"));

    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(m, "dm", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_lock_nodes_granted(l), 2);
    assert_int_equal(redlock_extend(l, 10000), REDLOCK_OK);
    assert_true(rl_await(eval_seen, &sn, 10000));
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_int_equal(silent_count(&sn, "EVALSHA"), 0);
    redlock_manager_destroy(m);
    silent_stop(&sn);
    rs_stop_many(srv, 2);
}

/* destroy while threads are blocked in acquire: they return ECLOSED and
 * destroy returns. */
static void test_destroy_while_blocked(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    for (size_t i = 0; i < 3; i++)
        rl_set(&c, i, "held", "other", 60000);
    redlock_manager *m2 = rl_manager_new(&c, NULL);
    /* A lock from m2 keeps its memory alive past destroy, so threads that
     * call in late still touch a valid (closed) manager. */
    redlock_lock *keep = NULL;
    assert_int_equal(redlock_acquire(m2, "keepalive", 30000, &keep),
                     REDLOCK_OK);
    pthread_t t[4];
    blocked_call b[4];
    for (int i = 0; i < 4; i++) {
        b[i].m = m2;
        b[i].st = REDLOCK_OK;
        pthread_create(&t[i], NULL, blocked_acquire, &b[i]);
    }
    /* Wait until they are really retrying: node 0 has seen many SETs. */
    assert_true(rl_await(many_sets, &c.srv[0], 10000));
    redlock_manager_destroy(m2);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(b[i].st, REDLOCK_ECLOSED);
    }
    assert_int_equal(redlock_release(keep), REDLOCK_ECLOSED);
    rl_cluster_stop(&c);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_down_at_startup),
        cmocka_unit_test(test_node_killed_and_restarted),
        cmocka_unit_test(test_script_flush),
        cmocka_unit_test(test_script_digests_match),
        cmocka_unit_test(test_script_digest_mismatch),
        cmocka_unit_test(test_minority_paused),
        cmocka_unit_test(test_majority_paused),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_select_db),
        cmocka_unit_test(test_destroy_while_blocked),
        cmocka_unit_test(test_release_skips_unsent_acquire),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
