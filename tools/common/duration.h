/*
 * duration.h: durations on the command line of both programs, `redlock`
 * (tools/redlock) and `redlock-bench` (bench/): one parser, so that a
 * duration means the same thing to both. Pure logic: no I/O, no globals.
 *
 * Grammar (lowercase units only):
 *   30          a bare number is SECONDS, as in flock -w and etcdctl --ttl
 *   1.5         fractions too: 1500 ms
 *   250ms 10s 2m 1h        one number with a unit (ms, s, m, h)
 *   1.5s 0.25h             a fraction with a unit
 *   1m30s 1h2m3s500ms      compounds: each part has a unit, largest
 *                          first, each unit at most once
 * The value must be a whole number of milliseconds ("1.0005s" is
 * refused, never rounded), and fit in 64 bits; callers then apply their
 * own range (the CLI's flags refuse values outside theirs with exit 64).
 */
#ifndef REDLOCK_TOOL_DURATION_H
#define REDLOCK_TOOL_DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse text as a duration into *ms (milliseconds).
 *
 * Rejected, with a one-line reason written to err (if err is not NULL and
 * errlen > 0): NULL or an empty string, signs ("-5s", "+5s"), spaces
 * anywhere, a number without digits on both sides of its point (".5s",
 * "3.s"), unknown units ("10x", "10sec", "10S", "1d"), a part of a
 * compound without a unit ("1m30"), units out of order or repeated
 * ("30s1m", "1s1s"), fractions finer than a millisecond ("0.5ms",
 * "1.0005s") and values whose milliseconds do not fit in 64 bits. The
 * reason never repeats the text.
 *
 * Returns 0 on success (*ms set), -1 on failure (*ms untouched).
 */
int tool_duration_parse(const char *text, uint64_t *ms, char *err,
                        size_t errlen);

/*
 * Write ms as the shortest exact form tool_duration_parse() reads back,
 * always with a unit: "2m", "10s", "1500ms", "0ms" (hours are written as
 * minutes, "90m", unless exact: "1h"). Always NUL-terminates when
 * len > 0.
 */
void tool_duration_format(uint64_t ms, char *buf, size_t len);

#endif /* REDLOCK_TOOL_DURATION_H */
