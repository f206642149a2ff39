/*
 * rl_test.c: shared integration-test helpers (see rl_test.h).
 */
#define _GNU_SOURCE
#include "rl_test.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Record a node event and wake waiters. Runs on a worker thread. */
static void on_node_event(const char *node, redlock_status st,
                          const char *message, void *userdata)
{
    rl_events *ev = userdata;
    pthread_mutex_lock(&ev->mu);
    for (size_t i = 0; i < ev->n; i++) {
        if (strcmp(ev->node_names[i], node) != 0)
            continue;
        if (st == REDLOCK_OK)
            ev->up[i]++;
        else
            ev->down[i]++;
        ev->last_status[i] = st;
        snprintf(ev->last_message[i], sizeof(ev->last_message[i]), "%s",
                 message);
    }
    ev->count++;
    pthread_cond_broadcast(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
}

/* Test options: quick retries and timeouts that still tolerate a loaded
 * machine under sanitizers. */
void rl_test_options(redlock_options *o, rl_events *ev)
{
    redlock_options_init(o);
    o->retry_count = 3;
    o->retry_delay_ms = 20;
    o->retry_jitter_ms = 10;
    o->command_timeout_ms = 2000;
    o->connect_timeout_ms = 2000;
    o->reconnect_min_ms = 10;
    o->reconnect_max_ms = 200;
    if (ev != NULL) {
        o->node_error_fn = on_node_event;
        o->node_error_userdata = ev;
    }
}

/* Start the event recorder for c's nodes. */
void rl_events_init(rl_events *ev, const rl_cluster *c)
{
    memset(ev, 0, sizeof(*ev));
    pthread_mutex_init(&ev->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->cv, &a);
    pthread_condattr_destroy(&a);
    ev->n = c->n;
    for (size_t i = 0; i < c->n; i++)
        snprintf(ev->node_names[i], sizeof(ev->node_names[i]),
                 "127.0.0.1:%d", c->srv[i].port);
}

/* Free the recorder. */
void rl_events_destroy(rl_events *ev)
{
    pthread_cond_destroy(&ev->cv);
    pthread_mutex_destroy(&ev->mu);
}

/* Wait for a per-node counter to reach count. */
static bool wait_counter(rl_events *ev, const int *counter, int count,
                         int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ev->mu);
    int rc = 0;
    while (*counter < count && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&ev->cv, &ev->mu, &until);
    bool ok = *counter >= count;
    pthread_mutex_unlock(&ev->mu);
    return ok;
}

/* Wait for node i's down events to reach count. */
bool rl_wait_down(rl_events *ev, size_t i, int count, int timeout_ms)
{
    return wait_counter(ev, &ev->down[i], count, timeout_ms);
}

/* Wait for node i's up events to reach count. */
bool rl_wait_up(rl_events *ev, size_t i, int count, int timeout_ms)
{
    return wait_counter(ev, &ev->up[i], count, timeout_ms);
}

/* A manager on c's servers with test options. */
redlock_manager *rl_manager_new(rl_cluster *c, rl_events *ev)
{
    redlock_options o;
    rl_test_options(&o, ev);
    redlock_manager *m = NULL;
    char err[256];
    redlock_status st =
        redlock_manager_create_ex(c->uris, c->n, &o, &m, err, sizeof(err));
    if (st != REDLOCK_OK)
        fprintf(stderr, "manager_create: %s: %s\n", redlock_strerror(st),
                err);
    return m;
}

/* Start n servers and a manager. */
int rl_cluster_start(rl_cluster *c, size_t n,
                     void (*tweak)(redlock_options *o))
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    if (rs_start_many(c->srv, n) != 0)
        return -1;
    rs_uris(c->srv, n, c->uris);
    rl_events_init(&c->ev, c);
    redlock_options o;
    rl_test_options(&o, &c->ev);
    if (tweak != NULL)
        tweak(&o);
    char err[256];
    redlock_status st =
        redlock_manager_create_ex(c->uris, n, &o, &c->m, err, sizeof(err));
    if (st != REDLOCK_OK) {
        fprintf(stderr, "manager_create: %s: %s\n", redlock_strerror(st),
                err);
        rs_stop_many(c->srv, n);
        rl_events_destroy(&c->ev);
        return -1;
    }
    return 0;
}

/* Destroy the manager and stop the servers. */
void rl_cluster_stop(rl_cluster *c)
{
    redlock_manager_destroy(c->m);
    c->m = NULL;
    rs_stop_many(c->srv, c->n);
    rl_events_destroy(&c->ev);
}

/* Sum of DBSIZE over the servers. */
long long rl_total_keys(rl_cluster *c)
{
    long long total = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->srv[i].pid == 0)
            continue;
        long long k = rs_dbsize(&c->srv[i]);
        if (k < 0)
            return -1;
        total += k;
    }
    return total;
}

/* Sum of INFO stats expired_keys over the servers. */
long long rl_expired_keys(rl_cluster *c)
{
    long long total = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->srv[i].pid == 0)
            continue;
        char out[8192];
        const char *argv[2] = {"INFO", "stats"};
        if (rs_command(&c->srv[i], out, sizeof(out), 2, argv) != 0)
            return -1;
        const char *p = strstr(out, "\nexpired_keys:");
        if (p == NULL)
            return -1;
        total += strtoll(p + 14, NULL, 10);
    }
    return total;
}

/* GET on server i. */
int rl_get(rl_cluster *c, size_t i, const char *key, char *out, size_t len)
{
    const char *argv[2] = {"GET", key};
    return rs_command(&c->srv[i], out, len, 2, argv);
}

/* SET on server i. */
int rl_set(rl_cluster *c, size_t i, const char *key, const char *value,
           int ttl_ms)
{
    char out[64], ttl[16];
    snprintf(ttl, sizeof(ttl), "%d", ttl_ms);
    const char *argv[5] = {"SET", key, value, "PX", ttl};
    return rs_command(&c->srv[i], out, sizeof(out), ttl_ms > 0 ? 5 : 3,
                      argv);
}

/* Poll a condition with a deadline. */
bool rl_await(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    uint64_t until = rl_now_us() + (uint64_t)timeout_ms * 1000u;
    for (;;) {
        if (cond(arg))
            return true;
        if (rl_now_us() >= until)
            return cond(arg);
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* The library's clock. */
uint64_t rl_now_us(void)
{
    return redlock_clock_us();
}

/* Argument of keys_equal(). */
typedef struct key_count {
    rl_cluster *c;
    long long want;
} key_count;

/* Condition: the servers hold exactly `want` keys. */
static bool keys_equal(void *arg)
{
    key_count *k = arg;
    return rl_total_keys(k->c) == k->want;
}

/* Wait for the servers' total key count to reach want. */
bool rl_await_keys(rl_cluster *c, long long want, int timeout_ms)
{
    key_count k = {c, want};
    return rl_await(keys_equal, &k, timeout_ms);
}

/* Argument of dbsize_equal(). */
typedef struct dbsize_wait {
    const rs_server *s;
    long long want;
} dbsize_wait;

/* Condition: the server holds exactly `want` keys. */
static bool dbsize_equal(void *arg)
{
    dbsize_wait *w = arg;
    return rs_dbsize(w->s) == w->want;
}

bool rl_await_dbsize(const rs_server *s, long long want, int timeout_ms)
{
    dbsize_wait w = {s, want};
    return rl_await(dbsize_equal, &w, timeout_ms);
}

/* Count the entries of a /proc directory. */
static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Open fds of this process, not counting the one used to count. */
int rl_count_fds(void)
{
    int n = count_dir("/proc/self/fd");
    return n < 0 ? n : n - 1; /* opendir's own fd */
}

/* Threads of this process. */
bool rl_wait_down_reason(rl_events *ev, size_t i, redlock_status st,
                         redlock_status st2, const char *what,
                         int timeout_ms, redlock_status *got, char *seen,
                         size_t seen_len)
{
    uint64_t end = rl_now_us() + (uint64_t)timeout_ms * 1000u;
    *got = REDLOCK_OK;
    snprintf(seen, seen_len, "(no down event)");
    for (int k = 1;; k++) {
        uint64_t now = rl_now_us();
        if (now >= end ||
            !rl_wait_down(ev, i, k, (int)((end - now) / 1000u)))
            return false;
        pthread_mutex_lock(&ev->mu);
        *got = ev->last_status[i];
        snprintf(seen, seen_len, "%s", ev->last_message[i]);
        pthread_mutex_unlock(&ev->mu);
        if ((*got == st || *got == st2) && strstr(seen, what) != NULL)
            return true;
    }
}

int rl_count_threads(void)
{
    return count_dir("/proc/self/task");
}

int rl_await_threads(int want, int timeout_ms)
{
    uint64_t end = rl_now_us() + (uint64_t)timeout_ms * 1000u;
    int n = rl_count_threads();
    while (n > want && rl_now_us() < end) {
        struct timespec ts = {0, 1000000}; /* 1 ms */
        nanosleep(&ts, NULL);
        n = rl_count_threads();
    }
    return n;
}

int rl_await_fds(int want, int timeout_ms)
{
    uint64_t end = rl_now_us() + (uint64_t)timeout_ms * 1000u;
    int n = rl_count_fds();
    while (n != want && rl_now_us() < end) {
        struct timespec ts = {0, 1000000}; /* 1 ms */
        nanosleep(&ts, NULL);
        n = rl_count_fds();
    }
    return n;
}

/* PTTL of key on server i (-3 when the server cannot be asked). */
long long rl_pttl(rl_cluster *c, size_t i, const char *key)
{
    char out[64];
    const char *argv[2] = {"PTTL", key};
    if (rs_command(&c->srv[i], out, sizeof(out), 2, argv) != 0)
        return -3;
    return strtoll(out, NULL, 10);
}

redlock_manager *rl_manager_on(const char *const *uris, size_t n,
                               uint32_t guard_ms)
{
    redlock_options o;
    rl_test_options(&o, NULL);
    o.restart_guard_ms = guard_ms;
    redlock_manager *m = NULL;
    char err[256] = "";
    redlock_status st =
        redlock_manager_create_ex(uris, n, &o, &m, err, sizeof(err));
    if (st != REDLOCK_OK) {
        fprintf(stderr, "manager_create: %s: %s\n", redlock_strerror(st),
                err);
        return NULL;
    }
    return m;
}

redlock_status rl_try_once(redlock_manager *m, const char *res,
                           uint32_t ttl_ms, redlock_acquire_info *info,
                           redlock_lock **out)
{
    redlock_acquire_opts ao;
    redlock_acquire_opts_init(&ao);
    ao.retry_count = 0;
    ao.info = info;
    return redlock_acquire_ex(m, res, strlen(res), ttl_ms, &ao, out);
}

/* What rl_await_dup polls. */
typedef struct dup_wait {
    redlock_manager *m;
    size_t n;
    int dup_node;
} dup_wait;

static bool dup_seen(void *arg)
{
    dup_wait *w = arg;
    redlock_acquire_info info;
    redlock_lock *lk = NULL;
    if (rl_try_once(w->m, "dup-probe", 1000, &info, &lk) == REDLOCK_OK)
        redlock_release(lk);
    for (size_t i = 0; i < w->n && i < REDLOCK_NODES_MAX; i++)
        if (info.node_status[i] == REDLOCK_EDUPNODE)
            w->dup_node = (int)i;
    return w->dup_node >= 0;
}

int rl_await_dup(redlock_manager *m, size_t n, int timeout_ms)
{
    dup_wait w = {m, n, -1};
    rl_await(dup_seen, &w, timeout_ms);
    return w.dup_node;
}
