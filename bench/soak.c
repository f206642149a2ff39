/*
 * soak.c: --soak, W2 and W4 together on one manager for minutes, with RSS,
 * open descriptors and threads watched over time and (on spawned nodes) a
 * fault injected every interval from a separate thread.
 *
 * DESIGN
 * The soak reuses the workers of W2 and the lease set of W4
 * (workloads_int.h) on one shared manager, so it measures the library
 * under both loads at once, not two bench loops side by side. The driver
 * thread samples RSS and glibc's bytes in use every second and closes a
 * throughput window every BENCH_SOAK_WINDOW_MS; the fault thread sleeps
 * in ticks between faults so that a stop request ends it promptly, and it
 * stays alive (idle) until the end, so the thread count at the end is
 * comparable with the one at the start. Growth is judged from a base
 * taken after the allocator's one-time growth (bench_soak_base_ms()),
 * with malloc_trim(0) before the base and end readings, and on live heap
 * as well as RSS (docs/bench.md, "Soak"). bench_run_soak() acquires
 * several resources (shared state, lease set, fault log, workers, sample
 * arrays); it has one cleanup path at its end that frees each once,
 * whatever step failed. Rejected: a separate process for the fault
 * injector (its figures would not be this process's, and the bench
 * already owns the servers it pauses).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"
#include "workloads_int.h"

#include <dirent.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "redlock.h"

/* ------------------------------------------------------------------------
 * Soak: W2 and W4 together, RSS every second, faults from a thread
 * ------------------------------------------------------------------------ */

/* How long the pause fault keeps its nodes stopped. */
#define SOAK_PAUSE_MS 2000
/* No fault is started before this point of the soak (so the start
 * figures, taken at 1 s, never see a fault's connection) ... */
#define SOAK_FAULT_FIRST_MIN_MS 2000
/* ... nor in the last stretch of it, so the end figures see the nodes and
 * the library's connections settled again. */
#define SOAK_FAULT_QUIET_END_MS 5000
/* Length of one rs_command() reply rendering we keep. */
#define SOAK_REPLY_MAX 64

/* RSS in KiB after handing the allocator's free pages back to the kernel
 * (glibc malloc_trim), so that it counts pages in use, not pages kept
 * after a transient peak; *untrimmed gets the RSS just before. Used for
 * the soak's growth base and end only (the per-second samples are raw). */
static long rss_trimmed_kb(long *untrimmed)
{
    *untrimmed = wl_rss_kb();
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    return wl_rss_kb();
}

/* Entries of a /proc directory, "." and ".." and the directory's own
 * descriptor left out; -1 if it cannot be read. */
static long count_dir_entries(const char *path, int self_fd_dir)
{
    DIR *d = opendir(path);
    struct dirent *e;
    long n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    /* Listing /proc/self/fd shows the descriptor opendir() used. */
    return self_fd_dir && n > 0 ? n - 1 : n;
}

/* Open file descriptors of this process. */
static long open_fds(void)
{
    return count_dir_entries("/proc/self/fd", 1);
}

/* Threads of this process. */
static long thread_count(void)
{
    return count_dir_entries("/proc/self/task", 0);
}

/* The fault injector's state, shared with the soak's driver. */
typedef struct soak_faults {
    const bench_run *run;
    bench_nodes *nodes;
    pthread_t tid;
    int started;
    atomic_int running;       /* cleared by the driver to stop it */
    uint64_t t0_ns, end_ns;   /* the soak's start and planned end */
    uint64_t interval_ms;
    bench_soak_fault *log;    /* written by the thread; read after join */
    size_t n;
} soak_faults;

/* Sleep until `until_ns` in ticks, returning early (0) if the injector is
 * asked to stop; 1 if the time was reached. */
static int faults_sleep_until(soak_faults *f, uint64_t until_ns)
{
    for (;;) {
        uint64_t now = wl_mono_ns();
        if (!atomic_load(&f->running) || bench_stop_requested())
            return 0;
        if (now >= until_ns)
            return 1;
        wl_sleep_ms((until_ns - now) / 1000000u < TICK_MS
                     ? (until_ns - now) / 1000000u + 1
                     : TICK_MS);
    }
}

/* Append "text" to the fault's detail (truncating quietly). */
static void fault_note(bench_soak_fault *x, const char *text)
{
    size_t used = strlen(x->detail);
    if (used + 1 < sizeof(x->detail))
        snprintf(x->detail + used, sizeof(x->detail) - used, "%s", text);
}

/* Run one command on spawned node i, noting "node<i>: <reply>" in x.
 * Returns 0 if a reply came that is not an error. */
static int fault_command(bench_nodes *nd, size_t i, bench_soak_fault *x,
                         int argc, const char **argv)
{
    char reply[SOAK_REPLY_MAX], note[SOAK_REPLY_MAX + 32];
    int rc = rs_command(&nd->srv[i], reply, sizeof(reply), argc, argv);

    /* Errors are rendered as Redis sent them: "ERR ...", "NOSCRIPT ...". */
    if (rc == 0 && (strncmp(reply, "ERR", 3) == 0 ||
                    strncmp(reply, "NOPERM", 6) == 0))
        rc = -1;
    snprintf(note, sizeof(note), "%snode%zu: %s", x->detail[0] ? "; " : "",
             i, reply);
    fault_note(x, note);
    return rc == 0 ? 0 : -1;
}

/* Inject fault number k (kind k mod 4) on the spawned nodes into x. */
static void fault_inject(soak_faults *f, size_t k, bench_soak_fault *x)
{
    bench_nodes *nd = f->nodes;
    size_t n = nd->n, quorum = n / 2 + 1, minority = (n - 1) / 2;
    size_t one = k / BENCH_FAULT_KINDS % n; /* the node this round hits */
    static const char *kill_argv[] = {"CLIENT", "KILL", "TYPE", "normal"};
    static const char *flush_argv[] = {"SCRIPT", "FLUSH"};
    static const char *sleep_argv[] = {"DEBUG", "SLEEP", "0.5"};
    char note[48];

    x->kind = (int)(k % BENCH_FAULT_KINDS);
    x->ok = 1;
    switch ((bench_fault_kind)x->kind) {
    case BENCH_FAULT_PAUSE: {
        size_t paused[BENCH_NODES_MAX], np = 0;
        if (minority == 0) {
            fault_note(x, "skipped: no minority to pause with N < 3");
            break;
        }
        for (size_t i = 0; i < minority; i++) {
            size_t idx = (one + i) % n;
            if (rs_pause(&nd->srv[idx]) == 0) {
                paused[np++] = idx;
                snprintf(note, sizeof(note), "%snode%zu SIGSTOP",
                         x->detail[0] ? "; " : "", idx);
            } else {
                x->ok = 0;
                snprintf(note, sizeof(note), "%snode%zu SIGSTOP failed",
                         x->detail[0] ? "; " : "", idx);
            }
            fault_note(x, note);
        }
        /* Always resume, also when a stop was requested meanwhile. */
        {
            uint64_t until = wl_mono_ns() + (uint64_t)SOAK_PAUSE_MS * 1000000u;
            while (wl_mono_ns() < until && !bench_stop_requested())
                wl_sleep_ms(TICK_MS);
        }
        for (size_t i = 0; i < np; i++) {
            if (rs_resume(&nd->srv[paused[i]]) != 0) {
                x->ok = 0;
                fault_note(x, "; SIGCONT failed");
            }
        }
        fault_note(x, np > 0 ? "; SIGCONT after 2 s" : "");
        break;
    }
    case BENCH_FAULT_CLIENT_KILL:
        if (fault_command(nd, one, x, 4, kill_argv) != 0)
            x->ok = 0;
        fault_note(x, " clients killed");
        x->quorum_taken = 1 > n - quorum;
        break;
    case BENCH_FAULT_SCRIPT_FLUSH:
        for (size_t i = 0; i < n; i++)
            if (fault_command(nd, i, x, 2, flush_argv) != 0)
                x->ok = 0;
        break;
    case BENCH_FAULT_DEBUG_SLEEP:
        if (fault_command(nd, one, x, 3, sleep_argv) != 0)
            x->ok = 0;
        fault_note(x, " after DEBUG SLEEP 0.5");
        x->quorum_taken = 1 > n - quorum;
        break;
    case BENCH_FAULT_KINDS:
        break;
    }
}

/* The fault thread: every interval, inject the next fault, log it (at
 * once on run->log, and in f->log for the report), until stopped. Faults
 * never overlap; none starts before SOAK_FAULT_FIRST_MIN_MS or within
 * SOAK_FAULT_QUIET_END_MS of the end. */
static void *faults_thread(void *arg)
{
    soak_faults *f = arg;
    uint64_t step = f->interval_ms * 1000000u;
    uint64_t next = f->t0_ns + step;
    uint64_t first_min = f->t0_ns + (uint64_t)SOAK_FAULT_FIRST_MIN_MS *
                                         1000000u;
    uint64_t last = f->end_ns > (uint64_t)SOAK_FAULT_QUIET_END_MS * 1000000u
                        ? f->end_ns - (uint64_t)SOAK_FAULT_QUIET_END_MS *
                                          1000000u
                        : 0;

    if (next < first_min)
        next = first_min;
    while (f->n < BENCH_SOAK_FAULTS_MAX && next <= last &&
           faults_sleep_until(f, next)) {
        bench_soak_fault *x = &f->log[f->n];
        uint64_t began = wl_mono_ns();

        memset(x, 0, sizeof(*x));
        x->t_s = (double)(began - f->t0_ns) / 1e9;
        fault_inject(f, f->n, x);
        f->n++;
        if (f->run->log != NULL) {
            bench_progress_clear(f->run->progress);
            fprintf(f->run->log, "soak N=%zu: t=%.1f s fault %s: %s%s "
                                 "(%.2f s)\n",
                    f->nodes->n, x->t_s, bench_fault_name(x->kind),
                    x->detail, x->ok ? "" : " [FAILED]",
                    (double)(wl_mono_ns() - began) / 1e9);
            fflush(f->run->log);
        }
        next += step;
        if (next < wl_mono_ns())
            next = wl_mono_ns(); /* a fault outlasted the interval */
    }
    /* Stay until stopped, so the end's thread count matches the start's. */
    faults_sleep_until(f, UINT64_MAX);
    return NULL;
}

/* Start the fault thread if faults apply (spawned nodes, interval > 0),
 * noting in r why not otherwise. Returns 0, or -1 if it could not start
 * (then the soak runs without faults, r->error says so). */
static int faults_start(soak_faults *f, const bench_run *run,
                        uint64_t t0_ns, uint64_t end_ns, bench_result *r)
{
    memset(f, 0, sizeof(*f));
    f->run = run;
    f->nodes = run->nodes;
    f->t0_ns = t0_ns;
    f->end_ns = end_ns;
    f->interval_ms = run->cfg->soak_fault_ms;
    if (f->interval_ms == 0)
        return 0;
    if (!run->nodes->spawned) {
        r->faults_foreign = 1;
        return 0;
    }
    f->log = calloc(BENCH_SOAK_FAULTS_MAX, sizeof(*f->log));
    if (f->log == NULL) {
        wl_set_error(r, "fault log", REDLOCK_ENOMEM);
        return -1;
    }
    atomic_store(&f->running, 1);
    if (pthread_create(&f->tid, NULL, faults_thread, f) != 0) {
        snprintf(r->error, sizeof(r->error), "fault thread did not start");
        free(f->log);
        f->log = NULL;
        return -1;
    }
    f->started = 1;
    r->soak_fault_ms = f->interval_ms;
    return 0;
}

/* Stop and join the fault thread, handing its log to r. */
static void faults_stop(soak_faults *f, bench_result *r)
{
    if (f->started) {
        atomic_store(&f->running, 0);
        pthread_join(f->tid, NULL);
        f->started = 0;
    }
    r->faults = f->log;
    r->faults_n = f->n;
    f->log = NULL;
    for (size_t i = 0; i < r->faults_n; i++)
        if (r->faults[i].quorum_taken)
            r->quorum_fault = 1;
}

/* The soak driver's running figures between two windows. */
typedef struct soak_window_state {
    uint64_t t_ns, cycles, ext;
} soak_window_state;

/* Close the window that began at *ws and ends now, if it is at least
 * `min_ms` long: append it to r->windows and start the next one. */
static void soak_window(bench_result *r, shared *sh, lease_set *ls,
                        uint64_t t0_ns, soak_window_state *ws,
                        uint64_t min_ms)
{
    uint64_t now = wl_mono_ns(), cycles, ext;
    double dt = (double)(now - ws->t_ns) / 1e9;
    bench_soak_window *x;

    if (now - ws->t_ns < min_ms * 1000000u || r->windows == NULL ||
        r->windows_n >= BENCH_SOAK_WINDOWS_MAX || dt <= 0.0)
        return;
    cycles = atomic_load(&sh->progress);
    ext = wl_leases_renewals(ls);
    x = &r->windows[r->windows_n++];
    x->t_s = (double)(now - t0_ns) / 1e9;
    x->rss_kb = wl_rss_kb();
    x->w2_cycles_per_s = (double)(cycles - ws->cycles) / dt;
    x->w4_ext_per_s = (double)(ext - ws->ext) / dt;
    x->lost = wl_leases_lost(ls);
    ws->t_ns = now;
    ws->cycles = cycles;
    ws->ext = ext;
}

/* Say on run->log how this soak runs: its length and its faults. */
static void soak_announce(const bench_run *run, const bench_result *r)
{
    double secs = (double)run->cfg->soak_ms / 1000.0;

    if (run->log == NULL)
        return;
    bench_progress_clear(run->progress);
    if (r->faults_foreign)
        fprintf(run->log, "soak N=%zu: %.0f s; no faults: the nodes were "
                          "given with --node\n",
                run->nodes->n, secs);
    else if (r->soak_fault_ms > 0)
        fprintf(run->log, "soak N=%zu: %.0f s; a fault every %.1f s\n",
                run->nodes->n, secs, (double)r->soak_fault_ms / 1000.0);
    else
        fprintf(run->log, "soak N=%zu: %.0f s; no faults\n", run->nodes->n,
                secs);
    fflush(run->log);
}

/* One per-second sample: RSS and bytes in use; the first is the start
 * (after a second of warm-up: thread stacks, arenas, connections), the
 * first at or after warm_at the growth base. */
static void soak_sample(bench_result *r, uint64_t now, uint64_t warm_at)
{
    r->rss_end_kb = wl_rss_kb();
    if (r->rss_samples_kb != NULL && r->heap_samples_kb != NULL &&
        r->rss_samples < BENCH_RSS_SAMPLES_MAX) {
        r->heap_samples_kb[r->rss_samples] = wl_heap_in_use_kb();
        r->rss_samples_kb[r->rss_samples++] = r->rss_end_kb;
    }
    if (r->rss_start_kb == 0) {
        r->rss_start_kb = r->rss_end_kb;
        r->fds_start = open_fds();
        r->threads_start = thread_count();
    }
    if (r->rss_warm_kb == 0 && now >= warm_at) {
        r->rss_warm_kb = rss_trimmed_kb(&r->rss_warm_untrimmed_kb);
        r->heap_warm_kb = wl_heap_in_use_kb();
    }
}

/* The end figures, with the workers and the (idle) fault thread still
 * there, as they were for the start figures; a soak shorter than the
 * warm-up takes its base from the start. */
static void soak_end_figures(bench_result *r)
{
    r->rss_end_kb = rss_trimmed_kb(&r->rss_end_untrimmed_kb);
    r->heap_end_kb = wl_heap_in_use_kb();
    r->fds_end = open_fds();
    r->threads_end = thread_count();
    if (r->rss_start_kb == 0) {
        r->rss_start_kb = r->rss_end_kb;
        r->fds_start = r->fds_end;
        r->threads_start = r->threads_end;
    }
    if (r->rss_warm_kb == 0) {
        r->rss_warm_kb = r->rss_start_kb;
        r->rss_warm_untrimmed_kb = r->rss_start_kb;
        r->heap_warm_kb = r->heap_samples_kb != NULL && r->rss_samples > 0
                              ? r->heap_samples_kb[0]
                              : r->heap_end_kb;
        r->rss_base_ms = 1000u;
    }
}

/* The soak's driver loop from t0 to end (or a stop request): samples
 * every second, a throughput window every BENCH_SOAK_WINDOW_MS, the
 * progress line every tick; then the last window and the end figures. */
static void soak_watch(const bench_run *run, bench_result *r, shared *sh,
                       lease_set *ls, uint64_t t0, uint64_t end,
                       uint64_t ext0)
{
    const bench_config *cfg = run->cfg;
    soak_window_state ws = {t0, atomic_load(&sh->progress), ext0};
    uint64_t next_sample = t0 + 1000000000u, warm_at;

    r->rss_base_ms = bench_soak_base_ms(
        cfg->soak_ms, r->faults_foreign ? 0 : r->soak_fault_ms);
    warm_at = t0 + r->rss_base_ms * 1000000u;
    while (!bench_stop_requested() && wl_mono_ns() < end) {
        uint64_t now = wl_mono_ns();
        if (now >= next_sample) {
            soak_sample(r, now, warm_at);
            next_sample += 1000000000u;
        }
        if (now - ws.t_ns >= (uint64_t)BENCH_SOAK_WINDOW_MS * 1000000u)
            soak_window(r, sh, ls, t0, &ws, BENCH_SOAK_WINDOW_MS);
        bench_progress(run->progress, "SOAK", run->nodes->n,
                       (double)(now - t0) / 1e9,
                       (double)cfg->soak_ms / 1000.0,
                       atomic_load(&sh->progress));
        wl_sleep_ms(TICK_MS);
    }
    bench_progress_clear(run->progress);
    soak_window(r, sh, ls, t0, &ws, 1000u);
    soak_end_figures(r);
}

/* Run --soak. Every resource is released once, on the one path at the
 * end ("out"), whatever step failed; the figures after the run are taken
 * whenever the manager was created, also when the leases or the workers
 * could not all start (the report then carries the error). */
int bench_run_soak(const bench_run *run, bench_result *r)
{
    const bench_config *cfg = run->cfg;
    uint32_t threads = cfg->threads != 0 ? cfg->threads
                                         : BENCH_DEFAULT_W2_THREADS;
    shared *sh = calloc(1, sizeof(*sh));
    lease_set *ls = calloc(1, sizeof(*ls));
    soak_faults *f = calloc(1, sizeof(*f));
    worker *w = NULL;
    uint32_t started = 0;
    uint64_t t0, end, ext0;
    long rss_before;
    long long heap_before;
    double cpu0;
    redlock_status st;
    int rc = 0;

    bench_result_init(r, BENCH_SOAK, run->nodes->n);
    r->threads = threads;
    r->leases = cfg->leases;
    r->ttl_ms = BENCH_LEASE_TTL_MS;
    if (sh == NULL || ls == NULL || f == NULL) {
        wl_set_error(r, "setup", REDLOCK_ENOMEM);
        rc = -1;
        goto out;
    }
    sh->run = run;
    sh->ttl_ms = cfg->ttl_ms;
    atomic_store(&sh->running, 1);
    st = wl_make_manager(cfg, run->nodes->uris, run->nodes->n,
                         LIBRARY_RETRY, LIBRARY_RETRY, &sh->m);
    if (st != REDLOCK_OK) {
        wl_set_error(r, "manager", st);
        rc = -1;
        goto out;
    }
    ls->m = sh->m;
    ls->want = cfg->leases;
    rss_before = wl_rss_kb();
    heap_before = wl_heap_in_use_b();
    if (wl_leases_start(run, ls, r) != 0)
        rc = -1;
    r->heap_per_lease_b =
        wl_heap_per_lease_b(heap_before, wl_heap_in_use_b(), ls->held);
    if (ls->held > 0)
        r->rss_per_lease_b =
            (double)(wl_rss_kb() - rss_before) * 1024.0 / ls->held;
    w = rc == 0 ? wl_workers_new(sh, threads) : NULL;
    if (rc == 0 && w == NULL) {
        wl_set_error(r, "setup", REDLOCK_ENOMEM);
        rc = -1;
    }
    cpu0 = wl_cpu_seconds();
    ext0 = wl_leases_renewals(ls);
    t0 = wl_mono_ns();
    end = t0 + cfg->soak_ms * 1000000u;
    if (rc == 0) {
        r->rss_samples_kb =
            calloc(BENCH_RSS_SAMPLES_MAX, sizeof(*r->rss_samples_kb));
        r->heap_samples_kb =
            calloc(BENCH_RSS_SAMPLES_MAX, sizeof(*r->heap_samples_kb));
        r->windows = calloc(BENCH_SOAK_WINDOWS_MAX, sizeof(*r->windows));
        started = wl_workers_start(w, threads, wl_cycle_thread);
        if (started < threads) {
            snprintf(r->error, sizeof(r->error),
                     "only %" PRIu32 " of %" PRIu32 " threads started",
                     started, threads);
            rc = -1;
        }
    }
    if (rc == 0) {
        if (faults_start(f, run, t0, end, r) != 0)
            rc = -1; /* the soak still runs, without faults */
        soak_announce(run, r);
        soak_watch(run, r, sh, ls, t0, end, ext0);
    }
    faults_stop(f, r);
    wl_workers_join(sh, w, started);
    r->duration_s = (double)(wl_mono_ns() - t0) / 1e9;
    r->cpu_s = wl_cpu_seconds() - cpu0;
    r->extensions = wl_leases_renewals(ls) - ext0;
    r->lost = wl_leases_lost(ls);
    if (w != NULL)
        wl_workers_collect(w, threads, r); /* W2's cycles and latencies;
                                              frees the workers */
    if (r->duration_s > 0.0) {
        r->cycles_per_s = (double)r->cycles / r->duration_s;
        r->extensions_per_s = (double)r->extensions / r->duration_s;
    }
    if (ls->held > 0)
        r->rss_growth_per_lease_b =
            (double)(r->rss_end_kb - r->rss_start_kb) * 1024.0 / ls->held;
    r->rss_kb = wl_rss_kb();
    wl_leases_stop(ls);
    r->fail_taken += ls->fails.taken;
    r->fail_quorum += ls->fails.quorum;
    r->fail_other += ls->fails.other;
out:
    if (ls != NULL)
        wl_leases_free(ls);
    if (sh != NULL && sh->m != NULL)
        redlock_manager_destroy(sh->m);
    free(ls);
    free(sh);
    free(f);
    return rc;
}
