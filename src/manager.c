/*
 * manager.c: creating and destroying a manager.
 *
 * THREADS AND OWNERSHIP (see also docs/design.md)
 *   application threads  call acquire/extend/release; each call builds an
 *                        op (op.c), posts it to every node and sleeps on
 *                        the op's condition variable until it is decided.
 *   one worker per node  owns that node's connection (node.c, conn.c); it
 *                        is the only thread that ever touches it.
 * The manager itself is read-only after create, except for `closing` and
 * the reference count. It is reference-counted: the creator, every live
 * lock and every call in progress hold a reference, so destroy can return
 * while callers still hold locks; their later calls answer
 * REDLOCK_ECLOSED, and the memory goes with the last reference.
 *
 * DESIGN: THE ASSEMBLY (docs/design.md section 21, "Tiers of src/")
 *   This file is the only one that knows every tier. It builds the
 *   transport (a node worker per node, given a redlock__node_env: the
 *   options, TLS settings and small hooks below, so node.c never names
 *   the manager), the lease subsystem (lease.h) and the TLS settings
 *   (conn.h), and hands the algorithms its nodes array for
 *   redlock__op_submit(). Calls go downwards only: algorithms -> op ->
 *   node -> conn, everything -> pure leaves. Rejected: node.c calling
 *   redlock__manager_set_run_id() and redlock__manager_guard_until_us()
 *   by name and reading m->opts (the manager <-> node <-> op include
 *   circle), and a global registry of managers for the workers to look
 *   up (hidden state, and a lock on every lookup).
 *
 * FORK: a child of fork() has none of the worker threads. It must not use
 * an inherited manager or lock at all (not even destroy: mutexes may be
 * held by threads that no longer exist); it creates its own manager if it
 * needs one. All our fds are close-on-exec, so exec() leaves nothing open.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "async.h"
#include "clock.h"
#include "conn.h"
#include "internal.h"
#include "lease.h"
#include "manager.h"
#include "node.h"
#include "options.h"
#include "quorum.h"
#include "scripts.h"
#include "token.h"
#include "uri.h"

/* The manager whose internal thread (worker, lease or election thread)
 * runs on this thread, or NULL: lets redlock_manager_destroy() refuse to
 * run from a callback, where it would join its own thread. */
static _Thread_local const struct redlock_manager *callback_thread_of;

/* Mark the calling thread as one of m's internal threads. */
void redlock__mark_callback_thread(const struct redlock_manager *m)
{
    callback_thread_of = m;
}

/* True when called on one of m's internal threads (inside a callback). */
bool redlock__on_worker_of(const struct redlock_manager *m)
{
    return callback_thread_of == m;
}

uint64_t redlock__manager_guard_left_key_us(struct redlock_manager *m,
                                            size_t i, const char *key,
                                            size_t len, uint64_t now)
{
    return redlock__node_guard_left_key_us(m->nodes[i], key, len, now);
}

/* ------------------------------------------------------------------------
 * The node workers' environment (redlock__node_env): how node.c reaches
 * the manager without naming it. Each hook is a thin adapter.
 * ------------------------------------------------------------------------ */

static void env_thread_start(void *ctx)
{
    redlock__mark_callback_thread(ctx);
}

static int env_set_run_id(void *ctx, size_t idx, const char *run_id)
{
    return redlock__manager_set_run_id(ctx, idx, run_id);
}

static uint64_t env_guard_until_us(void *ctx, uint64_t restart_us,
                                   uint64_t first_write_us,
                                   uint32_t *guard_ms)
{
    return redlock__manager_guard_until_us(ctx, restart_us, first_write_us,
                                           guard_ms);
}

static const char *env_node_name(void *ctx, size_t idx)
{
    const struct redlock_manager *m = ctx;
    return redlock__node_name(m->nodes[idx]);
}

/* Under dup_mu, as every access to run_ids. */
static void env_run_id_of(void *ctx, size_t idx, char out[41])
{
    struct redlock_manager *m = ctx;
    pthread_mutex_lock(&m->dup_mu);
    snprintf(out, 41, "%s", m->run_ids[idx]);
    pthread_mutex_unlock(&m->dup_mu);
}

/* pub/sub: a node's subscriber event, into the waiters' registry. */
static void env_sub_event(void *ctx, size_t idx, int ev, const char *key,
                          size_t len)
{
    redlock__wakes_event(ctx, idx, ev, key, len);
}

/* Write a message into the caller's optional error buffer. */
static void set_err(char *buf, size_t len, const char *msg)
{
    if (buf != NULL && len > 0)
        snprintf(buf, len, "%s", msg);
}

/* Free a manager's memory: stopped nodes, prefix, the struct. */
static void manager_free(struct redlock_manager *m)
{
    if (m->leases != NULL)
        redlock__leases_free(m->leases);
    pthread_cond_destroy(&m->close_cv);
    pthread_mutex_destroy(&m->close_mu);
    pthread_mutex_destroy(&m->dup_mu);
    free(m->run_ids);
    free(m->dup_of);
    for (size_t i = 0; i < m->n; i++)
        redlock__node_free(m->nodes[i]);
    free(m->nodes);
    /* After the nodes: no op hook (which wakes the engine) can run. */
    redlock__async_free(m->async);
    if (m->wakers != NULL) {
        redlock__wakers_clear(m->wakers);
        free(m->wakers);
    }
    redlock__wakes_free(m->wakes); /* after the workers that report */
    redlock__tls_free(m->tls);
    free(m->prefix);
    free(m->owner);
    m->magic = REDLOCK__DEAD_MAGIC;
    free(m);
}

/* Take a reference. */
void redlock__manager_ref(struct redlock_manager *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

/* Drop a reference; the last one frees the manager. */
void redlock__manager_unref(struct redlock_manager *m)
{
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        manager_free(m);
}

/* Stop every started worker. */
static void stop_nodes(struct redlock_manager *m, uint64_t deadline_us)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->nodes[i] != NULL)
            redlock__node_stop(m->nodes[i], deadline_us);
}

/* Build the manager's TLS settings when a node is rediss:// or a TLS
 * file is given (so a bad file is reported even before the URIs use
 * it): files are read once here, not per connection. Skipping
 * verification is logged loudly. */
static redlock_status manager_tls(struct redlock_manager *m,
                                  const redlock__uri *parsed, size_t n,
                                  char *err, size_t errlen)
{
    const redlock_options *o = &m->opts;
    size_t tls_nodes = 0;
    for (size_t i = 0; i < n; i++)
        tls_nodes += parsed[i].tls ? 1u : 0u;
    if (tls_nodes == 0 && o->tls_ca_file == NULL && o->tls_ca_dir == NULL &&
        o->tls_cert_file == NULL && o->tls_key_file == NULL)
        return REDLOCK_OK;
    redlock_status st = redlock__tls_new(o, &m->tls, err, errlen);
    if (st != REDLOCK_OK)
        return st;
    if (tls_nodes > 0 && o->tls_insecure_skip_verify)
        redlock__log(m, REDLOCK_LOG_WARN,
                     "TLS certificate and host name verification is OFF "
                     "(tls_insecure_skip_verify): anyone on the network "
                     "path can read and forge lock traffic; use this for "
                     "test setups only");
    return REDLOCK_OK;
}

/* Create a manager; see redlock.h. */
redlock_status redlock_manager_create_ex(const char *const *uris, size_t n,
                                         const redlock_options *opts,
                                         redlock_manager **out, char *err_buf,
                                         size_t err_buf_len)
{
    char err[256] = "";
    if (out == NULL) {
        set_err(err_buf, err_buf_len, "out must not be NULL");
        return REDLOCK_EINVAL;
    }
    *out = NULL;
    if (uris == NULL || n == 0) {
        set_err(err_buf, err_buf_len, "no nodes given");
        return REDLOCK_ENONODES;
    }
    if (n > REDLOCK_NODES_MAX) {
        snprintf(err, sizeof(err), "%zu nodes given; at most %d", n,
                 REDLOCK_NODES_MAX);
        set_err(err_buf, err_buf_len, err);
        return REDLOCK_ERANGE;
    }
    redlock_options o;
    redlock_status st = redlock__options_copy(opts, &o, err, sizeof(err));
    if (st == REDLOCK_OK)
        st = redlock__options_validate(&o, err, sizeof(err));
    if (st != REDLOCK_OK) {
        set_err(err_buf, err_buf_len, err);
        return st;
    }
    st = redlock__crypto_init();
    if (st != REDLOCK_OK) {
        set_err(err_buf, err_buf_len, "sodium_init() failed");
        return st;
    }
    st = redlock__scripts_init();
    if (st != REDLOCK_OK) {
        set_err(err_buf, err_buf_len,
                "OpenSSL could not compute SHA1 (the Lua scripts' names): "
                "no provider offers it; check OPENSSL_CONF");
        return st;
    }

    /* Parse every URI before allocating anything else. */
    redlock__uri *parsed = calloc(n, sizeof(*parsed));
    if (parsed == NULL) {
        set_err(err_buf, err_buf_len, "out of memory");
        return REDLOCK_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        char why[200] = "";
        st = redlock__uri_parse(uris[i], &parsed[i], why, sizeof(why));
        if (st != REDLOCK_OK) {
            snprintf(err, sizeof(err), "node %zu: %s", i + 1, why);
            set_err(err_buf, err_buf_len, err);
            goto fail_parsed;
        }
    }

    /* The same server twice would count its answers twice: an extension
     * could then win on fewer servers than a quorum. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (redlock__uri_same_server(&parsed[i], &parsed[j])) {
                snprintf(err, sizeof(err),
                         "node %zu and node %zu are the same server (%s); "
                         "each node must be an independent server",
                         i + 1, j + 1, parsed[i].display);
                set_err(err_buf, err_buf_len, err);
                st = REDLOCK_EINVAL;
                goto fail_parsed;
            }

    struct redlock_manager *m = calloc(1, sizeof(*m));
    if (m == NULL)
        goto fail_oom;
    if (pthread_mutex_init(&m->close_mu, NULL) != 0) {
        free(m);
        goto fail_oom;
    }
    if (redlock__cond_init(&m->close_cv) != 0) {
        pthread_mutex_destroy(&m->close_mu);
        free(m);
        goto fail_oom;
    }
    if (pthread_mutex_init(&m->dup_mu, NULL) != 0) {
        pthread_cond_destroy(&m->close_cv);
        pthread_mutex_destroy(&m->close_mu);
        free(m);
        goto fail_oom;
    }
    m->magic = REDLOCK__MANAGER_MAGIC;
    atomic_init(&m->refs, 1);
    atomic_init(&m->closing, false);
    m->opts = o;
    m->prefix = strdup(o.key_prefix);
    m->nodes = calloc(n, sizeof(*m->nodes));
    bool has_owner = o.owner != NULL && o.owner[0] != '\0';
    m->owner = has_owner ? strdup(o.owner) : NULL;
    m->opts.owner = m->owner;
    m->run_ids = calloc(n, sizeof(*m->run_ids));
    m->dup_of = malloc(n * sizeof(*m->dup_of));
    m->wakers = calloc(1, sizeof(*m->wakers));
    if (m->wakers != NULL && redlock__wakers_init(m->wakers) != 0) {
        free(m->wakers);
        m->wakers = NULL;
    }
    if (m->prefix == NULL || m->nodes == NULL ||
        (has_owner && m->owner == NULL) || m->run_ids == NULL ||
        m->dup_of == NULL || m->wakers == NULL) {
        manager_free(m);
        goto fail_oom;
    }
    m->leases = redlock__leases_new(m);
    m->wakes = redlock__wakes_new();
    m->async = redlock__async_new(m);
    if (m->leases == NULL || m->wakes == NULL || m->async == NULL) {
        manager_free(m);
        goto fail_oom;
    }
    st = manager_tls(m, parsed, n, err, sizeof(err));
    if (st != REDLOCK_OK) {
        manager_free(m);
        set_err(err_buf, err_buf_len, err);
        goto fail_parsed;
    }
    m->prefix_len = strlen(m->prefix);
    m->opts.key_prefix = m->prefix;
    m->n = n;
    m->quorum = redlock__quorum(n);
    for (size_t i = 0; i < n; i++)
        if (parsed[i].kind == REDLOCK__URI_CLUSTER)
            m->has_cluster = true;
    atomic_init(&m->max_ttl_sent_ms, 0);
    for (size_t i = 0; i < n; i++)
        m->dup_of[i] = -1;
    const redlock__node_env env = {
        .opts = &m->opts,
        .tls = m->tls,
        .log_to = m,
        .ctx = m,
        .thread_start = env_thread_start,
        .set_run_id = env_set_run_id,
        .guard_until_us = env_guard_until_us,
        .node_name = env_node_name,
        .run_id_of = env_run_id_of,
        .wakers = m->wakers,
        .sub_event = env_sub_event,
    };
    for (size_t i = 0; i < n; i++) {
        m->nodes[i] = redlock__node_new(&env, i, &parsed[i]);
        if (m->nodes[i] == NULL) {
            manager_free(m);
            goto fail_oom;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (redlock__node_start(m->nodes[i]) != 0) {
            stop_nodes(m, 0);
            manager_free(m);
            set_err(err_buf, err_buf_len, "could not start worker thread");
            st = REDLOCK_EIO;
            goto fail_parsed;
        }
    }
    for (size_t i = 0; i < n; i++)
        redlock__uri_clear(&parsed[i]);
    free(parsed);
    redlock__log(m, REDLOCK_LOG_INFO, "manager started with %zu nodes", n);
    if (n == 2)
        redlock__log(m, REDLOCK_LOG_WARN,
                     "2 nodes: the quorum is 2, so locks tolerate no node "
                     "failure (one node down and nothing can be locked); "
                     "use 3 or 5 independent nodes");
    *out = m;
    return REDLOCK_OK;

fail_oom:
    set_err(err_buf, err_buf_len, "out of memory");
    st = REDLOCK_ENOMEM;
fail_parsed:
    for (size_t i = 0; i < n; i++)
        redlock__uri_clear(&parsed[i]);
    free(parsed);
    return st;
}

/* Create a manager without an error buffer. */
redlock_status redlock_manager_create(const char *const *uris, size_t n,
                                      const redlock_options *opts,
                                      redlock_manager **out)
{
    return redlock_manager_create_ex(uris, n, opts, out, NULL, 0);
}

/* Stop workers, then drop the creator's reference. */
void redlock_manager_destroy(redlock_manager *m)
{
    if (m == NULL || m->magic != REDLOCK__MANAGER_MAGIC)
        return;
    if (redlock__on_worker_of(m)) {
        /* A worker cannot join itself: refuse, loudly. */
        redlock__log(m, REDLOCK_LOG_ERROR,
                     "redlock_manager_destroy() called from a redlock "
                     "callback: ignored");
        return;
    }
    /* release: pairs with acquire loads in calls that check closing. */
    if (atomic_exchange_explicit(&m->closing, true, memory_order_acq_rel))
        return; /* destroyed twice: the second call does nothing */
    /* Wake callers sleeping between retries: they see closing at once. */
    pthread_mutex_lock(&m->close_mu);
    pthread_cond_broadcast(&m->close_cv);
    pthread_mutex_unlock(&m->close_mu);
    redlock__wakes_close(m->wakes); /* and those waiting for a release */
    uint64_t deadline = redlock__clock_now_us() +
                        (uint64_t)m->opts.shutdown_timeout_ms * 1000u;
    /* The non-blocking calls' engine first (it may still post the undo
     * of an attempt in flight), then leases: no extension may start once
     * the workers stop. */
    redlock__async_shutdown(m->async);
    redlock__leases_shutdown(m->leases);
    stop_nodes(m, deadline);
    redlock__manager_unref(m);
}

/* Sleep on close_cv: destroy sets closing, then broadcasts under
 * close_mu, and we test closing under close_mu before each wait, so the
 * wake-up cannot be missed. */
bool redlock__manager_sleep_us(struct redlock_manager *m, uint64_t us)
{
    uint64_t until = redlock__clock_now_us() + us;
    if (until < us)
        until = UINT64_MAX;
    pthread_mutex_lock(&m->close_mu);
    bool open;
    for (;;) {
        open = !atomic_load_explicit(&m->closing, memory_order_acquire);
        uint64_t now = redlock__clock_now_us();
        if (!open || now >= until)
            break;
        redlock__cond_wait_us(&m->close_cv, &m->close_mu, until - now);
    }
    pthread_mutex_unlock(&m->close_mu);
    return open;
}

/* Record a node's run_id and re-decide duplicates; see internal.h. */
int redlock__manager_set_run_id(struct redlock_manager *m, size_t idx,
                                const char *run_id)
{
    int before[REDLOCK_NODES_MAX];
    int after[REDLOCK_NODES_MAX];
    pthread_mutex_lock(&m->dup_mu);
    memcpy(before, m->dup_of, m->n * sizeof(int));
    snprintf(m->run_ids[idx], sizeof(m->run_ids[idx]), "%s", run_id);
    redlock__dup_update(m->n, (const char(*)[41])m->run_ids, m->dup_of,
                        idx);
    memcpy(after, m->dup_of, m->n * sizeof(int));
    /* Stored under dup_mu, so two handshakes deciding at once leave every
     * node's flag as the last decision says. */
    for (size_t i = 0; i < m->n; i++)
        if (before[i] != after[i] || i == idx)
            redlock__node_set_dup(m->nodes[i], after[i]);
    pthread_mutex_unlock(&m->dup_mu);
    return after[idx];
}

/* Raise the largest TTL sent. A release store: a worker that sees the
 * slot (queued after this, under the node's queue lock) sees it too. */
void redlock__manager_note_ttl(struct redlock_manager *m, uint32_t ttl_ms)
{
    uint32_t seen = atomic_load_explicit(&m->max_ttl_sent_ms,
                                         memory_order_relaxed);
    while (ttl_ms > seen &&
           !atomic_compare_exchange_weak_explicit(
               &m->max_ttl_sent_ms, &seen, ttl_ms, memory_order_release,
               memory_order_relaxed)) {
    }
}

/* The guard's end under the option as it stands now; see internal.h. */
uint64_t redlock__manager_guard_until_us(struct redlock_manager *m,
                                         uint64_t restart_us,
                                         uint64_t first_write_us,
                                         uint32_t *guard_ms)
{
    bool is_auto = m->opts.restart_guard_ms == REDLOCK_RESTART_GUARD_AUTO;
    uint32_t g = is_auto ? atomic_load_explicit(&m->max_ttl_sent_ms,
                                                memory_order_acquire)
                         : m->opts.restart_guard_ms;
    if (guard_ms != NULL)
        *guard_ms = g;
    return redlock__guard_until_us(restart_us, first_write_us, is_auto, g,
                                   m->opts.drift_factor);
}

/* Node count. */
size_t redlock_manager_node_count(const redlock_manager *m)
{
    return m != NULL && m->magic == REDLOCK__MANAGER_MAGIC ? m->n : 0;
}

/* Quorum size. */
size_t redlock_manager_quorum(const redlock_manager *m)
{
    return m != NULL && m->magic == REDLOCK__MANAGER_MAGIC ? m->quorum : 0;
}

/* Redacted address of node i. */
const char *redlock_manager_node_name(const redlock_manager *m, size_t i)
{
    if (m == NULL || m->magic != REDLOCK__MANAGER_MAGIC || i >= m->n)
        return NULL;
    return redlock__node_name(m->nodes[i]);
}
