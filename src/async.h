/*
 * async.h: the manager's async engine (internal; see async.c). The public
 * side (completion queues, the *_async calls, redlock_cancel) is in
 * redlock.h.
 */
#ifndef REDLOCK_ASYNC_H
#define REDLOCK_ASYNC_H

struct redlock_manager;
typedef struct redlock__async redlock__async;

/* Make the engine's state (its thread starts with the first operation).
 * NULL on OOM. */
redlock__async *redlock__async_new(struct redlock_manager *m);

/* Complete every pending operation with REDLOCK_ECLOSED (a pending
 * acquire's attempt is undone) and stop the engine's thread. Called by
 * redlock_manager_destroy() before the leases and the nodes stop, so the
 * undo still reaches the nodes. Later submissions get ECLOSED. */
void redlock__async_shutdown(redlock__async *as);

/* Free the engine (after the nodes stopped: no op hook can run). */
void redlock__async_free(redlock__async *as);

#endif /* REDLOCK_ASYNC_H */
