/*
 * cmd_exec.c: `redlock exec RESOURCE -- CMD [ARGS...]`: run CMD while
 * holding the lock, kept alive by a lease, and release it when CMD exits.
 *
 * DESIGN. After the lock is acquired (with --wait), a fencing number is
 * drawn for REDLOCK_FENCE, the lock is handed to a lease, and CMD is
 * started (child.c). The main thread then sits in one poll() on the event
 * pipe (signals, events.c) and the lease's fd, and decides everything
 * there:
 *
 *   CMD exits          stop the lease, which releases the lock; exit with
 *                      CMD's status (128+N if killed by signal N).
 *   lease lost         SIGTERM to CMD's process group, SIGKILL after
 *                      --grace; once the group is gone, exit 3.
 *   SIGINT, SIGTERM,   forwarded to CMD's process group; CMD decides.
 *   SIGHUP, SIGQUIT,
 *   SIGUSR1, SIGUSR2
 *
 * Stopping CMD before the lock's validity ends. The library signals a loss
 * no later than the end of the validity; by then CMD must already be
 * stopped, or it runs unprotected for a moment. So the tool does not wait
 * for the loss: it treats the lease as lost once less than a margin of
 * validity is left without a renewal, margin = min(--grace, threshold/2),
 * where threshold (--ttl/3) is how much validity is left when the lease
 * starts renewing. Half the renewal window stays for retries, and CMD gets
 * SIGTERM while the lock still protects it (with the default 30s TTL and
 * 5s grace: 5s before the end).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Milliseconds from now_us until at_us, rounded up, for poll(); 0 if it
 * has passed. */
static int ms_until(uint64_t now_us, uint64_t at_us)
{
    uint64_t ms;

    if (at_us <= now_us)
        return 0;
    ms = (at_us - now_us + 999u) / 1000u;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* The smaller of two poll() timeouts, where -1 means none. */
static int min_timeout(int a, int b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* State of one exec run. */
typedef struct exec_run {
    const cli_args *a;
    redlock_lease *lease;
    cli_child child;
    uint64_t margin_us;     /* stop CMD this long before validity ends */
    uint32_t renewals_seen; /* for -v logging */
    int lost;               /* the lock is (treated as) lost */
} exec_run;

/* Check the lease: lost, or about to run out without a renewal? Then stop
 * CMD. Returns the poll() timeout until the next check is due. */
static int check_lease(exec_run *r, uint64_t now)
{
    const redlock_lock *l = redlock_lease_lock(r->lease);
    uint64_t end = redlock_lock_validity_end_us(l);
    uint32_t renewals = redlock_lease_renewals(r->lease);
    int timeout;

    if (renewals != r->renewals_seen) {
        r->renewals_seen = renewals;
        cli_log("renewed %s (renewal %" PRIu32 "): validity %lld ms",
                r->a->operands[0], renewals,
                (long long)redlock_lock_validity_ms(l));
    }
    if (redlock_lease_lost(r->lease) || end <= now + r->margin_us) {
        redlock_status why = redlock_lease_status(r->lease);

        r->lost = 1;
        cli_error("exec: lost the lock on %s (%s); stopping %s",
                  r->a->operands[0],
                  why != REDLOCK_OK
                      ? redlock_strerror(why)
                      : "it could not be renewed before its validity ends",
                  r->a->program[0]);
        cli_child_terminate(&r->child, r->a->grace_ms);
        return 0;
    }
    timeout = ms_until(now, end - r->margin_us);
    if (cli_verbosity >= 1)
        timeout = min_timeout(timeout, 500); /* timely renewal logs */
    return timeout;
}

/* Handle what the event pipe brought: forward signals to CMD. */
static void drain_events(exec_run *r)
{
    cli_event ev;

    while (cli_events_next(&ev)) {
        if (ev.kind != CLI_EV_SIGNAL || ev.arg == SIGCHLD)
            continue; /* SIGCHLD: the loop reaps anyway */
        if (cli_events_is_forwarded(ev.arg)) {
            cli_log("forwarding %s to %s", strsignal(ev.arg), r->a->program[0]);
            cli_child_signal(&r->child, ev.arg);
        }
    }
}

/* The loop: wait for CMD to exit or the lease to be lost. Returns when
 * CMD has exited and, after a loss, its whole group is gone. */
static void run_loop(exec_run *r)
{
    for (;;) {
        uint64_t now = redlock_clock_us();
        struct pollfd fds[2];
        nfds_t nfds = 1;
        int timeout = -1;

        if (!r->lost)
            timeout = check_lease(r, now);
        if (r->child.pid == 0) {
            /* CMD has exited. Without a loss we are done; after one,
             * wait until nothing of its group is left, or SIGKILL was
             * sent to it. */
            if (!r->lost || r->child.kill_at_us == 0 ||
                !cli_child_group_alive(&r->child))
                return;
            timeout = min_timeout(timeout, 50);
        }
        if (r->child.kill_at_us != 0)
            timeout = min_timeout(timeout, ms_until(now, r->child.kill_at_us));

        fds[0].fd = cli_events_fd();
        fds[0].events = POLLIN;
        if (!r->lost) {
            fds[1].fd = redlock_lease_fd(r->lease);
            fds[1].events = POLLIN;
            nfds = 2;
        }
        if (poll(fds, nfds, timeout) < 0 && errno != EINTR) {
            cli_error("exec: poll: %s", strerror(errno));
            /* Cannot watch anything: stop CMD as if the lease were lost,
             * which is the safe side. */
            r->lost = 1;
            cli_child_terminate(&r->child, r->a->grace_ms);
        }
        drain_events(r);
        if (cli_child_reap(&r->child))
            cli_log("%s exited with status %d", r->a->program[0],
                    cli_exit_for_wait_status(r->child.wstatus));
        cli_child_tick(&r->child, redlock_clock_us());
    }
}

/* Build CMD's environment: REDLOCK_TOKEN, and REDLOCK_FENCE when there is
 * a fencing number (an inherited one is removed otherwise). */
static char **exec_env(const char *token, int have_fence, uint64_t fence)
{
    char tok[sizeof("REDLOCK_TOKEN=") + REDLOCK_TOKEN_LEN];
    char fen[sizeof("REDLOCK_FENCE=") + 24];
    const char *set[2] = {tok, fen};
    const char *unset[1] = {"REDLOCK_FENCE"};

    snprintf(tok, sizeof(tok), "REDLOCK_TOKEN=%s", token);
    snprintf(fen, sizeof(fen), "REDLOCK_FENCE=%" PRIu64, fence);
    return cli_env_build(set, have_fence ? 2 : 1, unset, have_fence ? 0 : 1);
}

/* Run `exec`; returns the exit status. */
int cli_cmd_exec(const cli_args *a)
{
    const char *res = a->operands[0];
    redlock_manager *m = NULL;
    redlock_lock *lock = NULL;
    redlock_lease_options lo;
    char **env = NULL;
    char *path = NULL;
    uint64_t fence = 0;
    int have_fence;
    exec_run r;
    redlock_status st;
    int rc = cli_check_resource("exec", res);

    if (rc != 0)
        return rc;
    memset(&r, 0, sizeof(r));
    r.a = a;
    path = cli_find_program(a->program[0]);
    if (path == NULL) {
        int e = errno;
        cli_error("exec: %s: %s", a->program[0],
                  e == ENOENT ? "command not found" : strerror(e));
        return e == ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_CANNOT_RUN;
    }
    rc = cli_session_open(a, &m);
    if (rc != 0)
        goto out;
    /* Not acquired: exit with its status, which --conflict-exit-code 0
     * makes 0 for a lock held elsewhere ("skip quietly"); CMD never runs. */
    if (cli_acquire_wait(m, a, &lock, &rc) != CLI_ACQUIRED)
        goto out;

    st = redlock_fence_next(lock, &fence);
    have_fence = st == REDLOCK_OK;
    if (!have_fence)
        cli_log("no fencing number for %s: %s", res, redlock_strerror(st));

    redlock_lease_options_init(&lo);
    lo.ttl_ms = a->ttl_ms;
    lo.renew_threshold_ms = a->ttl_ms / 3 > 0 ? a->ttl_ms / 3 : 1;
    r.margin_us = a->grace_ms * 1000u;
    if (r.margin_us > (uint64_t)lo.renew_threshold_ms * 500u)
        r.margin_us = (uint64_t)lo.renew_threshold_ms * 500u;
    st = redlock_lease_start(lock, &lo, &r.lease);
    if (st != REDLOCK_OK) {
        cli_error("exec: cannot keep the lock on %s: %s", res,
                  redlock_strerror(st));
        redlock_release(lock);
        lock = NULL;
        /* CMD never ran: not "lost" (3), which says CMD was stopped. */
        rc = cli_exit_for_status(st);
        goto out;
    }
    lock = NULL; /* the lease owns it now */

    env = exec_env(redlock_lock_token(redlock_lease_lock(r.lease)), have_fence,
                   fence);
    if (env == NULL || cli_events_init() != 0) {
        cli_error("exec: cannot set up: %s", strerror(errno));
        rc = CLI_EXIT_UNAVAILABLE;
        goto stop;
    }
    fflush(NULL); /* nothing buffered may be written twice after fork */
    rc = cli_child_start(&r.child, path, a->program, env);
    if (rc != 0)
        goto stop;
    cli_log("started %s (pid %ld) holding %s", a->program[0], (long)r.child.pid,
            res);

    run_loop(&r);
    rc = r.lost ? CLI_EXIT_LOST : cli_exit_for_wait_status(r.child.wstatus);
    if (r.lost)
        cli_note_status(REDLOCK_ELOST);
    else
        cli_json_done(); /* CMD ran to its end: stdout is CMD's */
stop:
    st = redlock_lease_stop(r.lease, NULL); /* releases the lock */
    if (!r.lost && st != REDLOCK_OK)
        cli_notice("exec: could not release %s: %s (it expires within "
                   "its TTL)",
                   res, redlock_strerror(st));
    else if (st == REDLOCK_OK)
        cli_log("released %s", res);
out:
    cli_env_free(env);
    redlock_lock_free(lock);
    redlock_manager_destroy(m);
    free(path);
    return rc;
}
