/*
 * test_bench_cluster.c: redlock-bench --spawn-cluster (issue 17), run for
 * real: one Redlock node that is a local Redis Cluster of 3 masters.
 *
 * DESIGN
 * What is checked: the run exits 0 and its --json W2 line has cycles, no
 * violation, no error, limits measured on the cluster's first master
 * (limits.cluster_nodes 1, L1, L1q and L2 present) and no W2/L2 ratio
 * (L2 covers one shard only, so the bench must not print one); the
 * cluster's servers, seen as the bench's children while it runs, are gone
 * after a normal exit and after SIGINT (status 130); W5 elects and fails
 * over on a cluster node (its election name is one hash tag); the
 * combinations the
 * bench refuses exit 64 with nothing on stdout. Kept short for a 2-core
 * machine (1 s of W2 with 4 threads, 2 s of W5; about 15 s in all, most of it
 * spent creating clusters). Rejected: adding these cases to
 * test_bench_smoke.c (its single-node runs stay fast and independent of
 * redis-cli), and checking figures against thresholds (goals belong in the
 * bench's output, not here). The process helpers are this file's own,
 * smaller than test_bench_smoke's (no terminal tests here).
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
#include <poll.h>
#include <signal.h>
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

/* Longest one bench run may take here before it is killed. */
#define RUN_TIMEOUT_MS 120000
/* Most stdout kept from one run. */
#define OUT_MAX (128 * 1024)
/* Most child servers tracked (3 masters). */
#define KIDS_MAX 16

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A bench being run: pid, the read end of its stdout, what it wrote, and
 * the redis-servers seen as its children so far. */
typedef struct run {
    pid_t pid;
    int fd;
    char *out;
    size_t len;
    pid_t kids[KIDS_MAX];
    size_t nkids;
} run;

/* Fork and exec the bench with args (NULL-terminated, no argv[0]). */
static void start(run *r, const char *const *args)
{
    const char *argv[24] = {REDLOCK_BENCH_BIN};
    int fds[2];
    size_t n = 1;

    for (; args[n - 1] != NULL && n < 23; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    memset(r, 0, sizeof(*r));
    r->out = malloc(OUT_MAX);
    assert_non_null(r->out);
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(REDLOCK_BENCH_BIN, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    r->fd = fds[0];
}

/* Add the redis-servers whose parent is r->pid to r->kids (once each). */
static void note_kids(run *r)
{
    DIR *d = opendir("/proc");
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL && r->nkids < KIDS_MAX) {
        char path[64], buf[512], *paren, *end;
        long pid = strtol(e->d_name, &end, 10), parent;
        FILE *f;
        int known = 0;
        if (*end != '\0' || pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        end = fgets(buf, sizeof(buf), f);
        fclose(f);
        if (end == NULL || strstr(buf, "(redis-server)") == NULL)
            continue;
        paren = strrchr(buf, ')');
        if (paren == NULL)
            continue;
        parent = strtol(paren + 4, NULL, 10); /* ") S ppid" */
        for (size_t i = 0; i < r->nkids; i++)
            known |= r->kids[i] == (pid_t)pid;
        if (parent == (long)r->pid && !known)
            r->kids[r->nkids++] = (pid_t)pid;
    }
    closedir(d);
}

/* 1 if pid lives (not a zombie). */
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
    p = p != NULL ? strrchr(buf, ')') : NULL;
    return p != NULL && p[2] != 'Z';
}

/* Read stdout (noting child servers every 100 ms) until EOF or until
 * stop_when_kids servers were seen (0: never), then, at EOF, reap the
 * bench. Returns its exit status, -1 if it did not exit normally, or -2
 * when it returned early on the kids. */
static int pump(run *r, size_t stop_when_kids)
{
    long long deadline = mono_ms() + RUN_TIMEOUT_MS;
    int status;

    for (;;) {
        struct pollfd p = {r->fd, POLLIN, 0};
        ssize_t n;
        note_kids(r);
        if (stop_when_kids > 0 && r->nkids >= stop_when_kids)
            return -2;
        if (mono_ms() > deadline) {
            fprintf(stderr, "bench did not finish in time; killing it\n");
            kill(r->pid, SIGKILL);
            break;
        }
        if (poll(&p, 1, 100) <= 0)
            continue;
        n = read(r->fd, r->out + r->len, OUT_MAX - 1 - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        r->len += (size_t)n;
        if (r->len == OUT_MAX - 1)
            break;
    }
    r->out[r->len] = '\0';
    close(r->fd);
    while (waitpid(r->pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* One W2 line over one 3-master cluster node: exit 0, figures there, no
 * W2/L2 ratio, servers gone afterwards. */
static void test_cluster_w2(void **state)
{
    static const char *const args[] = {
        "--spawn-cluster", "3", "--spawn", "1", "--workloads", "W2",
        "--duration", "1", "--threads", "4", "--json", NULL};
    const char *val;
    size_t len;
    double v;
    run r;
    (void)state;

    start(&r, args);
    assert_int_equal(pump(&r, 0), 0);
    {
        char *nl = strchr(r.out, '\n'), wl[16], err[96];
        assert_non_null(nl);
        *nl = '\0';
        if (bench_json_check(r.out, err, sizeof(err)) != 0)
            fail_msg("not JSON (%s): %s", err, r.out);
        assert_int_equal(bench_json_string(r.out, "workload", wl, sizeof(wl)),
                         0);
        assert_string_equal(wl, "W2");
        assert_int_equal(bench_json_number(r.out, "cycles", &v), 0);
        assert_true(v > 0.0);
        assert_int_equal(bench_json_number(r.out, "violations", &v), 0);
        assert_true(v == 0.0);
        assert_int_equal(bench_json_number(r.out, "limits.cluster_nodes", &v),
                         0);
        assert_true(v == 1.0);
        assert_int_equal(bench_json_number(r.out, "limits.ping_us_p50", &v),
                         0);
        assert_true(v > 0.0);
        assert_int_equal(bench_json_number(r.out, "limits.l1q_us_p50", &v),
                         0);
        assert_true(v > 0.0);
        assert_int_equal(
            bench_json_number(r.out, "limits.capacity_ops_s", &v), 0);
        assert_true(v > 0.0);
        /* L2 is one shard's: no ratio of W2 to it. */
        assert_int_equal(bench_json_find(r.out, "limit_ratio", &val, &len),
                         0);
        assert_true(len == 4 && strncmp(val, "null", 4) == 0);
        assert_int_not_equal(bench_json_find(r.out, "error", &val, &len), 0);
        assert_int_not_equal(
            bench_json_find(r.out, "limits.not_measured", &val, &len), 0);
        assert_string_equal(nl + 1, ""); /* one line: W2 only */
    }
    /* The three masters were seen, and all are gone. */
    assert_int_equal(r.nkids, 3);
    for (size_t i = 0; i < r.nkids; i++)
        assert_false(alive(r.kids[i]));
    free(r.out);
}

/* W5 on a cluster node: the election name must be one hash tag there;
 * at least one failover, no error. */
static void test_cluster_w5(void **state)
{
    static const char *const args[] = {
        "--spawn-cluster", "3", "--spawn", "1", "--workloads", "W5",
        "--duration", "2", "--election-ttl", "300ms", "--json", NULL};
    const char *val;
    size_t len;
    double v;
    run r;
    (void)state;

    start(&r, args);
    assert_int_equal(pump(&r, 0), 0);
    if (strchr(r.out, '\n') != NULL)
        *strchr(r.out, '\n') = '\0'; /* the one W5 line */
    assert_int_equal(bench_json_check(r.out, NULL, 0), 0);
    assert_int_equal(bench_json_number(r.out, "failovers", &v), 0);
    assert_true(v >= 1.0);
    assert_int_not_equal(bench_json_find(r.out, "error", &val, &len), 0);
    free(r.out);
}

/* SIGINT once the cluster's servers run: status 130, servers gone. */
static void test_cluster_interrupt(void **state)
{
    static const char *const args[] = {
        "--spawn-cluster", "3", "--spawn", "1", "--workloads", "W2",
        "--duration", "60", "--threads", "2", "--json", NULL};
    long long t0;
    run r;
    (void)state;

    start(&r, args);
    assert_int_equal(pump(&r, 3), -2);
    usleep(2500000); /* into the cluster's creation, the limits or W2 */
    t0 = mono_ms();
    assert_int_equal(kill(r.pid, SIGINT), 0);
    assert_int_equal(pump(&r, 0), 130);
    assert_true(mono_ms() - t0 < 30000);
    assert_int_equal(r.nkids, 3);
    for (size_t i = 0; i < r.nkids; i++)
        assert_false(alive(r.kids[i]));
    free(r.out);
}

/* Refused combinations: status 64, nothing on stdout. */
static void test_cluster_usage(void **state)
{
    static const char *const b1[] = {"--spawn-cluster", "2", NULL};
    static const char *const b2[] = {"--spawn-cluster", "10", NULL};
    static const char *const b3[] = {"--spawn-cluster", "x", NULL};
    static const char *const b4[] = {"--spawn-cluster", "3", "--tls", NULL};
    static const char *const b5[] = {"--spawn-cluster", "3", "--node",
                                     "redis://127.0.0.1:1", NULL};
    static const char *const b6[] = {"--spawn-cluster", "3", "--soak", NULL};
    static const char *const b7[] = {"--spawn-cluster", "9", "--spawn", "16",
                                     NULL};
    static const char *const b8[] = {"--spawn-cluster", NULL};
    const char *const *bad[] = {b1, b2, b3, b4, b5, b6, b7, b8};
    static const char *const help[] = {"--help", NULL};
    run r;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        start(&r, bad[i]);
        assert_int_equal(pump(&r, 0), 64);
        assert_string_equal(r.out, "");
        free(r.out);
    }
    start(&r, help);
    assert_int_equal(pump(&r, 0), 0);
    assert_non_null(strstr(r.out, "--spawn-cluster SHARDS"));
    free(r.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_usage),
        cmocka_unit_test(test_cluster_w2),
        cmocka_unit_test(test_cluster_w5),
        cmocka_unit_test(test_cluster_interrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
