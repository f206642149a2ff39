/*
 * sentinel_spawn.h: start and stop a real Redis Sentinel group on
 * loopback for tests: one master, its replicas, and redis-sentinel
 * processes monitoring them, all from redis_spawn (own temp dirs, free
 * ports, only our PIDs signalled).
 *
 * rsn_start() returns once every replica's link is up and every sentinel
 * knows the master, every replica (with a fresh INFO from each, so a
 * failover can pick it) and every other sentinel. rsn_failover() forces a
 * failover and returns once every sentinel names the new master and that
 * server says role:master. Each wait is a condition polled with a
 * deadline.
 *
 * Passwords (rsn_options): the data password is requirepass and
 * masterauth on every data server and `sentinel auth-pass` in the
 * sentinels' config; the sentinel password is requirepass in each
 * sentinel's config. They may differ, as a client library must allow.
 */
#ifndef REDLOCK_SENTINEL_SPAWN_H
#define REDLOCK_SENTINEL_SPAWN_H

#include <stddef.h>

#include "redis_spawn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Data servers (master + replicas) and sentinels one group can hold. */
#define RSN_MAX_DATA 4
#define RSN_MAX_SENTINELS 5

/* Options for rsn_start_ex(). Zero-initialised means no passwords. */
typedef struct rsn_options {
    const char *data_password;     /* NULL: none. Letters, digits and
                                      -._~ only (it goes into config
                                      files unquoted). */
    const char *sentinel_password; /* NULL: none. The same characters. */
    /* TLS. tls_cert_file non-NULL makes every data server and sentinel
     * TLS-only (port 0, tls-port P; all three files then required),
     * with replication and the sentinels' links to the servers and to
     * each other over TLS too (tls-replication yes). No client
     * certificate is asked for. The group's URI is then sentinels://. */
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *tls_ca_file;
} rsn_options;

/* One group. Treat the fields as read-only. */
typedef struct rsn_group {
    char name[64];          /* the monitored master's name */
    size_t n_data;          /* data[0] started as master, then replicas */
    rs_server data[RSN_MAX_DATA];
    size_t n_sentinels;
    rs_server sentinel[RSN_MAX_SENTINELS];
    int quorum;             /* the monitor's quorum (a majority) */
    char data_password[64];     /* "" if none */
    char sentinel_password[64]; /* "" if none */
    int tls;                /* started TLS-only (rsn_options.tls_*) */
    char uri[1024];         /* "sentinel://127.0.0.1:S1/NAME?sentinel=
                               127.0.0.1:S2&sentinel=..." (no
                               credentials: tests add their own);
                               sentinels:// when tls */
} rsn_group;

/* rsn_start_ex() without passwords. */
int rsn_start(rsn_group *g, const char *name, size_t sentinels,
              size_t replicas);

/* Start a master, `replicas` replicas and `sentinels` sentinels (quorum
 * sentinels / 2 + 1) monitoring it as `name` (letters, digits, -._ only),
 * and await the group (20 s). Returns 0, or -1 with a message on stderr
 * and nothing left running. o may be NULL. */
int rsn_start_ex(rsn_group *g, const char *name, size_t sentinels,
                 size_t replicas, const rsn_options *o);

/* Stop the sentinels, then the data servers (safe on a zeroed group). */
void rsn_stop(rsn_group *g);

/* Index into data[] of the master the first answering sentinel names
 * (SENTINEL GET-MASTER-ADDR-BY-NAME), or -1. */
int rsn_master_index(rsn_group *g);

/* 1 if data[i] says role:master, 0 if replica, -1 on error. */
int rsn_is_master(rsn_group *g, size_t i);

/* SENTINEL FAILOVER on a sentinel (retried while the sentinels have no
 * replica they may promote yet, and sent again to that sentinel if it
 * gives the failover up), then await (20 s in all) that every running
 * sentinel names the same, different data server and that it says
 * role:master. Returns 0 (rsn_master_index() then names the new
 * master), or -1 (message on stderr). */
int rsn_failover(rsn_group *g);

/* Called by rsn_failover_ex() from its polling, once, as soon as a data
 * server other than the old master says role:master (the sentinels'
 * REPLICAOF NO ONE took effect), before the sentinels are awaited: within
 * a poll, RSN_POLL_MS, of the promotion. */
typedef void (*rsn_promoted_fn)(rsn_group *g, size_t promoted, void *arg);

/* rsn_failover() calling on_promoted (may be NULL) at the promotion: a
 * test acts on the new master before clients are told of it (e.g.
 * deletes keys to model writes that asynchronous replication lost). */
int rsn_failover_ex(rsn_group *g, rsn_promoted_fn on_promoted, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* REDLOCK_SENTINEL_SPAWN_H */
