/*
 * limit_inline.h: L1q, the inline quorum fan-out limit (limit_inline.c).
 *
 * DESIGN
 * A header of its own so that nodes.c, which measures every limit of a
 * node set, calls it without seeing its sockets; it takes the bench_link
 * of bconn.h so L1q connects, authenticates and verifies TLS exactly as
 * L1 and L2 do.
 */
#ifndef REDLOCK_BENCH_LIMIT_INLINE_H
#define REDLOCK_BENCH_LIMIT_INLINE_H

#include "bconn.h"
#include "bench.h"

/* Measure L1q on nd into l (have_inline, inline_us_p50, inline_us_p99,
 * inline_cpu_us, inline_iters): 200 warm-up and 2000 measured iterations
 * of SET NX PX to all nodes until a quorum said OK (timed), then the
 * other replies and a DEL to all (untimed). Keys are
 * "<prefix><run_id>:l1q:<i>". Returns 0, or -1 (have_inline 0) with a
 * message on stderr. */
int bench_measure_inline(const bench_nodes *nd, const bench_link *lk,
                         const char *prefix, const char *run_id,
                         bench_limits *l);

#endif /* REDLOCK_BENCH_LIMIT_INLINE_H */
