/*
 * output.c: how the tool talks: messages on stderr by verbosity,
 * timestamps for -v, JSON and escaped strings, and the mapping from
 * library statuses and child statuses to exit statuses.
 *
 * Messages follow STYLE.md 3.14: "redlock: <what>: <why>" on stderr,
 * one line each. stdout carries only a command's result (a token, a
 * status table, a JSON object), so scripts can capture it.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "../common/duration.h"

int cli_verbosity = 0;

/* Print "redlock: " + the formatted message + newline to stderr in one
 * call, so lines from several threads never interleave. */
static void emit(const char *prefix, const char *fmt, va_list ap)
{
    char msg[1024];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    fprintf(stderr, "%sredlock: %s\n", prefix, msg);
}

/* An error: always printed. */
void cli_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
}

/* A notice: printed unless -q. */
void cli_notice(const char *fmt, ...)
{
    va_list ap;

    if (cli_verbosity < 0)
        return;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
}

/* A -v log line, prefixed with the UTC wall-clock time to the millisecond
 * ("2024-05-01T12:00:00.123Z") and the pid. Wall-clock time appears only
 * here, in logs (STYLE.md 3.8). */
void cli_log(const char *fmt, ...)
{
    char prefix[64];
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;

    if (cli_verbosity < 1)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(prefix, sizeof(prefix), "%s.%03ldZ [%ld] ", stamp,
             ts.tv_nsec / 1000000L, (long)getpid());
    va_start(ap, fmt);
    emit(prefix, fmt, ap);
    va_end(ap);
}

/* Write a JSON string literal; see cli.h. */
void cli_json_string(FILE *out, const char *s, size_t len)
{
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c >= 0x7f)
            /* Bytes, not code points: non-ASCII bytes are escaped one by
             * one so the output stays valid JSON whatever the input. */
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* Write bytes for a human reader; see cli.h. */
void cli_print_escaped(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c >= 0x7f || c == '\\')
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
}

/* The --ttl refusal; see cli.h. The rule itself is the library's (a TTL
 * must exceed its drift allowance); the tool uses the default drift
 * factor, so that is what the message quotes. */
void cli_ttl_too_short(const char *cmd_name, uint32_t ttl_ms)
{
    redlock_options o;
    char ttl[32];

    redlock_options_init(&o);
    tool_duration_format(ttl_ms, ttl, sizeof(ttl));
    cli_error("%s: --ttl %s: %s (%g x TTL + 2ms)", cmd_name, ttl,
              redlock_strerror(REDLOCK_ETTLSHORT), o.drift_factor);
}

/*
 * Map a library status to an exit status. A switch without default, so a
 * new status fails the build here until someone decides (STYLE.md 3.13).
 */
int cli_exit_for_status(redlock_status st)
{
    switch (st) {
    case REDLOCK_OK:
        return CLI_EXIT_OK;
    case REDLOCK_ETAKEN:
    case REDLOCK_ENOTHELD:
    case REDLOCK_ERELEASED:
        return CLI_EXIT_CONFLICT;
    case REDLOCK_ELOST:
        return CLI_EXIT_LOST;
    case REDLOCK_EINVAL:
    case REDLOCK_ERANGE:
    case REDLOCK_EURI:
    case REDLOCK_ENONODES:
    case REDLOCK_ETTLSHORT:
        return CLI_EXIT_USAGE;
    case REDLOCK_ENOQUORUM:
    case REDLOCK_ETIMEDOUT:
    case REDLOCK_EEXPIRED:
    case REDLOCK_ENOMEM:
    case REDLOCK_EIO:
    case REDLOCK_EPROTO:
    case REDLOCK_ECLOSED:
    case REDLOCK_EMISUSE:
    case REDLOCK_ECRYPTO:
    case REDLOCK_EAUTH:
        return CLI_EXIT_UNAVAILABLE;
    }
    return CLI_EXIT_UNAVAILABLE; /* a value outside the enum */
}

/* Exit status of a reaped child; see cli.h. */
int cli_exit_for_wait_status(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return CLI_EXIT_UNAVAILABLE;
}
