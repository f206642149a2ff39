/*
 * hashslot.c: Redis Cluster key hash slots (see hashslot.h).
 *
 * DESIGN
 * Written once, as a pure function with a table test
 * (tests/unit/test_hashslot.c checks it against slots Redis itself
 * reports for CLUSTER KEYSLOT, and the CRC16 check value 0x31C3 of
 * "123456789"). The CRC is computed bit by bit: keys are short (a prefix
 * and a resource name), the cost is a few hundred cycles per key, and a
 * 512-byte table would only trade that for cache misses. Rejected: a
 * lookup table built at first use (a once-flag for no measured gain).
 */
#include "hashslot.h"

#include <string.h>

uint16_t redlock__crc16(const char *p, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)(unsigned char)p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u)
                                  : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned redlock__hash_slot(const char *key, size_t len)
{
    /* The first '{', then the first '}' after it; a tag only if the two
     * enclose at least one byte ("{}" hashes the whole key). */
    const char *open = len > 0 ? memchr(key, '{', len) : NULL;
    if (open != NULL) {
        size_t after = len - (size_t)(open - key) - 1;
        const char *close = after > 0 ? memchr(open + 1, '}', after) : NULL;
        if (close != NULL && close > open + 1)
            return redlock__crc16(open + 1, (size_t)(close - open - 1)) &
                   (REDLOCK__HASH_SLOTS - 1);
    }
    return redlock__crc16(key, len) & (REDLOCK__HASH_SLOTS - 1);
}

bool redlock__keys_one_slot(const char *const *keys, const size_t *key_lens,
                            size_t count)
{
    for (size_t i = 1; i < count; i++)
        if (redlock__hash_slot(keys[i], key_lens[i]) !=
            redlock__hash_slot(keys[0], key_lens[0]))
            return false;
    return true;
}
