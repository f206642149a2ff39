/*
 * test_cli.c: the `redlock` command-line tool end to end: the real binary
 * (REDLOCK_CLI_PATH) against real redis-server processes, with
 * tests/support/cli_child.c (REDLOCK_CLI_CHILD_PATH) as the command run
 * under `exec` and `elect`. Both paths come from CMakeLists.txt.
 *
 * Covered: acquire then release with the printed token; a wrong token
 * exits 1 and leaves the lock held; extend; status with and without
 * --json and --show-token; --wait 0 and --conflict-exit-code (also 0,
 * flock's "skip quietly": nothing acquired or run); usage errors
 * (bad durations, unknown command, missing "--") exit 64 with one clear
 * line; two execs on one resource never overlap; a child running 5x the
 * TTL keeps its lock; a paused majority makes exec stop its child before
 * the validity ends and exit 3 (with SIGKILL after --grace for a child
 * that ignores SIGTERM); signals are forwarded; passwords from the
 * environment and a file; elect with three candidates where the leader is
 * killed and another takes over; and every flag of the flag table appears
 * in the man page and in --help. Operability: durations as bare seconds
 * and compounds; status exit codes 0/1/2 (held, not held or split,
 * cannot tell); --json on every command, errors included, checked with a
 * strict JSON checker; one-shot acquire/extend/release landing on every
 * node before exiting; a wrong password failing fast (exit 2) with one
 * line per node without -v, rate-limited; elect saying why it cannot
 * campaign; duplicate nodes; owner labels in status and through extend;
 * elect --listen seeing a change of leader; --restart-guard and
 * REDLOCK_RESTART_GUARD (status shows guarded nodes, an acquire gets no
 * quorum from them, bad values are usage errors).
 *
 * Processes: the test makes itself a child subreaper, so the commands run
 * by a `redlock` that it killed are reparented to it and can be reaped
 * and checked. Timing: checks are conditions with deadlines; the only
 * fixed bounds are the ones the tool promises (validity, --grace).
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "json.h" /* bench/json.h: a strict JSON checker */
#include "redis_spawn.h"
#include "redlock.h"

/* The flag and command tables, to check the man page and --help against
 * (flags.c needs the duration parser). */
#include "../../tools/common/duration.c"
#include "../../tools/redlock/flags.c"

#ifndef REDLOCK_CLI_PATH
#error "REDLOCK_CLI_PATH must name the redlock binary (see CMakeLists.txt)"
#endif
#ifndef REDLOCK_CLI_CHILD_PATH
#error "REDLOCK_CLI_CHILD_PATH must name cli_child (see CMakeLists.txt)"
#endif
#ifndef REDLOCK_SOURCE_DIR
#error "REDLOCK_SOURCE_DIR must name the source tree (see CMakeLists.txt)"
#endif

#define NODES 3
/* Sanitizers slow every process several times: lock TTLs that the tests
 * expect to be renewed in time scale with this. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TIME_SCALE 2
#else
#define TIME_SCALE 1
#endif
/* Generous upper bound for one quick CLI run, in ms. */
#define RUN_TIMEOUT_MS 20000

/* Servers and a scratch directory shared by a test. */
typedef struct fixture {
    rs_server srv[NODES];
    char dir[256];
    char nodes[512]; /* REDLOCK_NODES */
} fixture;

/* ------------------------------------------------------------------------
 * Helpers: time, files, processes
 * ------------------------------------------------------------------------ */

/* CLOCK_MONOTONIC in ns: the clock cli_child writes, in every process. */
static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sleep ms milliseconds. */
static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Path of name inside the fixture's directory. */
static void path_in(const fixture *f, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", f->dir, name);
}

/* Read the whole file (up to len - 1 bytes) into buf; "" if missing. */
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

/* Read name from the fixture's directory. */
static void read_named(const fixture *f, const char *name, char *buf,
                       size_t len)
{
    char path[512];

    path_in(f, name, path, sizeof(path));
    read_file(path, buf, len);
}

/* Start the CLI with args (NULL-terminated, without argv[0]); its stdout
 * and stderr go to <dir>/<tag>.out and <tag>.err. Returns the pid. */
static pid_t cli_spawn(const fixture *f, const char *tag,
                       const char *const *args)
{
    const char *argv[64];
    char out[512];
    char err[512];
    size_t n = 0;
    pid_t pid;

    argv[n++] = REDLOCK_CLI_PATH;
    for (size_t i = 0; args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(out, sizeof(out), "%s/%s.out", f->dir, tag);
    snprintf(err, sizeof(err), "%s/%s.err", f->dir, tag);
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
        /* Not the test's process group: a signal sent to the tool's own
         * group reaches nothing of the test. */
        setpgid(0, 0);
        execv(argv[0], (char *const *)argv);
        _exit(121);
    }
    return pid;
}

/* Wait for pid up to timeout_ms; returns its exit status (128+N if killed
 * by signal N), or -1 on timeout (then it is killed and reaped). */
static int cli_wait(pid_t pid, int timeout_ms)
{
    uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;

    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);

        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 && errno != EINTR)
            return -2;
        if (mono_ns() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        sleep_ms(5);
    }
}

/* Run the CLI to completion; returns its exit status. */
static int cli_run(const fixture *f, const char *tag, const char *const *args)
{
    return cli_wait(cli_spawn(f, tag, args), RUN_TIMEOUT_MS);
}

/* Macro form: cli(f, "tag", "acquire", "res", NULL). */
#define CLI(f, tag, ...)                                                       \
    cli_run((f), (tag), (const char *const[]){__VA_ARGS__, NULL})
#define CLI_SPAWN(f, tag, ...)                                                 \
    cli_spawn((f), (tag), (const char *const[]){__VA_ARGS__, NULL})

/* The value of key on server i ("(nil)" when missing). */
static void get_key(const fixture *f, size_t i, const char *key, char *out,
                    size_t len)
{
    const char *argv[] = {"GET", key};

    assert_int_equal(rs_command(&f->srv[i], out, len, 2, argv), 0);
}

/* The token of key on server i: the stored value up to its first space
 * (the CLI stores "<token> <owner>"); "(nil)" when missing. */
static void get_token(const fixture *f, size_t i, const char *key, char *out,
                      size_t len)
{
    get_key(f, i, key, out, len);
    out[strcspn(out, " ")] = '\0';
}

/* How many servers store value (a token, or "(nil)") under key. */
static int nodes_with(const fixture *f, const char *key, const char *value)
{
    int n = 0;

    for (size_t i = 0; i < NODES; i++) {
        char got[256];

        get_token(f, i, key, got, sizeof(got));
        n += strcmp(got, value) == 0;
    }
    return n;
}

/* Wait until exactly want servers store value under key, or timeout_ms
 * passes; returns whether they do. A release returns once a quorum
 * confirmed it, so the last node may apply it a moment later. */
static int await_nodes_with(const fixture *f, const char *key,
                            const char *value, int want, int timeout_ms)
{
    uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;

    while (nodes_with(f, key, value) != want) {
        if (mono_ns() >= deadline)
            return 0;
        sleep_ms(10);
    }
    return 1;
}

/* PTTL of key on server i, in ms (-2: no key). */
static long pttl_of(const fixture *f, size_t i, const char *key)
{
    const char *argv[] = {"PTTL", key};
    char out[64];

    assert_int_equal(rs_command(&f->srv[i], out, sizeof(out), 2, argv), 0);
    return strtol(out, NULL, 10);
}

/* Wait until key is gone from every server (5 s at most). This alone
 * does not show that anything deleted it: use assert_released() for
 * that. */
#define ASSERT_KEY_GONE(f, key)                                                \
    assert_true(await_nodes_with((f), (key), "(nil)", NODES, 5000))

/* Keys the servers have expired so far (INFO stats expired_keys summed).
 * A DEL does not count. */
static long long expired_keys(const fixture *f)
{
    long long total = 0;

    for (size_t i = 0; i < NODES; i++) {
        const char *argv[] = {"INFO", "stats"};
        char out[8192];
        const char *p;

        assert_int_equal(rs_command(&f->srv[i], out, sizeof(out), 2, argv), 0);
        p = strstr(out, "\nexpired_keys:");
        assert_non_null(p);
        total += strtoll(p + 14, NULL, 10);
    }
    return total;
}

/* The lock on key was released, not left to expire: the key is gone from
 * every server (within 5 s, for the last node's reply) and no key expired
 * since expired_before, read with expired_keys() before the release. The
 * wait alone would pass through a TTL shorter than it. */
static void assert_released(const fixture *f, const char *key,
                            long long expired_before)
{
    ASSERT_KEY_GONE(f, key);
    assert_int_equal(expired_keys(f), expired_before);
}

/* Wait until a line starting with prefix appears in the file, or
 * timeout_ms passes. Returns whether it did. */
static int await_line(const char *path, const char *prefix, int timeout_ms)
{
    uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
    char buf[8192];

    for (;;) {
        read_file(path, buf, sizeof(buf));
        for (char *line = buf; line != NULL && *line != '\0';) {
            if (strncmp(line, prefix, strlen(prefix)) == 0)
                return 1;
            line = strchr(line, '\n');
            if (line != NULL)
                line++;
        }
        if (mono_ns() >= deadline)
            return 0;
        sleep_ms(10);
    }
}

/* Wait until the file contains text, or timeout_ms passes. Returns
 * whether it did. */
static int await_text(const char *path, const char *text, int timeout_ms)
{
    uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
    char buf[8192];

    for (;;) {
        read_file(path, buf, sizeof(buf));
        if (strstr(buf, text) != NULL)
            return 1;
        if (mono_ns() >= deadline)
            return 0;
        sleep_ms(10);
    }
}

/* One line of a cli_child log. */
typedef struct child_line {
    char what[8]; /* start, end, term */
    uint64_t ns;
    long pid;
    char token[40]; /* start lines only */
    char fence[24];
} child_line;

/* Parse a cli_child log into lines (at most max); returns the count. */
static size_t parse_log(const char *path, child_line *lines, size_t max)
{
    char buf[16384];
    size_t n = 0;

    read_file(path, buf, sizeof(buf));
    for (char *p = buf; *p != '\0' && n < max;) {
        char *nl = strchr(p, '\n');
        unsigned long long ns = 0;

        if (nl != NULL)
            *nl = '\0';
        memset(&lines[n], 0, sizeof(lines[n]));
        if (sscanf(p, "%7s %llu %ld %39s %23s", lines[n].what, &ns,
                   &lines[n].pid, lines[n].token, lines[n].fence) >= 3) {
            lines[n].ns = ns;
            n++;
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return n;
}

/* 1 if the string is a token: REDLOCK_TOKEN_LEN lowercase hex digits. */
static int is_token(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return i == REDLOCK_TOKEN_LEN;
}

/* Strip a trailing newline. */
static void chomp(char *s)
{
    s[strcspn(s, "\n")] = '\0';
}

/* Check a CLI run's exit status; on a mismatch, show its stderr and the
 * child log (if any) before failing. */
static void expect_exit(const fixture *f, const char *tag, const char *log,
                        int got, int want)
{
    char buf[8192];
    char name[64];

    if (got == want)
        return;
    snprintf(name, sizeof(name), "%s.err", tag);
    read_named(f, name, buf, sizeof(buf));
    print_message("%s: exit %d, want %d; stderr:\n%s\n", tag, got, want, buf);
    if (log != NULL) {
        read_file(log, buf, sizeof(buf));
        print_message("child log:\n%s\n", buf);
    }
    assert_int_equal(got, want);
}

/* ------------------------------------------------------------------------
 * Fixture
 * ------------------------------------------------------------------------ */

/* Start three servers, a scratch directory, and REDLOCK_NODES. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    size_t used = 0;

    if (f == NULL)
        return -1;
    if (rs_start_many(f->srv, NODES) != 0) {
        free(f);
        return -1;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/redlock-cli-test-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        rs_stop_many(f->srv, NODES);
        free(f);
        return -1;
    }
    for (size_t i = 0; i < NODES; i++)
        used += (size_t)snprintf(f->nodes + used, sizeof(f->nodes) - used,
                                 "%s%s", i > 0 ? "," : "", f->srv[i].uri);
    setenv("REDLOCK_NODES", f->nodes, 1);
    unsetenv("REDLOCK_PASSWORD");
    unsetenv("REDLOCK_OWNER");
    unsetenv("REDLOCK_RESTART_GUARD");
    *state = f;
    return 0;
}

/* Stop the servers and remove the scratch directory. */
static int teardown(void **state)
{
    fixture *f = *state;
    DIR *d = opendir(f->dir);

    for (size_t i = 0; i < NODES; i++)
        if (f->srv[i].paused)
            rs_resume(&f->srv[i]);
    rs_stop_many(f->srv, NODES);
    if (d != NULL) {
        struct dirent *de;
        char path[600];

        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", f->dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(f->dir);
    /* Reap anything orphaned to us (we are a subreaper). */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    free(f);
    return 0;
}

/* ------------------------------------------------------------------------
 * acquire, release, extend, status
 * ------------------------------------------------------------------------ */

/* acquire prints a token and leaves the lock held after it exits;
 * release with that token deletes it everywhere. */
static void test_acquire_then_release(void **state)
{
    fixture *f = *state;
    char token[256];
    long long expired;

    assert_int_equal(CLI(f, "acq", "acquire", "job-a", "--ttl", "30s"), 0);
    read_named(f, "acq.out", token, sizeof(token));
    chomp(token);
    assert_true(is_token(token));
    /* The process has exited; the lock is still there on a quorum. */
    assert_true(nodes_with(f, "job-a", token) >= 2);

    assert_int_equal(CLI(f, "again", "acquire", "job-a", "--wait", "0"), 1);
    expired = expired_keys(f);
    assert_int_equal(CLI(f, "rel", "release", "job-a", token), 0);
    assert_released(f, "job-a", expired);
    assert_int_equal(CLI(f, "acq2", "acquire", "job-a", "--wait", "0"), 0);
}

/* release with a wrong token exits 1, and the lock stays held. */
static void test_release_wrong_token(void **state)
{
    fixture *f = *state;
    char token[256];
    char wrong[REDLOCK_TOKEN_LEN + 1];
    char err[1024];

    assert_int_equal(CLI(f, "acq", "acquire", "job-b"), 0);
    read_named(f, "acq.out", token, sizeof(token));
    chomp(token);
    assert_true(is_token(token));
    memcpy(wrong, token, sizeof(wrong));
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';

    assert_int_equal(CLI(f, "rel", "release", "job-b", wrong), 1);
    read_named(f, "rel.err", err, sizeof(err));
    assert_non_null(strstr(err, "not held with this token"));
    assert_true(nodes_with(f, "job-b", token) >= 2);
    /* Still held: another acquire fails, with -E's status if asked. */
    assert_int_equal(CLI(f, "a2", "acquire", "job-b", "--wait", "0"), 1);
    assert_int_equal(CLI(f, "a3", "acquire", "job-b", "-w", "0", "-E", "75"),
                     75);
    /* -q: the expected outcome is not printed. */
    assert_int_equal(CLI(f, "a4", "acquire", "job-b", "-w0", "-q"), 1);
    read_named(f, "a4.err", err, sizeof(err));
    assert_string_equal(err, "");
    /* extend with the wrong token: 1 too; with the right one: 0. */
    assert_int_equal(CLI(f, "ext", "extend", "job-b", wrong), 1);
    assert_int_equal(CLI(f, "ext2", "extend", "job-b", token, "-t", "90s"), 0);
    /* extend waits for every reachable node before exiting: all three
     * have the new TTL (test_one_shot_lands_everywhere checks more). */
    {
        int extended = 0;

        for (size_t i = 0; i < NODES; i++) {
            const char *argv[] = {"PTTL", "job-b"};
            char out[64];

            assert_int_equal(rs_command(&f->srv[i], out, sizeof(out), 2, argv),
                             0);
            extended += strtol(out, NULL, 10) > 60000;
        }
        assert_int_equal(extended, NODES);
    }
    assert_int_equal(CLI(f, "rel2", "release", "job-b", token), 0);
    /* Released: now it is "not owned". */
    assert_int_equal(CLI(f, "rel3", "release", "job-b", token), 1);
    assert_int_equal(CLI(f, "ext3", "extend", "job-b", token), 1);
}

/* A one-shot acquire, extend or release returns once a quorum answered,
 * but the command does not exit before every reachable node has
 * processed it: right after each exit, with no waiting, all three nodes
 * store the token (acquire, also with --json's nodes_granted 3), have the
 * new TTL (extend), or have no key (release). Repeated, since the third
 * node's SET used to be lost in a race with the exit. */
static void test_one_shot_lands_everywhere(void **state)
{
    fixture *f = *state;

    for (int round = 0; round < 10; round++) {
        char res[32];
        char out[4096];
        char token[REDLOCK_TOKEN_LEN + 1];
        double granted = 0;
        long long expired;

        snprintf(res, sizeof(res), "everywhere-%d", round);
        assert_int_equal(CLI(f, "acq", "acquire", res, "--json", "--ttl", "30"),
                         0);
        read_named(f, "acq.out", out, sizeof(out));
        assert_int_equal(bench_json_string(out, "token", token, sizeof(token)),
                         0);
        assert_int_equal(nodes_with(f, res, token), NODES);
        assert_int_equal(bench_json_number(out, "nodes_granted", &granted), 0);
        assert_true(granted == (double)NODES);

        assert_int_equal(CLI(f, "ext", "extend", res, token, "--ttl", "2m"), 0);
        for (size_t i = 0; i < NODES; i++)
            assert_true(pttl_of(f, i, res) > 60000);

        expired = expired_keys(f);
        assert_int_equal(CLI(f, "rel", "release", res, token), 0);
        assert_int_equal(nodes_with(f, res, "(nil)"), NODES);
        assert_int_equal(expired_keys(f), expired);
    }
}

/* --wait gives up after about that long when the lock stays held. */
static void test_acquire_wait_gives_up(void **state)
{
    fixture *f = *state;
    uint64_t t0;
    uint64_t took_ms;

    assert_int_equal(CLI(f, "acq", "acquire", "job-w", "--ttl", "60s"), 0);
    t0 = mono_ns();
    assert_int_equal(CLI(f, "w", "acquire", "job-w", "--wait", "1500ms"), 1);
    took_ms = (mono_ns() - t0) / 1000000u;
    assert_true(took_ms >= 1400);
    assert_true(took_ms < 10000);
}

/* --wait lets a waiter in once the holder releases. The release comes
 * only after the waiter's -v log shows a refused first attempt, so it is
 * the waiting path that lets it in, on a later attempt. */
static void test_acquire_waits_for_release(void **state)
{
    fixture *f = *state;
    char token[256];
    char err[8192];
    char path[512];
    const char *won;
    pid_t waiter;

    assert_int_equal(CLI(f, "acq", "acquire", "job-q", "--ttl", "60s"), 0);
    read_named(f, "acq.out", token, sizeof(token));
    chomp(token);
    waiter = CLI_SPAWN(f, "waiter", "acquire", "job-q", "--wait", "15s", "-v");
    path_in(f, "waiter.err", path, sizeof(path));
    if (!await_text(path, "attempt 1 on job-q: ", 10000)) {
        read_file(path, err, sizeof(err));
        fail_msg("no refused attempt from the waiter; stderr:\n%s", err);
    }
    assert_int_equal(CLI(f, "rel", "release", "job-q", token), 0);
    expect_exit(f, "waiter", NULL, cli_wait(waiter, RUN_TIMEOUT_MS), 0);
    read_named(f, "waiter.out", token, sizeof(token));
    chomp(token);
    assert_true(is_token(token));
    read_file(path, err, sizeof(err));
    won = strstr(err, "acquired job-q after ");
    assert_non_null(won);
    assert_true(strtoul(won + strlen("acquired job-q after "), NULL, 10) >= 2);
}

/* status: a table, or JSON; tokens redacted unless --show-token. */
static void test_status(void **state)
{
    fixture *f = *state;
    char token[256];
    char out[4096];
    char prefix[16];

    assert_int_equal(CLI(f, "st0", "status", "job-s", "--json"), 1);
    read_named(f, "st0.out", out, sizeof(out));
    assert_non_null(strstr(out, "\"state\":\"free\""));
    assert_non_null(strstr(out, "\"reachable\":3"));

    assert_int_equal(CLI(f, "acq", "acquire", "job-s", "--json"), 0);
    read_named(f, "acq.out", out, sizeof(out));
    assert_non_null(strstr(out, "\"resource\":\"job-s\""));
    assert_non_null(strstr(out, "\"validity_ms\":"));
    assert_non_null(strstr(out, "\"quorum\":2"));
    {
        const char *t = strstr(out, "\"token\":\"");
        assert_non_null(t);
        snprintf(token, REDLOCK_TOKEN_LEN + 1, "%s", t + 9);
        assert_true(is_token(token));
    }
    snprintf(prefix, sizeof(prefix), "%.8s", token);

    assert_int_equal(CLI(f, "st1", "status", "job-s"), 0);
    read_named(f, "st1.out", out, sizeof(out));
    assert_non_null(strstr(out, prefix));
    assert_null(strstr(out, token));
    assert_non_null(strstr(out, "state: held"));

    assert_int_equal(CLI(f, "st2", "status", "job-s", "--json"), 0);
    read_named(f, "st2.out", out, sizeof(out));
    assert_non_null(strstr(out, "\"state\":\"held\""));
    assert_non_null(strstr(out, "\"token_redacted\":true"));
    assert_non_null(strstr(out, prefix));
    assert_null(strstr(out, token));

    assert_int_equal(CLI(f, "st3", "status", "job-s", "--show-token"), 0);
    read_named(f, "st3.out", out, sizeof(out));
    assert_non_null(strstr(out, token));

    /* A paused node shows as unreachable; held on the other two, status
     * still exits 0. Pause a
     * node whose peers both store the lock: acquire returned once any two
     * had granted it, and the third may never have received it. */
    {
        size_t pause = NODES - 1;

        for (size_t i = 0; i < NODES; i++) {
            char got[128];

            get_token(f, i, "job-s", got, sizeof(got));
            if (strcmp(got, token) != 0)
                pause = i;
        }
        assert_int_equal(rs_pause(&f->srv[pause]), 0);
        assert_int_equal(
            CLI(f, "st4", "status", "job-s", "--json", "--timeout", "1s"), 0);
        assert_int_equal(rs_resume(&f->srv[pause]), 0);
    }
    read_named(f, "st4.out", out, sizeof(out));
    assert_non_null(strstr(out, "\"reachable\":false"));
    assert_non_null(strstr(out, "\"state\":\"held\""));
}

/* status exits 0 when held on a quorum, 1 when not held (free, or split
 * between holders so that none has or could have a quorum), and 2 when
 * it cannot tell: with a majority paused, the lock could be held on the
 * nodes that did not answer. */
static void test_status_exit_codes(void **state)
{
    fixture *f = *state;
    char out[4096];
    char token[256];

    assert_int_equal(CLI(f, "free", "status", "job-x"), 1);
    read_named(f, "free.out", out, sizeof(out));
    assert_non_null(strstr(out, "state: free"));

    assert_int_equal(CLI(f, "acq", "acquire", "job-x", "--ttl", "60"), 0);
    read_named(f, "acq.out", token, sizeof(token));
    chomp(token);
    assert_int_equal(CLI(f, "held", "status", "job-x"), 0);
    read_named(f, "held.out", out, sizeof(out));
    assert_non_null(strstr(out, "state: held"));

    /* A majority paused: the one node that answers cannot rule out a
     * holder on the other two, whether it stores the key or not. */
    assert_int_equal(rs_pause(&f->srv[0]), 0);
    assert_int_equal(rs_pause(&f->srv[1]), 0);
    {
        int rc = CLI(f, "unk", "status", "job-x", "--timeout", "300ms");
        int rc_free =
            CLI(f, "unk2", "status", "job-nothing", "--timeout", "300ms");

        assert_int_equal(rs_resume(&f->srv[0]), 0);
        assert_int_equal(rs_resume(&f->srv[1]), 0);
        expect_exit(f, "unk", NULL, rc, 2);
        expect_exit(f, "unk2", NULL, rc_free, 2);
    }
    read_named(f, "unk.out", out, sizeof(out));
    assert_non_null(strstr(out, "state: unknown"));
    read_named(f, "unk2.out", out, sizeof(out));
    assert_non_null(strstr(out, "state: unknown"));

    /* Split: two holders on one node each, the third node free. Nobody
     * holds a quorum, and with every node answering nobody could. */
    {
        const char *set_a[] = {"SET", "job-split", "aaaaaaaa", "PX", "60000"};
        const char *set_b[] = {"SET", "job-split", "bbbbbbbb", "PX", "60000"};
        char reply[64];

        assert_int_equal(rs_command(&f->srv[0], reply, sizeof(reply), 5, set_a),
                         0);
        assert_int_equal(rs_command(&f->srv[1], reply, sizeof(reply), 5, set_b),
                         0);
    }
    assert_int_equal(CLI(f, "split", "status", "job-split", "--json"), 1);
    read_named(f, "split.out", out, sizeof(out));
    assert_non_null(strstr(out, "\"state\":\"split\""));
}

/* Run the CLI with --json (among args); its stdout must be exactly one
 * line holding one valid JSON object, copied to out. Returns the exit
 * status. */
static int cli_json_run(const fixture *f, const char *tag,
                        const char *const *args, char *out, size_t len)
{
    char name[64];
    char why[128];
    int rc = cli_run(f, tag, args);
    const char *nl;

    snprintf(name, sizeof(name), "%s.out", tag);
    read_named(f, name, out, len);
    if (bench_json_check(out, why, sizeof(why)) != 0 || out[0] != '{')
        fail_msg("%s: stdout is not one JSON object (%s): '%s'", tag, why, out);
    nl = strchr(out, '\n');
    if (nl == NULL || nl[1] != '\0')
        fail_msg("%s: stdout is not one line: '%s'", tag, out);
    return rc;
}
#define CLI_JSON(f, tag, out, ...)                                             \
    cli_json_run((f), (tag), (const char *const[]){__VA_ARGS__, NULL}, (out),  \
                 sizeof(out))

/* The string at path in the JSON object s ("" if missing). */
static const char *json_str(const char *s, const char *path)
{
    static char buf[512];

    if (bench_json_string(s, path, buf, sizeof(buf)) != 0)
        buf[0] = '\0';
    return buf;
}

/* --json on every command: stdout is one JSON object whatever happens,
 * a result or {"error", "status", "exit", ...}: a lock held elsewhere
 * (also with -E 0), a wrong token, a usage error, unreachable nodes, a
 * command that cannot run. */
static void test_json_everywhere(void **state)
{
    fixture *f = *state;
    char out[4096];
    char token[REDLOCK_TOKEN_LEN + 1];
    char bad_token[] = "0123456789abcdef0123456789abcdef";
    double num = 0;

    assert_int_equal(CLI_JSON(f, "acq", out, "acquire", "job-j", "--json"), 0);
    snprintf(token, sizeof(token), "%s", json_str(out, "token"));
    assert_true(is_token(token));

    /* Held elsewhere: exit 1, status ETAKEN; -E 0 exits 0 but still says
     * why nothing was acquired. */
    assert_int_equal(
        CLI_JSON(f, "conf", out, "acquire", "job-j", "--json", "-w", "0"), 1);
    assert_string_equal(json_str(out, "status"), "ETAKEN");
    assert_non_null(strstr(json_str(out, "error"), "held by someone else"));
    assert_int_equal(bench_json_number(out, "exit", &num), 0);
    assert_true(num == 1.0);
    assert_int_equal(CLI_JSON(f, "conf0", out, "acquire", "job-j", "--json",
                              "-w0", "-E", "0", "-q"),
                     0);
    assert_string_equal(json_str(out, "status"), "ETAKEN");
    assert_null(strstr(out, "\"token\""));
    assert_int_equal(CLI_JSON(f, "exconf", out, "exec", "job-j", "--json",
                              "-w0", "--", "true"),
                     1);
    assert_string_equal(json_str(out, "status"), "ETAKEN");

    /* extend and release: results, and a wrong token. */
    assert_int_equal(CLI_JSON(f, "ext", out, "extend", "job-j", token, "--json",
                              "--ttl", "60"),
                     0);
    assert_int_equal(bench_json_number(out, "validity_ms", &num), 0);
    assert_true(num > 50000.0 && num <= 60000.0);
    assert_int_equal(
        CLI_JSON(f, "extbad", out, "extend", "job-j", bad_token, "--json"), 1);
    assert_string_equal(json_str(out, "status"), "ENOTHELD");
    assert_int_equal(
        CLI_JSON(f, "relbad", out, "release", "job-j", bad_token, "--json"), 1);
    assert_string_equal(json_str(out, "status"), "ENOTHELD");
    assert_int_equal(CLI_JSON(f, "st", out, "status", "job-j", "--json"), 0);
    assert_string_equal(json_str(out, "state"), "held");
    assert_int_equal(
        CLI_JSON(f, "rel", out, "release", "job-j", token, "--json"), 0);
    assert_int_equal(bench_json_is_null(out, "error"), -1);

    /* Usage errors, even before the command is known. */
    assert_int_equal(
        CLI_JSON(f, "use", out, "acquire", "job-j", "--json", "--ttl", "10x"),
        64);
    assert_non_null(strstr(json_str(out, "error"), "bad duration"));
    assert_int_equal(bench_json_is_null(out, "status"), 1);
    assert_int_equal(CLI_JSON(f, "use2", out, "--json", "frobnicate"), 64);

    /* Nothing listens on port 1: quorum unreachable, exit 2. */
    assert_int_equal(CLI_JSON(f, "down", out, "acquire", "job-j", "--json",
                              "-w0", "--node", "redis://127.0.0.1:1",
                              "--timeout", "500ms"),
                     2);
    assert_int_not_equal(json_str(out, "status")[0], '\0');
    assert_int_equal(CLI_JSON(f, "down2", out, "status", "job-j", "--json",
                              "--node", "redis://127.0.0.1:1", "--timeout",
                              "500ms"),
                     2);
    assert_string_equal(json_str(out, "state"), "unknown");

    /* A command that cannot run. */
    assert_int_equal(CLI_JSON(f, "nocmd", out, "elect", "grp-j", "--json", "--",
                              "/nonexistent/cmd"),
                     127);
    assert_non_null(strstr(json_str(out, "error"), "not found"));
}

/* The owner label: --owner, else REDLOCK_OWNER, else hostname:pid, is
 * stored with the token and shown by status (table and JSON, per node
 * and for the holder); extend keeps it, also where it restores a key a
 * node had lost. */
static void test_owner(void **state)
{
    fixture *f = *state;
    char token[256];
    char out[8192];
    char got[256];

    assert_int_equal(
        CLI(f, "acq", "acquire", "job-o", "--owner", "web-3", "--ttl", "30"),
        0);
    read_named(f, "acq.out", token, sizeof(token));
    chomp(token);
    assert_int_equal(CLI(f, "st", "status", "job-o"), 0);
    read_named(f, "st.out", out, sizeof(out));
    assert_non_null(strstr(out, "OWNER"));
    assert_non_null(strstr(out, "web-3"));
    assert_non_null(strstr(out, "owned by web-3"));
    assert_int_equal(CLI_JSON(f, "stj", out, "status", "job-o", "--json"), 0);
    assert_string_equal(json_str(out, "owner"), "web-3");
    assert_non_null(strstr(out, "\"holder\":\""));
    assert_true(strstr(out, "\"owner\":\"web-3\",\"ttl_ms\"") != NULL);

    /* extend keeps it: on the nodes that had the key, and on one that
     * lost it (restored with the whole value). */
    {
        const char *del[] = {"DEL", "job-o"};
        assert_int_equal(rs_command(&f->srv[0], got, sizeof(got), 2, del), 0);
    }
    assert_int_equal(CLI(f, "ext", "extend", "job-o", token, "--ttl", "2m"), 0);
    for (size_t i = 0; i < NODES; i++) {
        char want[300];

        snprintf(want, sizeof(want), "%.*s web-3", REDLOCK_TOKEN_LEN, token);
        get_key(f, i, "job-o", got, sizeof(got));
        if (strcmp(got, want) != 0)
            fail_msg("node %zu stores '%s' after extend, want '%s'", i, got,
                     want);
    }
    assert_int_equal(CLI_JSON(f, "stj2", out, "status", "job-o", "--json"), 0);
    assert_string_equal(json_str(out, "owner"), "web-3");

    /* REDLOCK_OWNER, and the default hostname:pid. */
    setenv("REDLOCK_OWNER", "from-env", 1);
    assert_int_equal(CLI_JSON(f, "env", out, "acquire", "job-o2", "--json"), 0);
    assert_string_equal(json_str(out, "owner"), "from-env");
    unsetenv("REDLOCK_OWNER");
    assert_int_equal(CLI_JSON(f, "def", out, "acquire", "job-o3", "--json"), 0);
    {
        const char *owner = json_str(out, "owner");
        const char *colon = strrchr(owner, ':');

        assert_non_null(colon);
        assert_true(colon > owner && strtol(colon + 1, NULL, 10) > 0);
    }
    /* Bad labels are usage errors. */
    assert_int_equal(CLI(f, "bad", "acquire", "job-o4", "--owner", "a b"), 64);
    setenv("REDLOCK_OWNER", "", 1);
    assert_int_equal(CLI(f, "empty", "acquire", "job-o4", "-w0"), 0);
    setenv("REDLOCK_OWNER", "x y", 1);
    assert_int_equal(CLI(f, "badenv", "acquire", "job-o5"), 64);
    unsetenv("REDLOCK_OWNER");
}

/* Duplicate nodes: the same URI twice is a usage error (64) naming both
 * entries; two names of one server (localhost and 127.0.0.1) are found
 * once connected: the lock is won on the independent nodes, and the
 * duplicate is named on stderr without -v (EDUPNODE). */
static void test_duplicate_nodes(void **state)
{
    fixture *f = *state;
    char local[128];
    char err[4096];

    unsetenv("REDLOCK_NODES");
    assert_int_equal(CLI(f, "same", "acquire", "job-d", "--node", f->srv[0].uri,
                         "--node", f->srv[0].uri),
                     64);
    read_named(f, "same.err", err, sizeof(err));
    assert_non_null(strstr(err, "same server"));

    snprintf(local, sizeof(local), "redis://localhost:%d", f->srv[0].port);
    expect_exit(f, "two", NULL,
                CLI(f, "two", "acquire", "job-d", "--node", local, "--node",
                    f->srv[0].uri, "--node", f->srv[1].uri, "-w0"),
                0);
    read_named(f, "two.err", err, sizeof(err));
    if (strstr(err, "(EDUPNODE)") == NULL ||
        strstr(err, "redlock: node ") == NULL)
        fail_msg("no duplicate-node line; stderr:\n%s", err);
    setenv("REDLOCK_NODES", f->nodes, 1);
}

/* Nodes from repeated --node flags instead of REDLOCK_NODES. */
static void test_node_flags(void **state)
{
    fixture *f = *state;

    unsetenv("REDLOCK_NODES");
    assert_int_equal(CLI(f, "none", "acquire", "job-n"), 64);
    assert_int_equal(CLI(f, "acq", "acquire", "job-n", "--node", f->srv[0].uri,
                         "--node", f->srv[1].uri, "--node=", "x"),
                     64); /* an empty --node= is a usage error */
    assert_int_equal(CLI(f, "acq2", "acquire", "job-n", "--node", f->srv[0].uri,
                         "--node", f->srv[1].uri, "--node", f->srv[2].uri),
                     0);
    assert_int_equal(
        CLI(f, "bad", "acquire", "job-n", "--node", "redis://host:99999"), 64);
    setenv("REDLOCK_NODES", f->nodes, 1);
    assert_int_equal(CLI(f, "held", "acquire", "job-n", "--wait", "0"), 1);
}

/* ------------------------------------------------------------------------
 * Usage errors
 * ------------------------------------------------------------------------ */

/* Bad durations, an unknown command, a missing "--" and the like: exit 64
 * with exactly one line on stderr that names the problem. */
static void test_usage_errors(void **state)
{
    static const struct {
        const char *args[8];
        const char *phrase;
    } cases[] = {
        {{"acquire", "r", "--ttl", "10x"}, "--ttl: bad duration '10x'"},
        {{"acquire", "r", "--ttl", "-5s"}, "negative"},
        {{"acquire", "r", "--ttl", "1.0005s"}, "finer than a millisecond"},
        {{"acquire", "r", "--ttl", "1m30"}, "needs a unit"},
        {{"acquire", "r", "--ttl", "30s1m"}, "largest to smallest"},
        {{"acquire", "r", "--wait", "604800001"},
         "--wait: 604800001 is too long"},
        {{"acquire", "r", "--wait", ""}, "empty duration"},
        {{"acquire", "r", "--ttl", "99999999999999999999ms"}, "too large"},
        {{"acquire", "r", "--ttl", "0"}, "too short"},
        {{"acquire", "r", "--ttl", "8d"}, "unknown unit"},
        {{"acquire", "r", "--ttl", "169h"}, "too long"},
        /* Within range but not above the drift allowance: the library's
         * REDLOCK_ETTLSHORT, reported as a bad --ttl. */
        {{"acquire", "r", "--ttl", "2ms"}, "--ttl 2ms: ttl is too short"},
        {{"extend", "r", "0123456789abcdef0123456789abcdef", "-t", "1ms"},
         "--ttl 1ms: ttl is too short"},
        /* exec and elect renew the lock: at least 10 ms, checked with
         * the other flags (nothing is acquired first). */
        {{"exec", "r", "--ttl", "9ms", "--", "true"},
         "--ttl: 9ms is too short for exec (at least 10ms"},
        {{"elect", "n", "--ttl", "1ms", "--", "true"},
         "--ttl: 1ms is too short for elect"},
        {{"exec", "r", "--grace", "soon", "--", "true"}, "bad duration"},
        {{"frobnicate", "r"}, "unknown command 'frobnicate'"},
        {{"exec", "r", "true"}, "missing '--'"},
        {{"exec", "r"}, "missing '-- CMD'"},
        {{"exec", "r", "--"}, "missing the command to run after '--'"},
        {{"elect", "n", "/bin/true", "x"}, "missing '--'"},
        {{"elect", "n", "--listen", "--", "true"}, "--listen runs no command"},
        {{"exec", "r", "--listen", "--", "true"},
         "'--listen' is not an option"},
        {{"release", "r"}, "missing TOKEN"},
        {{"release", "r", "not-a-token"}, "bad TOKEN"},
        {{"extend", "r", "abc"}, "bad TOKEN"},
        {{"status"}, "missing RESOURCE"},
        {{"status", "a", "b"}, "unexpected argument 'b'"},
        {{"status", "r", "--ttl", "1s"}, "'--ttl' is not an option"},
        {{"acquire", "r", "-E", "256"}, "bad exit status '256'"},
        {{"acquire", "r", "--bogus=1"}, "unknown option '--bogus'"},
        {{"acquire", "r", "-Z"}, "unknown option '-Z'"},
        {{"acquire", "r", "--ttl"}, "needs an argument"},
        {{"acquire", "r", "--json=yes"}, "takes no argument"},
        {{"acquire", "r", "-q", "-v"}, "cannot be combined"},
        {{"acquire", "r", "--owner", "two words"}, "--owner: an owner is"},
        {{"status", "r", "--owner", "x"}, "'--owner' is not an option"},
        {{"acquire", ""}, "must not be empty"},
        {{NULL}, "missing command"},
    };
    fixture *f = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[2048];
        const char *nl;
        int rc = cli_run(f, "usage", cases[i].args);

        read_named(f, "usage.err", err, sizeof(err));
        if (rc != 64)
            fail_msg("case %zu (%s): exit %d, stderr: %s", i, cases[i].phrase,
                     rc, err);
        if (strstr(err, cases[i].phrase) == NULL)
            fail_msg("case %zu: stderr lacks \"%s\": %s", i, cases[i].phrase,
                     err);
        nl = strchr(err, '\n');
        if (strncmp(err, "redlock: ", 9) != 0 || nl == NULL || nl[1] != '\0')
            fail_msg("case %zu: not one 'redlock: ' line: %s", i, err);
    }
}

/* Every flag in the table appears in the man page and in --help (the
 * general help, and the help of each command that accepts it, and not in
 * the help of the others); every command and environment variable is in
 * the man page. */
static void test_flags_documented(void **state)
{
    fixture *f = *state;
    static char man[65536];
    static char helps[CLI_CMD_COUNT][16384];
    char general[16384];
    char path[512];

    snprintf(path, sizeof(path), "%s/docs/redlock.1", REDLOCK_SOURCE_DIR);
    read_file(path, man, sizeof(man));
    assert_true(strlen(man) > 1000);

    assert_int_equal(CLI(f, "help", "--help"), 0);
    read_named(f, "help.out", general, sizeof(general));
    for (size_t c = 0; c < cli_command_count; c++) {
        char tag[32];
        char out[40];

        snprintf(tag, sizeof(tag), "help-%s", cli_commands[c].name);
        snprintf(out, sizeof(out), "%s.out", tag);
        assert_int_equal(cli_run(f, tag,
                                 (const char *const[]){cli_commands[c].name,
                                                       "--help", NULL}),
                         0);
        read_named(f, out, helps[c], sizeof(helps[c]));
    }

    for (size_t i = 0; i < cli_flag_count; i++) {
        const cli_flag *fl = &cli_flags[i];
        char want[96];
        char man_form[128];
        size_t k = 0;

        /* groff writes "-" as "\-": "--ttl" is "\-\-ttl" in the source. */
        snprintf(want, sizeof(want), "--%s", fl->name);
        for (const char *p = want; *p != '\0' && k + 3 < sizeof(man_form);
             p++) {
            if (*p == '-')
                man_form[k++] = '\\';
            man_form[k++] = *p;
        }
        man_form[k] = '\0';
        if (strstr(man, man_form) == NULL)
            fail_msg("docs/redlock.1 lacks %s (as %s)", want, man_form);
        if (fl->short_name != 0) {
            char s[8];
            snprintf(s, sizeof(s), "\\-%c", fl->short_name);
            if (strstr(man, s) == NULL)
                fail_msg("docs/redlock.1 lacks -%c", fl->short_name);
        }
        if (strstr(general, want) == NULL)
            fail_msg("'redlock --help' lacks %s", want);

        for (size_t c = 0; c < cli_command_count; c++) {
            int accepted = (fl->commands & CLI_BIT(cli_commands[c].cmd)) != 0;
            int present = 0;

            /* "--ttl D" or "--json" followed by a space or a newline, so
             * that "--ttl" does not match inside another word. */
            for (char *at = strstr(helps[c], want); at != NULL && !present;
                 at = strstr(at + 1, want)) {
                char next = at[strlen(want)];
                present = next == ' ' || next == '\n';
            }
            if (present != accepted)
                fail_msg("'redlock %s --help' %s %s", cli_commands[c].name,
                         present ? "shows" : "lacks", want);
        }
    }
    for (size_t c = 0; c < cli_command_count; c++) {
        char want[64];
        snprintf(want, sizeof(want), ".BI \"%s ", cli_commands[c].name);
        if (strstr(man, want) == NULL)
            fail_msg("docs/redlock.1 does not document '%s'",
                     cli_commands[c].name);
    }
    {
        static const char *const words[] = {
            "REDLOCK_NODES", "REDLOCK_PASSWORD", "REDLOCK_TOKEN",
            "REDLOCK_FENCE", "REDLOCK_TLS_CA", "REDLOCK_TLS_CERT",
            "REDLOCK_TLS_KEY", "rediss://", ".SH EXIT STATUS",  ".B 64",
            ".B 126",        ".B 127",           ".B 3\n"};
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
            if (strstr(man, words[i]) == NULL)
                fail_msg("docs/redlock.1 lacks %s", words[i]);
    }
    /* --version prints the library's version. */
    assert_int_equal(CLI(f, "ver", "--version"), 0);
    read_named(f, "ver.out", general, sizeof(general));
    assert_non_null(strstr(general, redlock_version()));
}

/* flock's cron idiom, "-n -E 0": when someone else holds the lock, skip
 * quietly with status 0. acquire prints no token and takes nothing; exec
 * does not run CMD (which would create its log file); the holder's keys
 * keep their value and are not extended. */
static void test_conflict_exit_zero(void **state)
{
    fixture *f = *state;
    char token[256];
    char out[1024];
    char marker[512];
    long pttl[NODES];
    int holders;
    struct stat st;

    assert_int_equal(CLI(f, "hold", "acquire", "job-e0", "--ttl", "60s"), 0);
    read_named(f, "hold.out", token, sizeof(token));
    chomp(token);
    assert_true(is_token(token));
    holders = nodes_with(f, "job-e0", token);
    assert_true(holders >= 2);
    for (size_t i = 0; i < NODES; i++)
        pttl[i] = pttl_of(f, i, "job-e0");

    expect_exit(f, "acq0", NULL,
                CLI(f, "acq0", "acquire", "job-e0", "--wait", "0", "-E", "0"),
                0);
    read_named(f, "acq0.out", out, sizeof(out));
    assert_string_equal(out, ""); /* no token: nothing was acquired */
    /* The long form, after a short wait, and quiet: nothing at all. */
    expect_exit(f, "acq0b", NULL,
                CLI(f, "acq0b", "acquire", "job-e0", "-w", "300ms",
                    "--conflict-exit-code=0", "-q"),
                0);
    read_named(f, "acq0b.out", out, sizeof(out));
    assert_string_equal(out, "");
    read_named(f, "acq0b.err", out, sizeof(out));
    assert_string_equal(out, "");

    path_in(f, "e0.log", marker, sizeof(marker));
    expect_exit(f, "exe0", marker,
                CLI(f, "exe0", "exec", "job-e0", "--wait", "0", "-E", "0", "--",
                    REDLOCK_CLI_CHILD_PATH, marker, "0"),
                0);
    assert_int_equal(stat(marker, &st), -1); /* CMD never ran */
    assert_int_equal(errno, ENOENT);

    /* The holder's keys: same value on the same nodes, not re-set or
     * extended (a PTTL can only have gone down). */
    assert_int_equal(nodes_with(f, "job-e0", token), holders);
    for (size_t i = 0; i < NODES; i++)
        assert_true(pttl_of(f, i, "job-e0") <= pttl[i]);

    /* -E 0 only changes the conflict's status: a free lock is still
     * acquired (status 0 and a token), and exec runs CMD. */
    assert_int_equal(CLI(f, "rel", "release", "job-e0", token), 0);
    ASSERT_KEY_GONE(f, "job-e0");
    expect_exit(f, "exe1", marker,
                CLI(f, "exe1", "exec", "job-e0", "--wait", "0", "-E", "0", "--",
                    REDLOCK_CLI_CHILD_PATH, marker, "0"),
                0);
    assert_int_equal(stat(marker, &st), 0);
    ASSERT_KEY_GONE(f, "job-e0");
    expect_exit(f, "acq1", NULL,
                CLI(f, "acq1", "acquire", "job-e0", "--wait", "0", "-E", "0"),
                0);
    read_named(f, "acq1.out", out, sizeof(out));
    chomp(out);
    assert_true(is_token(out));
    assert_int_equal(CLI(f, "rel1", "release", "job-e0", out), 0);

    /* --help and the man page say what -E 0 does. */
    for (size_t c = 0; c < 2; c++) {
        const char *cmd = c == 0 ? "acquire" : "exec";
        char tag[32];
        char name[40];
        char help[8192];

        snprintf(tag, sizeof(tag), "help-e0-%s", cmd);
        snprintf(name, sizeof(name), "%s.out", tag);
        assert_int_equal(
            cli_run(f, tag, (const char *const[]){cmd, "--help", NULL}), 0);
        read_named(f, name, help, sizeof(help));
        if (strstr(help, "-E 0") == NULL)
            fail_msg("'redlock %s --help' does not describe -E 0:\n%s", cmd,
                     help);
    }
    {
        static char man[65536];
        char path[512];

        snprintf(path, sizeof(path), "%s/docs/redlock.1", REDLOCK_SOURCE_DIR);
        read_file(path, man, sizeof(man));
        assert_non_null(strstr(man, "\\-E 0"));
    }
}

/* ------------------------------------------------------------------------
 * exec
 * ------------------------------------------------------------------------ */

/* Two execs on one resource run their children one after the other:
 * the start/end intervals the children wrote never overlap, and each run
 * got its own token and a larger fencing number. */
static void test_exec_no_overlap(void **state)
{
    fixture *f = *state;
    char log[512];
    child_line lines[16];
    pid_t p[3];
    size_t n;
    long long expired = expired_keys(f);

    path_in(f, "overlap.log", log, sizeof(log));
    for (int i = 0; i < 3; i++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "ex%d", i);
        p[i] = CLI_SPAWN(f, tag, "exec", "shared", "--ttl", "2s", "--wait",
                         "30s", "--", REDLOCK_CLI_CHILD_PATH, log, "700");
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(cli_wait(p[i], 60000), 0);

    n = parse_log(log, lines, 16);
    assert_int_equal(n, 6);
    /* In file order: start, end, start, end, ... from one pid each. */
    for (size_t i = 0; i < n; i += 2) {
        assert_string_equal(lines[i].what, "start");
        assert_string_equal(lines[i + 1].what, "end");
        assert_int_equal(lines[i].pid, lines[i + 1].pid);
        assert_true(lines[i + 1].ns - lines[i].ns >= 700000000ull);
        assert_true(is_token(lines[i].token));
        if (i > 0) {
            assert_true(lines[i].ns >= lines[i - 1].ns); /* no overlap */
            assert_string_not_equal(lines[i].token, lines[i - 2].token);
            assert_true(strtoull(lines[i].fence, NULL, 10) >
                        strtoull(lines[i - 2].fence, NULL, 10));
        }
    }
    /* Every run released its lock: none expired (a run that did not
     * release would have handed over through its 2 s TTL). */
    assert_released(f, "shared", expired);
}

/* A child that runs 5x the TTL keeps its lock all along: the nodes store
 * its token throughout, others are refused meanwhile, and the child's exit
 * status comes back. */
static void test_exec_outlives_ttl(void **state)
{
    fixture *f = *state;
    char log[512];
    char ttl[16];
    char run_ms[16];
    child_line lines[4];
    uint64_t until;
    int checks = 0;
    int probes = 0;
    long long expired;
    pid_t p;

    snprintf(ttl, sizeof(ttl), "%dms", 1000 * TIME_SCALE);
    snprintf(run_ms, sizeof(run_ms), "%d", 5000 * TIME_SCALE);
    path_in(f, "long.log", log, sizeof(log));
    p = CLI_SPAWN(f, "long", "exec", "long-job", "--ttl", ttl, "-v", "--",
                  REDLOCK_CLI_CHILD_PATH, log, run_ms, "5");
    assert_true(await_line(log, "start", 10000));
    assert_int_equal(parse_log(log, lines, 4), 1);
    assert_true(is_token(lines[0].token));
    /* Check while the child surely still runs: until 1.5 TTL before its
     * end, so that even a slow probe finishes before it. */
    until = lines[0].ns + 3500000000ull * TIME_SCALE;
    while (mono_ns() < until) {
        if (nodes_with(f, "long-job", lines[0].token) < 2)
            fail_msg("the child's lock is gone %.3f s into its run",
                     (double)(mono_ns() - lines[0].ns) / 1e9);
        checks++;
        if (mono_ns() >
            lines[0].ns + (uint64_t)probes * 1500000000ull * TIME_SCALE) {
            int rc = CLI(f, "probe", "acquire", "long-job", "--wait", "0");
            if (rc != 1)
                fail_msg("probe %d acquired the lock under exec: exit %d",
                         probes, rc);
            probes++;
        }
        sleep_ms(100);
    }
    assert_true(probes >= 2);
    assert_true(checks >= 10);
    expired = expired_keys(f);
    expect_exit(f, "long", log, cli_wait(p, 30000 * TIME_SCALE), 5);
    assert_int_equal(parse_log(log, lines, 4), 2);
    assert_string_equal(lines[1].what, "end");
    assert_true(lines[1].ns - lines[0].ns >= 5000000000ull * TIME_SCALE);
    {
        char err[16384];
        read_named(f, "long.err", err, sizeof(err));
        assert_non_null(strstr(err, "renewed long-job"));
    }
    assert_released(f, "long-job", expired);
}

/* A majority of nodes SIGSTOPped: exec stops its child before the lock's
 * validity ends, and exits 3.
 *
 * The bound: any extension that succeeded reached a quorum, so one of the
 * paused nodes, before the pause; the unpaused node received it no
 * earlier, so the key's expiry there (read after the pause) is at or
 * after the end of every validity granted, which is TTL minus elapsed
 * time and drift from the start of that extension. */
static void test_exec_majority_paused(void **state)
{
    fixture *f = *state;
    char log[512];
    char err[8192];
    child_line lines[4];
    uint64_t paused_at;
    uint64_t validity_bound = 0;
    pid_t p;
    size_t n;

    path_in(f, "paused.log", log, sizeof(log));
    p = CLI_SPAWN(f, "paused", "exec", "paused-job", "--ttl", "3s", "--",
                  REDLOCK_CLI_CHILD_PATH, log, "60000");
    assert_true(await_line(log, "start", 10000));
    sleep_ms(1200);
    paused_at = mono_ns();
    assert_int_equal(rs_pause(&f->srv[0]), 0);
    assert_int_equal(rs_pause(&f->srv[1]), 0);
    {
        const char *argv[] = {"PTTL", "paused-job"};
        char out[64];
        uint64_t asked = mono_ns();

        assert_int_equal(rs_command(&f->srv[2], out, sizeof(out), 2, argv), 0);
        long pttl = strtol(out, NULL, 10);

        assert_true(pttl > 0);
        validity_bound = asked + (uint64_t)pttl * 1000000u;
    }

    assert_int_equal(cli_wait(p, 30000), 3);
    n = parse_log(log, lines, 4);
    assert_int_equal(n, 2);
    assert_string_equal(lines[1].what, "term");
    assert_true(lines[1].ns > paused_at);
    if (lines[1].ns >= validity_bound)
        fail_msg("SIGTERM %.3f s after the pause, %.3f s after the lock's "
                 "validity had ended",
                 (double)(lines[1].ns - paused_at) / 1e9,
                 (double)(lines[1].ns - validity_bound) / 1e9);
    print_message("SIGTERM %.3f s before the validity ended\n",
                  (double)(validity_bound - lines[1].ns) / 1e9);
    read_named(f, "paused.err", err, sizeof(err));
    assert_non_null(strstr(err, "lost the lock on paused-job"));
    assert_int_equal(rs_resume(&f->srv[0]), 0);
    assert_int_equal(rs_resume(&f->srv[1]), 0);
}

/* A child that ignores SIGTERM gets SIGKILL after --grace when the lease
 * is lost. */
static void test_exec_grace_then_kill(void **state)
{
    fixture *f = *state;
    char log[512];
    child_line lines[4];
    uint64_t t0;
    pid_t p;

    path_in(f, "stubborn.log", log, sizeof(log));
    p = CLI_SPAWN(f, "stubborn", "exec", "stubborn-job", "--ttl", "3s",
                  "--grace", "700ms", "--", REDLOCK_CLI_CHILD_PATH, log,
                  "60000", "0", "ignore-term");
    assert_true(await_line(log, "start", 10000));
    assert_int_equal(rs_pause(&f->srv[0]), 0);
    assert_int_equal(rs_pause(&f->srv[2]), 0);
    assert_true(await_line(log, "term", 10000));
    t0 = mono_ns();
    assert_int_equal(cli_wait(p, 30000), 3);
    /* It was killed: no "end" line, and it took about --grace. */
    assert_int_equal(parse_log(log, lines, 4), 2);
    assert_true(mono_ns() - t0 >= 500000000ull);
    assert_int_equal(rs_resume(&f->srv[0]), 0);
    assert_int_equal(rs_resume(&f->srv[2]), 0);
}

/* SIGTERM to redlock is forwarded to the child; redlock then releases
 * and exits with the child's status (128 + SIGTERM). */
static void test_exec_forwards_signals(void **state)
{
    fixture *f = *state;
    char log[512];
    child_line lines[4];
    long long expired;
    pid_t p;

    path_in(f, "fwd.log", log, sizeof(log));
    p = CLI_SPAWN(f, "fwd", "exec", "fwd-job", "-v", "--",
                  REDLOCK_CLI_CHILD_PATH, log, "60000");
    assert_true(await_line(log, "start", 10000));
    expired = expired_keys(f);
    assert_int_equal(kill(p, SIGTERM), 0);
    expect_exit(f, "fwd", log, cli_wait(p, 20000), 128 + SIGTERM);
    assert_int_equal(parse_log(log, lines, 4), 2);
    assert_string_equal(lines[1].what, "term");
    assert_released(f, "fwd-job", expired);
}

/* A command that cannot run costs no lock: 127 / 126 before acquiring. */
static void test_exec_bad_command(void **state)
{
    fixture *f = *state;

    assert_int_equal(
        CLI(f, "nf", "exec", "bad-job", "--", "no-such-command-redlock-test"),
        127);
    assert_int_equal(CLI(f, "na", "exec", "bad-job", "--", "/"), 126);
    ASSERT_KEY_GONE(f, "bad-job");
    /* Not through a shell: shell syntax is just a (missing) file name. */
    assert_int_equal(CLI(f, "sh", "exec", "bad-job", "--", "true;false"), 127);
}

/* ------------------------------------------------------------------------
 * Passwords
 * ------------------------------------------------------------------------ */

/* Nodes with requirepass: the password comes from REDLOCK_PASSWORD or
 * --password-file, never argv, and never shows up in -v logs. */
static void test_password(void **state)
{
    fixture *f = *state;
    rs_server srv[NODES];
    rs_options o;
    char nodes[512];
    char pwfile[512];
    char err[16384];
    size_t used = 0;
    const char *password = "s3cr:t@p/ss";
    FILE *fp;

    memset(&o, 0, sizeof(o));
    o.password = password;
    for (size_t i = 0; i < NODES; i++) {
        assert_int_equal(rs_start_ex(&srv[i], &o), 0);
        used += (size_t)snprintf(nodes + used, sizeof(nodes) - used,
                                 "%sredis://127.0.0.1:%d", i > 0 ? "," : "",
                                 srv[i].port);
    }
    setenv("REDLOCK_NODES", nodes, 1);
    assert_int_equal(CLI(f, "nopw", "acquire", "pw-job", "--wait", "0",
                         "--timeout", "500ms"),
                     2);
    setenv("REDLOCK_PASSWORD", password, 1);
    assert_int_equal(CLI(f, "envpw", "acquire", "pw-job", "-v"), 0);
    read_named(f, "envpw.err", err, sizeof(err));
    assert_null(strstr(err, password));
    unsetenv("REDLOCK_PASSWORD");

    path_in(f, "pw.txt", pwfile, sizeof(pwfile));
    fp = fopen(pwfile, "w");
    assert_non_null(fp);
    fprintf(fp, "%s\nsecond line ignored\n", password);
    fclose(fp);
    assert_int_equal(CLI(f, "filepw", "status", "pw-job", "--json",
                         "--password-file", pwfile),
                     0);
    read_named(f, "filepw.out", err, sizeof(err));
    assert_non_null(strstr(err, "\"state\":\"held\""));
    assert_int_equal(CLI(f, "nofile", "status", "pw-job", "--password-file",
                         "/nonexistent/pw"),
                     64);

    rs_stop_many(srv, NODES);
    setenv("REDLOCK_NODES", f->nodes, 1);
}

/* Start NODES servers with requirepass password into srv, and point
 * REDLOCK_NODES at them without the password. */
static void start_password_nodes(rs_server *srv, const char *password)
{
    rs_options o;
    char nodes[512];
    size_t used = 0;

    memset(&o, 0, sizeof(o));
    o.password = password;
    for (size_t i = 0; i < NODES; i++) {
        assert_int_equal(rs_start_ex(&srv[i], &o), 0);
        used += (size_t)snprintf(nodes + used, sizeof(nodes) - used,
                                 "%sredis://127.0.0.1:%d", i > 0 ? "," : "",
                                 srv[i].port);
    }
    setenv("REDLOCK_NODES", nodes, 1);
}

/* Lines of the file that contain text. */
static int count_lines_with(const char *path, const char *text)
{
    char buf[16384];
    int n = 0;

    read_file(path, buf, sizeof(buf));
    for (char *line = buf; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');

        if (nl != NULL)
            *nl = '\0';
        n += strstr(line, text) != NULL;
        line = nl != NULL ? nl + 1 : NULL;
    }
    return n;
}

/* A wrong password is loud and fast: acquire and exec exit 2 at once,
 * also with a long --wait and with no --wait at all (which used to retry
 * forever, silently), printing without -v one line per refusing node with
 * the reason, and the verdict with what to check. */
static void test_wrong_password_fails_fast(void **state)
{
    fixture *f = *state;
    rs_server srv[NODES];
    char path[512];
    char err[8192];
    uint64_t t0;

    start_password_nodes(srv, "right");
    setenv("REDLOCK_PASSWORD", "wrong", 1);
    t0 = mono_ns();
    expect_exit(f, "nowait", NULL, CLI(f, "nowait", "acquire", "pw-fast"), 2);
    expect_exit(f, "wait", NULL,
                CLI(f, "wait", "acquire", "pw-fast", "--wait", "1h"), 2);
    expect_exit(f, "exec", NULL,
                CLI(f, "exec", "exec", "pw-fast", "--", "true"), 2);
    /* Three runs, each far below the 1 h --wait (RUN_TIMEOUT_MS would
     * have killed a run that retried). */
    assert_true(mono_ns() - t0 < 15000000000ull);
    read_named(f, "wait.err", err, sizeof(err));
    assert_non_null(strstr(err, "(EAUTH)"));
    assert_non_null(strstr(err, "not retrying: check the password"));
    path_in(f, "nowait.err", path, sizeof(path));
    /* One line per refusing node (at least a quorum of them), each with
     * its address. */
    assert_true(count_lines_with(path, "redlock: node 127.0.0.1:") >= 2);
    assert_true(count_lines_with(path, "refused authentication") >= 3);
    read_named(f, "nowait.err", err, sizeof(err));
    assert_null(strstr(err, "right"));
    assert_null(strstr(err, "wrong"));
    unsetenv("REDLOCK_PASSWORD");
    rs_stop_many(srv, NODES);
    setenv("REDLOCK_NODES", f->nodes, 1);
}

/* A node that fails on every attempt of a long wait is reported once per
 * 10 s, not once per attempt: the lock is held elsewhere and one node is
 * down for a 3 s --wait of a dozen attempts or more. */
static void test_node_lines_rate_limited(void **state)
{
    fixture *f = *state;
    char path[512];
    char node[64];

    assert_int_equal(CLI(f, "hold", "acquire", "job-rl", "--ttl", "60"), 0);
    snprintf(node, sizeof(node), "redlock: node 127.0.0.1:%d:", f->srv[2].port);
    rs_kill(&f->srv[2], 0);
    /* Held on two nodes, one down: the last attempt may end as "held"
     * (1) or, when the down node and one that had not answered yet rule
     * out a quorum first, as "quorum unreachable" (2). */
    {
        int rc = CLI(f, "wait", "acquire", "job-rl", "--wait", "3s", "-v");

        if (rc != 1)
            expect_exit(f, "wait", NULL, rc, 2);
    }
    path_in(f, "wait.err", path, sizeof(path));
    /* -v numbers the attempts ("attempts 2-N on job-rl: the last: ...");
     * the node line comes once. */
    {
        char err[16384];
        const char *p;

        read_file(path, err, sizeof(err));
        p = strstr(err, "attempts 2-");
        if (p == NULL)
            fail_msg("no run of attempts logged:\n%s", err);
        assert_true(strtoul(p + strlen("attempts 2-"), NULL, 10) >= 5);
    }
    assert_int_equal(count_lines_with(path, node), 1);
}

/* ------------------------------------------------------------------------
 * elect
 * ------------------------------------------------------------------------ */

/* Index of the one candidate whose log has a start line after `after`
 * lines, waiting up to timeout_ms; -1 if none, -2 if several. */
static int await_leader(char logs[][512], int n, const size_t *seen,
                        int timeout_ms)
{
    uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;

    for (;;) {
        int leader = -1;

        for (int i = 0; i < n; i++) {
            child_line lines[16];
            size_t k = parse_log(logs[i], lines, 16);

            for (size_t j = seen[i]; j < k; j++) {
                if (strcmp(lines[j].what, "start") != 0)
                    continue;
                if (leader >= 0 && leader != i)
                    return -2;
                leader = i;
            }
        }
        if (leader >= 0 || mono_ns() >= deadline)
            return leader;
        sleep_ms(20);
    }
}

/* PTTL of key on every node, read now: the earliest time (mono_ns) at
 * which a quorum of nodes can be free of it. Nobody can win SET NX on a
 * quorum before; a renewal after the read only moves it later. A missing
 * key counts as free now. */
static uint64_t quorum_free_at(const fixture *f, const char *key)
{
    uint64_t at[NODES];

    for (size_t i = 0; i < NODES; i++) {
        const char *argv[] = {"PTTL", key};
        char out[64];
        uint64_t asked = mono_ns();
        long long pttl;

        assert_int_equal(rs_command(&f->srv[i], out, sizeof(out), 2, argv), 0);
        pttl = strtoll(out, NULL, 10);
        at[i] = asked + (pttl > 0 ? (uint64_t)pttl * 1000000u : 0);
    }
    for (size_t i = 1; i < NODES; i++) /* insertion sort, ascending */
        for (size_t j = i; j > 0 && at[j - 1] > at[j]; j--) {
            uint64_t t = at[j];
            at[j] = at[j - 1];
            at[j - 1] = t;
        }
    return at[NODES / 2]; /* the quorum-th earliest */
}

/* Three candidates: one leads; when it is killed (SIGKILL, so it cannot
 * step down), its command dies with it and another candidate takes over
 * once the lock has expired on a quorum (not before: checked against the
 * key's PTTL on the nodes just before the kill, less Redlock's drift
 * allowance plus a few ms for rounding), with a larger fencing number. */
static void test_elect_takeover(void **state)
{
    fixture *f = *state;
    char logs[3][512];
    size_t seen[3] = {0, 0, 0};
    child_line lines[16];
    pid_t p[3];
    uint64_t killed_at;
    uint64_t free_at;
    int first;
    int second;
    long old_child;
    char old_fence[24];

    for (int i = 0; i < 3; i++) {
        char tag[16];
        char name[32];
        snprintf(tag, sizeof(tag), "cand%d", i);
        snprintf(name, sizeof(name), "cand%d.log", i);
        path_in(f, name, logs[i], sizeof(logs[i]));
        p[i] = CLI_SPAWN(f, tag, "elect", "leader-grp", "--ttl", "2s", "--",
                         REDLOCK_CLI_CHILD_PATH, logs[i], "600000");
    }
    first = await_leader(logs, 3, seen, 15000);
    assert_true(first >= 0);
    /* Only one leader, for a while. */
    sleep_ms(1500);
    assert_int_equal(await_leader(logs, 3, seen, 0), first);
    assert_int_equal(parse_log(logs[first], lines, 16), 1);
    old_child = lines[0].pid;
    snprintf(old_fence, sizeof(old_fence), "%s", lines[0].fence);
    for (int i = 0; i < 3; i++)
        seen[i] = parse_log(logs[i], lines, 16);

    free_at = quorum_free_at(f, "election:leader-grp");
    killed_at = mono_ns();
    assert_int_equal(kill(p[first], SIGKILL), 0);
    assert_int_equal(cli_wait(p[first], 5000), 128 + SIGKILL);
    p[first] = 0;
    /* Its command dies with it (parent-death signal); as a subreaper we
     * are now its parent and reap it. */
    {
        uint64_t deadline = mono_ns() + 5000000000ull;
        int st = 0;
        pid_t r;

        while ((r = waitpid((pid_t)old_child, &st, WNOHANG)) <= 0 &&
               mono_ns() < deadline)
            sleep_ms(10);
        assert_int_equal(r, (pid_t)old_child);
        assert_true(WIFSIGNALED(st));
        assert_int_equal(WTERMSIG(st), SIGKILL);
    }

    second = await_leader(logs, 3, seen, 15000);
    assert_true(second >= 0);
    assert_int_not_equal(second, first);
    {
        size_t k = parse_log(logs[second], lines, 16);
        assert_true(k > seen[second]);
        assert_true(lines[k - 1].ns > killed_at);
        /* 2 s TTL: drift 1% + 2 ms, plus 5 ms. */
        if (lines[k - 1].ns + 27000000ull < free_at)
            fail_msg("the new leader's command started %.1f ms before the "
                     "old leader's key expired on a quorum (%.1f ms after "
                     "the kill)",
                     (double)(free_at - lines[k - 1].ns) / 1e6,
                     (double)(lines[k - 1].ns - killed_at) / 1e6);
        print_message("takeover %.1f ms after the kill, %.1f ms after a "
                      "quorum of keys expired\n",
                      (double)(lines[k - 1].ns - killed_at) / 1e6,
                      ((double)lines[k - 1].ns - (double)free_at) / 1e6);
        assert_true(strtoull(lines[k - 1].fence, NULL, 10) >
                    strtoull(old_fence, NULL, 10));
    }

    /* SIGTERM stops the others: the leader's command exits on the
     * forwarded signal and the leader steps down; the follower just
     * leaves. */
    for (int i = 0; i < 3; i++)
        if (p[i] > 0)
            assert_int_equal(kill(p[i], SIGTERM), 0);
    for (int i = 0; i < 3; i++)
        if (p[i] > 0)
            assert_int_equal(cli_wait(p[i], 20000), 128 + SIGTERM);
}

/* elect with a wrong password says why it cannot campaign (it used to
 * print nothing at all), without -v, and keeps trying until stopped. */
static void test_elect_wrong_password(void **state)
{
    fixture *f = *state;
    rs_server srv[NODES];
    char path[512];
    char err[8192];
    pid_t p;

    start_password_nodes(srv, "right");
    setenv("REDLOCK_PASSWORD", "wrong", 1);
    p = CLI_SPAWN(f, "cand", "elect", "pw-grp", "--", "true");
    path_in(f, "cand.err", path, sizeof(path));
    if (!await_text(path, "elect: cannot campaign for pw-grp", 10000)) {
        read_file(path, err, sizeof(err));
        fail_msg("no reason from elect; stderr:\n%s", err);
    }
    read_file(path, err, sizeof(err));
    assert_non_null(strstr(err, "EAUTH"));
    assert_non_null(strstr(err, "refused authentication"));
    assert_int_equal(kill(p, SIGTERM), 0);
    assert_int_equal(cli_wait(p, 10000), 128 + SIGTERM);
    unsetenv("REDLOCK_PASSWORD");
    rs_stop_many(srv, NODES);
    setenv("REDLOCK_NODES", f->nodes, 1);
}

/* The fence of the last JSON line of path whose owner is owner; -1 if
 * none. Every line must be valid JSON. */
static double listened_fence(const char *path, const char *owner)
{
    char buf[16384];
    double fence = -1;

    read_file(path, buf, sizeof(buf));
    for (char *line = buf; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        char why[128];
        char got[80];
        double v;

        if (nl != NULL)
            *nl = '\0';
        if (bench_json_check(line, why, sizeof(why)) != 0)
            fail_msg("listener line is not JSON (%s): '%s'", why, line);
        if (bench_json_string(line, "owner", got, sizeof(got)) == 0 &&
            strcmp(got, owner) == 0 &&
            bench_json_number(line, "fence", &v) == 0)
            fence = v;
        line = nl != NULL ? nl + 1 : NULL;
    }
    return fence;
}

/* elect --listen (like etcdctl elect --listen) campaigns for nothing and
 * prints the leader's owner and fence, then each change: a first leader,
 * its stepping down, and a second leader with a larger fence; it ends
 * with status 0 on SIGTERM. Text and --json (one object per line). */
static void test_elect_listen(void **state)
{
    fixture *f = *state;
    char text[512];
    char json[512];
    char log[512];
    char out[8192];
    pid_t lt;
    pid_t lj;
    pid_t cand;
    double fence_a;
    double fence_b;

    path_in(f, "lt.out", text, sizeof(text));
    path_in(f, "lj.out", json, sizeof(json));
    path_in(f, "cand.log", log, sizeof(log));
    lt = CLI_SPAWN(f, "lt", "elect", "grp-l", "--listen");
    lj = CLI_SPAWN(f, "lj", "elect", "grp-l", "--listen", "--json");
    assert_true(await_text(text, "no leader of grp-l", 10000));
    assert_true(await_text(json, "\"held\":false", 10000));

    cand = CLI_SPAWN(f, "a", "elect", "grp-l", "--owner", "cand-a", "--ttl",
                     "5", "--", REDLOCK_CLI_CHILD_PATH, log, "600000");
    assert_true(await_text(text, "leader of grp-l: cand-a, fence ", 10000));
    assert_true(await_text(json, "\"owner\":\"cand-a\"", 10000));
    /* Stepping down (SIGTERM, forwarded to the child, which exits):
     * the listeners see no leader, then cand-b with a larger fence. */
    assert_int_equal(kill(cand, SIGTERM), 0);
    assert_int_equal(cli_wait(cand, 20000), 128 + SIGTERM);
    /* Resigning deletes the key: the listener reports no leader. */
    {
        uint64_t deadline = mono_ns() + 10000000000ull;

        while (count_lines_with(text, "no leader of grp-l") < 2) {
            if (mono_ns() >= deadline) {
                read_file(text, out, sizeof(out));
                fail_msg("no 'no leader' after cand-a stepped down:\n%s", out);
            }
            sleep_ms(10);
        }
    }
    cand = CLI_SPAWN(f, "b", "elect", "grp-l", "--owner", "cand-b", "--ttl",
                     "5", "--", REDLOCK_CLI_CHILD_PATH, log, "600000");
    assert_true(await_text(text, "leader of grp-l: cand-b, fence ", 10000));
    assert_true(await_text(json, "\"owner\":\"cand-b\"", 10000));
    assert_int_equal(kill(cand, SIGTERM), 0);
    assert_int_equal(cli_wait(cand, 20000), 128 + SIGTERM);

    assert_int_equal(kill(lt, SIGTERM), 0);
    assert_int_equal(kill(lj, SIGTERM), 0);
    expect_exit(f, "lt", NULL, cli_wait(lt, 10000), 0);
    expect_exit(f, "lj", NULL, cli_wait(lj, 10000), 0);
    read_file(text, out, sizeof(out));
    {
        const char *a = strstr(out, "cand-a");
        const char *gap = a != NULL ? strstr(a, "no leader of grp-l") : NULL;
        const char *b = gap != NULL ? strstr(gap, "cand-b") : NULL;

        if (b == NULL)
            fail_msg("listener did not see cand-a, no leader, cand-b:\n%s",
                     out);
    }
    fence_a = listened_fence(json, "cand-a");
    fence_b = listened_fence(json, "cand-b");
    assert_true(fence_a >= 1);
    assert_true(fence_b > fence_a);
}

/* When CMD exits by itself, elect steps down (the lock is released, not
 * left to expire) and exits with CMD's status. */
static void test_elect_cmd_exits(void **state)
{
    fixture *f = *state;
    char log[512];
    long long expired = expired_keys(f);

    path_in(f, "lone.log", log, sizeof(log));
    assert_int_equal(CLI(f, "lone", "elect", "lone-grp", "--ttl", "60s", "--",
                         REDLOCK_CLI_CHILD_PATH, log, "300", "4"),
                     4);
    assert_released(f, "election:lone-grp", expired);
}

/* --restart-guard / REDLOCK_RESTART_GUARD: the fixture's nodes started
 * seconds ago, so a guard of an hour guards all three: status shows them
 * as guarded with the time left (and cannot say "free"), an acquire gets
 * no quorum (exit 2); auto and 0 leave them usable; bad values are usage
 * errors. */
static void test_restart_guard(void **state)
{
    fixture *f = *state;
    char out[8192];
    char err[4096];

    assert_int_equal(CLI(f, "rg0", "status", "job-rg", "--restart-guard",
                         "1h"),
                     2);
    read_named(f, "rg0.out", out, sizeof(out));
    assert_non_null(strstr(out, "guarded"));
    assert_non_null(strstr(out, "restart guard: uptime"));
    assert_non_null(strstr(out, "s more"));
    assert_non_null(strstr(out, "(3 in the restart guard)"));
    assert_non_null(strstr(out, "state: unknown"));

    setenv("REDLOCK_RESTART_GUARD", "1h", 1);
    assert_int_equal(CLI(f, "rg1", "status", "job-rg", "--json"), 2);
    read_named(f, "rg1.out", out, sizeof(out));
    assert_non_null(strstr(out, "\"guarded\":true,\"guard\":\"restart guard:"));
    assert_non_null(strstr(out, "\"guarded\":3"));
    assert_int_equal(CLI(f, "rg2", "acquire", "job-rg", "--wait", "0"), 2);
    read_named(f, "rg2.err", err, sizeof(err));
    assert_non_null(strstr(err, "EGUARDED"));
    assert_int_equal(nodes_with(f, "job-rg", "(nil)"), NODES);
    /* The flag wins over the environment. */
    assert_int_equal(CLI(f, "rg3", "status", "job-rg", "--restart-guard",
                         "auto"),
                     1);
    read_named(f, "rg3.out", out, sizeof(out));
    assert_null(strstr(out, "guarded"));
    assert_non_null(strstr(out, "state: free"));
    setenv("REDLOCK_RESTART_GUARD", "soon", 1);
    assert_int_equal(CLI(f, "rg4", "status", "job-rg"), 64);
    read_named(f, "rg4.err", err, sizeof(err));
    assert_non_null(strstr(err, "REDLOCK_RESTART_GUARD: bad restart guard"));
    unsetenv("REDLOCK_RESTART_GUARD");

    assert_int_equal(CLI(f, "rg5", "acquire", "job-rg", "--restart-guard",
                         "0"),
                     0);
    assert_int_equal(CLI(f, "rg6", "status", "job-rg", "--restart-guard",
                         "169h"),
                     64);
    read_named(f, "rg6.err", err, sizeof(err));
    assert_non_null(strstr(err, "--restart-guard: bad restart guard '169h'"));
    assert_non_null(strstr(err, "at most 168h"));
    assert_int_equal(CLI(f, "rg7", "status", "job-rg", "--restart-guard",
                         "-1"),
                     64);
}

/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------ */

/* Run the tests. Optional argv[1]: a cmocka name filter (a glob, such
 * as '*exec*'), to run only some of them. */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flags_documented, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_then_release, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_release_wrong_token, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_one_shot_lands_everywhere, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_acquire_wait_gives_up, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_acquire_waits_for_release, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_exit_codes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_json_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_guard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_exit_zero, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_no_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_outlives_ttl, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_exec_majority_paused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_exec_grace_then_kill, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_exec_forwards_signals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_exec_bad_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_fails_fast, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_lines_rate_limited, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_elect_wrong_password, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_elect_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elect_cmd_exits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elect_listen, setup, teardown),
    };

    /* Orphans of a killed `redlock` come to us, so we can reap them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
