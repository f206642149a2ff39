/*
 * consumer.c: a downstream program that only uses the installed redlock
 * package. scripts/test.sh builds it twice against a temporary install,
 * once through find_package(redlock) and once through
 * `pkg-config --cflags --libs redlock`, to prove the installed headers,
 * libraries, CMake config and .pc file work outside this source tree.
 *
 * It never connects to Redis: it only checks that the library links, loads
 * and agrees with the headers it was compiled against.
 */
#include <stdio.h>
#include <string.h>

#include <redlock.h>

/*
 * Print the library version, fill an options struct, and check a status
 * message exists. Exit status 0 if all checks pass, 1 otherwise.
 */
int main(void)
{
    redlock_options opts;
    const char *msg;
    int failed = 0;

    printf("redlock %s (headers %s)\n", redlock_version(),
           REDLOCK_VERSION_STRING);
    if (strcmp(redlock_version(), REDLOCK_VERSION_STRING) != 0 ||
        redlock_version_number() != REDLOCK_VERSION_NUMBER) {
        fprintf(stderr, "consumer: library and header versions differ\n");
        failed = 1;
    }

    memset(&opts, 0, sizeof opts);
    redlock_options_init(&opts);
    if (opts.struct_size != sizeof opts) {
        fprintf(stderr, "consumer: redlock_options_init did not set "
                        "struct_size\n");
        failed = 1;
    }

    msg = redlock_strerror(REDLOCK_OK);
    if (msg == NULL) {
        fprintf(stderr, "consumer: redlock_strerror(REDLOCK_OK) is NULL\n");
        failed = 1;
    } else {
        printf("redlock_strerror(REDLOCK_OK) = \"%s\"\n", msg);
    }

    printf("consumer: %s\n", failed ? "FAILED" : "ok");
    return failed;
}
