/*
 * redis_spawn.h: start and stop local redis-server processes for tests,
 * examples and the bench.
 *
 * Every server listens on 127.0.0.1 only, on a free port found at start,
 * with --save '' --appendonly no (unless asked for AOF), in its own temp
 * directory. Only PIDs started here are ever signalled. Readiness is a
 * condition (PING answers) awaited with a deadline, not a fixed sleep.
 *
 * TLS: with rs_options.tls_cert_file set the server is TLS-only (--port 0
 * --tls-port P); its URI is rediss://127.0.0.1:P, and the fixture's own
 * connections (readiness, rs_command and friends) speak TLS too, verifying
 * the server against tls_ca_file and the address 127.0.0.1.
 * tests/support/tls_certs.h makes the files.
 *
 * Extra arguments and a config file (rs_options.extra_args, config_text)
 * serve the cluster and Sentinel fixtures (cluster_spawn.h,
 * sentinel_spawn.h), which start every process through rs_start_ex().
 */
#ifndef REDLOCK_REDIS_SPAWN_H
#define REDLOCK_REDIS_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room for one TLS file path in rs_server. */
#define RS_TLS_PATH 320
/* Extra command-line arguments an rs_server keeps (rs_options.extra_args),
 * and the room for each. */
#define RS_EXTRA_MAX 16
#define RS_EXTRA_LEN 160

/* One spawned server. Treat the fields as read-only. */
typedef struct rs_server {
    pid_t pid;           /* 0 when not running */
    int port;            /* loopback TCP port */
    char dir[256];       /* its temp working directory */
    char uri[128];       /* "redis://127.0.0.1:PORT" (plus credentials if
                            requirepass was set) */
    char password[64];   /* "" unless started with a password */
    int appendonly;      /* started with appendonly yes + fsync always */
    int paused;          /* SIGSTOPped by rs_pause() */
    char redis_server[256]; /* binary started (reused by rs_restart()) */
    int tls;             /* 1: TLS-only; port is the TLS port, uri is
                            "rediss://127.0.0.1:PORT" */
    int tls_auth_clients; /* started with --tls-auth-clients yes */
    int tls_skip_name_check; /* see rs_options */
    char tls_cert_file[RS_TLS_PATH]; /* the server's certificate, key */
    char tls_key_file[RS_TLS_PATH];
    char tls_ca_file[RS_TLS_PATH];   /* --tls-ca-cert-file */
    char tls_client_cert_file[RS_TLS_PATH]; /* what the fixture presents
                                               when tls_auth_clients */
    char tls_client_key_file[RS_TLS_PATH];
    char extra_args[RS_EXTRA_MAX][RS_EXTRA_LEN]; /* see rs_options; kept
                                                    for rs_restart() */
    size_t extra_argc;
    int has_config;      /* started with <dir>/redis.conf as its first
                            argument (rs_options.config_text) */
} rs_server;

/* Options for rs_start_ex(). Zero-initialised means defaults. */
typedef struct rs_options {
    const char *password;  /* requirepass; NULL for none */
    int appendonly;        /* 1: --appendonly yes --appendfsync always */
    int port;              /* 0: pick a free port */
    const char *redis_server; /* path; NULL: $REDIS_SERVER or "redis-server" */
    /* TLS. tls_cert_file non-NULL makes the server TLS-only: --port 0
     * --tls-port PORT --tls-cert-file --tls-key-file --tls-ca-cert-file
     * (all three then required) and --tls-auth-clients yes|no. Paths are
     * copied (at most RS_TLS_PATH - 1 bytes each). The password, if any,
     * still applies (in the URI as for plain servers). */
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *tls_ca_file;
    int tls_auth_clients;  /* 0: no client certificate asked (default);
                              1: clients must present one signed by
                              tls_ca_file (mutual TLS) */
    const char *tls_client_cert_file; /* for the fixture's own connections
                                         when tls_auth_clients; NULL: the
                                         server's certificate and key (as
                                         redis-server itself does) */
    const char *tls_client_key_file;
    int tls_skip_name_check; /* 1: the fixture's own connections verify
                                the chain against tls_ca_file but not
                                the name, for a server started on purpose
                                with a certificate for another host
                                (tls_certs' wrong_host_cert); 0 (default):
                                the name must match 127.0.0.1 */
    /* Extra redis-server arguments, appended after the fixture's own (so
     * they win over them), e.g. { "--cluster-enabled", "yes" } or
     * { "--replicaof", "127.0.0.1", "6379" } (one entry per word:
     * redis-server quotes each entry as one value). Copied (at most
     * RS_EXTRA_MAX entries of RS_EXTRA_LEN - 1 bytes); NULL / 0: none. */
    const char *const *extra_args;
    size_t extra_argc;
    /* Non-NULL: written, followed by "port P", "bind 127.0.0.1" and
     * "dir DIR" lines, to DIR/redis.conf in the server's own temp
     * directory, which becomes the first argument. redis-sentinel needs
     * such a file and rewrites it (so it stays writable); rs_restart()
     * starts from the file as the server left it. */
    const char *config_text;
} rs_options;

/* Start one server with default options; returns 0 on success, -1 on
 * failure with a message on stderr. */
int rs_start(rs_server *s);

/* Start one server with options (o may be NULL). */
int rs_start_ex(rs_server *s, const rs_options *o);

/* Start n servers (defaults); on failure stops those already started. */
int rs_start_many(rs_server *s, size_t n);

/* SIGKILL the server (resuming it first if paused), reap it, and remove its
 * temp directory unless keep_dir is set. Safe on a stopped server. */
void rs_kill(rs_server *s, int keep_dir);

/* rs_kill() with keep_dir = 0. */
void rs_stop(rs_server *s);

/* Stop n servers. */
void rs_stop_many(rs_server *s, size_t n);

/* Start again on the same port and directory after rs_kill(s, 1): with
 * appendonly, the data is reloaded from the AOF. Returns 0 on success. */
int rs_restart(rs_server *s);

/* SIGSTOP / SIGCONT the server. Return 0 on success. */
int rs_pause(rs_server *s);
int rs_resume(rs_server *s);

/* Run one command (argv style) on the server over a fresh connection (TLS
 * for a TLS server) with a 2 s timeout; writes a textual rendering of the reply (integers as
 * decimal, nil as "(nil)", strings and status replies as is, errors as
 * Redis sent them, e.g. "ERR ..." or "NOAUTH ...", arrays as their rendered
 * elements separated by '\n', an empty array as "(empty array)") into out,
 * truncated to outlen. Authenticates first when s has a password.
 * Returns 0 if a reply came, -1 otherwise (then out holds the reason). */
int rs_command(const rs_server *s, char *out, size_t outlen, int argc,
               const char **argv);

/* Number of keys in db 0 (DBSIZE), or -1 on error. */
long long rs_dbsize(const rs_server *s);

/* The number that follows `prefix` on a line of `INFO section`, such as
 * rs_info_count(s, "errorstats", "errorstat_NOSCRIPT:count=") or
 * rs_info_count(s, "commandstats", "cmdstat_set:calls=") (Redis 7 names
 * subcommands "cmdstat_script|load"); 0 if no line
 * starts with prefix (Redis omits counters that are still zero), -1 if
 * the command failed. */
long long rs_info_count(const rs_server *s, const char *section,
                        const char *prefix);

/* A free loopback port now (another process may take it before it is
 * bound), or -1. For callers that must know a port before starting. */
int rs_free_port(void);

/* rs_command() returning the parsed hiredis reply (free it with
 * freeReplyObject()), or NULL with the reason in err. For callers that
 * need nested arrays (CLUSTER SLOTS, SENTINEL MASTER). */
struct redisReply;
struct redisReply *rs_command_reply(const rs_server *s, int argc,
                                    const char **argv, char *err,
                                    size_t errlen);

/* The value of "field:" (field includes the colon, as "role:") in an
 * INFO reply's text into out, up to the line end. Returns 0, or -1 if the
 * field is missing. */
int rs_info_field(const char *text, const char *field, char *out,
                  size_t len);

/* Milliseconds on the monotonic clock, and a sleep of ms milliseconds
 * (restarted after signals), for the fixtures' polls with deadlines. */
long long rs_now_ms(void);
void rs_sleep_ms(long ms);

/* Fill uris[i] with pointers to s[i].uri, for redlock_manager_create(). */
void rs_uris(rs_server *s, size_t n, const char **uris);

#ifdef __cplusplus
}
#endif
#endif /* REDLOCK_REDIS_SPAWN_H */
