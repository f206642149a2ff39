/*
 * cluster.h: a Redis Cluster as one Redlock node (internal; tier:
 * transport).
 *
 * A cluster node has no connection of its own: it routes each slot (an
 * op's per-node request) to the node worker of the shard master serving
 * the key's hash slot (hashslot.h), and follows MOVED and ASK replies.
 * Only node.c includes it: to the op layer and the manager a cluster node
 * is a redlock__node like any other, and it counts as one vote.
 */
#ifndef REDLOCK_CLUSTER_H
#define REDLOCK_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node.h"
#include "op.h"
#include "uri.h"

typedef struct redlock__cluster redlock__cluster;

/* What a slot's keys say about where it goes (pure; table-tested). */
typedef enum redlock__key_route {
    REDLOCK__ROUTE_SLOT = 0,     /* every key is in hash slot *slot */
    REDLOCK__ROUTE_ANY = 1,      /* no key: any shard may answer */
    REDLOCK__ROUTE_CROSSSLOT = 2 /* keys in different slots: refused */
} redlock__key_route;

/* Where a command (argv style) goes on a cluster: EVAL and EVALSHA name
 * their keys after numkeys; SET, GET, DEL, PTTL, PEXPIRE, EXISTS, INCR
 * and UNLINK take one key, argv[1]. Any other command is keyless. Pure. */
redlock__key_route redlock__cluster_route_of(int argc,
                                             const char *const *argv,
                                             const size_t *lens,
                                             unsigned *slot);

/* The target of a MOVED or ASK error reply ("MOVED 3999 host:port"):
 * returns 1 for MOVED, 2 for ASK, 0 for any other reply text, and fills
 * *slot, host (NUL-terminated, at most hostlen - 1 bytes, brackets of an
 * IPv6 address removed; "" for ":port", which means the host that
 * replied) and *port. Pure. */
int redlock__cluster_parse_redirect(const char *text, size_t len,
                                    unsigned *slot, char *host,
                                    size_t hostlen, int *port);

/* Make the router of the cluster node self (node index idx) for u (a
 * REDLOCK__URI_CLUSTER; the router takes over its strings, u is zeroed).
 * env is the manager's; shard workers get a copy whose hooks pass through
 * the router. NULL when out of memory. */
redlock__cluster *redlock__cluster_new(const redlock__node_env *env,
                                       size_t idx, redlock__uri *u,
                                       redlock__node *self);

/* Start one shard worker per seed and ask the first for the slot map.
 * Returns 0 or an errno. */
int redlock__cluster_start(redlock__cluster *cl);

/* Route s to its shard (any thread; never blocks on I/O). A slot whose
 * keys are in different slots fails at once with REDLOCK_ECROSSSLOT. */
void redlock__cluster_submit(redlock__cluster *cl, redlock__slot *s);

/* The fast path (node.h, redlock__node_try_send): write s on the calling
 * thread to its key's shard if that shard is idle; *via is the shard. */
bool redlock__cluster_try_send(redlock__cluster *cl, redlock__slot *s,
                               int *fd, uint64_t *gen, redlock__node **via);

/* A shard's worker (or a caller reading it) got an error reply r for s,
 * already taken off that shard's in-flight list. MOVED: the map learns
 * the slot's master and s goes there (a map refresh is asked for); ASK: s
 * goes to the target once, after ASKING, and the map is unchanged.
 * from_host is the replying shard's host (for "MOVED 3999 :6380").
 * Returns true if s was handed on (the caller then only counts it out of
 * its load), false to let the caller interpret the reply as usual (any
 * other error; or too many redirects). */
bool redlock__cluster_redirect(redlock__cluster *cl, redlock__slot *s,
                               const char *text, size_t len,
                               const char *from_host);

/* Stop every shard worker (releases are flushed until the deadline) and
 * free the router. */
void redlock__cluster_stop(redlock__cluster *cl, uint64_t deadline_us);
void redlock__cluster_free(redlock__cluster *cl);

/* Tell every shard it is (of >= 0) or is no longer a duplicate. */
void redlock__cluster_set_dup(redlock__cluster *cl, int of);

/* The longest restart guard left among the shards at now (0: none). */
uint64_t redlock__cluster_guard_left_us(redlock__cluster *cl, uint64_t now);

/* A shard's connection failed (its worker, under its io_mu, or a caller
 * reading it inline): ask for the map again soon, on the next submit. */
void redlock__cluster_shard_failed(redlock__cluster *cl);

/* The restart guard left at now of the shard that serves key's slot (the
 * longest of any shard while that slot's master is not known yet). */
uint64_t redlock__cluster_guard_left_key_us(redlock__cluster *cl,
                                            const char *key, size_t len,
                                            uint64_t now);

/* Commands written by the shards' callers and workers, summed. */
void redlock__cluster_write_counts(redlock__cluster *cl, uint64_t *inl,
                                   uint64_t *worker);

/* Shards known now (for tests and diagnostics). */
size_t redlock__cluster_shards(redlock__cluster *cl);

#endif /* REDLOCK_CLUSTER_H */
