/*
 * test_hashslot.c: the Redis Cluster hash slot rule (src/hashslot.c),
 * driven by a table of slots redis-server 7.0 itself answered to
 * CLUSTER KEYSLOT, hash tags included, and the CRC16/XMODEM check value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hashslot.h"

/* The standard check value of CRC16/XMODEM. */
static void test_crc16_check_value(void **state)
{
    (void)state;
    assert_int_equal(redlock__crc16("123456789", 9), 0x31C3);
    assert_int_equal(redlock__crc16("", 0), 0);
}

/* Keys and the slot CLUSTER KEYSLOT gave for them (redis-server 7.0). */
static void test_slots_match_redis(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        unsigned slot;
    } table[] = {
        {"", 0},
        {"a", 15495},
        {"foo", 12182},
        {"bar", 5061},
        {"123456789", 12739},
        {"{user1}.a", 8106},   /* tag: only "user1" is hashed */
        {"{user1}.b", 8106},
        {"user1", 8106},
        {"{}x", 10595},        /* empty tag: the whole key */
        {"x{}y", 16116},
        {"{a}{b}", 15495},     /* the first tag only */
        {"a{b}c", 3300},
        {"{", 4092},           /* unclosed: the whole key */
        {"}", 12090},
        {"x{y", 2740},
        {"redlock:res", 16298},
        {"rl:{acct42}:lock", 13360},
        {"rl:{acct42}:lock:fence", 13360},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        unsigned got =
            redlock__hash_slot(table[i].key, strlen(table[i].key));
        if (got != table[i].slot)
            fail_msg("\"%s\": slot %u, redis says %u", table[i].key, got,
                     table[i].slot);
    }
}

/* Binary keys: a NUL byte is hashed like any other. */
static void test_binary_key(void **state)
{
    (void)state;
    const char a[3] = {'x', '\0', 'y'};
    assert_true(redlock__hash_slot(a, 3) < REDLOCK__HASH_SLOTS);
    assert_int_not_equal(redlock__hash_slot(a, 3), redlock__hash_slot(a, 1));
    const char t[5] = {'{', '\0', '}', 'a', 'b'};
    assert_int_equal(redlock__hash_slot(t, 5),
                     redlock__crc16(t + 1, 1) & (REDLOCK__HASH_SLOTS - 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_check_value),
        cmocka_unit_test(test_slots_match_redis),
        cmocka_unit_test(test_binary_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
