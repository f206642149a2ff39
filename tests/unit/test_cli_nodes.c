/*
 * test_cli_nodes.c: the CLI's node failure lines (tools/redlock/nodes.c),
 * without a server: the library's node_error_fn is called by hand, as a
 * worker thread would, and stderr is read back from a file.
 *
 * The case that matters: a node that fails after an attempt was
 * reported (it was still pending in it) and before the command starts
 * waiting is reported when the wait starts. The library reports each
 * change once, so before the fix that line was never printed (CI, under
 * load: test_cli test_node_lines_rate_limited found no line at all).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../tools/redlock/nodes.c"

/* nodes.c's two neighbours in the CLI, reduced to what these tests need
 * (output.c and status.c bring the whole CLI with them). */
const char *cli_status_short_name(redlock_status st)
{
    return redlock_status_name(st);
}

int cli_is_config_status(redlock_status st)
{
    return st == REDLOCK_EAUTH;
}

/* stderr goes to a temporary file while a test runs. */
static FILE *captured;
static int saved_stderr = -1;

static void capture_begin(void)
{
    fflush(stderr);
    captured = tmpfile();
    assert_non_null(captured);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(captured), STDERR_FILENO) >= 0);
}

/* Stop capturing; how many captured lines contain needle. */
static int capture_end(const char *needle)
{
    char line[512];
    int n = 0;

    fflush(stderr);
    assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
    close(saved_stderr);
    rewind(captured);
    while (fgets(line, sizeof(line), captured) != NULL) {
        fputs(line, stderr); /* shown with the test's output */
        n += strstr(line, needle) != NULL;
    }
    fclose(captured);
    return n;
}

/* The callback the CLI gives the library. */
static redlock_node_error_fn hooked(void)
{
    redlock_options o;

    redlock_options_init(&o);
    cli_nodes_hook(&o);
    assert_non_null(o.node_error_fn);
    return o.node_error_fn;
}

/* A failure recorded while not live is printed when live starts, once. */
static void test_live_prints_known_down(void **state)
{
    (void)state;
    redlock_node_error_fn fn = hooked();

    capture_begin();
    fn("10.0.0.1:6379", REDLOCK_EREFUSED, "connect failed", NULL);
    fn("10.0.0.2:6379", REDLOCK_OK, "", NULL); /* up: nothing to say */
    cli_nodes_live(1);
    cli_nodes_live(0);
    cli_nodes_live(1); /* again: within the rate limit */
    cli_nodes_live(0);
    assert_int_equal(capture_end("redlock: node 10.0.0.1:6379: "), 1);
}

/* While live, a failure is printed as it is reported, and one rate
 * limit covers both ways of printing it. */
static void test_live_prints_as_reported(void **state)
{
    (void)state;
    redlock_node_error_fn fn = hooked();

    capture_begin();
    cli_nodes_live(1);
    fn("10.0.0.3:6379", REDLOCK_EREFUSED, "connect failed", NULL);
    fn("10.0.0.3:6379", REDLOCK_EREFUSED, "connect failed", NULL);
    cli_nodes_live(0);
    cli_nodes_live(1);
    cli_nodes_live(0);
    assert_int_equal(capture_end("redlock: node 10.0.0.3:6379: "), 1);
}

/* Not live: recorded, not printed; a node back up is not reported when
 * live starts. */
static void test_quiet_and_recovered(void **state)
{
    (void)state;
    redlock_node_error_fn fn = hooked();

    capture_begin();
    fn("10.0.0.4:6379", REDLOCK_EREFUSED, "connect failed", NULL);
    fn("10.0.0.4:6379", REDLOCK_OK, "", NULL);
    cli_nodes_live(1);
    cli_nodes_live(0);
    assert_int_equal(capture_end("redlock: node 10.0.0.4:6379"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_prints_known_down),
        cmocka_unit_test(test_live_prints_as_reported),
        cmocka_unit_test(test_quiet_and_recovered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
