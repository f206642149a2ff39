/*
 * redis_spawn.c: start and stop real redis-server processes for the
 * integration tests, the example program and the bench.
 *
 * Each server is started with fork + execvp (never through a shell) and
 * listens on 127.0.0.1 only, on a free port, with persistence off (or AOF
 * with fsync always when asked), in its own mkdtemp() directory that also
 * holds its log. Readiness is awaited as a condition with a deadline: a PING
 * over a fresh connection must answer PONG and INFO must report the PID we
 * started (so a server of somebody else that won a port race is never taken
 * for ours). Only PIDs started here are ever signalled.
 *
 * Safety nets, so that no server outlives its test:
 *  - the child asks the kernel for SIGKILL when its parent dies
 *    (PR_SET_PDEATHSIG; Linux), which covers a test killed by a signal;
 *  - every running PID is kept in a mutex-protected registry, and an atexit
 *    handler SIGKILLs whatever is still registered (covers a test that exits
 *    after a failed assertion without its teardown).
 * PR_SET_PDEATHSIG fires when the thread that forked exits, so start servers
 * from a thread that lives as long as they should (normally the main one).
 *
 * TLS servers (rs_options.tls_cert_file) are TLS-only, so the fixture's
 * own connections must speak TLS. hiredis 0.14 has no TLS, so an rs_link
 * is either a hiredis context (plain) or a blocking socket under an
 * OpenSSL SSL object, with hiredis only formatting commands and parsing
 * replies (redisFormatCommandArgv, redisReader). The TLS link verifies the
 * server's certificate against the CA and the address 127.0.0.1, so a
 * server started with a certificate that does not fit never becomes
 * "ready". Rejected: probing with `redis-cli --tls` (a fork per probe,
 * and rs_command() would still need a TLS client), and a plain port beside
 * the TLS one (then the server is not the TLS-only one the tests mean).
 *
 * Extra arguments and config files (rs_options.extra_args, config_text)
 * let the cluster and Sentinel fixtures (cluster_spawn.c,
 * sentinel_spawn.c) reuse this launcher, its registry and its readiness
 * probe (a sentinel answers PING and INFO server too) instead of a second
 * fork/exec path. Both are copied into rs_server so rs_restart() starts
 * the same command line. Rejected: a raw argv replacing ours (every
 * caller would have to repeat --bind, --dir, --logfile and keep them in
 * step with the probe).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "redis_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netinet/tcp.h>

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* How long a server may take to answer PING after exec. */
#define RS_READY_TIMEOUT_MS 10000
/* Pause between readiness probes. */
#define RS_POLL_MS 5
/* Connect timeout of one readiness probe. */
#define RS_PROBE_CONNECT_MS 200
/* Reply timeout of one readiness probe. */
#define RS_PROBE_REPLY_MS 1000
/* Timeout of rs_command() (connect and reply). */
#define RS_COMMAND_TIMEOUT_MS 2000
/* How long rs_pause()/rs_resume() wait for the process state to change. */
#define RS_STATE_TIMEOUT_MS 2000
/* Start attempts (each with a new port) when the port was not given. */
#define RS_START_ATTEMPTS 5
/* Servers the atexit registry can track at once. */
#define RS_REGISTRY_MAX 128
/* Bytes of the log printed when a server fails to start. */
#define RS_LOG_TAIL_BYTES 2048
/* Entries of a redis-server command line (build_args), NULL included. */
#define RS_ARGS_MAX (48 + RS_EXTRA_MAX)
/* Prefix of the temp directories we create (and only ever remove). */
#define RS_DIR_PREFIX "redlock-rs-"

/* Result of one launch attempt. */
enum {
    RS_LAUNCH_OK = 0,
    RS_LAUNCH_FATAL = -1, /* retrying cannot help (exec failed, ...) */
    RS_LAUNCH_RETRY = 1   /* may be a port race: retry on another port */
};

/* One running server known to the atexit safety net. */
typedef struct rs_entry {
    pid_t pid;
    char dir[256];
} rs_entry;

static pthread_mutex_t rs_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static rs_entry rs_registry[RS_REGISTRY_MAX];
static int rs_atexit_registered;
static pid_t rs_registry_owner; /* process that registered the handler */

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* Milliseconds on the monotonic clock (redis_spawn.h). */
long long rs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep for ms milliseconds, restarting after signals (redis_spawn.h). */
void rs_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* A struct timeval holding ms milliseconds. */
static struct timeval tv_ms(long ms)
{
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

/* waitpid() that retries on EINTR; returns its result. */
static pid_t wait_child(pid_t pid, int *status, int flags)
{
    pid_t r;
    do {
        r = waitpid(pid, status, flags);
    } while (r == -1 && errno == EINTR);
    return r;
}

/* Copy src into dst (size dstlen), failing if it does not fit. */
static int copy_str(char *dst, size_t dstlen, const char *src)
{
    int n = snprintf(dst, dstlen, "%s", src);
    return (n < 0 || (size_t)n >= dstlen) ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * Registry of running PIDs and the atexit safety net
 * ------------------------------------------------------------------------ */

/* Remove one file or directory met by nftw() (depth first). */
static int rm_entry(const char *path, const struct stat *sb, int type,
                    struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "redis_spawn: cannot remove %s: %s (type %d)\n",
                path, strerror(errno), type);
    }
    return 0;
}

/* Recursively remove dir, but only if it is one of ours (its last component
 * starts with RS_DIR_PREFIX). */
static void remove_dir(const char *dir)
{
    const char *base;

    if (dir == NULL || dir[0] != '/')
        return;
    base = strrchr(dir, '/');
    if (base == NULL || strncmp(base + 1, RS_DIR_PREFIX,
                                strlen(RS_DIR_PREFIX)) != 0)
        return;
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* atexit handler: SIGKILL and reap every server still registered and remove
 * its directory. Does nothing in a forked child of the owning process. */
static void registry_atexit(void)
{
    pthread_mutex_lock(&rs_registry_lock);
    if (getpid() == rs_registry_owner) {
        for (int i = 0; i < RS_REGISTRY_MAX; i++) {
            rs_entry *e = &rs_registry[i];
            if (e->pid <= 0)
                continue;
            kill(e->pid, SIGKILL);
            wait_child(e->pid, NULL, 0);
            remove_dir(e->dir);
            e->pid = 0;
            e->dir[0] = '\0';
        }
    }
    pthread_mutex_unlock(&rs_registry_lock);
}

/* Record a started server (registering the atexit handler on first use). */
static void registry_add(pid_t pid, const char *dir)
{
    int i;

    pthread_mutex_lock(&rs_registry_lock);
    if (!rs_atexit_registered) {
        if (atexit(registry_atexit) == 0) {
            rs_atexit_registered = 1;
            rs_registry_owner = getpid();
        }
    }
    for (i = 0; i < RS_REGISTRY_MAX; i++) {
        if (rs_registry[i].pid == 0) {
            rs_registry[i].pid = pid;
            copy_str(rs_registry[i].dir, sizeof(rs_registry[i].dir), dir);
            break;
        }
    }
    pthread_mutex_unlock(&rs_registry_lock);
    if (i == RS_REGISTRY_MAX)
        fprintf(stderr, "redis_spawn: registry full; pid %d is not covered "
                        "by the atexit safety net\n", (int)pid);
}

/* Forget a server that has been killed and reaped. */
static void registry_remove(pid_t pid)
{
    pthread_mutex_lock(&rs_registry_lock);
    for (int i = 0; i < RS_REGISTRY_MAX; i++) {
        if (rs_registry[i].pid == pid) {
            rs_registry[i].pid = 0;
            rs_registry[i].dir[0] = '\0';
        }
    }
    pthread_mutex_unlock(&rs_registry_lock);
}

/* ------------------------------------------------------------------------
 * Ports, directories, logs
 * ------------------------------------------------------------------------ */

/* Ask the kernel for a free loopback port (bind to port 0, read it back,
 * close). Returns the port or -1. Another process may take it before the
 * server binds it; callers retry on another port. */
static int find_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd, port = -1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* Create a new temp directory ($TMPDIR or /tmp)/redlock-rs-XXXXXX into
 * out. Returns 0 or -1. */
static int make_temp_dir(char *out, size_t outlen)
{
    const char *tmp = getenv("TMPDIR");
    size_t n;

    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/')
        n--;
    if (snprintf(out, outlen, "%.*s/" RS_DIR_PREFIX "XXXXXX", (int)n, tmp) >=
        (int)outlen) {
        fprintf(stderr, "redis_spawn: TMPDIR path too long: %s\n", tmp);
        return -1;
    }
    if (mkdtemp(out) == NULL) {
        fprintf(stderr, "redis_spawn: mkdtemp(%s): %s\n", out,
                strerror(errno));
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* Print the last RS_LOG_TAIL_BYTES of the server's log to stderr. */
static void print_log_tail(const rs_server *s)
{
    char path[PATH_MAX];
    char buf[RS_LOG_TAIL_BYTES + 1];
    const char *start = buf;
    FILE *f;
    long size;
    size_t n;
    int mid = 0;

    if (snprintf(path, sizeof(path), "%s/redis.log", s->dir) >=
        (int)sizeof(path))
        return;
    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "redis_spawn: no log at %s\n", path);
        return;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > RS_LOG_TAIL_BYTES)
        mid = fseek(f, size - RS_LOG_TAIL_BYTES, SEEK_SET) == 0;
    else
        fseek(f, 0, SEEK_SET);
    n = fread(buf, 1, RS_LOG_TAIL_BYTES, f);
    fclose(f);
    buf[n] = '\0';
    if (mid) {
        /* Started mid-file: skip the partial first line. */
        const char *nl = strchr(buf, '\n');
        if (nl != NULL)
            start = nl + 1;
    }
    fprintf(stderr, "redis_spawn: tail of %s:\n%s%s", path, start,
            (n > 0 && buf[n - 1] != '\n') ? "\n" : "");
}

/* Write "redis[s]://[:PASSWORD@]127.0.0.1:PORT" into s->uri, percent-encoding
 * the password. Returns 0 or -1 if it does not fit. */
static int build_uri(rs_server *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char enc[sizeof(s->password) * 3];
    size_t j = 0;
    int n;

    for (const char *p = s->password; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            enc[j++] = (char)c;
        } else {
            enc[j++] = '%';
            enc[j++] = hex[c >> 4];
            enc[j++] = hex[c & 15];
        }
    }
    enc[j] = '\0';
    if (s->password[0] != '\0')
        n = snprintf(s->uri, sizeof(s->uri), "%s://:%s@127.0.0.1:%d",
                     s->tls ? "rediss" : "redis", enc, s->port);
    else
        n = snprintf(s->uri, sizeof(s->uri), "%s://127.0.0.1:%d",
                     s->tls ? "rediss" : "redis", s->port);
    return (n < 0 || (size_t)n >= sizeof(s->uri)) ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * Talking to a server: rs_link, plain (hiredis) or TLS (OpenSSL + the
 * hiredis reader)
 * ------------------------------------------------------------------------ */

/* link_open(): a server answered with a certificate that does not verify
 * (readiness gives up at once: waiting cannot fix it). */
#define RS_LINK_BADCERT (-2)

/* One open connection to a server of ours. */
typedef struct rs_link {
    redisContext *c; /* plain servers */
    SSL_CTX *ctx;    /* TLS servers: ctx, ssl, fd and rd */
    SSL *ssl;
    int fd;
    redisReader *rd;
    int port;
} rs_link;

/* Write the first queued OpenSSL error (or fallback) into err. */
static void tls_error(char *err, size_t errlen, const char *what, int port,
                      const char *fallback)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    size_t k, n;

    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    else
        snprintf(buf, sizeof(buf), "%s", fallback);

    ERR_clear_error();
    snprintf(err, errlen, "%s 127.0.0.1:%d: ", what, port);
    k = strlen(err);
    n = strlen(buf);
    if (k + 1 >= errlen)
        return;
    if (n > errlen - k - 1)
        n = errlen - k - 1; /* truncated: the start is enough */
    memcpy(err + k, buf, n);
    err[k + n] = '\0';
}

/* Connect a blocking TCP socket to 127.0.0.1:port within connect_ms, with
 * send and receive timeouts of reply_ms. Returns the fd or -1 (err set). */
static int tcp_connect(int port, long connect_ms, long reply_ms, char *err,
                       size_t errlen)
{
    struct sockaddr_in sa;
    struct timeval tv = tv_ms(reply_ms);
    int fd, flags, one = 1, soerr = 0;
    socklen_t len = sizeof(soerr);

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        struct pollfd p = { fd, POLLOUT, 0 };
        int pr;
        if (errno != EINPROGRESS) {
            soerr = errno;
            goto fail;
        }
        do {
            pr = poll(&p, 1, (int)connect_ms);
        } while (pr < 0 && errno == EINTR);
        if (pr <= 0) {
            soerr = pr == 0 ? ETIMEDOUT : errno;
            goto fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            soerr = errno;
        if (soerr != 0)
            goto fail;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
        soerr = errno;
        goto fail;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;

fail:
    snprintf(err, errlen, "connect to 127.0.0.1:%d: %s", port,
             strerror(soerr));
    close(fd);
    return -1;
}

/* OpenSSL writes to the socket with write(), so a server that closed
 * its end (killed by a test, or refusing our certificate) would raise
 * SIGPIPE and kill the test. Every OpenSSL call that may write runs
 * between pipe_guard_on() and pipe_guard_off(): SIGPIPE is blocked for the
 * calling thread, and one raised meanwhile (thread-directed, so ours) is
 * consumed before the old mask comes back; the caller sees an error
 * instead. */
static void pipe_guard_on(sigset_t *old)
{
    sigset_t pipe_set;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, old);
}

/* See pipe_guard_on(). */
static void pipe_guard_off(const sigset_t *old)
{
    sigset_t pipe_set;
    struct timespec zero = { 0, 0 };

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (!sigismember(old, SIGPIPE)) {
        while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE) {
        }
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* Close a link (safe on a zeroed or half-open one). */
static void link_close(rs_link *l)
{
    if (l->c != NULL)
        redisFree(l->c);
    if (l->ssl != NULL) {
        sigset_t old;

        pipe_guard_on(&old);
        if (SSL_is_init_finished(l->ssl))
            SSL_shutdown(l->ssl); /* best effort close_notify */
        pipe_guard_off(&old);
        SSL_free(l->ssl);
    }
    if (l->ctx != NULL)
        SSL_CTX_free(l->ctx);
    if (l->fd >= 0)
        close(l->fd);
    if (l->rd != NULL)
        redisReaderFree(l->rd);
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    ERR_clear_error();
}

/* TLS half of link_open(): handshake with the server's certificate
 * verified against s->tls_ca_file and (unless s->tls_skip_name_check) the
 * address 127.0.0.1, presenting
 * the client certificate when the server asks for one. Returns 0, -1, or
 * RS_LINK_BADCERT when a server answered with a certificate that does not
 * verify. */
static int link_open_tls(rs_link *l, const rs_server *s, long connect_ms,
                         long reply_ms, char *err, size_t errlen)
{
    sigset_t old;
    long verify;
    int rc;

    l->fd = tcp_connect(s->port, connect_ms, reply_ms, err, errlen);
    if (l->fd < 0)
        return -1;
    l->ctx = SSL_CTX_new(TLS_client_method());
    if (l->ctx == NULL) {
        tls_error(err, errlen, "SSL_CTX_new for", s->port, "failed");
        return -1;
    }
    SSL_CTX_set_verify(l->ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(l->ctx, s->tls_ca_file, NULL) != 1) {
        tls_error(err, errlen, "loading the CA file for", s->port,
                  s->tls_ca_file);
        return -1;
    }
    if (s->tls_auth_clients &&
        (SSL_CTX_use_certificate_chain_file(l->ctx,
                                            s->tls_client_cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(l->ctx, s->tls_client_key_file,
                                     SSL_FILETYPE_PEM) != 1)) {
        tls_error(err, errlen, "loading the client certificate for",
                  s->port, s->tls_client_cert_file);
        return -1;
    }
    l->ssl = SSL_new(l->ctx);
    if (l->ssl == NULL || SSL_set_fd(l->ssl, l->fd) != 1 ||
        (!s->tls_skip_name_check &&
         X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(l->ssl),
                                       "127.0.0.1") != 1)) {
        tls_error(err, errlen, "SSL setup for", s->port, "failed");
        return -1;
    }
    pipe_guard_on(&old);
    rc = SSL_connect(l->ssl);
    pipe_guard_off(&old);
    if (rc != 1) {
        verify = SSL_get_verify_result(l->ssl);
        if (verify != X509_V_OK) {
            ERR_clear_error();
            snprintf(err, errlen, "TLS handshake with 127.0.0.1:%d: "
                                  "certificate verify failed: %s",
                     s->port, X509_verify_cert_error_string(verify));
            return RS_LINK_BADCERT;
        } else {
            tls_error(err, errlen, "TLS handshake with", s->port,
                      "connection closed");
        }
        return -1;
    }
    l->rd = redisReaderCreate();
    if (l->rd == NULL) {
        snprintf(err, errlen, "cannot allocate a hiredis reader");
        return -1;
    }
    return 0;
}

/* Open a link to s with the given timeouts (connect and reply). Does not
 * authenticate. Returns 0, or -1 or RS_LINK_BADCERT with the reason in
 * err (l then closed). */
static int link_open(rs_link *l, const rs_server *s, long connect_ms,
                     long reply_ms, char *err, size_t errlen)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    l->port = s->port;
    if (s->tls) {
        int rc = link_open_tls(l, s, connect_ms, reply_ms, err, errlen);
        if (rc != 0) {
            link_close(l);
            return rc;
        }
        return 0;
    }
    l->c = redisConnectWithTimeout("127.0.0.1", s->port, tv_ms(connect_ms));
    if (l->c == NULL) {
        snprintf(err, errlen, "cannot allocate a hiredis context");
        return -1;
    }
    if (l->c->err) {
        snprintf(err, errlen, "connect to 127.0.0.1:%d: %s", s->port,
                 l->c->errstr);
        link_close(l);
        return -1;
    }
    redisSetTimeout(l->c, tv_ms(reply_ms));
    return 0;
}

/* Write all n bytes of buf over TLS (under the SIGPIPE guard). Returns 0
 * or -1. */
static int tls_write_all(SSL *ssl, const char *buf, size_t n)
{
    sigset_t old;
    int rc = 0;

    pipe_guard_on(&old);
    while (n > 0) {
        int w = SSL_write(ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
        if (w <= 0) {
            rc = -1;
            break;
        }
        buf += w;
        n -= (size_t)w;
    }
    pipe_guard_off(&old);
    return rc;
}

/* Send one command and read its reply. Returns the reply (free with
 * freeReplyObject) or NULL with the reason in err. */
static redisReply *link_command(rs_link *l, int argc, const char **argv,
                                char *err, size_t errlen)
{
    char *cmd = NULL;
    void *reply = NULL;
    int len;

    if (l->c != NULL) {
        redisReply *r = redisCommandArgv(l->c, argc, argv, NULL);
        if (r == NULL)
            snprintf(err, errlen, "%s on 127.0.0.1:%d: %s", argv[0], l->port,
                     l->c->errstr);
        return r;
    }
    len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
    if (len < 0 || cmd == NULL) {
        snprintf(err, errlen, "cannot format %s", argv[0]);
        return NULL;
    }
    if (tls_write_all(l->ssl, cmd, (size_t)len) != 0) {
        redisFreeCommand(cmd);
        tls_error(err, errlen, "TLS write to", l->port, "connection lost");
        return NULL;
    }
    redisFreeCommand(cmd);
    for (;;) {
        char buf[16384];
        int n;

        if (redisReaderGetReply(l->rd, &reply) != REDIS_OK) {
            snprintf(err, errlen, "%s on 127.0.0.1:%d: protocol error: %s",
                     argv[0], l->port, l->rd->errstr);
            return NULL;
        }
        if (reply != NULL)
            return reply;
        n = SSL_read(l->ssl, buf, sizeof(buf));
        if (n <= 0) {
            int e = SSL_get_error(l->ssl, n);
            if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN ||
                                           errno == EWOULDBLOCK)) {
                ERR_clear_error();
                snprintf(err, errlen, "%s on 127.0.0.1:%d: timed out",
                         argv[0], l->port);
            } else {
                tls_error(err, errlen, "TLS read from", l->port,
                          "connection closed");
            }
            return NULL;
        }
        if (redisReaderFeed(l->rd, buf, (size_t)n) != REDIS_OK) {
            snprintf(err, errlen, "%s on 127.0.0.1:%d: reader error",
                     argv[0], l->port);
            return NULL;
        }
    }
}

/* Open a link to the server with the given timeouts and authenticate if
 * it has a password. Returns 0, or -1 with the reason in err. */
static int connect_server(rs_link *l, const rs_server *s, long connect_ms,
                          long reply_ms, char *err, size_t errlen)
{
    const char *auth[2] = { "AUTH", s->password };
    redisReply *r;

    if (link_open(l, s, connect_ms, reply_ms, err, errlen) != 0)
        return -1;
    if (s->password[0] == '\0')
        return 0;
    r = link_command(l, 2, auth, err, errlen);
    if (r == NULL) {
        link_close(l);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "AUTH on 127.0.0.1:%d: %s", s->port, r->str);
        freeReplyObject(r);
        link_close(l);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* Append the text of src (length n) to out at *pos, truncating at outlen. */
static void out_append(char *out, size_t outlen, size_t *pos, const char *src,
                       size_t n)
{
    if (outlen == 0 || *pos >= outlen - 1)
        return;
    if (n > outlen - 1 - *pos)
        n = outlen - 1 - *pos;
    memcpy(out + *pos, src, n);
    *pos += n;
    out[*pos] = '\0';
}

/* Render a reply as documented for rs_command(), appending at *pos. */
static void render_reply(const redisReply *r, char *out, size_t outlen,
                         size_t *pos)
{
    char num[32];
    int n;

    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        out_append(out, outlen, pos, r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
        n = snprintf(num, sizeof(num), "%lld", r->integer);
        out_append(out, outlen, pos, num, (size_t)n);
        break;
    case REDIS_REPLY_NIL:
        out_append(out, outlen, pos, "(nil)", 5);
        break;
    case REDIS_REPLY_ARRAY:
        if (r->elements == 0)
            out_append(out, outlen, pos, "(empty array)", 13);
        for (size_t i = 0; i < r->elements; i++) {
            if (i > 0)
                out_append(out, outlen, pos, "\n", 1);
            render_reply(r->element[i], out, outlen, pos);
        }
        break;
    default:
        n = snprintf(num, sizeof(num), "(reply type %d)", r->type);
        out_append(out, outlen, pos, num, (size_t)n);
        break;
    }
}

/* Run argv on the server over a fresh authenticated connection; returns the
 * reply (free with freeReplyObject) or NULL with the reason in err. */
static redisReply *command_reply(const rs_server *s, int argc,
                                 const char **argv, char *err, size_t errlen)
{
    rs_link l;
    redisReply *r;

    if (s == NULL || s->port <= 0 || argc <= 0 || argv == NULL) {
        snprintf(err, errlen, "bad arguments");
        return NULL;
    }
    if (connect_server(&l, s, RS_COMMAND_TIMEOUT_MS, RS_COMMAND_TIMEOUT_MS,
                       err, errlen) != 0)
        return NULL;
    r = link_command(&l, argc, argv, err, errlen);
    link_close(&l);
    return r;
}

/* One readiness probe for pid. Returns 1 when the server on s->port
 * answers PONG and reports our pid, 0 when it is not (yet) answering (the
 * reason, if any, in why), -1 when a process that is not ours (or not
 * configured like ours) answers on the port, and RS_LINK_BADCERT when a
 * TLS server's certificate does not verify (reason in why). */
static int probe_ready(const rs_server *s, pid_t pid, char *why,
                       size_t whylen)
{
    static const char *ping[] = { "PING" };
    static const char *info[] = { "INFO", "server" };
    rs_link l;
    redisReply *r;
    const char *p;
    int ready = 0, rc;

    rc = link_open(&l, s, RS_PROBE_CONNECT_MS, RS_PROBE_REPLY_MS, why,
                   whylen);
    if (rc == RS_LINK_BADCERT)
        return rc;
    if (rc != 0)
        return 0; /* refused or timed out: not listening yet */
    if (s->password[0] != '\0') {
        const char *auth[2] = { "AUTH", s->password };
        r = link_command(&l, 2, auth, why, whylen);
        if (r == NULL) {
            link_close(&l);
            return 0;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            /* LOADING is transient; any other refusal (no password set,
             * WRONGPASS) means this is not the server we started. */
            ready = strncmp(r->str, "LOADING", 7) == 0 ? 0 : -1;
            freeReplyObject(r);
            link_close(&l);
            return ready;
        }
        freeReplyObject(r);
    }
    r = link_command(&l, 1, ping, why, whylen);
    if (r == NULL || r->type != REDIS_REPLY_STATUS ||
        strcmp(r->str, "PONG") != 0) {
        if (r != NULL) /* e.g. -LOADING while reading the AOF */
            freeReplyObject(r);
        link_close(&l);
        return 0;
    }
    freeReplyObject(r);
    r = link_command(&l, 2, info, why, whylen);
    if (r != NULL && r->type == REDIS_REPLY_STRING &&
        (p = strstr(r->str, "process_id:")) != NULL) {
        char *end;
        long id = strtol(p + strlen("process_id:"), &end, 10);
        ready = (end != p + strlen("process_id:") && id == (long)pid) ? 1
                                                                     : -1;
    }
    if (r != NULL)
        freeReplyObject(r);
    link_close(&l);
    return ready;
}

/* ------------------------------------------------------------------------
 * Starting and stopping processes
 * ------------------------------------------------------------------------ */

/* Fill args (room for at least RS_ARGS_MAX entries) with the redis-server
 * command line for s, using bufs for the formatted values. A TLS server
 * gets --port 0 and its port as --tls-port. */
static void build_args(const rs_server *s, const char **args, char *portbuf,
                       size_t portlen, char *logbuf, size_t loglen,
                       char *cfgbuf, size_t cfglen)
{
    int i = 0;

    snprintf(portbuf, portlen, "%d", s->port);
    snprintf(logbuf, loglen, "%s/redis.log", s->dir);
    snprintf(cfgbuf, cfglen, "%s/redis.conf", s->dir);
    args[i++] = s->redis_server;
    if (s->has_config)
        args[i++] = cfgbuf; /* a config file must come first */
    args[i++] = "--bind";
    args[i++] = "127.0.0.1";
    args[i++] = "--port";
    if (s->tls) {
        args[i++] = "0";
        args[i++] = "--tls-port";
        args[i++] = portbuf;
        args[i++] = "--tls-cert-file";
        args[i++] = s->tls_cert_file;
        args[i++] = "--tls-key-file";
        args[i++] = s->tls_key_file;
        args[i++] = "--tls-ca-cert-file";
        args[i++] = s->tls_ca_file;
        args[i++] = "--tls-auth-clients";
        args[i++] = s->tls_auth_clients ? "yes" : "no";
    } else {
        args[i++] = portbuf;
    }
    args[i++] = "--daemonize";
    args[i++] = "no";
    args[i++] = "--dir";
    args[i++] = s->dir;
    args[i++] = "--logfile";
    args[i++] = logbuf;
    args[i++] = "--save";
    args[i++] = "";
    if (s->appendonly) {
        args[i++] = "--appendonly";
        args[i++] = "yes";
        args[i++] = "--appendfsync";
        args[i++] = "always";
    } else {
        args[i++] = "--appendonly";
        args[i++] = "no";
    }
    args[i++] = "--enable-debug-command";
    args[i++] = "local";
    if (s->password[0] != '\0') {
        args[i++] = "--requirepass";
        args[i++] = s->password;
    }
    for (size_t k = 0; k < s->extra_argc; k++)
        args[i++] = s->extra_args[k];
    args[i] = NULL;
}

/* In the forked child: arrange to die with the parent, detach stdio, make
 * inherited descriptors close on exec, and exec redis-server. Reports a
 * failure as an errno written to errfd, then exits with 127. Only
 * async-signal-safe calls are made here. */
static void child_exec(const char **args, int errfd, pid_t parent, int maxfd)
{
    sigset_t none;
    int err, fd;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
        /* Parent already gone (or cannot be watched): do not start. */
        err = ECHILD;
        goto fail;
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* An ignored SIGCHLD would survive exec and break the server's own
     * child handling (BGREWRITEAOF). */
    signal(SIGCHLD, SIG_DFL);

    fd = open("/dev/null", O_RDWR);
    if (fd < 0) {
        err = errno;
        goto fail;
    }
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);

#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
#endif
    {
        for (fd = 3; fd < maxfd; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    execvp(args[0], (char *const *)args);
    err = errno;
fail:
    while (write(errfd, &err, sizeof(err)) == -1 && errno == EINTR) {
    }
    _exit(127);
}

/* Kill and reap a child that failed to become ready. */
static void discard_child(pid_t pid)
{
    kill(pid, SIGKILL);
    wait_child(pid, NULL, 0);
    registry_remove(pid);
}

/* Start redis-server for s (port, dir, options already set) and wait until
 * it is ready. On success sets s->pid and returns RS_LAUNCH_OK; otherwise
 * returns RS_LAUNCH_RETRY or RS_LAUNCH_FATAL after printing why. */
static int launch(rs_server *s)
{
    const char *args[RS_ARGS_MAX];
    char portbuf[16];
    char logbuf[PATH_MAX];
    char cfgbuf[PATH_MAX];
    char why[256];
    int pipefd[2];
    int maxfd, err, status, ready;
    long open_max;
    ssize_t n;
    pid_t parent = getpid(), pid;
    long long deadline;

    build_args(s, args, portbuf, sizeof(portbuf), logbuf, sizeof(logbuf),
               cfgbuf, sizeof(cfgbuf));
    open_max = sysconf(_SC_OPEN_MAX);
    maxfd = (open_max > 0 && open_max < 65536) ? (int)open_max : 65536;

    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        fprintf(stderr, "redis_spawn: pipe2: %s\n", strerror(errno));
        return RS_LAUNCH_FATAL;
    }
    fflush(NULL); /* nothing buffered may be written twice */
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "redis_spawn: fork: %s\n", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        return RS_LAUNCH_FATAL;
    }
    if (pid == 0) {
        close(pipefd[0]);
        child_exec(args, pipefd[1], parent, maxfd);
    }
    close(pipefd[1]);
    registry_add(pid, s->dir);

    /* The pipe closes on a successful exec, or carries the errno. Wait for
     * either with the readiness deadline, so a child stuck before exec
     * cannot hang the caller. */
    deadline = rs_now_ms() + RS_READY_TIMEOUT_MS;
    n = -1;
    for (;;) {
        struct pollfd pfd = { pipefd[0], POLLIN, 0 };
        long long left = deadline - rs_now_ms();
        int pr = poll(&pfd, 1, left > 0 ? (int)left : 0);
        if (pr > 0) {
            n = read(pipefd[0], &err, sizeof(err));
            if (n == -1 && errno == EINTR)
                continue;
            break;
        }
        if (pr == 0 || errno != EINTR)
            break;
    }
    close(pipefd[0]);
    if (n < 0) {
        fprintf(stderr, "redis_spawn: child %d did not exec %s within %d "
                        "ms\n", (int)pid, s->redis_server,
                RS_READY_TIMEOUT_MS);
        discard_child(pid);
        return RS_LAUNCH_FATAL;
    }
    if (n == (ssize_t)sizeof(err)) {
        fprintf(stderr, "redis_spawn: cannot exec %s: %s\n", s->redis_server,
                strerror(err));
        wait_child(pid, NULL, 0);
        registry_remove(pid);
        return RS_LAUNCH_FATAL;
    }

    why[0] = '\0';
    for (;;) {
        if (wait_child(pid, &status, WNOHANG) == pid) {
            registry_remove(pid);
            if (WIFEXITED(status))
                fprintf(stderr, "redis_spawn: redis-server on port %d exited "
                                "with status %d before it was ready\n",
                        s->port, WEXITSTATUS(status));
            else
                fprintf(stderr, "redis_spawn: redis-server on port %d killed "
                                "by signal %d before it was ready\n",
                        s->port, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
            print_log_tail(s);
            return RS_LAUNCH_RETRY;
        }
        ready = probe_ready(s, pid, why, sizeof(why));
        if (ready == 1) {
            s->pid = pid;
            s->paused = 0;
            return RS_LAUNCH_OK;
        }
        if (ready == RS_LINK_BADCERT) {
            fprintf(stderr, "redis_spawn: redis-server on port %d: %s\n",
                    s->port, why);
            discard_child(pid);
            return RS_LAUNCH_FATAL;
        }
        if (ready < 0) {
            fprintf(stderr, "redis_spawn: another process answers on port "
                            "%d\n", s->port);
            discard_child(pid);
            print_log_tail(s);
            return RS_LAUNCH_RETRY;
        }
        if (rs_now_ms() >= deadline) {
            fprintf(stderr, "redis_spawn: redis-server on port %d not ready "
                            "after %d ms%s%s\n", s->port, RS_READY_TIMEOUT_MS,
                    why[0] != '\0' ? "; last probe: " : "", why);
            discard_child(pid);
            print_log_tail(s);
            return RS_LAUNCH_FATAL;
        }
        rs_sleep_ms(RS_POLL_MS);
    }
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

/* Start one server with default options. */
int rs_start(rs_server *s)
{
    return rs_start_ex(s, NULL);
}

/* Store the absolute form of path (which must exist) into dst (size
 * RS_TLS_PATH): the server runs in its own directory. Returns 0 or -1
 * with a message naming what. */
static int tls_path(char *dst, const char *path, const char *what)
{
    char abs[PATH_MAX];

    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "redis_spawn: TLS needs %s\n", what);
        return -1;
    }
    if (realpath(path, abs) == NULL) {
        fprintf(stderr, "redis_spawn: %s %s: %s\n", what, path,
                strerror(errno));
        return -1;
    }
    if (copy_str(dst, RS_TLS_PATH, abs) != 0) {
        fprintf(stderr, "redis_spawn: %s path too long (at most %d bytes): "
                        "%s\n", what, RS_TLS_PATH - 1, abs);
        return -1;
    }
    return 0;
}

/* Copy the TLS options of o into s (o->tls_cert_file is set). */
static int set_tls(rs_server *s, const rs_options *o)
{
    const char *ccert = o->tls_client_cert_file;
    const char *ckey = o->tls_client_key_file;

    if ((ccert == NULL) != (ckey == NULL)) {
        fprintf(stderr, "redis_spawn: tls_client_cert_file and "
                        "tls_client_key_file go together\n");
        return -1;
    }
    if (ccert == NULL) {
        ccert = o->tls_cert_file;
        ckey = o->tls_key_file;
    }
    s->tls = 1;
    s->tls_auth_clients = o->tls_auth_clients ? 1 : 0;
    s->tls_skip_name_check = o->tls_skip_name_check ? 1 : 0;
    if (tls_path(s->tls_cert_file, o->tls_cert_file, "tls_cert_file") != 0 ||
        tls_path(s->tls_key_file, o->tls_key_file, "tls_key_file") != 0 ||
        tls_path(s->tls_ca_file, o->tls_ca_file, "tls_ca_file") != 0 ||
        tls_path(s->tls_client_cert_file, ccert, "tls_client_cert_file") != 0 ||
        tls_path(s->tls_client_key_file, ckey, "tls_client_key_file") != 0)
        return -1;
    return 0;
}

/* Copy o's extra arguments into s. Returns 0 or -1 (message printed). */
static int set_extra_args(rs_server *s, const rs_options *o)
{
    if (o->extra_argc > RS_EXTRA_MAX) {
        fprintf(stderr, "redis_spawn: %zu extra arguments (at most %d)\n",
                o->extra_argc, RS_EXTRA_MAX);
        return -1;
    }
    if (o->extra_argc > 0 && o->extra_args == NULL) {
        fprintf(stderr, "redis_spawn: extra_argc without extra_args\n");
        return -1;
    }
    for (size_t k = 0; k < o->extra_argc; k++) {
        if (o->extra_args[k] == NULL ||
            copy_str(s->extra_args[k], RS_EXTRA_LEN, o->extra_args[k]) != 0) {
            fprintf(stderr, "redis_spawn: extra argument %zu missing or "
                            "longer than %d bytes\n", k, RS_EXTRA_LEN - 1);
            return -1;
        }
    }
    s->extra_argc = o->extra_argc;
    return 0;
}

/* Write text and the port, bind and dir lines to s->dir/redis.conf,
 * readable and writable by us only (it may hold passwords). Returns 0 or
 * -1 (message printed). */
static int write_config(const rs_server *s, const char *text)
{
    char path[PATH_MAX];
    FILE *f;
    int fd, bad;

    if (snprintf(path, sizeof(path), "%s/redis.conf", s->dir) >=
        (int)sizeof(path))
        return -1;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
        fprintf(stderr, "redis_spawn: cannot create %s: %s\n", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    bad = fprintf(f, "%s\nport %d\nbind 127.0.0.1\ndir \"%s\"\n", text,
                  s->port, s->dir) < 0;
    bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "redis_spawn: cannot write %s\n", path);
    return bad ? -1 : 0;
}

/* Start one server with options o (may be NULL): a new temp dir and a free
 * port per attempt, retrying on a new port if the start fails. */
int rs_start_ex(rs_server *s, const rs_options *o)
{
    const char *bin;
    int attempts, rc = RS_LAUNCH_FATAL;

    if (s == NULL)
        return -1;
    memset(s, 0, sizeof(*s));
    bin = (o != NULL) ? o->redis_server : NULL;
    if (bin == NULL || bin[0] == '\0')
        bin = getenv("REDIS_SERVER");
    if (bin == NULL || bin[0] == '\0')
        bin = "redis-server";
    if (copy_str(s->redis_server, sizeof(s->redis_server), bin) != 0) {
        fprintf(stderr, "redis_spawn: redis-server path too long\n");
        return -1;
    }
    if (o != NULL && o->password != NULL &&
        copy_str(s->password, sizeof(s->password), o->password) != 0) {
        fprintf(stderr, "redis_spawn: password too long (at most %zu "
                        "bytes)\n", sizeof(s->password) - 1);
        memset(s, 0, sizeof(*s));
        return -1;
    }
    s->appendonly = (o != NULL && o->appendonly) ? 1 : 0;
    if (o != NULL && (o->port < 0 || o->port > 65535)) {
        fprintf(stderr, "redis_spawn: bad port %d\n", o->port);
        memset(s, 0, sizeof(*s));
        return -1;
    }
    if (o != NULL && o->tls_cert_file != NULL && set_tls(s, o) != 0) {
        memset(s, 0, sizeof(*s));
        return -1;
    }
    if (o != NULL && set_extra_args(s, o) != 0) {
        memset(s, 0, sizeof(*s));
        return -1;
    }
    s->has_config = (o != NULL && o->config_text != NULL) ? 1 : 0;
    attempts = (o != NULL && o->port > 0) ? 1 : RS_START_ATTEMPTS;

    for (int i = 0; i < attempts; i++) {
        s->port = (o != NULL && o->port > 0) ? o->port : find_free_port();
        if (s->port <= 0) {
            fprintf(stderr, "redis_spawn: no free port: %s\n",
                    strerror(errno));
            break;
        }
        if (build_uri(s) != 0) {
            fprintf(stderr, "redis_spawn: URI too long\n");
            break;
        }
        if (make_temp_dir(s->dir, sizeof(s->dir)) != 0)
            break;
        if (s->has_config && write_config(s, o->config_text) != 0) {
            remove_dir(s->dir);
            s->dir[0] = '\0';
            break;
        }
        rc = launch(s);
        if (rc == RS_LAUNCH_OK)
            return 0;
        remove_dir(s->dir);
        s->dir[0] = '\0';
        if (rc == RS_LAUNCH_FATAL)
            break;
        if (i + 1 < attempts)
            fprintf(stderr, "redis_spawn: retrying on another port\n");
    }
    memset(s, 0, sizeof(*s));
    return -1;
}

/* Start n servers with default options; on failure stop the ones started. */
int rs_start_many(rs_server *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (rs_start(&s[i]) != 0) {
            rs_stop_many(s, i);
            return -1;
        }
    }
    return 0;
}

/* SIGKILL (after SIGCONT if paused) and reap the server, then remove its
 * directory unless keep_dir. Safe on a server that is not running. */
void rs_kill(rs_server *s, int keep_dir)
{
    if (s == NULL)
        return;
    if (s->pid > 0) {
        if (s->paused)
            kill(s->pid, SIGCONT);
        kill(s->pid, SIGKILL);
        wait_child(s->pid, NULL, 0);
        registry_remove(s->pid);
        s->pid = 0;
        s->paused = 0;
    }
    if (!keep_dir && s->dir[0] != '\0') {
        remove_dir(s->dir);
        s->dir[0] = '\0';
    }
}

/* rs_kill() that also removes the directory. */
void rs_stop(rs_server *s)
{
    rs_kill(s, 0);
}

/* Stop n servers. */
void rs_stop_many(rs_server *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rs_stop(&s[i]);
}

/* Start the server again on its old port and directory (no port retry: the
 * port is part of its identity). */
int rs_restart(rs_server *s)
{
    if (s == NULL || s->pid != 0 || s->port <= 0 || s->dir[0] == '\0') {
        fprintf(stderr, "redis_spawn: rs_restart needs a server stopped with "
                        "rs_kill(s, 1)\n");
        return -1;
    }
    if (s->redis_server[0] == '\0') {
        const char *bin = getenv("REDIS_SERVER");
        copy_str(s->redis_server, sizeof(s->redis_server),
                 (bin != NULL && bin[0] != '\0') ? bin : "redis-server");
    }
    return launch(s) == RS_LAUNCH_OK ? 0 : -1;
}

/* The state letter of /proc/<pid>/stat ('R', 'S', 'T', ...), or 0. */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    const char *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "pid (comm) S ...": comm may hold spaces or ')', so use the last ')'. */
    p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0')
        return 0;
    return p[2];
}

/* Wait until the process is (stopped != 0) or is not (stopped == 0) in the
 * stopped state, with a deadline. Returns 0 or -1. */
static int wait_stopped(pid_t pid, int stopped)
{
    long long deadline = rs_now_ms() + RS_STATE_TIMEOUT_MS;

    for (;;) {
        char st = proc_state(pid);
        if (st == 0 || st == 'Z' || st == 'X')
            return -1;
        if ((st == 'T' || st == 't') == (stopped != 0))
            return 0;
        if (rs_now_ms() >= deadline)
            return -1;
        rs_sleep_ms(1);
    }
}

/* SIGSTOP the server and wait until the kernel reports it stopped. */
int rs_pause(rs_server *s)
{
    if (s == NULL || s->pid <= 0)
        return -1;
    if (s->paused)
        return 0;
    if (kill(s->pid, SIGSTOP) != 0)
        return -1;
    s->paused = 1;
    if (wait_stopped(s->pid, 1) != 0) {
        fprintf(stderr, "redis_spawn: pid %d did not stop\n", (int)s->pid);
        return -1;
    }
    return 0;
}

/* SIGCONT the server and wait until it is no longer stopped. */
int rs_resume(rs_server *s)
{
    if (s == NULL || s->pid <= 0)
        return -1;
    if (kill(s->pid, SIGCONT) != 0)
        return -1;
    s->paused = 0;
    if (wait_stopped(s->pid, 0) != 0) {
        fprintf(stderr, "redis_spawn: pid %d did not resume\n", (int)s->pid);
        return -1;
    }
    return 0;
}

/* Run one command and render its reply into out. */
int rs_command(const rs_server *s, char *out, size_t outlen, int argc,
               const char **argv)
{
    char err[256];
    redisReply *r;
    size_t pos = 0;

    if (out != NULL && outlen > 0)
        out[0] = '\0';
    r = command_reply(s, argc, argv, err, sizeof(err));
    if (r == NULL) {
        if (out != NULL)
            out_append(out, outlen, &pos, err, strlen(err));
        return -1;
    }
    if (out != NULL)
        render_reply(r, out, outlen, &pos);
    freeReplyObject(r);
    return 0;
}

/* DBSIZE of db 0, or -1. */
long long rs_dbsize(const rs_server *s)
{
    const char *argv[] = { "DBSIZE" };
    char err[256];
    redisReply *r;
    long long n = -1;

    r = command_reply(s, 1, argv, err, sizeof(err));
    if (r == NULL) {
        fprintf(stderr, "redis_spawn: %s\n", err);
        return -1;
    }
    if (r->type == REDIS_REPLY_INTEGER)
        n = r->integer;
    freeReplyObject(r);
    return n;
}

/* The number after `prefix` on a line of INFO section, 0 if no line
 * starts with it, -1 on error. */
long long rs_info_count(const rs_server *s, const char *section,
                        const char *prefix)
{
    const char *argv[] = { "INFO", section };
    char err[256];
    redisReply *r;
    long long n = -1;

    r = command_reply(s, 2, argv, err, sizeof(err));
    if (r == NULL) {
        fprintf(stderr, "redis_spawn: %s\n", err);
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING) {
        size_t k = strlen(prefix);
        n = 0;
        for (const char *line = r->str; line != NULL && *line != '\0';) {
            if (strncmp(line, prefix, k) == 0) {
                n = strtoll(line + k, NULL, 10);
                break;
            }
            line = strchr(line, '\n');
            if (line != NULL)
                line++;
        }
    }
    freeReplyObject(r);
    return n;
}

/* A free loopback port now, or -1. */
int rs_free_port(void)
{
    return find_free_port();
}

/* command_reply() for callers outside this file. */
struct redisReply *rs_command_reply(const rs_server *s, int argc,
                                    const char **argv, char *err,
                                    size_t errlen)
{
    return command_reply(s, argc, argv, err, errlen);
}

/* Point uris[i] at s[i].uri. */
void rs_uris(rs_server *s, size_t n, const char **uris)
{
    for (size_t i = 0; i < n; i++)
        uris[i] = s[i].uri;
}

/* The value of "field:" in an INFO text (redis_spawn.h). */
int rs_info_field(const char *text, const char *field, char *out,
                      size_t len)
{
    size_t k = strlen(field);

    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, field, k) == 0) {
            size_t n = strcspn(line + k, "\r\n");
            if (n >= len)
                n = len - 1;
            memcpy(out, line + k, n);
            out[n] = '\0';
            return 0;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -1;
}
