/*
 * internal.h: types and helpers shared by the library's source files.
 *
 * Nothing here is public API. Names that cross files start with redlock__.
 *
 * LOCK ORDER: the one list of the library's mutexes, in the order they
 * may be taken (a thread holding one may take only those below it; none
 * is ever held while user code runs: callbacks, log_fn, node_error_fn).
 * docs/design.md section 15 and the DESIGN comments point here.
 *   1. redlock__leases.mu (ls->mu, lease.c): the lease heap, the in-flight
 *      list, the callback queue, every lease's scheduling fields.
 *   2. redlock__node.queue_mu (node.c): a node's request queue. Taken
 *      under ls->mu only when the lease thread posts a restore.
 *   3. redlock__op.mu (op.c): one fan-out operation's tallies. Taken under
 *      ls->mu when the lease thread reads a renewal's tallies.
 *   2 and 3 are never held together (a worker completes slots after
 *   dropping its queue lock; a refused submission is completed after it
 *   too), and no thread holds two queue locks or two op locks at once.
 *   Leaves, never held while taking any other library mutex:
 *   - redlock_election.mu (election.c): a term's token, fence and flags;
 *   - redlock_manager.dup_mu (manager.c): the nodes' run_ids and who
 *     duplicates whom (a worker takes it in its handshake);
 *   - redlock_manager.close_mu (manager.c): wakes retry sleeps on destroy;
 *   - redlock__tls.handshake_mu (conn.c): one TLS handshake step at a time
 *     per manager (OpenSSL 3.0's certificate store is not race-free).
 */
#ifndef REDLOCK_INTERNAL_H
#define REDLOCK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redlock.h"
#include "uri.h"

/* Magic numbers checked on entry to catch bad or freed handles. */
#define REDLOCK__MANAGER_MAGIC 0x524c4d47u /* "RLMG" */
#define REDLOCK__LOCK_MAGIC 0x524c4c4bu    /* "RLLK" */
#define REDLOCK__DEAD_MAGIC 0xdeadbeefu

/* ------------------------------------------------------------------------
 * Clock (clock.c)
 * ------------------------------------------------------------------------ */

/* Microseconds on CLOCK_BOOTTIME. Replaceable by unit tests. */
typedef uint64_t (*redlock__clock_fn)(void);
extern redlock__clock_fn redlock__clock_now_us;

/* Microseconds on CLOCK_MONOTONIC: the clock pthread condition variables
 * wait on (they cannot wait on CLOCK_BOOTTIME). */
uint64_t redlock__mono_now_us(void);

/* Initialise cond to wait on CLOCK_MONOTONIC. Returns 0 or an errno. */
int redlock__cond_init(pthread_cond_t *cond);

/* Wait on cond (mu held) until signalled or timeout_us elapsed; returns
 * ETIMEDOUT when the time is up. */
int redlock__cond_wait_us(pthread_cond_t *cond, pthread_mutex_t *mu,
                          uint64_t timeout_us);

/* Sleep for us microseconds (restarting after signals). */
void redlock__sleep_us(uint64_t us);

/* ------------------------------------------------------------------------
 * Randomness and tokens (token.c)
 * ------------------------------------------------------------------------ */

/* Initialise libsodium once, thread-safely. REDLOCK_OK or ECRYPTO. */
redlock_status redlock__crypto_init(void);

/* Write REDLOCK_TOKEN_LEN hex characters plus a NUL into out, from
 * randombytes_buf(). Requires redlock__crypto_init() to have succeeded. */
void redlock__token_new(char out[REDLOCK_TOKEN_LEN + 1]);

/* Uniform random integer in [0, upper] (inclusive), from the CSPRNG. */
uint32_t redlock__random_upto(uint32_t upper);

/* ------------------------------------------------------------------------
 * Quorum and validity math (quorum.c): pure functions
 * ------------------------------------------------------------------------ */

/* n/2 + 1, the number of nodes that must agree. */
size_t redlock__quorum(size_t n);

/* The rule "a quorum is no longer possible": true when `against` of the
 * n nodes cannot say yes (refused, failed, or not counted on) and the
 * others are fewer than a quorum, i.e. against > n - quorum. True for
 * n = 0 (no quorum can form). Every such test in the library is this
 * call. */
bool redlock__quorum_impossible(size_t n, size_t against);

/* Outcome of counting node answers. */
typedef enum redlock__verdict {
    REDLOCK__PENDING = 0, /* more answers could still change the outcome */
    REDLOCK__WON = 1,     /* yes >= quorum */
    REDLOCK__LOST = 2     /* no + error > n - quorum: quorum impossible */
} redlock__verdict;

/* Decide from yes/no/error counts out of n nodes. */
redlock__verdict redlock__verdict_of(size_t n, size_t yes, size_t no,
                                     size_t error);

/* The status a lost acquire or fence write reports, from the yes and no
 * answers among n nodes; every other node (error, timeout, no answer yet)
 * counts as failed: ENOQUORUM when those failures alone rule out a
 * quorum or no node refused, else ETAKEN (someone else holds it). */
redlock_status redlock__acquire_failure_status(size_t n, size_t yes,
                                               size_t no);

/* The status an extend or release that did not win reports, from its
 * "no" answers among n nodes: ENOTHELD when they alone rule out a quorum
 * (the lock is gone on too many nodes), else ENOQUORUM. */
redlock_status redlock__keep_failure_status(size_t n, size_t no);

/* The fast-failure rule of an acquire: when so many nodes refused for a
 * reason no retry can fix (REDLOCK_EAUTH, REDLOCK_EDB, REDLOCK_EDUPNODE in
 * node_status[0..n-1]) that a quorum is impossible without them (more
 * than n - quorum of them), the class with the most such nodes (EAUTH,
 * then EDB, then EDUPNODE on a tie); otherwise REDLOCK_OK. */
redlock_status redlock__config_failure_status(size_t n,
                                              const redlock_status *st);

/* True if an acquire attempt that ended with st may succeed if tried
 * again (ETAKEN, ENOQUORUM, EEXPIRED): the retry rule. */
bool redlock__retry_worthwhile(redlock_status st);

/* What one node said about an election, for redlock__leader_decide(). */
typedef struct redlock__leader_reading {
    bool answered;                      /* false: ignore the rest */
    char token[REDLOCK_TOKEN_LEN + 1];  /* "" if no key */
    char owner[REDLOCK_OWNER_MAX + 1];  /* "" if none */
    int64_t pttl_ms;                    /* -1 no expiry, -2 no key */
    uint64_t fence;                     /* the counter; 0 if unset */
} redlock__leader_reading;

/* The rule of redlock_election_observe(), from the readings of n nodes:
 * ENOQUORUM (out zeroed, ttl_ms -2) when fewer than a quorum answered;
 * else OK, with fence the largest counter among the answers, and the
 * token stored on the most nodes (the first in node order on a tie)
 * described by owner, token_prefix, ttl_ms (the smallest PTTL among the
 * nodes storing it, -1 counting as no expiry) and nodes_agreeing; held is
 * 1 when those nodes are a quorum. With no token stored anywhere: "", -2
 * and 0. */
redlock_status redlock__leader_decide(size_t n,
                                      const redlock__leader_reading *r,
                                      redlock_leader_view *out);

/* The drift allowance of the spec, in microseconds:
 * ttl_ms * drift_factor + 2 ms. */
uint64_t redlock__drift_us(uint32_t ttl_ms, double drift_factor);

/* True when ttl_ms does not exceed its own drift allowance, so that no
 * attempt could ever yield validity (callers refuse it with
 * REDLOCK_ETTLSHORT before sending anything). */
bool redlock__ttl_too_short(uint32_t ttl_ms, double drift_factor);

/* The validity rule: keys set (or extended) with ttl_ms by a command
 * posted at t0_us count as held until t0 + ttl - drift(ttl); t0_us itself
 * when ttl_ms is within its drift allowance. Saturates at UINT64_MAX. */
uint64_t redlock__validity_end_us(uint64_t t0_us, uint32_t ttl_ms,
                                  double drift_factor);

/* Validity left at now_us of a validity ending at end_us, in
 * microseconds: end - now, negative once past, saturating at INT64_MAX
 * and -INT64_MAX instead of wrapping. */
int64_t redlock__validity_left_us(uint64_t end_us, uint64_t now_us);

/* Validity left at the end of an attempt, in microseconds:
 * (ttl - drift) - (end - start), with ttl - drift taken as 0 when the
 * drift allowance eats the TTL (as redlock__validity_end_us() does) and
 * no time elapsed if the clock went backwards. Positive exactly when the
 * attempt may count on its keys; may be negative; saturates. */
int64_t redlock__validity_us(uint32_t ttl_ms, double drift_factor,
                             uint64_t start_us, uint64_t end_us);

/* The wait limit of a quorum command (acquire attempt, extend, lease
 * renewal) posted at t0_us with ttl_ms:
 *   min(t0 + timeout_ms, redlock__validity_end_us(t0, ttl_ms), deadline)
 * where deadline_us 0 means none, and a deadline before t0 is returned as
 * is (already past). Saturates at UINT64_MAX; never 0 (which op waits
 * read as "no limit"): 1 instead. */
uint64_t redlock__wait_limit_us(uint64_t t0_us, uint32_t timeout_ms,
                                uint32_t ttl_ms, double drift_factor,
                                uint64_t deadline_us);

/* When a key set or extended with ttl_ms by now_us has surely expired on
 * its node: now + ttl + drift(ttl), saturating at UINT64_MAX. A release
 * stays queued until then. */
uint64_t redlock__keys_gone_us(uint64_t now_us, uint32_t ttl_ms,
                               double drift_factor);

/* The TTL an extension's validity is computed from: the smallest TTL any
 * extension of the lock has sent, this one's (ttl_ms) included.
 * floor_ttl_ms is the smallest before it (0: no extension yet). A node
 * may apply an older extension after a newer one when the older one was
 * left on a connection that was closed (docs/design.md §8), so after a
 * shortening no later validity may count on more than the short TTL. */
uint32_t redlock__extend_floor_ms(uint32_t floor_ttl_ms, uint32_t ttl_ms);

/* The rule of docs/safety.md §10: the validity end of a lock after an
 * extension that started at t0_us (taken before it was posted), with
 * floor_ttl_ms from redlock__extend_floor_ms():
 *   won:      t0 + floor - drift(floor)
 *   not won:  min(old_end_us, t0 + floor - drift(floor))
 * An extension that did not win may still have run on any node, so it
 * can only shorten what the holder counts on, never lengthen it.
 * old_end_us 0 (validity unknown, e.g. an adopted lock) stays 0 when not
 * won. */
uint64_t redlock__extend_end_us(bool won, uint64_t old_end_us, uint64_t t0_us,
                                uint32_t floor_ttl_ms, double drift_factor);

/* Delay before retry number `retry` (1-based): delay + uniform jitter in
 * [0, jitter], with the random part supplied by rnd (for tests). */
uint64_t redlock__retry_delay_us(uint32_t delay_ms, uint32_t jitter_ms,
                                 uint32_t rnd_ms);

/* The time ms milliseconds after now_us, in microseconds, saturating at
 * UINT64_MAX (read: never) instead of wrapping. */
uint64_t redlock__after_ms(uint64_t now_us, uint64_t ms);

/* The restart guard (quorum.c; docs/safety.md, "Restart guard"). */

/* "No restart known": the node is not guarded. */
#define REDLOCK__RESTART_NONE UINT64_MAX

/* A handshake's run_id compared with the last one this manager saw on
 * that node. */
typedef enum redlock__run_id_seen {
    REDLOCK__RUN_ID_NEW = 0,     /* nothing to compare: the first
                                    connection, or a run_id unreadable
                                    now or before */
    REDLOCK__RUN_ID_SAME = 1,    /* the same server process as before */
    REDLOCK__RUN_ID_CHANGED = 2  /* another process: restarted, or a
                                    failover to another server */
} redlock__run_id_seen;

/* When a node restarted at the latest, on redlock__clock_now_us(), from
 * its handshake's INFO server read at now_us: now_us when its run_id
 * CHANGED; prev_restart_us (the estimate kept from before, possibly
 * REDLOCK__RESTART_NONE) when it is the SAME process; for a NEW one,
 * now_us - uptime_s seconds when the uptime is known (0 when that is
 * before the clock's origin), else prev_restart_us (nothing new is
 * known). Pure. */
uint64_t redlock__restart_at_us(uint64_t now_us, uint64_t prev_restart_us,
                                redlock__run_id_seen seen, bool uptime_known,
                                uint64_t uptime_s);

/* Until when (exclusive) a node that restarted at restart_us is
 * guarded: restart_us + guard_ms + drift(guard_ms), saturating at
 * UINT64_MAX. 0 (not guarded) when restart_us is REDLOCK__RESTART_NONE,
 * when guard_ms is 0, or in auto_mode when the restart came no later
 * than first_ttl_us (when this manager first wrote a command carrying a TTL
 * to that node; UINT64_MAX: never), since no key of ours can have been
 * lost then. guard_ms is the guard time in force: the option, or in
 * auto_mode the largest TTL this manager sent so far. Pure. */
uint64_t redlock__guard_until_us(uint64_t restart_us, uint64_t first_ttl_us,
                                 bool auto_mode, uint32_t guard_ms,
                                 double drift_factor);

/* ------------------------------------------------------------------------
 * Node failure classes (classify.c): pure functions
 * ------------------------------------------------------------------------ */

/* The class of a failed connect: REDLOCK_EREFUSED for ECONNREFUSED,
 * REDLOCK_ETIMEDOUT for ETIMEDOUT, else REDLOCK_EIO. err is the errno seen
 * (0 if none); errstr (may be NULL) is hiredis's text for the failure,
 * which names the errno when hiredis did not keep it. */
redlock_status redlock__connect_error_status(int err, const char *errstr);

/* How long a node that just failed waits before it reconnects, in us.
 * backoff_ms is the jittered, doubling backoff (reconnect_min_ms ..
 * reconnect_max_ms). Work waiting bounds it: with a release waiting for
 * the node (releases_waiting), at most reconnect_min_ms; with work that
 * found the node down and could wait work_bound_us more (0: none), at
 * most a quarter of that, but never under reconnect_min_ms. So a node
 * that comes back is used again within a fraction of the TTLs in use,
 * not after a backoff sized for idle nodes. Pure. */
uint64_t redlock__reconnect_delay_us(uint32_t backoff_ms,
                                     uint32_t reconnect_min_ms,
                                     bool releases_waiting,
                                     uint64_t work_bound_us);

/* The duplicate-server rule. run_ids[i] is the run_id node i last
 * reported ("" if unknown); dup_of[i] is -1 if node i votes, else the
 * index of the voting node whose server it is. Call after node idx stored
 * its run_id (on every handshake): idx becomes a duplicate of a voting
 * node with the same run_id, if any (a duplicate that still matches its
 * voter stays one), else it votes; nodes that were duplicates of idx are
 * decided again when idx no longer votes or has another run_id now. A
 * node never stops voting because another node connected later. Pure. */
void redlock__dup_update(size_t n, const char (*run_ids)[41], int *dup_of,
                         size_t idx);

/* ------------------------------------------------------------------------
 * Stored values (value.c): pure functions
 * ------------------------------------------------------------------------ */

/* Longest stored value: token, space, owner. */
#define REDLOCK__VALUE_MAX (REDLOCK_TOKEN_LEN + 1 + REDLOCK_OWNER_MAX)

/* True if owner is a valid owner label: 1..REDLOCK_OWNER_MAX bytes, each
 * printable ASCII other than space (0x21..0x7e). NULL gives false. */
bool redlock__owner_valid(const char *owner);

/* Write the value a key of a lock stores into out: "<token>" when owner
 * is NULL or "", else "<token> <owner>" (both already valid). Returns its
 * length. */
size_t redlock__value_build(char out[REDLOCK__VALUE_MAX + 1],
                            const char *token, const char *owner);

/* Split a stored value (len bytes, may be any bytes) at its first space:
 * token gets what comes before (all of it if there is no space), owner
 * what comes after ("" without a space), each truncated to its buffer
 * and NUL-terminated. value NULL gives two empty strings. */
void redlock__value_split(const char *value, size_t len,
                          char token[REDLOCK_TOKEN_LEN + 1],
                          char owner[REDLOCK_OWNER_MAX + 1]);

/* ------------------------------------------------------------------------
 * Scripts (scripts.c)
 * ------------------------------------------------------------------------ */

typedef enum redlock__script_id {
    REDLOCK__SCRIPT_ACQUIRE_MULTI = 0,
    REDLOCK__SCRIPT_EXTEND = 1,
    REDLOCK__SCRIPT_RELEASE = 2,
    REDLOCK__SCRIPT_RESTORE = 3,
    REDLOCK__SCRIPT_COUNT = 4
} redlock__script_id;

/* Lua source of a script; static. */
const char *redlock__script_source(redlock__script_id id);

/* Compute the scripts' SHA1 digests with OpenSSL, once per process;
 * REDLOCK_ECRYPTO if it could not (the result is remembered). */
redlock_status redlock__scripts_init(void);

/* Lowercase hex SHA1 of a script (40 characters); static, computed once.
 * "" if redlock__scripts_init() failed. */
const char *redlock__script_sha(redlock__script_id id);

/* ------------------------------------------------------------------------
 * Logging (log.c)
 * ------------------------------------------------------------------------ */

struct redlock_manager;

/* Format and pass a line to the manager's log callback if its level is
 * enabled. Never call with an internal lock held. */
void redlock__log(const struct redlock_manager *m, redlock_log_level level,
                  const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ------------------------------------------------------------------------
 * Fan-out operations (op.c)
 *
 * An op is one command sent to every node. It holds one slot per node
 * (the per-node request, linked into that node's queue) and the tallies
 * the calling thread waits on. It is reference-counted: the caller holds
 * one reference and every slot queued at a node holds one, so the memory
 * outlives a caller that stopped waiting.
 * ------------------------------------------------------------------------ */

typedef enum redlock__op_kind {
    REDLOCK__OP_ACQUIRE = 0,       /* SET key token NX PX ttl */
    REDLOCK__OP_ACQUIRE_MULTI = 1, /* script: all keys or none */
    REDLOCK__OP_EXTEND = 2,        /* script: compare token, PEXPIRE (also
                                      the restore script: same replies) */
    REDLOCK__OP_RELEASE = 3,       /* script: compare token, DEL */
    REDLOCK__OP_RAW = 4,           /* any command; replies are kept */
    REDLOCK__OP_INT = 5            /* a script answering an integer:
                                      > 0 is yes, 0 is no; replies kept */
} redlock__op_kind;

/* What one node said. */
typedef enum redlock__answer {
    REDLOCK__ANS_NONE = 0, /* not yet */
    REDLOCK__ANS_YES = 1,
    REDLOCK__ANS_NO = 2,
    REDLOCK__ANS_ERROR = 3
} redlock__answer;

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
    redlock_status error;       /* when answer is ERROR */
    void *reply;                /* redisReply* for OP_RAW; owned by the op */
    uint64_t sent_us;           /* when written to the socket */
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
    redlock__wires *wires;    /* acquires only: shared wire states */
    redlock__slot slots[];    /* n of them */
} redlock__op;

/* Allocate an op for n nodes with a command of argc arguments (copied).
 * For script kinds argv[0] must be "EVALSHA" and argv[1] the SHA; the
 * worker swaps in EVAL and the source on NOSCRIPT. Returns NULL on OOM.
 * The caller holds the only reference. */
redlock__op *redlock__op_new(redlock__op_kind kind, size_t n, int argc,
                             const char *const *argv, const size_t *argvlen,
                             redlock__script_id script);

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

/* Post the op to every node of m (one reference per slot). */
void redlock__op_submit(struct redlock_manager *m, redlock__op *op);

/* Post only the slots marked in which[] (length op->n). The others are
 * never sent; they are answered at once with `skipped` unless it is
 * REDLOCK__ANS_NONE (then nobody may wait on this op for all nodes). */
void redlock__op_submit_some(struct redlock_manager *m, redlock__op *op,
                             const bool *which, redlock__answer skipped);

/* Take a consistent copy of the tallies. */
void redlock__op_tally(redlock__op *op, size_t *yes, size_t *no,
                       size_t *error, char *first_error, size_t errlen);

/* ------------------------------------------------------------------------
 * Node workers (node.c)
 * ------------------------------------------------------------------------ */

typedef struct redlock__node redlock__node;

/* Create the worker for node index idx (does not start its thread).
 * Returns NULL on OOM or when no eventfd could be made. Takes ownership of
 * *uri's strings (uri is zeroed). */
redlock__node *redlock__node_new(struct redlock_manager *m, size_t idx,
                                 redlock__uri *uri);

/* Start the worker thread. Returns 0 or an errno. */
int redlock__node_start(redlock__node *node);

/* Queue slot s at the node and wake its worker; fails the slot at once
 * when the node's queue is full (non-release) or the node is stopped. */
void redlock__node_submit(redlock__node *node, redlock__slot *s);

/* Ask the worker to stop (failing queued non-release work with ECLOSED,
 * flushing releases until shutdown_deadline_us) and join it. */
void redlock__node_stop(redlock__node *node, uint64_t shutdown_deadline_us);

/* Free a stopped node. */
void redlock__node_free(redlock__node *node);

/* True when called on one of m's internal threads: a worker, the lease
 * thread or an election thread (that is, inside a redlock callback). */
bool redlock__on_worker_of(const struct redlock_manager *m);

/* Mark the calling thread as one of m's internal threads. */
void redlock__mark_callback_thread(const struct redlock_manager *m);

/* The node's address without credentials; owned by the node. */
const char *redlock__node_name(const redlock__node *node);

/* Microseconds left of node's restart guard at now (0: not guarded):
 * acquires and extends are not sent to it meanwhile. Any thread. */
uint64_t redlock__node_guard_left_us(redlock__node *node, uint64_t now);

/* Tell node that it is the same server as voting node `of` (-1: it votes).
 * Any thread: an atomic store; its worker refuses non-release work at
 * once while it is set, and reports the change on its next pass. */
void redlock__node_set_dup(redlock__node *node, int of);

/* ------------------------------------------------------------------------
 * Manager (manager.c)
 * ------------------------------------------------------------------------ */

struct redlock_manager {
    uint32_t magic;
    atomic_int refs;         /* creator + live locks + calls in progress */
    atomic_bool closing;     /* set by destroy (release); read anywhere */
    size_t n;
    size_t quorum;
    redlock__node **nodes;
    redlock_options opts;    /* copy; key_prefix points at prefix below */
    char *prefix;
    size_t prefix_len;
    char *owner;             /* copy of opts.owner (NULL if none; then
                                opts.owner is NULL too) */
    struct redlock__leases *leases; /* lease thread and its heap */
    pthread_mutex_t close_mu;  /* with close_cv: wakes sleepers on destroy */
    pthread_cond_t close_cv;
    pthread_mutex_t dup_mu;    /* guards run_ids and dup_of */
    char (*run_ids)[41];       /* per node: its server's run_id, "" if not
                                  known (yet) */
    int *dup_of;               /* per node: -1, or the voting node it is
                                  the same server as (redlock__dup_update) */
    /* The restart guard's AUTO mode (redlock__manager_note_ttl()): the
     * largest TTL this manager has sent. Written by any thread before it
     * queues a command carrying a TTL; read by the workers. */
    _Atomic uint32_t max_ttl_sent_ms;
    struct redlock__tls *tls;  /* TLS settings (conn.h), built at create
                                  when a node is rediss:// or a TLS file
                                  is given; NULL otherwise. Read-only;
                                  freed after the nodes. */
};

/* Take / drop a reference on the manager (memory is freed at zero). */
void redlock__manager_ref(struct redlock_manager *m);
void redlock__manager_unref(struct redlock_manager *m);

/* Sleep for us microseconds, or until redlock_manager_destroy() begins.
 * Returns false if it was cut short by destroy (or m was closing already). */
bool redlock__manager_sleep_us(struct redlock_manager *m, uint64_t us);

/* Node idx's handshake read run_id ("" if it could not): record it and
 * decide duplicates (redlock__dup_update()); every node whose decision
 * changed is told through redlock__node_set_dup(). Returns the voting
 * node idx is the same server as, or -1. Takes dup_mu. */
int redlock__manager_set_run_id(struct redlock_manager *m, size_t idx,
                                const char *run_id);

/* Record that a command carrying ttl_ms (SET PX, PEXPIRE, restore) is
 * about to be queued: raises the largest TTL sent, the guard time of the
 * restart guard's AUTO mode. Any thread; call before queuing. */
void redlock__manager_note_ttl(struct redlock_manager *m, uint32_t ttl_ms);

/* Until when (exclusive, redlock__clock_now_us()) a node that restarted
 * at restart_us is guarded under m's restart_guard_ms as it stands now
 * (redlock__guard_until_us()); 0 if not guarded. first_write_us: when
 * this manager first wrote a command carrying a TTL to that node
 * (UINT64_MAX: never). *guard_ms (may be NULL) gets the guard time in
 * force. Any thread. */
uint64_t redlock__manager_guard_until_us(struct redlock_manager *m,
                                         uint64_t restart_us,
                                         uint64_t first_write_us,
                                         uint32_t *guard_ms);

/* Report a node state change through the node-error callback and log. */
void redlock__manager_node_event(struct redlock_manager *m, const char *node,
                                 redlock_status st, const char *message);

/* ------------------------------------------------------------------------
 * Locks (lock.c)
 * ------------------------------------------------------------------------ */

struct redlock_lock {
    uint32_t magic;
    struct redlock_manager *m; /* referenced */
    size_t count;              /* resources */
    char **keys;               /* prefix + resource, count of them; in
                                  the lock's own block, with key_lens */
    size_t *key_lens;
    char token[REDLOCK_TOKEN_LEN + 1];
    char owner[REDLOCK_OWNER_MAX + 1]; /* owner label; "" if none */
    uint32_t ttl_ms;           /* of the last acquire/extend */
    uint32_t max_ttl_ms;       /* largest TTL ever sent for these keys */
    uint32_t ext_floor_ms;     /* smallest TTL any extension sent (0: no
                                  extension yet); see
                                  redlock__extend_floor_ms() */
    _Atomic uint64_t validity_end_us; /* read by any thread */
    _Atomic size_t nodes_granted; /* read by any thread */
    bool released;
    /* Where a release must go: nodes the winning acquire's SET was
     * written to (NULL: every node, e.g. an adopted lock), plus nodes a
     * restore was sent to. Used by the thread driving the lock (the
     * owner, or the lease thread while a lease runs). */
    redlock__wires *acquired_wires;
    uint64_t restored_nodes;   /* bit i: node i */
    /* The last winning extension's per-node facts, and which of its
     * "key gone" answers were already restored. */
    redlock__wires *last_extend;
    uint64_t last_extend_restored;
};

/* An extend op for lock (not submitted); NULL on OOM. Records ttl_ms as
 * possibly applied (the largest and the smallest TTL sent), and stores in
 * *floor_ms the TTL its validity must be computed from
 * (redlock__extend_floor_ms()). */
redlock__op *redlock__extend_op_new(struct redlock_lock *lock,
                                    uint32_t ttl_ms, uint32_t *floor_ms);

/* After ext (an extension of lock with ttl_ms) won a quorum: re-create the
 * keys, with our token, on the nodes that answered that a key was gone
 * (this extension's answers so far, and the previous extension's answers
 * that came after it was decided), if the manager's restore_on_extend is
 * set. Fire-and-forget; the restore is queued before the call returns, so
 * a later release follows it on every node. Takes no lock but the nodes'
 * queues. */
void redlock__lock_restore_missing(struct redlock_lock *lock,
                                   redlock__op *ext, uint32_t ttl_ms,
                                   uint64_t validity_end_us);

/* Store the result of a successful extension made by the lease thread. */
void redlock__lock_extended(struct redlock_lock *lock, uint32_t ttl_ms,
                            uint64_t validity_end_us, size_t yes);

/* ------------------------------------------------------------------------
 * Leases (lease.c)
 * ------------------------------------------------------------------------ */

typedef struct redlock__leases redlock__leases;

/* Create the manager's lease subsystem (its thread starts with the first
 * lease). NULL on failure. */
redlock__leases *redlock__leases_new(struct redlock_manager *m);

/* Stop the lease thread: every running lease is lost with ECLOSED (all
 * signals fire), then the thread is joined. Lease handles stay valid for
 * redlock_lease_stop(). */
void redlock__leases_shutdown(redlock__leases *ls);

/* Free the subsystem (after shutdown). */
void redlock__leases_free(redlock__leases *ls);

/* Wake the lease thread as a finished renewal does (for tests). */
void redlock__leases_wake(redlock__leases *ls);

/* How many renewals the lease thread acted on more than 250 ms after their
 * outcome was known (a lost wake-up shows up here). */
uint64_t redlock__leases_late_renewals(redlock__leases *ls);

/* Test hook, NULL in production: called by the lease thread on each pass
 * between taking its wake-up and looking at the ops. */
extern void (*_Atomic redlock__lease_pass_hook)(redlock__leases *ls);

/* redlock_lease_start() that also keeps *mirror equal to the lease's
 * validity end (0 once lost), for the election's lock-free is_leader. */
redlock_status redlock__lease_start_mirrored(struct redlock_lock *lock,
                                             const redlock_lease_options *o,
                                             _Atomic uint64_t *mirror,
                                             redlock_lease **out);

#endif /* REDLOCK_INTERNAL_H */
