/*
 * inspect.c: read-only views of a resource on every node (who holds it,
 * for how long), for the CLI's status command and for monitoring.
 *
 * One EVAL per node returns the stored value and its PTTL together, so
 * both describe the same instant on that node. The value is split at its
 * first space into the token and the owner label (value.c).
 */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* KEYS[1]: the key. Returns {value or "", pttl}. */
static const char inspect_lua[] =
    "local v = redis.call('get', KEYS[1])\n"
    "if not v then v = '' end\n"
    "return {v, redis.call('pttl', KEYS[1])}\n";

/* Fill one view from node i's slot (called with op->mu held). */
static void fill_view(const redlock__slot *s, redlock_node_view *v)
{
    memset(v, 0, sizeof(*v));
    v->ttl_ms = -2;
    const redisReply *r = s->reply;
    if (s->answer != REDLOCK__ANS_YES || r == NULL ||
        r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_INTEGER) {
        v->error = s->answer == REDLOCK__ANS_NONE ? REDLOCK_ETIMEDOUT
                   : s->answer == REDLOCK__ANS_ERROR ? s->error
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
    free(key);
    if (op == NULL)
        return REDLOCK_ENOMEM;
    uint64_t limit = redlock__clock_now_us() +
                     (uint64_t)m->opts.command_timeout_ms * 1000u;
    op->deadline_us = limit;
    redlock__manager_ref(m);
    redlock__op_submit(m, op);
    redlock__op_wait(op, limit, true);
    pthread_mutex_lock(&op->mu);
    for (size_t i = 0; i < m->n; i++)
        fill_view(&op->slots[i], &views[i]);
    pthread_mutex_unlock(&op->mu);
    atomic_store_explicit(&op->abandoned, true, memory_order_release);
    redlock__op_unref(op);
    redlock__manager_unref(m);
    return REDLOCK_OK;
}
