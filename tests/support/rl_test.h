/*
 * rl_test.h: helpers shared by the integration tests: a cluster of spawned
 * redis-servers with a manager on top, options tuned for tests, and a
 * recorder of node events that tests can wait on (a condition with a
 * deadline, never a fixed sleep).
 */
#ifndef REDLOCK_RL_TEST_H
#define REDLOCK_RL_TEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_spawn.h"
#include "redlock.h"

#define RL_MAX_NODES 7

/* Node events seen through node_error_fn. */
typedef struct rl_events {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
    int down[RL_MAX_NODES];   /* events with st != OK, per node */
    int up[RL_MAX_NODES];     /* events with st == OK, per node */
    redlock_status last_status[RL_MAX_NODES];
    char last_message[RL_MAX_NODES][200];
    char node_names[RL_MAX_NODES][64];
    size_t n;
} rl_events;

/* A test cluster: servers, their URIs, a manager, and its events. */
typedef struct rl_cluster {
    size_t n;
    rs_server srv[RL_MAX_NODES];
    const char *uris[RL_MAX_NODES];
    redlock_manager *m;
    rl_events ev;
} rl_cluster;

/* Options for tests: fast retries, modest timeouts, node events recorded
 * into ev. */
void rl_test_options(redlock_options *o, rl_events *ev);

/* Start n servers and a manager on them with rl_test_options() (then
 * `tweak` may change options before create, if not NULL). Returns 0. */
int rl_cluster_start(rl_cluster *c, size_t n,
                     void (*tweak)(redlock_options *o));

/* Create (another) manager on c's servers with test options; its events go
 * to ev (may be NULL). */
redlock_manager *rl_manager_new(rl_cluster *c, rl_events *ev);

/* A manager on the given node URIs (any kind: plain, cluster, sentinel)
 * with rl_test_options() and restart_guard_ms = guard_ms; NULL (with the
 * reason on stderr) if create failed. */
redlock_manager *rl_manager_on(const char *const *uris, size_t n,
                               uint32_t guard_ms);

/* One acquire attempt (no retry) at the NUL-terminated resource, with
 * its per-node answers in *info. */
redlock_status rl_try_once(redlock_manager *m, const char *res,
                           uint32_t ttl_ms, redlock_acquire_info *info,
                           redlock_lock **out);

/* Try acquires on m (n nodes) until one node answers REDLOCK_EDUPNODE or
 * timeout_ms passed; returns that node's index, or -1. */
int rl_await_dup(redlock_manager *m, size_t n, int timeout_ms);

/* Destroy the manager (if any) and stop every server. */
void rl_cluster_stop(rl_cluster *c);

/* Initialise / destroy an event recorder for the nodes of c. */
void rl_events_init(rl_events *ev, const rl_cluster *c);
void rl_events_destroy(rl_events *ev);

/* Wait until node i has reported at least `count` down (or up) events,
 * or timeout_ms passed. Returns true if it happened. */
bool rl_wait_down(rl_events *ev, size_t i, int count, int timeout_ms);
bool rl_wait_up(rl_events *ev, size_t i, int count, int timeout_ms);

/* Wait until node i has gone down with status st or st2 and a message
 * containing what, or timeout_ms passed; returns whether it did. Down
 * events come once per change of reason, so earlier reasons (a timeout
 * on a loaded machine) are skipped over. The last reason seen is left
 * in *got and seen ("(no down event)" if none). */
bool rl_wait_down_reason(rl_events *ev, size_t i, redlock_status st,
                         redlock_status st2, const char *what,
                         int timeout_ms, redlock_status *got, char *seen,
                         size_t seen_len);

/* Total keys across all servers (DBSIZE summed; -1 on error). */
long long rl_total_keys(rl_cluster *c);

/* PTTL of key on server i: ms left, -1 no TTL, -2 no key, -3 on error. */
long long rl_pttl(rl_cluster *c, size_t i, const char *key);

/* Wait until the servers hold exactly `want` keys in total, or
 * timeout_ms passed. Returns whether they do. */
bool rl_await_keys(rl_cluster *c, long long want, int timeout_ms);

/* Wait until server s holds exactly `want` keys (DBSIZE); false after
 * timeout_ms. */
bool rl_await_dbsize(const rs_server *s, long long want, int timeout_ms);

/* Keys the servers have expired so far (INFO stats expired_keys summed;
 * -1 on error). A key removed by DEL does not count, so a test can tell a
 * release from a TTL running out: read it before the release, await the
 * keys' removal, and check that it has not moved. */
long long rl_expired_keys(rl_cluster *c);

/* GET key on server i into out ("(nil)" if missing); key is a C string. */
int rl_get(rl_cluster *c, size_t i, const char *key, char *out, size_t len);

/* SET key value on server i, with PX ttl_ms if ttl_ms > 0. */
int rl_set(rl_cluster *c, size_t i, const char *key, const char *value,
           int ttl_ms);

/* Poll `cond(arg)` every millisecond until true or timeout_ms; returns its
 * last value. For awaiting state on servers, which offer no notification. */
bool rl_await(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* Open fds / threads of this process (entries of /proc/self/fd, task),
 * to check that nothing leaked. -1 on error. */
int rl_count_fds(void);
int rl_count_threads(void);

/* Wait until the process has at most want threads or timeout_ms passed;
 * returns the last count. A thread joined with pthread_join() can stay
 * listed in /proc/self/task for a moment after the join returns (the
 * kernel wakes the joiner before it removes the task), so "no thread
 * left behind" is awaited, not read once. */
int rl_await_threads(int want, int timeout_ms);

/* Wait until the process has exactly want open fds or timeout_ms passed;
 * returns the last count. Another manager of the test (the fixture's)
 * may be reconnecting at the moment of a single read, so "nothing left
 * open" is awaited: a leak never settles back. */
int rl_await_fds(int want, int timeout_ms);

/* Microseconds on the library's clock. */
uint64_t rl_now_us(void);

#endif /* REDLOCK_RL_TEST_H */
