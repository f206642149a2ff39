/*
 * classify.h: node failure classes and the duplicate-server rule
 * (internal; tier: pure leaf: no I/O, no clock, no locks).
 *
 * Offers the status of a failed connect, the reconnect delay rule and
 * the rule deciding which nodes are the same server.
 */
#ifndef REDLOCK_CLASSIFY_H
#define REDLOCK_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redlock.h"

/* The class of a failed connect: REDLOCK_EREFUSED for ECONNREFUSED,
 * REDLOCK_ETIMEDOUT for ETIMEDOUT, else REDLOCK_EIO. err is the errno seen
 * (0 if none); errstr (may be NULL) is hiredis's text for the failure,
 * which names the errno when hiredis did not keep it. */
redlock_status redlock__connect_error_status(int err, const char *errstr);

/* How long a node that just failed waits before it reconnects, in us.
 * backoff_ms is the jittered, doubling backoff (reconnect_min_ms ..
 * reconnect_max_ms). Work waiting bounds it: with a release waiting for
 * the node (releases_waiting), at most reconnect_min_ms; with work that
 * found the node down and could wait work_bound_us more (0: none), at
 * most a quarter of that, but never under reconnect_min_ms. So a node
 * that comes back is used again within a fraction of the TTLs in use,
 * not after a backoff sized for idle nodes. Pure. */
uint64_t redlock__reconnect_delay_us(uint32_t backoff_ms,
                                     uint32_t reconnect_min_ms,
                                     bool releases_waiting,
                                     uint64_t work_bound_us);

/* The duplicate-server rule. run_ids[i] is the run_id node i last
 * reported ("" if unknown); dup_of[i] is -1 if node i votes, else the
 * index of the voting node whose server it is. Call after node idx stored
 * its run_id (on every handshake): idx becomes a duplicate of a voting
 * node with the same run_id, if any (a duplicate that still matches its
 * voter stays one), else it votes; nodes that were duplicates of idx are
 * decided again when idx no longer votes or has another run_id now. A
 * node never stops voting because another node connected later. Pure. */
void redlock__dup_update(size_t n, const char (*run_ids)[41], int *dup_of,
                         size_t idx);

#endif /* REDLOCK_CLASSIFY_H */
