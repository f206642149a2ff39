/*
 * reply.c: a bounded reply builder for hiredis 0.14.1 readers, and the
 * mapping from replies to node answers (see reply.h).
 *
 * DESIGN. hiredis's reader parses the protocol and calls a table of
 * functions (redisReplyObjectFunctions) to make an object for every value
 * it finds, children before their parent is complete. The parent's task
 * holds the parent object, and each child is stored into
 * parent->element[idx] by the function that makes it; the root object is
 * what redisReaderGetReply() hands out, and what the reader frees (through
 * the table's freeObject) when it fails halfway. These functions do the
 * same with ordinary redisReply objects, allocated with malloc/calloc like
 * hiredis's own (so freeReplyObject() frees them), but each one first
 * checks the limits of reply.h and returns NULL when a value is over them.
 * The reader treats NULL as "out of memory": it frees the partial tree,
 * stops, and the node worker reports the guard's reason and reconnects.
 *
 * The total charged to one reply lives in a guard reached through the
 * reader's privdata, which hiredis 0.14.1 copies into every task. It
 * restarts at zero with each new root (a task without a parent).
 *
 * Alternatives not taken: a pre-scan of the input buffer for "*N" and
 * "$N" headers would duplicate the parser; limiting only the input buffer
 * would not stop "*1024" headers from each allocating 8 KiB out of 7
 * bytes of input.
 *
 * Invariants:
 *   - Every object handed to the reader is fully linked into its parent,
 *     and every refused object has been freed, so the reader's cleanup of
 *     the root frees everything.
 *   - No object is allocated before the checks for it pass.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */

/* Record why an object was refused (if there is a guard); returns NULL,
 * the value the reader takes as failure. */
static void *refuse(redlock__reply_guard *g, const char *why)
{
    if (g != NULL)
        g->refused = why;
    return NULL;
}

/* Number of arrays enclosing the value of task (0 for a root). Bounded by
 * the reader's task stack (9 entries in 0.14.1). */
static int depth_of(const redisReadTask *task)
{
    int depth = 0;
    for (const redisReadTask *t = task->parent; t != NULL; t = t->parent)
        depth++;
    return depth;
}

/* Check the parts every value shares: nesting, and the total charged to
 * the reply; charge cost bytes to it. is_array says whether the value is
 * an array (arrays may nest one level less than scalars). Returns true if
 * the value may be made. */
static bool admit(const redisReadTask *task, bool is_array, size_t cost)
{
    redlock__reply_guard *g = task->privdata;
    int depth = depth_of(task);
    int max = is_array ? REDLOCK_REPLY_MAX_DEPTH : REDLOCK_REPLY_MAX_DEPTH + 1;
    if (depth > max) {
        refuse(g, "reply nested too deeply");
        return false;
    }
    if (g == NULL)
        return true;
    if (task->parent == NULL)
        g->used = 0; /* a new reply begins */
    if (cost > REDLOCK_REPLY_MAX_TOTAL ||
        g->used > REDLOCK_REPLY_MAX_TOTAL - cost) {
        refuse(g, "reply too large in total");
        return false;
    }
    g->used += cost;
    return true;
}

/* Store r as element task->idx of its parent, if it has one. Returns
 * false (r not stored) if the parent is not an array with a free slot
 * there: the reader never does that, but a wrong link would corrupt the
 * tree. */
static bool attach(const redisReadTask *task, redisReply *r)
{
    if (task->parent == NULL)
        return true;
    redisReply *parent = task->parent->obj;
    if (parent == NULL || parent->type != REDIS_REPLY_ARRAY || task->idx < 0 ||
        (size_t)task->idx >= parent->elements || parent->element == NULL ||
        parent->element[task->idx] != NULL)
        return false;
    parent->element[task->idx] = r;
    return true;
}

/* Link a new object into the tree, or free it and refuse. Returns r or
 * NULL. */
static void *link_or_free(const redisReadTask *task, redisReply *r)
{
    if (attach(task, r))
        return r;
    freeReplyObject(r);
    return refuse(task->privdata, "reply structure inconsistent");
}

/* ------------------------------------------------------------------------
 * The functions table
 * ------------------------------------------------------------------------ */

/* A status, error or bulk string of len bytes at str (not NUL-terminated;
 * the copy is). */
static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    if (task->type != REDIS_REPLY_STRING && task->type != REDIS_REPLY_STATUS &&
        task->type != REDIS_REPLY_ERROR)
        return refuse(task->privdata, "unknown string reply type");
    if (len > REDLOCK_REPLY_MAX_STRING)
        return refuse(task->privdata, "string reply too long");
    if (!admit(task, false, sizeof(redisReply) + len + 1))
        return NULL;
    redisReply *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->str = malloc(len + 1);
    if (r->str == NULL) {
        free(r);
        return NULL;
    }
    r->type = task->type;
    if (len > 0)
        memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return link_or_free(task, r);
}

/* An array that will hold elements values (filled in by the children's
 * functions). */
static void *create_array(const redisReadTask *task, int elements)
{
    if (elements < 0)
        return refuse(task->privdata, "negative array length");
    if (elements > REDLOCK_REPLY_MAX_ELEMENTS)
        return refuse(task->privdata, "array reply has too many elements");
    size_t n = (size_t)elements;
    if (!admit(task, true, sizeof(redisReply) + n * sizeof(redisReply *)))
        return NULL;
    redisReply *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->type = REDIS_REPLY_ARRAY;
    if (n > 0) {
        r->element = calloc(n, sizeof(*r->element));
        if (r->element == NULL) {
            free(r);
            return NULL;
        }
    }
    r->elements = n;
    return link_or_free(task, r);
}

/* An integer reply. */
static void *create_integer(const redisReadTask *task, long long value)
{
    if (!admit(task, false, sizeof(redisReply)))
        return NULL;
    redisReply *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->type = REDIS_REPLY_INTEGER;
    r->integer = value;
    return link_or_free(task, r);
}

/* A nil reply ("$-1" or "*-1"). */
static void *create_nil(const redisReadTask *task)
{
    if (!admit(task, false, sizeof(redisReply)))
        return NULL;
    redisReply *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->type = REDIS_REPLY_NIL;
    return link_or_free(task, r);
}

/* Free a whole tree: the objects are ordinary, so hiredis's own function
 * does it. A wrapper because the table wants void (*)(void *) and to keep
 * the table's contents visible in one file. */
static void free_object(void *reply)
{
    freeReplyObject(reply);
}

/* The table installed on every reader. Not const: redisReader.fn is a
 * pointer to non-const in 0.14.1. Never written. */
static redisReplyObjectFunctions bounded_functions = {
    create_string, create_array, create_integer, create_nil, free_object,
};

/* ------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------ */

/* Install the bounded builder on r; see reply.h. */
void redlock__reply_reader_init(redisReader *r, redlock__reply_guard *guard)
{
    if (r == NULL)
        return;
    if (guard != NULL)
        memset(guard, 0, sizeof(*guard));
    r->fn = &bounded_functions;
    r->privdata = guard;
}

/* True if too much unparsed input is buffered; see reply.h. */
bool redlock__reply_buffer_over_limit(const redisReader *r)
{
    if (r == NULL || r->len <= r->pos)
        return false;
    return r->len - r->pos > REDLOCK_REPLY_MAX_BUFFER;
}

/* The extend script's "a key is gone" answer; see reply.h. */
bool redlock__reply_key_missing(redlock__op_kind kind, const redisReply *r)
{
    return kind == REDLOCK__OP_EXTEND && r != NULL &&
           r->type == REDIS_REPLY_INTEGER && r->integer < 0;
}

/* Map a reply to an answer; see reply.h. */
redlock__answer redlock__reply_interpret(redlock__op_kind kind,
                                         const redisReply *r,
                                         redlock_status *err,
                                         const char **detail, bool *keep)
{
    *err = REDLOCK_OK;
    *detail = NULL;
    *keep = false;
    if (r == NULL) {
        *err = REDLOCK_EPROTO;
        *detail = "no reply";
        return REDLOCK__ANS_ERROR;
    }
    if (kind == REDLOCK__OP_INT && r->type == REDIS_REPLY_INTEGER) {
        *keep = true;
        return r->integer > 0 ? REDLOCK__ANS_YES : REDLOCK__ANS_NO;
    }
    if (kind == REDLOCK__OP_RAW) {
        *keep = true;
        if (r->type == REDIS_REPLY_ERROR) {
            *err = redlock__reply_error_status(r->str, r->len,
                                               REDLOCK_EPROTO);
            *detail = r->str;
            return REDLOCK__ANS_ERROR;
        }
        return REDLOCK__ANS_YES;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        *err = redlock__reply_error_status(r->str, r->len, REDLOCK_EIO);
        *detail = r->str;
        return REDLOCK__ANS_ERROR;
    }
    switch (kind) {
    case REDLOCK__OP_ACQUIRE:
        if (r->type == REDIS_REPLY_STATUS && r->len == 2 &&
            memcmp(r->str, "OK", 2) == 0)
            return REDLOCK__ANS_YES;
        if (r->type == REDIS_REPLY_NIL)
            return REDLOCK__ANS_NO;
        break;
    case REDLOCK__OP_ACQUIRE_MULTI:
    case REDLOCK__OP_EXTEND:
    case REDLOCK__OP_RELEASE:
        if (r->type == REDIS_REPLY_INTEGER)
            return r->integer > 0 ? REDLOCK__ANS_YES : REDLOCK__ANS_NO;
        break;
    case REDLOCK__OP_RAW:
    case REDLOCK__OP_INT:
        break;
    }
    *err = REDLOCK_EPROTO;
    *detail = "unexpected reply type";
    return REDLOCK__ANS_ERROR;
}

/* ------------------------------------------------------------------------
 * Classifying error replies
 * ------------------------------------------------------------------------ */

/* True if the text (len bytes) starts with the word w: w followed by a
 * space or the end. */
static bool first_word_is(const char *s, size_t len, const char *w)
{
    size_t wl = strlen(w);
    return s != NULL && len >= wl && memcmp(s, w, wl) == 0 &&
           (len == wl || s[wl] == ' ');
}

/* True if the text (len bytes) contains needle. */
static bool contains(const char *s, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    if (s == NULL || nl > len)
        return false;
    for (size_t i = 0; i + nl <= len; i++)
        if (memcmp(s + i, needle, nl) == 0)
            return true;
    return false;
}

/* EAUTH for the authentication and permission error codes; see reply.h. */
redlock_status redlock__reply_error_status(const char *err, size_t len,
                                           redlock_status other)
{
    if (first_word_is(err, len, "NOAUTH") ||
        first_word_is(err, len, "WRONGPASS") ||
        first_word_is(err, len, "NOPERM"))
        return REDLOCK_EAUTH;
    return other;
}

/* What an error reply to a handshake command means; see reply.h. */
redlock_status redlock__handshake_error_status(redlock__hs_cmd cmd,
                                               const char *err, size_t len)
{
    /* A server at its client limit answers the first command with this
     * and hangs up, whichever command it was. */
    if (contains(err, len, "max number of clients"))
        return REDLOCK_EREFUSED;
    if (first_word_is(err, len, "NOAUTH") ||
        first_word_is(err, len, "WRONGPASS"))
        return REDLOCK_EAUTH;
    switch (cmd) {
    case REDLOCK__HS_AUTH:
        return REDLOCK_EAUTH;
    case REDLOCK__HS_SELECT:
        return first_word_is(err, len, "NOPERM") ? REDLOCK_EAUTH
                                                 : REDLOCK_EDB;
    case REDLOCK__HS_INFO:
    case REDLOCK__HS_SCRIPT:
        return REDLOCK_OK;
    }
    return REDLOCK_EIO; /* not a handshake command */
}

/* The next line of an INFO reply from *pos: its start and its length
 * without "\r\n" or "\n". False when no line is left. */
static bool info_next_line(const char *info, size_t len, size_t *pos,
                           const char **line, size_t *line_len)
{
    size_t i = *pos;
    if (i >= len)
        return false;
    size_t end = i;
    while (end < len && info[end] != '\n')
        end++;
    size_t n = end - i;
    if (n > 0 && info[end - 1] == '\r')
        n--;
    *line = info + i;
    *line_len = n;
    *pos = end + 1;
    return true;
}

/* The run_id line of INFO server; see reply.h. */
bool redlock__parse_run_id(const char *info, size_t len, char out[41])
{
    static const char key[] = "run_id:";
    const size_t kl = sizeof(key) - 1;
    out[0] = '\0';
    if (info == NULL)
        return false;
    size_t pos = 0, line_len;
    const char *line;
    while (info_next_line(info, len, &pos, &line, &line_len)) {
        if (line_len == kl + 40 && memcmp(line, key, kl) == 0) {
            const char *v = line + kl;
            for (size_t k = 0; k < 40; k++) {
                char c = v[k];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                      (c >= 'A' && c <= 'F')))
                    return false;
            }
            memcpy(out, v, 40);
            out[40] = '\0';
            return true;
        }
    }
    return false;
}

/* The uptime_in_seconds line of INFO server; see reply.h. */
bool redlock__parse_uptime(const char *info, size_t len, uint64_t *out)
{
    static const char key[] = "uptime_in_seconds:";
    const size_t kl = sizeof(key) - 1;
    *out = 0;
    if (info == NULL)
        return false;
    size_t pos = 0, line_len;
    const char *line;
    while (info_next_line(info, len, &pos, &line, &line_len)) {
        if (line_len > kl && memcmp(line, key, kl) == 0) {
            uint64_t v = 0;
            for (size_t k = kl; k < line_len; k++) {
                char c = line[k];
                if (c < '0' || c > '9')
                    return false;
                unsigned d = (unsigned)(c - '0');
                v = v > (UINT64_MAX - d) / 10u ? UINT64_MAX : v * 10u + d;
            }
            *out = v;
            return true;
        }
    }
    return false;
}
