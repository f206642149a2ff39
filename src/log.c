/*
 * log.c: the manager's log and node-event callbacks.
 *
 * Lines are formatted into a stack buffer and handed to the user's
 * callback; nothing is logged when no callback is set. Callers never pass
 * credentials: node names are the redacted display form.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"
#include "manager.h"

/* Format a line and pass it to m's log callback if level is enabled. */
void redlock__log(const struct redlock_manager *m, redlock_log_level level,
                  const char *fmt, ...)
{
    if (m == NULL || m->opts.log_fn == NULL || level > m->opts.log_level)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    m->opts.log_fn(level, line, m->opts.log_userdata);
}

/* A node's state changed: tell the node-error callback, and log it. */
void redlock__log_node_event(struct redlock_manager *m, const char *node,
                             redlock_status st, const char *message)
{
    /* A duplicate node is a configuration error, not an outage. */
    redlock_log_level level = st == REDLOCK_OK         ? REDLOCK_LOG_INFO
                              : st == REDLOCK_EDUPNODE ? REDLOCK_LOG_ERROR
                                                       : REDLOCK_LOG_WARN;
    redlock__log(m, level, "node %s: %s", node, message);
    if (m->opts.node_error_fn != NULL)
        m->opts.node_error_fn(node, st, message, m->opts.node_error_userdata);
}
