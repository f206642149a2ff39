/*
 * test_cli_tls.c: the `redlock` tool's TLS flags and environment
 * variables end to end: the real binary (REDLOCK_CLI_PATH) against real
 * TLS-only redis-servers (tests/support: redis_spawn's TLS options, a CA
 * and certificates made per run by tls_certs).
 *
 * Covered: acquire, status and release over rediss:// with --tls-ca and
 * with REDLOCK_TLS_CA (keys checked on every node over TLS); a CA
 * directory (openssl rehash) given to --tls-ca; the wrong CA, the system
 * store (which does not hold the test CA) and a certificate for another
 * host all fail with exit 2 and a message naming TLS, storing nothing;
 * --tls-insecure gets through the wrong CA but always warns, even with
 * -q; mutual TLS refuses a client without a certificate and accepts
 * --tls-cert/--tls-key and REDLOCK_TLS_CERT/KEY; usage errors (a
 * certificate without its key, half a pair in the environment, an
 * unreadable CA file) exit 64 naming the flag or variable, and a flag
 * overrides a bad variable; TLS settings with only redis:// nodes get a
 * notice that nothing is encrypted.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "redis_spawn.h"
#include "tls_certs.h"

#ifndef REDLOCK_CLI_PATH
#error "REDLOCK_CLI_PATH must name the redlock binary (see CMakeLists.txt)"
#endif

#define NODES 3
/* Generous upper bound for one CLI run, in ms (shared, slow machine). */
#define RUN_TIMEOUT_MS 30000

/* The certificates of the whole group. */
static rs_tls_certs certs;

/* Servers and a scratch directory of one test. */
typedef struct fixture {
    rs_server srv[NODES];
    char dir[256];
    char nodes[1024];
} fixture;

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Read a whole file (up to len - 1 bytes) into buf; "" if missing. */
static void read_file(const char *path, char *buf, size_t len)
{
    FILE *fp = fopen(path, "r");
    size_t n = 0;

    buf[0] = '\0';
    if (fp == NULL)
        return;
    n = fread(buf, 1, len - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}

/* Milliseconds on the monotonic clock. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One CLI run's results. */
typedef struct run_out {
    int status;    /* exit status, 128+N if killed, -1 on timeout */
    char out[4096]; /* stdout */
    char err[8192]; /* stderr */
} run_out;

/* Run the CLI with args (NULL-terminated, without argv[0]) in the
 * environment of the test; stdout and stderr land in r. */
static void cli_run(const fixture *f, const char *const *args, run_out *r)
{
    const char *argv[40];
    char out[512], err[512];
    size_t n = 0;
    long long deadline;
    pid_t pid;
    int st = 0;

    argv[n++] = REDLOCK_CLI_PATH;
    for (size_t i = 0; args[i] != NULL && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(out, sizeof(out), "%s/cli.out", f->dir);
    snprintf(err, sizeof(err), "%s/cli.err", f->dir);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int nul = open("/dev/null", O_RDONLY);

        if (o < 0 || e < 0 || nul < 0)
            _exit(120);
        dup2(nul, 0);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], (char *const *)argv);
        _exit(121);
    }
    deadline = now_ms() + RUN_TIMEOUT_MS;
    r->status = -1;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    read_file(out, r->out, sizeof(r->out));
    read_file(err, r->err, sizeof(r->err));
}

#define CLI(f, r, ...) cli_run((f), (const char *const[]){__VA_ARGS__, NULL}, (r))

/* Fail with the run's stderr unless it exited with want. */
static void expect_status(const run_out *r, int want, const char *what)
{
    if (r->status != want)
        fail_msg("%s: exit %d, want %d\nstdout: %s\nstderr: %s", what,
                 r->status, want, r->out, r->err);
}

/* Fail unless text contains part. */
static void expect_has(const char *text, const char *part, const char *what)
{
    if (strstr(text, part) == NULL)
        fail_msg("%s: '%s' not in:\n%s", what, part, text);
}

/* Start NODES servers with o (NULL: plain) and point REDLOCK_NODES at
 * them. */
static void start_nodes(fixture *f, const rs_options *o)
{
    size_t used = 0;

    for (size_t i = 0; i < NODES; i++)
        assert_int_equal(rs_start_ex(&f->srv[i], o), 0);
    for (size_t i = 0; i < NODES; i++)
        used += (size_t)snprintf(f->nodes + used, sizeof(f->nodes) - used,
                                 "%s%s", i > 0 ? "," : "", f->srv[i].uri);
    setenv("REDLOCK_NODES", f->nodes, 1);
}

/* Options for TLS-only servers with the group's certificates. */
static rs_options tls_opts(void)
{
    rs_options o;
    memset(&o, 0, sizeof(o));
    o.tls_cert_file = certs.server_cert;
    o.tls_key_file = certs.server_key;
    o.tls_ca_file = certs.ca_file;
    return o;
}

/* How many nodes hold key with value (NULL: any value). */
static int nodes_with(const fixture *f, const char *key, const char *value)
{
    const char *get[] = {"GET", key};
    char out[256];
    int n = 0;

    for (size_t i = 0; i < NODES; i++) {
        assert_int_equal(rs_command(&f->srv[i], out, sizeof(out), 2, get), 0);
        if (strcmp(out, "(nil)") != 0 &&
            (value == NULL || strncmp(out, value, strlen(value)) == 0))
            n++;
    }
    return n;
}

/* Strip a trailing newline. */
static void chomp(char *s)
{
    s[strcspn(s, "\r\n")] = '\0';
}

/* Unset every variable the tool reads that a test may set. */
static void clear_env(void)
{
    unsetenv("REDLOCK_TLS_CA");
    unsetenv("REDLOCK_TLS_CERT");
    unsetenv("REDLOCK_TLS_KEY");
    unsetenv("REDLOCK_PASSWORD");
    unsetenv("REDLOCK_OWNER");
    /* The system store must not be pointed at the test CA from outside. */
    unsetenv("SSL_CERT_FILE");
    unsetenv("SSL_CERT_DIR");
}

/* ------------------------------------------------------------------------
 * Fixture
 * ------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    return rs_tls_certs_create(&certs) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    rs_tls_certs_remove(&certs);
    return 0;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/redlock-cli-tls-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    clear_env();
    unsetenv("REDLOCK_NODES");
    *state = f;
    return 0;
}

/* Remove every file of dir (one level: the test makes no deeper ones
 * except the rehash directory, handled by its test), then dir. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[600];

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        int len = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (len > 0 && (size_t)len < sizeof(path))
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    fixture *f = *state;

    rs_stop_many(f->srv, NODES);
    remove_dir(f->dir);
    clear_env();
    unsetenv("REDLOCK_NODES");
    free(f);
    return 0;
}

/* ------------------------------------------------------------------------
 * Locks over TLS
 * ------------------------------------------------------------------------ */

/* acquire, status and release over rediss:// with --tls-ca: the token is
 * on every node (read over TLS), then gone. */
static void test_acquire_release_over_tls(void **state)
{
    fixture *f = *state;
    rs_options o = tls_opts();
    run_out r;
    char token[128];

    start_nodes(f, &o);
    CLI(f, &r, "acquire", "tls-res", "--tls-ca", certs.ca_file, "--ttl",
        "60s");
    expect_status(&r, 0, "acquire");
    snprintf(token, sizeof(token), "%.100s", r.out);
    chomp(token);
    assert_int_equal(strlen(token), 32);
    assert_int_equal(nodes_with(f, "tls-res", token), NODES);

    CLI(f, &r, "status", "tls-res", "--tls-ca", certs.ca_file);
    expect_status(&r, 0, "status");
    expect_has(r.out, "held", "status");

    CLI(f, &r, "release", "tls-res", token, "--tls-ca", certs.ca_file);
    expect_status(&r, 0, "release");
    assert_int_equal(nodes_with(f, "tls-res", NULL), 0);
}

/* REDLOCK_TLS_CA does what --tls-ca does; --tls-ca wins over a variable
 * naming a file that does not exist. */
static void test_ca_from_environment(void **state)
{
    fixture *f = *state;
    rs_options o = tls_opts();
    run_out r;
    char token[128];

    start_nodes(f, &o);
    setenv("REDLOCK_TLS_CA", certs.ca_file, 1);
    CLI(f, &r, "acquire", "env-res");
    expect_status(&r, 0, "acquire with REDLOCK_TLS_CA");
    snprintf(token, sizeof(token), "%.100s", r.out);
    chomp(token);
    assert_int_equal(nodes_with(f, "env-res", token), NODES);

    setenv("REDLOCK_TLS_CA", "/nonexistent/ca.pem", 1);
    CLI(f, &r, "release", "env-res", token, "--tls-ca", certs.ca_file);
    expect_status(&r, 0, "release with --tls-ca over a bad variable");
    assert_int_equal(nodes_with(f, "env-res", NULL), 0);
}

/* --tls-ca also takes a directory of hashed certificates. */
static void test_ca_directory(void **state)
{
    fixture *f = *state;
    rs_options o = tls_opts();
    char cadir[512], copy[600], out[2048];
    const char *openssl = getenv("OPENSSL");
    run_out r;
    FILE *in, *cp;
    size_t n;
    char buf[4096];

    start_nodes(f, &o);
    snprintf(cadir, sizeof(cadir), "%s/cadir", f->dir);
    assert_int_equal(mkdir(cadir, 0700), 0);
    snprintf(copy, sizeof(copy), "%s/ca.pem", cadir);
    in = fopen(certs.ca_file, "r");
    cp = fopen(copy, "w");
    assert_non_null(in);
    assert_non_null(cp);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, cp), n);
    fclose(in);
    fclose(cp);
    {
        const char *argv[] = {openssl != NULL && openssl[0] != '\0'
                                  ? openssl
                                  : "openssl",
                              "rehash", cadir, NULL};
        if (rs_run(argv, out, sizeof(out), RUN_TIMEOUT_MS) != 0)
            fail_msg("openssl rehash: %s", out);
    }
    CLI(f, &r, "acquire", "dir-res", "--tls-ca", cadir, "--wait", "0");
    expect_status(&r, 0, "acquire with a CA directory");
    assert_int_equal(nodes_with(f, "dir-res", NULL), NODES);
    remove_dir(cadir);
}

/* A client that trusts another CA, or only the system store, gets no
 * lock: exit 2, a message naming TLS, nothing stored. */
static void test_wrong_ca_fails(void **state)
{
    fixture *f = *state;
    rs_options o = tls_opts();
    run_out r;

    start_nodes(f, &o);
    CLI(f, &r, "acquire", "bad-ca", "--tls-ca", certs.other_ca_file,
        "--wait", "0");
    expect_status(&r, 2, "acquire with the wrong CA");
    expect_has(r.err, "TLS", "wrong CA");
    expect_has(r.err, "certificate verify failed", "wrong CA");
    assert_int_equal(nodes_with(f, "bad-ca", NULL), 0);

    CLI(f, &r, "acquire", "bad-ca", "--wait", "0");
    expect_status(&r, 2, "acquire with the system store");
    expect_has(r.err, "TLS", "system store");
    assert_int_equal(nodes_with(f, "bad-ca", NULL), 0);
}

/* A certificate of the right CA for another host name is refused. */
static void test_wrong_host_fails(void **state)
{
    fixture *f = *state;
    rs_options o = tls_opts();
    run_out r;

    o.tls_cert_file = certs.wrong_host_cert;
    o.tls_key_file = certs.wrong_host_key;
    o.tls_skip_name_check = 1;
    start_nodes(f, &o);
    CLI(f, &r, "acquire", "bad-host", "--tls-ca", certs.ca_file, "--wait",
        "0");
    expect_status(&r, 2, "acquire from a node with another host's name");
    expect_has(r.err, "TLS", "wrong host");
    assert_int_equal(nodes_with(f, "bad-host", NULL), 0);
}

/* --tls-insecure gets through the wrong CA, and warns even with -q. */
static void test_insecure_warns(void **state)
{
    fixture *f = *state;
    rs_options o = tls_opts();
    run_out r;

    start_nodes(f, &o);
    CLI(f, &r, "acquire", "insecure-res", "--tls-insecure", "--tls-ca",
        certs.other_ca_file, "-q");
    expect_status(&r, 0, "acquire --tls-insecure");
    expect_has(r.err, "WARNING: --tls-insecure", "insecure warning");
    expect_has(r.err, "NOT verified", "insecure warning");
    assert_int_equal(nodes_with(f, "insecure-res", NULL), NODES);
}

/* Mutual TLS: no client certificate, no lock; --tls-cert/--tls-key or
 * REDLOCK_TLS_CERT/KEY get one. */
static void test_mutual_tls(void **state)
{
    fixture *f = *state;
    rs_options o = tls_opts();
    run_out r;

    o.tls_auth_clients = 1;
    o.tls_client_cert_file = certs.client_cert;
    o.tls_client_key_file = certs.client_key;
    start_nodes(f, &o);

    CLI(f, &r, "acquire", "mtls", "--tls-ca", certs.ca_file, "--wait", "0");
    expect_status(&r, 2, "acquire without a client certificate");
    expect_has(r.err, "TLS", "no client certificate");
    assert_int_equal(nodes_with(f, "mtls", NULL), 0);

    CLI(f, &r, "acquire", "mtls", "--tls-ca", certs.ca_file, "--tls-cert",
        certs.client_cert, "--tls-key", certs.client_key, "--ttl", "60s");
    expect_status(&r, 0, "acquire with --tls-cert/--tls-key");
    assert_int_equal(nodes_with(f, "mtls", NULL), NODES);

    setenv("REDLOCK_TLS_CA", certs.ca_file, 1);
    setenv("REDLOCK_TLS_CERT", certs.client_cert, 1);
    setenv("REDLOCK_TLS_KEY", certs.client_key, 1);
    CLI(f, &r, "acquire", "mtls-env", "--ttl", "60s");
    expect_status(&r, 0, "acquire with REDLOCK_TLS_CERT/KEY");
    assert_int_equal(nodes_with(f, "mtls-env", NULL), NODES);
}

/* ------------------------------------------------------------------------
 * Usage errors and notices (plain nodes: no TLS needed to refuse)
 * ------------------------------------------------------------------------ */

/* Bad TLS settings are usage errors (64) naming the flag or variable, and
 * reach no node. */
static void test_usage_errors(void **state)
{
    fixture *f = *state;
    run_out r;

    start_nodes(f, NULL);
    CLI(f, &r, "acquire", "u", "--tls-cert", certs.client_cert);
    expect_status(&r, 64, "--tls-cert alone");
    expect_has(r.err, "--tls-cert needs --tls-key", "--tls-cert alone");

    CLI(f, &r, "acquire", "u", "--tls-key", certs.client_key);
    expect_status(&r, 64, "--tls-key alone");
    expect_has(r.err, "--tls-key needs --tls-cert", "--tls-key alone");

    CLI(f, &r, "acquire", "u", "--tls-ca", "/nonexistent/ca.pem");
    expect_status(&r, 64, "unreadable --tls-ca");
    expect_has(r.err, "--tls-ca: cannot read '/nonexistent/ca.pem'",
               "unreadable --tls-ca");

    setenv("REDLOCK_TLS_CA", "/nonexistent/env-ca.pem", 1);
    CLI(f, &r, "acquire", "u");
    expect_status(&r, 64, "unreadable REDLOCK_TLS_CA");
    expect_has(r.err, "REDLOCK_TLS_CA: cannot read", "REDLOCK_TLS_CA");
    unsetenv("REDLOCK_TLS_CA");

    setenv("REDLOCK_TLS_CERT", certs.client_cert, 1);
    CLI(f, &r, "status", "u");
    expect_status(&r, 64, "REDLOCK_TLS_CERT alone");
    expect_has(r.err, "REDLOCK_TLS_CERT is set but REDLOCK_TLS_KEY is not",
               "REDLOCK_TLS_CERT alone");
    /* The flags replace the pair as a whole. */
    CLI(f, &r, "acquire", "u", "--tls-cert", certs.client_cert, "--tls-key",
        certs.client_key, "-q");
    expect_status(&r, 0, "flags over half a pair in the environment");
    unsetenv("REDLOCK_TLS_CERT");

    CLI(f, &r, "acquire", "u2", "--tls-key", "", "--tls-cert", "x");
    expect_status(&r, 64, "empty --tls-key");
    expect_has(r.err, "--tls-key: empty file name", "empty --tls-key");
    assert_int_equal(nodes_with(f, "u2", NULL), 0);
}

/* TLS settings with only redis:// nodes: it works, with a notice that
 * nothing is encrypted (not with -q); --tls-insecure still warns. */
static void test_tls_settings_without_tls_nodes(void **state)
{
    fixture *f = *state;
    run_out r;

    start_nodes(f, NULL);
    CLI(f, &r, "acquire", "plain", "--tls-ca", certs.ca_file);
    expect_status(&r, 0, "acquire on redis:// with --tls-ca");
    expect_has(r.err, "no node is rediss://", "notice");
    expect_has(r.err, "nothing is encrypted", "notice");

    CLI(f, &r, "acquire", "plain2", "--tls-ca", certs.ca_file, "-q");
    expect_status(&r, 0, "acquire -q");
    assert_string_equal(r.err, "");

    CLI(f, &r, "acquire", "plain3", "--tls-insecure", "-q");
    expect_status(&r, 0, "acquire -q --tls-insecure");
    expect_has(r.err, "WARNING: --tls-insecure", "insecure on plain nodes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_acquire_release_over_tls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ca_from_environment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ca_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_ca_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_host_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_insecure_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutual_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_settings_without_tls_nodes,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("cli_tls", tests, group_setup,
                                       group_teardown);
}
