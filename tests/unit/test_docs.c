/*
 * test_docs.c: the public header and the docs agree.
 *
 * Reads include/redlock.h, docs/api.md and docs/errors.md from the source
 * tree (REDLOCK_SOURCE_DIR, set by cmake/RedlockTest.cmake) and checks:
 *   - every function declared with REDLOCK_API has a block comment that
 *     ends right before its declaration (only whitespace between, no blank
 *     line). A run of adjacent REDLOCK_API declarations with no blank line
 *     between them shares the comment before the run, as
 *     redlock_manager_node_count() and redlock_manager_quorum() do;
 *   - every such function has a "## <name>" heading in docs/api.md, and
 *     every "## redlock_..." heading there names such a function;
 *   - every status of REDLOCK_STATUS_MAP appears as REDLOCK_<NAME> (a whole
 *     word) in a heading or a table row of docs/errors.md.
 * Each missing item is printed, then the test fails. A last test runs the
 * same checkers on small made-up texts, to show that they do catch gaps.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redlock.h"

#ifndef REDLOCK_SOURCE_DIR
#error "REDLOCK_SOURCE_DIR must be defined (cmake/RedlockTest.cmake)"
#endif

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

/* The whole of REDLOCK_SOURCE_DIR/rel as a NUL-terminated string, or NULL
 * (with a message) if it cannot be read. The caller frees it. */
static char *read_source_file(const char *rel)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", REDLOCK_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        print_error("cannot open %s\n", path);
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (len + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        if (got == 0)
            break;
        len += got;
    }
    fclose(f);
    if (buf == NULL) {
        print_error("out of memory reading %s\n", path);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* ------------------------------------------------------------------------
 * Header scanning
 * ------------------------------------------------------------------------ */

/* One REDLOCK_API function declaration. */
typedef struct decl {
    char name[128];
    bool has_comment;
    size_t line; /* 1-based line of REDLOCK_API */
} decl;

typedef struct decl_list {
    decl *v;
    size_t len, cap;
} decl_list;

static bool ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* 1-based line number of offset i in s. */
static size_t line_of(const char *s, size_t i)
{
    size_t line = 1;
    for (size_t k = 0; k < i && s[k] != '\0'; k++)
        if (s[k] == '\n')
            line++;
    return line;
}

/* If s[i] starts a comment or a string/char literal, return the offset
 * just past it; otherwise return i. An unterminated one runs to the end. */
static size_t skip_comment_or_literal(const char *s, size_t i)
{
    if (s[i] == '/' && s[i + 1] == '*') {
        const char *end = strstr(s + i + 2, "*/");
        return end != NULL ? (size_t)(end - s) + 2 : strlen(s);
    }
    if (s[i] == '/' && s[i + 1] == '/') {
        while (s[i] != '\0' && s[i] != '\n')
            i++;
        return i;
    }
    if (s[i] == '"' || s[i] == '\'') {
        char q = s[i++];
        while (s[i] != '\0' && s[i] != q && s[i] != '\n') {
            if (s[i] == '\\' && s[i + 1] != '\0')
                i++;
            i++;
        }
        return s[i] == q ? i + 1 : i;
    }
    return i;
}

/* Offset of the first `ch` at or after i outside comments and literals,
 * or (size_t)-1. */
static size_t find_code_char(const char *s, size_t i, char ch)
{
    while (s[i] != '\0') {
        size_t j = skip_comment_or_literal(s, i);
        if (j != i) {
            i = j;
            continue;
        }
        if (s[i] == ch)
            return i;
        i++;
    }
    return (size_t)-1;
}

/* Whether the REDLOCK_API declaration starting at `start` is directly
 * preceded by a block comment, either its own or (through `prev`) that of
 * the run of declarations it belongs to. prev_end is the offset of the ';'
 * ending the previous REDLOCK_API declaration, or (size_t)-1. */
static bool comment_before(const char *s, size_t start, size_t prev_end,
                           bool prev_has_comment)
{
    size_t k = start;
    int newlines = 0;
    while (k > 0 && isspace((unsigned char)s[k - 1])) {
        if (s[k - 1] == '\n')
            newlines++;
        k--;
    }
    if (newlines > 1)
        return false; /* a blank line separates it from what is above */
    if (k >= 2 && s[k - 2] == '*' && s[k - 1] == '/')
        return true;
    if (prev_end != (size_t)-1 && k >= 1 && k - 1 == prev_end)
        return prev_has_comment;
    return false;
}

/* Append one declaration; false on OOM. */
static bool decl_push(decl_list *l, const decl *d)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        decl *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return false;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->len++] = *d;
    return true;
}

/* Collect every REDLOCK_API function declared in header text s (outside
 * comments, literals and preprocessor directives). Returns false if a
 * declaration could not be parsed (message printed). */
static bool scan_header(const char *s, decl_list *out)
{
    size_t i = 0;
    bool line_start = true;
    size_t prev_end = (size_t)-1;
    bool prev_has_comment = false;
    while (s[i] != '\0') {
        char c = s[i];
        if (c == '\n') {
            line_start = true;
            i++;
            continue;
        }
        if (isspace((unsigned char)c)) {
            i++;
            continue;
        }
        size_t j = skip_comment_or_literal(s, i);
        if (j != i) {
            i = j;
            continue;
        }
        if (line_start && c == '#') {
            /* A directive, with its backslash continuations. */
            while (s[i] != '\0' && s[i] != '\n') {
                if (s[i] == '\\' && s[i + 1] == '\n') {
                    i += 2;
                    continue;
                }
                j = skip_comment_or_literal(s, i);
                i = j != i ? j : i + 1;
            }
            continue;
        }
        line_start = false;
        if (!ident_start(c)) {
            i++;
            continue;
        }
        j = i;
        while (ident_char(s[j]))
            j++;
        if (j - i != strlen("REDLOCK_API") ||
            memcmp(s + i, "REDLOCK_API", j - i) != 0) {
            i = j;
            continue;
        }
        /* A declaration: the name is the identifier before the first '('. */
        size_t paren = find_code_char(s, j, '(');
        size_t semi = find_code_char(s, j, ';');
        if (paren == (size_t)-1 || semi == (size_t)-1 || paren > semi) {
            print_error("header line %zu: REDLOCK_API without a function "
                        "declaration\n",
                        line_of(s, i));
            return false;
        }
        size_t e = paren;
        while (e > j && isspace((unsigned char)s[e - 1]))
            e--;
        size_t b = e;
        while (b > j && ident_char(s[b - 1]))
            b--;
        decl d;
        memset(&d, 0, sizeof(d));
        if (b == e || e - b >= sizeof(d.name)) {
            print_error("header line %zu: cannot find the function name\n",
                        line_of(s, i));
            return false;
        }
        memcpy(d.name, s + b, e - b);
        d.line = line_of(s, i);
        d.has_comment = comment_before(s, i, prev_end, prev_has_comment);
        if (!decl_push(out, &d)) {
            print_error("out of memory\n");
            return false;
        }
        prev_end = semi;
        prev_has_comment = d.has_comment;
        i = semi + 1;
    }
    return true;
}

/* ------------------------------------------------------------------------
 * Markdown scanning
 * ------------------------------------------------------------------------ */

/* Length of the line starting at p, without its "\n" or "\r\n". */
static size_t line_len(const char *p)
{
    size_t n = strcspn(p, "\n");
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return n;
}

/* Next line after p, or NULL at the end. */
static const char *next_line(const char *p)
{
    const char *nl = strchr(p, '\n');
    return nl != NULL ? nl + 1 : NULL;
}

/* True if md has a line that is exactly "## name". */
static bool has_h2(const char *md, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *p = md; p != NULL && *p != '\0'; p = next_line(p)) {
        size_t n = line_len(p);
        if (n == 3 + nlen && memcmp(p, "## ", 3) == 0 &&
            memcmp(p + 3, name, nlen) == 0)
            return true;
    }
    return false;
}

/* True if word occurs in the n bytes at p as a whole identifier. */
static bool has_word(const char *p, size_t n, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++) {
        if (memcmp(p + i, word, w) != 0)
            continue;
        bool left = i == 0 || !ident_char(p[i - 1]);
        bool right = i + w == n || !ident_char(p[i + w]);
        if (left && right)
            return true;
    }
    return false;
}

/* True if md has a heading or a table row naming word. */
static bool has_heading_or_row(const char *md, const char *word)
{
    for (const char *p = md; p != NULL && *p != '\0'; p = next_line(p)) {
        size_t n = line_len(p);
        size_t lead = 0;
        while (lead < n && (p[lead] == ' ' || p[lead] == '\t'))
            lead++;
        if (lead < n && (p[lead] == '#' || p[lead] == '|') &&
            has_word(p, n, word))
            return true;
    }
    return false;
}

/* ------------------------------------------------------------------------
 * The checks, shared by the real test and the self-test
 * ------------------------------------------------------------------------ */

/* Problems between a header and its api.md: functions without a comment,
 * functions without a heading, and "## redlock_*" headings naming no
 * function. Prints each if verbose. Returns the count, or (size_t)-1 if
 * the header could not be scanned. *nfuncs receives the function count. */
static size_t header_vs_api(const char *header, const char *api, bool verbose,
                            size_t *nfuncs)
{
    decl_list l = {0};
    if (!scan_header(header, &l)) {
        free(l.v);
        return (size_t)-1;
    }
    size_t problems = 0;
    for (size_t i = 0; i < l.len; i++) {
        if (!l.v[i].has_comment) {
            problems++;
            if (verbose)
                print_error("include/redlock.h:%zu: %s has no /* ... */ "
                            "comment right before its declaration\n",
                            l.v[i].line, l.v[i].name);
        }
        if (!has_h2(api, l.v[i].name)) {
            problems++;
            if (verbose)
                print_error("docs/api.md: no \"## %s\" section\n",
                            l.v[i].name);
        }
    }
    for (const char *p = api; p != NULL && *p != '\0'; p = next_line(p)) {
        size_t n = line_len(p);
        if (n <= 3 || memcmp(p, "## redlock_", 11) != 0)
            continue;
        bool known = false;
        for (size_t i = 0; i < l.len && !known; i++)
            known = strlen(l.v[i].name) == n - 3 &&
                    memcmp(l.v[i].name, p + 3, n - 3) == 0;
        bool ident = true;
        for (size_t k = 3; k < n; k++)
            ident = ident && ident_char(p[k]);
        if (ident && !known) {
            problems++;
            if (verbose)
                print_error("docs/api.md: section \"%.*s\" names no "
                            "REDLOCK_API function of the header\n",
                            (int)n, p);
        }
    }
    if (nfuncs != NULL)
        *nfuncs = l.len;
    free(l.v);
    return problems;
}

/* Statuses of names[] with no heading or table row in errors_md. */
static size_t statuses_vs_errors(const char *errors_md,
                                 const char *const *names, size_t n,
                                 bool verbose)
{
    size_t problems = 0;
    for (size_t i = 0; i < n; i++) {
        if (!has_heading_or_row(errors_md, names[i])) {
            problems++;
            if (verbose)
                print_error("docs/errors.md: no section or table row for "
                            "%s\n",
                            names[i]);
        }
    }
    return problems;
}

/* Every status name, from the same list that makes the enum. */
static const char *const status_names[] = {
#define X(name, num, msg) "REDLOCK_" #name,
    REDLOCK_STATUS_MAP(X)
#undef X
};
#define STATUS_COUNT (sizeof(status_names) / sizeof(status_names[0]))

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

/* The header's REDLOCK_API functions are commented and documented. */
static void test_header_functions_documented(void **state)
{
    (void)state;
    char *header = read_source_file("include/redlock.h");
    char *api = read_source_file("docs/api.md");
    assert_non_null(header);
    assert_non_null(api);
    size_t nfuncs = 0;
    size_t problems = header_vs_api(header, api, true, &nfuncs);
    assert_true(problems != (size_t)-1);
    /* Guard against a scanner that silently finds nothing. */
    assert_true(nfuncs >= 40);
    decl_list l = {0};
    assert_true(scan_header(header, &l));
    bool saw_first = false, saw_last = false;
    for (size_t i = 0; i < l.len; i++) {
        saw_first |= strcmp(l.v[i].name, "redlock_strerror") == 0;
        saw_last |= strcmp(l.v[i].name, "redlock_election_destroy") == 0;
    }
    free(l.v);
    assert_true(saw_first);
    assert_true(saw_last);
    if (problems != 0)
        print_error("%zu problem(s) between include/redlock.h and "
                    "docs/api.md\n",
                    problems);
    assert_int_equal(problems, 0);
    free(header);
    free(api);
}

/* Every status has its place in docs/errors.md. */
static void test_statuses_documented(void **state)
{
    (void)state;
    char *errors = read_source_file("docs/errors.md");
    assert_non_null(errors);
    assert_true(STATUS_COUNT >= 19);
    size_t problems =
        statuses_vs_errors(errors, status_names, STATUS_COUNT, true);
    if (problems != 0)
        print_error("%zu status(es) missing from docs/errors.md\n", problems);
    assert_int_equal(problems, 0);
    free(errors);
}

/* The checkers catch what they are meant to catch. */
static void test_checkers_catch_gaps(void **state)
{
    (void)state;
    static const char header[] =
        "#define REDLOCK_API __attribute__((visibility(\"default\")))\n"
        "/* Documented. */\n"
        "REDLOCK_API int redlock_ok(void);\n"
        "\n"
        "REDLOCK_API int redlock_no_comment(void);\n"
        "/* A run of two shares this comment. */\n"
        "REDLOCK_API int redlock_run_a(void);\n"
        "REDLOCK_API const char *redlock_run_b(int x);\n"
        "/* Separated by a blank line. */\n"
        "\n"
        "REDLOCK_API void redlock_blank(void);\n"
        "// A line comment does not count.\n"
        "REDLOCK_API void redlock_slashes(void);\n";
    static const char api_full[] = "# API\n"
                                   "## redlock_ok\n"
                                   "## redlock_no_comment\n"
                                   "## redlock_run_a\n"
                                   "## redlock_run_b  \n"
                                   "## redlock_blank\n"
                                   "## redlock_slashes\n";
    static const char api_gaps[] = "## redlock_ok\n"
                                   "## redlock_no_comment\n"
                                   "### redlock_run_a\n"
                                   "## redlock_run_bb\n"
                                   "## redlock_blank\n"
                                   "## redlock_slashes\n";
    size_t nfuncs = 0;
    /* Comments: redlock_no_comment, redlock_blank, redlock_slashes. */
    assert_int_equal(header_vs_api(header, api_full, false, &nfuncs), 3);
    assert_int_equal(nfuncs, 6);
    /* Plus: run_a and run_b without a heading, run_bb naming nothing. */
    assert_int_equal(header_vs_api(header, api_gaps, false, NULL), 6);

    static const char errors[] =
        "| 1 | `REDLOCK_ETAKEN` | busy |\n"
        "## REDLOCK_EIO (9)\n"
        "Mentioned only in prose: REDLOCK_EPROTO.\n"
        "| `REDLOCK_EAUTHX` | a longer name is not a match |\n"
        "  | `REDLOCK_ENOMEM` | an indented row counts |\n";
    const char *const names[] = {"REDLOCK_ETAKEN", "REDLOCK_EIO",
                                 "REDLOCK_EPROTO", "REDLOCK_EAUTH",
                                 "REDLOCK_EURI",   "REDLOCK_ENOMEM"};
    /* Missing: EPROTO (prose only), EAUTH (only as part of a longer
     * word), EURI (absent). */
    assert_int_equal(statuses_vs_errors(errors, names, 6, false), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_functions_documented),
        cmocka_unit_test(test_statuses_documented),
        cmocka_unit_test(test_checkers_catch_gaps),
    };
    return cmocka_run_group_tests_name("docs", tests, NULL, NULL);
}
