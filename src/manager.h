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
struct redlock__wakes;
struct redlock__async;

struct redlock_manager {
    uint32_t magic;
    atomic_int refs;         /* creator + live locks + calls in progress */
    atomic_bool closing;     /* set by destroy (release); read anywhere */
    size_t n;
    size_t quorum;
    bool has_cluster;          /* a node is a Redis Cluster: multi-key
                                  locks need one hash slot (lock.c) */
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
    struct redlock__wakes *wakes; /* pub/sub waiters' registry (wake.c) */
    struct redlock__async *async; /* the non-blocking calls' engine
                                  (async.c) */
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

/* Microseconds left at now of the restart guard (0: not guarded) of the
 * server of node i that holds key (on a cluster node, key's shard), for
 * redlock_inspect(): the algorithms reach node state only through the
 * manager, never through node.h. Any thread. */
uint64_t redlock__manager_guard_left_key_us(struct redlock_manager *m,
                                            size_t i, const char *key,
                                            size_t len, uint64_t now);

/* ------------------------------------------------------------------------
 * Pub/sub wake-ups for waiters (wake.c; docs/design.md, "How waiters are
 * woken"). A waiter registers its keys; the manager asks every node's
 * subscriber connection for their wake channels and counts the messages
 * that arrive. A message carries no token: it only makes the waiter try
 * again at once, and the acquire itself decides.
 * ------------------------------------------------------------------------ */

/* A waiter's registration: one per acquire call, on its stack. Zero it
 * before use; registered says whether it holds anything. */
typedef struct redlock__waiter {
    struct redlock__wake_entry *e[REDLOCK_MULTI_MAX];
    size_t count;
    struct redlock__wake_entry *trying; /* the key whose grant woke this
                                           waiter's current attempt */
    bool registered;
    bool preconfirmed; /* every key's subscription was confirmed when it
                          registered (other waiters had it already) */
} redlock__waiter;

/* How a wait between attempts ended. */
typedef enum redlock__wake_how {
    REDLOCK__WAKE_MESSAGE = 0, /* a release announced one of the keys */
    REDLOCK__WAKE_TIMER = 1,   /* until_us came */
    REDLOCK__WAKE_CLOSED = 2   /* destroy began */
} redlock__wake_how;

/* Register w for keys (with the manager's prefix) and ask every node to
 * subscribe to their channels (the first waiter of a key does). False,
 * and w left unregistered, when no node can take them (each node's cap,
 * or out of memory): the caller then uses timed retries only. Any
 * thread. */
bool redlock__wake_register(struct redlock_manager *m,
                            char *const *keys, const size_t *lens,
                            size_t count, redlock__waiter *w);

/* Undo redlock__wake_register() (nothing if w is not registered); the
 * last waiter of a key makes every node unsubscribe. */
void redlock__wake_unregister(struct redlock_manager *m, redlock__waiter *w);

/* Wait until every key of w has a subscription confirmed by at least one
 * node, until_us, or destroy. True only if confirmed. */
bool redlock__wake_await_confirmed(struct redlock_manager *m,
                                   redlock__waiter *w, uint64_t until_us);

/* How many messages w's keys have had (a sum that only grows): two
 * equal reads mean no release was announced in between. */
uint64_t redlock__wake_seq(struct redlock_manager *m,
                           const redlock__waiter *w);

/* Wait for a grant on one of w's keys (an announced release not yet
 * taken by another waiter: one waiter per release tries; a grant that
 * came during the last attempt is still there), until_us, or destroy,
 * whichever comes first. */
redlock__wake_how redlock__wake_wait(struct redlock_manager *m,
                                     redlock__waiter *w, uint64_t until_us);

/* Test hook: the manager's pub/sub counters so far. */
typedef struct redlock__wake_stats {
    uint64_t by_message;       /* waits ended by a message */
    uint64_t by_timer;         /* waits ended by their timer */
    uint64_t confirmed;        /* registrations confirmed in time */
    uint64_t confirm_timeouts; /* registrations not confirmed in time */
    uint64_t waits;            /* waits begun (redlock__wake_wait) */
    uint64_t entries;          /* keys with waiters now */
} redlock__wake_stats;
void redlock__wake_get_stats(struct redlock_manager *m,
                             redlock__wake_stats *out);

/* Assembly (manager.c): build / free the registry, wake its waiters on
 * destroy, and take a node's subscriber event (node env's sub_event). */
struct redlock__wakes *redlock__wakes_new(void);
void redlock__wakes_free(struct redlock__wakes *w);
void redlock__wakes_close(struct redlock__wakes *w);
void redlock__wakes_event(struct redlock_manager *m, size_t idx, int ev,
                          const char *key, size_t len);

/* False when m has a cluster node and the election name's two keys
 * ("election:<name>" and its ":fence") fall in different hash slots: the
 * caller then refuses with REDLOCK_ECROSSSLOT (inspect.c). */
bool redlock__election_keys_ok(const redlock_manager *m, const char *name,
                               size_t name_len);

#endif /* REDLOCK_MANAGER_H */
