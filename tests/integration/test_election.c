/*
 * test_election.c: leader election with real redis-server processes:
 * candidates in separate processes (a leader SIGKILLed, a leader
 * resigning), strictly increasing fencing numbers per term, and in-process
 * checks of is_leader, leader_token and destroy.
 *
 * Safety is checked on is_leader, not on the order of events: on_demoted
 * runs after the lock is released, so the next leader's on_elected may
 * come first. Each candidate's is_leader is sampled about every
 * millisecond into intervals [first seen true, last seen true], which lie
 * inside the real leadership, so two intervals of different candidates
 * that overlap are a real double leadership. The demotion handlers take a
 * while (DEMOTE_WORK_MS), as real ones do, so a leadership that lasted
 * until on_demoted returned would overlap the next. A takeover from a
 * killed leader is checked against the election key's PTTL on the nodes
 * read just before the kill: no candidate can win a quorum before a
 * quorum of those keys has expired.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rl_test.h"

enum {
    CANDIDATES = 3,
    TTL_MS = 600,
    DELAY_MS = 50,
    JITTER_MS = 20,
    DEMOTE_WORK_MS = 200, /* a demotion handler's own work */
    MAX_EVENTS = 512
};

/* Allowance between the nodes' expiry and our clock: PTTL is rounded to
 * the millisecond, Redis keeps time on the wall clock, and a takeover is
 * stamped in another process. Redlock's own drift (1% + 2 ms) plus 5 ms. */
#define DRIFT_ALLOWANCE_US(ttl_ms) ((uint64_t)(ttl_ms) * 10u + 7000u)

/* Sleep us microseconds. */
static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000L, (us % 1000000L) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* One event a candidate process reported. */
typedef struct event {
    char kind;      /* 'E' elected, 'D' demoted, 'U' first seen leading,
                       'W' last seen leading (is_leader samples) */
    int id;
    unsigned long long fence;
    unsigned long long at_us; /* redlock_clock_us(), shared by processes */
} event;

static int event_fd = -1; /* write end, in the children */
static int child_id;

/* Report an event at time at_us to the parent with one write (atomic
 * below PIPE_BUF). */
static void report_at(char kind, unsigned long long fence, uint64_t at_us)
{
    char line[96];
    int n = snprintf(line, sizeof(line), "%c %d %llu %llu\n", kind, child_id,
                     fence, (unsigned long long)at_us);
    ssize_t w = write(event_fd, line, (size_t)n);
    (void)w;
}

/* Report an event now. */
static void report(char kind, unsigned long long fence)
{
    report_at(kind, fence, redlock_clock_us());
}

/* Child callbacks. */
static void child_elected(redlock_election *e, uint64_t fence, void *ud)
{
    (void)e;
    (void)ud;
    report('E', (unsigned long long)fence);
}

/* Child callback on demotion; then the handler's own work. */
static void child_demoted(redlock_election *e, redlock_status why, void *ud)
{
    (void)e;
    (void)why;
    (void)ud;
    report('D', 0);
    sleep_us(DEMOTE_WORK_MS * 1000L);
}

/* The child's is_leader sampler. */
typedef struct sampler {
    redlock_election *e;
    atomic_bool stop;
    pthread_t thread;
} sampler;

/* Sample the leadership (leader_token: is_leader plus the term's fence)
 * every half millisecond or so; for each term report 'U' with the time
 * after its first true answer and 'W' with the time before its last one,
 * so [U, W] lies inside the real leadership. */
static void *sampler_main(void *arg)
{
    sampler *sm = arg;
    uint64_t term = 0, last = 0; /* term: fence of the run, 0 if none */
    while (!atomic_load(&sm->stop)) {
        char tok[REDLOCK_TOKEN_LEN + 1];
        uint64_t fence = 0;
        uint64_t before = redlock_clock_us();
        bool lead = redlock_election_leader_token(sm->e, tok, sizeof(tok),
                                                  &fence) == REDLOCK_OK;
        uint64_t after = redlock_clock_us();
        if (term != 0 && (!lead || fence != term)) {
            report_at('W', term, last);
            term = 0;
        }
        if (lead && term == 0) {
            report_at('U', fence, after);
            term = fence;
        }
        if (lead)
            last = before;
        sleep_us(500);
    }
    if (term != 0)
        report_at('W', term, last);
    return NULL;
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
    sampler sm = {.e = e};
    atomic_init(&sm.stop, false);
    if (pthread_create(&sm.thread, NULL, sampler_main, &sm) != 0)
        _exit(12);
    char b;
    while (read(cmd_fd, &b, 1) < 0 && errno == EINTR) {
    }
    redlock_election_resign(e);
    atomic_store(&sm.stop, true);
    pthread_join(sm.thread, NULL);
    redlock_election_destroy(e);
    redlock_manager_destroy(m);
    _exit(0);
}

/* One sampled term of leadership: [from, to] lies inside it. */
typedef struct term_rec {
    int who;
    uint64_t fence, from, to;
} term_rec;

/* No two terms of different candidates overlap. Terms sampled once (an
 * empty interval) carry no instant for sure and are skipped. */
static void assert_no_two_leaders(const term_rec *t, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (t[i].who == t[j].who || t[i].from > t[i].to ||
                t[j].from > t[j].to)
                continue;
            if (t[i].from <= t[j].from && t[j].from < t[i].to)
                fail_msg("candidates %d and %d both leader for %llu us "
                         "(%d leads until %llu, %d from %llu)",
                         t[i].who, t[j].who,
                         (unsigned long long)((t[i].to < t[j].to ? t[i].to
                                                                 : t[j].to) -
                                              t[j].from),
                         t[i].who, (unsigned long long)t[i].to, t[j].who,
                         (unsigned long long)t[j].from);
        }
}

/* Parent side of the candidates. */
typedef struct candidates {
    pid_t pid[CANDIDATES];
    int cmd[CANDIDATES];    /* write end of each child's command pipe */
    uint64_t gone_at[CANDIDATES]; /* when it was reaped (0: alive) */
    int events;             /* read end of the shared event pipe */
    char buf[4096];
    size_t len;
    event log[MAX_EVENTS];  /* every event read, in order */
    size_t nlog;
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
        cs->gone_at[i] = 0;
    }
    close(ev[1]);
    cs->events = ev[0];
    cs->len = 0;
    cs->nlog = 0;
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
            if (got != 4)
                continue;
            assert_true(cs->nlog < MAX_EVENTS);
            cs->log[cs->nlog++] = *e;
            return true;
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

/* Wait up to timeout_ms for the next event of this kind (any
 * candidate); the events read on the way are logged too. */
static bool await_kind(candidates *cs, char kind, event *e, int timeout_ms)
{
    uint64_t until = rl_now_us() + (uint64_t)timeout_ms * 1000u;
    for (;;) {
        uint64_t now = rl_now_us();
        int left = now < until ? (int)((until - now) / 1000u) : 0;
        if (!next_event(cs, e, left))
            return false;
        if (e->kind == kind)
            return true;
    }
}

/* Wait up to 5 s until candidate id's sampler has reported a term with
 * this fence ('U'), so that the term is part of the overlap check. */
static bool await_sampled(candidates *cs, int id, unsigned long long fence)
{
    for (size_t i = 0; i < cs->nlog; i++)
        if (cs->log[i].kind == 'U' && cs->log[i].id == id &&
            cs->log[i].fence == fence)
            return true;
    event e;
    uint64_t until = rl_now_us() + 5000000u;
    for (;;) {
        uint64_t now = rl_now_us();
        if (now >= until ||
            !await_kind(cs, 'U', &e, (int)((until - now) / 1000u)))
            return false;
        if (e.id == id && e.fence == fence)
            return true;
    }
}

/* Kill and reap candidate i. */
static void kill_candidate(candidates *cs, int i)
{
    kill(cs->pid[i], SIGKILL);
    waitpid(cs->pid[i], NULL, 0);
    cs->pid[i] = 0;
    cs->gone_at[i] = rl_now_us();
}

/* Kill and reap every candidate still alive, then read the events they
 * left in the pipe (up to its end). */
static void stop_candidates(candidates *cs)
{
    for (int i = 0; i < CANDIDATES; i++) {
        if (cs->pid[i] > 0)
            kill_candidate(cs, i);
        if (cs->cmd[i] >= 0)
            close(cs->cmd[i]);
        cs->cmd[i] = -1;
    }
    event e;
    while (next_event(cs, &e, 5000)) {
    }
    close(cs->events);
}

/* The sampled terms of the log: each 'U' to the 'W' of the same candidate
 * and term (or, if it never came, to when that candidate died). No two of
 * different candidates may overlap. Returns how many terms there were. */
static int check_no_two_leaders(const candidates *cs)
{
    term_rec t[MAX_EVENTS];
    int n = 0;
    for (size_t i = 0; i < cs->nlog; i++) {
        const event *u = &cs->log[i];
        if (u->kind != 'U')
            continue;
        uint64_t end = cs->gone_at[u->id];
        for (size_t j = i + 1; j < cs->nlog; j++)
            if (cs->log[j].id == u->id && cs->log[j].kind == 'W' &&
                cs->log[j].fence == u->fence) {
                end = cs->log[j].at_us;
                break;
            }
        assert_true(end != 0);
        t[n++] = (term_rec){u->id, u->fence, u->at_us, end};
    }
    assert_no_two_leaders(t, n);
    return n;
}

/* rl_await condition: every node of the cluster holds the same value
 * under "election:svc", so no copy of an earlier term is left (the lease
 * restores the current one where an old copy expired). */
static bool one_term_everywhere(void *arg)
{
    rl_cluster *c = arg;
    char first[64], got[64];
    for (size_t i = 0; i < c->n; i++) {
        if (rl_get(c, i, "election:svc", got, sizeof(got)) != 0 ||
            strcmp(got, "(nil)") == 0)
            return false;
        if (i == 0)
            memcpy(first, got, sizeof(first));
        else if (strcmp(got, first) != 0)
            return false;
    }
    return true;
}

/* PTTL of key on every node of c, read now: the earliest time (our clock)
 * at which a quorum of them can be free of it. A new holder needs SET NX
 * to succeed on a quorum, so none can be granted before; a renewal after
 * the read only moves it later. A missing key counts as free now. */
static uint64_t quorum_free_at(rl_cluster *c, const char *key)
{
    uint64_t at[RL_MAX_NODES];
    for (size_t i = 0; i < c->n; i++) {
        const char *argv[2] = {"PTTL", key};
        char out[32];
        uint64_t asked = rl_now_us();
        assert_int_equal(rs_command(&c->srv[i], out, sizeof(out), 2, argv),
                         0);
        long long pttl = atoll(out);
        at[i] = asked + (pttl > 0 ? (uint64_t)pttl * 1000u : 0);
    }
    for (size_t i = 1; i < c->n; i++) /* insertion sort, ascending */
        for (size_t j = i; j > 0 && at[j - 1] > at[j]; j--) {
            uint64_t t = at[j];
            at[j] = at[j - 1];
            at[j - 1] = t;
        }
    return at[c->n / 2]; /* the quorum-th earliest */
}

/* Three candidate processes: one leader at a time; a killed leader is
 * replaced once its key has expired on a quorum (not before, within the
 * drift allowance) and within TTL + retry delay + jitter (plus slack for
 * a loaded machine); a resigning leader within one retry delay (plus
 * slack); every term's fence is greater than the last; and the sampled
 * leaderships of different candidates never overlap. */
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
    assert_true(await_kind(&cs, 'E', &e, 10000));
    int leader = e.id;
    unsigned long long fence = e.fence;
    assert_true(fence >= 1);
    /* Nobody else is elected while it leads. */
    assert_false(await_kind(&cs, 'E', &e, 3 * TTL_MS));

    /* Crash the leader: the others can only win once a quorum of its keys
     * expired, and one does within TTL + delay + jitter (+ slack). */
    uint64_t free_at = quorum_free_at(&c, "election:svc");
    uint64_t killed_at = rl_now_us();
    kill_candidate(&cs, leader);
    assert_true(await_kind(&cs, 'E', &e, 10000));
    assert_true(e.id != leader);
    if (e.at_us + DRIFT_ALLOWANCE_US(TTL_MS) < free_at)
        fail_msg("candidate %d elected %.1f ms before the dead leader's key "
                 "expired on a quorum (%.1f ms after the kill)",
                 e.id, (double)(free_at - e.at_us) / 1e3,
                 e.at_us > killed_at ? (double)(e.at_us - killed_at) / 1e3
                                     : 0.0);
    uint64_t takeover = e.at_us - killed_at;
    print_message("takeover %.1f ms after the kill, %.1f ms after a quorum "
                  "of keys expired\n", (double)takeover / 1e3,
                  ((double)e.at_us - (double)free_at) / 1e3);
    assert_true(takeover <= (TTL_MS + DELAY_MS + JITTER_MS + 1500) * 1000ull);
    assert_true(e.fence > fence);
    fence = e.fence;
    leader = e.id;
    assert_true(await_sampled(&cs, leader, fence));

    /* Resign: the leader is demoted and another is elected within one
     * retry delay (+ jitter + slack) of the request, with a larger fence.
     * The two events may come in either order: on_demoted runs after the
     * release, which lets the next leader in. The resigning leader's keys
     * are deleted, not left to expire: once no copy of the dead leader's
     * term is left, the servers expire nothing more until the next term
     * is on every node. */
    assert_true(rl_await(one_term_everywhere, &c, 5000));
    long long expired = rl_expired_keys(&c);
    assert_true(expired >= 0);
    uint64_t resign_at = rl_now_us();
    assert_int_equal(write(cs.cmd[leader], "r", 1), 1);
    bool demoted = false, elected = false;
    int next = -1;
    while (!demoted || !elected) {
        assert_true(next_event(&cs, &e, 5000));
        if (e.kind == 'D') {
            assert_int_equal(e.id, leader);
            demoted = true;
        } else if (e.kind == 'E') {
            assert_true(e.id != leader);
            assert_false(elected);
            assert_true(e.at_us >= resign_at);
            assert_true(e.at_us - resign_at <=
                        (DELAY_MS + JITTER_MS + 1000) * 1000ull);
            assert_true(e.fence > fence);
            elected = true;
            next = e.id;
            fence = e.fence;
        }
    }
    assert_true(await_sampled(&cs, next, fence));
    assert_true(rl_await(one_term_everywhere, &c, 5000));
    assert_int_equal(rl_expired_keys(&c), expired);
    waitpid(cs.pid[leader], NULL, 0);
    cs.pid[leader] = 0;
    cs.gone_at[leader] = rl_now_us();

    stop_candidates(&cs);
    /* Three leaderships at least (first, after the kill, after the
     * resignation), never two at once. */
    assert_true(check_no_two_leaders(&cs) >= 3);
    rs_stop_many(c.srv, 3);
}

/* In-process is_leader sampler over three candidates (the same
 * sampling as the children's, for every candidate in one thread). */
typedef struct inproc {
    redlock_election *e[3];
    atomic_bool stop;
    pthread_t thread;
    term_rec terms[64];
    int nterms;
    _Atomic uint64_t seen[3]; /* fence of the term being sampled, or 0 */
} inproc;

/* Sample every candidate about every half millisecond until stopped;
 * record each term as [after its first true answer, before its last]. */
static void *inproc_sampler(void *arg)
{
    inproc *s = arg;
    uint64_t term[3] = {0, 0, 0}, first[3] = {0, 0, 0}, last[3] = {0, 0, 0};
    for (bool stop = false; !stop;) {
        stop = atomic_load(&s->stop); /* one last round after the request */
        for (int i = 0; i < 3; i++) {
            char tok[REDLOCK_TOKEN_LEN + 1];
            uint64_t fence = 0;
            uint64_t before = rl_now_us();
            bool lead = redlock_election_leader_token(s->e[i], tok,
                                                      sizeof(tok), &fence) ==
                        REDLOCK_OK;
            uint64_t after = rl_now_us();
            if (term[i] != 0 && (!lead || fence != term[i] || stop)) {
                if (s->nterms < 64)
                    s->terms[s->nterms++] =
                        (term_rec){i, term[i], first[i], last[i]};
                term[i] = 0;
            }
            if (lead && term[i] == 0 && !stop) {
                term[i] = fence;
                first[i] = after;
            }
            atomic_store(&s->seen[i], term[i]);
            if (lead)
                last[i] = before;
        }
        sleep_us(500);
    }
    return NULL;
}

/* on_demoted in-process: the handler's own work. */
static void inproc_demoted(redlock_election *e, redlock_status why, void *ud)
{
    (void)e;
    (void)why;
    (void)ud;
    sleep_us(DEMOTE_WORK_MS * 1000L);
}

/* Wait up to 5 s until the sampler has seen candidate i's term with this
 * fence, so that the term is part of the overlap check. */
static bool await_sampled_inproc(inproc *s, int i, uint64_t fence)
{
    for (int t = 0; t < 5000; t++) {
        if (atomic_load(&s->seen[i]) == fence)
            return true;
        sleep_us(1000);
    }
    return false;
}

/* Wait up to 5 s for a candidate other than those in `not` (a bit mask)
 * to lead; returns it, or -1. */
static int await_leader_except(inproc *s, unsigned not)
{
    for (int t = 0; t < 5000; t++) {
        for (int i = 0; i < 3; i++)
            if (!(not & (1u << i)) && redlock_election_is_leader(s->e[i]))
                return i;
        sleep_us(1000);
    }
    return -1;
}

/* In-process: exactly one of three candidates is leader; its token and
 * fence are readable; resigning hands over, twice, with larger fences;
 * the sampled terms never overlap, hand-overs included (a slow on_demoted
 * must not stretch the old term); destroying the last leader releases
 * the election lock. */
static void test_election_in_process(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_manager *m[3];
    inproc s;
    memset(&s, 0, sizeof(s));
    atomic_init(&s.stop, false);
    for (int i = 0; i < 3; i++)
        atomic_init(&s.seen[i], 0);
    redlock_election_callbacks cb = {NULL, inproc_demoted};
    for (int i = 0; i < 3; i++) {
        m[i] = rl_manager_new(&c, NULL);
        assert_int_equal(redlock_election_start(m[i], "inproc", 1000, &cb,
                                                NULL, &s.e[i]),
                         REDLOCK_OK);
    }
    assert_int_equal(pthread_create(&s.thread, NULL, inproc_sampler, &s), 0);
    int leader = await_leader_except(&s, 0);
    assert_true(leader >= 0);
    long long expired = rl_expired_keys(&c);
    char tok[REDLOCK_TOKEN_LEN + 1];
    uint64_t fence = 0;
    assert_int_equal(redlock_election_leader_token(s.e[leader], tok,
                                                   sizeof(tok), &fence),
                     REDLOCK_OK);
    assert_int_equal(strlen(tok), REDLOCK_TOKEN_LEN);
    assert_true(fence >= 1);
    assert_true(await_sampled_inproc(&s, leader, fence));
    int other = (leader + 1) % 3;
    assert_int_equal(redlock_election_leader_token(s.e[other], tok,
                                                   sizeof(tok), NULL),
                     REDLOCK_ENOTHELD);
    /* Two hand-overs by resignation, while the sampler watches. */
    unsigned resigned = 0;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(redlock_election_resign(s.e[leader]), REDLOCK_OK);
        assert_false(redlock_election_is_leader(s.e[leader]));
        resigned |= 1u << leader;
        int next = await_leader_except(&s, resigned);
        assert_true(next >= 0);
        uint64_t next_fence = 0;
        assert_int_equal(redlock_election_leader_token(s.e[next], tok,
                                                       sizeof(tok),
                                                       &next_fence),
                         REDLOCK_OK);
        assert_true(next_fence > fence);
        leader = next;
        fence = next_fence;
        assert_true(await_sampled_inproc(&s, leader, fence));
    }
    atomic_store(&s.stop, true);
    pthread_join(s.thread, NULL);
    assert_true(s.nterms >= 3);
    assert_no_two_leaders(s.terms, s.nterms);
    for (int i = 0; i < 3; i++) {
        redlock_election_destroy(s.e[i]);
        redlock_manager_destroy(m[i]);
    }
    /* Only the fence counter is left, one per node: the last leader
     * released the election lock when it was destroyed (deleted it: no
     * key expired). */
    assert_true(rl_await_keys(&c, 3, 5000));
    assert_int_equal(rl_expired_keys(&c), expired);
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
