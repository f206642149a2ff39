/*
 * cmd_extend.c: `redlock extend RESOURCE TOKEN`: push out the TTL of a
 * lock held elsewhere (an earlier `redlock acquire`) by its token.
 *
 * redlock_lock_adopt() builds a handle for the lock from its token;
 * redlock_extend() then acts only on nodes that still store that token.
 * As for acquire, cli_settle() lets the extension reach every reachable
 * node before the process exits.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Print the extended lock as one JSON object on one line. */
static void print_json(const redlock_manager *m, const redlock_lock *lock,
                       size_t nodes)
{
    size_t len = 0;
    const char *res = redlock_lock_resource(lock, &len);

    fputs("{\"resource\":", stdout);
    cli_json_string(stdout, res, len);
    printf(",\"extended\":true,\"validity_ms\":%lld,\"nodes_granted\":%zu,"
           "\"node_count\":%zu,\"quorum\":%zu}\n",
           (long long)redlock_lock_validity_ms(lock), nodes,
           redlock_manager_node_count(m), redlock_manager_quorum(m));
}

/* Run `extend`; returns the exit status. */
int cli_cmd_extend(const cli_args *a)
{
    const char *res = a->operands[0];
    redlock_manager *m = NULL;
    redlock_lock *lock = NULL;
    int rc = cli_adopt_by_token(a, "extend", &m, &lock);

    if (rc != 0)
        return rc;
    redlock_status st = redlock_extend(lock, a->ttl_ms);
    if (st == REDLOCK_OK) {
        cli_log("extended %s: validity %lld ms, granted by %zu of %zu nodes",
                res, (long long)redlock_lock_validity_ms(lock),
                redlock_lock_nodes_granted(lock),
                redlock_manager_node_count(m));
        /* Let the extension reach the other reachable nodes too. */
        int storing = cli_settle(m, res, a->operands[1], 0);
        size_t nodes =
            storing >= 0 ? (size_t)storing : redlock_lock_nodes_granted(lock);

        if (a->json) {
            print_json(m, lock, nodes);
            cli_json_done();
        }
        rc = CLI_EXIT_OK;
    } else if (st == REDLOCK_ENOTHELD || st == REDLOCK_EEXPIRED) {
        cli_note_status(st);
        /* EEXPIRED: a quorum answered only after the new validity was
         * used up, so it cannot be counted on: "expired" for the user. */
        cli_notice("extend: %s is not held with this token (expired, or "
                   "someone else's)",
                   res);
        rc = CLI_EXIT_CONFLICT;
    } else if (st == REDLOCK_ETTLSHORT) {
        cli_note_status(st);
        cli_ttl_too_short("extend", a->ttl_ms);
        rc = CLI_EXIT_USAGE;
    } else {
        cli_error("extend: %s: %s", res, redlock_strerror(st));
        rc = cli_exit_for_status(st);
    }
    redlock_lock_free(lock); /* an extended lock stays held */
    redlock_manager_destroy(m);
    return rc;
}
