/*
 * fuzz_uri.c: libFuzzer harness for the node URI parser (src/uri.c).
 *
 * The input, cut at its first NUL, is parsed with redlock__uri_parse().
 * On success the fields must be consistent and the display name must be
 * made of host/port/path/db only, so it never contains the password; on
 * failure the output struct must be all zero bytes and the message a
 * non-empty C string. Nothing may crash, leak or hit undefined behaviour.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uri.h"

/* Stop here: an invariant was broken (libFuzzer records a crash). */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            __builtin_trap();                                                  \
    } while (0)

/* True if all n bytes at p are zero. */
static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* The display name u should have, built only from fields that are not
 * secret, into buf (len bytes). Mirrors uri.c's documented format. */
static void expected_display(const redlock__uri *u, char *buf, size_t len)
{
    char db[16] = "";
    if (u->db != 0)
        snprintf(db, sizeof(db), "/%d", u->db);
    if (u->kind != REDLOCK__URI_SERVER) {
        bool v6 = strchr(u->host, ':') != NULL;
        const char *name = u->master_name != NULL ? u->master_name : "";
        snprintf(buf, len, "%s%s%s%s:%d%s%s%s",
                 u->kind == REDLOCK__URI_CLUSTER ? "cluster:" : "sentinel:",
                 v6 ? "[" : "", u->host, v6 ? "]" : "", u->port,
                 name[0] ? "/" : "", name, db);
    } else if (u->is_unix)
        snprintf(buf, len, "unix:%s%s", u->path, db);
    else if (strchr(u->host, ':') != NULL)
        snprintf(buf, len, "[%s]:%d%s", u->host, u->port, db);
    else
        snprintf(buf, len, "%s:%d%s", u->host, u->port, db);
}

/* Check a successful parse. */
static void check_ok(const redlock__uri *u)
{
    CHECK(u->display != NULL);
    CHECK(u->is_unix == 0 || u->is_unix == 1);
    CHECK(u->db >= 0);
    if (u->is_unix) {
        CHECK(u->path != NULL && u->host == NULL && u->port == 0);
    } else {
        CHECK(u->host != NULL && u->path == NULL);
        CHECK(u->port >= 1 && u->port <= 65535);
    }
    /* Cluster and sentinel nodes: their seeds are valid host:ports, a
     * sentinel node names its master, a cluster has db 0. */
    CHECK(u->kind == REDLOCK__URI_SERVER || u->kind == REDLOCK__URI_CLUSTER ||
          u->kind == REDLOCK__URI_SENTINEL);
    CHECK(u->n_seeds <= REDLOCK__URI_SEEDS_MAX);
    CHECK(u->n_seeds == 0 || u->kind != REDLOCK__URI_SERVER);
    for (size_t i = 0; i < u->n_seeds; i++)
        CHECK(u->seeds[i].host != NULL && u->seeds[i].port >= 1 &&
              u->seeds[i].port <= 65535);
    CHECK((u->kind == REDLOCK__URI_SENTINEL) == (u->master_name != NULL));
    CHECK(u->kind != REDLOCK__URI_CLUSTER || u->db == 0);
    CHECK(u->kind == REDLOCK__URI_SENTINEL ||
          (u->sentinel_password == NULL && u->sentinel_user == NULL));
    /* The host and path are bounded by the parser (255 and 107 bytes). */
    char want[512];
    expected_display(u, want, sizeof(want));
    CHECK(strcmp(u->display, want) == 0);
    /* The password may show up in the display only where it is literally
     * part of the host, path, port or db (a password "63" and port 6379);
     * the comparison above already proves that, this says it directly. */
    if (u->password != NULL && u->password[0] != '\0' &&
        strstr(u->display, u->password) != NULL)
        CHECK(strstr(want, u->password) != NULL);
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

    redlock__uri u;
    memset(&u, 0xa5, sizeof(u)); /* the parser must not trust it */
    char err[256];
    memset(err, 'E', sizeof(err));
    redlock_status st = redlock__uri_parse(text, &u, err, sizeof(err));
    CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    if (st == REDLOCK_OK) {
        check_ok(&u);
        redlock__uri_clear(&u);
        CHECK(all_zero(&u, sizeof(u)));
    } else {
        CHECK(st == REDLOCK_EURI || st == REDLOCK_ENOMEM);
        CHECK(all_zero(&u, sizeof(u)));
        CHECK(err[0] != '\0');
    }
    free(text);
    return 0;
}
