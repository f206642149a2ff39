/*
 * subscribe.h: a node's subscriber connection, for waking waiters
 * (internal; tier: transport).
 *
 * One per node, owned by that node's worker (node.c drives it from its
 * loop: the fd joins the worker's poll set), opened lazily when the first
 * waiter wants a channel. Any thread asks for a key's wake channel
 * (REDLOCK__WAKE_CHANNEL_PREFIX + key, scripts.h; a sentinel node's
 * sentinels: "+switch-master", prefix "") with redlock__sub_want(); the worker SUBSCRIBEs, UNSUBSCRIBEs when the key is
 * no longer wanted, and reports what the node says through a hook:
 * a message, a confirmed subscription, or the loss of the connection (all
 * subscriptions unconfirmed). Only node.c includes this header.
 */
#ifndef REDLOCK_SUBSCRIBE_H
#define REDLOCK_SUBSCRIBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "uri.h"

struct redlock_manager;

/* Most channels one node's subscriber connection holds at a time; a key
 * asked for beyond it is refused (its waiters use timed retries). */
#define REDLOCK__SUB_CHANNELS_MAX 1024u

typedef struct redlock__sub redlock__sub;

/* What the hook reports (on the worker's thread, with no lock of the
 * subscriber held). */
typedef enum redlock__sub_event {
    REDLOCK__SUB_MESSAGE = 0,   /* a message on key's channel */
    REDLOCK__SUB_CONFIRMED = 1, /* the node confirmed key's subscription */
    REDLOCK__SUB_RESET = 2      /* the connection closed: no subscription
                                   of this node is confirmed any more (key
                                   NULL) */
} redlock__sub_event;

typedef void (*redlock__sub_hook)(void *ctx, size_t idx,
                                  redlock__sub_event ev, const char *key,
                                  size_t len);

/* What redlock__sub_want(on) found. */
typedef enum redlock__sub_state {
    REDLOCK__SUB_REFUSED = 0, /* over REDLOCK__SUB_CHANNELS_MAX, out of
                                 memory, or stopped: no wake-ups here */
    REDLOCK__SUB_PENDING = 1, /* asked; CONFIRMED will be reported */
    REDLOCK__SUB_ACTIVE = 2   /* already confirmed on this connection */
} redlock__sub_state;

/* The subscriber of node idx (display: its redacted name). u, tls, opts
 * and display must outlive it; wake_fd is the worker's eventfd, written
 * when a request needs the worker (until redlock__sub_stop()). Every
 * channel is prefix (static) + key. NULL when out of memory. */
redlock__sub *redlock__sub_new(const redlock__uri *u, redlock__tls *tls,
                               const redlock_options *opts,
                               struct redlock_manager *log_to,
                               const char *display, size_t idx, int wake_fd,
                               const char *prefix, redlock__sub_hook hook,
                               void *ctx);

/* Free (closes the connection if open); NULL is ignored. */
void redlock__sub_free(redlock__sub *s);

/* Any thread: want (on) or no longer want key's channel. Counts are not
 * kept here: the caller asks once per key and node (the manager's
 * registry counts its waiters). Never blocks; takes the subscriber's
 * mutex. Returns the state for on, REDLOCK__SUB_PENDING for off. */
redlock__sub_state redlock__sub_want(redlock__sub *s, const char *key,
                                     size_t len, bool on);

/* Any thread: no eventfd write from now on (the worker is stopping). */
void redlock__sub_stop(redlock__sub *s);

/* Worker: apply requests, (re)connect when due and wanted, write what is
 * queued. Call once per pass, before polling. */
void redlock__sub_prepare(redlock__sub *s, uint64_t now);

/* Worker: the fd to poll and its events; -1 when there is none. */
int redlock__sub_poll_fd(const redlock__sub *s, short *events);

/* Worker: the poll timeout in ms, at most cap_ms (reconnect backoff and
 * connect timeout). */
int redlock__sub_timeout_ms(const redlock__sub *s, uint64_t now,
                            int cap_ms);

/* Worker: the fd was ready (revents) or a pass is running anyway (0):
 * drive the connect, read and handle what arrived, write. */
void redlock__sub_service(redlock__sub *s, short revents, uint64_t now);

/* Worker: close the connection as it exits (reports RESET). */
void redlock__sub_close(redlock__sub *s);

/* Test hook: while on, every subscriber connection refuses to (re)connect
 * (as a node that cannot be reached would), and one that is open closes
 * at its next pass. Lets tests take pub/sub away and see waiters fall
 * back to timed retries. One relaxed atomic load per pass in production. */
void redlock__sub_test_refuse(bool on);

#endif /* REDLOCK_SUBSCRIBE_H */
