/*
 * cmd_release.c: `redlock release RESOURCE TOKEN`: delete a lock held
 * elsewhere (an earlier `redlock acquire`) by its token, on every node
 * where that token is still stored. A wrong token deletes nothing.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Run `release`; returns the exit status. */
int cli_cmd_release(const cli_args *a)
{
    const char *res = a->operands[0];
    redlock_manager *m = NULL;
    redlock_lock *lock = NULL;
    redlock_status st;
    int rc = cli_check_resource("release", res);

    if (rc == 0)
        rc = cli_check_token("release", a->operands[1]);
    if (rc != 0)
        return rc;
    rc = cli_session_open(a, &m);
    if (rc != 0)
        return rc;
    /* The TTL only bounds how long a release stays queued for nodes that
     * did not answer; this process exits right after, so the default
     * TTL does. */
    st = redlock_lock_adopt(m, res, strlen(res), a->operands[1], a->ttl_ms,
                            &lock);
    if (st == REDLOCK_OK)
        st = redlock_release(lock); /* frees the handle, whatever happens */
    if (st == REDLOCK_OK) {
        cli_log("released %s", res);
        rc = CLI_EXIT_OK;
    } else if (st == REDLOCK_ENOTHELD) {
        cli_notice("release: %s is not held with this token (already "
                   "expired, or someone else's)",
                   res);
        rc = CLI_EXIT_CONFLICT;
    } else {
        cli_error("release: %s: %s", res, redlock_strerror(st));
        rc = cli_exit_for_status(st);
    }
    redlock_manager_destroy(m);
    return rc;
}
