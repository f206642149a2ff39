/*
 * clock.c: the library's clocks.
 *
 * Validity and deadlines use CLOCK_BOOTTIME: it is monotonic (never jumps
 * with wall-clock changes) and keeps counting while the machine is
 * suspended, as Redis keeps expiring keys then. Condition variables can only
 * wait on CLOCK_MONOTONIC, so waits convert a BOOTTIME deadline into a
 * relative timeout and then into a MONOTONIC absolute time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "clock.h"

/* Read a clock in microseconds. */
static uint64_t read_clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The default clock: CLOCK_BOOTTIME in microseconds. */
static uint64_t boottime_now_us(void)
{
#ifdef CLOCK_BOOTTIME
    return read_clock_us(CLOCK_BOOTTIME);
#else
    return read_clock_us(CLOCK_MONOTONIC);
#endif
}

redlock__clock_fn redlock__clock_now_us = boottime_now_us;

/* Public: the library's clock. */
uint64_t redlock_clock_us(void)
{
    return redlock__clock_now_us();
}

/* CLOCK_MONOTONIC in microseconds. */
uint64_t redlock__mono_now_us(void)
{
    return read_clock_us(CLOCK_MONOTONIC);
}

/* Make cond wait on CLOCK_MONOTONIC. */
int redlock__cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

/* Wait for at most timeout_us on cond with mu held. */
int redlock__cond_wait_us(pthread_cond_t *cond, pthread_mutex_t *mu,
                          uint64_t timeout_us)
{
    /* Saturate: callers re-check their own condition and time in a loop,
     * so a wait of at most a day is as good as a longer one. */
    if (timeout_us > 86400000000u)
        timeout_us = 86400000000u;
    uint64_t until = redlock__mono_now_us() + timeout_us;
    struct timespec ts;
    ts.tv_sec = (time_t)(until / 1000000u);
    ts.tv_nsec = (long)(until % 1000000u) * 1000;
    return pthread_cond_timedwait(cond, mu, &ts);
}

/* Sleep for us microseconds, resuming after signal interruptions. */
void redlock__sleep_us(uint64_t us)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(us / 1000000u);
    ts.tv_nsec = (long)(us % 1000000u) * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Start a thread with every signal blocked; see clock.h. */
int redlock__thread_start(pthread_t *t, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
