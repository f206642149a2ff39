/*
 * basic.c: the smallest complete use of libredlock.
 *
 * Starts three throw-away redis-server processes on loopback (through the
 * test fixture in tests/support/redis_spawn.h, so the example needs no
 * Redis set up beforehand), then walks one lock through its whole life:
 *
 *   create a manager on the three nodes
 *   acquire "example-resource" for 10 s
 *   extend it to 20 s
 *   release it
 *   destroy the manager and stop the servers
 *
 * Every step is printed; the first failure is reported with
 * redlock_strerror() and the program exits with status 1 after cleaning up.
 * In a real program the URIs would point at your own independent Redis
 * masters, such as "redis://10.0.0.1:6379".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "redis_spawn.h"
#include "redlock.h"

#define NODES 3
#define RESOURCE "example-resource"
#define TTL_MS 10000u
#define EXTENDED_TTL_MS 20000u

/*
 * Print that step `what` failed with status st, and return 1 so callers can
 * write `rc = fail(...)`. Messages go to stderr.
 */
static int fail(const char *what, redlock_status st)
{
    fprintf(stderr, "redlock-example: %s: %s (%s)\n", what,
            redlock_strerror(st), redlock_status_name(st));
    return 1;
}

/*
 * Acquire, extend and release one lock on manager m. Returns 0 on success,
 * 1 after printing the first failure. The lock never outlives this call:
 * on any error after the acquire it is released (or at least freed).
 */
static int lock_lifecycle(redlock_manager *m)
{
    redlock_lock *lock = NULL;
    redlock_status st;

    printf("acquiring \"%s\" for %u ms...\n", RESOURCE, TTL_MS);
    st = redlock_acquire(m, RESOURCE, TTL_MS, &lock);
    if (st != REDLOCK_OK)
        return fail("acquire", st);
    printf("acquired: token %s, validity %" PRId64 " ms, granted by %zu of "
           "%zu nodes\n",
           redlock_lock_token(lock), redlock_lock_validity_ms(lock),
           redlock_lock_nodes_granted(lock), redlock_manager_node_count(m));

    printf("extending to %u ms...\n", EXTENDED_TTL_MS);
    st = redlock_extend(lock, EXTENDED_TTL_MS);
    if (st != REDLOCK_OK) {
        /* Still ours to free; release deletes whatever keys remain. */
        (void)redlock_release(lock);
        return fail("extend", st);
    }
    printf("extended: validity now %" PRId64 " ms\n",
           redlock_lock_validity_ms(lock));

    printf("releasing...\n");
    st = redlock_release(lock); /* frees the handle whatever the result */
    if (st != REDLOCK_OK)
        return fail("release", st);
    printf("released\n");
    return 0;
}

/*
 * Start the servers, run the lock's life cycle on a manager over them, and
 * clean everything up. Exit status 0 if every step worked, 1 otherwise.
 */
int main(void)
{
    rs_server servers[NODES];
    const char *uris[NODES];
    redlock_options opts;
    redlock_manager *m = NULL;
    redlock_status st;
    int rc = 1;
    size_t i;

    /* Line-buffered even into a pipe, so our steps and redis-server's own
     * start-up lines appear in the order they happen. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("redlock %s example\n", redlock_version());

    printf("starting %d redis-server processes...\n", NODES);
    if (rs_start_many(servers, NODES) != 0) {
        fprintf(stderr, "redlock-example: could not start redis-server "
                        "(is it installed? see scripts/deps.sh)\n");
        return 1;
    }
    rs_uris(servers, NODES, uris);
    for (i = 0; i < NODES; i++)
        printf("  node %zu: %s\n", i, uris[i]);

    redlock_options_init(&opts);
    printf("creating manager...\n");
    st = redlock_manager_create(uris, NODES, &opts, &m);
    if (st != REDLOCK_OK) {
        rc = fail("manager create", st);
        goto out;
    }
    printf("manager ready: %zu nodes, quorum %zu\n",
           redlock_manager_node_count(m), redlock_manager_quorum(m));

    rc = lock_lifecycle(m);

out:
    printf("destroying manager...\n");
    redlock_manager_destroy(m); /* NULL is ignored */
    printf("stopping servers...\n");
    rs_stop_many(servers, NODES);
    printf("%s\n", rc == 0 ? "done" : "failed");
    return rc;
}
