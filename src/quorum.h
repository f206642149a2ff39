/*
 * quorum.h: every Redlock rule as a pure function (internal; tier: pure
 * leaf: no I/O, no clock, no locks).
 *
 * Offers quorum and verdict counting, the failure statuses of acquire,
 * extend and release, the retry rule, the election's leader rule,
 * validity and drift arithmetic, wait limits, and the restart guard's
 * rules. Each has a table test in tests/unit/test_quorum.c.
 */
#ifndef REDLOCK_QUORUM_H
#define REDLOCK_QUORUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redlock.h"

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

#endif /* REDLOCK_QUORUM_H */
