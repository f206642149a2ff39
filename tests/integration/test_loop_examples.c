/*
 * test_loop_examples.c: the event-loop examples (examples/loop_*.c) run
 * against three real redis-server processes, one of them SIGSTOPped for
 * half a second while the example has all its acquires in flight.
 *
 * Each example keeps 1000 non-blocking acquires in flight from one loop
 * thread, on 25 contended resources, holds each lock won for 10 ms and
 * releases it. What must hold, for each: all 1000 were won and released,
 * no two holds of a resource overlapped, all 1000 were in flight at once,
 * the example was still running when the node was resumed (so the stop
 * happened during its work), and its longest loop iteration stayed under
 * 10 ms (ITERATION_MAX_US: more under sanitizers): nothing blocked the
 * loop, not even a stopped node (waiting for it would take the command
 * timeout, a second).
 *
 * The examples' paths come from the build (REDLOCK_LOOP_EXAMPLES, a
 * colon-separated list); the libuv and libevent ones are always built
 * (scripts/deps.sh installs their libraries), so none is skipped.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "redis_spawn.h"
#include "redlock.h"

/* The longest loop iteration allowed: 10 ms (issue 11's bound) in a
 * normal build. Sanitizers slow every instruction several times (TSan
 * most), so their builds allow a multiple; waiting for a stopped node
 * would still take the whole command timeout, a second. */
#if defined(__SANITIZE_THREAD__)
#define ITERATION_MAX_US 60000
#elif defined(__SANITIZE_ADDRESS__)
#define ITERATION_MAX_US 30000
#else
#define ITERATION_MAX_US 10000
#endif

#ifndef REDLOCK_LOOP_EXAMPLES
#error "REDLOCK_LOOP_EXAMPLES must be defined (CMakeLists.txt)"
#endif

/* Read what the child wrote into buf (appending) until `want` appears,
 * EOF, or timeout_ms; true if `want` is in buf. */
static bool read_until(int fd, char *buf, size_t cap, size_t *len,
                       const char *want, int timeout_ms)
{
    uint64_t end = redlock_clock_us() + (uint64_t)timeout_ms * 1000u;
    for (;;) {
        buf[*len] = '\0';
        if (want != NULL && strstr(buf, want) != NULL)
            return true;
        uint64_t now = redlock_clock_us();
        if (now >= end)
            return false;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)((end - now) / 1000u) + 1) <= 0)
            continue;
        ssize_t n = read(fd, buf + *len, cap - 1 - *len);
        if (n <= 0)
            return want == NULL; /* EOF */
        *len += (size_t)n;
    }
}

static long field(const char *out, const char *name)
{
    const char *p = strstr(out, name);
    return p != NULL ? strtol(p + strlen(name), NULL, 10) : -1;
}

static void run_example(const char *path)
{
    rs_server srv[3];
    memset(srv, 0, sizeof(srv));
    assert_int_equal(rs_start_many(srv, 3), 0);
    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(path, path, "--resources", "25", "--hold-ms", "10",
              srv[0].uri, srv[1].uri, srv[2].uri, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char buf[4096];
    size_t len = 0;
    bool submitted = read_until(out[0], buf, sizeof(buf), &len,
                                "submitted", 30000);
    /* All in flight: node 1 stops answering for half a second (the
     * fault's schedule, not a wait for a condition). */
    assert_int_equal(rs_pause(&srv[1]), 0);
    (void)read_until(out[0], buf, sizeof(buf), &len, "ops=", 500);
    int wst = 0;
    bool running = waitpid(pid, &wst, WNOHANG) == 0;
    assert_int_equal(rs_resume(&srv[1]), 0);
    (void)read_until(out[0], buf, sizeof(buf), &len, NULL, 120000);
    close(out[0]);
    if (running)
        assert_int_equal(waitpid(pid, &wst, 0), pid);
    for (size_t i = 0; i < 3; i++)
        rs_stop(&srv[i]);
    print_message("%s: %s", path, buf);
    assert_true(submitted);
    assert_true(running);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
    assert_int_equal(field(buf, "ops="), 1000);
    assert_int_equal(field(buf, " ok="), 1000);
    assert_int_equal(field(buf, "overlaps="), 0);
    assert_int_equal(field(buf, "release_failed="), 0);
    assert_int_equal(field(buf, "max_in_flight="), 1000);
    long iter = field(buf, "max_iteration_us=");
    assert_true(iter >= 0 && iter < ITERATION_MAX_US);
}

static void test_examples(void **state)
{
    (void)state;
    char list[] = REDLOCK_LOOP_EXAMPLES;
    int ran = 0;
    for (char *save = NULL, *p = strtok_r(list, ":", &save); p != NULL;
         p = strtok_r(NULL, ":", &save)) {
        run_example(p);
        ran++;
    }
    assert_true(ran >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
