/*
 * test_bench_smoke.c: run the real redlock-bench briefly on one spawned
 * node and read its --json output back with the bench's own JSON checker
 * (no python needed): every line must parse, carry the spec's fields, and
 * report 0 mutual-exclusion violations and 0 lost leases, and carry L1q,
 * W1's ratios to it, W3's hand-over gap and W4's live bytes per lease
 * (present and positive; no thresholds: goals belong in the bench's own
 * output). Also checks that SIGINT stops a run early with status 130 and
 * leaves no redis-server of the bench running, and that the progress
 * line goes to a terminal on stderr while stdout is redirected, and that
 * --async K adds W2A (one thread, K cycles in flight) beside W2, with
 * K = 64 when W2A is named without it, and refuses K outside 1..4096.
 *
 * The bench binary's path comes from CMake (REDLOCK_BENCH_BIN). Runs are
 * kept short (1 s per workload, 2 s for W4 with 200 leases, a 300 ms
 * election TTL for W5) for a 2-core CI machine.
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
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/wait.h>

#include "json.h"

#ifndef REDLOCK_BENCH_BIN
#error "REDLOCK_BENCH_BIN must give the path of redlock-bench"
#endif

/* Longest a bench run may take here before the test kills it. */
#define RUN_TIMEOUT_MS 240000
/* Most stdout kept from one run. */
#define OUT_MAX (256 * 1024)

/* Milliseconds on CLOCK_MONOTONIC. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A running bench: its pid and the read end of its stdout. */
typedef struct bench_proc {
    pid_t pid;
    int out_fd;
} bench_proc;

/* Start the bench with args (NULL-terminated, without argv[0]); its stdout
 * goes to a pipe, stderr to ours. */
static void bench_start(bench_proc *p, const char *const *args)
{
    const char *argv[32];
    int fds[2];
    size_t n = 0;

    argv[n++] = REDLOCK_BENCH_BIN;
    while (args[n - 1] != NULL && n < 31) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(REDLOCK_BENCH_BIN, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    p->out_fd = fds[0];
}

/* Read the bench's stdout to EOF into out (NUL-terminated), then reap it.
 * Kills it if it outlives RUN_TIMEOUT_MS. Returns the exit status, or -1
 * if it did not exit normally. */
static int bench_finish(bench_proc *p, char *out, size_t cap)
{
    long long deadline = now_ms() + RUN_TIMEOUT_MS;
    size_t len = 0;
    int status;

    for (;;) {
        struct pollfd pfd = {p->out_fd, POLLIN, 0};
        long long left = deadline - now_ms();
        ssize_t n;
        if (left <= 0) {
            fprintf(stderr, "bench did not finish in time; killing it\n");
            kill(p->pid, SIGKILL);
            break;
        }
        if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) <= 0)
            continue;
        n = read(p->out_fd, out + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap - 1)
            break;
    }
    out[len] = '\0';
    close(p->out_fd);
    while (waitpid(p->pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    if (!WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* The number at path in line exists and is > 0 (a figure that must be
 * there, with no threshold on its value). */
static void expect_positive(const char *line, const char *path)
{
    double v = 0.0;

    if (bench_json_number(line, path, &v) != 0 || !(v > 0.0))
        fail_msg("%s missing or not positive in: %s", path, line);
}

/* Check every line of out: valid JSON with the spec's fields, no
 * violations, nothing lost, no error. Marks each workload id seen in
 * seen[] (indexed like `ids`). Returns the number of lines. */
static int check_lines(char *out, const char *const *ids, int *seen,
                       size_t nids)
{
    int lines = 0;
    char *save = NULL;

    for (char *line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char err[96], wl[16];
        double v;
        const char *val;
        size_t len;
        if (bench_json_check(line, err, sizeof(err)) != 0) {
            fprintf(stderr, "not JSON (%s): %s\n", err, line);
            fail();
        }
        lines++;
        assert_int_equal(bench_json_string(line, "workload", wl, sizeof(wl)),
                         0);
        assert_int_equal(bench_json_string(line, "tool", err, sizeof(err)),
                         0);
        assert_string_equal(err, "redlock-bench");
        assert_int_equal(bench_json_number(line, "nodes", &v), 0);
        assert_true(v == 1.0);
        assert_int_equal(bench_json_number(line, "violations", &v), 0);
        if (v != 0.0)
            fprintf(stderr, "violations in: %s\n", line);
        assert_true(v == 0.0);
        assert_int_equal(bench_json_number(line, "lost", &v), 0);
        assert_true(v == 0.0);
        assert_int_equal(bench_json_number(line, "cycles", &v), 0);
        if (v <= 0.0)
            fprintf(stderr, "no cycles in: %s\n", line);
        assert_true(v > 0.0);
        expect_positive(line, "limits.ping_us_p50");
        expect_positive(line, "limits.capacity_ops_s");
        /* L1q, the inline quorum fan-out: present and positive (no
         * thresholds: goals belong in the bench's own output). */
        expect_positive(line, "limits.l1q_us_p50");
        expect_positive(line, "limits.l1q_us_p99");
        expect_positive(line, "limits.l1q_cpu_us_per_iter");
        assert_int_equal(bench_json_find(line, "failures.taken", &val, &len),
                         0);
        if (bench_json_find(line, "error", &val, &len) == 0) {
            fprintf(stderr, "error in: %s\n", line);
            fail();
        }
        for (size_t i = 0; i < nids; i++)
            if (strcmp(wl, ids[i]) == 0)
                seen[i]++;
    }
    return lines;
}

/* W1, W2, W3, W3P and W5 for 1 s each on one node. */
static void test_smoke_workloads(void **state)
{
    static const char *const args[] = {
        "--spawn", "1", "--workloads", "W1,W2,W3,W3P,W5", "--duration", "1",
        "--threads", "4", "--election-ttl", "300ms", "--json", NULL};
    static const char *const ids[] = {"W1", "W2", "W3", "W3P", "W5"};
    int seen[5] = {0};
    char *out = malloc(OUT_MAX);
    bench_proc p;
    double v;
    (void)state;

    assert_non_null(out);
    bench_start(&p, args);
    assert_int_equal(bench_finish(&p, out, OUT_MAX), 0);
    /* W1 must carry its latency figures and its ratio to L1. */
    {
        char *w1 = strstr(out, "{\"tool\":\"redlock-bench\"");
        assert_non_null(w1);
        char *nl = strchr(w1, '\n');
        assert_non_null(nl);
        *nl = '\0';
        assert_int_equal(bench_json_number(w1, "acquire_us.p50", &v), 0);
        assert_true(v > 0.0);
        assert_int_equal(bench_json_number(w1, "release_us.p99", &v), 0);
        assert_int_equal(bench_json_number(w1, "limit_ratio", &v), 0);
        /* ... and its ratios to L1q (issue 13's goals). */
        expect_positive(w1, "l1q_ratio.acquire_p50");
        expect_positive(w1, "l1q_ratio.cpu_per_cycle");
        expect_positive(w1, "cpu_us_per_cycle");
        *nl = '\n';
    }
    /* W3 and W3P carry the hand-over gap (release -> next grant). */
    for (const char *p = out; (p = strstr(p, "\"workload\":\"W3")) != NULL;
         p++) {
        const char *start = p, *end = strchr(p, '\n');
        char line[OUT_MAX / 4];
        while (start > out && start[-1] != '\n')
            start--;
        assert_non_null(end);
        assert_true((size_t)(end - start) < sizeof(line));
        memcpy(line, start, (size_t)(end - start));
        line[end - start] = '\0';
        /* p50 may be 0 if most grants beat their release (counted as
         * early); the gaps are there and some is positive. */
        assert_int_equal(bench_json_number(line, "handover_us.p50", &v), 0);
        expect_positive(line, "handover_us.count");
        expect_positive(line, "handover_us.max");
        assert_int_equal(bench_json_number(line, "handover_early", &v), 0);
    }
    assert_int_equal(check_lines(out, ids, seen, 5), 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(seen[i], 1);
    free(out);
}

/* The line of workload wl in out, copied into line (NUL-terminated);
 * fails the test if there is none. */
static void line_of(const char *out, const char *wl, char *line, size_t cap)
{
    char needle[32];
    const char *p, *start, *end;

    snprintf(needle, sizeof(needle), "\"workload\":\"%s\"", wl);
    p = strstr(out, needle);
    if (p == NULL)
        fail_msg("no %s line in: %s", wl, out);
    start = p;
    while (start > out && start[-1] != '\n')
        start--;
    end = strchr(p, '\n');
    assert_non_null(end);
    assert_true((size_t)(end - start) < cap);
    memcpy(line, start, (size_t)(end - start));
    line[end - start] = '\0';
}

/* --async 8 adds W2A (one thread, 8 cycles in flight through a completion
 * queue) to the given W2: both lines come out, W2A's with cycles, its
 * latencies and per-cycle figures, threads 1, in_flight 8 and no error
 * (no rates asserted). */
static void test_smoke_async(void **state)
{
    static const char *const args[] = {"--async", "8", "--workloads", "W2",
                                       "--spawn", "1", "--duration", "1",
                                       "--json", NULL};
    static const char *const ids[] = {"W2", "W2A"};
    int seen[2] = {0};
    char *out = malloc(OUT_MAX), *line = malloc(OUT_MAX);
    bench_proc p;
    (void)state;

    assert_non_null(out);
    assert_non_null(line);
    bench_start(&p, args);
    assert_int_equal(bench_finish(&p, out, OUT_MAX), 0);
    line_of(out, "W2A", line, OUT_MAX);
    expect_positive(line, "cycles");
    expect_positive(line, "acquire_us.count");
    expect_positive(line, "release_us.count");
    expect_positive(line, "cpu_us_per_cycle");
    expect_positive(line, "context_switches_per_cycle");
    {
        char name[32];
        double v;
        assert_int_equal(bench_json_string(line, "name", name, sizeof(name)),
                         0);
        assert_string_equal(name, "parallel-async");
        assert_int_equal(bench_json_number(line, "threads", &v), 0);
        assert_true(v == 1.0);
        assert_int_equal(bench_json_number(line, "in_flight", &v), 0);
        assert_true(v == 8.0);
        /* A cycle is a release that succeeded after its acquire did:
         * one release sample per cycle, at least as many acquires. (No
         * failure count is asserted: a slow CI machine may time a command
         * out.) */
        assert_int_equal(bench_json_number(line, "acquire_us.count", &v), 0);
        {
            double cycles = 0.0, rel = 0.0;
            assert_int_equal(bench_json_number(line, "cycles", &cycles), 0);
            assert_int_equal(
                bench_json_number(line, "release_us.count", &rel), 0);
            assert_true(v >= cycles);
            assert_true(rel == cycles);
        }
    }
    /* W2 ran as given (its own 64 threads), beside it. */
    line_of(out, "W2", line, OUT_MAX);
    {
        double v;
        assert_int_equal(bench_json_number(line, "threads", &v), 0);
        assert_true(v == 64.0);
        assert_int_equal(bench_json_is_null(line, "in_flight"), -1);
    }
    assert_int_equal(check_lines(out, ids, seen, 2), 2);
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    free(line);
    free(out);
}

/* W2A named alone, without --async: it runs alone, with K = 64. */
static void test_smoke_async_default_k(void **state)
{
    static const char *const args[] = {"--workloads", "w2a", "--spawn", "1",
                                       "--duration",  "1",   "--json",
                                       NULL};
    static const char *const ids[] = {"W2A"};
    int seen[1] = {0};
    char *out = malloc(OUT_MAX);
    bench_proc p;
    double v;
    (void)state;

    assert_non_null(out);
    bench_start(&p, args);
    assert_int_equal(bench_finish(&p, out, OUT_MAX), 0);
    assert_int_equal(bench_json_number(out, "in_flight", &v), 0);
    assert_true(v == 64.0);
    assert_int_equal(check_lines(out, ids, seen, 1), 1);
    assert_int_equal(seen[0], 1);
    free(out);
}

/* W4 with 200 leases held for 2 s: none lost. */
static void test_smoke_leases(void **state)
{
    static const char *const args[] = {"--spawn",    "1",   "--workloads",
                                       "W4",         "--duration", "2",
                                       "--leases",   "200", "--json",
                                       NULL};
    static const char *const ids[] = {"W4"};
    int seen[1] = {0};
    char *out = malloc(OUT_MAX);
    bench_proc p;
    double v;
    (void)state;

    assert_non_null(out);
    bench_start(&p, args);
    assert_int_equal(bench_finish(&p, out, OUT_MAX), 0);
    assert_int_equal(bench_json_number(out, "leases", &v), 0);
    assert_true(v == 200.0);
    assert_int_equal(bench_json_number(out, "extensions_per_s", &v), 0);
    assert_true(v > 0.0);
    /* Live bytes per lease (glibc's bytes in use): present and positive
     * wherever glibc's malloc is the allocator. A sanitizer build replaces
     * it (mallinfo2 then reports nothing in use, here as in the bench),
     * and the bench must say "unknown" (null), never 0. */
    struct mallinfo2 mi = mallinfo2();
    if (mi.uordblks + mi.hblkhd > 0)
        expect_positive(out, "heap_per_lease_b");
    else
        assert_non_null(strstr(out, "\"heap_per_lease_b\":null"));
    assert_int_equal(check_lines(out, ids, seen, 1), 1);
    assert_int_equal(seen[0], 1);
    free(out);
}

/* The pids of the redis-server processes whose parent is ppid. */
static size_t child_servers(pid_t ppid, pid_t *pids, size_t cap)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    size_t n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL && n < cap) {
        char path[64], buf[512], *close_paren;
        long pid, parent;
        FILE *f;
        char *end;
        pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(buf, sizeof(buf), f) == NULL) {
            fclose(f);
            continue;
        }
        fclose(f);
        /* "pid (comm) S ppid ..." */
        close_paren = strrchr(buf, ')');
        if (close_paren == NULL || strstr(buf, "(redis-server)") == NULL)
            continue;
        parent = strtol(close_paren + 4, &end, 10);
        if (parent == (long)ppid)
            pids[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

/* 1 if pid still exists as a live (non-zombie) process. */
static int alive(pid_t pid)
{
    char path[64], buf[512], *p;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    p = fgets(buf, sizeof(buf), f);
    fclose(f);
    if (p == NULL)
        return 0;
    p = strrchr(buf, ')');
    return p != NULL && p[2] != 'Z';
}

/* SIGINT during a long W2 run: exit 130 soon, servers gone. */
static void test_smoke_interrupt(void **state)
{
    static const char *const args[] = {"--spawn", "2", "--workloads", "W2",
                                       "--duration", "60", "--threads", "2",
                                       "--json", NULL};
    char *out = malloc(OUT_MAX);
    pid_t servers[8];
    size_t n = 0;
    long long t0, deadline = now_ms() + 60000;
    bench_proc p;
    (void)state;

    assert_non_null(out);
    bench_start(&p, args);
    /* Wait until both servers are up (the bench is then past spawning). */
    while (now_ms() < deadline) {
        n = child_servers(p.pid, servers, 8);
        if (n == 2)
            break;
        usleep(20000);
    }
    assert_int_equal(n, 2);
    usleep(1500000); /* into the limits or W2 */
    t0 = now_ms();
    assert_int_equal(kill(p.pid, SIGINT), 0);
    assert_int_equal(bench_finish(&p, out, OUT_MAX), 130);
    assert_true(now_ms() - t0 < 30000);
    for (size_t i = 0; i < n; i++)
        assert_false(alive(servers[i]));
    free(out);
}

/* The live progress line goes to stderr when stderr is a terminal, also
 * with stdout redirected: stderr is a pseudo-terminal here, stdout a
 * pipe; the line shows up on the terminal and never in the --json. */
static void test_progress_on_tty_stderr(void **state)
{
    static const char *const args[] = {"--spawn", "1", "--workloads", "W1",
                                       "--duration", "1", "--json", NULL};
    char *tty = malloc(OUT_MAX), *out = malloc(OUT_MAX);
    size_t tlen = 0;
    long long deadline = now_ms() + RUN_TIMEOUT_MS;
    int master, slave, fds[2];
    pid_t pid;
    (void)state;

    assert_non_null(tty);
    assert_non_null(out);
    master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[16];
        size_t n = 0;
        argv[n++] = REDLOCK_BENCH_BIN;
        for (size_t i = 0; args[i] != NULL; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        dup2(fds[1], STDOUT_FILENO);
        dup2(slave, STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        close(slave);
        close(master);
        execv(REDLOCK_BENCH_BIN, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    close(slave);
    /* Drain the terminal until the bench is gone (EIO once no one has the
     * slave open), so its writes never block. */
    while (now_ms() < deadline && tlen < OUT_MAX - 1) {
        struct pollfd pfd = {master, POLLIN, 0};
        ssize_t n;
        if (poll(&pfd, 1, 1000) <= 0)
            continue;
        n = read(master, tty + tlen, OUT_MAX - 1 - tlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        tlen += (size_t)n;
    }
    tty[tlen] = '\0';
    close(master);
    {
        bench_proc p = {pid, fds[0]};
        assert_int_equal(bench_finish(&p, out, OUT_MAX), 0);
    }
    if (strstr(tty, "[W1 N=1]") == NULL)
        fprintf(stderr, "no progress line on the terminal: %s\n", tty);
    assert_non_null(strstr(tty, "[W1 N=1]"));
    assert_null(strstr(out, "[W1 N=1]"));
    assert_null(strchr(out, '\r'));
    assert_int_equal(bench_json_check(strtok(out, "\n"), NULL, 0), 0);
    free(tty);
    free(out);
}

/* Bad usage exits with status 64 (EX_USAGE, as redlock) and prints
 * nothing on stdout. */
static void test_usage_errors(void **state)
{
    static const char *const bad1[] = {"--duration", "abc", NULL};
    static const char *const bad2[] = {"--workloads", "W9", NULL};
    static const char *const bad3[] = {"--json", "--csv", NULL};
    /* Durations past their documented range: refused, not wrapped. */
    static const char *const bad4[] = {"--duration", "18446744073710ms",
                                       NULL};
    static const char *const bad5[] = {"--soak-fault-interval", "8785h",
                                       NULL};
    static const char *const bad6[] = {"--ttl", "2ms", NULL};
    static const char *const bad7[] = {"--ttl", "604800001ms", NULL};
    static const char *const bad8[] = {"--retry-jitter", "3600001ms", NULL};
    static const char *const bad9[] = {"--election-ttl", "9ms", NULL};
    /* The duration parser shared with redlock: no rounding, no unit-less
     * part in a compound. */
    static const char *const bad10[] = {"--duration", "0.0004", NULL};
    static const char *const bad11[] = {"--soak-duration", "1m30", NULL};
    static const char *const bad12[] = {"no-such-operand", NULL};
    static const char *const bad13[] = {"--bogus", NULL};
    /* --async K: 1..4096, a plain integer, a value required. */
    static const char *const bad14[] = {"--async", "0", NULL};
    static const char *const bad15[] = {"--async", "5000", NULL};
    static const char *const bad16[] = {"--async", "junk", NULL};
    static const char *const bad17[] = {"--async", "8x", "--workloads", "W2",
                                        NULL};
    static const char *const bad18[] = {"--async", NULL};
    static const char *const help[] = {"--help", NULL};
    const char *const *bad[] = {bad1,  bad2,  bad3,  bad4,  bad5,  bad6,
                                bad7,  bad8,  bad9,  bad10, bad11, bad12,
                                bad13, bad14, bad15, bad16, bad17, bad18};
    char out[8192];
    bench_proc p;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bench_start(&p, bad[i]);
        assert_int_equal(bench_finish(&p, out, sizeof(out)), 64);
        assert_string_equal(out, "");
    }
    bench_start(&p, help);
    assert_int_equal(bench_finish(&p, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "--nodes-count"));
    assert_non_null(strstr(out, "--plot"));
    assert_non_null(strstr(out, "--async K"));
    assert_non_null(strstr(out, "W2A"));
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_smoke_workloads),
        cmocka_unit_test(test_smoke_async),
        cmocka_unit_test(test_smoke_async_default_k),
        cmocka_unit_test(test_smoke_leases),
        cmocka_unit_test(test_smoke_interrupt),
        cmocka_unit_test(test_progress_on_tty_stderr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
