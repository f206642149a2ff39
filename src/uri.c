/*
 * uri.c: parsing of node URIs into redlock__uri (see uri.h).
 *
 * Pure logic: no I/O and no global state, so any thread may call it.
 *
 * DESIGN. The parser walks byte ranges of the caller's string; it never
 * modifies the input and never tokenises in place. Every field is checked
 * before anything is copied, and all output goes into a local struct that
 * is moved into *out only once everything succeeded, so a failure needs a
 * single cleanup (redlock__uri_clear on the local copy).
 *
 * In redis:// URIs the credentials end at the LAST '@' of the URI, not the
 * first. No host, port or db may contain '@', so this is never ambiguous,
 * and it has two benefits: passwords with unescaped '@', '/', '?' or '#'
 * still parse, and everything that could be part of a password lies before
 * that '@' and is therefore never echoed. (Splitting the authority at the
 * first '/' as RFC 3986 does would turn "pa/ss@host" into a db of
 * "ss@host" and put half a password into the error message.)
 *
 * Invariants:
 *   - Error messages never contain bytes of the userinfo or of a query
 *     password value (unix password, sentinel_password). Ports and dbs
 *     are echoed only when they are all digits (then they are out of
 *     range), query keys and db= values only when the query has no
 *     password parameter at all, and the socket path never. One walk
 *     (uri_query_next) and one refusal (uri_unknown_param) serve the
 *     queries of all three forms.
 *   - Every buffer that held password bytes is wiped with sodium_memzero()
 *     before it is freed.
 *   - On failure *out is all zero bytes and nothing stays allocated.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strncasecmp in <strings.h> under -std=c11 */
#endif

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/un.h>

#include <sodium.h>

#include "uri.h"

/* Port used when a redis:// or rediss:// URI gives none. rediss://
 * keeps 6379 too: a server with TLS usually serves it on its usual port
 * (ElastiCache, and Redis's own tls-port examples), and one default for
 * both schemes is the least surprising. */
#define URI_DEFAULT_PORT 6379
/* Longest host accepted, in characters, brackets excluded (DNS limit). */
#define URI_HOST_MAX 255
/* Longest socket path accepted, in bytes, after percent-decoding. */
#define URI_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
/* Most characters of a port, db or query key echoed in an error. */
#define URI_ECHO_MAX 32
/* Longest scheme echoed in an "unknown scheme" error. */
#define URI_SCHEME_ECHO_MAX 16

/* Where error messages go: the caller's buffer, possibly NULL or empty. */
typedef struct uri_err {
    char *buf;
    size_t len;
} uri_err;

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* Format a one-line reason into e's buffer, if there is one. */
static void uri_set_err(uri_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Format a one-line reason into e's buffer, if there is one. */
static void uri_set_err(uri_err *e, const char *fmt, ...)
{
    va_list ap;

    if (e->buf == NULL || e->len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(e->buf, e->len, fmt, ap);
    va_end(ap);
}

/* Record an allocation failure in e; returns REDLOCK_ENOMEM. */
static redlock_status uri_oom(uri_err *e)
{
    uri_set_err(e, "out of memory while parsing URI");
    return REDLOCK_ENOMEM;
}

/* Wipe the n bytes at p, then free p. NULL is ignored. Used for every
 * buffer that may hold password bytes. */
static void uri_wipe_free(char *p, size_t n)
{
    if (p == NULL)
        return;
    sodium_memzero(p, n);
    free(p);
}

/* A new NUL-terminated copy of the n bytes at s, or NULL if out of memory.
 * The caller owns the copy. */
static char *uri_dup_range(const char *s, size_t n)
{
    char *copy = malloc(n + 1);

    if (copy == NULL)
        return NULL;
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

/* 1 if the n bytes at s are exactly the NUL-terminated word, else 0. */
static int uri_range_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* 1 if s starts with prefix, ignoring ASCII case (schemes are
 * case-insensitive, RFC 3986 section 3.1), else 0. */
static int uri_has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* 1 if c is a space or a control character (including DEL), else 0. */
static int uri_is_space_or_ctl(unsigned char c)
{
    return c <= 0x20 || c == 0x7f;
}

/* 1 if c is an ASCII decimal digit, else 0. */
static int uri_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* 1 if c is an ASCII letter or digit, else 0. */
static int uri_is_alnum(unsigned char c)
{
    return uri_is_digit(c) || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

/* The value 0..15 of hex digit c, or -1 if c is not one. */
static int uri_hex_value(unsigned char c)
{
    if (uri_is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 1 if the n bytes at s are all ASCII digits and n > 0, else 0. */
static int uri_all_digits(const char *s, size_t n)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        if (!uri_is_digit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

/*
 * Parse the n bytes at s as a decimal number in [min, max] and store it in
 * *value. Only digits are accepted: no sign, no spaces, no "0x". Returns 0
 * on success, -1 otherwise (*value untouched). strtol does the conversion
 * with errno and end-pointer checks; the copy gives it a terminated string.
 */
static int uri_parse_decimal(const char *s, size_t n, long min, long max,
                             long *value)
{
    char buf[32];
    char *end = NULL;
    long v;

    if (!uri_all_digits(s, n) || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    v = strtol(buf, &end, 10);
    if (errno != 0 || end != buf + n || v < min || v > max)
        return -1;
    *value = v;
    return 0;
}

/*
 * Percent-decode the n bytes at s into a new NUL-terminated string stored
 * in *out, which the caller owns (and must wipe if it is secret). what
 * names the field in error messages; its bytes are never echoed. Rejects
 * bad or truncated escapes, %00, and, if reject_ctl, decoded control
 * characters. Returns REDLOCK_OK, REDLOCK_EURI or REDLOCK_ENOMEM; on
 * failure *out is NULL and the partial buffer has been wiped.
 */
static redlock_status uri_pct_decode(const char *s, size_t n,
                                     const char *what, int reject_ctl,
                                     char **out, uri_err *e)
{
    char *buf;
    size_t i;
    size_t j = 0;

    *out = NULL;
    buf = malloc(n + 1);
    if (buf == NULL)
        return uri_oom(e);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '%') {
            int hi;
            int lo;

            if (n - i < 3) {
                uri_set_err(e, "truncated percent escape in %s "
                               "(expected %%XX)", what);
                goto fail;
            }
            hi = uri_hex_value((unsigned char)s[i + 1]);
            lo = uri_hex_value((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) {
                uri_set_err(e, "bad percent escape in %s "
                               "(expected %%XX with two hex digits)", what);
                goto fail;
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
            if (c == 0) {
                uri_set_err(e, "%%00 (NUL byte) is not allowed in %s", what);
                goto fail;
            }
        }
        if (reject_ctl && uri_is_space_or_ctl(c) && c != ' ') {
            uri_set_err(e, "control character is not allowed in %s", what);
            goto fail;
        }
        buf[j++] = (char)c;
    }
    buf[j] = '\0';
    *out = buf;
    return REDLOCK_OK;

fail:
    uri_wipe_free(buf, n + 1);
    return REDLOCK_EURI;
}

/* One key=value parameter of a query: byte ranges of the caller's
 * string. */
typedef struct uri_param {
    const char *key;
    size_t key_len;
    const char *val;
    size_t val_len;
} uri_param;

/*
 * The one walk over a query's '&'-separated key=value parameters, for
 * all three URI forms: take the parameter at *p into *out and move *p
 * past it, to NULL after the last. forms shows the form's parameters,
 * for errors ("cluster=yes or seed=host:port").
 */
static redlock_status uri_query_next(const char **p, const char *forms,
                                     uri_param *out, uri_err *e)
{
    const char *amp = strchr(*p, '&');
    size_t len = amp != NULL ? (size_t)(amp - *p) : strlen(*p);
    const char *eq = memchr(*p, '=', len);

    if (len == 0) {
        uri_set_err(e, "empty query parameter (stray '?' or '&')");
        return REDLOCK_EURI;
    }
    if (eq == NULL) {
        uri_set_err(e, "query parameter without '=' (expected %s)", forms);
        return REDLOCK_EURI;
    }
    out->key = *p;
    out->key_len = (size_t)(eq - *p);
    out->val = eq + 1;
    out->val_len = len - out->key_len - 1;
    *p = amp != NULL ? amp + 1 : NULL;
    return REDLOCK_OK;
}

/* 1 if the parameter's key is word. */
static int uri_param_is(const uri_param *pa, const char *word)
{
    return uri_range_is(pa->key, pa->key_len, word);
}

/* Refuse a parameter whose key the form does not know. The key is
 * echoed only when it is short and plain and the query has no password
 * parameter at all (an unescaped '&' inside a password would make part
 * of it look like a key). */
static redlock_status uri_unknown_param(const uri_param *pa, const char *q,
                                        const char *expected, uri_err *e)
{
    int plain = strstr(q, "password") == NULL && pa->key_len > 0 &&
                pa->key_len <= URI_ECHO_MAX;

    for (size_t i = 0; plain && i < pa->key_len; i++) {
        unsigned char c = (unsigned char)pa->key[i];

        plain = uri_is_alnum(c) || c == '_' || c == '-';
    }
    if (plain)
        uri_set_err(e, "unknown query parameter \"%.*s\" (expected %s)",
                    (int)pa->key_len, pa->key, expected);
    else
        uri_set_err(e, "unknown query parameter (expected %s)", expected);
    return REDLOCK_EURI;
}

/* The db=N parameter (sentinel and unix forms) of query q, at most once:
 * percent-decoded, then 0..INT_MAX; echoed only when all digits and the
 * query has no password parameter (with an unescaped '&' in a password,
 * "db=<digits>" may be the password's tail). */
static redlock_status uri_param_db(const uri_param *pa, const char *q,
                                   int *seen, redlock__uri *u, uri_err *e)
{
    char *text = NULL;
    long value = 0;
    int ok;
    redlock_status st;

    if ((*seen)++) {
        uri_set_err(e, "query parameter db given twice");
        return REDLOCK_EURI;
    }
    st = uri_pct_decode(pa->val, pa->val_len, "db", 1, &text, e);
    if (st != REDLOCK_OK)
        return st;
    ok = uri_parse_decimal(text, strlen(text), 0, INT_MAX, &value) == 0;
    if (!ok && uri_all_digits(text, strlen(text)) &&
        strstr(q, "password") == NULL)
        uri_set_err(e, "bad db \"%.*s%s\" (expected 0..%d)",
                    (int)(strlen(text) < URI_ECHO_MAX ? strlen(text)
                                                      : URI_ECHO_MAX),
                    text, strlen(text) > URI_ECHO_MAX ? "..." : "", INT_MAX);
    else if (!ok)
        uri_set_err(e, "bad db: not a decimal number (expected 0..%d)",
                    INT_MAX);
    free(text);
    if (!ok)
        return REDLOCK_EURI;
    u->db = (int)value;
    return REDLOCK_OK;
}

/* A query parameter that may be given once: percent-decode the val_len
 * bytes at val into *dst (left NULL when empty); *seen counts it. The
 * value is never echoed. */
static redlock_status uri_take_once(const char *val, size_t val_len,
                                    const char *name, int *seen, char **dst,
                                    uri_err *e)
{
    if ((*seen)++) {
        uri_set_err(e, "query parameter %s given twice", name);
        return REDLOCK_EURI;
    }
    if (val_len == 0)
        return REDLOCK_OK;
    return uri_pct_decode(val, val_len, name, 0, dst, e);
}

/* ------------------------------------------------------------------------
 * redis://[[user]:password@]host[:port][/db]
 * ------------------------------------------------------------------------ */

/*
 * Split the n bytes of userinfo at s ("user:password" or ":password") at
 * the first ':' and percent-decode both halves into u->user and
 * u->password; an empty half stays NULL. Nothing of s is ever echoed.
 */
static redlock_status uri_parse_userinfo(const char *s, size_t n,
                                         redlock__uri *u, uri_err *e)
{
    const char *colon = memchr(s, ':', n);
    size_t user_len;
    size_t pass_len;
    redlock_status st;

    if (colon == NULL) {
        uri_set_err(e, "credentials before '@' must be \"user:password\" or "
                       "\":password\" (no ':' found)");
        return REDLOCK_EURI;
    }
    user_len = (size_t)(colon - s);
    pass_len = n - user_len - 1;
    if (user_len > 0) {
        st = uri_pct_decode(s, user_len, "user", 0, &u->user, e);
        if (st != REDLOCK_OK)
            return st;
    }
    if (pass_len > 0) {
        st = uri_pct_decode(colon + 1, pass_len, "password", 0, &u->password,
                            e);
        if (st != REDLOCK_OK)
            return st;
    }
    return REDLOCK_OK;
}

/* 1 if c may appear in a host name or IPv4 address, else 0. '_' is not
 * valid DNS but is common in container host names, so it is accepted. */
static int uri_is_name_char(unsigned char c)
{
    return uri_is_alnum(c) || c == '.' || c == '-' || c == '_';
}

/* 1 if c may appear inside the brackets of an IPv6 address (hex digits,
 * ':' and '.' for the embedded IPv4 form), else 0. Zone ids are not
 * supported. */
static int uri_is_v6_char(unsigned char c)
{
    return uri_hex_value(c) >= 0 || c == ':' || c == '.';
}

/* Write "bad character ... in host" into e, showing c itself when it is
 * printable ASCII and its hex value otherwise. Returns REDLOCK_EURI. */
static redlock_status uri_bad_host_char(unsigned char c, uri_err *e)
{
    if (c > 0x20 && c < 0x7f)
        uri_set_err(e, "bad character '%c' in host", c);
    else
        uri_set_err(e, "bad byte 0x%02x in host", (unsigned)c);
    return REDLOCK_EURI;
}

/*
 * Parse "host[:port][/db]" at s (the part after the credentials) into
 * u->host, u->port and u->db. The host is echoed in errors only after it
 * has passed its character checks; ports and dbs only when all digits.
 */
static redlock_status uri_parse_hostport(const char *s, redlock__uri *u,
                                         uri_err *e)
{
    const char *p = s;
    const char *host;
    size_t host_len;
    size_t i;
    long value;

    if (*p == '[') {
        const char *close = strchr(p, ']');
        int colons = 0;

        if (close == NULL) {
            uri_set_err(e, "unterminated IPv6 address: missing ']'");
            return REDLOCK_EURI;
        }
        host = p + 1;
        host_len = (size_t)(close - host);
        if (host_len == 0) {
            uri_set_err(e, "empty host");
            return REDLOCK_EURI;
        }
        if (host_len > URI_HOST_MAX) {
            uri_set_err(e, "host too long (%zu characters, at most %d)",
                        host_len, URI_HOST_MAX);
            return REDLOCK_EURI;
        }
        for (i = 0; i < host_len; i++) {
            unsigned char c = (unsigned char)host[i];

            if (!uri_is_v6_char(c)) {
                uri_set_err(e, "bad IPv6 address in brackets "
                               "(only hex digits, ':' and '.' allowed)");
                return REDLOCK_EURI;
            }
            colons += c == ':';
        }
        if (colons < 2) {
            uri_set_err(e, "bad IPv6 address in brackets: \"%.*s\"",
                        (int)host_len, host);
            return REDLOCK_EURI;
        }
        p = close + 1;
        if (*p != '\0' && *p != ':' && *p != '/') {
            uri_set_err(e, "unexpected characters after ']' "
                           "(expected \":port\", \"/db\" or the end)");
            return REDLOCK_EURI;
        }
    } else {
        size_t colons = 0;

        host = p;
        while (*p != '\0' && *p != ':' && *p != '/')
            p++;
        host_len = (size_t)(p - host);
        for (i = 0; host[i] != '\0' && host[i] != '/'; i++)
            colons += host[i] == ':';
        if (colons >= 2) {
            uri_set_err(e, "IPv6 addresses must be in brackets, as in "
                           "redis://[::1]:6379");
            return REDLOCK_EURI;
        }
        if (host_len == 0) {
            uri_set_err(e, "empty host");
            return REDLOCK_EURI;
        }
        if (host_len > URI_HOST_MAX) {
            uri_set_err(e, "host too long (%zu characters, at most %d)",
                        host_len, URI_HOST_MAX);
            return REDLOCK_EURI;
        }
        for (i = 0; i < host_len; i++) {
            if (!uri_is_name_char((unsigned char)host[i]))
                return uri_bad_host_char((unsigned char)host[i], e);
        }
    }

    u->port = URI_DEFAULT_PORT;
    if (*p == ':') {
        const char *port = ++p;
        size_t port_len;

        while (*p != '\0' && *p != '/')
            p++;
        port_len = (size_t)(p - port);
        if (port_len == 0) {
            uri_set_err(e, "empty port after ':' (expected 1..65535)");
            return REDLOCK_EURI;
        }
        if (!uri_all_digits(port, port_len)) {
            uri_set_err(e, "bad port: not a decimal number "
                           "(expected 1..65535)");
            return REDLOCK_EURI;
        }
        if (uri_parse_decimal(port, port_len, 1, 65535, &value) != 0) {
            uri_set_err(e, "bad port \"%.*s%s\" (expected 1..65535)",
                        (int)(port_len < URI_ECHO_MAX ? port_len
                                                      : URI_ECHO_MAX),
                        port, port_len > URI_ECHO_MAX ? "..." : "");
            return REDLOCK_EURI;
        }
        u->port = (int)value;
    }

    if (*p == '/') {
        const char *db = ++p;
        size_t db_len = strlen(db);

        /* "redis://host/" is accepted as db 0, like an absent db. */
        if (db_len > 0) {
            if (!uri_all_digits(db, db_len)) {
                uri_set_err(e, "bad db after '/': not a decimal number "
                               "(expected 0..%d)", INT_MAX);
                return REDLOCK_EURI;
            }
            if (uri_parse_decimal(db, db_len, 0, INT_MAX, &value) != 0) {
                uri_set_err(e, "bad db \"%.*s%s\" (expected 0..%d)",
                            (int)(db_len < URI_ECHO_MAX ? db_len
                                                        : URI_ECHO_MAX),
                            db, db_len > URI_ECHO_MAX ? "..." : "",
                            INT_MAX);
                return REDLOCK_EURI;
            }
            u->db = (int)value;
        }
    }

    u->host = uri_dup_range(host, host_len);
    if (u->host == NULL)
        return uri_oom(e);
    return REDLOCK_OK;
}

/* Parse one "host[:port]" seed of a query (the n bytes at v) into *hp,
 * default_port when it gives none. what names the parameter in errors. */
static redlock_status uri_parse_seed(const char *v, size_t n,
                                     int default_port, const char *what,
                                     redlock__hostport *hp, uri_err *e)
{
    redlock__uri tmp;
    memset(&tmp, 0, sizeof tmp);
    char *text = NULL;
    redlock_status st = uri_pct_decode(v, n, what, 1, &text, e);
    if (st != REDLOCK_OK)
        return st;
    if (text[0] == '\0') {
        free(text);
        uri_set_err(e, "empty %s (expected host:port)", what);
        return REDLOCK_EURI;
    }
    st = uri_parse_hostport(text, &tmp, e);
    /* Only once parsed: then a '[' has its ']'. */
    int had_port =
        st == REDLOCK_OK &&
        strchr(text[0] == '[' ? strchr(text, ']') : text, ':') != NULL;
    free(text);
    if (st == REDLOCK_OK && tmp.db != 0) {
        uri_set_err(e, "a %s takes no /db", what);
        st = REDLOCK_EURI;
    }
    if (st != REDLOCK_OK) {
        redlock__uri_clear(&tmp);
        return st;
    }
    hp->host = tmp.host;
    hp->port = had_port ? tmp.port : default_port;
    return REDLOCK_OK;
}

/* Parse the query of a redis:// or rediss:// URI (after '?'): cluster=yes
 * (or no) and seed=host:port, repeated. */
static redlock_status uri_parse_redis_query(const char *q, redlock__uri *u,
                                            uri_err *e)
{
    static const char expected[] = "cluster or seed";
    static const char forms[] = "cluster=yes or seed=host:port";
    int seen_cluster = 0;
    const char *p = q;
    uri_param pa;

    while (p != NULL) {
        redlock_status st = uri_query_next(&p, forms, &pa, e);

        if (st != REDLOCK_OK)
            return st;
        if (uri_param_is(&pa, "cluster")) {
            if (seen_cluster++) {
                uri_set_err(e, "query parameter cluster given twice");
                return REDLOCK_EURI;
            }
            if (uri_range_is(pa.val, pa.val_len, "yes"))
                u->kind = REDLOCK__URI_CLUSTER;
            else if (!uri_range_is(pa.val, pa.val_len, "no")) {
                uri_set_err(e, "cluster= takes yes or no");
                return REDLOCK_EURI;
            }
        } else if (uri_param_is(&pa, "seed")) {
            if (u->n_seeds >= REDLOCK__URI_SEEDS_MAX) {
                uri_set_err(e, "too many seeds (at most %d)",
                            REDLOCK__URI_SEEDS_MAX);
                return REDLOCK_EURI;
            }
            st = uri_parse_seed(pa.val, pa.val_len, URI_DEFAULT_PORT, "seed",
                                &u->seeds[u->n_seeds], e);
            if (st != REDLOCK_OK)
                return st;
            u->n_seeds++;
        } else {
            return uri_unknown_param(&pa, q, expected, e);
        }
    }
    if (u->n_seeds > 0 && u->kind != REDLOCK__URI_CLUSTER) {
        uri_set_err(e, "seed= is only for a cluster node (add cluster=yes)");
        return REDLOCK_EURI;
    }
    if (u->kind == REDLOCK__URI_CLUSTER && u->db != 0) {
        uri_set_err(e, "a Redis Cluster has only database 0 (remove /%d)",
                    u->db);
        return REDLOCK_EURI;
    }
    return REDLOCK_OK;
}

/* Parse the part of a redis:// URI after "redis://" into u. A query
 * ('?' after the credentials) may make it a cluster node. */
static redlock_status uri_parse_redis(const char *rest, redlock__uri *u,
                                      uri_err *e)
{
    const char *at = strrchr(rest, '@');
    redlock_status st;

    if (at != NULL) {
        st = uri_parse_userinfo(rest, (size_t)(at - rest), u, e);
        if (st != REDLOCK_OK)
            return st;
        rest = at + 1;
    }
    const char *q = strchr(rest, '?');
    if (q == NULL)
        return uri_parse_hostport(rest, u, e);
    char *hp = uri_dup_range(rest, (size_t)(q - rest));
    if (hp == NULL)
        return uri_oom(e);
    st = uri_parse_hostport(hp, u, e);
    free(hp);
    if (st != REDLOCK_OK)
        return st;
    return uri_parse_redis_query(q + 1, u, e);
}

/* ------------------------------------------------------------------------
 * sentinel[s]://[[user]:password@]host[:port]/NAME[?sentinel=host:port]...
 * ------------------------------------------------------------------------ */

/* Port of a sentinel when the URI gives none. */
#define URI_SENTINEL_PORT 26379
/* Longest master name accepted. */
#define URI_MASTER_NAME_MAX 128

/* Parse the part of a sentinel:// URI after "sentinel://" into u. Values
 * of sentinel_password are never echoed. */
static redlock_status uri_parse_sentinel(const char *rest, redlock__uri *u,
                                         uri_err *e)
{
    const char *at = strrchr(rest, '@');
    redlock_status st;
    u->kind = REDLOCK__URI_SENTINEL;
    /* A '@' inside sentinel_password=... would be taken for the end of
     * the credentials: refuse the form, without echoing it. */
    if (at != NULL && strchr(rest, '?') != NULL &&
        strchr(rest, '?') < at) {
        uri_set_err(e, "'@' in the query: percent-encode it as %%40");
        return REDLOCK_EURI;
    }
    if (at != NULL) {
        st = uri_parse_userinfo(rest, (size_t)(at - rest), u, e);
        if (st != REDLOCK_OK)
            return st;
        rest = at + 1;
    }
    const char *slash = rest[0] == '[' && strchr(rest, ']') != NULL
                            ? strchr(strchr(rest, ']'), '/')
                            : strchr(rest, '/');
    const char *q = strchr(rest, '?');
    if (slash == NULL || (q != NULL && q < slash)) {
        uri_set_err(e, "a sentinel node names its master: "
                       "sentinel://host:port/MASTERNAME");
        return REDLOCK_EURI;
    }
    char *hp = uri_dup_range(rest, (size_t)(slash - rest));
    if (hp == NULL)
        return uri_oom(e);
    st = uri_parse_hostport(hp, u, e);
    /* Only once parsed: then a '[' has its ']'. */
    int had_port = st == REDLOCK_OK &&
                   strchr(hp[0] == '[' ? strchr(hp, ']') : hp, ':') != NULL;
    free(hp);
    if (st != REDLOCK_OK)
        return st;
    if (!had_port)
        u->port = URI_SENTINEL_PORT;
    const char *name = slash + 1;
    size_t name_len = q != NULL ? (size_t)(q - name) : strlen(name);
    if (name_len == 0) {
        uri_set_err(e, "empty master name after '/' "
                       "(sentinel://host:port/MASTERNAME)");
        return REDLOCK_EURI;
    }
    if (name_len > URI_MASTER_NAME_MAX) {
        uri_set_err(e, "master name too long (%zu characters, at most %d)",
                    name_len, URI_MASTER_NAME_MAX);
        return REDLOCK_EURI;
    }
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!uri_is_alnum(c) && c != '.' && c != '-' && c != '_') {
            uri_set_err(e, "bad character in master name (letters, digits, "
                           "'.', '-' and '_' only)");
            return REDLOCK_EURI;
        }
    }
    u->master_name = uri_dup_range(name, name_len);
    if (u->master_name == NULL)
        return uri_oom(e);
    if (q == NULL)
        return REDLOCK_OK;
    static const char expected[] =
        "sentinel, sentinel_user, sentinel_password or db";
    static const char forms[] = "sentinel=host:port, sentinel_user=U, "
                                "sentinel_password=P or db=N";
    int seen_db = 0, seen_user = 0, seen_pass = 0;
    const char *p = q + 1;
    uri_param pa;

    while (p != NULL) {
        st = uri_query_next(&p, forms, &pa, e);
        if (st != REDLOCK_OK)
            return st;
        if (uri_param_is(&pa, "sentinel")) {
            if (u->n_seeds >= REDLOCK__URI_SEEDS_MAX) {
                uri_set_err(e, "too many sentinels (at most %d more)",
                            REDLOCK__URI_SEEDS_MAX);
                return REDLOCK_EURI;
            }
            st = uri_parse_seed(pa.val, pa.val_len, URI_SENTINEL_PORT,
                                "sentinel", &u->seeds[u->n_seeds], e);
            if (st == REDLOCK_OK)
                u->n_seeds++;
        } else if (uri_param_is(&pa, "sentinel_password")) {
            st = uri_take_once(pa.val, pa.val_len, "sentinel_password",
                               &seen_pass, &u->sentinel_password, e);
        } else if (uri_param_is(&pa, "sentinel_user")) {
            st = uri_take_once(pa.val, pa.val_len, "sentinel_user",
                               &seen_user, &u->sentinel_user, e);
        } else if (uri_param_is(&pa, "db")) {
            st = uri_param_db(&pa, q + 1, &seen_db, u, e);
        } else {
            return uri_unknown_param(&pa, q + 1, expected, e);
        }
        if (st != REDLOCK_OK)
            return st;
    }
    return REDLOCK_OK;
}

/* ------------------------------------------------------------------------
 * unix:///path/to.sock[?db=N][&password=P][&user=U]
 * ------------------------------------------------------------------------ */

/*
 * Parse the query string q (after '?') of a unix URI into u: '&'-separated
 * key=value pairs with keys db, password and user, each at most once,
 * values percent-decoded. Unknown keys are named in the error only when no
 * password parameter is present, since an unescaped '&' inside a password
 * would otherwise make part of it look like a key.
 */
static redlock_status uri_parse_query(const char *q, redlock__uri *u,
                                      uri_err *e)
{
    static const char expected[] = "db, password or user";
    static const char forms[] = "db=N, password=P or user=U";
    int seen_db = 0;
    int seen_password = 0;
    int seen_user = 0;
    const char *p = q;
    uri_param pa;
    redlock_status st;

    while (p != NULL) {
        st = uri_query_next(&p, forms, &pa, e);
        if (st != REDLOCK_OK)
            return st;
        if (uri_param_is(&pa, "db"))
            st = uri_param_db(&pa, q, &seen_db, u, e);
        else if (uri_param_is(&pa, "password"))
            st = uri_take_once(pa.val, pa.val_len, "password",
                               &seen_password, &u->password, e);
        else if (uri_param_is(&pa, "user"))
            st = uri_take_once(pa.val, pa.val_len, "user", &seen_user,
                               &u->user, e);
        else
            return uri_unknown_param(&pa, q, expected, e);
        if (st != REDLOCK_OK)
            return st;
    }
    return REDLOCK_OK;
}

/* Parse the part of a unix URI after "unix://" (an absolute path and an
 * optional query) into u. The path is never echoed in errors. */
static redlock_status uri_parse_unix(const char *rest, redlock__uri *u,
                                     uri_err *e)
{
    const char *q;
    size_t path_len;
    size_t decoded_len;
    redlock_status st;

    if (rest[0] != '/') {
        uri_set_err(e, "unix socket path must be absolute, as in "
                       "unix:///path/to.sock");
        return REDLOCK_EURI;
    }
    q = strchr(rest, '?');
    path_len = q != NULL ? (size_t)(q - rest) : strlen(rest);
    st = uri_pct_decode(rest, path_len, "socket path", 1, &u->path, e);
    if (st != REDLOCK_OK)
        return st;
    decoded_len = strlen(u->path);
    if (decoded_len > URI_PATH_MAX) {
        uri_set_err(e, "unix socket path too long (%zu bytes, at most %zu)",
                    decoded_len, (size_t)URI_PATH_MAX);
        return REDLOCK_EURI;
    }
    if (q != NULL)
        return uri_parse_query(q + 1, u, e);
    return REDLOCK_OK;
}

/* ------------------------------------------------------------------------
 * Display string and entry points
 * ------------------------------------------------------------------------ */

/* Build u->display from the parsed fields: "host:port", "[v6]:port" or
 * "unix:/path", plus "/db" when db != 0. Never uses user or password. */
static redlock_status uri_build_display(redlock__uri *u, uri_err *e)
{
    char db[16] = "";
    int n;

    if (u->db != 0)
        snprintf(db, sizeof db, "/%d", u->db);
    if (u->kind != REDLOCK__URI_SERVER) {
        /* "cluster:host:port" or "sentinel:host:port/NAME". */
        const char *pre = u->kind == REDLOCK__URI_CLUSTER ? "cluster:"
                                                           : "sentinel:";
        int v6 = strchr(u->host, ':') != NULL;
        const char *name = u->master_name != NULL ? u->master_name : "";
        n = snprintf(NULL, 0, "%s%s%s%s:%d%s%s%s", pre, v6 ? "[" : "",
                     u->host, v6 ? "]" : "", u->port, name[0] ? "/" : "",
                     name, db);
        if (n < 0) {
            uri_set_err(e, "could not format node name");
            return REDLOCK_EURI;
        }
        u->display = malloc((size_t)n + 1);
        if (u->display == NULL)
            return uri_oom(e);
        snprintf(u->display, (size_t)n + 1, "%s%s%s%s:%d%s%s%s", pre,
                 v6 ? "[" : "", u->host, v6 ? "]" : "", u->port,
                 name[0] ? "/" : "", name, db);
        return REDLOCK_OK;
    }
    if (u->is_unix)
        n = snprintf(NULL, 0, "unix:%s%s", u->path, db);
    else if (strchr(u->host, ':') != NULL)
        n = snprintf(NULL, 0, "[%s]:%d%s", u->host, u->port, db);
    else
        n = snprintf(NULL, 0, "%s:%d%s", u->host, u->port, db);
    if (n < 0) {
        uri_set_err(e, "could not format node name");
        return REDLOCK_EURI;
    }
    u->display = malloc((size_t)n + 1);
    if (u->display == NULL)
        return uri_oom(e);
    if (u->is_unix)
        snprintf(u->display, (size_t)n + 1, "unix:%s%s", u->path, db);
    else if (strchr(u->host, ':') != NULL)
        snprintf(u->display, (size_t)n + 1, "[%s]:%d%s", u->host, u->port,
                 db);
    else
        snprintf(u->display, (size_t)n + 1, "%s:%d%s", u->host, u->port, db);
    return REDLOCK_OK;
}

/* Explain why text has no usable scheme, echoing the scheme only when it
 * is a plain word before "://" (so it cannot hold credentials). Returns
 * REDLOCK_EURI. */
static redlock_status uri_unknown_scheme(const char *text, uri_err *e)
{
    const char *sep = strstr(text, "://");
    size_t len;
    size_t i;
    int plain;

    if (uri_has_prefix_ci(text, "unix:")) {
        uri_set_err(e, "unix socket URIs are written unix:///path/to.sock");
        return REDLOCK_EURI;
    }
    if (uri_has_prefix_ci(text, "rediss:")) {
        uri_set_err(e, "TLS redis URIs are written "
                       "rediss://host[:port][/db]");
        return REDLOCK_EURI;
    }
    if (uri_has_prefix_ci(text, "redis:")) {
        uri_set_err(e, "redis URIs are written redis://host[:port][/db]");
        return REDLOCK_EURI;
    }
    if (sep == NULL) {
        uri_set_err(e, "missing scheme (expected redis://, rediss://, "
                       "unix://, sentinel:// or sentinels://)");
        return REDLOCK_EURI;
    }
    len = (size_t)(sep - text);
    plain = len > 0 && len <= URI_SCHEME_ECHO_MAX;
    for (i = 0; plain && i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        plain = uri_is_alnum(c) || c == '+' || c == '-' || c == '.';
    }
    if (plain)
        uri_set_err(e, "unknown scheme \"%.*s\" (expected redis://, "
                       "rediss://, unix://, sentinel:// or sentinels://)",
                    (int)len, text);
    else
        uri_set_err(e, "unknown scheme (expected redis://, rediss://, "
                       "unix://, sentinel:// or sentinels://)");
    return REDLOCK_EURI;
}

/* Parse text into *out; see uri.h. *out need not be initialised. */
redlock_status redlock__uri_parse(const char *text, redlock__uri *out,
                                  char *err, size_t errlen)
{
    uri_err e = {err, errlen};
    redlock__uri tmp;
    redlock_status st;
    size_t i;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL) {
        uri_set_err(&e, "no output struct given");
        return REDLOCK_EINVAL;
    }
    memset(out, 0, sizeof *out);
    memset(&tmp, 0, sizeof tmp);

    if (text == NULL) {
        uri_set_err(&e, "URI is NULL");
        return REDLOCK_EURI;
    }
    if (text[0] == '\0') {
        uri_set_err(&e, "URI is empty");
        return REDLOCK_EURI;
    }
    for (i = 0; text[i] != '\0'; i++) {
        if (uri_is_space_or_ctl((unsigned char)text[i])) {
            uri_set_err(&e, "URI contains whitespace or a control character "
                            "at offset %zu", i);
            return REDLOCK_EURI;
        }
    }

    if (uri_has_prefix_ci(text, "redis://")) {
        st = uri_parse_redis(text + strlen("redis://"), &tmp, &e);
    } else if (uri_has_prefix_ci(text, "unix://")) {
        tmp.is_unix = 1;
        st = uri_parse_unix(text + strlen("unix://"), &tmp, &e);
    } else if (uri_has_prefix_ci(text, "rediss://")) {
        /* The same grammar as redis://; the connection uses TLS. */
        tmp.tls = 1;
        st = uri_parse_redis(text + strlen("rediss://"), &tmp, &e);
    } else if (uri_has_prefix_ci(text, "sentinel://")) {
        st = uri_parse_sentinel(text + strlen("sentinel://"), &tmp, &e);
    } else if (uri_has_prefix_ci(text, "sentinels://")) {
        /* The same grammar as sentinel://; every connection (sentinels,
         * their subscribers and the master) uses TLS. */
        tmp.tls = 1;
        st = uri_parse_sentinel(text + strlen("sentinels://"), &tmp, &e);
    } else {
        st = uri_unknown_scheme(text, &e);
    }
    if (st == REDLOCK_OK)
        st = uri_build_display(&tmp, &e);
    if (st != REDLOCK_OK) {
        redlock__uri_clear(&tmp);
        return st;
    }
    *out = tmp;
    return REDLOCK_OK;
}

/* AUTH [user] password, argv style; 0 without a password. */
int redlock__uri_auth_args(const redlock__uri *u, const char *argv[3],
                           size_t lens[3])
{
    if (u->password == NULL)
        return 0;
    int argc = 0;
    argv[argc] = "AUTH";
    lens[argc++] = 4;
    if (u->user != NULL) {
        argv[argc] = u->user;
        lens[argc++] = strlen(u->user);
    }
    argv[argc] = u->password;
    lens[argc++] = strlen(u->password);
    return argc;
}

/* Wipe the password, free every string of u and zero it; NULL is ignored. */
void redlock__uri_clear(redlock__uri *u)
{
    if (u == NULL)
        return;
    if (u->password != NULL)
        uri_wipe_free(u->password, strlen(u->password));
    if (u->sentinel_password != NULL)
        uri_wipe_free(u->sentinel_password, strlen(u->sentinel_password));
    free(u->host);
    free(u->path);
    free(u->user);
    free(u->display);
    free(u->master_name);
    free(u->sentinel_user);
    for (size_t i = 0; i < u->n_seeds && i < REDLOCK__URI_SEEDS_MAX; i++)
        free(u->seeds[i].host);
    memset(u, 0, sizeof *u);
}

/* A server URI for host:port with the given credentials, TLS and db. */
static redlock_status uri_make_server(const char *host, int port,
                                      const char *user, const char *password,
                                      int tls, int db, redlock__uri *out)
{
    uri_err e = {NULL, 0};
    memset(out, 0, sizeof *out);
    out->tls = tls;
    out->port = port;
    out->db = db;
    out->host = strdup(host);
    out->user = user != NULL ? strdup(user) : NULL;
    out->password = password != NULL ? strdup(password) : NULL;
    if (out->host == NULL || (user != NULL && out->user == NULL) ||
        (password != NULL && out->password == NULL) ||
        uri_build_display(out, &e) != REDLOCK_OK) {
        redlock__uri_clear(out);
        return REDLOCK_ENOMEM;
    }
    return REDLOCK_OK;
}

redlock_status redlock__uri_member(const redlock__uri *u, const char *host,
                                   int port, redlock__uri *out)
{
    return uri_make_server(host, port, u->user, u->password, u->tls, u->db,
                           out);
}

redlock_status redlock__uri_sentinel_at(const redlock__uri *u, size_t i,
                                        redlock__uri *out)
{
    const char *host = i == 0 ? u->host : u->seeds[i - 1].host;
    int port = i == 0 ? u->port : u->seeds[i - 1].port;
    return uri_make_server(host, port, u->sentinel_user,
                           u->sentinel_password, u->tls, 0, out);
}

/* Host names compare without case; IP literals compare as addresses, so
 * "::1" and "0:0::1" are one host. */
static bool same_host(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    if (inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1)
        return memcmp(x, y, 16) == 0;
    if (inet_pton(AF_INET, a, x) == 1 && inet_pton(AF_INET, b, y) == 1)
        return memcmp(x, y, 4) == 0;
    return strcasecmp(a, b) == 0;
}

/* One server: the same unix path, or the same host and port. The
 * database and credentials do not matter: two databases of one server
 * fail together, so they are not independent nodes. */
bool redlock__uri_same_server(const redlock__uri *a, const redlock__uri *b)
{
    if (a->is_unix != b->is_unix)
        return false;
    /* A sentinel node is its master, whatever sentinel names it: two
     * naming one master through one sentinel are one node. Against a
     * server or a cluster it cannot be told here (the master's address is
     * learnt at run time; the run_id check covers it then). */
    if ((a->kind == REDLOCK__URI_SENTINEL) !=
        (b->kind == REDLOCK__URI_SENTINEL))
        return false;
    if (a->kind == REDLOCK__URI_SENTINEL &&
        (a->master_name == NULL || b->master_name == NULL ||
         strcmp(a->master_name, b->master_name) != 0))
        return false;
    if (a->is_unix)
        return a->path != NULL && b->path != NULL &&
               strcmp(a->path, b->path) == 0;
    return a->port == b->port && a->host != NULL && b->host != NULL &&
           same_host(a->host, b->host);
}
