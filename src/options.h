/*
 * options.h: copying and checking options (internal).
 */
#ifndef REDLOCK_OPTIONS_H
#define REDLOCK_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "redlock.h"

/* struct_size of the first version of redlock_acquire_opts (without
 * owner), still accepted; its callers' redlock_acquire_info ends before
 * node_status. */
#define REDLOCK__ACQUIRE_OPTS_V1_SIZE offsetof(redlock_acquire_opts, owner)
#define REDLOCK__ACQUIRE_INFO_V1_SIZE \
    offsetof(redlock_acquire_info, node_status)

/* The retry policy of one acquire call, after per-call overrides. */
typedef struct redlock__policy {
    bool retry_until_deadline;    /* REDLOCK_RETRY_UNTIL_DEADLINE: retry
                                     until deadline_us (0: no end);
                                     retry_count is then unused */
    uint32_t retry_count;
    uint32_t retry_delay_ms;
    uint32_t retry_jitter_ms;
    uint64_t deadline_us;         /* 0: none */
    redlock_acquire_info *info;   /* may be NULL */
    size_t info_size;             /* bytes of *info the caller has */
    const char *owner;            /* the call's owner (valid, or "" for
                                     none); NULL: the manager's */
} redlock__policy;

/* Defaults, overlaid with the first in->struct_size bytes of in (NULL:
 * defaults only). REDLOCK_EINVAL with a message in err for a struct that
 * was not initialised. */
redlock_status redlock__options_copy(const redlock_options *in,
                                     redlock_options *out, char *err,
                                     size_t errlen);

/* REDLOCK_OK, or REDLOCK_ERANGE with a message in err. */
redlock_status redlock__options_validate(const redlock_options *o, char *err,
                                         size_t errlen);

/* Fill p from the manager's options mo and the call's o (may be NULL). */
redlock_status redlock__acquire_policy(const redlock_options *mo,
                                       const redlock_acquire_opts *o,
                                       redlock__policy *p);

#endif /* REDLOCK_OPTIONS_H */
