/*
 * uri.h: parsing of node URIs (internal).
 *
 * Accepted forms:
 *   redis://[[user]:password@]host[:port][/db]
 *   rediss://[[user]:password@]host[:port][/db]    (the same, over TLS)
 *   unix:///path/to.sock[?db=N][&password=P][&user=U]
 * A host may be a name, an IPv4 address or an IPv6 address in brackets.
 * user and password are percent-decoded. This file is pure logic: no I/O.
 */
#ifndef REDLOCK_URI_H
#define REDLOCK_URI_H

#include <stdbool.h>
#include <stddef.h>

#include "redlock.h"

/* A parsed node address. All strings are heap-allocated and owned by the
 * struct; free them with redlock__uri_clear(). */
typedef struct redlock__uri {
    int is_unix;     /* 1 for unix://, 0 for redis:// and rediss:// */
    int tls;         /* 1 for rediss:// */
    char *host;      /* host name or address, brackets removed; NULL if unix */
    int port;        /* 1..65535; 6379 by default; 0 if unix */
    char *path;      /* socket path; NULL unless unix */
    char *user;      /* ACL user; NULL if none */
    char *password;  /* NULL if none; never logged */
    int db;          /* 0 by default; 0..(INT_MAX) */
    char *display;   /* "host:port", "[v6]:port" or "unix:/path", plus "/db"
                        when db != 0; never contains credentials */
} redlock__uri;

/*
 * Parse text into *out. On success returns REDLOCK_OK and out owns its
 * strings. On failure returns REDLOCK_EURI (or REDLOCK_ENOMEM), leaves *out
 * zeroed, and if err/errlen are given writes a one-line reason that never
 * repeats the password.
 */
redlock_status redlock__uri_parse(const char *text, redlock__uri *out,
                                  char *err, size_t errlen);

/* True if a and b name the same server: the same unix socket path, or
 * the same port on the same host (names compared without case, IP
 * literals as addresses). The database, user and password are ignored:
 * two databases of one server are not independent Redlock nodes. Names
 * that resolve to one address ("localhost" and "127.0.0.1") are not
 * detected here. Pure. */
bool redlock__uri_same_server(const redlock__uri *a, const redlock__uri *b);

/* The AUTH command for u, argv style, into argv/lens (3 slots; they
 * point into u): AUTH [user] password. Returns argc, or 0 when u has no
 * password (then no AUTH is sent). Pure. */
int redlock__uri_auth_args(const redlock__uri *u, const char *argv[3],
                           size_t lens[3]);

/* Free the strings of u and zero it (the password is wiped first). NULL is
 * ignored. */
void redlock__uri_clear(redlock__uri *u);

#endif /* REDLOCK_URI_H */
