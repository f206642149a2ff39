/*
 * fault_harness.c: servers, forked client processes, hold logs and the
 * summary line shared by the fault scenarios (see fault_harness.h).
 *
 * DESIGN
 * The parent forks the clients before it creates any thread or manager of
 * its own, so each child starts from a single-threaded copy and builds its
 * own manager and workers. A child never returns into cmocka: it runs its
 * workers, writes its log, marks its shared-memory slot finished and
 * _exit()s. The slot is written by the child's threads under a mutex that
 * lives in the child's private memory (only that child writes the slot);
 * the parent reads it after waitpid(), which orders the accesses.
 *
 * Times in the logs are taken conservatively for the checker: granted_at
 * after the acquire call returned, release before the release call began,
 * validity_end from the lock itself after the call.
 *
 * Cluster and Sentinel nodes (cfg.node_kind) are started by their
 * fixtures into heap blocks (an rc_cluster holds 9 servers: in fh_run it
 * would grow every scenario's run), before the fork, so each client
 * process sees the same URIs. fh_failover() deletes the "lost" keys from
 * the fixture's own poll, as soon as the replica says role:master,
 * rather than after the fixture returned: the fixture then still awaits
 * every master's view or every sentinel, which may take longer than a
 * guard of one TTL, and a key deleted that late could be a lock granted
 * legitimately after the guard (a "key changed" fault, not a failover).
 * Rejected: a harness-only failover (SENTINEL/CLUSTER FAILOVER sent here
 * and polled here): it would copy the fixtures' retries and waits.
 */
#define _GNU_SOURCE
#include "fault_harness.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Time the clients get to create their managers and connect. */
#define FH_WARMUP_MS 500
/* How long after end_us a client may take to finish before it counts as
 * hung: the last hold, its release, and the manager's shutdown. */
#define FH_EXIT_GRACE_MS 8000
/* Prefix of the log directories we create (and only ever remove). */
#define FH_DIR_PREFIX "redlock-faults-"
/* Overlaps and late losses listed in full on stdout. */
#define FH_DETAILS 10

/* ------------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------------ */

/* Microseconds on the library's clock. */
uint64_t fh_now(void)
{
    return redlock_clock_us();
}

/* Sleep for us microseconds, resuming after signals. */
static void sleep_us(uint64_t us)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(us / 1000000u);
    ts.tv_nsec = (long)(us % 1000000u) * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Sleep for ms milliseconds. */
void fh_sleep_ms(uint32_t ms)
{
    sleep_us((uint64_t)ms * 1000u);
}

/* Sleep until t_us. */
void fh_sleep_until(uint64_t t_us)
{
    uint64_t now = fh_now();
    if (t_us > now)
        sleep_us(t_us - now);
}

/* Sleep until ms after the clients' start. */
void fh_at(const fh_run *r, uint32_t ms)
{
    fh_sleep_until(r->start_us + (uint64_t)ms * 1000u);
}

/* Milliseconds since the clients' start (negative before it). */
static double since_start_ms(const fh_run *r, uint64_t t)
{
    return ((double)t - (double)r->start_us) / 1000.0;
}

/* ------------------------------------------------------------------------
 * Configuration and bookkeeping
 * ------------------------------------------------------------------------ */

/* Fill cfg with the documented defaults. */
void fh_config_init(fh_config *cfg, const char *name)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->name = name;
    cfg->nodes = 5;
    cfg->procs = 2;
    cfg->threads = 4;
    cfg->lease_threads = 1;
    cfg->resources = 4;
    cfg->resource_prefix = "fr-";
    cfg->ttl_ms = 1000;
    cfg->hold_min_ms = 5;
    cfg->hold_max_ms = 40;
    cfg->lease_hold_min_ms = 300;
    cfg->lease_hold_max_ms = 1500;
    cfg->run_ms = 5000;
    cfg->acquire_deadline_ms = 1000;
    cfg->command_timeout_ms = 500;
    cfg->slack_ms = 200;
    cfg->restart_guard_ms = REDLOCK_RESTART_GUARD_AUTO;
    const char *slack = getenv("REDLOCK_FAULT_SLACK_MS");
    if (slack != NULL) {
        char *end;
        long v = strtol(slack, &end, 10);
        if (end != slack && *end == '\0' && v > 0 && v < 600000)
            cfg->slack_ms = (uint32_t)v;
    }
}

/* Count and print one injection. */
void fh_fault(fh_run *r, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    r->faults++;
    printf("[%s] fault %d at +%.0f ms: %s\n", r->cfg.name, r->faults,
           since_start_ms(r, fh_now()), what);
    fflush(stdout);
}

/* Record a named window. */
void fh_window(fh_run *r, const char *label, uint64_t from_us,
               uint64_t to_us)
{
    if (r->nwindows == FH_MAX_WINDOWS)
        return;
    fh_window_t *w = &r->windows[r->nwindows++];
    snprintf(w->label, sizeof(w->label), "%s", label);
    w->from_us = from_us;
    w->to_us = to_us;
}

/* The named window, or NULL. */
const fh_window_t *fh_window_get(const fh_run *r, const char *label)
{
    for (size_t i = 0; i < r->nwindows; i++)
        if (strcmp(r->windows[i].label, label) == 0)
            return &r->windows[i];
    return NULL;
}

/* A command on node i. */
int fh_cmd(fh_run *r, size_t i, char *out, size_t outlen, int argc,
           const char **argv)
{
    return rs_command(&r->srv[i], out, outlen, argc, argv);
}

/* ------------------------------------------------------------------------
 * The client process
 * ------------------------------------------------------------------------ */

/* State of one client process, private to it. */
typedef struct client {
    const fh_run *r;
    int idx;                 /* process index */
    fh_stats *st;            /* its shared slot */
    pthread_mutex_t mu;      /* guards st and log */
    FILE *log;
    redlock_manager *m;
} client;

/* State of one worker thread. */
typedef struct worker {
    client *c;
    int idx;                 /* thread index within the process */
    unsigned seed;           /* rand_r() state */
    unsigned long seq;       /* holds made, for holder ids */
    bool lease;              /* holds with leases */
} worker;

/* What the on_lost callback saw, for the hold in progress. */
typedef struct loss_note {
    atomic_uint_fast64_t at_us;
    atomic_uint_fast64_t validity_end_us;
    atomic_int why;
} loss_note;

/* Note a message if it contains the watched text (c->mu held). */
static void watch(client *c, const char *msg)
{
    const char *w = c->r->cfg.watch_text;
    if (w == NULL || msg == NULL || strstr(msg, w) == NULL)
        return;
    if (c->st->watch_hits++ == 0)
        snprintf(c->st->watch_sample, sizeof(c->st->watch_sample), "%s",
                 msg);
}

/* node_error_fn: count the event. Runs on a node worker thread. */
static void on_node_event(const char *node, redlock_status st,
                          const char *message, void *userdata)
{
    client *c = userdata;
    pthread_mutex_lock(&c->mu);
    if (st == REDLOCK_OK)
        c->st->node_up++;
    else
        c->st->node_down++;
    snprintf(c->st->last_node_msg, sizeof(c->st->last_node_msg),
             "%s: %s: %s", node, redlock_status_name(st), message);
    if (st != REDLOCK_OK)
        memcpy(c->st->last_down_msg, c->st->last_node_msg,
               sizeof(c->st->last_down_msg));
    watch(c, message);
    pthread_mutex_unlock(&c->mu);
}

/* on_lost: note when the holder was told, and the validity end then. */
static void on_lost(redlock_lease *lease, redlock_status why, void *userdata)
{
    loss_note *n = userdata;
    uint64_t now = redlock_clock_us();
    atomic_store(&n->validity_end_us,
                 redlock_lock_validity_end_us(redlock_lease_lock(lease)));
    atomic_store(&n->why, (int)why);
    atomic_store(&n->at_us, now);
}

/* Compare a call's return time with its bound (both on the library's
 * clock) and count it as slow past bound + slack. */
static void check_bound(worker *w, const char *what, uint64_t returned_us,
                        uint64_t bound_us)
{
    client *c = w->c;
    int64_t over = (int64_t)returned_us - (int64_t)bound_us;
    pthread_mutex_lock(&c->mu);
    if (over > c->st->max_overrun_us) {
        c->st->max_overrun_us = over;
        snprintf(c->st->slow_what, sizeof(c->st->slow_what),
                 "%s %+lld us past its bound", what, (long long)over);
    }
    if (over > (int64_t)c->r->cfg.slack_ms * 1000)
        c->st->slow_calls++;
    pthread_mutex_unlock(&c->mu);
}

/* Check an acquire's return time against its deadline, a hard bound in
 * redlock.h (counting it as late past the slack: acquire_late, which
 * scenarios assert), then against the looser bound slow_calls uses for
 * acquires, the deadline plus one command timeout. */
static void check_acquire(worker *w, const char *what, uint64_t returned_us,
                          uint64_t deadline_us, redlock_status st,
                          const redlock_acquire_info *info)
{
    client *c = w->c;
    int64_t late = (int64_t)returned_us - (int64_t)deadline_us;
    pthread_mutex_lock(&c->mu);
    if (late > c->st->max_acquire_late_us) {
        c->st->max_acquire_late_us = late;
        snprintf(c->st->late_what, sizeof(c->st->late_what),
                 "%s %s after %u attempts, last yes/no/error %u/%u/%u",
                 what, redlock_status_name(st), info->attempts,
                 info->last.yes, info->last.no, info->last.error);
    }
    if (late > (int64_t)c->r->cfg.slack_ms * 1000)
        c->st->acquire_late++;
    pthread_mutex_unlock(&c->mu);
    check_bound(w, what, returned_us,
                deadline_us + (uint64_t)c->r->cfg.command_timeout_ms * 1000u);
}

/* Append one hold-log line (see checker.h). */
static void log_line(worker *w, const char *resource, uint64_t start,
                     uint64_t granted, uint64_t vend, uint64_t release,
                     uint64_t lost)
{
    client *c = w->c;
    pthread_mutex_lock(&c->mu);
    fprintf(c->log, "%s p%dt%dn%lu %llu %llu %llu %llu %llu\n", resource,
            c->idx, w->idx, w->seq, (unsigned long long)start,
            (unsigned long long)granted, (unsigned long long)vend,
            (unsigned long long)release, (unsigned long long)lost);
    pthread_mutex_unlock(&c->mu);
}

/* Count a failed acquire by status and keep its detail. */
static void count_acquire(worker *w, redlock_status st,
                          const redlock_acquire_info *info)
{
    client *c = w->c;
    pthread_mutex_lock(&c->mu);
    c->st->acquires++;
    switch (st) {
    case REDLOCK_OK:
        c->st->grants++;
        c->st->last_grant_us = redlock_clock_us();
        break;
    case REDLOCK_ETAKEN:
        c->st->taken++;
        break;
    case REDLOCK_ENOQUORUM:
        c->st->noquorum++;
        break;
    case REDLOCK_ETIMEDOUT:
        c->st->timedout++;
        break;
    default:
        c->st->acq_other++;
        break;
    }
    if (st != REDLOCK_OK) {
        for (size_t k = 0; k < c->r->cfg.nodes && k < REDLOCK_NODES_MAX;
             k++) {
            if (info->node_status[k] == REDLOCK_EGUARDED) {
                c->st->guarded++;
                break;
            }
        }
    }
    if (st != REDLOCK_OK && info->detail[0] != '\0') {
        snprintf(c->st->last_detail, sizeof(c->st->last_detail), "%s",
                 info->detail);
        watch(c, info->detail);
    }
    pthread_mutex_unlock(&c->mu);
}

/* Add one to a counter of the slot under the client's mutex. */
static void bump(worker *w, uint64_t *counter)
{
    pthread_mutex_lock(&w->c->mu);
    (*counter)++;
    pthread_mutex_unlock(&w->c->mu);
}

/* Count a failed extend or release by its status. */
static void count_fail(worker *w, uint64_t *by_status, redlock_status st)
{
    size_t i = (size_t)st < FH_STATUS_MAX ? (size_t)st : FH_STATUS_MAX - 1;
    bump(w, &by_status[i]);
}

/* Uniform in [lo, hi]. */
static uint32_t pick(worker *w, uint32_t lo, uint32_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (uint32_t)rand_r(&w->seed) % (hi - lo + 1);
}

/* Acquire options for one call: unlimited retries within the deadline. */
static void acquire_opts(worker *w, redlock_acquire_opts *o,
                         redlock_acquire_info *info, uint64_t start)
{
    redlock_acquire_opts_init(o);
    o->retry_count = 100000;
    o->deadline_us = start + (uint64_t)w->c->r->cfg.acquire_deadline_ms *
                                 1000u;
    o->info = info;
}

/* One hold with a plain lock: acquire, sleep (extending half way if
 * configured), release. */
static void plain_hold(worker *w, const char *res)
{
    const fh_config *cfg = &w->c->r->cfg;
    uint64_t cmd_us = (uint64_t)cfg->command_timeout_ms * 1000u;
    redlock_acquire_opts o;
    redlock_acquire_info info;
    redlock_lock *lock = NULL;

    uint64_t start = fh_now();
    acquire_opts(w, &o, &info, start);
    redlock_status st = redlock_acquire_ex(w->c->m, res, strlen(res),
                                           cfg->ttl_ms, &o, &lock);
    uint64_t granted = fh_now();
    check_acquire(w, "acquire", granted, o.deadline_us, st, &info);
    count_acquire(w, st, &info);
    if (st != REDLOCK_OK) {
        log_line(w, res, start, 0, 0, 0, 0);
        return;
    }
    uint64_t vend = redlock_lock_validity_end_us(lock);
    uint32_t hold = pick(w, cfg->hold_min_ms, cfg->hold_max_ms);
    bool lost = false;
    if (cfg->extend) {
        fh_sleep_ms(hold / 2);
        uint64_t e0 = fh_now();
        st = redlock_extend(lock, cfg->ttl_ms);
        check_bound(w, "extend", fh_now(), e0 + cmd_us);
        bump(w, &w->c->st->extends);
        if (st == REDLOCK_OK) {
            vend = redlock_lock_validity_end_us(lock);
        } else {
            bump(w, &w->c->st->extend_fail);
            count_fail(w, w->c->st->extend_st, st);
            lost = st == REDLOCK_ENOTHELD;
        }
        if (!lost)
            fh_sleep_ms(hold - hold / 2);
    } else {
        fh_sleep_ms(hold);
    }
    uint64_t rel = fh_now();
    st = redlock_release(lock);
    check_bound(w, "release", fh_now(), rel + cmd_us);
    bump(w, &w->c->st->releases);
    if (st != REDLOCK_OK) {
        bump(w, &w->c->st->release_fail);
        count_fail(w, w->c->st->release_st, st);
    }
    log_line(w, res, start, granted, vend, rel, 0);
}

/* One hold with a lease: acquire it, wait for the hold time or the loss,
 * stop it (which releases). */
static void lease_hold(worker *w, const char *res)
{
    const fh_config *cfg = &w->c->r->cfg;
    uint64_t cmd_us = (uint64_t)cfg->command_timeout_ms * 1000u;
    redlock_acquire_opts o;
    redlock_acquire_info info;
    redlock_lease_options lo;
    redlock_lease *lease = NULL;
    loss_note note;

    atomic_init(&note.at_us, 0);
    atomic_init(&note.validity_end_us, 0);
    atomic_init(&note.why, REDLOCK_OK);
    redlock_lease_options_init(&lo);
    lo.on_lost = on_lost;
    lo.userdata = &note;

    uint64_t start = fh_now();
    acquire_opts(w, &o, &info, start);
    redlock_status st = redlock_lease_acquire(w->c->m, res, cfg->ttl_ms, &o,
                                              &lo, &lease);
    uint64_t granted = fh_now();
    check_acquire(w, "lease acquire", granted, o.deadline_us, st,
                  &info);
    count_acquire(w, st, &info);
    if (st != REDLOCK_OK) {
        log_line(w, res, start, 0, 0, 0, 0);
        return;
    }
    bump(w, &w->c->st->lease_holds);
    uint32_t hold = pick(w, cfg->lease_hold_min_ms, cfg->lease_hold_max_ms);
    uint64_t w0 = fh_now();
    st = redlock_lease_wait(lease, hold);
    uint64_t rel = fh_now();
    check_bound(w, "lease wait", rel, w0 + (uint64_t)hold * 1000u);
    uint64_t vend = redlock_lock_validity_end_us(redlock_lease_lock(lease));
    uint32_t renewals = redlock_lease_renewals(lease);
    /* The wait said "still held" although the validity ended (by more
     * than a millisecond) before the wait's own timeout: the holder was
     * never told. */
    bool silent = st == REDLOCK_ETIMEDOUT &&
                  w0 + (uint64_t)hold * 1000u > vend + 1000u;
    redlock_status stop = redlock_lease_stop(lease, NULL);
    check_bound(w, "lease stop", fh_now(), rel + cmd_us);
    pthread_mutex_lock(&w->c->mu);
    w->c->st->releases++;
    w->c->st->lease_renewals += renewals;
    w->c->st->lease_silent += silent;
    if (st != REDLOCK_ETIMEDOUT || atomic_load(&note.at_us) != 0) {
        /* Lost: counted once, whether the flag or the callback told. */
        w->c->st->lease_lost++;
        redlock_status why = st != REDLOCK_ETIMEDOUT
                                 ? st
                                 : (redlock_status)atomic_load(&note.why);
        if (why == REDLOCK_EEXPIRED)
            w->c->st->lease_lost_expired++;
        else if (why == REDLOCK_ENOTHELD)
            w->c->st->lease_lost_notheld++;
    } else if (stop != REDLOCK_OK) {
        w->c->st->release_fail++;
        w->c->st->release_st[(size_t)stop < FH_STATUS_MAX
                                 ? (size_t)stop
                                 : FH_STATUS_MAX - 1]++;
    }
    pthread_mutex_unlock(&w->c->mu);
    uint64_t lost_at = atomic_load(&note.at_us);
    if (lost_at != 0) {
        /* The validity end at the moment of the loss is the one the
         * holder was promised. */
        uint64_t lost_vend = atomic_load(&note.validity_end_us);
        if (lost_vend != 0)
            vend = lost_vend;
    }
    log_line(w, res, start, granted, vend, rel, lost_at);
}

/* A worker thread: hold resources until the run ends. */
static void *worker_main(void *arg)
{
    worker *w = arg;
    const fh_run *r = w->c->r;
    char res[32];

    fh_sleep_until(r->start_us);
    while (fh_now() < r->end_us) {
        snprintf(res, sizeof(res), "%s%u", r->cfg.resource_prefix,
                 (unsigned)rand_r(&w->seed) % (unsigned)r->cfg.resources);
        w->seq++;
        if (w->lease)
            lease_hold(w, res);
        else
            plain_hold(w, res);
    }
    return NULL;
}

/* Body of client process idx; never returns. */
static void client_main(const fh_run *r, int idx)
{
    client c;
    worker w[FH_MAX_THREADS];
    pthread_t t[FH_MAX_THREADS];
    char path[320];
    int nthreads = r->cfg.threads;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    memset(&c, 0, sizeof(c));
    c.r = r;
    c.idx = idx;
    c.st = &r->stats[idx];
    c.st->max_overrun_us = INT64_MIN;
    c.st->max_acquire_late_us = INT64_MIN;
    pthread_mutex_init(&c.mu, NULL);
    snprintf(path, sizeof(path), "%s/client-%d.log", r->dir, idx);
    c.log = fopen(path, "w");
    if (c.log == NULL) {
        fprintf(stderr, "fault client %d: %s: %s\n", idx, path,
                strerror(errno));
        c.st->setup_failed = 1;
        _exit(3);
    }
    /* Line-buffered: a client killed as hung leaves every hold it logged,
     * each line whole, for the checker (fully buffered, it would lose up
     * to a buffer's worth and end in a truncated line). */
    setvbuf(c.log, NULL, _IOLBF, 0);

    redlock_options o;
    redlock_options_init(&o);
    o.retry_count = 100000; /* bounded by each call's deadline */
    o.retry_delay_ms = 10;
    o.retry_jitter_ms = 20;
    o.command_timeout_ms = r->cfg.command_timeout_ms;
    o.connect_timeout_ms = r->cfg.command_timeout_ms;
    o.reconnect_min_ms = 10;
    o.reconnect_max_ms = 200;
    o.shutdown_timeout_ms = 500;
    o.restart_guard_ms = r->cfg.restart_guard_ms;
    o.node_error_fn = on_node_event;
    o.node_error_userdata = &c;
    char err[256];
    redlock_status st = redlock_manager_create_ex(
        r->uris, r->cfg.nodes, &o, &c.m, err, sizeof(err));
    if (st != REDLOCK_OK) {
        fprintf(stderr, "fault client %d: manager: %s: %s\n", idx,
                redlock_strerror(st), err);
        c.st->setup_failed = 1;
        fclose(c.log);
        _exit(3);
    }

    if (nthreads > FH_MAX_THREADS)
        nthreads = FH_MAX_THREADS;
    int started = 0;
    for (int i = 0; i < nthreads; i++) {
        w[i].c = &c;
        w[i].idx = i;
        w[i].seed = (unsigned)getpid() * 2654435761u + (unsigned)i * 40503u +
                    (unsigned)fh_now();
        w[i].seq = 0;
        w[i].lease = i < r->cfg.lease_threads;
        if (pthread_create(&t[i], NULL, worker_main, &w[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    redlock_manager_destroy(c.m);
    fclose(c.log);
    c.st->setup_failed |= started != nthreads;
    c.st->finished = 1;
    _exit(started == nthreads ? 0 : 4);
}

/* ------------------------------------------------------------------------
 * Observer leases in the parent
 * ------------------------------------------------------------------------ */

#define FH_MAX_OBSERVERS 8

/* The parent's manager and its leases. */
typedef struct observer {
    redlock_manager *m;
    size_t n;
    redlock_lease *lease[FH_MAX_OBSERVERS];
    loss_note note[FH_MAX_OBSERVERS];
    uint64_t start_us[FH_MAX_OBSERVERS];
    uint64_t granted_us[FH_MAX_OBSERVERS];
} observer;

/* Create the parent's manager and take n leases. */
int fh_observe_start(fh_run *r, size_t n)
{
    if (n > FH_MAX_OBSERVERS || r->obs != NULL)
        return -1;
    observer *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return -1;
    r->obs = o;
    redlock_options opts;
    redlock_options_init(&opts);
    opts.retry_count = 100;
    opts.retry_delay_ms = 10;
    opts.command_timeout_ms = r->cfg.command_timeout_ms;
    opts.connect_timeout_ms = r->cfg.command_timeout_ms;
    opts.reconnect_min_ms = 10;
    opts.reconnect_max_ms = 200;
    opts.shutdown_timeout_ms = 500;
    opts.restart_guard_ms = r->cfg.restart_guard_ms;
    char err[256];
    redlock_status st = redlock_manager_create_ex(r->uris, r->cfg.nodes,
                                                  &opts, &o->m, err,
                                                  sizeof(err));
    if (st != REDLOCK_OK) {
        fprintf(stderr, "[%s] observer manager: %s: %s\n", r->cfg.name,
                redlock_strerror(st), err);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char res[32];
        snprintf(res, sizeof(res), "obs-%zu", i);
        atomic_init(&o->note[i].at_us, 0);
        atomic_init(&o->note[i].validity_end_us, 0);
        atomic_init(&o->note[i].why, REDLOCK_OK);
        redlock_lease_options lo;
        redlock_lease_options_init(&lo);
        lo.on_lost = on_lost;
        lo.userdata = &o->note[i];
        o->start_us[i] = fh_now();
        st = redlock_lease_acquire(o->m, res, r->cfg.ttl_ms, NULL, &lo,
                                   &o->lease[i]);
        o->granted_us[i] = fh_now();
        if (st != REDLOCK_OK) {
            fprintf(stderr, "[%s] observer lease %s: %s\n", r->cfg.name,
                    res, redlock_strerror(st));
            return -1;
        }
        o->n++;
        r->obs_leases++;
    }
    return 0;
}

/* Stop the observer leases, count their losses and log their holds. */
void fh_observe_stop(fh_run *r)
{
    observer *o = r->obs;
    char path[320];
    if (o == NULL)
        return;
    snprintf(path, sizeof(path), "%s/observer.log", r->dir);
    FILE *f = fopen(path, "w");
    for (size_t i = 0; i < o->n; i++) {
        uint64_t rel = fh_now();
        uint64_t vend =
            redlock_lock_validity_end_us(redlock_lease_lock(o->lease[i]));
        r->obs_renewals += redlock_lease_renewals(o->lease[i]);
        redlock_lease_stop(o->lease[i], NULL);
        uint64_t lost = atomic_load(&o->note[i].at_us);
        if (lost != 0) {
            redlock_status why = (redlock_status)atomic_load(&o->note[i].why);
            r->obs_lost++;
            r->obs_lost_expired += why == REDLOCK_EEXPIRED;
            r->obs_lost_notheld += why == REDLOCK_ENOTHELD;
            vend = atomic_load(&o->note[i].validity_end_us);
            rel = lost; /* the holder stops when told */
        }
        if (f != NULL)
            fprintf(f, "obs-%zu observer-%zu %llu %llu %llu %llu %llu\n", i,
                    i, (unsigned long long)o->start_us[i],
                    (unsigned long long)o->granted_us[i],
                    (unsigned long long)vend, (unsigned long long)rel,
                    (unsigned long long)lost);
    }
    if (f != NULL)
        fclose(f);
    redlock_manager_destroy(o->m);
    free(o);
    r->obs = NULL;
    printf("[%s] observer leases: %zu held, %zu lost (expired %zu, notheld "
           "%zu), %llu renewals\n",
           r->cfg.name, r->obs_leases, r->obs_lost, r->obs_lost_expired,
           r->obs_lost_notheld, (unsigned long long)r->obs_renewals);
}

/* ------------------------------------------------------------------------
 * The latency probe in the parent
 * ------------------------------------------------------------------------ */

/* Pause between two probes. */
#define FH_PROBE_EVERY_MS 10

/* One probe acquire. */
typedef struct probe_sample {
    uint64_t start_us;
    uint64_t latency_us;
    bool granted;
    bool extended;            /* the extend of the granted lock succeeded */
    uint64_t ext_latency_us;  /* how long it took (granted only) */
} probe_sample;

/* The probe thread's state; samples are written by the thread only and
 * read after it was joined. */
typedef struct probe {
    redlock_manager *m;
    pthread_t thread;
    atomic_bool stop;
    probe_sample *v;
    size_t len, cap;
} probe;

/* The probe thread: single-attempt acquires of fresh resources, each
 * extended once. */
static void *probe_main(void *arg)
{
    probe *p = arg;
    unsigned long seq = 0;
    while (!atomic_load(&p->stop)) {
        char res[32];
        snprintf(res, sizeof(res), "probe-%lu", seq++);
        redlock_lock *l = NULL;
        uint64_t t0 = fh_now();
        redlock_status st = redlock_try_acquire(p->m, res, 1000, &l);
        uint64_t t1 = fh_now();
        bool extended = false;
        uint64_t t2 = t1;
        if (st == REDLOCK_OK) {
            extended = redlock_extend(l, 1000) == REDLOCK_OK;
            t2 = fh_now();
            redlock_release(l);
        }
        if (p->len == p->cap) {
            size_t cap = p->cap != 0 ? 2 * p->cap : 1024;
            probe_sample *v = realloc(p->v, cap * sizeof(*v));
            if (v == NULL)
                break;
            p->v = v;
            p->cap = cap;
        }
        p->v[p->len].start_us = t0;
        p->v[p->len].latency_us = t1 - t0;
        p->v[p->len].granted = st == REDLOCK_OK;
        p->v[p->len].extended = extended;
        p->v[p->len].ext_latency_us = t2 - t1;
        p->len++;
        fh_sleep_ms(FH_PROBE_EVERY_MS);
    }
    return NULL;
}

/* Start the probe thread with its own manager. */
int fh_probe_start(fh_run *r)
{
    if (r->probe != NULL)
        return -1;
    probe *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    atomic_init(&p->stop, false);
    redlock_options opts;
    redlock_options_init(&opts);
    opts.retry_count = 0;
    opts.command_timeout_ms = r->cfg.command_timeout_ms;
    opts.connect_timeout_ms = r->cfg.command_timeout_ms;
    opts.reconnect_min_ms = 10;
    opts.reconnect_max_ms = 200;
    opts.shutdown_timeout_ms = 500;
    opts.restart_guard_ms = r->cfg.restart_guard_ms;
    char err[256];
    redlock_status st = redlock_manager_create_ex(r->uris, r->cfg.nodes,
                                                  &opts, &p->m, err,
                                                  sizeof(err));
    if (st != REDLOCK_OK) {
        fprintf(stderr, "[%s] probe manager: %s: %s\n", r->cfg.name,
                redlock_strerror(st), err);
        free(p);
        return -1;
    }
    if (pthread_create(&p->thread, NULL, probe_main, p) != 0) {
        redlock_manager_destroy(p->m);
        free(p);
        return -1;
    }
    r->probe = p;
    return 0;
}

/* Stop the probe thread and its manager; keep the samples. */
void fh_probe_stop(fh_run *r)
{
    probe *p = r->probe;
    if (p == NULL || p->m == NULL)
        return;
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    redlock_manager_destroy(p->m);
    p->m = NULL;
}

/* Free the probe entirely (from fh_cleanup()). */
static void probe_free(fh_run *r)
{
    probe *p = r->probe;
    if (p == NULL)
        return;
    fh_probe_stop(r);
    free(p->v);
    free(p);
    r->probe = NULL;
}

/* Count and worst latency of the probes started in [from_us, to_us]. */
/* Probe samples started in [from_us, to_us]: of the acquires, or (ext)
 * of the extends of those granted. */
static uint64_t probe_stats(const fh_run *r, uint64_t from_us,
                            uint64_t to_us, bool ext, size_t *count,
                            size_t *ok_out)
{
    const probe *p = r->probe;
    uint64_t worst = 0;
    size_t n = 0, ok = 0;
    for (size_t i = 0; p != NULL && i < p->len; i++) {
        const probe_sample *x = &p->v[i];
        if (x->start_us < from_us || x->start_us > to_us ||
            (ext && !x->granted))
            continue;
        n++;
        ok += ext ? x->extended : x->granted;
        uint64_t lat = ext ? x->ext_latency_us : x->latency_us;
        if (lat > worst)
            worst = lat;
    }
    *count = n;
    if (ok_out != NULL)
        *ok_out = ok;
    return worst;
}

uint64_t fh_probe_stats(const fh_run *r, uint64_t from_us, uint64_t to_us,
                        size_t *count, size_t *granted)
{
    return probe_stats(r, from_us, to_us, false, count, granted);
}

uint64_t fh_probe_extend_stats(const fh_run *r, uint64_t from_us,
                               uint64_t to_us, size_t *count, size_t *ok)
{
    return probe_stats(r, from_us, to_us, true, count, ok);
}

uint64_t fh_probe_in(const fh_run *r, const char *label, bool ext,
                     size_t *count, size_t *ok)
{
    const fh_window_t *w = fh_window_get(r, label);
    if (w == NULL) {
        *count = 0;
        if (ok != NULL)
            *ok = 0;
        return UINT64_MAX;
    }
    return probe_stats(r, w->from_us, w->to_us, ext, count, ok);
}

/* ------------------------------------------------------------------------
 * Start, finish, clean up
 * ------------------------------------------------------------------------ */

/* Create ($TMPDIR or /tmp)/redlock-faults-XXXXXX into out. */
static int make_log_dir(char *out, size_t outlen)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    if (snprintf(out, outlen, "%s/" FH_DIR_PREFIX "XXXXXX", tmp) >=
        (int)outlen)
        return -1;
    if (mkdtemp(out) == NULL) {
        fprintf(stderr, "fault harness: mkdtemp(%s): %s\n", out,
                strerror(errno));
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* nftw callback: remove one entry (depth first). */
static int rm_entry(const char *path, const struct stat *sb, int type,
                    struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

/* Remove the log directory if it is one of ours. */
static void remove_log_dir(const char *dir)
{
    const char *base = strrchr(dir, '/');
    if (base == NULL ||
        strncmp(base + 1, FH_DIR_PREFIX, strlen(FH_DIR_PREFIX)) != 0)
        return;
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Start r->cfg.nodes nodes of r->cfg.node_kind and fill r->uris.
 * Returns 0 or -1 (what started is stopped by fh_cleanup()). */
static int start_nodes(fh_run *r)
{
    const fh_config *cfg = &r->cfg;
    rs_options so;

    switch (cfg->node_kind) {
    case FH_NODE_SERVER:
        memset(&so, 0, sizeof(so));
        so.appendonly = cfg->appendonly;
        for (size_t i = 0; i < cfg->nodes; i++) {
            if (rs_start_ex(&r->srv[i], &so) != 0)
                return -1;
            r->uris[i] = r->srv[i].uri;
        }
        return 0;
    case FH_NODE_CLUSTER:
        for (size_t i = 0; i < cfg->nodes; i++) {
            r->cluster[i] = calloc(1, sizeof(*r->cluster[i]));
            if (r->cluster[i] == NULL)
                return -1;
            if (rc_start(r->cluster[i], 3, 1) != 0) {
                free(r->cluster[i]);
                r->cluster[i] = NULL;
                return -1;
            }
            r->uris[i] = r->cluster[i]->uri;
        }
        return 0;
    case FH_NODE_SENTINEL:
        for (size_t i = 0; i < cfg->nodes; i++) {
            char name[32];
            r->group[i] = calloc(1, sizeof(*r->group[i]));
            if (r->group[i] == NULL)
                return -1;
            snprintf(name, sizeof(name), "fh-group-%zu", i);
            if (rsn_start(r->group[i], name, 3, 1) != 0) {
                free(r->group[i]);
                r->group[i] = NULL;
                return -1;
            }
            r->uris[i] = r->group[i]->uri;
        }
        return 0;
    }
    return -1;
}

/* Stop the nodes start_nodes() started (only our PIDs: the fixtures'). */
static void stop_nodes(fh_run *r)
{
    for (size_t i = 0; i < FH_MAX_NODES; i++)
        rs_stop(&r->srv[i]);
    for (size_t i = 0; i < FH_MAX_GROUPS; i++) {
        if (r->cluster[i] != NULL) {
            rc_stop(r->cluster[i]);
            free(r->cluster[i]);
            r->cluster[i] = NULL;
        }
        if (r->group[i] != NULL) {
            rsn_stop(r->group[i]);
            free(r->group[i]);
            r->group[i] = NULL;
        }
    }
}

/* The name of a node kind, for messages. */
static const char *kind_name(fh_node_kind k)
{
    return k == FH_NODE_CLUSTER    ? "cluster"
           : k == FH_NODE_SENTINEL ? "sentinel group"
                                   : "server";
}

/* Start servers and clients. */
int fh_start(fh_run *r, const fh_config *cfg)
{
    memset(r, 0, sizeof(*r));
    r->cfg = *cfg;
    r->started = true;
    if (cfg->nodes == 0 || cfg->nodes > FH_MAX_NODES ||
        (cfg->node_kind != FH_NODE_SERVER &&
         (cfg->nodes > FH_MAX_GROUPS || cfg->appendonly)) ||
        cfg->node_kind > FH_NODE_SENTINEL || cfg->procs <= 0 ||
        cfg->procs > FH_MAX_PROCS || cfg->threads <= 0 ||
        cfg->threads > FH_MAX_THREADS || cfg->resources <= 0 ||
        cfg->resource_prefix == NULL || strlen(cfg->resource_prefix) > 16) {
        fprintf(stderr, "fault harness: bad configuration\n");
        return -1;
    }
    if (start_nodes(r) != 0) {
        fh_cleanup(r);
        return -1;
    }
    if (make_log_dir(r->dir, sizeof(r->dir)) != 0) {
        fh_cleanup(r);
        return -1;
    }
    r->stats = mmap(NULL, sizeof(fh_stats) * (size_t)cfg->procs,
                    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                    0);
    if (r->stats == MAP_FAILED) {
        r->stats = NULL;
        fprintf(stderr, "fault harness: mmap: %s\n", strerror(errno));
        fh_cleanup(r);
        return -1;
    }
    memset(r->stats, 0, sizeof(fh_stats) * (size_t)cfg->procs);
    r->start_us = fh_now() + (uint64_t)FH_WARMUP_MS * 1000u;
    r->end_us = r->start_us + (uint64_t)cfg->run_ms * 1000u;

    fflush(NULL); /* nothing buffered may be written twice */
    for (int i = 0; i < cfg->procs; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "fault harness: fork: %s\n", strerror(errno));
            fh_cleanup(r);
            return -1;
        }
        if (pid == 0)
            client_main(r, i);
        r->pids[i] = pid;
    }
    printf("[%s] %zu nodes (%s)%s, %d client processes x %d threads (%d "
           "with leases), %d resources, ttl %u ms, run %u ms, logs in %s\n",
           cfg->name, cfg->nodes, kind_name(cfg->node_kind),
           cfg->appendonly ? " (AOF always)" : "",
           cfg->procs, cfg->threads, cfg->lease_threads, cfg->resources,
           cfg->ttl_ms, cfg->run_ms, r->dir);
    fflush(stdout);
    return 0;
}

/* Wait for every client until deadline_us; SIGKILL those still running
 * then. */
static void reap_clients(fh_run *r, uint64_t deadline_us)
{
    for (;;) {
        int running = 0;
        for (int i = 0; i < r->cfg.procs; i++) {
            if (r->pids[i] <= 0)
                continue;
            int status;
            pid_t p = waitpid(r->pids[i], &status, WNOHANG);
            if (p == r->pids[i]) {
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                    r->failed_procs++;
                    fprintf(stderr, "[%s] client %d ended abnormally "
                                    "(status 0x%x)\n",
                            r->cfg.name, i, (unsigned)status);
                }
                r->pids[i] = 0;
            } else {
                running++;
            }
        }
        if (running == 0)
            return;
        if (fh_now() >= deadline_us)
            break;
        sleep_us(5000);
    }
    for (int i = 0; i < r->cfg.procs; i++) {
        if (r->pids[i] <= 0)
            continue;
        fprintf(stderr, "[%s] client %d (pid %d) hung: killing it\n",
                r->cfg.name, i, (int)r->pids[i]);
        r->hung++;
        kill(r->pids[i], SIGKILL);
        waitpid(r->pids[i], NULL, 0);
        r->pids[i] = 0;
    }
}

/* Sum the per-process counters into r->total. */
static void sum_stats(fh_run *r)
{
    fh_stats *t = &r->total;
    memset(t, 0, sizeof(*t));
    t->max_overrun_us = INT64_MIN;
    t->max_acquire_late_us = INT64_MIN;
    for (int i = 0; i < r->cfg.procs; i++) {
        const fh_stats *s = &r->stats[i];
        t->acquires += s->acquires;
        t->grants += s->grants;
        t->taken += s->taken;
        t->guarded += s->guarded;
        t->noquorum += s->noquorum;
        t->timedout += s->timedout;
        t->acq_other += s->acq_other;
        t->extends += s->extends;
        t->extend_fail += s->extend_fail;
        t->releases += s->releases;
        t->release_fail += s->release_fail;
        for (size_t k = 0; k < FH_STATUS_MAX; k++) {
            t->extend_st[k] += s->extend_st[k];
            t->release_st[k] += s->release_st[k];
        }
        t->lease_holds += s->lease_holds;
        t->lease_renewals += s->lease_renewals;
        t->lease_lost += s->lease_lost;
        t->lease_lost_expired += s->lease_lost_expired;
        t->lease_lost_notheld += s->lease_lost_notheld;
        t->lease_silent += s->lease_silent;
        t->slow_calls += s->slow_calls;
        t->acquire_late += s->acquire_late;
        if (s->max_acquire_late_us > t->max_acquire_late_us) {
            t->max_acquire_late_us = s->max_acquire_late_us;
            memcpy(t->late_what, s->late_what, sizeof(t->late_what));
        }
        if (s->max_overrun_us > t->max_overrun_us) {
            t->max_overrun_us = s->max_overrun_us;
            memcpy(t->slow_what, s->slow_what, sizeof(t->slow_what));
        }
        t->node_down += s->node_down;
        t->node_up += s->node_up;
        t->watch_hits += s->watch_hits;
        if (s->last_node_msg[0] != '\0')
            memcpy(t->last_node_msg, s->last_node_msg,
                   sizeof(t->last_node_msg));
        if (s->last_down_msg[0] != '\0')
            memcpy(t->last_down_msg, s->last_down_msg,
                   sizeof(t->last_down_msg));
        if (s->last_detail[0] != '\0')
            memcpy(t->last_detail, s->last_detail, sizeof(t->last_detail));
        if (t->watch_sample[0] == '\0' && s->watch_sample[0] != '\0')
            memcpy(t->watch_sample, s->watch_sample,
                   sizeof(t->watch_sample));
        if (s->last_grant_us > t->last_grant_us)
            t->last_grant_us = s->last_grant_us;
        t->setup_failed += s->setup_failed;
        t->finished += s->finished;
    }
}

/* Wait, check and sum. */
int fh_finish(fh_run *r)
{
    char path[320], err[512];
    int rc = 0;

    reap_clients(r, r->end_us + (uint64_t)FH_EXIT_GRACE_MS * 1000u);
    sum_stats(r);
    mc_log_free(&r->log);
    for (int i = 0; i < r->cfg.procs; i++) {
        snprintf(path, sizeof(path), "%s/client-%d.log", r->dir, i);
        if (mc_log_read_file(&r->log, path, err, sizeof(err)) != 0) {
            fprintf(stderr, "[%s] %s\n", r->cfg.name, err);
            rc = -1;
        }
    }
    snprintf(path, sizeof(path), "%s/observer.log", r->dir);
    if (access(path, F_OK) == 0 &&
        mc_log_read_file(&r->log, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "[%s] %s\n", r->cfg.name, err);
        rc = -1;
    }
    printf("[%s] checker: ", r->cfg.name);
    mc_check(&r->log, &r->rep, stdout, FH_DETAILS);
    mc_report_print(&r->rep, stdout);

    r->finished = true;
    return rc;
}

/* Print the summary line and the detailed counters. */
void fh_summary(const fh_run *r, const char *fmt, ...)
{
    char extra[512] = "";
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(extra, sizeof(extra), fmt, ap);
        va_end(ap);
    }
    const fh_stats *t = &r->total;
    uint64_t ops = t->acquires + t->extends + t->releases;
    printf("FAULT-SUMMARY scenario=%s ops=%llu holds=%zu faults=%d "
           "overlaps=%zu late_losses=%zu lease_losses=%llu slow_calls=%llu "
           "acquires_past_deadline=%llu max_past_deadline_ms=%.1f hung=%d "
           "node_down=%llu node_up=%llu%s%s\n",
           r->cfg.name, (unsigned long long)ops, r->rep.holds, r->faults,
           r->rep.overlaps, r->rep.late_losses,
           (unsigned long long)(t->lease_lost + r->obs_lost),
           (unsigned long long)t->slow_calls,
           (unsigned long long)t->acquire_late,
           t->max_acquire_late_us == INT64_MIN
               ? 0.0
               : (double)t->max_acquire_late_us / 1000.0,
           r->hung, (unsigned long long)t->node_down,
           (unsigned long long)t->node_up, extra[0] != '\0' ? " " : "", extra);
    printf("[%s] acquires %llu: ok %llu, taken %llu, noquorum %llu, "
           "timedout %llu, other %llu; extends %llu (failed %llu); "
           "releases %llu (failed %llu); lease holds %llu, renewals %llu, "
           "lost %llu (expired %llu, notheld %llu, never told %llu); "
           "worst call vs its bound: %s\n",
           r->cfg.name, (unsigned long long)t->acquires,
           (unsigned long long)t->grants, (unsigned long long)t->taken,
           (unsigned long long)t->noquorum, (unsigned long long)t->timedout,
           (unsigned long long)t->acq_other, (unsigned long long)t->extends,
           (unsigned long long)t->extend_fail,
           (unsigned long long)t->releases,
           (unsigned long long)t->release_fail,
           (unsigned long long)t->lease_holds,
           (unsigned long long)t->lease_renewals,
           (unsigned long long)t->lease_lost,
           (unsigned long long)t->lease_lost_expired,
           (unsigned long long)t->lease_lost_notheld,
           (unsigned long long)t->lease_silent, t->slow_what[0] != '\0' ? t->slow_what : "-");
    if (t->guarded != 0)
        printf("[%s] %llu failed acquires met EGUARDED (restart guard)\n",
               r->cfg.name, (unsigned long long)t->guarded);
    for (size_t k = 0; k < FH_STATUS_MAX; k++) {
        if (t->extend_st[k] != 0)
            printf("[%s] extend failed %llu times with %s\n", r->cfg.name,
                   (unsigned long long)t->extend_st[k],
                   redlock_status_name((redlock_status)k));
        if (t->release_st[k] != 0)
            printf("[%s] release failed %llu times with %s\n", r->cfg.name,
                   (unsigned long long)t->release_st[k],
                   redlock_status_name((redlock_status)k));
    }
    if (t->acquire_late > 0)
        printf("[%s] latest acquire: %.1f ms past its deadline: %s\n",
               r->cfg.name, (double)t->max_acquire_late_us / 1000.0,
               t->late_what);
    if (t->last_detail[0] != '\0')
        printf("[%s] last acquire detail: %s\n", r->cfg.name,
               t->last_detail);
    if (t->watch_sample[0] != '\0')
        printf("[%s] %llu messages matched \"%s\", first: %s\n",
               r->cfg.name, (unsigned long long)t->watch_hits,
               r->cfg.watch_text, t->watch_sample);
    if (t->last_down_msg[0] != '\0')
        printf("[%s] last node-down event: %s\n", r->cfg.name,
               t->last_down_msg);
    if (t->last_node_msg[0] != '\0')
        printf("[%s] last node event: %s\n", r->cfg.name, t->last_node_msg);
    if (getenv("REDLOCK_FAULT_KEEP_LOGS") != NULL)
        printf("[%s] logs kept: redlock-mutex-check %s/*.log\n",
               r->cfg.name, r->dir);
    fflush(stdout);
}

/* ------------------------------------------------------------------------
 * The restart control
 * ------------------------------------------------------------------------ */

/* Options of the control's managers: quick reconnects, no retries unless
 * asked per call. */
static void control_options(redlock_options *o)
{
    redlock_options_init(o);
    o->retry_count = 0;
    o->command_timeout_ms = 1000;
    o->connect_timeout_ms = 1000;
    o->reconnect_min_ms = 10;
    o->reconnect_max_ms = 100;
    o->shutdown_timeout_ms = 500;
}

/* Wait until each of the first n servers holds `want` keys (5 s). */
static int await_dbsize(fh_run *r, size_t n, long long want)
{
    uint64_t until = fh_now() + 5000000u;
    for (;;) {
        size_t ok = 0;
        for (size_t i = 0; i < n; i++)
            ok += rs_dbsize(&r->srv[i]) == want;
        if (ok == n)
            return 0;
        if (fh_now() >= until)
            return -1;
        sleep_us(2000);
    }
}

/* Append one hold-log line to log. */
static int control_line(mc_log *log, const char *holder, uint64_t start,
                        uint64_t granted, uint64_t vend, uint64_t rel)
{
    char line[256], err[256];
    snprintf(line, sizeof(line), "ctl %s %llu %llu %llu %llu 0", holder,
             (unsigned long long)start, (unsigned long long)granted,
             (unsigned long long)vend, (unsigned long long)rel);
    if (mc_log_parse_line(log, line, err, sizeof(err)) != 0) {
        fprintf(stderr, "restart control: %s\n", err);
        return -1;
    }
    return 0;
}

/* B's side of a control once its acquire returned: if granted, note its
 * nodes and validity end, hold it 100 ms (as A still does) and release
 * it, setting *vend and *rel; *lb is then NULL. */
static void control_b_hold(redlock_lock **lb, fh_control *out,
                           uint64_t *vend, uint64_t *rel)
{
    if (out->b_status != REDLOCK_OK)
        return;
    out->b_nodes_granted = redlock_lock_nodes_granted(*lb);
    *vend = redlock_lock_validity_end_us(*lb);
    fh_sleep_ms(100);
    *rel = fh_now();
    redlock_release(*lb);
    *lb = NULL;
}

/* The checker over A's and B's holds of a control (B's grant counts only
 * if out->b_status is OK): its report into out->rep and r->rep, printed.
 * 0, or -1 if a log line was refused. */
static int control_check(fh_run *r, fh_control *out, uint64_t a_start,
                         uint64_t a_granted, uint64_t a_vend, uint64_t a_rel,
                         uint64_t b_start, uint64_t b_granted,
                         uint64_t b_vend, uint64_t b_rel)
{
    mc_log_free(&r->log);
    if (control_line(&r->log, "A", a_start, a_granted, a_vend, a_rel) != 0 ||
        control_line(&r->log, "B", b_start,
                     out->b_status == REDLOCK_OK ? b_granted : 0, b_vend,
                     b_rel) != 0)
        return -1;
    printf("[%s] checker: ", r->cfg.name);
    mc_check(&r->log, &out->rep, stdout, FH_DETAILS);
    mc_report_print(&out->rep, stdout);
    r->rep = out->rep;
    return 0;
}

/* See fault_harness.h. */
int fh_restart_control(fh_run *r, int appendonly, fh_control *out)
{
    const size_t n = 5, restarted = 3;
    redlock_manager *a = NULL, *b = NULL;
    redlock_lock *la = NULL, *lb = NULL;
    redlock_options o;
    rs_options so;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    memset(r, 0, sizeof(*r));
    r->started = true;
    fh_config_init(&r->cfg, appendonly ? "restart_control_aof"
                                       : "restart_control_empty");
    r->cfg.nodes = n;
    r->cfg.procs = 0;
    memset(&so, 0, sizeof(so));
    so.appendonly = appendonly;
    for (size_t i = 0; i < n; i++) {
        if (rs_start_ex(&r->srv[i], &so) != 0)
            return -1;
        r->uris[i] = r->srv[i].uri;
    }
    control_options(&o);
    if (redlock_manager_create(r->uris, n, &o, &a) != REDLOCK_OK)
        goto done;

    /* A takes the lock; every node stores it. */
    uint64_t a_start = fh_now();
    out->a_status = redlock_acquire(a, "ctl", 30000, &la);
    uint64_t a_granted = fh_now();
    if (out->a_status != REDLOCK_OK || await_dbsize(r, n, 1) != 0) {
        fprintf(stderr, "restart control: A: %s, or not on every node\n",
                redlock_status_name(out->a_status));
        goto done;
    }
    uint64_t a_vend = redlock_lock_validity_end_us(la);

    /* A majority of A's nodes restart at once: empty, or from the AOF. */
    for (size_t i = 0; i < restarted; i++) {
        rs_kill(&r->srv[i], 1);
        if (rs_restart(&r->srv[i]) != 0)
            goto done;
        printf("[%s] kill -9 node %zu (%d), restarted %s\n", r->cfg.name,
               i, r->srv[i].port, appendonly ? "from its AOF" : "empty");
    }

    /* B tries the same resource: retries cover its connections coming
     * up; each attempt is decided by what the nodes hold. */
    if (redlock_manager_create(r->uris, n, &o, &b) != REDLOCK_OK)
        goto done;
    redlock_acquire_opts ao;
    redlock_acquire_info info;
    redlock_acquire_opts_init(&ao);
    ao.retry_count = 40;
    ao.retry_delay_ms = 50;
    ao.retry_jitter_ms = 10;
    ao.info = &info;
    uint64_t b_start = fh_now();
    out->b_status = redlock_acquire_ex(b, "ctl", 3, 30000, &ao, &lb);
    uint64_t b_granted = fh_now();
    uint64_t b_vend = 0, b_rel = 0;
    control_b_hold(&lb, out, &b_vend, &b_rel);
    printf("[%s] B: %s after %u attempts (last yes/no/error %u/%u/%u)\n",
           r->cfg.name, redlock_status_name(out->b_status), info.attempts,
           info.last.yes, info.last.no, info.last.error);
    uint64_t a_rel = fh_now();
    redlock_release(la);
    la = NULL;

    if (control_check(r, out, a_start, a_granted, a_vend, a_rel, b_start,
                      b_granted, b_vend, b_rel) != 0)
        goto done;
    rc = 0;
done:
    if (lb != NULL)
        redlock_lock_free(lb);
    if (la != NULL)
        redlock_lock_free(la);
    redlock_manager_destroy(b);
    redlock_manager_destroy(a);
    fflush(stdout);
    return rc;
}

/* See fault_harness.h. */
int fh_rolling_control(fh_run *r, uint32_t a_guard_ms, fh_contender who,
                       uint32_t b_guard_ms, fh_control *out)
{
    const size_t n = 3;
    redlock_manager *a = NULL, *b = NULL;
    redlock_lock *la = NULL, *lb = NULL;
    redlock_options o;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    memset(r, 0, sizeof(*r));
    r->started = true;
    fh_config_init(&r->cfg, "rolling_control");
    r->cfg.nodes = n;
    r->cfg.procs = 0;
    for (size_t i = 0; i < n; i++) {
        if (rs_start(&r->srv[i]) != 0)
            return -1;
        r->uris[i] = r->srv[i].uri;
    }
    control_options(&o);
    o.restart_guard_ms = a_guard_ms;
    if (redlock_manager_create(r->uris, n, &o, &a) != REDLOCK_OK)
        goto done;

    /* A takes the lock; every node stores it. */
    uint64_t a_start = fh_now();
    out->a_status = redlock_acquire(a, "ctl", 30000, &la);
    uint64_t a_granted = fh_now();
    if (out->a_status != REDLOCK_OK || await_dbsize(r, n, 1) != 0) {
        fprintf(stderr, "rolling control: A: %s, or not on every node\n",
                redlock_status_name(out->a_status));
        goto done;
    }
    uint64_t a_vend = redlock_lock_validity_end_us(la);

    /* Node 1 restarts empty, then node 2: two of three have lost A's key,
     * while A still holds the lock for about 30 s. */
    for (size_t i = 1; i <= 2; i++) {
        rs_kill(&r->srv[i], 1);
        if (rs_restart(&r->srv[i]) != 0)
            goto done;
        printf("[%s] kill -9 node %zu (%d), restarted empty\n", r->cfg.name,
               i, r->srv[i].port);
    }

    /* B tries the same resource: retries cover its connections coming
     * up; each attempt is decided by what the nodes hold and whether
     * they may vote. */
    uint32_t guard_ms = a_guard_ms;
    if (who == FH_B_SAME_MANAGER) {
        b = a;
    } else {
        o.restart_guard_ms = guard_ms = b_guard_ms;
        if (redlock_manager_create(r->uris, n, &o, &b) != REDLOCK_OK)
            goto done;
    }
    redlock_acquire_opts ao;
    redlock_acquire_info info;
    redlock_acquire_opts_init(&ao);
    ao.retry_count = 40;
    ao.retry_delay_ms = 50;
    ao.retry_jitter_ms = 10;
    ao.info = &info;
    uint64_t b_start = fh_now();
    out->b_status = redlock_acquire_ex(b, "ctl", 3, 30000, &ao, &lb);
    uint64_t b_granted = fh_now();
    uint64_t b_vend = 0, b_rel = 0;
    control_b_hold(&lb, out, &b_vend, &b_rel);
    printf("[%s] B (%s manager, guard %s): %s after %u attempts (last "
           "yes/no/error %u/%u/%u; node statuses %s %s %s)\n",
           r->cfg.name, who == FH_B_SAME_MANAGER ? "A's" : "a new",
           guard_ms == REDLOCK_RESTART_GUARD_AUTO ? "auto"
           : guard_ms == 0                        ? "off"
                                                  : "explicit",
           redlock_status_name(out->b_status), info.attempts, info.last.yes,
           info.last.no, info.last.error,
           redlock_status_name(info.node_status[0]),
           redlock_status_name(info.node_status[1]),
           redlock_status_name(info.node_status[2]));
    uint64_t a_rel = fh_now();
    redlock_release(la);
    la = NULL;

    if (control_check(r, out, a_start, a_granted, a_vend, a_rel, b_start,
                      b_granted, b_vend, b_rel) != 0)
        goto done;
    rc = 0;
done:
    if (lb != NULL)
        redlock_lock_free(lb);
    if (la != NULL)
        redlock_lock_free(la);
    if (b != a)
        redlock_manager_destroy(b);
    redlock_manager_destroy(a);
    fflush(stdout);
    return rc;
}

/* ------------------------------------------------------------------------
 * Failover inside a cluster or Sentinel node
 * ------------------------------------------------------------------------ */

/* The keys fh_failover() deletes on the promoted master, and what it did. */
typedef struct lose_keys {
    const char *const *keys;
    size_t n;
    size_t deleted;
    int port;          /* the promoted master */
    uint64_t at_us;    /* when it was seen promoted */
} lose_keys;

/* DEL each key on s, one command each (keys of several cluster slots
 * cannot share one DEL). */
static void lose_on(const rs_server *s, lose_keys *lk)
{
    lk->at_us = fh_now();
    lk->port = s->port;
    for (size_t i = 0; i < lk->n; i++) {
        const char *argv[2] = {"DEL", lk->keys[i]};
        char out[256];
        if (rs_command(s, out, sizeof(out), 2, argv) == 0 &&
            strcmp(out, "1") == 0)
            lk->deleted++;
    }
}

static void cluster_promoted(rc_cluster *c, size_t idx, void *arg)
{
    lose_on(&c->srv[idx], arg);
}

static void group_promoted(rsn_group *g, size_t idx, void *arg)
{
    lose_on(&g->data[idx], arg);
}

/* See fault_harness.h. */
int fh_failover(fh_run *r, size_t node, const char *resource,
                const char *const *keys, size_t nkeys, fh_failover_info *out)
{
    lose_keys lk;
    fh_failover_info fi;
    int rc = -1;

    memset(&lk, 0, sizeof(lk));
    memset(&fi, 0, sizeof(fi));
    lk.keys = keys;
    lk.n = nkeys;
    if (node >= r->cfg.nodes)
        return -1;
    if (r->cfg.node_kind == FH_NODE_CLUSTER && r->cluster[node] != NULL) {
        rc_cluster *c = r->cluster[node];
        int master = rc_master_of_slot(c, rc_keyslot(c, resource));
        int replica = master >= 0 ? rc_replica_of(c, (size_t)master) : -1;
        if (replica < 0) {
            fprintf(stderr, "[%s] failover: no master/replica for %s\n",
                    r->cfg.name, resource);
            return -1;
        }
        fi.from_port = c->srv[master].port;
        rc = rc_failover_ex(c, (size_t)replica, cluster_promoted, &lk);
    } else if (r->cfg.node_kind == FH_NODE_SENTINEL &&
               r->group[node] != NULL) {
        rsn_group *g = r->group[node];
        int master = rsn_master_index(g);
        if (master < 0) {
            fprintf(stderr, "[%s] failover: no master named\n", r->cfg.name);
            return -1;
        }
        fi.from_port = g->data[master].port;
        rc = rsn_failover_ex(g, group_promoted, &lk);
    } else {
        fprintf(stderr, "[%s] failover: node %zu is no cluster or group\n",
                r->cfg.name, node);
        return -1;
    }
    fi.done_us = fh_now();
    if (rc != 0 || lk.at_us == 0) {
        fprintf(stderr, "[%s] failover in node %zu failed\n", r->cfg.name,
                node);
        return -1;
    }
    fi.to_port = lk.port;
    fi.deleted = lk.deleted;
    fi.promoted_us = lk.at_us;
    fh_fault(r, "failover in node %zu (%s): master %d -> %d, promoted at "
                "+%.0f ms, %zu of %zu keys deleted on it then; failover "
                "complete at +%.0f ms",
             node, kind_name(r->cfg.node_kind), fi.from_port, fi.to_port,
             since_start_ms(r, fi.promoted_us), fi.deleted, nkeys,
             since_start_ms(r, fi.done_us));
    if (out != NULL)
        *out = fi;
    return 0;
}

/* The replica of node 0 that holds `resource`'s key when it replicated:
 * the cluster shard's replica, or the group's replica. */
static const rs_server *control_replica(fh_run *r, const char *resource)
{
    if (r->cfg.node_kind == FH_NODE_CLUSTER) {
        rc_cluster *c = r->cluster[0];
        int master = rc_master_of_slot(c, rc_keyslot(c, resource));
        int replica = master >= 0 ? rc_replica_of(c, (size_t)master) : -1;
        return replica >= 0 ? &c->srv[replica] : NULL;
    }
    rsn_group *g = r->group[0];
    int master = rsn_master_index(g);
    for (size_t i = 0; master >= 0 && i < g->n_data; i++)
        if ((int)i != master)
            return &g->data[i];
    return NULL;
}

/* See fault_harness.h. */
int fh_failover_control(fh_run *r, fh_node_kind kind, uint32_t guard_ms,
                        fh_control *out)
{
    redlock_manager *a = NULL, *b = NULL;
    redlock_lock *la = NULL, *lb = NULL;
    redlock_options o;
    redlock_acquire_opts ao;
    redlock_acquire_info info;
    char err[256];
    int rc = -1;

    memset(out, 0, sizeof(*out));
    memset(r, 0, sizeof(*r));
    r->started = true;
    if (kind != FH_NODE_CLUSTER && kind != FH_NODE_SENTINEL)
        return -1;
    bool off = guard_ms == 0;
    fh_config_init(&r->cfg,
                   kind == FH_NODE_CLUSTER
                       ? (off ? "failover_control_cluster_off"
                              : "failover_control_cluster")
                       : (off ? "failover_control_sentinel_off"
                              : "failover_control_sentinel"));
    r->cfg.nodes = 1;
    r->cfg.node_kind = kind;
    r->cfg.procs = 0;
    r->cfg.restart_guard_ms = guard_ms;
    if (start_nodes(r) != 0)
        return -1;
    r->start_us = fh_now(); /* fh_fault()'s times count from here */
    control_options(&o);
    o.restart_guard_ms = guard_ms;
    if (redlock_manager_create_ex(r->uris, 1, &o, &a, err, sizeof(err)) !=
            REDLOCK_OK ||
        redlock_manager_create_ex(r->uris, 1, &o, &b, err, sizeof(err)) !=
            REDLOCK_OK) {
        fprintf(stderr, "[%s] manager: %s\n", r->cfg.name, err);
        goto done;
    }
    /* Retries cover the managers' connections (and a cluster node's
     * map) coming up. */
    redlock_acquire_opts_init(&ao);
    ao.retry_count = 40;
    ao.retry_delay_ms = 50;
    ao.retry_jitter_ms = 10;
    ao.info = &info;

    /* B meets the master that will be replaced: it takes the lock once
     * (its largest TTL sent, the AUTO guard, becomes 30 s) and releases
     * it. */
    redlock_status st = redlock_acquire_ex(b, "ctl", 3, 30000, &ao, &lb);
    if (st != REDLOCK_OK) {
        fprintf(stderr, "[%s] B's first lock: %s: %s\n", r->cfg.name,
                redlock_status_name(st), info.detail);
        goto done;
    }
    redlock_release(lb);
    lb = NULL;

    /* A takes the lock; the replica has its key. */
    uint64_t a_start = fh_now();
    out->a_status = redlock_acquire_ex(a, "ctl", 3, 30000, &ao, &la);
    uint64_t a_granted = fh_now();
    const rs_server *rep = control_replica(r, "ctl");
    bool replicated = false;
    for (uint64_t until = fh_now() + 5000000u;
         rep != NULL && !replicated && fh_now() < until; sleep_us(2000))
        replicated = rs_dbsize(rep) == 1;
    if (out->a_status != REDLOCK_OK || !replicated) {
        fprintf(stderr, "[%s] A: %s, or its key not on the replica\n",
                r->cfg.name, redlock_status_name(out->a_status));
        goto done;
    }
    uint64_t a_vend = redlock_lock_validity_end_us(la);

    /* The failover, and the key lost on the new master. */
    static const char *const lost[1] = {"ctl"};
    fh_failover_info fi;
    if (fh_failover(r, 0, "ctl", lost, 1, &fi) != 0)
        goto done;
    out->deleted = fi.deleted;

    /* B tries: its retries cover learning of the new master (a MOVED,
     * +switch-master or a re-ask); each attempt is decided by what the
     * new master holds and whether it may vote. */
    ao.retry_count = 60;
    uint64_t b_start = fh_now();
    out->b_status = redlock_acquire_ex(b, "ctl", 3, 30000, &ao, &lb);
    uint64_t b_granted = fh_now();
    out->b_attempts = info.attempts;
    out->b_guarded = info.node_status[0] == REDLOCK_EGUARDED;
    uint64_t b_vend = 0, b_rel = 0;
    control_b_hold(&lb, out, &b_vend, &b_rel);
    printf("[%s] B (guard %s): %s after %u attempts in %.0f ms (node "
           "status %s; detail %s)\n",
           r->cfg.name, off ? "off" : "auto",
           redlock_status_name(out->b_status), info.attempts,
           (double)(b_granted - b_start) / 1000.0,
           redlock_status_name(info.node_status[0]),
           info.detail[0] != '\0' ? info.detail : "-");
    uint64_t a_rel = fh_now();
    redlock_release(la);
    la = NULL;

    if (control_check(r, out, a_start, a_granted, a_vend, a_rel, b_start,
                      b_granted, b_vend, b_rel) != 0)
        goto done;
    rc = 0;
done:
    if (lb != NULL)
        redlock_lock_free(lb);
    if (la != NULL)
        redlock_lock_free(la);
    redlock_manager_destroy(b);
    redlock_manager_destroy(a);
    fflush(stdout);
    return rc;
}

/* Holds granted in [from_us, to_us]. */
size_t fh_grants_between(const fh_run *r, uint64_t from_us, uint64_t to_us)
{
    size_t n = 0;
    for (size_t i = 0; i < r->log.len; i++) {
        uint64_t g = r->log.v[i].granted_at_us;
        if (g != 0 && g >= from_us && g <= to_us)
            n++;
    }
    return n;
}

/* Holds granted in the named window. */
size_t fh_grants_in(const fh_run *r, const char *label)
{
    const fh_window_t *w = fh_window_get(r, label);
    return w != NULL ? fh_grants_between(r, w->from_us, w->to_us) : 0;
}

/* Stop everything. */
void fh_cleanup(fh_run *r)
{
    if (r == NULL || !r->started)
        return;
    probe_free(r);
    if (r->obs != NULL) {
        observer *o = r->obs;
        for (size_t i = 0; i < o->n; i++)
            redlock_lease_stop(o->lease[i], NULL);
        redlock_manager_destroy(o->m);
        free(o);
        r->obs = NULL;
    }
    for (int i = 0; i < FH_MAX_PROCS; i++) {
        if (r->pids[i] > 0) {
            kill(r->pids[i], SIGKILL);
            waitpid(r->pids[i], NULL, 0);
            r->pids[i] = 0;
        }
    }
    stop_nodes(r);
    mc_log_free(&r->log);
    if (r->stats != NULL) {
        munmap(r->stats, sizeof(fh_stats) * (size_t)r->cfg.procs);
        r->stats = NULL;
    }
    if (r->dir[0] != '\0' && getenv("REDLOCK_FAULT_KEEP_LOGS") == NULL)
        remove_log_dir(r->dir);
    r->dir[0] = '\0';
    r->started = false;
}

/* cmocka setup: a zeroed run. */
int fh_setup(void **state)
{
    fh_run *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -1;
    *state = r;
    return 0;
}

/* cmocka teardown: stop and free the run. */
int fh_teardown(void **state)
{
    fh_run *r = *state;
    fh_cleanup(r);
    free(r);
    *state = NULL;
    return 0;
}
