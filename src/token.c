/*
 * token.c: ownership tokens and retry jitter from libsodium's CSPRNG.
 *
 * sodium_init() is called once per process through pthread_once, so any
 * number of managers may be created concurrently. A token is 16 random
 * bytes (128 bits) hex-encoded: unguessable, so another client can never
 * forge our token to release or extend our lock.
 */
#include <pthread.h>
#include <sodium.h>

#include "token.h"

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static int crypto_result = -1;

/* Run sodium_init() once; 0 = initialised now, 1 = already, -1 = failure. */
static void crypto_init_once(void)
{
    crypto_result = sodium_init();
}

/* Initialise libsodium once; REDLOCK_ECRYPTO if it failed. */
redlock_status redlock__crypto_init(void)
{
    pthread_once(&crypto_once, crypto_init_once);
    return crypto_result < 0 ? REDLOCK_ECRYPTO : REDLOCK_OK;
}

/* A fresh token: 32 lowercase hex characters and a NUL. */
void redlock__token_new(char out[REDLOCK_TOKEN_LEN + 1])
{
    unsigned char raw[REDLOCK_TOKEN_LEN / 2];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, REDLOCK_TOKEN_LEN + 1, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
}

/* Uniform integer in [0, upper]. */
uint32_t redlock__random_upto(uint32_t upper)
{
    if (upper == UINT32_MAX)
        return randombytes_random();
    return randombytes_uniform(upper + 1);
}
