/*
 * cluster_spawn.c: a real Redis Cluster on loopback for the integration
 * tests (see cluster_spawn.h for the API).
 *
 * DESIGN
 *  - Servers come from redis_spawn (rs_start_ex with --cluster-enabled
 *    yes in extra_args), so they share its temp dirs, PID registry,
 *    PR_SET_PDEATHSIG and readiness probe. A cluster node also binds
 *    port + 10000 for its bus, so it refuses ports above 55535 (a fifth
 *    of Linux's ephemeral range): start_node() picks the port itself
 *    below that and retries on another one when the server exits (its
 *    bus port was taken). Rejected: letting rs_start_ex() pick (its few
 *    retries run out too often, each with a log tail on stderr), and
 *    --cluster-port (a second free port to find, for the same race).
 *  - The cluster is made by `redis-cli --cluster create`, the tool people
 *    use, run with fork + execvp (no shell) and its output captured in a
 *    file of srv[0]'s temp dir (removed with it, also by redis_spawn's
 *    atexit net), printed when it fails. With one host, it
 *    makes the first `masters` addresses the masters, in order; rc_start
 *    checks that rather than trusting it. Rejected: CLUSTER MEET and
 *    ADDSLOTSRANGE by hand (the same end state, more code to get wrong;
 *    it would be the way to allow fewer than 3 masters, which redis-cli
 *    refuses).
 *  - "Ready" is a condition polled with a deadline: every node says
 *    cluster_state:ok, every replica's link to its master is up, and the
 *    CLUSTER SLOTS of every master maps all 16384 slots, to the same
 *    ports. Gossip makes views converge at different moments; a test
 *    that starts before they agree sees MOVED loops that are the
 *    fixture's fault, not the library's.
 *  - Slot migration is split in three calls so tests can act while a
 *    slot is half moved (ASK) and after (MOVED). SETSLOT NODE goes to
 *    the target first, as the Redis docs ask, then to the source and
 *    the other masters, so no master's view lags until gossip arrives.
 *  - Replies with nested arrays (CLUSTER SLOTS) are read as hiredis
 *    replies through rs_command_reply(); flat text from rs_command()
 *    would lose the nesting.
 *  - Roles are read from INFO replication each time they matter, never
 *    cached: a failover swaps them.
 *  - Before a failover (and at the end of a migration, and in "ready")
 *    every node must give every node the same config epoch: masters
 *    refuse their vote to a replica whose view of its master's epoch is
 *    older than theirs (after SETSLOT NODE bumped it, say), and the
 *    manual failover then times out after 5 s. rc_failover also sends
 *    CLUSTER FAILOVER again every 6 s while the replica is still one.
 *  - TLS (rc_start_ex): TLS-only servers (redis_spawn's --port 0
 *    --tls-port P), with --tls-cluster and --tls-replication, so not one
 *    byte of the cluster travels in the clear and a client that reached
 *    it without TLS would have had nowhere to connect. The bus port is
 *    then the TLS port + 10000 (start_node's limit applies unchanged),
 *    and Redis 7.0 reports the TLS port in CLUSTER SLOTS and NODES to a
 *    TLS client (and only "tls-port", no "port", in CLUSTER SHARDS), so
 *    the readiness checks that match ports read the same numbers as for
 *    a plain cluster. redis-cli gets --tls --cacert (and --cert/--key
 *    when the servers ask for client certificates), taken from srv[0]'s
 *    copies of the paths. Rejected: a cluster with both a plaintext and
 *    a TLS port (a test could pass on the plaintext port by mistake),
 *    and a separate TLS fixture file (the same cluster logic twice).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cluster_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/wait.h>

#include <hiredis/hiredis.h>

/* How long the cluster may take to become healthy after create. */
#define RC_READY_TIMEOUT_MS 15000
/* How long redis-cli --cluster create may run. */
#define RC_CREATE_TIMEOUT_MS 30000
/* How long every master may take to see a slot's new owner. */
#define RC_MIGRATE_TIMEOUT_MS 10000
/* How long a manual failover may take to be seen everywhere, and after
 * how long CLUSTER FAILOVER is sent again if the replica is still one
 * (Redis drops a manual failover that is not done in 5 s). */
#define RC_FAILOVER_TIMEOUT_MS 20000
#define RC_FAILOVER_RETRY_MS 6000
/* Pause between polls of a condition. */
#define RC_POLL_MS 20
/* Keys asked for (and migrated) per GETKEYSINSLOT round. */
#define RC_MIGRATE_BATCH 100
/* Highest port a cluster node may have: its bus is port + 10000. */
#define RC_MAX_PORT 55535
/* Ports asked of the kernel, and start attempts, per server. */
#define RC_PORT_PICKS 200
#define RC_START_ATTEMPTS 5
/* Bytes of redis-cli's output printed when it fails. */
#define RC_OUTPUT_TAIL 4096

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* Run argv on srv[i]; returns the reply or NULL (reason in err). */
static redisReply *node_reply(rc_cluster *c, size_t i, int argc,
                              const char **argv, char *err, size_t errlen)
{
    if (i >= c->n || c->srv[i].pid <= 0 || c->srv[i].paused) {
        /* paused: it would only time out; polls skip it instead */
        snprintf(err, errlen, "server %zu is not running", i);
        return NULL;
    }
    return rs_command_reply(&c->srv[i], argc, argv, err, errlen);
}

/* Run argv on srv[i] and require the status reply OK. 0 or -1 (message
 * printed, naming what). */
static int node_ok(rc_cluster *c, size_t i, int argc, const char **argv,
                   const char *what)
{
    char err[256];
    redisReply *r = node_reply(c, i, argc, argv, err, sizeof(err));
    int rc = -1;

    if (r == NULL) {
        fprintf(stderr, "cluster_spawn: %s: %s\n", what, err);
        return -1;
    }
    if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
        rc = 0;
    else
        fprintf(stderr, "cluster_spawn: %s on port %d: %s\n", what,
                c->srv[i].port, r->str != NULL ? r->str : "(not OK)");
    freeReplyObject(r);
    return rc;
}

/* INFO replication of srv[i]: role (1 master, 0 replica), and for a
 * replica its master's port and whether the link is up. Returns the
 * role or -1. */
static int replication_of(rc_cluster *c, size_t i, int *master_port,
                          int *link_up)
{
    static const char *argv[] = { "INFO", "replication" };
    char err[256], val[64];
    redisReply *r = node_reply(c, i, 2, argv, err, sizeof(err));
    int role = -1;

    if (master_port != NULL)
        *master_port = 0;
    if (link_up != NULL)
        *link_up = 0;
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_STRING &&
        rs_info_field(r->str, "role:", val, sizeof(val)) == 0) {
        role = strcmp(val, "master") == 0 ? 1 : 0;
        if (role == 0 && master_port != NULL &&
            rs_info_field(r->str, "master_port:", val, sizeof(val)) == 0)
            *master_port = (int)strtol(val, NULL, 10);
        if (role == 0 && link_up != NULL &&
            rs_info_field(r->str, "master_link_status:", val,
                       sizeof(val)) == 0)
            *link_up = strcmp(val, "up") == 0;
    }
    freeReplyObject(r);
    return role;
}

/* Index of the server listening on port, or -1. */
static int index_of_port(const rc_cluster *c, long long port)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->srv[i].port == port)
            return (int)i;
    }
    return -1;
}

/* srv[i]'s view of the slots (CLUSTER SLOTS): owner[s] = index of the
 * master serving slot s, or -1 if no range covers s or the owner is not
 * one of ours. Returns 0, or -1 if the command failed. */
static int slot_view(rc_cluster *c, size_t i, short *owner)
{
    static const char *argv[] = { "CLUSTER", "SLOTS" };
    char err[256];
    redisReply *r = node_reply(c, i, 2, argv, err, sizeof(err));

    for (int s = 0; s < RC_SLOTS; s++)
        owner[s] = -1;
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return -1;
    }
    for (size_t k = 0; k < r->elements; k++) {
        const redisReply *e = r->element[k];
        long long lo, hi;
        int who;

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY ||
            e->element[2]->elements < 2 ||
            e->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
            continue;
        lo = e->element[0]->integer;
        hi = e->element[1]->integer;
        who = index_of_port(c, e->element[2]->element[1]->integer);
        for (long long s = lo; s <= hi && s < RC_SLOTS; s++) {
            if (s >= 0)
                owner[s] = (short)who;
        }
    }
    freeReplyObject(r);
    return 0;
}

/* Poll cond(c, arg) every RC_POLL_MS until it returns 1 or timeout_ms
 * passed. Returns 0 if it held, -1 (message naming what, unless NULL) if
 * not. */
static int await_cond(rc_cluster *c, int (*cond)(rc_cluster *, void *),
                      void *arg, int timeout_ms, const char *what)
{
    long long deadline = rs_now_ms() + timeout_ms;

    for (;;) {
        if (cond(c, arg) == 1)
            return 0;
        if (rs_now_ms() >= deadline) {
            if (what != NULL)
                fprintf(stderr, "cluster_spawn: %s not reached within %d "
                                "ms\n", what, timeout_ms);
            return -1;
        }
        rs_sleep_ms(RC_POLL_MS);
    }
}

/* srv[i]'s view of every node's config epoch (CLUSTER NODES), by index
 * into srv[]; -1 for a node it does not list. Returns 0 or -1. */
static int epoch_view(rc_cluster *c, size_t i, long long *epoch)
{
    static const char *argv[] = { "CLUSTER", "NODES" };
    char err[256];
    redisReply *r = node_reply(c, i, 2, argv, err, sizeof(err));

    for (size_t k = 0; k < c->n; k++)
        epoch[k] = -1;
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return -1;
    }
    /* "<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> ..." */
    for (const char *line = r->str; line != NULL && *line != '\0';) {
        const char *colon = strchr(line, ':');
        const char *nl = strchr(line, '\n');
        const char *f = line;
        int idx = -1;

        if (colon != NULL && (nl == NULL || colon < nl))
            idx = index_of_port(c, strtol(colon + 1, NULL, 10));
        for (int field = 0; field < 6 && f != NULL; field++) {
            f = strchr(f, ' ');
            if (f != NULL)
                f++;
        }
        if (idx >= 0 && f != NULL && (nl == NULL || f < nl))
            epoch[idx] = strtoll(f, NULL, 10);
        line = nl != NULL ? nl + 1 : NULL;
    }
    freeReplyObject(r);
    return 0;
}

/* 1 when every running server gives every node the same config epoch.
 * A master refuses its vote to a replica whose view of its own master's
 * epoch is older than the master's (CLUSTER FAILOVER then times out), so
 * failovers and migrations wait for this. */
static int epochs_agree(rc_cluster *c, void *arg)
{
    long long ref[RC_MAX_SERVERS], view[RC_MAX_SERVERS];
    int have_ref = 0;

    (void)arg;
    for (size_t i = 0; i < c->n; i++) {
        long long *v = have_ref ? view : ref;

        if (c->srv[i].pid <= 0 || c->srv[i].paused)
            continue;
        if (epoch_view(c, i, v) != 0)
            return 0;
        if (have_ref && memcmp(ref, view, c->n * sizeof(ref[0])) != 0)
            return 0;
        have_ref = 1;
    }
    return have_ref;
}

/* ------------------------------------------------------------------------
 * Health: the condition rc_start() awaits
 * ------------------------------------------------------------------------ */

/* 1 if srv[i] says cluster_state:ok. */
static int state_ok(rc_cluster *c, size_t i)
{
    static const char *argv[] = { "CLUSTER", "INFO" };
    char err[256], val[32];
    redisReply *r = node_reply(c, i, 2, argv, err, sizeof(err));
    int ok = 0;

    if (r == NULL)
        return 0;
    if (r->type == REDIS_REPLY_STRING &&
        rs_info_field(r->str, "cluster_state:", val, sizeof(val)) == 0)
        ok = strcmp(val, "ok") == 0;
    freeReplyObject(r);
    return ok;
}

/* 1 if every running master's CLUSTER SLOTS covers all slots, all with
 * masters of ours, and all views agree. */
static int views_agree(rc_cluster *c)
{
    short ref[RC_SLOTS], view[RC_SLOTS];
    int have_ref = 0;

    for (size_t i = 0; i < c->n; i++) {
        short *v = have_ref ? view : ref;

        if (c->srv[i].pid <= 0 || replication_of(c, i, NULL, NULL) != 1)
            continue;
        if (slot_view(c, i, v) != 0)
            return 0;
        for (int s = 0; s < RC_SLOTS; s++) {
            if (v[s] < 0)
                return 0;
        }
        if (have_ref && memcmp(ref, view, sizeof(ref)) != 0)
            return 0;
        have_ref = 1;
    }
    return have_ref;
}

/* rc_start()'s condition: the started roles hold (replicas' links up),
 * every node says cluster_state:ok, the masters' views agree. */
static int cluster_healthy(rc_cluster *c, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < c->n; i++) {
        int up, role = replication_of(c, i, NULL, &up);
        if (role != (i < c->n_masters ? 1 : 0))
            return 0;
        if (role == 0 && !up)
            return 0;
        if (!state_ok(c, i))
            return 0;
    }
    return views_agree(c) && epochs_agree(c, NULL);
}

/* ------------------------------------------------------------------------
 * redis-cli --cluster create
 * ------------------------------------------------------------------------ */

/* Print the tail of redis-cli's output file to stderr. */
static void print_output(const char *path)
{
    char buf[RC_OUTPUT_TAIL + 1];
    FILE *f = fopen(path, "r");
    long size;
    size_t n;

    if (f == NULL)
        return;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > RC_OUTPUT_TAIL)
        fseek(f, size - RC_OUTPUT_TAIL, SEEK_SET);
    else
        fseek(f, 0, SEEK_SET);
    n = fread(buf, 1, RC_OUTPUT_TAIL, f);
    fclose(f);
    buf[n] = '\0';
    fprintf(stderr, "cluster_spawn: output of redis-cli (%s):\n%s\n", path,
            buf);
}

/* In the forked child: die with the parent, output to outfd, exec. */
static void tool_child(const char **args, int outfd, pid_t parent)
{
    int null_fd;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(126);
    null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0)
        dup2(null_fd, STDIN_FILENO);
    dup2(outfd, STDOUT_FILENO);
    dup2(outfd, STDERR_FILENO);
    execvp(args[0], (char *const *)args);
    dprintf(outfd, "cannot exec %s: %s\n", args[0], strerror(errno));
    _exit(127);
}

/* Run args (args[0] looked up in PATH) with stdout and stderr into the
 * file `path`, waiting at most timeout_ms (then the child, ours, is
 * killed). Returns 0 if it exited with status 0, else -1 (output
 * printed). */
static int run_tool(const char **args, const char *path, int timeout_ms)
{
    long long deadline = rs_now_ms() + timeout_ms;
    pid_t parent = getpid(), pid;
    int outfd, status = 0;

    outfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (outfd < 0) {
        fprintf(stderr, "cluster_spawn: cannot create %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "cluster_spawn: fork: %s\n", strerror(errno));
        close(outfd);
        return -1;
    }
    if (pid == 0)
        tool_child(args, outfd, parent);
    close(outfd);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            fprintf(stderr, "cluster_spawn: waitpid: %s\n", strerror(errno));
            return -1;
        }
        if (rs_now_ms() >= deadline) {
            fprintf(stderr, "cluster_spawn: %s still running after %d ms; "
                            "killing it\n", args[0], timeout_ms);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            print_output(path);
            return -1;
        }
        rs_sleep_ms(RC_POLL_MS);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    fprintf(stderr, "cluster_spawn: %s failed (%s %d)\n", args[0],
            WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    print_output(path);
    return -1;
}

/* Run redis-cli --cluster create over every server. 0 or -1. */
static int create_cluster(rc_cluster *c, size_t replicas_per_master)
{
    const char *args[RC_MAX_SERVERS + 16];
    char addr[RC_MAX_SERVERS][32], reps[16], out[512];
    const char *cli = getenv("REDIS_CLI");
    const rs_server *s0 = &c->srv[0];
    size_t k = 0;

    if (cli == NULL || cli[0] == '\0')
        cli = "redis-cli";
    args[k++] = cli;
    if (s0->tls) {
        args[k++] = "--tls";
        args[k++] = "--cacert";
        args[k++] = s0->tls_ca_file;
        if (s0->tls_auth_clients) {
            args[k++] = "--cert";
            args[k++] = s0->tls_client_cert_file;
            args[k++] = "--key";
            args[k++] = s0->tls_client_key_file;
        }
    }
    args[k++] = "--cluster";
    args[k++] = "create";
    for (size_t i = 0; i < c->n; i++) {
        snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%d", c->srv[i].port);
        args[k++] = addr[i];
    }
    snprintf(reps, sizeof(reps), "%zu", replicas_per_master);
    args[k++] = "--cluster-replicas";
    args[k++] = reps;
    args[k++] = "--cluster-yes";
    args[k] = NULL;
    snprintf(out, sizeof(out), "%s/cluster-create.out", c->dir);
    return run_tool(args, out, RC_CREATE_TIMEOUT_MS);
}

/* Start srv[i] with options o on a port the cluster bus can follow
 * (<= RC_MAX_PORT). 0 or -1 (message printed). */
static int start_node(rc_cluster *c, size_t i, rs_options *o)
{
    int attempts = 0;

    for (int pick = 0; pick < RC_PORT_PICKS; pick++) {
        int port = rs_free_port();
        if (port <= 0)
            break;
        if (port > RC_MAX_PORT)
            continue;
        o->port = port;
        if (rs_start_ex(&c->srv[i], o) == 0)
            return 0;
        if (++attempts >= RC_START_ATTEMPTS)
            break;
    }
    fprintf(stderr, "cluster_spawn: cannot start server %zu of the "
                    "cluster\n", i);
    return -1;
}

/* Fill c->uri: the first master as host, the other masters as seeds. */
static int build_uri(rc_cluster *c)
{
    size_t pos;
    int n = snprintf(c->uri, sizeof(c->uri),
                     "%s://127.0.0.1:%d?cluster=yes",
                     c->tls ? "rediss" : "redis", c->srv[0].port);

    if (n < 0 || (size_t)n >= sizeof(c->uri))
        return -1;
    pos = (size_t)n;
    for (size_t i = 1; i < c->n_masters; i++) {
        n = snprintf(c->uri + pos, sizeof(c->uri) - pos,
                     "&seed=127.0.0.1:%d", c->srv[i].port);
        if (n < 0 || (size_t)n >= sizeof(c->uri) - pos)
            return -1;
        pos += (size_t)n;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Public API: start, stop, queries
 * ------------------------------------------------------------------------ */

int rc_start(rc_cluster *c, size_t masters, size_t replicas_per_master)
{
    return rc_start_ex(c, masters, replicas_per_master, NULL);
}

int rc_start_ex(rc_cluster *c, size_t masters, size_t replicas_per_master,
                const rc_options *opt)
{
    static const char *const cluster_args[] = {
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", "1000",
        /* no 5 s wait for more replicas before a diskless full sync */
        "--repl-diskless-sync-delay", "0",
    };
    /* A TLS cluster's bus and replication are TLS too. */
    static const char *const tls_args[] = {
        "--tls-cluster", "yes",
        "--tls-replication", "yes",
    };
    const size_t n_cluster = sizeof(cluster_args) / sizeof(cluster_args[0]);
    const size_t n_tls = sizeof(tls_args) / sizeof(tls_args[0]);
    const char *args[sizeof(cluster_args) / sizeof(cluster_args[0]) +
                     sizeof(tls_args) / sizeof(tls_args[0])];
    int tls = opt != NULL && opt->tls_cert_file != NULL;
    rs_options o;

    if (c == NULL)
        return -1;
    memset(c, 0, sizeof(*c));
    if (masters < RC_MIN_MASTERS ||
        masters * (1 + replicas_per_master) > RC_MAX_SERVERS) {
        fprintf(stderr, "cluster_spawn: %zu masters x %zu replicas: need "
                        "at least %d masters and at most %d servers\n",
                masters, replicas_per_master, RC_MIN_MASTERS,
                RC_MAX_SERVERS);
        return -1;
    }
    c->n_masters = masters;
    c->n_replicas = masters * replicas_per_master;
    c->n = c->n_masters + c->n_replicas;
    c->tls = tls;
    memset(&o, 0, sizeof(o));
    memcpy(args, cluster_args, sizeof(cluster_args));
    if (tls)
        memcpy(args + n_cluster, tls_args, sizeof(tls_args));
    o.extra_args = args;
    o.extra_argc = n_cluster + (tls ? n_tls : 0);
    if (tls) {
        o.tls_cert_file = opt->tls_cert_file;
        o.tls_key_file = opt->tls_key_file;
        o.tls_ca_file = opt->tls_ca_file;
        o.tls_auth_clients = opt->tls_auth_clients;
        o.tls_client_cert_file = opt->tls_client_cert_file;
        o.tls_client_key_file = opt->tls_client_key_file;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (start_node(c, i, &o) != 0)
            goto fail;
    }
    /* redis-cli's output goes into srv[0]'s dir, which rs_stop() and
     * redis_spawn's atexit net remove (an own dir would outlive a test
     * that exits without rc_stop). */
    snprintf(c->dir, sizeof(c->dir), "%s", c->srv[0].dir);
    if (create_cluster(c, replicas_per_master) != 0)
        goto fail;
    if (await_cond(c, cluster_healthy, NULL, RC_READY_TIMEOUT_MS,
                   "a healthy cluster (cluster_state:ok everywhere, "
                   "replicas linked, masters agreeing on all slots)") != 0)
        goto fail;
    if (build_uri(c) != 0) {
        fprintf(stderr, "cluster_spawn: URI too long\n");
        goto fail;
    }
    return 0;

fail:
    rc_stop(c);
    return -1;
}

void rc_stop(rc_cluster *c)
{
    if (c == NULL)
        return;
    rs_stop_many(c->srv, RC_MAX_SERVERS);
    c->dir[0] = '\0';
}

int rc_command(rc_cluster *c, size_t i, char *out, size_t outlen, int argc,
               const char **argv)
{
    if (c == NULL || i >= c->n) {
        if (out != NULL && outlen > 0)
            snprintf(out, outlen, "no server %zu", i);
        return -1;
    }
    return rs_command(&c->srv[i], out, outlen, argc, argv);
}

int rc_is_master(rc_cluster *c, size_t i)
{
    return replication_of(c, i, NULL, NULL);
}

int rc_node_id(rc_cluster *c, size_t i, char *out, size_t len)
{
    static const char *argv[] = { "CLUSTER", "MYID" };
    char err[256];
    redisReply *r = node_reply(c, i, 2, argv, err, sizeof(err));
    int rc = -1;

    if (r == NULL) {
        fprintf(stderr, "cluster_spawn: CLUSTER MYID: %s\n", err);
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING && r->len < len) {
        memcpy(out, r->str, r->len + 1);
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

int rc_keyslot(rc_cluster *c, const char *key)
{
    const char *argv[] = { "CLUSTER", "KEYSLOT", key };
    char err[256];

    for (size_t i = 0; c != NULL && i < c->n; i++) {
        redisReply *r;
        int slot = -1;

        if (c->srv[i].pid <= 0 || c->srv[i].paused)
            continue;
        r = node_reply(c, i, 3, argv, err, sizeof(err));
        if (r == NULL)
            continue;
        if (r->type == REDIS_REPLY_INTEGER)
            slot = (int)r->integer;
        freeReplyObject(r);
        return slot;
    }
    return -1;
}

int rc_master_of_slot(rc_cluster *c, int slot)
{
    short view[RC_SLOTS];

    if (c == NULL || slot < 0 || slot >= RC_SLOTS)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        if (c->srv[i].pid <= 0 || c->srv[i].paused ||
            replication_of(c, i, NULL, NULL) != 1)
            continue;
        if (slot_view(c, i, view) == 0)
            return view[slot];
    }
    return -1;
}

long long rc_total_keys(rc_cluster *c)
{
    long long total = 0;

    for (size_t i = 0; c != NULL && i < c->n; i++) {
        int role;
        long long n;

        if (c->srv[i].pid <= 0)
            continue;
        role = replication_of(c, i, NULL, NULL);
        if (role < 0)
            return -1;
        if (role == 0)
            continue;
        n = rs_dbsize(&c->srv[i]);
        if (n < 0)
            return -1;
        total += n;
    }
    return total;
}

/* Condition of rc_await_total_keys(): arg points to the count wanted. */
static int total_keys_is(rc_cluster *c, void *arg)
{
    return rc_total_keys(c) == *(const long long *)arg;
}

int rc_await_total_keys(rc_cluster *c, long long want, int timeout_ms)
{
    return await_cond(c, total_keys_is, &want, timeout_ms, NULL);
}

long long rc_info_sum(rc_cluster *c, const char *section, const char *prefix)
{
    long long t = 0;
    for (size_t i = 0; i < c->n_masters; i++) {
        long long v = rs_info_count(&c->srv[i], section, prefix);
        if (v < 0)
            return -1;
        t += v;
    }
    return t;
}

/* Index of the master of key's slot, or -1 (message printed). */
static int master_of_key(rc_cluster *c, const char *key)
{
    int slot = rc_keyslot(c, key);
    int i = slot >= 0 ? rc_master_of_slot(c, slot) : -1;

    if (i < 0)
        fprintf(stderr, "cluster_spawn: no master found for key %s (slot "
                        "%d)\n", key, slot);
    return i;
}

int rc_get(rc_cluster *c, const char *key, char *out, size_t len)
{
    const char *argv[] = { "GET", key };
    int i = master_of_key(c, key);

    if (i < 0)
        return -1;
    return rs_command(&c->srv[i], out, len, 2, argv);
}

int rc_set(rc_cluster *c, const char *key, const char *value, int ttl_ms)
{
    char ttl[24], out[128];
    const char *argv[] = { "SET", key, value, "PX", ttl };
    int i = master_of_key(c, key);

    if (i < 0)
        return -1;
    snprintf(ttl, sizeof(ttl), "%d", ttl_ms);
    if (rs_command(&c->srv[i], out, sizeof(out), ttl_ms > 0 ? 5 : 3,
                   argv) != 0 || strcmp(out, "OK") != 0) {
        fprintf(stderr, "cluster_spawn: SET %s on port %d: %s\n", key,
                c->srv[i].port, out);
        return -1;
    }
    return 0;
}

long long rc_pttl(rc_cluster *c, const char *key)
{
    const char *argv[] = { "PTTL", key };
    char err[256];
    redisReply *r;
    long long v = -3;
    int i = master_of_key(c, key);

    if (i < 0)
        return -3;
    r = rs_command_reply(&c->srv[i], 2, argv, err, sizeof(err));
    if (r == NULL)
        return -3;
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    freeReplyObject(r);
    return v;
}

/* ------------------------------------------------------------------------
 * Slot migration
 * ------------------------------------------------------------------------ */

/* Check the arguments of the rc_migrate_* calls. 0 or -1 (printed). */
static int migrate_args(rc_cluster *c, int slot, size_t from, size_t to)
{
    if (c == NULL || slot < 0 || slot >= RC_SLOTS || from >= c->n ||
        to >= c->n || from == to) {
        fprintf(stderr, "cluster_spawn: bad migration of slot %d from %zu "
                        "to %zu\n", slot, from, to);
        return -1;
    }
    return 0;
}

int rc_migrate_begin(rc_cluster *c, int slot, size_t from, size_t to)
{
    char from_id[64], to_id[64], slotbuf[16];
    const char *importing[] = { "CLUSTER", "SETSLOT", slotbuf, "IMPORTING",
                                from_id };
    const char *migrating[] = { "CLUSTER", "SETSLOT", slotbuf, "MIGRATING",
                                to_id };

    if (migrate_args(c, slot, from, to) != 0 ||
        rc_node_id(c, from, from_id, sizeof(from_id)) != 0 ||
        rc_node_id(c, to, to_id, sizeof(to_id)) != 0)
        return -1;
    snprintf(slotbuf, sizeof(slotbuf), "%d", slot);
    if (node_ok(c, to, 5, importing, "CLUSTER SETSLOT IMPORTING") != 0 ||
        node_ok(c, from, 5, migrating, "CLUSTER SETSLOT MIGRATING") != 0)
        return -1;
    return 0;
}

long long rc_migrate_keys(rc_cluster *c, int slot, size_t from, size_t to)
{
    char slotbuf[16], batch[16], portbuf[16], err[256];
    const char *getkeys[] = { "CLUSTER", "GETKEYSINSLOT", slotbuf, batch };
    const char *argv[8 + RC_MIGRATE_BATCH];
    long long moved = 0;

    if (migrate_args(c, slot, from, to) != 0)
        return -1;
    snprintf(slotbuf, sizeof(slotbuf), "%d", slot);
    snprintf(batch, sizeof(batch), "%d", RC_MIGRATE_BATCH);
    snprintf(portbuf, sizeof(portbuf), "%d", c->srv[to].port);
    for (;;) {
        redisReply *keys = node_reply(c, from, 4, getkeys, err, sizeof(err));
        redisReply *r;
        int argc = 0, ok;
        size_t n;

        if (keys == NULL || keys->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "cluster_spawn: GETKEYSINSLOT %d: %s\n", slot,
                    keys == NULL ? err : "not an array");
            if (keys != NULL)
                freeReplyObject(keys);
            return -1;
        }
        n = keys->elements;
        if (n == 0) {
            freeReplyObject(keys);
            return moved;
        }
        argv[argc++] = "MIGRATE";
        argv[argc++] = "127.0.0.1";
        argv[argc++] = portbuf;
        argv[argc++] = "";
        argv[argc++] = "0";
        argv[argc++] = "5000";
        argv[argc++] = "KEYS";
        for (size_t k = 0; k < n && k < RC_MIGRATE_BATCH; k++)
            argv[argc++] = keys->element[k]->str;
        r = node_reply(c, from, argc, argv, err, sizeof(err));
        /* NOKEY: the keys expired between the two commands. */
        ok = r != NULL && r->type == REDIS_REPLY_STATUS &&
             (strcmp(r->str, "OK") == 0 || strcmp(r->str, "NOKEY") == 0);
        if (!ok)
            fprintf(stderr, "cluster_spawn: MIGRATE of %zu keys of slot %d "
                            "to port %d: %s\n", n, slot, c->srv[to].port,
                    r == NULL ? err : (r->str != NULL ? r->str : "?"));
        if (r != NULL)
            freeReplyObject(r);
        freeReplyObject(keys);
        if (!ok)
            return -1;
        moved += (long long)n;
    }
}

/* Argument of slot_owned_by(). */
typedef struct rc_owner_arg {
    int slot;
    int owner; /* index into srv[] */
} rc_owner_arg;

/* 1 if every running master's view gives the slot to arg's owner. */
static int slot_owned_by(rc_cluster *c, void *arg)
{
    const rc_owner_arg *a = arg;
    short view[RC_SLOTS];
    int seen = 0;

    for (size_t i = 0; i < c->n; i++) {
        if (c->srv[i].pid <= 0 || replication_of(c, i, NULL, NULL) != 1)
            continue;
        if (slot_view(c, i, view) != 0 || view[a->slot] != a->owner)
            return 0;
        seen = 1;
    }
    return seen;
}

int rc_migrate_end(rc_cluster *c, int slot, size_t from, size_t to)
{
    char to_id[64], slotbuf[16];
    const char *node[] = { "CLUSTER", "SETSLOT", slotbuf, "NODE", to_id };
    rc_owner_arg a;

    if (migrate_args(c, slot, from, to) != 0 ||
        rc_node_id(c, to, to_id, sizeof(to_id)) != 0)
        return -1;
    snprintf(slotbuf, sizeof(slotbuf), "%d", slot);
    /* Target first: then the source's redirections lead somewhere that
     * already serves the slot. */
    if (node_ok(c, to, 5, node, "CLUSTER SETSLOT NODE (target)") != 0 ||
        node_ok(c, from, 5, node, "CLUSTER SETSLOT NODE (source)") != 0)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        if (i == from || i == to || c->srv[i].pid <= 0 ||
            replication_of(c, i, NULL, NULL) != 1)
            continue;
        if (node_ok(c, i, 5, node, "CLUSTER SETSLOT NODE (other)") != 0)
            return -1;
    }
    a.slot = slot;
    a.owner = (int)to;
    if (await_cond(c, slot_owned_by, &a, RC_MIGRATE_TIMEOUT_MS,
                   "every master naming the new owner of the slot") != 0)
        return -1;
    /* SETSLOT NODE bumps the target's config epoch; a failover right
     * after must not meet views that still have the old one. */
    return await_cond(c, epochs_agree, NULL, RC_MIGRATE_TIMEOUT_MS,
                      "every node agreeing on every config epoch");
}

int rc_migrate_slot(rc_cluster *c, int slot, size_t from, size_t to)
{
    if (rc_migrate_begin(c, slot, from, to) != 0 ||
        rc_migrate_keys(c, slot, from, to) < 0 ||
        rc_migrate_end(c, slot, from, to) != 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------
 * Failover
 * ------------------------------------------------------------------------ */

/* Argument of failover_done(). */
typedef struct rc_failover_arg {
    rc_promoted_fn on_promoted; /* called once when the replica first
                                   says role:master; may be NULL */
    void *on_promoted_arg;
    int promoted_told;
    size_t replica;          /* the promoted server */
    unsigned char *slots;    /* RC_SLOTS flags: the old master's slots */
} rc_failover_arg;

/* 1 when the replica says role:master and every master's view gives it
 * every slot of its old master. */
static int failover_done(rc_cluster *c, void *arg)
{
    rc_failover_arg *a = arg;
    short view[RC_SLOTS];

    if (replication_of(c, a->replica, NULL, NULL) != 1)
        return 0;
    if (a->on_promoted != NULL && !a->promoted_told) {
        a->promoted_told = 1;
        a->on_promoted(c, a->replica, a->on_promoted_arg);
    }
    for (size_t i = 0; i < c->n; i++) {
        if (c->srv[i].pid <= 0 || replication_of(c, i, NULL, NULL) != 1)
            continue;
        if (slot_view(c, i, view) != 0)
            return 0;
        for (int s = 0; s < RC_SLOTS; s++) {
            if (a->slots[s] && view[s] != (short)a->replica)
                return 0;
        }
    }
    return 1;
}

/* After a failover timed out: print each running server's role and whom
 * it gives the first slot of the old master, for the test's log. */
static void report_failover(rc_cluster *c, const rc_failover_arg *a)
{
    short view[RC_SLOTS];
    int slot = 0;

    while (slot < RC_SLOTS && !a->slots[slot])
        slot++;
    for (size_t i = 0; i < c->n && slot < RC_SLOTS; i++) {
        int role = replication_of(c, i, NULL, NULL);
        int owner = slot_view(c, i, view) == 0 ? view[slot] : -2;
        fprintf(stderr, "cluster_spawn:   server %zu (port %d): %s, slot %d "
                        "served by server %d\n", i, c->srv[i].port,
                role == 1 ? "master" : role == 0 ? "replica" : "no answer",
                slot, owner);
    }
}

int rc_failover(rc_cluster *c, size_t replica)
{
    return rc_failover_ex(c, replica, NULL, NULL);
}

int rc_replica_of(rc_cluster *c, size_t master)
{
    if (c == NULL || master >= c->n)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        int port;
        if (i != master && c->srv[i].pid > 0 &&
            replication_of(c, i, &port, NULL) == 0 &&
            port == c->srv[master].port)
            return (int)i;
    }
    return -1;
}

int rc_failover_ex(rc_cluster *c, size_t replica, rc_promoted_fn on_promoted,
                   void *arg)
{
    static const char *argv[] = { "CLUSTER", "FAILOVER", "FORCE" };
    unsigned char slots[RC_SLOTS];
    short view[RC_SLOTS];
    rc_failover_arg a;
    int master_port, old, live, n_slots = 0;
    long long deadline;

    if (c == NULL || replica >= c->n ||
        replication_of(c, replica, &master_port, NULL) != 0) {
        fprintf(stderr, "cluster_spawn: rc_failover: server %zu is not a "
                        "running replica\n", replica);
        return -1;
    }
    old = index_of_port(c, master_port);
    if (old < 0 || slot_view(c, replica, view) != 0) {
        fprintf(stderr, "cluster_spawn: rc_failover: cannot read the slots "
                        "of the master on port %d\n", master_port);
        return -1;
    }
    for (int s = 0; s < RC_SLOTS; s++) {
        slots[s] = view[s] == old;
        n_slots += slots[s];
    }
    if (n_slots == 0) {
        fprintf(stderr, "cluster_spawn: rc_failover: the master on port %d "
                        "serves no slot\n", master_port);
        return -1;
    }
    /* A stopped or paused master cannot take part: FORCE skips the
     * handshake with it (the other masters still vote). */
    live = c->srv[old].pid > 0 && !c->srv[old].paused;
    if (await_cond(c, epochs_agree, NULL, RC_MIGRATE_TIMEOUT_MS,
                   "every node agreeing on every config epoch") != 0)
        return -1;
    a.replica = replica;
    a.slots = slots;
    a.on_promoted = on_promoted;
    a.on_promoted_arg = arg;
    a.promoted_told = 0;
    deadline = rs_now_ms() + RC_FAILOVER_TIMEOUT_MS;
    for (;;) {
        long long left = deadline - rs_now_ms();

        /* Sent again only while it is still a replica: a late election
         * may have won meanwhile. */
        if (replication_of(c, replica, NULL, NULL) == 0 &&
            node_ok(c, replica, live ? 2 : 3, argv, "CLUSTER FAILOVER") != 0)
            return -1;
        if (left <= RC_FAILOVER_RETRY_MS) {
            if (await_cond(c, failover_done, &a, (int)left,
                           "the promoted replica serving its old "
                           "master's slots in every master's view") == 0)
                return 0;
            report_failover(c, &a);
            return -1;
        }
        if (await_cond(c, failover_done, &a, RC_FAILOVER_RETRY_MS,
                       NULL) == 0)
            return 0;
        fprintf(stderr, "cluster_spawn: rc_failover: not done after %d ms; "
                        "sending CLUSTER FAILOVER again\n",
                RC_FAILOVER_RETRY_MS);
    }
}
