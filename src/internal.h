/*
 * internal.h: what every tier of src/ shares: the lock ranks, the magic
 * numbers and logging (internal).
 *
 * Nothing here is public API. Names that cross files start with redlock__.
 * Everything else has a header of its own, in three tiers (docs/design.md,
 * "Tiers"):
 *   pure leaves  quorum.h classify.h value.h clock.h token.h scripts.h
 *                answer.h reply.h uri.h heap.h options.h
 *   transport    conn.h node.h op.h subscribe.h (only these see slots,
 *                wire states and sockets)
 *   algorithms   lock.h lease.h (lock.c lease.c fence.c election.c
 *                inspect.c use only op.h to reach nodes)
 * manager.h/manager.c (and wake.c, the waiters' registry) assemble them.
 *
 * LOCK ORDER: the one list of the library's mutexes, in the order they
 * may be taken (a thread holding one may take only those below it; none
 * is ever held while user code runs: callbacks, log_fn, node_error_fn).
 * docs/design.md section 15 and the DESIGN comments point here.
 *   1. redlock__leases.mu (ls->mu, lease.c): the lease heap, the in-flight
 *      list, the callback queue, every lease's scheduling fields.
 *   2. redlock__node.io_mu (node.c): a node's connection and in-flight
 *      lists. Held by the node's worker for each pass (never across its
 *      poll), and by a calling thread only for non-blocking I/O on an
 *      idle node (the fast path: trylock to write, lock to read replies).
 *      Never taken under ls->mu (the lease thread's ops take the
 *      workers' path), never with another node's io_mu.
 *   2a. redlock__cluster.mu (cluster.c) and redlock__sentinel.mu
 *      (sentinel.c): a cluster node's slot map and shard list, a sentinel
 *      node's masters and asking state. Taken by submitting threads
 *      holding nothing else, and by a member's worker (or a caller reading
 *      it inline) under its io_mu (a MOVED or ASK redirect, READONLY, a
 *      shard's connection failing, the on_done of a CLUSTER SLOTS,
 *      SENTINEL or ROLE question). Under it a thread makes and starts
 *      member workers and may take an op's mu (4) to read that question's
 *      reply; it queues slots at members (3) only after dropping it.
 *   3. redlock__node.queue_mu (node.c): a node's request queue. Taken
 *      under io_mu (the worker splices the queue; a caller checks it is
 *      empty; anyone waking the worker), and under ls->mu only when the
 *      lease thread posts a restore.
 *   4. redlock__op.mu (op.c): one fan-out operation's tallies. Taken under
 *      io_mu when a reply answers a slot, and under ls->mu when the lease
 *      thread reads a renewal's tallies. While holding it, the answerer
 *      may write the waiter's eventfd (a syscall, no lock).
 *   3 and 4 are never held together (a worker completes slots after
 *   dropping its queue lock; a refused submission is completed after it
 *   too), and no thread holds two queue locks or two op locks at once.
 *   5. redlock__wakes.mu (wake.c): the manager's registry of waiters for
 *      pub/sub wake-ups. Taken by acquiring threads holding nothing else,
 *      and by a node worker in its sub_event hook, outside its io_mu
 *      (the worker services its subscriber after dropping io_mu).
 *   6. redlock__sub.mu (subscribe.c): one node's table of wake channels.
 *      Taken under 5 when a waiter registers or leaves (asking every
 *      node in turn: one at a time, never two nodes' at once), and alone
 *      by that node's worker, which drops it before calling its hook.
 *   5 and 6 are never held with 1, 2, 3 or 4.
 *   Leaves, never held while taking any other library mutex:
 *   - redlock_election.mu (election.c): a term's token, fence and flags,
 *     the change count, and the election's eventfd (made, written and
 *     drained under it: a syscall, no lock);
 *   - redlock_manager.dup_mu (manager.c): the nodes' run_ids and who
 *     duplicates whom (a worker takes it in its handshake);
 *   - redlock_manager.close_mu (manager.c): wakes retry sleeps on destroy;
 *   - redlock__tls.handshake_mu (conn.c): one TLS handshake step at a time
 *     per manager (OpenSSL 3.0's certificate store is not race-free);
 *   - redlock__wakers.mu (op.c): the pool of waiters' eventfds.
 *   - redlock__async.mu (async.c): the engine's incoming list and state
 *     (the engine takes op mutexes and queue mutexes only without it);
 *   - redlock_queue.mu (async.c): a completion queue's ready list and
 *     counts (taken by the engine delivering, and by dispatchers; never
 *     held while a callback runs).
 */
#ifndef REDLOCK_INTERNAL_H
#define REDLOCK_INTERNAL_H

#include "redlock.h"

/* Magic numbers checked on entry to catch bad or freed handles. */
#define REDLOCK__MANAGER_MAGIC 0x524c4d47u /* "RLMG" */
#define REDLOCK__LOCK_MAGIC 0x524c4c4bu    /* "RLLK" */
#define REDLOCK__DEAD_MAGIC 0xdeadbeefu

/* Logging (log.c). */

struct redlock_manager;

/* Format and pass a line to the manager's log callback if its level is
 * enabled. Never call with an internal lock held. */
void redlock__log(const struct redlock_manager *m, redlock_log_level level,
                  const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Report a node state change through the node-error callback and log
 * (log.c). */
void redlock__log_node_event(struct redlock_manager *m, const char *node,
                             redlock_status st, const char *message);

#endif /* REDLOCK_INTERNAL_H */
