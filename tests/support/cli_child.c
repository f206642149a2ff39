/*
 * cli_child.c: a tiny program that the CLI tests (tests/integration/
 * test_cli.c) run under `redlock exec` and `redlock elect`, so that they
 * can see from the outside when each run held the lock.
 *
 *   cli_child FILE SLEEP_MS [EXIT_CODE [ignore-term]]
 *
 * Appends "start <ns> <pid> <REDLOCK_TOKEN> <REDLOCK_FENCE>" to FILE,
 * sleeps SLEEP_MS milliseconds, appends "end <ns> <pid>" and exits with
 * EXIT_CODE (default 0). On SIGTERM it appends "term <ns> <pid>" and dies
 * of SIGTERM, unless "ignore-term" is given: then it notes the signal and
 * keeps sleeping (to test the SIGKILL after --grace). <ns> is
 * CLOCK_MONOTONIC in nanoseconds, the same clock in every process, so the
 * test can order the lines of several children. Each line is one
 * O_APPEND write(), so lines of concurrent children never mix.
 *
 * It is a program of its own (built by the top-level CMakeLists.txt, not
 * part of the redlock_testsupport library) and calls no shell.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The log file, opened with O_APPEND. */
static int log_fd = -1;
/* Set by "ignore-term". */
static int ignore_term;

/* CLOCK_MONOTONIC in nanoseconds. */
static unsigned long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull +
           (unsigned long long)ts.tv_nsec;
}

/* Append one line ("<what> <ns> <pid>[ extra]") with a single write(). */
static void log_line(const char *what, const char *extra)
{
    char line[256];
    int n = snprintf(line, sizeof(line), "%s %llu %ld%s%s\n", what, now_ns(),
                     (long)getpid(), extra[0] != '\0' ? " " : "", extra);

    if (n > 0 && write(log_fd, line, (size_t)n) < 0)
        _exit(99);
}

/* SIGTERM: note it, then die of it (or carry on with ignore-term). Only
 * async-signal-safe calls except snprintf, which glibc implements without
 * locks for this use; good enough for a test helper. */
static void on_term(int sig)
{
    log_line("term", "");
    if (ignore_term)
        return;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Parse a non-negative decimal argument or exit with status 98. */
static long parse_arg(const char *s)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0) {
        fprintf(stderr, "cli_child: bad number '%s'\n", s);
        exit(98);
    }
    return v;
}

/* See the file comment. */
int main(int argc, char **argv)
{
    char extra[160];
    const char *token = getenv("REDLOCK_TOKEN");
    const char *fence = getenv("REDLOCK_FENCE");
    struct timespec left;
    long sleep_ms;
    int code = 0;

    if (argc < 3 || argc > 5) {
        fprintf(stderr,
                "usage: cli_child FILE SLEEP_MS [EXIT_CODE [ignore-term]]\n");
        return 98;
    }
    sleep_ms = parse_arg(argv[2]);
    if (argc >= 4)
        code = (int)parse_arg(argv[3]);
    ignore_term = argc == 5 && strcmp(argv[4], "ignore-term") == 0;
    log_fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        perror("cli_child: open");
        return 98;
    }
    signal(SIGTERM, on_term);
    snprintf(extra, sizeof(extra), "%s %s", token != NULL ? token : "-",
             fence != NULL ? fence : "-");
    log_line("start", extra);
    left.tv_sec = sleep_ms / 1000;
    left.tv_nsec = (sleep_ms % 1000) * 1000000L;
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
    log_line("end", "");
    return code;
}
