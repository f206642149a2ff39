/*
 * fuzz_duration.c: libFuzzer harness for the duration parser shared by
 * `redlock` and `redlock-bench`
 * (tools/common/duration.c).
 *
 * The input, cut at its first NUL, is parsed with tool_duration_parse().
 * Accepted text must round-trip: formatting the value and parsing that
 * gives the same milliseconds. Refused text must leave the output alone
 * and give a non-empty reason. Independently, the input's first 8 bytes
 * as a number must round-trip through tool_duration_format(). Nothing may
 * crash or hit undefined behaviour.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

/* Stop here: an invariant was broken (libFuzzer records a crash). */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            __builtin_trap();                                                  \
    } while (0)

/* A value the parser never writes on failure. */
#define UNTOUCHED 0x5a5a5a5a5a5a5a5aull

/* Format ms and parse it back; it must come back unchanged. */
static void check_round_trip(uint64_t ms)
{
    char text[32];
    char err[128];
    uint64_t back = UNTOUCHED;
    tool_duration_format(ms, text, sizeof(text));
    CHECK(tool_duration_parse(text, &back, err, sizeof(err)) == 0);
    CHECK(back == ms);
}

/* libFuzzer entry point: parse one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    if (size > 0)
        memcpy(text, data, size);
    text[size] = '\0';

    uint64_t ms = UNTOUCHED;
    char err[128];
    memset(err, 'E', sizeof(err));
    if (tool_duration_parse(text, &ms, err, sizeof(err)) == 0) {
        CHECK(text[0] >= '0' && text[0] <= '9');
        check_round_trip(ms);
    } else {
        CHECK(ms == UNTOUCHED);
        CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        CHECK(err[0] != '\0');
    }
    free(text);

    if (size >= sizeof(uint64_t)) {
        uint64_t v;
        memcpy(&v, data, sizeof(v));
        check_round_trip(v);
    }
    return 0;
}
