/*
 * nodes.c: telling the user, without -v, why nodes fail: one line per
 * failing node and reason on stderr,
 *
 *   redlock: node 10.0.0.2:6379: node refused authentication or
 *   permission (EAUTH): handshake refused: WRONGPASS invalid ...
 *
 * at most once per node and reason every CLI_NODE_REPORT_EVERY_US, so
 * that a journal (cron mail, systemd) shows a misconfiguration at once
 * without filling up with it.
 *
 * DESIGN. The library says why a node is down through the manager's
 * node_error_fn (on each change, on that node's worker thread) and what
 * each node said in an acquire attempt through
 * redlock_acquire_info.node_status. The callback only records the
 * latest reason and message per node (under a mutex), and prints it too
 * while "live" reporting is on (a command waiting for a lock, or an
 * election; turning it on prints the nodes already down, since the
 * library will not report them again); the main thread prints a failed
 * attempt's nodes, and elect
 * the nodes still down, through the same rate limit. Rejected: printing
 * every callback (a flapping node would flood the journal) and printing
 * only with -v (the reason the tool exists: a wrong password used to
 * look like "quorum unreachable" and nothing else).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Longest node name and message kept. */
#define NODE_NAME_MAX 160
#define NODE_MSG_MAX 200
/* Reports remembered for the rate limit (node x reason pairs); the
 * oldest is reused when full. */
#define REPORTS_MAX 128

/* What the library last said about one node. */
typedef struct node_state {
    char name[NODE_NAME_MAX];
    redlock_status st; /* REDLOCK_OK: up (or never reported) */
    char msg[NODE_MSG_MAX];
} node_state;

/* When a line about (key, st) was last printed. */
typedef struct report {
    char key[NODE_NAME_MAX];
    redlock_status st;
    uint64_t at_us;
} report;

static struct {
    pthread_mutex_t mu;
    node_state nodes[REDLOCK_NODES_MAX];
    size_t node_count;
    report reports[REPORTS_MAX];
    size_t report_count;
    int live;
} g = {PTHREAD_MUTEX_INITIALIZER,
       {{"", REDLOCK_OK, ""}},
       0,
       {{"", REDLOCK_OK, 0}},
       0,
       0};

/* The state of node name, added if new; NULL if the table is full.
 * Called with g.mu held. */
static node_state *state_of(const char *name)
{
    for (size_t i = 0; i < g.node_count; i++)
        if (strcmp(g.nodes[i].name, name) == 0)
            return &g.nodes[i];
    if (g.node_count == REDLOCK_NODES_MAX)
        return NULL;
    node_state *s = &g.nodes[g.node_count++];
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->st = REDLOCK_OK;
    s->msg[0] = '\0';
    return s;
}

/* 1 if a line about (key, st) may be printed now, recording that it is;
 * 0 if one was printed less than CLI_NODE_REPORT_EVERY_US ago. Called
 * with g.mu held. */
static int may_report(const char *key, redlock_status st, uint64_t now)
{
    report *r = NULL;

    for (size_t i = 0; i < g.report_count; i++)
        if (g.reports[i].st == st && strcmp(g.reports[i].key, key) == 0)
            r = &g.reports[i];
    if (r != NULL && now - r->at_us < CLI_NODE_REPORT_EVERY_US)
        return 0;
    if (r == NULL && g.report_count < REPORTS_MAX) {
        r = &g.reports[g.report_count++];
    } else if (r == NULL) {
        r = &g.reports[0]; /* the oldest */
        for (size_t i = 1; i < REPORTS_MAX; i++)
            if (g.reports[i].at_us < r->at_us)
                r = &g.reports[i];
    }
    snprintf(r->key, sizeof(r->key), "%s", key);
    r->st = st;
    r->at_us = now;
    return 1;
}

/* Print one node's line if the rate limit allows. msg may be "" or
 * NULL. Called with g.mu held (so lines are whole and counted once). */
static void report_node(const char *name, redlock_status st, const char *msg,
                        uint64_t now)
{
    if (!may_report(name, st, now))
        return;
    if (msg != NULL && msg[0] != '\0')
        fprintf(stderr, "redlock: node %s: %s (%s): %s\n", name,
                redlock_strerror(st), cli_status_short_name(st), msg);
    else
        fprintf(stderr, "redlock: node %s: %s (%s)\n", name,
                redlock_strerror(st), cli_status_short_name(st));
}

/* node_error_fn: record, and print while live. Any worker thread. */
static void on_node_error(const char *node, redlock_status st,
                          const char *message, void *userdata)
{
    (void)userdata;
    pthread_mutex_lock(&g.mu);
    node_state *s = state_of(node);
    if (s != NULL) {
        s->st = st;
        snprintf(s->msg, sizeof(s->msg), "%s", message != NULL ? message : "");
    }
    if (st != REDLOCK_OK && g.live)
        report_node(node, st, message, redlock_clock_us());
    pthread_mutex_unlock(&g.mu);
}

/* The last message about node name if its last status is st; see
 * cli.h. */
int cli_nodes_message(const char *name, redlock_status st, char *out,
                      size_t len)
{
    int found = 0;

    out[0] = '\0';
    pthread_mutex_lock(&g.mu);
    for (size_t i = 0; i < g.node_count; i++)
        if (strcmp(g.nodes[i].name, name) == 0 && g.nodes[i].st == st) {
            snprintf(out, len, "%s", g.nodes[i].msg);
            found = 1;
        }
    pthread_mutex_unlock(&g.mu);
    return found;
}

/* Hook the reports into the manager's options; see cli.h. */
void cli_nodes_hook(redlock_options *o)
{
    o->node_error_fn = on_node_error;
    o->node_error_userdata = NULL;
}

/* Turn live reporting on or off; see cli.h. */
void cli_nodes_live(int on)
{
    pthread_mutex_lock(&g.mu);
    if (on && !g.live) {
        /* A node may have failed after the last attempt's report (which
         * saw it still pending) and before now: say so here, or no one
         * will (the library reports each change once). */
        uint64_t now = redlock_clock_us();

        for (size_t i = 0; i < g.node_count; i++)
            if (g.nodes[i].st != REDLOCK_OK)
                report_node(g.nodes[i].name, g.nodes[i].st, g.nodes[i].msg,
                            now);
    }
    g.live = on;
    pthread_mutex_unlock(&g.mu);
}

/* 1 for a node status that is an error of that node, not an answer. */
static int is_node_error(redlock_status st)
{
    return st != REDLOCK_OK && st != REDLOCK_ETAKEN && st != REDLOCK_EPENDING;
}

/* Report the failing nodes of an attempt; see cli.h. */
size_t cli_nodes_report_attempt(redlock_manager *m,
                                const redlock_acquire_info *info)
{
    size_t n = redlock_manager_node_count(m);
    size_t failing = 0;
    uint64_t now = redlock_clock_us();

    if (info->attempts == 0)
        return 0;
    pthread_mutex_lock(&g.mu);
    for (size_t i = 0; i < n && i < REDLOCK_NODES_MAX; i++) {
        redlock_status st = info->node_status[i];
        const char *name = redlock_manager_node_name(m, i);
        node_state *s;

        if (!is_node_error(st))
            continue;
        failing++;
        s = state_of(name);
        report_node(name, st, s != NULL && s->st == st ? s->msg : NULL, now);
    }
    pthread_mutex_unlock(&g.mu);
    return failing;
}

/* Report misconfigured nodes after a success; see cli.h. */
size_t cli_nodes_report_config(redlock_manager *m,
                               const redlock_acquire_info *info)
{
    size_t n = redlock_manager_node_count(m);
    size_t bad = 0;
    uint64_t now = redlock_clock_us();

    pthread_mutex_lock(&g.mu);
    for (size_t i = 0; i < n && i < REDLOCK_NODES_MAX; i++) {
        const char *name = redlock_manager_node_name(m, i);
        node_state *s = state_of(name);
        redlock_status st = info != NULL && info->attempts > 0
                                ? info->node_status[i]
                                : REDLOCK_OK;

        if (!cli_is_config_status(st) && s != NULL &&
            cli_is_config_status(s->st))
            st = s->st;
        if (!cli_is_config_status(st))
            continue;
        bad++;
        report_node(name, st, s != NULL && s->st == st ? s->msg : NULL, now);
    }
    pthread_mutex_unlock(&g.mu);
    return bad;
}

/* Report the nodes down now; see cli.h. */
size_t cli_nodes_report_down(redlock_manager *m, redlock_status *worst)
{
    size_t n = redlock_manager_node_count(m);
    size_t down = 0;
    uint64_t now = redlock_clock_us();

    *worst = REDLOCK_OK;
    pthread_mutex_lock(&g.mu);
    for (size_t i = 0; i < n; i++) {
        const char *name = redlock_manager_node_name(m, i);
        node_state *s = state_of(name);

        if (s == NULL || s->st == REDLOCK_OK)
            continue;
        down++;
        report_node(name, s->st, s->msg, now);
        if (cli_is_config_status(s->st)) {
            if (*worst == REDLOCK_OK || *worst == REDLOCK_ENOQUORUM)
                *worst = s->st; /* a configuration error says more */
        } else if (*worst == REDLOCK_OK) {
            *worst = REDLOCK_ENOQUORUM;
        }
    }
    pthread_mutex_unlock(&g.mu);
    return down;
}

/* Print a line about key (not a node) under the same rate limit; see
 * cli.h. */
int cli_report_limited(const char *key, redlock_status st, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    int printed;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g.mu);
    printed = may_report(key, st, redlock_clock_us());
    if (printed)
        fprintf(stderr, "redlock: %s\n", msg);
    pthread_mutex_unlock(&g.mu);
    return printed;
}
