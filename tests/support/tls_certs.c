/*
 * tls_certs.c: a throw-away CA and certificates for the TLS tests and the
 * bench, made with the `openssl` command line tool (tls_certs.h).
 *
 * DESIGN
 *  - The openssl CLI, not the OpenSSL API: the X509 API needs some hundred
 *    lines of builder code of its own (names, extensions, signing) that
 *    would itself need tests; the CLI is what an operator uses to make
 *    these files, so the tests also show that files made the usual way
 *    work. Cost: a few forks, tens of milliseconds per set.
 *  - Our own configuration file in the directory (-config, -extfile), so a
 *    system openssl.cnf with other defaults (or $OPENSSL_CONF) changes
 *    nothing; every extension is named explicitly.
 *  - fork + execvp with an argv array, never a shell: paths come from
 *    $TMPDIR and are never parsed by anything.
 *  - EC P-256 keys: as good as RSA-2048 for a test and much faster to
 *    generate.
 * Rejected: fixed certificates checked into the tree (they expire, and a
 * private key in the tree invites copying into real setups).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tls_certs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/wait.h>

/* Prefix of the directories we create (and only ever remove). */
#define TC_DIR_PREFIX "redlock-tls-"
/* Time one openssl step may take. */
#define TC_STEP_TIMEOUT_MS 30000
/* Output of one step kept for the error message. */
#define TC_OUT_MAX 4096

/* The openssl configuration written to the directory: one extension
 * section per kind of certificate. */
static const char tc_config[] =
    "# Written by tests/support/tls_certs.c for one test run.\n"
    "[req]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[dn]\n"
    "CN = redlock-test\n"
    "[v3_ca]\n"
    "basicConstraints = critical, CA:TRUE\n"
    "keyUsage = critical, keyCertSign, cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "[v3_server]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature, keyEncipherment\n"
    "extendedKeyUsage = serverAuth, clientAuth\n"
    "subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "[v3_client]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature, keyEncipherment\n"
    "extendedKeyUsage = clientAuth\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "[v3_wrong_host]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature, keyEncipherment\n"
    "extendedKeyUsage = serverAuth, clientAuth\n"
    "subjectAltName = DNS:wrong-host.invalid\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n";

/* ------------------------------------------------------------------------
 * Running a program
 * ------------------------------------------------------------------------ */

/* Milliseconds on the monotonic clock. */
static long long tc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* waitpid() that retries on EINTR. */
static pid_t tc_wait(pid_t pid, int *status, int flags)
{
    pid_t r;
    do {
        r = waitpid(pid, status, flags);
    } while (r == -1 && errno == EINTR);
    return r;
}

/* In the forked child: stdin from /dev/null, stdout and stderr into wfd,
 * exec argv. Only async-signal-safe calls. */
static void tc_child(const char *const argv[], int wfd)
{
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0 && fd != STDIN_FILENO) {
        dup2(fd, STDIN_FILENO);
        close(fd);
    }
    dup2(wfd, STDOUT_FILENO);
    dup2(wfd, STDERR_FILENO);
    if (wfd > STDERR_FILENO)
        close(wfd);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], (char *const *)argv);
    {
        static const char msg[] = "exec failed: ";
        const char *e = strerror(errno); /* not AS-safe in theory; the
                                            child is single-threaded here
                                            in practice and exits next */
        if (write(STDERR_FILENO, msg, sizeof(msg) - 1) >= 0 &&
            write(STDERR_FILENO, e, strlen(e)) >= 0) {
        }
    }
    _exit(127);
}

/* Append n bytes of src to out (outlen) at *pos, dropping what does not
 * fit. */
static void tc_append(char *out, size_t outlen, size_t *pos, const char *src,
                      size_t n)
{
    if (out == NULL || outlen == 0 || *pos >= outlen - 1)
        return;
    if (n > outlen - 1 - *pos)
        n = outlen - 1 - *pos;
    memcpy(out + *pos, src, n);
    *pos += n;
    out[*pos] = '\0';
}

int rs_run(const char *const argv[], char *out, size_t outlen,
           long timeout_ms)
{
    int pfd[2], status = 0;
    size_t pos = 0;
    long long deadline;
    pid_t pid;
    int killed = 0;

    if (out != NULL && outlen > 0)
        out[0] = '\0';
    if (argv == NULL || argv[0] == NULL) {
        tc_append(out, outlen, &pos, "rs_run: no program", 18);
        return -1;
    }
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        const char *e = strerror(errno);
        tc_append(out, outlen, &pos, e, strlen(e));
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        const char *e = strerror(errno);
        close(pfd[0]);
        close(pfd[1]);
        tc_append(out, outlen, &pos, e, strlen(e));
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        tc_child(argv, pfd[1]);
    }
    close(pfd[1]);

    /* Read until EOF (the program and anything it started closed the
     * pipe) or the deadline. */
    deadline = tc_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        char buf[1024];
        struct pollfd p = { pfd[0], POLLIN, 0 };
        long long left = deadline - tc_now_ms();
        int pr;
        ssize_t n;

        if (left <= 0) {
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
        pr = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue; /* the deadline check above decides */
        n = read(pfd[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        tc_append(out, outlen, &pos, buf, (size_t)n);
    }
    close(pfd[0]);
    if (tc_wait(pid, &status, 0) != pid) {
        const char *e = "rs_run: waitpid failed";
        tc_append(out, outlen, &pos, e, strlen(e));
        return -1;
    }
    if (killed) {
        char msg[96];
        int m = snprintf(msg, sizeof(msg), "\nrs_run: %s killed after %ld ms",
                         argv[0], timeout_ms);
        tc_append(out, outlen, &pos, msg, (size_t)m);
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* ------------------------------------------------------------------------
 * The certificates
 * ------------------------------------------------------------------------ */

/* Remove one entry met by nftw() (depth first). */
static int tc_rm(const char *path, const struct stat *sb, int type,
                 struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "tls_certs: cannot remove %s: %s\n", path,
                strerror(errno));
    return 0;
}

void rs_tls_certs_remove(rs_tls_certs *c)
{
    const char *base;

    if (c == NULL || c->dir[0] != '/')
        return;
    base = strrchr(c->dir, '/');
    if (base != NULL &&
        strncmp(base + 1, TC_DIR_PREFIX, strlen(TC_DIR_PREFIX)) == 0)
        nftw(c->dir, tc_rm, 16, FTW_DEPTH | FTW_PHYS);
    memset(c, 0, sizeof(*c));
}

/* Write dir/name into out (RS_TLS_PATH_MAX). Returns 0 or -1. */
static int tc_path(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, RS_TLS_PATH_MAX, "%s/%s", dir, name);
    return (n < 0 || n >= RS_TLS_PATH_MAX) ? -1 : 0;
}

/* Run one openssl step; on failure print the command and its output. */
static int tc_step(const char *const argv[])
{
    char out[TC_OUT_MAX];
    int rc = rs_run(argv, out, sizeof(out), TC_STEP_TIMEOUT_MS);

    if (rc == 0)
        return 0;
    fprintf(stderr, "tls_certs: command failed (status %d):", rc);
    for (size_t i = 0; argv[i] != NULL; i++)
        fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, "\n%s%s", out,
            (out[0] != '\0' && out[strlen(out) - 1] != '\n') ? "\n" : "");
    if (rc == 127)
        fprintf(stderr, "tls_certs: is `%s` installed (package openssl)? "
                        "$OPENSSL may name it\n", argv[0]);
    return -1;
}

/* The openssl binary: $OPENSSL or "openssl". */
static const char *tc_openssl(void)
{
    const char *b = getenv("OPENSSL");
    return (b != NULL && b[0] != '\0') ? b : "openssl";
}

/* A self-signed CA: key and certificate, subject /CN=cn. */
static int tc_make_ca(const char *cnf, const char *key, const char *crt,
                      const char *subj, const char *serial)
{
    const char *argv[] = {
        tc_openssl(), "req", "-x509", "-config", cnf, "-extensions", "v3_ca",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", crt, "-days", "2", "-subj", subj,
        "-set_serial", serial, NULL
    };
    return tc_step(argv);
}

/* A leaf key and certificate signed by the CA (ca_crt, ca_key), with the
 * extensions of config section ext. csr is a scratch file. */
static int tc_make_leaf(const char *cnf, const char *ca_crt,
                        const char *ca_key, const char *key, const char *csr,
                        const char *crt, const char *subj, const char *ext,
                        const char *serial)
{
    const char *req[] = {
        tc_openssl(), "req", "-new", "-config", cnf, "-newkey", "ec",
        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
        "-out", csr, "-subj", subj, NULL
    };
    const char *sign[] = {
        tc_openssl(), "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey",
        ca_key, "-set_serial", serial, "-days", "2", "-extfile", cnf,
        "-extensions", ext, "-out", crt, NULL
    };
    if (tc_step(req) != 0 || tc_step(sign) != 0)
        return -1;
    unlink(csr);
    return 0;
}

/* Write the configuration file. */
static int tc_write_config(const char *path)
{
    FILE *f = fopen(path, "w");
    int ok;

    if (f == NULL) {
        fprintf(stderr, "tls_certs: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    ok = fputs(tc_config, f) >= 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "tls_certs: cannot write %s\n", path);
    return ok ? 0 : -1;
}

int rs_tls_certs_create(rs_tls_certs *c)
{
    char cnf[RS_TLS_PATH_MAX], ca_key[RS_TLS_PATH_MAX];
    char other_key[RS_TLS_PATH_MAX], other_crt[RS_TLS_PATH_MAX];
    char csr[RS_TLS_PATH_MAX];
    const char *tmp = getenv("TMPDIR");
    size_t n;

    if (c == NULL)
        return -1;
    memset(c, 0, sizeof(*c));
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/')
        n--;
    if (snprintf(c->dir, sizeof(c->dir), "%.*s/" TC_DIR_PREFIX "XXXXXX",
                 (int)n, tmp) >= (int)sizeof(c->dir)) {
        fprintf(stderr, "tls_certs: TMPDIR path too long: %s\n", tmp);
        c->dir[0] = '\0';
        return -1;
    }
    if (mkdtemp(c->dir) == NULL) {
        fprintf(stderr, "tls_certs: mkdtemp(%s): %s\n", c->dir,
                strerror(errno));
        c->dir[0] = '\0';
        return -1;
    }
    if (tc_path(cnf, c->dir, "openssl.cnf") != 0 ||
        tc_path(ca_key, c->dir, "ca.key") != 0 ||
        tc_path(csr, c->dir, "scratch.csr") != 0 ||
        tc_path(other_key, c->dir, "other-ca.key") != 0 ||
        tc_path(other_crt, c->dir, "other-ca.crt") != 0 ||
        tc_path(c->ca_file, c->dir, "ca.crt") != 0 ||
        tc_path(c->server_cert, c->dir, "server.crt") != 0 ||
        tc_path(c->server_key, c->dir, "server.key") != 0 ||
        tc_path(c->client_cert, c->dir, "client.crt") != 0 ||
        tc_path(c->client_key, c->dir, "client.key") != 0 ||
        tc_path(c->wrong_host_cert, c->dir, "wrong-host.crt") != 0 ||
        tc_path(c->wrong_host_key, c->dir, "wrong-host.key") != 0) {
        fprintf(stderr, "tls_certs: paths under %s too long\n", c->dir);
        goto fail;
    }
    memcpy(c->other_ca_file, other_crt, sizeof(other_crt));
    if (tc_write_config(cnf) != 0 ||
        tc_make_ca(cnf, ca_key, c->ca_file, "/CN=redlock-test-ca", "1") != 0 ||
        tc_make_ca(cnf, other_key, c->other_ca_file,
                   "/CN=redlock-test-other-ca", "2") != 0 ||
        tc_make_leaf(cnf, c->ca_file, ca_key, c->server_key, csr,
                     c->server_cert, "/CN=localhost", "v3_server",
                     "3") != 0 ||
        tc_make_leaf(cnf, c->ca_file, ca_key, c->client_key, csr,
                     c->client_cert, "/CN=redlock-test-client", "v3_client",
                     "4") != 0 ||
        tc_make_leaf(cnf, c->ca_file, ca_key, c->wrong_host_key, csr,
                     c->wrong_host_cert, "/CN=wrong-host.invalid",
                     "v3_wrong_host", "5") != 0)
        goto fail;
    return 0;

fail:
    rs_tls_certs_remove(c);
    return -1;
}
