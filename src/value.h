/*
 * value.h: the value a lock's keys store, "<token>[ <owner>]"
 * (internal; tier: pure leaf: no I/O, no clock, no locks).
 *
 * Offers the owner label check, and building and splitting stored
 * values.
 */
#ifndef REDLOCK_VALUE_H
#define REDLOCK_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "redlock.h"

/* Longest stored value: token, space, owner. */
#define REDLOCK__VALUE_MAX (REDLOCK_TOKEN_LEN + 1 + REDLOCK_OWNER_MAX)

/* True if owner is a valid owner label: 1..REDLOCK_OWNER_MAX bytes, each
 * printable ASCII other than space (0x21..0x7e). NULL gives false. */
bool redlock__owner_valid(const char *owner);

/* Write the value a key of a lock stores into out: "<token>" when owner
 * is NULL or "", else "<token> <owner>" (both already valid). Returns its
 * length. */
size_t redlock__value_build(char out[REDLOCK__VALUE_MAX + 1],
                            const char *token, const char *owner);

/* Split a stored value (len bytes, may be any bytes) at its first space:
 * token gets what comes before (all of it if there is no space), owner
 * what comes after ("" without a space), each truncated to its buffer
 * and NUL-terminated. value NULL gives two empty strings. */
void redlock__value_split(const char *value, size_t len,
                          char token[REDLOCK_TOKEN_LEN + 1],
                          char owner[REDLOCK_OWNER_MAX + 1]);

#endif /* REDLOCK_VALUE_H */
