/*
 * wake.c: the manager's registry of waiters, for pub/sub wake-ups.
 *
 * DESIGN (docs/design.md, "How waiters are woken")
 * An acquire that found its resource taken registers its keys here
 * (lock.c). The first waiter of a key asks every node's subscriber
 * connection for the key's wake channel (redlock__node_sub_want(); the
 * node's worker subscribes, subscribe.c); the last one to leave asks
 * them to unsubscribe. Each key has one entry: how many waiters hold it,
 * which nodes confirmed its subscription (a bit per node), and how many
 * messages arrived for it (seq). The workers report through the node
 * env's sub_event hook (manager.c), which lands in redlock__wakes_event().
 *
 * A message is a *grant*: one waiter of the key may try again now. A
 * message gives the key a grant (at most one waiting) and wakes one
 * sleeping waiter of the key (its entry's condition variable), unless it
 * is another node's copy of a release already granted (each node
 * announces a release once: a message from a node not heard since the
 * last grant is a copy; from one already heard, a new release), or a
 * waiter woken by an earlier grant is still trying. A waiter
 * that finds a grant, when it goes to wait or when woken, takes it and
 * tries at once; when it comes back to wait (it lost) or leaves, the key
 * takes grants again. So a release that lands while a waiter's attempt is
 * in flight is not missed (the grant waits for it, unless a sleeper took
 * it and tries instead), and a release wakes one waiter, not the herd:
 * with 16 threads on one key, waking them all made every release cost 15
 * failed attempts (and their undos), and waking one per node's copy made
 * the woken ones split the nodes between them, so that none won. The
 * acquire decides who wins. Messages carry no token and decide nothing.
 *
 * One mutex (wakes->mu) for the manager; a condition variable per entry
 * for the waiters of one key, and the manager's for confirmations,
 * destroy, and waiters of several keys (a multi-resource acquire sleeps
 * there, and any message of its keys broadcasts it). The entries are a
 * linked list, searched linearly; a hash is the next step if many keys
 * are waited on at once.
 *
 * Lock order (internal.h): wakes->mu is taken before a node subscriber's
 * mutex (register / unregister ask the nodes while holding it); the
 * workers call redlock__wakes_event() without the subscriber's mutex.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "manager.h"
#include "node.h"
#include "subscribe.h"

/* One key with waiters. */
typedef struct redlock__wake_entry {
    struct redlock__wake_entry *next;
    size_t waiters;
    uint64_t seq;       /* messages received */
    uint64_t grants;    /* 0 or 1: a message not yet taken by a waiter */
    bool trying;        /* a waiter took a grant and is trying: further
                           messages (the other nodes' copies of the same
                           release) give no new grant until it is back */
    size_t sleepers;    /* single-key waiters asleep on cv */
    uint64_t heard;     /* bit i: node i announced the latest release */
    bool held_back;     /* a message came while a waiter was trying: if
                           that one loses, it is a grant after all */
    pthread_cond_t cv;  /* the single-key waiters of this key */
    uint64_t confirmed; /* bit i: node i confirmed the subscription */
    uint64_t asked;     /* bit i: node i accepted the request */
    size_t len;
    char key[];
} redlock__wake_entry;

struct redlock__wakes {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool closing;
    size_t multi_sleepers; /* multi-key waiters asleep on cv */
    redlock__wake_entry *head;
    uint64_t entries;
    redlock__wake_stats stats; /* under mu */
};

struct redlock__wakes *redlock__wakes_new(void)
{
    struct redlock__wakes *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        free(w);
        return NULL;
    }
    if (redlock__cond_init(&w->cv) != 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

void redlock__wakes_free(struct redlock__wakes *w)
{
    if (w == NULL)
        return;
    while (w->head != NULL) { /* none left by correct callers */
        redlock__wake_entry *e = w->head;
        w->head = e->next;
        pthread_cond_destroy(&e->cv);
        free(e);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* Destroy began: every wait ends. */
void redlock__wakes_close(struct redlock__wakes *w)
{
    pthread_mutex_lock(&w->mu);
    w->closing = true;
    pthread_cond_broadcast(&w->cv);
    for (redlock__wake_entry *e = w->head; e != NULL; e = e->next)
        pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&w->mu);
}

/* The entry of key, or NULL (mu held). */
static redlock__wake_entry *find(struct redlock__wakes *w, const char *key,
                                 size_t len)
{
    for (redlock__wake_entry *e = w->head; e != NULL; e = e->next)
        if (e->len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

/* Drop one waiter of e; the last asks the nodes to unsubscribe and frees
 * it (mu held). */
static void entry_leave(struct redlock_manager *m, redlock__wake_entry *e)
{
    struct redlock__wakes *w = m->wakes;
    if (--e->waiters > 0)
        return;
    for (size_t i = 0; i < m->n; i++)
        if ((e->asked >> i & 1u) != 0)
            (void)redlock__node_sub_want(m->nodes[i], e->key, e->len, false);
    for (redlock__wake_entry **p = &w->head; *p != NULL; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            break;
        }
    w->entries--;
    pthread_cond_destroy(&e->cv); /* no sleeper: it had no waiter left */
    free(e);
}

/* Join key's entry, creating it (and asking every node) for its first
 * waiter. NULL if no node took it (mu held). */
static redlock__wake_entry *entry_join(struct redlock_manager *m,
                                       const char *key, size_t len)
{
    struct redlock__wakes *w = m->wakes;
    redlock__wake_entry *e = find(w, key, len);
    if (e != NULL) {
        e->waiters++;
        return e;
    }
    e = calloc(1, sizeof(*e) + len);
    if (e == NULL)
        return NULL;
    if (redlock__cond_init(&e->cv) != 0) {
        free(e);
        return NULL;
    }
    memcpy(e->key, key, len);
    e->len = len;
    e->waiters = 1;
    for (size_t i = 0; i < m->n; i++) {
        int st = redlock__node_sub_want(m->nodes[i], key, len, true);
        if (st != REDLOCK__SUB_REFUSED)
            e->asked |= (uint64_t)1 << i;
        if (st == REDLOCK__SUB_ACTIVE)
            e->confirmed |= (uint64_t)1 << i;
    }
    if (e->asked == 0) {
        pthread_cond_destroy(&e->cv);
        free(e);
        return NULL;
    }
    e->next = w->head;
    w->head = e;
    w->entries++;
    return e;
}

/* Take a grant of one of w's keys, if any: w is then the key's waiter
 * trying (mu held). */
static bool take_grant(redlock__waiter *w)
{
    for (size_t i = 0; i < w->count; i++)
        if (w->e[i]->grants > 0) {
            w->e[i]->grants--;
            w->e[i]->trying = true;
            w->trying = w->e[i];
            return true;
        }
    return false;
}

/* w is back from the attempt a grant woke it for (mu held): its key takes
 * grants again. */
static void done_trying(redlock__waiter *w, bool lost)
{
    if (w->trying != NULL) {
        w->trying->trying = false;
        /* It lost: perhaps the release had reached only the node that
         * announced first. The other nodes' copies, as they come, are
         * grants again. (It won or left: they would only wake a waiter
         * to find the key held.) */
        if (lost) {
            w->trying->heard = 0;
            /* A copy that came while it tried (and gave no grant then)
             * may be the only news of a release it lost to no one: the
             * key had not yet been deleted on the nodes it needed. */
            if (w->trying->held_back)
                w->trying->grants = 1;
        }
        w->trying->held_back = false;
        w->trying = NULL;
    }
}

/* True if every key of w is confirmed by a node (mu held). */
static bool all_confirmed(const redlock__waiter *w)
{
    for (size_t i = 0; i < w->count; i++)
        if (w->e[i]->confirmed == 0)
            return false;
    return true;
}

bool redlock__wake_register(struct redlock_manager *m, char *const *keys,
                            const size_t *lens, size_t count,
                            redlock__waiter *w)
{
    struct redlock__wakes *r = m->wakes;
    bool ok = true;
    w->count = 0;
    w->trying = NULL;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < count && ok; i++) {
        redlock__wake_entry *e = entry_join(m, keys[i], lens[i]);
        if (e == NULL)
            ok = false;
        else
            w->e[w->count++] = e;
    }
    if (!ok) {
        while (w->count > 0)
            entry_leave(m, w->e[--w->count]);
    }
    w->preconfirmed = ok && all_confirmed(w);
    pthread_mutex_unlock(&r->mu);
    w->registered = ok;
    return ok;
}

void redlock__wake_unregister(struct redlock_manager *m, redlock__waiter *w)
{
    if (!w->registered)
        return;
    pthread_mutex_lock(&m->wakes->mu);
    done_trying(w, false);
    while (w->count > 0)
        entry_leave(m, w->e[--w->count]);
    pthread_mutex_unlock(&m->wakes->mu);
    w->registered = false;
}


bool redlock__wake_await_confirmed(struct redlock_manager *m,
                                   redlock__waiter *w, uint64_t until_us)
{
    struct redlock__wakes *r = m->wakes;
    pthread_mutex_lock(&r->mu);
    bool ok;
    for (;;) {
        ok = all_confirmed(w);
        uint64_t now = redlock__clock_now_us();
        if (ok || r->closing || now >= until_us)
            break;
        redlock__cond_wait_us(&r->cv, &r->mu, until_us - now);
    }
    if (ok)
        r->stats.confirmed++;
    else if (!r->closing)
        r->stats.confirm_timeouts++;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

uint64_t redlock__wake_seq(struct redlock_manager *m,
                           const redlock__waiter *w)
{
    uint64_t sum = 0;
    pthread_mutex_lock(&m->wakes->mu);
    for (size_t i = 0; i < w->count; i++)
        sum += w->e[i]->seq;
    pthread_mutex_unlock(&m->wakes->mu);
    return sum;
}

redlock__wake_how redlock__wake_wait(struct redlock_manager *m,
                                     redlock__waiter *w, uint64_t until_us)
{
    struct redlock__wakes *r = m->wakes;
    redlock__wake_how how;
    pthread_mutex_lock(&r->mu);
    r->stats.waits++;
    done_trying(w, true); /* its attempt lost */
    for (;;) {
        uint64_t now = redlock__clock_now_us();
        if (r->closing) {
            how = REDLOCK__WAKE_CLOSED;
            break;
        }
        if (take_grant(w)) {
            how = REDLOCK__WAKE_MESSAGE;
            r->stats.by_message++;
            break;
        }
        if (now >= until_us) {
            how = REDLOCK__WAKE_TIMER;
            r->stats.by_timer++;
            break;
        }
        if (w->count == 1) { /* on its key's own condition variable */
            redlock__wake_entry *e = w->e[0];
            e->sleepers++;
            redlock__cond_wait_us(&e->cv, &r->mu, until_us - now);
            e->sleepers--;
        } else {
            r->multi_sleepers++;
            redlock__cond_wait_us(&r->cv, &r->mu, until_us - now);
            r->multi_sleepers--;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return how;
}

void redlock__wake_get_stats(struct redlock_manager *m,
                             redlock__wake_stats *out)
{
    pthread_mutex_lock(&m->wakes->mu);
    *out = m->wakes->stats;
    out->entries = m->wakes->entries;
    pthread_mutex_unlock(&m->wakes->mu);
}

/* A worker's report (node env's sub_event), on its thread. */
void redlock__wakes_event(struct redlock_manager *m, size_t idx, int ev,
                          const char *key, size_t len)
{
    struct redlock__wakes *r = m->wakes;
    uint64_t bit = (uint64_t)1 << idx;
    pthread_mutex_lock(&r->mu);
    if (ev == REDLOCK__SUB_RESET) {
        for (redlock__wake_entry *e = r->head; e != NULL; e = e->next)
            e->confirmed &= ~bit;
    } else {
        redlock__wake_entry *e = find(r, key, len);
        if (e != NULL && ev == REDLOCK__SUB_CONFIRMED) {
            e->confirmed |= bit;
            pthread_cond_broadcast(&r->cv);
        } else if (e != NULL && ev == REDLOCK__SUB_MESSAGE) {
            e->seq++;
            /* Each node announces a release once: a message from a node
             * not yet heard since the last release is another copy of
             * it; one from a node already heard is a new release. */
            bool fresh = e->heard == 0 || (e->heard & bit) != 0;
            if (fresh)
                e->heard = 0;
            e->heard |= bit;
            if (e->trying)
                e->held_back = true;
            if (fresh && !e->trying && e->grants == 0) {
                e->grants = 1;
                if (e->sleepers > 0)
                    pthread_cond_signal(&e->cv); /* one waiter */
                if (r->multi_sleepers > 0)
                    pthread_cond_broadcast(&r->cv);
            }
        }
    }
    pthread_mutex_unlock(&r->mu);
}
