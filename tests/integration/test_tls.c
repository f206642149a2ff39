/*
 * test_tls.c: rediss:// nodes against real TLS-only redis-servers
 * (--port 0 --tls-port), with a CA and certificates made for the test by
 * tests/support/tls_certs.c: locks over TLS, mutual TLS, a wrong CA, a
 * host name mismatch (and the opt-out), a node paused mid-handshake,
 * rediss:// to a plaintext server (no fallback), and bad TLS files at
 * create.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rl_test.h"
#include "tls_certs.h"

static rs_tls_certs certs;

static int setup_certs(void **state)
{
    (void)state;
    return rs_tls_certs_create(&certs) == 0 ? 0 : -1;
}

static int remove_certs(void **state)
{
    (void)state;
    rs_tls_certs_remove(&certs);
    return 0;
}

/* ------------------------------------------------------------------------
 * WARN-level log lines (insecure mode must be loud)
 * ------------------------------------------------------------------------ */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_warn[512];

static void record_log(redlock_log_level level, const char *message,
                       void *userdata)
{
    (void)userdata;
    if (level != REDLOCK_LOG_WARN)
        return;
    pthread_mutex_lock(&log_mu);
    snprintf(log_warn, sizeof(log_warn), "%s", message);
    pthread_mutex_unlock(&log_mu);
}

/* ------------------------------------------------------------------------
 * A cluster of TLS servers
 * ------------------------------------------------------------------------ */

/* Which certificate the servers present, and whether they ask for ours. */
typedef struct server_kind {
    const char *cert, *key;
    int auth_clients;
    int plain;          /* 1: plaintext servers, given as rediss:// */
} server_kind;

/* Start n servers of the given kind, with c->uris all rediss://. */
static void start_servers(rl_cluster *c, size_t n, const server_kind *k)
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    for (size_t i = 0; i < n; i++) {
        rs_options o;
        memset(&o, 0, sizeof(o));
        if (!k->plain) {
            o.tls_cert_file = k->cert;
            o.tls_key_file = k->key;
            o.tls_ca_file = certs.ca_file;
            o.tls_auth_clients = k->auth_clients;
            if (k->auth_clients) {
                o.tls_client_cert_file = certs.client_cert;
                o.tls_client_key_file = certs.client_key;
            }
        }
        assert_int_equal(rs_start_ex(&c->srv[i], &o), 0);
    }
    rs_uris(c->srv, n, c->uris);
    static char plain_uris[RL_MAX_NODES][128];
    if (k->plain)
        for (size_t i = 0; i < n; i++) {
            snprintf(plain_uris[i], sizeof(plain_uris[i]),
                     "rediss://127.0.0.1:%d", c->srv[i].port);
            c->uris[i] = plain_uris[i];
        }
    for (size_t i = 0; i < n; i++)
        assert_non_null(strstr(c->uris[i], "rediss://"));
    rl_events_init(&c->ev, c);
}

/* Create the manager on c's servers with test options plus TLS ones. */
static redlock_status make_manager(rl_cluster *c,
                                   void (*tweak)(redlock_options *o),
                                   char *err, size_t errlen)
{
    redlock_options o;
    rl_test_options(&o, &c->ev);
    o.connect_timeout_ms = 3000;
    o.tls_ca_file = certs.ca_file;
    o.log_fn = record_log;
    if (tweak != NULL)
        tweak(&o);
    return redlock_manager_create_ex(c->uris, c->n, &o, &c->m, err, errlen);
}

/* Assert that node i goes down with st or st2 and a message containing
 * what (within 30 s; see rl_wait_down_reason()). */
static void assert_node_down2(rl_cluster *c, size_t i, redlock_status st,
                              redlock_status st2, const char *what)
{
    redlock_status got;
    char msg[200];
    if (!rl_wait_down_reason(&c->ev, i, st, st2, what, 30000, &got, msg,
                             sizeof(msg)))
        fail_msg("node %zu: %s \"%s\", expected %s with \"%s\"", i,
                 redlock_status_name(got), msg, redlock_status_name(st),
                 what);
}

/* assert_node_down2() with one status. */
static void assert_node_down(rl_cluster *c, size_t i, redlock_status st,
                             const char *what)
{
    assert_node_down2(c, i, st, st, what);
}

/* Wait (bounded) until every node answers: a first connection over TLS
 * may still be in its handshake when a test starts. */
static void await_all_reachable(rl_cluster *c)
{
    uint64_t end = rl_now_us() + 20000000u;
    redlock_node_view v[RL_MAX_NODES];
    for (;;) {
        assert_int_equal(redlock_inspect(c->m, "probe", 5, v, c->n),
                         REDLOCK_OK);
        size_t ok = 0;
        for (size_t i = 0; i < c->n; i++)
            ok += v[i].reachable ? 1u : 0u;
        if (ok == c->n)
            return;
        assert_true(rl_now_us() < end);
    }
}

/* Wait until every node's key has a TTL over ms (an extension beyond
 * the acquire's TTL reached all of them). */
static bool await_ttl_over(rl_cluster *c, const char *key, long long ms)
{
    uint64_t end = rl_now_us() + 10000000u;
    do {
        size_t ok = 0;
        for (size_t i = 0; i < c->n; i++) {
            char out[64] = "";
            const char *argv[] = {"PTTL", key};
            if (rs_command(&c->srv[i], out, sizeof(out), 2, argv) == 0 &&
                atoll(out) > ms)
                ok++;
        }
        if (ok == c->n)
            return true;
    } while (rl_now_us() < end);
    return false;
}

static const server_kind good_servers = {certs.server_cert, certs.server_key,
                                         0, 0};

/* Acquire, extend and release work over TLS, on every node. */
static void test_lock_cycle_over_tls(void **state)
{
    (void)state;
    rl_cluster c;
    start_servers(&c, 3, &good_servers);
    char err[256] = "";
    assert_int_equal(make_manager(&c, NULL, err, sizeof(err)), REDLOCK_OK);
    await_all_reachable(&c);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "tls-r", 10000, &l), REDLOCK_OK);
    /* The call returns at a quorum; the third node's key follows. */
    assert_true(redlock_lock_nodes_granted(l) >= 2);
    assert_true(rl_await_keys(&c, 3, 10000));
    assert_int_equal(redlock_extend(l, 20000), REDLOCK_OK);
    assert_true(redlock_lock_nodes_granted(l) >= 2);
    assert_true(await_ttl_over(&c, "tls-r", 10000));
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 0, 5000));
    rl_cluster_stop(&c);
}

static void with_client_cert(redlock_options *o)
{
    o->tls_cert_file = certs.client_cert;
    o->tls_key_file = certs.client_key;
}

/* Mutual TLS: a server that asks for a client certificate refuses a
 * manager without one (ETLS) and serves one with ours. */
static void test_mutual_tls(void **state)
{
    (void)state;
    rl_cluster c;
    server_kind k = {certs.server_cert, certs.server_key, 1, 0};
    start_servers(&c, 3, &k);
    char err[256] = "";

    assert_int_equal(make_manager(&c, NULL, err, sizeof(err)), REDLOCK_OK);
    redlock_lock *l = NULL;
    assert_int_not_equal(redlock_try_acquire(c.m, "mtls", 10000, &l),
                         REDLOCK_OK);
    assert_null(l);
    assert_node_down(&c, 0, REDLOCK_ETLS, "certificate required");
    redlock_manager_destroy(c.m);
    c.m = NULL;
    assert_int_equal(rl_total_keys(&c), 0);

    assert_int_equal(make_manager(&c, with_client_cert, err, sizeof(err)),
                     REDLOCK_OK);
    await_all_reachable(&c);
    assert_int_equal(redlock_acquire(c.m, "mtls", 10000, &l), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 3, 10000));
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rl_cluster_stop(&c);
}

static void with_other_ca(redlock_options *o)
{
    o->tls_ca_file = certs.other_ca_file;
}

/* A CA that did not sign the servers' certificates: every node fails
 * with ETLS "certificate verify failed", nothing is locked. */
static void test_wrong_ca(void **state)
{
    (void)state;
    rl_cluster c;
    start_servers(&c, 3, &good_servers);
    char err[256] = "";
    assert_int_equal(make_manager(&c, with_other_ca, err, sizeof(err)),
                     REDLOCK_OK);
    redlock_lock *l = NULL;
    /* A quorum refused by TLS verification: no retry can help, so the
     * retrying acquire fails fast with ETLS (a configuration failure). */
    redlock_acquire_info info;
    memset(&info, 0, sizeof(info));
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.info = &info;
    ao.retry_count = 50;
    assert_int_equal(redlock_acquire_ex(c.m, "ca", 2, 10000, &ao, &l),
                     REDLOCK_ETLS);
    assert_true(info.attempts <= 2); /* the first refusal decides */
    for (size_t i = 0; i < 3; i++)
        assert_node_down(&c, i, REDLOCK_ETLS,
                         "TLS certificate verify failed");
    /* inspect reports each node's failure class too */
    redlock_node_view v[3];
    assert_int_equal(redlock_inspect(c.m, "ca", 2, v, 3), REDLOCK_OK);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(v[i].reachable, 0);
        assert_int_equal(v[i].error, REDLOCK_ETLS);
    }
    assert_int_equal(rl_total_keys(&c), 0);
    rl_cluster_stop(&c);
}

/* rediss:// to plaintext servers: the handshake fails (ETLS) and no
 * command is ever sent in the clear (no key appears, no fallback). */
static void test_no_plaintext_fallback(void **state)
{
    (void)state;
    rl_cluster c;
    server_kind k = {NULL, NULL, 0, 1};
    start_servers(&c, 3, &k);
    char err[256] = "";
    assert_int_equal(make_manager(&c, NULL, err, sizeof(err)), REDLOCK_OK);
    redlock_lock *l = NULL;
    assert_int_not_equal(redlock_try_acquire(c.m, "plain", 10000, &l),
                         REDLOCK_OK);
    /* A plaintext server takes the ClientHello for an inline command and
     * mostly waits for its end (a timeout), or answers an error that is
     * no TLS record (a TLS refusal): either way no plaintext is tried. */
    for (size_t i = 0; i < 3; i++)
        assert_node_down2(&c, i, REDLOCK_ETLS, REDLOCK_ETIMEDOUT,
                          "TLS handshake");
    assert_int_equal(rl_total_keys(&c), 0);
    rl_cluster_stop(&c);
}

static void server_name_wrong_host(redlock_options *o)
{
    o->tls_server_name = "wrong-host.invalid";
}

static void server_name_wrong_host_insecure(redlock_options *o)
{
    o->tls_server_name = "wrong-host.invalid";
    o->tls_insecure_skip_verify = 1;
}

static void server_name_localhost(redlock_options *o)
{
    o->tls_server_name = "localhost";
}

/* The servers' certificate is for localhost, 127.0.0.1 and ::1. Asking
 * for another name is refused as a hostname mismatch; the loud opt-out
 * accepts it (and says so at WARN); asking for "localhost" (a DNS name,
 * sent as SNI) while connecting to 127.0.0.1 works. The IP literal path
 * is covered by every other test. */
static void test_hostname_mismatch(void **state)
{
    (void)state;
    rl_cluster c;
    start_servers(&c, 3, &good_servers);
    char err[256] = "";
    redlock_lock *l = NULL;

    assert_int_equal(make_manager(&c, server_name_wrong_host, err,
                                  sizeof(err)),
                     REDLOCK_OK);
    assert_int_not_equal(redlock_try_acquire(c.m, "host", 10000, &l),
                         REDLOCK_OK);
    assert_node_down(&c, 1, REDLOCK_ETLS,
                     "TLS hostname mismatch: the node's certificate is not "
                     "valid for \"wrong-host.invalid\"");
    redlock_manager_destroy(c.m);
    c.m = NULL;
    assert_int_equal(rl_total_keys(&c), 0);

    pthread_mutex_lock(&log_mu);
    log_warn[0] = '\0';
    pthread_mutex_unlock(&log_mu);
    assert_int_equal(make_manager(&c, server_name_wrong_host_insecure, err,
                                  sizeof(err)),
                     REDLOCK_OK);
    pthread_mutex_lock(&log_mu);
    assert_non_null(strstr(log_warn, "verification is OFF"));
    pthread_mutex_unlock(&log_mu);
    await_all_reachable(&c);
    assert_int_equal(redlock_acquire(c.m, "host", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    redlock_manager_destroy(c.m);
    c.m = NULL;

    assert_int_equal(make_manager(&c, server_name_localhost, err,
                                  sizeof(err)),
                     REDLOCK_OK);
    await_all_reachable(&c);
    assert_int_equal(redlock_acquire(c.m, "host", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rl_cluster_stop(&c);
}

static void short_connect(redlock_options *o)
{
    o->connect_timeout_ms = 300;
}

/* A TLS node paused (SIGSTOP) accepts TCP in its backlog but never
 * answers the handshake: it fails with ETIMEDOUT "TLS handshake timed out"
 * after the connect timeout, while the other two decide. */
static void test_paused_mid_handshake(void **state)
{
    (void)state;
    rl_cluster c;
    start_servers(&c, 3, &good_servers);
    assert_int_equal(rs_pause(&c.srv[2]), 0);
    char err[256] = "";
    assert_int_equal(make_manager(&c, short_connect, err, sizeof(err)),
                     REDLOCK_OK);
    assert_node_down(&c, 2, REDLOCK_ETIMEDOUT, "TLS handshake timed out");
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "paused", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_lock_nodes_granted(l), 2);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    redlock_manager_destroy(c.m);
    c.m = NULL;
    assert_int_equal(rs_resume(&c.srv[2]), 0);
    rl_cluster_stop(&c);
}

/* Node events with REDLOCK_ETLS, counted in front of rl_test's own
 * handler (which the tweaks below keep). */
static atomic_int etls_events;
static redlock_node_error_fn events_next;

static void count_etls(const char *node, redlock_status st,
                       const char *message, void *userdata)
{
    if (st == REDLOCK_ETLS) {
        atomic_fetch_add(&etls_events, 1);
        print_message("ETLS event: %s\n", message);
    }
    events_next(node, st, message, userdata);
}

static void counting(redlock_options *o)
{
    events_next = o->node_error_fn;
    o->node_error_fn = count_etls;
}

/* Verification off and no CA: OpenSSL still records a verify failure,
 * which must not speak for later failures. */
static void counting_insecure(redlock_options *o)
{
    counting(o);
    o->tls_ca_file = NULL;
    o->tls_insecure_skip_verify = 1;
}

/* A TLS node that dies (SIGKILL: the kernel closes its connections
 * without TLS close_notify, as a restart or crash does) is an I/O
 * failure, never REDLOCK_ETLS, which would fail acquires fast as a
 * configuration error. Before SSL_OP_IGNORE_UNEXPECTED_EOF, OpenSSL 3
 * reported "unexpected eof" (ETLS); with verification off, the recorded
 * verify result turned it into "certificate verify failed". */
static void test_node_death_is_not_tls_failure(void **state)
{
    (void)state;
    void (*tweaks[2])(redlock_options *) = {counting, counting_insecure};
    for (int k = 0; k < 2; k++) {
        rl_cluster c;
        start_servers(&c, 3, &good_servers);
        atomic_store(&etls_events, 0);
        char err[256] = "";
        assert_int_equal(make_manager(&c, tweaks[k], err, sizeof(err)),
                         REDLOCK_OK);
        redlock_lock *l = NULL;
        assert_int_equal(redlock_acquire(c.m, "death", 10000, &l),
                         REDLOCK_OK);
        assert_true(rl_await_keys(&c, 3, 10000)); /* all connected */
        assert_int_equal(redlock_release(l), REDLOCK_OK);
        for (size_t i = 1; i < 3; i++) {
            pthread_mutex_lock(&c.ev.mu);
            int downs = c.ev.down[i];
            pthread_mutex_unlock(&c.ev.mu);
            rs_kill(&c.srv[i], 0);
            assert_true(rl_wait_down(&c.ev, i, downs + 1, 10000));
        }
        /* Work meets the dead nodes: still no TLS refusal. */
        assert_int_not_equal(redlock_try_acquire(c.m, "death", 10000, &l),
                             REDLOCK_ETLS);
        int got = atomic_load(&etls_events);
        redlock_manager_destroy(c.m);
        c.m = NULL;
        rl_cluster_stop(&c);
        assert_int_equal(got, 0);
    }
}

/* Holds the node's worker inside its next "connected" event while armed,
 * so that the connection is ready and idle while the worker is away. */
typedef struct conn_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool armed, blocked, open;
} conn_gate;

static conn_gate the_gate = {PTHREAD_MUTEX_INITIALIZER,
                             PTHREAD_COND_INITIALIZER, false, false, false};
static redlock_node_error_fn gate_next;

static void gate_event(const char *node, redlock_status st,
                       const char *message, void *userdata)
{
    pthread_mutex_lock(&the_gate.mu);
    if (st == REDLOCK_OK && the_gate.armed) {
        the_gate.armed = false;
        the_gate.blocked = true;
        pthread_cond_broadcast(&the_gate.cv);
        while (!the_gate.open)
            pthread_cond_wait(&the_gate.cv, &the_gate.mu);
    }
    pthread_mutex_unlock(&the_gate.mu);
    gate_next(node, st, message, userdata);
}

static void gated(redlock_options *o)
{
    gate_next = o->node_error_fn;
    o->node_error_fn = gate_event;
    o->retry_count = 0;
}

/* A TLS node dies while its connection is idle and its worker is away
 * (held in a callback): the calling thread writes to it itself (the fast
 * path). Its large command takes several writes; the first draws a reset,
 * and a plain write() after it raises SIGPIPE, whose default action kills
 * the process. TLS connections write with send(MSG_NOSIGNAL), so the call
 * just fails. (Before that fix this test died of SIGPIPE every time.) */
static void test_dead_node_no_sigpipe(void **state)
{
    (void)state;
    rl_cluster c;
    start_servers(&c, 1, &good_servers);
    char err[256] = "";
    assert_int_equal(make_manager(&c, gated, err, sizeof(err)), REDLOCK_OK);
    await_all_reachable(&c);
    pthread_mutex_lock(&the_gate.mu);
    the_gate.armed = true;
    the_gate.blocked = the_gate.open = false;
    pthread_mutex_unlock(&the_gate.mu);
    /* Drop the connection; the worker reconnects and is held in the
     * "connected" event, with the new connection ready and idle. */
    const char *kill_normal[4] = {"CLIENT", "KILL", "TYPE", "normal"};
    char out[64];
    rs_command(&c.srv[0], out, sizeof(out), 4, kill_normal);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&the_gate.mu);
    while (!the_gate.blocked &&
           pthread_cond_timedwait(&the_gate.cv, &the_gate.mu, &until) == 0) {
    }
    bool blocked = the_gate.blocked;
    pthread_mutex_unlock(&the_gate.mu);
    assert_true(blocked);

    rs_kill(&c.srv[0], 0);
    static char big[16][4000];
    const void *res[16];
    size_t lens[16];
    for (int i = 0; i < 16; i++) {
        memset(big[i], 'a' + i, sizeof(big[i]));
        res[i] = big[i];
        lens[i] = sizeof(big[i]);
    }
    redlock_lock *l = NULL;
    redlock_status st =
        redlock_acquire_multi(c.m, res, lens, 16, 10000, NULL, &l);
    print_message("acquire on the dead node: %s\n",
                  redlock_status_name(st));
    assert_int_not_equal(st, REDLOCK_OK); /* and the process lives */

    pthread_mutex_lock(&the_gate.mu);
    the_gate.open = true;
    pthread_cond_broadcast(&the_gate.cv);
    pthread_mutex_unlock(&the_gate.mu);
    redlock_manager_destroy(c.m);
    c.m = NULL;
    rl_cluster_stop(&c);
}

/* Bad TLS settings fail create with ETLS, a message naming the file, and
 * leave no thread or fd behind. */
static void test_bad_files(void **state)
{
    (void)state;
    const char *uris[] = {"rediss://127.0.0.1:1", "rediss://127.0.0.1:2",
                          "rediss://127.0.0.1:3"};
    struct {
        const char *ca, *cert, *key;
        const char *msg;
    } rows[] = {
        {"/nonexistent/ca.pem", NULL, NULL, "/nonexistent/ca.pem"},
        {NULL, certs.client_cert, NULL, "tls_key_file"},
        {NULL, NULL, certs.client_key, "tls_cert_file"},
        {NULL, "/nonexistent/c.pem", certs.client_key, "/nonexistent/c.pem"},
        {NULL, certs.client_cert, certs.server_key, certs.server_key},
        {certs.client_key, NULL, NULL, certs.client_key},
    };
    int fds = rl_count_fds(), threads = rl_count_threads();
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_options o;
        redlock_options_init(&o);
        o.tls_ca_file = rows[i].ca != NULL ? rows[i].ca : certs.ca_file;
        o.tls_cert_file = rows[i].cert;
        o.tls_key_file = rows[i].key;
        redlock_manager *m = NULL;
        char err[256] = "";
        redlock_status st =
            redlock_manager_create_ex(uris, 3, &o, &m, err, sizeof(err));
        if (st != REDLOCK_ETLS || strstr(err, rows[i].msg) == NULL)
            fail_msg("row %zu: %s \"%s\", expected ETLS naming \"%s\"", i,
                     redlock_status_name(st), err, rows[i].msg);
        assert_null(m);
    }
    assert_int_equal(rl_count_fds(), fds);
    assert_int_equal(rl_await_threads(threads, 5000), threads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_cycle_over_tls),
        cmocka_unit_test(test_mutual_tls),
        cmocka_unit_test(test_wrong_ca),
        cmocka_unit_test(test_no_plaintext_fallback),
        cmocka_unit_test(test_hostname_mismatch),
        cmocka_unit_test(test_paused_mid_handshake),
        cmocka_unit_test(test_node_death_is_not_tls_failure),
        cmocka_unit_test(test_dead_node_no_sigpipe),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup_certs, remove_certs);
}
