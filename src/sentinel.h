/*
 * sentinel.h: a Sentinel-managed master as one Redlock node (internal;
 * tier: transport).
 *
 * A sentinel node asks its sentinels which server is the master of its
 * name, routes every slot to that master's worker, and follows a
 * failover to a new master, which it treats as a restart (the restart
 * guard). Only node.c includes it: to the op layer and the manager it is
 * a redlock__node like any other, one vote.
 */
#ifndef REDLOCK_SENTINEL_H
#define REDLOCK_SENTINEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node.h"
#include "op.h"
#include "uri.h"

typedef struct redlock__sentinel redlock__sentinel;

/* Parse a SENTINEL get-master-addr-by-name reply: an array of two
 * strings, host and port. Fills host (NUL-terminated; false when it does
 * not fit in hostlen) and *port. Pure. */
bool redlock__sentinel_parse_addr(const void *reply, char *host,
                                  size_t hostlen, int *port);

/* Make the router of sentinel node self (index idx) for u (a
 * REDLOCK__URI_SENTINEL; takes over its strings, u is zeroed): one
 * member worker per sentinel. NULL when out of memory. */
redlock__sentinel *redlock__sentinel_new(const redlock__node_env *env,
                                         size_t idx, redlock__uri *u,
                                         redlock__node *self);

/* Start the sentinels' workers and ask for the master. 0 or an errno. */
int redlock__sentinel_start(redlock__sentinel *sn);

/* Route s to the current master's worker (any thread; never blocks on
 * I/O). Until the first answer of a sentinel, slots wait here (each
 * keeps its deadline); if no sentinel names a master they fail with the
 * reason. */
void redlock__sentinel_submit(redlock__sentinel *sn, redlock__slot *s);

/* The fast path (node.h, redlock__node_try_send): write s on the calling
 * thread to the current master if it is idle; *via is that master. False
 * before any master is known (s then waits in the router). */
bool redlock__sentinel_try_send(redlock__sentinel *sn, redlock__slot *s,
                                int *fd, uint64_t *gen, redlock__node **via);

/* The master's worker got error reply text for a slot: READONLY (it was
 * demoted) asks the sentinels again at once. Never takes the slot. */
void redlock__sentinel_on_error(redlock__sentinel *sn, const char *text,
                                size_t len);

/* A sentinel published +switch-master (on that sentinel member's worker,
 * no lock held): ask the sentinels which server is the master now. */
void redlock__sentinel_switched(redlock__sentinel *sn);

/* A member worker read run_id in its handshake (on its worker, io_mu
 * held): when it is the current master, that run_id is the node's
 * identity in the manager's duplicate rule, so the same master given as
 * two nodes (two sentinel URIs, or a sentinel URI and its master's own
 * address) votes once. */
void redlock__sentinel_master_run_id(redlock__sentinel *sn,
                                     const redlock__node *member,
                                     const char *run_id);

/* Stop every worker (releases are flushed until the deadline); free. */
void redlock__sentinel_stop(redlock__sentinel *sn, uint64_t deadline_us);
void redlock__sentinel_free(redlock__sentinel *sn);

/* Pass the duplicate state to the master workers. */
void redlock__sentinel_set_dup(redlock__sentinel *sn, int of);

/* The current master's restart guard left at now (0: none). */
uint64_t redlock__sentinel_guard_left_us(redlock__sentinel *sn,
                                         uint64_t now);

/* Commands written by the master workers, summed. */
void redlock__sentinel_write_counts(redlock__sentinel *sn, uint64_t *inl,
                                    uint64_t *worker);

#endif /* REDLOCK_SENTINEL_H */
