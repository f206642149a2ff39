/*
 * cmd_acquire.c: `redlock acquire RESOURCE`: take the lock, print its
 * token, and leave it held (until its TTL runs out or `redlock release`).
 *
 * The handle is freed with redlock_lock_free(), which keeps the keys on
 * the nodes, rather than redlock_release(): the point of the command is a
 * lock that outlives it. Before that, cli_settle() waits (up to the
 * command timeout) until every reachable node has the key, not only the
 * quorum the acquire returned on: a process that exits drops what its
 * manager still had queued. --json's nodes_granted is then the number of
 * nodes storing the lock as the command exits.
 *
 * Whether a token is printed follows the acquire's outcome, not the exit
 * status: with --conflict-exit-code 0 a lock held elsewhere also exits 0,
 * with nothing printed and nothing held.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Print the acquired lock as one JSON object on one line; nodes is how
 * many nodes store it. */
static void print_json(const redlock_manager *m, const redlock_lock *lock,
                       size_t nodes)
{
    size_t len = 0;
    const char *res = redlock_lock_resource(lock, &len);

    const char *owner = redlock_lock_owner(lock);

    fputs("{\"resource\":", stdout);
    cli_json_string(stdout, res, len);
    fputs(",\"owner\":", stdout);
    if (owner != NULL)
        cli_json_string(stdout, owner, strlen(owner));
    else
        fputs("null", stdout);
    printf(",\"token\":\"%s\",\"validity_ms\":%lld,\"nodes_granted\":%zu,"
           "\"node_count\":%zu,\"quorum\":%zu}\n",
           redlock_lock_token(lock), (long long)redlock_lock_validity_ms(lock),
           nodes, redlock_manager_node_count(m), redlock_manager_quorum(m));
}

/* Run `acquire`; returns the exit status. */
int cli_cmd_acquire(const cli_args *a)
{
    redlock_manager *m = NULL;
    redlock_lock *lock = NULL;
    int rc = cli_check_resource("acquire", a->operands[0]);

    if (rc != 0)
        return rc;
    rc = cli_session_open(a, &m);
    if (rc != 0)
        return rc;
    if (cli_acquire_wait(m, a, &lock, &rc) == CLI_ACQUIRED) {
        /* The call returned once a quorum granted; let the SET reach
         * the other reachable nodes before this process exits. */
        redlock_acquire_info seen;
        int storing = cli_settle(m, a->operands[0], redlock_lock_token(lock),
                                 0, &seen);
        size_t nodes =
            storing >= 0 ? (size_t)storing : redlock_lock_nodes_granted(lock);

        cli_log("%s is stored on %zu of %zu nodes", a->operands[0], nodes,
                redlock_manager_node_count(m));
        /* Every node has answered by now: a duplicate or refusing node
         * that had not when the acquire was decided is known too (from
         * its answer to the settle's read, if its node event has not
         * reached us yet). */
        cli_nodes_report_config(m, storing >= 0 ? &seen : NULL);
        if (a->json) {
            print_json(m, lock, nodes);
            cli_json_done();
        } else
            printf("%s\n", redlock_lock_token(lock));
        if (fflush(stdout) != 0) {
            /* Nobody learned the token: give the lock back rather than
             * leave it held until its TTL for no one. */
            cli_error("acquire: cannot write the token; releasing the lock");
            redlock_release(lock);
            lock = NULL;
            rc = CLI_EXIT_UNAVAILABLE;
        }
        redlock_lock_free(lock); /* keeps the lock: it expires by TTL */
    }
    redlock_manager_destroy(m);
    return rc;
}
