/*
 * tls_certs.h: a throw-away certificate authority for the TLS tests and
 * `redlock-bench --tls`.
 *
 * rs_tls_certs_create() makes a fresh temp directory and fills it, with the
 * `openssl` command line tool, with everything a TLS test needs:
 *
 *   ca_file          the test CA (self-signed, EC P-256)
 *   server_cert/key  signed by the CA; SAN DNS:localhost, IP:127.0.0.1,
 *                    IP:::1; extendedKeyUsage serverAuth and clientAuth
 *                    (redis-server also presents it as a client)
 *   client_cert/key  signed by the CA; CN redlock-test-client, clientAuth,
 *                    for mutual TLS (--tls-auth-clients yes)
 *   other_ca_file    a second, unrelated CA that signed nothing here: a
 *                    client trusting it must refuse every server above
 *   wrong_host_cert/key  signed by the CA, but its only SAN is
 *                    DNS:wrong-host.invalid: a client that verifies the
 *                    name must refuse it for localhost and 127.0.0.1
 *
 * The certificates are valid for two days from creation; the keys are EC
 * P-256 (a whole set takes a few tens of milliseconds). The openssl
 * configuration is a file written into the directory, so the system's
 * openssl.cnf does not matter. rs_tls_certs_remove() deletes the directory.
 *
 * Every program is run with fork + execvp, never through a shell; its
 * output is captured and printed with the command when a step fails.
 * $OPENSSL names the binary (default "openssl").
 */
#ifndef REDLOCK_TLS_CERTS_H
#define REDLOCK_TLS_CERTS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room for one path in rs_tls_certs. */
#define RS_TLS_PATH_MAX 320

/* The files made by rs_tls_certs_create(). Treat as read-only. */
typedef struct rs_tls_certs {
    char dir[256];                          /* "" when not created */
    char ca_file[RS_TLS_PATH_MAX];
    char server_cert[RS_TLS_PATH_MAX];
    char server_key[RS_TLS_PATH_MAX];
    char client_cert[RS_TLS_PATH_MAX];
    char client_key[RS_TLS_PATH_MAX];
    char other_ca_file[RS_TLS_PATH_MAX];
    char wrong_host_cert[RS_TLS_PATH_MAX];
    char wrong_host_key[RS_TLS_PATH_MAX];
} rs_tls_certs;

/* Create the directory ($TMPDIR or /tmp)/redlock-tls-XXXXXX and every file
 * listed above. Returns 0 on success; on failure returns -1 after printing
 * the failing command and its output to stderr, and leaves nothing behind
 * (c->dir is then ""). */
int rs_tls_certs_create(rs_tls_certs *c);

/* Remove the directory and everything in it; c->dir becomes "". Safe on a
 * zeroed or already removed c, and only ever removes a directory whose name
 * starts with "redlock-tls-". */
void rs_tls_certs_remove(rs_tls_certs *c);

/* Run argv[0] (looked up in PATH) with argv, no shell, stdin from
 * /dev/null, and stdout and stderr together captured into out (outlen
 * bytes, NUL-terminated, truncated; out may be NULL). Waits at most
 * timeout_ms, then SIGKILLs it. Returns its exit status (0..255), 128 +
 * signal if it was killed by a signal, or -1 if it could not be run (the
 * reason is then in out). For tests that drive redis-cli or openssl. */
int rs_run(const char *const argv[], char *out, size_t outlen,
           long timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* REDLOCK_TLS_CERTS_H */
