/*
 * json.h: the little JSON that redlock-bench needs: a writer for its
 * one-object-per-line output, and a strict checker with path lookup that
 * the unit and smoke tests use to read that output back (no dependency on
 * python or a JSON library).
 */
#ifndef REDLOCK_BENCH_JSON_H
#define REDLOCK_BENCH_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Deepest nesting the writer and the checker accept. */
#define BENCH_JSON_DEPTH_MAX 16

/* A writer into a caller-owned buffer. Once the buffer is full every later
 * call does nothing and bench_json_finish() reports the overflow. */
typedef struct bench_json {
    char *buf;
    size_t cap;
    size_t len;
    int overflow;
    int depth;
    int need_comma[BENCH_JSON_DEPTH_MAX];
} bench_json;

/* Start writing into buf (cap bytes, cap >= 1). */
void bench_json_init(bench_json *j, char *buf, size_t cap);

/* Open / close an object or array. key is the member name inside an
 * object, NULL at top level or inside an array. */
void bench_json_object_begin(bench_json *j, const char *key);
void bench_json_object_end(bench_json *j);
void bench_json_array_begin(bench_json *j, const char *key);
void bench_json_array_end(bench_json *j);

/* Members (key NULL inside an array). Strings are escaped; doubles that
 * are not finite are written as null; bench_json_num uses up to `decimals`
 * digits after the point, trailing zeros trimmed. */
void bench_json_str(bench_json *j, const char *key, const char *v);
void bench_json_u64(bench_json *j, const char *key, uint64_t v);
void bench_json_i64(bench_json *j, const char *key, int64_t v);
void bench_json_num(bench_json *j, const char *key, double v, int decimals);
void bench_json_bool(bench_json *j, const char *key, int v);
void bench_json_null(bench_json *j, const char *key);

/* NUL-terminate; returns the length, or -1 if anything did not fit or the
 * nesting is not closed. */
int bench_json_finish(bench_json *j);

/*
 * Check that s is exactly one JSON value (RFC 8259), optionally surrounded
 * by whitespace. Returns 0, or -1 with a short reason and byte offset in
 * err (may be NULL).
 */
int bench_json_check(const char *s, char *err, size_t errlen);

/*
 * Find the value at path in the JSON object s: member names separated by
 * dots, such as "failures.taken". Stores where its text starts and its
 * length. Returns 0, or -1 if s is not valid or the path is missing.
 * Member names are compared byte for byte (no escapes in them).
 */
int bench_json_find(const char *s, const char *path, const char **val,
                    size_t *vlen);

/* The number at path (-1 if missing or not a number). */
int bench_json_number(const char *s, const char *path, double *out);

/* The string at path, unescaped only for \" and \\ (others copied as
 * is), into out (-1 if missing, not a string, or too long). */
int bench_json_string(const char *s, const char *path, char *out,
                      size_t outlen);

/* 1 if the value at path is null, 0 if present and not null, -1 if
 * missing. */
int bench_json_is_null(const char *s, const char *path);

#endif /* REDLOCK_BENCH_JSON_H */
