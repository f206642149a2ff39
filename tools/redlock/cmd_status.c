/*
 * cmd_status.c: `redlock status RESOURCE`: what each node says about a
 * resource (reachable, holder, remaining TTL) and what that adds up to.
 * Read-only: it changes nothing on any node. A node in its restart guard
 * (docs/safety.md) is shown as "guarded" with what it stores and the
 * library's message (how long the guard still lasts); it counts neither
 * as free nor as holding, since it votes in no acquire or extend.
 *
 * Holder tokens are secrets of a kind (with a token, anyone can release
 * the lock), so only their first CLI_TOKEN_PREFIX_LEN characters are shown
 * unless --show-token asks for all of them: enough to tell holders apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* What the node views add up to. */
typedef struct status_summary {
    size_t reachable;    /* nodes that answered */
    size_t guarded;      /* ... of which in their restart guard */
    size_t free_nodes;   /* answered, and no key */
    size_t holder_nodes; /* nodes storing the most common holder */
    const char *holder;  /* that holder (in a view), or NULL */
    const char *owner;   /* its owner label (in a view; "" if none) */
    const char *state;   /* "held", "free", "split" or "unknown" */
    int exit_code;       /* 0 held, 1 not held, 2 cannot tell */
} status_summary;

/*
 * Summarise views:
 *   held     one holder is stored on a quorum                    exit 0
 *   free     a quorum answered with no key (an acquire could
 *            succeed)                                            exit 1
 *   split    not held: no holder is, or could be with the
 *            unreachable nodes, on a quorum, but too few nodes
 *            are free for an acquire (the nodes disagree)        exit 1
 *   unknown  cannot tell: the most common holder plus the
 *            unreachable nodes could make a quorum                exit 2
 * "Could be": every unreachable node is counted as storing the most
 * common holder, the worst case, so exit 1 is never said of a lock that
 * a quorum holds.
 */
static void summarise(const redlock_node_view *views, size_t n, size_t quorum,
                      status_summary *s)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        size_t same = 0;

        if (!views[i].reachable)
            continue;
        s->reachable++;
        if (views[i].error == REDLOCK_EGUARDED) {
            s->guarded++; /* votes for nothing: counted as unknown */
            continue;
        }
        if (!views[i].held) {
            s->free_nodes++;
            continue;
        }
        for (size_t j = 0; j < n; j++)
            if (views[j].reachable && views[j].held &&
                views[j].error != REDLOCK_EGUARDED &&
                strcmp(views[j].holder, views[i].holder) == 0)
                same++;
        if (same > s->holder_nodes) {
            s->holder_nodes = same;
            s->holder = views[i].holder;
            s->owner = views[i].owner;
        }
    }
    if (s->holder_nodes >= quorum) {
        s->state = "held";
        s->exit_code = CLI_EXIT_OK;
    } else if (s->free_nodes >= quorum) {
        s->state = "free";
        s->exit_code = CLI_EXIT_CONFLICT;
    } else if (s->holder_nodes + (n - s->reachable + s->guarded) <
               quorum) {
        s->state = "split";
        s->exit_code = CLI_EXIT_CONFLICT;
    } else {
        s->state = "unknown";
        s->exit_code = CLI_EXIT_UNAVAILABLE;
    }
}

/* How many bytes of holder to show: all with --show-token, else the
 * prefix. Sets *cut when something is left out. */
static size_t shown_len(const cli_args *a, const char *holder, int *cut)
{
    size_t len = strlen(holder);

    *cut = 0;
    if (a->show_token || len <= CLI_TOKEN_PREFIX_LEN)
        return len;
    *cut = 1;
    return CLI_TOKEN_PREFIX_LEN;
}

/* Print a holder for humans: escaped, redacted as asked, "..." when cut. */
static void print_holder(const cli_args *a, const char *holder)
{
    int cut;
    size_t len = shown_len(a, holder, &cut);

    cli_print_escaped(stdout, holder, len);
    if (cut)
        fputs("...", stdout);
}

/* An owner label as JSON: a string, or null when there is none. */
static void print_json_owner(const char *owner)
{
    if (owner != NULL && owner[0] != '\0')
        cli_json_string(stdout, owner, strlen(owner));
    else
        fputs("null", stdout);
}

/* Print the views as one JSON object. */
static void print_json(const cli_args *a, redlock_manager *m,
                       const redlock_node_view *views, size_t n,
                       const status_summary *s)
{
    const char *res = a->operands[0];
    int cut = 0;

    fputs("{\"resource\":", stdout);
    cli_json_string(stdout, res, strlen(res));
    printf(",\"state\":\"%s\",\"holder\":", s->state);
    if (s->holder != NULL)
        cli_json_string(stdout, s->holder, shown_len(a, s->holder, &cut));
    else
        fputs("null", stdout);
    fputs(",\"owner\":", stdout);
    print_json_owner(s->holder != NULL ? s->owner : "");
    printf(",\"holder_nodes\":%zu,\"node_count\":%zu,\"quorum\":%zu,"
           "\"reachable\":%zu,\"guarded\":%zu,\"token_redacted\":%s,"
           "\"nodes\":[",
           s->holder_nodes, n, redlock_manager_quorum(m), s->reachable,
           s->guarded,
           a->show_token ? "false" : "true");
    for (size_t i = 0; i < n; i++) {
        const redlock_node_view *v = &views[i];
        const char *name = redlock_manager_node_name(m, i);

        printf("%s{\"node\":", i > 0 ? "," : "");
        cli_json_string(stdout, name, strlen(name));
        if (!v->reachable) {
            fputs(",\"reachable\":false,\"error\":", stdout);
            cli_json_string(stdout, redlock_strerror(v->error),
                            strlen(redlock_strerror(v->error)));
            fputs("}", stdout);
            continue;
        }
        if (v->error == REDLOCK_EGUARDED) {
            char msg[200];

            cli_nodes_message(name, REDLOCK_EGUARDED, msg, sizeof(msg));
            fputs(",\"guarded\":true,\"guard\":", stdout);
            cli_json_string(stdout, msg, strlen(msg));
        }
        printf(",\"reachable\":true,\"held\":%s,\"holder\":",
               v->held ? "true" : "false");
        if (v->held) {
            cli_json_string(stdout, v->holder, shown_len(a, v->holder, &cut));
            fputs(",\"owner\":", stdout);
            print_json_owner(v->owner);
            printf(",\"ttl_ms\":%lld}", (long long)v->ttl_ms);
        } else {
            fputs("null,\"owner\":null,\"ttl_ms\":null}", stdout);
        }
    }
    fputs("]}\n", stdout);
}

/* Print a remaining TTL for humans: "8.520s", or "no expiry" for -1. */
static void print_ttl(int64_t ttl_ms)
{
    if (ttl_ms < 0)
        fputs("no expiry", stdout);
    else
        printf("%lld.%03llds", (long long)(ttl_ms / 1000),
               (long long)(ttl_ms % 1000));
}

/* Print an owner padded to width ("-" when there is none). */
static void print_owner_cell(const char *owner, int width)
{
    size_t len = owner != NULL ? strlen(owner) : 0;

    if (len == 0) {
        printf("%-*s", width, "-");
        return;
    }
    cli_print_escaped(stdout, owner, len);
    printf("%*s", (int)len < width ? width - (int)len : 0, "");
}

/* Print the views as a table and a summary line. */
static void print_table(const cli_args *a, redlock_manager *m,
                        const redlock_node_view *views, size_t n,
                        const status_summary *s)
{
    int width = 4;       /* "NODE" */
    int owner_width = 5; /* "OWNER" */
    const int holder_width =
        a->show_token ? REDLOCK_TOKEN_LEN + 2 : CLI_TOKEN_PREFIX_LEN + 5;

    for (size_t i = 0; i < n; i++) {
        int len = (int)strlen(redlock_manager_node_name(m, i));
        int olen = (int)strlen(views[i].owner);

        if (len > width)
            width = len;
        if (views[i].reachable && views[i].held && olen > owner_width)
            owner_width = olen;
    }
    fputs("resource: ", stdout);
    cli_print_escaped(stdout, a->operands[0], strlen(a->operands[0]));
    printf("\n%-*s  %-11s  %-*s  %-*s  %s\n", width, "NODE", "STATE",
           holder_width, "HOLDER", owner_width, "OWNER", "TTL");
    for (size_t i = 0; i < n; i++) {
        const redlock_node_view *v = &views[i];
        int cut = 0;

        printf("%-*s  ", width, redlock_manager_node_name(m, i));
        if (!v->reachable) {
            printf("%-11s  %-*s  %-*s  -  (%s)\n", "unreachable", holder_width,
                   "-", owner_width, "-", redlock_strerror(v->error));
            continue;
        }
        const char *state = v->error == REDLOCK_EGUARDED ? "guarded"
                            : v->held                    ? "held"
                                                         : "free";
        if (!v->held) {
            printf("%-11s  %-*s  %-*s  -", state, holder_width, "-",
                   owner_width, "-");
        } else {
            int used = (int)shown_len(a, v->holder, &cut) + (cut ? 3 : 0);

            printf("%-11s  ", state);
            print_holder(a, v->holder);
            printf("%*s  ", used < holder_width ? holder_width - used : 0,
                   "");
            print_owner_cell(v->owner, owner_width);
            fputs("  ", stdout);
            print_ttl(v->ttl_ms);
        }
        if (v->error == REDLOCK_EGUARDED) {
            char msg[200];

            if (cli_nodes_message(redlock_manager_node_name(m, i),
                                  REDLOCK_EGUARDED, msg, sizeof(msg)))
                printf("  (%s)", msg);
            else
                printf("  (%s)", redlock_strerror(v->error));
        }
        fputs("\n", stdout);
    }
    printf("state: %s", s->state);
    if (s->holder != NULL) {
        fputs(" (most nodes: ", stdout);
        print_holder(a, s->holder);
        if (s->owner != NULL && s->owner[0] != '\0') {
            fputs(" owned by ", stdout);
            cli_print_escaped(stdout, s->owner, strlen(s->owner));
        }
        printf(" on %zu", s->holder_nodes);
        fputs(")", stdout);
    }
    printf("; %zu of %zu nodes reachable", s->reachable, n);
    if (s->guarded > 0)
        printf(" (%zu in the restart guard)", s->guarded);
    printf(", quorum %zu\n", redlock_manager_quorum(m));
}

/* Run `status`; returns the exit status: 0 held on a quorum, 1 not held,
 * 2 cannot tell (too few nodes answered) or the nodes could not be asked
 * at all. */
int cli_cmd_status(const cli_args *a)
{
    const char *res = a->operands[0];
    redlock_manager *m = NULL;
    redlock_node_view *views;
    status_summary s;
    redlock_status st;
    size_t n;
    int rc = cli_check_resource("status", res);

    if (rc != 0)
        return rc;
    rc = cli_session_open(a, &m);
    if (rc != 0)
        return rc;
    n = redlock_manager_node_count(m);
    views = calloc(n, sizeof(*views));
    if (views == NULL) {
        cli_error("status: out of memory");
        redlock_manager_destroy(m);
        return CLI_EXIT_UNAVAILABLE;
    }
    st = redlock_inspect(m, res, strlen(res), views, n);
    if (st != REDLOCK_OK) {
        cli_error("status: %s: %s", res, redlock_strerror(st));
        rc = cli_exit_for_status(st);
    } else {
        summarise(views, n, redlock_manager_quorum(m), &s);
        rc = s.exit_code;
        if (a->json) {
            print_json(a, m, views, n, &s);
            cli_json_done();
        } else
            print_table(a, m, views, n, &s);
        for (size_t i = 0; i < n; i++)
            if (!views[i].reachable)
                cli_log("status: node %s: %s", redlock_manager_node_name(m, i),
                        redlock_strerror(views[i].error));
        if (fflush(stdout) != 0) {
            cli_error("status: cannot write the result");
            rc = CLI_EXIT_UNAVAILABLE;
        }
    }
    free(views);
    redlock_manager_destroy(m);
    return rc;
}
