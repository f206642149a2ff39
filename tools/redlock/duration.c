/*
 * duration.c: parsing and printing durations given on the command line
 * (see duration.h).
 *
 * DESIGN. The parser reads digits by hand rather than with strtoull():
 * strtoull() skips leading spaces, accepts a sign (and wraps "-1" to
 * 2^64 - 1) and a "0x" prefix, none of which a duration may have.
 * Overflow is checked before every multiply and add, so any input either
 * yields the exact number of milliseconds or an error.
 */
#include "duration.h"

#include <stdio.h>
#include <string.h>

/* One accepted unit suffix and its length in milliseconds. */
typedef struct duration_unit {
    const char *suffix;
    uint64_t ms;
} duration_unit;

/* The accepted units; "" (no suffix) means milliseconds. */
static const duration_unit duration_units[] = {
    {"", 1},
    {"ms", 1},
    {"s", 1000},
    {"m", 60u * 1000u},
    {"h", 60u * 60u * 1000u},
};

/* Write a one-line reason into err, if there is room for one. */
static void duration_err(char *err, size_t errlen, const char *reason)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", reason);
}

/* Parse a duration; see duration.h. */
int cli_parse_duration(const char *text, uint64_t *ms, char *err, size_t errlen)
{
    uint64_t value = 0;
    const char *p = text;

    if (text == NULL || text[0] == '\0') {
        duration_err(err, errlen, "empty duration");
        return -1;
    }
    if (text[0] == '-') {
        duration_err(err, errlen, "negative durations are not allowed");
        return -1;
    }
    if (*p < '0' || *p > '9') {
        duration_err(err, errlen,
                     "expected a whole number followed by ms, s, m or h "
                     "(such as 1500ms, 10s, 2m)");
        return -1;
    }
    while (*p >= '0' && *p <= '9') {
        uint64_t digit = (uint64_t)(*p - '0');

        if (value > (UINT64_MAX - digit) / 10) {
            duration_err(err, errlen, "duration too large");
            return -1;
        }
        value = value * 10 + digit;
        p++;
    }
    for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]);
         i++) {
        const duration_unit *u = &duration_units[i];

        if (strcmp(p, u->suffix) != 0)
            continue;
        if (value > UINT64_MAX / u->ms) {
            duration_err(err, errlen, "duration too large");
            return -1;
        }
        *ms = value * u->ms;
        return 0;
    }
    if (*p == '.' || *p == ',')
        duration_err(err, errlen,
                     "fractions are not allowed (write 1500ms, not 1.5s)");
    else
        duration_err(err, errlen,
                     "unknown unit (use ms, s, m or h, or no unit for "
                     "milliseconds)");
    return -1;
}

/* Print a duration in its shortest exact form; see duration.h. */
void cli_format_duration(uint64_t ms, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return;
    if (ms != 0 && ms % (60u * 60u * 1000u) == 0)
        snprintf(buf, len, "%lluh",
                 (unsigned long long)(ms / (60u * 60u * 1000u)));
    else if (ms != 0 && ms % (60u * 1000u) == 0)
        snprintf(buf, len, "%llum", (unsigned long long)(ms / (60u * 1000u)));
    else if (ms != 0 && ms % 1000u == 0)
        snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000u));
    else
        snprintf(buf, len, "%llums", (unsigned long long)ms);
}
