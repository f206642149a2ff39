/*
 * checker.h: the mutual-exclusion checker of the fault-injection suite.
 *
 * Clients write one line per lock operation to a hold log:
 *
 *   resource holder_id acquire_start_us granted_at_us validity_end_us
 *            release_us lost_reported_us
 *
 * seven fields separated by blanks, every time on the shared system clock
 * redlock_clock_us() (CLOCK_BOOTTIME, one clock for every process on the
 * machine), 0 meaning "none":
 *   resource          the resource name (no blanks)
 *   holder_id         who held it (no blanks), unique per hold is best
 *   acquire_start_us  when the acquire call started
 *   granted_at_us     when the acquire call returned with the lock; 0 for an
 *                     acquire that failed (an operation, not a hold)
 *   validity_end_us   the end of the validity last granted (by acquire or
 *                     by the last successful extend)
 *   release_us        when the holder stopped relying on the lock (just
 *                     before calling release, or when told of its loss);
 *                     0 if it never did (it crashed, or kept the keys)
 *   lost_reported_us  when the holder was told the lock was lost (lease
 *                     on_lost); 0 if it never was
 * Blank lines and lines starting with '#' are ignored.
 *
 * A hold's window is [granted_at, min(validity_end, release)], ignoring a
 * 0 release. The checker reports every pair of holds of the same resource
 * whose windows overlap (two holders believed they held it at once), and
 * every late loss: lost_reported > validity_end (the holder was told after
 * its validity had already ended).
 *
 * DESIGN
 * Records are sorted by (resource, granted_at) and each resource is swept
 * once: for hold i, only the following holds that start before i's window
 * ends can overlap it, so the inner loop stops at the first that does not,
 * giving O(n log n + overlaps) instead of comparing all pairs. Windows are
 * half-open in effect: a hold that starts exactly when another ends does not
 * overlap it (the recorded times are taken conservatively by the clients:
 * granted_at after the call returned, release before the call began).
 *
 * Nothing here depends on the library or on Redis: it is plain C over text,
 * so the CLI (redlock-mutex-check) and the fault scenarios share it.
 */
#ifndef REDLOCK_FAULTS_CHECKER_H
#define REDLOCK_FAULTS_CHECKER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest resource or holder id accepted, in bytes. */
#define MC_NAME_MAX 512

/* One line of a hold log. The strings are owned by the mc_log. */
typedef struct mc_record {
    char *resource;
    char *holder;
    uint64_t acquire_start_us;
    uint64_t granted_at_us;
    uint64_t validity_end_us;
    uint64_t release_us;
    uint64_t lost_reported_us;
} mc_record;

/* Every record read so far. Zero-initialise, fill with mc_log_read_*(),
 * free with mc_log_free(). */
typedef struct mc_log {
    mc_record *v;
    size_t len;
    size_t cap;
} mc_log;

/* What a check found. */
typedef struct mc_report {
    size_t operations;       /* lines read (holds and failed acquires) */
    size_t holds;            /* lines with granted_at_us != 0 */
    size_t resources;        /* distinct resources among the holds */
    size_t overlaps;         /* pairs of holds whose windows overlap */
    size_t late_losses;      /* holds told of a loss after validity_end */
    uint64_t max_overlap_us; /* longest overlap found */
    uint64_t max_late_us;    /* latest loss report, past validity_end */
} mc_report;

/* Parse one line (NUL-terminated, with or without its newline) and append
 * it to log. Returns 0 (also for a blank or comment line), or -1 with the
 * reason in err (errlen bytes; may be NULL): wrong field count, a bad
 * number, a name too long, a hold without a validity end, or out of
 * memory. A window that ends before it starts (a holder descheduled for
 * longer than its validity) is accepted: it is empty and overlaps
 * nothing. */
int mc_log_parse_line(mc_log *log, const char *line, char *err,
                      size_t errlen);

/* Read every line of f (name is used in messages only). Returns 0, or -1
 * with "name:line: reason" in err. */
int mc_log_read_stream(mc_log *log, FILE *f, const char *name, char *err,
                       size_t errlen);

/* Open path and read it with mc_log_read_stream(). Returns 0 or -1. */
int mc_log_read_file(mc_log *log, const char *path, char *err,
                     size_t errlen);

/* Free the records and reset log to empty. NULL is ignored. */
void mc_log_free(mc_log *log);

/* The end of a hold's window: min(validity_end, release), a 0 release
 * being ignored. */
uint64_t mc_window_end(const mc_record *r);

/*
 * Check log (which is sorted in place) and fill rep. If out is not NULL,
 * one line per overlap ("OVERLAP ...") and per late loss ("LATE-LOSS ...")
 * is written to it, at most max_details of each kind, followed by a count
 * of those left out.
 */
void mc_check(mc_log *log, mc_report *rep, FILE *out, size_t max_details);

/* Print the report's one-line summary:
 * "operations N holds H resources R overlaps X late_losses Y ..." */
void mc_report_print(const mc_report *rep, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* REDLOCK_FAULTS_CHECKER_H */
