/*
 * classify.c: pure rules about nodes: which class a failed connect falls
 * in, and which nodes are the same server as another (and do not vote).
 *
 * DESIGN
 * A node failure is reported the same way everywhere (node_error_fn, log
 * lines, redlock_inspect()'s views, redlock_acquire_info.node_status), so
 * the class is decided once, where the failure is seen, by a pure function
 * of what was seen: here for connects (an errno, or hiredis's text of
 * one), in reply.c for error replies. The alternative, one status for
 * every connection failure (EIO), made a refused connection (nothing
 * listening: the server is down) look like any other network error, and
 * left operators to read the message text.
 *
 * Duplicates: two node URIs that create cannot tell apart ("localhost"
 * and "127.0.0.1") may be one server, whose answers would then count
 * twice toward a quorum. Each node reports its server's run_id in the
 * handshake; the node whose run_id arrives while a voting node already
 * has it does not vote (redlock__dup_update()). So the node that voted
 * first keeps voting and no node's vote is ever taken back. Rejected: the
 * later node in the URI list always being the duplicate, which would
 * demote a node that had been voting whenever the earlier one connects
 * late.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "classify.h"

/* The class of a failed connect: the errno seen, or failing that (0, or
 * an errno hiredis did not keep), the text hiredis made of it. */
redlock_status redlock__connect_error_status(int err, const char *errstr)
{
    if (err == ECONNREFUSED)
        return REDLOCK_EREFUSED;
    if (err == ETIMEDOUT)
        return REDLOCK_ETIMEDOUT;
    if (errstr != NULL) {
        char buf[128];
        const char *refused = strerror_r(ECONNREFUSED, buf, sizeof(buf));
        if (strstr(errstr, refused) != NULL)
            return REDLOCK_EREFUSED;
        const char *timedout = strerror_r(ETIMEDOUT, buf, sizeof(buf));
        if (strstr(errstr, timedout) != NULL)
            return REDLOCK_ETIMEDOUT;
    }
    return REDLOCK_EIO;
}

/* The delay before a reconnect; see internal.h. */
uint64_t redlock__reconnect_delay_us(uint32_t backoff_ms,
                                     uint32_t reconnect_min_ms,
                                     bool releases_waiting,
                                     uint64_t work_bound_us)
{
    uint64_t d = (uint64_t)backoff_ms * 1000u;
    uint64_t floor = (uint64_t)reconnect_min_ms * 1000u;
    if (releases_waiting && d > floor)
        d = floor;
    if (work_bound_us != 0) {
        uint64_t b = work_bound_us / 4u;
        if (b < floor)
            b = floor;
        if (d > b)
            d = b;
    }
    return d;
}

/* The first voting node other than i whose run_id is id, or -1. */
static int voter_with(size_t n, const char (*run_ids)[41], const int *dup_of,
                      size_t i, const char *id)
{
    if (id[0] == '\0')
        return -1;
    for (size_t j = 0; j < n; j++)
        if (j != i && dup_of[j] < 0 && strcmp(run_ids[j], id) == 0)
            return (int)j;
    return -1;
}

/* Node idx has just reported run_ids[idx]; see internal.h. */
void redlock__dup_update(size_t n, const char (*run_ids)[41], int *dup_of,
                         size_t idx)
{
    const char *id = run_ids[idx];
    int was = dup_of[idx];
    if (was < 0 || strcmp(run_ids[was], id) != 0)
        dup_of[idx] = -1; /* decided below, among the voters */
    if (dup_of[idx] < 0)
        dup_of[idx] = voter_with(n, run_ids, dup_of, idx, id);
    /* Nodes that were duplicates of idx: of another voter with their
     * run_id if there is one (idx itself may have stopped voting, or be
     * another server now), else they vote. In node order, so the first
     * of them to be freed becomes the voter of the others. */
    for (size_t x = 0; x < n; x++) {
        if (x == idx || dup_of[x] != (int)idx)
            continue;
        if (dup_of[idx] < 0 && strcmp(run_ids[x], id) == 0)
            continue; /* still idx's duplicate, and idx votes */
        dup_of[x] = -1;
        dup_of[x] = voter_with(n, run_ids, dup_of, x, run_ids[x]);
    }
}
