/*
 * redlock.pml: a Promela model of libredlock's Redlock protocol, checked
 * by spin (docs/model.md; ctest label "model", tests/model/run_model.sh).
 *
 * DESIGN
 * The model is parametric: every feature and fault is a cpp #define, so
 * each ctest configuration turns on only what it needs and stays small
 * enough for an exhaustive search (one run with every feature at once was
 * measured at tens of millions of states). The defaults below are the
 * smallest useful system; run_model.sh passes -D... per configuration.
 *
 * Time is one global discrete clock `now` (0..L ticks) that the tick
 * process advances; nodes expire keys by it. A client's clock may run
 * slow relative to it: each validity the client computes is stretched by
 * a lag of 0..MAXLAG ticks, chosen at that moment (the drift a client
 * clock can accumulate over one TTL). The client subtracts DRIFT ticks,
 * as the library subtracts ttl * drift_factor + 2 ms; the assumption of
 * docs/safety.md §3.1 is MAXLAG <= DRIFT.
 *
 * Each (client, node) pair has NGEN connections, each a FIFO channel of
 * commands. A node serves the head of any non-empty channel at any time,
 * so a command can wait for any time within the bound L (a slow, paused
 * or partitioned node, or a slow network). A client that gives up
 * waiting (TIMEOUTS) abandons the connections of the nodes that had not
 * answered and sends later commands on a new one; the abandoned channel
 * keeps its commands, which the node may still run later, after newer
 * ones. A command that is never run within the bound is a lost one.
 *
 * The property: never two clients that both believe they hold the lock,
 * with validity > 0, at the same global time. A client's belief starts or
 * lengthens only at a grant (acquire won, extend won; and the pre-fix
 * rule's failure path, a mutant), and `now` only grows, so asserting it
 * there checks it in every state.
 * Rejected: a monitor process asserting the invariant in every state (it
 * adds a process and interleavings for the same coverage), and LTL (a
 * never claim doubles the search for a plain safety property).
 */

/* ---------------------------------------------------------------- bounds */
#ifndef C
#define C 2            /* clients */
#endif
#define N 3            /* nodes */
#define Q 2            /* quorum: N / 2 + 1 */
#ifndef L
#define L 7            /* last tick of the global clock */
#endif
#ifndef TTL
#define TTL 3          /* the acquire's TTL, in ticks */
#endif
#ifndef TTL_SHORT
#define TTL_SHORT 1    /* the shorter TTL an extend may send */
#endif
#ifndef DRIFT
#define DRIFT 1        /* ticks the client subtracts (drift allowance) */
#endif
#ifndef MAXLAG
#define MAXLAG 1       /* how far a client clock may fall behind per TTL */
#endif
#ifndef MAXATT
#define MAXATT 1       /* acquire attempts per client (retries + 1) */
#endif
#ifndef MAXEXT
#define MAXEXT 0       /* extends (or lease renewals) per client */
#endif
#ifndef EXTENDERS
#define EXTENDERS C    /* clients 0 .. EXTENDERS-1 extend; others do not */
#endif

/* ------------------------------------------------------------- features */
/* SHORT: an extend may send TTL_SHORT instead of TTL.
 * RESTORE: restore-on-extend (docs/safety.md §9).
 * TIMEOUTS: a client may stop waiting at any time; unanswered nodes'
 *   connections are abandoned (NGEN becomes 2).
 * RESTARTS: how many node restarts may happen (0 = none).
 * PERSIST: a restarted node keeps its keys (appendfsync always).
 * GUARD: the restart guard in ticks (0 = off); >= the largest TTL.
 * PREFIX_EXTEND: the pre-fix extend rule: a failed extend leaves the
 *   validity end unchanged (config 4's mutant of redlock__extend_end_us).
 * INFLIGHT_OLD_END: while an extend is in flight the holder keeps its old
 *   validity end (as redlock_extend() did before the fix this model
 *   found); without it, the end is cut to what the new TTL allows when the
 *   extend is posted.
 * NO_FLOOR: validity from this extend's TTL, not the smallest sent. */
#ifndef RESTARTS
#define RESTARTS 0
#endif
#ifndef GUARD
#define GUARD 0
#endif
#ifndef TIMEOUT_CLIENTS
#define TIMEOUT_CLIENTS C  /* clients 0 .. TIMEOUT_CLIENTS-1 may time out */
#endif
#ifdef TIMEOUTS
#define NGEN 2
#else
#define NGEN 1
#endif

/* Largest number of commands one connection can hold: per attempt a SET
 * and its undo, per extend the extend and a restore, and a release. */
#define QCAP (2 * MAXATT + 2 * MAXEXT + 1)

mtype = { SET, EXT, DEL, RES };

/* Per-node answers to the client's current operation (printed in the
 * trails: 0 none, 1 yes, 2 no, 3 gone, 4 guarded). */
#define A_NONE 0
#define A_YES 1
#define A_NO 2    /* refused, or (extend) another value holds the key */
#define A_GONE 3  /* extend: no key at all (counts as no; restore target) */
#define A_ERR 4   /* guarded node: counts as an error */

/* ---------------------------------------------------------------- state */
byte now;                  /* global time */
byte owner[N];             /* token stored under the key, 0 = no key */
byte expires[N];           /* global time at which the key expires */
byte restarted_at[N];      /* time of the node's last restart */
bool was_restarted[N];
byte restarts;             /* restarts so far */

chan net[C * N * NGEN] = [QCAP] of { mtype, byte, byte, byte };
#define CH(c, n, g) (((c) * N + (n)) * NGEN + (g))
byte gen[C * N];           /* the connection each pair uses now */
byte ans[C * N];           /* answers to the client's current op */
byte opno[C];              /* the op the client awaits answers to; 0: none */

byte live = C;             /* clients that may still be granted the lock */
bool held[C];              /* the client believes it holds the lock */
byte vend[C];              /* ... until this global time (exclusive) */

#define believes(c) (held[c] && now < vend[c])

/* The property, checked at every grant. */
inline check_exclusion(me)
{
    byte k_;
    for (k_ : 0 .. C - 1) {
        assert(k_ == me || !believes(k_) || !believes(me))
    }
    k_ = 0
}

/* Guarded: restarted less than GUARD ticks ago. */
#define guarded(n) (GUARD > 0 && was_restarted[n] && now < restarted_at[n] + GUARD)

/* ----------------------------------------------------------------- clock */
active proctype clock()
{
    byte n;
end_clock:
    do
    :: d_step {
        now < L && live > 0 ->
        now++;
        for (n : 0 .. N - 1) {
            if
            :: owner[n] != 0 && expires[n] <= now ->
                owner[n] = 0; expires[n] = 0
            :: else -> skip
            fi
        }
        n = 0
       }
    od
}

/* ----------------------------------------------------------------- nodes */

/* Run one command on node n for client c (inside the node's d_step). */
inline execute(n, c, cmd, tok, ttl, op)
{
    if
    /* A guarded node is sent no acquire, extend or restore (send_slot()
     * in src/node.c fails them with REDLOCK_EGUARDED, unsent): it writes
     * nothing and the answer counts as an error. */
    :: cmd == SET && guarded(n) -> a = A_ERR
    :: cmd == EXT && guarded(n) -> a = A_ERR
    :: cmd == SET && !guarded(n) ->      /* SET key tok NX PX ttl */
        if
        :: owner[n] == 0 ->
            owner[n] = tok; expires[n] = now + ttl;
            a = A_YES
        :: else -> a = A_NO
        fi
    :: cmd == EXT && !guarded(n) ->      /* compare, then PEXPIRE */
        if
        :: owner[n] == tok ->
            expires[n] = now + ttl;
            a = A_YES
        :: owner[n] == 0 -> a = A_GONE
        :: else -> a = A_NO
        fi
    :: cmd == DEL ->                     /* compare-and-delete */
        if
        :: owner[n] == tok -> owner[n] = 0; expires[n] = 0; a = A_YES
        :: else -> a = A_NO
        fi
    :: cmd == RES ->                     /* restore: set if absent or ours */
        if
        :: !guarded(n) && (owner[n] == 0 || owner[n] == tok) ->
            owner[n] = tok; expires[n] = now + ttl
        :: else -> skip
        fi;
        a = A_NONE
    fi;
    printf("MODEL t=%d node %d runs %e from client %d (token %d, ttl %d): %d\n",
           now, n, cmd, c, tok, ttl, a);
    if
    :: op != 0 && op == opno[c] && a != A_NONE -> ans[c * N + n] = a
    :: else -> skip
    fi
}

#define SERVE(n, c, g) \
    :: d_step { live > 0 && nempty(net[CH(c, n, g)]) -> \
        net[CH(c, n, g)] ? cmd, tok, ttl, op; \
        execute(n, c, cmd, tok, ttl, op); \
        cmd = 0; tok = 0; ttl = 0; op = 0; a = 0 }

proctype node(byte n)
{
    mtype cmd;
    byte tok, ttl, op, a;
end_node:
    do
    SERVE(n, 0, 0)
    SERVE(n, 1, 0)
#if C > 2
    SERVE(n, 2, 0)
#endif
#ifdef TIMEOUTS
    SERVE(n, 0, 1)
    SERVE(n, 1, 1)
#if C > 2
    SERVE(n, 2, 1)
#endif
#endif
#if RESTARTS > 0
    :: d_step { live > 0 && restarts < RESTARTS && owner[n] != 0 ->
        restarts++;
#ifdef PERSIST
        printf("MODEL t=%d node %d restarts (keys kept: persistence)\n", now, n);
#else
        printf("MODEL t=%d node %d restarts (keys lost)\n", now, n);
        owner[n] = 0; expires[n] = 0;
#endif
        was_restarted[n] = true; restarted_at[n] = now }
#endif
    od
}

/* --------------------------------------------------------------- clients */

/* Send cmd to every node (or those with mask bit set) on the current
 * connection, as part of op (0: fire-and-forget, no answer awaited). */
inline send_all(c, cmd, tok, ttl, mask, op)
{
    for (i : 0 .. N - 1) {
        if
        :: (mask >> i) & 1 ->
            assert(len(net[CH(c, i, gen[c * N + i])]) < QCAP);
            net[CH(c, i, gen[c * N + i])] ! cmd, tok, ttl, op
        :: else -> skip
        fi
    }
    i = 0
}

/* Start a new operation: a fresh op number (ops counts the client's
 * operations), no answers yet. */
inline new_op(c)
{
    ops++;
    opno[c] = ops
}

/* Stop listening: answers that come after the decision are not read
 * (redlock__op_tally at the decision), so they are not kept either. */
inline end_op(c)
{
    opno[c] = 0;
    for (i : 0 .. N - 1) { ans[c * N + i] = A_NONE }
    i = 0
}

/* Count the answers to the current op. */
inline tally(c)
{
    yes = 0; no = 0;
    for (i : 0 .. N - 1) {
        if
        :: ans[c * N + i] == A_YES -> yes++
        :: ans[c * N + i] == A_NO || ans[c * N + i] == A_GONE -> no++
        :: else -> skip
        fi
    }
    i = 0
}

/* Wait until the op is decided (a quorum either way, or every node
 * answered) or, with TIMEOUTS, until the client gives up, which it may do
 * at any moment once a tick has passed since the op started (the command
 * timeout is at least one tick); then abandon the connections of nodes
 * that had not answered (redlock__op_wait, abandon). */
#define ISYES(c, k) (ans[(c) * N + (k)] == A_YES -> 1 : 0)
#define ISNOT(c, k) ((ans[(c) * N + (k)] != A_NONE && ans[(c) * N + (k)] != A_YES) -> 1 : 0)
inline await(c)
{
    if
    :: d_step { ((ISYES(c, 0) + ISYES(c, 1) + ISYES(c, 2) >= Q)
             || (ISNOT(c, 0) + ISNOT(c, 1) + ISNOT(c, 2) > N - Q)
             || (ans[c*N] != A_NONE && ans[c*N+1] != A_NONE && ans[c*N+2] != A_NONE)) -> skip }
#ifdef TIMEOUTS
    :: d_step { c < TIMEOUT_CLIENTS && now > t0 && (ans[c*N] == A_NONE || ans[c*N+1] == A_NONE || ans[c*N+2] == A_NONE) ->
        printf("MODEL t=%d client %d gives up waiting\n", now, c);
        for (i : 0 .. N - 1) {
            if
            :: ans[c * N + i] == A_NONE && gen[c * N + i] + 1 < NGEN ->
                gen[c * N + i]++;
                printf("MODEL t=%d client %d abandons its connection to node %d\n", now, c, i)
            :: else -> skip
            fi
        }
        i = 0 }
#endif
    fi
}

/* The lag of a slow client clock over one validity: 0..MAXLAG ticks. */
inline choose_lag()
{
    if
    :: lag = 0
#if MAXLAG >= 1
    :: lag = 1
#endif
#if MAXLAG >= 2
    :: lag = 2
#endif
#if MAXLAG >= 3
    :: lag = 3
#endif
    fi
}

/* Mark in mask the nodes whose answer to the current op is `what`
 * (not_what: is not `what`). */
inline nodes_answering(c, what, not_what)
{
    mask = 0;
    for (i : 0 .. N - 1) {
        if
        :: (!not_what && ans[c * N + i] == what) ||
           (not_what && ans[c * N + i] != what) -> mask = mask | (1 << i)
        :: else -> skip
        fi
    }
    i = 0
}

proctype client(byte c)
{
    byte i, att, tok, t0, yes, no, lag, e, ext, ttl, flr, mask, ops, oend;
    bool won;

acquire:                                 /* attempt() in src/lock.c */
    skip;
    d_step {
        att++;
        tok = c * MAXATT + att;          /* a fresh token per attempt */
        t0 = now;                        /* before the SETs are posted */
        new_op(c);
        send_all(c, SET, tok, TTL, 7, ops);
        printf("MODEL t=%d client %d acquire attempt %d (token %d, ttl %d)\n",
               now, c, att, tok, TTL)
    }
    await(c);
    d_step { tally(c); won = (yes >= Q) }
    if
    :: won -> choose_lag()
    :: else -> skip
    fi;
    d_step {
        e = t0 + TTL - DRIFT + lag;      /* validity: ttl - elapsed - drift */
        if
        :: won && e > now ->
            held[c] = true; vend[c] = e;
            printf("MODEL t=%d client %d HOLDS (token %d) until t=%d (clock lag %d)\n",
                   now, c, tok, e, lag);
            check_exclusion(c)
        :: else ->                       /* undo_attempt(): every node */
            won = false;                 /* but those that said no */
            nodes_answering(c, A_NO, true);
            send_all(c, DEL, tok, 0, mask, 0);
            printf("MODEL t=%d client %d attempt %d failed (%d yes); undo\n",
                   now, c, att, yes)
        fi;
        end_op(c);
        lag = 0; e = 0; mask = 0; yes = 0; no = 0; t0 = 0
    }
    if
    :: won -> won = false; goto holding
    :: !won && att < MAXATT -> goto acquire
    :: else -> goto done
    fi;

holding:
    do
#if MAXEXT > 0
#ifdef LEASE
    :: d_step { c < EXTENDERS && ext < MAXEXT && believes(c) ->  /* renew before loss_at */
#else
    :: d_step { c < EXTENDERS && ext < MAXEXT && held[c] ->      /* extend allows a lapse */
#endif
        ext++;
        ttl = TTL
       }
#ifdef SHORT
        if
        :: skip
        :: ttl = TTL_SHORT
        fi;
#endif
#ifndef INFLIGHT_OLD_END
        choose_lag();
#endif
        d_step {                         /* redlock_extend(), start_extend() */
            flr = ((flr == 0 || ttl < flr) -> ttl : flr);  /* extend_floor */
            t0 = now;
            oend = vend[c];
#ifndef INFLIGHT_OLD_END
            /* From now on any node may apply the new TTL: while the call
             * runs, count on no more than it allows (the not-won rule,
             * applied before posting). */
            e = t0 + flr - DRIFT + lag;
            vend[c] = (e < vend[c] -> e : vend[c]);
            lag = 0; e = 0;
#endif
            new_op(c);
            send_all(c, EXT, tok, ttl, 7, ops);
            printf("MODEL t=%d client %d extend %d with ttl %d\n", now, c, ext, ttl)
        }
        await(c);
        d_step { tally(c); won = (yes >= Q) }
        choose_lag();
        d_step {                         /* redlock__extend_end_us() */
#ifdef NO_FLOOR
            e = t0 + ttl - DRIFT + lag;
#else
            e = t0 + flr - DRIFT + lag;
#endif
            if
            :: won && e > now ->         /* won in time */
                vend[c] = e;
                printf("MODEL t=%d client %d extend won: holds until t=%d (clock lag %d)\n",
                       now, c, e, lag);
                check_exclusion(c);
#ifdef RESTORE
                nodes_answering(c, A_GONE, false);   /* restore_missing() */
                send_all(c, RES, tok, ttl, mask, 0);
                mask = 0;
#endif
                skip
            :: else ->
#ifdef PREFIX_EXTEND
                vend[c] = oend;          /* lengthens the cut end: check */
                printf("MODEL t=%d client %d extend failed: validity end stays t=%d (pre-fix rule)\n",
                       now, c, vend[c]);
                check_exclusion(c);
#else
                vend[c] = (e < vend[c] -> e : vend[c]);
                printf("MODEL t=%d client %d extend failed: holds until t=%d at most\n",
                       now, c, vend[c]);
#endif
                if
                :: no > N - Q ->         /* ENOTHELD: the lock is lost */
                    held[c] = false;
                    printf("MODEL t=%d client %d lost the lock\n", now, c)
                :: else -> skip
                fi
            fi;
            end_op(c);
            lag = 0; e = 0; yes = 0; no = 0; won = false; ttl = 0; t0 = 0; oend = 0
        }
        if
        :: !held[c] -> goto done
        :: else -> skip
        fi
#endif
    :: d_step {                          /* release: stop believing first */
        held[c] = false;
        send_all(c, DEL, tok, 0, 7, 0);
        printf("MODEL t=%d client %d releases\n", now, c) };
        goto done
    od;
done:
    /* Nothing this client does from here on can grant anyone a lock, and
     * the property can only break at a grant: once every client is here,
     * the clock and the nodes stop, so the search does not enumerate the
     * leftover deliveries and ticks (they cannot matter). */
    live--
}

init {
    byte k;
    atomic {
        for (k : 0 .. N - 1) { run node(k) }
        for (k : 0 .. C - 1) { run client(k) }
        k = 0
    }
}
