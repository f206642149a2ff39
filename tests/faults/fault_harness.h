/*
 * fault_harness.h: the common frame of every fault-injection scenario.
 *
 * A scenario:
 *   1. fh_start(): starts its own redis-servers (5 by default) on free
 *      loopback ports, then forks the client processes (2 by default).
 *      Each client process creates its own manager and runs several worker
 *      threads (4 by default) that contend for a few shared resources from
 *      start_us to end_us, both on redlock_clock_us(): they acquire (with
 *      a per-call deadline), hold (plain locks: sleep, optionally extend
 *      half way; leases: redlock_lease_wait), and release, writing one
 *      hold-log line per operation (format in checker.h) and counting
 *      statuses, node events and calls slower than their bound into a
 *      shared-memory slot of their own.
 *   2. The scenario injects its fault from the parent (fh_at() to wait for
 *      a point of the run, fh_fault() to count and print each injection,
 *      fh_window() to name a time window for later questions such as "how
 *      many grants during the pause").
 *   3. fh_finish(): waits for the clients (SIGKILLing any that hangs past
 *      its deadline: reported as hung), runs the checker over their logs,
 *      sums the statistics and prints one summary line:
 *        FAULT-SUMMARY scenario=NAME ops=N holds=H faults=F overlaps=X
 *        late_losses=L ...
 *   4. The scenario asserts what must hold; fh_cleanup() (cmocka teardown)
 *      stops every process it started: clients by PID, then servers.
 *
 * Only PIDs started here (clients) or by redis_spawn (servers) are ever
 * signalled. Every wait has a deadline.
 *
 * A Redlock node is a plain redis-server by default; cfg.node_kind makes
 * each a whole Redis Cluster (cluster_spawn: 3 masters, 1 replica each)
 * or a Sentinel-managed master (sentinel_spawn: master, 1 replica, 3
 * sentinels), at most FH_MAX_GROUPS of them, so that a scenario can fail
 * over inside a node (fh_failover()).
 */
#ifndef REDLOCK_FAULT_HARNESS_H
#define REDLOCK_FAULT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "checker.h"
#include "cluster_spawn.h"
#include "redis_spawn.h"
#include "sentinel_spawn.h"
#include "redlock.h"

#define FH_MAX_NODES 7
#define FH_MAX_PROCS 4
#define FH_MAX_THREADS 8
#define FH_MAX_WINDOWS 16
/* Cluster or Sentinel nodes a run may have (each is 5-6 servers). */
#define FH_MAX_GROUPS 3
/* Statuses counted one by one (larger ones share the last slot). */
#define FH_STATUS_MAX 24

/* What each Redlock node of a run is. */
typedef enum fh_node_kind {
    FH_NODE_SERVER = 0,  /* one redis-server (redis://) */
    FH_NODE_CLUSTER = 1, /* a Redis Cluster of 3 masters with 1 replica
                            each (redis://...?cluster=yes&seed=...) */
    FH_NODE_SENTINEL = 2 /* a master with 1 replica watched by 3
                            sentinels (sentinel://.../NAME?sentinel=...) */
} fh_node_kind;

/* What a scenario runs. Fill with fh_config_init(), then change fields. */
typedef struct fh_config {
    const char *name;            /* scenario name for the summary line */
    size_t nodes;                /* Redlock nodes; 5 (at most
                                    FH_MAX_GROUPS unless node_kind is
                                    FH_NODE_SERVER) */
    fh_node_kind node_kind;      /* what each node is; FH_NODE_SERVER */
    int appendonly;              /* start them with appendfsync always */
    int procs;                   /* client processes; 2 */
    int threads;                 /* worker threads per process; 4 */
    int lease_threads;           /* of those, how many hold with leases
                                    (the others with plain locks); 1 */
    int resources;               /* shared resource names fr-0 ...; 4 */
    const char *resource_prefix; /* their prefix; "fr-" (a cluster
                                    scenario may give a hash tag, "{fr}-",
                                    to put them all on one shard) */
    uint32_t ttl_ms;             /* TTL of every lock and lease; 1000 */
    uint32_t hold_min_ms;        /* plain hold, uniform in [min, max]; */
    uint32_t hold_max_ms;        /*   5 .. 40 */
    uint32_t lease_hold_min_ms;  /* lease hold; 300 .. 1500 (up to */
    uint32_t lease_hold_max_ms;  /*   three renewals) */
    int extend;                  /* plain holders extend half way; 0 */
    uint32_t run_ms;             /* how long clients start new holds;
                                    5000 */
    uint32_t acquire_deadline_ms; /* deadline_us of each acquire; 1000 */
    uint32_t command_timeout_ms; /* manager option; 500 */
    uint32_t slack_ms;           /* scheduling allowance: a call is "slow"
                                    if it returns later than its bound plus
                                    this; 200, or
                                    $REDLOCK_FAULT_SLACK_MS */
    const char *watch_text;      /* if set, count node-event messages and
                                    acquire details containing it */
    uint32_t restart_guard_ms;   /* manager option of the clients, the
                                    observers and the probe;
                                    REDLOCK_RESTART_GUARD_AUTO (the
                                    library's default) */
} fh_config;

/* Counters of one client process (in shared memory; the parent reads
 * them after the process exited). */
typedef struct fh_stats {
    uint64_t acquires;         /* acquire calls */
    uint64_t grants;           /* ... that returned OK */
    uint64_t taken;            /* ETAKEN */
    uint64_t guarded;          /* failed acquires in which some node said
                                  EGUARDED (restart guard) last */
    uint64_t noquorum;         /* ENOQUORUM */
    uint64_t timedout;         /* ETIMEDOUT */
    uint64_t acq_other;        /* any other failure */
    uint64_t extends;          /* extend calls */
    uint64_t extend_fail;      /* ... that did not return OK */
    uint64_t releases;         /* release / lease stop calls */
    uint64_t release_fail;     /* ... that did not return OK */
    uint64_t extend_st[FH_STATUS_MAX];  /* extend failures by status */
    uint64_t release_st[FH_STATUS_MAX]; /* release failures by status */
    uint64_t lease_holds;      /* holds made with a lease */
    uint64_t lease_renewals;   /* extensions done by lease threads */
    uint64_t lease_lost;       /* leases that reported a loss */
    uint64_t lease_lost_expired;  /* ... with EEXPIRED */
    uint64_t lease_lost_notheld;  /* ... with ENOTHELD */
    uint64_t lease_silent;     /* leases whose validity ran out while they
                                  still read as held (never told) */
    uint64_t slow_calls;       /* calls past their documented bound +
                                  slack: extend and release
                                  command_timeout_ms, lease wait its
                                  timeout, acquire its deadline plus one
                                  command_timeout_ms (a loose bound; the
                                  deadline itself, a hard bound in
                                  redlock.h, is checked by
                                  acquire_late) */
    int64_t max_overrun_us;    /* worst lateness past a bound (may be < 0:
                                  the smallest margin) */
    char slow_what[128];       /* the worst call */
    uint64_t acquire_late;     /* acquires that returned more than the
                                  slack after their deadline_us */
    int64_t max_acquire_late_us; /* worst return past deadline_us */
    char late_what[160];       /* that acquire's status and tallies */
    uint64_t node_down;        /* node_error_fn with st != OK */
    uint64_t node_up;          /* node_error_fn with st == OK */
    uint64_t watch_hits;       /* messages containing cfg.watch_text */
    char last_node_msg[200];   /* "node: STATUS: message" */
    char last_down_msg[200];   /* the same, of the last down event */
    char last_detail[160];     /* last non-empty acquire detail */
    char watch_sample[200];    /* first message that matched watch_text */
    uint64_t last_grant_us;    /* time of the last grant */
    int setup_failed;          /* manager create or log open failed */
    int finished;              /* the process ran to its end */
} fh_stats;

/* A named time window of the run, on redlock_clock_us(). */
typedef struct fh_window_t {
    char label[32];
    uint64_t from_us;
    uint64_t to_us;
} fh_window_t;

/* One scenario run. */
typedef struct fh_run {
    fh_config cfg;
    rs_server srv[FH_MAX_NODES]; /* FH_NODE_SERVER nodes */
    rc_cluster *cluster[FH_MAX_GROUPS]; /* FH_NODE_CLUSTER nodes */
    rsn_group *group[FH_MAX_GROUPS];    /* FH_NODE_SENTINEL nodes */
    const char *uris[FH_MAX_NODES];
    char dir[256];               /* hold logs: dir/client-N.log */
    pid_t pids[FH_MAX_PROCS];    /* 0 once reaped */
    fh_stats *stats;             /* cfg.procs slots, shared memory */
    uint64_t start_us;           /* clients start holding */
    uint64_t end_us;             /* clients start no hold after this */
    int faults;                  /* injections counted by fh_fault() */
    fh_window_t windows[FH_MAX_WINDOWS];
    size_t nwindows;
    /* Observer leases held by the parent (fh_observe_start()). */
    void *obs;                   /* private state; NULL when none */
    size_t obs_leases;           /* leases started */
    size_t obs_lost;             /* ... that reported a loss */
    size_t obs_lost_expired;     /* ... with EEXPIRED */
    size_t obs_lost_notheld;     /* ... with ENOTHELD */
    uint64_t obs_renewals;       /* their extensions */
    /* Latency probe in the parent (fh_probe_start()). */
    void *probe;                 /* private state; NULL when none */
    /* Filled by fh_finish(). */
    int hung;                    /* clients killed for missing their
                                    deadline */
    int failed_procs;            /* clients that exited abnormally */
    mc_log log;                  /* every client's lines (sorted) */
    mc_report rep;               /* the checker's findings */
    fh_stats total;              /* counters summed over processes */
    bool finished;
    bool started;
} fh_run;

/* Defaults described in fh_config. */
void fh_config_init(fh_config *cfg, const char *name);

/* Start the servers and the clients (which begin holding about 0.5 s
 * later, at r->start_us). Returns 0, or -1 with a message on stderr (then
 * everything started is stopped again). */
int fh_start(fh_run *r, const fh_config *cfg);

/* Microseconds on redlock_clock_us(). */
uint64_t fh_now(void);

/* Sleep for ms milliseconds. */
void fh_sleep_ms(uint32_t ms);

/* Sleep until t_us on redlock_clock_us() (returns at once if past). */
void fh_sleep_until(uint64_t t_us);

/* Sleep until ms milliseconds after r->start_us. */
void fh_at(const fh_run *r, uint32_t ms);

/* Count one fault injection and print "fault +MS ms: WHAT". */
void fh_fault(fh_run *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Record a named window [from_us, to_us]. */
void fh_window(fh_run *r, const char *label, uint64_t from_us,
               uint64_t to_us);

/* Run a command on node i (rs_command()). Returns 0 if a reply came. */
int fh_cmd(fh_run *r, size_t i, char *out, size_t outlen, int argc,
           const char **argv);

/*
 * Observer leases: after fh_start(), create a manager in the parent and
 * take n leases (TTL cfg.ttl_ms) on resources nobody else uses
 * ("obs-0" ...), so that the scenario knows leases are held when it
 * injects its fault. fh_observe_stop() stops them (releasing), counts
 * their losses into r->obs_*, and writes their holds to the log the
 * checker reads (a loss told after the validity ended is a late loss).
 * Returns 0 or -1.
 */
int fh_observe_start(fh_run *r, size_t n);

/* Stop the observer leases (see fh_observe_start()); call before
 * fh_finish(). Safe without observers. */
void fh_observe_stop(fh_run *r);

/*
 * Latency probe: after fh_start(), a thread in the parent with its own
 * manager takes a lock on a resource nobody else uses ("probe-N", a new
 * one each time) with a single attempt, extends it once and releases it,
 * every 10 ms, noting when each acquire started and how long the acquire
 * and the extend took. Uncontended, an attempt is decided as soon as a
 * quorum of healthy nodes said yes, so its latency shows whether the
 * healthy nodes decide (about a round trip) or whether the library waits
 * for a stopped or slow node (up to the command timeout): unlike a count
 * of grants, this does not depend on the machine's load or on the
 * clients' contention. The same holds for the extend: the lock's SET
 * reached every healthy node ahead of it (per-node order), so every
 * healthy node says yes. (A contended lock may have been won on exactly a
 * quorum that includes the node now slow: it cannot be extended until
 * that node answers, which is Redlock's rule, not a fault of the
 * library; docs/testing.md.) fh_probe_stop() ends the thread (call it
 * before fh_finish()); the samples stay for fh_probe_stats() and
 * fh_probe_extend_stats(). Returns 0 or -1.
 */
int fh_probe_start(fh_run *r);
void fh_probe_stop(fh_run *r);

/* Probe acquires started in [from_us, to_us]: how many (*count), how
 * many were granted (*granted, may be NULL), and the longest latency in
 * microseconds (returned; 0 if none). Valid after fh_probe_stop(). */
uint64_t fh_probe_stats(const fh_run *r, uint64_t from_us, uint64_t to_us,
                        size_t *count, size_t *granted);

/* The same for the extends of the probe locks acquired in [from_us,
 * to_us]: how many were tried (*count), how many succeeded (*ok, may be
 * NULL), and the longest extend latency in microseconds (returned). */
uint64_t fh_probe_extend_stats(const fh_run *r, uint64_t from_us,
                               uint64_t to_us, size_t *count, size_t *ok);

/* fh_probe_stats() (ext false) or fh_probe_extend_stats() (ext true) over
 * the named window (fh_window()); an unknown window counts nothing
 * (*count 0) and returns UINT64_MAX, so a scenario's checks fail. */
uint64_t fh_probe_in(const fh_run *r, const char *label, bool ext,
                     size_t *count, size_t *ok);

/* Wait for the clients (killing hung ones), check the logs (printing
 * the checker's findings) and sum the counters. Returns 0, or -1 if the
 * logs could not be read. */
int fh_finish(fh_run *r);

/* Print the FAULT-SUMMARY line, with the printf-style fmt (may be NULL)
 * appended for the scenario's own figures, and the detailed counters. */
void fh_summary(const fh_run *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Holds granted in [from_us, to_us] (after fh_finish()). */
size_t fh_grants_between(const fh_run *r, uint64_t from_us, uint64_t to_us);

/* Holds granted in the named window (after fh_finish()); 0 if unknown. */
size_t fh_grants_in(const fh_run *r, const char *label);

/* The named window, or NULL. */
const fh_window_t *fh_window_get(const fh_run *r, const char *label);

/* What fh_restart_control() saw. */
typedef struct fh_control {
    redlock_status a_status;   /* A's acquire */
    redlock_status b_status;   /* B's acquire, after the restarts */
    size_t b_nodes_granted;    /* nodes that said yes to B, if granted */
    bool b_guarded;            /* fh_failover_control(): B's last attempt
                                  met EGUARDED */
    uint32_t b_attempts;       /* B's attempts */
    size_t deleted;            /* fh_failover_control(): keys deleted on
                                  the promoted master */
    mc_report rep;             /* the checker over A's and B's holds */
} fh_control;

/*
 * The deterministic restart control: a positive control for the checker
 * (and the hazard of docs/safety.md section 5), without contending
 * clients. Starts 5 servers into r (with appendfsync always if
 * appendonly), lets manager A take resource "ctl" with a 30 s TTL, waits
 * until every node holds A's key, SIGKILLs nodes 0-2 and restarts them at
 * once on their data directories, then lets a new manager B try the same
 * resource (a few retries, while B's connections come up). Both holds are
 * written as hold-log lines and checked; B's lock and A's are released.
 * Without persistence B must get OK from the 3 empty nodes and the checker
 * must find exactly 1 overlap; with AOF, B must get ETAKEN and the checker
 * none. Returns 0 (results in *out), or -1 if something could not be set
 * up. fh_cleanup() (fh_teardown) stops the servers.
 */
int fh_restart_control(fh_run *r, int appendonly, fh_control *out);

/* Who asks for the lock after the restarts in fh_rolling_control(). */
typedef enum fh_contender {
    FH_B_SAME_MANAGER = 0, /* A's own manager (with guard_ms), as another
                              thread of A's process would */
    FH_B_NEW_MANAGER = 1   /* a new manager (with guard_ms), as another
                              process would */
} fh_contender;

/*
 * The deterministic rolling restart: 3 servers (no persistence), manager
 * A (restart guard a_guard_ms) takes resource "ctl" with a 30 s TTL and
 * waits until every node holds it; node 1 is SIGKILLed and restarted
 * empty, then node 2; then B (see fh_contender: A's manager, or a new
 * one with restart guard b_guard_ms) tries the same resource (retries
 * for about 2 s, while connections come up).
 * Both holds are checked as in fh_restart_control(). Without a restart
 * guard B must get OK from the two empty nodes and the checker must find
 * one overlap; with one that covers A's TTL, B must not. Returns 0
 * (results in *out), or -1 if something could not be set up.
 */
int fh_rolling_control(fh_run *r, uint32_t a_guard_ms, fh_contender who,
                       uint32_t b_guard_ms, fh_control *out);

/* What fh_failover() did. Times on redlock_clock_us(). */
typedef struct fh_failover_info {
    int from_port;           /* the master before */
    int to_port;             /* the promoted replica */
    size_t deleted;          /* keys deleted on it (DEL replied 1) */
    uint64_t promoted_us;    /* when the promotion was seen and the keys
                                deleted (within a fixture poll of it) */
    uint64_t done_us;        /* when the fixture saw the failover
                                complete (every master's view / every
                                sentinel names the new master) */
} fh_failover_info;

/*
 * Fail over inside Redlock node `node` (FH_NODE_CLUSTER: the shard that
 * serves `resource`'s slot, by CLUSTER FAILOVER on its replica;
 * FH_NODE_SENTINEL: the group, by SENTINEL FAILOVER; resource unused), and
 * as soon as the replica says role:master, DEL each of keys[0 .. nkeys)
 * on it, one by one: the writes asynchronous replication lost (keys of
 * other shards answer MOVED and are left alone). Counts one fault
 * (fh_fault()) and fills *out (may be NULL). Returns 0, or -1 with a
 * message on stderr.
 */
int fh_failover(fh_run *r, size_t node, const char *resource,
                const char *const *keys, size_t nkeys, fh_failover_info *out);

/*
 * The deterministic failover control, like fh_restart_control() for a
 * failover inside one node of kind (FH_NODE_CLUSTER or FH_NODE_SENTINEL):
 * managers A and B (restart guard guard_ms) are created; B takes and
 * releases "ctl" (TTL 30 s) once, so it has met the old master (and, with
 * AUTO, its guard is 30 s); A takes "ctl" (TTL 30 s) and, once the
 * replica holds A's key, the node fails over and the key is deleted on
 * the promoted master (fh_failover()); then B tries "ctl" (retries for
 * about 2 s, while it learns of the new master). Both holds are checked.
 * With guard_ms 0, B must get it and the checker find 1 overlap; with
 * AUTO, B must be refused (out->b_guarded: some node said EGUARDED) and
 * the checker find none. Returns 0 (results in *out), or -1 if something
 * could not be set up. fh_cleanup() stops the node.
 */
int fh_failover_control(fh_run *r, fh_node_kind kind, uint32_t guard_ms,
                        fh_control *out);

/* Stop everything fh_start() started (clients by PID, servers), free the
 * log, and remove the log directory unless $REDLOCK_FAULT_KEEP_LOGS is
 * set. Safe to call twice and on a run that failed to start. */
void fh_cleanup(fh_run *r);

/* A cmocka teardown calling fh_cleanup(*state) and freeing it. */
int fh_teardown(void **state);

/* A cmocka setup that allocates a zeroed fh_run into *state. */
int fh_setup(void **state);

#endif /* REDLOCK_FAULT_HARNESS_H */
