/*
 * test_quorum.c: the Redlock arithmetic (quorum.c) driven by tables:
 * quorum sizes, "a quorum is no longer possible", early verdicts for
 * N = 1..7, failure classification, validity with drift (end, left,
 * per attempt), the wait limit of a quorum command, when keys are surely
 * gone, and retry delay bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "quorum.h"
#include "token.h"

/* N/2 + 1 for N = 1..7. */
static void test_quorum_sizes(void **state)
{
    (void)state;
    const size_t expect[8] = {1, 1, 2, 2, 3, 3, 4, 4};
    for (size_t n = 1; n <= 7; n++)
        assert_int_equal(redlock__quorum(n), expect[n]);
}

/* Every split of N answers into yes/no/error (and unanswered) gives the
 * verdict the definition demands. */
static void test_verdict_exhaustive(void **state)
{
    (void)state;
    for (size_t n = 1; n <= 7; n++) {
        size_t q = n / 2 + 1;
        for (size_t yes = 0; yes <= n; yes++)
            for (size_t no = 0; yes + no <= n; no++)
                for (size_t err = 0; yes + no + err <= n; err++) {
                    redlock__verdict v =
                        redlock__verdict_of(n, yes, no, err);
                    size_t open = n - yes - no - err;
                    if (yes >= q)
                        assert_int_equal(v, REDLOCK__WON);
                    else if (yes + open < q)
                        assert_int_equal(v, REDLOCK__LOST);
                    else
                        assert_int_equal(v, REDLOCK__PENDING);
                }
    }
}

/* The decision is made as early as possible: with 5 nodes, 3 yes wins
 * without waiting for the other 2; 3 failures lose at once. */
static void test_verdict_early(void **state)
{
    (void)state;
    assert_int_equal(redlock__verdict_of(5, 3, 0, 0), REDLOCK__WON);
    assert_int_equal(redlock__verdict_of(5, 0, 2, 1), REDLOCK__LOST);
    assert_int_equal(redlock__verdict_of(5, 2, 2, 0), REDLOCK__PENDING);
    assert_int_equal(redlock__verdict_of(1, 1, 0, 0), REDLOCK__WON);
    assert_int_equal(redlock__verdict_of(1, 0, 0, 1), REDLOCK__LOST);
}

/* The rule "a quorum is no longer possible", by table: against > n - q,
 * with n = 0 (no quorum can form) and counts near SIZE_MAX. */
static void test_quorum_impossible(void **state)
{
    (void)state;
    static const struct {
        size_t n, against;
        bool want;
    } rows[] = {
        {0, 0, true}, /* no nodes: no quorum, whatever the count */
        {0, SIZE_MAX, true},
        {1, 0, false},
        {1, 1, true},
        {2, 0, false}, /* quorum 2: one against is enough */
        {2, 1, true},
        {3, 1, false},
        {3, 2, true},
        {4, 1, false},
        {4, 2, true},
        {5, 2, false},
        {5, 3, true},
        {7, 3, false},
        {7, 4, true},
        {7, 7, true},
        {3, SIZE_MAX, true}, /* more than n: still impossible, no wrap */
        {SIZE_MAX, SIZE_MAX / 2, false}, /* n - q = SIZE_MAX / 2 */
        {SIZE_MAX, SIZE_MAX / 2 + 1, true},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bool got = redlock__quorum_impossible(rows[i].n, rows[i].against);
        if (got != rows[i].want)
            fail_msg("row %zu: n %zu against %zu: %d, want %d", i,
                     rows[i].n, rows[i].against, got, rows[i].want);
    }
    /* The definition, for every small split: the nodes left cannot reach
     * a quorum. */
    for (size_t n = 1; n <= 7; n++)
        for (size_t a = 0; a <= n; a++)
            assert_int_equal(redlock__quorum_impossible(n, a),
                             n - a < n / 2 + 1);
}

/* Verdicts at the edges: no nodes, and counts whose sum would wrap. */
static void test_verdict_edges(void **state)
{
    (void)state;
    static const struct {
        size_t n, yes, no, error;
        redlock__verdict want;
    } rows[] = {
        {0, 0, 0, 0, REDLOCK__LOST}, /* no quorum can ever form */
        {3, 0, SIZE_MAX, 1, REDLOCK__LOST}, /* SIZE_MAX + 1 must not wrap */
        {3, 0, SIZE_MAX, SIZE_MAX, REDLOCK__LOST},
        {3, 1, 1, 0, REDLOCK__PENDING},
        {3, 2, SIZE_MAX, SIZE_MAX, REDLOCK__WON}, /* yes decides first */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock__verdict got = redlock__verdict_of(rows[i].n, rows[i].yes,
                                                   rows[i].no, rows[i].error);
        if (got != rows[i].want)
            fail_msg("row %zu: verdict %d, want %d", i, (int)got,
                     (int)rows[i].want);
    }
}

/* "Held by someone else" and "unreachable" are told apart, from the yes
 * and no answers; every other node (error, timeout, not answered yet)
 * counts as failed. */
static void test_failure_status(void **state)
{
    (void)state;
    static const struct {
        size_t n, yes, no;
        redlock_status want;
    } rows[] = {
        /* 3 nodes: two refusals (the third failed): taken. */
        {3, 0, 2, REDLOCK_ETAKEN},
        {3, 0, 3, REDLOCK_ETAKEN},
        /* one yes, one refusal, one down: still a refusal we can trust. */
        {3, 1, 1, REDLOCK_ETAKEN},
        /* nobody refused: unreachable, whatever else. */
        {3, 0, 0, REDLOCK_ENOQUORUM},
        {3, 1, 0, REDLOCK_ENOQUORUM},
        {5, 2, 0, REDLOCK_ENOQUORUM},
        {3, 2, 0, REDLOCK_ENOQUORUM}, /* even with yes on a quorum */
        {5, 4, 0, REDLOCK_ENOQUORUM},
        /* Regression (the fence counted only errors, not the nodes that
         * never answered its write): one refusal and two silent nodes of
         * three is unreachable, not a lost race to retry. */
        {3, 0, 1, REDLOCK_ENOQUORUM},
        {5, 0, 1, REDLOCK_ENOQUORUM}, /* four failed or silent of five */
        {5, 1, 1, REDLOCK_ENOQUORUM}, /* three failed or silent */
        {5, 1, 2, REDLOCK_ETAKEN},    /* two failed or silent */
        {1, 0, 1, REDLOCK_ETAKEN},
        {1, 0, 0, REDLOCK_ENOQUORUM},
        {0, 0, 0, REDLOCK_ENOQUORUM},
        /* counts beyond n (cannot happen) do not wrap into "failed" */
        {3, SIZE_MAX, 1, REDLOCK_ETAKEN},
        {3, 0, SIZE_MAX, REDLOCK_ETAKEN},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_status got = redlock__acquire_failure_status(
            rows[i].n, rows[i].yes, rows[i].no);
        if (got != rows[i].want)
            fail_msg("row %zu: n %zu yes %zu no %zu: %s, want %s", i,
                     rows[i].n, rows[i].yes, rows[i].no,
                     redlock_status_name(got),
                     redlock_status_name(rows[i].want));
    }
}

/* An extend or release that did not win: ENOTHELD once the refusals alone
 * rule out a quorum, else ENOQUORUM. */
static void test_keep_failure_status(void **state)
{
    (void)state;
    static const struct {
        size_t n, no;
        redlock_status want;
    } rows[] = {
        {1, 0, REDLOCK_ENOQUORUM}, {1, 1, REDLOCK_ENOTHELD},
        {2, 0, REDLOCK_ENOQUORUM}, {2, 1, REDLOCK_ENOTHELD},
        {3, 1, REDLOCK_ENOQUORUM}, {3, 2, REDLOCK_ENOTHELD},
        {3, 3, REDLOCK_ENOTHELD},  {4, 1, REDLOCK_ENOQUORUM},
        {4, 2, REDLOCK_ENOTHELD},  {5, 2, REDLOCK_ENOQUORUM},
        {5, 3, REDLOCK_ENOTHELD},  {3, SIZE_MAX, REDLOCK_ENOTHELD},
        {0, 0, REDLOCK_ENOTHELD}, /* no nodes: nothing can be held */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_status got =
            redlock__keep_failure_status(rows[i].n, rows[i].no);
        if (got != rows[i].want)
            fail_msg("row %zu: n %zu no %zu: %s, want %s", i, rows[i].n,
                     rows[i].no, redlock_status_name(got),
                     redlock_status_name(rows[i].want));
    }
}

/* drift = ttl * factor + 2 ms, rounded up to the microsecond. */
static void test_drift(void **state)
{
    (void)state;
    assert_int_equal(redlock__drift_us(10000, 0.01), 100000 + 2000);
    assert_int_equal(redlock__drift_us(10000, 0.0), 2000);
    assert_int_equal(redlock__drift_us(1, 0.01), 10 + 2000);
    assert_int_equal(redlock__drift_us(3, 0.0001), 1 + 2000); /* 0.3 up */
}

/* validity = ttl - elapsed - drift, with elapsed from this attempt. */
static void test_validity(void **state)
{
    (void)state;
    static const struct {
        uint32_t ttl_ms;
        double drift;
        uint64_t start, end;
        int64_t want;
    } rows[] = {
        /* 10 s TTL, 50 ms elapsed, 1 % drift: 10000 - 50 - 102 = 9848 ms. */
        {10000, 0.01, 1000000, 1000000 + 50000, 9848000},
        /* the attempt took longer than the TTL allows: negative */
        {100, 0.01, 0, 99000, 97000 - 99000},
        /* exactly used up: 0, which callers must treat as failure */
        {1000, 0.0, 0, 998000, 0},
        /* a clock that went backwards is treated as no time elapsed */
        {1000, 0.0, 5000, 4000, 998000},
        {1000, 0.0, UINT64_MAX, 0, 998000},
        /* zero TTL, or one within its drift: no validity, only -elapsed */
        {0, 0.01, 0, 0, 0},
        {0, 0.01, 7, 10, -3},
        {2, 0.0, 0, 0, 0},
        /* near the end of the clock: relative, so nothing saturates */
        {10000, 0.01, UINT64_MAX - 1000, UINT64_MAX, 9898000 - 1000},
        /* an elapsed time beyond INT64_MAX saturates instead of turning
         * into a large positive validity */
        {10000, 0.01, 0, UINT64_MAX, -INT64_MAX},
        {10000, 0.01, 0, (uint64_t)INT64_MAX + 9898001u, -INT64_MAX},
        {10000, 0.01, 0, (uint64_t)INT64_MAX, -(INT64_MAX - 9898000)},
        /* the largest TTL */
        {UINT32_MAX, 0.0, 0, 0, (int64_t)UINT32_MAX * 1000 - 2000},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t got = redlock__validity_us(rows[i].ttl_ms, rows[i].drift,
                                           rows[i].start, rows[i].end);
        if (got != rows[i].want)
            fail_msg("row %zu: validity %lld, want %lld", i, (long long)got,
                     (long long)rows[i].want);
    }
}

/* The validity rule: t0 + ttl - drift(ttl); t0 when the allowance eats
 * the TTL; saturating at UINT64_MAX. */
static void test_validity_end(void **state)
{
    (void)state;
    static const struct {
        uint64_t t0;
        uint32_t ttl_ms;
        double drift;
        uint64_t want;
    } rows[] = {
        {1000000, 10000, 0.01, 1000000 + 10000000 - 102000},
        {0, 10000, 0.01, 9898000},
        {0, 0, 0.01, 0},            /* zero TTL */
        {5000, 0, 0.0, 5000},
        {5000, 2, 0.0, 5000},       /* allowance exactly the TTL */
        {5000, 3, 0.0, 6000},       /* one ms above it */
        {5000, 2, 0.01, 5000},      /* allowance above the TTL: not below t0 */
        {0, UINT32_MAX, 0.0, (uint64_t)UINT32_MAX * 1000u - 2000u},
        /* 4294967295000 - 2104533974550 - 2000 */
        {0, UINT32_MAX, 0.49, 2190433318450u},
        /* saturation at the end of the clock */
        {UINT64_MAX - 9898000, 10000, 0.01, UINT64_MAX},
        {UINT64_MAX - 9897999, 10000, 0.01, UINT64_MAX},
        {UINT64_MAX - 9898001, 10000, 0.01, UINT64_MAX - 1},
        {UINT64_MAX, 10000, 0.01, UINT64_MAX},
        {UINT64_MAX, 0, 0.01, UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t got = redlock__validity_end_us(rows[i].t0, rows[i].ttl_ms,
                                                rows[i].drift);
        if (got != rows[i].want)
            fail_msg("row %zu: end %llu, want %llu", i,
                     (unsigned long long)got,
                     (unsigned long long)rows[i].want);
        /* The same rule as an attempt's validity, measured at t0. */
        if (rows[i].t0 <= UINT64_MAX - 10000000u)
            assert_int_equal(got - rows[i].t0,
                             redlock__validity_us(rows[i].ttl_ms,
                                                  rows[i].drift, 0, 0) > 0
                                 ? (uint64_t)redlock__validity_us(
                                       rows[i].ttl_ms, rows[i].drift, 0, 0)
                                 : 0);
    }
}

/* end - now, signed, saturating both ways. */
static void test_validity_left(void **state)
{
    (void)state;
    static const struct {
        uint64_t end, now;
        int64_t want;
    } rows[] = {
        {0, 0, 0},
        {1000, 400, 600},
        {400, 1000, -600},
        {UINT64_MAX, UINT64_MAX, 0},
        {UINT64_MAX, 0, INT64_MAX},
        {0, UINT64_MAX, -INT64_MAX},
        {(uint64_t)INT64_MAX, 0, INT64_MAX},
        {(uint64_t)INT64_MAX + 1u, 0, INT64_MAX},
        {0, (uint64_t)INT64_MAX, -INT64_MAX},
        {0, (uint64_t)INT64_MAX - 1u, -(INT64_MAX - 1)},
        {UINT64_MAX, 1, INT64_MAX},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t got = redlock__validity_left_us(rows[i].end, rows[i].now);
        if (got != rows[i].want)
            fail_msg("row %zu: left %lld, want %lld", i, (long long)got,
                     (long long)rows[i].want);
    }
}

/* The wait limit of a quorum command:
 * min(t0 + timeout, t0 + ttl - drift, deadline), deadline 0 meaning none,
 * never 0. Drift is 1 % + 2 ms unless a row says otherwise. */
static void test_wait_limit(void **state)
{
    (void)state;
    static const struct {
        uint64_t t0; /* mostly 1000 s */
        uint32_t timeout_ms, ttl_ms;
        uint64_t deadline, want;
    } rows[] = {
        /* the command timeout is the earliest */
        {1000000000u, 500, 10000, 0, 1000000000u + 500000u},
        /* the validity end is the earliest: 1000 ms - 12 ms */
        {1000000000u, 5000, 1000, 0, 1000000000u + 988000u},
        /* the caller's deadline is the earliest */
        {1000000000u, 5000, 10000, 1000000000u + 7000u, 1000000000u + 7000u},
        /* a deadline after both changes nothing */
        {1000000000u, 500, 10000, 1000000000u + 600000u,
         1000000000u + 500000u},
        /* deadline 0: none */
        {1000000000u, 500, 10000, 0, 1000000000u + 500000u},
        /* a deadline already before t0 is kept: the wait ends at once */
        {1000000000u, 500, 10000, 5, 5},
        {1000000000u, 500, 10000, 1000000000u - 1u, 1000000000u - 1u},
        /* zero timeout: t0 itself */
        {1000000000u, 0, 10000, 0, 1000000000u},
        /* a TTL within its drift allowance: no validity, t0 itself */
        {1000000000u, 500, 2, 0, 1000000000u},
        {1000000000u, 500, 0, 0, 1000000000u},
        /* the largest timeout and TTL */
        {1000000000u, UINT32_MAX, UINT32_MAX, 0,
         1000000000u + (uint64_t)UINT32_MAX * 1000u -
             (uint64_t)UINT32_MAX * 10u - 2000u},
        /* saturation near the end of the clock, never a wrap into the
         * past */
        {UINT64_MAX - 100, 500, 10000, 0, UINT64_MAX},
        {UINT64_MAX - 100, 500, 10000, UINT64_MAX - 50, UINT64_MAX - 50},
        {UINT64_MAX, UINT32_MAX, UINT32_MAX, 0, UINT64_MAX},
        /* t0 0 with nothing to wait for: 1, since 0 would mean no limit */
        {0, 0, 10000, 0, 1},
        {0, 500, 0, 0, 1},
        {0, 500, 10000, 0, 500000},
        {0, 500, 10000, 1, 1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t got =
            redlock__wait_limit_us(rows[i].t0, rows[i].timeout_ms,
                                   rows[i].ttl_ms, 0.01, rows[i].deadline);
        if (got != rows[i].want)
            fail_msg("row %zu: limit %llu, want %llu", i,
                     (unsigned long long)got,
                     (unsigned long long)rows[i].want);
    }
}

/* A key set with ttl by now is surely gone by now + ttl + drift(ttl). */
static void test_keys_gone(void **state)
{
    (void)state;
    static const struct {
        uint64_t now;
        uint32_t ttl_ms;
        uint64_t want;
    } rows[] = {
        {1000000, 10000, 1000000 + 10000000 + 102000},
        {0, 0, 2000}, /* zero TTL: the 2 ms of the allowance */
        {0, 1, 1000 + 2010},
        {0, UINT32_MAX,
         (uint64_t)UINT32_MAX * 1000u + (uint64_t)UINT32_MAX * 10u + 2000u},
        {UINT64_MAX - 10102000, 10000, UINT64_MAX},
        {UINT64_MAX - 10102001, 10000, UINT64_MAX - 1},
        {UINT64_MAX - 10101999, 10000, UINT64_MAX},
        {UINT64_MAX, 0, UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t got =
            redlock__keys_gone_us(rows[i].now, rows[i].ttl_ms, 0.01);
        if (got != rows[i].want)
            fail_msg("row %zu: gone at %llu, want %llu", i,
                     (unsigned long long)got,
                     (unsigned long long)rows[i].want);
    }
}

/* A TTL is too short when it does not exceed its own drift allowance
 * (ttl * drift_factor + 2 ms): then no attempt can yield validity. */
static void test_ttl_too_short(void **state)
{
    (void)state;
    static const struct {
        uint32_t ttl_ms;
        double drift;
        bool too_short;
    } rows[] = {
        {0, 0.01, true},
        {1, 0.01, true},
        {2, 0.01, true},  /* allowance 2.02 ms */
        {3, 0.01, false}, /* allowance 2.03 ms */
        {2, 0.0, true},   /* allowance exactly 2 ms: not above it */
        {3, 0.0, false},
        {3, 0.49, true},  /* allowance 3.47 ms */
        {4, 0.49, false}, /* allowance 3.96 ms */
        {1000, 0.01, false},
        {REDLOCK_TTL_MAX_MS, 0.0, false},
        {REDLOCK_TTL_MAX_MS, 0.49, false},
        {UINT32_MAX, 0.49, false},
        {UINT32_MAX, 0.0, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bool got = redlock__ttl_too_short(rows[i].ttl_ms, rows[i].drift);
        if (got != rows[i].too_short)
            fail_msg("ttl %u drift %g: too_short %d, want %d",
                     (unsigned)rows[i].ttl_ms, rows[i].drift, got,
                     rows[i].too_short);
        /* The rule is exactly "no validity even for an instant answer". */
        assert_int_equal(got, redlock__validity_us(rows[i].ttl_ms,
                                                   rows[i].drift, 0, 0) <= 0);
    }
}

/* Retry delay stays within [delay, delay + jitter]. */
static void test_retry_delay(void **state)
{
    (void)state;
    assert_int_equal(redlock__retry_delay_us(200, 100, 0), 200000);
    assert_int_equal(redlock__retry_delay_us(200, 100, 100), 300000);
    assert_int_equal(redlock__retry_delay_us(200, 100, 5000), 300000);
    assert_int_equal(redlock__retry_delay_us(0, 0, 7), 0);
}

/* Deadlines from durations saturate at UINT64_MAX ("never") instead of
 * wrapping into the past. */
static void test_after_ms(void **state)
{
    (void)state;
    static const struct {
        uint64_t now_us, ms, want;
    } rows[] = {
        {0, 0, 0},
        {5, 1, 1005},
        {614, UINT64_MAX / 1000, UINT64_MAX - 1},
        {615, UINT64_MAX / 1000, UINT64_MAX}, /* fits exactly */
        {616, UINT64_MAX / 1000, UINT64_MAX}, /* saturated */
        {0, UINT64_MAX / 1000, UINT64_MAX / 1000 * 1000},
        {0, UINT64_MAX / 1000 + 1, UINT64_MAX},
        {1, INT64_MAX, UINT64_MAX},
        {1, UINT64_MAX, UINT64_MAX},
        {UINT64_MAX - 999, 1, UINT64_MAX},
        {UINT64_MAX - 1000, 1, UINT64_MAX},
        {UINT64_MAX - 1001, 1, UINT64_MAX - 1},
        {UINT64_MAX, 0, UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(redlock__after_ms(rows[i].now_us, rows[i].ms),
                         rows[i].want);
}

/* The CSPRNG jitter source stays within its bound and uses its range. */
static void test_random_upto(void **state)
{
    (void)state;
    assert_int_equal(redlock__crypto_init(), REDLOCK_OK);
    int seen_low = 0, seen_high = 0;
    for (int i = 0; i < 20000; i++) {
        uint32_t r = redlock__random_upto(100);
        assert_true(r <= 100);
        seen_low |= r < 10;
        seen_high |= r > 90;
    }
    assert_true(seen_low && seen_high);
    assert_int_equal(redlock__random_upto(0), 0);
}

/* The extend rule (safety.md §10), by table: drift is 1 % + 2 ms. */
static void test_extend_end(void **state)
{
    (void)state;
    const uint64_t t0 = 1000000000u; /* 1000 s */
    const struct {
        bool won;
        uint64_t old_end;
        uint32_t floor_ms;
        uint64_t want;
    } rows[] = {
        /* won: t0 + floor - (floor / 100 + 2 ms) */
        {true, t0 + 5000000u, 10000, t0 + 10000000u - 102000u},
        {true, t0 + 9000000u, 1000, t0 + 1000000u - 12000u}, /* shortens */
        /* not won, shorter: the new end */
        {false, t0 + 9800000u, 100, t0 + 100000u - 3000u},
        /* not won, longer: the old end stays */
        {false, t0 + 900000u, 10000, t0 + 900000u},
        /* not won, validity unknown (adopted): stays unknown */
        {false, 0, 100, 0},
        /* a TTL within the drift allowance gives no validity */
        {true, t0 + 9000000u, 2, t0},
        {false, t0 + 9000000u, 2, t0},
        /* the largest TTL does not wrap */
        {true, 0, REDLOCK_TTL_MAX_MS,
         t0 + (uint64_t)REDLOCK_TTL_MAX_MS * 1000u -
             redlock__drift_us(REDLOCK_TTL_MAX_MS, 0.01)},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(redlock__extend_end_us(rows[i].won, rows[i].old_end,
                                                t0, rows[i].floor_ms, 0.01),
                         rows[i].want);
}

/* The floor is the smallest TTL sent, this one included. */
static void test_extend_floor(void **state)
{
    (void)state;
    assert_int_equal(redlock__extend_floor_ms(0, 5000), 5000);
    assert_int_equal(redlock__extend_floor_ms(5000, 10000), 5000);
    assert_int_equal(redlock__extend_floor_ms(5000, 100), 100);
    assert_int_equal(redlock__extend_floor_ms(100, 100), 100);
}

/* Run the group. */
/* The fast-failure rule: configuration refusals that alone rule out a
 * quorum end the acquire with their class. */
static void test_config_failure(void **state)
{
    (void)state;
#define O REDLOCK_OK
#define T REDLOCK_ETAKEN
#define P REDLOCK_EPENDING
#define A REDLOCK_EAUTH
#define D REDLOCK_EDB
#define U REDLOCK_EDUPNODE
#define R REDLOCK_EREFUSED
#define I REDLOCK_EIO
#define X REDLOCK_ETIMEDOUT
#define S REDLOCK_ETLS
    static const struct {
        size_t n;
        redlock_status st[5];
        redlock_status want;
    } rows[] = {
        /* N = 1: its one refusal decides */
        {1, {A}, A},
        {1, {D}, D},
        {1, {U}, U},
        {1, {R}, O},
        {1, {T}, O},
        /* N = 2 (quorum 2): one refusal is enough */
        {2, {A, O}, A},
        {2, {O, D}, D},
        {2, {I, O}, O},
        /* N = 3: one refusal leaves a quorum possible; two do not */
        {3, {A, O, O}, O},
        {3, {A, P, P}, O},
        {3, {A, A, O}, A},
        {3, {A, A, A}, A},
        {3, {D, D, O}, D},
        {3, {A, D, O}, A}, /* tie: EAUTH */
        {3, {D, U, P}, D}, /* tie: EDB before EDUPNODE */
        {3, {U, U, O}, U},
        {3, {A, D, D}, D},
        /* ordinary failures never count */
        {3, {A, R, I}, O},
        {3, {X, X, X}, O},
        {3, {T, T, A}, O},
        /* N = 4 (quorum 3): two refusals are enough */
        {4, {A, A, O, O}, A},
        {4, {A, O, O, O}, O},
        /* N = 5: three */
        {5, {A, A, O, O, O}, O},
        {5, {A, A, D, O, O}, A},
        {5, {U, U, U, A, A}, U},
        /* TLS refusals (verification, protocol) count like the others,
         * last on a tie */
        {1, {S}, S},
        {3, {S, S, O}, S},
        {3, {S, A, O}, A},
        {3, {S, U, P}, U},
        {3, {S, X, I}, O},
        {5, {S, S, S, A, A}, S},
    };
#undef O
#undef T
#undef P
#undef A
#undef D
#undef U
#undef R
#undef I
#undef X
#undef S
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_status got =
            redlock__config_failure_status(rows[i].n, rows[i].st);
        if (got != rows[i].want)
            print_error("row %zu\n", i);
        assert_int_equal(got, rows[i].want);
    }
}

/* The retry rule: only what a retry may change. */
static void test_retry_worthwhile(void **state)
{
    (void)state;
#define X(name, num, msg)                                                    \
    assert_int_equal(redlock__retry_worthwhile(REDLOCK_##name),             \
                     REDLOCK_##name == REDLOCK_ETAKEN ||                     \
                         REDLOCK_##name == REDLOCK_ENOQUORUM ||              \
                         REDLOCK_##name == REDLOCK_EEXPIRED);
    REDLOCK_STATUS_MAP(X)
#undef X
}

/* One node's reading for the leader table below. */
#define RD(tok, own, pttl, fence) {true, tok, own, pttl, fence}
#define NONE {false, "", "", -2, 0}
#define TA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define TB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* The leader rule of redlock_election_observe(). */
static void test_leader_decide(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        redlock__leader_reading r[5];
        redlock_status st;
        int held;
        const char *owner, *prefix;
        uint64_t fence;
        int64_t ttl;
        size_t agreeing;
    } rows[] = {
        /* a leader on all three; the smallest PTTL; the largest fence */
        {3, {RD(TA, "a", 900, 4), RD(TA, "a", 800, 5), RD(TA, "a", 950, 5)},
         REDLOCK_OK, 1, "a", "aaaaaaaa", 5, 800, 3},
        /* on a quorum only: the third node holds nothing */
        {3, {RD(TA, "a", 900, 5), RD("", "", -2, 5), RD(TA, "a", 700, 4)},
         REDLOCK_OK, 1, "a", "aaaaaaaa", 5, 700, 2},
        /* one node down: still a quorum of answers */
        {3, {NONE, RD(TA, "", 500, 2), RD(TA, "", 600, 2)},
         REDLOCK_OK, 1, "", "aaaaaaaa", 2, 500, 2},
        /* a term ending: one node still holds it */
        {3, {RD(TA, "a", 20, 3), RD("", "", -2, 3), RD("", "", -2, 3)},
         REDLOCK_OK, 0, "a", "aaaaaaaa", 3, 20, 1},
        /* split: the first in node order on a tie */
        {3, {RD(TB, "b", 100, 7), RD(TA, "a", 100, 7), RD("", "", -2, 6)},
         REDLOCK_OK, 0, "b", "bbbbbbbb", 7, 100, 1},
        /* nobody: empty view, fence still read */
        {3, {RD("", "", -2, 9), RD("", "", -2, 9), RD("", "", -2, 8)},
         REDLOCK_OK, 0, "", "", 9, -2, 0},
        /* no expiry on one node counts as no limit */
        {3, {RD(TA, "a", -1, 1), RD(TA, "a", 300, 1), RD(TA, "a", -1, 1)},
         REDLOCK_OK, 1, "a", "aaaaaaaa", 1, 300, 3},
        {1, {RD(TA, "a", -1, 1)}, REDLOCK_OK, 1, "a", "aaaaaaaa", 1, -1, 1},
        /* too few answers */
        {3, {NONE, NONE, RD(TA, "a", 900, 5)}, REDLOCK_ENOQUORUM, 0, "", "",
         0, -2, 0},
        {1, {NONE}, REDLOCK_ENOQUORUM, 0, "", "", 0, -2, 0},
        /* five nodes: 3 of them make a leader, 2 do not */
        {5,
         {RD(TA, "a", 50, 1), RD(TA, "a", 60, 1), RD(TA, "a", 70, 1),
          RD(TB, "b", 80, 1), RD(TB, "b", 90, 1)},
         REDLOCK_OK, 1, "a", "aaaaaaaa", 1, 50, 3},
        {5,
         {RD(TA, "a", 50, 1), RD(TA, "a", 60, 1), NONE, RD(TB, "b", 80, 1),
          RD("", "", -2, 1)},
         REDLOCK_OK, 0, "a", "aaaaaaaa", 1, 50, 2},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        redlock_leader_view v;
        memset(&v, 0x5a, sizeof(v));
        redlock_status st = redlock__leader_decide(rows[i].n, rows[i].r, &v);
        if (st != rows[i].st || v.held != rows[i].held ||
            v.fence != rows[i].fence || v.ttl_ms != rows[i].ttl ||
            v.nodes_agreeing != rows[i].agreeing)
            print_error("row %zu\n", i);
        assert_int_equal(st, rows[i].st);
        assert_int_equal(v.held, rows[i].held);
        assert_string_equal(v.owner, rows[i].owner);
        assert_string_equal(v.token_prefix, rows[i].prefix);
        assert_int_equal(v.fence, rows[i].fence);
        assert_int_equal(v.ttl_ms, rows[i].ttl);
        assert_int_equal(v.nodes_agreeing, rows[i].agreeing);
    }
}
#undef RD
#undef NONE
#undef TA
#undef TB

/* The restart guard's rule (quorum.c): the restart estimate from a
 * handshake, then the end of the guard, as one table. Times in us; S is
 * one second. */
#define S 1000000ull
#define NONE REDLOCK__RESTART_NONE
#define NEW REDLOCK__RUN_ID_NEW
#define SAME REDLOCK__RUN_ID_SAME
#define CHG REDLOCK__RUN_ID_CHANGED
static void test_restart_guard(void **state)
{
    (void)state;
    const struct {
        uint64_t now;       /* when INFO was read */
        redlock__run_id_seen seen;
        uint64_t prev;      /* the estimate kept from before */
        bool uptime_known;
        uint64_t uptime_s;
        uint64_t first_ttl; /* first TTL written to the node; NONE:
                               never */
        bool auto_mode;
        uint32_t guard_ms;
        uint64_t restart;   /* expected estimate */
        uint64_t until;     /* expected end (0: not guarded) */
    } rows[] = {
        /* A first connection with an uptime below the guard: guarded
         * until restart + G + drift (drift of 30 s at 1 %: 300 ms +
         * 2 ms). */
        {100 * S, NEW, NONE, true, 3, 0, false, 30000, 97 * S,
         97 * S + 30 * S + 302000},
        /* Uptime above the guard: the end is in the past. */
        {100 * S, NEW, NONE, true, 60, 0, false, 30000, 40 * S,
         40 * S + 30 * S + 302000},
        /* Whole seconds round down, so the restart is taken at the
         * latest instant it can have happened. */
        {100 * S + 999999, NEW, NONE, true, 3, 0, false, 1000,
         97 * S + 999999, 97 * S + 999999 + S + 12000},
        /* A changed run_id is a restart now, whatever the uptime says
         * (a replica promoted after a long life)... */
        {100 * S, CHG, NONE, true, 86400, 0, false, 30000, 100 * S,
         100 * S + 30 * S + 302000},
        {100 * S, CHG, 20 * S, true, 86400, 0, false, 30000, 100 * S,
         100 * S + 30 * S + 302000},
        /* ... even when INFO gave no uptime. */
        {100 * S, CHG, NONE, false, 0, 0, false, 30000, 100 * S,
         100 * S + 30 * S + 302000},
        /* The same run_id: the same process, the estimate from before
         * stands (its rounded-down uptime would move it later)... */
        {100 * S, SAME, 97 * S, true, 2, 0, false, 30000, 97 * S,
         97 * S + 30 * S + 302000},
        /* ... including "none" (a guard that ended, or none found). */
        {100 * S, SAME, NONE, true, 0, 0, false, 30000, NONE, 0},
        /* Nothing known: not guarded on a first connection; on a
         * reconnect whose INFO failed, the estimate from before stands. */
        {100 * S, NEW, NONE, false, 0, 0, false, 30000, NONE, 0},
        {100 * S, NEW, 97 * S, false, 0, 0, false, 30000, 97 * S,
         97 * S + 30 * S + 302000},
        /* Guard 0 is off. */
        {100 * S, NEW, NONE, true, 0, 0, false, 0, 100 * S, 0},
        {100 * S, CHG, NONE, true, 0, 0, true, 0, 100 * S, 0},
        /* An uptime longer than our clock has run: as early as we can
         * say (0), still guarded while the clock is below G. */
        {5 * S, NEW, NONE, true, 3600, 0, false, 30000, 0,
         30 * S + 302000},
        /* Huge uptimes and guards saturate, never wrap. */
        {100 * S, NEW, NONE, true, UINT64_MAX, 0, false, UINT32_MAX - 1, 0,
         (uint64_t)(UINT32_MAX - 1) * 1000u +
             redlock__drift_us(UINT32_MAX - 1, 0.01)},
        {UINT64_MAX - S, NEW, NONE, true, 0, 0, false, UINT32_MAX - 1,
         UINT64_MAX - S, UINT64_MAX},
        {UINT64_MAX - 1, CHG, NONE, true, 1, 0, false, 1, UINT64_MAX - 1,
         UINT64_MAX},
        /* AUTO: a restart before this manager's first TTL written to
         * the node lost none of its keys (a first connection, fresh
         * nodes of a test or bench, are not guarded)... */
        {100 * S, NEW, NONE, true, 3, 98 * S, true, 30000, 97 * S, 0},
        {100 * S, NEW, NONE, true, 3, 97 * S, true, 30000, 97 * S, 0},
        {100 * S, NEW, NONE, true, 3, NONE, true, 30000, 97 * S, 0},
        {100 * S, CHG, NONE, true, 3, NONE, true, 30000, 100 * S, 0},
        /* ... one after it is guarded for the largest TTL sent. */
        {100 * S, NEW, NONE, true, 3, 97 * S - 1, true, 30000, 97 * S,
         97 * S + 30 * S + 302000},
        {100 * S, NEW, NONE, true, 3, 10 * S, true, 10000, 97 * S,
         97 * S + 10 * S + 102000},
        {100 * S, CHG, NONE, false, 0, 10 * S, true, 10000, 100 * S,
         100 * S + 10 * S + 102000},
        /* An explicit guard ignores when we first wrote (other clients'
         * keys count too). */
        {100 * S, NEW, NONE, true, 3, NONE, false, 30000, 97 * S,
         97 * S + 30 * S + 302000},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t r = redlock__restart_at_us(rows[i].now, rows[i].prev,
                                            rows[i].seen,
                                            rows[i].uptime_known,
                                            rows[i].uptime_s);
        uint64_t u = redlock__guard_until_us(r, rows[i].first_ttl,
                                             rows[i].auto_mode,
                                             rows[i].guard_ms, 0.01);
        if (r != rows[i].restart || u != rows[i].until)
            print_error("row %zu: restart %llu until %llu\n", i,
                        (unsigned long long)r, (unsigned long long)u);
        assert_int_equal(r, rows[i].restart);
        assert_int_equal(u, rows[i].until);
    }
}
#undef S
#undef NONE
#undef NEW
#undef SAME
#undef CHG

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quorum_sizes),
        cmocka_unit_test(test_verdict_exhaustive),
        cmocka_unit_test(test_verdict_early),
        cmocka_unit_test(test_quorum_impossible),
        cmocka_unit_test(test_verdict_edges),
        cmocka_unit_test(test_failure_status),
        cmocka_unit_test(test_keep_failure_status),
        cmocka_unit_test(test_config_failure),
        cmocka_unit_test(test_retry_worthwhile),
        cmocka_unit_test(test_leader_decide),
        cmocka_unit_test(test_drift),
        cmocka_unit_test(test_validity),
        cmocka_unit_test(test_validity_end),
        cmocka_unit_test(test_validity_left),
        cmocka_unit_test(test_wait_limit),
        cmocka_unit_test(test_keys_gone),
        cmocka_unit_test(test_retry_delay),
        cmocka_unit_test(test_after_ms),
        cmocka_unit_test(test_ttl_too_short),
        cmocka_unit_test(test_random_upto),
        cmocka_unit_test(test_extend_end),
        cmocka_unit_test(test_extend_floor),
        cmocka_unit_test(test_restart_guard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
