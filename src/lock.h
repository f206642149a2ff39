/*
 * lock.h: the private struct of a lock and what the lease layer uses
 * of it (internal; tier: algorithms, over the op API only).
 *
 * Offers struct redlock_lock, building an extend op, recording an
 * extension made by the lease thread, and restoring keys a node lost.
 */
#ifndef REDLOCK_LOCK_H
#define REDLOCK_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redlock.h"
#include "op.h"

struct redlock_manager;

struct redlock_lock {
    uint32_t magic;
    struct redlock_manager *m; /* referenced */
    size_t count;              /* resources */
    char **keys;               /* prefix + resource, count of them; in
                                  the lock's own block, with key_lens */
    size_t *key_lens;
    char token[REDLOCK_TOKEN_LEN + 1];
    char owner[REDLOCK_OWNER_MAX + 1]; /* owner label; "" if none */
    uint32_t ttl_ms;           /* of the last acquire/extend */
    uint32_t max_ttl_ms;       /* largest TTL ever sent for these keys */
    uint32_t ext_floor_ms;     /* smallest TTL any extension sent (0: no
                                  extension yet); see
                                  redlock__extend_floor_ms() */
    _Atomic uint64_t validity_end_us; /* read by any thread */
    _Atomic size_t nodes_granted; /* read by any thread */
    bool released;
    /* Where a release must go: nodes the winning acquire's SET was
     * written to (NULL: every node, e.g. an adopted lock), plus nodes a
     * restore was sent to. Used by the thread driving the lock (the
     * owner, or the lease thread while a lease runs). */
    redlock__wires *acquired_wires;
    uint64_t restored_nodes;   /* bit i: node i */
    /* The last winning extension's per-node facts, and which of its
     * "key gone" answers were already restored. */
    redlock__wires *last_extend;
    uint64_t last_extend_restored;
};

/* An extend op for lock (not submitted); NULL on OOM. Records ttl_ms as
 * possibly applied (the largest and the smallest TTL sent), and stores in
 * *floor_ms the TTL its validity must be computed from
 * (redlock__extend_floor_ms()). */
redlock__op *redlock__extend_op_new(struct redlock_lock *lock,
                                    uint32_t ttl_ms, uint32_t *floor_ms);

/* After ext (an extension of lock with ttl_ms) won a quorum: re-create the
 * keys, with our token, on the nodes that answered that a key was gone
 * (this extension's answers so far, and the previous extension's answers
 * that came after it was decided), if the manager's restore_on_extend is
 * set. Fire-and-forget; the restore is queued before the call returns, so
 * a later release follows it on every node. Takes no lock but the nodes'
 * queues. */
void redlock__lock_restore_missing(struct redlock_lock *lock,
                                   redlock__op *ext, uint32_t ttl_ms,
                                   uint64_t validity_end_us);

/* Store the result of a successful extension made by the lease thread. */
void redlock__lock_extended(struct redlock_lock *lock, uint32_t ttl_ms,
                            uint64_t validity_end_us, size_t yes);

#endif /* REDLOCK_LOCK_H */
