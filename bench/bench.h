/*
 * bench.h: what the files of redlock-bench share: the configuration built
 * from the flags, the result of one workload run, the limits measured on
 * the nodes, and each file's entry points.
 *
 * DESIGN
 * main.c turns flags into a bench_config and drives the run loop: for each
 * node count it gets nodes (nodes.c: spawned redis-servers or the --node
 * list), measures the limits L1 and L2 (nodes.c), runs the selected
 * workloads (workloads.c; the soak in soak.c, W5 in failover.c, W2A in
 * parallel_async.c), and
 * hands each bench_result to report.c (table,
 * progress line, --json, --csv) and, at the end, to plot.c (--plot).
 * Parsing helpers live in parse.c and the JSON writer and checker in
 * json.c, so the unit tests can link them without main().
 *
 * Threads: only the workload files (workloads.c, soak.c, failover.c) and
 * the limits (nodes.c) start threads; every result is filled by the
 * thread that runs the workload after joining its workers. A stop request
 * (SIGINT, SIGTERM) is one atomic flag, read by every loop.
 */
#ifndef REDLOCK_BENCH_H
#define REDLOCK_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "histogram.h"

/* ------------------------------------------------------------------------
 * Limits and defaults
 * ------------------------------------------------------------------------ */

/* Most nodes a run may use (spawned or given). */
#define BENCH_NODES_MAX 16
/* Most node counts in one --nodes-count sweep. */
#define BENCH_SWEEP_MAX 8
/* Longest --key-prefix, in bytes. */
#define BENCH_PREFIX_MAX 128
/* Default lock TTL of W1-W3 (the spec's 10 000 ms). */
#define BENCH_DEFAULT_TTL_MS 10000u
/* Longest --duration, --soak-duration and --soak-fault-interval: 366
 * days. Longer ones are refused (exit 2), never wrapped: the workloads
 * keep time in nanoseconds, which 64 bits hold for 584 years. */
#define BENCH_DURATION_MAX_MS (366ull * 24u * 3600u * 1000u)
/* Shortest --ttl and --election-ttl, in ms: shorter ones leave no room for
 * a round trip (and 1 or 2 ms do not even exceed the library's drift
 * allowance: REDLOCK_ETTLSHORT); they are refused (exit 2). */
#define BENCH_TTL_MIN_MS 10u
/* Longest --retry-delay and --retry-jitter, in ms: one hour. */
#define BENCH_RETRY_MAX_MS 3600000u
/* TTL of every W4 lease (fixed by the spec). */
#define BENCH_LEASE_TTL_MS 1000u
/* Default W5 leadership TTL. */
#define BENCH_DEFAULT_ELECTION_TTL_MS 1000u
/* Default duration of W1-W3, and of W4 and W5, in milliseconds. */
#define BENCH_DEFAULT_DURATION_MS 5000u
#define BENCH_DEFAULT_LONG_DURATION_MS 10000u
/* Default duration of --soak (the 10 minutes). */
#define BENCH_DEFAULT_SOAK_MS 600000u
/* Default interval between the soak's injected faults (0: none). */
#define BENCH_DEFAULT_SOAK_FAULT_MS 30000u
/* Length of one soak throughput window. */
#define BENCH_SOAK_WINDOW_MS 10000u
/* Earliest time the soak's RSS baseline for "growth" is taken. With
 * faults it is later: BENCH_SOAK_SETTLE_MS after the first round of the
 * four fault kinds (the first pass through each fault path grows the
 * allocator's arenas once), if that still leaves at least half the run to
 * watch; see bench_soak_base_ms(). */
#define BENCH_SOAK_WARMUP_MS 20000u
#define BENCH_SOAK_SETTLE_MS 10000u
/* Fault kinds the soak rotates through. */
#define BENCH_SOAK_FAULT_KINDS 4u
/* Largest RSS growth after warm-up that still counts as "no growth". */
/* What "no growth" allows between the base and the end. Live memory
 * (glibc's bytes in use) must stay within 1 MiB: a leak of one byte per
 * operation would be about 12 MiB over the default soak, one of 50 KiB per
 * fault 1 MiB. RSS (after malloc_trim) may move more, within 4 MiB: with
 * 70 threads on up to 16 malloc arenas, each transient peak (a paused
 * node's queues) leaves some pages pinned by live blocks, so RSS creeps up
 * by a few hundred KiB per pause and levels off (docs/performance.md). */
#define BENCH_SOAK_HEAP_GROWTH_MAX_KB 1024
#define BENCH_SOAK_RSS_GROWTH_MAX_KB 4096
/* Most throughput windows and faults a soak keeps. */
#define BENCH_SOAK_WINDOWS_MAX 1024
#define BENCH_SOAK_FAULTS_MAX 1024
/* Default threads of W2 and of W3. */
#define BENCH_DEFAULT_W2_THREADS 64u
#define BENCH_DEFAULT_W3_THREADS 16u
/* W2A: cycles in flight from its one thread (--async K): the default
 * when W2A is named in --workloads without --async, and the range. */
#define BENCH_DEFAULT_ASYNC_K 64u
#define BENCH_ASYNC_MAX 4096u
/* Most worker threads one workload may start. */
#define BENCH_THREADS_MAX 1024u
/* Default W3 retry policy: the same mean interval as the 10 ms polling
 * client, with jitter so that contenders fall out of step (see
 * docs/bench.md for the measurements behind it). */
#define BENCH_DEFAULT_RETRY_DELAY_MS 5u
#define BENCH_DEFAULT_RETRY_JITTER_MS 10u
/* Retry policy of the W3P comparison client: poll every 10 ms. */
#define BENCH_POLL_DELAY_MS 10u
/* Default W4 lease count and W5 candidate count. */
#define BENCH_DEFAULT_LEASES 1000u
#define BENCH_DEFAULT_CANDIDATES 3u
/* Default spawned node count. */
#define BENCH_DEFAULT_NODES 3u
/* Thread counts of the W2 throughput sweep run for --plot. */
#define BENCH_PLOT_THREADS {1u, 4u, 16u, 64u}

/* ------------------------------------------------------------------------
 * Workloads
 * ------------------------------------------------------------------------ */

/* Workload ids. The numbers never change (W2A came last and was appended
 * after W5); the order they run in is bench_wl_order(). BENCH_SOAK is
 * --soak. */
typedef enum bench_wl {
    BENCH_W1 = 0, /* serial */
    BENCH_W2,     /* parallel */
    BENCH_W3,     /* contended */
    BENCH_W3P,    /* contended, 10 ms polling client for comparison */
    BENCH_W4,     /* lease */
    BENCH_W5,     /* failover */
    BENCH_W2A,    /* parallel-async: W2 from one thread, K in flight */
    BENCH_WL_COUNT,
    BENCH_SOAK = BENCH_WL_COUNT
} bench_wl;

/* Bit of workload w in bench_config.workloads. */
#define BENCH_WL_BIT(w) (1u << (unsigned)(w))
/* Every workload ("--workloads all"). */
#define BENCH_WL_ALL ((1u << BENCH_WL_COUNT) - 1u)
/* The default set: every workload but W2A, which runs only when asked
 * for (--async, or by name), so the default run does not grow. */
#define BENCH_WL_DEFAULT (BENCH_WL_ALL & ~BENCH_WL_BIT(BENCH_W2A))

/* "W1" ... "W5", "W3P", "W2A", "SOAK". */
const char *bench_wl_id(int wl);
/* "serial", "parallel", ... */
const char *bench_wl_name(int wl);

/* The i-th workload in run order (i < BENCH_WL_COUNT): W2A runs right
 * after W2, so that the two it is compared with see the same machine. */
int bench_wl_order(int i);

/* 1 if workload wl reports context switches and client CPU per cycle
 * (W1-W3P and W2A). */
int bench_wl_per_cycle(int wl);

/* ------------------------------------------------------------------------
 * Configuration (from the flags)
 * ------------------------------------------------------------------------ */

/* TLS settings for rediss:// nodes, resolved by main.c from --tls-ca,
 * --tls-cert, --tls-key, --tls-insecure and REDLOCK_TLS_* (the rules of
 * tools/common/tls_opts.h), or from --tls (spawned TLS-only nodes and the
 * CA made for them). Given to every manager (the redlock_options fields
 * of the same names) and to the limits' own connections. Strings are
 * borrowed (argv, the environment, or main.c's certificates). */
typedef struct bench_tls {
    const char *ca_file;   /* NULL with ca_dir NULL: the system store */
    const char *ca_dir;
    const char *cert_file; /* client certificate and key, or NULL */
    const char *key_file;
    int insecure;          /* --tls-insecure */
    int spawn;             /* --tls: spawned nodes are TLS-only */
} bench_tls;

/* Everything the flags decide. Filled by bench_config_defaults() and then
 * by main.c's parser; read-only while workloads run. Durations are in
 * milliseconds; 0 means "the workload's default". */
typedef struct bench_config {
    const char *node_uris[BENCH_NODES_MAX]; /* --node; borrowed from argv */
    size_t node_uri_count;
    uint32_t node_counts[BENCH_SWEEP_MAX]; /* --spawn / --nodes-count */
    size_t node_count_n;
    uint32_t cluster_shards;   /* --spawn-cluster: masters per spawned
                                  node (each a Redis Cluster); 0: plain */
    unsigned workloads;        /* BENCH_WL_BIT set */
    int workloads_given;       /* --workloads was on the command line */
    uint32_t threads;          /* W2 and W3; 0: 64 and 16 */
    uint32_t async_k;          /* W2A cycles in flight (--async); 0: not
                                  given (BENCH_DEFAULT_ASYNC_K) */
    uint64_t duration_ms;      /* 0: 5 s (W1-W3), 10 s (W4, W5) */
    uint32_t ttl_ms;           /* W1-W3 */
    uint32_t retry_delay_ms;   /* W3 and the W5 candidates */
    uint32_t retry_jitter_ms;
    uint32_t election_ttl_ms;  /* W5 */
    uint32_t restart_guard_ms; /* every manager's restart_guard_ms;
                                  REDLOCK_RESTART_GUARD_AUTO */
    char key_prefix[BENCH_PREFIX_MAX + 1];
    uint32_t leases;           /* W4 */
    uint32_t candidates;       /* W5 */
    int json;                  /* --json */
    int csv;                   /* --csv */
    const char *plot_dir;      /* --plot; NULL: no plots */
    int soak;                  /* --soak */
    uint64_t soak_ms;          /* --soak-duration (or --duration) */
    uint64_t soak_fault_ms;    /* --soak-fault-interval; 0: no faults */
    bench_tls tls;             /* --tls and --tls-*; zero: no TLS */
} bench_config;

/* Fill c with the defaults documented in --help. */
void bench_config_defaults(bench_config *c);

/* ------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------ */

/* Percentiles of one latency histogram, in microseconds. */
typedef struct bench_pcts {
    uint64_t count; /* samples; 0 means "not measured" (JSON null) */
    double p50, p90, p99, p999, max;
} bench_pcts;

/* Fill p from h (nanosecond samples), converting to microseconds. */
void bench_pcts_from_hist(bench_pcts *p, const bench_hist *h);

/* Limits of one node set, measured in the same run. */
typedef struct bench_limits {
    size_t nodes;
    double ping_us_p50_node[BENCH_NODES_MAX]; /* L1 per node */
    double ping_us_p50;     /* L1: the slowest node's p50 */
    double fanout_us_p50;   /* PING to all nodes at once through one
                               worker thread per node (eventfd in, condvar
                               out), until a quorum answered: p50 */
    double capacity_ops_s;  /* L2: SET/s over all nodes at once */
    int have_ping;          /* L1 (and the fan-out figure) measured */
    int have_capacity;      /* L2 was measured */
    /* L1q, the inline quorum fan-out (limit_inline.c): one thread writes
     * SET <key> <tok> NX PX 10000 to all N non-blocking sockets and stops
     * the clock when a quorum said OK; then it reads the other replies
     * and sends DEL to all N (untimed). */
    int have_inline;        /* L1q measured */
    double inline_us_p50;   /* the quorum step: p50 and p99 */
    double inline_us_p99;
    double inline_cpu_us;   /* the loop's own CPU (RUSAGE_THREAD) per
                               iteration: SET round and DEL round, so it
                               compares with a W1 acquire + release */
    uint64_t inline_iters;  /* measured iterations */
    /* Cluster and Sentinel nodes (limit_target.c): how many of the nodes
     * are Redis Clusters (their L1 and L2 are those of the seed master
     * alone, one shard of each) or Sentinel masters (measured on the
     * master the sentinels named at setup). */
    size_t cluster_nodes;
    size_t sentinel_nodes;
    char not_measured[160]; /* why the limits were not measured, or "" */
} bench_limits;

/* One soak throughput window (BENCH_SOAK_WINDOW_MS long, the last one
 * possibly shorter): its end time and what was measured over it. */
typedef struct bench_soak_window {
    double t_s;             /* end of the window, from the soak's start */
    long rss_kb;            /* RSS at t_s */
    double w2_cycles_per_s; /* W2 cycles over the window */
    double w4_ext_per_s;    /* W4 extensions over the window */
    uint64_t lost;          /* W4 leases lost so far */
} bench_soak_window;

/* Kinds of fault the soak injects, in rotation order. */
typedef enum bench_fault_kind {
    BENCH_FAULT_PAUSE = 0,  /* SIGSTOP a minority for 2 s, then SIGCONT */
    BENCH_FAULT_CLIENT_KILL, /* CLIENT KILL TYPE normal on one node */
    BENCH_FAULT_SCRIPT_FLUSH, /* SCRIPT FLUSH on every node */
    BENCH_FAULT_DEBUG_SLEEP, /* DEBUG SLEEP 0.5 on one node */
    BENCH_FAULT_KINDS
} bench_fault_kind;

/* One injected fault, as logged. */
typedef struct bench_soak_fault {
    double t_s;             /* when it began, from the soak's start */
    int kind;               /* bench_fault_kind */
    int ok;                 /* 1: every step succeeded */
    int quorum_taken;       /* 1: it affected more nodes than N - quorum */
    char detail[96];        /* nodes affected, replies, errors */
} bench_soak_fault;

/* "pause-minority", "client-kill", "script-flush", "debug-sleep". */
const char *bench_fault_name(int kind);

/* The outcome of one workload at one node count. Numbers that do not apply
 * to a workload stay 0 (and are left out of, or null in, the JSON). */
typedef struct bench_result {
    int wl;                 /* bench_wl */
    int sweep;              /* 1: a W2 run of the --plot thread sweep */
    size_t nodes;
    int tls;                /* 1: the nodes were rediss:// */
    uint32_t threads;       /* W4: leases; W5: candidates; W2A: 1 */
    uint32_t in_flight;     /* W2A: cycles kept in flight (K) */
    double duration_s;      /* measured wall time of the timed part */
    uint64_t cycles;        /* acquire+release cycles (W1-W3), extensions
                               (W4), failovers (W5) */
    double cycles_per_s;
    bench_pcts acquire_us;  /* W3: wait (retries included) */
    bench_pcts release_us;
    uint64_t fail_taken, fail_quorum, fail_other;
    uint64_t violations;    /* W3: mutual-exclusion violations */
    uint64_t lost;          /* W4: leases lost */
    double cpu_s;           /* process CPU (user + system) */
    long rss_kb;            /* resident set at the end */
    bench_limits limits;
    double csw_per_cycle;   /* W1-W3P, W2A: process context switches
                               per cycle */
    double cpu_us_per_cycle; /* W1-W3P, W2A: process CPU per cycle (W1:
                                an acquire + a release) */
    double l1q_ratio;       /* W1: acquire p50 / L1q p50; 0: no L1q */
    double l1q_cpu_ratio;   /* W1: cpu_us_per_cycle / L1q's CPU per
                               SET+DEL iteration; 0: no L1q */
    /* W3, W3P: hand-over gap, from a holder's release returning to the
     * next holder's grant returning (stats.h) */
    bench_pcts handover_us;
    uint64_t handover_early; /* grants that returned before the release
                                they follow (counted as 0 us) */
    double limit_ratio;     /* W1: acquire p50 / L1; W2, W2A: cycles/s
                               / (L2 / 2N); 0: none */
    uint32_t ttl_ms;
    int has_retry;          /* W3, W3P, W5 */
    uint32_t retry_delay_ms, retry_jitter_ms;
    /* W4 (and soak) */
    uint32_t leases;
    uint64_t extensions;
    double extensions_per_s;
    double cpu_s_per_1000_leases_per_s;
    double rss_per_lease_b; /* RSS growth while taking the leases, per
                               lease (depends on what the allocator kept
                               from earlier workloads) */
    double heap_per_lease_b; /* live bytes per lease: glibc's bytes in use
                                (mallinfo2) grown while taking the leases,
                                per lease; -1: unknown */
    double cpu_us_per_extension;  /* process CPU per extension */
    double csw_per_extension;     /* context switches per extension */
    /* W5 */
    uint32_t candidates;
    uint64_t failovers;
    double failover_ttl_p50, failover_ttl_max; /* in TTLs */
    double failover_ms_p50, failover_ms_max;
    /* soak */
    long rss_start_kb, rss_end_kb;
    long rss_warm_kb;       /* RSS at rss_base_ms (growth base), taken
                               after malloc_trim(0); at the end too */
    long rss_warm_untrimmed_kb, rss_end_untrimmed_kb; /* just before */
    long heap_warm_kb;      /* glibc bytes in use then; -1: unknown */
    long heap_end_kb;       /* and at the end */
    uint64_t rss_base_ms;   /* when the growth base was taken */
    long fds_start, fds_end;         /* /proc/self/fd entries; -1: unknown */
    long threads_start, threads_end; /* /proc/self/task entries */
    uint64_t soak_fault_ms; /* interval used; 0: no faults injected */
    int faults_foreign;     /* 1: none injected because of --node */
    int quorum_fault;       /* 1: a fault took a quorum of nodes away */
    bench_soak_window *windows; /* owned; may be NULL */
    size_t windows_n;
    bench_soak_fault *faults;   /* owned; may be NULL */
    size_t faults_n;
    double rss_growth_per_lease_b;
    long *rss_samples_kb;   /* one per second, owned; may be NULL */
    long *heap_samples_kb;  /* malloc'd bytes in use (glibc mallinfo2), at
                               the same times; owned; may be NULL */
    size_t rss_samples;
    /* For --plot: the acquire latencies (ns), owned; may be NULL. */
    bench_hist *acq_hist;
    /* Why the workload stopped early or failed; "" if it did not. */
    char error[160];
} bench_result;

/* Most RSS samples a soak keeps (one per second). */
#define BENCH_RSS_SAMPLES_MAX 4096

/* Soak growth checks: fds and threads end minus start, live heap and RSS
 * end minus base (kB). Returns 1 if they show no growth: fds and threads
 * equal, heap growth under BENCH_SOAK_HEAP_GROWTH_MAX_KB (when glibc can
 * tell), RSS growth under BENCH_SOAK_RSS_GROWTH_MAX_KB. */
int bench_soak_no_growth(const bench_result *r);

/* When the soak takes its growth base, in ms from its start: after the
 * warm-up, or with faults after the first round of every kind plus
 * BENCH_SOAK_SETTLE_MS, when that leaves half the run to watch. */
uint64_t bench_soak_base_ms(uint64_t soak_ms, uint64_t fault_ms);

/* Zero r and set its workload and node count. */
void bench_result_init(bench_result *r, int wl, size_t nodes);

/* Free what r owns (histogram, samples); r stays valid but empty of them. */
void bench_result_free(bench_result *r);

/* ------------------------------------------------------------------------
 * parse.c: flag values
 * ------------------------------------------------------------------------ */

/* Parse a duration with the parser `redlock` uses too
 * (tools/common/duration.h): a bare number is seconds ("5", "1.5"), or
 * numbers with units ms, s, m, h ("250ms", "1.5s", "1m30s"), exact to
 * the millisecond. Stores milliseconds in *ms, at most
 * BENCH_DURATION_MAX_MS. Returns 0, or -1 for anything else (empty,
 * negative, junk, finer than a millisecond, above the maximum). */
int bench_parse_duration_ms(const char *s, uint64_t *ms);

/* A duration flag given in milliseconds until now (--ttl, --retry-delay,
 * --retry-jitter, --election-ttl): parsed by the same parser, but a unit
 * is required ("10000ms", "10s", "1m30s"), because a bare number means
 * seconds in that parser and meant milliseconds here before: refusing it
 * keeps an old "--ttl 10000" from silently becoming 10000 s. Stores the
 * milliseconds in *out if within [min, max]. Returns 0, or -1. */
int bench_parse_duration_unit_ms(const char *s, uint32_t min, uint32_t max,
                                 uint32_t *out);

/* --restart-guard: "auto" (REDLOCK_RESTART_GUARD_AUTO), or a duration
 * with a unit (as bench_parse_duration_unit_ms()) from 0ms (off) to
 * 168h (REDLOCK_TTL_MAX_MS). Stores it in *out. Returns 0, or -1. */
int bench_parse_restart_guard(const char *s, uint32_t *out);

/* Parse an unsigned decimal integer in [min, max] with nothing after it.
 * Returns 0 and stores it, or -1. */
int bench_parse_u32(const char *s, uint32_t min, uint32_t max,
                    uint32_t *out);

/* Parse a comma-separated list of integers in [min, max] into out (at most
 * cap of them). Returns the count (>= 1), or -1 on any error. */
int bench_parse_u32_list(const char *s, uint32_t min, uint32_t max,
                         uint32_t *out, size_t cap);

/* Parse a comma-separated list of workload ids ("W1,W3", case-insensitive,
 * or "all": every workload, W2A included) into a BENCH_WL_BIT mask.
 * Returns 0, or -1 naming nothing valid. */
int bench_parse_workloads(const char *s, unsigned *mask);

/* ------------------------------------------------------------------------
 * report.c: output
 * ------------------------------------------------------------------------ */

/* Format r as one JSON object (no newline) into buf. run_id may be NULL.
 * Returns the length, or -1 if buf is too small. */
int bench_format_json(const bench_result *r, const char *run_id, char *buf,
                      size_t len);

/* The CSV header line (no newline) and r as one CSV row (no newline).
 * Return the length, or -1 if buf is too small. */
int bench_format_csv_header(char *buf, size_t len);
int bench_format_csv(const bench_result *r, const char *run_id, char *buf,
                     size_t len);

/* Print the human table of n results to out. */
void bench_report_table(FILE *out, const bench_result *r, size_t n,
                        const bench_config *cfg);

/* Print the soak's report (windows, faults, start/end figures, growth
 * verdict) to out. */
void bench_report_soak(FILE *out, const bench_result *r);

/* Print the limits of one node set (one line per set) to out. */
void bench_report_limits(FILE *out, const bench_limits *l);

/* The live progress line: redraw it on out (which the caller only passes
 * when it is a terminal), and erase it. */
void bench_progress(FILE *out, const char *wl, size_t nodes,
                    double elapsed_s, double total_s, uint64_t cycles);
void bench_progress_clear(FILE *out);

/* ------------------------------------------------------------------------
 * nodes.c: nodes and their limits
 * ------------------------------------------------------------------------ */

#include "redis_spawn.h"

#include "cluster_spawn.h"

/* Longest URI of a limit client (limit_target.c). */
#define BENCH_LIMIT_URI_MAX 1024
/* Most masters of one --spawn-cluster node (RC_MAX_SERVERS). */
#define BENCH_SHARDS_MAX RC_MAX_SERVERS
/* Most redis-servers --spawn-cluster starts for one node set (nodes x
 * shards), well under redis_spawn's registry of 128. */
#define BENCH_CLUSTER_SERVERS_MAX 45

/* The nodes of one run: spawned servers, spawned clusters or borrowed
 * URIs. */
typedef struct bench_nodes {
    size_t n;
    int spawned;                       /* 1: srv[] are ours to stop */
    rs_server srv[BENCH_NODES_MAX];
    rc_cluster *clusters;              /* --spawn-cluster: n clusters
                                          (heap), ours to stop; else NULL */
    const char *uris[BENCH_NODES_MAX]; /* point into srv[], clusters[] or
                                          argv */
    /* Filled by bench_limit_targets() (limit_target.c): where the limit
     * clients of node i connect (the server itself, a cluster's seed, a
     * Sentinel master as resolved once), and the hash tag part of every
     * limit key (":{rlbN}" when some node is a cluster, else ""). */
    char limit_uri[BENCH_NODES_MAX][BENCH_LIMIT_URI_MAX];
    char limit_tag[32];
} bench_nodes;

/* Start n local redis-servers, with options o (NULL: plain; TLS options
 * make them TLS-only, with rediss:// URIs). Returns 0, or -1 (with a
 * message on stderr and nothing left running). */
int bench_nodes_spawn(bench_nodes *nd, size_t n, const rs_options *o);

/* Start n local Redis Clusters of `shards` masters each (no replicas;
 * tests/support/cluster_spawn.h), one Redlock node per cluster, with
 * cluster URIs. Returns 0, or -1 (message on stderr, nothing left
 * running). */
int bench_nodes_spawn_cluster(bench_nodes *nd, size_t n, size_t shards);

/* 1 if any node of nd is a Redis Cluster (?cluster=yes), by the
 * library's own URI parser (limit_target.c). */
int bench_nodes_any_cluster(const bench_nodes *nd);

/* Use the given URIs (borrowed). Returns 0, or -1 if there are too many. */
int bench_nodes_use(bench_nodes *nd, const char *const *uris, size_t n);

/* Stop the servers we started (nothing for borrowed URIs). Idempotent. */
void bench_nodes_stop(bench_nodes *nd);

/* Measure L1 (serial PING p50 per node, and a quorum PING fan-out through
 * worker threads), L1q (the inline quorum fan-out, limit_inline.c) and L2
 * (pipelined SET capacity over all nodes at once) into l. Keys written by
 * L2 are "<prefix><run_id><tag>:l2:<n>" with a 10 s expiry, by L1q
 * "<prefix><run_id><tag>:l1q:<i>" (deleted again at once, PX 10000 in case
 * the DEL is lost); <tag> is nd->limit_tag, "" unless a node is a Redis
 * Cluster (limit_target.c). Fills nd->limit_uri first. rediss:// nodes are measured over TLS with tls's CA and
 * client certificate, so the limits include what TLS costs. Returns 0, or
 * -1 if a node could not be reached (with a message on stderr); when the
 * limits cannot be measured for this kind of node set (no key tag served
 * by every cluster's seed, a seed that is a replica, no sentinel
 * answering) returns 0 with nothing measured and the reason in
 * l->not_measured. L1q failing alone leaves have_inline 0 and does not fail the call. */
int bench_measure_limits(bench_nodes *nd, const bench_tls *tls,
                         const char *prefix, const char *run_id,
                         bench_limits *l);

/* ------------------------------------------------------------------------
 * workloads.c: W1..W4; failover.c: W5; parallel_async.c: W2A; soak.c:
 * the soak
 * ------------------------------------------------------------------------ */

/* What a workload run needs from the driver. */
typedef struct bench_run {
    const bench_config *cfg;
    bench_nodes *nodes;   /* not const: the soak pauses spawned nodes */
    const char *run_id;
    FILE *progress; /* stderr when it is a terminal; NULL: none */
    const char *self_exe; /* this program, re-executed for W5 candidates */
    FILE *log;      /* where the soak logs its faults as they happen */
} bench_run;

/* Ask every running workload to stop soon (async-signal-safe). */
void bench_request_stop(void);
/* 1 once a stop was requested. */
int bench_stop_requested(void);

/* Run workload wl with `threads` workers (W2/W3; for W2A the cycles kept
 * in flight; ignored otherwise) for duration_ms, filling out (initialised
 * here). Returns 0, or -1 if the workload could not run at all
 * (out->error says why). */
int bench_run_workload(const bench_run *run, int wl, uint32_t threads,
                       uint64_t duration_ms, bench_result *out);

/* Run --soak: W2 and W4 together for cfg->soak_ms with RSS sampled every
 * second, throughput every 10 s, and (on spawned nodes) a fault every
 * cfg->soak_fault_ms from a separate thread. Returns 0 or -1 as
 * bench_run_workload(). */
int bench_run_soak(const bench_run *run, bench_result *out);

/* The W5 candidate process: campaign for `name` on cfg's --node list and
 * report "E <pid>" on fd each time it is elected, until killed, asked to
 * stop (SIGTERM) or fd's reader goes away. Returns the exit status. */
int bench_candidate_main(const bench_config *cfg, int fd, const char *name);

/* ------------------------------------------------------------------------
 * plot.c: --plot
 * ------------------------------------------------------------------------ */

/* 1 if gnuplot is on PATH. */
int bench_plot_available(void);

/* Write the data files, the gnuplot script and the PNGs into dir: one
 * latency CDF per workload (a curve per node count) and W2 throughput vs
 * threads (a curve per node count). Returns 0, or -1 with a message. */
int bench_plot(const char *dir, const bench_result *r, size_t n);

/* ------------------------------------------------------------------------
 * Small shared helpers (report.c)
 * ------------------------------------------------------------------------ */

/* Copy src into dst (size dstlen), always NUL-terminated; returns 0, or -1
 * if src was truncated. */
int bench_copy(char *dst, size_t dstlen, const char *src);

/* The version string printed by --version and put in the JSON. */
const char *bench_version(void);

#endif /* REDLOCK_BENCH_H */
