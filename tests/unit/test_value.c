/*
 * test_value.c: the stored value format (src/value.c) driven by tables:
 * which owner labels are valid, the value built from a token and an
 * owner, and how a stored value splits back into token and owner.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "value.h"

#define TOKEN "0123456789abcdef0123456789abcdef"

/* Owners: 1..64 bytes of 0x21..0x7e. */
static void test_owner_valid(void **state)
{
    (void)state;
    char max[REDLOCK_OWNER_MAX + 2];
    memset(max, 'a', sizeof(max));
    max[REDLOCK_OWNER_MAX] = '\0';
    char over[REDLOCK_OWNER_MAX + 2];
    memset(over, 'a', sizeof(over));
    over[REDLOCK_OWNER_MAX + 1] = '\0';
    static const struct {
        const char *owner;
        bool ok;
    } rows[] = {
        {"a", true},
        {"web-3:4711", true},
        {"alice@build-host", true},
        {"!~", true}, /* the ends of the range */
        {"", false},
        {"has space", false},
        {" lead", false},
        {"tab\there", false},
        {"new\nline", false},
        {"del\x7f", false},
        {"\x80high", false},
        {"caf\xc3\xa9", false}, /* UTF-8 is not ASCII */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (redlock__owner_valid(rows[i].owner) != rows[i].ok)
            print_error("row %zu: \"%s\"\n", i, rows[i].owner);
        assert_int_equal(redlock__owner_valid(rows[i].owner), rows[i].ok);
    }
    assert_true(redlock__owner_valid(max));
    assert_false(redlock__owner_valid(over));
    assert_false(redlock__owner_valid(NULL));
}

/* The value: the token alone, or token, space, owner. */
static void test_value_build(void **state)
{
    (void)state;
    char out[REDLOCK__VALUE_MAX + 1];
    assert_int_equal(redlock__value_build(out, TOKEN, NULL), 32);
    assert_string_equal(out, TOKEN);
    assert_int_equal(redlock__value_build(out, TOKEN, ""), 32);
    assert_string_equal(out, TOKEN);
    assert_int_equal(redlock__value_build(out, TOKEN, "svc-a"), 38);
    assert_string_equal(out, TOKEN " svc-a");
    char max[REDLOCK_OWNER_MAX + 1];
    memset(max, 'z', REDLOCK_OWNER_MAX);
    max[REDLOCK_OWNER_MAX] = '\0';
    assert_int_equal(redlock__value_build(out, TOKEN, max),
                     REDLOCK__VALUE_MAX);
    assert_int_equal(out[32], ' ');
    assert_memory_equal(out + 33, max, REDLOCK_OWNER_MAX);
}

/* Splitting at the first space, with truncation to the buffers. */
static void test_value_split(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *token, *owner;
    } rows[] = {
        {TOKEN, TOKEN, ""},
        {TOKEN " svc-a", TOKEN, "svc-a"},
        {"", "", ""},
        {"plain", "plain", ""},
        /* another client's longer value: the token part is cut */
        {TOKEN "EXTRA", TOKEN, ""},
        /* only the first space splits */
        {"a b c", "a", "b c"},
        {" lead", "", "lead"},
        {"trail ", "trail", ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char tok[REDLOCK_TOKEN_LEN + 1], own[REDLOCK_OWNER_MAX + 1];
        redlock__value_split(rows[i].value, strlen(rows[i].value), tok, own);
        assert_string_equal(tok, rows[i].token);
        assert_string_equal(own, rows[i].owner);
    }
    /* an owner part longer than REDLOCK_OWNER_MAX is cut */
    char big[200], tok[REDLOCK_TOKEN_LEN + 1], own[REDLOCK_OWNER_MAX + 1];
    memset(big, 'o', sizeof(big));
    memcpy(big, TOKEN " ", 33);
    redlock__value_split(big, sizeof(big), tok, own);
    assert_string_equal(tok, TOKEN);
    assert_int_equal(strlen(own), REDLOCK_OWNER_MAX);
    /* bytes after a NUL still count: the length decides */
    redlock__value_split("ab\0 cd", 6, tok, own);
    assert_int_equal(tok[0], 'a');
    assert_string_equal(own, "cd");
    redlock__value_split(NULL, 0, tok, own);
    assert_string_equal(tok, "");
    assert_string_equal(own, "");
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_valid),
        cmocka_unit_test(test_value_build),
        cmocka_unit_test(test_value_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
