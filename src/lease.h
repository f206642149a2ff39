/*
 * lease.h: the lease subsystem (internal; tier: algorithms, over the op
 * API and lock.h).
 *
 * Offers the manager's lease thread (create, shut down, free), test hooks,
 * and a lease start that mirrors its validity for the election.
 */
#ifndef REDLOCK_LEASE_H
#define REDLOCK_LEASE_H

#include <stdatomic.h>
#include <stdint.h>

#include "redlock.h"

struct redlock_lock;
struct redlock_manager;

typedef struct redlock__leases redlock__leases;

/* Create the manager's lease subsystem (its thread starts with the first
 * lease). NULL on failure. */
redlock__leases *redlock__leases_new(struct redlock_manager *m);

/* Stop the lease thread: every running lease is lost with ECLOSED (all
 * signals fire), then the thread is joined. Lease handles stay valid for
 * redlock_lease_stop(). */
void redlock__leases_shutdown(redlock__leases *ls);

/* Free the subsystem (after shutdown). */
void redlock__leases_free(redlock__leases *ls);

/* Wake the lease thread as a finished renewal does (for tests). */
void redlock__leases_wake(redlock__leases *ls);

/* How many renewals the lease thread acted on more than 250 ms after their
 * outcome was known (a lost wake-up shows up here). */
uint64_t redlock__leases_late_renewals(redlock__leases *ls);

/* Test hook, NULL in production: called by the lease thread on each pass
 * between taking its wake-up and looking at the ops. */
extern void (*_Atomic redlock__lease_pass_hook)(redlock__leases *ls);

/* redlock_lease_start() that also keeps *mirror equal to the lease's
 * validity end (0 once lost), for the election's lock-free is_leader. */
redlock_status redlock__lease_start_mirrored(struct redlock_lock *lock,
                                             const redlock_lease_options *o,
                                             _Atomic uint64_t *mirror,
                                             redlock_lease **out);

#endif /* REDLOCK_LEASE_H */
