/*
 * subscribe.c: a node's subscriber connection (pub/sub wake-ups).
 *
 * DESIGN
 * A waiter that found a resource taken asks every node to subscribe to
 * the resource's wake channel (REDLOCK__WAKE_CHANNEL_PREFIX + key,
 * scripts.h), on which the release script announces each key it
 * deleted. A connection in subscribe mode can carry no other command,
 * so each node gets a second connection for it: its own redlock__conn,
 * with the node's address, TLS settings and AUTH (no SELECT: channels
 * are not per database), opened only once a channel is wanted.
 *
 * The node's worker owns the connection alone, as it owns the command
 * connection: node.c adds our fd to its poll set and calls
 * redlock__sub_prepare() and redlock__sub_service() on every pass. So
 * nothing here blocks, and the worker pass (and whatever lock it runs
 * under) covers us too.
 *
 * Requests from other threads: the table of channels (key, wanted,
 * wire state) lives under `mu`; redlock__sub_want() sets or clears
 * `wanted`, marks the table dirty and writes the worker's eventfd, as a
 * slot submission does. The worker then walks the table: a wanted
 * channel not on the wire gets SUBSCRIBE, an unwanted one that is gets
 * UNSUBSCRIBE, and an unwanted one off the wire is dropped. Each channel
 * moves NONE -> SUB_SENT -> ACTIVE -> UNSUB_SENT -> NONE; replies come in
 * order, so a "subscribe" reply confirms the SUBSCRIBE in flight, and a
 * channel wanted again while its UNSUBSCRIBE is in flight is subscribed
 * again once the "unsubscribe" reply arrived. The table is bounded
 * (REDLOCK__SUB_CHANNELS_MAX): beyond it a key is refused and its waiters
 * use timed retries. A linear search finds a channel: the table is
 * small, and a hash was rejected as code without a measured need.
 *
 * The hook (the manager's registry, through node.c's env) hears of a
 * message, a confirmed subscription, and of the connection's loss
 * (RESET: nothing of this node is confirmed any more); it is called with
 * `mu` released, so the registry's lock may be held while calling
 * redlock__sub_want() (LOCK ORDER, internal.h).
 *
 * Failure: any error closes the connection; every channel goes back to
 * NONE (unwanted ones are dropped), RESET is reported, and a reconnect
 * follows after the same jittered, doubling backoff as the command
 * connection (reconnect_min_ms .. reconnect_max_ms), then re-subscribes
 * every wanted channel. A lost message or a node whose subscriber is
 * down costs only latency: waiters keep their timed retry. The backoff
 * starts over only once a subscription is confirmed, so a node that
 * takes the connection but refuses SUBSCRIBE (an ACL user without
 * channels: NOPERM) is tried again at most every reconnect_max_ms while
 * waiters want its channels, and logged once.
 * Once opened, the connection stays open while the worker runs (an idle
 * subscriber costs one connection per node and nothing else), and
 * closes as the worker exits. Rejected: closing it when its last channel
 * goes (the next waiter would pay a connect and a TLS handshake before
 * its first wake-up).
 * Not done: a timeout on unanswered SUBSCRIBEs (a stopped node's
 * channels simply stay unconfirmed, and its waiters use timed retries;
 * the command connection detects the stall and reports it).
 */
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "internal.h"
#include "scripts.h"
#include "subscribe.h"
#include "token.h"
#include "uri.h"


typedef enum wire_state {
    W_NONE = 0,
    W_SUB_SENT = 1,
    W_ACTIVE = 2,
    W_UNSUB_SENT = 3
} wire_state;

typedef enum sub_conn_state {
    S_DOWN = 0,
    S_CONNECTING = 1,
    S_OPEN = 2
} sub_conn_state;

/* One channel: the key (without the prefix). */
typedef struct chan {
    char *key;
    size_t len;
    bool wanted;
    uint8_t wire; /* wire_state */
} chan;

struct redlock__sub {
    /* Fixed at creation. */
    const redlock__uri *uri;
    const redlock_options *opts;
    struct redlock_manager *log_to;
    const char *display;
    size_t idx;
    redlock__sub_hook hook;
    void *ctx;
    const char *prefix;  /* of every channel name (static) */
    size_t prefix_len;

    /* Under mu: shared with redlock__sub_want(). */
    pthread_mutex_t mu;
    chan *chans;
    size_t n, cap;
    bool dirty;   /* the table changed: the worker walks it */
    bool stopped; /* no more eventfd writes */
    int wake_fd;

    /* The worker's alone. */
    redlock__conn *conn;
    redlock__reply_guard guard;
    sub_conn_state state;
    uint64_t connect_started_us;
    uint64_t next_connect_us;
    uint32_t backoff_ms;
    bool auth_pending; /* the first reply answers AUTH */
    bool down_logged;  /* the last failure was logged (once per streak) */
    uint64_t open_since_us; /* when the connection last opened */
    bool want_conn;    /* a channel was wanted at the last pass while
                          down: the backoff's end is a timer */
};

/* The test hook of redlock__sub_test_refuse(). */
static atomic_bool test_refuse;

void redlock__sub_test_refuse(bool on)
{
    atomic_store_explicit(&test_refuse, on, memory_order_relaxed);
}

static bool refused_by_test(void)
{
    return atomic_load_explicit(&test_refuse, memory_order_relaxed);
}

/* ------------------------------------------------------------------------
 * The channel table (under mu)
 * ------------------------------------------------------------------------ */

/* Index of key in the table, or -1. */
static long find(const redlock__sub *s, const char *key, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->chans[i].len == len && memcmp(s->chans[i].key, key, len) == 0)
            return (long)i;
    return -1;
}

/* Remove entry i (order does not matter). */
static void remove_at(redlock__sub *s, size_t i)
{
    free(s->chans[i].key);
    s->chans[i] = s->chans[--s->n];
}

/* Append a new unwanted channel; -1 when full or out of memory. */
static long add(redlock__sub *s, const char *key, size_t len)
{
    if (s->n >= REDLOCK__SUB_CHANNELS_MAX)
        return -1;
    if (s->n == s->cap) {
        size_t cap = s->cap == 0 ? 8 : s->cap * 2;
        chan *c = realloc(s->chans, cap * sizeof(*c));
        if (c == NULL)
            return -1;
        s->chans = c;
        s->cap = cap;
    }
    char *k = malloc(len + 1);
    if (k == NULL)
        return -1;
    memcpy(k, key, len);
    k[len] = '\0';
    s->chans[s->n] = (chan){k, len, false, W_NONE};
    return (long)s->n++;
}

/* Wake the worker (mu held, so the fd is still open). */
static void wake_worker(redlock__sub *s)
{
    if (s->stopped || s->wake_fd < 0)
        return;
    uint64_t one = 1;
    ssize_t w = write(s->wake_fd, &one, sizeof(one));
    (void)w; /* EAGAIN: the counter is already non-zero */
}

redlock__sub_state redlock__sub_want(redlock__sub *s, const char *key,
                                     size_t len, bool on)
{
    redlock__sub_state st = REDLOCK__SUB_PENDING;
    pthread_mutex_lock(&s->mu);
    long i = find(s, key, len);
    if (on) {
        if (s->stopped)
            st = REDLOCK__SUB_REFUSED;
        else if (i < 0 && (i = add(s, key, len)) < 0)
            st = REDLOCK__SUB_REFUSED;
        else {
            s->chans[i].wanted = true;
            if (s->chans[i].wire == W_ACTIVE)
                st = REDLOCK__SUB_ACTIVE;
        }
    } else if (i >= 0) {
        s->chans[i].wanted = false;
        /* Off the wire (never sent, or the connection is down): drop it
         * now. Left for the next sync, unwanted entries could fill the
         * table while the connection is down, and then no key could be
         * wanted, so it would never reconnect to clean them (found by
         * review). */
        if (s->chans[i].wire == W_NONE)
            remove_at(s, (size_t)i);
    }
    /* The worker has something to do unless the key was refused or is
     * already confirmed. */
    if (!on || st == REDLOCK__SUB_PENDING) {
        s->dirty = true;
        wake_worker(s);
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

void redlock__sub_stop(redlock__sub *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopped = true;
    s->wake_fd = -1;
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

redlock__sub *redlock__sub_new(const redlock__uri *u, redlock__tls *tls,
                               const redlock_options *opts,
                               struct redlock_manager *log_to,
                               const char *display, size_t idx, int wake_fd,
                               const char *prefix, redlock__sub_hook hook,
                               void *ctx)
{
    redlock__sub *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return NULL;
    }
    s->conn = redlock__conn_new(u, tls, &s->guard);
    if (s->conn == NULL) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    s->uri = u;
    s->opts = opts;
    s->log_to = log_to;
    s->display = display;
    s->idx = idx;
    s->wake_fd = wake_fd;
    s->hook = hook;
    s->ctx = ctx;
    s->prefix = prefix;
    s->prefix_len = strlen(prefix);
    s->state = S_DOWN;
    s->backoff_ms = opts->reconnect_min_ms;
    return s;
}

void redlock__sub_free(redlock__sub *s)
{
    if (s == NULL)
        return;
    redlock__conn_free(s->conn);
    for (size_t i = 0; i < s->n; i++)
        free(s->chans[i].key);
    free(s->chans);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Close after a failure (or at exit): every channel is off the wire,
 * unwanted ones are dropped, RESET is reported, and a reconnect is due
 * after a jittered, doubling backoff. why NULL: a quiet close. */
static void sub_fail(redlock__sub *s, const char *why, uint64_t now)
{
    bool was_open = s->state != S_DOWN;
    redlock__conn_close(s->conn);
    s->state = S_DOWN;
    s->auth_pending = false;
    pthread_mutex_lock(&s->mu);
    for (size_t i = s->n; i-- > 0;) {
        s->chans[i].wire = W_NONE;
        if (!s->chans[i].wanted)
            remove_at(s, i);
    }
    s->dirty = true;
    pthread_mutex_unlock(&s->mu);
    uint32_t max = s->opts->reconnect_max_ms;
    /* The backoff starts over only after a connection that stayed open
     * for reconnect_max_ms: one that a refusal ends at once (an ACL
     * without channels, or with only some of them) is retried at the
     * growing backoff, not every reconnect_min_ms. */
    if (was_open && s->open_since_us != 0 &&
        now - s->open_since_us >= (uint64_t)max * 1000u) {
        s->backoff_ms = s->opts->reconnect_min_ms;
        s->down_logged = false;
    }
    s->open_since_us = 0;
    uint32_t delay = s->backoff_ms;
    uint32_t jittered = delay / 2 + redlock__random_upto(delay - delay / 2);
    s->next_connect_us = now + (uint64_t)jittered * 1000u;
    s->backoff_ms = delay >= max / 2 ? max : delay * 2;
    if (why != NULL && !s->down_logged) {
        s->down_logged = true;
        redlock__log(s->log_to, REDLOCK_LOG_WARN,
                     "node %s: subscriber connection: %s (waiters use timed "
                     "retries until it is back)",
                     s->display, why);
    }
    if (was_open)
        s->hook(s->ctx, s->idx, REDLOCK__SUB_RESET, NULL, 0);
}

void redlock__sub_close(redlock__sub *s)
{
    if (s->state != S_DOWN)
        sub_fail(s, NULL, 0);
}

/* ------------------------------------------------------------------------
 * Commands
 * ------------------------------------------------------------------------ */

/* Append cmd (SUBSCRIBE or UNSUBSCRIBE) for key's channel. */
static bool append_chan(redlock__sub *s, const char *cmd, const chan *c)
{
    char stackbuf[256];
    size_t total = s->prefix_len + c->len;
    char *ch = total <= sizeof(stackbuf) ? stackbuf : malloc(total);
    if (ch == NULL)
        return false;
    memcpy(ch, s->prefix, s->prefix_len);
    memcpy(ch + s->prefix_len, c->key, c->len);
    const char *argv[2] = {cmd, ch};
    size_t lens[2] = {strlen(cmd), total};
    bool ok = redlock__conn_append(s->conn, 2, argv, lens);
    if (ch != stackbuf)
        free(ch);
    return ok;
}

/* Walk the table (connection open): SUBSCRIBE what is wanted and off the
 * wire, UNSUBSCRIBE what is unwanted and on it, drop what is unwanted
 * and off it. False when out of memory. */
static bool sync_table(redlock__sub *s)
{
    bool ok = true;
    pthread_mutex_lock(&s->mu);
    if (s->dirty) {
        s->dirty = false;
        for (size_t i = s->n; i-- > 0 && ok;) {
            chan *c = &s->chans[i];
            if (c->wanted && c->wire == W_NONE) {
                ok = append_chan(s, "SUBSCRIBE", c);
                c->wire = W_SUB_SENT;
            } else if (!c->wanted &&
                       (c->wire == W_SUB_SENT || c->wire == W_ACTIVE)) {
                ok = append_chan(s, "UNSUBSCRIBE", c);
                c->wire = W_UNSUB_SENT;
            } else if (!c->wanted && c->wire == W_NONE) {
                remove_at(s, i);
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* The connection is open: AUTH if configured, then every wanted channel. */
static void sub_opened(redlock__sub *s, uint64_t now)
{
    s->state = S_OPEN;
    s->open_since_us = now;
    const char *argv[3];
    size_t lens[3];
    int argc = redlock__uri_auth_args(s->uri, argv, lens);
    if (argc > 0) {
        if (!redlock__conn_append(s->conn, argc, argv, lens)) {
            sub_fail(s, "out of memory", now);
            return;
        }
        s->auth_pending = true;
    }
    pthread_mutex_lock(&s->mu);
    s->dirty = true;
    pthread_mutex_unlock(&s->mu);
}

/* Start a connect. */
static void sub_connect(redlock__sub *s, uint64_t now)
{
    char msg[200];
    s->connect_started_us = now;
    if (refused_by_test()) {
        sub_fail(s, "refused (test hook)", now);
        return;
    }
    redlock_status st = redlock__conn_open(s->conn, msg, sizeof(msg));
    if (st != REDLOCK_OK) {
        sub_fail(s, msg, now);
        return;
    }
    s->state = S_CONNECTING;
    if (redlock__conn_phase_of(s->conn) == REDLOCK__CONN_OPEN)
        sub_opened(s, now);
}

/* True if any channel is wanted. */
static bool any_wanted(redlock__sub *s)
{
    bool any = false;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n && !any; i++)
        any = s->chans[i].wanted;
    pthread_mutex_unlock(&s->mu);
    return any;
}

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

/* The key of a channel name of ours, or NULL. */
static const char *chan_key(const redlock__sub *s, const redisReply *e,
                            size_t *len)
{
    if (e->type != REDIS_REPLY_STRING || e->len < s->prefix_len ||
        memcmp(e->str, s->prefix, s->prefix_len) != 0)
        return NULL;
    *len = e->len - s->prefix_len;
    return e->str + s->prefix_len;
}

/* Handle one reply; false if the connection must close (why says
 * why). */
static bool on_reply(redlock__sub *s, const redisReply *r, char *why,
                     size_t whylen)
{
    bool auth = s->auth_pending;
    s->auth_pending = false;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, whylen, "%s refused: %.120s",
                 auth ? "AUTH" : "SUBSCRIBE or UNSUBSCRIBE",
                 r->str != NULL ? r->str : "");
        return false;
    }
    if (auth)
        return true;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(why, whylen, "unexpected reply (type %d)", r->type);
        return false;
    }
    const redisReply *kind = r->element[0];
    size_t len = 0;
    const char *key = chan_key(s, r->element[1], &len);
    if (key == NULL)
        return true; /* not one of ours */
    if (kind->len == 7 && memcmp(kind->str, "message", 7) == 0) {
        s->hook(s->ctx, s->idx, REDLOCK__SUB_MESSAGE, key, len);
        return true;
    }
    bool confirmed = false;
    pthread_mutex_lock(&s->mu);
    long i = find(s, key, len);
    if (i >= 0 && kind->len == 9 && memcmp(kind->str, "subscribe", 9) == 0 &&
        s->chans[i].wire == W_SUB_SENT) {
        s->chans[i].wire = W_ACTIVE;
        confirmed = s->chans[i].wanted;
        if (!confirmed)
            s->dirty = true; /* unwanted meanwhile: unsubscribe */
    } else if (i >= 0 && kind->len == 11 &&
               memcmp(kind->str, "unsubscribe", 11) == 0 &&
               s->chans[i].wire == W_UNSUB_SENT) {
        s->chans[i].wire = W_NONE;
        s->dirty = true; /* drop it, or subscribe again if wanted */
    }
    pthread_mutex_unlock(&s->mu);
    if (confirmed) /* (the backoff starts over in sub_fail, by uptime) */
        s->hook(s->ctx, s->idx, REDLOCK__SUB_CONFIRMED, key, len);
    return true;
}

/* Read and handle everything that arrived. */
static void read_input(redlock__sub *s, uint64_t now)
{
    char msg[200];
    bool eof = false;
    while (!eof && s->state == S_OPEN) {
        redlock_status st = redlock__conn_read(s->conn, &eof, msg,
                                               sizeof(msg));
        if (st != REDLOCK_OK) {
            sub_fail(s, msg, now);
            return;
        }
        while (s->state == S_OPEN) {
            void *reply = NULL;
            st = redlock__conn_get_reply(s->conn, &reply, msg, sizeof(msg));
            if (st != REDLOCK_OK) {
                sub_fail(s, msg, now);
                return;
            }
            if (reply == NULL)
                break;
            bool ok = on_reply(s, reply, msg, sizeof(msg));
            freeReplyObject(reply);
            if (!ok) {
                sub_fail(s, msg, now);
                return;
            }
        }
    }
}

/* Write what is queued. */
static void flush_output(redlock__sub *s, uint64_t now)
{
    char msg[200];
    if (s->state != S_OPEN)
        return;
    redlock_status st = redlock__conn_flush(s->conn, msg, sizeof(msg));
    if (st != REDLOCK_OK)
        sub_fail(s, msg, now);
}

/* ------------------------------------------------------------------------
 * The worker's calls
 * ------------------------------------------------------------------------ */

void redlock__sub_prepare(redlock__sub *s, uint64_t now)
{
    if (s->state != S_DOWN && refused_by_test()) {
        sub_fail(s, "closed (test hook)", now);
        return;
    }
    if (s->state == S_CONNECTING &&
        now >= s->connect_started_us +
                   (uint64_t)s->opts->connect_timeout_ms * 1000u) {
        sub_fail(s, redlock__conn_timeout_message(s->conn), now);
        return;
    }
    if (s->state == S_DOWN) {
        s->want_conn = any_wanted(s);
        if (now >= s->next_connect_us && s->want_conn)
            sub_connect(s, now);
        if (s->state != S_OPEN)
            return;
    }
    if (s->state == S_OPEN) {
        if (!sync_table(s)) {
            sub_fail(s, "out of memory", now);
            return;
        }
        flush_output(s, now);
    }
}

int redlock__sub_poll_fd(const redlock__sub *s, short *events)
{
    int fd = s->state == S_DOWN ? -1 : redlock__conn_fd(s->conn);
    *events = fd >= 0 ? redlock__conn_events(s->conn) : 0;
    return fd;
}

int redlock__sub_timeout_ms(const redlock__sub *s, uint64_t now, int cap_ms)
{
    uint64_t due = UINT64_MAX;
    if (s->state == S_DOWN && s->want_conn)
        due = s->next_connect_us;
    else if (s->state == S_CONNECTING)
        due = s->connect_started_us +
              (uint64_t)s->opts->connect_timeout_ms * 1000u;
    if (due == UINT64_MAX)
        return cap_ms;
    if (due <= now)
        return 0;
    uint64_t ms = (due - now + 999u) / 1000u;
    return ms < (uint64_t)cap_ms ? (int)ms : cap_ms;
}

void redlock__sub_service(redlock__sub *s, short revents, uint64_t now)
{
    if (s->state == S_CONNECTING) {
        if (revents == 0)
            return;
        char msg[200];
        redlock_status st = redlock__conn_advance(s->conn, msg, sizeof(msg));
        if (st != REDLOCK_OK) {
            sub_fail(s, msg, now);
            return;
        }
        if (redlock__conn_phase_of(s->conn) == REDLOCK__CONN_OPEN) {
            sub_opened(s, now);
            if (s->state == S_OPEN && sync_table(s))
                flush_output(s, now);
        }
        return;
    }
    if (s->state != S_OPEN || revents == 0)
        return;
    read_input(s, now);
    if (s->state == S_OPEN) {
        if (!sync_table(s)) {
            sub_fail(s, "out of memory", now);
            return;
        }
        flush_output(s, now);
    }
}
