/*
 * test_conn.c: the connection layer (src/conn.c) against real servers
 * and stand-ins: a name whose lookup never ends (it must not delay what
 * the other nodes decide, nor destroy), a name with several addresses
 * (each tried in turn), a unix socket, fds that are close-on-exec from
 * creation (a child exec'd while we connect inherits no socket), and
 * hostile nodes whose replies would make us allocate without bound.
 *
 * Slow resolution is made deterministic with the resolver hook
 * (redlock__conn_test_set_resolver): the hook blocks on a semaphore the
 * test posts at its end, so the lookup is "still running" for as long as
 * the test wants and no thread outlives the test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"
#include "rl_test.h"

/* ------------------------------------------------------------------------
 * Resolver hooks
 * ------------------------------------------------------------------------ */

static sem_t hook_release;        /* posted once per blocked lookup */
static atomic_int hook_calls;     /* lookups started */
static atomic_int hook_returns;   /* lookups finished */

/* A lookup that does not end until the test posts hook_release (at most
 * 120 s), then fails as an unknown name. */
static int blocking_resolver(const char *host, const char *port,
                             struct addrinfo **res)
{
    (void)host;
    (void)port;
    *res = NULL;
    atomic_fetch_add(&hook_calls, 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 120;
    while (sem_timedwait(&hook_release, &ts) != 0 && errno == EINTR) {
    }
    atomic_fetch_add(&hook_returns, 1);
    return EAI_NONAME;
}

/* Append the numeric address host:port to the list *res (glibc frees a
 * chained list with one freeaddrinfo(): it walks ai_next). */
static void add_address(struct addrinfo **res, const char *host,
                        const char *port)
{
    struct addrinfo hints, *one = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &one) != 0)
        return;
    struct addrinfo **tail = res;
    while (*tail != NULL)
        tail = &(*tail)->ai_next;
    *tail = one;
}

/* A loopback port that refuses connections: bound by the test (so no
 * other process can listen on it) but never listening. */
static char closed_port[16];

/* Every name has three addresses: IPv6 loopback and IPv4 loopback on
 * closed_port (refused, or IPv6 unavailable), then the node's real port
 * on 127.0.0.1. Only the last one works. */
static int multi_resolver(const char *host, const char *port,
                          struct addrinfo **res)
{
    (void)host;
    atomic_fetch_add(&hook_calls, 1);
    *res = NULL;
    add_address(res, "::1", closed_port);
    add_address(res, "127.0.0.1", closed_port);
    add_address(res, "127.0.0.1", port);
    atomic_fetch_add(&hook_returns, 1);
    return *res != NULL ? 0 : EAI_FAIL;
}

/* For rl_await: a second lookup has started. */
static bool second_lookup(void *arg)
{
    (void)arg;
    return atomic_load(&hook_calls) >= 2;
}

static void reset_hooks(void)
{
    redlock__conn_test_set_resolver(NULL);
    atomic_store(&hook_calls, 0);
    atomic_store(&hook_returns, 0);
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Assert that node i goes down with st and a message containing what
 * (within 30 s; see rl_wait_down_reason()). */
static void assert_node_down(rl_events *ev, size_t i, redlock_status st,
                             const char *what)
{
    redlock_status got;
    char msg[200];
    if (!rl_wait_down_reason(ev, i, st, st, what, 30000, &got, msg,
                             sizeof(msg)))
        fail_msg("node %zu: %s \"%s\", expected %s with \"%s\"", i,
                 redlock_status_name(got), msg, redlock_status_name(st),
                 what);
}

/* A listening loopback socket that never accepts: connects complete in
 * its backlog, and nothing ever answers. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* ------------------------------------------------------------------------
 * Name resolution
 * ------------------------------------------------------------------------ */

static void short_connect(redlock_options *o)
{
    o->connect_timeout_ms = 300;
}

/* A name whose lookup never ends: the other two nodes decide acquire and
 * release without it; the node reports "name resolution timed out" after
 * the connect timeout (its worker is not stuck in the lookup); its
 * reconnects wait on that one lookup instead of piling up resolver
 * threads; destroy returns while the lookup is still running. */
static void test_slow_name_does_not_delay_others(void **state)
{
    (void)state;
    assert_int_equal(sem_init(&hook_release, 0, 0), 0);
    reset_hooks();
    redlock__conn_test_set_resolver(blocking_resolver);

    rl_cluster c;
    memset(&c, 0, sizeof(c));
    c.n = 3;
    assert_int_equal(rs_start_many(c.srv, 2), 0);
    rs_uris(c.srv, 2, c.uris);
    c.uris[2] = "redis://never-resolves.invalid:6379";
    rl_events_init(&c.ev, &c);
    snprintf(c.ev.node_names[2], sizeof(c.ev.node_names[2]),
             "never-resolves.invalid:6379");
    redlock_options o;
    rl_test_options(&o, &c.ev);
    short_connect(&o);
    char err[256] = "";
    assert_int_equal(redlock_manager_create_ex(c.uris, 3, &o, &c.m, err,
                                               sizeof(err)),
                     REDLOCK_OK);

    assert_node_down(&c.ev, 2, REDLOCK_ETIMEDOUT,
                     "name resolution timed out");
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "slow-name", 10000, &l),
                     REDLOCK_OK);
    assert_int_equal(redlock_lock_nodes_granted(l), 2);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    /* Reconnects (several connect timeouts of 300 ms, and the probes the
     * work above made) wait on the one hung lookup: no second resolver
     * thread is started beside it. */
    bool second = rl_await(second_lookup, NULL, 2000);
    int started = atomic_load(&hook_calls);

    redlock_manager_destroy(c.m);
    c.m = NULL;
    assert_false(second);
    assert_int_equal(started, 1);
    /* destroy did not wait for the lookups: none has returned yet */
    assert_true(atomic_load(&hook_calls) >= 1);
    assert_int_equal(atomic_load(&hook_returns), 0);

    /* Let every lookup end (each frees its own request). */
    int calls = atomic_load(&hook_calls);
    for (int i = 0; i < calls; i++)
        sem_post(&hook_release);
    uint64_t end = rl_now_us() + 20000000u;
    while (atomic_load(&hook_returns) < calls && rl_now_us() < end)
        sched_yield();
    assert_int_equal(atomic_load(&hook_returns), calls);
    reset_hooks();
    rs_stop_many(c.srv, 2);
    rl_events_destroy(&c.ev);
    sem_destroy(&hook_release);
}

/* A name with three addresses, of which only the last answers: each node
 * gets there and takes part (all three keys appear). */
static void test_every_address_tried(void **state)
{
    (void)state;
    reset_hooks();
    int closed_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(closed_fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(closed_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(closed_fd, (struct sockaddr *)&a, &alen), 0);
    snprintf(closed_port, sizeof(closed_port), "%d", ntohs(a.sin_port));
    redlock__conn_test_set_resolver(multi_resolver);
    rl_cluster c;
    memset(&c, 0, sizeof(c));
    c.n = 3;
    assert_int_equal(rs_start_many(c.srv, 3), 0);
    static char uris[3][96];
    for (size_t i = 0; i < 3; i++) {
        snprintf(uris[i], sizeof(uris[i]), "redis://node%zu.test:%d", i,
                 c.srv[i].port);
        c.uris[i] = uris[i];
    }
    rl_events_init(&c.ev, &c);
    c.m = rl_manager_new(&c, &c.ev);
    assert_non_null(c.m);
    redlock_lock *l = NULL;
    /* The first attempts may find the nodes still connecting (slow under
     * TSan on a loaded machine): what counts is that they get there. */
    redlock_status st;
    uint64_t end = rl_now_us() + 30000000u;
    do
        st = redlock_acquire(c.m, "multi", 10000, &l);
    while (st != REDLOCK_OK && rl_now_us() < end);
    assert_int_equal(st, REDLOCK_OK);
    assert_true(rl_await_keys(&c, 3, 10000));
    assert_true(atomic_load(&hook_calls) >= 3);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rl_cluster_stop(&c);
    reset_hooks();
    close(closed_fd);
}

/* ------------------------------------------------------------------------
 * Unix socket
 * ------------------------------------------------------------------------ */

/* A unix socket node: a real redis-server listening only on a unix
 * socket, locked and released through unix:// (with two TCP nodes). */
static void test_unix_socket(void **state)
{
    (void)state;
    char dir[] = "/tmp/redlock-unix-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sock[128], uri[160];
    snprintf(sock, sizeof(sock), "%s/r.sock", dir);
    snprintf(uri, sizeof(uri), "unix://%s", sock);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *bin = getenv("REDIS_SERVER");
        if (bin == NULL)
            bin = "redis-server";
        int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (devnull >= 0)
            dup2(devnull, 1);
        execlp(bin, bin, "--port", "0", "--unixsocket", sock, "--dir", dir,
               "--save", "", "--appendonly", "no", "--daemonize", "no",
               (char *)NULL);
        _exit(127);
    }
    /* Wait for the socket to accept. */
    uint64_t end = rl_now_us() + 20000000u;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        memcpy(sa.sun_path, sock, strlen(sock) + 1);
        int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        if (ok)
            break;
        assert_true(rl_now_us() < end);
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }

    rl_cluster c;
    memset(&c, 0, sizeof(c));
    c.n = 3;
    assert_int_equal(rs_start_many(c.srv, 2), 0);
    rs_uris(c.srv, 2, c.uris);
    c.uris[2] = uri;
    rl_events_init(&c.ev, &c);
    c.m = rl_manager_new(&c, &c.ev);
    assert_non_null(c.m);
    redlock_node_view v[3];
    end = rl_now_us() + 20000000u;
    do
        assert_int_equal(redlock_inspect(c.m, "u", 1, v, 3), REDLOCK_OK);
    while (!v[2].reachable && rl_now_us() < end);
    assert_true(v[2].reachable);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "u", 10000, &l), REDLOCK_OK);
    end = rl_now_us() + 10000000u;
    do
        assert_int_equal(redlock_inspect(c.m, "u", 1, v, 3), REDLOCK_OK);
    while (!v[2].held && rl_now_us() < end);
    assert_true(v[2].held);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rl_cluster_stop(&c);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(sock);
    rmdir(dir);
}

/* ------------------------------------------------------------------------
 * Close-on-exec
 * ------------------------------------------------------------------------ */

/* Sockets and eventfds among this process's fds. */
static int count_socket_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[320], target[128];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof(target) - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (strncmp(target, "socket:", 7) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void churn(redlock_options *o)
{
    o->connect_timeout_ms = 30;
    o->reconnect_min_ms = 1;
    o->reconnect_max_ms = 2;
}

/* While the workers connect over and over (nodes that never answer, one
 * of them by name so resolver eventfds come and go too), fork and exec
 * `ls -l /proc/self/fd` many times: the child must never have inherited
 * a socket or an eventfd. The parent checks it had sockets of ours open
 * while forking, so the test exercised something. */
static void test_fds_cloexec_from_creation(void **state)
{
    (void)state;
    reset_hooks();
    int port[3], lfd[3];
    for (int i = 0; i < 3; i++)
        lfd[i] = silent_listener(&port[i]);
    char uris_buf[3][64];
    snprintf(uris_buf[0], sizeof(uris_buf[0]), "redis://127.0.0.1:%d",
             port[0]);
    snprintf(uris_buf[1], sizeof(uris_buf[1]), "redis://127.0.0.1:%d",
             port[1]);
    snprintf(uris_buf[2], sizeof(uris_buf[2]), "redis://localhost:%d",
             port[2]);
    const char *uris[3] = {uris_buf[0], uris_buf[1], uris_buf[2]};
    int base = count_socket_fds();
    redlock_options o;
    rl_test_options(&o, NULL);
    churn(&o);
    redlock_manager *m = NULL;
    assert_int_equal(redlock_manager_create(uris, 3, &o, &m), REDLOCK_OK);

    int with_ours = 0;
    for (int iter = 0; iter < 200; iter++) {
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        if (count_socket_fds() > base)
            with_ours++;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            dup2(p[1], 1);
            dup2(p[1], 2);
            execl("/bin/ls", "ls", "-l", "/proc/self/fd", (char *)NULL);
            _exit(127);
        }
        close(p[1]);
        char out[8192];
        size_t len = 0;
        ssize_t r;
        while ((r = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
            len += (size_t)r;
        out[len] = '\0';
        close(p[0]);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (strstr(out, "socket:") != NULL ||
            strstr(out, "eventfd") != NULL)
            fail_msg("iteration %d: the child inherited:\n%s", iter, out);
    }
    assert_true(with_ours > 0);
    redlock_manager_destroy(m);
    for (int i = 0; i < 3; i++)
        close(lfd[i]);
}

/* ------------------------------------------------------------------------
 * Hostile nodes
 * ------------------------------------------------------------------------ */

/* A stand-in that answers whatever it reads with one hostile payload,
 * then keeps streaming filler (for a reply that never completes) until
 * the client goes away or the test stops it. */
typedef struct hostile {
    int lfd, port;
    const char *head;      /* sent first */
    char fill;             /* then this byte forever (0: nothing) */
    atomic_bool stop;
    pthread_t th;
    atomic_llong sent;     /* bytes written in all */
} hostile;

static void *hostile_main(void *arg)
{
    hostile *h = arg;
    char buf[65536];
    memset(buf, h->fill, sizeof(buf));
    while (!atomic_load(&h->stop)) {
        struct pollfd p = {h->lfd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        char in[4096];
        struct pollfd q = {fd, POLLIN, 0};
        if (poll(&q, 1, 5000) > 0 && read(fd, in, sizeof(in)) > 0) {
            ssize_t w = send(fd, h->head, strlen(h->head), MSG_NOSIGNAL);
            if (w > 0)
                atomic_fetch_add(&h->sent, w);
            while (h->fill != 0 && !atomic_load(&h->stop)) {
                w = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
                if (w <= 0)
                    break;
                atomic_fetch_add(&h->sent, w);
            }
        }
        close(fd);
    }
    return NULL;
}

static void hostile_start(hostile *h, const char *head, char fill)
{
    memset(h, 0, sizeof(*h));
    h->lfd = silent_listener(&h->port);
    h->head = head;
    h->fill = fill;
    atomic_init(&h->stop, false);
    atomic_init(&h->sent, 0);
    assert_int_equal(pthread_create(&h->th, NULL, hostile_main, h), 0);
}

static void hostile_stop(hostile *h)
{
    atomic_store(&h->stop, true);
    pthread_join(h->th, NULL);
    close(h->lfd);
}

/* Each hostile answer ends the connection with EPROTO and a reason,
 * instead of an allocation the node chooses: a bulk string that never
 * ends (the reader's unparsed input is capped), an array of a hundred
 * million elements, a string over the per-string limit. */
static void test_hostile_nodes(void **state)
{
    (void)state;
    static char big_string[64];
    snprintf(big_string, sizeof(big_string), "$%u\r\n",
             REDLOCK_REPLY_MAX_STRING + 1u);
    const struct {
        const char *head;
        char fill;
        const char *why;
    } rows[] = {
        {"$2000000000\r\n", 'x', "over the buffer limit"},
        {"*100000000\r\n", 0, "protocol error"},
        {big_string, 'y', "protocol error"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        hostile h;
        hostile_start(&h, rows[i].head, rows[i].fill);
        rl_cluster c;
        memset(&c, 0, sizeof(c));
        c.n = 1;
        char uri[64];
        snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d", h.port);
        c.uris[0] = uri;
        c.srv[0].port = h.port;
        rl_events_init(&c.ev, &c);
        redlock_options o;
        rl_test_options(&o, &c.ev);
        o.reconnect_min_ms = 1000; /* one connection is enough */
        o.reconnect_max_ms = 1000;
        assert_int_equal(redlock_manager_create(c.uris, 1, &o, &c.m),
                         REDLOCK_OK);
        assert_node_down(&c.ev, 0, REDLOCK_EPROTO, rows[i].why);
        redlock_manager_destroy(c.m);
        hostile_stop(&h);
        rl_events_destroy(&c.ev);
    }
}

/* ------------------------------------------------------------------------
 * Prompt reconnect
 * ------------------------------------------------------------------------ */

static void long_backoff(redlock_options *o)
{
    o->reconnect_min_ms = 20;
    o->reconnect_max_ms = 600000; /* ten minutes */
    /* The node comes back empty: the restart guard would rightly keep it
     * out of locks for the TTL, which is not what this test is about. */
    o->restart_guard_ms = 0;
}

/* A node down long enough for its backoff to have grown is probed as
 * soon as work finds it down once it is back, and used again at once,
 * not at the end of a backoff sized for an idle node. While it is down,
 * work makes each probe fail and double the backoff (20 ms * 2^15 is
 * past the ten-minute cap within the 3 s below); without probes on
 * demand the backoff would still grow with the time down (seconds). The
 * bound on the wait for "connected" (2 s) is generous for a probe that
 * starts with the next operation. */
static void test_prompt_reconnect(void **state)
{
    (void)state;
    rl_cluster c;
    assert_int_equal(rl_cluster_start(&c, 3, long_backoff), 0);
    redlock_lock *l = NULL;
    assert_int_equal(redlock_acquire(c.m, "p", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rs_kill(&c.srv[2], 1);
    assert_true(rl_wait_down(&c.ev, 2, 1, 5000));
    uint64_t end = rl_now_us() + 3000000u;
    while (rl_now_us() < end) {
        assert_int_equal(redlock_acquire(c.m, "p", 10000, &l), REDLOCK_OK);
        assert_int_equal(redlock_release(l), REDLOCK_OK);
    }
    int ups = c.ev.up[2];
    assert_int_equal(rs_restart(&c.srv[2]), 0);
    /* This acquire finds node 2 down and probes it. */
    assert_int_equal(redlock_acquire(c.m, "p", 10000, &l), REDLOCK_OK);
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    assert_true(rl_wait_up(&c.ev, 2, ups + 1, 2000));
    assert_int_equal(redlock_acquire(c.m, "p", 10000, &l), REDLOCK_OK);
    assert_true(rl_await_keys(&c, 3, 5000));
    assert_int_equal(redlock_release(l), REDLOCK_OK);
    rl_cluster_stop(&c);
}

/* A stand-in for a node that is down: it accepts and closes at once,
 * counting connection attempts. */
typedef struct closer {
    int lfd, port;
    atomic_bool stop;
    atomic_int accepts;
    pthread_t th;
} closer;

static void *closer_main(void *arg)
{
    closer *k = arg;
    while (!atomic_load(&k->stop)) {
        struct pollfd p = {k->lfd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept4(k->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            atomic_fetch_add(&k->accepts, 1);
            close(fd);
        }
    }
    return NULL;
}

/* Work that finds a node down probes it at once (at most once per
 * reconnect_min_ms), whatever its backoff has grown to: over 2 s of
 * operations against a node that closes every connection, it is tried
 * far more often than the doubling backoff alone allows (attempts at
 * 20 ms * (2^k - 1): at most 8 in 2 s). */
static void test_work_probes_down_node(void **state)
{
    (void)state;
    closer k;
    memset(&k, 0, sizeof(k));
    k.lfd = silent_listener(&k.port);
    atomic_init(&k.stop, false);
    atomic_init(&k.accepts, 0);
    assert_int_equal(pthread_create(&k.th, NULL, closer_main, &k), 0);

    rl_cluster c;
    memset(&c, 0, sizeof(c));
    c.n = 3;
    assert_int_equal(rs_start_many(c.srv, 2), 0);
    rs_uris(c.srv, 2, c.uris);
    char uri[64];
    snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d", k.port);
    c.uris[2] = uri;
    c.srv[2].port = k.port;
    rl_events_init(&c.ev, &c);
    redlock_options o;
    rl_test_options(&o, &c.ev);
    long_backoff(&o);
    assert_int_equal(redlock_manager_create(c.uris, 3, &o, &c.m),
                     REDLOCK_OK);
    assert_true(rl_wait_down(&c.ev, 2, 1, 5000));
    int before = atomic_load(&k.accepts);
    uint64_t end = rl_now_us() + 2000000u;
    redlock_lock *l = NULL;
    while (rl_now_us() < end) {
        assert_int_equal(redlock_acquire(c.m, "w", 10000, &l), REDLOCK_OK);
        assert_int_equal(redlock_release(l), REDLOCK_OK);
    }
    int probes = atomic_load(&k.accepts) - before;
    if (probes < 16)
        fail_msg("only %d connection attempts during 2 s of work", probes);
    redlock_manager_destroy(c.m);
    c.m = NULL;
    atomic_store(&k.stop, true);
    pthread_join(k.th, NULL);
    close(k.lfd);
    rs_stop_many(c.srv, 2);
    rl_events_destroy(&c.ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_name_does_not_delay_others),
        cmocka_unit_test(test_every_address_tried),
        cmocka_unit_test(test_unix_socket),
        cmocka_unit_test(test_fds_cloexec_from_creation),
        cmocka_unit_test(test_hostile_nodes),
        cmocka_unit_test(test_prompt_reconnect),
        cmocka_unit_test(test_work_probes_down_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
