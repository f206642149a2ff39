/*
 * conn.h: one connection to one Redis node (internal; transport tier).
 *
 * The only code in src/ that touches a socket. A connection is owned by
 * one thread at a time (the node's worker); nothing here takes a lock or
 * blocks. The caller polls redlock__conn_fd() for redlock__conn_events()
 * and calls back in when the fd is ready; the caller also owns every
 * timeout (redlock__conn_timeout_message() names the phase that ran out).
 *
 * Life of a connection:
 *   CLOSED -> (open) RESOLVING -> CONNECTING -> [TLS] -> OPEN -> (close)
 * An IP literal or a unix path skips RESOLVING; a redis:// or unix:// node
 * skips TLS. Any failure closes the connection and returns a status and a
 * message; the caller decides when to open it again.
 */
#ifndef REDLOCK_CONN_H
#define REDLOCK_CONN_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "redlock.h"
#include "reply.h"
#include "uri.h"

/* TLS settings shared by every rediss:// node of a manager: one OpenSSL
 * SSL_CTX, built once at create from redlock_options (CA, client
 * certificate and key, verification). Read-only once built; OpenSSL
 * reference-counts the context, so connections may use it from any
 * worker thread. */
typedef struct redlock__tls redlock__tls;

/* Build the TLS settings from o. A file that cannot be loaded, a
 * certificate without its key (or the reverse), or a key that does not
 * match the certificate fails with REDLOCK_ETLS and a message naming the
 * file. Writes *out on success. */
redlock_status redlock__tls_new(const redlock_options *o, redlock__tls **out,
                                char *err, size_t errlen);

/* Free TLS settings (NULL is ignored). Connections keep their own
 * reference to the OpenSSL context, so this may run before they close. */
void redlock__tls_free(redlock__tls *t);

/* True if s is an IPv4 or IPv6 literal (no brackets). Pure. */
bool redlock__conn_is_ip_literal(const char *s);

typedef enum redlock__conn_phase {
    REDLOCK__CONN_CLOSED = 0,
    REDLOCK__CONN_RESOLVING = 1, /* a resolver thread looks up the name */
    REDLOCK__CONN_CONNECTING = 2, /* non-blocking connect to one address */
    REDLOCK__CONN_TLS = 3,       /* TLS handshake in progress */
    REDLOCK__CONN_OPEN = 4       /* ready for commands */
} redlock__conn_phase;

typedef struct redlock__conn redlock__conn;

/* A closed connection to u (not copied: u must outlive the connection).
 * tls is required for a rediss:// node (u->tls) and ignored otherwise.
 * guard receives the reply limits of every reader this connection makes
 * (reply.h) and must outlive it. NULL when out of memory. */
redlock__conn *redlock__conn_new(const redlock__uri *u, redlock__tls *tls,
                                 redlock__reply_guard *guard);

/* Close (if open) and free; NULL is ignored. A name lookup still running
 * is left to finish on its own and frees its own memory; this never
 * waits for it. */
void redlock__conn_free(redlock__conn *c);

/* Start connecting (the connection must be CLOSED). Never blocks: a host
 * name is looked up on a short-lived resolver thread. On failure the
 * connection is CLOSED again and err says why. */
redlock_status redlock__conn_open(redlock__conn *c, char *err, size_t errlen);

/* Drive the connection forward after its fd was ready (or on any
 * wake-up, harmlessly): finish a lookup, a connect (trying the next
 * address when one fails) or a handshake. Returns REDLOCK_OK while
 * progressing or once OPEN; on failure closes and returns the status
 * (REDLOCK_EREFUSED, REDLOCK_ETLS, ...) with err naming the cause. */
redlock_status redlock__conn_advance(redlock__conn *c, char *err,
                                     size_t errlen);

redlock__conn_phase redlock__conn_phase_of(const redlock__conn *c);

/* The fd to poll and the poll events it waits for; -1 and 0 when
 * CLOSED. */
int redlock__conn_fd(const redlock__conn *c);
short redlock__conn_events(const redlock__conn *c);

/* What a connect timeout means in the current phase: "name resolution
 * timed out", "connect timed out" or "TLS handshake timed out". */
const char *redlock__conn_timeout_message(const redlock__conn *c);

/* Format a command into the output buffer (hiredis
 * redisFormatCommandArgv). Works in every phase but CLOSED; the bytes go
 * out once OPEN. Returns false when out of memory. */
bool redlock__conn_append(redlock__conn *c, int argc, const char **argv,
                          const size_t *lens);

/* True while formatted output waits to be written. */
bool redlock__conn_has_output(const redlock__conn *c);

/* Write as much output as the socket takes (OPEN only; a no-op
 * otherwise). On failure closes and returns REDLOCK_EIO or ETLS. */
redlock_status redlock__conn_flush(redlock__conn *c, char *err,
                                   size_t errlen);

/* Read what arrived into the reply reader (OPEN only). *eof is set when
 * nothing more can be read for now (the socket would block); TLS data
 * OpenSSL has already decrypted counts as readable, so call again until
 * *eof. On failure (peer closed, reset, TLS error, reader over its
 * buffer limit) closes and returns the status. */
redlock_status redlock__conn_read(redlock__conn *c, bool *eof, char *err,
                                  size_t errlen);

/* The next complete reply, or *reply NULL when none is complete. On a
 * protocol error (or a reply over the limits) closes and returns
 * REDLOCK_EPROTO. The caller owns the reply (freeReplyObject). */
redlock_status redlock__conn_get_reply(redlock__conn *c, void **reply,
                                       char *err, size_t errlen);

/* Close the socket, drop buffered input and output; the connection may
 * be opened again. */
void redlock__conn_close(redlock__conn *c);

/* Test hook: name lookups from now on call fn instead of getaddrinfo()
 * (NULL: back to getaddrinfo). fn runs on the resolver thread with the
 * node's host and port and must return what getaddrinfo() would: 0 and a
 * list freeaddrinfo() can free, or an EAI_ code. Lets tests make a lookup
 * slow or give a name several addresses; costs one relaxed atomic load
 * per lookup in production. */
struct addrinfo;
typedef int (*redlock__resolve_fn)(const char *host, const char *port,
                                   struct addrinfo **res);
void redlock__conn_test_set_resolver(redlock__resolve_fn fn);

#endif /* REDLOCK_CONN_H */
