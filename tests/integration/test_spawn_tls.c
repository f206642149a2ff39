/*
 * test_spawn_tls.c: checks of the TLS test support itself
 * (tests/support/tls_certs.h and the TLS options of redis_spawn.h),
 * independent of the library: the certificates verify (or fail to) as
 * each is meant to, as judged by `openssl verify`; a TLS-only server
 * answers `redis-cli --tls` and the fixture's own commands; it refuses
 * plaintext and a client that trusts another CA; with
 * --tls-auth-clients yes it refuses a client without a certificate; a
 * server whose certificate does not fit 127.0.0.1 is refused at start
 * (unless asked for on purpose);
 * restart keeps TLS; bad options leave nothing behind.
 *
 * One set of certificates serves the whole group (group setup); each test
 * stops its own servers in teardown.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "redis_spawn.h"
#include "tls_certs.h"

/* Time one redis-cli or openssl run may take (generous: shared machine). */
#define RUN_TIMEOUT_MS 20000

static rs_tls_certs certs;

/* Per-test state: a server that teardown always stops. */
typedef struct tls_state {
    rs_server srv;
} tls_state;

/* Make the certificates once for the group. */
static int group_setup(void **state)
{
    (void)state;
    return rs_tls_certs_create(&certs) == 0 ? 0 : -1;
}

/* Remove them. */
static int group_teardown(void **state)
{
    (void)state;
    rs_tls_certs_remove(&certs);
    return 0;
}

static int setup(void **state)
{
    tls_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -1;
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    tls_state *st = *state;
    rs_stop(&st->srv);
    free(st);
    return 0;
}

/* 1 if path exists, else 0. */
static int path_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* The redis-cli binary: $REDIS_CLI or "redis-cli". */
static const char *redis_cli(void)
{
    const char *b = getenv("REDIS_CLI");
    return (b != NULL && b[0] != '\0') ? b : "redis-cli";
}

/* The openssl binary: $OPENSSL or "openssl". */
static const char *openssl_bin(void)
{
    const char *b = getenv("OPENSSL");
    return (b != NULL && b[0] != '\0') ? b : "openssl";
}

/* Options for a TLS-only server with the group's server certificate. */
static rs_options tls_opts(void)
{
    rs_options o;
    memset(&o, 0, sizeof(o));
    o.tls_cert_file = certs.server_cert;
    o.tls_key_file = certs.server_key;
    o.tls_ca_file = certs.ca_file;
    return o;
}

/* Run `redis-cli -h 127.0.0.1 -p PORT [extra...] PING` (extra ends with
 * NULL, at most 8 entries) into out; returns its exit status. */
static int cli_ping(int port, char *out, size_t outlen, const char *extra[])
{
    char portbuf[16];
    const char *argv[24];
    int i = 0;

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    argv[i++] = redis_cli();
    argv[i++] = "-h";
    argv[i++] = "127.0.0.1";
    argv[i++] = "-p";
    argv[i++] = portbuf;
    for (int k = 0; extra != NULL && extra[k] != NULL && k < 8; k++)
        argv[i++] = extra[k];
    argv[i++] = "PING";
    argv[i] = NULL;
    return rs_run(argv, out, outlen, RUN_TIMEOUT_MS);
}

/* 1 if out is "PONG" followed by optional whitespace. */
static int is_pong(const char *out)
{
    return strncmp(out, "PONG", 4) == 0 && strspn(out + 4, "\r\n ") ==
                                                strlen(out + 4);
}

/* `openssl verify -CAfile ca [name check] cert`; returns its status. */
static int verify(const char *ca, const char *purpose, const char *check,
                  const char *name, const char *cert)
{
    const char *argv[16];
    char out[2048];
    int i = 0;

    argv[i++] = openssl_bin();
    argv[i++] = "verify";
    argv[i++] = "-CAfile";
    argv[i++] = ca;
    if (purpose != NULL) {
        argv[i++] = "-purpose";
        argv[i++] = purpose;
    }
    if (check != NULL) {
        argv[i++] = check;
        argv[i++] = name;
    }
    argv[i++] = cert;
    argv[i] = NULL;
    return rs_run(argv, out, sizeof(out), RUN_TIMEOUT_MS);
}

/* Each certificate verifies where it should and fails where it should. */
static void test_certificates(void **state)
{
    (void)state;
    assert_true(path_exists(certs.dir));
    assert_true(path_exists(certs.server_key));
    assert_true(path_exists(certs.client_key));
    assert_true(path_exists(certs.wrong_host_key));
    /* The server certificate: our CA, localhost, 127.0.0.1, ::1. */
    assert_int_equal(verify(certs.ca_file, "sslserver", "-verify_ip",
                            "127.0.0.1", certs.server_cert), 0);
    assert_int_equal(verify(certs.ca_file, "sslserver", "-verify_ip", "::1",
                            certs.server_cert), 0);
    assert_int_equal(verify(certs.ca_file, "sslserver", "-verify_hostname",
                            "localhost", certs.server_cert), 0);
    assert_int_not_equal(verify(certs.ca_file, "sslserver",
                                "-verify_hostname", "example.com",
                                certs.server_cert), 0);
    /* The other CA trusts none of them. */
    assert_int_not_equal(verify(certs.other_ca_file, NULL, NULL, NULL,
                                certs.server_cert), 0);
    assert_int_not_equal(verify(certs.other_ca_file, NULL, NULL, NULL,
                                certs.client_cert), 0);
    /* The client certificate is for clients. */
    assert_int_equal(verify(certs.ca_file, "sslclient", NULL, NULL,
                            certs.client_cert), 0);
    assert_int_not_equal(verify(certs.ca_file, "sslserver", NULL, NULL,
                                certs.client_cert), 0);
    /* The wrong-host certificate: our CA, but not our names. */
    assert_int_equal(verify(certs.ca_file, "sslserver", NULL, NULL,
                            certs.wrong_host_cert), 0);
    assert_int_not_equal(verify(certs.ca_file, "sslserver", "-verify_ip",
                                "127.0.0.1", certs.wrong_host_cert), 0);
    assert_int_not_equal(verify(certs.ca_file, "sslserver",
                                "-verify_hostname", "localhost",
                                certs.wrong_host_cert), 0);
}

/* A TLS-only server answers redis-cli --tls and the fixture's commands,
 * and its URI says rediss://. */
static void test_tls_server_answers(void **state)
{
    tls_state *st = *state;
    rs_options o = tls_opts();
    const char *tls[] = { "--tls", "--cacert", certs.ca_file, NULL };
    const char *set[] = { "SET", "k", "v" };
    const char *get[] = { "GET", "k" };
    char out[1024], prefix[64];

    assert_int_equal(rs_start_ex(&st->srv, &o), 0);
    assert_int_equal(st->srv.tls, 1);
    snprintf(prefix, sizeof(prefix), "rediss://127.0.0.1:%d", st->srv.port);
    assert_string_equal(st->srv.uri, prefix);

    assert_int_equal(cli_ping(st->srv.port, out, sizeof(out), tls), 0);
    assert_true(is_pong(out));

    assert_int_equal(rs_command(&st->srv, out, sizeof(out), 3, set), 0);
    assert_string_equal(out, "OK");
    assert_int_equal(rs_command(&st->srv, out, sizeof(out), 2, get), 0);
    assert_string_equal(out, "v");
    assert_int_equal(rs_dbsize(&st->srv), 1);
}

/* The TLS port refuses plaintext and a client that trusts another CA. */
static void test_tls_refuses_plaintext_and_wrong_ca(void **state)
{
    tls_state *st = *state;
    rs_options o = tls_opts();
    const char *other[] = { "--tls", "--cacert", certs.other_ca_file, NULL };
    char out[1024];
    int rc;

    assert_int_equal(rs_start_ex(&st->srv, &o), 0);
    rc = cli_ping(st->srv.port, out, sizeof(out), NULL);
    assert_false(rc == 0 && is_pong(out));
    rc = cli_ping(st->srv.port, out, sizeof(out), other);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "certificate verify failed"));
}

/* With --tls-auth-clients yes, a client needs a certificate of our CA;
 * the fixture itself presents the one it was given. */
static void test_mutual_tls(void **state)
{
    tls_state *st = *state;
    rs_options o = tls_opts();
    const char *nocert[] = { "--tls", "--cacert", certs.ca_file, NULL };
    const char *withcert[] = { "--tls", "--cacert", certs.ca_file, "--cert",
                               certs.client_cert, "--key", certs.client_key,
                               NULL };
    char out[1024];
    int rc;

    o.tls_auth_clients = 1;
    o.tls_client_cert_file = certs.client_cert;
    o.tls_client_key_file = certs.client_key;
    assert_int_equal(rs_start_ex(&st->srv, &o), 0);
    assert_int_equal(st->srv.tls_auth_clients, 1);

    rc = cli_ping(st->srv.port, out, sizeof(out), nocert);
    assert_false(rc == 0 && is_pong(out));
    assert_int_equal(cli_ping(st->srv.port, out, sizeof(out), withcert), 0);
    assert_true(is_pong(out));
    assert_int_equal(rs_dbsize(&st->srv), 0);
}

/* A server whose certificate does not name 127.0.0.1 is refused at start
 * (the fixture verifies the address), at once and without leftovers. */
static void test_wrong_host_refused(void **state)
{
    tls_state *st = *state;
    rs_options o = tls_opts();

    o.tls_cert_file = certs.wrong_host_cert;
    o.tls_key_file = certs.wrong_host_key;
    assert_int_equal(rs_start_ex(&st->srv, &o), -1);
    assert_int_equal(st->srv.pid, 0);
    assert_string_equal(st->srv.dir, "");
}

/* With tls_skip_name_check the same server starts (for tests of a
 * client's name check), and still answers redis-cli, which checks the
 * chain only. */
static void test_wrong_host_on_purpose(void **state)
{
    tls_state *st = *state;
    rs_options o = tls_opts();
    const char *tls[] = { "--tls", "--cacert", certs.ca_file, NULL };
    char out[1024];

    o.tls_cert_file = certs.wrong_host_cert;
    o.tls_key_file = certs.wrong_host_key;
    o.tls_skip_name_check = 1;
    assert_int_equal(rs_start_ex(&st->srv, &o), 0);
    assert_int_equal(cli_ping(st->srv.port, out, sizeof(out), tls), 0);
    assert_true(is_pong(out));
    assert_int_equal(rs_dbsize(&st->srv), 0);
}

/* Restart on the same port keeps TLS. */
static void test_restart_keeps_tls(void **state)
{
    tls_state *st = *state;
    rs_options o = tls_opts();
    const char *tls[] = { "--tls", "--cacert", certs.ca_file, NULL };
    char out[1024];
    int port;

    assert_int_equal(rs_start_ex(&st->srv, &o), 0);
    port = st->srv.port;
    rs_kill(&st->srv, 1);
    assert_int_equal(rs_restart(&st->srv), 0);
    assert_int_equal(st->srv.port, port);
    assert_int_equal(cli_ping(port, out, sizeof(out), tls), 0);
    assert_true(is_pong(out));
}

/* Incomplete or missing TLS files fail fast and leave nothing. */
static void test_bad_tls_options(void **state)
{
    tls_state *st = *state;
    rs_options o = tls_opts();

    o.tls_ca_file = NULL;
    assert_int_equal(rs_start_ex(&st->srv, &o), -1);
    assert_int_equal(st->srv.pid, 0);
    assert_string_equal(st->srv.dir, "");

    o = tls_opts();
    o.tls_key_file = "/nonexistent/server.key";
    assert_int_equal(rs_start_ex(&st->srv, &o), -1);
    assert_int_equal(st->srv.pid, 0);

    o = tls_opts();
    o.tls_client_cert_file = certs.client_cert; /* without its key */
    assert_int_equal(rs_start_ex(&st->srv, &o), -1);
    assert_int_equal(st->srv.pid, 0);
}

/* rs_tls_certs_remove() removes the directory and clears the paths; it is
 * safe twice. */
static void test_certs_remove(void **state)
{
    rs_tls_certs c;
    char dir[sizeof(c.dir)];

    (void)state;
    assert_int_equal(rs_tls_certs_create(&c), 0);
    assert_true(path_exists(c.ca_file));
    memcpy(dir, c.dir, sizeof(dir));
    rs_tls_certs_remove(&c);
    assert_false(path_exists(dir));
    assert_string_equal(c.dir, "");
    assert_string_equal(c.ca_file, "");
    rs_tls_certs_remove(&c);
}

/* rs_run() reports exit statuses and a missing program. */
static void test_run(void **state)
{
    const char *f[] = { "false", NULL };
    const char *t[] = { "true", NULL };
    const char *missing[] = { "/nonexistent/program", NULL };
    const char *echo[] = { "echo", "hello", NULL };
    char out[64];

    (void)state;
    assert_int_equal(rs_run(t, out, sizeof(out), RUN_TIMEOUT_MS), 0);
    assert_int_equal(rs_run(f, out, sizeof(out), RUN_TIMEOUT_MS), 1);
    assert_int_equal(rs_run(missing, out, sizeof(out), RUN_TIMEOUT_MS), 127);
    assert_int_equal(rs_run(echo, out, sizeof(out), RUN_TIMEOUT_MS), 0);
    assert_string_equal(out, "hello\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run),
        cmocka_unit_test(test_certificates),
        cmocka_unit_test(test_certs_remove),
        cmocka_unit_test_setup_teardown(test_tls_server_answers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_tls_refuses_plaintext_and_wrong_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutual_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_host_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wrong_host_on_purpose, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_keeps_tls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_tls_options, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("spawn_tls", tests, group_setup,
                                       group_teardown);
}
