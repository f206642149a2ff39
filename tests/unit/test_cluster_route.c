/*
 * test_cluster_route.c: the pure parts of cluster and sentinel nodes,
 * driven by tables: where a command goes on a cluster (its keys' slot,
 * any shard, or refused for keys in different slots), the MOVED and ASK
 * replies a shard may send, and a sentinel's answer to
 * get-master-addr-by-name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cluster.h"
#include "hashslot.h"
#include "sentinel.h"

/* Run route_of on a NULL-terminated argv. */
static redlock__key_route route(const char *const *argv, unsigned *slot)
{
    size_t lens[16];
    int argc = 0;
    while (argv[argc] != NULL) {
        lens[argc] = strlen(argv[argc]);
        argc++;
    }
    *slot = 99999;
    return redlock__cluster_route_of(argc, argv, lens, slot);
}

static void test_route_of(void **state)
{
    (void)state;
    static const struct {
        const char *argv[10];
        redlock__key_route want;
        const char *key; /* its slot is the expected one */
    } table[] = {
        {{"SET", "foo", "tok", "NX", "PX", "100", NULL}, REDLOCK__ROUTE_SLOT,
         "foo"},
        {{"set", "bar", "tok", NULL}, REDLOCK__ROUTE_SLOT, "bar"},
        {{"DEL", "a", NULL}, REDLOCK__ROUTE_SLOT, "a"},
        {{"EVALSHA", "0123", "2", "{o}:a", "{o}:b", "tok", NULL},
         REDLOCK__ROUTE_SLOT, "o"},
        {{"EVAL", "src", "1", "x:fence", "5", NULL}, REDLOCK__ROUTE_SLOT,
         "x:fence"},
        {{"EVALSHA", "0123", "2", "a", "b", "tok", NULL},
         REDLOCK__ROUTE_CROSSSLOT, NULL},
        {{"EVAL", "src", "0", NULL}, REDLOCK__ROUTE_ANY, NULL},
        {{"EVAL", "src", "x", "k", NULL}, REDLOCK__ROUTE_ANY, NULL},
        {{"EVAL", "src", NULL}, REDLOCK__ROUTE_ANY, NULL},
        {{"INFO", "server", NULL}, REDLOCK__ROUTE_ANY, NULL},
        {{"PING", NULL}, REDLOCK__ROUTE_ANY, NULL},
        /* numkeys larger than what follows: only what is there counts */
        {{"EVAL", "src", "3", "{t}1", "{t}2", NULL}, REDLOCK__ROUTE_SLOT,
         "t"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        unsigned slot;
        redlock__key_route got = route(table[i].argv, &slot);
        if (got != table[i].want)
            fail_msg("row %zu (%s %s): route %d, want %d", i,
                     table[i].argv[0], table[i].argv[1] ? table[i].argv[1]
                                                        : "",
                     (int)got, (int)table[i].want);
        if (table[i].key != NULL)
            assert_int_equal(slot, redlock__hash_slot(table[i].key,
                                                      strlen(table[i].key)));
    }
}

static void test_parse_redirect(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int kind;
        unsigned slot;
        const char *host;
        int port;
    } table[] = {
        {"MOVED 3999 127.0.0.1:6381", 1, 3999, "127.0.0.1", 6381},
        {"ASK 0 10.0.0.2:7000", 2, 0, "10.0.0.2", 7000},
        {"MOVED 16383 [::1]:7001", 1, 16383, "::1", 7001},
        {"MOVED 16383 ::1:7001", 1, 16383, "::1", 7001},
        {"MOVED 12 redis-3.internal:6379", 1, 12, "redis-3.internal", 6379},
        {"MOVED 16384 h:1", 0, 0, NULL, 0},      /* no such slot */
        {"MOVED x h:1", 0, 0, NULL, 0},
        {"MOVED 1 h", 0, 0, NULL, 0},            /* no port */
        {"MOVED 1 h:0", 0, 0, NULL, 0},
        {"MOVED 1 h:65536", 0, 0, NULL, 0},
        {"MOVED 1 :80", 1, 1, "", 80}, /* the host that replied */
        {"MOVED 1", 0, 0, NULL, 0},
        {"TRYAGAIN Multiple keys request during rehashing of slot", 0, 0,
         NULL, 0},
        {"CLUSTERDOWN The cluster is down", 0, 0, NULL, 0},
        {"ERR unknown command", 0, 0, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        unsigned slot = 0;
        int port = 0;
        char host[64] = "";
        int kind = redlock__cluster_parse_redirect(
            table[i].text, strlen(table[i].text), &slot, host, sizeof(host),
            &port);
        if (kind != table[i].kind)
            fail_msg("\"%s\": kind %d, want %d", table[i].text, kind,
                     table[i].kind);
        if (kind == 0)
            continue;
        assert_int_equal(slot, table[i].slot);
        assert_string_equal(host, table[i].host);
        assert_int_equal(port, table[i].port);
    }
    /* A host longer than the buffer is refused, not cut. */
    char small[4];
    unsigned slot;
    int port;
    assert_int_equal(redlock__cluster_parse_redirect("MOVED 1 abcdef:1", 16,
                                                     &slot, small,
                                                     sizeof(small), &port),
                     0);
}

/* Build a reply the way hiredis would, for the sentinel parser. */
static redisReply *str_reply(const char *s)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_STRING;
    r->len = strlen(s);
    r->str = strdup(s);
    return r;
}

static void test_sentinel_addr(void **state)
{
    (void)state;
    static const struct {
        const char *host, *port;
        bool ok;
        int want_port;
    } table[] = {
        {"127.0.0.1", "6379", true, 6379},
        {"10.1.2.3", "65535", true, 65535},
        {"h", "0", false, 0},
        {"h", "65536", false, 0},
        {"h", "63x9", false, 0},
        {"", "6379", false, 0},
        {"h", "", false, 0},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        redisReply arr;
        memset(&arr, 0, sizeof(arr));
        redisReply *el[2] = {str_reply(table[i].host),
                             str_reply(table[i].port)};
        arr.type = REDIS_REPLY_ARRAY;
        arr.elements = 2;
        arr.element = el;
        char host[64];
        int port = 0;
        bool ok = redlock__sentinel_parse_addr(&arr, host, sizeof(host),
                                               &port);
        if (ok != table[i].ok)
            fail_msg("row %zu: %d, want %d", i, ok, table[i].ok);
        if (ok) {
            assert_string_equal(host, table[i].host);
            assert_int_equal(port, table[i].want_port);
        }
        for (int k = 0; k < 2; k++) {
            free(el[k]->str);
            free(el[k]);
        }
    }
    /* nil (the sentinel does not know the name) and other shapes. */
    redisReply nil;
    memset(&nil, 0, sizeof(nil));
    nil.type = REDIS_REPLY_NIL;
    char host[64];
    int port;
    assert_false(redlock__sentinel_parse_addr(&nil, host, sizeof(host),
                                              &port));
    assert_false(redlock__sentinel_parse_addr(NULL, host, sizeof(host),
                                              &port));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_of),
        cmocka_unit_test(test_parse_redirect),
        cmocka_unit_test(test_sentinel_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
