/*
 * failover.c: W5, leader election among candidate processes whose leader
 * is killed, and the candidate process itself (this program re-executed
 * with --candidate-fd).
 *
 * DESIGN
 * Each candidate is a separate process with its own manager and
 * redlock_election, so killing the leader with SIGKILL is a real crash: it
 * neither resigns nor releases, and its key must expire. Candidates write
 * "E <pid>" (elected) and "D <pid>" (demoted) lines to one pipe shared
 * with the bench; a single write below PIPE_BUF is atomic, so lines never
 * interleave. The bench lets the leader hold for one to two TTLs (a
 * random point of its renewal cycle), kills it, starts a replacement so C
 * candidates are always campaigning, and times until another candidate
 * reports being elected. Rejected: candidates as threads of the bench
 * (a thread cannot crash alone, and its manager would share the bench's
 * process figures).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"
#include "workloads_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/wait.h>

#include "redlock.h"

/* W5: how long to wait for the first leader, and for a new one after a
 * kill, beyond the TTL. */
#define W5_FIRST_LEADER_MS 15000
#define W5_NEW_LEADER_EXTRA_MS 10000
/* W5: how long stopped candidates get to resign before SIGKILL. */
#define W5_STOP_GRACE_MS 3000
/* W5: most candidate processes alive at once. */
#define W5_CANDIDATES_MAX 64

/* ------------------------------------------------------------------------
 * W5: failover between candidate processes
 * ------------------------------------------------------------------------ */

/* The candidate processes of one W5 run and the pipe they report on. */
typedef struct w5 {
    const bench_run *run;
    int rfd, wfd;               /* pipe: candidates write, we read */
    pid_t pids[W5_CANDIDATES_MAX];
    size_t npids;
    char name[RES_MAX];
    char buf[512];              /* partial line from the pipe */
    size_t buflen;
    const char *argv[32 + 2 * BENCH_NODES_MAX];
    char fdstr[16], ttlstr[16], delaystr[16], jitterstr[16], guardstr[16];
} w5;

/* Build the argv of a candidate: this program in --candidate-fd mode. */
static void w5_argv(w5 *x)
{
    const bench_config *cfg = x->run->cfg;
    size_t i = 0;

    snprintf(x->fdstr, sizeof(x->fdstr), "%d", x->wfd);
    snprintf(x->ttlstr, sizeof(x->ttlstr), "%" PRIu32 "ms",
             cfg->election_ttl_ms);
    snprintf(x->delaystr, sizeof(x->delaystr), "%" PRIu32 "ms",
             cfg->retry_delay_ms);
    snprintf(x->jitterstr, sizeof(x->jitterstr), "%" PRIu32 "ms",
             cfg->retry_jitter_ms);
    if (cfg->restart_guard_ms == REDLOCK_RESTART_GUARD_AUTO)
        snprintf(x->guardstr, sizeof(x->guardstr), "auto");
    else
        snprintf(x->guardstr, sizeof(x->guardstr), "%" PRIu32 "ms",
                 cfg->restart_guard_ms);
    x->argv[i++] = x->run->self_exe;
    x->argv[i++] = "--candidate-fd";
    x->argv[i++] = x->fdstr;
    x->argv[i++] = "--election";
    x->argv[i++] = x->name;
    x->argv[i++] = "--election-ttl";
    x->argv[i++] = x->ttlstr;
    x->argv[i++] = "--retry-delay";
    x->argv[i++] = x->delaystr;
    x->argv[i++] = "--retry-jitter";
    x->argv[i++] = x->jitterstr;
    x->argv[i++] = "--restart-guard";
    x->argv[i++] = x->guardstr;
    x->argv[i++] = "--key-prefix";
    x->argv[i++] = cfg->key_prefix;
    /* The bench's TLS settings, as flags: they win over the variables
     * the candidate inherits. */
    if (cfg->tls.ca_file != NULL || cfg->tls.ca_dir != NULL) {
        x->argv[i++] = "--tls-ca";
        x->argv[i++] = cfg->tls.ca_file != NULL ? cfg->tls.ca_file
                                                : cfg->tls.ca_dir;
    }
    if (cfg->tls.cert_file != NULL) {
        x->argv[i++] = "--tls-cert";
        x->argv[i++] = cfg->tls.cert_file;
        x->argv[i++] = "--tls-key";
        x->argv[i++] = cfg->tls.key_file;
    }
    if (cfg->tls.insecure)
        x->argv[i++] = "--tls-insecure";
    for (size_t k = 0; k < x->run->nodes->n; k++) {
        x->argv[i++] = "--node";
        x->argv[i++] = x->run->nodes->uris[k];
    }
    x->argv[i] = NULL;
}

/* Start one candidate process. Between fork and exec only async-signal-
 * safe calls are made. Returns its pid, or -1. */
static pid_t w5_spawn(w5 *x)
{
    pid_t parent = getpid(), pid;

    if (x->npids == W5_CANDIDATES_MAX)
        return -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        sigset_t none;
        /* Die with the bench, even if it is SIGKILLed. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* The write end is close-on-exec in the bench; keep it here. */
        if (fcntl(x->wfd, F_SETFD, 0) != 0)
            _exit(127);
        execv(x->run->self_exe, (char *const *)x->argv);
        _exit(127);
    }
    x->pids[x->npids++] = pid;
    return pid;
}

/* Forget pid (after it was reaped). */
static void w5_forget(w5 *x, pid_t pid)
{
    for (size_t i = 0; i < x->npids; i++) {
        if (x->pids[i] == pid) {
            x->pids[i] = x->pids[--x->npids];
            return;
        }
    }
}

/*
 * Read the pipe until deadline_ns (absolute, monotonic) or until a
 * candidate other than `exclude` reports "E <pid>". Lines "D <pid>" (a
 * demotion) clear *leader when they name it. Returns the new leader's
 * pid, or 0 at the deadline or on a stop request. With until_deadline set
 * it keeps reading to the deadline and returns the leader then.
 */
static pid_t w5_wait(w5 *x, pid_t exclude, uint64_t deadline_ns,
                     pid_t *leader, int until_deadline)
{
    for (;;) {
        char *nl;
        uint64_t now = wl_mono_ns();
        struct pollfd pfd = {x->rfd, POLLIN, 0};
        int timeout;

        while ((nl = memchr(x->buf, '\n', x->buflen)) != NULL) {
            char kind = x->buf[0];
            long pid = 0;
            char *end;
            *nl = '\0';
            if (x->buflen > 2) {
                errno = 0;
                pid = strtol(x->buf + 2, &end, 10);
                if (errno != 0 || end == x->buf + 2)
                    pid = 0;
            }
            x->buflen -= (size_t)(nl + 1 - x->buf);
            memmove(x->buf, nl + 1, x->buflen);
            if (kind == 'E' && pid > 0) {
                *leader = (pid_t)pid;
                if ((pid_t)pid != exclude && !until_deadline)
                    return (pid_t)pid;
            } else if (kind == 'D' && pid > 0 && *leader == (pid_t)pid) {
                *leader = 0;
            }
        }
        if (now >= deadline_ns || bench_stop_requested())
            return until_deadline ? *leader : 0;
        timeout = (int)((deadline_ns - now) / 1000000u) + 1;
        if (timeout > TICK_MS)
            timeout = TICK_MS;
        if (poll(&pfd, 1, timeout) > 0) {
            ssize_t n = read(x->rfd, x->buf + x->buflen,
                             sizeof(x->buf) - 1 - x->buflen);
            if (n > 0)
                x->buflen += (size_t)n;
            if (x->buflen == sizeof(x->buf) - 1)
                x->buflen = 0; /* garbage: no line fits; drop it */
        }
    }
}

/* Ask every candidate to stop (SIGTERM: it resigns and exits), give them
 * W5_STOP_GRACE_MS, then SIGKILL and reap the rest. */
static void w5_stop_all(w5 *x)
{
    uint64_t deadline = wl_mono_ns() + (uint64_t)W5_STOP_GRACE_MS * 1000000u;

    for (size_t i = 0; i < x->npids; i++)
        kill(x->pids[i], SIGTERM);
    /* Reap only our candidates: the spawned redis-servers are children of
     * this process too, and belong to redis_spawn. */
    while (x->npids > 0 && wl_mono_ns() < deadline) {
        int reaped = 0;
        for (size_t i = 0; i < x->npids; i++) {
            if (waitpid(x->pids[i], NULL, WNOHANG) == x->pids[i]) {
                w5_forget(x, x->pids[i]);
                reaped = 1;
                break;
            }
        }
        if (!reaped)
            wl_sleep_ms(10);
    }
    for (size_t i = 0; i < x->npids; i++) {
        kill(x->pids[i], SIGKILL);
        waitpid(x->pids[i], NULL, 0);
    }
    x->npids = 0;
}

/* Run W5. */
int wl_run_failover(const bench_run *run, uint64_t duration_ms,
                    bench_result *r)
{
    const bench_config *cfg = run->cfg;
    uint64_t ttl_ns = (uint64_t)cfg->election_ttl_ms * 1000000u;
    uint64_t t0, end, hard_end;
    bench_hist *h = bench_hist_new();
    w5 *x = calloc(1, sizeof(*x));
    pid_t leader = 0;
    int fds[2], rc = 0;
    unsigned seed = (unsigned)getpid() ^ (unsigned)wl_mono_ns();

    r->threads = cfg->candidates;
    r->candidates = cfg->candidates;
    r->ttl_ms = cfg->election_ttl_ms;
    r->has_retry = 1;
    r->retry_delay_ms = cfg->retry_delay_ms;
    r->retry_jitter_ms = cfg->retry_jitter_ms;
    if (h == NULL || x == NULL) {
        free(h);
        free(x);
        wl_set_error(r, "setup", REDLOCK_ENOMEM);
        return -1;
    }
    if (run->self_exe == NULL || pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(r->error, sizeof(r->error), "cannot start candidates: %s",
                 run->self_exe == NULL ? "own path unknown" : strerror(errno));
        free(h);
        free(x);
        return -1;
    }
    x->run = run;
    x->rfd = fds[0];
    x->wfd = fds[1];
    fcntl(x->rfd, F_SETFL, fcntl(x->rfd, F_GETFL) | O_NONBLOCK);
    /* On cluster nodes the election's keys must share one hash slot (the
     * library refuses names whose keys span slots, REDLOCK_ECROSSSLOT):
     * the name is then one hash tag. Plain nodes keep "<run-id>:w5". */
    snprintf(x->name, sizeof(x->name),
             bench_nodes_any_cluster(run->nodes) ? "{%s:w5}" : "%s:w5",
             run->run_id);
    w5_argv(x);
    for (uint32_t i = 0; i < cfg->candidates; i++) {
        if (w5_spawn(x) < 0) {
            snprintf(r->error, sizeof(r->error), "fork: %s",
                     strerror(errno));
            rc = -1;
            goto out;
        }
    }
    if (w5_wait(x, 0, wl_mono_ns() + (uint64_t)W5_FIRST_LEADER_MS * 1000000u +
                          ttl_ns,
                &leader, 0) == 0) {
        if (!bench_stop_requested()) {
            snprintf(r->error, sizeof(r->error), "no leader elected");
            rc = -1;
        }
        goto out;
    }
    t0 = wl_mono_ns();
    end = t0 + duration_ms * 1000000u;
    hard_end = end + 20 * ttl_ns + (uint64_t)W5_NEW_LEADER_EXTRA_MS * 1000000u;
    while (!bench_stop_requested()) {
        uint64_t now = wl_mono_ns(), hold, t_kill, got;
        pid_t victim, next;
        if ((now >= end && r->failovers > 0) || now >= hard_end)
            break;
        /* Let the leader hold for one to two TTLs, so kills land at every
         * phase of its renewal cycle. */
        hold = ttl_ns + (uint64_t)(rand_r(&seed) % 1000) * (ttl_ns / 1000u);
        w5_wait(x, 0, now + hold, &leader, 1);
        bench_progress(run->progress, "W5", run->nodes->n,
                       (double)(wl_mono_ns() - t0) / 1e9,
                       (double)duration_ms / 1000.0, r->failovers);
        if (bench_stop_requested())
            break;
        if (leader == 0) {
            /* Lost its lease on its own; wait for whoever comes next. */
            w5_wait(x, 0, wl_mono_ns() + 10 * ttl_ns, &leader, 0);
            continue;
        }
        victim = leader;
        kill(victim, SIGKILL);
        t_kill = wl_mono_ns();
        waitpid(victim, NULL, 0);
        w5_forget(x, victim);
        leader = 0;
        if (w5_spawn(x) < 0) {
            snprintf(r->error, sizeof(r->error), "fork: %s",
                     strerror(errno));
            rc = -1;
            break;
        }
        next = w5_wait(x, victim,
                       t_kill + 10 * ttl_ns +
                           (uint64_t)W5_NEW_LEADER_EXTRA_MS * 1000000u,
                       &leader, 0);
        got = wl_mono_ns();
        if (next == 0) {
            if (!bench_stop_requested()) {
                snprintf(r->error, sizeof(r->error),
                         "no new leader within 10 TTL after a kill");
                rc = -1;
            }
            break;
        }
        bench_hist_record(h, got - t_kill);
        r->failovers++;
    }
    bench_progress_clear(run->progress);
    r->duration_s = (double)(wl_mono_ns() - t0) / 1e9;
out:
    w5_stop_all(x);
    close(x->rfd);
    close(x->wfd);
    r->cycles = r->failovers;
    if (r->duration_s > 0.0)
        r->cycles_per_s = (double)r->failovers / r->duration_s;
    if (h->count > 0) {
        double ttl_ms = (double)cfg->election_ttl_ms;
        r->failover_ms_p50 = (double)bench_hist_percentile(h, 50.0) / 1e6;
        r->failover_ms_max = (double)h->max / 1e6;
        r->failover_ttl_p50 = r->failover_ms_p50 / ttl_ms;
        r->failover_ttl_max = r->failover_ms_max / ttl_ms;
    }
    r->rss_kb = wl_rss_kb();
    free(h);
    free(x);
    return rc;
}

/* ------------------------------------------------------------------------
 * The W5 candidate process
 * ------------------------------------------------------------------------ */

/* Set by SIGTERM/SIGINT in a candidate: resign and exit. */
static volatile sig_atomic_t candidate_stop;

/* Signal handler of the candidate. */
static void candidate_signal(int sig)
{
    (void)sig;
    candidate_stop = 1;
}

/* Write one report line to the bench (a single write below PIPE_BUF is
 * atomic, so lines from several candidates never interleave). */
static void candidate_report(int fd, char kind)
{
    char line[32];
    int n = snprintf(line, sizeof(line), "%c %ld\n", kind, (long)getpid());
    if (n > 0 && write(fd, line, (size_t)n) < 0)
        candidate_stop = 1; /* the bench is gone */
}

/* on_elected: tell the bench. */
static void candidate_elected(redlock_election *e, uint64_t fence,
                              void *userdata)
{
    (void)e;
    (void)fence;
    candidate_report(*(int *)userdata, 'E');
}

/* on_demoted: tell the bench. */
static void candidate_demoted(redlock_election *e, redlock_status why,
                              void *userdata)
{
    (void)e;
    (void)why;
    candidate_report(*(int *)userdata, 'D');
}

/* Campaign until told to stop; see bench.h. */
int bench_candidate_main(const bench_config *cfg, int fd, const char *name)
{
    redlock_election_callbacks cb = {candidate_elected, candidate_demoted};
    redlock_manager *m = NULL;
    redlock_election *e = NULL;
    struct sigaction sa;
    redlock_status st;
    int fdv = fd;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = candidate_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fcntl(fd, F_SETFD, FD_CLOEXEC);

    st = wl_make_manager(cfg, cfg->node_uris, cfg->node_uri_count,
                         cfg->retry_delay_ms, cfg->retry_jitter_ms, &m);
    if (st != REDLOCK_OK) {
        fprintf(stderr, "redlock-bench candidate: manager: %s\n",
                redlock_strerror(st));
        return 1;
    }
    st = redlock_election_start(m, name, cfg->election_ttl_ms, &cb, &fdv,
                                &e);
    if (st != REDLOCK_OK) {
        fprintf(stderr, "redlock-bench candidate: election: %s\n",
                redlock_strerror(st));
        redlock_manager_destroy(m);
        return 1;
    }
    while (!candidate_stop) {
        /* POLLERR/POLLHUP on the write end: the bench closed the pipe. */
        struct pollfd pfd = {fd, 0, 0};
        if (poll(&pfd, 1, TICK_MS) > 0 &&
            (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
            break;
    }
    redlock_election_destroy(e);
    redlock_manager_destroy(m);
    return 0;
}
