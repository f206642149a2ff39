/*
 * events.c: one pipe that carries signals and election callbacks to the
 * main thread's poll() loop (the self-pipe trick).
 *
 * DESIGN. A signal handler may only call async-signal-safe functions, and
 * an election callback runs on the election's thread, where the tool must
 * not fork or wait. Both therefore only write a fixed-size record to a
 * non-blocking pipe; the main thread reads records in order and does the
 * real work. Records are 16 bytes, far below PIPE_BUF, so each write() is
 * atomic and records from several writers never interleave. The library's
 * worker and lease threads block every signal, so handlers run on the
 * main thread or on an application thread, never inside the library.
 *
 * SIGCHLD is caught too (without SA_NOCLDSTOP, so a child stopped from
 * the terminal is seen) and only says "look at your children": the loop
 * reaps with waitpid(WNOHANG), so a dropped or merged SIGCHLD loses
 * nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The pipe: [0] read by the main loop, [1] written by handlers and
 * callbacks. Both ends are non-blocking and close-on-exec. */
static int ev_pipe[2] = {-1, -1};

/* Signals forwarded to CMD's process group. */
static const int forwarded_signals[] = {SIGINT,  SIGTERM, SIGHUP,
                                        SIGQUIT, SIGUSR1, SIGUSR2};

/* 1 if sig is forwarded to CMD; see cli.h. */
int cli_events_is_forwarded(int sig)
{
    for (size_t i = 0;
         i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
        if (forwarded_signals[i] == sig)
            return 1;
    return 0;
}

/* Post an event; see cli.h. Only write(): async-signal-safe. */
void cli_events_post(int kind, int arg, uint64_t value)
{
    cli_event ev;
    ssize_t n;

    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.arg = arg;
    ev.value = value;
    n = write(ev_pipe[1], &ev, sizeof(ev));
    (void)n; /* full pipe: thousands of events unread; nothing to do */
}

/* The handler for every caught signal: post it, keeping errno intact for
 * the code it interrupted. */
static void on_signal(int sig)
{
    int saved = errno;

    cli_events_post(CLI_EV_SIGNAL, sig, 0);
    errno = saved;
}

/* Create the pipe and install the handlers; see cli.h. */
int cli_events_init(void)
{
    struct sigaction sa;

    if (pipe2(ev_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask); /* one handler at a time */
    if (sigaction(SIGCHLD, &sa, NULL) != 0)
        return -1;
    for (size_t i = 0;
         i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
        if (sigaction(forwarded_signals[i], &sa, NULL) != 0)
            return -1;
    return 0;
}

/* The read end; see cli.h. */
int cli_events_fd(void)
{
    return ev_pipe[0];
}

/* Read one event without blocking; see cli.h. */
int cli_events_next(cli_event *ev)
{
    for (;;) {
        ssize_t n = read(ev_pipe[0], ev, sizeof(*ev));

        if (n == (ssize_t)sizeof(*ev))
            return 1;
        if (n < 0 && errno == EINTR)
            continue;
        /* EAGAIN: nothing there. A short read cannot happen: every write
         * is one whole record. */
        return 0;
    }
}
