/*
 * replay_main.c: run a libFuzzer harness over its seed corpus without
 * libFuzzer, so that the normal (gcc) build and the sanitizer builds test
 * every seed on every run (ctest fuzz_<name>_corpus, label "fuzz").
 *
 *   fuzz_uri_replay tests/fuzz/corpus/uri [more files or directories]
 *
 * Each argument is a file or a directory whose regular files (not
 * recursive, sorted by name so runs are repeatable) are inputs. Each input
 * is read whole and passed once to LLVMFuzzerTestOneInput(), linked in
 * from the harness. A broken invariant in the harness traps (the process
 * dies of SIGILL, and the test fails); so does anything a sanitizer
 * reports in a sanitizer build. The program names each input before
 * running it, so the one that crashed is the last line printed.
 *
 * Exits 0 after at least one input ran, 1 on an unreadable argument or if
 * no input was found: an empty corpus proves nothing, so it must not pass.
 *
 * DESIGN
 * The harness is compiled unchanged (libFuzzer's entry point is a plain C
 * function). Rejected: running the libFuzzer binary with -runs=0, which
 * needs clang and libFuzzer and so ran in no build that also runs ctest.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The harness's entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read the whole file at path into a malloc'ed buffer (*len bytes; never
 * NULL on success, even when empty). Returns NULL with a message on
 * failure. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (buf == NULL || ferror(f)) {
        fprintf(stderr, "replay: %s: read failed\n", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Run one input file. Returns 0, or -1 if it could not be read. */
static int run_file(const char *path)
{
    size_t len = 0;
    uint8_t *data = read_file(path, &len);
    if (data == NULL)
        return -1;
    printf("replay: %s (%zu bytes)\n", path, len);
    fflush(stdout);
    /* A copy of exactly len bytes, so reads past the end are caught by
     * ASan as they would be under libFuzzer. */
    uint8_t *exact = malloc(len != 0 ? len : 1);
    if (exact == NULL) {
        free(data);
        return -1;
    }
    memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

/* Compare directory entries by name, for scandir(). */
static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Run every regular file of directory dir; count them into *ran.
 * Returns 0 or -1. */
static int run_dir(const char *dir, size_t *ran)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        if (rc == 0 && list[i]->d_name[0] != '.' &&
            snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name) <
                (int)sizeof(path) &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path) != 0)
                rc = -1;
            else
                (*ran)++;
        }
        free(list[i]);
    }
    free(list);
    return rc;
}

/* Replay every input named on the command line. */
int main(int argc, char **argv)
{
    size_t ran = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        int rc = S_ISDIR(st.st_mode) ? run_dir(argv[i], &ran)
                                     : run_file(argv[i]);
        if (rc != 0)
            return 1;
        if (!S_ISDIR(st.st_mode))
            ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "replay: no input found: an empty corpus tests "
                        "nothing\n");
        return 1;
    }
    printf("replay: %zu inputs, no failure\n", ran);
    return 0;
}
