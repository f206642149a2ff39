/*
 * test_tool_tls.c: the TLS settings shared by `redlock` and
 * `redlock-bench` (tools/common/tls_opts.c): which of the flags and the
 * REDLOCK_TLS_* variables wins, the certificate and key as a pair, empty
 * values, the rediss:// test, and how tool_tls_apply() turns a CA path
 * into tls_ca_file or tls_ca_dir and refuses unreadable files with a
 * message naming their source.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cmocka.h>

#include "../../tools/common/tls_opts.c"

/* One row: flags, environment, and the expected outcome. */
typedef struct tls_row {
    tool_tls_flags f;
    const char *env_ca, *env_cert, *env_key;
    int rc;
    const char *ca, *ca_from, *cert, *key, *cert_from;
    const char *why_has; /* rc -1: a word the reason must contain */
} tls_row;

/* Every rule of tls_opts.h, one row each. */
static void test_resolve_table(void **state)
{
    static const tls_row rows[] = {
        /* Nothing anywhere: nothing set. */
        {{NULL, NULL, NULL, 0}, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL,
         NULL, NULL},
        /* Environment only. */
        {{NULL, NULL, NULL, 0}, "e-ca", "e-crt", "e-key", 0, "e-ca",
         "REDLOCK_TLS_CA", "e-crt", "e-key", "REDLOCK_TLS_CERT", NULL},
        /* The CA flag wins over its variable; the pair still from env. */
        {{"f-ca", NULL, NULL, 0}, "e-ca", "e-crt", "e-key", 0, "f-ca",
         "--tls-ca", "e-crt", "e-key", "REDLOCK_TLS_CERT", NULL},
        /* The pair flags win over both variables. */
        {{NULL, "f-crt", "f-key", 0}, "e-ca", "e-crt", "e-key", 0, "e-ca",
         "REDLOCK_TLS_CA", "f-crt", "f-key", "--tls-cert", NULL},
        /* A flag certificate never pairs with an environment key. */
        {{NULL, "f-crt", NULL, 0}, NULL, NULL, "e-key", -1, NULL, NULL, NULL,
         NULL, NULL, "--tls-key"},
        {{NULL, NULL, "f-key", 0}, NULL, "e-crt", NULL, -1, NULL, NULL, NULL,
         NULL, NULL, "--tls-cert"},
        /* Half a pair in the environment. */
        {{NULL, NULL, NULL, 0}, NULL, "e-crt", NULL, -1, NULL, NULL, NULL,
         NULL, NULL, "REDLOCK_TLS_KEY"},
        {{NULL, NULL, NULL, 0}, NULL, NULL, "e-key", -1, NULL, NULL, NULL,
         NULL, NULL, "REDLOCK_TLS_CERT"},
        /* An empty variable counts as unset... */
        {{NULL, NULL, NULL, 0}, "", "", "", 0, NULL, NULL, NULL, NULL, NULL,
         NULL},
        {{NULL, NULL, NULL, 0}, NULL, "e-crt", "", -1, NULL, NULL, NULL, NULL,
         NULL, "REDLOCK_TLS_KEY"},
        /* ...an empty flag is an error. */
        {{"", NULL, NULL, 0}, "e-ca", NULL, NULL, -1, NULL, NULL, NULL, NULL,
         NULL, "--tls-ca"},
        {{NULL, "", "k", 0}, NULL, NULL, NULL, -1, NULL, NULL, NULL, NULL,
         NULL, "--tls-cert"},
        {{NULL, "c", "", 0}, NULL, NULL, NULL, -1, NULL, NULL, NULL, NULL,
         NULL, "--tls-key"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const tls_row *r = &rows[i];
        tool_tls t;
        char why[256] = "x";
        int rc = tool_tls_resolve(&r->f, r->env_ca, r->env_cert, r->env_key,
                                  &t, why, sizeof(why));

        if (rc != r->rc)
            fail_msg("row %zu: rc %d, want %d (%s)", i, rc, r->rc, why);
        if (rc != 0) {
            if (strstr(why, r->why_has) == NULL)
                fail_msg("row %zu: reason '%s' lacks '%s'", i, why,
                         r->why_has);
            continue;
        }
        assert_string_equal(why, "");
        if ((t.ca == NULL) != (r->ca == NULL) ||
            (t.ca != NULL && strcmp(t.ca, r->ca) != 0))
            fail_msg("row %zu: ca %s, want %s", i, t.ca ? t.ca : "NULL",
                     r->ca ? r->ca : "NULL");
        if (r->ca != NULL)
            assert_string_equal(t.ca_from, r->ca_from);
        if ((t.cert == NULL) != (r->cert == NULL))
            fail_msg("row %zu: cert %s, want %s", i,
                     t.cert ? t.cert : "NULL", r->cert ? r->cert : "NULL");
        if (r->cert != NULL) {
            assert_string_equal(t.cert, r->cert);
            assert_string_equal(t.key, r->key);
            assert_string_equal(t.cert_from, r->cert_from);
        } else {
            assert_null(t.key);
        }
        assert_int_equal(t.insecure, 0);
    }
}

/* --tls-insecure passes through alone; tool_tls_any sees each setting. */
static void test_insecure_and_any(void **state)
{
    tool_tls_flags f = {NULL, NULL, NULL, 1};
    tool_tls t;
    char why[128];

    (void)state;
    assert_int_equal(tool_tls_resolve(&f, NULL, NULL, NULL, &t, why,
                                      sizeof(why)), 0);
    assert_int_equal(t.insecure, 1);
    assert_true(tool_tls_any(&t));
    assert_int_equal(tool_tls_resolve(NULL, NULL, NULL, NULL, &t, why,
                                      sizeof(why)), 0);
    assert_false(tool_tls_any(&t));
    assert_int_equal(tool_tls_resolve(NULL, "ca", NULL, NULL, &t, why,
                                      sizeof(why)), 0);
    assert_true(tool_tls_any(&t));
    assert_int_equal(tool_tls_resolve(NULL, NULL, "c", "k", &t, why,
                                      sizeof(why)), 0);
    assert_true(tool_tls_any(&t));
    assert_false(tool_tls_any(NULL));
}

/* rediss:// in any case, nothing else. */
static void test_uri_is_tls(void **state)
{
    (void)state;
    assert_true(tool_uri_is_tls("rediss://h:1"));
    assert_true(tool_uri_is_tls("REDISS://h"));
    assert_true(tool_uri_is_tls("ReDiSs://:pw@h"));
    assert_true(tool_uri_is_tls("sentinels://s:26379/m"));
    assert_true(tool_uri_is_tls("SENTINELS://s/m"));
    assert_false(tool_uri_is_tls("sentinel://s/m"));
    assert_false(tool_uri_is_tls("redis://h"));
    assert_false(tool_uri_is_tls("unix:///s"));
    assert_false(tool_uri_is_tls("rediss:/h"));
    assert_false(tool_uri_is_tls("rediss"));
    assert_false(tool_uri_is_tls(""));
    assert_false(tool_uri_is_tls(NULL));
}

/* A directory becomes tls_ca_dir, a file tls_ca_file; a missing path or
 * a directory given as a certificate is refused with its source named. */
static void test_apply(void **state)
{
    char dir[] = "/tmp/redlock-tooltls-XXXXXX";
    char file[sizeof(dir) + 16], key[sizeof(dir) + 16];
    char missing[sizeof(dir) + 16];
    redlock_options o;
    tool_tls t;
    char why[512];
    FILE *fp;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/ca.pem", dir);
    snprintf(key, sizeof(key), "%s/k.pem", dir);
    snprintf(missing, sizeof(missing), "%s/none.pem", dir);
    fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    fp = fopen(key, "w");
    assert_non_null(fp);
    fclose(fp);

    /* A file. */
    memset(&t, 0, sizeof(t));
    t.ca = file;
    t.ca_from = "--tls-ca";
    t.cert = file;
    t.key = key;
    t.cert_from = "--tls-cert";
    t.key_from = "--tls-key";
    redlock_options_init(&o);
    assert_int_equal(tool_tls_apply(&t, &o, why, sizeof(why)), 0);
    assert_ptr_equal(o.tls_ca_file, file);
    assert_null(o.tls_ca_dir);
    assert_ptr_equal(o.tls_cert_file, file);
    assert_ptr_equal(o.tls_key_file, key);
    assert_int_equal(o.tls_insecure_skip_verify, 0);

    /* A directory. */
    t.ca = dir;
    t.insecure = 1;
    redlock_options_init(&o);
    assert_int_equal(tool_tls_apply(&t, &o, why, sizeof(why)), 0);
    assert_ptr_equal(o.tls_ca_dir, dir);
    assert_null(o.tls_ca_file);
    assert_int_equal(o.tls_insecure_skip_verify, 1);

    /* A missing CA, named by its source. */
    t.ca = missing;
    t.ca_from = "REDLOCK_TLS_CA";
    redlock_options_init(&o);
    assert_int_equal(tool_tls_apply(&t, &o, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "REDLOCK_TLS_CA"));
    assert_non_null(strstr(why, "none.pem"));
    assert_null(o.tls_ca_file);

    /* A missing key. */
    t.ca = NULL;
    t.key = missing;
    assert_int_equal(tool_tls_apply(&t, &o, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "--tls-key"));

    /* A directory as the certificate. */
    t.cert = dir;
    t.key = key;
    assert_int_equal(tool_tls_apply(&t, &o, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "--tls-cert"));
    assert_non_null(strstr(why, "directory"));

    unlink(file);
    unlink(key);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_table),
        cmocka_unit_test(test_insecure_and_any),
        cmocka_unit_test(test_uri_is_tls),
        cmocka_unit_test(test_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
