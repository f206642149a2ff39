/*
 * checker.c: the mutual-exclusion checker (see checker.h for the log
 * format and the definition of an overlap and of a late loss).
 */
#define _GNU_SOURCE
#include "checker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Number of fields of a log line. */
#define MC_FIELDS 7
/* Longest line accepted, in bytes. */
#define MC_LINE_MAX (2 * MC_NAME_MAX + 5 * 24 + 16)

/* ------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------ */

/* Write a formatted message into err (if not NULL). */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Write a formatted message into err (if not NULL). */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* True for the blanks that separate fields. */
static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Parse a decimal uint64 from the field [s, s + len). Returns 0 or -1. */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Make room for one more record. Returns 0 or -1 (out of memory). */
static int grow(mc_log *log)
{
    if (log->len < log->cap)
        return 0;
    size_t cap = log->cap ? log->cap * 2 : 256;
    mc_record *v = realloc(log->v, cap * sizeof(*v));
    if (v == NULL)
        return -1;
    log->v = v;
    log->cap = cap;
    return 0;
}

/* Copy the field [s, s + len) into a new NUL-terminated string. */
static char *dup_field(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

/* Parse one line; see checker.h. */
int mc_log_parse_line(mc_log *log, const char *line, char *err,
                      size_t errlen)
{
    const char *start[MC_FIELDS];
    size_t len[MC_FIELDS];
    size_t n = 0;
    const char *p = line;

    while (is_blank(*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    while (*p != '\0') {
        const char *s = p;
        while (*p != '\0' && !is_blank(*p))
            p++;
        if (n == MC_FIELDS) {
            set_err(err, errlen, "more than %d fields", MC_FIELDS);
            return -1;
        }
        start[n] = s;
        len[n] = (size_t)(p - s);
        n++;
        while (is_blank(*p))
            p++;
    }
    if (n != MC_FIELDS) {
        set_err(err, errlen, "%zu fields, expected %d (resource holder_id "
                "acquire_start_us granted_at_us validity_end_us release_us "
                "lost_reported_us)", n, MC_FIELDS);
        return -1;
    }
    if (len[0] > MC_NAME_MAX || len[1] > MC_NAME_MAX) {
        set_err(err, errlen, "resource or holder longer than %d bytes",
                MC_NAME_MAX);
        return -1;
    }
    uint64_t t[5];
    static const char *const names[5] = {
        "acquire_start_us", "granted_at_us", "validity_end_us", "release_us",
        "lost_reported_us"};
    for (int i = 0; i < 5; i++) {
        if (parse_u64(start[i + 2], len[i + 2], &t[i]) != 0) {
            set_err(err, errlen, "%s is not a decimal number: '%.*s'",
                    names[i], (int)(len[i + 2] > 40 ? 40 : len[i + 2]),
                    start[i + 2]);
            return -1;
        }
    }
    if (t[1] != 0 && t[2] == 0) {
        set_err(err, errlen, "a hold (granted_at_us != 0) needs a "
                             "validity_end_us");
        return -1;
    }
    if (grow(log) != 0) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    mc_record *r = &log->v[log->len];
    r->resource = dup_field(start[0], len[0]);
    r->holder = dup_field(start[1], len[1]);
    if (r->resource == NULL || r->holder == NULL) {
        free(r->resource);
        free(r->holder);
        set_err(err, errlen, "out of memory");
        return -1;
    }
    r->acquire_start_us = t[0];
    r->granted_at_us = t[1];
    r->validity_end_us = t[2];
    r->release_us = t[3];
    r->lost_reported_us = t[4];
    log->len++;
    return 0;
}

/* Read every line of a stream; see checker.h. */
int mc_log_read_stream(mc_log *log, FILE *f, const char *name, char *err,
                       size_t errlen)
{
    char line[MC_LINE_MAX + 2];
    char why[256];
    unsigned long lineno = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t l = strlen(line);
        if (l == sizeof(line) - 1 && line[l - 1] != '\n' && !feof(f)) {
            set_err(err, errlen, "%s:%lu: line longer than %d bytes", name,
                    lineno, MC_LINE_MAX);
            return -1;
        }
        if (mc_log_parse_line(log, line, why, sizeof(why)) != 0) {
            set_err(err, errlen, "%s:%lu: %s", name, lineno, why);
            return -1;
        }
    }
    if (ferror(f)) {
        set_err(err, errlen, "%s: read error", name);
        return -1;
    }
    return 0;
}

/* Open and read one file; see checker.h. */
int mc_log_read_file(mc_log *log, const char *path, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = mc_log_read_stream(log, f, path, err, errlen);
    fclose(f);
    return rc;
}

/* Free every record. */
void mc_log_free(mc_log *log)
{
    if (log == NULL)
        return;
    for (size_t i = 0; i < log->len; i++) {
        free(log->v[i].resource);
        free(log->v[i].holder);
    }
    free(log->v);
    log->v = NULL;
    log->len = 0;
    log->cap = 0;
}

/* ------------------------------------------------------------------------
 * Checking
 * ------------------------------------------------------------------------ */

/* min(validity_end, release), ignoring a 0 release. */
uint64_t mc_window_end(const mc_record *r)
{
    if (r->release_us != 0 && r->release_us < r->validity_end_us)
        return r->release_us;
    return r->validity_end_us;
}

/* qsort order: holds before failed acquires, then by resource, then by
 * window start. */
static int by_resource_then_start(const void *a, const void *b)
{
    const mc_record *x = a, *y = b;
    int xh = x->granted_at_us != 0, yh = y->granted_at_us != 0;
    if (xh != yh)
        return yh - xh;
    int c = strcmp(x->resource, y->resource);
    if (c != 0)
        return c;
    if (x->granted_at_us != y->granted_at_us)
        return x->granted_at_us < y->granted_at_us ? -1 : 1;
    return strcmp(x->holder, y->holder);
}

/* Check the log; see checker.h. */
void mc_check(mc_log *log, mc_report *rep, FILE *out, size_t max_details)
{
    size_t shown_overlaps = 0, shown_late = 0;

    memset(rep, 0, sizeof(*rep));
    rep->operations = log->len;
    if (log->len > 1)
        qsort(log->v, log->len, sizeof(log->v[0]), by_resource_then_start);

    for (size_t i = 0; i < log->len; i++) {
        const mc_record *a = &log->v[i];
        if (a->granted_at_us == 0)
            break; /* sorted: only failed acquires from here on */
        rep->holds++;
        if (i == 0 || strcmp(a->resource, log->v[i - 1].resource) != 0)
            rep->resources++;

        if (a->lost_reported_us != 0 &&
            a->lost_reported_us > a->validity_end_us) {
            uint64_t late = a->lost_reported_us - a->validity_end_us;
            rep->late_losses++;
            if (late > rep->max_late_us)
                rep->max_late_us = late;
            if (out != NULL && shown_late++ < max_details)
                fprintf(out, "LATE-LOSS %s %s told at %llu, %llu us after "
                             "its validity ended at %llu\n",
                        a->resource, a->holder,
                        (unsigned long long)a->lost_reported_us,
                        (unsigned long long)late,
                        (unsigned long long)a->validity_end_us);
        }

        uint64_t a_end = mc_window_end(a);
        for (size_t j = i + 1; j < log->len; j++) {
            const mc_record *b = &log->v[j];
            if (b->granted_at_us == 0 ||
                strcmp(a->resource, b->resource) != 0)
                break;
            if (b->granted_at_us >= a_end)
                break; /* sorted by start: no later hold can overlap a */
            uint64_t b_end = mc_window_end(b);
            if (b_end <= b->granted_at_us)
                continue; /* empty window */
            uint64_t end = a_end < b_end ? a_end : b_end;
            uint64_t overlap = end - b->granted_at_us;
            rep->overlaps++;
            if (overlap > rep->max_overlap_us)
                rep->max_overlap_us = overlap;
            if (out != NULL && shown_overlaps++ < max_details)
                fprintf(out, "OVERLAP %s: %s [%llu, %llu] and %s [%llu, "
                             "%llu] overlap for %llu us\n",
                        a->resource, a->holder,
                        (unsigned long long)a->granted_at_us,
                        (unsigned long long)a_end, b->holder,
                        (unsigned long long)b->granted_at_us,
                        (unsigned long long)b_end,
                        (unsigned long long)overlap);
        }
    }
    if (out != NULL && shown_overlaps > max_details)
        fprintf(out, "... and %zu more overlaps\n",
                shown_overlaps - max_details);
    if (out != NULL && shown_late > max_details)
        fprintf(out, "... and %zu more late losses\n",
                shown_late - max_details);
}

/* Print the one-line summary. */
void mc_report_print(const mc_report *rep, FILE *out)
{
    fprintf(out, "operations %zu holds %zu resources %zu overlaps %zu "
                 "late_losses %zu max_overlap_us %llu max_late_us %llu\n",
            rep->operations, rep->holds, rep->resources, rep->overlaps,
            rep->late_losses, (unsigned long long)rep->max_overlap_us,
            (unsigned long long)rep->max_late_us);
}
