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
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "../common/duration.h"

int cli_verbosity = 0;

/* What --json's error object reports: the last error and the last notice
 * printed (a notice is the reason when no error was printed, as for
 * "held by someone else"), the library status noted with the failure,
 * and whether the command printed a JSON result of its own. Written by
 * the main thread mostly, but kept under a mutex since messages may come
 * from any thread. */
static struct {
    pthread_mutex_t mu;
    char error[1024];
    char notice[1024];
    int have_status;
    redlock_status status;
    int done;
} json_state = {PTHREAD_MUTEX_INITIALIZER, "", "", 0, REDLOCK_OK, 0};

/* Keep msg as the last error (is_error) or notice. */
static void remember(const char *msg, int is_error)
{
    pthread_mutex_lock(&json_state.mu);
    snprintf(is_error ? json_state.error : json_state.notice,
             sizeof(json_state.error), "%s", msg);
    pthread_mutex_unlock(&json_state.mu);
}

/* Format the message; print "redlock: " + it + newline to stderr in one
 * call (so lines from several threads never interleave) when print is
 * set; remember it for --json when remember_as is 1 (error) or 2
 * (notice). */
static void emit(const char *prefix, int print, int remember_as,
                 const char *fmt, va_list ap)
{
    char msg[1024];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (remember_as != 0)
        remember(msg, remember_as == 1);
    if (print)
        fprintf(stderr, "%sredlock: %s\n", prefix, msg);
}

/* An error: always printed. */
void cli_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    emit("", 1, 1, fmt, ap);
    va_end(ap);
}

/* A notice: printed unless -q; remembered for --json either way. */
void cli_notice(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    emit("", cli_verbosity >= 0, 2, fmt, ap);
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
    emit(prefix, 1, 0, fmt, ap);
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

/* The status's name without "REDLOCK_": "ETAKEN"; see cli.h. */
const char *cli_status_short_name(redlock_status st)
{
    const char *name = redlock_status_name(st);

    if (strncmp(name, "REDLOCK_", 8) == 0)
        return name + 8;
    return name;
}

/* Note the library status behind a failure; see cli.h. */
void cli_note_status(redlock_status st)
{
    pthread_mutex_lock(&json_state.mu);
    json_state.have_status = 1;
    json_state.status = st;
    pthread_mutex_unlock(&json_state.mu);
}

/* The command printed its own JSON result; see cli.h. */
void cli_json_done(void)
{
    pthread_mutex_lock(&json_state.mu);
    json_state.done = 1;
    pthread_mutex_unlock(&json_state.mu);
}

/* Print the --json error object; see cli.h. */
void cli_json_error(FILE *out, const char *command, const char *resource,
                    const char *message, int exit_code)
{
    char error[1024];
    int have_status;
    redlock_status st;

    pthread_mutex_lock(&json_state.mu);
    if (json_state.done) {
        pthread_mutex_unlock(&json_state.mu);
        return;
    }
    json_state.done = 1;
    snprintf(error, sizeof(error), "%s",
             message != NULL                ? message
             : json_state.error[0] != '\0'  ? json_state.error
             : json_state.notice[0] != '\0' ? json_state.notice
                                            : "failed (see standard error)");
    have_status = json_state.have_status;
    st = json_state.status;
    pthread_mutex_unlock(&json_state.mu);

    fputs("{\"error\":", out);
    cli_json_string(out, error, strlen(error));
    fputs(",\"status\":", out);
    if (have_status)
        fprintf(out, "\"%s\"", cli_status_short_name(st));
    else
        fputs("null", out);
    fprintf(out, ",\"exit\":%d,\"command\":", exit_code);
    if (command != NULL)
        cli_json_string(out, command, strlen(command));
    else
        fputs("null", out);
    fputs(",\"resource\":", out);
    if (resource != NULL)
        cli_json_string(out, resource, strlen(resource));
    else
        fputs("null", out);
    fputs("}\n", out);
}

/*
 * Map a library status to an exit status, noting it for --json. A switch
 * without default, so a new status fails the build here until someone
 * decides (STYLE.md 3.13).
 */
int cli_exit_for_status(redlock_status st)
{
    if (st != REDLOCK_OK)
        cli_note_status(st);
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
    case REDLOCK_ECROSSSLOT: /* the resources need one hash tag */
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
    case REDLOCK_EDB:
    case REDLOCK_EREFUSED:
    case REDLOCK_EPENDING:
    case REDLOCK_EDUPNODE:
    case REDLOCK_ETLS:
    case REDLOCK_EGUARDED:
    case REDLOCK_ECANCELED: /* the CLI cancels nothing */
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
