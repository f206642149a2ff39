/*
 * sentinel_spawn.c: a real Redis Sentinel group on loopback for the
 * integration tests (see sentinel_spawn.h for the API).
 *
 * DESIGN
 *  - Every process comes from redis_spawn's rs_start_ex(): data servers
 *    with --replicaof / --masterauth in extra_args, sentinels as
 *    redis-sentinel with config_text. So all of them share one launcher,
 *    the PID registry and atexit net, PR_SET_PDEATHSIG, and the readiness
 *    probe (a sentinel answers PING and INFO server with its process_id
 *    like a server does). rs_start_ex() writes the config file into the
 *    sentinel's own temp dir, with that attempt's port, and leaves it
 *    writable: sentinel rewrites it at start and on every change.
 *    Rejected: a second fork/exec path here (a second registry to keep
 *    in step), and one shared config file (sentinels each rewrite
 *    theirs; a shared one would be corrupted).
 *  - The sentinel password is a `requirepass` line of the config file,
 *    which is how a sentinel is configured (redis_spawn also passes the
 *    same value as --requirepass, for its probe; a command-line option is
 *    one more config line, so the two agree). Sentinels authenticate to
 *    each other with it too (no `sentinel sentinel-pass` line: Redis then
 *    uses requirepass both ways). The data password is requirepass and
 *    masterauth on every data server (masterauth on the master too: after
 *    a failover it is a replica) and `sentinel auth-pass`.
 *  - "Ready" is awaited, not slept for: each replica's
 *    master_link_status:up, then on every sentinel SENTINEL MASTER shows
 *    flags "master", num-slaves and num-other-sentinels as started, and
 *    SENTINEL REPLICAS shows each replica with a recent INFO
 *    (info-refresh). The last one matters: a sentinel will not promote a
 *    replica it has not INFO'd yet, and SENTINEL FAILOVER would answer
 *    NOGOODSLAVE. rsn_failover() still retries on NOGOODSLAVE until its
 *    deadline, for replicas whose INFO went stale meanwhile.
 *  - TLS (rsn_options.tls_*): every process TLS-only through
 *    rs_options' TLS fields (so the fixture's own links speak TLS too),
 *    plus tls-replication on the servers and in the sentinels' config:
 *    with it a sentinel reaches the servers and the other sentinels over
 *    TLS and announces its tls-port in its hellos.
 *  - The quorum is a majority of the sentinels (2 of 3, as the brief
 *    for these fixtures asks), not a fixed 2, so one sentinel still works.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sentinel_spawn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

/* How long the group may take to be ready after its processes answer. */
#define RSN_READY_TIMEOUT_MS 20000
/* How long a failover may take to be seen by every sentinel, and after
 * how long rsn_failover() checks whether it was given up (sentinel gives
 * one up after failover-timeout, 5 s here). */
#define RSN_FAILOVER_TIMEOUT_MS 20000
#define RSN_FAILOVER_RETRY_MS 7000
/* Pause between polls of a condition. */
#define RSN_POLL_MS 20
/* A replica's last INFO (as a sentinel reports it) must be this fresh.
 * Sentinel INFOs a replica once when it finds it, then every 10 s, and
 * promotes only one INFO'd within the last 30 s; a never-INFO'd one
 * shows the time since the epoch. 20 s means "INFO'd, and promotable for
 * a while yet" without waiting for the next 10 s round. */
#define RSN_INFO_FRESH_MS 20000
/* Room for a sentinel's config text. */
#define RSN_CONFIG_MAX 1024

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* 1 if s is non-empty, fits in len bytes, and holds only letters,
 * digits and extra. */
static int plain_word(const char *s, size_t len, const char *extra)
{
    size_t n = 0;

    for (const char *p = s; *p != '\0'; p++, n++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || strchr(extra, ch) != NULL))
            return 0;
    }
    return n > 0 && n < len;
}

/* In a flat field/value array reply (SENTINEL MASTER), the value of
 * field, or NULL. */
static const char *kv_get(const redisReply *r, const char *field)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t k = 0; k + 1 < r->elements; k += 2) {
        const redisReply *key = r->element[k], *val = r->element[k + 1];
        if (key->type == REDIS_REPLY_STRING &&
            val->type == REDIS_REPLY_STRING && strcmp(key->str, field) == 0)
            return val->str;
    }
    return NULL;
}

/* kv_get() as a number, or -1 if missing. */
static long long kv_num(const redisReply *r, const char *field)
{
    const char *v = kv_get(r, field);
    return v == NULL ? -1 : strtoll(v, NULL, 10);
}

/* INFO replication of a data server: 1 master, 0 replica, -1 error;
 * *link_up (may be NULL) says whether a replica's link is up. */
static int data_role(const rs_server *s, int *link_up)
{
    static const char *argv[] = { "INFO", "replication" };
    char err[256], val[32];
    redisReply *r;
    int role = -1;

    if (link_up != NULL)
        *link_up = 0;
    if (s->pid <= 0)
        return -1;
    r = rs_command_reply(s, 2, argv, err, sizeof(err));
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_STRING &&
        rs_info_field(r->str, "role:", val, sizeof(val)) == 0) {
        role = strcmp(val, "master") == 0 ? 1 : 0;
        if (role == 0 && link_up != NULL &&
            rs_info_field(r->str, "master_link_status:", val,
                       sizeof(val)) == 0)
            *link_up = strcmp(val, "up") == 0;
    }
    freeReplyObject(r);
    return role;
}

/* The port sentinel s gives for g's master, or -1. */
static int sentinel_master_port(rsn_group *g, const rs_server *s)
{
    const char *argv[] = { "SENTINEL", "GET-MASTER-ADDR-BY-NAME", g->name };
    char err[256];
    redisReply *r;
    int port = -1;

    if (s->pid <= 0 || s->paused)
        return -1;
    r = rs_command_reply(s, 3, argv, err, sizeof(err));
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING)
        port = (int)strtol(r->element[1]->str, NULL, 10);
    freeReplyObject(r);
    return port;
}

/* Index into g->data of the server on port, or -1. */
static int data_index(const rsn_group *g, int port)
{
    for (size_t i = 0; i < g->n_data; i++) {
        if (g->data[i].port == port)
            return (int)i;
    }
    return -1;
}

/* Poll cond(g, arg) every RSN_POLL_MS until it returns 1 or timeout_ms
 * passed. 0 if it held, else -1 (message naming what, unless NULL). */
static int await_cond(rsn_group *g, int (*cond)(rsn_group *, void *),
                      void *arg, int timeout_ms, const char *what)
{
    long long deadline = rs_now_ms() + timeout_ms;

    for (;;) {
        if (cond(g, arg) == 1)
            return 0;
        if (rs_now_ms() >= deadline) {
            if (what != NULL)
                fprintf(stderr, "sentinel_spawn: %s not reached within %d "
                                "ms\n", what, timeout_ms);
            return -1;
        }
        rs_sleep_ms(RSN_POLL_MS);
    }
}

/* ------------------------------------------------------------------------
 * Conditions awaited by rsn_start()
 * ------------------------------------------------------------------------ */

/* 1 when data[0] is a master and every replica's link is up. */
static int replication_up(rsn_group *g, void *arg)
{
    (void)arg;
    if (data_role(&g->data[0], NULL) != 1)
        return 0;
    for (size_t i = 1; i < g->n_data; i++) {
        int up;
        if (data_role(&g->data[i], &up) != 0 || !up)
            return 0;
    }
    return 1;
}

/* 1 when sentinel s sees g's master with every replica (each freshly
 * INFO'd) and every other sentinel. */
static int sentinel_knows_all(rsn_group *g, const rs_server *s)
{
    const char *master[] = { "SENTINEL", "MASTER", g->name };
    const char *replicas[] = { "SENTINEL", "REPLICAS", g->name };
    char err[256];
    redisReply *r;
    const char *flags;
    int ok;

    r = rs_command_reply(s, 3, master, err, sizeof(err));
    if (r == NULL)
        return 0;
    flags = kv_get(r, "flags");
    ok = flags != NULL && strcmp(flags, "master") == 0 &&
         kv_num(r, "port") == g->data[0].port &&
         kv_num(r, "num-slaves") == (long long)(g->n_data - 1) &&
         kv_num(r, "num-other-sentinels") ==
             (long long)(g->n_sentinels - 1);
    freeReplyObject(r);
    if (!ok)
        return 0;
    r = rs_command_reply(s, 3, replicas, err, sizeof(err));
    if (r == NULL)
        return 0;
    ok = r->type == REDIS_REPLY_ARRAY && r->elements == g->n_data - 1;
    for (size_t k = 0; ok && k < r->elements; k++) {
        const redisReply *rep = r->element[k];
        long long refresh = kv_num(rep, "info-refresh");
        const char *link = kv_get(rep, "master-link-status");

        flags = kv_get(rep, "flags");
        ok = flags != NULL && strcmp(flags, "slave") == 0 &&
             link != NULL && strcmp(link, "ok") == 0 && refresh >= 0 &&
             refresh < RSN_INFO_FRESH_MS;
    }
    freeReplyObject(r);
    return ok;
}

/* 1 when every sentinel knows the whole group. */
static int sentinels_ready(rsn_group *g, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < g->n_sentinels; i++) {
        if (!sentinel_knows_all(g, &g->sentinel[i]))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------
 * Starting
 * ------------------------------------------------------------------------ */

/* Start the master and the replicas. 0 or -1. */
/* The TLS part of rs_options for a data server or sentinel of g (none
 * unless opt asks for TLS). */
static void tls_options(const rsn_options *opt, rs_options *o)
{
    if (opt == NULL || opt->tls_cert_file == NULL)
        return;
    o->tls_cert_file = opt->tls_cert_file;
    o->tls_key_file = opt->tls_key_file;
    o->tls_ca_file = opt->tls_ca_file;
}

static int start_data(rsn_group *g, size_t replicas, const rsn_options *opt)
{
    const char *args[10];
    char master_port[16];
    rs_options o;
    size_t argc = 0;

    memset(&o, 0, sizeof(o));
    tls_options(opt, &o);
    if (g->tls) {
        /* A replica's link to its master, and after a failover the old
         * master's to the new one. */
        args[argc++] = "--tls-replication";
        args[argc++] = "yes";
    }
    /* A master waits 5 s (the default) for more replicas before a
     * diskless full sync; every data server may become a master. */
    args[argc++] = "--repl-diskless-sync-delay";
    args[argc++] = "0";
    if (g->data_password[0] != '\0') {
        o.password = g->data_password;
        args[argc++] = "--masterauth"; /* a master may become a replica */
        args[argc++] = g->data_password;
    }
    o.extra_args = args;
    o.extra_argc = argc;
    if (rs_start_ex(&g->data[0], &o) != 0)
        return -1;
    g->n_data = 1;
    snprintf(master_port, sizeof(master_port), "%d", g->data[0].port);
    args[argc++] = "--replicaof";
    args[argc++] = "127.0.0.1";
    args[argc++] = master_port;
    o.extra_argc = argc;
    for (size_t i = 0; i < replicas; i++) {
        if (rs_start_ex(&g->data[1 + i], &o) != 0)
            return -1;
        g->n_data++;
    }
    return 0;
}

/* Start the sentinels. 0 or -1. */
static int start_sentinels(rsn_group *g, size_t sentinels,
                           const rsn_options *opt)
{
    const char *bin = getenv("REDIS_SENTINEL");
    char config[RSN_CONFIG_MAX];
    rs_options o;
    int n;

    n = snprintf(config, sizeof(config),
                 "sentinel resolve-hostnames no\n"
                 "sentinel monitor %s 127.0.0.1 %d %d\n"
                 "sentinel down-after-milliseconds %s 1000\n"
                 "sentinel failover-timeout %s 5000\n",
                 g->name, g->data[0].port, g->quorum, g->name, g->name);
    if (n > 0 && (size_t)n < sizeof(config) && g->data_password[0] != '\0')
        n += snprintf(config + n, sizeof(config) - (size_t)n,
                      "sentinel auth-pass %s %s\n", g->name,
                      g->data_password);
    /* Sentinel's links to the servers and to the other sentinels use
     * TLS with tls-replication (and it then announces its tls-port). */
    if (n > 0 && (size_t)n < sizeof(config) && g->tls)
        n += snprintf(config + n, sizeof(config) - (size_t)n,
                      "tls-replication yes\n");
    if (n > 0 && (size_t)n < sizeof(config) &&
        g->sentinel_password[0] != '\0')
        n += snprintf(config + n, sizeof(config) - (size_t)n,
                      "requirepass %s\n", g->sentinel_password);
    if (n < 0 || (size_t)n >= sizeof(config)) {
        fprintf(stderr, "sentinel_spawn: config too long\n");
        return -1;
    }
    memset(&o, 0, sizeof(o));
    tls_options(opt, &o);
    o.redis_server = (bin != NULL && bin[0] != '\0') ? bin : "redis-sentinel";
    o.config_text = config;
    if (g->sentinel_password[0] != '\0')
        o.password = g->sentinel_password; /* for rs's probe; see DESIGN */
    for (size_t i = 0; i < sentinels; i++) {
        if (rs_start_ex(&g->sentinel[i], &o) != 0)
            return -1;
        g->n_sentinels++;
    }
    return 0;
}

/* Fill g->uri from the sentinels' ports. 0 or -1. */
static int build_uri(rsn_group *g)
{
    size_t pos;
    int n = snprintf(g->uri, sizeof(g->uri), "%s://127.0.0.1:%d/%s",
                     g->tls ? "sentinels" : "sentinel", g->sentinel[0].port,
                     g->name);

    if (n < 0 || (size_t)n >= sizeof(g->uri))
        return -1;
    pos = (size_t)n;
    for (size_t i = 1; i < g->n_sentinels; i++) {
        n = snprintf(g->uri + pos, sizeof(g->uri) - pos,
                     "%csentinel=127.0.0.1:%d", i == 1 ? '?' : '&',
                     g->sentinel[i].port);
        if (n < 0 || (size_t)n >= sizeof(g->uri) - pos)
            return -1;
        pos += (size_t)n;
    }
    return 0;
}

/* Check and copy rsn_start_ex()'s arguments into g. 0 or -1. */
static int set_args(rsn_group *g, const char *name, size_t sentinels,
                    size_t replicas, const rsn_options *o)
{
    if (name == NULL || !plain_word(name, sizeof(g->name), "-._")) {
        fprintf(stderr, "sentinel_spawn: bad master name\n");
        return -1;
    }
    if (sentinels < 1 || sentinels > RSN_MAX_SENTINELS ||
        replicas + 1 > RSN_MAX_DATA) {
        fprintf(stderr, "sentinel_spawn: %zu sentinels, %zu replicas: at "
                        "most %d and %d\n", sentinels, replicas,
                RSN_MAX_SENTINELS, RSN_MAX_DATA - 1);
        return -1;
    }
    if (o != NULL && o->data_password != NULL &&
        !plain_word(o->data_password, sizeof(g->data_password), "-._~")) {
        fprintf(stderr, "sentinel_spawn: bad data password\n");
        return -1;
    }
    if (o != NULL && o->sentinel_password != NULL &&
        !plain_word(o->sentinel_password, sizeof(g->sentinel_password),
                    "-._~")) {
        fprintf(stderr, "sentinel_spawn: bad sentinel password\n");
        return -1;
    }
    snprintf(g->name, sizeof(g->name), "%s", name);
    if (o != NULL && o->data_password != NULL)
        snprintf(g->data_password, sizeof(g->data_password), "%s",
                 o->data_password);
    if (o != NULL && o->sentinel_password != NULL)
        snprintf(g->sentinel_password, sizeof(g->sentinel_password), "%s",
                 o->sentinel_password);
    if (o != NULL && o->tls_cert_file != NULL &&
        (o->tls_key_file == NULL || o->tls_ca_file == NULL)) {
        fprintf(stderr, "sentinel_spawn: TLS needs a certificate, its key "
                        "and a CA file\n");
        return -1;
    }
    g->tls = o != NULL && o->tls_cert_file != NULL;
    g->quorum = (int)(sentinels / 2 + 1);
    return 0;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

int rsn_start(rsn_group *g, const char *name, size_t sentinels,
              size_t replicas)
{
    return rsn_start_ex(g, name, sentinels, replicas, NULL);
}

int rsn_start_ex(rsn_group *g, const char *name, size_t sentinels,
                 size_t replicas, const rsn_options *o)
{
    if (g == NULL)
        return -1;
    memset(g, 0, sizeof(*g));
    if (set_args(g, name, sentinels, replicas, o) != 0)
        return -1;
    if (start_data(g, replicas, o) != 0 ||
        await_cond(g, replication_up, NULL, RSN_READY_TIMEOUT_MS,
                   "replication links up") != 0 ||
        start_sentinels(g, sentinels, o) != 0 ||
        await_cond(g, sentinels_ready, NULL, RSN_READY_TIMEOUT_MS,
                   "every sentinel knowing the master, its replicas and "
                   "the other sentinels") != 0)
        goto fail;
    if (build_uri(g) != 0) {
        fprintf(stderr, "sentinel_spawn: URI too long\n");
        goto fail;
    }
    return 0;

fail:
    rsn_stop(g);
    return -1;
}

void rsn_stop(rsn_group *g)
{
    if (g == NULL)
        return;
    /* Sentinels first: none may fail over while the data servers go. */
    rs_stop_many(g->sentinel, RSN_MAX_SENTINELS);
    rs_stop_many(g->data, RSN_MAX_DATA);
    g->n_sentinels = 0;
    g->n_data = 0;
}

int rsn_master_index(rsn_group *g)
{
    for (size_t i = 0; g != NULL && i < g->n_sentinels; i++) {
        int port = sentinel_master_port(g, &g->sentinel[i]);
        if (port > 0)
            return data_index(g, port);
    }
    return -1;
}

int rsn_is_master(rsn_group *g, size_t i)
{
    if (g == NULL || i >= g->n_data)
        return -1;
    return data_role(&g->data[i], NULL);
}

/* Argument of failover_seen(). */
typedef struct rsn_failover_arg {
    int old_port;               /* the master before the failover */
    rsn_promoted_fn on_promoted; /* called once when another data server
                                   first says role:master; may be NULL */
    void *on_promoted_arg;
    int promoted_told;
} rsn_failover_arg;

/* 1 when every running sentinel names the same data server, not the old
 * master (arg: an rsn_failover_arg), and that server says role:master;
 * first tells on_promoted of a promoted data server. */
static int failover_seen(rsn_group *g, void *arg)
{
    rsn_failover_arg *a = arg;
    int old_port = a->old_port, port = -1, idx;

    if (a->on_promoted != NULL && !a->promoted_told) {
        for (size_t i = 0; i < g->n_data; i++) {
            if (g->data[i].pid <= 0 || g->data[i].port == old_port ||
                data_role(&g->data[i], NULL) != 1)
                continue;
            a->promoted_told = 1;
            a->on_promoted(g, i, a->on_promoted_arg);
            break;
        }
    }

    for (size_t i = 0; i < g->n_sentinels; i++) {
        int p;

        if (g->sentinel[i].pid <= 0)
            continue;
        p = sentinel_master_port(g, &g->sentinel[i]);
        if (p <= 0 || p == old_port ||
            (port > 0 && p != port))
            return 0;
        port = p;
    }
    idx = data_index(g, port);
    return idx >= 0 && data_role(&g->data[idx], NULL) == 1;
}

/* Send SENTINEL FAILOVER to sentinel[i] until it accepts (OK, or INPROG:
 * one is running) or the deadline passes; NOGOODSLAVE (no replica it may
 * promote yet) is retried. 0 or -1 (message printed). */
static int send_failover(rsn_group *g, size_t i, long long deadline)
{
    const char *argv[] = { "SENTINEL", "FAILOVER", g->name };

    for (;;) {
        char out[256];

        if (rs_command(&g->sentinel[i], out, sizeof(out), 3, argv) == 0 &&
            (strcmp(out, "OK") == 0 || strncmp(out, "INPROG", 6) == 0))
            return 0;
        if (rs_now_ms() >= deadline) {
            fprintf(stderr, "sentinel_spawn: SENTINEL FAILOVER %s on port "
                            "%d: %s\n", g->name, g->sentinel[i].port, out);
            return -1;
        }
        rs_sleep_ms(RSN_POLL_MS);
    }
}

/* 1 if sentinel s still names old_port as the master and runs no
 * failover for it (so the one it accepted was given up). */
static int failover_given_up(rsn_group *g, const rs_server *s, int old_port)
{
    const char *argv[] = { "SENTINEL", "MASTER", g->name };
    char err[256];
    redisReply *r;
    const char *flags;
    int gave_up;

    if (sentinel_master_port(g, s) != old_port)
        return 0;
    r = rs_command_reply(s, 3, argv, err, sizeof(err));
    if (r == NULL)
        return 0;
    flags = kv_get(r, "flags");
    gave_up = flags != NULL && strstr(flags, "failover_in_progress") == NULL;
    freeReplyObject(r);
    return gave_up;
}

int rsn_failover(rsn_group *g)
{
    return rsn_failover_ex(g, NULL, NULL);
}

int rsn_failover_ex(rsn_group *g, rsn_promoted_fn on_promoted, void *arg)
{
    long long deadline = rs_now_ms() + RSN_FAILOVER_TIMEOUT_MS;
    size_t used = 0;
    int old, old_port;
    rsn_failover_arg a;

    if (g == NULL || g->n_sentinels == 0)
        return -1;
    old = rsn_master_index(g);
    if (old < 0) {
        fprintf(stderr, "sentinel_spawn: rsn_failover: no sentinel names a "
                        "master of ours\n");
        return -1;
    }
    old_port = g->data[old].port;
    a.old_port = old_port;
    a.on_promoted = on_promoted;
    a.on_promoted_arg = arg;
    a.promoted_told = 0;
    while (used < g->n_sentinels &&
           (g->sentinel[used].pid <= 0 || g->sentinel[used].paused))
        used++;
    if (used == g->n_sentinels || send_failover(g, used, deadline) != 0)
        return -1;
    /* Sent again only to the same sentinel, and only once it has given
     * the first one up: any other sentinel may not have heard of the new
     * master yet, and would fail the group back over to the old one. */
    for (;;) {
        long long left = deadline - rs_now_ms();

        if (left <= RSN_FAILOVER_RETRY_MS)
            return await_cond(g, failover_seen, &a,
                              left > 0 ? (int)left : 0,
                              "every sentinel naming the new master, which "
                              "says role:master");
        if (await_cond(g, failover_seen, &a, RSN_FAILOVER_RETRY_MS,
                       NULL) == 0)
            return 0;
        if (failover_given_up(g, &g->sentinel[used], old_port)) {
            fprintf(stderr, "sentinel_spawn: rsn_failover: the failover was "
                            "given up; sending SENTINEL FAILOVER again\n");
            if (send_failover(g, used, deadline) != 0)
                return -1;
        }
    }
}
