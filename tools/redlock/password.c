/*
 * password.c: adding a password to node URIs that lack one (see
 * password.h).
 *
 * DESIGN. The password never travels on the command line (where ps(1)
 * shows it): it comes from the environment or a file and is merged into
 * the URIs in memory, right before they are handed to
 * redlock_manager_create_ex(). The rules mirror the library's parser
 * (src/uri.c): in redis://, rediss:// and sentinel[s]:// URIs (where
 * they are the data servers') the credentials end at the
 * LAST '@', and a password is present when the text between the first ':'
 * of the credentials and that '@' is not empty; in unix:// URIs it is the
 * "password" query parameter. Every buffer that held the password is
 * wiped before it is freed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero, strncasecmp */
#endif
#include "password.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A growing string; every step checks for room. */
typedef struct pw_buf {
    char *s;
    size_t len;
    size_t cap;
    int failed; /* an allocation failed: s is NULL */
} pw_buf;

/* Wipe n bytes at p; see password.h. */
void cli_password_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        explicit_bzero(p, n);
}

/* Wipe and free a URI; see password.h. */
void cli_password_free_uri(char *uri)
{
    if (uri == NULL)
        return;
    cli_password_wipe(uri, strlen(uri));
    free(uri);
}

/* Make room for extra more bytes plus a NUL; on failure wipe, free and
 * mark the buffer failed. Returns 0 or -1. */
static int pw_reserve(pw_buf *b, size_t extra)
{
    size_t want;
    char *grown;

    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    want = (b->len + extra + 1) * 2;
    grown = malloc(want);
    if (grown == NULL) {
        if (b->s != NULL) {
            cli_password_wipe(b->s, b->cap);
            free(b->s);
        }
        b->s = NULL;
        b->failed = 1;
        return -1;
    }
    if (b->s != NULL) {
        memcpy(grown, b->s, b->len);
        /* The old block may hold password bytes: wipe before freeing
         * rather than use realloc(), which would not. */
        cli_password_wipe(b->s, b->cap);
        free(b->s);
    }
    b->s = grown;
    b->cap = want;
    b->s[b->len] = '\0';
    return 0;
}

/* Append n bytes of s. */
static void pw_append(pw_buf *b, const char *s, size_t n)
{
    if (pw_reserve(b, n) != 0)
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* Append a C string. */
static void pw_append_str(pw_buf *b, const char *s)
{
    pw_append(b, s, strlen(s));
}

/* Append password percent-encoded: unreserved characters stay, every
 * other byte becomes %XX. */
static void pw_append_encoded(pw_buf *b, const char *password)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)password; *p != '\0';
         p++) {
        unsigned char c = *p;
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                    c == '_' || c == '~';
        if (plain) {
            char one = (char)c;
            pw_append(b, &one, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            pw_append(b, esc, 3);
        }
    }
}

/* Hand the built string to the caller, or NULL if it failed. */
static char *pw_finish(pw_buf *b)
{
    return b->failed ? NULL : b->s;
}

/* redis:// form: rest is the text after "redis://". */
static char *pw_inject_redis(const char *uri, size_t scheme_len,
                             const char *password)
{
    const char *rest = uri + scheme_len;
    const char *at = strrchr(rest, '@');
    pw_buf b = {0};

    if (at != NULL) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));

        if (colon != NULL && colon + 1 < at)
            return strdup(uri); /* it has a password of its own */
        /* "user@host", "user:@host" or ":@host": keep the user. */
        pw_append(&b, uri, scheme_len);
        pw_append(&b, rest,
                  colon != NULL ? (size_t)(colon - rest) : (size_t)(at - rest));
        pw_append_str(&b, ":");
        pw_append_encoded(&b, password);
        pw_append_str(&b, at);
        return pw_finish(&b);
    }
    pw_append(&b, uri, scheme_len);
    pw_append_str(&b, ":");
    pw_append_encoded(&b, password);
    pw_append_str(&b, "@");
    pw_append_str(&b, rest);
    return pw_finish(&b);
}

/* sentinel[s]:// form: as redis://, but a '@' in the query (after a '?')
 * is not the end of credentials; the parser refuses such a URI, so it is
 * copied unchanged rather than given our password inside its query. */
static char *pw_inject_sentinel(const char *uri, size_t scheme_len,
                                const char *password)
{
    const char *q = strchr(uri + scheme_len, '?');
    const char *at = strrchr(uri + scheme_len, '@');

    if (q != NULL && at != NULL && q < at)
        return strdup(uri);
    return pw_inject_redis(uri, scheme_len, password);
}

/* 1 if the n bytes of a query parameter at p are "password=" followed by
 * a non-empty value, 2 if the value is empty, 0 if it is another key. */
static int pw_query_password(const char *p, size_t n)
{
    static const char key[] = "password=";
    size_t key_len = sizeof(key) - 1;

    if (n < key_len || memcmp(p, key, key_len) != 0)
        return 0;
    return n > key_len ? 1 : 2;
}

/* unix:// form: copy the path and the query, dropping an empty password
 * parameter, then add ours. */
static char *pw_inject_unix(const char *uri, const char *password)
{
    const char *q = strchr(uri, '?');
    pw_buf b = {0};
    int params = 0;

    if (q == NULL) {
        pw_append_str(&b, uri);
        pw_append_str(&b, "?password=");
        pw_append_encoded(&b, password);
        return pw_finish(&b);
    }
    /* First pass: does it already carry a password? */
    for (const char *p = q + 1;;) {
        const char *amp = strchr(p, '&');
        size_t n = amp != NULL ? (size_t)(amp - p) : strlen(p);

        if (pw_query_password(p, n) == 1)
            return strdup(uri);
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    pw_append(&b, uri, (size_t)(q - uri));
    for (const char *p = q + 1;;) {
        const char *amp = strchr(p, '&');
        size_t n = amp != NULL ? (size_t)(amp - p) : strlen(p);

        if (n > 0 && pw_query_password(p, n) == 0) {
            pw_append_str(&b, params == 0 ? "?" : "&");
            pw_append(&b, p, n);
            params++;
        }
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    pw_append_str(&b, params == 0 ? "?password=" : "&password=");
    pw_append_encoded(&b, password);
    return pw_finish(&b);
}

/* Add password to uri unless it has one; see password.h. */
char *cli_password_inject(const char *uri, const char *password)
{
    static const char redis_scheme[] = "redis://";
    static const char rediss_scheme[] = "rediss://";
    static const char unix_scheme[] = "unix://";
    /* The userinfo of a sentinel URI is the data servers' (the
     * sentinels' own password is a query parameter, left alone). */
    static const char sentinel_scheme[] = "sentinel://";
    static const char sentinels_scheme[] = "sentinels://";

    if (uri == NULL)
        return NULL;
    if (password == NULL || password[0] == '\0')
        return strdup(uri);
    if (strncasecmp(uri, redis_scheme, sizeof(redis_scheme) - 1) == 0)
        return pw_inject_redis(uri, sizeof(redis_scheme) - 1, password);
    if (strncasecmp(uri, rediss_scheme, sizeof(rediss_scheme) - 1) == 0)
        return pw_inject_redis(uri, sizeof(rediss_scheme) - 1, password);
    if (strncasecmp(uri, unix_scheme, sizeof(unix_scheme) - 1) == 0)
        return pw_inject_unix(uri, password);
    if (strncasecmp(uri, sentinel_scheme, sizeof(sentinel_scheme) - 1) == 0)
        return pw_inject_sentinel(uri, sizeof(sentinel_scheme) - 1,
                                  password);
    if (strncasecmp(uri, sentinels_scheme, sizeof(sentinels_scheme) - 1) ==
        0)
        return pw_inject_sentinel(uri, sizeof(sentinels_scheme) - 1,
                                  password);
    return strdup(uri);
}
