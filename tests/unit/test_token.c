/*
 * test_token.c: ownership tokens: format (32 lowercase hex characters),
 * uniqueness over many draws, and the script digests Redis will expect.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scripts.h"
#include "token.h"

/* Compare two tokens for qsort. */
static int cmp_token(const void *a, const void *b)
{
    return memcmp(a, b, REDLOCK_TOKEN_LEN);
}

/* Every token is 32 lowercase hex characters and NUL-terminated. */
static void test_token_format(void **state)
{
    (void)state;
    assert_int_equal(redlock__crypto_init(), REDLOCK_OK);
    for (int i = 0; i < 1000; i++) {
        char t[REDLOCK_TOKEN_LEN + 1];
        memset(t, 'x', sizeof(t));
        redlock__token_new(t);
        assert_int_equal(strlen(t), REDLOCK_TOKEN_LEN);
        for (int j = 0; j < REDLOCK_TOKEN_LEN; j++)
            assert_non_null(strchr("0123456789abcdef", t[j]));
    }
}

/* 1 000 000 tokens are pairwise distinct (issue 6: 1e6). */
static void test_token_unique(void **state)
{
    (void)state;
    enum { COUNT = 1000000 };
    char (*t)[REDLOCK_TOKEN_LEN + 1] = malloc(COUNT * sizeof(*t));
    assert_non_null(t);
    for (int i = 0; i < COUNT; i++)
        redlock__token_new(t[i]);
    qsort(t, COUNT, sizeof(*t), cmp_token);
    for (int i = 1; i < COUNT; i++)
        assert_true(memcmp(t[i - 1], t[i], REDLOCK_TOKEN_LEN) != 0);
    free(t);
}

/* The digests Redis knows our scripts by, computed outside the library:
 * sha1sum of each script's exact source text in src/scripts.c (the
 * concatenated C string literals, escapes resolved, with the final
 * newline). A change to a script must change its line here too. */
static const char *const known_sha[REDLOCK__SCRIPT_COUNT] = {
    [REDLOCK__SCRIPT_ACQUIRE_MULTI] =
        "1c0223b0247baf0ade063779e996b5cc5981427c",
    [REDLOCK__SCRIPT_EXTEND] = "0b81e26ed948d782f0c15263cd50bdc5832c56de",
    [REDLOCK__SCRIPT_RELEASE] = "2ffbe0cd368317b7dc9a07d953a6b36c48482df7",
    [REDLOCK__SCRIPT_RESTORE] = "2d683b55b2f64d9cbd4ce5ccbc8061cd44e868d2",
};

/* Every script's digest is the SHA1 of its source that Redis will
 * compute (an all-zero or stale digest would make every EVALSHA answer
 * NOSCRIPT), and the digests are distinct. */
static void test_script_sha(void **state)
{
    (void)state;
    for (int i = 0; i < REDLOCK__SCRIPT_COUNT; i++) {
        const char *sha = redlock__script_sha((redlock__script_id)i);
        assert_non_null(redlock__script_source((redlock__script_id)i));
        assert_non_null(known_sha[i]);
        assert_string_equal(sha, known_sha[i]);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(
                sha, redlock__script_sha((redlock__script_id)j));
    }
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_format),
        cmocka_unit_test(test_token_unique),
        cmocka_unit_test(test_script_sha),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
