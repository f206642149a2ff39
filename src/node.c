/*
 * node.c: one worker thread per Redis node.
 *
 * DESIGN
 * The worker owns the node's connection (conn.h): it connects, runs the
 * handshake, enforces timeouts, reconnects, reports, and carries the
 * load when several threads use the node at once. Application threads
 * hand it requests (op slots) through a mutex-protected queue and wake it
 * with an eventfd. The connection never blocks: the worker polls its fd
 * and the eventfd together, appends every queued command to the output
 * buffer and writes them in one go, then reads every reply that has
 * arrived (pipelining). Replies come back in the order commands were
 * written, so the in-flight list is a FIFO matched against replies.
 *
 * The fast path (docs/design.md, "Inline I/O"): the connection and the
 * lists are guarded by io_mu, which the worker holds for each pass but
 * not while it polls. A calling thread that will wait for its op and
 * finds the node idle (ready; nothing queued, parked or unwritten; no
 * worker or other caller reading it) writes its command itself under
 * io_mu, then polls the socket while it waits and reads the replies
 * under io_mu. An uncontended operation thus crosses no thread: no
 * eventfd write, no worker wake-up, no condition variable. An idle
 * worker polls its connection only for the peer's close (POLLRDHUP),
 * so replies the caller reads do not wake it. When the caller's op is
 * decided, replies still owed (stragglers) stay in flight: the next
 * caller to write there reads them first, in order, and the worker is
 * woken only if its poll would otherwise end after their command
 * timeout. Every state change of the connection stays with the worker:
 * a caller that meets a failure only closes the socket, records it
 * (inline_err) and wakes the worker; reports are made under io_mu but
 * delivered to user callbacks after it is dropped (emit_notes).
 * Rejected: callers holding io_mu while they wait (a stalled node would
 * block the worker and every other caller until the wait ends);
 * inline I/O whenever the lock is free (every waiter would poll the same
 * socket, and each reply would wake them all); a leader/follower hand-off
 * of the reading role between callers (a wake-up per hand-off, which is
 * what the worker already costs under load).
 *
 * Lists a slot moves through (all but `queue` are the worker's alone, or
 * a caller's reading inline under io_mu):
 *   queue     submitted by any thread, under queue_mu
 *   pending   accepted, waiting for the connection to become ready (or,
 *             first in line, a cluster TRYAGAIN's short wait)
 *   inflight  written to the socket, waiting for a reply
 *
 * Connection states: DOWN (waiting out a reconnect backoff), CONNECTING
 * (name lookup, non-blocking connect and TLS handshake in progress, all
 * within connect_timeout_ms), HANDSHAKE (AUTH / SELECT / INFO
 * server / SCRIPT LOAD sent; each error reply is classified by
 * redlock__handshake_error_status(), and the run_id of INFO feeds the
 * manager's duplicate-server rule and, with the uptime, the restart
 * guard), READY. While DOWN, new work other than releases fails at once,
 * so a dead node costs callers nothing; while CONNECTING or HANDSHAKE it
 * waits in `pending` until its deadline.
 *
 * Guarantees (the fast path keeps each: it writes only when nothing
 * submitted earlier is still queued or parked, under the same io_mu):
 *   - Per-node FIFO: commands reach a node in submission order, so a
 *     release always follows the acquire it undoes. (One exception: after a
 *     NOSCRIPT reply the script is re-sent as EVAL behind commands already
 *     in flight; see docs/design.md. A release can then arrive after a
 *     later acquire of the same key by us, which only delays that acquire.)
 *   - A node that has not answered its oldest command within
 *     command_timeout_ms is failed and reconnected (this is how a SIGSTOPped
 *     or hung node is detected).
 *   - Releases are never dropped while the key might still exist: they wait
 *     in `pending` across reconnects until op->keep_until_us, after which
 *     the key has expired by TTL anyway.
 *   - Work whose caller has stopped waiting is skipped before it is written
 *     (except releases), and so is an acquire cancelled by its own release
 *     (slot->wire, internal.h): that node then gets no release either.
 *   - At most NODE_INFLIGHT_MAX commands are written and unanswered at a
 *     time; the rest wait in `pending`. So a node that stops answering
 *     holds only that many written commands (each of which may need a
 *     release); work behind them can still be skipped or cancelled.
 *   - The pending list is scanned for expired or skippable slots on a
 *     timer (PENDING_SCAN_MIN_US, longer for long lists), never once per
 *     wake-up: a stalled node with tens of thousands of slots waiting
 *     costs little CPU. Expiry found late is harmless (every caller keeps
 *     its own deadline), and a slot is checked again just before it is
 *     sent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "classify.h"
#include "clock.h"
#include "cluster.h"
#include "sentinel.h"
#include "conn.h"
#include "internal.h"
#include "node.h"
#include "op.h"
#include "quorum.h"
#include "reply.h"
#include "scripts.h"
#include "subscribe.h"
#include "token.h"
#include "uri.h"

/* The restart guard (docs/safety.md, "Restart guard"): the handshake's
 * INFO server gives the server's uptime and run_id; from them the worker
 * keeps when the server restarted at the latest (restart_us, rule in
 * quorum.c). While the guard lasts, acquires and extends (restores too)
 * finish at once with REDLOCK_EGUARDED, unsent, as a duplicate node's
 * do; releases and reads still go. The start and the end are reported
 * like a down and an up. The end is computed at each look from the guard
 * time in force, and once passed the worker clears restart_us, so the
 * guard ends once per restart. */

/* Most commands written to a node and not yet answered. Far above what
 * a healthy node has in flight (a batch of a thousand lease renewals plus
 * the callers' own), small enough to bound what a stalled node pins. */
#define NODE_INFLIGHT_MAX 4096u
/* Shortest interval between scans of the pending list; each slot waiting
 * adds PENDING_SCAN_PER_SLOT_NS to it, so scanning stays a small share
 * of the worker's time however long the list grows. */
#define PENDING_SCAN_MIN_US 10000u
#define PENDING_SCAN_PER_SLOT_NS 1000u
/* Most handshake commands: AUTH, SELECT, INFO and one SCRIPT LOAD per
 * script, with room to spare. */
#define HANDSHAKE_MAX 12
/* A cluster shard's TRYAGAIN (keys of one command split by a slot
 * migration in progress) is answered by sending the command again after
 * this long, within its deadline, at most CLUSTER_REDIRECTS_MAX times
 * with its other redirects (cluster.c). */
#define NODE_TRYAGAIN_US 20000u
/* Most commands in flight that a calling thread adopts when it writes to
 * a node inline (replies owed to callers that left; see
 * redlock__node_try_send). Past it the worker takes over. */
#define NODE_ADOPT_MAX 64u

/* ------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------ */

typedef enum conn_state {
    CONN_DOWN = 0,
    CONN_CONNECTING = 1,
    CONN_HANDSHAKE = 2,
    CONN_READY = 3
} conn_state;

/* A report (node event or log line) the worker made while holding
 * io_mu: user code never runs under a library mutex (internal.h), so it
 * is delivered after the worker drops it. */
#define NODE_NOTES_MIN 8
typedef struct node_note {
    bool is_event;             /* node event (node_error_fn) or log line */
    redlock_log_level level;   /* log lines only */
    redlock_status st;         /* node events only */
    char msg[256];
} node_note;

/* A singly linked FIFO of slots. */
typedef struct slot_list {
    redlock__slot *head, *tail;
    size_t len;
} slot_list;

struct redlock__node {
    redlock__node_env env;     /* from the manager; outlives the node */
    size_t idx;
    redlock__uri uri;
    pthread_t thread;
    bool started;
    int wake_fd;               /* eventfd, written by submitters */

    /* Shared with submitters, under queue_mu. */
    pthread_mutex_t queue_mu;
    slot_list queue;
    bool stopping;             /* destroy has begun */
    bool worker_gone;          /* the worker exited: fail new work at once */
    uint64_t shutdown_deadline_us;
    atomic_size_t load;        /* slots owned by this node (queue + worker) */

    /* Under io_mu: the connection and the lists below. The worker holds
     * io_mu for each pass and drops it only to poll; a calling thread
     * takes it (trylock) to write to an idle node, and to read replies
     * while it waits (the fast path, see DESIGN). Everything else in this
     * block is the worker's alone. */
    pthread_mutex_t io_mu;
    redlock__conn *conn;       /* never NULL; CLOSED while DOWN */
    uint64_t conn_gen;         /* bumped whenever the connection closes:
                                  a caller's remembered fd is stale then */
    atomic_ullong writes_inline; /* commands written by calling threads */
    atomic_ullong writes_worker; /* and by the worker (for tests and the
                                    bench: how often the fast path ran) */
    bool worker_reads;         /* the worker's current poll watches the
                                  connection for replies (it had work in
                                  flight when it went to sleep) */
    uint64_t worker_wake_us;   /* when that poll times out at the latest */
    int readers;               /* calling threads reading inline now (at
                                  most one: see redlock__node_try_send) */
    redlock_status inline_err; /* a failure met by a calling thread; the
                                  worker closes the connection (conn_fail)
                                  on its next pass. OK: none */
    char inline_msg[200];
    node_note *notes;          /* reports made by the worker under io_mu,
                                  handed to the user's callbacks once it
                                  is dropped (emit_notes); the worker's */
    size_t notes_len, notes_cap;
    node_note note_spare;      /* written when none can be kept (OOM) */
    conn_state state;
    uint64_t connect_started_us;
    uint64_t next_connect_us;
    uint32_t backoff_ms;
    uint64_t work_bound_us;    /* shortest wait of the work that found the
                                  node down since it was last ready (0:
                                  none): bounds the backoff (conn_fail) */
    bool probe_wanted;         /* work arrived while down: reconnect now
                                  (at most once per reconnect_min_ms) */
    int handshake_replies;     /* handshake replies still expected */
    int handshake_total;       /* handshake commands sent */
    uint8_t handshake_kind[HANDSHAKE_MAX]; /* per handshake command: a
                                  redlock__hs_cmd, which says what an
                                  error reply to it means */
    int handshake_script[HANDSHAKE_MAX]; /* per handshake command: the
                                  script a SCRIPT LOAD loads, or -1 */
    bool script_eval[REDLOCK__SCRIPT_COUNT]; /* this connection's SCRIPT
                                  LOAD answered another digest than ours:
                                  send that script as EVAL (see
                                  check_script_digest()) */
    bool is_down_reported;     /* last event reported was "down" */
    redlock_status last_error_status; /* of the last "down" report */
    char last_error[200];      /* its message, for fail-fast details */
    bool ever_connected;
    bool stop_seen;            /* worker's copy of `stopping` */
    uint64_t stop_deadline_us; /* worker's copy of shutdown_deadline_us */
    slot_list pending;
    slot_list inflight;
    uint64_t pending_scan_us;  /* next scan of pending (expire_pending) */
    atomic_int dup_of;         /* -1, or the voting node this one is the
                                  same server as: written by any worker's
                                  handshake (manager.c, under dup_mu) */
    int dup_reported;          /* dup_of as last reported */
    bool run_id_warned;        /* "cannot read run_id" logged once */
    /* The restart guard. */
    _Atomic uint64_t restart_us; /* when the server restarted at the
                                  latest, or REDLOCK__RESTART_NONE (not
                                  guarded): written by the worker, read
                                  by redlock__node_guard_left_us() */
    char last_run_id[41];      /* the last run_id seen here ("" none) */
    _Atomic uint64_t first_write_us; /* when a command carrying a TTL
                                  was first written here (UINT64_MAX:
                                  never): AUTO guards only restarts
                                  after it. Written by the worker once,
                                  read by inspect */
    char guard_why[112];       /* why restart_us was set, for messages */
    bool guard_reported;       /* the guard's start was reported */
    redlock__reply_guard reply_guard; /* the reader's limits (reply.h) */
    /* Pub/sub wake-ups: the subscriber connection (subscribe.c), driven
     * by this worker's loop; never NULL (but for a cluster node). */
    redlock__sub *sub;
    /* A cluster node (cluster.c) has no worker and no connection of its
     * own: it routes to its shards' workers. NULL for other nodes. */
    redlock__cluster *cluster;
    /* A shard of a cluster node: that node (its router takes MOVED and
     * ASK replies) and the name events are reported under. */
    redlock__node *parent;
    const char *event_name;    /* uri.display, or the parent's name */
    const char *role;          /* a member's: "shard", "master" or
                                  "sentinel" (static), for its events */
    bool newcomer;             /* see redlock__node_new_member() */
    atomic_bool promoted;      /* guarded by redlock__node_guard_from_now()
                                  (the guard's message says so) */
    /* A Sentinel-managed master (sentinel.c): routes to the current
     * master's worker. NULL for other nodes. */
    redlock__sentinel *sentinel;
};

/* ------------------------------------------------------------------------
 * Slot lists
 * ------------------------------------------------------------------------ */

/* Append s to l. */
static void list_push(slot_list *l, redlock__slot *s)
{
    s->next = NULL;
    if (l->tail != NULL)
        l->tail->next = s;
    else
        l->head = s;
    l->tail = s;
    l->len++;
}

/* Remove and return the head of l, or NULL. */
static redlock__slot *list_pop(slot_list *l)
{
    redlock__slot *s = l->head;
    if (s == NULL)
        return NULL;
    l->head = s->next;
    if (l->head == NULL)
        l->tail = NULL;
    l->len--;
    s->next = NULL;
    return s;
}

/* Move all of src to the end of dst; src becomes empty. */
static void list_append_all(slot_list *dst, slot_list *src)
{
    if (src->head == NULL)
        return;
    if (dst->tail != NULL)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->len += src->len;
    src->head = src->tail = NULL;
    src->len = 0;
}

/* ------------------------------------------------------------------------
 * Reports, delivered outside io_mu
 * ------------------------------------------------------------------------ */

/* The node whose worker runs on this thread (NULL on other threads): the
 * worker alone changes the connection's state; a calling thread that
 * meets a failure leaves it to the worker (fail()). */
static _Thread_local redlock__node *tl_worker;

/* Keep a report for emit_notes(). Worker only, io_mu held. The list
 * grows as needed (a pass makes a few: reports are per transition); only
 * when memory runs out is the last one overwritten, so the newest state is
 * still told. */
static node_note *note_new(redlock__node *nd)
{
    if (nd->notes_len == nd->notes_cap) {
        size_t cap = nd->notes_cap != 0 ? nd->notes_cap * 2 : NODE_NOTES_MIN;
        node_note *v = realloc(nd->notes, cap * sizeof(*v));
        if (v != NULL) {
            nd->notes = v;
            nd->notes_cap = cap;
        } else if (nd->notes_len == 0) {
            return &nd->note_spare; /* dropped: nothing can be kept */
        } else {
            return &nd->notes[nd->notes_len - 1];
        }
    }
    return &nd->notes[nd->notes_len++];
}

/* A node event (up/down) for node_error_fn and the log. */
static void note_event(redlock__node *nd, redlock_status st, const char *msg)
{
    node_note *n = note_new(nd);
    n->is_event = true;
    n->st = st;
    if (nd->parent != NULL)
        snprintf(n->msg, sizeof(n->msg), "%s %s: %s", nd->role,
                 nd->uri.display, msg);
    else
        snprintf(n->msg, sizeof(n->msg), "%s", msg);
}

/* A log line. */
static void note_log(redlock__node *nd, redlock_log_level level,
                     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note_log(redlock__node *nd, redlock_log_level level,
                     const char *fmt, ...)
{
    node_note *n = note_new(nd);
    n->is_event = false;
    n->level = level;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->msg, sizeof(n->msg), fmt, ap);
    va_end(ap);
}

/* Deliver the reports kept in this pass, in order. Worker only, io_mu
 * NOT held (the notes are the worker's alone: only it writes them). */
static void emit_notes(redlock__node *nd)
{
    for (size_t i = 0; i < nd->notes_len; i++) {
        const node_note *n = &nd->notes[i];
        if (n->is_event)
            redlock__log_node_event(nd->env.log_to, nd->event_name, n->st,
                                    n->msg);
        else
            redlock__log(nd->env.log_to, n->level, "%s", n->msg);
    }
    nd->notes_len = 0;
}

/* Wake the worker (any thread). Under queue_mu, so that the eventfd is
 * not closed by redlock__node_stop() meanwhile. */
static void wake_worker(redlock__node *nd)
{
    pthread_mutex_lock(&nd->queue_mu);
    if (!nd->worker_gone) {
        uint64_t one = 1;
        ssize_t w = write(nd->wake_fd, &one, sizeof(one));
        (void)w; /* EAGAIN: the counter is already non-zero */
    }
    pthread_mutex_unlock(&nd->queue_mu);
}

/* ------------------------------------------------------------------------
 * Completing slots
 * ------------------------------------------------------------------------ */

/* True for slots that must never be dropped while their key may exist. */
static bool is_release(const redlock__slot *s)
{
    return s->op->kind == REDLOCK__OP_RELEASE;
}

/* Finish a slot: record the answer, drop its reference, and count it out
 * of the node's load. */
static void finish(redlock__node *nd, redlock__slot *s, redlock__answer ans,
                   redlock_status err, const char *detail)
{
    atomic_fetch_sub_explicit(&nd->load, 1, memory_order_relaxed);
    redlock__op_complete(s, ans, err, nd->uri.display, detail);
}

/* Drop a slot whose caller no longer waits, without an answer. */
static void drop(redlock__node *nd, redlock__slot *s)
{
    atomic_fetch_sub_explicit(&nd->load, 1, memory_order_relaxed);
    redlock__op_unref(s->op);
}

/* True if the slot's caller has stopped waiting, or its lock cancelled
 * it, and it may be skipped. */
static bool droppable(const redlock__slot *s)
{
    /* acquire pairs with the caller's release store of abandoned. */
    return !is_release(s) &&
           (atomic_load_explicit(&s->op->abandoned, memory_order_acquire) ||
            atomic_load_explicit(s->wire, memory_order_acquire) ==
                REDLOCK__WIRE_CANCELLED);
}

/* Park s at the end of pending; a list that was empty is first scanned
 * PENDING_SCAN_MIN_US from now. */
static void park(redlock__node *nd, redlock__slot *s, uint64_t now)
{
    if (nd->pending.head == NULL)
        nd->pending_scan_us = now + PENDING_SCAN_MIN_US;
    list_push(&nd->pending, s);
}

/* True if the slot has outlived its purpose at time now. */
static bool expired(const redlock__slot *s, uint64_t now)
{
    if (is_release(s))
        return now >= s->op->keep_until_us;
    return s->op->deadline_us != 0 && now >= s->op->deadline_us;
}

/* ------------------------------------------------------------------------
 * Sending and interpreting replies
 * ------------------------------------------------------------------------ */

/* Describe that nd is the same server as node `of`, into msg. */
static void dup_message(const redlock__node *nd, int of, char *msg,
                        size_t len)
{
    const char *other = nd->env.node_name(nd->env.ctx, (size_t)of);
    char id[41];
    nd->env.run_id_of(nd->env.ctx, nd->idx, id);
    snprintf(msg, len,
             "configuration error: %s is the same server as %s (run_id "
             "%.12s...); it does not vote: each node must be an "
             "independent server",
             nd->uri.display, other, id);
}

/* True for the commands a restart guard holds back: those that can
 * make a node say "yes" for a lock (acquire, extend, restore). */
static bool guard_applies(const redlock__slot *s)
{
    redlock__op_kind k = s->op->kind;
    return k == REDLOCK__OP_ACQUIRE || k == REDLOCK__OP_ACQUIRE_MULTI ||
           k == REDLOCK__OP_EXTEND;
}

/* True while nd's restart guard lasts at now; *until and *guard_ms (the
 * guard time in force) are set then. Once it has passed, restart_us is
 * cleared, so a longer TTL sent later does not start it again. Worker
 * only. */
static bool guard_active(redlock__node *nd, uint64_t now, uint64_t *until,
                         uint32_t *guard_ms)
{
    uint64_t r = atomic_load_explicit(&nd->restart_us, memory_order_relaxed);
    if (r == REDLOCK__RESTART_NONE)
        return false;
    *until = nd->env.guard_until_us(
        nd->env.ctx, r,
        atomic_load_explicit(&nd->first_write_us, memory_order_relaxed),
        guard_ms);
    if (now < *until)
        return true;
    /* Cleared only if no one restarted the guard meanwhile
     * (redlock__node_guard_from_now(), any thread). */
    atomic_compare_exchange_strong(&nd->restart_us, &r,
                                   REDLOCK__RESTART_NONE);
    return false;
}

/* Describe nd's restart guard (see guard_active) into msg. */
static void guard_message(const redlock__node *nd, uint64_t now,
                          uint64_t until, uint32_t guard_ms, char *msg,
                          size_t len)
{
    bool is_auto =
        nd->env.opts->restart_guard_ms == REDLOCK_RESTART_GUARD_AUTO;
    uint64_t left = until - now;
    snprintf(msg, len,
             "restart guard: %s, guard %.1f s%s: no acquires or extends "
             "for %.1f s more (releases still go)",
             atomic_load_explicit(&nd->promoted, memory_order_relaxed)
                 ? "became a master of the cluster's slots (a failover)"
                 : nd->guard_why,
             (double)guard_ms / 1000.0,
             is_auto ? " (auto: largest TTL sent)" : "",
             (double)(left / 1000u) / 1000.0);
}

/* Append s's command to the output buffer and move it to inflight. Returns
 * false if it could not be buffered (out of memory). A node that is the
 * same server as another fails it instead (releases still go: they only
 * delete our own keys). So does a node in its restart guard, for
 * acquires and extends. */
static bool send_slot(redlock__node *nd, redlock__slot *s, uint64_t now)
{
    redlock__op *op = s->op;
    bool ok;
    int dup = atomic_load_explicit(&nd->dup_of, memory_order_relaxed);
    if (dup >= 0 && !is_release(s)) {
        char msg[240];
        dup_message(nd, dup, msg, sizeof(msg));
        finish(nd, s, REDLOCK__ANS_ERROR, REDLOCK_EDUPNODE, msg);
        return true;
    }
    uint64_t until;
    uint32_t guard_ms;
    if (guard_applies(s) && guard_active(nd, now, &until, &guard_ms)) {
        /* Unsent: the wire stays QUEUED, so this node gets no release
         * for it either. */
        char msg[240];
        guard_message(nd, now, until, guard_ms, msg, sizeof(msg));
        finish(nd, s, REDLOCK__ANS_ERROR, REDLOCK_EGUARDED, msg);
        return true;
    }
    /* Claim the slot for the wire; a cancelled one is dropped instead. (A
     * slot re-sent after NOSCRIPT or a reconnect is SENT already.) */
    unsigned char expected = REDLOCK__WIRE_QUEUED;
    if (!atomic_compare_exchange_strong_explicit(
            s->wire, &expected, REDLOCK__WIRE_SENT, memory_order_acq_rel,
            memory_order_acquire) &&
        expected == REDLOCK__WIRE_CANCELLED) {
        drop(nd, s);
        return true;
    }
    if (!s->eval_fallback && op->script < REDLOCK__SCRIPT_COUNT &&
        nd->script_eval[op->script])
        s->eval_fallback = 1; /* our digest is not the node's */
    if (s->asking) {
        /* An ASK redirect (cluster.c): this command alone may use the
         * importing slot. Its reply comes first (on_reply). */
        const char *ask[1] = {"ASKING"};
        size_t ask_len[1] = {6};
        if (!redlock__conn_append(nd->conn, 1, ask, ask_len)) {
            finish(nd, s, REDLOCK__ANS_ERROR, REDLOCK_ENOMEM,
                   "could not buffer command");
            return false;
        }
        s->ask_owed = 1;
    }
    if (s->eval_fallback) {
        /* Same arguments, but EVAL with the source instead of EVALSHA. */
        const char *argv[3 + 2 * REDLOCK_MULTI_MAX + 2];
        size_t lens[3 + 2 * REDLOCK_MULTI_MAX + 2];
        int argc = op->argc;
        if ((size_t)argc > sizeof(argv) / sizeof(argv[0]))
            argc = (int)(sizeof(argv) / sizeof(argv[0]));
        for (int i = 0; i < argc; i++) {
            argv[i] = op->argv[i];
            lens[i] = op->argvlen[i];
        }
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = redlock__script_source(op->script);
        lens[1] = strlen(argv[1]);
        ok = redlock__conn_append(nd->conn, argc, argv, lens);
    } else {
        ok = redlock__conn_append(nd->conn, op->argc, op->argv,
                                  op->argvlen);
    }
    if (!ok) {
        finish(nd, s, REDLOCK__ANS_ERROR, REDLOCK_ENOMEM,
               "could not buffer command");
        return false;
    }
    if (guard_applies(s)) {
        /* Only the first: a CAS, as redlock__node_guard_from_now() may
         * give an earlier one meanwhile. */
        uint64_t none = UINT64_MAX;
        atomic_compare_exchange_strong(&nd->first_write_us, &none, now);
    }
    s->sent_us = now;
    list_push(&nd->inflight, s);
    atomic_fetch_add_explicit(tl_worker == nd ? &nd->writes_worker
                                              : &nd->writes_inline,
                              1, memory_order_relaxed);
    return true;
}

/* ------------------------------------------------------------------------
 * Connection management
 * ------------------------------------------------------------------------ */

/* Report an up/down transition through the manager's callback: once per
 * transition, and again while down only when the reason changes (so a
 * node that went down on a reset and is now refusing us for being full
 * says so, without repeating every failed reconnect). */
static void report(redlock__node *nd, bool down, redlock_status st,
                   const char *message)
{
    /* last_error keeps the first sizeof - 1 bytes: compare only those,
     * so a longer message is not reported again and again. */
    size_t keep = strnlen(message, sizeof(nd->last_error) - 1);
    if (down == nd->is_down_reported &&
        (!down || (st == nd->last_error_status &&
                   strlen(nd->last_error) == keep &&
                   memcmp(message, nd->last_error, keep) == 0)))
        return;
    nd->is_down_reported = down;
    if (down) {
        nd->last_error_status = st;
        memcpy(nd->last_error, message, keep);
        nd->last_error[keep] = '\0';
    }
    note_event(nd, st, message);
}

/* Close the connection after a failure: in-flight and pending work fails
 * (releases are kept for the next connection), and a reconnect is scheduled
 * after a jittered, doubling backoff. */
static void conn_fail(redlock__node *nd, redlock_status st, const char *why,
                      uint64_t now)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "%s", why);
    redlock__conn_close(nd->conn);
    nd->conn_gen++;
    nd->inline_err = REDLOCK_OK; /* this is the failure it asked for */
    nd->state = CONN_DOWN;
    nd->handshake_replies = 0;

    /* Releases are retried on the next connection, in their original
     * order: in-flight ones first, then those still pending. */
    slot_list keep = {0};
    redlock__slot *s;
    while ((s = list_pop(&nd->inflight)) != NULL) {
        if (is_release(s) && !expired(s, now) && !nd->stop_seen)
            list_push(&keep, s);
        else
            finish(nd, s, REDLOCK__ANS_ERROR, st, msg);
    }
    while ((s = list_pop(&nd->pending)) != NULL) {
        if (is_release(s) && !expired(s, now))
            list_push(&keep, s);
        else if (droppable(s))
            drop(nd, s);
        else
            finish(nd, s, REDLOCK__ANS_ERROR, st, msg);
    }
    nd->pending = keep;
    nd->pending_scan_us = 0; /* scan the kept releases next pass */
    /* A cluster shard's master may have died: its slots' new master is
     * learnt from the map (no MOVED comes from a dead server). */
    if (nd->parent != NULL && nd->parent->cluster != NULL)
        redlock__cluster_shard_failed(nd->parent->cluster);

    uint32_t max = nd->env.opts->reconnect_max_ms;
    uint32_t delay = nd->backoff_ms;
    /* Jitter in [delay/2, delay], so many clients do not reconnect in
     * step after a node restart. */
    uint32_t jittered = delay / 2 + redlock__random_upto(delay - delay / 2);
    nd->next_connect_us =
        now + redlock__reconnect_delay_us(
                  jittered, nd->env.opts->reconnect_min_ms,
                  nd->pending.head != NULL, nd->work_bound_us);
    nd->backoff_ms = delay >= max / 2 ? max : delay * 2;
    report(nd, true, st, msg);
}

/* A failure of the connection, met by whichever thread holds io_mu. The
 * worker closes it at once (conn_fail); a calling thread doing inline I/O
 * only closes the socket, records the failure and wakes the worker,
 * which then fails the work and reports it (user callbacks and state
 * changes stay on the worker). Until then inline_err keeps every caller
 * off the connection. */
static void fail(redlock__node *nd, redlock_status st, const char *why,
                 uint64_t now)
{
    if (tl_worker == nd) {
        conn_fail(nd, st, why, now);
        return;
    }
    if (nd->inline_err != REDLOCK_OK)
        return;
    nd->inline_err = st;
    snprintf(nd->inline_msg, sizeof(nd->inline_msg), "%s", why);
    redlock__conn_close(nd->conn);
    nd->conn_gen++;
    wake_worker(nd);
}

/* True while the connection may be read and written: ready, and no
 * calling thread has met a failure the worker has yet to act on. */
static bool conn_usable(const redlock__node *nd)
{
    return nd->state >= CONN_HANDSHAKE && nd->inline_err == REDLOCK_OK;
}

/* While connected, send waiting slots in order, up to the in-flight
 * limit. A slot past its deadline is failed instead of sent, even if the
 * timed scan has not reached it yet (a late restore must not land). */
static void pump_pending(redlock__node *nd, uint64_t now)
{
    redlock__slot *s;
    while (nd->state == CONN_READY &&
           nd->inflight.len < NODE_INFLIGHT_MAX &&
           (s = list_pop(&nd->pending)) != NULL) {
        if (s->not_before_us > now && !droppable(s)) {
            /* A TRYAGAIN's short wait: it stays first (FIFO). */
            s->next = nd->pending.head;
            nd->pending.head = s;
            if (nd->pending.tail == NULL)
                nd->pending.tail = s;
            nd->pending.len++;
            break;
        }
        if (droppable(s))
            drop(nd, s);
        else if (!is_release(s) && expired(s, now))
            finish(nd, s, REDLOCK__ANS_ERROR, REDLOCK_ETIMEDOUT,
                   "timed out before it could be sent");
        else
            send_slot(nd, s, now);
    }
}

/* Report a change of nd's duplicate state (see dup_of): becoming the
 * same server as another node is reported as down with
 * REDLOCK_EDUPNODE (and logged at ERROR); ceasing to be, as up if
 * connected. Called on every pass of the worker and when the connection
 * becomes ready. */
static void report_dup_change(redlock__node *nd)
{
    int dup = atomic_load_explicit(&nd->dup_of, memory_order_relaxed);
    if (dup == nd->dup_reported)
        return;
    nd->dup_reported = dup;
    if (dup >= 0) {
        char msg[240];
        dup_message(nd, dup, msg, sizeof(msg));
        report(nd, true, REDLOCK_EDUPNODE, msg);
    } else if (nd->state == CONN_READY) {
        report(nd, false, REDLOCK_OK,
               "connected (no longer the same server as another node)");
    }
}

/* Report the start and the end of nd's restart guard (see
 * guard_active): the start as down with REDLOCK_EGUARDED (logged at
 * WARN), the end as up. Silent while nd is a duplicate (that report says
 * more) or not connected. Called on every pass of the worker and when
 * the connection becomes ready. */
static void report_guard_change(redlock__node *nd, uint64_t now)
{
    uint64_t until = 0;
    uint32_t guard_ms = 0;
    bool on = nd->state == CONN_READY &&
              guard_active(nd, now, &until, &guard_ms);
    if (on == nd->guard_reported)
        return;
    nd->guard_reported = on;
    if (atomic_load_explicit(&nd->dup_of, memory_order_relaxed) >= 0)
        return;
    if (on) {
        char msg[240];
        guard_message(nd, now, until, guard_ms, msg, sizeof(msg));
        report(nd, true, REDLOCK_EGUARDED, msg);
    } else if (nd->state == CONN_READY) {
        report(nd, false, REDLOCK_OK,
               "connected (restart guard over: acquires and extends go "
               "again)");
    }
}

/* The connection is usable: send what waited for it. */
static void conn_ready(redlock__node *nd, uint64_t now)
{
    nd->state = CONN_READY;
    nd->backoff_ms = nd->env.opts->reconnect_min_ms;
    nd->work_bound_us = 0;
    nd->probe_wanted = false;
    nd->ever_connected = true;
    int dup = atomic_load_explicit(&nd->dup_of, memory_order_relaxed);
    uint64_t until;
    uint32_t guard_ms;
    nd->dup_reported = -1; /* report it again on this connection */
    nd->guard_reported = false;
    if (dup >= 0)
        report_dup_change(nd);
    else if (guard_active(nd, now, &until, &guard_ms))
        report_guard_change(nd, now);
    else
        report(nd, false, REDLOCK_OK, "connected");
    pump_pending(nd, now);
}

/* The INFO server reply of the handshake: record the server's run_id so
 * that two nodes on one server are found (redlock__dup_update()). An
 * error (an ACL without INFO) or a reply without run_id leaves it
 * unknown: this node is then never taken for a duplicate, and a warning
 * says so once. */
static void on_run_id(redlock__node *nd, const redisReply *r, uint64_t now)
{
    char id[41] = "";
    bool text = r->type == REDIS_REPLY_STRING ||
                r->type == REDIS_REPLY_STATUS;
    bool ok = text && redlock__parse_run_id(r->str, r->len, id);
    uint64_t uptime = 0;
    bool uptime_ok = text && redlock__parse_uptime(r->str, r->len, &uptime);
    /* The restart guard: a run_id other than the last one seen here, or
     * a short uptime (rule in quorum.c). */
    redlock__run_id_seen seen =
        !ok || nd->last_run_id[0] == '\0' ? REDLOCK__RUN_ID_NEW
        : strcmp(nd->last_run_id, id) == 0 ? REDLOCK__RUN_ID_SAME
                                           : REDLOCK__RUN_ID_CHANGED;
    if ((nd->newcomer || atomic_load(&nd->promoted)) &&
        nd->last_run_id[0] == '\0') {
        /* A cluster's master first met after its slot map was known, or
         * a member promoted before its first handshake: a promoted
         * replica may lack our keys. Guarded from now, as a restart
         * (cluster.c, DESIGN); without this, a first handshake's uptime
         * rule would replace the promotion's guard with an older start. */
        seen = REDLOCK__RUN_ID_CHANGED;
        snprintf(nd->guard_why, sizeof(nd->guard_why), "%s",
                 nd->parent != NULL && nd->parent->sentinel != NULL
                     ? "a new master named by the sentinels (failover)"
                     : "a new master of the cluster's slots (failover)");
    } else if (seen == REDLOCK__RUN_ID_CHANGED) {
        snprintf(nd->guard_why, sizeof(nd->guard_why),
                 "run_id changed from %.12s... to %.12s...", nd->last_run_id,
                 id);
        atomic_store(&nd->promoted, false); /* this restart's message */
    }
    else if (seen == REDLOCK__RUN_ID_NEW && uptime_ok)
        snprintf(nd->guard_why, sizeof(nd->guard_why), "uptime %llu s",
                 (unsigned long long)uptime);
    if (ok) /* else keep the last one, to compare with the next */
        memcpy(nd->last_run_id, id, sizeof(id));
    /* A compare-and-swap: redlock__node_guard_from_now() (another
     * thread) may start the guard meanwhile, and must not be undone. */
    uint64_t prev = atomic_load(&nd->restart_us);
    while (!atomic_compare_exchange_weak(
        &nd->restart_us, &prev,
        redlock__restart_at_us(now, prev, seen, uptime_ok, uptime)))
        ;
    if ((!ok || !uptime_ok) && !nd->run_id_warned) {
        nd->run_id_warned = true;
        note_log(nd, REDLOCK_LOG_WARN,
                     "node %s: cannot read run_id or uptime from INFO server "
                     "(%.100s): this node cannot be checked for being the "
                     "same server as another, nor guarded after a restart",
                     nd->uri.display,
                     r->type == REDIS_REPLY_ERROR && r->str != NULL
                         ? r->str
                         : "no run_id or uptime_in_seconds line");
    }
    nd->env.set_run_id(nd->env.ctx, nd->idx, id);
    /* A Sentinel master's run_id stands for its node in the duplicate
     * rule (sentinel.c). */
    if (nd->parent != NULL && nd->parent->sentinel != NULL && ok)
        redlock__sentinel_master_run_id(nd->parent->sentinel, nd, id);
}

/* Queue one handshake command of the given kind (a redlock__hs_cmd: it
 * decides what an error reply means); script is the script a SCRIPT LOAD
 * loads (-1: none). */
static bool handshake_cmd(redlock__node *nd, int argc, const char **argv,
                          const size_t *lens, redlock__hs_cmd kind,
                          int script)
{
    if (nd->handshake_total >= HANDSHAKE_MAX ||
        !redlock__conn_append(nd->conn, argc, argv, lens))
        return false;
    nd->handshake_script[nd->handshake_total] = script;
    nd->handshake_kind[nd->handshake_total++] = (uint8_t)kind;
    nd->handshake_replies++;
    return true;
}

/* Compare a SCRIPT LOAD reply with the digest we send in EVALSHA. An
 * error reply (an ACL that forbids SCRIPT) is not a mismatch: NOSCRIPT
 * then falls back to EVAL per call. Any other answer that is not our
 * digest means every EVALSHA of that script would miss the node's cache
 * (a wrong digest in scripts.c, or something other than Redis answering):
 * logged as an error once per connection, and the script is sent as EVAL
 * with its source on this connection, so locks keep working, at the cost
 * of sending the source each time. Rejected: failing the connection (the
 * node works, only the shortcut does not) and relying on the NOSCRIPT
 * fallback alone (it hides the mismatch and costs a round trip per call). */
static void check_script_digest(redlock__node *nd, int script,
                                const redisReply *r)
{
    if (script < 0 || script >= REDLOCK__SCRIPT_COUNT ||
        r->type == REDIS_REPLY_ERROR)
        return;
    const char *ours = redlock__script_sha((redlock__script_id)script);
    bool same = r->type == REDIS_REPLY_STRING && r->str != NULL &&
                r->len == 40 && memcmp(r->str, ours, 40) == 0;
    if (same)
        return;
    nd->script_eval[script] = true;
    char got[48];
    if ((r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
        r->str != NULL)
        snprintf(got, sizeof(got), "\"%.40s\"", r->str);
    else
        snprintf(got, sizeof(got), "a reply of type %d", r->type);
    note_log(nd, REDLOCK_LOG_ERROR,
                 "node %s: script digest mismatch: SCRIPT LOAD of script %d "
                 "answered %s, we expected %s; sending that script as EVAL "
                 "on this connection",
                 nd->uri.display, script, got, ours);
}

/* Send AUTH and SELECT as configured, then SCRIPT LOAD our scripts (so a
 * node restarted empty has them before any EVALSHA: NOSCRIPT then only
 * follows a SCRIPT FLUSH mid-connection). Replies are read in
 * on_reply(). */
static void conn_handshake(redlock__node *nd, uint64_t now)
{
    bool ok = true;
    nd->handshake_replies = 0;
    nd->handshake_total = 0;
    memset(nd->script_eval, 0, sizeof(nd->script_eval));
    const redlock__uri *u = &nd->uri;
    const char *auth[3];
    size_t auth_lens[3];
    int auth_argc = redlock__uri_auth_args(u, auth, auth_lens);
    if (auth_argc > 0)
        ok = ok && handshake_cmd(nd, auth_argc, auth, auth_lens,
                                 REDLOCK__HS_AUTH, -1);
    if (u->db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", u->db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, strlen(db)};
        ok = ok && handshake_cmd(nd, 2, argv, lens, REDLOCK__HS_SELECT, -1);
    }
    {
        /* The server's run_id, read on every (re)connect: the name may
         * now lead to another server. */
        const char *argv[2] = {"INFO", "server"};
        size_t lens[2] = {4, 6};
        ok = ok && handshake_cmd(nd, 2, argv, lens, REDLOCK__HS_INFO, -1);
    }
    for (int i = 0; i < REDLOCK__SCRIPT_COUNT; i++) {
        const char *src = redlock__script_source((redlock__script_id)i);
        const char *argv[3] = {"SCRIPT", "LOAD", src};
        size_t lens[3] = {6, 4, strlen(src)};
        /* Not fatal: an ACL may forbid SCRIPT; EVAL fallback covers it.
         * The reply is compared with our digest (check_script_digest). */
        ok = ok && handshake_cmd(nd, 3, argv, lens, REDLOCK__HS_SCRIPT, i);
    }
    /* A handshake missing a command (out of memory) must not go on: a
     * node whose INFO was never asked would skip the restart guard and
     * the duplicate check. */
    if (!ok) {
        conn_fail(nd, REDLOCK_ENOMEM, "out of memory queuing the handshake",
                  now);
        return;
    }
    nd->state = CONN_HANDSHAKE;
}

/* Begin a connect (conn.h: never blocks; a name is looked up on a
 * resolver thread). A unix socket may be open at once. */
static void conn_start(redlock__node *nd, uint64_t now)
{
    char msg[200];
    nd->connect_started_us = now;
    redlock_status st = redlock__conn_open(nd->conn, msg, sizeof(msg));
    if (st != REDLOCK_OK) {
        conn_fail(nd, st, msg, now);
        return;
    }
    nd->state = CONN_CONNECTING;
    if (redlock__conn_phase_of(nd->conn) == REDLOCK__CONN_OPEN)
        conn_handshake(nd, now);
}

/* The connection's fd was ready while connecting: drive the lookup,
 * connect or TLS handshake on; once open, start our handshake. */
static void conn_check(redlock__node *nd, uint64_t now)
{
    char msg[200];
    redlock_status st = redlock__conn_advance(nd->conn, msg, sizeof(msg));
    if (st != REDLOCK_OK) {
        conn_fail(nd, st, msg, now);
        return;
    }
    if (redlock__conn_phase_of(nd->conn) == REDLOCK__CONN_OPEN)
        conn_handshake(nd, now);
}

/* Handle one reply that arrived on the connection. */
static void on_reply(redlock__node *nd, redisReply *r, uint64_t now)
{
    if (nd->state == CONN_HANDSHAKE) {
        int which = nd->handshake_total - nd->handshake_replies;
        bool known = which >= 0 && which < nd->handshake_total;
        redlock__hs_cmd kind = known ? (redlock__hs_cmd)nd->handshake_kind[which]
                                     : REDLOCK__HS_SCRIPT;
        /* What an error means depends on the command and the error's
         * code (reply.h): a refused AUTH or SELECT ends the connection,
         * a refused SCRIPT LOAD does not. */
        redlock_status st = REDLOCK_OK;
        if (r->type == REDIS_REPLY_ERROR && r->str != NULL)
            st = redlock__handshake_error_status(kind, r->str, r->len);
        if (st == REDLOCK_OK && known && kind == REDLOCK__HS_SCRIPT)
            check_script_digest(nd, nd->handshake_script[which], r);
        if (st == REDLOCK_OK && known && kind == REDLOCK__HS_INFO)
            on_run_id(nd, r, now);
        char msg[200];
        if (st == REDLOCK_EREFUSED)
            snprintf(msg, sizeof(msg),
                     "node refused the connection: %.150s", r->str);
        else if (st != REDLOCK_OK)
            snprintf(msg, sizeof(msg), "handshake refused: %.150s", r->str);
        freeReplyObject(r);
        if (st != REDLOCK_OK) {
            conn_fail(nd, st, msg, now);
            return;
        }
        if (--nd->handshake_replies == 0)
            conn_ready(nd, now);
        return;
    }
    if (nd->inflight.head != NULL && nd->inflight.head->ask_owed) {
        /* The reply to the ASKING sent before this slot (send_slot). */
        nd->inflight.head->ask_owed = 0;
        freeReplyObject(r);
        return;
    }
    redlock__slot *s = list_pop(&nd->inflight);
    if (s == NULL) {
        freeReplyObject(r);
        fail(nd, REDLOCK_EPROTO, "reply without a request", now);
        return;
    }
    if (nd->parent != NULL && nd->parent->sentinel != NULL &&
        r->type == REDIS_REPLY_ERROR && r->str != NULL)
        redlock__sentinel_on_error(nd->parent->sentinel, r->str, r->len);
    if (nd->parent != NULL && nd->parent->cluster != NULL &&
        r->type == REDIS_REPLY_ERROR && r->str != NULL && r->len >= 8 &&
        memcmp(r->str, "TRYAGAIN", 8) == 0 && !droppable(s) &&
        s->redirects < 5 &&
        now + NODE_TRYAGAIN_US < (is_release(s) ? s->op->keep_until_us
                                  : s->op->deadline_us != 0
                                      ? s->op->deadline_us
                                      : UINT64_MAX)) {
        /* A short retry, first in line again (pump_pending() holds it
         * until not_before_us; the worker's poll wakes for it). A caller
         * reading inline wakes the worker to send it. */
        freeReplyObject(r);
        s->redirects++;
        s->not_before_us = now + NODE_TRYAGAIN_US;
        s->next = nd->pending.head;
        nd->pending.head = s;
        if (nd->pending.tail == NULL)
            nd->pending.tail = s;
        nd->pending.len++;
        if (tl_worker != nd)
            wake_worker(nd);
        return;
    }
    if (nd->parent != NULL && nd->parent->cluster != NULL &&
        r->type == REDIS_REPLY_ERROR && r->str != NULL && !droppable(s)) {
        /* MOVED or ASK: the cluster's router sends s on (cluster.c). It
         * leaves this node's load first: the next node counts it. */
        atomic_fetch_sub_explicit(&nd->load, 1, memory_order_relaxed);
        if (redlock__cluster_redirect(nd->parent->cluster, s, r->str,
                                      r->len, nd->uri.host)) {
            freeReplyObject(r);
            return;
        }
        atomic_fetch_add_explicit(&nd->load, 1, memory_order_relaxed);
    }
    if (r->type == REDIS_REPLY_ERROR && s->op->kind != REDLOCK__OP_RAW &&
        s->op->kind != REDLOCK__OP_INT &&
        s->op->kind != REDLOCK__OP_ACQUIRE && !s->eval_fallback &&
        r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0) {
        /* The node lost its script cache: run the source instead, unless
         * the caller has given up (an acquire re-sent now could land
         * after its own undo and leave keys behind). */
        freeReplyObject(r);
        if (droppable(s)) {
            finish(nd, s, REDLOCK__ANS_ERROR, REDLOCK_EIO, "NOSCRIPT");
            return;
        }
        s->eval_fallback = 1;
        send_slot(nd, s, now);
        return;
    }
    redlock_status err;
    const char *detail;
    bool keep;
    redlock__answer ans =
        redlock__reply_interpret(s->op->kind, r, &err, &detail, &keep);
    char msg[160] = "";
    if (detail != NULL)
        snprintf(msg, sizeof(msg), "%s", detail);
    if (redlock__reply_key_missing(s->op->kind, r) && s->op->wires != NULL)
        atomic_fetch_or_explicit(&s->op->wires->missing,
                                 (uint64_t)1 << s->node,
                                 memory_order_relaxed);
    if (keep)
        s->reply = r; /* owned by the op from now on */
    else
        freeReplyObject(r);
    finish(nd, s, ans, err, detail != NULL ? msg : NULL);
}

/* Write as much of the output buffer as the socket takes. */
static void flush_output(redlock__node *nd, uint64_t now)
{
    if (!conn_usable(nd))
        return;
    char msg[200];
    redlock_status st = redlock__conn_flush(nd->conn, msg, sizeof(msg));
    if (st != REDLOCK_OK)
        fail(nd, st, msg, now);
}

/* Read everything that arrived (TLS data OpenSSL has buffered too, so
 * nothing waits behind a poll that would not wake) and handle every
 * complete reply after each chunk, so the reader's buffer stays small. */
static void read_input(redlock__node *nd, uint64_t now)
{
    char msg[200];
    bool eof = false;
    while (!eof && conn_usable(nd)) {
        redlock_status st =
            redlock__conn_read(nd->conn, &eof, msg, sizeof(msg));
        if (st != REDLOCK_OK) {
            fail(nd, st, msg, now);
            return;
        }
        while (conn_usable(nd)) {
            void *reply = NULL;
            st = redlock__conn_get_reply(nd->conn, &reply, msg, sizeof(msg));
            if (st != REDLOCK_OK) {
                fail(nd, st, msg, now);
                return;
            }
            if (reply == NULL)
                break;
            on_reply(nd, reply, now);
        }
    }
}

/* ------------------------------------------------------------------------
 * The worker loop
 * ------------------------------------------------------------------------ */

/* Route one slot: send it, park it behind the others, or fail it. */
static void route(redlock__node *nd, redlock__slot *s, uint64_t now)
{
    if (droppable(s))
        drop(nd, s);
    else if (nd->stop_seen && !is_release(s))
        finish(nd, s, REDLOCK__ANS_ERROR, REDLOCK_ECLOSED,
               "manager is shutting down");
    else if (!is_release(s) && expired(s, now))
        /* It waited in the queue past its deadline (this thread was
         * busy, e.g. in a user callback): a late restore or extension
         * must not land. */
        finish(nd, s, REDLOCK__ANS_ERROR, REDLOCK_ETIMEDOUT,
               "timed out before it could be sent");
    else if (nd->state == CONN_READY && nd->pending.head == NULL &&
             nd->inflight.len < NODE_INFLIGHT_MAX)
        send_slot(nd, s, now);
    else if (nd->state == CONN_DOWN && !is_release(s)) {
        /* This work finds the node down: probe it now rather than at
         * the end of the backoff (worker_main), and let its wait
         * bound the next backoff, so a node that is back is used
         * again within a fraction of the work's TTL. */
        nd->probe_wanted = true;
        if (s->op->deadline_us > now &&
            (nd->work_bound_us == 0 ||
             s->op->deadline_us - now < nd->work_bound_us))
            nd->work_bound_us = s->op->deadline_us - now;
        /* Failed with the class of the node's failure (EAUTH,
         * EREFUSED, ...), so that callers can tell a node refusing us
         * from a node that is unreachable. */
        char msg[240];
        snprintf(msg, sizeof(msg), "node is down (reconnecting): %s",
                 nd->last_error);
        finish(nd, s, REDLOCK__ANS_ERROR,
               nd->last_error_status != REDLOCK_OK
                   ? nd->last_error_status
                   : REDLOCK_EIO,
               msg);
    } else
        park(nd, s, now); /* behind the others, to keep FIFO order */
}

/* Route newly submitted slots: send, park, or fail them. */
static void accept_incoming(redlock__node *nd, slot_list *in, uint64_t now)
{
    redlock__slot *s;
    while ((s = list_pop(in)) != NULL)
        route(nd, s, now);
}

/* Fail or drop pending slots whose time has passed, and skip those whose
 * caller stopped waiting. Runs only when the next scan is due (see
 * PENDING_SCAN_MIN_US), so its cost does not grow with the wake-up rate. */
static void expire_pending(redlock__node *nd, uint64_t now)
{
    if (nd->pending.head == NULL || now < nd->pending_scan_us)
        return;
    slot_list keep = {0};
    redlock__slot *s;
    while ((s = list_pop(&nd->pending)) != NULL) {
        if (droppable(s))
            drop(nd, s);
        else if (expired(s, now))
            finish(nd, s, REDLOCK__ANS_ERROR, REDLOCK_ETIMEDOUT,
                   nd->state == CONN_READY
                       ? "timed out behind the node's in-flight limit"
                       : "timed out waiting for the connection");
        else
            list_push(&keep, s);
    }
    nd->pending = keep;
    /* Late expiry is harmless: every caller keeps its own deadline. */
    nd->pending_scan_us = now + PENDING_SCAN_MIN_US +
                          (uint64_t)nd->pending.len *
                              PENDING_SCAN_PER_SLOT_NS / 1000u;
}

/* On shutdown: answer every non-release slot (so blocked callers return
 * at once); releases keep going until the shutdown deadline. */
static void begin_stop(redlock__node *nd)
{
    slot_list keep = {0};
    redlock__slot *s;
    while ((s = list_pop(&nd->pending)) != NULL) {
        if (is_release(s))
            list_push(&keep, s);
        else
            finish(nd, s, REDLOCK__ANS_ERROR, REDLOCK_ECLOSED,
                   "manager is shutting down");
    }
    nd->pending = keep;
    for (s = nd->inflight.head; s != NULL; s = s->next)
        if (!is_release(s))
            redlock__op_answer(s, REDLOCK__ANS_ERROR, REDLOCK_ECLOSED,
                               nd->uri.display, "manager is shutting down");
}

/* True if a release is still waiting or in flight. */
static bool releases_outstanding(const redlock__node *nd)
{
    for (const redlock__slot *s = nd->pending.head; s != NULL; s = s->next)
        if (is_release(s))
            return true;
    for (const redlock__slot *s = nd->inflight.head; s != NULL; s = s->next)
        if (is_release(s))
            return true;
    return false;
}

/* Fail everything still owned, close the connection, and refuse new work.
 * Called once, as the worker exits. */
static void shut_down(redlock__node *nd)
{
    slot_list rest = {0};
    pthread_mutex_lock(&nd->queue_mu);
    nd->worker_gone = true;
    rest = nd->queue;
    nd->queue = (slot_list){0};
    pthread_mutex_unlock(&nd->queue_mu);
    list_append_all(&rest, &nd->pending);
    list_append_all(&rest, &nd->inflight);
    redlock__slot *s;
    while ((s = list_pop(&rest)) != NULL)
        finish(nd, s, REDLOCK__ANS_ERROR, REDLOCK_ECLOSED,
               "manager is shutting down");
    redlock__conn_close(nd->conn);
    nd->conn_gen++;
}

/* Milliseconds poll() may sleep before the next timer is due. */
static int poll_timeout_ms(const redlock__node *nd, uint64_t now)
{
    const redlock_options *o = nd->env.opts;
    uint64_t due = now + 1000000u; /* housekeeping at least every second */
    if (nd->state == CONN_DOWN && nd->next_connect_us < due)
        due = nd->next_connect_us;
    if (nd->state == CONN_CONNECTING || nd->state == CONN_HANDSHAKE) {
        uint64_t t = nd->connect_started_us +
                     (uint64_t)o->connect_timeout_ms * 1000u;
        if (t < due)
            due = t;
    }
    if (nd->inflight.head != NULL) {
        uint64_t t = nd->inflight.head->sent_us +
                     (uint64_t)o->command_timeout_ms * 1000u;
        if (t < due)
            due = t;
    }
    if (nd->pending.head != NULL && nd->pending_scan_us < due)
        due = nd->pending_scan_us;
    if (nd->pending.head != NULL && nd->pending.head->not_before_us > now &&
        nd->pending.head->not_before_us < due)
        due = nd->pending.head->not_before_us; /* a TRYAGAIN's resend */
    if (nd->stop_seen && nd->stop_deadline_us < due)
        due = nd->stop_deadline_us;
    if (nd->guard_reported) { /* wake to report the guard's end */
        uint64_t r = atomic_load_explicit(&nd->restart_us,
                                          memory_order_relaxed);
        uint64_t t =
            r == REDLOCK__RESTART_NONE
                ? now
                : nd->env.guard_until_us(
                      nd->env.ctx, r,
                      atomic_load_explicit(&nd->first_write_us,
                                           memory_order_relaxed),
                      NULL);
        if (t < due)
            due = t;
    }
    if (due <= now)
        return 0;
    return (int)((due - now + 999u) / 1000u);
}

/* Check connect and command timeouts. */
static void check_timeouts(redlock__node *nd, uint64_t now)
{
    const redlock_options *o = nd->env.opts;
    if ((nd->state == CONN_CONNECTING || nd->state == CONN_HANDSHAKE) &&
        now >= nd->connect_started_us +
                   (uint64_t)o->connect_timeout_ms * 1000u) {
        /* A handshake that timed out is a timeout (the message names
         * TLS): REDLOCK_ETLS is kept for refusals no retry can fix,
         * which fail an acquire fast (redlock__config_failure_status). */
        conn_fail(nd, REDLOCK_ETIMEDOUT,
                  nd->state == CONN_CONNECTING
                      ? redlock__conn_timeout_message(nd->conn)
                      : "connect timed out (handshake unanswered)",
                  now);
        return;
    }
    if (nd->state == CONN_READY && nd->inflight.head != NULL &&
        now >= nd->inflight.head->sent_us +
                   (uint64_t)o->command_timeout_ms * 1000u) {
        char msg[96];
        snprintf(msg, sizeof(msg), "no reply within %u ms",
                 (unsigned)o->command_timeout_ms);
        conn_fail(nd, REDLOCK_ETIMEDOUT, msg, now);
    }
}

/* Empty the eventfd counter. */
static void drain_wake(redlock__node *nd)
{
    redlock__eventfd_drain(nd->wake_fd);
}

/* The poll events for the connection: all it waits for, except that an
 * idle ready connection (nothing in flight, nothing to write) is watched
 * only for the peer's close. Input there can only be a reply to a command
 * a calling thread wrote inline and reads itself, and waking for it would
 * be the very hand-off the fast path avoids. */
static short conn_poll_events(const redlock__node *nd)
{
    short ev = redlock__conn_events(nd->conn);
    if (nd->state == CONN_READY && nd->inflight.head == NULL &&
        !redlock__conn_has_output(nd->conn))
        ev = (short)((ev & ~POLLIN) | POLLRDHUP);
    return ev;
}

/* The worker thread. Each pass runs under io_mu; only the poll does not. */
static void *worker_main(void *arg)
{
    redlock__node *nd = arg;
    tl_worker = nd;
    nd->env.thread_start(nd->env.ctx);
    short conn_revents = 0; /* what the last poll saw on the connection */
    for (;;) {
        uint64_t now = redlock__clock_now_us();

        /* Read the eventfd before taking the queue: a submitter that finds
         * the queue empty after our splice writes the eventfd again. */
        drain_wake(nd);
        pthread_mutex_lock(&nd->io_mu);
        if (conn_revents != 0 && nd->inline_err == REDLOCK_OK) {
            if (nd->state == CONN_CONNECTING)
                conn_check(nd, now);
            else if (nd->state != CONN_DOWN) {
                /* Either direction may be what TLS waits for (an
                 * SSL_write that wants to read, and the reverse): try
                 * both; each is a no-op when it has nothing to do. */
                read_input(nd, now);
                flush_output(nd, now);
            }
        }
        conn_revents = 0;
        /* A calling thread met a failure of the connection: act on it. */
        if (nd->inline_err != REDLOCK_OK)
            conn_fail(nd, nd->inline_err, nd->inline_msg, now);

        pthread_mutex_lock(&nd->queue_mu);
        slot_list in = nd->queue;
        nd->queue = (slot_list){0};
        bool stopping = nd->stopping;
        uint64_t shutdown_deadline = nd->shutdown_deadline_us;
        pthread_mutex_unlock(&nd->queue_mu);

        if (stopping && !nd->stop_seen) {
            nd->stop_seen = true;
            nd->stop_deadline_us = shutdown_deadline;
            begin_stop(nd);
        }
        /* Start a due (re)connect before routing new work, so that work
         * arriving as the backoff ends waits for the connection instead of
         * failing. */
        if (nd->state == CONN_DOWN && now >= nd->next_connect_us && !stopping)
            conn_start(nd, now);
        accept_incoming(nd, &in, now);
        /* Work found the node down (accept_incoming): probe at once, at
         * most once per reconnect_min_ms. A release waiting (kept across
         * the failure) already shortened the backoff in conn_fail. */
        if (nd->state == CONN_DOWN && nd->probe_wanted && !stopping &&
            now >= nd->connect_started_us +
                       (uint64_t)nd->env.opts->reconnect_min_ms * 1000u) {
            nd->probe_wanted = false;
            conn_start(nd, now);
        }
        /* Shutting down: stay only to deliver releases, and only while
         * connected (a node that is down would just eat the timeout; the
         * keys expire by TTL). */
        if (stopping && (!releases_outstanding(nd) ||
                         now >= shutdown_deadline || nd->state == CONN_DOWN))
            break;

        report_dup_change(nd);
        report_guard_change(nd, now);
        expire_pending(nd, now);
        check_timeouts(nd, now);
        pump_pending(nd, now);
        flush_output(nd, now);

        struct pollfd pfd[3];
        int nfds = 1;
        pfd[0].fd = nd->wake_fd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        nd->worker_reads = false;
        if (nd->state != CONN_DOWN && redlock__conn_fd(nd->conn) >= 0) {
            pfd[1].fd = redlock__conn_fd(nd->conn);
            pfd[1].revents = 0;
            pfd[1].events = conn_poll_events(nd);
            nd->worker_reads = (pfd[1].events & POLLIN) != 0;
            nfds = 2;
        }
        int timeout = poll_timeout_ms(nd, now);
        nd->worker_wake_us = now + (uint64_t)timeout * 1000u;
        pthread_mutex_unlock(&nd->io_mu);
        emit_notes(nd);

        /* --- pub/sub (subscribe.c): the subscriber is the worker's alone
         * and needs no io_mu; its fd joins the poll set. */
        redlock__sub_prepare(nd->sub, now);
        int sub_at = -1;
        short sub_events = 0;
        int sub_fd = redlock__sub_poll_fd(nd->sub, &sub_events);
        if (sub_fd >= 0) {
            sub_at = nfds++;
            pfd[sub_at] = (struct pollfd){sub_fd, sub_events, 0};
        }
        timeout = redlock__sub_timeout_ms(nd->sub, now, timeout);
        /* --- end pub/sub */
        int rc = poll(pfd, (nfds_t)nfds, timeout);
        if (rc < 0 && errno != EINTR) {
            redlock__log(nd->env.log_to, REDLOCK_LOG_ERROR,
                         "node %s: poll: %s", nd->uri.display,
                         strerror(errno));
            redlock__sleep_us(10000);
        }
        now = redlock__clock_now_us();
        if (sub_at >= 0) /* pub/sub */
            redlock__sub_service(nd->sub, pfd[sub_at].revents, now);
        if (nfds >= 2 && sub_at != 1)
            conn_revents = pfd[1].revents;
    }
    shut_down(nd);
    pthread_mutex_unlock(&nd->io_mu);
    emit_notes(nd);
    /* pub/sub: outside io_mu (its RESET hook takes the registry lock). */
    redlock__sub_close(nd->sub);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Public (library-internal) interface
 * ------------------------------------------------------------------------ */

/* pub/sub: pass the subscriber's events to the manager (env.sub_event),
 * on this worker's thread. */
static void sub_hook(void *ctx, size_t idx, redlock__sub_event ev,
                     const char *key, size_t len)
{
    redlock__node *nd = ctx;
    if (nd->parent != NULL && nd->parent->sentinel != NULL) {
        /* A sentinel's +switch-master (sentinel.c). */
        if (ev == REDLOCK__SUB_MESSAGE)
            redlock__sentinel_switched(nd->parent->sentinel);
        return;
    }
    nd->env.sub_event(nd->env.ctx, idx, (int)ev, key, len);
}

/* A cluster or sentinel node: a name, the env, and its router
 * (cluster.c, sentinel.c). */
static redlock__node *router_node_new(const redlock__node_env *env,
                                      size_t idx, redlock__uri *uri)
{
    redlock__node *nd = calloc(1, sizeof(*nd));
    if (nd == NULL)
        return NULL;
    nd->env = *env;
    nd->idx = idx;
    nd->wake_fd = -1;
    nd->uri.display = strdup(uri->display);
    atomic_init(&nd->dup_of, -1);
    atomic_init(&nd->restart_us, REDLOCK__RESTART_NONE);
    atomic_init(&nd->first_write_us, UINT64_MAX);
    nd->event_name = nd->uri.display;
    bool ok = nd->uri.display != NULL;
    if (ok && uri->kind == REDLOCK__URI_CLUSTER)
        ok = (nd->cluster = redlock__cluster_new(env, idx, uri, nd)) != NULL;
    else if (ok)
        ok = (nd->sentinel = redlock__sentinel_new(env, idx, uri, nd)) !=
             NULL;
    if (!ok) {
        free(nd->uri.display);
        free(nd);
        return NULL; /* uri still owns its strings */
    }
    return nd;
}

/* A node on one server; its subscriber's channels start with sub_prefix
 * (static). */
static redlock__node *server_node_new(const redlock__node_env *env,
                                      size_t idx, redlock__uri *uri,
                                      const char *sub_prefix)
{
    redlock__node *nd = calloc(1, sizeof(*nd));
    if (nd == NULL)
        return NULL;
    nd->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (nd->wake_fd < 0) {
        free(nd);
        return NULL;
    }
    if (pthread_mutex_init(&nd->queue_mu, NULL) != 0) {
        close(nd->wake_fd);
        free(nd);
        return NULL;
    }
    if (pthread_mutex_init(&nd->io_mu, NULL) != 0) {
        pthread_mutex_destroy(&nd->queue_mu);
        close(nd->wake_fd);
        free(nd);
        return NULL;
    }
    nd->env = *env;
    nd->idx = idx;
    nd->uri = *uri;
    nd->conn = redlock__conn_new(&nd->uri, env->tls, &nd->reply_guard);
    if (nd->conn == NULL) {
        pthread_mutex_destroy(&nd->io_mu);
        pthread_mutex_destroy(&nd->queue_mu);
        close(nd->wake_fd);
        free(nd);
        return NULL; /* uri still owns its strings */
    }
    /* pub/sub: the subscriber connection (subscribe.c). */
    nd->sub = redlock__sub_new(&nd->uri, env->tls, env->opts, env->log_to,
                               nd->uri.display, idx, nd->wake_fd, sub_prefix,
                               sub_hook, nd);
    if (nd->sub == NULL) {
        redlock__conn_free(nd->conn);
        pthread_mutex_destroy(&nd->io_mu);
        pthread_mutex_destroy(&nd->queue_mu);
        close(nd->wake_fd);
        free(nd);
        return NULL; /* uri still owns its strings */
    }
    memset(uri, 0, sizeof(*uri));
    atomic_init(&nd->load, 0);
    atomic_init(&nd->writes_inline, 0);
    atomic_init(&nd->writes_worker, 0);
    atomic_init(&nd->dup_of, -1);
    atomic_init(&nd->restart_us, REDLOCK__RESTART_NONE);
    atomic_init(&nd->first_write_us, UINT64_MAX);
    nd->dup_reported = -1;
    nd->state = CONN_DOWN;
    nd->backoff_ms = env->opts->reconnect_min_ms;
    nd->next_connect_us = 0; /* connect at once */
    nd->event_name = nd->uri.display;
    return nd;
}

/* Allocate a node; takes over uri's strings. */
redlock__node *redlock__node_new(const redlock__node_env *env, size_t idx,
                                 redlock__uri *uri)
{
    if (uri->kind != REDLOCK__URI_SERVER)
        return router_node_new(env, idx, uri);
    return server_node_new(env, idx, uri, REDLOCK__WAKE_CHANNEL_PREFIX);
}

/* Hooks of a member's worker where they differ from the manager's: a
 * member's run_id is not a voting node's (the duplicate rule compares
 * voting nodes), and members never subscribe. */
static int member_set_run_id(void *ctx, size_t idx, const char *run_id)
{
    (void)ctx;
    (void)idx;
    (void)run_id;
    return -1;
}

static void member_sub_event(void *ctx, size_t idx, int ev, const char *key,
                             size_t len)
{
    (void)ctx;
    (void)idx;
    (void)ev;
    (void)key;
    (void)len;
}

redlock__node *redlock__node_new_member(const redlock__node_env *env,
                                        size_t idx, redlock__uri *uri,
                                        redlock__node *parent,
                                        const char *role, bool newcomer,
                                        uint64_t first_write_us)
{
    redlock__node_env e = *env;
    e.set_run_id = member_set_run_id;
    e.sub_event = member_sub_event;
    /* A sentinel's subscriber listens to Sentinel's own channels. */
    bool sentinel = strcmp(role, "sentinel") == 0;
    redlock__node *nd = server_node_new(
        &e, idx, uri, sentinel ? "" : REDLOCK__WAKE_CHANNEL_PREFIX);
    if (nd == NULL)
        return NULL;
    nd->parent = parent;
    nd->role = role;
    nd->event_name = parent->uri.display;
    nd->newcomer = newcomer;
    atomic_store_explicit(&nd->first_write_us, first_write_us,
                          memory_order_relaxed);
    return nd;
}

void redlock__node_guard_from_now(redlock__node *nd, uint64_t now,
                                  uint64_t first_write_us)
{
    uint64_t none = UINT64_MAX;
    if (first_write_us != UINT64_MAX)
        atomic_compare_exchange_strong(&nd->first_write_us, &none,
                                       first_write_us);
    atomic_store(&nd->promoted, true);
    atomic_store(&nd->restart_us, now);
}

uint64_t redlock__node_first_write_us(const redlock__node *nd)
{
    return atomic_load_explicit(&nd->first_write_us, memory_order_relaxed);
}

/* Start the worker thread with signals blocked, so that process signals
 * go to application threads. */
int redlock__node_start(redlock__node *nd)
{
    if (nd->cluster != NULL)
        return redlock__cluster_start(nd->cluster);
    if (nd->sentinel != NULL)
        return redlock__sentinel_start(nd->sentinel);
    int rc = redlock__thread_start(&nd->thread, NULL, worker_main, nd);
    if (rc == 0)
        nd->started = true;
    return rc;
}

/* Queue a slot for the worker (any thread). */
void redlock__node_submit(redlock__node *nd, redlock__slot *s)
{
    if (nd->cluster != NULL) {
        redlock__cluster_submit(nd->cluster, s);
        return;
    }
    if (nd->sentinel != NULL) {
        redlock__sentinel_submit(nd->sentinel, s);
        return;
    }
    bool release = is_release(s);
    const char *refuse = NULL;
    redlock_status st = REDLOCK_OK;
    pthread_mutex_lock(&nd->queue_mu);
    if (nd->worker_gone || (nd->stopping && !release)) {
        refuse = "manager is shutting down";
        st = REDLOCK_ECLOSED;
    } else if (!release && atomic_load_explicit(&nd->load,
                                                memory_order_relaxed) >=
                               nd->env.opts->node_queue_max) {
        refuse = "node queue is full";
        st = REDLOCK_EIO;
    } else {
        bool wake = nd->queue.head == NULL;
        atomic_fetch_add_explicit(&nd->load, 1, memory_order_relaxed);
        list_push(&nd->queue, s);
        /* Written under queue_mu, so the fd cannot be closed by
         * redlock__node_stop() between our push and this write. */
        if (wake) {
            uint64_t one = 1;
            ssize_t w = write(nd->wake_fd, &one, sizeof(one));
            (void)w; /* EAGAIN: the counter is already non-zero */
        }
    }
    pthread_mutex_unlock(&nd->queue_mu);
    if (refuse != NULL)
        redlock__op_complete(s, REDLOCK__ANS_ERROR, st, nd->uri.display,
                             refuse);
}

/* Tell the worker to stop and wait for it. */
void redlock__node_stop(redlock__node *nd, uint64_t shutdown_deadline_us)
{
    if (nd != NULL && nd->cluster != NULL) {
        redlock__cluster_stop(nd->cluster, shutdown_deadline_us);
        return;
    }
    if (nd != NULL && nd->sentinel != NULL) {
        redlock__sentinel_stop(nd->sentinel, shutdown_deadline_us);
        return;
    }
    if (nd == NULL || !nd->started)
        return;
    pthread_mutex_lock(&nd->queue_mu);
    nd->stopping = true;
    nd->shutdown_deadline_us = shutdown_deadline_us;
    pthread_mutex_unlock(&nd->queue_mu);
    uint64_t one = 1;
    ssize_t w = write(nd->wake_fd, &one, sizeof(one));
    (void)w;
    pthread_join(nd->thread, NULL);
    redlock__sub_stop(nd->sub); /* pub/sub: no eventfd writes from now */
    nd->started = false;
    /* No one writes the eventfd once worker_gone is set. */
    close(nd->wake_fd);
    nd->wake_fd = -1;
}

/* Free a node whose worker has stopped (or never started). */
void redlock__node_free(redlock__node *nd)
{
    if (nd == NULL)
        return;
    if (nd->cluster != NULL || nd->sentinel != NULL) {
        redlock__cluster_free(nd->cluster);
        redlock__sentinel_free(nd->sentinel);
        free(nd->uri.display);
        free(nd);
        return;
    }
    redlock__conn_free(nd->conn);
    redlock__sub_free(nd->sub); /* pub/sub */
    if (nd->wake_fd >= 0)
        close(nd->wake_fd);
    pthread_mutex_destroy(&nd->io_mu);
    pthread_mutex_destroy(&nd->queue_mu);
    free(nd->notes);
    redlock__uri_clear(&nd->uri);
    free(nd);
}

/* Set by the manager's duplicate rule (under dup_mu); read by the worker.
 * Relaxed: the worker acts on whatever value it sees next, and the report
 * reads run_ids under dup_mu itself. */
void redlock__node_set_dup(redlock__node *nd, int of)
{
    atomic_store_explicit(&nd->dup_of, of, memory_order_relaxed);
    if (nd->cluster != NULL)
        redlock__cluster_set_dup(nd->cluster, of);
    if (nd->sentinel != NULL)
        redlock__sentinel_set_dup(nd->sentinel, of);
}

/* The redacted address. */
const char *redlock__node_name(const redlock__node *nd)
{
    return nd->uri.display;
}

/* Microseconds left of node's restart guard at now (0: not guarded), for
 * read-only views. Any thread: reads the worker's estimate without
 * clearing it. */
uint64_t redlock__node_guard_left_us(redlock__node *nd, uint64_t now)
{
    if (nd->cluster != NULL)
        return redlock__cluster_guard_left_us(nd->cluster, now);
    if (nd->sentinel != NULL)
        return redlock__sentinel_guard_left_us(nd->sentinel, now);
    uint64_t r = atomic_load_explicit(&nd->restart_us, memory_order_relaxed);
    if (r == REDLOCK__RESTART_NONE)
        return 0;
    uint64_t until = nd->env.guard_until_us(
        nd->env.ctx, r,
        atomic_load_explicit(&nd->first_write_us, memory_order_relaxed),
        NULL);
    return until > now ? until - now : 0;
}

uint64_t redlock__node_guard_left_key_us(redlock__node *nd, const char *key,
                                         size_t len, uint64_t now)
{
    if (nd->cluster != NULL)
        return redlock__cluster_guard_left_key_us(nd->cluster, key, len, now);
    return redlock__node_guard_left_us(nd, now);
}

/* ------------------------------------------------------------------------
 * The fast path: inline I/O by a calling thread (see DESIGN)
 * ------------------------------------------------------------------------ */

/* True when the connection has output to write that a calling thread
 * leaves behind (a partial write, or TLS wanting to write while reading):
 * the worker must poll for POLLOUT. */
static bool output_left(redlock__node *nd)
{
    return conn_usable(nd) &&
           (redlock__conn_has_output(nd->conn) ||
            (redlock__conn_events(nd->conn) & POLLOUT) != 0);
}

/* Write s on the calling thread if the node is idle. */
bool redlock__node_try_send(redlock__node *nd, redlock__slot *s, int *fd,
                            uint64_t *gen, redlock__node **via)
{
    /* A cluster node writes to its key's shard, if that one is idle; a
     * sentinel node to its current master (docs/design.md section 24). */
    if (nd->cluster != NULL)
        return redlock__cluster_try_send(nd->cluster, s, fd, gen, via);
    if (nd->sentinel != NULL)
        return redlock__sentinel_try_send(nd->sentinel, s, fd, gen, via);
    *via = nd;
    if (pthread_mutex_trylock(&nd->io_mu) != 0)
        return false; /* the worker or another caller is at it */
    /* Replies still owed to callers that left (stragglers) are read by
     * this caller too, in order: it adopts them, unless the worker or
     * another caller is reading the node already. */
    /* A duplicate node and a node in its restart guard take the worker's
     * path: the worker reports the state as it refuses the work. */
    bool idle = nd->state == CONN_READY && nd->inline_err == REDLOCK_OK &&
                nd->pending.head == NULL && nd->readers == 0 &&
                !nd->worker_reads && nd->inflight.len < NODE_ADOPT_MAX &&
                !redlock__conn_has_output(nd->conn) &&
                atomic_load_explicit(&nd->dup_of, memory_order_relaxed) < 0 &&
                atomic_load_explicit(&nd->restart_us, memory_order_relaxed) ==
                    REDLOCK__RESTART_NONE;
    if (idle) {
        /* Nothing submitted before us may be overtaken (per-node FIFO),
         * and a stopping node takes the worker's path. */
        pthread_mutex_lock(&nd->queue_mu);
        idle = nd->queue.head == NULL && !nd->stopping && !nd->worker_gone;
        if (idle)
            atomic_fetch_add_explicit(&nd->load, 1, memory_order_relaxed);
        pthread_mutex_unlock(&nd->queue_mu);
    }
    if (!idle) {
        pthread_mutex_unlock(&nd->io_mu);
        return false;
    }
    nd->readers++;
    uint64_t now = redlock__clock_now_us();
    route(nd, s, now); /* READY and nothing waiting: sent (or answered) */
    flush_output(nd, now);
    /* A write the socket did not take whole is finished by the worker. */
    if (output_left(nd))
        wake_worker(nd);
    *fd = redlock__conn_fd(nd->conn);
    *gen = nd->conn_gen;
    pthread_mutex_unlock(&nd->io_mu);
    return true;
}

/* Read and handle every reply that has arrived. */
bool redlock__node_read(redlock__node *nd, uint64_t gen)
{
    pthread_mutex_lock(&nd->io_mu);
    if (gen == nd->conn_gen && nd->state == CONN_READY && conn_usable(nd)) {
        uint64_t now = redlock__clock_now_us();
        read_input(nd, now);
        flush_output(nd, now); /* a script re-sent as EVAL (NOSCRIPT) */
        if (output_left(nd))
            wake_worker(nd);
    }
    bool same = gen == nd->conn_gen; /* after the I/O: it may have failed */
    pthread_mutex_unlock(&nd->io_mu);
    return same;
}

/* The caller stops reading. Replies still owed (stragglers) are left to
 * the next caller that writes here, which reads them first; the worker is
 * woken only when nobody might read them before their command timeout:
 * its poll would end later than that, or output is unwritten. */
void redlock__node_leave(redlock__node *nd)
{
    pthread_mutex_lock(&nd->io_mu);
    nd->readers--;
    bool wake = false;
    if (nd->readers == 0 && !nd->worker_reads &&
        nd->inline_err == REDLOCK_OK) {
        uint64_t limit =
            nd->inflight.head != NULL
                ? nd->inflight.head->sent_us +
                      (uint64_t)nd->env.opts->command_timeout_ms * 1000u
                : UINT64_MAX;
        wake = redlock__conn_has_output(nd->conn) ||
               nd->worker_wake_us > limit;
    }
    pthread_mutex_unlock(&nd->io_mu);
    if (wake)
        wake_worker(nd);
}

/* The manager's pool of waiter eventfds. */
struct redlock__wakers *redlock__node_wakers(const redlock__node *nd)
{
    return nd->env.wakers;
}

/* How many commands were written by calling threads and by the worker. */
void redlock__node_write_counts(const redlock__node *nd, uint64_t *inl,
                                uint64_t *worker)
{
    if (nd->cluster != NULL) {
        redlock__cluster_write_counts(nd->cluster, inl, worker);
        return;
    }
    if (nd->sentinel != NULL) {
        redlock__sentinel_write_counts(nd->sentinel, inl, worker);
        return;
    }
    *inl = atomic_load_explicit(&nd->writes_inline, memory_order_relaxed);
    *worker = atomic_load_explicit(&nd->writes_worker, memory_order_relaxed);
}

/* pub/sub: want or drop key's wake channel (subscribe.c). Any thread. */
int redlock__node_sub_want(redlock__node *nd, const char *key, size_t len,
                           bool on)
{
    /* A cluster node has no subscriber connection: its waiters retry on
     * their timers (docs/design.md "Cluster nodes"). */
    if (nd->sub == NULL) /* a cluster or sentinel node */
        return 0;
    return (int)redlock__sub_want(nd->sub, key, len, on);
}
