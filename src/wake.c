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
 * A waiter marks the entries' message count before each attempt and,
 * after a failed one, waits on the registry's condition variable until
 * the count moved, its retry delay ran out, or destroy began. So a
 * release that lands while the attempt is in flight still ends the
 * wait at once: nothing between "try" and "wait" can be missed. Every
 * message wakes every waiter of the key; they race, and the acquire
 * decides who wins. Messages carry no token and decide nothing.
 *
 * One mutex (wakes->mu) and one condition variable for the manager:
 * a message wakes every waiter of the manager, and those of other keys
 * go back to sleep. Rejected: a condition variable per entry (more code
 * for a cost paid only by managers with many waiters on many keys at
 * once). The entries are a linked list, searched linearly, for the same
 * reason; a hash is the next step if many keys are waited on at once.
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
    uint64_t confirmed; /* bit i: node i confirmed the subscription */
    uint64_t asked;     /* bit i: node i accepted the request */
    size_t len;
    char key[];
} redlock__wake_entry;

struct redlock__wakes {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool closing;
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
        free(e);
        return NULL;
    }
    e->next = w->head;
    w->head = e;
    w->entries++;
    return e;
}

bool redlock__wake_register(struct redlock_manager *m, char *const *keys,
                            const size_t *lens, size_t count,
                            redlock__waiter *w)
{
    struct redlock__wakes *r = m->wakes;
    bool ok = true;
    w->count = 0;
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
    pthread_mutex_unlock(&r->mu);
    w->registered = ok;
    return ok;
}

void redlock__wake_unregister(struct redlock_manager *m, redlock__waiter *w)
{
    if (!w->registered)
        return;
    pthread_mutex_lock(&m->wakes->mu);
    while (w->count > 0)
        entry_leave(m, w->e[--w->count]);
    pthread_mutex_unlock(&m->wakes->mu);
    w->registered = false;
}

/* True if every key of w is confirmed by a node (mu held). */
static bool all_confirmed(const redlock__waiter *w)
{
    for (size_t i = 0; i < w->count; i++)
        if (w->e[i]->confirmed == 0)
            return false;
    return true;
}

/* Sum of the entries' message counts (mu held). */
static uint64_t seq_sum(const redlock__waiter *w)
{
    uint64_t s = 0;
    for (size_t i = 0; i < w->count; i++)
        s += w->e[i]->seq;
    return s;
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

void redlock__wake_mark(struct redlock_manager *m, redlock__waiter *w)
{
    pthread_mutex_lock(&m->wakes->mu);
    w->seen = seq_sum(w);
    pthread_mutex_unlock(&m->wakes->mu);
}

redlock__wake_how redlock__wake_wait(struct redlock_manager *m,
                                     redlock__waiter *w, uint64_t until_us)
{
    struct redlock__wakes *r = m->wakes;
    redlock__wake_how how;
    pthread_mutex_lock(&r->mu);
    r->stats.waits++;
    for (;;) {
        uint64_t now = redlock__clock_now_us();
        if (r->closing) {
            how = REDLOCK__WAKE_CLOSED;
            break;
        }
        if (seq_sum(w) != w->seen) {
            how = REDLOCK__WAKE_MESSAGE;
            r->stats.by_message++;
            break;
        }
        if (now >= until_us) {
            how = REDLOCK__WAKE_TIMER;
            r->stats.by_timer++;
            break;
        }
        redlock__cond_wait_us(&r->cv, &r->mu, until_us - now);
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
            pthread_cond_broadcast(&r->cv);
        }
    }
    pthread_mutex_unlock(&r->mu);
}
