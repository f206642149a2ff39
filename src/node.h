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

#endif /* REDLOCK_NODE_H */
