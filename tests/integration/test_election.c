/*
 * test_election.c: leader election with real redis-server processes:
 * candidates in separate processes (a leader SIGKILLed, a leader
 * resigning), strictly increasing fencing numbers per term, and in-process
 * checks of is_leader, leader_token and destroy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rl_test.h"

enum { CANDIDATES = 3, TTL_MS = 600, DELAY_MS = 50, JITTER_MS = 20 };

/* One event a candidate process reported. */
typedef struct event {
    char kind;      /* 'E' elected, 'D' demoted */
    int id;
    unsigned long long fence;
    unsigned long long at_us; /* redlock_clock_us(), shared by processes */
} event;

static int event_fd = -1; /* write end, in the children */
static int child_id;

/* Report an event to the parent with one write (atomic below PIPE_BUF). */
static void report(char kind, unsigned long long fence)
{
    char line[96];
    int n = snprintf(line, sizeof(line), "%c %d %llu %llu\n", kind, child_id,
                     fence, (unsigned long long)redlock_clock_us());
    ssize_t w = write(event_fd, line, (size_t)n);
    (void)w;
}

/* Child callbacks. */
static void child_elected(redlock_election *e, uint64_t fence, void *ud)
{
    (void)e;
    (void)ud;
    report('E', (unsigned long long)fence);
}

/* Child callback on demotion. */
static void child_demoted(redlock_election *e, redlock_status why, void *ud)
{
    (void)e;
    (void)why;
    (void)ud;
    report('D', 0);
}

/* A candidate process: campaign until told to resign (a byte on cmd_fd)
 * or killed. */
static void candidate_main(rl_cluster *c, int cmd_fd)
{
    redlock_options o;
    rl_test_options(&o, NULL);
    o.retry_delay_ms = DELAY_MS;
    o.retry_jitter_ms = JITTER_MS;
    o.command_timeout_ms = 300;
    redlock_manager *m = NULL;
    if (redlock_manager_create(c->uris, c->n, &o, &m) != REDLOCK_OK)
        _exit(10);
    redlock_election_callbacks cb = {child_elected, child_demoted};
    redlock_election *e = NULL;
    if (redlock_election_start(m, "svc", TTL_MS, &cb, NULL, &e) !=
        REDLOCK_OK)
        _exit(11);
    char b;
    while (read(cmd_fd, &b, 1) < 0 && errno == EINTR) {
    }
    redlock_election_resign(e);
    redlock_election_destroy(e);
    redlock_manager_destroy(m);
    _exit(0);
}

/* Parent side of the candidates. */
typedef struct candidates {
    pid_t pid[CANDIDATES];
    int cmd[CANDIDATES];    /* write end of each child's command pipe */
    int events;             /* read end of the shared event pipe */
    char buf[4096];
    size_t len;
} candidates;

/* Fork the candidate processes. */
static void start_candidates(candidates *cs, rl_cluster *c)
{
    int ev[2];
    assert_int_equal(pipe(ev), 0);
    for (int i = 0; i < CANDIDATES; i++) {
        int cmd[2];
        assert_int_equal(pipe(cmd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(ev[0]);
            close(cmd[1]);
            event_fd = ev[1];
            child_id = i;
            candidate_main(c, cmd[0]);
        }
        close(cmd[0]);
        cs->pid[i] = pid;
        cs->cmd[i] = cmd[1];
    }
    close(ev[1]);
    cs->events = ev[0];
    cs->len = 0;
}

/* Read the next event, waiting up to timeout_ms. Returns false on
 * timeout. */
static bool next_event(candidates *cs, event *e, int timeout_ms)
{
    uint64_t until = rl_now_us() + (uint64_t)timeout_ms * 1000u;
    for (;;) {
        char *nl = memchr(cs->buf, '\n', cs->len);
        if (nl != NULL) {
            *nl = '\0';
            int got = sscanf(cs->buf, "%c %d %llu %llu", &e->kind, &e->id,
                             &e->fence, &e->at_us);
            size_t used = (size_t)(nl - cs->buf) + 1;
            memmove(cs->buf, nl + 1, cs->len - used);
            cs->len -= used;
            if (got == 4)
                return true;
            continue;
        }
        uint64_t now = rl_now_us();
        if (now >= until)
            return false;
        struct pollfd p = {cs->events, POLLIN, 0};
        if (poll(&p, 1, (int)((until - now) / 1000u) + 1) <= 0)
            continue;
        ssize_t r = read(cs->events, cs->buf + cs->len,
                         sizeof(cs->buf) - cs->len - 1);
        if (r <= 0)
            return false;
        cs->len += (size_t)r;
    }
}

/* Kill and reap every candidate still alive. */
static void stop_candidates(candidates *cs)
{
    for (int i = 0; i < CANDIDATES; i++) {
        if (cs->pid[i] > 0) {
            kill(cs->pid[i], SIGKILL);
            waitpid(cs->pid[i], NULL, 0);
            cs->pid[i] = 0;
        }
        if (cs->cmd[i] >= 0)
            close(cs->cmd[i]);
        cs->cmd[i] = -1;
    }
    close(cs->events);
}

/* Three candidate processes: one leader at a time; a killed leader is
 * replaced within TTL + retry delay + jitter (plus slack for a loaded
 * machine); a resigning leader within one retry delay (plus slack);
 * every term's fence is greater than the last. */
static void test_election_across_processes(void **state)
{
    (void)state;
    rl_cluster c;
    memset(&c, 0, sizeof(c));
    c.n = 3;
    assert_int_equal(rs_start_many(c.srv, 3), 0);
    rs_uris(c.srv, 3, c.uris);
    candidates cs;
    start_candidates(&cs, &c);

    event e;
    assert_true(next_event(&cs, &e, 10000));
    assert_int_equal(e.kind, 'E');
    int leader = e.id;
    unsigned long long fence = e.fence;
    assert_true(fence >= 1);
    /* Nobody else is elected while it leads. */
    assert_false(next_event(&cs, &e, 3 * TTL_MS));

    /* Crash the leader: a new one within TTL + delay + jitter (+ slack). */
    uint64_t killed_at = rl_now_us();
    kill(cs.pid[leader], SIGKILL);
    waitpid(cs.pid[leader], NULL, 0);
    cs.pid[leader] = 0;
    assert_true(next_event(&cs, &e, 10000));
    assert_int_equal(e.kind, 'E');
    assert_true(e.id != leader);
    /* The dead leader's term ended when it died: no overlap. */
    assert_true(e.at_us >= killed_at);
    uint64_t takeover = e.at_us - killed_at;
    assert_true(takeover <= (TTL_MS + DELAY_MS + JITTER_MS + 1500) * 1000ull);
    assert_true(e.fence > fence);
    fence = e.fence;
    leader = e.id;

    /* Resign: demoted, then another elected within one retry delay
     * (+ jitter + slack), with a larger fence, and never overlapping. */
    assert_int_equal(write(cs.cmd[leader], "r", 1), 1);
    assert_true(next_event(&cs, &e, 5000));
    assert_int_equal(e.kind, 'D');
    assert_int_equal(e.id, leader);
    uint64_t demoted_at = e.at_us;
    assert_true(next_event(&cs, &e, 5000));
    assert_int_equal(e.kind, 'E');
    assert_true(e.id != leader);
    assert_true(e.at_us >= demoted_at);
    assert_true(e.at_us - demoted_at <= (DELAY_MS + JITTER_MS + 1000) * 1000ull);
    assert_true(e.fence > fence);
    waitpid(cs.pid[leader], NULL, 0);
    cs.pid[leader] = 0;

    stop_candidates(&cs);
    rs_stop_many(c.srv, 3);
}

/* In-process: exactly one of three candidates is leader; its token and
 * fence are readable; destroying it (resign) hands over. */
static void test_election_in_process(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_manager *m[3];
    redlock_election *e[3];
    for (int i = 0; i < 3; i++) {
        m[i] = rl_manager_new(&c, NULL);
        assert_int_equal(redlock_election_start(m[i], "inproc", 1000, NULL,
                                                NULL, &e[i]),
                         REDLOCK_OK);
    }
    int leader = -1;
    for (int t = 0; t < 5000 && leader < 0; t++) {
        for (int i = 0; i < 3; i++)
            if (redlock_election_is_leader(e[i]))
                leader = i;
        if (leader < 0)
            usleep(1000);
    }
    assert_true(leader >= 0);
    /* Sample for a while: never two leaders at once. */
    for (int t = 0; t < 500; t++) {
        int n = 0;
        for (int i = 0; i < 3; i++)
            n += redlock_election_is_leader(e[i]);
        assert_true(n <= 1);
        usleep(1000);
    }
    char tok[REDLOCK_TOKEN_LEN + 1];
    uint64_t fence = 0;
    assert_int_equal(redlock_election_leader_token(e[leader], tok,
                                                   sizeof(tok), &fence),
                     REDLOCK_OK);
    assert_int_equal(strlen(tok), REDLOCK_TOKEN_LEN);
    assert_true(fence >= 1);
    int other = (leader + 1) % 3;
    assert_int_equal(redlock_election_leader_token(e[other], tok,
                                                   sizeof(tok), NULL),
                     REDLOCK_ENOTHELD);
    redlock_election_destroy(e[leader]);
    e[leader] = NULL;
    int next = -1;
    for (int t = 0; t < 5000 && next < 0; t++) {
        for (int i = 0; i < 3; i++)
            if (e[i] != NULL && redlock_election_is_leader(e[i]))
                next = i;
        if (next < 0)
            usleep(1000);
    }
    assert_true(next >= 0 && next != leader);
    uint64_t fence2 = 0;
    assert_int_equal(redlock_election_leader_token(e[next], tok,
                                                   sizeof(tok), &fence2),
                     REDLOCK_OK);
    assert_true(fence2 > fence);
    for (int i = 0; i < 3; i++) {
        redlock_election_destroy(e[i]);
        redlock_manager_destroy(m[i]);
    }
    /* Only the fence counter is left, one per node: the last leader
     * released the election lock when it was destroyed. */
    assert_true(rl_await_keys(&c, 3, 5000));
    for (size_t i = 0; i < 3; i++) {
        char got[64];
        rl_get(&c, i, "election:inproc", got, sizeof(got));
        assert_string_equal(got, "(nil)");
    }
    rl_cluster_stop(&c);
}

/* Fencing numbers strictly increase across holders and draws. */
static void test_fence_monotonic(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    uint64_t last = 0;
    for (int i = 0; i < 20; i++) {
        redlock_lock *l = NULL;
        assert_int_equal(redlock_acquire(c.m, "fenced", 5000, &l),
                         REDLOCK_OK);
        uint64_t f = 0;
        assert_int_equal(redlock_fence_next(l, &f), REDLOCK_OK);
        assert_true(f > last);
        last = f;
        assert_int_equal(redlock_release(l), REDLOCK_OK);
    }
    /* One node lost its counter (restart without data): still monotonic
     * while a quorum keeps it. */
    char out[16];
    const char *del[2] = {"DEL", "fenced:fence"};
    rs_command(&c.srv[0], out, sizeof(out), 2, del);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "fenced", 5000, &l), REDLOCK_OK);
    uint64_t f = 0;
    assert_int_equal(redlock_fence_next(l, &f), REDLOCK_OK);
    assert_true(f > last);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rl_cluster_stop(&c);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_election_across_processes),
        cmocka_unit_test(test_election_in_process),
        cmocka_unit_test(test_fence_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
