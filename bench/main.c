/*
 * main.c: redlock-bench's flags and run loop.
 *
 * DESIGN
 * One table of flags (name, argument, help) drives both getopt_long and
 * --help, as STYLE.md 3.14 asks, so a flag cannot exist undocumented.
 *
 * The run loop, for each node count of --nodes-count (or once for the
 * --node list): get the nodes (spawned on loopback unless --node was
 * given), measure the limits L1 and L2, run the selected workloads in
 * bench_wl_order() (W2A right after W2, the row it is set against), and
 * for --plot the W2 thread sweep, then --soak; stop the
 * spawned nodes. Each result is written out at once (--json / --csv lines
 * on stdout) and the human table follows at the end, on stdout, or on
 * stderr when stdout carries --json or --csv.
 *
 * SIGINT, SIGTERM and SIGHUP only set the stop flag: the running workload winds
 * down, the results so far are reported, the servers are stopped, and the
 * exit status is 130. A second signal kills at once (the servers then die
 * with us through PR_SET_PDEATHSIG; redis_spawn's atexit handler is the
 * last resort for a normal exit that skipped the cleanup).
 *
 * A process started with --candidate-fd is not a bench: it is one W5
 * candidate (see workloads.c), started by a bench.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "redlock.h"
#include "tls_certs.h"
#include "tls_opts.h"

/* Exit statuses (documented in --help and docs/bench.md). */
#define EXIT_RUN_FAILED 1   /* a workload or the nodes failed */
#define EXIT_USAGE 64       /* bad flags (EX_USAGE, as redlock) */
#define EXIT_CHECK_FAILED 3 /* a violation or a lost lease was seen */
#define EXIT_INTERRUPTED 130

/* Size of one JSON or CSV output line (a soak line carries its RSS
 * samples, windows and faults). */
#define LINE_MAX_BYTES 262144

/* ------------------------------------------------------------------------
 * Flags
 * ------------------------------------------------------------------------ */

/* Flag ids (getopt_long's `val`); short flags use their letter. */
enum {
    F_HELP = 'h',
    F_VERSION = 'V',
    F_NODE = 256,
    F_SPAWN,
    F_SPAWN_CLUSTER,
    F_NODES_COUNT,
    F_WORKLOADS,
    F_THREADS,
    F_ASYNC,
    F_DURATION,
    F_TTL,
    F_RETRY_DELAY,
    F_RETRY_JITTER,
    F_ELECTION_TTL,
    F_RESTART_GUARD,
    F_KEY_PREFIX,
    F_LEASES,
    F_CANDIDATES,
    F_JSON,
    F_CSV,
    F_PLOT,
    F_SOAK,
    F_SOAK_DURATION,
    F_SOAK_FAULT_INTERVAL,
    F_CANDIDATE_FD,
    F_ELECTION,
    F_TLS,
    F_TLS_CA,
    F_TLS_CERT,
    F_TLS_KEY,
    F_TLS_INSECURE
};

/* One flag: its long name, argument name (NULL: none) and help. */
typedef struct flag {
    const char *name;
    int id;
    const char *arg;
    const char *help;
} flag;

/* Every flag, in --help order. */
static const flag flags[] = {
    {"node", F_NODE, "URI",
     "use this Redis master (repeat for each node) instead of spawning "
     "local ones; redis://[[user]:password@]host[:port][/db], the same "
     "with rediss:// for TLS, unix:///path, a Redis Cluster "
     "(redis://host:port?cluster=yes[&seed=host:port]...) or a Sentinel "
     "master (sentinel://host:port/NAME[?sentinel=host:port]..., "
     "sentinels:// for TLS)"},
    {"spawn", F_SPAWN, "N",
     "spawn N local redis-servers on loopback (default 3)"},
    {"spawn-cluster", F_SPAWN_CLUSTER, "SHARDS",
     "make each spawned node a local Redis Cluster of SHARDS masters, "
     "3..9, no replicas (one Redlock vote per cluster, keys on their "
     "slot's master); L1 and L2 are then those of each cluster's first "
     "master (one shard); not with --node, --tls or --soak"},
    {"nodes-count", F_NODES_COUNT, "LIST",
     "sweep node counts, spawning for each, e.g. 1,3,5"},
    {"workloads", F_WORKLOADS, "LIST",
     "workloads to run, e.g. W1,W3 (default W1,W2,W3,W3P,W4,W5; all: "
     "those and W2A)"},
    {"threads", F_THREADS, "N",
     "threads of W2 and W3/W3P (default 64 for W2, 16 for W3)"},
    {"async", F_ASYNC, "K",
     "also run W2A: W2's cycles from ONE thread with K in flight through "
     "a completion queue, 1..4096 (W2A alone in --workloads: K = 64)"},
    {"duration", F_DURATION, "TIME",
     "time per workload: 5, 1.5, 500ms, 2m, 1m30s (default 5 s; W4, W5 10 s; "
     "also the soak's unless --soak-duration; at most 366 days)"},
    {"ttl", F_TTL, "TIME",
     "lock TTL of W1-W3 with a unit, 10ms..168h (default 10s)"},
    {"retry-delay", F_RETRY_DELAY, "TIME",
     "retry delay of W3 and of the W5 candidates with a unit, 0ms..1h "
     "(default 5ms)"},
    {"retry-jitter", F_RETRY_JITTER, "TIME",
     "retry jitter of W3 and of the W5 candidates with a unit, 0ms..1h "
     "(default 10ms)"},
    {"election-ttl", F_ELECTION_TTL, "TIME",
     "leadership TTL of W5 with a unit, 10ms..168h (default 1s)"},
    {"restart-guard", F_RESTART_GUARD, "TIME",
     "every manager's restart guard: auto (default: the largest TTL that "
     "manager sent; freshly spawned nodes are usable at once), 0ms (off), "
     "or a time with a unit up to 168h"},
    {"key-prefix", F_KEY_PREFIX, "STR",
     "key prefix; keys are <prefix><run-id>:<n> (default redlock-bench:)"},
    {"leases", F_LEASES, "L", "leases held by W4 (default 1000)"},
    {"candidates", F_CANDIDATES, "C",
     "W5 candidate processes (default 3, at least 2)"},
    {"json", F_JSON, NULL,
     "one JSON object per workload and node count on stdout (the table "
     "goes to stderr)"},
    {"csv", F_CSV, NULL,
     "CSV with a header line on stdout (the table goes to stderr)"},
    {"plot", F_PLOT, "DIR",
     "draw PNGs into DIR with gnuplot: latency CDF per workload and W2 "
     "throughput vs threads (runs W2 also at 1, 4, 16, 64 threads)"},
    {"soak", F_SOAK, NULL,
     "run W2 and W4 together (default 10 min) with faults injected into "
     "spawned nodes; reports RSS, fds, threads at start and end, ops/s "
     "per 10 s and PASS/FAIL for no growth; alone unless --workloads is "
     "given too"},
    {"soak-duration", F_SOAK_DURATION, "TIME",
     "length of --soak: 120s, 10m (default 10m)"},
    {"soak-fault-interval", F_SOAK_FAULT_INTERVAL, "TIME",
     "time between --soak faults, rotating: SIGSTOP a minority 2 s, CLIENT "
     "KILL on one node, SCRIPT FLUSH on all, DEBUG SLEEP 0.5 on one "
     "(default 30s; 0: none; never with --node)"},
    {"tls", F_TLS, NULL,
     "spawn TLS-only nodes (rediss://) with a CA and certificates made "
     "for the run, and use that CA; not with --node or --tls-ca, "
     "--tls-cert, --tls-key"},
    {"tls-ca", F_TLS_CA, "FILE",
     "CA file, or directory of hashed certificates, for rediss:// nodes "
     "(default: $REDLOCK_TLS_CA, else the system store)"},
    {"tls-cert", F_TLS_CERT, "FILE",
     "client certificate for mutual TLS; needs --tls-key (default: "
     "$REDLOCK_TLS_CERT)"},
    {"tls-key", F_TLS_KEY, "FILE",
     "its private key (default: $REDLOCK_TLS_KEY)"},
    {"tls-insecure", F_TLS_INSECURE, NULL,
     "do NOT verify rediss:// nodes' certificates or names (test setups "
     "only; warns)"},
    {"help", F_HELP, NULL, "show this help and exit"},
    {"version", F_VERSION, NULL, "show the version and exit"},
    {"candidate-fd", F_CANDIDATE_FD, "FD",
     "internal: run as one W5 candidate reporting on FD (needs --node, "
     "--election)"},
    {"election", F_ELECTION, "NAME", "internal: the W5 election name"},
};

#define FLAG_COUNT (sizeof(flags) / sizeof(flags[0]))

/* Print one flag's line: the flag in a 28-column margin, then its help
 * wrapped at word boundaries to 79 columns. */
static void print_wrapped(FILE *out, const char *left, const char *help)
{
    const int margin = 29, width = 79;
    const char *p = help;
    int first = 1;

    while (*p != '\0') {
        int room = width - margin, len = (int)strlen(p), cut = len;
        if (len > room) {
            cut = room;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = room;
        }
        if (first)
            fprintf(out, "  %-26s %.*s\n", left, cut, p);
        else
            fprintf(out, "%*s%.*s\n", margin, "", cut, p);
        first = 0;
        p += cut;
        while (*p == ' ')
            p++;
    }
}

/* Print --help from the flag table. */
static void usage(FILE *out)
{
    fprintf(out,
            "usage: redlock-bench [options]\n\n"
            "Benchmark libredlock on N Redis masters: workloads W1 serial, "
            "W2 parallel\n(W2A: the same from one thread with --async K "
            "operations in flight),\nW3 contended (W3P: the same with a "
            "10 ms polling client), W4 leases,\nW5 failover, each beside "
            "the limits L1 "
            "(PING round trip), L1q (inline quorum\nfan-out: SET NX PX to "
            "all nodes from one thread until a quorum said OK) and\nL2 "
            "(pipelined SET capacity), measured in the same run. With no "
            "--node, N local\nredis-servers are started on loopback and "
            "stopped at the end (also on Ctrl-C).\nA live progress line is "
            "drawn on stderr when stderr is a terminal.\n"
            "\noptions:\n");
    for (size_t i = 0; i < FLAG_COUNT; i++) {
        char left[64];
        const flag *f = &flags[i];
        if (f->id == F_HELP || f->id == F_VERSION)
            snprintf(left, sizeof(left), "-%c, --%s", f->id, f->name);
        else if (f->arg != NULL)
            snprintf(left, sizeof(left), "    --%s %s", f->name, f->arg);
        else
            snprintf(left, sizeof(left), "    --%s", f->name);
        print_wrapped(out, left, f->help);
    }
    fprintf(out, "\nDurations (TIME): a bare number is seconds (5, 1.5), or "
                 "units ms, s, m, h\n(500ms, 2m, 1m30s), as for redlock(1).\n"
                 "TLS flags and REDLOCK_TLS_CA, REDLOCK_TLS_CERT, "
                 "REDLOCK_TLS_KEY work as for\nredlock(1); --tls ignores "
                 "the variables.\n"
                 "\nexit status: 0 ok; 1 a workload or the nodes failed; 3 a "
                 "mutual-exclusion\nviolation or a lost lease was seen; 64 bad "
                 "usage; 130 interrupted.\nSee docs/bench.md.\n");
}

/* Report a bad flag value and return EXIT_USAGE. */
static int bad_value(const char *name, const char *value, const char *want)
{
    fprintf(stderr, "redlock-bench: --%s %s: expected %s (see --help)\n",
            name, value, want);
    return EXIT_USAGE;
}

/* Extra state from the flags that is not part of bench_config. */
typedef struct cli {
    int help, version;
    int candidate_fd;     /* -1: not a candidate */
    const char *election; /* candidate's election name */
    int spawn_given, counts_given, duration_given, soak_duration_given;
    tool_tls_flags tls; /* --tls-ca, --tls-cert, --tls-key, --tls-insecure */
} cli;

/* Parse argv into cfg and c. Returns 0, or an exit status. */
static int parse_flags(int argc, char **argv, bench_config *cfg, cli *c)
{
    struct option opts[FLAG_COUNT + 1];
    uint32_t v;
    int opt;

    memset(c, 0, sizeof(*c));
    c->candidate_fd = -1;
    for (size_t i = 0; i < FLAG_COUNT; i++) {
        opts[i].name = flags[i].name;
        opts[i].has_arg = flags[i].arg != NULL ? required_argument
                                               : no_argument;
        opts[i].flag = NULL;
        opts[i].val = flags[i].id;
    }
    memset(&opts[FLAG_COUNT], 0, sizeof(opts[FLAG_COUNT]));
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":hV", opts, NULL)) != -1) {
        const char *name = "";
        for (size_t i = 0; i < FLAG_COUNT; i++)
            if (flags[i].id == opt)
                name = flags[i].name;
        switch (opt) {
        case F_HELP:
            c->help = 1;
            break;
        case F_VERSION:
            c->version = 1;
            break;
        case F_NODE:
            if (cfg->node_uri_count == BENCH_NODES_MAX) {
                fprintf(stderr, "redlock-bench: at most %d --node\n",
                        BENCH_NODES_MAX);
                return EXIT_USAGE;
            }
            cfg->node_uris[cfg->node_uri_count++] = optarg;
            break;
        case F_SPAWN:
            if (bench_parse_u32(optarg, 1, BENCH_NODES_MAX, &v) != 0)
                return bad_value(name, optarg, "1..16");
            cfg->node_counts[0] = v;
            cfg->node_count_n = 1;
            c->spawn_given = 1;
            break;
        case F_SPAWN_CLUSTER:
            if (bench_parse_u32(optarg, RC_MIN_MASTERS, BENCH_SHARDS_MAX,
                                &v) != 0)
                return bad_value(name, optarg,
                                 "3..9 masters per cluster (3 is the "
                                 "fewest redis-cli --cluster create "
                                 "accepts)");
            cfg->cluster_shards = v;
            break;
        case F_NODES_COUNT: {
            int n = bench_parse_u32_list(optarg, 1, BENCH_NODES_MAX,
                                         cfg->node_counts, BENCH_SWEEP_MAX);
            if (n < 0)
                return bad_value(name, optarg, "a list like 1,3,5 (1..16)");
            cfg->node_count_n = (size_t)n;
            c->counts_given = 1;
            break;
        }
        case F_WORKLOADS:
            if (bench_parse_workloads(optarg, &cfg->workloads) != 0)
                return bad_value(name, optarg,
                                 "ids from W1,W2,W2A,W3,W3P,W4,W5 or all");
            cfg->workloads_given = 1;
            break;
        case F_THREADS:
            if (bench_parse_u32(optarg, 1, BENCH_THREADS_MAX, &v) != 0)
                return bad_value(name, optarg, "1..1024");
            cfg->threads = v;
            break;
        case F_ASYNC:
            if (bench_parse_u32(optarg, 1, BENCH_ASYNC_MAX, &v) != 0)
                return bad_value(name, optarg, "1..4096");
            cfg->async_k = v;
            break;
        case F_DURATION:
            if (bench_parse_duration_ms(optarg, &cfg->duration_ms) != 0 ||
                cfg->duration_ms == 0)
                return bad_value(name, optarg,
                                 "a positive time such as 5 (seconds), 1.5s, "
                                 "500ms, 1m30s, at most 366 days");
            c->duration_given = 1;
            break;
        case F_TTL:
            if (bench_parse_duration_unit_ms(optarg, BENCH_TTL_MIN_MS,
                                             REDLOCK_TTL_MAX_MS,
                                             &cfg->ttl_ms) != 0)
                return bad_value(name, optarg,
                                 "a time with a unit, 10ms..168h "
                                 "(e.g. 10s, 500ms)");
            break;
        case F_RETRY_DELAY:
            if (bench_parse_duration_unit_ms(optarg, 0, BENCH_RETRY_MAX_MS,
                                             &cfg->retry_delay_ms) != 0)
                return bad_value(name, optarg,
                                 "a time with a unit, 0ms..1h (e.g. 5ms)");
            break;
        case F_RETRY_JITTER:
            if (bench_parse_duration_unit_ms(optarg, 0, BENCH_RETRY_MAX_MS,
                                             &cfg->retry_jitter_ms) != 0)
                return bad_value(name, optarg,
                                 "a time with a unit, 0ms..1h (e.g. 10ms)");
            break;
        case F_ELECTION_TTL:
            if (bench_parse_duration_unit_ms(optarg, BENCH_TTL_MIN_MS,
                                             REDLOCK_TTL_MAX_MS,
                                             &cfg->election_ttl_ms) != 0)
                return bad_value(name, optarg,
                                 "a time with a unit, 10ms..168h "
                                 "(e.g. 1s, 300ms)");
            break;
        case F_RESTART_GUARD:
            if (bench_parse_restart_guard(optarg,
                                          &cfg->restart_guard_ms) != 0)
                return bad_value(name, optarg,
                                 "auto, or a time with a unit, 0ms..168h "
                                 "(e.g. 30s)");
            break;
        case F_KEY_PREFIX:
            if (bench_copy(cfg->key_prefix, sizeof(cfg->key_prefix),
                           optarg) != 0)
                return bad_value(name, optarg, "at most 128 bytes");
            break;
        case F_LEASES:
            if (bench_parse_u32(optarg, 1, 1000000, &cfg->leases) != 0)
                return bad_value(name, optarg, "1..1000000");
            break;
        case F_CANDIDATES:
            if (bench_parse_u32(optarg, 2, 32, &cfg->candidates) != 0)
                return bad_value(name, optarg, "2..32");
            break;
        case F_JSON:
            cfg->json = 1;
            break;
        case F_CSV:
            cfg->csv = 1;
            break;
        case F_PLOT:
            cfg->plot_dir = optarg;
            break;
        case F_SOAK:
            cfg->soak = 1;
            break;
        case F_SOAK_DURATION:
            if (bench_parse_duration_ms(optarg, &cfg->soak_ms) != 0 ||
                cfg->soak_ms == 0)
                return bad_value(name, optarg,
                                 "a positive time such as 120s, 10m, at "
                                 "most 366 days");
            c->soak_duration_given = 1;
            break;
        case F_SOAK_FAULT_INTERVAL:
            if (bench_parse_duration_ms(optarg, &cfg->soak_fault_ms) != 0)
                return bad_value(name, optarg,
                                 "a time such as 30s, 1m, or 0 for none; "
                                 "at most 366 days");
            break;
        case F_CANDIDATE_FD:
            if (bench_parse_u32(optarg, 0, INT_MAX, &v) != 0)
                return bad_value(name, optarg, "a file descriptor");
            c->candidate_fd = (int)v;
            break;
        case F_ELECTION:
            c->election = optarg;
            break;
        case F_TLS:
            cfg->tls.spawn = 1;
            break;
        case F_TLS_CA:
            c->tls.ca = optarg;
            break;
        case F_TLS_CERT:
            c->tls.cert = optarg;
            break;
        case F_TLS_KEY:
            c->tls.key = optarg;
            break;
        case F_TLS_INSECURE:
            c->tls.insecure = 1;
            break;
        case ':':
            fprintf(stderr, "redlock-bench: %s needs a value (see --help)\n",
                    argv[optind - 1]);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "redlock-bench: unknown option %s (see --help)\n",
                    argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "redlock-bench: unexpected argument '%s' (see "
                        "--help)\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (cfg->node_uri_count > 0 && (c->spawn_given || c->counts_given)) {
        fprintf(stderr, "redlock-bench: --node cannot be combined with "
                        "--spawn or --nodes-count\n");
        return EXIT_USAGE;
    }
    if (cfg->json && cfg->csv) {
        fprintf(stderr, "redlock-bench: choose one of --json and --csv\n");
        return EXIT_USAGE;
    }
    if (cfg->tls.spawn && cfg->node_uri_count > 0) {
        fprintf(stderr, "redlock-bench: --tls spawns TLS nodes; for your "
                        "own rediss:// nodes give --node and --tls-ca\n");
        return EXIT_USAGE;
    }
    if (cfg->tls.spawn &&
        (c->tls.ca != NULL || c->tls.cert != NULL || c->tls.key != NULL)) {
        fprintf(stderr, "redlock-bench: --tls makes its own CA and "
                        "certificates: drop --tls-ca, --tls-cert and "
                        "--tls-key\n");
        return EXIT_USAGE;
    }
    if (cfg->cluster_shards > 0 &&
        (cfg->node_uri_count > 0 || cfg->tls.spawn || cfg->soak)) {
        fprintf(stderr, "redlock-bench: --spawn-cluster spawns plain-TCP "
                        "clusters: it cannot be combined with %s\n",
                cfg->node_uri_count > 0 ? "--node (give your cluster as "
                                          "--node 'redis://H:P?cluster=yes"
                                          "&seed=H:P')"
                : cfg->tls.spawn        ? "--tls"
                                        : "--soak (its faults target "
                                          "single servers)");
        return EXIT_USAGE;
    }
    for (size_t i = 0; cfg->cluster_shards > 0 && i < cfg->node_count_n;
         i++) {
        if ((uint64_t)cfg->node_counts[i] * cfg->cluster_shards >
            BENCH_CLUSTER_SERVERS_MAX) {
            fprintf(stderr, "redlock-bench: --spawn-cluster %" PRIu32
                            " with %" PRIu32 " nodes would start %" PRIu64
                            " redis-servers; at most %d\n",
                    cfg->cluster_shards, cfg->node_counts[i],
                    (uint64_t)cfg->node_counts[i] * cfg->cluster_shards,
                    BENCH_CLUSTER_SERVERS_MAX);
            return EXIT_USAGE;
        }
    }
    if (cfg->soak) {
        if (!cfg->workloads_given)
            cfg->workloads = 0;
        if (c->duration_given && !c->soak_duration_given)
            cfg->soak_ms = cfg->duration_ms;
    }
    /* --async adds W2A to whatever else runs, whichever flag came
     * first. */
    if (cfg->async_k > 0)
        cfg->workloads |= BENCH_WL_BIT(BENCH_W2A);
    return 0;
}

/* ------------------------------------------------------------------------
 * Signals, identity
 * ------------------------------------------------------------------------ */

/* SIGINT/SIGTERM/SIGHUP: the first asks for a stop, the second kills at
 * once. */
static void on_signal(int sig)
{
    if (bench_stop_requested()) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    bench_request_stop();
}

/* Install the handlers (without SA_RESTART, so sleeps are cut short). */
static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL); /* the terminal went away */
    /* A node dying mid-write must not kill the bench. */
    signal(SIGPIPE, SIG_IGN);
}

/* A random run id of 8 hex digits (from /dev/urandom, else pid and time). */
static void make_run_id(char *out, size_t len)
{
    unsigned char b[4] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    uint32_t v;

    if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
        v = (uint32_t)getpid() * 2654435761u ^ (uint32_t)time(NULL);
    } else {
        v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
            (uint32_t)b[2] << 8 | b[3];
    }
    if (fd >= 0)
        close(fd);
    snprintf(out, len, "%08" PRIx32, v);
}

/* ------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------ */

/* The growing list of results of this run. */
typedef struct results {
    bench_result *r;
    size_t n, cap;
} results;

/* Append a copy of r (taking its histogram). Returns 0 or -1. */
static int results_add(results *rs, const bench_result *r)
{
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        bench_result *p = realloc(rs->r, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        rs->r = p;
        rs->cap = cap;
    }
    rs->r[rs->n++] = *r;
    return 0;
}

/* Free every result's histogram and the list. */
static void results_free(results *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        bench_result_free(&rs->r[i]);
    free(rs->r);
    rs->r = NULL;
    rs->n = rs->cap = 0;
}

/* Print r as a --json or --csv line on stdout, at once. */
static void emit(const bench_config *cfg, const bench_result *r,
                 const char *run_id)
{
    char *line;
    int n;

    if (!cfg->json && !cfg->csv)
        return;
    line = malloc(LINE_MAX_BYTES);
    if (line == NULL) {
        fprintf(stderr, "redlock-bench: out of memory\n");
        return;
    }
    if (cfg->json)
        n = bench_format_json(r, run_id, line, LINE_MAX_BYTES);
    else
        n = bench_format_csv(r, run_id, line, LINE_MAX_BYTES);
    if (n < 0)
        fprintf(stderr, "redlock-bench: output line too long\n");
    else
        fprintf(stdout, "%s\n", line);
    fflush(stdout);
    free(line);
}

/* 1 if any node of nd is rediss:// or sentinels://. */
static int nodes_tls(const bench_nodes *nd)
{
    for (size_t i = 0; i < nd->n; i++)
        if (tool_uri_is_tls(nd->uris[i]))
            return 1;
    return 0;
}

/* Attach the limits, the figure-to-limit ratio and whether the nodes
 * spoke TLS to r. */
static void attach_limits(bench_result *r, const bench_limits *l,
                          const bench_nodes *nd)
{
    r->limits = *l;
    r->tls = nodes_tls(nd);
    if (r->wl == BENCH_W1 && l->have_ping && l->ping_us_p50 > 0.0 &&
        r->acquire_us.count > 0)
        r->limit_ratio = r->acquire_us.p50 / l->ping_us_p50;
    /* W1's goals are set against L1q: the acquire p50 against the quorum
     * step, the CPU of a cycle (acquire + release) against that of an
     * L1q iteration (SET round + DEL round). */
    if (r->wl == BENCH_W1 && l->have_inline && l->inline_us_p50 > 0.0 &&
        r->acquire_us.count > 0) {
        r->l1q_ratio = r->acquire_us.p50 / l->inline_us_p50;
        if (l->inline_cpu_us > 0.0 && r->cpu_us_per_cycle > 0.0)
            r->l1q_cpu_ratio = r->cpu_us_per_cycle / l->inline_cpu_us;
    }
    /* Not for cluster nodes: their L2 covers one shard of each, while
     * W2's keys spread over every shard (limit_target.c). */
    if ((r->wl == BENCH_W2 || r->wl == BENCH_W2A) && l->have_capacity &&
        l->capacity_ops_s > 0.0 && l->cluster_nodes == 0)
        r->limit_ratio =
            r->cycles_per_s / (l->capacity_ops_s / (2.0 * (double)r->nodes));
}

/* Run one workload, attach its limits, emit and keep it. Returns 0, or -1
 * if it failed. */
static int run_one(const bench_run *run, results *rs, const bench_limits *l,
                   int wl, uint32_t threads, uint64_t duration_ms, int sweep)
{
    bench_result r;
    int rc = bench_run_workload(run, wl, threads, duration_ms, &r);

    r.sweep = sweep;
    attach_limits(&r, l, run->nodes);
    if (rc != 0 && !bench_stop_requested())
        fprintf(stderr, "redlock-bench: %s N=%zu: %s\n", bench_wl_id(wl),
                run->nodes->n, r.error[0] ? r.error : "failed");
    emit(run->cfg, &r, run->run_id);
    if (results_add(rs, &r) != 0) {
        bench_result_free(&r);
        return -1;
    }
    return rc;
}

/* ------------------------------------------------------------------------
 * The run loop
 * ------------------------------------------------------------------------ */

/* Everything for one node set: limits, workloads, sweep, soak. Returns 0
 * or -1 if something failed. */
static int run_node_set(const bench_run *run, results *rs, FILE *human)
{
    const bench_config *cfg = run->cfg;
    static const uint32_t sweep[] = BENCH_PLOT_THREADS;
    uint32_t w2_threads = cfg->threads ? cfg->threads
                                       : BENCH_DEFAULT_W2_THREADS;
    uint32_t w3_threads = cfg->threads ? cfg->threads
                                       : BENCH_DEFAULT_W3_THREADS;
    uint32_t async_k = cfg->async_k ? cfg->async_k : BENCH_DEFAULT_ASYNC_K;
    uint64_t short_ms = cfg->duration_ms ? cfg->duration_ms
                                         : BENCH_DEFAULT_DURATION_MS;
    uint64_t long_ms = cfg->duration_ms ? cfg->duration_ms
                                        : BENCH_DEFAULT_LONG_DURATION_MS;
    bench_limits lim;
    int rc = 0;

    if (bench_measure_limits(run->nodes, &cfg->tls, cfg->key_prefix,
                             run->run_id, &lim) != 0) {
        if (bench_stop_requested())
            return 0;
        fprintf(stderr, "redlock-bench: limits could not be measured; "
                        "running the workloads without them\n");
        rc = -1;
    }
    bench_report_limits(human, &lim);
    fflush(human);
    for (int i = 0; i < BENCH_WL_COUNT && !bench_stop_requested(); i++) {
        int wl = bench_wl_order(i);
        uint32_t threads = wl == BENCH_W2    ? w2_threads
                           : wl == BENCH_W2A ? async_k
                                             : w3_threads;
        uint64_t ms = (wl == BENCH_W4 || wl == BENCH_W5) ? long_ms
                                                         : short_ms;
        if (!(cfg->workloads & BENCH_WL_BIT(wl)))
            continue;
        if (run_one(run, rs, &lim, wl, threads, ms, 0) != 0)
            rc = -1;
    }
    if (cfg->plot_dir != NULL && (cfg->workloads & BENCH_WL_BIT(BENCH_W2))) {
        for (size_t i = 0; i < sizeof(sweep) / sizeof(sweep[0]); i++) {
            if (bench_stop_requested())
                break;
            if (sweep[i] == w2_threads)
                continue;
            if (run_one(run, rs, &lim, BENCH_W2, sweep[i], short_ms, 1) != 0)
                rc = -1;
        }
    }
    if (cfg->soak && !bench_stop_requested()) {
        bench_result r;
        if (bench_run_soak(run, &r) != 0) {
            fprintf(stderr, "redlock-bench: soak N=%zu: %s\n", run->nodes->n,
                    r.error[0] ? r.error : "failed");
            rc = -1;
        }
        r.limits = lim;
        r.tls = nodes_tls(run->nodes);
        emit(cfg, &r, run->run_id);
        if (results_add(rs, &r) != 0) {
            bench_result_free(&r);
            rc = -1;
        }
    }
    return rc;
}

/* ------------------------------------------------------------------------
 * TLS
 * ------------------------------------------------------------------------ */

/* --tls: the CA and certificates made for this run, and the process that
 * made them (the only one that removes them, at exit). */
static rs_tls_certs tls_certs;
static pid_t tls_certs_owner;

/* atexit: remove the certificates of --tls. */
static void remove_tls_certs(void)
{
    if (tls_certs_owner == getpid())
        rs_tls_certs_remove(&tls_certs);
}

/* Resolve the TLS flags and variables into cfg->tls (tls_opts.h's rules;
 * the files must be readable). --tls takes only --tls-insecure from them:
 * its CA comes later (setup_tls_spawn). Warns about --tls-insecure unless
 * quiet (a W5 candidate: its bench warned already). Returns 0 or
 * EXIT_USAGE. */
static int resolve_tls(bench_config *cfg, const cli *c, int quiet)
{
    redlock_options o;
    tool_tls t;
    char why[512];

    if (tool_tls_resolve(&c->tls, getenv("REDLOCK_TLS_CA"),
                         getenv("REDLOCK_TLS_CERT"), getenv("REDLOCK_TLS_KEY"),
                         &t, why, sizeof(why)) != 0) {
        fprintf(stderr, "redlock-bench: %s\n", why);
        return EXIT_USAGE;
    }
    if (cfg->tls.spawn) {
        memset(&t, 0, sizeof(t)); /* --tls ignores the variables */
        t.insecure = c->tls.insecure;
    }
    redlock_options_init(&o);
    if (tool_tls_apply(&t, &o, why, sizeof(why)) != 0) {
        fprintf(stderr, "redlock-bench: %s\n", why);
        return EXIT_USAGE;
    }
    cfg->tls.ca_file = o.tls_ca_file;
    cfg->tls.ca_dir = o.tls_ca_dir;
    cfg->tls.cert_file = o.tls_cert_file;
    cfg->tls.key_file = o.tls_key_file;
    cfg->tls.insecure = o.tls_insecure_skip_verify;
    if (cfg->tls.insecure && !quiet)
        fprintf(stderr, "redlock-bench: %s\n", TOOL_TLS_INSECURE_WARNING);
    return 0;
}

/* --tls: make the CA and certificates, point cfg->tls at the CA and fill
 * *so for TLS-only spawned servers. Returns 0, or -1 with a message. */
static int setup_tls_spawn(bench_config *cfg, rs_options *so)
{
    memset(so, 0, sizeof(*so));
    if (!cfg->tls.spawn)
        return 0;
    if (rs_tls_certs_create(&tls_certs) != 0) {
        fprintf(stderr, "redlock-bench: --tls: could not make the test "
                        "certificates (see above)\n");
        return -1;
    }
    tls_certs_owner = getpid();
    atexit(remove_tls_certs);
    cfg->tls.ca_file = tls_certs.ca_file;
    so->tls_cert_file = tls_certs.server_cert;
    so->tls_key_file = tls_certs.server_key;
    so->tls_ca_file = tls_certs.ca_file;
    return 0;
}

/* Run as a W5 candidate (--candidate-fd). */
static int candidate(const bench_config *cfg, const cli *c)
{
    if (c->election == NULL || cfg->node_uri_count == 0) {
        fprintf(stderr, "redlock-bench: --candidate-fd needs --election and "
                        "--node\n");
        return EXIT_USAGE;
    }
    return bench_candidate_main(cfg, c->candidate_fd, c->election);
}

/* Entry point. */
int main(int argc, char **argv)
{
    bench_config cfg;
    cli c;
    bench_run run;
    bench_nodes nodes;
    rs_options spawn_opts;
    results rs = {NULL, 0, 0};
    char run_id[16], self[PATH_MAX];
    FILE *human;
    ssize_t len;
    int rc, failed = 0, bad = 0;
    size_t sets;

    bench_config_defaults(&cfg);
    rc = parse_flags(argc, argv, &cfg, &c);
    if (rc != 0)
        return rc;
    if (!c.help && !c.version) {
        rc = resolve_tls(&cfg, &c, c.candidate_fd >= 0);
        if (rc != 0)
            return rc;
    }
    if (c.help) {
        usage(stdout);
        return 0;
    }
    if (c.version) {
        printf("redlock-bench %s (libredlock %s)\n", REDLOCK_VERSION_STRING,
               redlock_version());
        return 0;
    }
    if (c.candidate_fd >= 0)
        return candidate(&cfg, &c);
    if (cfg.plot_dir != NULL && !bench_plot_available()) {
        fprintf(stderr, "redlock-bench: --plot needs gnuplot, which is not "
                        "on PATH (Debian: apt-get install gnuplot-nox)\n");
        return EXIT_USAGE;
    }
    if (cfg.workloads == 0 && !cfg.soak) {
        fprintf(stderr, "redlock-bench: nothing to run\n");
        return EXIT_USAGE;
    }

    if (setup_tls_spawn(&cfg, &spawn_opts) != 0)
        return EXIT_RUN_FAILED;
    install_signals();
    make_run_id(run_id, sizeof(run_id));
    len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    human = (cfg.json || cfg.csv) ? stderr : stdout;
    memset(&run, 0, sizeof(run));
    run.cfg = &cfg;
    run.nodes = &nodes;
    run.run_id = run_id;
    /* The live progress line goes to stderr whenever stderr is a
     * terminal, also when stdout is redirected (issue 13): it is for the
     * person watching, never part of the output a program reads. */
    run.progress = isatty(STDERR_FILENO) ? stderr : NULL;
    run.log = human;
    if (len > 0) {
        self[len] = '\0';
        run.self_exe = self;
    }

    fprintf(human, "redlock-bench %s: run %s, key prefix \"%s\", %s%s\n",
            redlock_version(), run_id, cfg.key_prefix,
            cfg.node_uri_count > 0 ? "given nodes"
            : cfg.cluster_shards > 0 ? "spawned local Redis Clusters"
                                     : "spawned local nodes",
            cfg.tls.spawn ? " (TLS-only, CA made for this run)" : "");
    fflush(human);
    if (cfg.csv) {
        char header[1024];
        if (bench_format_csv_header(header, sizeof(header)) > 0)
            printf("%s\n", header);
        fflush(stdout);
    }

    sets = cfg.node_uri_count > 0 ? 1 : cfg.node_count_n;
    for (size_t i = 0; i < sets && !bench_stop_requested(); i++) {
        if (cfg.node_uri_count > 0) {
            bench_nodes_use(&nodes, cfg.node_uris, cfg.node_uri_count);
        } else if (cfg.cluster_shards > 0) {
            if (bench_nodes_spawn_cluster(&nodes, cfg.node_counts[i],
                                          cfg.cluster_shards) != 0) {
                if (!bench_stop_requested())
                    failed = 1;
                break;
            }
        } else if (bench_nodes_spawn(&nodes, cfg.node_counts[i],
                                     cfg.tls.spawn ? &spawn_opts : NULL) !=
                   0) {
            failed = 1;
            break;
        }
        if (run_node_set(&run, &rs, human) != 0)
            failed = 1;
        bench_nodes_stop(&nodes);
    }

    bench_report_table(human, rs.r, rs.n, &cfg);
    for (size_t i = 0; i < rs.n; i++)
        if (rs.r[i].wl == BENCH_SOAK)
            bench_report_soak(human, &rs.r[i]);
    if (cfg.plot_dir != NULL && rs.n > 0 && !bench_stop_requested()) {
        if (bench_plot(cfg.plot_dir, rs.r, rs.n) != 0)
            failed = 1;
        else
            fprintf(human, "\nplots written to %s\n", cfg.plot_dir);
    }
    for (size_t i = 0; i < rs.n; i++)
        if (rs.r[i].violations > 0 ||
            (rs.r[i].lost > 0 && !rs.r[i].quorum_fault))
            bad = 1; /* a soak fault that took a quorum may lose leases */
    results_free(&rs);
    if (bench_stop_requested()) {
        fprintf(human, "\nredlock-bench: interrupted; servers stopped\n");
        return EXIT_INTERRUPTED;
    }
    if (bad) {
        fprintf(stderr, "redlock-bench: a mutual-exclusion violation or a "
                        "lost lease was seen\n");
        return EXIT_CHECK_FAILED;
    }
    return failed ? EXIT_RUN_FAILED : 0;
}
