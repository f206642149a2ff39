/*
 * test_checker.c: the mutual-exclusion checker (tests/faults/checker.c)
 * on hand-made hold logs: parsing and its errors, what counts as an
 * overlap and as a late loss, and the redlock-mutex-check program's
 * output and exit status.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include <cmocka.h>

#include "checker.h"

#ifndef REDLOCK_MUTEX_CHECK_PATH
#error "REDLOCK_MUTEX_CHECK_PATH must name the redlock-mutex-check binary"
#endif

/* Parse the lines (NULL-terminated) into log; fail the test on error. */
static void parse_all(mc_log *log, const char *const *lines)
{
    char err[256];
    for (size_t i = 0; lines[i] != NULL; i++) {
        int rc = mc_log_parse_line(log, lines[i], err, sizeof(err));
        if (rc != 0)
            fail_msg("line %zu: %s", i, err);
    }
}

/* Check lines and return the report. */
static mc_report check_lines(const char *const *lines)
{
    mc_log log = {0};
    mc_report rep;
    parse_all(&log, lines);
    mc_check(&log, &rep, NULL, 0);
    mc_log_free(&log);
    return rep;
}

/* Good lines are read field by field; blanks and comments are skipped. */
static void test_parse_fields(void **state)
{
    (void)state;
    mc_log log = {0};
    const char *lines[] = {
        "fr-0 p0t1n2 100 110 900 500 0\n",
        "",
        "   \t\n",
        "# a comment\n",
        "fr-1\tp1t0n1  5 0 0 0 0",
        NULL,
    };
    parse_all(&log, lines);
    assert_int_equal(log.len, 2);
    assert_string_equal(log.v[0].resource, "fr-0");
    assert_string_equal(log.v[0].holder, "p0t1n2");
    assert_int_equal(log.v[0].acquire_start_us, 100);
    assert_int_equal(log.v[0].granted_at_us, 110);
    assert_int_equal(log.v[0].validity_end_us, 900);
    assert_int_equal(log.v[0].release_us, 500);
    assert_int_equal(log.v[0].lost_reported_us, 0);
    assert_int_equal(mc_window_end(&log.v[0]), 500);
    assert_string_equal(log.v[1].resource, "fr-1");
    assert_int_equal(log.v[1].granted_at_us, 0);
    mc_log_free(&log);
    assert_int_equal(log.len, 0);
    assert_null(log.v);
}

/* Malformed lines are refused with a reason, and nothing is appended. */
static void test_parse_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "fr-0 h 1 2 3 4",                    /* 6 fields */
        "fr-0 h 1 2 3 4 5 6",                /* 8 fields */
        "fr-0 h 1 2 x 4 5",                  /* not a number */
        "fr-0 h 1 -2 3 4 5",                 /* negative */
        "fr-0 h 1 2 3 4 99999999999999999999999", /* overflow */
        "fr-0 h 1 2 0 4 5",                  /* a hold without validity */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mc_log log = {0};
        char err[256] = "";
        assert_int_equal(mc_log_parse_line(&log, bad[i], err, sizeof(err)),
                         -1);
        assert_true(err[0] != '\0');
        assert_int_equal(log.len, 0);
        mc_log_free(&log);
    }
    /* A name longer than the limit. */
    char line[2 * MC_NAME_MAX];
    memset(line, 'a', MC_NAME_MAX + 1);
    snprintf(line + MC_NAME_MAX + 1, sizeof(line) - MC_NAME_MAX - 1,
             " h 1 2 3 4 5");
    mc_log log = {0};
    assert_int_equal(mc_log_parse_line(&log, line, NULL, 0), -1);
    mc_log_free(&log);
}

/* What overlaps and what does not. */
static void test_overlaps(void **state)
{
    (void)state;
    /* Disjoint, and touching (one starts exactly where the other ends). */
    const char *clean[] = {
        "r a 0 100 200 0 0",
        "r b 0 200 300 0 0",
        "r c 0 350 400 0 0",
        NULL,
    };
    mc_report rep = check_lines(clean);
    assert_int_equal(rep.holds, 3);
    assert_int_equal(rep.overlaps, 0);

    /* The release ends a window before its validity does. */
    const char *released[] = {
        "r a 0 100 1000 150 0",
        "r b 0 160 1200 0 0",
        NULL,
    };
    rep = check_lines(released);
    assert_int_equal(rep.overlaps, 0);

    /* A real overlap: b starts 40 us before a's validity ends. */
    const char *overlap[] = {
        "r a 0 100 200 0 0",
        "r b 0 160 300 250 0",
        NULL,
    };
    rep = check_lines(overlap);
    assert_int_equal(rep.overlaps, 1);
    assert_int_equal(rep.max_overlap_us, 40);

    /* Another resource never overlaps; failed acquires are not holds. */
    const char *others[] = {
        "r a 0 100 200 0 0",
        "s b 0 150 300 0 0",
        "r c 120 0 0 0 0",
        NULL,
    };
    rep = check_lines(others);
    assert_int_equal(rep.operations, 3);
    assert_int_equal(rep.holds, 2);
    assert_int_equal(rep.resources, 2);
    assert_int_equal(rep.overlaps, 0);

    /* Three holders at once are three pairs; input order does not
     * matter; an empty window (granted after its validity ended)
     * overlaps nothing. */
    const char *three[] = {
        "r c 0 300 1000 0 0",
        "r a 0 100 1000 0 0",
        "r e 0 500 450 0 0",
        "r b 0 200 1000 0 0",
        NULL,
    };
    rep = check_lines(three);
    assert_int_equal(rep.holds, 4);
    assert_int_equal(rep.overlaps, 3);
    assert_int_equal(rep.max_overlap_us, 800);
}

/* Late losses: told after the validity ended. */
static void test_late_losses(void **state)
{
    (void)state;
    const char *lines[] = {
        "r a 0 100 200 200 200", /* told exactly at the end: in time */
        "r b 0 300 400 350 350", /* told early */
        "r c 0 500 600 0 0",     /* never lost */
        "r d 0 700 800 900 900", /* told 100 us late */
        NULL,
    };
    mc_log log = {0};
    mc_report rep;
    parse_all(&log, lines);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    mc_check(&log, &rep, out, 10);
    mc_report_print(&rep, out);
    fclose(out);
    assert_int_equal(rep.late_losses, 1);
    assert_int_equal(rep.max_late_us, 100);
    assert_int_equal(rep.overlaps, 0);
    assert_non_null(strstr(text, "LATE-LOSS r d"));
    assert_non_null(strstr(text, "overlaps 0 late_losses 1"));
    free(text);
    mc_log_free(&log);
}

/* Write text to a new temp file; returns its path (static buffer per
 * slot). */
static const char *temp_log(int slot, const char *text)
{
    static char paths[4][64];
    snprintf(paths[slot], sizeof(paths[slot]), "/tmp/mc-test-XXXXXX");
    int fd = mkstemp(paths[slot]);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return paths[slot];
}

/* Run the CLI with argv (NULL-terminated, argv[0] included), its stdout
 * in out; returns its exit status. */
static int run_cli(const char *const *argv, char *out, size_t outlen)
{
    char path[] = "/tmp/mc-out-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, STDOUT_FILENO);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDERR_FILENO);
        execv(REDLOCK_MUTEX_CHECK_PATH, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    ssize_t n = pread(fd, out, outlen - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* The CLI's exit status: 0 clean, 1 overlap or late loss (overlaps only
 * reported with --allow-overlap), 2 for bad input or usage. */
static void test_cli(void **state)
{
    (void)state;
    char out[4096];
    const char *clean = temp_log(0, "r a 0 100 200 0 0\nr b 0 200 300 0 0\n");
    const char *overlap = temp_log(1, "r a 0 100 200 0 0\n");
    const char *overlap2 = temp_log(2, "r b 0 150 300 0 0\n");
    const char *late = temp_log(3, "r a 0 100 200 300 300\n");

    const char *a1[] = {"redlock-mutex-check", clean, NULL};
    assert_int_equal(run_cli(a1, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "operations 2 holds 2 resources 1 "
                                "overlaps 0 late_losses 0"));

    /* An overlap across two files. */
    const char *a2[] = {"redlock-mutex-check", overlap, overlap2, NULL};
    assert_int_equal(run_cli(a2, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "OVERLAP r: a [100, 200] and b [150, 300]"));
    assert_non_null(strstr(out, "overlaps 1 "));

    const char *a3[] = {"redlock-mutex-check", "--allow-overlap", overlap,
                        overlap2, NULL};
    assert_int_equal(run_cli(a3, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "overlaps 1 "));

    const char *a4[] = {"redlock-mutex-check", "--allow-overlap", late,
                        NULL};
    assert_int_equal(run_cli(a4, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "late_losses 1"));

    const char *a5[] = {"redlock-mutex-check", "/nonexistent/log", NULL};
    assert_int_equal(run_cli(a5, out, sizeof(out)), 2);
    const char *a6[] = {"redlock-mutex-check", NULL};
    assert_int_equal(run_cli(a6, out, sizeof(out)), 2);
    const char *a7[] = {"redlock-mutex-check", "--bogus", clean, NULL};
    assert_int_equal(run_cli(a7, out, sizeof(out)), 2);
    const char *a8[] = {"redlock-mutex-check", "--quiet", overlap, overlap2,
                        NULL};
    assert_int_equal(run_cli(a8, out, sizeof(out)), 1);
    assert_null(strstr(out, "OVERLAP"));

    unlink(clean);
    unlink(overlap);
    unlink(overlap2);
    unlink(late);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_overlaps),
        cmocka_unit_test(test_late_losses),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
