/*
 * options.c: defaults and validation of redlock_options and
 * redlock_acquire_opts.
 *
 * Callers may have been compiled against an older, shorter redlock_options:
 * struct_size says how much of it they filled, and the rest keeps its
 * default.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "options.h"
#include "value.h"

/* The documented defaults. */
void redlock_options_init(redlock_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->struct_size = sizeof(*opts);
    opts->drift_factor = 0.01;
    opts->retry_count = 10;
    opts->retry_delay_ms = 200;
    opts->retry_jitter_ms = 100;
    opts->connect_timeout_ms = 1000;
    opts->command_timeout_ms = 1000;
    opts->key_prefix = "";
    opts->node_queue_max = 65536;
    opts->reconnect_min_ms = 50;
    opts->reconnect_max_ms = 2000;
    opts->shutdown_timeout_ms = 1000;
    opts->log_level = REDLOCK_LOG_WARN;
    opts->restore_on_extend = 1;
    opts->restart_guard_ms = REDLOCK_RESTART_GUARD_AUTO;
}

/* "Use the manager's defaults" for every field. */
void redlock_acquire_opts_init(redlock_acquire_opts *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof(*o));
    o->struct_size = sizeof(*o);
    o->retry_count = -1;
    o->retry_delay_ms = -1;
    o->retry_jitter_ms = -1;
}

/* Copy the caller's options over the defaults, honouring struct_size. */
redlock_status redlock__options_copy(const redlock_options *in,
                                     redlock_options *out, char *err,
                                     size_t errlen)
{
    redlock_options_init(out);
    if (in == NULL)
        return REDLOCK_OK;
    if (in->struct_size < offsetof(redlock_options, drift_factor) ||
        in->struct_size > sizeof(*in) * 4) {
        snprintf(err, errlen,
                 "options.struct_size is %zu: call redlock_options_init()",
                 in->struct_size);
        return REDLOCK_EINVAL;
    }
    size_t n = in->struct_size < sizeof(*out) ? in->struct_size
                                              : sizeof(*out);
    memcpy(out, in, n);
    out->struct_size = sizeof(*out);
    if (out->key_prefix == NULL)
        out->key_prefix = "";
    return REDLOCK_OK;
}

/* Check every field of a copied options struct. */
redlock_status redlock__options_validate(const redlock_options *o, char *err,
                                         size_t errlen)
{
    if (!(o->drift_factor >= 0.0 && o->drift_factor < 0.5)) {
        snprintf(err, errlen, "drift_factor %g is outside [0, 0.5)",
                 o->drift_factor);
        return REDLOCK_ERANGE;
    }
    if (o->connect_timeout_ms == 0 || o->command_timeout_ms == 0) {
        snprintf(err, errlen, "connect and command timeouts must be > 0");
        return REDLOCK_ERANGE;
    }
    if (o->restore_on_extend != 0 && o->restore_on_extend != 1) {
        snprintf(err, errlen, "restore_on_extend %d must be 0 or 1",
                 o->restore_on_extend);
        return REDLOCK_EINVAL;
    }
    if (o->tls_insecure_skip_verify != 0 && o->tls_insecure_skip_verify != 1) {
        snprintf(err, errlen, "tls_insecure_skip_verify %d must be 0 or 1",
                 o->tls_insecure_skip_verify);
        return REDLOCK_EINVAL;
    }
    if (o->node_queue_max == 0) {
        snprintf(err, errlen, "node_queue_max must be > 0");
        return REDLOCK_ERANGE;
    }
    if (o->reconnect_min_ms == 0 ||
        o->reconnect_max_ms < o->reconnect_min_ms) {
        snprintf(err, errlen,
                 "need 0 < reconnect_min_ms <= reconnect_max_ms");
        return REDLOCK_ERANGE;
    }
    if (strlen(o->key_prefix) > REDLOCK_KEY_PREFIX_MAX) {
        snprintf(err, errlen, "key_prefix is longer than %d bytes",
                 REDLOCK_KEY_PREFIX_MAX);
        return REDLOCK_ERANGE;
    }
    if (o->owner != NULL && o->owner[0] != '\0' &&
        !redlock__owner_valid(o->owner)) {
        snprintf(err, errlen,
                 "owner must be 1..%d bytes of printable ASCII without "
                 "spaces (0x21..0x7e)",
                 REDLOCK_OWNER_MAX);
        return REDLOCK_EINVAL;
    }
    if ((int)o->log_level < REDLOCK_LOG_ERROR ||
        (int)o->log_level > REDLOCK_LOG_DEBUG) {
        snprintf(err, errlen, "log_level %d is not a redlock_log_level",
                 (int)o->log_level);
        return REDLOCK_ERANGE;
    }
    return REDLOCK_OK;
}

/* Resolve per-call acquire options against the manager's defaults. */
redlock_status redlock__acquire_policy(const redlock_options *mo,
                                       const redlock_acquire_opts *o,
                                       redlock__policy *p)
{
    p->retry_count = mo->retry_count;
    p->retry_delay_ms = mo->retry_delay_ms;
    p->retry_jitter_ms = mo->retry_jitter_ms;
    p->retry_until_deadline = false;
    p->deadline_us = 0;
    p->info = NULL;
    p->info_size = 0;
    p->owner = NULL;
    if (o == NULL)
        return REDLOCK_OK;
    bool v1 = o->struct_size == REDLOCK__ACQUIRE_OPTS_V1_SIZE;
    if (o->struct_size != sizeof(*o) && !v1)
        return REDLOCK_EINVAL;
    p->info = o->info;
    p->info_size = v1 ? REDLOCK__ACQUIRE_INFO_V1_SIZE
                      : sizeof(redlock_acquire_info);
    if ((o->retry_count < -1 &&
         o->retry_count != REDLOCK_RETRY_UNTIL_DEADLINE) ||
        o->retry_delay_ms < -1 ||
        o->retry_jitter_ms < -1 || o->retry_count > UINT32_MAX ||
        o->retry_delay_ms > UINT32_MAX || o->retry_jitter_ms > UINT32_MAX)
        return REDLOCK_ERANGE;
    if (o->retry_count >= 0)
        p->retry_count = (uint32_t)o->retry_count;
    p->retry_until_deadline =
        o->retry_count == REDLOCK_RETRY_UNTIL_DEADLINE;
    if (o->retry_delay_ms >= 0)
        p->retry_delay_ms = (uint32_t)o->retry_delay_ms;
    if (o->retry_jitter_ms >= 0)
        p->retry_jitter_ms = (uint32_t)o->retry_jitter_ms;
    p->deadline_us = o->deadline_us;
    /* The first version of the struct has no owner field. */
    if (!v1 && o->owner != NULL) {
        if (o->owner[0] != '\0' && !redlock__owner_valid(o->owner))
            return REDLOCK_EINVAL;
        p->owner = o->owner;
    }
    return REDLOCK_OK;
}
