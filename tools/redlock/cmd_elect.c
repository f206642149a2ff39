/*
 * cmd_elect.c: `redlock elect NAME -- CMD [ARGS...]`: campaign for
 * leadership of NAME and run CMD only while leader.
 *
 * DESIGN. The library's election thread campaigns and keeps the
 * leadership lock with a lease; its callbacks only post events to the
 * pipe (events.c), and the main thread's poll() loop does the rest, so
 * forking and waiting never happen on the election's thread:
 *
 *   elected            start CMD with REDLOCK_TOKEN and REDLOCK_FENCE (the
 *                      term's token and fencing number), unless a CMD from
 *                      the previous term is still being stopped: then it
 *                      starts once that one is gone.
 *   demoted            SIGTERM to CMD's process group, SIGKILL after
 *                      --grace; the election campaigns again by itself.
 *   CMD exits by       step down (releasing the lock, so another candidate
 *   itself             takes over within a retry delay) and exit with
 *                      CMD's status.
 *   signals            forwarded to CMD while it runs (it then usually
 *                      exits "by itself"); with no CMD running, SIGINT,
 *                      SIGTERM, SIGHUP and SIGQUIT make us step down and
 *                      exit with 128+N.
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

/* State of one elect run. */
typedef struct elect_run {
    const cli_args *a;
    const char *path; /* CMD, resolved */
    redlock_manager *m;
    redlock_election *e;
    cli_child child;
    int active;    /* CMD (or what is left of its group) runs */
    int pending;   /* elected while the last CMD was stopping */
    int exit_code; /* >= 0 once we should exit */
} elect_run;

/* on_elected: runs on the election's thread; only posts an event. */
static void on_elected(redlock_election *e, uint64_t fence, void *userdata)
{
    (void)e;
    (void)userdata;
    cli_events_post(CLI_EV_ELECTED, 0, fence);
}

/* on_demoted: runs on the election's thread; only posts an event. */
static void on_demoted(redlock_election *e, redlock_status why, void *userdata)
{
    (void)e;
    (void)userdata;
    cli_events_post(CLI_EV_DEMOTED, (int)why, 0);
}

/* Start CMD for the term we hold now. If we are no longer leader by the
 * time the event is handled, do nothing: a demotion event follows. */
static void start_term(elect_run *r)
{
    char token[REDLOCK_TOKEN_LEN + 1];
    char tok[sizeof("REDLOCK_TOKEN=") + REDLOCK_TOKEN_LEN];
    char fen[sizeof("REDLOCK_FENCE=") + 24];
    const char *set[2] = {tok, fen};
    uint64_t fence = 0;
    char **env;
    int rc;

    r->pending = 0;
    if (redlock_election_leader_token(r->e, token, sizeof(token), &fence) !=
        REDLOCK_OK) {
        cli_log("elected, but no longer leader of %s", r->a->operands[0]);
        return;
    }
    snprintf(tok, sizeof(tok), "REDLOCK_TOKEN=%s", token);
    snprintf(fen, sizeof(fen), "REDLOCK_FENCE=%" PRIu64, fence);
    env = cli_env_build(set, 2, NULL, 0);
    if (env == NULL) {
        cli_error("elect: out of memory");
        r->exit_code = CLI_EXIT_UNAVAILABLE;
        return;
    }
    cli_notice("elect: leader of %s (fence %" PRIu64 "); starting %s",
               r->a->operands[0], fence, r->a->program[0]);
    fflush(NULL);
    rc = cli_child_start(&r->child, r->path, r->a->program, env);
    cli_env_free(env);
    if (rc != 0) {
        r->exit_code = rc; /* CMD cannot run: it "exited by itself" */
        return;
    }
    r->active = 1;
}

/* Handle the events in the pipe. */
static void drain_events(elect_run *r)
{
    cli_event ev;

    while (r->exit_code < 0 && cli_events_next(&ev)) {
        switch (ev.kind) {
        case CLI_EV_ELECTED:
            if (r->active)
                r->pending = 1;
            else
                start_term(r);
            break;
        case CLI_EV_DEMOTED:
            r->pending = 0;
            cli_notice("elect: no longer leader of %s (%s)", r->a->operands[0],
                       redlock_strerror((redlock_status)ev.arg));
            if (r->active && !r->child.stopping) {
                cli_notice("elect: stopping %s", r->a->program[0]);
                cli_child_terminate(&r->child, r->a->grace_ms);
            }
            break;
        case CLI_EV_SIGNAL:
            if (ev.arg == SIGCHLD)
                break;
            if (r->active) {
                cli_log("forwarding %s to %s", strsignal(ev.arg),
                        r->a->program[0]);
                cli_child_signal(&r->child, ev.arg);
            } else if (ev.arg == SIGINT || ev.arg == SIGTERM ||
                       ev.arg == SIGHUP || ev.arg == SIGQUIT) {
                cli_log("%s: stepping down", strsignal(ev.arg));
                cli_json_done(); /* asked to stop: not an error */
                r->exit_code = 128 + ev.arg;
            }
            break;
        default:
            break;
        }
    }
}

/* After a wake-up: reap CMD and decide what its exit means. */
static void check_child(elect_run *r)
{
    if (!r->active)
        return;
    if (cli_child_reap(&r->child)) {
        int status = cli_exit_for_wait_status(r->child.wstatus);

        if (!r->child.stopping) {
            cli_notice("elect: %s exited with status %d; stepping down",
                       r->a->program[0], status);
            cli_json_done(); /* CMD ran to its end: stdout is CMD's */
            r->active = 0;
            r->exit_code = status;
            return;
        }
        cli_log("%s stopped (status %d)", r->a->program[0], status);
    }
    cli_child_tick(&r->child, redlock_clock_us());
    if (r->child.pid == 0 && r->child.stopping &&
        (r->child.kill_at_us == 0 || !cli_child_group_alive(&r->child))) {
        r->active = 0;
        if (r->pending)
            start_term(r);
    }
}

/* While not leader: if so many nodes are down that no quorum can be
 * won, say why we cannot campaign (the nodes' own lines come from
 * nodes.c), at most every CLI_NODE_REPORT_EVERY_US. The campaign goes
 * on: the nodes may come back, or the password file be fixed and the
 * service restarted. */
static void check_campaign(elect_run *r)
{
    size_t n = redlock_manager_node_count(r->m);
    size_t quorum = redlock_manager_quorum(r->m);
    redlock_status worst;
    size_t down;
    char key[64];

    if (redlock_election_is_leader(r->e))
        return;
    down = cli_nodes_report_down(r->m, &worst);
    if (down <= n - quorum)
        return;
    snprintf(key, sizeof(key), "elect: campaign");
    if (cli_is_config_status(worst))
        cli_report_limited(key, worst,
                           "elect: cannot campaign for %s: %zu of %zu nodes "
                           "down, a quorum is %zu (%s: %s); still trying",
                           r->a->operands[0], down, n, quorum,
                           cli_status_short_name(worst),
                           cli_config_hint(worst));
    else
        cli_report_limited(key, worst,
                           "elect: cannot campaign for %s: %zu of %zu nodes "
                           "down, a quorum is %zu; still trying",
                           r->a->operands[0], down, n, quorum);
}

/* The loop: until CMD exits by itself or a signal ends a campaign. */
static void run_loop(elect_run *r)
{
    while (r->exit_code < 0) {
        struct pollfd pfd = {cli_events_fd(), POLLIN, 0};
        uint64_t now = redlock_clock_us();
        int timeout = -1;

        if (!r->active) {
            check_campaign(r);
            timeout = 1000; /* look again while not leader */
        }
        if (r->active && r->child.kill_at_us != 0) {
            uint64_t at = r->child.kill_at_us;
            timeout = at <= now ? 0 : (int)((at - now + 999u) / 1000u);
        }
        if (r->active && r->child.pid == 0 && r->child.stopping &&
            (timeout < 0 || timeout > 50))
            timeout = 50; /* watch the rest of the group leave */
        if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) {
            cli_error("elect: poll: %s", strerror(errno));
            r->exit_code = CLI_EXIT_UNAVAILABLE;
            break;
        }
        drain_events(r);
        check_child(r);
    }
}

/* Stop what is left of CMD's group before stepping down: SIGTERM, then
 * SIGKILL after --grace (used when leaving for another reason than CMD's
 * own exit, such as an internal error). */
static void stop_child(elect_run *r)
{
    if (!r->active)
        return;
    cli_child_terminate(&r->child, r->a->grace_ms);
    while (r->active) {
        struct pollfd pfd = {cli_events_fd(), POLLIN, 0};
        cli_event ev;

        (void)poll(&pfd, 1, 50);
        while (cli_events_next(&ev))
            ;
        (void)cli_child_reap(&r->child);
        cli_child_tick(&r->child, redlock_clock_us());
        if (r->child.pid == 0 &&
            (r->child.kill_at_us == 0 || !cli_child_group_alive(&r->child)))
            r->active = 0;
    }
}

/* ------------------------------------------------------------------------
 * elect --listen: watch the leader without campaigning
 * ------------------------------------------------------------------------ */

/* What a listener compares to tell a change: the outcome, and who leads
 * (owner and term), and the fence. */
typedef struct leader_seen {
    redlock_status st;
    int held;
    char owner[REDLOCK_OWNER_MAX + 1];
    char term[sizeof(((redlock_leader_view *)0)->token_prefix)];
    uint64_t fence;
} leader_seen;

/* Reduce a reading to what counts as a change. */
static void leader_key(redlock_status st, const redlock_leader_view *v,
                       leader_seen *k)
{
    memset(k, 0, sizeof(*k));
    k->st = st;
    if (st != REDLOCK_OK)
        return;
    k->held = v->held;
    k->fence = v->fence;
    if (v->held) {
        snprintf(k->owner, sizeof(k->owner), "%s", v->owner);
        snprintf(k->term, sizeof(k->term), "%s", v->token_prefix);
    }
}

/* Print one reading: a line for humans, or one JSON object. */
static void print_leader(const cli_args *a, redlock_status st,
                         const redlock_leader_view *v)
{
    const char *name = a->operands[0];

    if (a->json) {
        fputs("{\"name\":", stdout);
        cli_json_string(stdout, name, strlen(name));
        printf(",\"status\":\"%s\"", cli_status_short_name(st));
        if (st == REDLOCK_OK) {
            printf(",\"held\":%s,\"owner\":", v->held ? "true" : "false");
            if (v->held && v->owner[0] != '\0')
                cli_json_string(stdout, v->owner, strlen(v->owner));
            else
                fputs("null", stdout);
            fputs(",\"term\":", stdout);
            if (v->held)
                cli_json_string(stdout, v->token_prefix,
                                strlen(v->token_prefix));
            else
                fputs("null", stdout);
            printf(",\"fence\":%" PRIu64 ",\"ttl_ms\":%lld,"
                   "\"nodes_agreeing\":%zu",
                   v->fence, (long long)v->ttl_ms, v->nodes_agreeing);
        }
        fputs("}\n", stdout);
    } else if (st != REDLOCK_OK) {
        printf("leader of ");
        cli_print_escaped(stdout, name, strlen(name));
        printf(": unknown (%s)\n", redlock_strerror(st));
    } else if (v->held) {
        printf("leader of ");
        cli_print_escaped(stdout, name, strlen(name));
        fputs(": ", stdout);
        if (v->owner[0] != '\0')
            cli_print_escaped(stdout, v->owner, strlen(v->owner));
        else
            fputs("(no owner label)", stdout);
        printf(", fence %" PRIu64 ", term %s (ttl %lld ms, on %zu nodes)\n",
               v->fence, v->token_prefix, (long long)v->ttl_ms,
               v->nodes_agreeing);
    } else {
        printf("no leader of ");
        cli_print_escaped(stdout, name, strlen(name));
        printf(" (fence %" PRIu64 ")\n", v->fence);
    }
    fflush(stdout); /* one line per change, as it happens */
}

/* Run `elect NAME --listen`: read the leader every
 * CLI_LISTEN_INTERVAL_MS and print it when it changes, until SIGINT,
 * SIGTERM, SIGHUP or SIGQUIT (exit 0: the way a listener ends). */
static int listen_loop(const cli_args *a)
{
    redlock_manager *m = NULL;
    leader_seen last;
    int have_last = 0;
    int rc = cli_session_open(a, &m);

    if (rc != 0)
        return rc;
    if (cli_events_init() != 0) {
        cli_error("elect: cannot set up: %s", strerror(errno));
        redlock_manager_destroy(m);
        return CLI_EXIT_UNAVAILABLE;
    }
    cli_nodes_live(1);
    for (;;) {
        struct pollfd pfd = {cli_events_fd(), POLLIN, 0};
        redlock_leader_view v;
        leader_seen now;
        cli_event ev;
        redlock_status st = redlock_election_observe(m, a->operands[0], &v);

        if (st != REDLOCK_OK && st != REDLOCK_ENOQUORUM) {
            cli_error("elect: cannot watch %s: %s", a->operands[0],
                      redlock_strerror(st));
            rc = cli_exit_for_status(st);
            break;
        }
        leader_key(st, &v, &now);
        if (!have_last || memcmp(&now, &last, sizeof(now)) != 0) {
            print_leader(a, st, &v);
            last = now;
            have_last = 1;
        }
        if (poll(&pfd, 1, CLI_LISTEN_INTERVAL_MS) < 0 && errno != EINTR) {
            cli_error("elect: poll: %s", strerror(errno));
            rc = CLI_EXIT_UNAVAILABLE;
            break;
        }
        while (cli_events_next(&ev)) {
            if (ev.kind == CLI_EV_SIGNAL &&
                (ev.arg == SIGINT || ev.arg == SIGTERM || ev.arg == SIGHUP ||
                 ev.arg == SIGQUIT)) {
                cli_log("%s: done listening", strsignal(ev.arg));
                cli_json_done(); /* the lines printed are the result */
                redlock_manager_destroy(m);
                return CLI_EXIT_OK;
            }
        }
    }
    redlock_manager_destroy(m);
    return rc;
}

/* Run `elect`; returns the exit status. */
int cli_cmd_elect(const cli_args *a)
{
    const char *name = a->operands[0];
    redlock_election_callbacks cb = {on_elected, on_demoted};
    redlock_manager *m = NULL;
    char *path = NULL;
    elect_run r;
    redlock_status st;
    int rc = cli_check_resource("elect", name);

    if (rc != 0)
        return rc;
    if (a->listen)
        return listen_loop(a);
    memset(&r, 0, sizeof(r));
    r.a = a;
    r.exit_code = -1;
    path = cli_find_program(a->program[0]);
    if (path == NULL) {
        int e = errno;
        cli_error("elect: %s: %s", a->program[0],
                  e == ENOENT ? "command not found" : strerror(e));
        return e == ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_CANNOT_RUN;
    }
    r.path = path;
    rc = cli_session_open(a, &m);
    if (rc != 0)
        goto out;
    if (cli_events_init() != 0) {
        cli_error("elect: cannot set up: %s", strerror(errno));
        rc = CLI_EXIT_UNAVAILABLE;
        goto out;
    }
    st = redlock_election_start(m, name, a->ttl_ms, &cb, NULL, &r.e);
    if (st == REDLOCK_ETTLSHORT) {
        cli_ttl_too_short("elect", a->ttl_ms);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if (st != REDLOCK_OK) {
        cli_error("elect: cannot campaign for %s: %s", name,
                  redlock_strerror(st));
        rc = cli_exit_for_status(st);
        goto out;
    }
    cli_log("campaigning for leadership of %s", name);
    r.m = m;
    cli_nodes_live(1); /* node failures are printed as they happen */
    run_loop(&r);
    stop_child(&r);
    rc = r.exit_code;
    st = redlock_election_resign(r.e);
    if (st != REDLOCK_OK)
        cli_log("stepping down from %s: %s", name, redlock_strerror(st));
    redlock_election_destroy(r.e);
out:
    redlock_manager_destroy(m);
    free(path);
    return rc;
}
