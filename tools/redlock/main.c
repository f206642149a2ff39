/*
 * main.c: entry point of the `redlock` command-line tool: parse the
 * command line (flags.c), answer --help and --version, and run one
 * command (cmd_*.c). Its return value is the process exit status,
 * documented in docs/redlock.1 (EXIT STATUS).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Print the version: the library's, which is what decides behaviour, and
 * the headers' when they differ (a tool built against other headers). */
static void print_version(void)
{
    const char *lib = redlock_version();

    if (strcmp(lib, REDLOCK_VERSION_STRING) == 0)
        printf("redlock %s\n", lib);
    else
        printf("redlock %s (built with headers %s)\n", lib,
               REDLOCK_VERSION_STRING);
}

/* Parse, then run the command; returns the exit status. */
int main(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse_args(argc, argv, &a);

    if (rc != 0) {
        if (cli_argv_wants_json(argc, argv)) {
            cli_json_error(stdout, NULL, NULL, cli_usage_message(), rc);
            fflush(stdout);
        }
        return rc;
    }
    if (a.version) {
        print_version();
    } else if (a.help) {
        cli_print_help(stdout, a.cmd);
    } else {
        cli_verbosity = a.quiet ? -1 : a.verbose;
        switch (a.cmd) {
        case CLI_CMD_ACQUIRE:
            rc = cli_cmd_acquire(&a);
            break;
        case CLI_CMD_EXTEND:
            rc = cli_cmd_extend(&a);
            break;
        case CLI_CMD_RELEASE:
            rc = cli_cmd_release(&a);
            break;
        case CLI_CMD_STATUS:
            rc = cli_cmd_status(&a);
            break;
        case CLI_CMD_EXEC:
            rc = cli_cmd_exec(&a);
            break;
        case CLI_CMD_ELECT:
            rc = cli_cmd_elect(&a);
            break;
        case CLI_CMD_NONE:
        case CLI_CMD_COUNT:
            rc = CLI_EXIT_USAGE; /* cli_parse_args() rules this out */
            break;
        }
    }
    if (a.json && !a.help && !a.version)
        cli_json_error(stdout, cli_command_of(a.cmd)->name, a.operands[0], NULL,
                       rc); /* unless the command printed its own */
    if (fflush(stdout) != 0 && rc == 0) {
        cli_error("cannot write to stdout");
        rc = CLI_EXIT_UNAVAILABLE;
    }
    cli_args_free(&a);
    return rc;
}
