/*
 * scripts.c: the Lua scripts run on each node, and their SHA1 digests.
 *
 * Every script is sent as EVALSHA; a node that answers NOSCRIPT (restarted,
 * or SCRIPT FLUSH) gets the same call again as EVAL with the source, which
 * also loads it into that node's cache (node.c). The SHA1 is computed here
 * once; workers also SCRIPT LOAD every script on each (re)connect, so a
 * node restarted empty never answers NOSCRIPT to our first commands, and
 * compare the digest each load answers with ours (node.c logs a mismatch
 * and falls back to EVAL for that script).
 *
 * A single-resource acquire is a plain SET NX PX (no script needed); the
 * scripts below all take any number of KEYS, so single and multi-resource
 * locks share them. Their ARGV are the same everywhere: ARGV[1] the
 * token, ARGV[2] the TTL in ms, ARGV[3] the whole value to store.
 *
 * A key is ours when its value equals our token or starts with our token
 * followed by a space: a lock with an owner label stores
 * "<token> <owner>" (value.c), and a handle that knows only the token
 * (redlock_lock_adopt()) must still extend and release it.
 */
#include <pthread.h>
#include <string.h>

#include "internal.h"

/* KEYS: resources. ARGV[1]: token, ARGV[2]: ttl in ms, ARGV[3]: value.
 * Sets every key to the value or, if any already exists, none. Returns 1
 * or 0. */
static const char acquire_multi_lua[] =
    "for i = 1, #KEYS do\n"
    "  if redis.call('exists', KEYS[i]) == 1 then return 0 end\n"
    "end\n"
    "for i = 1, #KEYS do\n"
    "  redis.call('set', KEYS[i], ARGV[3], 'PX', ARGV[2])\n"
    "end\n"
    "return 1\n";

/* KEYS: resources. ARGV[1]: token, ARGV[2]: ttl in ms. Only if every key
 * still holds our token, sets their TTL and returns 1. Never creates a key.
 * Otherwise changes nothing and returns 0 if a key holds another value, or
 * -1 if none does but a key is gone (expired, evicted, node restarted
 * empty): the caller may then restore it once a quorum confirmed the
 * lock (restore_lua). */
static const char extend_lua[] =
    "local t = ARGV[1]\n"
    "local p = t .. ' '\n"
    "local gone = false\n"
    "for i = 1, #KEYS do\n"
    "  local v = redis.call('get', KEYS[i])\n"
    "  if v == false then gone = true\n"
    "  elseif v ~= t and string.sub(v, 1, #p) ~= p then return 0 end\n"
    "end\n"
    "if gone then return -1 end\n"
    "for i = 1, #KEYS do\n"
    "  redis.call('pexpire', KEYS[i], ARGV[2])\n"
    "end\n"
    "return 1\n";

/* KEYS: resources. ARGV[1]: token, ARGV[2]: ttl in ms, ARGV[3]: value.
 * Sent only to nodes that answered extend with -1, after the extension won
 * a quorum: unless a key holds another owner's value, sets every key to
 * our value (token and owner) with the TTL. Returns 1 or 0. */
static const char restore_lua[] =
    "local t = ARGV[1]\n"
    "local p = t .. ' '\n"
    "for i = 1, #KEYS do\n"
    "  local v = redis.call('get', KEYS[i])\n"
    "  if v ~= false and v ~= t and string.sub(v, 1, #p) ~= p then\n"
    "    return 0\n"
    "  end\n"
    "end\n"
    "for i = 1, #KEYS do\n"
    "  redis.call('set', KEYS[i], ARGV[3], 'PX', ARGV[2])\n"
    "end\n"
    "return 1\n";

/* KEYS: resources. ARGV[1]: token. Deletes each key that holds our token
 * (with or without an owner). Returns how many were deleted. */
static const char release_lua[] =
    "local t = ARGV[1]\n"
    "local p = t .. ' '\n"
    "local n = 0\n"
    "for i = 1, #KEYS do\n"
    "  local v = redis.call('get', KEYS[i])\n"
    "  if v == t or (v and string.sub(v, 1, #p) == p) then\n"
    "    n = n + redis.call('del', KEYS[i])\n"
    "  end\n"
    "end\n"
    "return n\n";

static const char *const sources[REDLOCK__SCRIPT_COUNT] = {
    acquire_multi_lua,
    extend_lua,
    release_lua,
    restore_lua,
};

static char shas[REDLOCK__SCRIPT_COUNT][41];
static pthread_once_t shas_once = PTHREAD_ONCE_INIT;

/* ------------------------------------------------------------------------
 * SHA1 (FIPS 180-4), only for naming scripts the way Redis does; it has no
 * security role here.
 * ------------------------------------------------------------------------ */

/* Rotate x left by n bits. */
static uint32_t rol32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

/* Process one 64-byte block into the state h. */
static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999u;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1u;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdcu;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6u;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

/* Hex SHA1 of len bytes at data into out (41 bytes). */
static void sha1_hex(const char *data, size_t len, char out[41])
{
    uint32_t h[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u,
                     0xc3d2e1f0u};
    const unsigned char *p = (const unsigned char *)data;
    size_t full = len / 64;
    for (size_t i = 0; i < full; i++)
        sha1_block(h, p + 64 * i);
    unsigned char tail[128];
    size_t rest = len - full * 64;
    memset(tail, 0, sizeof(tail));
    memcpy(tail, p + full * 64, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8u;
    for (int i = 0; i < 8; i++)
        tail[tail_len - 1 - i] = (unsigned char)(bits >> (8 * i));
    sha1_block(h, tail);
    if (tail_len == 128)
        sha1_block(h, tail + 64);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 20; i++) {
        unsigned char byte = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
        out[2 * i] = hex[byte >> 4];
        out[2 * i + 1] = hex[byte & 15];
    }
    out[40] = '\0';
}

/* Compute every script's digest (once). */
static void compute_shas(void)
{
    for (int i = 0; i < REDLOCK__SCRIPT_COUNT; i++)
        sha1_hex(sources[i], strlen(sources[i]), shas[i]);
}

/* The Lua source of a script. */
const char *redlock__script_source(redlock__script_id id)
{
    return sources[id];
}

/* The SHA1 Redis will know the script by. */
const char *redlock__script_sha(redlock__script_id id)
{
    pthread_once(&shas_once, compute_shas);
    return shas[id];
}
