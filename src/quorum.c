/*
 * quorum.c: the Redlock arithmetic, as pure functions.
 *
 * Quorum, "a quorum is no longer possible", early decisions, the failure
 * statuses, validity with the drift allowance, the wait limit of a quorum
 * command, the validity end after an extension (won or not), when keys
 * are surely gone, retry delays, and deadlines from caller-given
 * durations. No I/O, no clock, no randomness: unit tests drive these with
 * tables (tests/unit/test_quorum.c).
 *
 * Each Redlock rule is written here once and called wherever it applies
 * (docs/design.md, "Rules in src/quorum.c", lists rule, function, callers
 * and test):
 * "a quorum is no longer possible" (redlock__quorum_impossible), the wait
 * limit of a quorum command (redlock__wait_limit_us) and the validity a
 * win gives (redlock__validity_end_us). Rejected: keeping the inline
 * copies in lock.c, lease.c and fence.c next to their callers, which is
 * how the fence came to count a node that never answered its write as
 * neither failed nor refused (see redlock__acquire_failure_status).
 *
 * Durations given by callers may be as large as their type allows
 * (uint64_t milliseconds, say); turning one into an absolute time in
 * microseconds saturates at UINT64_MAX ("never") rather than wrapping to
 * a time in the past. The alternative, refusing such values, would make
 * callers invent their own "forever" below some limit of ours.
 */
#include <stdio.h>
#include <string.h>

#include "quorum.h"

/* N/2 + 1 nodes must agree. */
size_t redlock__quorum(size_t n)
{
    return n / 2 + 1;
}

/* More than n - quorum nodes that cannot say yes leave too few for a
 * quorum. Written as n < q || against > n - q so that n = 0 (no quorum
 * can ever form) is "impossible" instead of wrapping n - q to SIZE_MAX,
 * and so that no count, however large, overflows. */
bool redlock__quorum_impossible(size_t n, size_t against)
{
    size_t q = redlock__quorum(n);
    return n < q || against > n - q;
}

/* a + b, saturating at SIZE_MAX. */
static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* Won once yes reaches quorum; lost once so many refused or failed that
 * the remaining nodes cannot make up a quorum. */
redlock__verdict redlock__verdict_of(size_t n, size_t yes, size_t no,
                                     size_t error)
{
    if (yes >= redlock__quorum(n))
        return REDLOCK__WON;
    if (redlock__quorum_impossible(n, add_sat(no, error)))
        return REDLOCK__LOST;
    return REDLOCK__PENDING;
}

/* Why an acquire (or a fence write) failed. Every node that neither
 * granted nor refused counts as failed: an error, a timeout, or no answer
 * yet when the wait ended. ENOQUORUM when those failures alone rule out a
 * quorum (too many nodes down or slow to decide anything) or when nobody
 * refused; otherwise ETAKEN: at least one node said the resource is held
 * by someone else, and enough answered for that to be the reason. This
 * keeps "held by someone else" apart from "the cluster is unreachable".
 * Rejected: a count of errors from the caller (the acquire added the
 * unanswered nodes to it, the fence did not, and so retried a write that
 * two silent nodes of three had already decided). */
redlock_status redlock__acquire_failure_status(size_t n, size_t yes,
                                               size_t no)
{
    size_t answered = add_sat(yes, no);
    size_t failed = answered < n ? n - answered : 0;
    if (no == 0 || redlock__quorum_impossible(n, failed))
        return REDLOCK_ENOQUORUM;
    return REDLOCK_ETAKEN;
}

/* Why an extend or a release that did not win failed: ENOTHELD when the
 * refusals alone rule out a quorum (the keys are gone or someone else's
 * on too many nodes: the lock is lost, a retry cannot bring it back);
 * otherwise ENOQUORUM (too few answers in time; a retry may do). */
redlock_status redlock__keep_failure_status(size_t n, size_t no)
{
    return redlock__quorum_impossible(n, no) ? REDLOCK_ENOTHELD
                                             : REDLOCK_ENOQUORUM;
}

/* Nodes that refuse us for our configuration (credentials, ACL, database,
 * a duplicate of another node) will refuse every retry the same way, so
 * when they alone rule out a quorum the acquire says why at once instead
 * of retrying into ENOQUORUM. Fewer of them only count as errors: the
 * other nodes may still make a quorum. Rejected: requiring a quorum of
 * refusals (the same for odd n, but with n = 2 or 4 it would retry
 * forever on a configuration that can never work). */
redlock_status redlock__config_failure_status(size_t n,
                                              const redlock_status *st)
{
    size_t auth = 0, db = 0, dup = 0, tls = 0;
    for (size_t i = 0; i < n; i++) {
        if (st[i] == REDLOCK_EAUTH)
            auth++;
        else if (st[i] == REDLOCK_EDB)
            db++;
        else if (st[i] == REDLOCK_EDUPNODE)
            dup++;
        else if (st[i] == REDLOCK_ETLS)
            tls++;
    }
    if (!redlock__quorum_impossible(
            n, add_sat(add_sat(auth, db), add_sat(dup, tls))))
        return REDLOCK_OK;
    if (auth >= db && auth >= dup && auth >= tls)
        return REDLOCK_EAUTH;
    if (db >= dup && db >= tls)
        return REDLOCK_EDB;
    return dup >= tls ? REDLOCK_EDUPNODE : REDLOCK_ETLS;
}

/* Only a lost race (ETAKEN), too few answers (ENOQUORUM) or an answer
 * that came too late (EEXPIRED) may turn out otherwise next time. */
bool redlock__retry_worthwhile(redlock_status st)
{
    return st == REDLOCK_ETAKEN || st == REDLOCK_ENOQUORUM ||
           st == REDLOCK_EEXPIRED;
}

/* Who leads, from what each node said. A token on a quorum is a leader
 * (two tokens cannot both be on a quorum: quorums overlap and a node
 * stores one value). Reading from every node rather than the first
 * quorum gives the most complete count, and the fence as a later draw
 * would see it (a draw reads a quorum, so the largest answer is at least
 * the last number handed out). */
redlock_status redlock__leader_decide(size_t n,
                                      const redlock__leader_reading *r,
                                      redlock_leader_view *out)
{
    memset(out, 0, sizeof(*out));
    out->ttl_ms = -2;
    size_t answered = 0;
    uint64_t fence = 0;
    for (size_t i = 0; i < n; i++) {
        if (!r[i].answered)
            continue;
        answered++;
        if (r[i].fence > fence)
            fence = r[i].fence;
    }
    if (answered < redlock__quorum(n))
        return REDLOCK_ENOQUORUM;
    out->fence = fence;
    size_t best = n, best_count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!r[i].answered || r[i].token[0] == '\0')
            continue;
        size_t count = 0;
        for (size_t j = 0; j < n; j++)
            if (r[j].answered && strcmp(r[j].token, r[i].token) == 0)
                count++;
        if (count > best_count) {
            best = i;
            best_count = count;
        }
    }
    if (best == n)
        return REDLOCK_OK;
    const redlock__leader_reading *b = &r[best];
    out->held = best_count >= redlock__quorum(n);
    out->nodes_agreeing = best_count;
    snprintf(out->owner, sizeof(out->owner), "%s", b->owner);
    snprintf(out->token_prefix, sizeof(out->token_prefix), "%.8s",
             b->token);
    int64_t ttl = -1;
    for (size_t j = 0; j < n; j++) {
        if (!r[j].answered || strcmp(r[j].token, b->token) != 0 ||
            r[j].pttl_ms < 0)
            continue;
        if (ttl < 0 || r[j].pttl_ms < ttl)
            ttl = r[j].pttl_ms;
    }
    out->ttl_ms = ttl;
    return REDLOCK_OK;
}

/* ttl * drift_factor + 2 ms, in microseconds, rounded up. */
uint64_t redlock__drift_us(uint32_t ttl_ms, double drift_factor)
{
    double d = (double)ttl_ms * 1000.0 * drift_factor;
    uint64_t us = (uint64_t)d;
    if ((double)us < d)
        us++;
    return us + 2000u;
}

/* A TTL whose drift allowance is at least the TTL itself leaves no
 * validity however fast the nodes answer: validity = ttl - elapsed - drift
 * <= -elapsed <= 0. Such a TTL is refused up front (REDLOCK_ETTLSHORT)
 * instead of being tried and retried, which could only end in a status
 * naming another cause (ENOQUORUM or EEXPIRED). The boundary is exact:
 * a TTL one microsecond above its allowance passes, and fails (EEXPIRED)
 * only if the round trip uses up that microsecond. */
bool redlock__ttl_too_short(uint32_t ttl_ms, double drift_factor)
{
    return (uint64_t)ttl_ms * 1000u <= redlock__drift_us(ttl_ms,
                                                          drift_factor);
}

/* ttl - drift(ttl), or 0 when the drift allowance eats the whole TTL:
 * how long after a command was posted its keys count as held. */
static uint64_t validity_span_us(uint32_t ttl_ms, double drift_factor)
{
    uint64_t ttl_us = (uint64_t)ttl_ms * 1000u;
    uint64_t drift = redlock__drift_us(ttl_ms, drift_factor);
    return ttl_us > drift ? ttl_us - drift : 0;
}

/* The validity rule: t0 + ttl - drift(ttl), or t0 when the drift
 * allowance eats the whole TTL. Saturates at UINT64_MAX: a t0 that close
 * to the end of the clock never comes from a real clock, but wrapping to
 * a time near 0 would turn "valid for ever" into "expired". */
uint64_t redlock__validity_end_us(uint64_t t0_us, uint32_t ttl_ms,
                                  double drift_factor)
{
    uint64_t span = validity_span_us(ttl_ms, drift_factor);
    return span > UINT64_MAX - t0_us ? UINT64_MAX : t0_us + span;
}

/* end - now as a signed number, saturating at INT64_MAX and -INT64_MAX
 * (a plain cast of the unsigned difference turns a far end into a
 * negative validity and a long-past one into a positive). */
int64_t redlock__validity_left_us(uint64_t end_us, uint64_t now_us)
{
    if (end_us >= now_us)
        return end_us - now_us > (uint64_t)INT64_MAX
                   ? INT64_MAX
                   : (int64_t)(end_us - now_us);
    return now_us - end_us > (uint64_t)INT64_MAX
               ? -INT64_MAX
               : -(int64_t)(now_us - end_us);
}

/* validity = ttl - elapsed - drift, where elapsed is measured from the
 * start of this attempt: what is left at end_us of the validity that
 * start_us gives (the same span as redlock__validity_end_us(), taken
 * relative to start_us so that no absolute time can saturate it). A clock
 * that went backwards counts as no time elapsed (never as time gained). */
int64_t redlock__validity_us(uint32_t ttl_ms, double drift_factor,
                             uint64_t start_us, uint64_t end_us)
{
    uint64_t elapsed = end_us > start_us ? end_us - start_us : 0;
    return redlock__validity_left_us(validity_span_us(ttl_ms, drift_factor),
                                     elapsed);
}

/* The wait limit of a quorum command posted at t0: the earliest of
 * t0 + timeout, the validity end a win would give (waiting past it
 * cannot yield a win) and the caller's deadline (0: none). Never 0,
 * which op waits read as "no limit": a limit of 0 (t0 = 0 with nothing
 * to wait for) is returned as 1. */
uint64_t redlock__wait_limit_us(uint64_t t0_us, uint32_t timeout_ms,
                                uint32_t ttl_ms, double drift_factor,
                                uint64_t deadline_us)
{
    uint64_t limit = redlock__after_ms(t0_us, timeout_ms);
    uint64_t end = redlock__validity_end_us(t0_us, ttl_ms, drift_factor);
    if (end < limit)
        limit = end;
    if (deadline_us != 0 && deadline_us < limit)
        limit = deadline_us;
    return limit != 0 ? limit : 1;
}

/* A key set or extended with ttl_ms by now_us has surely expired on its
 * node by now + ttl + drift(ttl) (the node's clock may run slow by the
 * drift allowance). Saturates at UINT64_MAX. */
uint64_t redlock__keys_gone_us(uint64_t now_us, uint32_t ttl_ms,
                               double drift_factor)
{
    uint64_t span = (uint64_t)ttl_ms * 1000u +
                    redlock__drift_us(ttl_ms, drift_factor);
    return span > UINT64_MAX - now_us ? UINT64_MAX : now_us + span;
}

/* delay + random part; rnd_ms is clamped to jitter_ms. */
uint64_t redlock__retry_delay_us(uint32_t delay_ms, uint32_t jitter_ms,
                                 uint32_t rnd_ms)
{
    if (rnd_ms > jitter_ms)
        rnd_ms = jitter_ms;
    return ((uint64_t)delay_ms + rnd_ms) * 1000u;
}

/* The smallest TTL that keys may carry after an extension with ttl_ms, when
 * the lock's extensions so far sent at least floor_ttl_ms (0: none yet). */
uint32_t redlock__extend_floor_ms(uint32_t floor_ttl_ms, uint32_t ttl_ms)
{
    return floor_ttl_ms == 0 || ttl_ms < floor_ttl_ms ? ttl_ms
                                                      : floor_ttl_ms;
}

/* Every node that ran the extension set its key to expire no earlier than
 * t0 + ttl (t0 was taken before the command was posted), and a node that
 * ran an earlier, shorter extension late (after a reconnect) no earlier
 * than t0 + floor. So the holder may count on t0 + floor - drift(floor)
 * after a win, and on no more than that after anything else, whatever it
 * counted on before. A win is only a win while that end is still ahead,
 * which the caller checks. */
uint64_t redlock__extend_end_us(bool won, uint64_t old_end_us, uint64_t t0_us,
                                uint32_t floor_ttl_ms, double drift_factor)
{
    uint64_t end = redlock__validity_end_us(t0_us, floor_ttl_ms,
                                            drift_factor);
    if (won)
        return end;
    return old_end_us < end ? old_end_us : end;
}

/* now_us + ms milliseconds, in microseconds, or UINT64_MAX (never) when
 * that does not fit. */
uint64_t redlock__after_ms(uint64_t now_us, uint64_t ms)
{
    if (ms > (UINT64_MAX - now_us) / 1000u)
        return UINT64_MAX;
    return now_us + ms * 1000u;
}

/* ------------------------------------------------------------------------
 * The restart guard (docs/safety.md, "Restart guard")
 *
 * A node that restarted without persistence (or was replaced by a
 * replica that never saw our writes) has lost the keys it held. The
 * Redlock spec's answer is a delayed restart: the node must not take
 * part until every key it could have held has expired. We do that in
 * the client: the worker estimates when the node restarted, and the node
 * is sent no acquire or extend until the guard time has passed since
 * then. Two pure functions: the estimate, and the end of the guard. The
 * worker keeps the estimate and computes the end at each send from the
 * guard time as it is then (in AUTO mode it only grows, so this errs on
 * the safe side); once the end has passed, the worker clears the
 * estimate, so a later, longer TTL does not guard the node again.
 * Rejected: guarding every (re)connect for G (a network blip would
 * silence a node that lost nothing), and delaying the reconnect itself
 * (the node would then miss the releases it should still get).
 * ------------------------------------------------------------------------ */

/* A run_id that changed since our last connection means another process
 * answers for the name (a restart, or a failover to a replica whose long
 * uptime says nothing about our keys), which happened at the latest now,
 * when we read it (the connection's start would be earlier: now is the
 * conservative side). The same run_id is the same process: nothing
 * restarted since we last saw it, and what we knew then still holds
 * (its uptime, rounded down, would now put the restart later than it
 * was, and guard a node that lost nothing after a mere reconnect).
 * Without a run_id to compare, the uptime decides: INFO's
 * uptime_in_seconds is whole seconds, rounded down, read by the server
 * at some instant before now_us, so the server started at the latest
 * now - uptime. With neither, nothing new is known: the estimate from
 * before stands (none on a first connection). */
uint64_t redlock__restart_at_us(uint64_t now_us, uint64_t prev_restart_us,
                                redlock__run_id_seen seen, bool uptime_known,
                                uint64_t uptime_s)
{
    if (seen == REDLOCK__RUN_ID_CHANGED)
        return now_us;
    if (seen == REDLOCK__RUN_ID_SAME || !uptime_known)
        return prev_restart_us;
    if (uptime_s > now_us / 1000000u)
        return 0; /* before our clock's origin: as early as we can say */
    return now_us - uptime_s * 1000000u;
}

/* restart + G + drift(G), saturating; 0 when not guarded at all. The
 * drift allowance covers a node clock that runs fast (its uptime then
 * says the restart was earlier than it was), the way validity allows for
 * clocks in the rest of the algorithm. */
uint64_t redlock__guard_until_us(uint64_t restart_us, uint64_t first_ttl_us,
                                 bool auto_mode, uint32_t guard_ms,
                                 double drift_factor)
{
    if (restart_us == REDLOCK__RESTART_NONE || guard_ms == 0)
        return 0;
    /* AUTO covers this manager's keys only: a restart no later than the
     * first key it ever wrote to that node lost none of them (a key
     * lands after it is written, and restart_us is never early). So the
     * first connection, and fresh nodes, are never guarded in AUTO. */
    if (auto_mode && restart_us <= first_ttl_us)
        return 0;
    uint64_t g = (uint64_t)guard_ms * 1000u +
                 redlock__drift_us(guard_ms, drift_factor);
    return g > UINT64_MAX - restart_us ? UINT64_MAX : restart_us + g;
}
