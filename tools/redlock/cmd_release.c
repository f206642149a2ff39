/*
 * cmd_release.c: `redlock release RESOURCE TOKEN`: delete a lock held
 * elsewhere (an earlier `redlock acquire`) by its token, on every node
 * where that token is still stored. A wrong token deletes nothing. As
 * for acquire, cli_settle() lets the deletes reach every reachable node
 * before the process exits.
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
    int rc = cli_adopt_by_token(a, "release", &m, &lock);

    if (rc != 0)
        return rc;
    redlock_status st = redlock_release(lock); /* frees the handle */
    int storing;

    /* The release returned once a quorum confirmed; let the deletes reach
     * the other reachable nodes before the process exits. */
    if (st != REDLOCK_ECLOSED) {
        storing = cli_settle(m, res, a->operands[1], 1, NULL);
        if (storing > 0)
            cli_log("%s: still stored with this token on %d node(s)", res,
                    storing);
    }
    if (st == REDLOCK_OK) {
        cli_log("released %s", res);
        if (a->json) {
            fputs("{\"resource\":", stdout);
            cli_json_string(stdout, res, strlen(res));
            fputs(",\"released\":true}\n", stdout);
            cli_json_done();
        }
        rc = CLI_EXIT_OK;
    } else if (st == REDLOCK_ENOTHELD) {
        cli_note_status(st);
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
