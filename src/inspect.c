/*
 * inspect.c: read-only views of a resource on every node (who holds it,
 * for how long), and of an election (who leads, its fence), for the
 * CLI's status commands and for monitoring.
 *
 * One EVAL per node returns the stored value and its PTTL together, so
 * both describe the same instant on that node. A node in its restart
 * guard (node.c) still answers these reads; its view says
 * REDLOCK_EGUARDED next to what it answered. The value is split at its
 * first space into the token and the owner label (value.c).
 */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hashslot.h"
#include "internal.h"
#include "manager.h"
#include "op.h"
#include "quorum.h"
#include "scripts.h"
#include "value.h"

/* KEYS[1]: the key. Returns {value or "", pttl}. */
static const char inspect_lua[] =
    "local v = redis.call('get', KEYS[1])\n"
    "if not v then v = '' end\n"
    "return {v, redis.call('pttl', KEYS[1])}\n";

/* Fill one view from node `node`'s answer (called with op->mu held). */
static void fill_view(const redlock__op *op, size_t node,
                      redlock_node_view *v)
{
    memset(v, 0, sizeof(*v));
    v->ttl_ms = -2;
    const redlock__answer answer = redlock__op_answer_at(op, node);
    const redisReply *r = redlock__op_reply_at(op, node);
    if (answer != REDLOCK__ANS_YES || r == NULL ||
        r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_INTEGER) {
        redlock_status err = redlock__op_error_at(op, node);
        v->error = answer == REDLOCK__ANS_NONE    ? REDLOCK_ETIMEDOUT
                   : answer == REDLOCK__ANS_ERROR ? err
                                                  : REDLOCK_EPROTO;
        if (v->error == REDLOCK_OK)
            v->error = REDLOCK_EPROTO;
        return;
    }
    v->reachable = 1;
    v->held = r->element[0]->len > 0;
    redlock__value_split(r->element[0]->str, r->element[0]->len, v->holder,
                         v->owner);
    v->ttl_ms = r->element[1]->integer;
}

/* Ask every node about one resource. */
redlock_status redlock_inspect(redlock_manager *m, const void *resource,
                               size_t resource_len, redlock_node_view *views,
                               size_t views_len)
{
    if (m == NULL || resource == NULL || resource_len == 0 || views == NULL)
        return REDLOCK_EINVAL;
    if (m->magic != REDLOCK__MANAGER_MAGIC)
        return REDLOCK_EMISUSE;
    if (resource_len > REDLOCK_RESOURCE_MAX || views_len < m->n)
        return REDLOCK_ERANGE;
    if (atomic_load_explicit(&m->closing, memory_order_acquire))
        return REDLOCK_ECLOSED;
    size_t keylen = m->prefix_len + resource_len;
    char *key = malloc(keylen);
    if (key == NULL)
        return REDLOCK_ENOMEM;
    memcpy(key, m->prefix, m->prefix_len);
    memcpy(key + m->prefix_len, resource, resource_len);
    const char *argv[4] = {"EVAL", inspect_lua, "1", key};
    size_t lens[4] = {4, strlen(inspect_lua), 1, keylen};
    redlock__op *op = redlock__op_new(REDLOCK__OP_RAW, m->n, 4, argv, lens,
                                      REDLOCK__SCRIPT_COUNT);
    if (op == NULL) {
        free(key);
        return REDLOCK_ENOMEM;
    }
    uint64_t limit = redlock__clock_now_us() +
                     (uint64_t)m->opts.command_timeout_ms * 1000u;
    op->deadline_us = limit;
    redlock__manager_ref(m);
    op->inline_io = true;
    redlock__op_submit(m->nodes, op);
    redlock__op_wait(op, limit, true);
    pthread_mutex_lock(&op->mu);
    for (size_t i = 0; i < m->n; i++)
        fill_view(op, i, &views[i]);
    pthread_mutex_unlock(&op->mu);
    /* A node in its restart guard answers reads, but does not vote: say
     * so next to what it answered. On a cluster node, the guard of the
     * shard that holds the key: another shard's failover does not stop
     * this resource's votes. */
    uint64_t now = redlock__clock_now_us();
    for (size_t i = 0; i < m->n; i++)
        if (views[i].reachable &&
            redlock__manager_guard_left_key_us(m, i, key, keylen, now) > 0)
            views[i].error = REDLOCK_EGUARDED;
    free(key);
    atomic_store_explicit(&op->abandoned, true, memory_order_release);
    redlock__op_unref(op);
    redlock__manager_unref(m);
    return REDLOCK_OK;
}

/* ------------------------------------------------------------------------
 * Observing an election
 * ------------------------------------------------------------------------ */

/* KEYS[1]: the election key, KEYS[2]: its fence counter. Returns {value
 * or "", pttl, counter or "0"}; the counter as a string, so a value above
 * Lua's exact integers is not rounded. */
static const char observe_lua[] =
    "local v = redis.call('get', KEYS[1])\n"
    "if not v then v = '' end\n"
    "local f = redis.call('get', KEYS[2])\n"
    "if not f then f = '0' end\n"
    "return {v, redis.call('pttl', KEYS[1]), f}\n";

/* Read one node's answer to observe_lua (op->mu held). A node that failed,
 * or answered in another shape or with a counter that is not a decimal
 * number, is left unanswered. */
static void fill_reading(const redlock__op *op, size_t node,
                         redlock__leader_reading *rd)
{
    memset(rd, 0, sizeof(*rd));
    rd->pttl_ms = -2;
    const redisReply *r = redlock__op_reply_at(op, node);
    if (redlock__op_answer_at(op, node) != REDLOCK__ANS_YES || r == NULL ||
        r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return;
    const redisReply *f = r->element[2];
    uint64_t fence = 0;
    if (f->len == 0 || f->len > 19)
        return;
    for (size_t i = 0; i < f->len; i++) {
        if (f->str[i] < '0' || f->str[i] > '9')
            return;
        fence = fence * 10u + (uint64_t)(f->str[i] - '0');
    }
    rd->answered = true;
    rd->fence = fence;
    redlock__value_split(r->element[0]->str, r->element[0]->len, rd->token,
                         rd->owner);
    rd->pttl_ms = r->element[1]->integer;
}

/* Who leads the election `name`; see redlock.h. */
redlock_status redlock_election_observe(redlock_manager *m, const char *name,
                                        redlock_leader_view *out)
{
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
        out->ttl_ms = -2;
    }
    if (m == NULL || name == NULL || name[0] == '\0' || out == NULL)
        return REDLOCK_EINVAL;
    if (m->magic != REDLOCK__MANAGER_MAGIC)
        return REDLOCK_EMISUSE;
    size_t name_len = strlen(name);
    if (name_len + 9 > REDLOCK_RESOURCE_MAX)
        return REDLOCK_ERANGE;
    if (!redlock__election_keys_ok(m, name, name_len))
        return REDLOCK_ECROSSSLOT;
    if (atomic_load_explicit(&m->closing, memory_order_acquire))
        return REDLOCK_ECLOSED;
    /* "<prefix>election:<name>" and the same with ":fence", in one
     * buffer: the key is the first keylen bytes. */
    size_t keylen = m->prefix_len + 9 + name_len;
    char *keys = malloc(keylen + 6);
    if (keys == NULL)
        return REDLOCK_ENOMEM;
    memcpy(keys, m->prefix, m->prefix_len);
    memcpy(keys + m->prefix_len, "election:", 9);
    memcpy(keys + m->prefix_len + 9, name, name_len);
    memcpy(keys + keylen, ":fence", 6);
    const char *argv[5] = {"EVAL", observe_lua, "2", keys, keys};
    size_t lens[5] = {4, strlen(observe_lua), 1, keylen, keylen + 6};
    redlock__op *op = redlock__op_new(REDLOCK__OP_RAW, m->n, 5, argv, lens,
                                      REDLOCK__SCRIPT_COUNT);
    free(keys);
    if (op == NULL)
        return REDLOCK_ENOMEM;
    redlock__leader_reading *rd = calloc(m->n, sizeof(*rd));
    if (rd == NULL) {
        redlock__op_unref(op);
        return REDLOCK_ENOMEM;
    }
    uint64_t limit = redlock__clock_now_us() +
                     (uint64_t)m->opts.command_timeout_ms * 1000u;
    op->deadline_us = limit;
    redlock__manager_ref(m);
    op->inline_io = true;
    redlock__op_submit(m->nodes, op);
    redlock__op_wait(op, limit, true);
    pthread_mutex_lock(&op->mu);
    for (size_t i = 0; i < m->n; i++)
        fill_reading(op, i, &rd[i]);
    pthread_mutex_unlock(&op->mu);
    atomic_store_explicit(&op->abandoned, true, memory_order_release);
    redlock__op_unref(op);
    redlock_status st = redlock__leader_decide(m->n, rd, out);
    free(rd);
    redlock__manager_unref(m);
    return st;
}

/* An election's two keys, "<prefix>election:<name>" and the same with
 * ":fence", are read by one script: on a cluster node they must share a
 * hash slot (a hash tag in the name or the prefix). */
bool redlock__election_keys_ok(const redlock_manager *m, const char *name,
                               size_t name_len)
{
    if (!m->has_cluster)
        return true;
    char key[REDLOCK_RESOURCE_MAX + 512];
    size_t len = m->prefix_len + 9 + name_len;
    if (len + 6 > sizeof(key))
        return false;
    memcpy(key, m->prefix, m->prefix_len);
    memcpy(key + m->prefix_len, "election:", 9);
    memcpy(key + m->prefix_len + 9, name, name_len);
    memcpy(key + len, ":fence", 6);
    return redlock__hash_slot(key, len) == redlock__hash_slot(key, len + 6);
}
