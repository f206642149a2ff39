/*
 * hashslot.h: Redis Cluster key hash slots (internal; tier: pure leaf).
 *
 * A Redis Cluster splits its key space into 16384 hash slots; a key's slot
 * is CRC16 (the XMODEM variant: polynomial 0x1021, initial value 0, no
 * reflection) of the key, modulo 16384. When the key holds a hash tag, a
 * '{' followed later by a '}' with at least one byte between them, only
 * the bytes of the first such tag are hashed, so that "{user1}.a" and
 * "{user1}.b" share a slot. Pure: no state, any thread.
 */
#ifndef REDLOCK_HASHSLOT_H
#define REDLOCK_HASHSLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Slots of a Redis Cluster. */
#define REDLOCK__HASH_SLOTS 16384u

/* CRC16/XMODEM of len bytes at p. */
uint16_t redlock__crc16(const char *p, size_t len);

/* The cluster hash slot (0..16383) of a key of len bytes (binary safe). */
unsigned redlock__hash_slot(const char *key, size_t len);

/* True if the count keys (key_lens bytes each) all hash to one slot
 * (true for count <= 1). Pure. */
bool redlock__keys_one_slot(const char *const *keys, const size_t *key_lens,
                            size_t count);

#endif /* REDLOCK_HASHSLOT_H */
