/*
 * flags.c: the tables of commands and flags, the argument parser and the
 * --help text, all driven by the two tables.
 *
 * DESIGN. One table (cli_flags) says, for every flag, its long and short
 * names, its argument, which commands accept it and its help line. The
 * parser, every --help and (through a test, tests/integration/test_cli.c)
 * the man page are checked against it, so a flag cannot exist in one place
 * and be missing from another (curl's one-source-per-option idea).
 *
 * Parsing follows the GNU conventions users expect: flags may come before
 * or after the command and its operands, "--name=value" and "--name value"
 * and "-tVALUE" and "-t VALUE" all work, short flags without arguments may
 * be grouped ("-vv"), and "--" ends the flags. For exec and elect, what
 * follows "--" is the program to run and its arguments, passed on
 * untouched; for the other commands it is more operands (so a resource
 * may start with '-'). Every usage error is one line on stderr that names
 * the problem, and exit status 64.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../common/duration.h"

/* ------------------------------------------------------------------------
 * The tables
 * ------------------------------------------------------------------------ */

#define B_ACQ CLI_BIT(CLI_CMD_ACQUIRE)
#define B_EXT CLI_BIT(CLI_CMD_EXTEND)
#define B_REL CLI_BIT(CLI_CMD_RELEASE)
#define B_STA CLI_BIT(CLI_CMD_STATUS)
#define B_EXE CLI_BIT(CLI_CMD_EXEC)
#define B_ELE CLI_BIT(CLI_CMD_ELECT)

/* Every flag of the tool. Keep docs/redlock.1 in step (a test checks). */
const cli_flag cli_flags[] = {
    {CLI_F_NODE, "node", 0, "URI", CLI_NODES,
     "a Redis node (redis://[[user]:password@]host[:port][/db], the same "
     "with rediss:// for TLS, or unix:///path[?db=N]; a Redis Cluster: "
     "redis://host:port?cluster=yes[&seed=host:port]...; a Sentinel "
     "master: sentinel://host:port/NAME[?sentinel=host:port]..., "
     "sentinels:// for TLS); repeat "
     "once per node (default: $REDLOCK_NODES)"},
    {CLI_F_PASSWORD_FILE, "password-file", 0, "FILE", CLI_NODES,
     "read the node password from the first line of FILE and use it for "
     "nodes whose URI has none (default: $REDLOCK_PASSWORD)"},
    {CLI_F_TLS_CA, "tls-ca", 0, "FILE", CLI_NODES,
     "trust the CA certificates in FILE (PEM) for rediss:// nodes, or in "
     "FILE if it is a directory of hashed certificates (default: "
     "$REDLOCK_TLS_CA, else the system trust store)"},
    {CLI_F_TLS_CERT, "tls-cert", 0, "FILE", CLI_NODES,
     "client certificate (PEM) for mutual TLS with rediss:// nodes; needs "
     "--tls-key (default: $REDLOCK_TLS_CERT)"},
    {CLI_F_TLS_KEY, "tls-key", 0, "FILE", CLI_NODES,
     "private key (PEM, unencrypted) of --tls-cert (default: "
     "$REDLOCK_TLS_KEY)"},
    {CLI_F_TLS_INSECURE, "tls-insecure", 0, NULL, CLI_NODES,
     "do NOT verify rediss:// nodes' certificates or names: anyone on the "
     "path can read and forge lock traffic; for test setups only (prints a "
     "warning)"},
    {CLI_F_KEY_PREFIX, "key-prefix", 0, "PREFIX", CLI_NODES,
     "prepend PREFIX to every key the tool reads or writes (default: none)"},
    {CLI_F_OWNER, "owner", 0, "NAME", B_ACQ | B_EXE | B_ELE,
     "owner label stored with the lock, shown by status and elect --listen: "
     "1-64 printable characters, no spaces (default: $REDLOCK_OWNER, else "
     "hostname:pid)"},
    {CLI_F_TIMEOUT, "timeout", 0, "D", CLI_NODES,
     "per-node connect and command timeout, 1ms to 10m (default 1s)"},
    {CLI_F_RESTART_GUARD, "restart-guard", 0, "D", CLI_NODES,
     "do not count a node restarted less than D ago (or whose run_id "
     "changed) toward acquires and extends, as it may have lost its keys; "
     "set D to the longest TTL any client uses, 0 turns it off, at most "
     "168h (default: $REDLOCK_RESTART_GUARD, else auto: the longest TTL "
     "this process sent; see redlock(1), RESTART GUARD)"},
    {CLI_F_TTL, "ttl", 't', "D", B_ACQ | B_EXT | B_EXE | B_ELE,
     "time to live of the lock, 3ms (above the clock-drift allowance; "
     "10ms for exec and elect, which renew it) to 168h (default 30s)"},
    {CLI_F_WAIT, "wait", 'w', "D", B_ACQ | B_EXE,
     "give up if the lock is not acquired within D, at most 8784h; 0 makes "
     "a single attempt (default: no limit)"},
    {CLI_F_GRACE, "grace", 'g', "D", B_EXE | B_ELE,
     "when CMD must stop, time between SIGTERM and SIGKILL to its process "
     "group, at most 24h (default 5s)"},
    {CLI_F_CONFLICT_EXIT_CODE, "conflict-exit-code", 'E', "N", B_ACQ | B_EXE,
     "exit with status N (0-255) instead of 1 when the lock is held by "
     "someone else; -E 0 skips quietly, like flock -n -E 0: nothing is "
     "acquired or run (add -q to print nothing)"},
    {CLI_F_JSON, "json", 0, NULL, CLI_NODES,
     "print the result, or the error, as one JSON object on one line on "
     "stdout (exec, elect: only when CMD does not run to its end)"},
    {CLI_F_LISTEN, "listen", 0, NULL, B_ELE,
     "do not campaign: print the current leader (owner, fence, term) and "
     "each change until interrupted, like etcdctl elect --listen; no CMD"},
    {CLI_F_SHOW_TOKEN, "show-token", 0, NULL, B_STA,
     "show holder tokens in full (default: only their first 8 characters)"},
    {CLI_F_VERBOSE, "verbose", 'v', NULL, CLI_ALL,
     "log the first and the last attempt to acquire (each node: granted, "
     "held, not answered before the decision, or its error), renewals and node "
     "errors to stderr with "
     "timestamps; -vv logs more (failing nodes get one line each without "
     "-v, every 10s at most)"},
    {CLI_F_QUIET, "quiet", 'q', NULL, CLI_ALL,
     "print nothing on stderr but errors"},
    {CLI_F_HELP, "help", 'h', NULL, CLI_ALL, "show help and exit"},
    {CLI_F_VERSION, "version", 'V', NULL, CLI_ALL,
     "print the library version and exit"},
};
const size_t cli_flag_count = sizeof(cli_flags) / sizeof(cli_flags[0]);

/* Every command, in the order --help lists them. */
const cli_command cli_commands[] = {
    {CLI_CMD_ACQUIRE, "acquire", "RESOURCE", 1, 0,
     "take the lock and print its token",
     "Take the lock on RESOURCE and print its token on stdout (with --json:\n"
     "resource, owner, token, validity_ms, nodes_granted, node_count and\n"
     "quorum).\n"
     "Exits once every reachable node stores the lock (--timeout bounds\n"
     "the wait), not only the quorum that granted it.\n"
     "The lock outlives this command: it stays held until its TTL runs out,\n"
     "or until `redlock release RESOURCE TOKEN`.\n"
     "Exit status: 0 acquired; 1 (or --conflict-exit-code) held by someone\n"
     "else past --wait (with -E 0 also 0, but no token is printed and\n"
     "nothing is held); 2 quorum unreachable, or (at once, even with\n"
     "--wait) a quorum refused the password or the database."},
    {CLI_CMD_EXTEND, "extend", "RESOURCE TOKEN", 2, 0,
     "extend a lock held with TOKEN to --ttl from now",
     "Set the TTL of the lock on RESOURCE held with TOKEN to --ttl from now,\n"
     "on every node that still stores TOKEN.\n"
     "Exit status: 0 extended; 1 not owned (expired, or someone else's);\n"
     "2 quorum unreachable."},
    {CLI_CMD_RELEASE, "release", "RESOURCE TOKEN", 2, 0,
     "release a lock held with TOKEN on all nodes",
     "Delete the lock on RESOURCE on every node where it is still held with\n"
     "TOKEN.\n"
     "Exit status: 0 released; 1 not owned (already expired, or someone\n"
     "else's); 2 quorum unreachable."},
    {CLI_CMD_STATUS, "status", "RESOURCE", 1, 0,
     "show who holds RESOURCE on each node",
     "For each node: reachable or not, the holder's token (its first 8\n"
     "characters unless --show-token), its owner (see --owner) and the\n"
     "remaining TTL; then the\n"
     "state: held (one holder on a quorum), free (a quorum has no holder),\n"
     "split (not held: the nodes disagree) or unknown. Changes nothing.\n"
     "Exit status: 0 held on a quorum; 1 not held (free or split); 2 cannot\n"
     "tell (too few nodes answered to rule out a holder on a quorum)."},
    {CLI_CMD_EXEC, "exec", "RESOURCE", 1, 1,
     "run CMD while holding the lock, renewing it",
     "Acquire RESOURCE, run CMD (with execve, never through a shell) in its\n"
     "own process group under a lease that renews the lock, and release the\n"
     "lock when CMD exits. CMD gets REDLOCK_TOKEN and, when a quorum hands\n"
     "one out, REDLOCK_FENCE (a fencing number) in its environment. SIGINT,\n"
     "SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded to CMD's\n"
     "process group. If the lock cannot be renewed in time, CMD's group\n"
     "gets SIGTERM early enough to stop before the lock's validity ends\n"
     "(SIGKILL after --grace), and redlock exits with status 3.\n"
     "Exit status: CMD's (128+N if killed by signal N); 1 (or\n"
     "--conflict-exit-code) not acquired within --wait (with -E 0 also 0,\n"
     "and CMD is not run); 2 quorum unreachable; 3 lease lost; 126/127\n"
     "CMD could not be run."},
    {CLI_CMD_ELECT, "elect", "NAME", 1, 1,
     "campaign for leadership of NAME; run CMD while leader (--listen: "
     "watch the leader)",
     "Campaign for leadership of NAME. While leader, run CMD (as exec does;\n"
     "REDLOCK_FENCE is the term's fencing number). On losing leadership,\n"
     "stop CMD (SIGTERM, SIGKILL after --grace) and campaign again. When\n"
     "CMD exits by itself, step down and exit with its status. While it\n"
     "cannot win (too many nodes down or refusing the password), it says\n"
     "why every 10s and keeps trying.\n"
     "With --listen (and no -- CMD): campaign for nothing; print the\n"
     "current leader's owner and fence, then a line on each change (new\n"
     "leader, new term, no leader), until SIGINT or SIGTERM (exit 0)."},
};
const size_t cli_command_count = sizeof(cli_commands) / sizeof(cli_commands[0]);

/* ------------------------------------------------------------------------
 * Lookups
 * ------------------------------------------------------------------------ */

/* The command named name, or NULL. */
const cli_command *cli_command_find(const char *name)
{
    for (size_t i = 0; i < cli_command_count; i++)
        if (strcmp(cli_commands[i].name, name) == 0)
            return &cli_commands[i];
    return NULL;
}

/* The table entry of cmd, or NULL for CLI_CMD_NONE. */
const cli_command *cli_command_of(cli_cmd cmd)
{
    for (size_t i = 0; i < cli_command_count; i++)
        if (cli_commands[i].cmd == cmd)
            return &cli_commands[i];
    return NULL;
}

/* The flag with long name name (n bytes), or NULL. */
static const cli_flag *flag_by_name(const char *name, size_t n)
{
    for (size_t i = 0; i < cli_flag_count; i++)
        if (strlen(cli_flags[i].name) == n &&
            memcmp(cli_flags[i].name, name, n) == 0)
            return &cli_flags[i];
    return NULL;
}

/* The flag with short name c, or NULL. */
static const cli_flag *flag_by_short(char c)
{
    for (size_t i = 0; i < cli_flag_count; i++)
        if (cli_flags[i].short_name != 0 && cli_flags[i].short_name == c)
            return &cli_flags[i];
    return NULL;
}

/* ------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------ */

/* State of one parse: the result, and what is needed for messages. */
typedef struct parse_state {
    cli_args *a;
    const cli_command *command; /* once named */
    unsigned long seen;         /* 1 << cli_flag_id of each flag given */
    size_t extra_operands;      /* operands beyond the two kept */
    const char *first_extra;    /* the first of them, for the message */
} parse_state;

/* Print "redlock: [cmd: ]<message>" and return CLI_EXIT_USAGE. */
static int usage_error(const parse_state *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The last usage message, for --json (cli_usage_message()). */
static char last_usage[600];

/* Print "redlock: [cmd: ]<message>" and return CLI_EXIT_USAGE. */
static int usage_error(const parse_state *ps, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ps->command != NULL)
        snprintf(last_usage, sizeof(last_usage), "%s: %s", ps->command->name,
                 msg);
    else
        snprintf(last_usage, sizeof(last_usage), "%s", msg);
    fprintf(stderr, "redlock: %s\n", last_usage);
    return CLI_EXIT_USAGE;
}

/* The last usage message; see cli.h. */
const char *cli_usage_message(void)
{
    return last_usage;
}

/* Does argv ask for --json? See cli.h. */
int cli_argv_wants_json(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--json") == 0)
            return 1;
    }
    return 0;
}

/* Parse a duration flag's value into *ms, at most max_ms and at least
 * min_ms. Returns 0 or CLI_EXIT_USAGE after printing why. */
static int parse_duration_flag(const parse_state *ps, const char *spelled,
                               const char *value, uint64_t min_ms,
                               uint64_t max_ms, uint64_t *ms)
{
    char why[160];
    char lim[32];
    uint64_t v;

    if (tool_duration_parse(value, &v, why, sizeof(why)) != 0)
        return usage_error(ps, "--%s: bad duration '%s': %s", spelled, value,
                           why);
    if (v < min_ms) {
        tool_duration_format(min_ms, lim, sizeof(lim));
        return usage_error(ps, "--%s: %s is too short (at least %s)", spelled,
                           value, lim);
    }
    if (v > max_ms) {
        tool_duration_format(max_ms, lim, sizeof(lim));
        return usage_error(ps, "--%s: %s is too long (at most %s)", spelled,
                           value, lim);
    }
    *ms = v;
    return 0;
}

/* Parse a restart guard; see cli.h. */
int cli_restart_guard_parse(const char *value, uint32_t *ms, char *why,
                            size_t whylen)
{
    uint64_t v;
    char lim[32];

    if (strcmp(value, "auto") == 0) {
        *ms = REDLOCK_RESTART_GUARD_AUTO;
        return 0;
    }
    if (tool_duration_parse(value, &v, why, whylen) != 0)
        return -1;
    if (v > REDLOCK_TTL_MAX_MS) {
        tool_duration_format(REDLOCK_TTL_MAX_MS, lim, sizeof(lim));
        snprintf(why, whylen, "too long (at most %s, the longest TTL; or "
                 "auto)", lim);
        return -1;
    }
    *ms = (uint32_t)v;
    return 0;
}

/* Check an owner label; see cli.h. */
const char *cli_owner_problem(const char *owner)
{
    size_t len = strlen(owner);

    if (len == 0)
        return "empty owner";
    if (len > REDLOCK_OWNER_MAX)
        return "owner too long (at most 64 bytes)";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)owner[i] < 0x21 || (unsigned char)owner[i] > 0x7e)
            return "an owner is printable ASCII without spaces";
    return NULL;
}

/* Parse an exit status 0..255 (decimal digits only). Returns 0 or
 * CLI_EXIT_USAGE. */
static int parse_exit_code(const parse_state *ps, const char *spelled,
                           const char *value, int *out)
{
    long v = 0;
    const char *p = value;

    if (*p == '\0')
        return usage_error(ps, "--%s: empty exit status (expected 0-255)",
                           spelled);
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > 255)
            return usage_error(ps,
                               "--%s: bad exit status '%s' "
                               "(expected 0-255)",
                               spelled, value);
        v = v * 10 + (*p - '0');
    }
    if (v > 255)
        return usage_error(ps, "--%s: bad exit status '%s' (expected 0-255)",
                           spelled, value);
    *out = (int)v;
    return 0;
}

/* Record that flag f was given, then check and store its value (spelled
 * is its long name, for messages). Returns 0 or CLI_EXIT_USAGE. */
static int apply_flag(parse_state *ps, const cli_flag *f, const char *spelled,
                      const char *value)
{
    cli_args *a = ps->a;
    uint64_t ms = 0;
    int rc = 0;

    ps->seen |= 1ul << (unsigned)f->id;
    switch (f->id) {
    case CLI_F_NODE:
        if (value[0] == '\0')
            return usage_error(ps, "--%s: empty node URI", spelled);
        a->nodes[a->node_count++] = value;
        break;
    case CLI_F_PASSWORD_FILE:
        if (value[0] == '\0')
            return usage_error(ps, "--%s: empty file name", spelled);
        a->password_file = value;
        break;
    case CLI_F_OWNER: {
        const char *why = cli_owner_problem(value);

        if (why != NULL)
            return usage_error(ps, "--%s: %s", spelled, why);
        a->owner = value;
        break;
    }
    case CLI_F_TLS_CA:
    case CLI_F_TLS_CERT:
    case CLI_F_TLS_KEY:
        if (value[0] == '\0')
            return usage_error(ps, "--%s: empty file name", spelled);
        if (f->id == CLI_F_TLS_CA)
            a->tls_ca = value;
        else if (f->id == CLI_F_TLS_CERT)
            a->tls_cert = value;
        else
            a->tls_key = value;
        break;
    case CLI_F_TLS_INSECURE:
        a->tls_insecure = 1;
        break;
    case CLI_F_KEY_PREFIX:
        if (strlen(value) > REDLOCK_KEY_PREFIX_MAX)
            return usage_error(ps, "--%s: prefix too long (at most %d bytes)",
                               spelled, REDLOCK_KEY_PREFIX_MAX);
        a->key_prefix = value;
        break;
    case CLI_F_TIMEOUT:
        rc =
            parse_duration_flag(ps, spelled, value, 1, CLI_MAX_TIMEOUT_MS, &ms);
        a->timeout_ms = (uint32_t)ms;
        break;
    case CLI_F_RESTART_GUARD: {
        char why[160];

        if (cli_restart_guard_parse(value, &a->restart_guard_ms, why,
                                    sizeof(why)) != 0)
            return usage_error(ps, "--%s: bad restart guard '%s': %s",
                               spelled, value, why);
        a->restart_guard_set = 1;
        break;
    }
    case CLI_F_TTL:
        rc =
            parse_duration_flag(ps, spelled, value, 1, REDLOCK_TTL_MAX_MS, &ms);
        a->ttl_ms = (uint32_t)ms;
        a->ttl_set = 1;
        break;
    case CLI_F_WAIT:
        rc = parse_duration_flag(ps, spelled, value, 0, CLI_MAX_WAIT_MS,
                                 &a->wait_ms);
        a->wait_set = 1;
        break;
    case CLI_F_GRACE:
        rc = parse_duration_flag(ps, spelled, value, 0, CLI_MAX_GRACE_MS,
                                 &a->grace_ms);
        break;
    case CLI_F_CONFLICT_EXIT_CODE:
        rc = parse_exit_code(ps, spelled, value, &a->conflict_exit_code);
        break;
    case CLI_F_JSON:
        a->json = 1;
        break;
    case CLI_F_SHOW_TOKEN:
        a->show_token = 1;
        break;
    case CLI_F_LISTEN:
        a->listen = 1;
        break;
    case CLI_F_VERBOSE:
        a->verbose++;
        break;
    case CLI_F_QUIET:
        a->quiet = 1;
        break;
    case CLI_F_HELP:
        a->help = 1;
        break;
    case CLI_F_VERSION:
        a->version = 1;
        break;
    }
    return rc;
}

/* Handle the non-flag argument arg: the command's name if none was given
 * yet, else an operand. Returns 0 or CLI_EXIT_USAGE. */
static int take_operand(parse_state *ps, const char *arg)
{
    cli_args *a = ps->a;

    if (ps->command == NULL) {
        const cli_command *c;

        if (strcmp(arg, "help") == 0 && !a->help) {
            a->help = 1;
            return 0;
        }
        c = cli_command_find(arg);
        if (c == NULL) {
            if (a->help)
                return usage_error(ps, "no help for unknown command '%s'", arg);
            return usage_error(ps,
                               "unknown command '%s' (commands: acquire, "
                               "extend, release, status, exec, elect)",
                               arg);
        }
        ps->command = c;
        a->cmd = c->cmd;
        return 0;
    }
    if (a->operand_count < 2) {
        a->operands[a->operand_count++] = arg;
    } else {
        if (ps->extra_operands == 0)
            ps->first_extra = arg;
        ps->extra_operands++;
    }
    return 0;
}

/* Parse one argument starting with "--" (not "--" itself). *i is its
 * index and moves past a separate value. */
static int parse_long(parse_state *ps, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    const cli_flag *f = flag_by_name(name, name_len);
    const char *value = NULL;

    if (f == NULL)
        return usage_error(ps, "unknown option '--%.*s'", (int)name_len, name);
    if (f->arg == NULL) {
        if (eq != NULL)
            return usage_error(ps, "option '--%s' takes no argument", f->name);
    } else if (eq != NULL) {
        value = eq + 1;
    } else if (*i + 1 < argc) {
        value = argv[++*i];
    } else {
        return usage_error(ps, "option '--%s' needs an argument (%s)", f->name,
                           f->arg);
    }
    return apply_flag(ps, f, f->name, value);
}

/* Parse one argument "-x..." (short flags, maybe grouped, maybe with an
 * attached value). */
static int parse_short(parse_state *ps, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];

    for (size_t j = 1; arg[j] != '\0'; j++) {
        const cli_flag *f = flag_by_short(arg[j]);
        int rc;

        if (f == NULL)
            return usage_error(ps, "unknown option '-%c'", arg[j]);
        if (f->arg == NULL) {
            rc = apply_flag(ps, f, f->name, NULL);
            if (rc != 0)
                return rc;
            continue;
        }
        if (arg[j + 1] != '\0')
            return apply_flag(ps, f, f->name, arg + j + 1);
        if (*i + 1 >= argc)
            return usage_error(ps, "option '-%c' needs an argument (%s)",
                               arg[j], f->arg);
        return apply_flag(ps, f, f->name, argv[++*i]);
    }
    return 0;
}

/* After parsing: every flag must belong to the command, the operands and
 * "-- CMD" must be as the command wants. Returns 0 or CLI_EXIT_USAGE. */
static int check_parsed(parse_state *ps, int dashdash, int have_program)
{
    cli_args *a = ps->a;
    const cli_command *c = ps->command;

    if (a->help || a->version)
        return 0;
    if (c == NULL)
        return usage_error(ps, "missing command (see 'redlock --help')");
    for (size_t i = 0; i < cli_flag_count; i++)
        if ((ps->seen & (1ul << (unsigned)cli_flags[i].id)) != 0 &&
            (cli_flags[i].commands & CLI_BIT(c->cmd)) == 0)
            return usage_error(ps,
                               "'--%s' is not an option of this command "
                               "(see 'redlock %s --help')",
                               cli_flags[i].name, c->name);
    if (a->quiet && a->verbose)
        return usage_error(ps, "-q and -v cannot be combined");
    if (a->tls_cert != NULL && a->tls_key == NULL)
        return usage_error(ps, "--tls-cert needs --tls-key (the "
                               "certificate's private key)");
    if (a->tls_key != NULL && a->tls_cert == NULL)
        return usage_error(ps, "--tls-key needs --tls-cert (the client "
                               "certificate for mutual TLS)");
    if (c->takes_program && a->ttl_ms < CLI_MIN_LEASE_TTL_MS) {
        char ttl[32];

        tool_duration_format(a->ttl_ms, ttl, sizeof(ttl));
        return usage_error(ps,
                           "--ttl: %s is too short for %s (at least %ums: "
                           "the lock is renewed when a third of it is left)",
                           ttl, c->name, CLI_MIN_LEASE_TTL_MS);
    }
    if (a->listen) {
        if (dashdash)
            return usage_error(ps, "--listen runs no command: drop '-- "
                                   "CMD' (usage: redlock elect NAME --listen)");
    } else if (c->takes_program) {
        if (!dashdash && a->operand_count > c->operand_count)
            return usage_error(ps,
                               "missing '--' before the command to run "
                               "(usage: redlock %s %s [OPTIONS] -- CMD "
                               "[ARGS...])",
                               c->name, c->operands);
        if (!dashdash)
            return usage_error(ps,
                               "missing '-- CMD': the command to run "
                               "(usage: redlock %s %s [OPTIONS] -- CMD "
                               "[ARGS...])",
                               c->name, c->operands);
        if (!have_program)
            return usage_error(ps, "missing the command to run after '--'");
    }
    if (a->operand_count + ps->extra_operands > c->operand_count) {
        const char *extra = ps->extra_operands > 0
                                ? ps->first_extra
                                : a->operands[c->operand_count];
        return usage_error(ps,
                           "unexpected argument '%s' (usage: redlock %s "
                           "%s%s)",
                           extra, c->name, c->operands,
                           c->takes_program && !a->listen
                               ? " [OPTIONS] -- CMD [ARGS...]"
                               : " [OPTIONS]");
    }
    if (a->operand_count < c->operand_count) {
        /* Name the first missing operand: "RESOURCE" or "TOKEN". */
        const char *names = c->operands;
        size_t skip = a->operand_count;

        while (skip > 0 && strchr(names, ' ') != NULL) {
            names = strchr(names, ' ') + 1;
            skip--;
        }
        size_t len = strchr(names, ' ') != NULL
                         ? (size_t)(strchr(names, ' ') - names)
                         : strlen(names);
        return usage_error(ps, "missing %.*s (usage: redlock %s %s%s)",
                           (int)len, names, c->name, c->operands,
                           c->takes_program ? " [OPTIONS] -- CMD [ARGS...]"
                                            : " [OPTIONS]");
    }
    return 0;
}

/* Parse the command line; see cli.h. */
int cli_parse_args(int argc, char **argv, cli_args *a)
{
    parse_state ps;
    int dashdash = 0;
    int have_program = 0;
    int rc = 0;
    int i;

    memset(a, 0, sizeof(*a));
    memset(&ps, 0, sizeof(ps));
    ps.a = a;
    a->ttl_ms = CLI_DEFAULT_TTL_MS;
    a->grace_ms = CLI_DEFAULT_GRACE_MS;
    a->conflict_exit_code = CLI_EXIT_CONFLICT;
    /* At most one --node per argument: argc entries always suffice. */
    a->nodes = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*a->nodes));
    if (a->nodes == NULL) {
        fprintf(stderr, "redlock: out of memory\n");
        return CLI_EXIT_UNAVAILABLE;
    }

    for (i = 1; i < argc && rc == 0; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--") == 0) {
            dashdash = 1;
            break;
        }
        if (arg[0] == '-' && arg[1] == '-')
            rc = parse_long(&ps, argc, argv, &i);
        else if (arg[0] == '-' && arg[1] != '\0')
            rc = parse_short(&ps, argc, argv, &i);
        else
            rc = take_operand(&ps, arg);
    }
    if (rc == 0 && dashdash) {
        i++; /* past "--" */
        if (ps.command != NULL && ps.command->takes_program) {
            have_program = i < argc;
            a->program = have_program ? &argv[i] : NULL;
        } else {
            for (; i < argc && rc == 0; i++)
                rc = take_operand(&ps, argv[i]);
        }
    }
    if (rc == 0)
        rc = check_parsed(&ps, dashdash, have_program);
    if (rc != 0)
        cli_args_free(a);
    return rc;
}

/* Free the node array; see cli.h. */
void cli_args_free(cli_args *a)
{
    free(a->nodes);
    a->nodes = NULL;
    a->node_count = 0;
}

/* ------------------------------------------------------------------------
 * Help
 * ------------------------------------------------------------------------ */

/* Width --help wraps its text to, and the column flag help starts at. */
#define HELP_WIDTH 79
#define HELP_COLUMN 28

/* Print text word-wrapped to HELP_WIDTH, continuing lines indented to
 * column indent; the cursor is at column col (>= indent) when called.
 * Ends the line. */
static void print_wrapped(FILE *out, const char *text, int col, int indent)
{
    int at_start = 1;

    const char *p = text;

    while (*p != '\0') {
        size_t word = strcspn(p, " ");

        if (!at_start && col + 1 + (int)word > HELP_WIDTH) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (!at_start) {
            fputc(' ', out);
            col++;
        }
        at_start = 0;
        fprintf(out, "%.*s", (int)word, p);
        col += (int)word;
        p += word;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

/* Print one flag's help line: "  -t, --ttl D   help [commands]". When
 * list_commands is set, the commands that accept it follow in brackets. */
static void print_flag(FILE *out, const cli_flag *f, int list_commands)
{
    char left[64];
    int n;

    if (f->short_name != 0)
        n = snprintf(left, sizeof(left), "  -%c, --%s%s%s", f->short_name,
                     f->name, f->arg != NULL ? " " : "",
                     f->arg != NULL ? f->arg : "");
    else
        n = snprintf(left, sizeof(left), "      --%s%s%s", f->name,
                     f->arg != NULL ? " " : "", f->arg != NULL ? f->arg : "");
    char help[512];
    size_t used;

    fprintf(out, "%s", left);
    if (n >= HELP_COLUMN) {
        fprintf(out, "\n%*s", HELP_COLUMN, "");
    } else {
        fprintf(out, "%*s", HELP_COLUMN - n, "");
    }
    /* The help line, then the commands that accept the flag. */
    used = (size_t)snprintf(help, sizeof(help), "%s", f->help);
    if (list_commands && (f->commands & CLI_NODES) != CLI_NODES) {
        const char *sep = " [";
        for (size_t i = 0; i < cli_command_count && used < sizeof(help); i++) {
            if ((f->commands & CLI_BIT(cli_commands[i].cmd)) == 0)
                continue;
            used += (size_t)snprintf(help + used, sizeof(help) - used, "%s%s",
                                     sep, cli_commands[i].name);
            sep = ", ";
        }
        if (used < sizeof(help))
            snprintf(help + used, sizeof(help) - used, "]");
    }
    print_wrapped(out, help, HELP_COLUMN, HELP_COLUMN);
}

/* The lines every help ends with: where nodes and durations come from. */
static void print_help_footer(FILE *out)
{
    fprintf(out, "\nNodes come from --node (repeated) or REDLOCK_NODES "
                 "(comma-separated URIs);\n"
                 "a password for URIs without one from --password-file or "
                 "REDLOCK_PASSWORD.\n"
                 "rediss:// nodes use TLS, verified against --tls-ca or "
                 "REDLOCK_TLS_CA (else the\n"
                 "system store); for mutual TLS, --tls-cert and --tls-key, "
                 "or REDLOCK_TLS_CERT\n"
                 "and REDLOCK_TLS_KEY.\n"
                 "Durations: a bare number is seconds (30, 1.5); or with "
                 "units ms, s, m, h:\n"
                 "250ms, 1.5s, 2m, 1m30s, 2h (largest unit first; whole "
                 "milliseconds).\n"
                 "Exit status: 0 success, 1 held elsewhere or not owned, "
                 "2 quorum unreachable,\n"
                 "3 lease lost, 64 usage error. See redlock(1).\n");
}

/* Print the help of cmd; see cli.h. */
void cli_print_help(FILE *out, cli_cmd cmd)
{
    const cli_command *c = cli_command_of(cmd);

    if (c == NULL) {
        fprintf(out, "Usage: redlock COMMAND [OPTIONS] ...\n"
                     "Redlock distributed locks, leases and leader election "
                     "from the shell.\n\nCommands:\n");
        for (size_t i = 0; i < cli_command_count; i++) {
            char left[64];
            const cli_command *k = &cli_commands[i];
            int n =
                snprintf(left, sizeof(left), "  %s %s%s", k->name, k->operands,
                         k->takes_program ? " -- CMD [ARGS...]" : "");
            fprintf(out, "%s%*s", left, n < 34 ? 34 - n : 1, "");
            print_wrapped(out, k->summary, n < 34 ? 34 : n + 1, 34);
        }
        fprintf(out, "\nOptions (for every command unless listed):\n");
        for (size_t i = 0; i < cli_flag_count; i++)
            print_flag(out, &cli_flags[i], 1);
        fprintf(out, "\nRun 'redlock COMMAND --help' for one command.\n");
        print_help_footer(out);
        return;
    }
    fprintf(out, "Usage: redlock %s %s [OPTIONS]%s\n\n%s\n\nOptions:\n",
            c->name, c->operands, c->takes_program ? " -- CMD [ARGS...]" : "",
            c->details);
    for (size_t i = 0; i < cli_flag_count; i++)
        if (cli_flags[i].commands & CLI_BIT(cmd))
            print_flag(out, &cli_flags[i], 0);
    print_help_footer(out);
}
