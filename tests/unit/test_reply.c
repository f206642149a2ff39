/*
 * test_reply.c: the bounded reply builder and the reply-to-answer mapping
 * (src/reply.c), driven by tables of RESP input through a real hiredis
 * 0.14.1 reader: normal replies are built as ordinary redisReply trees,
 * values over the limits make the reader fail (with the guard naming the
 * reason), the input buffer check trips, and every operation kind maps
 * replies to the answers node.c relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reply.h"

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* What feeding one input gave. */
typedef enum outcome {
    GOT_REPLY = 0,   /* a complete reply came out */
    GOT_NOTHING = 1, /* no error, but the reply is incomplete */
    GOT_ERROR = 2    /* the reader failed */
} outcome;

/* Feed len bytes at in to a fresh bounded reader and take one reply.
 * Stores the reply (caller frees it) or NULL in *out, and the reader's
 * error text into errstr (errlen bytes). guard may be NULL. */
static outcome parse_one(const char *in, size_t len, redisReply **out,
                         redlock__reply_guard *guard, char *errstr,
                         size_t errlen)
{
    redisReader *rd = redisReaderCreate();
    assert_non_null(rd);
    redlock__reply_reader_init(rd, guard);
    *out = NULL;
    errstr[0] = '\0';
    void *reply = NULL;
    int rc = redisReaderFeed(rd, in, len);
    if (rc == REDIS_OK)
        rc = redisReaderGetReply(rd, &reply);
    if (rc != REDIS_OK)
        snprintf(errstr, errlen, "%s", rd->errstr);
    redisReaderFree(rd);
    *out = reply;
    if (rc != REDIS_OK)
        return GOT_ERROR;
    return reply != NULL ? GOT_REPLY : GOT_NOTHING;
}

/* A heap buffer that test inputs are built in. */
typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

/* Append n bytes at s to b, growing it. */
static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Append a NUL-terminated string to b. */
static void buf_str(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* Append n copies of byte c to b. */
static void buf_fill(buf *b, char c, size_t n)
{
    char chunk[4096];
    memset(chunk, c, sizeof(chunk));
    while (n > 0) {
        size_t k = n < sizeof(chunk) ? n : sizeof(chunk);
        buf_add(b, chunk, k);
        n -= k;
    }
}

/* Append a RESP header such as "*1024\r\n" or "$5\r\n" to b. */
static void buf_header(buf *b, char type, size_t n)
{
    char h[32];
    int k = snprintf(h, sizeof(h), "%c%zu\r\n", type, n);
    assert_true(k > 0 && (size_t)k < sizeof(h));
    buf_add(b, h, (size_t)k);
}

/* Append a bulk string of n bytes of 'x' to b. */
static void buf_bulk(buf *b, size_t n)
{
    buf_header(b, '$', n);
    buf_fill(b, 'x', n);
    buf_str(b, "\r\n");
}

/* Release b's memory. */
static void buf_free(buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------------
 * Building replies
 * ------------------------------------------------------------------------ */

/* Ordinary replies come out as the same redisReply trees hiredis's own
 * builder makes. */
static void test_normal_replies(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int type;
        long long integer; /* INTEGER */
        const char *str;   /* STATUS, ERROR, STRING */
        size_t elements;   /* ARRAY */
    } cases[] = {
        {"+OK\r\n", REDIS_REPLY_STATUS, 0, "OK", 0},
        {"$-1\r\n", REDIS_REPLY_NIL, 0, NULL, 0},
        {"*-1\r\n", REDIS_REPLY_NIL, 0, NULL, 0},
        {":1\r\n", REDIS_REPLY_INTEGER, 1, NULL, 0},
        {":-42\r\n", REDIS_REPLY_INTEGER, -42, NULL, 0},
        {"$0\r\n\r\n", REDIS_REPLY_STRING, 0, "", 0},
        {"$3\r\nabc\r\n", REDIS_REPLY_STRING, 0, "abc", 0},
        {"-NOSCRIPT No matching script\r\n", REDIS_REPLY_ERROR, 0,
         "NOSCRIPT No matching script", 0},
        {"*0\r\n", REDIS_REPLY_ARRAY, 0, NULL, 0},
        {"*2\r\n$3\r\nabc\r\n:5\r\n", REDIS_REPLY_ARRAY, 0, NULL, 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        redlock__reply_guard g;
        redisReply *r;
        char err[128];
        outcome o = parse_one(cases[i].in, strlen(cases[i].in), &r, &g, err,
                              sizeof(err));
        if (o != GOT_REPLY)
            fail_msg("%s: outcome %d (%s)", cases[i].in, (int)o, err);
        if (r->type != cases[i].type)
            fail_msg("%s: type %d, want %d", cases[i].in, r->type,
                     cases[i].type);
        if (cases[i].type == REDIS_REPLY_INTEGER)
            assert_int_equal(r->integer, cases[i].integer);
        if (cases[i].str != NULL) {
            assert_int_equal(r->len, strlen(cases[i].str));
            assert_string_equal(r->str, cases[i].str);
        }
        if (cases[i].type == REDIS_REPLY_ARRAY)
            assert_int_equal(r->elements, cases[i].elements);
        assert_null(g.refused);
        freeReplyObject(r);
    }
}

/* Array elements are linked in order into their parent, nested arrays
 * too, and freeReplyObject() frees the whole tree (ASan checks). */
static void test_nested_tree(void **state)
{
    (void)state;
    static const char in[] = "*3\r\n:7\r\n*2\r\n+a\r\n$-1\r\n$2\r\nhi\r\n";
    redlock__reply_guard g;
    redisReply *r;
    char err[128];
    assert_int_equal(parse_one(in, sizeof(in) - 1, &r, &g, err, sizeof(err)),
                     GOT_REPLY);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 3);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->element[0]->integer, 7);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[1]->elements, 2);
    assert_int_equal(r->element[1]->element[0]->type, REDIS_REPLY_STATUS);
    assert_string_equal(r->element[1]->element[0]->str, "a");
    assert_int_equal(r->element[1]->element[1]->type, REDIS_REPLY_NIL);
    assert_int_equal(r->element[2]->type, REDIS_REPLY_STRING);
    assert_string_equal(r->element[2]->str, "hi");
    freeReplyObject(r);
}

/* Values at the limits are accepted; one more is refused, the reader
 * fails, and the guard says why. */
static void test_limits(void **state)
{
    (void)state;
    enum {
        ARRAY_AT,
        ARRAY_OVER,
        ARRAY_HUGE,
        BULK_AT,
        BULK_OVER,
        STATUS_OVER,
        ERROR_OVER,
        DEPTH_AT,
        DEPTH_OVER,
        TOTAL_OVER,
        CHILD_OVER,
        CASES
    };
    static const struct {
        const char *name;
        bool accepted;
        const char *reason; /* substring of guard.refused, or NULL */
    } want[CASES] = {
        [ARRAY_AT] = {"array at the element limit", true, NULL},
        [ARRAY_OVER] = {"array one over", false, "too many elements"},
        [ARRAY_HUGE] = {"*99999999", false, "too many elements"},
        [BULK_AT] = {"bulk at the string limit", true, NULL},
        [BULK_OVER] = {"bulk one over", false, "too long"},
        [STATUS_OVER] = {"status line one over", false, "too long"},
        [ERROR_OVER] = {"error line one over", false, "too long"},
        [DEPTH_AT] = {"arrays nested 8 deep", true, NULL},
        [DEPTH_OVER] = {"arrays nested 9 deep", false, NULL},
        [TOTAL_OVER] = {"many full arrays", false, "too large in total"},
        [CHILD_OVER] = {"refused child of a root", false, "too long"},
    };
    for (int c = 0; c < CASES; c++) {
        buf b = {0};
        switch (c) {
        case ARRAY_AT:
        case ARRAY_OVER: {
            size_t n = REDLOCK_REPLY_MAX_ELEMENTS + (c == ARRAY_OVER);
            buf_header(&b, '*', n);
            for (size_t i = 0; i < n; i++)
                buf_str(&b, ":1\r\n");
            break;
        }
        case ARRAY_HUGE:
            buf_str(&b, "*99999999\r\n");
            break;
        case BULK_AT:
        case BULK_OVER:
            buf_bulk(&b, REDLOCK_REPLY_MAX_STRING + (c == BULK_OVER));
            break;
        case STATUS_OVER:
        case ERROR_OVER:
            buf_str(&b, c == STATUS_OVER ? "+" : "-");
            buf_fill(&b, 'y', REDLOCK_REPLY_MAX_STRING + 1);
            buf_str(&b, "\r\n");
            break;
        case DEPTH_AT:
        case DEPTH_OVER: {
            int arrays = c == DEPTH_AT ? REDLOCK_REPLY_MAX_DEPTH + 1
                                       : REDLOCK_REPLY_MAX_DEPTH + 2;
            for (int i = 0; i < arrays; i++)
                buf_str(&b, "*1\r\n");
            buf_str(&b, ":1\r\n");
            break;
        }
        case TOTAL_OVER:
            /* Each inner array is within every per-value limit; together
             * they pass the total. */
            buf_header(&b, '*', REDLOCK_REPLY_MAX_ELEMENTS);
            for (size_t i = 0; i < REDLOCK_REPLY_MAX_ELEMENTS; i++) {
                buf_header(&b, '*', REDLOCK_REPLY_MAX_ELEMENTS);
                for (size_t j = 0; j < REDLOCK_REPLY_MAX_ELEMENTS; j++)
                    buf_str(&b, ":1\r\n");
            }
            break;
        case CHILD_OVER:
            /* The root exists when the child is refused: the reader must
             * free the partial tree (ASan checks). */
            buf_str(&b, "*3\r\n:1\r\n$2\r\nok\r\n");
            buf_bulk(&b, REDLOCK_REPLY_MAX_STRING + 1);
            break;
        }
        redlock__reply_guard g;
        redisReply *r;
        char err[128];
        outcome o = parse_one(b.p, b.len, &r, &g, err, sizeof(err));
        buf_free(&b);
        if (want[c].accepted) {
            if (o != GOT_REPLY)
                fail_msg("%s: refused (%s; guard: %s)", want[c].name, err,
                         g.refused != NULL ? g.refused : "-");
            assert_null(g.refused);
            freeReplyObject(r);
            continue;
        }
        if (o != GOT_ERROR)
            fail_msg("%s: accepted (outcome %d)", want[c].name, (int)o);
        assert_null(r);
        if (want[c].reason != NULL &&
            (g.refused == NULL || strstr(g.refused, want[c].reason) == NULL))
            fail_msg("%s: guard says '%s', want '%s'", want[c].name,
                     g.refused != NULL ? g.refused : "(nothing)",
                     want[c].reason);
    }
}

/* The total restarts with every reply: two replies that each take most of
 * it both pass on one reader. */
static void test_total_per_reply(void **state)
{
    (void)state;
    buf b = {0};
    size_t strings = REDLOCK_REPLY_MAX_TOTAL / REDLOCK_REPLY_MAX_STRING - 1;
    for (int rep = 0; rep < 2; rep++) {
        buf_header(&b, '*', strings);
        for (size_t i = 0; i < strings; i++)
            buf_bulk(&b, REDLOCK_REPLY_MAX_STRING);
    }
    redlock__reply_guard g;
    redisReader *rd = redisReaderCreate();
    assert_non_null(rd);
    redlock__reply_reader_init(rd, &g);
    assert_int_equal(redisReaderFeed(rd, b.p, b.len), REDIS_OK);
    buf_free(&b);
    for (int rep = 0; rep < 2; rep++) {
        void *reply = NULL;
        if (redisReaderGetReply(rd, &reply) != REDIS_OK)
            fail_msg("reply %d refused: %s (%s)", rep, rd->errstr,
                     g.refused != NULL ? g.refused : "-");
        assert_non_null(reply);
        assert_int_equal(((redisReply *)reply)->elements, strings);
        freeReplyObject(reply);
    }
    redisReaderFree(rd);
}

/* Without a guard the per-value limits still hold. */
static void test_no_guard(void **state)
{
    (void)state;
    static const char huge[] = "*99999999\r\n";
    redisReply *r;
    char err[128];
    assert_int_equal(
        parse_one(huge, sizeof(huge) - 1, &r, NULL, err, sizeof(err)),
        GOT_ERROR);
    static const char ok[] = "*1\r\n+OK\r\n";
    assert_int_equal(parse_one(ok, sizeof(ok) - 1, &r, NULL, err, sizeof(err)),
                     GOT_REPLY);
    assert_string_equal(r->element[0]->str, "OK");
    freeReplyObject(r);
}

/* A bulk string that declares a huge length waits for its bytes; the
 * buffer check trips once more than the limit is waiting, not before. */
static void test_buffer_limit(void **state)
{
    (void)state;
    assert_false(redlock__reply_buffer_over_limit(NULL));
    redlock__reply_guard g;
    redisReader *rd = redisReaderCreate();
    assert_non_null(rd);
    redlock__reply_reader_init(rd, &g);
    static const char head[] = "$99999999\r\n";
    assert_int_equal(redisReaderFeed(rd, head, sizeof(head) - 1), REDIS_OK);
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    assert_null(reply);
    assert_false(redlock__reply_buffer_over_limit(rd));

    /* Fill up to exactly the limit (the reader may have consumed the
     * type byte already): still fine. */
    buf b = {0};
    buf_fill(&b, 'z', REDLOCK_REPLY_MAX_BUFFER - (rd->len - rd->pos));
    assert_int_equal(redisReaderFeed(rd, b.p, b.len), REDIS_OK);
    assert_false(redlock__reply_buffer_over_limit(rd));
    assert_int_equal(redisReaderFeed(rd, "z", 1), REDIS_OK);
    assert_true(redlock__reply_buffer_over_limit(rd));
    buf_free(&b);
    redisReaderFree(rd);
}

/* ------------------------------------------------------------------------
 * Interpreting replies
 * ------------------------------------------------------------------------ */

/* Every kind maps each reply to the answer, status, detail and keep flag
 * node.c relied on before the mapping moved here. */
static void test_interpret(void **state)
{
    (void)state;
    enum { Y = REDLOCK__ANS_YES, N = REDLOCK__ANS_NO, E = REDLOCK__ANS_ERROR };
    static const struct {
        redlock__op_kind kind;
        const char *in;
        int answer;
        redlock_status err;
        const char *detail; /* NULL: none */
        bool keep;
    } cases[] = {
        /* SET key token NX PX ttl */
        {REDLOCK__OP_ACQUIRE, "+OK\r\n", Y, REDLOCK_OK, NULL, false},
        {REDLOCK__OP_ACQUIRE, "$-1\r\n", N, REDLOCK_OK, NULL, false},
        {REDLOCK__OP_ACQUIRE, "+QUEUED\r\n", E, REDLOCK_EPROTO,
         "unexpected reply type", false},
        {REDLOCK__OP_ACQUIRE, "$2\r\nOK\r\n", E, REDLOCK_EPROTO,
         "unexpected reply type", false},
        {REDLOCK__OP_ACQUIRE, ":1\r\n", E, REDLOCK_EPROTO,
         "unexpected reply type", false},
        {REDLOCK__OP_ACQUIRE, "-OOM command not allowed\r\n", E, REDLOCK_EIO,
         "OOM command not allowed", false},
        /* scripts answering 1 or 0 */
        {REDLOCK__OP_ACQUIRE_MULTI, ":1\r\n", Y, REDLOCK_OK, NULL, false},
        {REDLOCK__OP_ACQUIRE_MULTI, ":0\r\n", N, REDLOCK_OK, NULL, false},
        {REDLOCK__OP_ACQUIRE_MULTI, "+OK\r\n", E, REDLOCK_EPROTO,
         "unexpected reply type", false},
        {REDLOCK__OP_EXTEND, ":1\r\n", Y, REDLOCK_OK, NULL, false},
        {REDLOCK__OP_EXTEND, ":0\r\n", N, REDLOCK_OK, NULL, false},
        {REDLOCK__OP_EXTEND, ":-1\r\n", N, REDLOCK_OK, NULL, false},
        {REDLOCK__OP_EXTEND, "$-1\r\n", E, REDLOCK_EPROTO,
         "unexpected reply type", false},
        {REDLOCK__OP_RELEASE, ":1\r\n", Y, REDLOCK_OK, NULL, false},
        {REDLOCK__OP_RELEASE, ":0\r\n", N, REDLOCK_OK, NULL, false},
        {REDLOCK__OP_RELEASE, "*1\r\n:1\r\n", E, REDLOCK_EPROTO,
         "unexpected reply type", false},
        /* NOSCRIPT is an ordinary error here; node.c catches it first. */
        {REDLOCK__OP_RELEASE, "-NOSCRIPT No matching script\r\n", E,
         REDLOCK_EIO, "NOSCRIPT No matching script", false},
        {REDLOCK__OP_EXTEND, "-BUSY Redis is busy\r\n", E, REDLOCK_EIO,
         "BUSY Redis is busy", false},
        /* integer scripts whose reply the caller reads */
        {REDLOCK__OP_INT, ":7\r\n", Y, REDLOCK_OK, NULL, true},
        {REDLOCK__OP_INT, ":0\r\n", N, REDLOCK_OK, NULL, true},
        {REDLOCK__OP_INT, "-ERR nope\r\n", E, REDLOCK_EIO, "ERR nope", false},
        {REDLOCK__OP_INT, "$3\r\nabc\r\n", E, REDLOCK_EPROTO,
         "unexpected reply type", false},
        /* anything goes, and is kept */
        {REDLOCK__OP_RAW, "*2\r\n$3\r\nabc\r\n:5\r\n", Y, REDLOCK_OK, NULL,
         true},
        {REDLOCK__OP_RAW, "$-1\r\n", Y, REDLOCK_OK, NULL, true},
        {REDLOCK__OP_RAW, ":0\r\n", Y, REDLOCK_OK, NULL, true},
        {REDLOCK__OP_RAW, "-ERR bad\r\n", E, REDLOCK_EPROTO, "ERR bad", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        redisReply *r;
        char errstr[128];
        redlock__reply_guard g;
        assert_int_equal(parse_one(cases[i].in, strlen(cases[i].in), &r, &g,
                                   errstr, sizeof(errstr)),
                         GOT_REPLY);
        redlock_status err = REDLOCK_ENOMEM;
        const char *detail = "unset";
        bool keep = !cases[i].keep;
        redlock__answer ans =
            redlock__reply_interpret(cases[i].kind, r, &err, &detail, &keep);
        if ((int)ans != cases[i].answer || err != cases[i].err ||
            keep != cases[i].keep)
            fail_msg("kind %d, %s: answer %d err %d keep %d; want %d %d %d",
                     (int)cases[i].kind, cases[i].in, (int)ans, (int)err,
                     (int)keep, cases[i].answer, (int)cases[i].err,
                     (int)cases[i].keep);
        if (cases[i].detail == NULL)
            assert_null(detail);
        else {
            assert_non_null(detail);
            assert_string_equal(detail, cases[i].detail);
        }
        freeReplyObject(r);
    }
}

/* A missing reply is a protocol error for every kind, never a crash. */
static void test_interpret_null(void **state)
{
    (void)state;
    for (int k = REDLOCK__OP_ACQUIRE; k <= REDLOCK__OP_INT; k++) {
        redlock_status err;
        const char *detail;
        bool keep = true;
        assert_int_equal(redlock__reply_interpret((redlock__op_kind)k, NULL,
                                                  &err, &detail, &keep),
                         REDLOCK__ANS_ERROR);
        assert_int_equal(err, REDLOCK_EPROTO);
        assert_non_null(detail);
        assert_false(keep);
    }
}

/* Only the extend script's -1 means "a key is gone" (restorable); 0 (held
 * by another), other kinds, other types and NULL never do. */
static void test_key_missing(void **state)
{
    (void)state;
    static const struct {
        redlock__op_kind kind;
        const char *in;
        bool missing;
    } cases[] = {
        {REDLOCK__OP_EXTEND, ":-1\r\n", true},
        {REDLOCK__OP_EXTEND, ":-7\r\n", true},
        {REDLOCK__OP_EXTEND, ":0\r\n", false},
        {REDLOCK__OP_EXTEND, ":1\r\n", false},
        {REDLOCK__OP_EXTEND, "$-1\r\n", false},
        {REDLOCK__OP_EXTEND, "-ERR x\r\n", false},
        {REDLOCK__OP_RELEASE, ":-1\r\n", false},
        {REDLOCK__OP_ACQUIRE_MULTI, ":-1\r\n", false},
        {REDLOCK__OP_INT, ":-1\r\n", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        redisReply *r;
        char errstr[128];
        redlock__reply_guard g;
        assert_int_equal(parse_one(cases[i].in, strlen(cases[i].in), &r, &g,
                                   errstr, sizeof(errstr)),
                         GOT_REPLY);
        if (redlock__reply_key_missing(cases[i].kind, r) != cases[i].missing)
            fail_msg("kind %d, %s: want missing=%d", (int)cases[i].kind,
                     cases[i].in, (int)cases[i].missing);
        freeReplyObject(r);
    }
    assert_false(redlock__reply_key_missing(REDLOCK__OP_EXTEND, NULL));
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_replies),
        cmocka_unit_test(test_nested_tree),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_total_per_reply),
        cmocka_unit_test(test_no_guard),
        cmocka_unit_test(test_buffer_limit),
        cmocka_unit_test(test_interpret),
        cmocka_unit_test(test_interpret_null),
        cmocka_unit_test(test_key_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
