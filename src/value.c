/*
 * value.c: the value stored under a lock's keys, as pure functions.
 *
 * DESIGN
 * A key stores "<token>" or, when the lock has an owner label,
 * "<token> <owner>": the token, one space, and the owner (1..64 bytes of
 * printable ASCII without spaces). The token alone decides ownership:
 * our scripts (scripts.c) treat a value as ours when it equals the token
 * or starts with the token and a space, so the owner is only a label for
 * people and tools. The format keeps the key an ordinary string that any
 * Redlock client sees as held.
 *
 * Alternatives not taken: a second key (or a hash) for the owner would
 * need its own TTL kept in step with the lock's by every extend, restore
 * and release, and a client reading one key could see the other stale;
 * a separator that may occur in an owner would make the split ambiguous,
 * which is why an owner has no spaces.
 */
#include <string.h>

#include "value.h"

/* 1..REDLOCK_OWNER_MAX bytes, each 0x21..0x7e. */
bool redlock__owner_valid(const char *owner)
{
    if (owner == NULL)
        return false;
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)owner; *p != '\0';
         p++) {
        if (*p < 0x21 || *p > 0x7e || ++len > REDLOCK_OWNER_MAX)
            return false;
    }
    return len > 0;
}

/* "<token>" or "<token> <owner>" into out. */
size_t redlock__value_build(char out[REDLOCK__VALUE_MAX + 1],
                            const char *token, const char *owner)
{
    size_t tl = strnlen(token, REDLOCK_TOKEN_LEN);
    memcpy(out, token, tl);
    size_t len = tl;
    if (owner != NULL && owner[0] != '\0') {
        size_t ol = strnlen(owner, REDLOCK_OWNER_MAX);
        out[len++] = ' ';
        memcpy(out + len, owner, ol);
        len += ol;
    }
    out[len] = '\0';
    return len;
}

/* Split a stored value at its first space; see internal.h. */
void redlock__value_split(const char *value, size_t len,
                          char token[REDLOCK_TOKEN_LEN + 1],
                          char owner[REDLOCK_OWNER_MAX + 1])
{
    token[0] = '\0';
    owner[0] = '\0';
    if (value == NULL)
        return;
    const char *sp = memchr(value, ' ', len);
    size_t tl = sp != NULL ? (size_t)(sp - value) : len;
    size_t keep = tl > REDLOCK_TOKEN_LEN ? REDLOCK_TOKEN_LEN : tl;
    memcpy(token, value, keep);
    token[keep] = '\0';
    if (sp == NULL)
        return;
    size_t ol = len - tl - 1;
    if (ol > REDLOCK_OWNER_MAX)
        ol = REDLOCK_OWNER_MAX;
    memcpy(owner, sp + 1, ol);
    owner[ol] = '\0';
}
