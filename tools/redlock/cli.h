/*
 * cli.h: declarations shared by the files of the `redlock` command-line
 * tool (tools/redlock). Nothing here is part of the library: the tool
 * links the public libredlock only, and uses nothing but redlock.h.
 *
 * Files:
 *   main.c          dispatch: parse, print help or version, run a command
 *   flags.c         the one table of flags and the one table of commands;
 *                   argument parsing and --help are driven by them
 *   ../common/duration.c  durations, shared with redlock-bench: "30"
 *                   (seconds), "1.5s", "250ms", "1m30s" (duration.h)
 *   password.c      password injection into node URIs (password.h)
 *   ../common/tls_opts.c  --tls-* flags and REDLOCK_TLS_* variables,
 *                   shared with redlock-bench (tls_opts.h)
 *   output.c        messages, timestamps, JSON strings, exit codes
 *   session.c       node list, password, manager creation, the shared
 *                   acquire-with-wait loop
 *   nodes.c         why nodes fail, on stderr without -v, rate-limited
 *   events.c        the self-pipe that turns signals and election
 *                   callbacks into events for one poll() loop
 *   child.c         running CMD: PATH lookup, fork/exec in its own process
 *                   group, signalling, reaping, terminal hand-over
 *   cmd_*.c         one file per command
 */
#ifndef REDLOCK_CLI_H
#define REDLOCK_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "redlock.h"

/* ------------------------------------------------------------------------
 * Exit statuses (documented in docs/redlock.1, EXIT STATUS)
 * ------------------------------------------------------------------------ */

#define CLI_EXIT_OK 0
#define CLI_EXIT_CONFLICT 1 /* held by someone else / not owned */
#define CLI_EXIT_UNAVAILABLE                                                   \
    2                           /* quorum unreachable, or another runtime      \
                                   error */
#define CLI_EXIT_LOST 3         /* exec: the lease was lost */
#define CLI_EXIT_USAGE 64       /* EX_USAGE: bad flags or arguments */
#define CLI_EXIT_CANNOT_RUN 126 /* CMD found but could not be executed */
#define CLI_EXIT_NOT_FOUND 127  /* CMD not found */

/* ------------------------------------------------------------------------
 * Defaults
 * ------------------------------------------------------------------------ */

#define CLI_DEFAULT_TTL_MS 30000u
#define CLI_DEFAULT_GRACE_MS 5000u
/* Longest --wait and --grace accepted: one year and one day. */
#define CLI_MAX_WAIT_MS (366ull * 24u * 3600u * 1000u)
#define CLI_MAX_GRACE_MS (24ull * 3600u * 1000u)
/* Shortest --ttl of exec and elect, which renew the lock with a lease:
 * the lease renews when a third of the TTL is left, which must exceed
 * its loss margin of 2 ms (the library refuses less with
 * REDLOCK_ERANGE, elect's election below 10 ms too). Checked with the
 * other flags, so exec never acquires a lock it cannot keep. */
#define CLI_MIN_LEASE_TTL_MS 10u
/* Longest --timeout accepted: ten minutes. */
#define CLI_MAX_TIMEOUT_MS (10u * 60u * 1000u)
/* How often `elect --listen` reads the leader from the nodes. */
#define CLI_LISTEN_INTERVAL_MS 200
/* Characters of a holder token that `status` shows without --show-token. */
#define CLI_TOKEN_PREFIX_LEN 8

/* ------------------------------------------------------------------------
 * Commands and flags (flags.c)
 * ------------------------------------------------------------------------ */

/* The commands. CLI_CMD_NONE is "no command yet" (top-level flags). */
typedef enum cli_cmd {
    CLI_CMD_NONE = 0,
    CLI_CMD_ACQUIRE,
    CLI_CMD_EXTEND,
    CLI_CMD_RELEASE,
    CLI_CMD_STATUS,
    CLI_CMD_EXEC,
    CLI_CMD_ELECT,
    CLI_CMD_COUNT
} cli_cmd;

/* Bit of a command in cli_flag.commands. */
#define CLI_BIT(cmd) (1u << (unsigned)(cmd))
/* Every command, and the top level. */
#define CLI_ALL                                                                \
    (CLI_BIT(CLI_CMD_NONE) | CLI_BIT(CLI_CMD_ACQUIRE) |                        \
     CLI_BIT(CLI_CMD_EXTEND) | CLI_BIT(CLI_CMD_RELEASE) |                      \
     CLI_BIT(CLI_CMD_STATUS) | CLI_BIT(CLI_CMD_EXEC) | CLI_BIT(CLI_CMD_ELECT))
/* Every command that talks to nodes. */
#define CLI_NODES (CLI_ALL & ~CLI_BIT(CLI_CMD_NONE))

/* Identifies a flag, independent of its spelling. */
typedef enum cli_flag_id {
    CLI_F_NODE,
    CLI_F_PASSWORD_FILE,
    CLI_F_KEY_PREFIX,
    CLI_F_TIMEOUT,
    CLI_F_TTL,
    CLI_F_WAIT,
    CLI_F_GRACE,
    CLI_F_CONFLICT_EXIT_CODE,
    CLI_F_JSON,
    CLI_F_SHOW_TOKEN,
    CLI_F_VERBOSE,
    CLI_F_QUIET,
    CLI_F_HELP,
    CLI_F_VERSION,
    CLI_F_OWNER,
    CLI_F_LISTEN,
    CLI_F_RESTART_GUARD,
    CLI_F_TLS_CA,
    CLI_F_TLS_CERT,
    CLI_F_TLS_KEY,
    CLI_F_TLS_INSECURE
} cli_flag_id;

/* One flag: the single source for parsing, --help and (checked by a
 * test) the man page. */
typedef struct cli_flag {
    cli_flag_id id;
    const char *name;  /* long name, without "--" */
    char short_name;   /* 0 if none */
    const char *arg;   /* placeholder of its argument ("D", "URI"), or
                          NULL if it takes none */
    unsigned commands; /* CLI_BIT()s of the commands that accept it */
    const char *help;  /* one line, no trailing period */
} cli_flag;

/* One command. */
typedef struct cli_command {
    cli_cmd cmd;
    const char *name;     /* "acquire" */
    const char *operands; /* "RESOURCE", "RESOURCE TOKEN", "NAME" */
    size_t operand_count; /* how many operands it takes, exactly */
    int takes_program;    /* 1: "-- CMD [ARGS...]" follows */
    const char *summary;  /* one line for the command list */
    const char *details;  /* a few lines for its --help */
} cli_command;

/* The tables (flags.c), and their lengths. */
extern const cli_flag cli_flags[];
extern const size_t cli_flag_count;
extern const cli_command cli_commands[];
extern const size_t cli_command_count;

/* Everything the command line said, after parsing and checking. Strings
 * point into argv; nothing here is allocated except `nodes`. */
typedef struct cli_args {
    cli_cmd cmd;
    const char *operands[2];
    size_t operand_count;
    char **program;     /* CMD [ARGS...], NULL-terminated (points into
                           argv), or NULL */
    const char **nodes; /* --node values, in order (heap array) */
    size_t node_count;
    const char *password_file;
    const char *key_prefix;
    const char *owner; /* --owner, or NULL */
    const char *tls_ca;   /* --tls-ca, or NULL (then $REDLOCK_TLS_CA) */
    const char *tls_cert; /* --tls-cert and --tls-key: both or neither */
    const char *tls_key;  /* (then $REDLOCK_TLS_CERT, $REDLOCK_TLS_KEY) */
    int tls_insecure;     /* --tls-insecure */
    uint32_t ttl_ms;
    int ttl_set;
    uint64_t wait_ms;
    int wait_set; /* 0: wait without limit */
    uint64_t grace_ms;
    uint32_t timeout_ms;    /* 0: the library's defaults */
    uint32_t restart_guard_ms; /* --restart-guard: ms, or
                                  REDLOCK_RESTART_GUARD_AUTO */
    int restart_guard_set;  /* 0: $REDLOCK_RESTART_GUARD, else auto */
    int conflict_exit_code; /* exit status when held elsewhere */
    int json;
    int show_token;
    int listen;  /* elect --listen: watch the leader, run nothing */
    int verbose; /* count of -v */
    int quiet;
    int help;
    int version;
} cli_args;

/*
 * Parse argv into *a (which this fills from scratch). Returns 0 on
 * success, or CLI_EXIT_USAGE after printing a one-line message naming the
 * problem to stderr. On success the caller frees a->nodes with
 * cli_args_free(). When a->help or a->version is set the other checks
 * (operands, "--") are skipped.
 */
int cli_parse_args(int argc, char **argv, cli_args *a);

/* Free what cli_parse_args() allocated. */
void cli_args_free(cli_args *a);

/* The command named name, or NULL. */
const cli_command *cli_command_find(const char *name);

/* The table entry of cmd (never NULL for a valid cmd). */
const cli_command *cli_command_of(cli_cmd cmd);

/* Print the help of cmd (CLI_CMD_NONE: the general help) to out. */
void cli_print_help(FILE *out, cli_cmd cmd);

/* Parse a restart guard (--restart-guard, $REDLOCK_RESTART_GUARD):
 * "auto" (REDLOCK_RESTART_GUARD_AUTO), or a duration from 0 (off) to
 * 168h (the longest TTL: no guard needs more). Returns 0 with *ms set,
 * or -1 with a reason in why (not repeating value). */
int cli_restart_guard_parse(const char *value, uint32_t *ms, char *why,
                            size_t whylen);

/* Check an owner label: 1..REDLOCK_OWNER_MAX bytes of printable ASCII
 * without spaces (0x21..0x7e), as the library requires. Returns NULL if
 * it is fine, else a phrase saying what is wrong. */
const char *cli_owner_problem(const char *owner);

/* The message of the last usage error cli_parse_args() printed (without
 * "redlock: "), or "" if none. */
const char *cli_usage_message(void);

/* 1 if argv asks for --json before any "--": so that a usage error can
 * still be reported as JSON when parsing failed. */
int cli_argv_wants_json(int argc, char **argv);

/* ------------------------------------------------------------------------
 * Output (output.c)
 * ------------------------------------------------------------------------ */

/* Verbosity: -1 with -q, 0 by default, 1 or more with -v. Set once by
 * main() before any thread starts; read-only afterwards. */
extern int cli_verbosity;

/* "redlock: <message>" on stderr, always (errors). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "redlock: <message>" on stderr unless -q (expected outcomes such as
 * "held by someone else", and warnings). */
void cli_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "<UTC time> redlock[pid]: <message>" on stderr with -v only. Safe from
 * any thread (one fprintf per line). */
void cli_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write s (len bytes) as a JSON string, quotes included. */
void cli_json_string(FILE *out, const char *s, size_t len);

/* Write s (len bytes) for a human: printable ASCII as is, other bytes as
 * "\xNN". */
void cli_print_escaped(FILE *out, const char *s, size_t len);

/* Report that the library refused --ttl (ttl_ms) with REDLOCK_ETTLSHORT:
 * one error line naming the flag, the value and the rule. The caller
 * exits with CLI_EXIT_USAGE, as for any other bad flag value. */
void cli_ttl_too_short(const char *cmd_name, uint32_t ttl_ms);

/* The exit status for a library status (see EXIT STATUS in redlock.1).
 * Also notes st for --json (cli_note_status()) when it is not OK. */
int cli_exit_for_status(redlock_status st);

/* --json on failures. stdout must hold one JSON object whatever happens,
 * so a command that fails prints none of its own and main() prints the
 * error object instead:
 *   {"error":"<message>","status":"ETAKEN","exit":1,"command":"acquire",
 *    "resource":"r"}
 * where error is the last error (else notice) printed to stderr, status
 * the library status name noted with the failure (null for a usage
 * error), and exit the process exit status. */

/* The name of st without its "REDLOCK_" prefix ("ETAKEN"), as --json
 * and the node error lines show it. */
const char *cli_status_short_name(redlock_status st);

/* Note the library status behind a failure, for --json's "status". Any
 * thread. */
void cli_note_status(redlock_status st);

/* Say that the command printed its JSON result (or, for exec and elect,
 * that CMD ran and ended by itself, so stdout is CMD's): main() then adds
 * no error object. Any thread. */
void cli_json_done(void);

/* Print the error object to out unless cli_json_done() was called (once
 * at most). message NULL: the last error, else the last notice printed.
 * command and resource may be NULL (usage errors). */
void cli_json_error(FILE *out, const char *command, const char *resource,
                    const char *message, int exit_code);

/* The exit status of a child from its waitpid() status: its exit code, or
 * 128 + the signal that killed it. */
int cli_exit_for_wait_status(int wstatus);

/* ------------------------------------------------------------------------
 * Session (session.c): nodes, credentials, manager, acquiring
 * ------------------------------------------------------------------------ */

/*
 * Create the manager for a's nodes (--node, else $REDLOCK_NODES), with the
 * password from --password-file or $REDLOCK_PASSWORD put into URIs that
 * lack one, the TLS files from --tls-* or $REDLOCK_TLS_* (a warning on
 * stderr with --tls-insecure, even with -q; a notice when TLS settings
 * are given but no node is rediss://), a's --key-prefix and --timeout,
 * and -v logging. Returns 0 and
 * *out, or an exit status (CLI_EXIT_USAGE for bad nodes or flags,
 * CLI_EXIT_UNAVAILABLE otherwise) after printing why.
 */
int cli_session_open(const cli_args *a, redlock_manager **out);

/* How cli_acquire_wait() ended. The outcome, not the exit status, says
 * whether a lock was taken: --conflict-exit-code may make "held by
 * someone else" exit with 0 (flock's "-n -E 0" cron idiom), and that must
 * never read as "acquired". */
typedef enum cli_acquire_outcome {
    CLI_ACQUIRED = 0,   /* *out holds the lock */
    CLI_HELD_ELSEWHERE, /* the last attempt found it held by someone else */
    CLI_NOT_ACQUIRED    /* any other failure (no quorum, bad --ttl, ...) */
} cli_acquire_outcome;

/*
 * Acquire a->operands[0] for a->ttl_ms, retrying while it is held
 * elsewhere or the quorum is unreachable until --wait has passed (no
 * attempt starts after it; --wait 0 makes one attempt; no --wait: no
 * limit). Returns the outcome. With CLI_ACQUIRED, *out holds the lock and
 * *exit_code is 0. Otherwise *out is NULL, why was printed, and
 * *exit_code is the status to exit with: a->conflict_exit_code for
 * CLI_HELD_ELSEWHERE (any of 0..255, 0 included), and for
 * CLI_NOT_ACQUIRED a non-zero one (CLI_EXIT_UNAVAILABLE when no quorum
 * could be reached, CLI_EXIT_USAGE for a bad argument).
 */
cli_acquire_outcome cli_acquire_wait(redlock_manager *m, const cli_args *a,
                                     redlock_lock **out, int *exit_code);

/*
 * For `extend` and `release`: check the RESOURCE and TOKEN operands, open
 * the session and adopt the lock held elsewhere under that token (nothing
 * is sent yet). Returns 0 with *m and *lock set (the caller destroys and
 * frees them), or the exit status after printing why (then *m and *lock
 * are NULL).
 */
int cli_adopt_by_token(const cli_args *a, const char *cmd_name,
                       redlock_manager **m, redlock_lock **lock);

/*
 * After a one-shot acquire, extend or release (which return once a quorum
 * answered, while the command still travels to the other nodes): wait,
 * up to the command timeout, until every reachable node has processed
 * it, so that the process does not exit (and drop what is still queued)
 * before the key lands, or goes, everywhere it can. How: one
 * redlock_inspect(), whose read is queued on each node's connection
 * behind what the call sent, so its answer comes after that command's.
 * Returns how many nodes store token under res afterwards, or -1 if the
 * nodes could not be asked; with -v, logs each node that does not (for
 * a release, when releasing is set: only the unreachable ones and those
 * held by another token). seen, if not NULL, receives what each node
 * said as an acquire's per-node statuses (attempts 1, node_status[i]:
 * the error of an unreachable node, else REDLOCK_OK), for
 * cli_nodes_report_config(): a node refusing us (a duplicate, say) is
 * then reported even when its node event has not reached us yet (a
 * worker reports the event after it answered the slot).
 */
int cli_settle(redlock_manager *m, const char *res, const char *token,
               int releasing, redlock_acquire_info *seen);

/*
 * redlock_inspect() of res on every node, as cli_settle() uses it: an
 * array of redlock_manager_node_count(m) views the caller frees, or NULL
 * if it could not be allocated or the nodes could not be asked.
 */
redlock_node_view *cli_inspect(redlock_manager *m, const char *res);

/* Check a resource operand: not empty, at most REDLOCK_RESOURCE_MAX
 * bytes. Returns 0, or CLI_EXIT_USAGE after printing why. */
int cli_check_resource(const char *cmd_name, const char *resource);

/* What to check when a quorum refuses with st (EAUTH: the password;
 * EDB: the database index; EDUPNODE: duplicate servers; ETLS: the CA,
 * client certificate and the nodes' certificates): one phrase. */
const char *cli_config_hint(redlock_status st);

/* 1 for the statuses of a node that refuses us for our configuration
 * (EAUTH, EDB, EDUPNODE, ETLS): retrying will not change them. */
int cli_is_config_status(redlock_status st);

/* Check a TOKEN operand: REDLOCK_TOKEN_LEN lowercase hex characters, as
 * the library prints them. Returns 0, or CLI_EXIT_USAGE after printing
 * why. */
int cli_check_token(const char *cmd_name, const char *token);

/* ------------------------------------------------------------------------
 * Node problems (nodes.c): one line per failing node and reason on
 * stderr, without -v, at most once per node and reason every
 * CLI_NODE_REPORT_EVERY_US
 * ------------------------------------------------------------------------ */

#define CLI_NODE_REPORT_EVERY_US (10u * 1000u * 1000u)

/* Copy into out (len bytes) the last message the library gave about node
 * name, if its last status was st (for example the restart guard's
 * "restart guard: ..., for 27.3 s more"). Returns 1 if found, else 0
 * with out "". Any thread. */
int cli_nodes_message(const char *name, redlock_status st, char *out,
                      size_t len);

/* Set o's node_error_fn to record each node's latest failure (and print
 * it while live reporting is on). cli_session_open() calls it. */
void cli_nodes_hook(redlock_options *o);

/* Print node failures as the library reports them (on), or only record
 * them (off, the default). Commands turn it on while they wait for a
 * lock (acquire and exec with --wait) or campaign (elect). Turning it on
 * first prints the nodes already recorded as down (rate-limited), so a
 * failure reported between an attempt's report and the start of the
 * wait is not lost. Any thread. */
void cli_nodes_live(int on);

/* Print a line for each node whose status in info's last attempt is an
 * error (not OK, ETAKEN or EPENDING), with the library's message for it
 * when it has one. Returns how many nodes failed. Main thread. */
size_t cli_nodes_report_attempt(redlock_manager *m,
                                const redlock_acquire_info *info);

/* After a success: print a line for each node that refused our password,
 * database, vote or TLS setup (EAUTH, EDB, EDUPNODE, ETLS) in info's
 * last attempt or as
 * last reported by the library (info NULL: only the latter): the lock
 * was won without it, but the cluster tolerates fewer failures until it
 * is fixed. Returns how many. Main thread. */
size_t cli_nodes_report_config(redlock_manager *m,
                               const redlock_acquire_info *info);

/* Print a line for each node that is down now, as last reported by the
 * library. Returns how many are down, and in *worst EAUTH, EDB, EDUPNODE
 * or ETLS if one of them failed so (configuration errors), else
 * ENOQUORUM if any is down, else OK. Main thread. */
size_t cli_nodes_report_down(redlock_manager *m, redlock_status *worst);

/* Print "redlock: <message>" unless a line with the same key and st was
 * printed less than CLI_NODE_REPORT_EVERY_US ago. Returns 1 if printed. */
int cli_report_limited(const char *key, redlock_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------
 * Events (events.c): one pipe, one poll()
 * ------------------------------------------------------------------------ */

typedef enum cli_event_kind {
    CLI_EV_SIGNAL = 1,  /* arg: the signal number */
    CLI_EV_ELECTED = 2, /* value: the term's fencing number */
    CLI_EV_DEMOTED = 3  /* arg: the redlock_status reason */
} cli_event_kind;

/* One event, written to the pipe in one write() (atomic: < PIPE_BUF). */
typedef struct cli_event {
    int32_t kind;
    int32_t arg;
    uint64_t value;
} cli_event;

/* Create the pipe and catch SIGCHLD and the forwarded signals (SIGINT,
 * SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2). Returns 0 or -1 (errno).
 * Main thread, once. */
int cli_events_init(void);

/* The pipe's read end, for poll(). */
int cli_events_fd(void);

/* Post an event; async-signal-safe, any thread. Dropped only if the pipe
 * is full (thousands of unread events). */
void cli_events_post(int kind, int arg, uint64_t value);

/* Read the next event without blocking: 1 and *ev, or 0 if none. */
int cli_events_next(cli_event *ev);

/* 1 if sig is one the tool forwards to CMD's process group. */
int cli_events_is_forwarded(int sig);

/* ------------------------------------------------------------------------
 * Running CMD (child.c)
 * ------------------------------------------------------------------------ */

/* One running CMD. */
typedef struct cli_child {
    pid_t pid;           /* > 0 while it has not been reaped */
    pid_t pgid;          /* its process group (== the first pid) */
    int tty_fd;          /* terminal handed to its group, or -1 */
    uint64_t kill_at_us; /* SIGKILL the group then; 0: not scheduled */
    int stopping;        /* we asked it to stop (SIGTERM sent) */
    int wstatus;         /* waitpid() status once reaped */
} cli_child;

/*
 * Find program (argv[0] of CMD) as execvp() would: as given when it
 * contains a '/', else in each directory of $PATH (default
 * "/usr/local/bin:/usr/bin:/bin"). Returns a heap path, or NULL with errno
 * ENOENT (not found), EACCES (found, not executable) or ENOMEM. Done in
 * the parent, before the lock is taken, and never through a shell.
 */
char *cli_find_program(const char *program);

/*
 * A copy of the environment with each "NAME=value" of set replacing any
 * NAME already there, and each NAME in unset removed. NULL-terminated
 * heap array; free with cli_env_free(). NULL on ENOMEM.
 */
char **cli_env_build(const char *const *set, size_t set_count,
                     const char *const *unset, size_t unset_count);

/* Free an array from cli_env_build(). NULL is ignored. */
void cli_env_free(char **env);

/*
 * Start path with argv and envp in a new process group (its own), hand it
 * the terminal when we are the terminal's foreground job, and make it die
 * with SIGKILL if this process dies first (PR_SET_PDEATHSIG). Returns 0
 * once execve() succeeded, or the exit status to use (CLI_EXIT_CANNOT_RUN,
 * CLI_EXIT_NOT_FOUND) after printing why. Main thread only.
 */
int cli_child_start(cli_child *c, const char *path, char *const argv[],
                    char *const envp[]);

/* Send sig to the child's process group (SIGCONT too, for SIGTERM, so a
 * stopped group can act on it). No-op once the group is gone. */
void cli_child_signal(const cli_child *c, int sig);

/* Ask the child to stop: SIGTERM to its group now, SIGKILL after
 * grace_ms. */
void cli_child_terminate(cli_child *c, uint64_t grace_ms);

/*
 * Reap the child if it changed state: returns 1 once it has exited (its
 * status in c->wstatus, c->pid = 0, the terminal taken back), else 0. A
 * child stopped by the terminal (Ctrl-Z) stops this process too, and both
 * continue together.
 */
int cli_child_reap(cli_child *c);

/* 1 while processes of the child's group are left (the child itself or
 * what it started in its group). */
int cli_child_group_alive(const cli_child *c);

/* Send the scheduled SIGKILL if its time has come. */
void cli_child_tick(cli_child *c, uint64_t now_us);

/* ------------------------------------------------------------------------
 * Commands (cmd_*.c): each returns the process exit status
 * ------------------------------------------------------------------------ */

int cli_cmd_acquire(const cli_args *a);
int cli_cmd_extend(const cli_args *a);
int cli_cmd_release(const cli_args *a);
int cli_cmd_status(const cli_args *a);
int cli_cmd_exec(const cli_args *a);
int cli_cmd_elect(const cli_args *a);

#endif /* REDLOCK_CLI_H */
