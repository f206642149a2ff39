/*
 * scoped.c: redlock_with_lock(), which runs a function under a lease and
 * always releases afterwards (node-redlock's using(), in C).
 */
#include <stdbool.h>
#include <string.h>

#include "redlock.h"

/* Acquire, lease, run fn, stop the lease and release. */
redlock_status redlock_with_lock(redlock_manager *m, const char *resource,
                                 uint32_t ttl_ms,
                                 const redlock_acquire_opts *aopts,
                                 const redlock_lease_options *lopts,
                                 redlock_scoped_fn fn, void *userdata,
                                 int *fn_result)
{
    if (fn == NULL)
        return REDLOCK_EINVAL;
    redlock_lease *lease = NULL;
    redlock_status st =
        redlock_lease_acquire(m, resource, ttl_ms, aopts, lopts, &lease);
    if (st != REDLOCK_OK)
        return st;
    int rc = fn(lease, userdata);
    if (fn_result != NULL)
        *fn_result = rc;
    /* Lost while fn ran? Read before stopping, which also releases. */
    bool lost = redlock_lease_lost(lease) != 0;
    st = redlock_lease_stop(lease, NULL);
    if (lost)
        return REDLOCK_ELOST;
    /* A loss between the check and the stop shows in stop's status. */
    if (st == REDLOCK_ENOTHELD || st == REDLOCK_EEXPIRED ||
        st == REDLOCK_ERANGE)
        return REDLOCK_ELOST;
    return st;
}
