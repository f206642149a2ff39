/*
 * test_election_fd.c: following an election from an event loop, with real
 * redis-server processes: redlock_election_fd() turns readable on each
 * leadership change (a win, a resignation, a loss), before the callback of
 * that change runs and after the leader flag changed;
 * redlock_election_state_get() reports the change and drains the fd;
 * destroy closes the fd; bad input.
 *
 * Every wait is poll() on the fd or a condition awaited with a generous
 * bound. Only "not readable" is checked with a bounded poll that is
 * expected to time out (nothing can be awaited for an absence).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "rl_test.h"

enum {
    TTL_MS = 1000,
    WAIT_MS = 10000 /* generous bound for every awaited change */
};

/* What the callbacks saw of the fd and the flag when they ran. */
typedef struct seen {
    atomic_int elected;         /* on_elected calls */
    atomic_int demoted;         /* on_demoted calls */
    atomic_int fd_ready_elected; /* the fd was readable inside on_elected */
    atomic_int leader_elected;   /* is_leader() inside on_elected */
    atomic_int fd_ready_demoted; /* ... inside the last on_demoted */
    atomic_int leader_demoted;
    atomic_int why;             /* the last on_demoted's reason */
} seen;

/* Nothing seen yet (-1: the callback has not run). */
static void seen_init(seen *s)
{
    atomic_init(&s->elected, 0);
    atomic_init(&s->demoted, 0);
    atomic_init(&s->fd_ready_elected, -1);
    atomic_init(&s->leader_elected, -1);
    atomic_init(&s->fd_ready_demoted, -1);
    atomic_init(&s->leader_demoted, -1);
    atomic_init(&s->why, -1);
}

/* 1 if fd is readable within timeout_ms, 0 if not, -1 on error. */
static int readable(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int r;
    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    return r > 0 && (p.revents & POLLIN) ? 1 : 0;
}

/* Callbacks: look at the fd without draining it, and at the flag. The
 * test thread drains only after it has seen the callback's count move,
 * so a readable fd here was made readable before the callback ran. */
static void cb_elected(redlock_election *e, uint64_t fence, void *ud)
{
    (void)fence;
    seen *s = ud;
    atomic_store(&s->fd_ready_elected, readable(redlock_election_fd(e), 0));
    atomic_store(&s->leader_elected, redlock_election_is_leader(e));
    atomic_fetch_add(&s->elected, 1);
}

/* on_demoted: as cb_elected, and the reason. */
static void cb_demoted(redlock_election *e, redlock_status why, void *ud)
{
    seen *s = ud;
    atomic_store(&s->fd_ready_demoted, readable(redlock_election_fd(e), 0));
    atomic_store(&s->leader_demoted, redlock_election_is_leader(e));
    atomic_store(&s->why, (int)why);
    atomic_fetch_add(&s->demoted, 1);
}

/* rl_await condition: *count has reached want. */
typedef struct count_at_least {
    atomic_int *count;
    int want;
} count_at_least;

static bool count_reached(void *arg)
{
    count_at_least *c = arg;
    return atomic_load(c->count) >= c->want;
}

/* Wait up to WAIT_MS until *count reaches want; returns whether it did. */
static bool await_count(atomic_int *count, int want)
{
    count_at_least c = {count, want};
    return rl_await(count_reached, &c, WAIT_MS);
}

/* rl_await condition: the election arg is leader. */
static bool is_leader_cond(void *arg)
{
    return redlock_election_is_leader(arg) == 1;
}

/* Sockets among this process's fds. */
static int count_sockets(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[300], target[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        ssize_t len = readlink(path, target, sizeof(target) - 1);
        if (len > 0) {
            target[len] = '\0';
            n += strncmp(target, "socket:", 7) == 0;
        }
    }
    closedir(d);
    return n;
}

/* rl_await condition: at least one socket per node of the cluster arg. */
static bool all_connected(void *arg)
{
    const rl_cluster *c = arg;
    return count_sockets() >= (int)c->n;
}

/* The process's fd count once the manager's workers have connected to
 * every node (they connect in the background after create), so that a
 * later count differs only by what the test made. */
static int settled_fds(rl_cluster *c)
{
    assert_true(rl_await(all_connected, c, WAIT_MS));
    return rl_count_fds();
}

/* Run cmd (argc words) on every node of c; each must answer. */
static void on_all_nodes(rl_cluster *c, int argc, const char **argv)
{
    for (size_t i = 0; i < c->n; i++) {
        char out[64];
        assert_int_equal(rs_command(&c->srv[i], out, sizeof(out), argc,
                                    argv),
                         0);
    }
}

/* The whole life of a loop-followed candidate. e1 (on a second manager)
 * is kept out by a foreign lock: its fd stays unreadable and its state
 * empty. The lock is released: the fd turns readable (on_elected saw it
 * readable and the flag set), the state says leader, fence > 0, changes
 * 1, and the fd is then drained. A second candidate e2 (on the cluster's
 * manager) waits while e1 leads. e1 resigns: its fd is readable
 * (on_demoted saw it so, with the flag cleared), reading 8 bytes drains
 * it (count 1), state: not leader, changes 2, last_demotion OK. e2 wins
 * with a larger fence; its fd is left undrained. The election key is
 * then replaced by a foreign value on every node, so e2's lease is lost
 * and it cannot win again: its fd, readable once for two changes, gives
 * changes 2 (coalesced), not leader, last_demotion not OK (the reason
 * on_demoted got). */
static void test_fd_follows_changes(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    redlock_manager *mb = rl_manager_new(&c, NULL);

    /* Keep every candidate out until we say so. */
    redlock_lock *blocker = NULL;
    assert_int_equal(redlock_acquire(c.m, "election:fdsvc", 30000,
                                     &blocker),
                     REDLOCK_OK);

    seen s1;
    seen_init(&s1);
    redlock_election_callbacks cb = {cb_elected, cb_demoted};
    redlock_election *e1 = NULL;
    assert_int_equal(redlock_election_start(mb, "fdsvc", TTL_MS, &cb, &s1,
                                            &e1),
                     REDLOCK_OK);
    int fd1 = redlock_election_fd(e1);
    assert_true(fd1 >= 0);
    assert_int_equal(redlock_election_fd(e1), fd1);
    /* Several attempts fail meanwhile (retry delay 20 + 10 ms). */
    assert_int_equal(readable(fd1, 300), 0);
    redlock_election_state st;
    memset(&st, 0xa5, sizeof(st));
    assert_int_equal(redlock_election_state_get(e1, &st), REDLOCK_OK);
    assert_int_equal(st.is_leader, 0);
    assert_int_equal(st.fence, 0);
    assert_int_equal(st.changes, 0);
    assert_int_equal(st.last_demotion, REDLOCK_OK);
    assert_true(st.validity_ms <= 0);

    /* Elected. */
    assert_int_equal(redlock_release(blocker), REDLOCK_OK);
    assert_int_equal(readable(fd1, WAIT_MS), 1);
    /* The flag is set by the time the fd is readable. */
    assert_int_equal(redlock_election_is_leader(e1), 1);
    assert_true(await_count(&s1.elected, 1));
    assert_int_equal(atomic_load(&s1.fd_ready_elected), 1);
    assert_int_equal(atomic_load(&s1.leader_elected), 1);
    assert_int_equal(redlock_election_state_get(e1, &st), REDLOCK_OK);
    assert_int_equal(st.is_leader, 1);
    assert_true(st.fence > 0);
    assert_int_equal(st.changes, 1);
    assert_int_equal(st.last_demotion, REDLOCK_OK);
    assert_true(st.validity_ms > 0 && st.validity_ms <= TTL_MS);
    char tok[REDLOCK_TOKEN_LEN + 1];
    uint64_t fence1 = 0;
    assert_int_equal(redlock_election_leader_token(e1, tok, sizeof(tok),
                                                   &fence1),
                     REDLOCK_OK);
    assert_int_equal(st.fence, fence1);
    assert_int_equal(readable(fd1, 0), 0); /* drained */

    /* A second candidate on another manager, kept out while e1 leads. */
    seen s2;
    seen_init(&s2);
    redlock_election *e2 = NULL;
    assert_int_equal(redlock_election_start(c.m, "fdsvc", TTL_MS, &cb, &s2,
                                            &e2),
                     REDLOCK_OK);
    int fd2 = redlock_election_fd(e2);
    assert_true(fd2 >= 0);
    assert_true(fd2 != fd1);
    assert_int_equal(readable(fd2, 300), 0);

    /* e1 resigns: readable by the time resign returns (it joins the
     * thread, which announced the change before on_demoted). */
    assert_int_equal(redlock_election_resign(e1), REDLOCK_OK);
    assert_int_equal(readable(fd1, WAIT_MS), 1);
    assert_int_equal(atomic_load(&s1.demoted), 1);
    assert_int_equal(atomic_load(&s1.fd_ready_demoted), 1);
    assert_int_equal(atomic_load(&s1.leader_demoted), 0);
    assert_int_equal(atomic_load(&s1.why), REDLOCK_OK);
    uint64_t count = 0;
    assert_int_equal(read(fd1, &count, sizeof(count)), (ssize_t)sizeof(count));
    assert_int_equal(count, 1);
    assert_int_equal(readable(fd1, 0), 0); /* drained by read() */
    assert_int_equal(redlock_election_state_get(e1, &st), REDLOCK_OK);
    assert_int_equal(st.is_leader, 0);
    assert_int_equal(st.fence, 0);
    assert_int_equal(st.changes, 2);
    assert_int_equal(st.last_demotion, REDLOCK_OK);
    assert_true(st.validity_ms <= 0);

    /* e2 takes over. */
    assert_int_equal(readable(fd2, WAIT_MS), 1);
    assert_true(await_count(&s2.elected, 1));
    assert_int_equal(atomic_load(&s2.fd_ready_elected), 1);
    assert_int_equal(atomic_load(&s2.leader_elected), 1);
    assert_true(rl_await(is_leader_cond, e2, WAIT_MS));
    uint64_t fence2 = 0;
    assert_int_equal(redlock_election_leader_token(e2, tok, sizeof(tok),
                                                   &fence2),
                     REDLOCK_OK);
    assert_true(fence2 > fence1);

    /* Loss: the key is replaced on every node by a value that is not
     * e2's token, so its next renewal fails on all of them, and its
     * campaign cannot win it back. */
    const char *set[6] = {"SET", "election:fdsvc", "someone-else", "PX",
                          "60000", NULL};
    on_all_nodes(&c, 5, set);
    assert_true(await_count(&s2.demoted, 1));
    assert_int_equal(atomic_load(&s2.fd_ready_demoted), 1);
    assert_int_equal(atomic_load(&s2.leader_demoted), 0);
    assert_int_equal(readable(fd2, 0), 1);
    assert_int_equal(redlock_election_state_get(e2, &st), REDLOCK_OK);
    assert_int_equal(st.is_leader, 0);
    assert_int_equal(st.fence, 0);
    assert_int_equal(st.changes, 2); /* two changes, one wake-up */
    assert_true(st.last_demotion != REDLOCK_OK);
    assert_int_equal(st.last_demotion, atomic_load(&s2.why));
    assert_true(st.validity_ms <= 0);
    assert_int_equal(readable(fd2, 0), 0);

    redlock_election_destroy(e1);
    redlock_election_destroy(e2);
    redlock_manager_destroy(mb);
    rl_cluster_stop(&c);
}

/* A demotion by loss while the loop drains after every change, with a
 * majority of nodes paused (SIGSTOP) rather than the key replaced: the
 * lease cannot renew on a quorum, so the fd turns readable with
 * last_demotion not OK and is_leader 0. */
static void test_fd_loss_by_pause(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    seen s;
    seen_init(&s);
    redlock_election_callbacks cb = {cb_elected, cb_demoted};
    redlock_election *e = NULL;
    assert_int_equal(redlock_election_start(c.m, "pause", TTL_MS, &cb, &s,
                                            &e),
                     REDLOCK_OK);
    int fd = redlock_election_fd(e);
    assert_true(fd >= 0);
    assert_int_equal(readable(fd, WAIT_MS), 1);
    redlock_election_state st;
    assert_int_equal(redlock_election_state_get(e, &st), REDLOCK_OK);
    assert_int_equal(st.changes, 1);
    assert_int_equal(st.is_leader, 1);
    assert_int_equal(readable(fd, 0), 0);

    assert_int_equal(rs_pause(&c.srv[1]), 0);
    assert_int_equal(rs_pause(&c.srv[2]), 0);
    assert_int_equal(readable(fd, WAIT_MS), 1);
    assert_int_equal(redlock_election_is_leader(e), 0);
    assert_int_equal(redlock_election_state_get(e, &st), REDLOCK_OK);
    assert_int_equal(st.is_leader, 0);
    assert_int_equal(st.fence, 0);
    assert_int_equal(st.changes, 2);
    assert_true(st.last_demotion != REDLOCK_OK);
    assert_int_equal(readable(fd, 0), 0);
    /* on_demoted runs after the release, which waits for the paused
     * nodes up to command_timeout_ms; it saw the flag cleared. (Whether
     * it saw the fd readable is checked in test_fd_follows_changes: here
     * the loop may have drained it first.) */
    assert_true(await_count(&s.demoted, 1));
    assert_int_equal(atomic_load(&s.leader_demoted), 0);
    assert_int_equal(atomic_load(&s.why), (int)st.last_demotion);
    assert_int_equal(rs_resume(&c.srv[1]), 0);
    assert_int_equal(rs_resume(&c.srv[2]), 0);
    redlock_election_destroy(e);
    rl_cluster_stop(&c);
}

/* The fd costs nothing until asked for, is one eventfd (non-blocking,
 * close-on-exec) afterwards, is readable at once when asked for after a
 * win that no state call returned, and destroy closes it: the process's
 * fd count goes back to where it was. */
static void test_fd_lifetime(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, NULL), 0);
    int before = settled_fds(&c);
    assert_true(before > 0);

    /* Never asked for: no fd. */
    redlock_election *e = NULL;
    assert_int_equal(redlock_election_start(c.m, "life", TTL_MS, NULL, NULL,
                                            &e),
                     REDLOCK_OK);
    assert_true(rl_await(is_leader_cond, e, WAIT_MS));
    assert_int_equal(rl_count_fds(), before);
    redlock_election_destroy(e);
    assert_int_equal(rl_count_fds(), before);

    /* Asked for after the win: readable at once, and one fd more. */
    assert_int_equal(redlock_election_start(c.m, "life", TTL_MS, NULL, NULL,
                                            &e),
                     REDLOCK_OK);
    assert_true(rl_await(is_leader_cond, e, WAIT_MS));
    int fd = redlock_election_fd(e);
    assert_true(fd >= 0);
    assert_int_equal(rl_count_fds(), before + 1);
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0 && (fl & O_NONBLOCK));
    int fdfl = fcntl(fd, F_GETFD);
    assert_true(fdfl >= 0 && (fdfl & FD_CLOEXEC));
    assert_int_equal(readable(fd, 0), 1);
    redlock_election_state st;
    assert_int_equal(redlock_election_state_get(e, &st), REDLOCK_OK);
    assert_int_equal(st.changes, 1);
    assert_int_equal(readable(fd, 0), 0);
    /* A state call drained it already; nothing for read(). */
    uint64_t count;
    assert_int_equal(read(fd, &count, sizeof(count)), -1);
    assert_int_equal(errno, EAGAIN);
    redlock_election_destroy(e);
    assert_int_equal(rl_count_fds(), before);

    /* Asked for while campaigning, never drained, destroyed as leader. */
    assert_int_equal(redlock_election_start(c.m, "life", TTL_MS, NULL, NULL,
                                            &e),
                     REDLOCK_OK);
    fd = redlock_election_fd(e);
    assert_true(fd >= 0);
    assert_int_equal(readable(fd, WAIT_MS), 1);
    
    assert_int_equal(rl_count_fds(), before + 1);
    redlock_election_destroy(e);
    assert_int_equal(rl_count_fds(), before);
    rl_cluster_stop(&c);
}

/* Bad input: clear statuses, and nothing made. */
static void test_fd_bad_input(void **state)
{
    (void)state;
    errno = 0;
    assert_int_equal(redlock_election_fd(NULL), -1);
    assert_int_equal(errno, EINVAL);
    redlock_election_state st;
    assert_int_equal(redlock_election_state_get(NULL, &st), REDLOCK_EINVAL);

    /* Not an election (its magic number does not match). */
    static _Alignas(64) unsigned char fake[4096];
    redlock_election *bogus = (redlock_election *)(void *)fake;
    errno = 0;
    assert_int_equal(redlock_election_fd(bogus), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(redlock_election_state_get(bogus, &st),
                     REDLOCK_EMISUSE);

    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 1, NULL), 0);
    int before = settled_fds(&c);
    redlock_election *e = NULL;
    assert_int_equal(redlock_election_start(c.m, "bad", TTL_MS, NULL, NULL,
                                            &e),
                     REDLOCK_OK);
    assert_int_equal(redlock_election_state_get(e, NULL), REDLOCK_EINVAL);
    assert_int_equal(rl_count_fds(), before); /* no fd was made */
    redlock_election_destroy(e);
    rl_cluster_stop(&c);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_follows_changes),
        cmocka_unit_test(test_fd_loss_by_pause),
        cmocka_unit_test(test_fd_lifetime),
        cmocka_unit_test(test_fd_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
