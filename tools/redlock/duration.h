/*
 * duration.h: durations on the command line ("1500ms", "10s", "2m", "1h",
 * or a bare number of milliseconds). Pure logic: no I/O, no globals.
 */
#ifndef REDLOCK_CLI_DURATION_H
#define REDLOCK_CLI_DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse text as a duration into *ms (milliseconds).
 *
 * Accepted: one or more decimal digits followed by an optional unit, "ms",
 * "s", "m" or "h" (lowercase); no unit means milliseconds. Rejected, with a
 * one-line reason written to err (if err is not NULL and errlen > 0): an
 * empty string, signs ("-5s", "+5s"), spaces anywhere, fractions ("1.5s"),
 * unknown units ("10x", "10sec"), a missing number ("ms") and values whose
 * milliseconds do not fit in 64 bits. The reason never repeats text.
 *
 * Returns 0 on success (*ms set), -1 on failure (*ms untouched).
 */
int cli_parse_duration(const char *text, uint64_t *ms, char *err,
                       size_t errlen);

/*
 * Write ms as the shortest exact form cli_parse_duration() reads back:
 * "2m", "10s", "1500ms", "0ms" (hours are written as minutes, "90m",
 * unless exact: "1h"). Always NUL-terminates when len > 0.
 */
void cli_format_duration(uint64_t ms, char *buf, size_t len);

#endif /* REDLOCK_CLI_DURATION_H */
