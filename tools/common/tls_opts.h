/*
 * tls_opts.h: the TLS settings of both programs, `redlock` (tools/redlock)
 * and `redlock-bench` (bench/): the flags --tls-ca FILE, --tls-cert FILE,
 * --tls-key FILE and --tls-insecure, and the environment variables
 * REDLOCK_TLS_CA, REDLOCK_TLS_CERT and REDLOCK_TLS_KEY. One set of rules,
 * so that they mean the same thing to both programs:
 *
 *  - A flag wins over its environment variable. The certificate and key
 *    are a pair: if either flag is given, both come from the flags (the
 *    two variables are then ignored), and both must be given; else both
 *    come from the environment, and again both or neither. An empty
 *    variable counts as unset; an empty flag value is an error.
 *  - --tls-ca names a PEM file of CA certificates, or a directory of
 *    hashed certificates (as made by `openssl rehash`): a directory
 *    becomes redlock_options.tls_ca_dir, anything else tls_ca_file.
 *    Without it, the system's trust store is used.
 *  - --tls-insecure has no environment variable, on purpose: turning off
 *    verification must be visible on the command line that does it.
 *  - Everything applies to rediss:// nodes only; redis:// and unix://
 *    nodes never use TLS.
 *
 * tool_tls_resolve() and tool_uri_is_tls() are pure; tool_tls_apply()
 * looks at the files (stat, access).
 */
#ifndef REDLOCK_TOOL_TLS_OPTS_H
#define REDLOCK_TOOL_TLS_OPTS_H

#include <stddef.h>

#include "redlock.h"

/* What the flags said (NULL: not given). */
typedef struct tool_tls_flags {
    const char *ca;
    const char *cert;
    const char *key;
    int insecure;
} tool_tls_flags;

/* The resolved settings. Strings point into the flags or the
 * environment; *_from name their source for messages ("--tls-ca" or
 * "REDLOCK_TLS_CA"). */
typedef struct tool_tls {
    const char *ca;
    const char *cert;
    const char *key;
    int insecure;
    const char *ca_from;
    const char *cert_from;
    const char *key_from;
} tool_tls;

/*
 * Resolve flags (f) and environment values (env_ca, env_cert, env_key:
 * the variables' values, NULL if unset) into *out by the rules above.
 * Returns 0, or -1 with a one-line reason in why (naming the flag or the
 * variable) when a flag value is empty or a certificate comes without its
 * key, or the reverse. Pure.
 */
int tool_tls_resolve(const tool_tls_flags *f, const char *env_ca,
                     const char *env_cert, const char *env_key,
                     tool_tls *out, char *why, size_t whylen);

/* 1 if t sets anything (a CA, a certificate, or insecure). Pure. */
int tool_tls_any(const tool_tls *t);

/* 1 if uri's scheme is rediss:// or sentinels:// (ASCII case ignored):
 * a node reached over TLS. Pure. */
int tool_uri_is_tls(const char *uri);

/*
 * Check that t's files can be read and store them in o: the CA as
 * tls_ca_dir when it is a directory, else as tls_ca_file; cert, key and
 * insecure as they are. o keeps pointers into t's strings. Returns 0, or
 * -1 with a one-line reason in why ("--tls-ca: cannot read 'x': No such
 * file or directory").
 */
int tool_tls_apply(const tool_tls *t, redlock_options *o, char *why,
                   size_t whylen);

/* The warning both programs print (to stderr, even with -q) when
 * verification is off. */
#define TOOL_TLS_INSECURE_WARNING                                              \
    "WARNING: --tls-insecure: node certificates and names are NOT "           \
    "verified; anyone on the network path can read and forge lock "            \
    "traffic. Use it for test setups only."

#endif /* REDLOCK_TOOL_TLS_OPTS_H */
