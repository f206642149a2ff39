/*
 * election.c: leader election on top of leases and fencing numbers.
 *
 * DESIGN
 * Each candidate has its own thread, which runs the callbacks, so they
 * never run on a worker or on the lease thread and never overlap for one
 * election. The thread loops:
 *   campaign  single acquire attempts of "election:<name>", separated by
 *             the manager's retry delay plus jitter, until one wins;
 *   lead      start a lease on the lock, draw a fencing number for the
 *             term, set the leader flag, call on_elected; then sleep until
 *             the lease is lost or the candidate resigns or is destroyed;
 *   step down clear the leader flag first, then stop the lease (releasing
 *             the lock, so others can win at their next attempt), then
 *             call on_demoted; campaign again unless it resigned.
 * is_leader() reads the leader flag and the term's validity end, which the
 * lease thread keeps in valid_until and zeroes the moment it declares a
 * loss (before the validity ends, see lease.c), so two candidates never
 * both see is_leader() true within the clock-drift assumptions
 * (docs/safety.md). The flag itself is cleared later, by the lease's
 * on_lost hook on the lease callback thread, which may wait behind other
 * leases' callbacks; that only delays this thread's step down.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "lease.h"
#include "lock.h"
#include "manager.h"
#include "quorum.h"
#include "token.h"

#define ELECTION_MAGIC 0x524c454cu /* "RLEL" */

struct redlock_election {
    uint32_t magic;
    redlock_manager *m;            /* referenced */
    char *resource;                /* "election:<name>" */
    size_t resource_len;
    uint32_t ttl_ms;
    redlock_election_callbacks cb;
    void *userdata;
    pthread_t thread;
    bool thread_running;

    pthread_mutex_t mu;            /* guards the fields below */
    pthread_cond_t cv;
    bool resign_requested;
    bool lost;                     /* the current term's lease was lost */
    char token[REDLOCK_TOKEN_LEN + 1];
    uint64_t fence;
    atomic_bool leader;            /* lock-free reads by is_leader() */
    _Atomic uint64_t valid_until;  /* the term's validity end, kept by the
                                      lease thread; 0 when not leading */
};

/* Lease on_lost hook: clear the flag and wake the thread. Runs on the
 * lease callback thread (the validity mirror was zeroed already). */
static void on_lease_lost(redlock_lease *lease, redlock_status why,
                          void *userdata)
{
    (void)lease;
    (void)why;
    redlock_election *e = userdata;
    atomic_store_explicit(&e->leader, false, memory_order_release);
    pthread_mutex_lock(&e->mu);
    e->lost = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* Sleep up to us microseconds or until a resign request; returns true if
 * the candidate should stop. */
static bool pause_or_stop(redlock_election *e, uint64_t us)
{
    pthread_mutex_lock(&e->mu);
    uint64_t until = redlock__clock_now_us() + us;
    while (!e->resign_requested) {
        uint64_t now = redlock__clock_now_us();
        if (now >= until)
            break;
        redlock__cond_wait_us(&e->cv, &e->mu, until - now);
    }
    bool stop = e->resign_requested;
    pthread_mutex_unlock(&e->mu);
    return stop;
}

/* Try once to become leader. Returns the lease on success. */
static redlock_lease *try_win(redlock_election *e, uint64_t *fence)
{
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.retry_count = 0;
    redlock_lock *lock = NULL;
    if (redlock_acquire_ex(e->m, e->resource, e->resource_len, e->ttl_ms,
                           &ao, &lock) != REDLOCK_OK)
        return NULL;
    /* The fence is drawn while we hold the lock, before we lead. */
    if (redlock_fence_next(lock, fence) != REDLOCK_OK) {
        redlock_release(lock);
        return NULL;
    }
    redlock_lease_options lo;
    redlock_lease_options_init(&lo);
    lo.on_lost = on_lease_lost;
    lo.userdata = e;
    redlock_lease *lease = NULL;
    pthread_mutex_lock(&e->mu);
    e->lost = false;
    pthread_mutex_unlock(&e->mu);
    if (redlock__lease_start_mirrored(lock, &lo, &e->valid_until, &lease) !=
        REDLOCK_OK) {
        redlock_release(lock);
        return NULL;
    }
    return lease;
}

/* Hold the leadership until the lease is lost or we resign, then step
 * down. on_elected and on_demoted fire as a pair, or not at all (a lease
 * lost, or a resignation asked for, before the term began). */
static void lead(redlock_election *e, redlock_lease *lease, uint64_t fence)
{
    pthread_mutex_lock(&e->mu);
    memcpy(e->token, redlock_lock_token(redlock_lease_lock(lease)),
           REDLOCK_TOKEN_LEN + 1);
    e->fence = fence;
    bool begin = !e->lost && !e->resign_requested;
    if (begin)
        atomic_store_explicit(&e->leader, true, memory_order_release);
    pthread_mutex_unlock(&e->mu);
    if (begin && e->cb.on_elected != NULL)
        e->cb.on_elected(e, fence, e->userdata);

    pthread_mutex_lock(&e->mu);
    while (!e->lost && !e->resign_requested)
        pthread_cond_wait(&e->cv, &e->mu);
    bool resigned = !e->lost;
    atomic_store_explicit(&e->leader, false, memory_order_release);
    pthread_mutex_unlock(&e->mu);

    redlock_status why = redlock_lease_status(lease);
    /* Releases the lock on all nodes (a no-op where it is already gone). */
    redlock_lease_stop(lease, NULL);
    atomic_store_explicit(&e->valid_until, 0, memory_order_release);
    if (resigned)
        why = REDLOCK_OK;
    else if (why == REDLOCK_OK)
        why = REDLOCK_ELOST;
    if (begin && e->cb.on_demoted != NULL)
        e->cb.on_demoted(e, why, e->userdata);
}

/* The candidate's thread. */
static void *election_main(void *arg)
{
    redlock_election *e = arg;
    redlock__mark_callback_thread(e->m);
    for (;;) {
        if (pause_or_stop(e, 0))
            break;
        if (atomic_load_explicit(&e->m->closing, memory_order_acquire))
            break;
        uint64_t fence = 0;
        redlock_lease *lease = try_win(e, &fence);
        if (lease != NULL)
            lead(e, lease, fence);
        /* Campaign again after a delay (also after a demotion, which gives
         * the other candidates their turn), unless resigned. */
        uint64_t delay = redlock__retry_delay_us(
            e->m->opts.retry_delay_ms, e->m->opts.retry_jitter_ms,
            redlock__random_upto(e->m->opts.retry_jitter_ms));
        if (pause_or_stop(e, delay))
            break;
    }
    return NULL;
}

/* Start a candidate. */
redlock_status redlock_election_start(redlock_manager *m, const char *name,
                                      uint32_t ttl_ms,
                                      const redlock_election_callbacks *cb,
                                      void *userdata, redlock_election **out)
{
    if (out == NULL || m == NULL || name == NULL || name[0] == '\0')
        return REDLOCK_EINVAL;
    *out = NULL;
    if (m->magic != REDLOCK__MANAGER_MAGIC)
        return REDLOCK_EMISUSE;
    size_t name_len = strlen(name);
    if (name_len + 9 > REDLOCK_RESOURCE_MAX || ttl_ms == 0 ||
        ttl_ms > REDLOCK_TTL_MAX_MS)
        return REDLOCK_ERANGE;
    if (redlock__ttl_too_short(ttl_ms, m->opts.drift_factor))
        return REDLOCK_ETTLSHORT;
    /* Its lease renews when ttl/3 of validity is left, which must exceed
     * the lease's loss margin (at least 2 ms, lease.c): 10 ms is the
     * documented floor that leaves room for it. */
    if (ttl_ms < 10)
        return REDLOCK_ERANGE;
    if (atomic_load_explicit(&m->closing, memory_order_acquire))
        return REDLOCK_ECLOSED;
    redlock_election *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return REDLOCK_ENOMEM;
    e->resource_len = name_len + 9;
    e->resource = malloc(e->resource_len + 1);
    if (e->resource == NULL) {
        free(e);
        return REDLOCK_ENOMEM;
    }
    snprintf(e->resource, e->resource_len + 1, "election:%s", name);
    e->magic = ELECTION_MAGIC;
    e->m = m;
    e->ttl_ms = ttl_ms;
    if (cb != NULL)
        e->cb = *cb;
    e->userdata = userdata;
    atomic_init(&e->leader, false);
    atomic_init(&e->valid_until, 0);
    pthread_mutex_init(&e->mu, NULL);
    redlock__cond_init(&e->cv);
    redlock__manager_ref(m);
    /* Signals go to application threads, not to ours. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&e->thread, NULL, election_main, e);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        redlock__manager_unref(m);
        pthread_cond_destroy(&e->cv);
        pthread_mutex_destroy(&e->mu);
        free(e->resource);
        free(e);
        return REDLOCK_EIO;
    }
    e->thread_running = true;
    *out = e;
    return REDLOCK_OK;
}

/* True if e is a live election handle. */
static bool election_ok(const redlock_election *e)
{
    return e != NULL && e->magic == ELECTION_MAGIC;
}

/* Step down and stop campaigning; joins the thread. */
redlock_status redlock_election_resign(redlock_election *e)
{
    if (e == NULL)
        return REDLOCK_EINVAL;
    if (!election_ok(e))
        return REDLOCK_EMISUSE;
    if (e->thread_running && pthread_equal(pthread_self(), e->thread))
        return REDLOCK_EMISUSE;
    pthread_mutex_lock(&e->mu);
    e->resign_requested = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (e->thread_running) {
        pthread_join(e->thread, NULL);
        e->thread_running = false;
    }
    return REDLOCK_OK;
}

/* Lock-free leader check: the flag, and the term's validity on the
 * clock, so a late lease thread cannot leave it true past the validity. */
int redlock_election_is_leader(const redlock_election *e)
{
    if (!election_ok(e) ||
        !atomic_load_explicit(&e->leader, memory_order_acquire))
        return 0;
    uint64_t until =
        atomic_load_explicit(&e->valid_until, memory_order_acquire);
    return redlock__clock_now_us() < until;
}

/* Copy the term's token and fence while leader. */
redlock_status redlock_election_leader_token(const redlock_election *e,
                                             char *buf, size_t buf_len,
                                             uint64_t *fence)
{
    if (!election_ok(e) || buf == NULL)
        return e == NULL || buf == NULL ? REDLOCK_EINVAL : REDLOCK_EMISUSE;
    if (buf_len < REDLOCK_TOKEN_LEN + 1)
        return REDLOCK_ERANGE;
    redlock_election *me = (redlock_election *)e;
    pthread_mutex_lock(&me->mu);
    bool leader = redlock_election_is_leader(me) != 0;
    if (leader) {
        memcpy(buf, me->token, REDLOCK_TOKEN_LEN + 1);
        if (fence != NULL)
            *fence = me->fence;
    }
    pthread_mutex_unlock(&me->mu);
    return leader ? REDLOCK_OK : REDLOCK_ENOTHELD;
}

/* Resign and free. */
void redlock_election_destroy(redlock_election *e)
{
    if (!election_ok(e))
        return;
    if (redlock_election_resign(e) != REDLOCK_OK)
        return; /* from its own callback: refused */
    redlock_manager *m = e->m;
    e->magic = REDLOCK__DEAD_MAGIC;
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e->resource);
    free(e);
    redlock__manager_unref(m);
}
