/*
 * test_bench_tls.c: redlock-bench over TLS. `--tls` spawns TLS-only nodes
 * with a CA made for the run and connects with that CA: W1 and W2 run
 * (cycles > 0, no violation, no quorum failure), their JSON lines say
 * "tls":true (the nodes were rediss://) and carry the limits L1 and L2
 * measured over TLS, and the run's temp certificate and server
 * directories are gone afterwards (a plain run says "tls":false). Usage: --tls with --node, or with --tls-ca, and --tls-cert
 * without --tls-key, exit 64; --tls-insecure warns.
 *
 * The bench binary's path comes from CMake (REDLOCK_BENCH_BIN). Runs are
 * short (1 s per workload, one node) for a 2-core CI machine.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include "json.h"

#ifndef REDLOCK_BENCH_BIN
#error "REDLOCK_BENCH_BIN must give the path of redlock-bench"
#endif

/* Longest a bench run may take here before the test kills it. */
#define RUN_TIMEOUT_MS 240000
/* Most output kept from one run. */
#define OUT_MAX (256 * 1024)

/* Milliseconds on CLOCK_MONOTONIC. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the bench with args (NULL-terminated, without argv[0]) and TMPDIR
 * set to tmpdir (NULL: unchanged); stdout into out, stderr into err (both
 * NUL-terminated, truncated). Returns the exit status, or -1. */
static int bench_run(const char *const *args, const char *tmpdir, char *out,
                     char *err, size_t cap)
{
    const char *argv[32];
    int ofd[2], efd[2], status;
    size_t n = 0, olen = 0, elen = 0;
    long long deadline = now_ms() + RUN_TIMEOUT_MS;
    int open_fds = 2;
    pid_t pid;

    argv[n++] = REDLOCK_BENCH_BIN;
    for (size_t i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    assert_int_equal(pipe(ofd), 0);
    assert_int_equal(pipe(efd), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (tmpdir != NULL)
            setenv("TMPDIR", tmpdir, 1);
        dup2(ofd[1], STDOUT_FILENO);
        dup2(efd[1], STDERR_FILENO);
        close(ofd[0]);
        close(ofd[1]);
        close(efd[0]);
        close(efd[1]);
        execv(REDLOCK_BENCH_BIN, (char *const *)argv);
        _exit(127);
    }
    close(ofd[1]);
    close(efd[1]);
    while (open_fds > 0) {
        struct pollfd p[2] = {{ofd[0], POLLIN, 0}, {efd[0], POLLIN, 0}};
        long long left = deadline - now_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(p, 2, (int)(left > 1000 ? 1000 : left)) <= 0)
            continue;
        for (int k = 0; k < 2; k++) {
            char *buf = k == 0 ? out : err;
            size_t *len = k == 0 ? &olen : &elen;
            char sink[4096];
            ssize_t r;
            if (p[k].fd < 0 || !(p[k].revents & (POLLIN | POLLHUP)))
                continue;
            if (*len < cap - 1)
                r = read(p[k].fd, buf + *len, cap - 1 - *len);
            else
                r = read(p[k].fd, sink, sizeof(sink));
            if (r > 0 && *len < cap - 1)
                *len += (size_t)r;
            if (r == 0) {
                close(k == 0 ? ofd[0] : efd[0]);
                if (k == 0)
                    ofd[0] = -1;
                else
                    efd[0] = -1;
                open_fds--;
            }
        }
    }
    if (ofd[0] >= 0)
        close(ofd[0]);
    if (efd[0] >= 0)
        close(efd[0]);
    out[olen] = '\0';
    err[elen] = '\0';
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Entries of dir whose name starts with prefix. */
static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

/* --tls: W1 and W2 over TLS, the limits over TLS, "tls":true, and the
 * certificates removed at the end. */
static void test_tls_workloads(void **state)
{
    static const char *const args[] = {"--tls", "--spawn", "1",
                                       "--workloads", "W1,W2",
                                       "--duration", "1", "--threads", "4",
                                       "--json", NULL};
    char tmp[] = "/tmp/redlock-bench-tls-XXXXXX";
    char *out = malloc(OUT_MAX), *err = malloc(OUT_MAX), *save = NULL;
    int lines = 0, rc;
    (void)state;

    assert_non_null(out);
    assert_non_null(err);
    assert_non_null(mkdtemp(tmp));
    rc = bench_run(args, tmp, out, err, OUT_MAX);
    if (rc != 0)
        fail_msg("bench --tls exited %d\nstderr:\n%s", rc, err);
    assert_non_null(strstr(err, "TLS-only"));
    for (char *line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char why[96];
        const char *val;
        size_t len;
        double v;
        if (bench_json_check(line, why, sizeof(why)) != 0)
            fail_msg("not JSON (%s): %s", why, line);
        lines++;
        assert_int_equal(bench_json_find(line, "tls", &val, &len), 0);
        if (len != 4 || strncmp(val, "true", 4) != 0)
            fail_msg("tls is not true in: %s", line);
        assert_int_equal(bench_json_number(line, "cycles", &v), 0);
        assert_true(v > 0.0);
        assert_int_equal(bench_json_number(line, "violations", &v), 0);
        assert_true(v == 0.0);
        assert_int_equal(bench_json_number(line, "failures.quorum", &v), 0);
        assert_true(v == 0.0);
        assert_int_equal(bench_json_number(line, "limits.ping_us_p50", &v),
                         0);
        assert_true(v > 0.0);
        assert_int_equal(
            bench_json_number(line, "limits.capacity_ops_s", &v), 0);
        assert_true(v > 0.0);
        if (bench_json_find(line, "error", &val, &len) == 0)
            fail_msg("error in: %s", line);
    }
    assert_int_equal(lines, 2);
    /* The CA and certificates made for the run are gone, and so are the
     * servers' directories. */
    assert_int_equal(count_entries(tmp, "redlock-tls-"), 0);
    assert_int_equal(count_entries(tmp, "redlock-rs-"), 0);
    assert_int_equal(rmdir(tmp), 0);
    free(out);
    free(err);
}

/* Without --tls the same run says "tls":false. */
static void test_plain_says_no_tls(void **state)
{
    static const char *const args[] = {"--spawn", "1", "--workloads", "W1",
                                       "--duration", "1", "--json", NULL};
    char *out = malloc(OUT_MAX), *err = malloc(OUT_MAX);
    const char *val;
    size_t len;
    int rc;
    (void)state;

    assert_non_null(out);
    assert_non_null(err);
    rc = bench_run(args, NULL, out, err, OUT_MAX);
    if (rc != 0)
        fail_msg("bench exited %d\nstderr:\n%s", rc, err);
    assert_int_equal(bench_json_find(out, "tls", &val, &len), 0);
    assert_true(len == 5 && strncmp(val, "false", 5) == 0);
    free(out);
    free(err);
}

/* TLS usage errors exit 64 with nothing on stdout; --tls-insecure warns. */
static void test_tls_usage(void **state)
{
    static const char *const bad1[] = {"--tls", "--node", "rediss://h:1",
                                       NULL};
    static const char *const bad2[] = {"--tls", "--tls-ca", "/etc/hosts",
                                       NULL};
    static const char *const bad3[] = {"--tls-cert", "/etc/hosts", NULL};
    static const char *const bad4[] = {"--tls-ca", "/nonexistent/ca.pem",
                                       NULL};
    static const char *const bad5[] = {"--tls-ca", NULL};
    static const char *const *bad[] = {bad1, bad2, bad3, bad4, bad5};
    static const char *const want[] = {"--tls spawns", "--tls makes its own",
                                       "--tls-cert needs --tls-key",
                                       "--tls-ca: cannot read",
                                       "needs a value"};
    static const char *const insecure[] = {"--tls-insecure", "--spawn", "1",
                                           "--workloads", "W1", "--duration",
                                           "1", "--json", NULL};
    static const char *const help[] = {"--help", NULL};
    char *out = malloc(OUT_MAX), *err = malloc(OUT_MAX);
    (void)state;

    assert_non_null(out);
    assert_non_null(err);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = bench_run(bad[i], NULL, out, err, OUT_MAX);
        if (rc != 64)
            fail_msg("case %zu: exit %d, want 64; stderr: %s", i, rc, err);
        assert_string_equal(out, "");
        if (strstr(err, want[i]) == NULL)
            fail_msg("case %zu: '%s' not in: %s", i, want[i], err);
    }
    assert_int_equal(bench_run(insecure, NULL, out, err, OUT_MAX), 0);
    assert_non_null(strstr(err, "WARNING: --tls-insecure"));
    assert_int_equal(bench_run(help, NULL, out, err, OUT_MAX), 0);
    assert_non_null(strstr(out, "--tls "));
    assert_non_null(strstr(out, "--tls-ca FILE"));
    assert_non_null(strstr(out, "--tls-cert FILE"));
    assert_non_null(strstr(out, "--tls-key FILE"));
    assert_non_null(strstr(out, "--tls-insecure"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_usage),
        cmocka_unit_test(test_tls_workloads),
        cmocka_unit_test(test_plain_says_no_tls),
    };
    return cmocka_run_group_tests_name("bench_tls", tests, NULL, NULL);
}
