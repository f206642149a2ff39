/*
 * fuzz_reply.c: libFuzzer harness for the reply path of src/reply.c.
 *
 * Arbitrary bytes go to a hiredis 0.14.1 reader that builds replies with
 * the bounded functions, twice: all at once, and (for inputs up to 4 KiB)
 * in small chunks, as a socket would deliver them. Every reply that comes
 * out is checked against the limits of reply.h, passed to
 * redlock__reply_interpret() for every operation kind, and freed. Nothing
 * may crash, leak (ASan/LSan), hit undefined behaviour (UBSan), break a
 * limit, or depend on how the input was split.
 *
 * Build: cmake -DREDLOCK_FUZZ=ON -DCMAKE_C_COMPILER=clang (tests/fuzz);
 * run: scripts/fuzz.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

/* Largest input also fed in chunks: chunked parsing re-scans the buffer,
 * so it is quadratic, and small inputs already cover its paths. */
#define CHUNKED_MAX 4096

/* Stop here: an invariant was broken. A trap, so libFuzzer records the
 * input as a crash. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            __builtin_trap();                                                  \
    } while (0)

/* What one pass over the input produced; both passes must agree. */
typedef struct pass_result {
    size_t replies; /* complete replies taken */
    int failed;     /* the reader ended in an error */
} pass_result;

/* Check the tree under r at the given depth (0 for a root) against the
 * limits, adding its charge (as reply.c counts it) to *total. */
static void check_tree(const redisReply *r, int depth, size_t *total)
{
    CHECK(r != NULL);
    CHECK(depth <= REDLOCK_REPLY_MAX_DEPTH + 1);
    *total += sizeof(redisReply);
    switch (r->type) {
    case REDIS_REPLY_ARRAY:
        CHECK(depth <= REDLOCK_REPLY_MAX_DEPTH);
        CHECK(r->elements <= REDLOCK_REPLY_MAX_ELEMENTS);
        CHECK(r->elements == 0 || r->element != NULL);
        *total += r->elements * sizeof(redisReply *);
        for (size_t i = 0; i < r->elements; i++)
            check_tree(r->element[i], depth + 1, total);
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        CHECK(r->str != NULL);
        CHECK(r->len <= REDLOCK_REPLY_MAX_STRING);
        CHECK(r->str[r->len] == '\0');
        *total += r->len + 1;
        break;
    case REDIS_REPLY_INTEGER:
    case REDIS_REPLY_NIL:
        break;
    default:
        CHECK(0);
    }
    CHECK(*total <= REDLOCK_REPLY_MAX_TOTAL);
}

/* Pass r to the interpreter as every kind of operation and check that
 * each answer is well formed. */
static void interpret_all(const redisReply *r)
{
    for (int k = REDLOCK__OP_ACQUIRE; k <= REDLOCK__OP_INT; k++) {
        redlock_status err = REDLOCK_ENOMEM;
        const char *detail = NULL;
        bool keep = false;
        redlock__answer ans = redlock__reply_interpret((redlock__op_kind)k, r,
                                                       &err, &detail, &keep);
        CHECK(ans == REDLOCK__ANS_YES || ans == REDLOCK__ANS_NO ||
              ans == REDLOCK__ANS_ERROR);
        if (ans == REDLOCK__ANS_ERROR) {
            CHECK(err != REDLOCK_OK);
            CHECK(detail != NULL);
            /* Touch the text the node worker would copy. */
            CHECK(strlen(detail) <= REDLOCK_REPLY_MAX_STRING);
        } else {
            CHECK(err == REDLOCK_OK);
            CHECK(detail == NULL);
        }
        if (keep)
            CHECK(k == REDLOCK__OP_RAW || k == REDLOCK__OP_INT);
    }
}

/* Take every complete reply out of rd, checking and freeing each. Returns
 * false once the reader has failed. */
static bool drain(redisReader *rd, pass_result *res)
{
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(rd, &reply) != REDIS_OK) {
            CHECK(reply == NULL);
            res->failed = 1;
            return false;
        }
        if (reply == NULL)
            return true;
        size_t total = 0;
        check_tree(reply, 0, &total);
        interpret_all(reply);
        freeReplyObject(reply);
        res->replies++;
    }
}

/* Feed data to a fresh bounded reader chunk bytes at a time (all of it if
 * chunk is 0), draining after each feed. */
static pass_result run_pass(const uint8_t *data, size_t size, size_t chunk)
{
    pass_result res = {0, 0};
    redlock__reply_guard guard;
    redisReader *rd = redisReaderCreate();
    if (rd == NULL)
        return res;
    redlock__reply_reader_init(rd, &guard);
    if (chunk == 0)
        chunk = size;
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (redisReaderFeed(rd, (const char *)data + off, n) != REDIS_OK) {
            res.failed = 1;
            break;
        }
        (void)redlock__reply_buffer_over_limit(rd);
        if (!drain(rd, &res))
            break;
    }
    redisReaderFree(rd);
    return res;
}

/* libFuzzer entry point: one input, two passes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pass_result whole = run_pass(data, size, 0);
    if (size > 0 && size <= CHUNKED_MAX) {
        /* A chunk size from 1 to 7 bytes, picked by the input itself. */
        size_t chunk = (size_t)(data[size - 1] % 7u) + 1u;
        pass_result parts = run_pass(data, size, chunk);
        CHECK(whole.replies == parts.replies);
        CHECK(whole.failed == parts.failed);
    }
    return 0;
}
