/*
 * scripts.h: the Lua scripts the library sends (internal; tier: pure
 * leaf: static sources and their SHA1 digests, computed once).
 *
 * Offers the script ids, their sources and their SHAs.
 */
#ifndef REDLOCK_SCRIPTS_H
#define REDLOCK_SCRIPTS_H

#include "redlock.h"

typedef enum redlock__script_id {
    REDLOCK__SCRIPT_ACQUIRE_MULTI = 0,
    REDLOCK__SCRIPT_EXTEND = 1,
    REDLOCK__SCRIPT_RELEASE = 2,
    REDLOCK__SCRIPT_RESTORE = 3,
    REDLOCK__SCRIPT_COUNT = 4
} redlock__script_id;

/* The channel a release announces a deleted key on is this prefix
 * followed by the full key (key_prefix + resource): the release script
 * PUBLISHes an empty message there (scripts.c), and node workers
 * subscribe to it for waiters (subscribe.c). The message carries no
 * token and no value: it only says "this key was just deleted by its
 * holder, try again". */
#define REDLOCK__WAKE_CHANNEL_PREFIX "redlock:wake:"

/* Lua source of a script; static. */
const char *redlock__script_source(redlock__script_id id);

/* Compute the scripts' SHA1 digests with OpenSSL, once per process;
 * REDLOCK_ECRYPTO if it could not (the result is remembered). */
redlock_status redlock__scripts_init(void);

/* Lowercase hex SHA1 of a script (40 characters); static, computed once.
 * "" if redlock__scripts_init() failed. */
const char *redlock__script_sha(redlock__script_id id);

#endif /* REDLOCK_SCRIPTS_H */
