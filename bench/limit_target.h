/*
 * limit_target.h: where the limit clients (nodes.c, limit_inline.c) of
 * each node connect, and the hash tag of their keys. See limit_target.c.
 */
#ifndef REDLOCK_BENCH_LIMIT_TARGET_H
#define REDLOCK_BENCH_LIMIT_TARGET_H

#include <stddef.h>

#include "bconn.h"

/* Fill nd->limit_uri[] and nd->limit_tag for the keys
 * "<prefix><run_id><tag>:l2:<n>" and "...:l1q:<i>", and count the cluster
 * and Sentinel nodes into l. Returns 0; 1 when the limits cannot be
 * measured for this node set (the reason in why: no tag served by every
 * cluster's seed, a seed that is not a master, no sentinel naming the
 * master); -1 when a node could not be reached (message on stderr). */
int bench_limit_targets(bench_nodes *nd, const bench_link *lk,
                        const char *prefix, const char *run_id,
                        bench_limits *l, char *why, size_t whylen);

#endif /* REDLOCK_BENCH_LIMIT_TARGET_H */
