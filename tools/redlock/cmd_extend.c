/*
 * cmd_extend.c: `redlock extend RESOURCE TOKEN`: push out the TTL of a
 * lock held elsewhere (an earlier `redlock acquire`) by its token.
 *
 * redlock_lock_adopt() builds a handle for the lock from its token;
 * redlock_extend() then acts only on nodes that still store that token.
 * As for acquire, cli_settle() lets the extension reach every reachable
 * node before the process exits.
 *
 * A node whose "key gone" answer arrives after the extension has won is
 * restored by the lock's next winning extension (docs/safety.md §9). A
 * one-shot extend has no next one, so when a reachable node lacks the key
 * once every answer is in, it extends once more, which restores it.
 */
#include <stdio.h>
#include <stdlib.h>
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

/* Reachable nodes that store no key for res (-1 if inspect failed). An
 * inspect follows the extension on every node's connection, so by its
 * answers every answer of the extension is in. */
static int reachable_without_key(redlock_manager *m, const char *res)
{
    size_t n = redlock_manager_node_count(m);
    redlock_node_view *views = cli_inspect(m, res);
    int missing = 0;

    if (views == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (views[i].reachable && !views[i].held)
            missing++;
    free(views);
    return missing;
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
        /* A key found gone too late for this extension's restore: the
         * next one restores it (and a failure here changes nothing). */
        if (reachable_without_key(m, res) > 0 &&
            redlock_extend(lock, a->ttl_ms) == REDLOCK_OK)
            cli_log("extended %s again to restore its key on a node",
                    res);
        /* Let the extension reach the other reachable nodes too. */
        int storing = cli_settle(m, res, a->operands[1], 0, NULL);
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
