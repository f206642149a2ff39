/*
 * cluster_spawn.h: start and stop a real Redis Cluster on loopback for
 * tests: servers from redis_spawn (own temp dirs, free ports, only our
 * PIDs signalled), joined with `redis-cli --cluster create`, and awaited
 * (every node says cluster_state:ok and every master sees all 16384 slots
 * served the same way) before rc_start() returns.
 *
 * Helpers move one slot the way resharding does, in three steps a test
 * can stop between (rc_migrate_begin / _keys / _end), and promote a
 * replica with CLUSTER FAILOVER (rc_failover), each awaiting the state it
 * promises with a deadline.
 *
 * Indexes: srv[0 .. n_masters) were started as masters, srv[n_masters ..
 * n) as replicas. After rc_failover() roles change: ask rc_is_master().
 *
 * TLS (rc_start_ex with rc_options.tls_cert_file): every server is
 * TLS-only (--port 0 --tls-port P), its cluster bus (on P + 10000) and
 * replication run over TLS too (--tls-cluster yes, --tls-replication
 * yes), and c->uri is rediss://. The fixture's own connections and
 * redis-cli speak TLS, verifying against tls_ca_file. No password.
 */
#ifndef REDLOCK_CLUSTER_SPAWN_H
#define REDLOCK_CLUSTER_SPAWN_H

#include <stddef.h>

#include "redis_spawn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Slots of a Redis Cluster. */
#define RC_SLOTS 16384
/* Servers one cluster can hold (3 masters with 2 replicas each). */
#define RC_MAX_SERVERS 9
/* Fewest masters `redis-cli --cluster create` accepts. */
#define RC_MIN_MASTERS 3

/* One cluster. Treat the fields as read-only. */
typedef struct rc_cluster {
    size_t n_masters;   /* started as masters: srv[0 .. n_masters) */
    size_t n_replicas;  /* started as replicas: srv[n_masters .. n) */
    size_t n;           /* n_masters + n_replicas */
    rs_server srv[RC_MAX_SERVERS];
    char uri[1024];     /* "redis://127.0.0.1:P0?cluster=yes&seed=
                           127.0.0.1:P1&seed=..." (the other masters);
                           rediss:// for a TLS cluster */
    int tls;            /* started TLS-only (rc_options.tls_cert_file) */
    char dir[256];      /* where redis-cli's output is: srv[0]'s temp
                           dir (removed with it) */
} rc_cluster;

/* Start masters (>= RC_MIN_MASTERS) with replicas_per_master replicas
 * each, create the cluster and await it healthy (15 s). Returns 0, or -1
 * with a message on stderr and nothing left running. */
int rc_start(rc_cluster *c, size_t masters, size_t replicas_per_master);

/* Options for rc_start_ex(). Zero-initialised: rc_start()'s plain TCP
 * cluster. */
typedef struct rc_options {
    /* TLS. tls_cert_file non-NULL makes every server TLS-only, cluster
     * bus and replication included (see the top of this file); the key
     * and CA file are then required. The same certificate serves every
     * server, also as the client certificate of the bus (tls_certs'
     * server_cert has clientAuth). Paths are copied by redis_spawn. */
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *tls_ca_file;
    int tls_auth_clients;  /* 1: clients must present a certificate
                              signed by tls_ca_file (redis-cli and the
                              fixture present tls_client_cert_file);
                              0 (default): none asked */
    const char *tls_client_cert_file; /* when tls_auth_clients; NULL: the
                                         servers' certificate and key */
    const char *tls_client_key_file;
} rc_options;

/* rc_start() with options (o may be NULL: rc_start()). */
int rc_start_ex(rc_cluster *c, size_t masters, size_t replicas_per_master,
                const rc_options *o);

/* Stop every server (safe on a zeroed or stopped cluster). */
void rc_stop(rc_cluster *c);

/* rs_command() on srv[i]. */
int rc_command(rc_cluster *c, size_t i, char *out, size_t outlen, int argc,
               const char **argv);

/* 1 if srv[i] says role:master now, 0 if it is a replica, -1 on error. */
int rc_is_master(rc_cluster *c, size_t i);

/* srv[i]'s node id (CLUSTER MYID) into out (41 bytes suffice). 0 or -1. */
int rc_node_id(rc_cluster *c, size_t i, char *out, size_t len);

/* Hash slot of key (CLUSTER KEYSLOT on the first node that answers), or
 * -1. */
int rc_keyslot(rc_cluster *c, const char *key);

/* Index into srv[] of the master serving slot in the view of a live
 * master, or -1. */
int rc_master_of_slot(rc_cluster *c, int slot);

/* DBSIZE summed over the servers that are masters now, or -1. */
long long rc_total_keys(rc_cluster *c);

/* Wait until rc_total_keys() is want, up to timeout_ms. 0, or -1. */
int rc_await_total_keys(rc_cluster *c, long long want, int timeout_ms);

/* rs_info_count(section, prefix) summed over the masters the cluster was
 * started with (srv[0 .. n_masters)), or -1 if one could not be asked. */
long long rc_info_sum(rc_cluster *c, const char *section, const char *prefix);

/* GET key on the master of its slot into out ("(nil)" if missing).
 * 0 or -1. */
int rc_get(rc_cluster *c, const char *key, char *out, size_t len);

/* SET key value (PX ttl_ms if > 0) on the master of its slot. 0 or -1. */
int rc_set(rc_cluster *c, const char *key, const char *value, int ttl_ms);

/* PTTL of key on the master of its slot: ms left, -1 no TTL, -2 no key,
 * -3 on error. */
long long rc_pttl(rc_cluster *c, const char *key);

/* Resharding of one slot from master `from` to master `to`, in steps:
 *  - rc_migrate_begin: CLUSTER SETSLOT IMPORTING on `to`, MIGRATING on
 *    `from`. From now on `from` answers -ASK for keys of the slot it no
 *    longer has, and `to` serves them after ASKING.
 *  - rc_migrate_keys: MIGRATE every key `from` holds in the slot now, in
 *    batches. Returns the number moved, or -1.
 *  - rc_migrate_end: CLUSTER SETSLOT NODE <to> on `to`, `from` and every
 *    other master, then awaits (10 s) that every master's CLUSTER SLOTS
 *    names `to` for the slot. From now on clients get -MOVED.
 * rc_migrate_slot() runs the three. All return 0 (keys: the count) or
 * -1 with a message on stderr. */
int rc_migrate_begin(rc_cluster *c, int slot, size_t from, size_t to);
long long rc_migrate_keys(rc_cluster *c, int slot, size_t from, size_t to);
int rc_migrate_end(rc_cluster *c, int slot, size_t from, size_t to);
int rc_migrate_slot(rc_cluster *c, int slot, size_t from, size_t to);

/* CLUSTER FAILOVER on srv[replica] (a replica now; FORCE when its
 * master is stopped or paused; sent again every 6 s while it is still
 * a replica), then await (20 s in all) that it says
 * role:master and that every running master's view gives it all the
 * slots of its old master. Returns 0 or -1 (message on stderr). Servers
 * paused with rs_pause() are skipped by every poll of this fixture. */
int rc_failover(rc_cluster *c, size_t replica);

/* Called by rc_failover_ex() from its polling, once, as soon as the
 * replica says role:master (before the other masters' views are awaited;
 * within a poll, RC_POLL_MS, of the promotion). */
typedef void (*rc_promoted_fn)(rc_cluster *c, size_t promoted, void *arg);

/* rc_failover() calling on_promoted (may be NULL) at the promotion: a
 * test acts on the new master before clients find it (e.g. deletes keys
 * to model writes that asynchronous replication lost). */
int rc_failover_ex(rc_cluster *c, size_t replica, rc_promoted_fn on_promoted,
                   void *arg);

/* Index of a running replica of srv[master] (by INFO replication's
 * master_port), or -1. */
int rc_replica_of(rc_cluster *c, size_t master);

#ifdef __cplusplus
}
#endif
#endif /* REDLOCK_CLUSTER_SPAWN_H */
