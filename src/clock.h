/*
 * clock.h: the library's clocks and timed waits (internal; tier: pure
 * leaf, no I/O beyond reading the clock).
 *
 * Offers redlock__clock_now_us (CLOCK_BOOTTIME, replaceable by unit
 * tests), the CLOCK_MONOTONIC time condition variables wait on, sleeps,
 * and redlock__thread_start(), the one way the library starts a thread
 * (with every signal blocked).
 */
#ifndef REDLOCK_CLOCK_H
#define REDLOCK_CLOCK_H

#include <pthread.h>
#include <stdint.h>

#include "redlock.h"

/* Microseconds on CLOCK_BOOTTIME. Replaceable by unit tests. */
typedef uint64_t (*redlock__clock_fn)(void);
extern redlock__clock_fn redlock__clock_now_us;

/* Microseconds on CLOCK_MONOTONIC: the clock pthread condition variables
 * wait on (they cannot wait on CLOCK_BOOTTIME). */
uint64_t redlock__mono_now_us(void);

/* Initialise cond to wait on CLOCK_MONOTONIC. Returns 0 or an errno. */
int redlock__cond_init(pthread_cond_t *cond);

/* Wait on cond (mu held) until signalled or timeout_us elapsed; returns
 * ETIMEDOUT when the time is up. */
int redlock__cond_wait_us(pthread_cond_t *cond, pthread_mutex_t *mu,
                          uint64_t timeout_us);

/* Sleep for us microseconds (restarting after signals). */
void redlock__sleep_us(uint64_t us);

/* pthread_create() with every signal blocked in the new thread (the
 * library's threads leave process signals to the application's): every
 * thread the library starts goes through here. attr may be NULL. Returns
 * 0 or an errno. */
int redlock__thread_start(pthread_t *t, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);

#endif /* REDLOCK_CLOCK_H */
