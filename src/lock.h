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
#include "options.h"

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
    atomic_bool async_busy;    /* a non-blocking extend or release of it
                                  is pending (async.c) */
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

/* ------------------------------------------------------------------------
 * The operations in steps: post, then (once the op is decided or its
 * wait is over) finish. The blocking calls wait for each step on their
 * own thread (post with on_done NULL: the caller may do the I/O itself);
 * the non-blocking ones (async.c) post with an on_done hook that wakes
 * their engine, which finishes the step on its thread. One rule, one
 * place: both paths run the same post and finish code.
 * ------------------------------------------------------------------------ */

/* One posted fan-out of a lock operation. */
typedef struct redlock__step {
    redlock__op *op;      /* the posted op (this step's reference) */
    uint64_t t0;          /* taken before posting */
    uint64_t limit_us;    /* wait for the outcome until then */
    uint32_t ttl_ms;      /* acquire and extend: the TTL sent */
    uint32_t floor_ms;    /* extend: the TTL its validity counts on */
} redlock__step;

/* The undo of a failed attempt: its release, and what a blocking caller
 * waits for (lock.c, undo_post()). */
typedef struct redlock__undo {
    redlock__op *op;      /* NULL: nothing to undo (or out of memory) */
    bool granted[REDLOCK_NODES_MAX];
    bool maybe[REDLOCK_NODES_MAX];
    bool any_granted;
    uint64_t grace_end_us, granted_end_us;
} redlock__undo;

/* Acquire: check the arguments (as redlock_acquire_ex() and
 * redlock_acquire_multi() do), resolve the retry policy into *p (info:
 * the library's copy of the caller's info struct, or NULL; the owner is
 * copied into the lock, so p keeps no pointer to the caller's memory) and
 * make the lock, which holds a manager reference. Nothing is sent. */
redlock_status redlock__acquire_begin(struct redlock_manager *m,
                                      const void *const *res,
                                      const size_t *lens, size_t count,
                                      uint32_t ttl_ms,
                                      const redlock_acquire_opts *opts,
                                      bool single_attempt,
                                      redlock_acquire_info *info,
                                      redlock__policy *p,
                                      struct redlock_lock **out);

/* Free the lock of an acquire that failed, and its manager reference. */
void redlock__acquire_abort(struct redlock_lock *lock);

/* Start the next retry slot at now (its end in *slot_end, after the
 * delay plus jitter): false when p's retry_count is used up. */
bool redlock__acquire_next_slot(const redlock__policy *p, uint32_t *slots,
                                uint64_t now, uint64_t *slot_end);

/* Drop an undo without waiting (its release still reaches every node). */
void redlock__undo_drop(redlock__undo *u);

/* Acquire: post one attempt with a fresh token (REDLOCK_ENOMEM: nothing
 * posted). on_done(arg) runs once the outcome is certain (op.h). */
redlock_status redlock__attempt_post(struct redlock_lock *lock,
                                     uint32_t ttl_ms, uint64_t user_deadline,
                                     void (*on_done)(void *), void *arg,
                                     redlock__step *step);

/* Decide a posted attempt (v: its verdict, certain or at the end of the
 * wait). OK fills the lock's validity; otherwise the undo is posted into
 * *undo and the failure status returned. info may be NULL. */
redlock_status redlock__attempt_finish(struct redlock_lock *lock,
                                       redlock__step *step,
                                       redlock__verdict v,
                                       uint64_t user_deadline,
                                       redlock_acquire_info *info,
                                       redlock__undo *undo);

/* Give up a posted attempt (cancelled): undo whatever it may have set, as
 * after a failed attempt, without waiting. */
void redlock__attempt_cancel(struct redlock_lock *lock, redlock__step *step);

/* Extend: check the handle and TTL; post; decide (as redlock_extend()). */
redlock_status redlock__extend_check(struct redlock_lock *lock,
                                     uint32_t ttl_ms);
redlock_status redlock__extend_post(struct redlock_lock *lock,
                                    uint32_t ttl_ms, void (*on_done)(void *),
                                    void *arg, redlock__step *step);
redlock_status redlock__extend_finish(struct redlock_lock *lock,
                                      redlock__step *step,
                                      redlock__verdict v);

/* Check a lock handle before any operation on it: EINVAL (NULL),
 * EMISUSE (not a live lock, or a non-blocking operation drives it),
 * ERELEASED. */
redlock_status redlock__lock_check(const struct redlock_lock *lock);

/* Release: mark a checked lock released and post (ECLOSED with nothing
 * posted when the manager is closing); decide. */
redlock_status redlock__release_post(struct redlock_lock *lock,
                                     void (*on_done)(void *), void *arg,
                                     redlock__step *step);
redlock_status redlock__release_finish(struct redlock_lock *lock,
                                       redlock__step *step,
                                       redlock__verdict v);

#endif /* REDLOCK_LOCK_H */
