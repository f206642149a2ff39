/*
 * cluster.c: a Redis Cluster as one Redlock node (see cluster.h).
 *
 * DESIGN
 * A cluster node is a router over ordinary node workers, one per shard
 * master (node.c, each with its own connection, handshake, reconnects,
 * command timeout and restart guard). Submitting a slot looks up the
 * master of the key's hash slot in a map of 16384 entries and queues the
 * slot at that shard's worker, on the submitting thread: routing adds no
 * thread hand-off. The map is learnt from CLUSTER SHARDS (Redis 7; a shard
 * that refuses it, an older Redis or an ACL, makes the node ask CLUSTER
 * SLOTS from then on), asked of a shard when the node starts; again,
 * CLUSTER_REFRESH_MIN_US after the last request, after a MOVED, a
 * shard's connection failing (its master may have died: the map names
 * the promoted replica once the cluster has failed over) or a failed
 * request (then of the next shard); and CLUSTER_REFRESH_EVERY_US
 * after the last request while the node is used, to see a failover that
 * no MOVED announced (a master that died). Each MOVED reply also teaches
 * its slot at once. Rejected: asking on every submit once the minimum
 * interval passed (ten CLUSTER SHARDS a second per node under load, each
 * taking shard 0's connection off the inline fast path while it ran).
 * A slot whose key's
 * master is not known yet goes to the first shard, whose MOVED then says
 * where it belongs.
 *
 * Replies a shard's worker passes here (redlock__cluster_redirect):
 *   MOVED slot host:port  the map learns it; s goes to that master
 *                         (a new shard worker if need be).
 *   ASK slot host:port    s goes to that master once, preceded by ASKING
 *                         (slot->asking); the map is unchanged.
 *   TRYAGAIN              (keys of one command split by a migration in
 *                         progress) the shard's worker sends s again
 *                         after NODE_TRYAGAIN_US, first in its line
 *                         (node.c), within the deadline.
 *   anything else         the worker interprets it as usual:
 *                         CLUSTERDOWN is a failed vote.
 * A redirected slot keeps its op's deadline: the target's worker fails it
 * when that has passed, and its command timeout runs from when it is
 * written there. At most CLUSTER_REDIRECTS_MAX redirects per slot.
 *
 * One vote: the op layer sees one redlock__node; the slot's answer comes
 * from whichever shard finally answers it.
 *
 * Failover is a restart (docs/safety.md, "Cluster and Sentinel nodes"):
 * a shard master first met after the first map was loaded (a replica
 * promoted by a failover, reached through MOVED or a refresh) is a
 * "newcomer": its worker starts its restart guard at its first
 * handshake, whatever its uptime, since a promoted replica may lack keys
 * the old master acknowledged. Migrated slots reach masters already
 * known, whose keys came with them (MIGRATE keeps TTLs): not guarded.
 *
 * Rejected: one worker thread driving every shard's connection (the
 * worker loop is built around one connection; a second copy of it would
 * be a second transport to keep right); hiredis-cluster (needs hiredis
 * >= 1.0, not in Debian 12); CLUSTER SLOTS alone (deprecated since 7.0,
 * and it cannot say which port is the TLS one).
 *
 * Locking: cl->mu guards the map and the shard list. It is taken by
 * submitting threads (holding nothing else) and by shard workers under
 * their io_mu (redirects, refresh replies); a thread holding it takes no
 * other library lock but creates and starts shard workers. Slots are
 * queued at a shard (its queue_mu) only after cl->mu is dropped.
 */
#define _GNU_SOURCE
#include "cluster.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "hashslot.h"
#include "internal.h"

/* Most shard masters one cluster node keeps workers for. */
#define CLUSTER_SHARDS_MAX 64
/* Most redirects one slot follows. */
#define CLUSTER_REDIRECTS_MAX 5
/* Shortest interval between two slot-map requests (after a MOVED, or a
 * request that failed). */
#define CLUSTER_REFRESH_MIN_US 100000u
/* Interval between two slot-map requests while the node is used and
 * nothing asked for one sooner. */
#define CLUSTER_REFRESH_EVERY_US 1000000u

typedef struct cl_shard {
    char host[256];
    int port;
    redlock__node *node;
    bool owner;    /* has served slots (in a map or a MOVED) */
} cl_shard;

struct redlock__cluster {
    redlock__node_env env;       /* the manager's */
    size_t idx;
    redlock__uri uri;            /* the cluster URI (owned) */
    redlock__node *self;
    pthread_mutex_t mu;          /* see DESIGN: map, shards, refresh */
    uint8_t map[REDLOCK__HASH_SLOTS]; /* shard index + 1; 0: unknown */
    cl_shard shards[CLUSTER_SHARDS_MAX];
    _Atomic size_t n_shards;     /* written under mu; read without it by
                                    stop, counts and guard views */
    bool map_loaded;             /* a slot map (SHARDS or SLOTS) was applied */
    bool started;
    bool stopping;
    atomic_int dup_of;           /* last redlock__cluster_set_dup():
                                    lock-free (called under the manager's
                                    dup_mu, a leaf) */
    redlock__op *refresh;        /* the last map request (a ref) */
    bool refresh_busy;
    size_t refresh_at;           /* the shard the question went to */
    bool use_slots;              /* a shard refused CLUSTER SHARDS (Redis
                                    before 7.0): ask CLUSTER SLOTS */
    uint64_t refresh_next_us;    /* no request before this */
    uint64_t refresh_sent_us;    /* when the last request was sent */
    bool refresh_soon;           /* a MOVED came, or a shard's connection
                                    failed, after the last request was
                                    sent: ask again soon */
    size_t refresh_from;         /* shard to ask next (rotates on failure) */
};

/* ------------------------------------------------------------------------
 * Pure parts
 * ------------------------------------------------------------------------ */

static bool word_is(const char *s, size_t len, const char *w)
{
    return strlen(w) == len && strncasecmp(s, w, len) == 0;
}

redlock__key_route redlock__cluster_route_of(int argc,
                                             const char *const *argv,
                                             const size_t *lens,
                                             unsigned *slot)
{
    if (argc < 2)
        return REDLOCK__ROUTE_ANY;
    int first = 0, nkeys = 0;
    if (word_is(argv[0], lens[0], "EVAL") ||
        word_is(argv[0], lens[0], "EVALSHA")) {
        if (argc < 3 || lens[2] == 0 || lens[2] > 4)
            return REDLOCK__ROUTE_ANY;
        for (size_t i = 0; i < lens[2]; i++) {
            if (argv[2][i] < '0' || argv[2][i] > '9')
                return REDLOCK__ROUTE_ANY;
            nkeys = nkeys * 10 + (argv[2][i] - '0');
        }
        first = 3;
        if (nkeys > argc - 3)
            nkeys = argc - 3;
    } else {
        static const char *const one_key[] = {"SET",     "GET",   "DEL",
                                              "PTTL",    "EXISTS", "INCR",
                                              "PEXPIRE", "UNLINK"};
        for (size_t i = 0; i < sizeof(one_key) / sizeof(one_key[0]); i++)
            if (word_is(argv[0], lens[0], one_key[i])) {
                first = 1;
                nkeys = 1;
            }
    }
    if (nkeys == 0)
        return REDLOCK__ROUTE_ANY;
    unsigned s0 = redlock__hash_slot(argv[first], lens[first]);
    for (int k = 1; k < nkeys; k++)
        if (redlock__hash_slot(argv[first + k], lens[first + k]) != s0)
            return REDLOCK__ROUTE_CROSSSLOT;
    *slot = s0;
    return REDLOCK__ROUTE_SLOT;
}

int redlock__cluster_parse_redirect(const char *text, size_t len,
                                    unsigned *slot, char *host,
                                    size_t hostlen, int *port)
{
    int kind;
    size_t i;
    if (len > 6 && memcmp(text, "MOVED ", 6) == 0) {
        kind = 1;
        i = 6;
    } else if (len > 4 && memcmp(text, "ASK ", 4) == 0) {
        kind = 2;
        i = 4;
    } else {
        return 0;
    }
    unsigned long s = 0;
    size_t digits = 0;
    while (i < len && text[i] >= '0' && text[i] <= '9' && digits < 6) {
        s = s * 10 + (unsigned long)(text[i++] - '0');
        digits++;
    }
    if (digits == 0 || s >= REDLOCK__HASH_SLOTS || i >= len ||
        text[i] != ' ')
        return 0;
    i++;
    /* host:port; the port follows the last ':' (IPv6 hosts have more). */
    const char *hp = text + i;
    size_t hp_len = len - i;
    const char *colon = NULL;
    for (size_t k = 0; k < hp_len; k++)
        if (hp[k] == ':')
            colon = hp + k;
    if (colon == NULL)
        return 0;
    size_t hlen = (size_t)(colon - hp);
    const char *h = hp;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= hostlen) /* 0: ":port", the host that replied */
        return 0;
    long p = 0;
    size_t plen = hp_len - hlen - (size_t)(h - hp) - 1 -
                  (h != hp ? 1u : 0u);
    const char *pp = colon + 1;
    if (plen == 0 || plen > 5)
        return 0;
    for (size_t k = 0; k < plen; k++) {
        if (pp[k] < '0' || pp[k] > '9')
            return 0;
        p = p * 10 + (pp[k] - '0');
    }
    if (p < 1 || p > 65535)
        return 0;
    for (size_t k = 0; k < hlen; k++)
        if (h[k] == ' ' || h[k] == '\0')
            return 0;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *slot = (unsigned)s;
    *port = (int)p;
    return kind;
}

/* ------------------------------------------------------------------------
 * Shard workers
 * ------------------------------------------------------------------------ */

/* The shard index for host:port, making (and, once started, starting) its
 * worker if it is new. cl->mu held. Returns -1 when no more can be made
 * or when stopping. */
static int shard_find_or_add(redlock__cluster *cl, const char *host,
                             int port)
{
    size_t n = atomic_load_explicit(&cl->n_shards, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        if (cl->shards[i].port == port &&
            strcasecmp(cl->shards[i].host, host) == 0)
            return (int)i;
    if (n >= CLUSTER_SHARDS_MAX || cl->stopping ||
        strlen(host) >= sizeof(cl->shards[n].host))
        return -1;
    redlock__uri u;
    if (redlock__uri_member(&cl->uri, host, port, &u) != REDLOCK_OK)
        return -1;
    bool newcomer = cl->map_loaded;
    uint64_t first = UINT64_MAX; /* the cluster node's first TTL write */
    for (size_t i = 0; i < n; i++) {
        uint64_t f = redlock__node_first_write_us(cl->shards[i].node);
        if (f < first)
            first = f;
    }
    redlock__node *nd =
        redlock__node_new_member(&cl->env, cl->idx, &u, cl->self, "shard",
                                 newcomer, first);
    if (nd == NULL) {
        redlock__uri_clear(&u);
        return -1;
    }
    if (cl->started && redlock__node_start(nd) != 0) {
        redlock__node_free(nd);
        return -1;
    }
    cl_shard *sh = &cl->shards[n];
    snprintf(sh->host, sizeof(sh->host), "%s", host);
    sh->port = port;
    sh->node = nd;
    atomic_store(&cl->n_shards, n + 1);
    /* After publishing (seq_cst both here and in set_dup): either set_dup
     * sees this shard, or this sees its value; repeated until the value
     * read back is the one stored, so a concurrent set_dup's store is not
     * overwritten by an older one. */
    for (int of = atomic_load(&cl->dup_of);;) {
        redlock__node_set_dup(nd, of);
        int again = atomic_load(&cl->dup_of);
        if (again == of)
            break;
        of = again;
    }
    return (int)n;
}

/* ------------------------------------------------------------------------
 * The slot map
 * ------------------------------------------------------------------------ */

/* Shard sh serves slots from now on (cl->mu held). One that never served
 * any, met after the first map (a replica given as a seed, promoted by a
 * failover), is guarded as a restarted master from now: it may lack
 * keys its old master acknowledged. Shards made after the first map are
 * newcomers already (guarded from their first handshake). */
static void shard_serves(redlock__cluster *cl, int sh, uint64_t now)
{
    cl_shard *s = &cl->shards[sh];
    if (s->owner)
        return;
    s->owner = true;
    if (!cl->map_loaded)
        return; /* the first map: the masters we start with */
    uint64_t first = UINT64_MAX;
    size_t n = atomic_load_explicit(&cl->n_shards, memory_order_relaxed);
    for (size_t i = 0; i < n; i++) {
        uint64_t f = redlock__node_first_write_us(cl->shards[i].node);
        if (f < first)
            first = f;
    }
    redlock__node_guard_from_now(s->node, now, first);
}

static void refresh_done(void *arg);

/* Ask a shard for the slot map unless a request is in flight or it is
 * not due yet (refresh_next_us; see DESIGN). cl->mu held; the op is
 * queued after it is dropped: *post receives it and the shard. */
static void refresh_want(redlock__cluster *cl, uint64_t now,
                         redlock__op **post, redlock__node **at)
{
    *post = NULL;
    size_t n = atomic_load_explicit(&cl->n_shards, memory_order_relaxed);
    if (cl->refresh_busy || cl->stopping || !cl->started || n == 0 ||
        now < cl->refresh_next_us)
        return;
    /* CLUSTER SHARDS (Redis 7), or CLUSTER SLOTS where it is unknown. */
    const char *argv[2] = {"CLUSTER", cl->use_slots ? "SLOTS" : "SHARDS"};
    size_t lens[2] = {7, cl->use_slots ? 5u : 6u};
    redlock__op *op = redlock__op_new_single(
        2, argv, lens,
        redlock__after_ms(now, cl->env.opts->command_timeout_ms),
        refresh_done, cl);
    if (op == NULL)
        return;
    if (cl->refresh != NULL)
        redlock__op_unref(cl->refresh);
    cl->refresh = op; /* our reference */
    cl->refresh_busy = true;
    cl->refresh_sent_us = now;
    cl->refresh_soon = false; /* this request covers the MOVEDs so far */
    *post = op;
    cl->refresh_at = cl->refresh_from % n;
    *at = cl->shards[cl->refresh_at].node;
}

static void refresh_post(redlock__op *op, redlock__node *at)
{
    if (op != NULL)
        redlock__node_submit(at, &op->slots[0]);
}

/* Ask for the map again within CLUSTER_REFRESH_MIN_US of the last
 * request (cl->mu held). */
static void refresh_hurry(redlock__cluster *cl)
{
    cl->refresh_soon = true;
    if (cl->refresh_next_us > cl->refresh_sent_us + CLUSTER_REFRESH_MIN_US)
        cl->refresh_next_us = cl->refresh_sent_us + CLUSTER_REFRESH_MIN_US;
}

/* Make map the slot map (cl->mu held): shards serving slots for the first
 * time after the first map are guarded (shard_serves). */
static void map_install(redlock__cluster *cl, const uint8_t *map)
{
    uint64_t now = redlock__clock_now_us();
    /* A shard that serves no slot now (demoted by a failover, or all its
     * slots moved away) is one no longer: serving again later (a
     * failback to a server that missed writes) is guarded again. */
    bool serves[CLUSTER_SHARDS_MAX] = {false};
    for (size_t s = 0; s < REDLOCK__HASH_SLOTS; s++)
        if (map[s] != 0)
            serves[map[s] - 1] = true;
    size_t n = atomic_load_explicit(&cl->n_shards, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        if (!serves[i])
            cl->shards[i].owner = false;
    for (size_t s = 0; s < REDLOCK__HASH_SLOTS; s++)
        if (map[s] != 0 && map[s] != cl->map[s])
            shard_serves(cl, map[s] - 1, now);
    memcpy(cl->map, map, REDLOCK__HASH_SLOTS);
    cl->map_loaded = true;
}

/* A master named in a map reply (cl->mu held): its shard index (made if
 * new; -1 if none can be), ip "" meaning the host asked. Keeps in ident
 * the smallest master node id seen: the cluster's identity for the
 * duplicate rule (every view of one cluster has the same). */
static int master_seen(redlock__cluster *cl, const redisReply *ip, int port,
                       const redisReply *id, const char *asked_host,
                       char ident[41])
{
    char host[256];
    if (ip->len == 0 || ip->len >= sizeof(host))
        snprintf(host, sizeof(host), "%s", asked_host);
    else
        snprintf(host, sizeof(host), "%.*s", (int)ip->len, ip->str);
    if (id != NULL && id->type == REDIS_REPLY_STRING && id->len == 40 &&
        (ident[0] == '\0' || memcmp(id->str, ident, 40) < 0)) {
        memcpy(ident, id->str, 40);
        ident[40] = '\0';
    }
    return shard_find_or_add(cl, host, port);
}

/* Give slots a..b to shard sh in map; false if a..b is not a range of
 * hash slots (the reply is then refused whole). */
static bool map_range(uint8_t *map, long long a, long long b, int sh)
{
    if (a < 0 || b < a || b >= REDLOCK__HASH_SLOTS)
        return false;
    for (long long s = a; s <= b; s++)
        map[s] = (uint8_t)(sh + 1);
    return true;
}

/* Apply a CLUSTER SLOTS reply: [[start, end, [ip, port, id...],
 * replicas...]...]. An empty ip means the node asked. cl->mu held. */
static bool apply_slots(redlock__cluster *cl, const redisReply *r,
                        const char *asked_host, char ident[41])
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return false;
    uint8_t map[REDLOCK__HASH_SLOTS];
    memset(map, 0, sizeof(map));
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER)
            return false;
        long long a = e->element[0]->integer, b = e->element[1]->integer;
        const redisReply *m = e->element[2];
        if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
            m->element[0]->type != REDIS_REPLY_STRING ||
            m->element[1]->type != REDIS_REPLY_INTEGER ||
            m->element[1]->integer < 1 || m->element[1]->integer > 65535)
            return false;
        int sh = master_seen(cl, m->element[0],
                             (int)m->element[1]->integer,
                             m->elements >= 3 ? m->element[2] : NULL,
                             asked_host, ident);
        if (sh < 0 || !map_range(map, a, b, sh))
            return false;
    }
    map_install(cl, map);
    return true;
}

/* The value after key in a flat key/value array reply (CLUSTER SHARDS),
 * or NULL. */
static const redisReply *kv_get(const redisReply *r, const char *key)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) &&
            k->len == klen && memcmp(k->str, key, klen) == 0)
            return r->element[i + 1];
    }
    return NULL;
}

static bool kv_is(const redisReply *v, const char *want)
{
    return v != NULL &&
           (v->type == REDIS_REPLY_STRING || v->type == REDIS_REPLY_STATUS) &&
           v->len == strlen(want) && memcmp(v->str, want, v->len) == 0;
}

/* Apply a CLUSTER SHARDS reply: per shard, "slots" [start, end, ...] and
 * "nodes" [[id, port, ip, endpoint, role, health...]...]; the master's
 * "tls-port" for a rediss:// cluster. cl->mu held. */
static bool apply_shards(redlock__cluster *cl, const redisReply *r,
                         const char *asked_host, char ident[41])
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return false;
    uint8_t map[REDLOCK__HASH_SLOTS];
    memset(map, 0, sizeof(map));
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *slots = kv_get(r->element[i], "slots");
        const redisReply *nodes = kv_get(r->element[i], "nodes");
        if (slots == NULL || nodes == NULL ||
            slots->type != REDIS_REPLY_ARRAY ||
            nodes->type != REDIS_REPLY_ARRAY || slots->elements % 2 != 0)
            return false;
        if (slots->elements == 0)
            continue; /* a shard without slots (a new, empty master) */
        const redisReply *master = NULL;
        for (size_t k = 0; k < nodes->elements && master == NULL; k++)
            if (kv_is(kv_get(nodes->element[k], "role"), "master"))
                master = nodes->element[k];
        if (master == NULL)
            return false; /* slots without a master: try again later */
        const redisReply *port =
            kv_get(master, cl->uri.tls ? "tls-port" : "port");
        const redisReply *ip = kv_get(master, "ip");
        const redisReply *id = kv_get(master, "id");
        if (port == NULL || port->type != REDIS_REPLY_INTEGER ||
            port->integer < 1 || port->integer > 65535 || ip == NULL ||
            ip->type != REDIS_REPLY_STRING)
            return false;
        int sh = master_seen(cl, ip, (int)port->integer, id, asked_host,
                             ident);
        if (sh < 0)
            return false;
        for (size_t k = 0; k < slots->elements; k += 2) {
            const redisReply *a = slots->element[k], *b = slots->element[k + 1];
            if (a->type != REDIS_REPLY_INTEGER ||
                b->type != REDIS_REPLY_INTEGER ||
                !map_range(map, a->integer, b->integer, sh))
                return false;
        }
    }
    map_install(cl, map);
    return true;
}

/* on_done of a CLUSTER SHARDS or SLOTS op: on the thread that answered
 * it (a shard worker, under its io_mu). */
static void refresh_done(void *arg)
{
    redlock__cluster *cl = arg;
    pthread_mutex_lock(&cl->mu);
    redlock__op *op = cl->refresh;
    bool ok = false, fallback = false;
    char ident[41] = "";
    if (op != NULL) {
        const char *asked = cl->shards[cl->refresh_at].host;
        pthread_mutex_lock(&op->mu);
        const redisReply *r = redlock__op_reply_at(op, 0);
        bool answered = redlock__op_answer_at(op, 0) == REDLOCK__ANS_YES;
        pthread_mutex_unlock(&op->mu);
        if (answered)
            ok = cl->use_slots ? apply_slots(cl, r, asked, ident)
                               : apply_shards(cl, r, asked, ident);
        else if (!cl->use_slots && r != NULL && r->type == REDIS_REPLY_ERROR)
            /* No CLUSTER SHARDS here (Redis before 7.0): SLOTS, now. */
            fallback = true;
    }
    if (fallback) {
        cl->use_slots = true;
        cl->refresh_next_us = 0;
    } else if (!ok || cl->refresh_soon) {
        if (!ok)
            cl->refresh_from++; /* ask another shard next time */
        cl->refresh_next_us = cl->refresh_sent_us + CLUSTER_REFRESH_MIN_US;
    } else {
        cl->refresh_next_us = cl->refresh_sent_us + CLUSTER_REFRESH_EVERY_US;
    }
    cl->refresh_busy = false;
    pthread_mutex_unlock(&cl->mu);
    /* The same cluster given as two nodes votes once (the manager's
     * duplicate rule; outside cl->mu: dup_mu is a leaf). */
    if (ok && ident[0] != '\0')
        cl->env.set_run_id(cl->env.ctx, cl->idx, ident);
}

/* ------------------------------------------------------------------------
 * Routing
 * ------------------------------------------------------------------------ */

/* The shard node for s (cl->mu held): its key's master, or the first
 * shard when that is not known (its MOVED will say). NULL if none. */
static redlock__node *shard_for(redlock__cluster *cl, const redlock__slot *s,
                                bool *cross)
{
    const redlock__op *op = s->op;
    unsigned slot = 0;
    *cross = false;
    redlock__key_route rt = redlock__cluster_route_of(
        op->argc, op->argv, op->argvlen, &slot);
    if (rt == REDLOCK__ROUTE_CROSSSLOT) {
        *cross = true;
        return NULL;
    }
    size_t n = atomic_load_explicit(&cl->n_shards, memory_order_relaxed);
    if (n == 0)
        return NULL;
    if (rt == REDLOCK__ROUTE_SLOT && cl->map[slot] != 0)
        return cl->shards[cl->map[slot] - 1].node;
    return cl->shards[0].node;
}

void redlock__cluster_submit(redlock__cluster *cl, redlock__slot *s)
{
    bool cross;
    redlock__op *post;
    redlock__node *at = NULL;
    pthread_mutex_lock(&cl->mu);
    redlock__node *nd = shard_for(cl, s, &cross);
    refresh_want(cl, redlock__clock_now_us(), &post, &at);
    pthread_mutex_unlock(&cl->mu);
    refresh_post(post, at);
    if (nd != NULL) {
        redlock__node_submit(nd, s);
        return;
    }
    redlock__op_complete(
        s, REDLOCK__ANS_ERROR,
        cross ? REDLOCK_ECROSSSLOT : REDLOCK_ECLOSED, cl->uri.display,
        cross ? "keys in different hash slots (give them one hash tag, as "
                "in {order42})"
              : "cluster node has no shard");
}

bool redlock__cluster_try_send(redlock__cluster *cl, redlock__slot *s,
                               int *fd, uint64_t *gen, redlock__node **via)
{
    bool cross;
    redlock__op *post;
    redlock__node *at = NULL;
    pthread_mutex_lock(&cl->mu);
    redlock__node *nd = shard_for(cl, s, &cross);
    refresh_want(cl, redlock__clock_now_us(), &post, &at);
    pthread_mutex_unlock(&cl->mu);
    refresh_post(post, at);
    /* No shard (or keys across slots): redlock__cluster_submit() says
     * why. */
    return nd != NULL && redlock__node_try_send(nd, s, fd, gen, via);
}

bool redlock__cluster_redirect(redlock__cluster *cl, redlock__slot *s,
                               const char *text, size_t len,
                               const char *from_host)
{
    unsigned slot;
    char host[256];
    int port;
    int kind = redlock__cluster_parse_redirect(text, len, &slot, host,
                                               sizeof(host), &port);
    if (kind == 0 || s->redirects >= CLUSTER_REDIRECTS_MAX)
        return false;
    if (host[0] == '\0') /* "MOVED 3999 :6380": the same host */
        snprintf(host, sizeof(host), "%s", from_host);
    redlock__op *post;
    redlock__node *at = NULL;
    pthread_mutex_lock(&cl->mu);
    int sh = shard_find_or_add(cl, host, port);
    if (sh >= 0 && kind == 1) {
        shard_serves(cl, sh, redlock__clock_now_us());
        cl->map[slot] = (uint8_t)(sh + 1);
        /* The map moved under us: learn the rest of it too, within
         * CLUSTER_REFRESH_MIN_US of the last request. */
        refresh_hurry(cl);
    }
    redlock__node *nd = sh >= 0 ? cl->shards[sh].node : NULL;
    refresh_want(cl, redlock__clock_now_us(), &post, &at);
    pthread_mutex_unlock(&cl->mu);
    refresh_post(post, at);
    if (nd == NULL)
        return false;
    s->redirects++;
    s->asking = kind == 2;
    redlock__node_submit(nd, s);
    return true;
}

/* ------------------------------------------------------------------------
 * Life
 * ------------------------------------------------------------------------ */

redlock__cluster *redlock__cluster_new(const redlock__node_env *env,
                                       size_t idx, redlock__uri *u,
                                       redlock__node *self)
{
    redlock__cluster *cl = calloc(1, sizeof(*cl));
    if (cl == NULL)
        return NULL;
    if (pthread_mutex_init(&cl->mu, NULL) != 0) {
        free(cl);
        return NULL;
    }
    cl->env = *env;
    cl->idx = idx;
    cl->self = self;
    atomic_init(&cl->dup_of, -1);
    atomic_init(&cl->n_shards, 0);
    cl->uri = *u;
    memset(u, 0, sizeof(*u));
    /* The seeds: workers made now, started by redlock__cluster_start(). */
    pthread_mutex_lock(&cl->mu);
    bool ok = shard_find_or_add(cl, cl->uri.host, cl->uri.port) >= 0;
    for (size_t i = 0; ok && i < cl->uri.n_seeds; i++)
        ok = shard_find_or_add(cl, cl->uri.seeds[i].host,
                               cl->uri.seeds[i].port) >= 0;
    pthread_mutex_unlock(&cl->mu);
    if (!ok) {
        redlock__cluster_free(cl);
        return NULL;
    }
    return cl;
}

int redlock__cluster_start(redlock__cluster *cl)
{
    pthread_mutex_lock(&cl->mu);
    size_t n = atomic_load_explicit(&cl->n_shards, memory_order_relaxed);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = redlock__node_start(cl->shards[i].node);
    redlock__op *post = NULL;
    redlock__node *at = NULL;
    if (rc == 0) {
        cl->started = true;
        refresh_want(cl, redlock__clock_now_us(), &post, &at);
    }
    pthread_mutex_unlock(&cl->mu);
    refresh_post(post, at);
    return rc;
}

void redlock__cluster_stop(redlock__cluster *cl, uint64_t deadline_us)
{
    if (cl == NULL)
        return;
    pthread_mutex_lock(&cl->mu);
    cl->stopping = true; /* no shard is added from now on */
    size_t n = atomic_load_explicit(&cl->n_shards, memory_order_relaxed);
    pthread_mutex_unlock(&cl->mu);
    for (size_t i = 0; i < n; i++)
        redlock__node_stop(cl->shards[i].node, deadline_us);
}

void redlock__cluster_free(redlock__cluster *cl)
{
    if (cl == NULL)
        return;
    size_t n = atomic_load_explicit(&cl->n_shards, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        redlock__node_free(cl->shards[i].node);
    if (cl->refresh != NULL)
        redlock__op_unref(cl->refresh);
    redlock__uri_clear(&cl->uri);
    pthread_mutex_destroy(&cl->mu);
    free(cl);
}

void redlock__cluster_set_dup(redlock__cluster *cl, int of)
{
    atomic_store(&cl->dup_of, of);
    size_t n = atomic_load(&cl->n_shards);
    for (size_t i = 0; i < n; i++)
        redlock__node_set_dup(cl->shards[i].node, of);
}

uint64_t redlock__cluster_guard_left_us(redlock__cluster *cl, uint64_t now)
{
    uint64_t most = 0;
    size_t n = atomic_load_explicit(&cl->n_shards, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        uint64_t left = redlock__node_guard_left_us(cl->shards[i].node, now);
        if (left > most)
            most = left;
    }
    return most;
}

void redlock__cluster_shard_failed(redlock__cluster *cl)
{
    pthread_mutex_lock(&cl->mu);
    refresh_hurry(cl);
    pthread_mutex_unlock(&cl->mu);
}

uint64_t redlock__cluster_guard_left_key_us(redlock__cluster *cl,
                                            const char *key, size_t len,
                                            uint64_t now)
{
    unsigned slot = redlock__hash_slot(key, len);
    pthread_mutex_lock(&cl->mu);
    uint8_t sh = cl->map[slot];
    /* Shards are never removed before the cluster is freed: the node
     * stays valid once cl->mu is dropped. */
    redlock__node *nd = sh != 0 ? cl->shards[sh - 1].node : NULL;
    pthread_mutex_unlock(&cl->mu);
    if (nd == NULL)
        return redlock__cluster_guard_left_us(cl, now);
    return redlock__node_guard_left_us(nd, now);
}

void redlock__cluster_write_counts(redlock__cluster *cl, uint64_t *inl,
                                   uint64_t *worker)
{
    *inl = 0;
    *worker = 0;
    size_t n = atomic_load_explicit(&cl->n_shards, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        uint64_t a, b;
        redlock__node_write_counts(cl->shards[i].node, &a, &b);
        *inl += a;
        *worker += b;
    }
}

size_t redlock__cluster_shards(redlock__cluster *cl)
{
    return atomic_load_explicit(&cl->n_shards, memory_order_acquire);
}
