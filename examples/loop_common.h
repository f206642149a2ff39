/*
 * loop_common.h: the workload shared by the event-loop examples
 * (loop_epoll.c, loop_libuv.c, loop_libevent.c): one loop thread keeps
 * many non-blocking acquires in flight on contended resources, holds each
 * lock won for a moment, releases it, and checks that no two of its holds
 * of one resource overlapped. Each example only wires this into its loop:
 * the queue's fd (readable: ex_dispatch()), a periodic timer (ex_tick()),
 * and the time each loop iteration took (ex_iteration()).
 *
 * Usage of every example:
 *   PROGRAM [--ops N] [--resources R] [--hold-ms H] [--deadline-ms D] URI...
 * It prints "submitted N, in flight F" once every acquire is submitted,
 * and at the end one line:
 *   ops=N ok=N failed=0 overlaps=0 release_failed=0 max_in_flight=N
 *   max_iteration_us=U ticks=T
 * and exits 0 when every acquire was won and released with no overlap, 1
 * otherwise, 2 on a usage error.
 */
#ifndef REDLOCK_EXAMPLE_LOOP_COMMON_H
#define REDLOCK_EXAMPLE_LOOP_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redlock.h"

typedef struct ex_run ex_run;

/* Parse the arguments, create the manager and the queue (DISPATCH mode).
 * NULL after printing why (usage: *usage set). */
ex_run *ex_start(int argc, char **argv, bool *usage);

/* The completion queue's fd, to watch for reading. */
int ex_queue_fd(const ex_run *r);

/* Submit the acquires not yet submitted, at most `max` per call (so one
 * iteration stays short). */
void ex_submit_some(ex_run *r, size_t max);

/* Run the completions waiting (at most `max`). */
void ex_dispatch(ex_run *r, size_t max);

/* The periodic timer fired: release the holds whose time is up. */
void ex_tick(ex_run *r);

/* One loop iteration took `us` microseconds (from the loop's wake-up to
 * its next wait). */
void ex_iteration(ex_run *r, uint64_t us);

/* True once every acquire and release has completed. */
bool ex_done(const ex_run *r);

/* Print the result line, free everything; the exit status. */
int ex_finish(ex_run *r);

/* Microseconds on the library's clock. */
uint64_t ex_now_us(void);

#endif /* REDLOCK_EXAMPLE_LOOP_COMMON_H */
