/*
 * redlock.h: Redlock distributed locks over independent Redis nodes.
 *
 * This is the whole public API of libredlock, and its reference manual.
 *
 * A redlock_manager talks to N independent Redis masters (N = 1, 3, 5, ...).
 * It owns one worker thread per node; every acquire, extend and release is
 * sent to all nodes at once and decided as soon as a quorum (N/2 + 1) of
 * answers makes the outcome certain. Any number of application threads may
 * share one manager.
 *
 * Conventions used throughout:
 *   - Every function returns a redlock_status; REDLOCK_OK (0) is success and
 *     redlock_strerror() turns any status into a static message.
 *   - Durations carry their unit in their name (ttl_ms, deadline_us).
 *   - Strings passed in are copied; strings handed out are borrowed from the
 *     object that returned them and stay valid until that object is freed.
 *   - Time is measured on CLOCK_BOOTTIME (monotonic, and it keeps counting
 *     while the machine is suspended, as Redis keeps expiring keys then).
 *     redlock_clock_us() reads that clock.
 *
 * See docs/design.md for the threading model and docs/safety.md for exactly
 * what the library does and does not promise.
 */
#ifndef REDLOCK_H
#define REDLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "redlock_version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(REDLOCK_STATIC_BUILD)
#define REDLOCK_API __attribute__((visibility("default")))
#else
#define REDLOCK_API
#endif

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */

/* Longest resource name accepted, in bytes, not counting the key prefix. */
#define REDLOCK_RESOURCE_MAX 4096
/* Longest key prefix accepted, in bytes. */
#define REDLOCK_KEY_PREFIX_MAX 256
/* Largest TTL accepted by acquire and extend: 7 days, in milliseconds.
 * Every ttl_ms of the API is refused with REDLOCK_ERANGE when it is 0 or
 * above this; one that is to be granted (acquire, extend, leases,
 * elections) is also refused with REDLOCK_ETTLSHORT when it does not
 * exceed its drift allowance, ttl_ms * drift_factor + 2 ms. */
#define REDLOCK_TTL_MAX_MS (7u * 24u * 3600u * 1000u)
/* Most nodes one manager may use. */
#define REDLOCK_NODES_MAX 64
/* Most resources one redlock_acquire_multi() call may lock. */
#define REDLOCK_MULTI_MAX 64
/* Token length in characters (hex of 16 random bytes), without the NUL. */
#define REDLOCK_TOKEN_LEN 32
/* Attempts whose per-node tallies redlock_acquire_info records one by one. */
#define REDLOCK_INFO_ATTEMPTS_MAX 32
/* Longest owner label, in bytes (redlock_options.owner,
 * redlock_acquire_opts.owner). An owner is 1..REDLOCK_OWNER_MAX bytes of
 * printable ASCII without spaces (0x21..0x7e), such as "web-3:4711" or
 * "alice@build-host"; anything else is refused with REDLOCK_EINVAL before
 * anything is sent. It is stored next to the token (see "Stored value"
 * below) so that tools can show who holds a lock. */
#define REDLOCK_OWNER_MAX 64

/* ------------------------------------------------------------------------
 * Status codes
 *
 * One list generates the enum, redlock_strerror() and redlock_status_name().
 * Numbers are stable and never reused; new codes are added at the end.
 * ------------------------------------------------------------------------ */

#define REDLOCK_STATUS_MAP(X)                                                 \
    X(OK, 0, "success")                                                       \
    X(ETAKEN, 1, "resource is held by another owner")                         \
    X(ENOQUORUM, 2,                                                           \
      "quorum unreachable: too few nodes answered (down or timed out)")       \
    X(ETIMEDOUT, 3, "deadline passed before the operation could complete")    \
    X(EEXPIRED, 4, "lock validity ran out before a quorum answered")          \
    X(ENOTHELD, 5, "lock expired or is no longer owned by this holder")       \
    X(ELOST, 6, "lease could not be extended and was lost")                   \
    X(EINVAL, 7, "invalid argument")                                          \
    X(ENOMEM, 8, "out of memory")                                             \
    X(EIO, 9, "network or system error talking to a node")                   \
    X(EPROTO, 10, "unexpected reply from a node")                             \
    X(ECLOSED, 11, "manager is shutting down")                                \
    X(EMISUSE, 12, "API misuse: bad handle")                                  \
    X(ECRYPTO, 13, "cryptographic library failed to initialize")              \
    X(EURI, 14, "node URI could not be parsed")                               \
    X(ERANGE, 15, "value out of its documented range")                        \
    X(ENONODES, 16, "no nodes given")                                         \
    X(ERELEASED, 17, "lock handle was already released")                      \
    X(EAUTH, 18, "node refused authentication or permission")                \
    X(ETTLSHORT, 19,                                                          \
      "ttl is too short: it does not exceed the clock-drift allowance")       \
    X(EDB, 20, "node refused the database index")                             \
    X(EREFUSED, 21, "node refused the connection")                            \
    X(EPENDING, 22, "node had not answered when the attempt was decided")     \
    X(EDUPNODE, 23, "node is the same server as another node")               \
    X(ETLS, 24,                                                               \
      "TLS handshake or certificate verification with a node failed")         \
    X(EGUARDED, 25,                                                           \
      "node restarted recently: it does not vote until its restart guard "   \
      "has passed")                                                           \
    X(ECANCELED, 26, "operation was cancelled before it completed")        \
    X(ECROSSSLOT, 27,                                                         \
      "keys are in different hash slots of a cluster node: give them one "   \
      "hash tag, as in {order42}")

/* Status of every call. 0 is success; the others are listed above. */
typedef enum redlock_status {
#define REDLOCK__STATUS_ENUM(name, num, msg) REDLOCK_##name = num,
    REDLOCK_STATUS_MAP(REDLOCK__STATUS_ENUM)
#undef REDLOCK__STATUS_ENUM
} redlock_status;

/* A static, human-readable message for st; never NULL, never allocates.
 * Unknown values give "unknown status". Thread-safe. */
REDLOCK_API const char *redlock_strerror(redlock_status st);

/* The enum name of st, such as "REDLOCK_ETAKEN"; static, never NULL.
 * Unknown values give "REDLOCK_UNKNOWN". Thread-safe. */
REDLOCK_API const char *redlock_status_name(redlock_status st);

/* ------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------ */

/* The library's version as "MAJOR.MINOR.PATCH"; static. Compare it with
 * REDLOCK_VERSION_STRING to detect a header/library mismatch. */
REDLOCK_API const char *redlock_version(void);

/* The library's version as REDLOCK_VERSION_NUMBER computes it:
 * (major << 16) | (minor << 8) | patch. */
REDLOCK_API unsigned redlock_version_number(void);

/* ------------------------------------------------------------------------
 * Clock
 * ------------------------------------------------------------------------ */

/* Microseconds on the clock the library uses for validity and deadlines
 * (CLOCK_BOOTTIME on Linux). Use it to compute absolute deadlines for
 * redlock_acquire_opts.deadline_us. Thread-safe. */
REDLOCK_API uint64_t redlock_clock_us(void);

/* ------------------------------------------------------------------------
 * Opaque handles
 * ------------------------------------------------------------------------ */

/* One manager, usually one per process, shared by all threads. */
typedef struct redlock_manager redlock_manager;
/* One held lock (over one or several resources). */
typedef struct redlock_lock redlock_lock;

/* ------------------------------------------------------------------------
 * Manager options
 * ------------------------------------------------------------------------ */

/* Severity of a log message. */
typedef enum redlock_log_level {
    REDLOCK_LOG_ERROR = 0,
    REDLOCK_LOG_WARN = 1,
    REDLOCK_LOG_INFO = 2,
    REDLOCK_LOG_DEBUG = 3
} redlock_log_level;

/*
 * Called when a node goes down and when it comes back (st == REDLOCK_OK
 * then): once per transition, and again while down only when the reason
 * changes, not once per failed command. The first successful connect is
 * not reported. st says which class of failure it is:
 *   REDLOCK_EAUTH      the node refused authentication (NOAUTH, WRONGPASS,
 *                      an AUTH error) or permission (NOPERM) during the
 *                      handshake;
 *   REDLOCK_EDB        the node refused the database index of the URI
 *                      (SELECT answered "DB index is out of range", or
 *                      any other error);
 *   REDLOCK_EREFUSED   the connection was refused (ECONNREFUSED: nothing
 *                      listens there), or the server refused it (at its
 *                      maxclients limit);
 *   REDLOCK_ETIMEDOUT  connect, handshake or a command timed out;
 *   REDLOCK_EPROTO     the node sent something that is not a valid reply;
 *   REDLOCK_EDUPNODE   the node turned out to be the same server as
 *                      another node of the manager (the same run_id in
 *                      INFO server; see redlock_manager_create_ex()): a
 *                      configuration error, also logged at ERROR. The
 *                      message names both nodes. It does not vote until
 *                      that changes;
 *   REDLOCK_EGUARDED   the node restarted (or another server now answers
 *                      for it) and is in its restart guard (see
 *                      redlock_options.restart_guard_ms): it gets no
 *                      acquires or extends for now; the message says why
 *                      and for how long, and the guard's end is reported
 *                      with REDLOCK_OK;
 *   REDLOCK_ETLS       a rediss:// node's TLS refused: certificate verify
 *                      failed, hostname mismatch, no shared protocol, or
 *                      our client certificate refused; the message names
 *                      the cause. A configuration error, like EAUTH. A
 *                      handshake that timed out is REDLOCK_ETIMEDOUT and
 *                      a connection reset during it REDLOCK_EIO (both
 *                      with "TLS" in the message): those may pass;
 *   REDLOCK_EIO        any other network or system error.
 * node is the node's address without credentials, such as
 * "127.0.0.1:6379" or "unix:/run/redis.sock"; message says what happened
 * and never contains a password. Both strings are borrowed for the
 * duration of the call.
 *
 * Runs on that node's worker thread: keep it short, do not block, and do not
 * call redlock_manager_destroy() from it.
 */
typedef void (*redlock_node_error_fn)(const char *node, redlock_status st,
                                      const char *message, void *userdata);

/*
 * Receives the library's log lines at or below the configured level.
 * message is borrowed for the call and never contains a password. May run
 * on any thread, including the worker threads: keep it short.
 */
typedef void (*redlock_log_fn)(redlock_log_level level, const char *message,
                               void *userdata);

/*
 * Options for redlock_manager_create(). Always fill it with
 * redlock_options_init() first, then set the fields you need: new fields are
 * added at the end and get their defaults from init.
 */
typedef struct redlock_options {
    size_t struct_size;          /* set by redlock_options_init() */
    double drift_factor;         /* clock drift per ms of TTL; default 0.01,
                                    must be in [0, 0.5) */
    uint32_t retry_count;        /* retries after the first attempt; 10 */
    /* Durations below are in milliseconds. Each accepts every value of
     * its type unless a range is given (values outside it are refused
     * with REDLOCK_ERANGE, never clamped); the library computes with them
     * in 64 bits, so UINT32_MAX means what it says and never wraps. */
    uint32_t retry_delay_ms;     /* base delay between attempts; 200 */
    uint32_t retry_jitter_ms;    /* random extra delay in [0, jitter]; 100 */
    uint32_t connect_timeout_ms; /* name lookup, TCP/unix connect, TLS
                                    handshake plus AUTH/SELECT/INFO/SCRIPT
                                    LOAD, together; 1000; > 0 */
    uint32_t command_timeout_ms; /* a node that has not answered a command in
                                    this long is treated as failed and
                                    reconnected; 1000; > 0 */
    const char *key_prefix;      /* prepended to every resource; copied;
                                    default "" (none) */
    uint32_t node_queue_max;     /* commands waiting per node before new
                                    ones fail fast for that node; 65536 */
    uint32_t reconnect_min_ms;   /* first reconnect delay, and the shortest
                                    time between two connects of a node;
                                    50; > 0 */
    uint32_t reconnect_max_ms;   /* cap of the doubling delay of an idle
                                    node; 2000; >= reconnect_min_ms. Work
                                    waiting shortens it: a node that work
                                    finds down is probed at once (at most
                                    once per reconnect_min_ms), and the
                                    next delay is at most a quarter of
                                    that work's remaining wait
                                    (reconnect_min_ms with a release
                                    waiting) */
    uint32_t shutdown_timeout_ms; /* how long destroy lets queued releases
                                     finish; 1000; 0: do not wait */
    redlock_node_error_fn node_error_fn; /* may be NULL */
    void *node_error_userdata;
    redlock_log_fn log_fn;       /* may be NULL: no logging */
    void *log_userdata;
    redlock_log_level log_level; /* most verbose level passed on; WARN */
    int restore_on_extend;       /* 1 (default): when an extension wins a
                                    quorum, re-create the key on the nodes
                                    where it was gone (node restarted empty,
                                    paused past the TTL, key evicted), so a
                                    long lease does not wear down to a bare
                                    quorum. Never where another token holds
                                    it. 0: the spec's plain extension.
                                    See docs/safety.md. */
    const char *owner;           /* owner label stored with every lock
                                    this manager takes (acquire, leases,
                                    election candidates) unless the call
                                    gives its own; NULL or "" (default):
                                    none. Else 1..REDLOCK_OWNER_MAX bytes
                                    of 0x21..0x7e (REDLOCK_EINVAL at
                                    create otherwise). Copied. */
    /* TLS, used by rediss:// nodes only (docs/api.md, "TLS"). Paths are
     * read at create (a file that cannot be loaded fails create with
     * REDLOCK_ETLS and a message naming it); NULL leaves a setting off. */
    const char *tls_ca_file;     /* PEM file of trusted CAs; NULL and
                                    tls_ca_dir NULL: the system store */
    const char *tls_ca_dir;      /* directory of hashed CA certificates */
    const char *tls_cert_file;   /* client certificate (PEM) for mutual
                                    TLS; needs tls_key_file */
    const char *tls_key_file;    /* its private key (PEM, unencrypted) */
    const char *tls_server_name; /* name sent as SNI and verified against
                                    the certificate; NULL (default): each
                                    node's URI host (an IP literal is
                                    verified as an IP address, not sent
                                    as SNI) */
    int tls_insecure_skip_verify; /* 0 (default), or 1 (else REDLOCK_EINVAL
                                    at create). 1: accept any certificate
                                    and any name. For test setups only:
                                    anyone on the path can then read and
                                    forge lock traffic. Logged at WARN at
                                    create. Never falls back to plaintext
                                    either way. */
    /* The restart guard (docs/safety.md, "Restart guard"): a node that
     * restarted may have lost our keys (no persistence, or a failover to
     * a replica that never saw them), so it must not say "yes" to an
     * acquire or an extend for as long as a key it lost could still be
     * live. A node is guarded when its run_id changed since this manager
     * last saw it, or, on the manager's first connection to it, when its
     * INFO uptime is below the guard time; until the guard time (plus
     * its drift allowance) has passed since the restart. A guarded node
     * is sent no acquires, extends or restores (they count as
     * REDLOCK_EGUARDED, unsent); it still gets releases and reads.
     *   REDLOCK_RESTART_GUARD_AUTO (default): the guard time is the
     *     largest TTL this manager has sent so far, and only restarts
     *     after it first wrote a TTL to that node are guarded (so freshly
     *     started nodes, and first connections, are usable at once). It
     *     covers restarts this manager could have lost keys to, not those
     *     of other processes.
     *   0: off (the plain Redlock spec; needs persistence with fsync).
     *   Any other value: that many ms. Set it to the largest TTL any
     *     client of the deployment uses: the safe production setting.
     * The one duration that does not mean UINT32_MAX ms: that value is
     * REDLOCK_RESTART_GUARD_AUTO. */
    uint32_t restart_guard_ms;
    /* New fields go at the end. */
} redlock_options;

/* redlock_options.restart_guard_ms: follow this manager's own largest
 * TTL (the default). */
#define REDLOCK_RESTART_GUARD_AUTO UINT32_MAX

/* Fill opts with the defaults documented in redlock_options. */
REDLOCK_API void redlock_options_init(redlock_options *opts);

/* ------------------------------------------------------------------------
 * Manager
 * ------------------------------------------------------------------------ */

/*
 * Create a manager for the n nodes given as URIs:
 *   redis://[[user]:password@]host[:port][/db]     (port 6379, db 0 default)
 *   rediss://[[user]:password@]host[:port][/db]    (the same over TLS,
 *                                                   port 6379 too)
 *   unix:///path/to.sock[?db=N][&password=P][&user=U]
 * IPv6 hosts go in brackets: redis://[::1]:6379. Percent-escapes (%40 ...)
 * are decoded in user and password. rediss:// nodes use the tls_* options
 * (docs/api.md, "TLS"); they are never tried in plaintext, and a TLS
 * failure is a node failure with REDLOCK_ETLS naming its cause. Host names
 * are looked up in the background within connect_timeout_ms, and every
 * address of a name (IPv4 and IPv6) is tried in turn.
 *
 * Each node must be an independent server: the same server given twice
 * (the same unix path, or the same host and port, whatever the database
 * or credentials; host names compared without case, IP literals as
 * addresses) is refused with REDLOCK_EINVAL naming both entries, since its
 * answers would count twice toward a quorum. Two entries that only turn
 * out to be one server once connected ("localhost" and "127.0.0.1", or
 * two names of one host) are found by the run_id each node reports in
 * INFO server: the node whose handshake finished second is reported
 * through node_error_fn with REDLOCK_EDUPNODE (naming both) and logged at
 * ERROR, and it does not vote: its answers count as errors
 * (REDLOCK_EDUPNODE) until the run_ids differ again.
 *
 * n == 2 is allowed, but its quorum is 2: it tolerates no node failure
 * (a WARN log line at create says so). Use 3 or 5 independent nodes.
 *
 * Connections are made in the background: a node that is down does not fail
 * create; the manager works while a quorum is reachable and reports node
 * errors through opts->node_error_fn. The handshake, sent on every
 * (re)connect, is AUTH (when the URI has a password), SELECT (when it has a
 * database other than 0), INFO server (for the run_id) and one SCRIPT LOAD
 * per script; its errors are classified as redlock_node_error_fn lists.
 *
 * On success stores a new manager in *out, which the caller must pass to
 * redlock_manager_destroy(). On failure stores NULL, returns the reason
 * (REDLOCK_ENONODES, REDLOCK_EURI, REDLOCK_ERANGE, REDLOCK_EINVAL (also
 * for a bad opts->owner), REDLOCK_ENOMEM, REDLOCK_ECRYPTO, REDLOCK_ETLS (a
 * TLS file that cannot be loaded, named in err_buf; a certificate without
 * its key), REDLOCK_EIO)
 * and leaves no thread or fd behind. If err_buf is not NULL, a one-line explanation (without
 * passwords) is written to it. uris and opts are read during the call only.
 * opts may be NULL for all defaults.
 *
 * Thread-safety: any thread.
 */
REDLOCK_API redlock_status redlock_manager_create_ex(
    const char *const *uris, size_t n, const redlock_options *opts,
    redlock_manager **out, char *err_buf, size_t err_buf_len);

/* redlock_manager_create_ex() without the error buffer. */
REDLOCK_API redlock_status redlock_manager_create(const char *const *uris,
                                                  size_t n,
                                                  const redlock_options *opts,
                                                  redlock_manager **out);

/*
 * Stop the manager: calls blocked in acquire, extend or release return
 * REDLOCK_ECLOSED (also an acquire sleeping between retries, at once); releases already queued get up to shutdown_timeout_ms to
 * reach their nodes; every worker thread is joined and every connection
 * closed. NULL is ignored. Locks still owned by the caller stay valid
 * handles (their operations return REDLOCK_ECLOSED) and must still be freed
 * with redlock_lock_free() or redlock_release(); the manager's memory goes
 * when the last of them does. Called from any redlock callback (on a
 * worker, the lease thread or an election thread) it does nothing and
 * logs an error. Calls already in progress are safe, but no
 * new call on m may start once destroy has begun, and destroy must be
 * called once.
 */
REDLOCK_API void redlock_manager_destroy(redlock_manager *m);

/* Number of nodes the manager was created with, and its quorum (n/2 + 1). */
REDLOCK_API size_t redlock_manager_node_count(const redlock_manager *m);
REDLOCK_API size_t redlock_manager_quorum(const redlock_manager *m);

/* The address of node i without credentials ("host:port" or
 * "unix:/path"), borrowed from the manager; NULL if i is out of range. */
REDLOCK_API const char *redlock_manager_node_name(const redlock_manager *m,
                                                  size_t i);

/* ------------------------------------------------------------------------
 * Acquire
 * ------------------------------------------------------------------------ */

/* What each node said in one attempt. */
typedef struct redlock_attempt_tally {
    uint32_t yes;   /* granted */
    uint32_t no;    /* refused: held by someone else */
    uint32_t error; /* failed, timed out, or did not answer in time */
} redlock_attempt_tally;

/*
 * Statistics of one acquire call, filled in whether it succeeded or not.
 * Owned by the caller, so it is safe with any number of threads.
 */
typedef struct redlock_acquire_info {
    uint32_t attempts;             /* attempts made */
    redlock_attempt_tally last;    /* the last attempt */
    redlock_attempt_tally total;   /* summed over all attempts */
    redlock_attempt_tally per_attempt[REDLOCK_INFO_ATTEMPTS_MAX];
    uint64_t elapsed_us;           /* whole call, retries included */
    int64_t validity_ms;           /* of the lock granted; <= 0 if none */
    redlock_status last_status;    /* outcome of the last attempt (the
                                      call's own status, which may be
                                      ETIMEDOUT, is its return value); the
                                      call's status if no attempt ran */
    char detail[160];              /* first node error of the last attempt,
                                      "host:port: reason", or "" */
    redlock_status node_status[REDLOCK_NODES_MAX];
                                   /* what node i (as numbered by
                                      redlock_manager_node_name()) said in
                                      the last attempt:
                                        REDLOCK_OK        granted;
                                        REDLOCK_ETAKEN    refused: held by
                                                          another owner;
                                        REDLOCK_EPENDING  had not answered
                                                          when the attempt
                                                          was decided (the
                                                          call does not wait
                                                          for the slowest
                                                          nodes; not an
                                                          error);
                                        anything else     that node's error:
                                                          EAUTH, EDB,
                                                          EREFUSED,
                                                          ETIMEDOUT, EPROTO,
                                                          EIO, EDUPNODE,
                                                          ECLOSED, ENOMEM.
                                      Meaningful only when attempts > 0 and
                                      for i below the node count (the rest
                                      are 0). detail has the text of the
                                      first error. */
} redlock_acquire_info;

/* A value of redlock_acquire_opts.retry_count: retry (the delay plus
 * jitter between attempts) until deadline_us passes, or without end when
 * deadline_us is 0. Such a call still ends: with REDLOCK_OK; with
 * REDLOCK_ETIMEDOUT at the deadline; with REDLOCK_ECLOSED as soon as
 * redlock_manager_destroy() begins (also while sleeping between
 * attempts); or at once on a status that retrying cannot improve:
 * REDLOCK_EAUTH, REDLOCK_EDB, REDLOCK_EDUPNODE or REDLOCK_ETLS when so
 * many nodes refused authentication, the database, their vote or TLS
 * that a quorum is impossible without them, REDLOCK_ENOMEM, and the argument errors
 * checked before anything is sent. ETAKEN, ENOQUORUM and EEXPIRED are
 * retried. */
#define REDLOCK_RETRY_UNTIL_DEADLINE (-2)

/*
 * Per-call options for redlock_acquire_ex() and redlock_acquire_multi().
 * Fill with redlock_acquire_opts_init(): fields left at their init value
 * use the manager's defaults. A struct_size of the older, shorter version
 * of this struct (without owner) is accepted: owner then takes its
 * default, and info is filled only up to the fields that version had
 * (without node_status).
 */
typedef struct redlock_acquire_opts {
    size_t struct_size;       /* set by redlock_acquire_opts_init() */
    /* The three retry fields take -1 or 0..UINT32_MAX, and retry_count
     * also REDLOCK_RETRY_UNTIL_DEADLINE (-2); any other value (below,
     * or above UINT32_MAX up to INT64_MAX) is refused with REDLOCK_ERANGE before anything
     * is sent, never clamped. */
    int64_t retry_count;      /* -1: the manager's; 0: a single attempt;
                                 REDLOCK_RETRY_UNTIL_DEADLINE: until
                                 deadline_us (see there) */
    int64_t retry_delay_ms;   /* -1: the manager's */
    int64_t retry_jitter_ms;  /* -1: the manager's */
    uint64_t deadline_us;     /* absolute, on redlock_clock_us(); 0: none.
                                 One already passed (even 1) gives
                                 REDLOCK_ETIMEDOUT before anything is
                                 sent; any later one, up to UINT64_MAX, is
                                 used as is (in effect no deadline).
                                 A hard bound: no attempt starts after it,
                                 waits (including the undo of a failed
                                 attempt) end at it, and the call returns
                                 REDLOCK_ETIMEDOUT once it passes, give or
                                 take scheduling delays. */
    redlock_acquire_info *info; /* may be NULL; filled on return */
    const char *owner;        /* owner label stored with this lock; NULL
                                 (default): the manager's owner; "": none.
                                 Else 1..REDLOCK_OWNER_MAX bytes of
                                 0x21..0x7e (REDLOCK_EINVAL otherwise,
                                 nothing sent). Copied into the lock. */
} redlock_acquire_opts;

/* Fill o with "use the manager's defaults". */
REDLOCK_API void redlock_acquire_opts_init(redlock_acquire_opts *o);

/*
 * Acquire resource (a NUL-terminated string) for ttl_ms milliseconds,
 * retrying per the manager's retry options with random jitter. ttl_ms
 * must be in 1..REDLOCK_TTL_MAX_MS and above its drift allowance,
 * ttl_ms * drift_factor + 2 ms (with the default drift_factor: at least
 * 3 ms); it is never clamped.
 *
 * Returns REDLOCK_OK and stores a lock in *out, owned by the caller until it
 * is passed to redlock_release() or redlock_lock_free(). Otherwise *out is
 * NULL and the status says why:
 *   REDLOCK_ETAKEN      at least one node said it is held by someone else,
 *                       and failures alone do not rule out a quorum;
 *   REDLOCK_ENOQUORUM   too many nodes down, stopped or timed out to
 *                       decide, or none refused but too few said yes;
 *   REDLOCK_EEXPIRED    a quorum said yes but the validity was used up;
 *   REDLOCK_ETIMEDOUT   the deadline passed;
 *   REDLOCK_EAUTH, REDLOCK_EDB, REDLOCK_EDUPNODE, REDLOCK_ETLS
 *                       so many nodes refused authentication (or
 *                       permission for our commands), the database,
 *                       their vote as a duplicate server, or TLS
 *                       (verification, protocol), that a quorum
 *                       is impossible without them (for an odd node
 *                       count: a quorum of nodes refused). Returned at
 *                       once, without retrying: retrying cannot help. The
 *                       class with the most such nodes is returned (EAUTH
 *                       on a tie); see info->node_status for each node;
 *   REDLOCK_EINVAL, REDLOCK_ERANGE  bad arguments, including a bad owner
 *                       (nothing was sent);
 *   REDLOCK_ETTLSHORT   ttl_ms does not exceed its drift allowance, so no
 *                       attempt could ever yield validity (nothing was
 *                       sent);
 *   REDLOCK_ENOMEM      out of memory;
 *   REDLOCK_EMISUSE     m is not a live manager handle;
 *   REDLOCK_ECLOSED     the manager is being destroyed.
 * Each attempt uses a fresh token. After a failed attempt, a release is
 * posted to every node that did not refuse; nodes that granted are waited
 * for (up to command_timeout_ms), nodes that had not answered get a short
 * grace, and on every node the release is queued behind our SET, so the
 * next attempt is never blocked by our own keys.
 *
 * The key's value is the token, or "<token> <owner>" when the lock has an
 * owner (see "Stored value" in docs/api.md).
 *
 * Thread-safety: any number of threads at once. Blocks for up to
 * (retry_count + 1) attempts of at most command_timeout_ms each, plus the
 * undo waits after failed attempts and the delays between attempts
 * (with REDLOCK_RETRY_UNTIL_DEADLINE: until the deadline, if any).
 * retry_count counts retry slots of one delay each: an attempt made early
 * in a slot, when a release of the resource is announced (pub/sub
 * wake-ups, docs/api.md), does not use one up, so there may be more
 * attempts than retry_count + 1, within the same time.
 */
REDLOCK_API redlock_status redlock_acquire(redlock_manager *m,
                                           const char *resource,
                                           uint32_t ttl_ms,
                                           redlock_lock **out);

/* redlock_acquire() with a single attempt (no retries). */
REDLOCK_API redlock_status redlock_try_acquire(redlock_manager *m,
                                               const char *resource,
                                               uint32_t ttl_ms,
                                               redlock_lock **out);

/*
 * redlock_acquire() for a resource of resource_len bytes, which may hold
 * any bytes including NUL, with per-call options (opts may be NULL).
 */
REDLOCK_API redlock_status redlock_acquire_ex(redlock_manager *m,
                                              const void *resource,
                                              size_t resource_len,
                                              uint32_t ttl_ms,
                                              const redlock_acquire_opts *opts,
                                              redlock_lock **out);

/*
 * Acquire count resources as one lock: on each node, one Lua script sets all
 * of them or none (if any is taken there). lens may be NULL when every
 * resource is a NUL-terminated string. Duplicates are rejected with
 * REDLOCK_EINVAL. The lock's extend and release act on all resources.
 * When a node is a Redis Cluster, all keys must hash to one slot (give
 * them one hash tag, as in "{order42}:a" and "{order42}:b"); others are
 * refused at once with REDLOCK_ECROSSSLOT, nothing sent.
 * Otherwise as redlock_acquire_ex().
 */
REDLOCK_API redlock_status redlock_acquire_multi(
    redlock_manager *m, const void *const *resources, const size_t *lens,
    size_t count, uint32_t ttl_ms, const redlock_acquire_opts *opts,
    redlock_lock **out);

/* ------------------------------------------------------------------------
 * Held locks
 * ------------------------------------------------------------------------ */

/*
 * Set the lock's TTL to ttl_ms from now on every node that still stores our
 * token (compare-and-PEXPIRE in Lua). Succeeds only on a quorum, and then
 * recomputes the validity from the start of this call. ttl_ms may be
 * shorter than before (the lock is then held for less).
 *
 * The extend rule (docs/safety.md §10), whatever the outcome: with t0 the
 * time this call started and floor the smallest TTL any extension of this
 * lock has sent (this one included), the validity end becomes
 * t0 + floor - drift(floor) on success, and min(previous end,
 * t0 + floor - drift(floor)) otherwise, since any node may have applied
 * the new TTL. So a failed shorter extend shortens the validity, and after
 * a shortening no later extension gives more validity than the short TTL
 * (a node may apply the short one late, after a reconnect; re-acquire to
 * get a long validity back).
 *
 * Returns REDLOCK_OK; REDLOCK_ENOTHELD if the lock expired or is owned by
 * someone else on enough nodes that a quorum cannot be reached (free it);
 * REDLOCK_ENOQUORUM if too few nodes answered (the lock may still be held
 * until its validity end as set by the rule above); REDLOCK_EEXPIRED if a
 * quorum answered only after the new validity was used up; REDLOCK_ERANGE
 * for a ttl_ms of 0 or above REDLOCK_TTL_MAX_MS; REDLOCK_ETTLSHORT for one
 * that does not exceed its drift allowance (nothing is sent for either,
 * and the lock is unchanged); REDLOCK_ERELEASED after
 * redlock_release_keep(). Never re-acquires a lock
 * that has lapsed. The lock stays owned by the caller whatever the result.
 *
 * Thread-safety: one thread at a time per lock. Blocks for at most
 * command_timeout_ms.
 */
REDLOCK_API redlock_status redlock_extend(redlock_lock *lock,
                                          uint32_t ttl_ms);

/*
 * Delete the lock's keys on ALL nodes, including those that did not grant
 * it, where they still hold our token, then free the handle (whatever the
 * result: do not use lock afterwards). NULL gives REDLOCK_EINVAL.
 *
 * Returns REDLOCK_OK when a quorum confirmed the delete; REDLOCK_ENOTHELD
 * when a quorum answered but too few still held our token (it had expired
 * or been taken over); REDLOCK_ENOQUORUM when too few nodes answered (the
 * release stays queued for them until the keys would have expired anyway,
 * so nothing is left behind); REDLOCK_ECLOSED after the manager was
 * destroyed. Waits for at most command_timeout_ms.
 */
REDLOCK_API redlock_status redlock_release(redlock_lock *lock);

/*
 * As redlock_release(), but keep the handle: afterwards extend and release
 * on it return REDLOCK_ERELEASED, the accessors keep working, and the caller
 * still frees it with redlock_lock_free().
 */
REDLOCK_API redlock_status redlock_release_keep(redlock_lock *lock);

/*
 * Build a handle for a lock held elsewhere (another process, an earlier
 * run) whose token is known, so that it can be extended or released:
 * redlock_extend() and redlock_release() act only where the nodes still
 * store that token, with or without an owner after it. resource is
 * resource_len bytes; token must be REDLOCK_TOKEN_LEN lowercase hex
 * characters as printed by this library, optionally followed by one space
 * and an owner (the whole stored value, "<token> <owner>"; the owner must
 * be valid as REDLOCK_OWNER_MAX says). With the token alone the handle's
 * owner is unknown (redlock_lock_owner() gives NULL) and a key it
 * restores on a node that lost it (restore_on_extend) stores the token
 * alone; with the whole value it stores the owner too;
 * ttl_ms is the TTL the lock was last set with (it bounds how long a
 * release stays queued for unreachable nodes), 1..REDLOCK_TTL_MAX_MS;
 * since nothing is granted with it, it is not held against the drift
 * allowance (no REDLOCK_ETTLSHORT here). The handle's validity is
 * unknown, reported as 0, until a successful extend. Nothing is sent.
 * Returns EINVAL (bad token or resource), ERANGE, ENOMEM, EMISUSE,
 * ECLOSED. The caller owns *out.
 */
REDLOCK_API redlock_status redlock_lock_adopt(redlock_manager *m,
                                              const void *resource,
                                              size_t resource_len,
                                              const char *token,
                                              uint32_t ttl_ms,
                                              redlock_lock **out);

/* Free the handle without releasing the lock (the keys expire by TTL).
 * NULL is ignored. */
REDLOCK_API void redlock_lock_free(redlock_lock *lock);

/* The lock's first resource (without the key prefix) and its length in
 * *len (may be NULL); borrowed until the lock is freed. The bytes are
 * followed by a NUL, so a string resource reads as a C string. */
REDLOCK_API const char *redlock_lock_resource(const redlock_lock *lock,
                                              size_t *len);

/* Number of resources the lock holds (1 unless from acquire_multi). */
REDLOCK_API size_t redlock_lock_resource_count(const redlock_lock *lock);

/* The ownership token: REDLOCK_TOKEN_LEN lowercase hex characters from
 * libsodium's CSPRNG, unique per acquire; borrowed until the lock is
 * freed. */
REDLOCK_API const char *redlock_lock_token(const redlock_lock *lock);

/* The lock's owner label (from redlock_acquire_opts.owner, the manager's
 * redlock_options.owner, or the value given to redlock_lock_adopt()), or
 * NULL if it has none or lock is not a live handle. Borrowed until the
 * lock is freed. The key's value on the nodes is "<token> <owner>".
 * Any thread. */
REDLOCK_API const char *redlock_lock_owner(const redlock_lock *lock);

/* Milliseconds of validity left now: how long the holder may still assume
 * it is the only one (the TTL minus the time the last acquire or extend
 * took, minus the drift allowance, minus the time since). <= 0 once it
 * has run out, and 0 after a release. Thread-safe. */
REDLOCK_API int64_t redlock_lock_validity_ms(const redlock_lock *lock);

/* The absolute end of the validity, on redlock_clock_us(). */
REDLOCK_API uint64_t redlock_lock_validity_end_us(const redlock_lock *lock);

/* How many nodes had granted the last acquire or extend when its outcome
 * was decided (usually the quorum: the call does not wait for the rest,
 * which still receive the command). */
REDLOCK_API size_t redlock_lock_nodes_granted(const redlock_lock *lock);

/* ------------------------------------------------------------------------
 * Inspecting a resource (for tools and monitoring)
 * ------------------------------------------------------------------------ */

/* What one node says about a resource. */
typedef struct redlock_node_view {
    int reachable;                     /* 1 if the node answered */
    int held;                          /* 1 if the key exists */
    char holder[REDLOCK_TOKEN_LEN + 1]; /* the token: the stored value up
                                           to its first space (all of it if
                                           none), truncated to
                                           REDLOCK_TOKEN_LEN; "" if none */
    int64_t ttl_ms;                    /* remaining TTL; -1 if no expiry,
                                          -2 if no key or unreachable */
    redlock_status error;              /* why unreachable: the node's
                                          error class (EAUTH, EDB,
                                          EREFUSED, ETIMEDOUT, EPROTO, EIO,
                                          EDUPNODE, ...; see
                                          redlock_node_error_fn); OK
                                          otherwise. EGUARDED with
                                          reachable 1: the node answered
                                          but is in its restart guard
                                          (votes in no acquire or
                                          extend; on a cluster node,
                                          the resource's shard is) */
    char owner[REDLOCK_OWNER_MAX + 1]; /* the owner: what follows the
                                          first space of the stored value,
                                          truncated to REDLOCK_OWNER_MAX;
                                          "" if none */
} redlock_node_view;

/*
 * Ask every node who holds resource (resource_len bytes) and for how long.
 * views must have room for redlock_manager_node_count(m) entries; entry i
 * describes node i. Waits for every node, up to command_timeout_ms.
 * Read-only: changes nothing on any node. Returns REDLOCK_OK (even when
 * some nodes are unreachable; see views[i].reachable), or EINVAL / ERANGE /
 * ENOMEM / ECLOSED / EMISUSE. Thread-safety: any thread.
 */
REDLOCK_API redlock_status redlock_inspect(redlock_manager *m,
                                           const void *resource,
                                           size_t resource_len,
                                           redlock_node_view *views,
                                           size_t views_len);

/* ------------------------------------------------------------------------
 * Fencing tokens
 * ------------------------------------------------------------------------ */

/*
 * Draw the next fencing number for the lock's first resource: a number
 * strictly greater than every fencing number drawn before for the same
 * resource (and key prefix) by anyone, as long as no node lost its data
 * (see docs/safety.md). Hand it to the systems you write to, so that they
 * can reject writes from a holder whose lock has lapsed.
 *
 * How: the counter "<prefix><resource>:fence" is read from a quorum, and
 * max + 1 is then written to the nodes with "set if greater", succeeding
 * once a quorum stored it (two round trips). Any later draw reads a quorum
 * that overlaps ours, so it sees our number and goes above it.
 *
 * Returns REDLOCK_OK and *fence; REDLOCK_ENOQUORUM if a quorum did not
 * answer (or 8 rounds lost races with concurrent draws); REDLOCK_EEXPIRED
 * if the lock's validity had run out before the draw or has run out by the
 * time it was won (a number is never handed out after the validity ends:
 * it could be above the next holder's); REDLOCK_EPROTO if a node's counter
 * is not a number; ERELEASED, EINVAL, ENOMEM, ECLOSED, EMISUSE. *fence is
 * 0 unless REDLOCK_OK. Thread-safety: one thread at a time per lock. One round blocks for up to
 * 2 x command_timeout_ms; a round lost to a concurrent draw is retried
 * after 1-5 ms, at most 8 rounds. The counter key has no TTL and stays on
 * the nodes; a resource whose name ends in ":fence" shares its key space.
 */
REDLOCK_API redlock_status redlock_fence_next(redlock_lock *lock,
                                              uint64_t *fence);

/* ------------------------------------------------------------------------
 * Leases: locks kept alive by the manager's lease thread
 * ------------------------------------------------------------------------ */

/* A lock that the lease thread keeps extending. */
typedef struct redlock_lease redlock_lease;

/*
 * Called once when a lease is lost. why is REDLOCK_ENOTHELD (the token is
 * gone or belongs to someone else on enough nodes), REDLOCK_EEXPIRED (the
 * validity ran out before a quorum confirmed an extension),
 * REDLOCK_ERANGE (max_hold_ms or max_renewals reached) or REDLOCK_ECLOSED
 * (the manager is being destroyed).
 *
 * Runs on the manager's lease callback thread, one callback at a time, in
 * the order the losses were declared, without internal locks held; by then
 * the status, the fd and redlock_lease_wait() have already told the loss
 * (by the lease thread, which a slow callback does not hold up). Keep it
 * short: it delays the callbacks queued behind it. It may call
 * redlock_lease_lost(), _status(), _fd(), _lock(), redlock_lease_start()
 * and redlock_election_resign()/_destroy(), but must not call
 * redlock_lease_stop() (REDLOCK_EMISUSE) or destroy the manager (refused).
 */
typedef void (*redlock_lease_lost_fn)(redlock_lease *lease,
                                      redlock_status why, void *userdata);

/* Options of one lease. Fill with redlock_lease_options_init(). */
typedef struct redlock_lease_options {
    size_t struct_size;          /* set by redlock_lease_options_init() */
    uint32_t ttl_ms;             /* TTL of each extension; 0: the lock's
                                    TTL at start. Then 1..REDLOCK_TTL_MAX_MS
                                    (else ERANGE) and above its drift
                                    allowance (else ETTLSHORT) */
    uint32_t renew_threshold_ms; /* extend when less validity than this
                                    remains; 0: one third of ttl_ms. Then
                                    below ttl_ms and above the loss margin
                                    (else ERANGE) */
    uint64_t max_hold_ms;        /* lose the lease after holding it this
                                    long; 0: no limit. Any value; one whose
                                    end does not fit the clock (up to
                                    UINT64_MAX) saturates to no limit */
    uint32_t max_renewals;       /* lose it after this many extensions;
                                    0: no limit */
    redlock_lease_lost_fn on_lost; /* may be NULL */
    void *userdata;
} redlock_lease_options;

/* Fill o with defaults (ttl from the lock, threshold ttl/3, no limits). */
REDLOCK_API void redlock_lease_options_init(redlock_lease_options *o);

/*
 * Hand a held lock to the lease thread, which extends it whenever less
 * than the threshold of validity remains, retrying failed extensions with
 * jitter while validity remains. It never re-acquires a lapsed lock.
 *
 * On success the lease owns lock (get it back with redlock_lease_stop());
 * do not call redlock_extend/redlock_release on it meanwhile. On failure
 * (EINVAL, EMISUSE, ERANGE (also for a renew_threshold_ms not above the
 * loss margin of 5 % of the TTL, 2..50 ms), ETTLSHORT for a resolved
 * ttl_ms that does not exceed its drift allowance, ERELEASED, EEXPIRED if
 * no validity is left, ENOMEM, EIO if the lease thread could not start,
 * ECLOSED) the lock stays with the caller, unchanged. opts may be NULL. The loss is
 * signalled in every form at once: on_lost, the flag read by
 * redlock_lease_lost(), the fd of redlock_lease_fd(), and
 * redlock_lease_wait(); never later than the end of the validity last
 * granted. Thread-safety: any thread.
 */
REDLOCK_API redlock_status redlock_lease_start(redlock_lock *lock,
                                               const redlock_lease_options *opts,
                                               redlock_lease **out);

/*
 * Acquire resource (a C string) and start a lease on it in one call:
 * redlock_acquire_ex() then redlock_lease_start(). Returns the status of
 * the step that failed (a bad ttl_ms, ERANGE or ETTLSHORT, before
 * anything is sent); if the lease cannot start, the lock is released.
 */
REDLOCK_API redlock_status redlock_lease_acquire(
    redlock_manager *m, const char *resource, uint32_t ttl_ms,
    const redlock_acquire_opts *aopts, const redlock_lease_options *lopts,
    redlock_lease **out);

/*
 * Stop renewing and free the lease. No on_lost callback runs after this
 * returns. If lock_out is not NULL the lock is handed back there (still
 * held until its validity ends, unless the lease was lost); otherwise the
 * lock is released on all nodes and freed. Returns REDLOCK_OK, the
 * release's status, or the loss reason if the lease had been lost.
 * A callback of this lease still queued is skipped, not waited for.
 * NULL gives REDLOCK_EINVAL. From an on_lost callback (the lease callback
 * thread) it is refused with REDLOCK_EMISUSE.
 */
REDLOCK_API redlock_status redlock_lease_stop(redlock_lease *lease,
                                              redlock_lock **lock_out);

/* 1 once the lease is lost (or its validity has run out), else 0. Reads an
 * atomic flag and the clock: no lock, callable from any thread, cheap
 * enough for a hot loop. */
REDLOCK_API int redlock_lease_lost(const redlock_lease *lease);

/* REDLOCK_OK while held, else the loss reason (see redlock_lease_lost_fn).
 * Any thread. */
REDLOCK_API redlock_status redlock_lease_status(const redlock_lease *lease);

/* A file descriptor (eventfd) that becomes readable when the lease is
 * lost (and is readable at once if it already was), for
 * poll/epoll/libuv/libevent loops. Made on the first call, so leases
 * nobody watches this way cost no fd; -1 if it could not be made (EMFILE).
 * Owned by the lease: do not read or close it. Any thread. */
REDLOCK_API int redlock_lease_fd(const redlock_lease *lease);

/* Block until the lease is lost or timeout_ms passes. Any negative value
 * (-1 by convention) means no limit; 0 only checks. Any positive value is
 * accepted and saturates: one too large for the clock (up to INT64_MAX)
 * waits without limit, never a wrapped-around short time. Returns the
 * loss reason, or REDLOCK_ETIMEDOUT if still held; EINVAL for a NULL
 * lease, EMISUSE for a bad handle. Any thread; not during or after
 * redlock_lease_stop() of the same lease. */
REDLOCK_API redlock_status redlock_lease_wait(redlock_lease *lease,
                                              int64_t timeout_ms);

/* The leased lock, borrowed (for its token, resource and validity
 * accessors, which are safe from any thread). */
REDLOCK_API const redlock_lock *redlock_lease_lock(const redlock_lease *lease);

/* Number of successful extensions so far. Any thread. */
REDLOCK_API uint32_t redlock_lease_renewals(const redlock_lease *lease);

/* ------------------------------------------------------------------------
 * Scoped locking
 * ------------------------------------------------------------------------ */

/* Work run under a lease. Poll redlock_lease_lost(lease), or watch
 * redlock_lease_fd(lease), and stop when it says so. Its return value is
 * passed back through redlock_with_lock()'s fn_result. */
typedef int (*redlock_scoped_fn)(redlock_lease *lease, void *userdata);

/*
 * Acquire resource, start a lease, run fn(lease, userdata) on the calling
 * thread, then stop the lease and release the lock, whatever fn returned.
 * Returns the acquire's or lease start's status if either failed (fn does
 * not run, nothing is left held; a bad ttl_ms, ERANGE or ETTLSHORT, is
 * refused before anything is sent); REDLOCK_ELOST if the lease was lost while
 * fn ran (also when the manager was destroyed meanwhile); otherwise the
 * status of the release (REDLOCK_OK). fn_result (may be NULL) gets fn's return
 * value when fn ran. aopts and lopts may be NULL.
 */
REDLOCK_API redlock_status redlock_with_lock(
    redlock_manager *m, const char *resource, uint32_t ttl_ms,
    const redlock_acquire_opts *aopts, const redlock_lease_options *lopts,
    redlock_scoped_fn fn, void *userdata, int *fn_result);

/* ------------------------------------------------------------------------
 * Non-blocking operations (for event loops)
 *
 * Each call below checks its arguments, hands the operation to the
 * manager's async engine (one internal thread per manager, started with
 * the first operation) and returns at once. Retries wait on the engine's
 * timers, never on a sleeping thread, and no call below ever waits for
 * Redis. The outcome is delivered through a completion queue: a loop
 * polls redlock_queue_fd() and calls redlock_queue_dispatch(), which runs
 * the completion callbacks on the loop's own thread. One manager may
 * serve several queues (one per loop thread, say).
 *
 * The contract of every submit call: REDLOCK_OK means the callback will
 * run exactly once (with the operation's outcome, REDLOCK_ECANCELED after
 * redlock_cancel(), or REDLOCK_ECLOSED if the manager is destroyed
 * first); any other status means nothing was sent, nothing was kept, and
 * the callback will never run.
 *
 * These use the worker path for every node (a loop thread must not do the
 * I/O itself) and timed retries only (no pub/sub wake-ups; docs/api.md).
 * ------------------------------------------------------------------------ */

/* A completion queue: where finished operations wait for their callbacks. */
typedef struct redlock_queue redlock_queue;

/* One operation in flight. Valid from its submit call until its callback
 * returns; the library frees it then. */
typedef struct redlock_pending redlock_pending;

/* Who runs the callbacks of a queue. */
typedef enum redlock_queue_mode {
    REDLOCK_QUEUE_DISPATCH = 0, /* the caller of redlock_queue_dispatch() */
    REDLOCK_QUEUE_THREAD = 1    /* an internal thread of the queue, one
                                   callback at a time, in order */
} redlock_queue_mode;

/* Options for redlock_queue_create(). Fill with
 * redlock_queue_options_init() first. */
typedef struct redlock_queue_options {
    size_t struct_size;         /* set by _init() */
    redlock_queue_mode mode;    /* REDLOCK_QUEUE_DISPATCH */
} redlock_queue_options;

/* Fill o with the defaults (and struct_size). NULL is ignored. */
REDLOCK_API void redlock_queue_options_init(redlock_queue_options *o);

/*
 * A completion callback. st is the outcome. lock is:
 * - acquire: the new lock on REDLOCK_OK (the callback's owner now: release
 *   it, or hand it on), NULL otherwise;
 * - extend: the lock extended (still the caller's);
 * - release: the lock released; it is freed when the callback returns
 *   (read its resource or token in the callback, if at all).
 * Runs on the thread that dispatches the queue (see redlock_queue_mode),
 * never with a library lock held. It may submit and cancel operations;
 * redlock_queue_dispatch() of the same queue returns 0 there, and
 * redlock_queue_destroy() of it is refused.
 */
typedef void (*redlock_async_fn)(redlock_pending *p, redlock_status st,
                                 redlock_lock *lock, void *userdata);

/*
 * Create a completion queue for m. opts may be NULL (defaults). The queue
 * keeps the manager's memory alive (not its nodes): it may be destroyed
 * before or after the manager. Returns REDLOCK_OK and *out (destroy it
 * with redlock_queue_destroy()), or EINVAL (NULL m or out, opts not from
 * _init(), unknown mode), EMISUSE, ECLOSED, ENOMEM, EIO (eventfd or
 * thread). Thread-safety: any thread.
 */
REDLOCK_API redlock_status redlock_queue_create(
    redlock_manager *m, const redlock_queue_options *opts,
    redlock_queue **out);

/* The queue's eventfd: readable while completions wait to be dispatched
 * (level-triggered; redlock_queue_dispatch() empties it once the queue is
 * empty: do not read it yourself). Owned by the queue; -1 for a NULL
 * queue. In REDLOCK_QUEUE_THREAD mode it exists too, but the queue's
 * thread dispatches. Any thread. */
REDLOCK_API int redlock_queue_fd(const redlock_queue *q);

/* Run up to max completion callbacks (0: all that are waiting) on the
 * calling thread, in the order the operations completed, and return how
 * many ran. Never waits. 0 from a callback of this queue (no nesting),
 * for a REDLOCK_QUEUE_THREAD queue (its thread dispatches) and for a NULL
 * queue. One thread at a time (a second concurrent caller gets 0). */
REDLOCK_API size_t redlock_queue_dispatch(redlock_queue *q, size_t max);

/* Operations submitted through q whose callback has not run yet. Any
 * thread. */
REDLOCK_API size_t redlock_queue_pending(const redlock_queue *q);

/*
 * Cancel every operation still pending on q (as redlock_cancel()), wait
 * for the engine to finish them (a cancelled acquire's undo is posted,
 * not waited for), run every callback still due on the calling thread
 * (the queue's thread is stopped first), close the fd and free the queue.
 * So each callback runs exactly once, even here. NULL is ignored.
 * Refused (logged, nothing done) from a callback of q.
 */
REDLOCK_API void redlock_queue_destroy(redlock_queue *q);

/*
 * Start acquiring resource (resource_len bytes) with ttl_ms, as
 * redlock_acquire_ex() would (opts: retries, deadline_us, owner; NULL for
 * the manager's policy; opts->info is not filled), on q. The engine makes
 * an attempt, and after a failed one undoes it and retries when its timer
 * fires, until won, out of retries, past deadline_us, cancelled or
 * closed. Returns REDLOCK_OK (the callback will run once) and, if out is
 * not NULL, the pending handle in *out; or what redlock_acquire_ex()
 * returns for bad arguments, with ECLOSED after destroy. Any thread.
 */
REDLOCK_API redlock_status redlock_acquire_async(
    redlock_queue *q, const void *resource, size_t resource_len,
    uint32_t ttl_ms, const redlock_acquire_opts *opts, redlock_async_fn cb,
    void *userdata, redlock_pending **out);

/* The same for several resources at once, as redlock_acquire_multi(). */
REDLOCK_API redlock_status redlock_acquire_multi_async(
    redlock_queue *q, const void *const *resources, const size_t *lens,
    size_t count, uint32_t ttl_ms, const redlock_acquire_opts *opts,
    redlock_async_fn cb, void *userdata, redlock_pending **out);

/*
 * Start extending lock to ttl_ms, as redlock_extend() would. Until its
 * callback, lock belongs to the engine: no other call may use it but
 * the read-only ones (validity, resource, token). Returns REDLOCK_OK, or
 * what redlock_extend() returns for a bad handle or TTL, EMISUSE if an
 * operation on lock is already pending, ECLOSED after destroy.
 */
REDLOCK_API redlock_status redlock_extend_async(redlock_queue *q,
                                                redlock_lock *lock,
                                                uint32_t ttl_ms,
                                                redlock_async_fn cb,
                                                void *userdata,
                                                redlock_pending **out);

/*
 * Start releasing lock, as redlock_release() would; the lock handle is
 * freed after the callback returns (whatever the outcome), and must not
 * be used after this call but in that callback. Returns REDLOCK_OK, or
 * EINVAL / EMISUSE (bad handle, or an operation on lock already pending)
 * / ERELEASED (then nothing changes: the caller still owns the handle),
 * ECLOSED after destroy (the keys then expire by their TTL; the handle is
 * still the caller's to free with redlock_lock_free()).
 */
REDLOCK_API redlock_status redlock_release_async(redlock_queue *q,
                                                 redlock_lock *lock,
                                                 redlock_async_fn cb,
                                                 void *userdata,
                                                 redlock_pending **out);

/*
 * Start drawing the next fencing number for lock, as redlock_fence_next()
 * would (a quorum read, then a quorum set-if-greater write; a round lost
 * to a concurrent draw is tried again after a 1-5 ms pause, up to 8
 * rounds). The callback gets redlock_fence_next()'s status and lock; on
 * REDLOCK_OK redlock_pending_fence(p) there gives the number. Until the
 * callback, lock belongs to the engine, as for redlock_extend_async().
 * Returns REDLOCK_OK, or without any callback: EINVAL (NULL q or lock, a
 * lock of another manager), EMISUSE (bad handle, or an operation on lock
 * pending), ERELEASED, EEXPIRED (its validity ran out), ECLOSED, ENOMEM,
 * EIO. A cancelled draw completes with ECANCELED unless its current
 * round's write was already decided: then that outcome stands (OK with
 * its number, or the draw's failure).
 */
REDLOCK_API redlock_status redlock_fence_next_async(redlock_queue *q,
                                                   redlock_lock *lock,
                                                   redlock_async_fn cb,
                                                   void *userdata,
                                                   redlock_pending **out);

/*
 * Start acquiring resource (a C string) and, once won, start a lease on
 * it, as redlock_lease_acquire() does (aopts and lopts may be NULL; lopts'
 * on_lost runs on the lease callback thread, as for any lease). The lease
 * starts on the engine's thread without waiting for Redis. On REDLOCK_OK
 * the callback's lock is the lease's lock and redlock_pending_lease(p)
 * the lease, owned by the callback from then on: to end it from a loop,
 * redlock_lease_stop(lease, &lock) (which hands the lock back and does
 * not wait for Redis) then redlock_release_async(q, lock, ...). If the
 * lease cannot start, the lock is released and the callback gets the
 * lease's status with a NULL lock. Returns as redlock_acquire_async(),
 * and EINVAL for lopts not filled by redlock_lease_options_init().
 */
REDLOCK_API redlock_status redlock_lease_acquire_async(
    redlock_queue *q, const char *resource, uint32_t ttl_ms,
    const redlock_acquire_opts *aopts, const redlock_lease_options *lopts,
    redlock_async_fn cb, void *userdata, redlock_pending **out);

/* In the callback of a redlock_lease_acquire_async() that completed with
 * REDLOCK_OK: the lease (the callback's to stop). NULL otherwise. */
REDLOCK_API redlock_lease *redlock_pending_lease(const redlock_pending *p);

/* In the callback of a redlock_fence_next_async() that completed with
 * REDLOCK_OK: the fencing number drawn. 0 otherwise, and for other
 * operations. */
REDLOCK_API uint64_t redlock_pending_fence(const redlock_pending *p);

/*
 * Ask for p to be cancelled. The callback still runs, exactly once:
 * - an acquire not yet won completes with REDLOCK_ECANCELED, and whatever
 *   its attempt in flight may have set is released, as after a failed
 *   attempt; one already won completes with REDLOCK_OK (release it);
 * - an extend not yet decided completes with REDLOCK_ECANCELED, and the
 *   lock's validity end is what a failed extend leaves (docs/safety.md
 *   §10);
 * - a fence draw completes with REDLOCK_ECANCELED unless its current
 *   round's write was decided (redlock_fence_next_async());
 * - a lease acquire is cancelled as an acquire (no lease is started);
 * - a release is not cancelled (it still completes with its outcome).
 * Returns REDLOCK_OK (asked), EINVAL (NULL) or EMISUSE (not a live
 * handle). Call it only while p is valid: from the thread that dispatches
 * its queue, or from a callback of that queue (with a
 * REDLOCK_QUEUE_THREAD queue, only from its callbacks: p may be freed on
 * that thread at any time).
 */
REDLOCK_API redlock_status redlock_cancel(redlock_pending *p);

/* ------------------------------------------------------------------------
 * Leader election
 * ------------------------------------------------------------------------ */

/* One candidate in an election. */
typedef struct redlock_election redlock_election;

/* Callbacks of an election; each runs on the election's own thread (not a
 * worker or the lease thread), one at a time, never concurrently for one
 * election. fence is the new term's fencing number (see
 * redlock_fence_next()). why is the loss reason, or REDLOCK_OK after
 * redlock_election_resign(). */
typedef struct redlock_election_callbacks {
    void (*on_elected)(redlock_election *e, uint64_t fence, void *userdata);
    void (*on_demoted)(redlock_election *e, redlock_status why,
                       void *userdata);
} redlock_election_callbacks;

/*
 * Start campaigning for leadership of `name` with leases of ttl_ms. The
 * candidate retries (manager retry delay plus jitter) until it holds the
 * lock "<prefix>election:<name>", then keeps it with a lease and draws a
 * fencing number for the term. on_elected fires when it wins, on_demoted
 * when it loses the lease or resigns; after a loss it campaigns again
 * unless it resigned. cb and its functions may be NULL. The lock carries
 * the manager's owner label (redlock_options.owner), so that
 * redlock_election_observe() can tell who leads.
 *
 * Returns REDLOCK_OK and *out (the caller destroys it with
 * redlock_election_destroy()); otherwise *out is NULL, nothing is sent
 * and no thread is left: EINVAL (NULL argument, empty name), EMISUSE,
 * ERANGE (ttl_ms 0, below 10 or above REDLOCK_TTL_MAX_MS, or the name too
 * long), ETTLSHORT (ttl_ms does not exceed its drift allowance), ECLOSED,
 * ENOMEM, EIO (thread), ECROSSSLOT (a node is a Redis Cluster and the
 * election's keys "election:<name>" and "election:<name>:fence" fall in
 * different hash slots: give the name a hash tag, as in "{jobs}").
 * Thread-safety: any thread. The election must be destroyed before the
 * manager.
 */
REDLOCK_API redlock_status redlock_election_start(
    redlock_manager *m, const char *name, uint32_t ttl_ms,
    const redlock_election_callbacks *cb, void *userdata,
    redlock_election **out);

/* Step down (releasing the lock, so another candidate wins within one
 * retry delay) and stop campaigning. on_demoted(REDLOCK_OK) fires if it
 * was leader. Blocks until done. Not from this election's own callbacks
 * (REDLOCK_EMISUSE); from a lease's on_lost it is allowed. */
REDLOCK_API redlock_status redlock_election_resign(redlock_election *e);

/* 1 while this candidate holds the leadership lock with validity left:
 * a flag cleared as soon as the lease thread sees a loss, and the term's
 * validity end compared with the clock, so it turns 0 no later than the
 * validity ends even if the lease thread is late. Any thread, lock-free. */
REDLOCK_API int redlock_election_is_leader(const redlock_election *e);

/* While leader, copy the term's lock token (REDLOCK_TOKEN_LEN + 1 bytes
 * needed) into buf and its fencing number into *fence (may be NULL).
 * REDLOCK_ENOTHELD when not leader. */
REDLOCK_API redlock_status redlock_election_leader_token(
    const redlock_election *e, char *buf, size_t buf_len, uint64_t *fence);

/*
 * A file descriptor (eventfd) that becomes readable on every leadership
 * change of this candidate: elected, and demoted for any reason
 * (resignation included), for poll/epoll/libuv/libevent loops, so a loop
 * can follow an election without a thread of its own. It turns readable
 * after the state changed (redlock_election_is_leader() already returns
 * the new value, up to its validity check) and before on_elected or
 * on_demoted runs; on a demotion, also before the lock is released.
 * Made on the first call (later calls return the same fd); readable at
 * once if a change happened that redlock_election_state_get() has not
 * returned yet.
 *
 * Drain it by calling redlock_election_state_get(), which also says what
 * changed, or by read()ing 8 bytes from it (the number of changes since
 * the last drain; EAGAIN if none). Several changes between two drains
 * make it readable once: compare redlock_election_state.changes.
 * Owned by the election: do not close it; redlock_election_destroy()
 * closes it, so take it out of your loop before destroying.
 *
 * Returns the fd, or -1 with errno set: EINVAL (NULL or bad handle),
 * EMFILE/ENFILE/ENOMEM (it could not be made; a later call tries again).
 * Thread-safety: any thread, including the election's callbacks; not
 * during or after redlock_election_destroy().
 */
REDLOCK_API int redlock_election_fd(redlock_election *e);

/* A snapshot of one candidate, from redlock_election_state_get(). */
typedef struct redlock_election_state {
    int is_leader;                 /* as redlock_election_is_leader() */
    uint64_t fence;                /* the current term's fencing number; 0
                                      if not leader */
    uint64_t changes;              /* leadership changes so far (elected +
                                      demoted), monotonic; odd while a term
                                      the candidate won has not yet been
                                      stepped down from */
    redlock_status last_demotion;  /* why the last term ended: the loss
                                      reason (e.g. REDLOCK_ELOST,
                                      REDLOCK_EEXPIRED, REDLOCK_ECLOSED), or
                                      REDLOCK_OK if resigned or never led */
    int64_t validity_ms;           /* validity left of the current term,
                                      rounded down; 0 if not leader */
} redlock_election_state;

/*
 * Copy the candidate's state into *out and drain redlock_election_fd()
 * (if it was made), both at one instant: a change after it makes the fd
 * readable again, so a loop calls this whenever the fd is readable and
 * misses nothing. is_leader is read as redlock_election_is_leader()
 * reads it, so it can turn 0 at a loss (the lease thread saw it, or the
 * validity ran out) shortly before `changes` counts the demotion and the
 * fd turns readable.
 *
 * Returns REDLOCK_OK; EINVAL (NULL argument), EMISUSE (bad handle).
 * Never waits for Redis (takes the election's mutex briefly).
 * Thread-safety: any thread, including the election's callbacks; not
 * during or after redlock_election_destroy().
 */
REDLOCK_API redlock_status redlock_election_state_get(
    redlock_election *e, redlock_election_state *out);

/* Resign if needed, stop the election's thread, close its fd (see
 * redlock_election_fd()) and free it. NULL is ignored. Not from an
 * election callback. */
REDLOCK_API void redlock_election_destroy(redlock_election *e);

/* Who leads an election, as read from the nodes by
 * redlock_election_observe(). */
typedef struct redlock_leader_view {
    int held;                          /* 1 if one token is stored on a
                                          quorum of nodes: a leader */
    char owner[REDLOCK_OWNER_MAX + 1]; /* its owner label ("" if none:
                                          candidates store the manager's
                                          redlock_options.owner) */
    char token_prefix[9];              /* the first 8 characters of its
                                          token, enough to tell terms
                                          apart; "" if none */
    uint64_t fence;                    /* the election's fencing counter:
                                          the largest value of
                                          "election:<name>:fence" among the
                                          nodes that answered (the leader's
                                          fence once it has drawn it); 0 if
                                          never drawn */
    int64_t ttl_ms;                    /* the smallest PTTL among the nodes
                                          that store that token; -1 if it
                                          has no expiry, -2 if none */
    size_t nodes_agreeing;             /* nodes storing that token */
} redlock_leader_view;

/*
 * Read, without taking anything, who holds the election `name` (the key
 * "<prefix>election:<name>") and its fencing counter: one script per node
 * returns the stored value, its PTTL and the counter, at one instant of
 * that node. Waits for every node, up to command_timeout_ms. This works
 * from any manager on the same nodes and key prefix; it needs no
 * redlock_election.
 *
 * If a quorum of nodes store the same token, out->held is 1 and the other
 * fields describe that leader. Otherwise held is 0, and if some nodes
 * store a value, owner, token_prefix, ttl_ms and nodes_agreeing (below the
 * quorum) describe the one stored on the most nodes (an expiring or
 * contested term); else they are "", -2 and 0. fence is filled either way.
 *
 * Returns REDLOCK_OK (held or not); REDLOCK_ENOQUORUM if fewer than a
 * quorum of nodes answered (out is then zeroed, ttl_ms -2); EINVAL (NULL
 * argument, empty name), ERANGE (name too long), EMISUSE, ECLOSED, ENOMEM;
 * ECROSSSLOT when a node is a Redis Cluster and the election's two keys
 * fall in different hash slots (give the name a hash tag: "{jobs}").
 * Thread-safety: any thread.
 */
REDLOCK_API redlock_status redlock_election_observe(redlock_manager *m,
                                                    const char *name,
                                                    redlock_leader_view *out);

#ifdef __cplusplus
}
#endif
#endif /* REDLOCK_H */
