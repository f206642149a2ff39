/*
 * op.h: fan-out operations, the op API (internal; tier: transport).
 *
 * The only interface the algorithms (lock, lease, fence, election,
 * inspect) use to talk to nodes: build an op (one command for every
 * node), submit it, wait for its verdict, read its tallies and per-node
 * answers. An op holds one slot per node (the per-node request, linked
 * into that node's queue) and the tallies the calling thread waits on. It
 * is reference-counted: the caller holds one reference and every slot
 * queued at a node holds one, so the memory outlives a caller that
 * stopped waiting.
 */
#ifndef REDLOCK_OP_H
#define REDLOCK_OP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redlock.h"
#include "answer.h"
#include "quorum.h"
#include "scripts.h"

struct redlock__node;

struct redlock__op;

/* Whether a slot's command has left this process. A slot starts QUEUED;
 * the node's worker moves it to SENT just before writing it, unless the
 * lock layer moved it to CANCELLED first (an acquire whose key is being
 * released before the SET was ever written: that node then needs no
 * release). Both moves are compare-and-swap, so exactly one wins. */
enum {
    REDLOCK__WIRE_QUEUED = 0,
    REDLOCK__WIRE_SENT = 1,
    REDLOCK__WIRE_CANCELLED = 2
};

/* The per-node part of an op. Owned by the op; linked into one node's
 * queue while waiting there. */
typedef struct redlock__slot {
    struct redlock__slot *next; /* queue link, owned by the node's lists */
    struct redlock__op *op;     /* back pointer */
    uint32_t node;              /* index of the node */
    uint8_t answer;             /* redlock__answer; written under op->mu */
    uint8_t eval_fallback;      /* resent as EVAL after NOSCRIPT */
    uint8_t asking;             /* cluster: send ASKING before it (an ASK
                                   redirect; cluster.c) */
    uint8_t ask_owed;           /* the reply to that ASKING comes first */
    uint8_t redirects;          /* cluster: MOVED/ASK/TRYAGAIN followed */
    uint64_t not_before_us;     /* cluster TRYAGAIN: not sent again
                                   before (node.c); 0: none */
    redlock_status error;       /* when answer is ERROR */
    void *reply;                /* redisReply* for OP_RAW; owned by the op */
    uint64_t sent_us;           /* when written to the socket */
    struct redlock__node *inl;  /* written inline by the submitter, which
                                   reads the node while it waits (the
                                   fast path, node.h); NULL otherwise.
                                   The submitter's alone */
    uint64_t inl_gen;           /* that connection's generation */
    int inl_fd;                 /* and its fd, to poll */
    atomic_uchar *wire;         /* REDLOCK__WIRE_*: see above; points at
                                   wire_own, or for acquires into the op's
                                   shared redlock__wires */
    atomic_uchar wire_own;
} redlock__slot;

/* Per-node facts about an acquire's or an extension's slots, in a small
 * block of their own so that the lock can keep them after the op is
 * freed. For an acquire, the wire states say which nodes its release must
 * reach; for an extension, `missing` says which nodes answered "a key is
 * gone" (set by the worker as the answer arrives, even after the op was
 * decided), so a later extension can restore them. Reference-counted. */
typedef struct redlock__wires {
    atomic_int refs;
    _Atomic uint64_t missing;   /* bit i: node i answered extend with -1 */
    atomic_uchar state[];       /* one per node */
} redlock__wires;

/* Take / drop a reference (NULL is ignored by unref). */
redlock__wires *redlock__wires_ref(redlock__wires *w);
void redlock__wires_unref(redlock__wires *w);

/* Cancel a wire state still QUEUED. Returns true if the command never
 * reached (and never will reach) the node: cancelled now or before, or
 * finished without being sent. Call only once the op is decided. */
bool redlock__wire_cancel_unsent(atomic_uchar *wire);

typedef struct redlock__op {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int refs;          /* caller + slots still at nodes */
    atomic_bool abandoned;    /* caller decided; unsent slots may be dropped
                                 (never for releases). Written by the caller
                                 (release order), read by workers (acquire). */
    redlock__op_kind kind;
    size_t n;                 /* nodes */
    size_t yes, no, error;    /* tallies, under mu */
    size_t answered;          /* yes + no + error */
    uint64_t deadline_us;     /* unsent slots are failed after it (not
                                 releases); 0 = none */
    uint64_t keep_until_us;   /* releases: give up after it (the keys have
                                 expired by then anyway) */
    char first_error[160];    /* "node: reason" of the first error */
    int argc;
    const char **argv;        /* command; points into the op's block */
    size_t *argvlen;
    redlock__script_id script; /* for script kinds: which one */
    /* Optional hook called once, on the thread that made the outcome
     * certain (or gave the last answer), after op->mu is released. It must
     * not block or take locks a submitter may hold: the lease thread uses
     * it only to write an eventfd. */
    void (*on_done)(void *arg);
    void *on_done_arg;
    bool done_notified;       /* under mu */
    uint64_t notified_us;     /* under mu: when on_done was called (ops
                                 with on_done only) */
    bool wake_each;           /* under mu: a waiter needs every answer
                                 (wait for given nodes), not just the
                                 verdict or the last answer */
    bool inline_io;           /* set before submitting by a caller that
                                 will wait for the op: idle nodes are then
                                 written on its own thread (node.h) */
    size_t inline_slots;      /* slots written inline and not yet handed
                                 to the workers: the waiter's duty */
    int waiter_fd;            /* under mu: the eventfd of a waiter that
                                 polls sockets (-1: none); whoever answers
                                 a slot while it is set writes it */
    int inl_efd;              /* the submitter's: that eventfd, taken from
                                 inl_wakers for the inline wait (-1) */
    struct redlock__wakers *inl_wakers;
    redlock__wires *wires;    /* acquires only: shared wire states */
    redlock__slot slots[];    /* n of them */
} redlock__op;

/* A pool of eventfds for threads that wait on inline I/O: such a thread
 * polls its nodes' sockets and one eventfd, which other threads write when
 * they answer one of its slots (a worker reading a reply, failing a
 * connection or shutting down). One pool per manager, of a fixed size
 * made at create (so the manager's fd count never grows: the soak checks
 * it); an fd is taken for one wait and given back; with all taken, a
 * caller takes the workers' path. All are closed with the manager. */
#define REDLOCK__WAKERS 16       /* threads that may wait on inline I/O
                                     at once, per manager */
typedef struct redlock__wakers {
    pthread_mutex_t mu;         /* a leaf of the LOCK ORDER */
    int free_fds[REDLOCK__WAKERS];
    size_t len;
} redlock__wakers;

/* Empty a non-blocking eventfd's counter (the library's wake fds). */
void redlock__eventfd_drain(int fd);

/* Make all REDLOCK__WAKERS eventfds (-1 if they cannot be made) / close
 * them (no wait may be running). */
int redlock__wakers_init(redlock__wakers *w);
void redlock__wakers_clear(redlock__wakers *w);

/* Allocate an op for n nodes with a command of argc arguments (copied).
 * For script kinds argv[0] must be "EVALSHA" and argv[1] the SHA; the
 * worker swaps in EVAL and the source on NOSCRIPT. Returns NULL on OOM.
 * The caller holds the only reference. */
redlock__op *redlock__op_new(redlock__op_kind kind, size_t n, int argc,
                             const char *const *argv, const size_t *argvlen,
                             redlock__script_id script);

/* A RAW op for one member node (cluster.c, sentinel.c): argc arguments,
 * deadline_us, and on_done(arg) once answered. It holds two references:
 * the caller's and its slot's, to hand to redlock__node_submit(nd,
 * &op->slots[0]). NULL on OOM. */
redlock__op *redlock__op_new_single(int argc, const char *const *argv,
                                    const size_t *lens, uint64_t deadline_us,
                                    void (*on_done)(void *), void *arg);

/* Drop one reference; frees the op (and kept replies) at zero. */
void redlock__op_unref(redlock__op *op);

/* Record a node's answer for slot s, wake the waiter if the outcome is now
 * certain or every node answered, and drop the slot's reference. Called by
 * workers, or by the submitter when a node refuses the slot. detail may be
 * NULL. */
void redlock__op_complete(redlock__slot *s, redlock__answer ans,
                          redlock_status err, const char *node_name,
                          const char *detail);

/* Record a node's answer without dropping the slot's reference (the slot
 * stays in the node's in-flight list until its reply or the connection's
 * end). Later answers for the same slot are ignored. */
void redlock__op_answer(redlock__slot *s, redlock__answer ans,
                        redlock_status err, const char *node_name,
                        const char *detail);

/* Wait until the op is decided (won, lost) or all answered, or until
 * deadline_us on redlock__clock_now_us(). If wait_all, wait for every
 * node instead of the first certain outcome. Returns the verdict (PENDING
 * if the deadline passed first). */
redlock__verdict redlock__op_wait(redlock__op *op, uint64_t deadline_us,
                                  bool wait_all);

/* Wait until every node i with which[i] has answered op, or deadline_us
 * (0: none). last: no other wait on op follows; false keeps the nodes this
 * thread writes inline in its hands (it must then wait again, with last
 * true, before dropping its reference). */
void redlock__op_wait_nodes(redlock__op *op, const bool *which,
                            uint64_t deadline_us, bool last);

/* Post the op to every node (one reference per slot). With inline_io,
 * a node that is idle is written on the calling thread, which then must
 * wait for the op (redlock__op_wait or _wait_nodes) before dropping its
 * reference: the first wait reads those nodes and, when it returns,
 * hands whatever is still in flight to their workers (unless it is a
 * redlock__op_wait_nodes() with last false). nodes: the
 * manager's op->n workers, in node order (m->nodes); opaque here, so the
 * op API needs neither node.h nor the manager. */
void redlock__op_submit(struct redlock__node *const *nodes, redlock__op *op);

/* Post only the slots marked in which[] (length op->n). The others are
 * never sent; they are answered at once with `skipped` unless it is
 * REDLOCK__ANS_NONE (then nobody may wait on this op for all nodes). */
void redlock__op_submit_some(struct redlock__node *const *nodes,
                             redlock__op *op, const bool *which,
                             redlock__answer skipped);

/* Take a consistent copy of the tallies. */
void redlock__op_tally(redlock__op *op, size_t *yes, size_t *no,
                       size_t *error, char *first_error, size_t errlen);

/* Per-node accessors: what the algorithms may know of node i's slot
 * (i < op->n). The answer, error and reply are written under op->mu by
 * the worker: read them with op->mu held, or once every node answered. */

/* Node i's answer so far. */
static inline redlock__answer redlock__op_answer_at(const redlock__op *op,
                                                    size_t i)
{
    return (redlock__answer)op->slots[i].answer;
}

/* Node i's error when its answer is REDLOCK__ANS_ERROR. */
static inline redlock_status redlock__op_error_at(const redlock__op *op,
                                                  size_t i)
{
    return op->slots[i].error;
}

/* Node i's kept reply (a redisReply *, REDLOCK__OP_RAW and _INT only;
 * owned by the op), or NULL. */
static inline const void *redlock__op_reply_at(const redlock__op *op,
                                               size_t i)
{
    return op->slots[i].reply;
}

/* redlock__wire_cancel_unsent() on node i's wire state: true if the
 * command never reached (and never will reach) node i. Call only once
 * the op is decided. */
static inline bool redlock__op_cancel_unsent(redlock__op *op, size_t i)
{
    return redlock__wire_cancel_unsent(op->slots[i].wire);
}

/* Send node i's script as EVAL with its source from the start, never as
 * EVALSHA. Call before submitting. */
static inline void redlock__op_send_eval(redlock__op *op, size_t i)
{
    op->slots[i].eval_fallback = 1;
}

#endif /* REDLOCK_OP_H */
