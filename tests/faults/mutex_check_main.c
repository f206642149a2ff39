/*
 * mutex_check_main.c: redlock-mutex-check, the command-line front end of
 * the mutual-exclusion checker (checker.h). Built with the tests, never
 * installed.
 *
 *   redlock-mutex-check [--allow-overlap] [--details N] [--quiet]
 *                       LOGFILE...
 *
 * Reads every hold log given ("-" is standard input), lists overlaps and
 * late losses (at most N of each, default 20), and prints the summary
 * line. Exit status: 0 when nothing was found (or only overlaps, with
 * --allow-overlap, which then only reports their count: the documented
 * hazard of a node restarted without persistence), 1 on any overlap or
 * late loss, 2 on a usage or input error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker.h"

/* Print the usage text to f. */
static void usage(FILE *f)
{
    fprintf(f,
            "usage: redlock-mutex-check [--allow-overlap] [--details N] "
            "[--quiet] LOGFILE...\n"
            "\n"
            "Reads hold logs, one line per hold:\n"
            "  resource holder_id acquire_start_us granted_at_us "
            "validity_end_us release_us lost_reported_us\n"
            "(times on redlock_clock_us(), 0 for none; granted_at_us 0 is "
            "a failed acquire)\n"
            "and reports every pair of holders of one resource whose\n"
            "[granted_at, min(validity_end, release)] windows overlap, and\n"
            "every loss reported after the validity ended.\n"
            "\n"
            "  --allow-overlap  report overlaps but do not fail on them\n"
            "  --details N      list at most N overlaps and N late losses "
            "(default 20)\n"
            "  --quiet          print the summary line only\n"
            "\n"
            "Exit status: 0 clean, 1 overlap or late loss, 2 usage or input "
            "error.\n");
}

/* Parse a non-negative decimal count. Returns 0 or -1. */
static int parse_count(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
        return -1;
    *out = (size_t)v;
    return 0;
}

/* Entry point: see the file comment. */
int main(int argc, char **argv)
{
    int allow_overlap = 0, quiet = 0, files = 0;
    size_t details = 20;
    mc_log log = {0};
    char err[512];
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--allow-overlap") == 0) {
            allow_overlap = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--details") == 0) {
            if (i + 1 >= argc || parse_count(argv[i + 1], &details) != 0) {
                fprintf(stderr, "redlock-mutex-check: --details needs a "
                                "count\n");
                return 2;
            }
            i++;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "redlock-mutex-check: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else {
            break;
        }
    }
    for (; i < argc; i++) {
        int rc;
        files++;
        if (strcmp(argv[i], "-") == 0)
            rc = mc_log_read_stream(&log, stdin, "<stdin>", err,
                                    sizeof(err));
        else
            rc = mc_log_read_file(&log, argv[i], err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "redlock-mutex-check: %s\n", err);
            mc_log_free(&log);
            return 2;
        }
    }
    if (files == 0) {
        usage(stderr);
        return 2;
    }

    mc_report rep;
    mc_check(&log, &rep, quiet ? NULL : stdout, details);
    mc_report_print(&rep, stdout);
    mc_log_free(&log);
    if (rep.late_losses > 0)
        return 1;
    if (rep.overlaps > 0 && !allow_overlap)
        return 1;
    if (rep.overlaps > 0)
        printf("overlaps allowed (--allow-overlap): reported, not failed\n");
    return 0;
}
