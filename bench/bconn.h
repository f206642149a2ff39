/*
 * bconn.h: one connection of a limit client (L1, L1 fan-out, L1q, L2) and
 * the TLS context they share; see bconn.c.
 *
 * DESIGN
 * A bconn is either a hiredis context (plain nodes, bc_connect) or our
 * own blocking socket with hiredis's reply reader, under OpenSSL for
 * rediss:// nodes (always) and for plain nodes when asked
 * (bc_connect_raw). Either way a command costs one write and the reads
 * its reply needs, so the limits of TLS nodes are those of TLS itself.
 */
#ifndef REDLOCK_BENCH_BCONN_H
#define REDLOCK_BENCH_BCONN_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

#include "bench.h"
#include "uri.h"

/* One connection of a limit client. */
typedef struct bconn {
    redisContext *c;   /* plain through hiredis; else fd and rd */
    SSL *ssl;          /* TLS (on fd), or NULL */
    int fd;            /* our own socket, or -1 */
    redisReader *rd;   /* replies read from fd / ssl */
    char display[128]; /* for messages; no credentials */
} bconn;

/* Everything the limit clients share: the TLS context (NULL when no node
 * speaks TLS), built once per measurement. */
typedef struct bench_link {
    SSL_CTX *ctx;
    const bench_tls *tls;
} bench_link;

/* Build the TLS context of the limit clients from tls: verify the peer
 * against the CA (or the system store) unless insecure, present the client
 * certificate if given. Returns NULL with a message on stderr. */
SSL_CTX *bench_link_ctx_new(const bench_tls *tls);

/* Connect to uri (plain through hiredis, or TLS) with timeouts, AUTH and
 * SELECT. Returns a connection, or NULL with a message on stderr. */
bconn *bc_connect(const char *uri, const bench_link *lk);

/* The same from a parsed URI (a cluster URI connects to its first seed;
 * a sentinel:// URI is not resolved: give redlock__uri_sentinel_at()'s or
 * redlock__uri_member()'s result). */
bconn *bc_connect_uri(const redlock__uri *a, const bench_link *lk);

/* The same with our own socket for plain nodes too (fd and rd always
 * set, c NULL). */
bconn *bc_connect_raw(const char *uri, const bench_link *lk);

/* Free a connection (NULL is ignored). */
void bc_free(bconn *b);

/* Write n bytes over b (blocking). Returns 0 or -1. */
int bc_write(bconn *b, const char *buf, size_t n);

/* Read the next reply (blocking). Returns it (free with freeReplyObject),
 * or NULL on an error or timeout. */
redisReply *bc_read(bconn *b);

/* Send one command (argv form) and read its reply; NULL on failure. */
redisReply *bc_command(bconn *b, int argc, const char **argv);

/* What went wrong on b, for a message. */
const char *bc_errstr(const bconn *b);

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t bench_mono_ns(void);

#endif /* REDLOCK_BENCH_BCONN_H */
