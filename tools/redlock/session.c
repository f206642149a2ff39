/*
 * session.c: what every command needs before it can do anything: the node
 * list, the password, the manager, and (for acquire and exec) acquiring
 * with --wait.
 *
 * DESIGN. Passwords never appear on the command line: they come from
 * $REDLOCK_PASSWORD or the first line of --password-file, are merged into
 * the node URIs in memory (password.c), and every copy is wiped once the
 * manager has been created (the library keeps its own). Node URIs given
 * with --node may carry a password of their own; that is the user's
 * choice, and the library never prints it.
 *
 * Waiting for a lock is the library's retry loop
 * (REDLOCK_RETRY_UNTIL_DEADLINE: delay plus CSPRNG jitter, until --wait's
 * deadline or without end, ending at once when a quorum refuses the
 * password or database). The tool makes the first attempt alone, so
 * that it can report it (each node with -v, failing nodes without) and
 * say "retrying" before the wait, then hands the rest to one call; the
 * last attempt's status in redlock_acquire_info tells "held elsewhere"
 * (exit 1) from "no quorum" (exit 2) when the call ends at the deadline.
 * Rejected: the tool's own loop with its own jitter generator (what it
 * had before: a second retry policy to keep in step with the library's).
 *
 * TLS files come from --tls-* or $REDLOCK_TLS_* (rules in
 * ../common/tls_opts.h, shared with the bench). The tool checks that
 * they can be read before the manager is created, so a typo is a usage
 * error (64) naming the flag or variable, as for --password-file; a file
 * the library then cannot load (not PEM, key not matching) is one too.
 * --tls-insecure warns on stderr even with -q: it must never be silent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "password.h"
#include "../common/tls_opts.h"

/* Longest password accepted from a file or the environment, in bytes. */
#define SESSION_PASSWORD_MAX 4096

/* ------------------------------------------------------------------------
 * Nodes and password
 * ------------------------------------------------------------------------ */

/* Split $REDLOCK_NODES at commas into a heap copy (*buf) and pointers into
 * it (uris, room for REDLOCK_NODES_MAX). Spaces around entries are
 * ignored. Returns the count, or -1 after printing why (usage error). */
static int nodes_from_env(const char *env, char **buf, const char **uris)
{
    char *copy = strdup(env);
    int n = 0;

    *buf = copy;
    if (copy == NULL) {
        cli_error("out of memory");
        return -1;
    }
    for (char *p = copy;;) {
        char *comma = strchr(p, ',');
        char *end;

        if (comma != NULL)
            *comma = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        end = p + strlen(p);
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (*p == '\0') {
            cli_error("REDLOCK_NODES: empty entry (expected comma-separated "
                      "node URIs)");
            return -1;
        }
        if (n == REDLOCK_NODES_MAX) {
            cli_error("REDLOCK_NODES: too many nodes (at most %d)",
                      REDLOCK_NODES_MAX);
            return -1;
        }
        uris[n++] = p;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return n;
}

/* Read the password: the first line of path (without its line end) into
 * buf of len bytes. Returns 0, or -1 after printing why, with buf wiped.
 * read() goes straight into buf: stdio would keep a copy of the bytes in
 * its own buffer, which fclose() frees without wiping. */
static int password_from_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t n = 0;
    int saved;

    if (fd < 0) {
        saved = errno;
        cli_error("--password-file: cannot open '%s': %s", path,
                  strerror(saved));
        return -1;
    }
    while (n < len - 1 && memchr(buf, '\n', n) == NULL) {
        ssize_t r = read(fd, buf + n, len - 1 - n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            saved = errno;
            close(fd);
            cli_password_wipe(buf, len);
            cli_error("--password-file: cannot read '%s': %s", path,
                      strerror(saved));
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (n == len - 1 && memchr(buf, '\n', n) == NULL) {
        cli_password_wipe(buf, len);
        cli_error("--password-file: the first line of '%s' is too long "
                  "(at most %d bytes)",
                  path, SESSION_PASSWORD_MAX - 2);
        return -1;
    }
    /* Keep the first line only, and wipe what followed it. */
    {
        size_t line = strcspn(buf, "\r\n");

        cli_password_wipe(buf + line, len - line);
    }
    if (buf[0] == '\0') {
        cli_error("--password-file: the first line of '%s' is empty", path);
        return -1;
    }
    return 0;
}

/* The library's log lines, with -v: to stderr with a timestamp. Runs on
 * any of the manager's threads. */
static void on_library_log(redlock_log_level level, const char *message,
                           void *userdata)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    (void)userdata;
    cli_log("%s: %s",
            (unsigned)level < sizeof(names) / sizeof(names[0]) ? names[level]
                                                               : "log",
            message);
}

/* The owner label for the locks a takes (acquire, exec, elect): --owner,
 * else $REDLOCK_OWNER, else "hostname:pid" (the host name cut so that
 * the label fits REDLOCK_OWNER_MAX). Written into buf (len >=
 * REDLOCK_OWNER_MAX + 1). Returns 0, or CLI_EXIT_USAGE after printing
 * why $REDLOCK_OWNER is refused; other commands get "" (none). */
static int resolve_owner(const cli_args *a, char *buf, size_t len)
{
    const char *env = getenv("REDLOCK_OWNER");
    char host[256];
    char pid[24];
    int room;

    buf[0] = '\0';
    if (a->cmd != CLI_CMD_ACQUIRE && a->cmd != CLI_CMD_EXEC &&
        a->cmd != CLI_CMD_ELECT)
        return 0;
    if (a->owner != NULL) {
        snprintf(buf, len, "%s", a->owner); /* checked by the parser */
        return 0;
    }
    if (env != NULL && env[0] != '\0') {
        const char *why = cli_owner_problem(env);

        if (why != NULL) {
            cli_error("REDLOCK_OWNER: %s", why);
            return CLI_EXIT_USAGE;
        }
        snprintf(buf, len, "%s", env);
        return 0;
    }
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    /* Keep only what a label may hold; a host name rarely has more. */
    for (char *p = host; *p != '\0'; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            *p = '_';
    snprintf(pid, sizeof(pid), ":%ld", (long)getpid());
    room = REDLOCK_OWNER_MAX - (int)strlen(pid);
    snprintf(buf, len, "%.*s%s", room, host[0] != '\0' ? host : "unknown", pid);
    return 0;
}

/* Resolve the TLS flags and variables into o (whose strings then point
 * into a and the environment); warn about --tls-insecure, and note TLS
 * settings that no node uses. Returns 0 or CLI_EXIT_USAGE after printing
 * why. */
static int session_tls(const cli_args *a, const char *const *uris, size_t n,
                       redlock_options *o)
{
    tool_tls_flags f = {a->tls_ca, a->tls_cert, a->tls_key, a->tls_insecure};
    tool_tls t;
    char why[512];
    int any_tls = 0;

    if (tool_tls_resolve(&f, getenv("REDLOCK_TLS_CA"),
                         getenv("REDLOCK_TLS_CERT"), getenv("REDLOCK_TLS_KEY"),
                         &t, why, sizeof(why)) != 0 ||
        tool_tls_apply(&t, o, why, sizeof(why)) != 0) {
        cli_error("%s", why);
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < n; i++)
        any_tls |= tool_uri_is_tls(uris[i]);
    if (t.insecure)
        fprintf(stderr, "redlock: %s\n", TOOL_TLS_INSECURE_WARNING);
    if (tool_tls_any(&t) && !any_tls)
        cli_notice("TLS settings given (%s) but no node is rediss:// or "
                   "sentinels://: nothing is encrypted",
                   t.insecure ? "--tls-insecure"
                   : t.ca != NULL ? t.ca_from : t.cert_from);
    return 0;
}

/* Create the manager; see cli.h. */
int cli_session_open(const cli_args *a, redlock_manager **out)
{
    const char *env_uris[REDLOCK_NODES_MAX];
    const char *const *uris = a->nodes;
    char *env_copy = NULL;
    char **with_pw = NULL;
    char password[SESSION_PASSWORD_MAX];
    char err[256] = "";
    char owner[REDLOCK_OWNER_MAX + 1];
    size_t n = a->node_count;
    redlock_options o;
    redlock_status st;
    int rc = 0;

    *out = NULL;
    password[0] = '\0';
    if (resolve_owner(a, owner, sizeof(owner)) != 0)
        return CLI_EXIT_USAGE;
    if (n == 0) {
        const char *env = getenv("REDLOCK_NODES");
        int k;

        if (env == NULL || env[0] == '\0') {
            cli_error("no nodes: give --node URI (once per node) or set "
                      "REDLOCK_NODES");
            return CLI_EXIT_USAGE;
        }
        k = nodes_from_env(env, &env_copy, env_uris);
        if (k < 0) {
            free(env_copy);
            return CLI_EXIT_USAGE;
        }
        n = (size_t)k;
        uris = env_uris;
    }
    if (n > REDLOCK_NODES_MAX) {
        cli_error("too many nodes: %zu (at most %d)", n, REDLOCK_NODES_MAX);
        free(env_copy);
        return CLI_EXIT_USAGE;
    }

    if (a->password_file != NULL) {
        if (password_from_file(a->password_file, password, sizeof(password)) !=
            0) {
            free(env_copy);
            return CLI_EXIT_USAGE;
        }
    } else {
        const char *env = getenv("REDLOCK_PASSWORD");

        if (env != NULL && strlen(env) >= sizeof(password)) {
            cli_error("REDLOCK_PASSWORD is too long (at most %d bytes)",
                      SESSION_PASSWORD_MAX - 1);
            free(env_copy);
            return CLI_EXIT_USAGE;
        }
        if (env != NULL)
            snprintf(password, sizeof(password), "%s", env);
    }
    if (password[0] != '\0') {
        with_pw = calloc(n, sizeof(*with_pw));
        for (size_t i = 0; with_pw != NULL && i < n; i++) {
            with_pw[i] = cli_password_inject(uris[i], password);
            if (with_pw[i] == NULL) {
                rc = CLI_EXIT_UNAVAILABLE;
                break;
            }
        }
        if (with_pw == NULL || rc != 0) {
            cli_error("out of memory");
            rc = CLI_EXIT_UNAVAILABLE;
            goto out;
        }
        uris = (const char *const *)with_pw;
    }

    redlock_options_init(&o);
    if (a->restart_guard_set) {
        o.restart_guard_ms = a->restart_guard_ms;
    } else if (getenv("REDLOCK_RESTART_GUARD") != NULL &&
               getenv("REDLOCK_RESTART_GUARD")[0] != '\0') {
        char why[160];

        if (cli_restart_guard_parse(getenv("REDLOCK_RESTART_GUARD"),
                                    &o.restart_guard_ms, why,
                                    sizeof(why)) != 0) {
            cli_error("REDLOCK_RESTART_GUARD: bad restart guard: %s", why);
            rc = CLI_EXIT_USAGE;
            goto out;
        }
    }
    rc = session_tls(a, uris, n, &o);
    if (rc != 0)
        goto out;
    if (a->timeout_ms != 0) {
        o.connect_timeout_ms = a->timeout_ms;
        o.command_timeout_ms = a->timeout_ms;
    }
    if (a->key_prefix != NULL)
        o.key_prefix = a->key_prefix;
    cli_nodes_hook(&o);
    if (owner[0] != '\0')
        o.owner = owner; /* copied by the library */
    if (cli_verbosity >= 1) {
        o.log_fn = on_library_log;
        o.log_level = cli_verbosity >= 2 ? REDLOCK_LOG_DEBUG : REDLOCK_LOG_INFO;
    }
    st = redlock_manager_create_ex(uris, n, &o, out, err, sizeof(err));
    if (st != REDLOCK_OK) {
        cli_note_status(st);
        /* The library's message never contains a password. */
        if (st == REDLOCK_EURI || st == REDLOCK_ENONODES ||
            st == REDLOCK_ERANGE || st == REDLOCK_EINVAL) {
            cli_error("bad node list: %s",
                      err[0] != '\0' ? err : redlock_strerror(st));
            rc = CLI_EXIT_USAGE;
        } else if (st == REDLOCK_ETLS) {
            /* The files were readable (session_tls) but the library
             * could not use them: not PEM, a key that does not match. */
            cli_error("TLS setup: %s",
                      err[0] != '\0' ? err : redlock_strerror(st));
            rc = CLI_EXIT_USAGE;
        } else {
            cli_error("cannot start: %s",
                      err[0] != '\0' ? err : redlock_strerror(st));
            rc = CLI_EXIT_UNAVAILABLE;
        }
    }
out:
    if (with_pw != NULL) {
        for (size_t i = 0; i < n; i++)
            cli_password_free_uri(with_pw[i]);
        free(with_pw);
    }
    cli_password_wipe(password, sizeof(password));
    free(env_copy);
    return rc;
}

/* ------------------------------------------------------------------------
 * Acquiring with --wait
 * ------------------------------------------------------------------------ */

/* Check an operand naming a resource; see cli.h. */
int cli_check_resource(const char *cmd_name, const char *resource)
{
    size_t len = strlen(resource);

    if (len == 0) {
        cli_error("%s: the resource name must not be empty", cmd_name);
        return CLI_EXIT_USAGE;
    }
    if (len > REDLOCK_RESOURCE_MAX) {
        cli_error("%s: resource name too long (%zu bytes, at most %d)",
                  cmd_name, len, REDLOCK_RESOURCE_MAX);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* Check a TOKEN operand; see cli.h. */
int cli_check_token(const char *cmd_name, const char *token)
{
    size_t len = strlen(token);

    for (size_t i = 0; i < len; i++) {
        char c = token[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            cli_error("%s: bad TOKEN: expected %d lowercase hex characters, "
                      "as printed by 'redlock acquire'",
                      cmd_name, REDLOCK_TOKEN_LEN);
            return CLI_EXIT_USAGE;
        }
    }
    if (len != REDLOCK_TOKEN_LEN) {
        cli_error("%s: bad TOKEN: expected %d hex characters, got %zu",
                  cmd_name, REDLOCK_TOKEN_LEN, len);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* Inspect res on every node; see cli.h. */
redlock_node_view *cli_inspect(redlock_manager *m, const char *res)
{
    size_t n = redlock_manager_node_count(m);
    redlock_node_view *views = calloc(n, sizeof(*views));

    if (views != NULL &&
        redlock_inspect(m, res, strlen(res), views, n) != REDLOCK_OK) {
        free(views);
        views = NULL;
    }
    return views;
}

/* Wait for every reachable node; see cli.h. */
int cli_settle(redlock_manager *m, const char *res, const char *token,
               int releasing, redlock_acquire_info *seen)
{
    size_t n = redlock_manager_node_count(m);
    redlock_node_view *views = cli_inspect(m, res);
    int storing = 0;

    if (seen != NULL)
        memset(seen, 0, sizeof(*seen));
    if (views == NULL)
        return -1;
    if (seen != NULL)
        seen->attempts = 1;
    for (size_t i = 0; i < n; i++) {
        const char *node = redlock_manager_node_name(m, i);

        if (seen != NULL && i < REDLOCK_NODES_MAX)
            seen->node_status[i] =
                views[i].reachable ? REDLOCK_OK : views[i].error;

        if (views[i].reachable && strcmp(views[i].holder, token) == 0)
            storing++;
        else if (!views[i].reachable)
            cli_log("%s: node %s: %s", res, node,
                    redlock_strerror(views[i].error));
        else if (views[i].held)
            cli_log("%s: node %s: held by another token", res, node);
        else if (!releasing)
            cli_log("%s: node %s: no key", res, node);
    }
    free(views);
    return storing;
}

/* 1 if an acquire that failed with st is worth another attempt. */
static int acquire_retryable(redlock_status st)
{
    switch (st) {
    case REDLOCK_ETAKEN:
    case REDLOCK_ENOQUORUM:
    case REDLOCK_EEXPIRED:
    case REDLOCK_ETIMEDOUT:
    case REDLOCK_EIO:
    case REDLOCK_EPROTO:
    case REDLOCK_EREFUSED:
    case REDLOCK_EGUARDED: /* passes with time */
        return 1;
    /* A quorum refused our credentials, database or vote: retrying
     * cannot help, so fail fast (exit 2), also with --wait. */
    case REDLOCK_EAUTH:
    case REDLOCK_EDB:
    case REDLOCK_EDUPNODE:
    case REDLOCK_ETLS:
    case REDLOCK_OK:
    case REDLOCK_ENOTHELD:
    case REDLOCK_ELOST:
    case REDLOCK_EINVAL:
    case REDLOCK_ENOMEM:
    case REDLOCK_ECLOSED:
    case REDLOCK_EMISUSE:
    case REDLOCK_ECRYPTO:
    case REDLOCK_EURI:
    case REDLOCK_ERANGE:
    case REDLOCK_ENONODES:
    case REDLOCK_ERELEASED:
    case REDLOCK_ETTLSHORT:
    case REDLOCK_EPENDING:
    case REDLOCK_ECANCELED:
    case REDLOCK_ECROSSSLOT: /* the same keys will not share a slot later */
        return 0;
    }
    return 0;
}

/* 1 for a node's refusal of our configuration; see cli.h. */
int cli_is_config_status(redlock_status st)
{
    return st == REDLOCK_EAUTH || st == REDLOCK_EDB ||
           st == REDLOCK_EDUPNODE || st == REDLOCK_ETLS;
}

/* What to check when a quorum refuses st (EAUTH, EDB, EDUPNODE, ETLS). */
const char *cli_config_hint(redlock_status st)
{
    switch (st) {
    case REDLOCK_ETLS:
        return "check the CA (--tls-ca, REDLOCK_TLS_CA), the client "
               "certificate (--tls-cert, --tls-key) and the nodes' "
               "certificates and host names";
    case REDLOCK_EAUTH:
        return "check the password (--password-file, REDLOCK_PASSWORD, or "
               "the node URIs) and the user's ACL";
    case REDLOCK_EDB:
        return "check the database index (/db or ?db=) of the node URIs";
    case REDLOCK_EDUPNODE:
        return "two node URIs name the same server; give independent "
               "servers";
    default:
        return "check the node configuration";
    }
}

/* With -v: what each node said in info's last attempt. EPENDING ("had
 * not answered when the attempt was decided") is not an error: the call
 * does not wait for the slowest nodes once the outcome is certain. */
static void log_nodes(redlock_manager *m, const redlock_acquire_info *info)
{
    if (cli_verbosity < 1 || info->attempts == 0)
        return;
    for (size_t i = 0; i < redlock_manager_node_count(m); i++) {
        redlock_status st = info->node_status[i];
        const char *what;

        switch (st) {
        case REDLOCK_OK:
            what = "granted";
            break;
        case REDLOCK_ETAKEN:
            what = "refused: held by another owner";
            break;
        case REDLOCK_EPENDING:
            what = "not answered before the decision (not an error)";
            break;
        default:
            what = NULL;
            break;
        }
        if (what != NULL)
            cli_log("  node %s: %s", redlock_manager_node_name(m, i), what);
        else
            cli_log("  node %s: error: %s (%s)",
                    redlock_manager_node_name(m, i), redlock_strerror(st),
                    cli_status_short_name(st));
    }
}

/* Log an attempt (or the last of a run of attempts) with -v, and print
 * its failing nodes (nodes.c). first and last number the attempts. */
static void log_attempts(redlock_manager *m, const char *res, uint32_t first,
                         uint32_t last, redlock_status st,
                         const redlock_acquire_info *info)
{
    if (first == last)
        cli_log("attempt %u on %s: %s (yes %u, no %u, error %u)%s%s", first,
                res, redlock_strerror(st), info->last.yes, info->last.no,
                info->last.error, info->detail[0] != '\0' ? ": " : "",
                info->detail);
    else
        cli_log("attempts %u-%u on %s: the last: %s (yes %u, no %u, error "
                "%u)%s%s",
                first, last, res, redlock_strerror(st), info->last.yes,
                info->last.no, info->last.error,
                info->detail[0] != '\0' ? ": " : "", info->detail);
    log_nodes(m, info);
    cli_nodes_report_attempt(m, info);
}

/* Say why an acquire failed with st (info: its last attempt) and set
 * *exit_code; returns the outcome. */
static cli_acquire_outcome acquire_failed(redlock_manager *m, const cli_args *a,
                                          redlock_status st,
                                          const redlock_acquire_info *info,
                                          int *exit_code)
{
    const char *res = a->operands[0];
    const char *cmd = cli_command_of(a->cmd)->name;

    cli_note_status(st);
    if (st == REDLOCK_ETAKEN) {
        cli_notice("%s: %s is held by someone else", cmd, res);
        *exit_code = a->conflict_exit_code; /* may be 0 */
        return CLI_HELD_ELSEWHERE;
    }
    if (st == REDLOCK_ETTLSHORT) {
        cli_ttl_too_short(cmd, a->ttl_ms);
        *exit_code = CLI_EXIT_USAGE;
    } else if (st == REDLOCK_EINVAL || st == REDLOCK_ERANGE) {
        cli_error("%s: %s: %s", cmd, res, redlock_strerror(st));
        *exit_code = CLI_EXIT_USAGE;
    } else if (cli_is_config_status(st)) {
        size_t refusing = 0;

        for (size_t i = 0; i < redlock_manager_node_count(m); i++)
            refusing += info->attempts > 0 && info->node_status[i] == st;
        cli_error("%s: cannot acquire %s: %s on %zu of %zu nodes (%s); not "
                  "retrying: %s",
                  cmd, res, redlock_strerror(st), refusing,
                  redlock_manager_node_count(m), cli_status_short_name(st),
                  cli_config_hint(st));
        *exit_code = cli_exit_for_status(st);
    } else {
        if (info->detail[0] != '\0')
            cli_error("%s: cannot acquire %s: %s (%s)", cmd, res,
                      redlock_strerror(st), info->detail);
        else
            cli_error("%s: cannot acquire %s: %s", cmd, res,
                      redlock_strerror(st));
        *exit_code = cli_exit_for_status(st);
    }
    return CLI_NOT_ACQUIRED;
}

/* Acquire with --wait; see cli.h. */
cli_acquire_outcome cli_acquire_wait(redlock_manager *m, const cli_args *a,
                                     redlock_lock **out, int *exit_code)
{
    const char *res = a->operands[0];
    const char *cmd = cli_command_of(a->cmd)->name;
    uint64_t started = redlock_clock_us();
    redlock_acquire_info info;
    redlock_acquire_info first_info;
    redlock_acquire_opts opts;
    uint32_t attempts;
    redlock_status st;

    *out = NULL;
    *exit_code = CLI_EXIT_UNAVAILABLE;
    /* The first attempt alone, to report it (and fail fast) before any
     * waiting. */
    redlock_acquire_opts_init(&opts);
    opts.retry_count = 0;
    opts.info = &info;
    st = redlock_acquire_ex(m, res, strlen(res), a->ttl_ms, &opts, out);
    attempts = info.attempts;
    if (st != REDLOCK_OK)
        log_attempts(m, res, 1, 1, st, &info);
    if (st != REDLOCK_OK && acquire_retryable(st) &&
        !(a->wait_set && a->wait_ms == 0)) {
        /* Then the library's loop: delay plus jitter between attempts,
         * until --wait passes (no limit without it), ending at once on a
         * quorum's refusal of the password or database. */
        if (st != REDLOCK_ETAKEN)
            cli_notice("%s: %s: %s; retrying%s", cmd, res, redlock_strerror(st),
                       a->wait_set ? " until --wait passes" : "");
        cli_nodes_live(1); /* while waiting, say when nodes fail */
        redlock_acquire_opts_init(&opts);
        opts.retry_count = REDLOCK_RETRY_UNTIL_DEADLINE;
        opts.deadline_us = a->wait_set ? started + a->wait_ms * 1000u : 0;
        opts.info = &info;
        first_info = info;
        st = redlock_acquire_ex(m, res, strlen(res), a->ttl_ms, &opts, out);
        cli_nodes_live(0);
        if (info.attempts > 0) {
            if (st != REDLOCK_OK)
                log_attempts(m, res, attempts + 1, attempts + info.attempts, st,
                             &info);
            attempts += info.attempts;
            /* At the deadline the call says ETIMEDOUT; what the last
             * attempt found (held elsewhere, or no quorum) decides the
             * exit status. */
            if (st == REDLOCK_ETIMEDOUT)
                st = info.last_status;
            /* The last attempt itself may have been cut by the deadline
             * (a slow node had not answered): nodes that refused us
             * during the wait still say the resource is held elsewhere
             * (CI under TSan: exit 2 instead of the conflict code). */
            if (st == REDLOCK_ETIMEDOUT && info.total.no > 0)
                st = REDLOCK_ETAKEN;
        } else if (st == REDLOCK_ETIMEDOUT) {
            /* --wait passed before a second attempt: the first decides. */
            info = first_info;
            st = info.last_status;
        }
    }
    if (st == REDLOCK_OK) {
        cli_nodes_report_config(m, &info);
        cli_log("acquired %s after %u attempt(s): validity %lld ms, "
                "granted by %zu of %zu nodes",
                res, attempts, (long long)redlock_lock_validity_ms(*out),
                redlock_lock_nodes_granted(*out),
                redlock_manager_node_count(m));
        *exit_code = CLI_EXIT_OK;
        return CLI_ACQUIRED;
    }
    *out = NULL; /* a failed attempt stores NULL; said once more here */
    return acquire_failed(m, a, st, &info, exit_code);
}

/* If a node stores token under res with an owner, write "<token>
 * <owner>" into value; otherwise leave value as it is. */
static void stored_value_of(redlock_manager *m, const char *res,
                            const char *token, char *value, size_t len)
{
    size_t n = redlock_manager_node_count(m);
    redlock_node_view *views = calloc(n, sizeof(*views));

    if (views == NULL)
        return;
    if (redlock_inspect(m, res, strlen(res), views, n) == REDLOCK_OK) {
        for (size_t i = 0; i < n; i++) {
            if (views[i].reachable && strcmp(views[i].holder, token) == 0 &&
                views[i].owner[0] != '\0' &&
                cli_owner_problem(views[i].owner) == NULL) {
                snprintf(value, len, "%s %s", token, views[i].owner);
                break;
            }
        }
    }
    free(views);
}

/* Check the operands, open the session and adopt the lock by token. */
int cli_adopt_by_token(const cli_args *a, const char *cmd_name,
                       redlock_manager **m, redlock_lock **lock)
{
    const char *res = a->operands[0];
    int rc = cli_check_resource(cmd_name, res);

    *m = NULL;
    *lock = NULL;
    if (rc == 0)
        rc = cli_check_token(cmd_name, a->operands[1]);
    if (rc == 0)
        rc = cli_session_open(a, m);
    if (rc != 0)
        return rc;
    /* extend may restore the key on nodes that lost it: adopt the whole
     * stored value, "<token> <owner>", so that a restored key keeps its
     * owner label. The owner is read from the nodes that store the token
     * (none found: the token alone, as before). */
    char value[REDLOCK_TOKEN_LEN + 1 + REDLOCK_OWNER_MAX + 1];

    snprintf(value, sizeof(value), "%s", a->operands[1]);
    if (a->cmd == CLI_CMD_EXTEND)
        stored_value_of(*m, res, a->operands[1], value, sizeof(value));
    /* The TTL also bounds how long a release stays queued for nodes that
     * did not answer. */
    redlock_status st =
        redlock_lock_adopt(*m, res, strlen(res), value, a->ttl_ms, lock);
    if (st != REDLOCK_OK) {
        cli_error("%s: %s: %s", cmd_name, res, redlock_strerror(st));
        redlock_manager_destroy(*m);
        *m = NULL;
        return cli_exit_for_status(st);
    }
    return 0;
}
