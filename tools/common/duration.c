/*
 * duration.c: parsing and printing durations given on the command line
 * of `redlock` and `redlock-bench` (see duration.h for the grammar).
 *
 * DESIGN. Digits are read by hand rather than with strtoull() or
 * strtod(): those skip leading spaces, accept signs (strtoull wraps "-1"
 * to 2^64 - 1), hex, exponents, "inf" and "nan", none of which a
 * duration may have; and strtod() would round a fraction in binary. Here
 * a fraction is kept as its decimal digits and scaled exactly, so a
 * value is either an exact number of milliseconds or refused. Overflow is
 * checked before every multiply and add.
 *
 * Rejected alternatives: rounding sub-millisecond fractions (the bench's
 * old parser did): "0.4ms" silently becoming 0 reads as "no wait" to a
 * script that meant something; a compound grammar that allows any order
 * or repeats ("30s1m", Go's time.ParseDuration): it only hides typos.
 */
#include "duration.h"

#include <stdio.h>
#include <string.h>

/* One unit: its spelling and its length in milliseconds. Listed largest
 * first; a compound must use them in this order. */
typedef struct duration_unit {
    const char *suffix;
    uint64_t ms;
} duration_unit;

static const duration_unit duration_units[] = {
    {"h", 60u * 60u * 1000u},
    {"m", 60u * 1000u},
    {"s", 1000u},
    {"ms", 1u},
};
#define DURATION_UNIT_COUNT (sizeof(duration_units) / sizeof(duration_units[0]))
/* Index of "s" in duration_units: a bare number's unit. */
#define DURATION_SECONDS 2u
/* Significant fraction digits that can still give whole milliseconds:
 * 3600000 = 2^7 * 3^2 * 5^5, so 10^k divides F * 3600000 (F not a
 * multiple of 10) only for k <= 7. */
#define DURATION_FRAC_DIGITS_MAX 7

/* Write a one-line reason into err, if there is room for one; returns
 * -1 for the caller to return. */
static int duration_err(char *err, size_t errlen, const char *reason)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", reason);
    return -1;
}

/* The unit spelled at p: its index and length, or -1 if none. "ms" is
 * tried before "m". */
static int unit_at(const char *p, size_t *len)
{
    if (p[0] == 'm' && p[1] == 's') {
        *len = 2;
        return 3;
    }
    for (unsigned i = 0; i < DURATION_UNIT_COUNT; i++) {
        if (strlen(duration_units[i].suffix) == 1 &&
            p[0] == duration_units[i].suffix[0]) {
            *len = 1;
            return (int)i;
        }
    }
    return -1;
}

/* One part "<digits>[.<digits>]" at *pp, scaled by unit_ms, added to
 * *total. On success moves *pp past the number (not the unit). Returns 0
 * or -1 with the reason in err. */
static int add_part(const char **pp, uint64_t unit_ms, uint64_t *total,
                    char *err, size_t errlen)
{
    const char *p = *pp;
    uint64_t whole = 0;
    uint64_t frac = 0;
    uint64_t pow10 = 1;
    const char *frac_start = NULL;
    const char *frac_end = NULL;
    uint64_t value;

    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t digit = (uint64_t)(*p - '0');

        if (whole > (UINT64_MAX - digit) / 10)
            return duration_err(err, errlen, "duration too large");
        whole = whole * 10 + digit;
    }
    if (*p == '.') {
        frac_start = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        frac_end = p;
        if (frac_end == frac_start)
            return duration_err(err, errlen,
                                "expected a digit after the point (such as "
                                "1.5s)");
        while (frac_end > frac_start && frac_end[-1] == '0')
            frac_end--; /* "1.500s" is 1.5s */
        if (frac_end - frac_start > DURATION_FRAC_DIGITS_MAX)
            return duration_err(err, errlen,
                                "finer than a millisecond (durations are "
                                "whole milliseconds)");
        for (const char *q = frac_start; q < frac_end; q++) {
            frac = frac * 10 + (uint64_t)(*q - '0');
            pow10 *= 10;
        }
    }
    if (whole > UINT64_MAX / unit_ms)
        return duration_err(err, errlen, "duration too large");
    value = whole * unit_ms;
    /* frac < 10^7 and unit_ms <= 3600000: the product fits. */
    if (frac * unit_ms % pow10 != 0)
        return duration_err(err, errlen,
                            "finer than a millisecond (durations are whole "
                            "milliseconds)");
    if (value > UINT64_MAX - frac * unit_ms / pow10)
        return duration_err(err, errlen, "duration too large");
    value += frac * unit_ms / pow10;
    if (*total > UINT64_MAX - value)
        return duration_err(err, errlen, "duration too large");
    *total += value;
    *pp = p;
    return 0;
}

/* Parse a duration; see duration.h. */
int tool_duration_parse(const char *text, uint64_t *ms, char *err,
                        size_t errlen)
{
    const char *p = text;
    uint64_t total = 0;
    int last_unit = -1; /* index of the previous part's unit */

    if (text == NULL || text[0] == '\0')
        return duration_err(err, errlen, "empty duration");
    if (text[0] == '-')
        return duration_err(err, errlen, "negative durations are not allowed");
    if (text[0] == '.')
        return duration_err(err, errlen,
                            "expected a digit before the point (0.5s, not "
                            ".5s)");
    if (text[0] < '0' || text[0] > '9')
        return duration_err(err, errlen,
                            "expected a number of seconds, or a number with "
                            "a unit ms, s, m or h (such as 30, 1.5s, 250ms, "
                            "1m30s)");
    while (*p != '\0') {
        const char *q = p;
        size_t ulen = 0;
        int unit;

        if (*p == '.')
            return duration_err(err, errlen,
                                "expected a digit before the point (0.5s, "
                                "not .5s)");
        /* Find where the number ends, to look at its unit first. */
        while ((*q >= '0' && *q <= '9') || *q == '.')
            q++;
        if (*q == '\0' && last_unit < 0) {
            unit = (int)DURATION_SECONDS; /* a bare number: seconds */
        } else if (*q == '\0') {
            return duration_err(err, errlen,
                                "each part of a compound duration needs a "
                                "unit (such as 1m30s)");
        } else {
            unit = unit_at(q, &ulen);
            if (unit < 0 && (*q == ','))
                return duration_err(err, errlen,
                                    "write fractions with a point (1.5s)");
            if (unit < 0)
                return duration_err(err, errlen,
                                    "unknown unit (use ms, s, m or h, or no "
                                    "unit for seconds)");
            if (q[ulen] != '\0' && q[ulen] != '.' &&
                (q[ulen] < '0' || q[ulen] > '9'))
                return duration_err(err, errlen,
                                    "unknown unit (use ms, s, m or h, or no "
                                    "unit for seconds)");
            if (unit <= last_unit)
                return duration_err(err, errlen,
                                    "units of a compound duration go from "
                                    "largest to smallest, each once (such as "
                                    "1h30m)");
        }
        if (add_part(&p, duration_units[unit].ms, &total, err, errlen) != 0)
            return -1;
        if (p != q)
            return duration_err(err, errlen,
                                "a number has at most one point (such as "
                                "1.5s)");
        p = q + ulen;
        last_unit = unit;
    }
    *ms = total;
    return 0;
}

/* Print a duration in its shortest exact form; see duration.h. */
void tool_duration_format(uint64_t ms, char *buf, size_t len)
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
