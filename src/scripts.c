/*
 * scripts.c: the Lua scripts run on each node, and their SHA1 digests.
 *
 * Every script is sent as EVALSHA; a node that answers NOSCRIPT (restarted,
 * or SCRIPT FLUSH) gets the same call again as EVAL with the source, which
 * also loads it into that node's cache (node.c). The SHA1 is computed here
 * once, by OpenSSL (EVP_Digest with EVP_sha1(); the one-shot SHA1() is not
 * deprecated in OpenSSL 3 either, but EVP is the interface OpenSSL
 * recommends and the one that goes through its providers); it only names
 * the scripts the way Redis does and has no security role. Workers also
 * SCRIPT LOAD every script on each (re)connect, so a node restarted empty
 * never answers NOSCRIPT to our first commands, and compare the digest
 * each load answers with ours (node.c, check_script_digest(), logs a
 * mismatch as an error and sends that script as EVAL on that connection).
 * If OpenSSL cannot compute SHA1 (no provider offers it), manager create
 * fails with REDLOCK_ECRYPTO rather than run with names that would miss.
 * Rejected: our own SHA1 (code to keep correct, now that OpenSSL is linked
 * for TLS anyway); taking each name from the first node's SCRIPT LOAD
 * reply alone (nothing left to check that node against, and EVALSHA
 * needs a name before any node has connected).
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
#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

#include "scripts.h"

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

/* KEYS: resources. ARGV[1]: token. ARGV[2]: "1" to announce. Deletes
 * each key that holds our token (with or without an owner). Returns how
 * many were deleted. With ARGV[2] "1", each key this call deleted is
 * announced on its wake channel (REDLOCK__WAKE_CHANNEL_PREFIX + the key)
 * with an empty message, for waiters subscribed there (subscribe.c); a
 * key that was not ours, or already gone, is not announced. Only a
 * release of a held lock announces: the undo of a failed attempt does not
 * (it freed nothing another waiter could take, and announcing it woke the
 * undoing waiter itself, and every other loser, into a busy retry loop).
 * redis.pcall: a user whose ACL forbids PUBLISH (Redis 7 gives new users
 * no channel) still releases; its waiters fall back to their timed
 * retries. */
static const char release_lua[] =
    "local t = ARGV[1]\n"
    "local p = t .. ' '\n"
    "local n = 0\n"
    "for i = 1, #KEYS do\n"
    "  local v = redis.call('get', KEYS[i])\n"
    "  if v == t or (v and string.sub(v, 1, #p) == p) then\n"
    "    if redis.call('del', KEYS[i]) == 1 then\n"
    "      n = n + 1\n"
    "      if ARGV[2] == '1' then\n"
    "        redis.pcall('publish', '" REDLOCK__WAKE_CHANNEL_PREFIX
    "' .. KEYS[i], '')\n"
    "      end\n"
    "    end\n"
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
static redlock_status shas_status = REDLOCK_ECRYPTO;

/* Hex SHA1 of len bytes at data into out (41 bytes), from OpenSSL; false
 * (out "") if no provider could compute it. */
static bool sha1_hex(const char *data, size_t len, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    out[0] = '\0';
    if (EVP_Digest(data, len, md, &md_len, EVP_sha1(), NULL) != 1 ||
        md_len != 20)
        return false;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 20; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[40] = '\0';
    return true;
}

/* Compute every script's digest (once), all or none: the names stay ""
 * unless every one was computed. */
static void compute_shas(void)
{
    char tmp[REDLOCK__SCRIPT_COUNT][41];
    for (int i = 0; i < REDLOCK__SCRIPT_COUNT; i++)
        if (!sha1_hex(sources[i], strlen(sources[i]), tmp[i]))
            return;
    memcpy(shas, tmp, sizeof(shas));
    shas_status = REDLOCK_OK;
}

/* Compute the digests once; REDLOCK_ECRYPTO if OpenSSL could not. */
redlock_status redlock__scripts_init(void)
{
    pthread_once(&shas_once, compute_shas);
    return shas_status;
}

/* The Lua source of a script. */
const char *redlock__script_source(redlock__script_id id)
{
    return sources[id];
}

/* The SHA1 Redis will know the script by ("" if it could not be
 * computed, which redlock__scripts_init() reported). */
const char *redlock__script_sha(redlock__script_id id)
{
    pthread_once(&shas_once, compute_shas);
    return shas[id];
}
