/*
 * test_fault_clock.c: fault scenario "clock jumps".
 *
 * libfaketime is not available, so the wall clock is faked in-process:
 * this program defines clock_gettime(), gettimeofday() and time() itself,
 * and those definitions win over libc's for every call made from the
 * program and from the static libredlock linked into it. They pass every
 * clock through (by system call) except the wall clocks (CLOCK_REALTIME,
 * _COARSE, CLOCK_TAI), to which they add an offset that the test changes
 * at run time, and they count how often a wall clock is read. The system's
 * real clock is never touched.
 *
 * Two tests:
 *   - test_wall_clock_jumps: the usual contending clients (forked, so they
 *     share the offset through a shared page) while the wall clock jumps
 *     +1 h, -2 h and +1 day; the parent holds four leases throughout.
 *     What must hold: no lease lost, no call past its bound, no overlap,
 *     no late loss, and the library never reads a wall clock at all.
 *   - test_validity_uses_injected_clock: with the library's clock seam
 *     (redlock__clock_now_us, src/internal.h) replaced by a fake monotonic
 *     clock, the validity of a lock is exactly the spec's
 *     t0 + ttl - drift on the FAKE clock; a wall-clock jump changes
 *     nothing; a jump of the fake clock moves the validity by exactly that
 *     much, and a lease reads as lost at once when the fake clock passes
 *     its validity.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <cmocka.h>

#include "fault_harness.h"
#include "clock.h"
#include "quorum.h"

/* ------------------------------------------------------------------------
 * The fake wall clock
 * ------------------------------------------------------------------------ */

/* State shared with the forked clients (a MAP_SHARED page). */
typedef struct wall_state {
    atomic_llong offset_us;       /* added to every wall-clock read */
    atomic_ullong reads;          /* wall-clock reads counted */
    atomic_int counting;          /* 1: count reads */
} wall_state;

static wall_state wall_fallback; /* before the shared page exists */
static wall_state *wall = &wall_fallback;

/* The kernel's clock_gettime (no vDSO, so never our own definition). */
static int sys_clock_gettime(clockid_t id, struct timespec *ts)
{
    return (int)syscall(SYS_clock_gettime, id, ts);
}

/* True for the clocks that follow the wall clock. */
static int is_wall_clock(clockid_t id)
{
    return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE ||
           id == CLOCK_TAI;
}

/* Add offset_us to ts. */
static void shift(struct timespec *ts, long long offset_us)
{
    long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec +
                   offset_us * 1000LL;
    ts->tv_sec = (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
}

/* Interposed: every clock, with the wall clocks shifted and counted. */
int clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc = sys_clock_gettime(id, ts);
    if (rc == 0 && is_wall_clock(id)) {
        if (atomic_load(&wall->counting))
            atomic_fetch_add(&wall->reads, 1);
        shift(ts, atomic_load(&wall->offset_us));
    }
    return rc;
}

/* Interposed: the wall clock in microseconds, shifted and counted. */
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;
    (void)tz;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    if (rc == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return rc;
}

/* Interposed: the wall clock in seconds, shifted and counted. */
time_t time(time_t *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (t != NULL)
        *t = ts.tv_sec;
    return ts.tv_sec;
}

/* Move the fake wall clock to offset_s from the real one. */
static void jump_wall(long long offset_s)
{
    atomic_store(&wall->offset_us, offset_s * 1000000LL);
}

/* Seconds between the faked and the real wall clock (reads not
 * counted). */
static long long wall_skew_s(void)
{
    struct timespec real, faked;
    int counting = atomic_exchange(&wall->counting, 0);
    sys_clock_gettime(CLOCK_REALTIME, &real);
    time_t t = time(NULL);
    clock_gettime(CLOCK_REALTIME, &faked);
    atomic_store(&wall->counting, counting);
    assert_true(t - faked.tv_sec <= 1 && faked.tv_sec - t <= 1);
    return (long long)faked.tv_sec - (long long)real.tv_sec;
}

/* ------------------------------------------------------------------------
 * Wall-clock jumps under load
 * ------------------------------------------------------------------------ */

/* Contending clients while the wall clock jumps. */
static void test_wall_clock_jumps(void **state)
{
    fh_run *r = *state;
    wall_state *shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(shared != MAP_FAILED);
    atomic_init(&shared->offset_us, 0);
    atomic_init(&shared->reads, 0);
    atomic_init(&shared->counting, 1);
    wall = shared;

    fh_config cfg;
    fh_config_init(&cfg, "clock_jumps");
    cfg.extend = 1;
    assert_int_equal(fh_start(r, &cfg), 0);
    fh_at(r, 800);
    assert_int_equal(fh_observe_start(r, 4), 0);

    static const struct {
        uint32_t at_ms;
        long long offset_s;
        const char *what;
    } jumps[] = {
        {1500, 3600, "+1 h"},
        {2500, -3600, "-2 h (1 h behind the real time)"},
        {3500, 86400, "+1 day"},
    };
    for (size_t i = 0; i < sizeof(jumps) / sizeof(jumps[0]); i++) {
        fh_at(r, jumps[i].at_ms);
        jump_wall(jumps[i].offset_s);
        fh_fault(r, "wall clock jumps %s", jumps[i].what);
    }
    fh_at(r, 4500);
    fh_observe_stop(r);
    assert_int_equal(fh_finish(r), 0);
    unsigned long long reads = atomic_load(&wall->reads);
    /* The fake clock was really in force (+1 day now). */
    long long skew = wall_skew_s();
    fh_summary(r, "wall_clock_reads=%llu wall_skew_at_end_s=%lld", reads,
               skew);

    assert_true(skew >= 86400 - 2 && skew <= 86400 + 2);
    assert_int_equal(r->hung, 0);
    assert_int_equal(r->failed_procs, 0);
    assert_int_equal(r->rep.overlaps, 0);
    assert_int_equal(r->rep.late_losses, 0);
    assert_int_equal(r->total.lease_lost, 0);
    assert_int_equal(r->total.lease_silent, 0);
    assert_int_equal(r->obs_lost, 0);
    assert_int_equal(r->total.extend_fail, 0);
    assert_int_equal(r->total.slow_calls, 0);
    /* Nothing in the library (or in this program's clients) looked at the
     * wall clock: validity and deadlines cannot depend on it. */
    assert_int_equal(reads, 0);

    jump_wall(0);
    wall = &wall_fallback;
    munmap(shared, sizeof(*shared));
}

/* ------------------------------------------------------------------------
 * The clock seam
 * ------------------------------------------------------------------------ */

/* Offset of the fake monotonic clock from CLOCK_BOOTTIME. */
static atomic_ullong mono_offset_us;

/* The fake monotonic clock installed in redlock__clock_now_us. */
static uint64_t fake_now_us(void)
{
    struct timespec ts;
    sys_clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u +
           atomic_load(&mono_offset_us);
}

/* Validity math follows the injected clock, and only it. */
static void test_validity_uses_injected_clock(void **state)
{
    (void)state;
    enum { TTL_MS = 10000, LEASE_TTL_MS = 1000 };
    rs_server srv[3];
    const char *uris[3];
    memset(srv, 0, sizeof(srv));
    assert_int_equal(rs_start_many(srv, 3), 0);
    rs_uris(srv, 3, uris);

    redlock__clock_fn saved = redlock__clock_now_us;
    /* A clock far from CLOCK_BOOTTIME, so a stray read of the real clock
     * would show. */
    atomic_store(&mono_offset_us, 1000000000000ull);
    redlock__clock_now_us = fake_now_us;

    redlock_options o;
    redlock_options_init(&o);
    redlock_manager *m = NULL;
    assert_int_equal(redlock_manager_create(uris, 3, &o, &m), REDLOCK_OK);
    assert_true(redlock_clock_us() >= 1000000000000ull);

    /* 1. validity_end = t0 + ttl - drift on the fake clock, t0 between the
     *    readings taken around the call. */
    uint64_t drift = redlock__drift_us(TTL_MS, o.drift_factor);
    redlock_lock *l = NULL;
    uint64_t before = fake_now_us();
    assert_int_equal(redlock_acquire(m, "clock", TTL_MS, &l), REDLOCK_OK);
    uint64_t after = fake_now_us();
    uint64_t end = redlock_lock_validity_end_us(l);
    assert_true(end >= before + (uint64_t)TTL_MS * 1000u - drift);
    assert_true(end <= after + (uint64_t)TTL_MS * 1000u - drift);

    /* 2. A wall-clock jump changes nothing. */
    jump_wall(-86400);
    assert_int_equal(wall_skew_s() <= -86400 + 2, 1);
    assert_int_equal(redlock_lock_validity_end_us(l), end);
    int64_t left = redlock_lock_validity_ms(l);
    assert_true(left > TTL_MS - 1000 && left <= TTL_MS);
    assert_int_equal(redlock_extend(l, TTL_MS), REDLOCK_OK);
    jump_wall(0);

    /* 3. A jump of the injected clock moves the validity by exactly that
     *    much (to within the time this takes). */
    left = redlock_lock_validity_ms(l);
    atomic_fetch_add(&mono_offset_us, 4000000u);
    int64_t left2 = redlock_lock_validity_ms(l);
    assert_true(left - left2 >= 4000 && left - left2 <= 4000 + 50);

    /* 4. A lease reads as lost as soon as the injected clock passes its
     *    validity, and says why. */
    redlock_lease *lease = NULL;
    assert_int_equal(redlock_lease_acquire(m, "clock-lease", LEASE_TTL_MS,
                                           NULL, NULL, &lease),
                     REDLOCK_OK);
    assert_int_equal(redlock_lease_lost(lease), 0);
    atomic_fetch_add(&mono_offset_us, 2u * LEASE_TTL_MS * 1000u);
    assert_int_equal(redlock_lease_lost(lease), 1);
    assert_int_equal(redlock_lease_wait(lease, 5000), REDLOCK_EEXPIRED);
    redlock_lease_stop(lease, NULL);

    assert_int_equal(redlock_release(l), REDLOCK_OK);
    redlock_manager_destroy(m);
    redlock__clock_now_us = saved;
    rs_stop_many(srv, 3);
    printf("[validity_clock_seam] validity end = t0 + ttl - drift on the "
           "injected clock; wall jump -1 day: no change; injected +4 s: "
           "validity -%lld ms; lease lost at once past its validity\n",
           (long long)(left - left2));
}

/* Run both. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wall_clock_jumps, fh_setup,
                                        fh_teardown),
        cmocka_unit_test(test_validity_uses_injected_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
