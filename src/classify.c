/*
 * classify.c: pure rules about nodes: which class a failed connect falls
 * in.
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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "internal.h"

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
