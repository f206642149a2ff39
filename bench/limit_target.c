/*
 * limit_target.c: where the limit clients of each node connect, and which
 * keys they write, for nodes that are not one plain server.
 *
 * DESIGN
 * The limits L1, L1q and L2 (nodes.c, limit_inline.c) talk to a node with
 * raw hiredis round trips and no redirection handling, which is right for
 * a plain server. For the two other kinds of node (issue 17):
 *  - A Redis Cluster node (redis://H:P?cluster=yes&seed=...): the limit
 *    clients connect to the first seed only, and every limit key carries a
 *    hash tag (":{rlbN}") chosen here so that its slot is served by that
 *    seed, so no command is ever answered -MOVED. The seed's slots are
 *    read once from CLUSTER NODES (its "myself" line, which must say
 *    master); the tag's slot is computed locally with the library's own
 *    CRC16 (src/hashslot.c, compiled into the bench like src/uri.c). L1q
 *    sends one command to all nodes, so one tag serves the whole node set:
 *    its slot must be served by every cluster's seed. Spawned clusters
 *    (--spawn-cluster) all give the first master slots 0..16383/S, so a
 *    tag always exists; for given clusters whose seeds share no slot the
 *    limits are reported as not measured rather than measured wrongly.
 *    What the numbers then mean: L1 is the round trip to one master of
 *    the cluster (a lock key goes to its slot's master, one hop like
 *    this one, on another port), L2 is the capacity of the seed master
 *    alone, one shard out of S, so it understates what the whole cluster
 *    takes; main.c does not print the W2/L2 ratio for such a set.
 *  - A Sentinel node (sentinel://H:P/NAME?sentinel=...): the master is
 *    asked once, at setup, with SENTINEL get-master-addr-by-name from the
 *    first sentinel that answers, and the limit clients connect there
 *    with the node's data credentials. A failover during the limits
 *    makes them fail like an unreachable node (they are measured before
 *    the workloads, in a few seconds).
 * Rejected: following -MOVED in the limit clients (a redirect inside a
 * timed round trip measures the redirect, and L2's pipelines would need
 * per-key routing); spreading L2 over every master of a cluster (needs
 * per-master connections and keys, and the other masters' addresses as
 * the cluster announces them, which may not be reachable as given;
 * left for later, the output says what L2 covers); asking CLUSTER KEYSLOT
 * per candidate tag (a round trip per try; the CRC is local and exact).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "limit_target.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "hashslot.h"

/* Candidate tags tried before giving up (a slot of the intersection is
 * hit within ~16384 tries on average). */
#define TAG_TRIES 2000000u

/* One bit per hash slot. */
typedef struct slotset {
    unsigned char bit[RC_SLOTS / 8];
} slotset;

static void slot_add(slotset *s, long a, long b)
{
    for (long i = a; i <= b && i < RC_SLOTS; i++)
        if (i >= 0)
            s->bit[i / 8] |= (unsigned char)(1u << (i % 8));
}

static int slot_has(const slotset *s, unsigned i)
{
    return (s->bit[i / 8] >> (i % 8)) & 1;
}

/* Parse the seed's own line of CLUSTER NODES ("myself") into s: its slot
 * ranges ("a-b" or "a"; "[...]" migration entries skipped). Returns 0, 1
 * if the seed is not a master or serves no slot (reason in why), -1 on a
 * malformed reply. */
static int myself_slots(const char *nodes, slotset *s, char *why,
                        size_t whylen)
{
    const char *line = nodes;

    memset(s, 0, sizeof(*s));
    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char buf[8192], *save = NULL, *tok;
        int field = 0, mine = 0, master = 0, any = 0;
        if (len >= sizeof(buf))
            len = sizeof(buf) - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        for (tok = strtok_r(buf, " \r", &save); tok != NULL;
             tok = strtok_r(NULL, " \r", &save), field++) {
            if (field == 2) {
                mine = strstr(tok, "myself") != NULL;
                master = strstr(tok, "master") != NULL;
                if (!mine)
                    break;
            } else if (field >= 8 && tok[0] != '[') {
                char *dash = strchr(tok, '-');
                long a = strtol(tok, NULL, 10);
                long b = dash != NULL ? strtol(dash + 1, NULL, 10) : a;
                slot_add(s, a, b);
                any = 1;
            }
        }
        if (mine) {
            if (!master || !any) {
                snprintf(why, whylen, "the cluster's first seed is %s",
                         master ? "a master without slots" : "not a master");
                return 1;
            }
            return 0;
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return -1;
}

/* The slots the first seed of cluster node uri serves, into s. Returns 0,
 * 1 (not measurable; why), or -1 (unreachable; message on stderr). */
static int seed_slots(const char *uri, const bench_link *lk, slotset *s,
                      char *why, size_t whylen)
{
    static const char *argv[2] = {"CLUSTER", "NODES"};
    bconn *c = bc_connect(uri, lk);
    redisReply *r;
    int rc;

    if (c == NULL)
        return -1;
    r = bc_command(c, 2, argv);
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "redlock-bench: limits: CLUSTER NODES on %s: %s\n",
                c->display,
                r == NULL ? bc_errstr(c)
                          : r->type == REDIS_REPLY_ERROR ? r->str
                                                         : "odd reply");
        rc = -1;
    } else {
        rc = myself_slots(r->str, s, why, whylen);
        if (rc < 0)
            fprintf(stderr, "redlock-bench: limits: CLUSTER NODES on %s: "
                            "no line for the seed itself\n", c->display);
    }
    if (r != NULL)
        freeReplyObject(r);
    bc_free(c);
    return rc;
}

/* Append s percent-encoded (everything but RFC 3986 unreserved). */
static void pct_append(char *out, size_t cap, const char *s)
{
    size_t n = strlen(out);

    for (; *s != '\0' && n + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
            ch == '_' || ch == '~')
            out[n++] = (char)ch;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", ch);
    }
    out[n] = '\0';
}

/* A redis[s]:// URI string for the plain server m (credentials kept). */
static void member_uri(const redlock__uri *m, char *out, size_t cap)
{
    size_t n;

    snprintf(out, cap, "%s://", m->tls ? "rediss" : "redis");
    if (m->password != NULL) {
        if (m->user != NULL)
            pct_append(out, cap, m->user);
        n = strlen(out);
        snprintf(out + n, cap - n, ":");
        pct_append(out, cap, m->password);
        n = strlen(out);
        snprintf(out + n, cap - n, "@");
    }
    n = strlen(out);
    snprintf(out + n, cap - n, strchr(m->host, ':') != NULL ? "[%s]:%d"
                                                             : "%s:%d",
             m->host, m->port);
    if (m->db != 0) {
        n = strlen(out);
        snprintf(out + n, cap - n, "/%d", m->db);
    }
}

/* Ask the sentinels of u, in order, for the master's address; write a
 * URI for it into out. Returns 0 or 1 (no sentinel answered; why). */
static int sentinel_master(const redlock__uri *u, const bench_link *lk,
                           char *out, size_t cap, char *why, size_t whylen)
{
    for (size_t i = 0; i <= u->n_seeds; i++) {
        const char *argv[3] = {"SENTINEL", "get-master-addr-by-name",
                               u->master_name};
        redlock__uri s, m;
        bconn *c;
        redisReply *r;
        int ok = 0;
        if (redlock__uri_sentinel_at(u, i, &s) != REDLOCK_OK)
            continue;
        c = bc_connect_uri(&s, lk);
        redlock__uri_clear(&s);
        if (c == NULL)
            continue;
        r = bc_command(c, 3, argv);
        if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[0]->type == REDIS_REPLY_STRING &&
            r->element[1]->type == REDIS_REPLY_STRING &&
            redlock__uri_member(u, r->element[0]->str,
                                atoi(r->element[1]->str), &m) ==
                REDLOCK_OK) {
            member_uri(&m, out, cap);
            redlock__uri_clear(&m);
            ok = 1;
        }
        if (r != NULL)
            freeReplyObject(r);
        bc_free(c);
        if (ok)
            return 0;
    }
    snprintf(why, whylen, "no sentinel of %s named its master", u->display);
    return 1;
}

/* 1 if head's hash tag decides the slot of head + any suffix: the first
 * '{' of head is followed, inside head, by a '}' with at least one byte
 * between (the rule of Redis Cluster keys), so every limit key
 * "<head>:l2:<n>" and "<head>:l1q:<i>" has the slot of head. */
static int tag_effective(const char *head)
{
    const char *open = strchr(head, '{');
    const char *close = open != NULL ? strchr(open + 1, '}') : NULL;

    return close != NULL && close > open + 1;
}

/* 1 if "<prefix><run_id><tag>" decides its keys' slot and that slot is
 * in s. */
static int head_in(const slotset *s, const char *prefix, const char *run_id,
                   const char *tag)
{
    char head[BENCH_PREFIX_MAX + 96];
    int n = snprintf(head, sizeof(head), "%s%s%s", prefix, run_id, tag);

    return n > 0 && (size_t)n < sizeof(head) && tag_effective(head) &&
           slot_has(s, redlock__hash_slot(head, (size_t)n));
}

int bench_nodes_any_cluster(const bench_nodes *nd)
{
    int any = 0;

    for (size_t i = 0; i < nd->n && !any; i++) {
        redlock__uri u;
        if (redlock__uri_parse(nd->uris[i], &u, NULL, 0) == REDLOCK_OK) {
            any = u.kind == REDLOCK__URI_CLUSTER;
            redlock__uri_clear(&u);
        }
    }
    return any;
}

int bench_limit_targets(bench_nodes *nd, const bench_link *lk,
                        const char *prefix, const char *run_id,
                        bench_limits *l, char *why, size_t whylen)
{
    slotset *all = calloc(2, sizeof(slotset)), *one;
    int clusters = 0, rc = 0;

    if (all == NULL)
        return -1;
    one = all + 1;
    memset(all->bit, 0xff, sizeof(all->bit));
    nd->limit_tag[0] = '\0';
    l->cluster_nodes = l->sentinel_nodes = 0;
    for (size_t i = 0; i < nd->n && rc == 0; i++) {
        redlock__uri u;
        char err[200];
        if (redlock__uri_parse(nd->uris[i], &u, err, sizeof(err)) !=
            REDLOCK_OK) {
            fprintf(stderr, "redlock-bench: node URI for the limits: %s\n",
                    err);
            rc = -1;
            break;
        }
        snprintf(nd->limit_uri[i], sizeof(nd->limit_uri[i]), "%s",
                 nd->uris[i]);
        if (u.kind == REDLOCK__URI_CLUSTER) {
            l->cluster_nodes++;
            clusters = 1;
            rc = seed_slots(nd->uris[i], lk, one, why, whylen);
            for (size_t k = 0; rc == 0 && k < sizeof(all->bit); k++)
                all->bit[k] &= one->bit[k];
        } else if (u.kind == REDLOCK__URI_SENTINEL) {
            l->sentinel_nodes++;
            rc = sentinel_master(&u, lk, nd->limit_uri[i],
                                 sizeof(nd->limit_uri[i]), why, whylen);
        }
        redlock__uri_clear(&u);
    }
    if (rc == 0 && clusters) {
        char tag[32];
        rc = 1;
        for (unsigned t = 0; t < TAG_TRIES; t++) {
            snprintf(tag, sizeof(tag), ":{rlb%u}", t);
            if (head_in(all, prefix, run_id, tag)) {
                memcpy(nd->limit_tag, tag, sizeof(tag));
                rc = 0;
                break;
            }
        }
        if (rc != 0)
            snprintf(why, whylen, "no key hash tag maps to a slot served "
                                  "by every cluster's first seed (or the "
                                  "key prefix's braces decide the slot)");
    }
    free(all);
    return rc;
}
