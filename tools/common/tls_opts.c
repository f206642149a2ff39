/*
 * tls_opts.c: the TLS flags and environment variables of `redlock` and
 * `redlock-bench` (tls_opts.h states the rules).
 *
 * DESIGN. The rules are one pure function with a table test
 * (tests/unit/test_tool_tls.c), shared by both programs, as the duration
 * parser is. The certificate and key resolve as a pair, never one from a
 * flag and the other from the environment: a key left over in the
 * environment from another setup must not pair silently with a
 * certificate given on the command line. Rejected: an environment
 * variable for --tls-insecure (an opt-out of verification that a shell
 * profile could switch on for every later command, unseen), and a
 * separate --tls-ca-dir flag (the path itself says which it is; one flag
 * is what the issue names).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tls_opts.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sys/stat.h>

/* An environment value that counts as set. */
static const char *env_value(const char *v)
{
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

int tool_tls_resolve(const tool_tls_flags *f, const char *env_ca,
                     const char *env_cert, const char *env_key,
                     tool_tls *out, char *why, size_t whylen)
{
    static const tool_tls_flags none = {NULL, NULL, NULL, 0};
    const char *empty = NULL;

    if (f == NULL)
        f = &none;
    memset(out, 0, sizeof(*out));
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (f->ca != NULL && f->ca[0] == '\0')
        empty = "--tls-ca";
    else if (f->cert != NULL && f->cert[0] == '\0')
        empty = "--tls-cert";
    else if (f->key != NULL && f->key[0] == '\0')
        empty = "--tls-key";
    if (empty != NULL) {
        snprintf(why, whylen, "%s: empty file name", empty);
        return -1;
    }

    out->insecure = f->insecure ? 1 : 0;
    if (f->ca != NULL) {
        out->ca = f->ca;
        out->ca_from = "--tls-ca";
    } else if (env_value(env_ca) != NULL) {
        out->ca = env_ca;
        out->ca_from = "REDLOCK_TLS_CA";
    }

    if (f->cert != NULL || f->key != NULL) {
        if (f->cert == NULL) {
            snprintf(why, whylen, "--tls-key needs --tls-cert (the client "
                                  "certificate for mutual TLS)");
            return -1;
        }
        if (f->key == NULL) {
            snprintf(why, whylen, "--tls-cert needs --tls-key (the "
                                  "certificate's private key)");
            return -1;
        }
        out->cert = f->cert;
        out->key = f->key;
        out->cert_from = "--tls-cert";
        out->key_from = "--tls-key";
        return 0;
    }
    env_cert = env_value(env_cert);
    env_key = env_value(env_key);
    if ((env_cert == NULL) != (env_key == NULL)) {
        snprintf(why, whylen, "%s is set but %s is not (a client "
                              "certificate and its key go together)",
                 env_cert != NULL ? "REDLOCK_TLS_CERT" : "REDLOCK_TLS_KEY",
                 env_cert != NULL ? "REDLOCK_TLS_KEY" : "REDLOCK_TLS_CERT");
        return -1;
    }
    if (env_cert != NULL) {
        out->cert = env_cert;
        out->key = env_key;
        out->cert_from = "REDLOCK_TLS_CERT";
        out->key_from = "REDLOCK_TLS_KEY";
    }
    return 0;
}

int tool_tls_any(const tool_tls *t)
{
    return t != NULL && (t->ca != NULL || t->cert != NULL || t->insecure);
}

int tool_uri_is_tls(const char *uri)
{
    return uri != NULL && (strncasecmp(uri, "rediss://", 9) == 0 ||
                           strncasecmp(uri, "sentinels://", 12) == 0);
}

/* Check that path can be read (a file) or listed (a directory); writes
 * the reason naming from into why. Sets *is_dir. Returns 0 or -1. */
static int check_readable(const char *path, const char *from, int *is_dir,
                          char *why, size_t whylen)
{
    struct stat sb;
    int saved;

    *is_dir = 0;
    if (stat(path, &sb) != 0) {
        saved = errno;
        snprintf(why, whylen, "%s: cannot read '%s': %s", from, path,
                 strerror(saved));
        return -1;
    }
    *is_dir = S_ISDIR(sb.st_mode) ? 1 : 0;
    if (access(path, *is_dir ? (R_OK | X_OK) : R_OK) != 0) {
        saved = errno;
        snprintf(why, whylen, "%s: cannot read '%s': %s", from, path,
                 strerror(saved));
        return -1;
    }
    return 0;
}

int tool_tls_apply(const tool_tls *t, redlock_options *o, char *why,
                   size_t whylen)
{
    int is_dir;

    if (t->ca != NULL) {
        if (check_readable(t->ca, t->ca_from, &is_dir, why, whylen) != 0)
            return -1;
        if (is_dir)
            o->tls_ca_dir = t->ca;
        else
            o->tls_ca_file = t->ca;
    }
    if (t->cert != NULL) {
        const char *path[2] = {t->cert, t->key};
        const char *from[2] = {t->cert_from, t->key_from};

        for (int i = 0; i < 2; i++) {
            if (check_readable(path[i], from[i], &is_dir, why, whylen) != 0)
                return -1;
            if (is_dir) {
                snprintf(why, whylen, "%s: '%s' is a directory, not a PEM "
                                      "file", from[i], path[i]);
                return -1;
            }
        }
        o->tls_cert_file = t->cert;
        o->tls_key_file = t->key;
    }
    o->tls_insecure_skip_verify = t->insecure;
    return 0;
}
