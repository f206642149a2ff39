/*
 * test_scripts_nosha.c: when OpenSSL cannot compute SHA1, the scripts get
 * no names and manager create refuses with REDLOCK_ECRYPTO and a message
 * that says why, before any thread or connection exists.
 *
 * OpenSSL is made unable to digest by an OPENSSL_CONF that activates only
 * its "null" provider (which offers no algorithm): once a configuration
 * activates a provider, the default one is not loaded. The variable is
 * set in main() before anything in this process touches OpenSSL, which
 * reads its configuration once, at its first use; that is why this test
 * has a program of its own (the digests of a working OpenSSL are checked
 * in test_token.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "scripts.h"

/* No digest: the status says so, remembered for later calls, and every
 * name is empty rather than a wrong one. */
static void test_no_sha1_no_names(void **state)
{
    (void)state;
    assert_int_equal(redlock__scripts_init(), REDLOCK_ECRYPTO);
    assert_int_equal(redlock__scripts_init(), REDLOCK_ECRYPTO);
    for (int i = 0; i < REDLOCK__SCRIPT_COUNT; i++)
        assert_string_equal(redlock__script_sha((redlock__script_id)i), "");
}

/* Manager create refuses with ECRYPTO, leaves *out NULL and says that
 * OpenSSL could not compute SHA1. */
static void test_create_refused(void **state)
{
    (void)state;
    const char *uris[1] = {"redis://127.0.0.1:1"};
    redlock_manager *m = (redlock_manager *)&m; /* must be overwritten */
    char err[256] = "";
    assert_int_equal(redlock_manager_create_ex(uris, 1, NULL, &m, err,
                                               sizeof(err)),
                     REDLOCK_ECRYPTO);
    assert_null(m);
    assert_non_null(strstr(err, "OpenSSL could not compute SHA1"));
}

/* Write a configuration with only the null provider and point
 * OPENSSL_CONF at it; returns its path (to unlink) or NULL. */
static char *null_provider_conf(void)
{
    static char path[] = "/tmp/redlock-nosha-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    static const char conf[] = "openssl_conf = openssl_init\n"
                               "[openssl_init]\n"
                               "providers = provider_sect\n"
                               "[provider_sect]\n"
                               "null = null_sect\n"
                               "[null_sect]\n"
                               "activate = 1\n";
    ssize_t w = write(fd, conf, sizeof(conf) - 1);
    close(fd);
    if (w != (ssize_t)(sizeof(conf) - 1) ||
        setenv("OPENSSL_CONF", path, 1) != 0) {
        unlink(path);
        return NULL;
    }
    return path;
}

int main(void)
{
    char *conf = null_provider_conf();
    if (conf == NULL) {
        fprintf(stderr, "cannot write an OpenSSL configuration\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_sha1_no_names),
        cmocka_unit_test(test_create_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(conf);
    return rc;
}
