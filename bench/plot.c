/*
 * plot.c: --plot DIR. Writes plain data files and one gnuplot script into
 * DIR, then runs gnuplot (Debian package gnuplot-nox) on it to draw:
 *   latency-cdf-<WL>.png     acquire latency CDF of one workload (W3: the
 *                            wait), one curve per node count, log x axis
 *   w2-throughput-threads.png  W2 cycles/s against threads, one curve per
 *                            node count (from the --plot thread sweep)
 * The data files stay next to the PNGs, so the plots can be redrawn or
 * restyled by hand with `gnuplot DIR/plot.gp`.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

/* 1 if an executable "gnuplot" is in one of $PATH's directories. */
int bench_plot_available(void)
{
    const char *path = getenv("PATH");
    char dir[PATH_MAX], file[PATH_MAX + 16];

    if (path == NULL || *path == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        const char *colon = strchr(path, ':');
        size_t len = colon != NULL ? (size_t)(colon - path) : strlen(path);
        if (len > 0 && len < sizeof(dir)) {
            memcpy(dir, path, len);
            dir[len] = '\0';
            snprintf(file, sizeof(file), "%s/gnuplot", dir);
            if (access(file, X_OK) == 0)
                return 1;
        }
        if (colon == NULL)
            break;
        path = colon + 1;
    }
    return 0;
}

/* Open dir/name for writing; NULL with a message on failure. */
static FILE *open_in(const char *dir, const char *name, char *path,
                     size_t pathlen)
{
    FILE *f;

    snprintf(path, pathlen, "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "redlock-bench: --plot: %s: %s\n", path,
                strerror(errno));
    return f;
}

/* Write the CDF of h (ns samples) as "latency_us fraction" lines: one
 * point at the top of every non-empty bucket. */
static void write_cdf(FILE *f, const bench_hist *h)
{
    uint64_t seen = 0;

    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        uint64_t top;
        if (h->buckets[i] == 0)
            continue;
        seen += h->buckets[i];
        top = bench_hist_bucket_low(i) + bench_hist_bucket_width(i) - 1;
        if (top > h->max)
            top = h->max;
        fprintf(f, "%.3f %.6f\n", (double)top / 1000.0,
                (double)seen / (double)h->count);
    }
}

/* 1 if workload wl at node count nodes was already plotted among r[0..i). */
static int seen_before(const bench_result *r, size_t i, int wl)
{
    for (size_t k = 0; k < i; k++)
        if (r[k].wl == wl && !r[k].sweep && r[k].acq_hist != NULL &&
            r[k].acq_hist->count > 0)
            return 1;
    return 0;
}

/* Compare two W2 results by thread count (for qsort). */
static int by_threads(const void *a, const void *b)
{
    const bench_result *x = *(const bench_result *const *)a;
    const bench_result *y = *(const bench_result *const *)b;
    return (x->threads > y->threads) - (x->threads < y->threads);
}

/* Run gnuplot on script, its stdout sent to stderr so that --json/--csv
 * output stays clean. Returns 0 if it exited with status 0. */
static int run_gnuplot(const char *script)
{
    posix_spawn_file_actions_t fa;
    char prog[] = "gnuplot";
    char path[PATH_MAX + 64];
    char *argv[] = {prog, path, NULL};
    pid_t pid;
    int status, err;

    if (bench_copy(path, sizeof(path), script) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
    err = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0) {
        fprintf(stderr, "redlock-bench: --plot: cannot run gnuplot: %s "
                        "(Debian: apt-get install gnuplot-nox)\n",
                strerror(err));
        return -1;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "redlock-bench: --plot: gnuplot failed on %s\n",
                script);
        return -1;
    }
    return 0;
}

/* Write data files and the script, then draw; see the file comment. */
int bench_plot(const char *dir, const bench_result *r, size_t n)
{
    char path[PATH_MAX + 64], name[64], script[PATH_MAX + 64];
    const bench_result **w2 = NULL;
    FILE *gp, *f;
    size_t nw2 = 0;
    int rc = 0;

    if (strchr(dir, '\'') != NULL || strchr(dir, '"') != NULL) {
        fprintf(stderr, "redlock-bench: --plot: quotes in the directory "
                        "name are not supported\n");
        return -1;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "redlock-bench: --plot: mkdir %s: %s\n", dir,
                strerror(errno));
        return -1;
    }
    gp = open_in(dir, "plot.gp", script, sizeof(script));
    if (gp == NULL)
        return -1;
    fprintf(gp, "# Generated by redlock-bench --plot; redraw with "
                "`gnuplot %s`.\n"
                "set terminal pngcairo size 900,540 noenhanced font ',10'\n"
                "set grid\nset key bottom right\n",
            script);

    /* Latency CDFs: one PNG per workload, one curve per node count. */
    for (size_t i = 0; i < n; i++) {
        int first = 1;
        const char *id = bench_wl_id(r[i].wl);
        if (r[i].sweep || r[i].acq_hist == NULL || r[i].acq_hist->count == 0 ||
            seen_before(r, i, r[i].wl))
            continue;
        fprintf(gp, "\nset output '%s/latency-cdf-%s.png'\n"
                    "set title 'redlock-bench %s (%s): acquire latency "
                    "CDF'\n"
                    "set xlabel '%s (us, log scale)'\n"
                    "set ylabel 'fraction of acquires'\n"
                    "set logscale x\nset yrange [0:1]\nset xrange [*:*]\n",
                dir, id, id, bench_wl_name(r[i].wl),
                (r[i].wl == BENCH_W3 || r[i].wl == BENCH_W3P)
                    ? "wait for the lock"
                    : "acquire latency");
        for (size_t k = i; k < n; k++) {
            if (r[k].wl != r[i].wl || r[k].sweep || r[k].acq_hist == NULL ||
                r[k].acq_hist->count == 0)
                continue;
            snprintf(name, sizeof(name), "cdf-%s-n%zu.dat", id, r[k].nodes);
            f = open_in(dir, name, path, sizeof(path));
            if (f == NULL) {
                rc = -1;
                continue;
            }
            write_cdf(f, r[k].acq_hist);
            fclose(f);
            fprintf(gp, "%s '%s' using 1:2 with steps lw 2 title 'N=%zu'",
                    first ? "plot" : ", \\\n    ", path, r[k].nodes);
            first = 0;
        }
        fprintf(gp, "\nunset logscale x\n");
    }

    /* W2 throughput against threads, one curve per node count. */
    w2 = calloc(n > 0 ? n : 1, sizeof(*w2));
    if (w2 == NULL) {
        fclose(gp);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (r[i].wl == BENCH_W2 && r[i].cycles > 0)
            w2[nw2++] = &r[i];
    qsort(w2, nw2, sizeof(*w2), by_threads);
    if (nw2 > 0) {
        int first = 1;
        fprintf(gp, "\nset output '%s/w2-throughput-threads.png'\n"
                    "set title 'redlock-bench W2 (parallel): throughput vs "
                    "threads'\n"
                    "set xlabel 'threads (log scale)'\n"
                    "set ylabel 'acquire+release cycles/s'\n"
                    "set logscale x 2\nset yrange [0:*]\nset xrange [*:*]\n"
                    "set key top left\n",
                dir);
        for (size_t i = 0; i < nw2; i++) {
            size_t nodes = w2[i]->nodes;
            int dup = 0;
            for (size_t k = 0; k < i; k++)
                if (w2[k]->nodes == nodes)
                    dup = 1;
            if (dup)
                continue;
            snprintf(name, sizeof(name), "w2-threads-n%zu.dat", nodes);
            f = open_in(dir, name, path, sizeof(path));
            if (f == NULL) {
                rc = -1;
                continue;
            }
            for (size_t k = 0; k < nw2; k++)
                if (w2[k]->nodes == nodes)
                    fprintf(f, "%u %.1f\n", (unsigned)w2[k]->threads,
                            w2[k]->cycles_per_s);
            fclose(f);
            fprintf(gp, "%s '%s' using 1:2 with linespoints lw 2 pt 7 "
                        "title 'N=%zu'",
                    first ? "plot" : ", \\\n    ", path, nodes);
            first = 0;
        }
        fprintf(gp, "\n");
    }
    free(w2);
    fprintf(gp, "unset output\n");
    if (fclose(gp) != 0)
        rc = -1;
    if (run_gnuplot(script) != 0)
        rc = -1;
    return rc;
}
