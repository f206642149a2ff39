/*
 * uri.h: parsing of node URIs (internal).
 *
 * Accepted forms:
 *   redis://[[user]:password@]host[:port][/db]
 *   rediss://[[user]:password@]host[:port][/db]    (the same, over TLS)
 *   unix:///path/to.sock[?db=N][&password=P][&user=U]
 * A node that is a whole Redis Cluster (one vote, docs/api.md "Node URIs"):
 *   redis[s]://[[user]:password@]host[:port]?cluster=yes[&seed=host:port]...
 * A node that is a Sentinel-managed master (host:port is a sentinel;
 * 26379 by default; the credentials are the data servers'):
 *   sentinel://[[user]:password@]host[:port]/MASTERNAME
 *       [?sentinel=host:port]...[&sentinel_user=U][&sentinel_password=P]
 *       [&db=N]
 *   sentinels://...   (the same, every connection over TLS: the
 *                      sentinels, their subscribers and the master)
 * A host may be a name, an IPv4 address or an IPv6 address in brackets.
 * user and password are percent-decoded. This file is pure logic: no I/O.
 */
#ifndef REDLOCK_URI_H
#define REDLOCK_URI_H

#include <stdbool.h>
#include <stddef.h>

#include "redlock.h"

/* What a node URI names. */
typedef enum redlock__uri_kind {
    REDLOCK__URI_SERVER = 0,   /* one redis-server (redis, rediss, unix) */
    REDLOCK__URI_CLUSTER = 1,  /* a Redis Cluster: ?cluster=yes */
    REDLOCK__URI_SENTINEL = 2  /* a master found through Sentinel */
} redlock__uri_kind;

/* Most further seeds (cluster) or sentinels (sentinel) in one URI. */
#define REDLOCK__URI_SEEDS_MAX 16

/* One host:port of a seed list; host heap-allocated, brackets removed. */
typedef struct redlock__hostport {
    char *host;
    int port;
} redlock__hostport;

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
                        when db != 0; "cluster:host:port" for a cluster,
                        "sentinel:host:port/NAME" for a sentinel node;
                        never contains credentials */
    redlock__uri_kind kind;
    /* Cluster: the further seeds (host and port above are the first).
     * Sentinel: the further sentinels. */
    size_t n_seeds;
    redlock__hostport seeds[REDLOCK__URI_SEEDS_MAX];
    char *master_name;       /* sentinel: the monitored master's name */
    char *sentinel_user;     /* sentinel: ACL user for the sentinels */
    char *sentinel_password; /* sentinel: password for the sentinels
                                (may differ from the data password);
                                never logged */
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

/* A plain server URI for one member of a cluster or sentinel node u:
 * host and port given, credentials, TLS and db copied from u (the data
 * servers' credentials, not the sentinels'); display "host:port". For
 * the connections a cluster or sentinel node makes to its servers.
 * Returns REDLOCK_OK or REDLOCK_ENOMEM (*out zeroed). */
redlock_status redlock__uri_member(const redlock__uri *u, const char *host,
                                   int port, redlock__uri *out);

/* The same for sentinel number i of u (0: host:port, then the seeds):
 * the sentinel credentials, db 0, TLS as u (sentinels://). */
redlock_status redlock__uri_sentinel_at(const redlock__uri *u, size_t i,
                                        redlock__uri *out);

/* Free the strings of u and zero it (the password is wiped first). NULL is
 * ignored. */
void redlock__uri_clear(redlock__uri *u);

#endif /* REDLOCK_URI_H */
