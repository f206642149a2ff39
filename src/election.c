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
 *
 * Following an election from an event loop: the election owns an eventfd
 * (redlock_election_fd()) and counts its leadership changes. This thread
 * changes the leader flag, the change count and the reason of the last
 * demotion together under mu, and writes the eventfd in that same
 * critical section, before it calls on_elected or on_demoted (or, on a
 * demotion, even releases the lock). So when the fd turns readable the
 * flag already says what the change was, and the fd is readable no later
 * than the callback runs. redlock_election_state_get() drains the fd and
 * copies the state under mu too, so a change is either in the copy it
 * returns or makes the fd readable again afterwards: a loop that reads
 * the state whenever the fd is readable never misses one (two changes
 * between reads make it readable once; the count tells them apart).
 * The fd is made on the first redlock_election_fd() call, under mu, as
 * redlock_lease_fd() does: an election nobody follows this way costs no
 * fd, and redlock_election_start() keeps its failure list (making the fd
 * at start would add a new way, EMFILE, for every start to fail). It is
 * made readable at once if a change happened that no state_get has
 * returned, so a loop that asks for the fd late still hears of a win
 * that came first. Rejected: a pipe (two fds, and a writer that must
 * guard against a full buffer) and signalling from the lease's on_lost
 * hook (a demotion would then be announced on two threads, with the
 * reason known only on this one).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

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
    uint64_t changes;              /* leadership changes (elected and
                                      demoted) so far */
    uint64_t reported;             /* changes as of the last state_get */
    redlock_status last_demotion;  /* why the last term ended (OK: resigned
                                      or never led) */
    atomic_int efd;                /* eventfd, -1 until redlock_election_fd()
                                      makes it; written under mu, read
                                      lock-free once made */
};

/* Count a leadership change and make the fd readable. Called with mu
 * held, after the leader flag was updated (a syscall under a leaf lock,
 * as op.c does with a waiter's eventfd). */
static void note_change_locked(redlock_election *e)
{
    e->changes++;
    int fd = atomic_load_explicit(&e->efd, memory_order_relaxed);
    if (fd >= 0) {
        uint64_t one = 1;
        /* Fails only if the counter would overflow, which 2^64 - 2
         * unread changes cannot reach; it stays readable either way. */
        ssize_t w = write(fd, &one, sizeof(one));
        (void)w;
    }
}

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
    if (begin) {
        atomic_store_explicit(&e->leader, true, memory_order_release);
        note_change_locked(e);
    }
    pthread_mutex_unlock(&e->mu);
    if (begin && e->cb.on_elected != NULL)
        e->cb.on_elected(e, fence, e->userdata);

    pthread_mutex_lock(&e->mu);
    while (!e->lost && !e->resign_requested)
        pthread_cond_wait(&e->cv, &e->mu);
    bool resigned = !e->lost;
    /* Lock-free (atomics and the clock), so allowed under the leaf mu. */
    redlock_status why = redlock_lease_status(lease);
    if (resigned)
        why = REDLOCK_OK;
    else if (why == REDLOCK_OK)
        why = REDLOCK_ELOST;
    atomic_store_explicit(&e->leader, false, memory_order_release);
    if (begin) {
        /* Announced before the release below, which can take up to
         * command_timeout_ms, and before on_demoted. */
        e->last_demotion = why;
        note_change_locked(e);
    }
    pthread_mutex_unlock(&e->mu);

    /* Releases the lock on all nodes (a no-op where it is already gone). */
    redlock_lease_stop(lease, NULL);
    atomic_store_explicit(&e->valid_until, 0, memory_order_release);
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
    if (!redlock__election_keys_ok(m, name, name_len))
        return REDLOCK_ECROSSSLOT;
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
    atomic_init(&e->efd, -1);
    e->last_demotion = REDLOCK_OK;
    pthread_mutex_init(&e->mu, NULL);
    redlock__cond_init(&e->cv);
    redlock__manager_ref(m);
    /* Signals go to application threads, not to ours. */
    int rc = redlock__thread_start(&e->thread, NULL, election_main, e);
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

/* The election's eventfd, made on the first call. */
int redlock_election_fd(redlock_election *e)
{
    if (!election_ok(e)) {
        errno = EINVAL;
        return -1;
    }
    /* acquire: pairs with the release store below, so a caller that sees
     * the fd sees it fully made. */
    int fd = atomic_load_explicit(&e->efd, memory_order_acquire);
    if (fd >= 0)
        return fd;
    int err = 0;
    pthread_mutex_lock(&e->mu);
    fd = atomic_load_explicit(&e->efd, memory_order_relaxed);
    if (fd < 0) {
        fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) {
            err = errno;
        } else {
            /* A change no state_get has returned: readable from the
             * start. Under mu, so no change can slip in between. */
            if (e->changes != e->reported) {
                uint64_t one = 1;
                ssize_t w = write(fd, &one, sizeof(one));
                (void)w;
            }
            atomic_store_explicit(&e->efd, fd, memory_order_release);
        }
    }
    pthread_mutex_unlock(&e->mu);
    if (fd < 0)
        errno = err;
    return fd;
}

/* Drain the fd and copy the state, in one critical section. */
redlock_status redlock_election_state_get(redlock_election *e,
                                          redlock_election_state *out)
{
    if (e == NULL || out == NULL)
        return REDLOCK_EINVAL;
    if (!election_ok(e))
        return REDLOCK_EMISUSE;
    pthread_mutex_lock(&e->mu);
    int fd = atomic_load_explicit(&e->efd, memory_order_relaxed);
    if (fd >= 0) {
        uint64_t count;
        /* Non-blocking: EAGAIN when already drained. */
        ssize_t r = read(fd, &count, sizeof(count));
        (void)r;
    }
    /* The same two reads as redlock_election_is_leader(), with one clock
     * reading for the flag and the validity left. */
    bool leader = atomic_load_explicit(&e->leader, memory_order_acquire);
    uint64_t until =
        atomic_load_explicit(&e->valid_until, memory_order_acquire);
    uint64_t now = redlock__clock_now_us();
    leader = leader && now < until;
    out->is_leader = leader ? 1 : 0;
    out->fence = leader ? e->fence : 0;
    out->changes = e->changes;
    out->last_demotion = e->last_demotion;
    /* Rounded down: never more validity than is left. */
    out->validity_ms = leader ? (int64_t)((until - now) / 1000u) : 0;
    e->reported = e->changes;
    pthread_mutex_unlock(&e->mu);
    return REDLOCK_OK;
}

/* Resign and free. */
void redlock_election_destroy(redlock_election *e)
{
    if (!election_ok(e))
        return;
    if (redlock_election_resign(e) != REDLOCK_OK)
        return; /* from its own callback: refused */
    redlock_manager *m = e->m;
    int fd = atomic_load_explicit(&e->efd, memory_order_acquire);
    if (fd >= 0)
        close(fd);
    e->magic = REDLOCK__DEAD_MAGIC;
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e->resource);
    free(e);
    redlock__manager_unref(m);
}
