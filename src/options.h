/*
 * options.h: copying and checking options (internal).
 */
#ifndef REDLOCK_OPTIONS_H
#define REDLOCK_OPTIONS_H

#include "redlock.h"

/* The retry policy of one acquire call, after per-call overrides. */
typedef struct redlock__policy {
    uint32_t retry_count;
    uint32_t retry_delay_ms;
    uint32_t retry_jitter_ms;
    uint64_t deadline_us;         /* 0: none */
    redlock_acquire_info *info;   /* may be NULL */
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
