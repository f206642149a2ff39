/*
 * token.h: randomness and lock tokens (internal; tier: pure leaf over
 * libsodium's CSPRNG).
 *
 * Offers libsodium's one-time initialisation, fresh hex tokens and
 * uniform random integers.
 */
#ifndef REDLOCK_TOKEN_H
#define REDLOCK_TOKEN_H

#include <stdint.h>

#include "redlock.h"

/* Initialise libsodium once, thread-safely. REDLOCK_OK or ECRYPTO. */
redlock_status redlock__crypto_init(void);

/* Write REDLOCK_TOKEN_LEN hex characters plus a NUL into out, from
 * randombytes_buf(). Requires redlock__crypto_init() to have succeeded. */
void redlock__token_new(char out[REDLOCK_TOKEN_LEN + 1]);

/* Uniform random integer in [0, upper] (inclusive), from the CSPRNG. */
uint32_t redlock__random_upto(uint32_t upper);

#endif /* REDLOCK_TOKEN_H */
