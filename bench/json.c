/*
 * json.c: JSON writer and checker for redlock-bench (see json.h).
 *
 * The checker is a recursive-descent parser that validates without
 * building a tree; bench_json_find() runs the same parser and remembers
 * where the wanted member's value is. Nesting is bounded by
 * BENCH_JSON_DEPTH_MAX so hostile input cannot exhaust the stack.
 */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Writer
 * ------------------------------------------------------------------------ */

/* Start an empty document in buf. */
void bench_json_init(bench_json *j, char *buf, size_t cap)
{
    memset(j, 0, sizeof(*j));
    j->buf = buf;
    j->cap = cap;
    if (cap > 0)
        buf[0] = '\0';
}

/* Append n raw bytes, flagging overflow (one byte is kept for the NUL). */
static void put(bench_json *j, const char *s, size_t n)
{
    if (j->overflow)
        return;
    if (j->len + n + 1 > j->cap) {
        j->overflow = 1;
        return;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

/* Append a formatted string. */
static void putf(bench_json *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void putf(bench_json *j, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        j->overflow = 1;
        return;
    }
    put(j, tmp, (size_t)n);
}

/* Append s as a JSON string literal with the required escapes. */
static void put_string(bench_json *j, const char *s)
{
    put(j, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            put(j, esc, 2);
        } else if (*p < 0x20) {
            putf(j, "\\u%04x", (unsigned)*p);
        } else {
            put(j, (const char *)p, 1);
        }
    }
    put(j, "\"", 1);
}

/* The comma before a member and its key, if any. */
static void member(bench_json *j, const char *key)
{
    if (j->depth > 0 && j->need_comma[j->depth - 1])
        put(j, ",", 1);
    if (j->depth > 0)
        j->need_comma[j->depth - 1] = 1;
    if (key != NULL) {
        put_string(j, key);
        put(j, ":", 1);
    }
}

/* Open a container with the bracket c. */
static void open_container(bench_json *j, const char *key, const char *c)
{
    member(j, key);
    put(j, c, 1);
    if (j->depth >= BENCH_JSON_DEPTH_MAX) {
        j->overflow = 1;
        return;
    }
    j->need_comma[j->depth++] = 0;
}

/* Close a container with the bracket c. */
static void close_container(bench_json *j, const char *c)
{
    if (j->depth == 0) {
        j->overflow = 1;
        return;
    }
    j->depth--;
    put(j, c, 1);
}

/* Open an object. */
void bench_json_object_begin(bench_json *j, const char *key)
{
    open_container(j, key, "{");
}

/* Close an object. */
void bench_json_object_end(bench_json *j)
{
    close_container(j, "}");
}

/* Open an array. */
void bench_json_array_begin(bench_json *j, const char *key)
{
    open_container(j, key, "[");
}

/* Close an array. */
void bench_json_array_end(bench_json *j)
{
    close_container(j, "]");
}

/* A string member. */
void bench_json_str(bench_json *j, const char *key, const char *v)
{
    member(j, key);
    put_string(j, v != NULL ? v : "");
}

/* An unsigned integer member. */
void bench_json_u64(bench_json *j, const char *key, uint64_t v)
{
    member(j, key);
    putf(j, "%" PRIu64, v);
}

/* A signed integer member. */
void bench_json_i64(bench_json *j, const char *key, int64_t v)
{
    member(j, key);
    putf(j, "%" PRId64, v);
}

/* A number member with up to `decimals` fraction digits, zeros trimmed
 * ("2.50" -> "2.5", "3.000" -> "3"); null when not finite. */
void bench_json_num(bench_json *j, const char *key, double v, int decimals)
{
    char tmp[64];
    int n;

    member(j, key);
    if (!isfinite(v)) {
        put(j, "null", 4);
        return;
    }
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    n = snprintf(tmp, sizeof(tmp), "%.*f", decimals, v);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        j->overflow = 1;
        return;
    }
    if (strchr(tmp, '.') != NULL) {
        while (n > 0 && tmp[n - 1] == '0')
            tmp[--n] = '\0';
        if (n > 0 && tmp[n - 1] == '.')
            tmp[--n] = '\0';
    }
    if (strcmp(tmp, "-0") == 0)
        put(j, "0", 1);
    else
        put(j, tmp, (size_t)n);
}

/* A boolean member. */
void bench_json_bool(bench_json *j, const char *key, int v)
{
    member(j, key);
    if (v)
        put(j, "true", 4);
    else
        put(j, "false", 5);
}

/* A null member. */
void bench_json_null(bench_json *j, const char *key)
{
    member(j, key);
    put(j, "null", 4);
}

/* Finish: the length, or -1 on overflow or unclosed nesting. */
int bench_json_finish(bench_json *j)
{
    if (j->overflow || j->depth != 0 || j->len > (size_t)INT32_MAX)
        return -1;
    return (int)j->len;
}

/* ------------------------------------------------------------------------
 * Checker
 * ------------------------------------------------------------------------ */

/* Parser state: the input, the first error, and the member being looked
 * for (path split at dots) with where its value was found. */
typedef struct jparse {
    const char *start;
    const char *err_at;
    const char *err_what;
    const char *path;    /* remaining path, or NULL when not searching */
    const char *found;   /* start of the value at path */
    size_t found_len;
} jparse;

static const char *parse_value(jparse *p, const char *s, int depth,
                               const char *path);

/* Record the first error and return NULL. */
static const char *fail(jparse *p, const char *at, const char *what)
{
    if (p->err_at == NULL) {
        p->err_at = at;
        p->err_what = what;
    }
    return NULL;
}

/* Skip JSON whitespace. */
static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

/* A string literal starting at its quote; returns the byte after it. */
static const char *parse_string(jparse *p, const char *s)
{
    s++; /* opening quote */
    for (;;) {
        unsigned char c = (unsigned char)*s;
        if (c == '"')
            return s + 1;
        if (c == '\0')
            return fail(p, s, "unterminated string");
        if (c < 0x20)
            return fail(p, s, "control character in string");
        if (c == '\\') {
            s++;
            switch (*s) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n':
            case 'r': case 't':
                s++;
                break;
            case 'u':
                for (int i = 1; i <= 4; i++) {
                    char h = s[i];
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') ||
                          (h >= 'A' && h <= 'F')))
                        return fail(p, s + i, "bad \\u escape");
                }
                s += 5;
                break;
            default:
                return fail(p, s, "bad escape");
            }
            continue;
        }
        s++;
    }
}

/* A number per the JSON grammar (no leading zeros, no '+', no hex). */
static const char *parse_number(jparse *p, const char *s)
{
    const char *q = s;
    if (*q == '-')
        q++;
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        while (*q >= '0' && *q <= '9')
            q++;
    } else {
        return fail(p, q, "bad number");
    }
    if (*q == '.') {
        q++;
        if (!(*q >= '0' && *q <= '9'))
            return fail(p, q, "digit expected after '.'");
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-')
            q++;
        if (!(*q >= '0' && *q <= '9'))
            return fail(p, q, "digit expected in exponent");
        while (*q >= '0' && *q <= '9')
            q++;
    }
    return q;
}

/* 1 if the key literal at k (after its quote, len bytes) is the first
 * segment of path; *rest gets what follows the segment ("" or after the
 * dot). */
static int key_matches(const char *k, size_t len, const char *path,
                       const char **rest)
{
    const char *dot = strchr(path, '.');
    size_t seg = dot != NULL ? (size_t)(dot - path) : strlen(path);
    if (seg != len || memcmp(k, path, len) != 0)
        return 0;
    *rest = dot != NULL ? dot + 1 : "";
    return 1;
}

/* An object starting at '{'. When path is not NULL, the member it names
 * is searched for (recursively). */
static const char *parse_object(jparse *p, const char *s, int depth,
                                const char *path)
{
    s = skip_ws(s + 1);
    if (*s == '}')
        return s + 1;
    for (;;) {
        const char *kstart, *kend, *rest = NULL, *sub = NULL;
        const char *vstart;
        if (*s != '"')
            return fail(p, s, "member name expected");
        kstart = s + 1;
        kend = parse_string(p, s);
        if (kend == NULL)
            return NULL;
        if (path != NULL && p->found == NULL &&
            key_matches(kstart, (size_t)(kend - 1 - kstart), path, &rest))
            sub = rest;
        s = skip_ws(kend);
        if (*s != ':')
            return fail(p, s, "':' expected");
        s = skip_ws(s + 1);
        vstart = s;
        s = parse_value(p, s, depth + 1,
                        (sub != NULL && *sub != '\0') ? sub : NULL);
        if (s == NULL)
            return NULL;
        if (sub != NULL && *sub == '\0' && p->found == NULL) {
            p->found = vstart;
            p->found_len = (size_t)(s - vstart);
        }
        s = skip_ws(s);
        if (*s == '}')
            return s + 1;
        if (*s != ',')
            return fail(p, s, "',' or '}' expected");
        s = skip_ws(s + 1);
    }
}

/* An array starting at '['. */
static const char *parse_array(jparse *p, const char *s, int depth)
{
    s = skip_ws(s + 1);
    if (*s == ']')
        return s + 1;
    for (;;) {
        s = parse_value(p, s, depth + 1, NULL);
        if (s == NULL)
            return NULL;
        s = skip_ws(s);
        if (*s == ']')
            return s + 1;
        if (*s != ',')
            return fail(p, s, "',' or ']' expected");
        s = skip_ws(s + 1);
    }
}

/* Any value at s (whitespace already skipped); returns the byte after. */
static const char *parse_value(jparse *p, const char *s, int depth,
                               const char *path)
{
    if (depth > BENCH_JSON_DEPTH_MAX)
        return fail(p, s, "nested too deep");
    switch (*s) {
    case '{':
        return parse_object(p, s, depth, path);
    case '[':
        return parse_array(p, s, depth);
    case '"':
        return parse_string(p, s);
    case 't':
        return strncmp(s, "true", 4) == 0 ? s + 4 : fail(p, s, "bad literal");
    case 'f':
        return strncmp(s, "false", 5) == 0 ? s + 5
                                           : fail(p, s, "bad literal");
    case 'n':
        return strncmp(s, "null", 4) == 0 ? s + 4 : fail(p, s, "bad literal");
    default:
        if (*s == '-' || (*s >= '0' && *s <= '9'))
            return parse_number(p, s);
        return fail(p, s, *s == '\0' ? "unexpected end" : "value expected");
    }
}

/* Parse the whole of s, searching path if not NULL. Returns 0 or -1. */
static int parse_all(jparse *p, const char *s, const char *path)
{
    const char *end;

    memset(p, 0, sizeof(*p));
    p->start = s;
    if (s == NULL)
        return -1;
    end = parse_value(p, skip_ws(s), 0, path);
    if (end == NULL)
        return -1;
    end = skip_ws(end);
    if (*end != '\0') {
        fail(p, end, "junk after the value");
        return -1;
    }
    return 0;
}

/* Validate s; explain the first problem in err. */
int bench_json_check(const char *s, char *err, size_t errlen)
{
    jparse p;

    if (parse_all(&p, s, NULL) == 0)
        return 0;
    if (err != NULL && errlen > 0) {
        if (p.err_at != NULL)
            snprintf(err, errlen, "%s at byte %ld", p.err_what,
                     (long)(p.err_at - s));
        else
            snprintf(err, errlen, "not JSON");
    }
    return -1;
}

/* Find the value at path. */
int bench_json_find(const char *s, const char *path, const char **val,
                    size_t *vlen)
{
    jparse p;

    if (path == NULL || *path == '\0')
        return -1;
    if (parse_all(&p, s, path) != 0 || p.found == NULL)
        return -1;
    *val = p.found;
    *vlen = p.found_len;
    return 0;
}

/* The number at path. */
int bench_json_number(const char *s, const char *path, double *out)
{
    const char *v;
    size_t len;
    char tmp[64];
    char *end;

    if (bench_json_find(s, path, &v, &len) != 0)
        return -1;
    if (len == 0 || len >= sizeof(tmp) || !(*v == '-' || (*v >= '0' &&
                                                          *v <= '9')))
        return -1;
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    *out = strtod(tmp, &end);
    return *end == '\0' ? 0 : -1;
}

/* The string at path, with \" and \\ unescaped. */
int bench_json_string(const char *s, const char *path, char *out,
                      size_t outlen)
{
    const char *v;
    size_t len, o = 0;

    if (bench_json_find(s, path, &v, &len) != 0 || len < 2 || *v != '"' ||
        outlen == 0)
        return -1;
    for (size_t i = 1; i + 1 < len; i++) {
        char c = v[i];
        if (c == '\\' && (v[i + 1] == '"' || v[i + 1] == '\\') &&
            i + 2 < len)
            c = v[++i];
        if (o + 1 >= outlen)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Whether the value at path is null. */
int bench_json_is_null(const char *s, const char *path)
{
    const char *v;
    size_t len;

    if (bench_json_find(s, path, &v, &len) != 0)
        return -1;
    return (len == 4 && memcmp(v, "null", 4) == 0) ? 1 : 0;
}
