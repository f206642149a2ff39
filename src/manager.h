/*
 * manager.h: the manager's private struct and what the tiers may use of
 * it (internal; the assembly: manager.c builds the nodes, leases and TLS
 * settings and ties them together).
 *
 * Offers struct redlock_manager (its options copy, node count and
 * quorum, key prefix, closing flag), references, destroy-aware sleeps,
 * and the hooks the node workers reach through redlock__node_env.
 */
#ifndef REDLOCK_MANAGER_H
#define REDLOCK_MANAGER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redlock.h"

struct redlock__node;
struct redlock__leases;
struct redlock__tls;

struct redlock_manager {
    uint32_t magic;
    atomic_int refs;         /* creator + live locks + calls in progress */
    atomic_bool closing;     /* set by destroy (release); read anywhere */
    size_t n;
    size_t quorum;
    struct redlock__node **nodes;
    redlock_options opts;    /* copy; key_prefix points at prefix below */
    char *prefix;
    size_t prefix_len;
    char *owner;             /* copy of opts.owner (NULL if none; then
                                opts.owner is NULL too) */
    struct redlock__leases *leases; /* lease thread and its heap */
    pthread_mutex_t close_mu;  /* with close_cv: wakes sleepers on destroy */
    pthread_cond_t close_cv;
    pthread_mutex_t dup_mu;    /* guards run_ids and dup_of */
    char (*run_ids)[41];       /* per node: its server's run_id, "" if not
                                  known (yet) */
    int *dup_of;               /* per node: -1, or the voting node it is
                                  the same server as (redlock__dup_update) */
    /* The restart guard's AUTO mode (redlock__manager_note_ttl()): the
     * largest TTL this manager has sent. Written by any thread before it
     * queues a command carrying a TTL; read by the workers. */
    _Atomic uint32_t max_ttl_sent_ms;
    struct redlock__wakers *wakers; /* eventfds of threads waiting on
                                  inline I/O (op.h); closed after the
                                  nodes are freed */
    struct redlock__tls *tls;  /* TLS settings (conn.h), built at create
                                  when a node is rediss:// or a TLS file
                                  is given; NULL otherwise. Read-only;
                                  freed after the nodes. */
};

/* Take / drop a reference on the manager (memory is freed at zero). */
void redlock__manager_ref(struct redlock_manager *m);
void redlock__manager_unref(struct redlock_manager *m);

/* Sleep for us microseconds, or until redlock_manager_destroy() begins.
 * Returns false if it was cut short by destroy (or m was closing already). */
bool redlock__manager_sleep_us(struct redlock_manager *m, uint64_t us);

/* Node idx's handshake read run_id ("" if it could not): record it and
 * decide duplicates (redlock__dup_update()); every node whose decision
 * changed is told through redlock__node_set_dup(). Returns the voting
 * node idx is the same server as, or -1. Takes dup_mu. */
int redlock__manager_set_run_id(struct redlock_manager *m, size_t idx,
                                const char *run_id);

/* Record that a command carrying ttl_ms (SET PX, PEXPIRE, restore) is
 * about to be queued: raises the largest TTL sent, the guard time of the
 * restart guard's AUTO mode. Any thread; call before queuing. */
void redlock__manager_note_ttl(struct redlock_manager *m, uint32_t ttl_ms);

/* Until when (exclusive, redlock__clock_now_us()) a node that restarted
 * at restart_us is guarded under m's restart_guard_ms as it stands now
 * (redlock__guard_until_us()); 0 if not guarded. first_write_us: when
 * this manager first wrote a command carrying a TTL to that node
 * (UINT64_MAX: never). *guard_ms (may be NULL) gets the guard time in
 * force. Any thread. */
uint64_t redlock__manager_guard_until_us(struct redlock_manager *m,
                                         uint64_t restart_us,
                                         uint64_t first_write_us,
                                         uint32_t *guard_ms);

/* True when called on one of m's internal threads: a worker, the lease
 * thread or an election thread (that is, inside a redlock callback). */
bool redlock__on_worker_of(const struct redlock_manager *m);

/* Mark the calling thread as one of m's internal threads. */
void redlock__mark_callback_thread(const struct redlock_manager *m);

/* Microseconds left at now of node i's restart guard (0: not guarded),
 * for redlock_inspect(): the algorithms reach node state only through
 * the manager, never through node.h. Any thread. */
uint64_t redlock__manager_guard_left_us(struct redlock_manager *m, size_t i,
                                        uint64_t now);

#endif /* REDLOCK_MANAGER_H */
