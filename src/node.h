/*
 * node.h: node workers (internal; tier: transport).
 *
 * One worker thread per node owns that node's connection (conn.h), its
 * request queue and its in-flight slots. Offers creating, starting,
 * stopping and freeing a worker, and queueing a slot at it. Only the op
 * layer (op.c) and the manager (which assembles the workers) include it;
 * algorithms never do.
 */
#ifndef REDLOCK_NODE_H
#define REDLOCK_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "op.h"
#include "uri.h"

struct redlock_manager;
struct redlock__tls;

typedef struct redlock__node redlock__node;

/* What a worker needs from the manager that assembles it, given at
 * creation so that node.c never calls up into manager.c by name (the
 * tiers of docs/design.md). Every pointer outlives the node; the hooks
 * are called on the worker's thread (guard_until_us also on any thread
 * that calls redlock__node_guard_left_us()); they must not block, and
 * take no lock but the manager's dup_mu (a leaf of the LOCK ORDER). */
typedef struct redlock__node_env {
    const redlock_options *opts;  /* the manager's copy; read-only */
    struct redlock__tls *tls;     /* conn.h; NULL without TLS */
    struct redlock_manager *log_to; /* opaque: only passed to
                                       redlock__log() and
                                       redlock__log_node_event() */
    void *ctx;                    /* first argument of every hook */
    /* Called first thing on the worker's thread (marks it as one of the
     * manager's internal threads). */
    void (*thread_start)(void *ctx);
    /* The handshake of node idx read run_id ("" if it could not): record
     * it, decide duplicates; returns the voting node idx is the same
     * server as, or -1 (the duplicate-server rule). */
    int (*set_run_id)(void *ctx, size_t idx, const char *run_id);
    /* Until when a node that restarted at restart_us is guarded (the
     * restart guard in force now); 0 if not. *guard_ms may be NULL. */
    uint64_t (*guard_until_us)(void *ctx, uint64_t restart_us,
                               uint64_t first_write_us, uint32_t *guard_ms);
    /* Node idx's redacted address, and the run_id last recorded for it
     * (for the duplicate report). */
    const char *(*node_name)(void *ctx, size_t idx);
    void (*run_id_of)(void *ctx, size_t idx, char out[41]);
    /* Eventfds for threads waiting on inline I/O (op.h); shared by the
     * manager's nodes, outlives them. */
    struct redlock__wakers *wakers;
    /* Pub/sub wake-ups (subscribe.h): node idx's subscriber connection
     * saw a message on key's wake channel, confirmed key's subscription,
     * or closed (ev REDLOCK__SUB_RESET, key NULL). A
     * redlock__sub_event as an int, so node.h stays free of
     * subscribe.h. May take the manager's wake registry lock (a leaf of
     * the LOCK ORDER). */
    void (*sub_event)(void *ctx, size_t idx, int ev, const char *key,
                      size_t len);
} redlock__node_env;

/* Create the worker for node index idx (does not start its thread).
 * Returns NULL on OOM or when no eventfd could be made. Takes ownership of
 * *uri's strings (uri is zeroed). env is copied. */
redlock__node *redlock__node_new(const redlock__node_env *env, size_t idx,
                                 redlock__uri *uri);

/* A member worker of a cluster or sentinel node parent (cluster.c,
 * sentinel.c): a shard master, a Sentinel-managed master, or a sentinel.
 * Its events are reported under parent's name, prefixed with role
 * (static) and its own address; its run_id is not a voting node's; it
 * never subscribes. A shard's MOVED and ASK replies go back to parent's
 * router. A newcomer (a master first met after a failover could have
 * happened: a promoted replica) starts its restart guard at its first
 * handshake whatever its uptime; first_write_us is when parent first
 * carried a TTL (UINT64_MAX: never), for the AUTO guard. */
redlock__node *redlock__node_new_member(const redlock__node_env *env,
                                        size_t idx, redlock__uri *uri,
                                        redlock__node *parent,
                                        const char *role, bool newcomer,
                                        uint64_t first_write_us);

/* Start nd's restart guard now, as if it had restarted (any thread): a
 * cluster member that serves slots for the first time after the map was
 * known (a replica given as a seed, promoted by a failover). first_write_us
 * (UINT64_MAX: none) stands for nd's first TTL write if it has none, for
 * the AUTO guard. */
void redlock__node_guard_from_now(redlock__node *nd, uint64_t now,
                                  uint64_t first_write_us);

/* When a command carrying a TTL was first written to nd (UINT64_MAX:
 * never). Any thread. */
uint64_t redlock__node_first_write_us(const redlock__node *nd);

/* Start the worker thread. Returns 0 or an errno. */
int redlock__node_start(redlock__node *node);

/* Queue slot s at the node and wake its worker; fails the slot at once
 * when the node's queue is full (non-release) or the node is stopped. */
void redlock__node_submit(redlock__node *node, redlock__slot *s);

/* Ask the worker to stop (failing queued non-release work with ECLOSED,
 * flushing releases until shutdown_deadline_us) and join it. */
void redlock__node_stop(redlock__node *node, uint64_t shutdown_deadline_us);

/* Free a stopped node. */
void redlock__node_free(redlock__node *node);

/* The node's address without credentials; owned by the node. */
const char *redlock__node_name(const redlock__node *node);

/* Microseconds left of node's restart guard at now (0: not guarded):
 * acquires and extends are not sent to it meanwhile. Any thread. */
uint64_t redlock__node_guard_left_us(redlock__node *node, uint64_t now);

/* The same for the server that holds key: on a cluster node, the guard of
 * key's shard, not the longest of all shards; otherwise as above. */
uint64_t redlock__node_guard_left_key_us(redlock__node *node, const char *key,
                                         size_t len, uint64_t now);

/* Want (on) or no longer want key's wake channel on node's subscriber
 * connection (subscribe.h, redlock__sub_want()). Any thread; never
 * blocks. Returns a redlock__sub_state: 0 refused, 1 pending (a
 * confirmation will reach env.sub_event), 2 already confirmed. */
int redlock__node_sub_want(redlock__node *node, const char *key,
                           size_t len, bool on);

/* Tell node that it is the same server as voting node `of` (-1: it votes).
 * Any thread: an atomic store; its worker refuses non-release work at
 * once while it is set, and reports the change on its next pass. */
void redlock__node_set_dup(redlock__node *node, int of);

/* The fast path (docs/design.md, "Inline I/O"): a calling thread that
 * will wait for its op writes to an idle node itself and reads the
 * replies while it waits, so an uncontended operation crosses no thread.
 * "Idle": connected and ready, nothing queued, parked, in flight or
 * unwritten, not stopping, and no other thread doing I/O on it right now.
 *
 * redlock__node_try_send: if nd is idle, route s on the calling thread
 * (written, or answered at once when the node refuses it: a duplicate, a
 * restart guard, a cancelled or expired slot) and return true with the
 * connection's fd and generation, to poll and to hand to
 * redlock__node_read(), and *via, the node whose connection that is: nd,
 * or for a cluster node the shard master of s's key (cluster.c), which
 * the caller then reads and leaves instead. Otherwise false: submit s
 * with redlock__node_submit(). Never blocks (a trylock).
 *
 * redlock__node_read: read every reply that has arrived on nd and answer
 * the slots they belong to (any op's: replies are matched in order).
 * Takes the node's I/O lock, held only for non-blocking I/O. Returns
 * false, having done nothing, if the connection of generation gen has
 * closed meanwhile (the worker then answers the slots: stop polling its
 * fd, whose number may already be reused).
 *
 * redlock__node_leave: the caller stops reading nd (its op is decided or
 * its wait is over). Commands still in flight there are handed to the
 * worker, which is woken if its poll was not already watching for
 * replies: one hand-off, only for stragglers. */
bool redlock__node_try_send(redlock__node *nd, redlock__slot *s, int *fd,
                            uint64_t *gen, redlock__node **via);
bool redlock__node_read(redlock__node *nd, uint64_t gen);
void redlock__node_leave(redlock__node *nd);

/* How many commands (handshakes aside) were written to nd by calling
 * threads (the fast path) and by its worker. Any thread; for tests and
 * diagnostics. */
void redlock__node_write_counts(const redlock__node *nd, uint64_t *inl,
                                uint64_t *worker);

/* The manager's pool of waiter eventfds (op.h), for the op layer. */
struct redlock__wakers *redlock__node_wakers(const redlock__node *nd);

#endif /* REDLOCK_NODE_H */
