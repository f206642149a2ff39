/*
 * test_status.c: every status has a distinct message and name, unknown
 * values get fixed strings, and the version functions match the header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "redlock.h"

/* All statuses in the list, in order. */
static const redlock_status all[] = {
#define X(name, num, msg) REDLOCK_##name,
    REDLOCK_STATUS_MAP(X)
#undef X
};

/* Messages and names exist, are distinct, and names match the enum. */
static void test_status_strings(void **state)
{
    (void)state;
    size_t n = sizeof(all) / sizeof(all[0]);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(all[i], (int)i); /* numbers are dense and stable */
        const char *msg = redlock_strerror(all[i]);
        const char *name = redlock_status_name(all[i]);
        assert_non_null(msg);
        assert_non_null(name);
        assert_true(strlen(msg) > 0);
        assert_true(strncmp(name, "REDLOCK_", 8) == 0);
        assert_string_not_equal(msg, "unknown status");
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(msg, redlock_strerror(all[j]));
            assert_string_not_equal(name, redlock_status_name(all[j]));
        }
    }
    assert_string_equal(redlock_status_name(REDLOCK_ETAKEN),
                        "REDLOCK_ETAKEN");
}

/* Out-of-range values give fixed strings, never NULL. */
static void test_status_unknown(void **state)
{
    (void)state;
    assert_string_equal(redlock_strerror((redlock_status)9999),
                        "unknown status");
    assert_string_equal(redlock_status_name((redlock_status)-1),
                        "REDLOCK_UNKNOWN");
}

/* redlock_version() agrees with the header macros. */
static void test_version(void **state)
{
    (void)state;
    assert_string_equal(redlock_version(), REDLOCK_VERSION_STRING);
    assert_int_equal(redlock_version_number(), REDLOCK_VERSION_NUMBER);
    assert_int_equal(REDLOCK_VERSION_NUMBER,
                     (REDLOCK_VERSION_MAJOR << 16) |
                         (REDLOCK_VERSION_MINOR << 8) |
                         REDLOCK_VERSION_PATCH);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_status_unknown),
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
