/*
 * reply.h: building and judging node replies with bounded memory
 * (internal).
 *
 * hiredis 0.14.1's default reply builder allocates whatever a reply
 * declares: "*N" gets an array of N pointers at once, a bulk string of any
 * length is buffered until it has arrived, and nothing limits the size of
 * a whole reply tree. A hostile or broken node could make the client
 * allocate without limit. The functions here replace that builder: they
 * make ordinary redisReply objects (freeReplyObject() frees them), but
 * refuse anything over the limits below, which makes the reader fail with
 * an error and the node worker drop the connection. See docs/safety.md,
 * "Hostile or broken nodes".
 *
 * Everything here is pure logic on one reader: no I/O, no globals. A
 * reader and its guard belong to one thread at a time, like the hiredis
 * context that holds them.
 */
#ifndef REDLOCK_REPLY_H
#define REDLOCK_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "answer.h"
#include "redlock.h"

/* Most elements one array reply may declare. Our own commands get at most
 * 2 back (redlock_inspect()); error and status replies are strings. */
#define REDLOCK_REPLY_MAX_ELEMENTS 1024

/* Longest string (bulk, status or error) accepted, in bytes. */
#define REDLOCK_REPLY_MAX_STRING (1024u * 1024u)

/* Deepest array nesting accepted: an array may sit inside at most this
 * many arrays (hiredis 0.14.1 refuses deeper ones itself; we check too, so
 * the limit holds whatever the reader does). Scalars may sit one level
 * deeper, inside the innermost array. */
#define REDLOCK_REPLY_MAX_DEPTH 7

/* Most bytes one reply tree may be charged: sizeof(redisReply) per object,
 * plus sizeof(redisReply *) per declared array element, plus len + 1 per
 * string. Bounds nested arrays, which each stay under the element limit
 * but could multiply. */
#define REDLOCK_REPLY_MAX_TOTAL (4u * 1024u * 1024u)

/* Most unparsed bytes the reader may hold (an incomplete reply, such as a
 * bulk string that declared a huge length and keeps arriving). Checked by
 * the node worker after every read; redisBufferRead() adds at most 16 KiB
 * at a time, so the reader never holds much more than this. */
#define REDLOCK_REPLY_MAX_BUFFER (4u * 1024u * 1024u)

/* Per-reader state of the bounded builder. Owned by whoever owns the
 * reader (the node worker embeds one per node); must outlive the reader's
 * use of it. */
typedef struct redlock__reply_guard {
    size_t used;         /* bytes charged to the reply being built */
    const char *refused; /* why the last object was refused (static
                            text), or NULL if none was */
} redlock__reply_guard;

/*
 * Make reader r build replies with the bounded functions, charging them to
 * *guard (zeroed here). Sets r->fn and r->privdata; call it before the
 * first byte is fed (for a context: right after connecting, on
 * ctx->reader). guard may be NULL: then the per-object limits still hold,
 * but the total per reply is not tracked and no reason is recorded.
 */
void redlock__reply_reader_init(redisReader *r, redlock__reply_guard *guard);

/*
 * True if the reader holds more than REDLOCK_REPLY_MAX_BUFFER bytes not yet
 * parsed. The caller should then give up on the connection
 * (REDLOCK_EPROTO). NULL gives false.
 */
bool redlock__reply_buffer_over_limit(const redisReader *r);

/*
 * Map one reply to a node's answer for an operation of the given kind.
 *
 *   ACQUIRE            status "OK" is yes, nil is no
 *   ACQUIRE_MULTI, EXTEND, RELEASE
 *                      an integer: > 0 is yes, otherwise no (the extend
 *                      script's -1, "a key is gone", is a no too; see
 *                      redlock__reply_key_missing())
 *   INT                an integer: > 0 is yes, otherwise no; kept
 *   RAW                anything but an error is yes; kept (errors too)
 * For every kind an error reply is an error: REDLOCK_EAUTH for NOAUTH,
 * WRONGPASS and NOPERM (redlock__reply_error_status()), otherwise
 * REDLOCK_EPROTO for RAW, REDLOCK_EIO for the rest, with *detail
 * pointing at the reply's text.
 * Anything else is REDLOCK_EPROTO, "unexpected reply type". (NOSCRIPT
 * errors are not special here: the node worker catches them first, to
 * resend the script as EVAL.)
 *
 * Sets *err (REDLOCK_OK unless the answer is an error), *detail (NULL, or
 * text borrowed from r or static: copy it before freeing r) and *keep
 * (true if the caller should keep r for the op instead of freeing it).
 * A NULL r is an error (REDLOCK_EPROTO). Pure: any thread may call it.
 */
redlock__answer redlock__reply_interpret(redlock__op_kind kind,
                                         const redisReply *r,
                                         redlock_status *err,
                                         const char **detail, bool *keep);

/* The handshake commands a node worker sends on each connection, for
 * redlock__handshake_error_status(). */
typedef enum redlock__hs_cmd {
    REDLOCK__HS_AUTH = 0,   /* AUTH [user] password */
    REDLOCK__HS_SELECT = 1, /* SELECT db */
    REDLOCK__HS_INFO = 2,   /* INFO server (for the run_id) */
    REDLOCK__HS_SCRIPT = 3  /* SCRIPT LOAD */
} redlock__hs_cmd;

/*
 * The class of an error reply's text err (len bytes, as Redis sent it,
 * e.g. "NOPERM this user has no permissions..."): REDLOCK_EAUTH when its
 * first word is NOAUTH, WRONGPASS or NOPERM (we are not who the server
 * wants, or may not run that command), else `other`. Pure.
 */
redlock_status redlock__reply_error_status(const char *err, size_t len,
                                           redlock_status other);

/*
 * The status an error reply err (len bytes) to handshake command cmd
 * means for the connection, or REDLOCK_OK if the connection may go on:
 *   any command, "max number of clients"        REDLOCK_EREFUSED
 *   any command, NOAUTH or WRONGPASS            REDLOCK_EAUTH
 *   AUTH, any error                             REDLOCK_EAUTH
 *   SELECT, NOPERM                              REDLOCK_EAUTH
 *   SELECT, any other error ("DB index is out
 *     of range", "invalid DB index", cluster)   REDLOCK_EDB
 *   INFO or SCRIPT LOAD, any other error         REDLOCK_OK (an ACL may
 *                                               forbid them; we cope)
 * Pure.
 */
redlock_status redlock__handshake_error_status(redlock__hs_cmd cmd,
                                               const char *err, size_t len);

/*
 * Copy the run_id from the text of an INFO server reply (len bytes; a line
 * "run_id:<40 hex>") into out, NUL-terminated. Returns false, with out
 * "", if there is no such line or its value is not 40 hex characters.
 * Pure.
 */
bool redlock__parse_run_id(const char *info, size_t len, char out[41]);

/*
 * Read the server's uptime from the text of an INFO server reply (len
 * bytes; a line "uptime_in_seconds:<decimal>") into *out, saturating at
 * UINT64_MAX. Returns false, with *out 0, if there is no such line or
 * its value is empty or not all digits. For the restart guard. Pure.
 */
bool redlock__parse_uptime(const char *info, size_t len, uint64_t *out);

/*
 * True if r is the extend script's answer "no key is held by anyone else,
 * but at least one is gone" (-1), as opposed to "held by another token"
 * (0). Only meaningful for REDLOCK__OP_EXTEND; NULL gives false. Pure.
 */
bool redlock__reply_key_missing(redlock__op_kind kind, const redisReply *r);

#endif /* REDLOCK_REPLY_H */
