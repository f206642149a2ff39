#!/usr/bin/env bash
# test.sh: build and run every test, the way CI does (.ci/run calls this).
#
#   ./scripts/test.sh                 # from any directory
#   ./scripts/test.sh -L unit         # extra arguments go to every ctest
#   REDLOCK_TEST_BUILDS="normal" ./scripts/test.sh
#
# Three builds, each in its own directory, each configured, built with -j2
# and tested with `ctest --output-on-failure -j2`:
#   normal  build-test/   gcc, -Werror, RelWithDebInfo (optimised, so the
#                         flow-based warnings fire); then installs into
#                         build-test/install-prefix and builds
#                         tests/consumer against it twice: with
#                         find_package(redlock) and with
#                         `pkg-config --cflags --libs redlock`
#   asan    build-asan/   REDLOCK_SANITIZE=address,undefined, Debug
#   tsan    build-tsan/   REDLOCK_SANITIZE=thread, RelWithDebInfo
# and then one extra step:
#   fuzz    build-fuzz/   scripts/fuzz.sh: clang, the libFuzzer harnesses
#                         of tests/fuzz, each run for REDLOCK_FUZZ_SECONDS
#                         (20 here unless set); not a ctest run, so it
#                         adds no test counts, only a failed step
# The fault-injection suite (ctest label "fault", tests/faults) runs in the
# normal build only: it is timing-based, and sanitizers slow every process
# down by 2-20x. So does the spin model (label "model", tests/model): it
# contains no C code of ours, so sanitizers have nothing to check in it.
# That exclusion (-LE 'fault|model') applies only when no selection
# is given: with -L, -LE, -R, -E or -I the selection is the user's, in
# every build (so `./scripts/test.sh -L fault` runs the fault suite in the
# sanitizer builds too; add REDLOCK_TEST_BUILDS=normal to avoid that).
#
# Nothing passes by running nothing or by skipping:
#   - ctest runs with --no-tests=error: an empty selection fails the step;
#   - without a selection, each build must run at least its known number
#     of tests (MIN_TESTS_* below), so a test that stops being registered
#     (a glob, an option) fails the step;
#   - a test program that skipped a test exits 77, which ctest reports as
#     "Skipped" (SKIP_RETURN_CODE, cmake/RedlockTest.cmake); skipped tests
#     are listed, not counted as passed, and fail the step unless
#     REDLOCK_TEST_ALLOW_SKIPS=1.
#
# Before running a sanitizer build's tests, a tiny instrumented program is
# run as a probe. Some kernels randomise mmap addresses with more bits than
# the sanitizer runtime expects (vm.mmap_rnd_bits = 32: gcc 12's TSan dies
# with "unexpected memory mapping", its ASan can hang at start-up); if the
# probe fails or hangs, the tests run under
# `setarch $(uname -m) -R` (ASLR off for ctest and its children), and as a
# last resort, as root, with vm.mmap_rnd_bits lowered to 28 for the run and
# restored on exit.
#
# Environment:
#   REDLOCK_TEST_BUILDS  which builds to run, default
#                        "normal asan tsan fuzz"
#   REDLOCK_FUZZ_SECONDS seconds per fuzz harness, default 20 here
#   REDLOCK_JOBS         parallel build and test jobs, default 2
#   REDLOCK_TEST_ALLOW_SKIPS  1: skipped tests do not fail the run
#   CC                   compiler for a fresh build directory, default gcc
#
# Runs every requested build even after a failure, then exits non-zero if
# anything failed. The last line is "N passed, F failed" over all ctest runs
# (skipped tests are in neither number; a line before it lists them).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${REDLOCK_JOBS:-2}
BUILDS=${REDLOCK_TEST_BUILDS:-normal asan tsan fuzz}
CTEST_ARGS=("$@")
# Extra ctest arguments of the build being tested (set per build).
CTEST_EXTRA=()
export CC=${CC:-gcc}
# Tests each build registers today (ctest -N): the normal build runs them
# all, a sanitizer build all but the "fault" and "model" labels. Raise these when tests
# are added; lower them only when a test is removed on purpose.
MIN_TESTS_NORMAL=86
MIN_TESTS_SANITIZED=62

total_passed=0
total_failed=0
total_skipped=0
skipped_tests=()
failed_steps=()
# Set by fix_sanitizer_aslr: the command prefix sanitized tests need, and
# the old vm.mmap_rnd_bits if it had to lower it.
SAN_WRAPPER=()
saved_rnd_bits=""

# log MESSAGE: print a visible step header.
log() {
    printf '\n==> %s\n' "$*"
}

# restore_rnd_bits: put vm.mmap_rnd_bits back if we lowered it.
restore_rnd_bits() {
    if [[ -n "$saved_rnd_bits" ]]; then
        echo "$saved_rnd_bits" >/proc/sys/vm/mmap_rnd_bits 2>/dev/null || true
        echo "test.sh: restored vm.mmap_rnd_bits=$saved_rnd_bits"
        saved_rnd_bits=""
    fi
}
trap restore_rnd_bits EXIT

# configure_and_build DIR BUILD_TYPE [CMAKE_ARGS...]: configure the project
# with tests and -Werror into DIR, then build it. Returns non-zero on
# failure.
configure_and_build() {
    local dir=$1 type=$2
    shift 2
    cmake -S "$ROOT" -B "$dir" \
        -DCMAKE_BUILD_TYPE="$type" \
        -DREDLOCK_BUILD_TESTS=ON \
        -DREDLOCK_WERROR=ON \
        "$@" || return 1
    cmake --build "$dir" -j "$JOBS" || return 1
}

# user_selected: succeed if the script's arguments select tests (labels,
# names or numbers), in which case no build narrows them further.
user_selected() {
    local a
    for a in "${CTEST_ARGS[@]}"; do
        case "$a" in
        -L | -LE | -R | -E | -I | -U | --label-regex* | --label-exclude* | \
            --tests-regex* | --exclude-regex* | --tests-information* | \
            --union | --exclude-fixture* | --fixture-exclude* | \
            --tests-from-file* | --exclude-from-file*)
            return 0
            ;;
        esac
    done
    return 1
}

# run_ctest DIR MIN [WRAPPER...]: run ctest in DIR (prefixed by WRAPPER,
# such as setarch) with the script's extra arguments, and add its counts
# to the totals. Fails if ctest failed, ran nothing, ran fewer than MIN
# tests (when the user selected none), or skipped any (unless
# REDLOCK_TEST_ALLOW_SKIPS=1).
run_ctest() {
    local dir=$1 min=$2
    shift 2
    local rc=0 counts skipped name
    (cd "$dir" &&
        "$@" ctest --output-on-failure --no-tests=error -j "$JOBS" \
            "${CTEST_EXTRA[@]}" "${CTEST_ARGS[@]}") 2>&1 |
        tee "$dir/ctest.log" || rc=$?
    # "100% tests passed, 0 tests failed out of 12"
    counts=$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\1 \2/p' \
        "$dir/ctest.log" | tail -n 1)
    if [[ -z "$counts" ]]; then
        echo "test.sh: $dir: no test ran" >&2
        return 1
    fi
    local failed=${counts% *} total=${counts#* }
    # "	  9 - test_status (Skipped)" under "The following tests did not
    # run:"; ctest counts these as passed.
    skipped=0
    while IFS= read -r name; do
        skipped=$((skipped + 1))
        skipped_tests+=("$(basename "$dir"): $name")
    done < <(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (Skipped)$/\1/p' \
        "$dir/ctest.log")
    total_passed=$((total_passed + total - failed - skipped))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
    if ((rc != 0)); then
        return "$rc"
    fi
    if ! user_selected && ((total < min)); then
        echo "test.sh: $dir: only $total tests ran, expected at least" \
             "$min (a test is no longer registered?)" >&2
        return 1
    fi
    if ((skipped > 0)) && [[ "${REDLOCK_TEST_ALLOW_SKIPS:-0}" != 1 ]]; then
        echo "test.sh: $dir: $skipped test(s) skipped" \
             "(REDLOCK_TEST_ALLOW_SKIPS=1 to accept)" >&2
        return 1
    fi
    return 0
}

# cache_value DIR VAR: print VAR's value from DIR's CMakeCache.txt.
cache_value() {
    sed -n "s/^$2:[A-Z]*=//p" "$1/CMakeCache.txt" | head -n 1
}

# probe_runs LOG COMMAND...: run COMMAND (the sanitizer probe, possibly
# wrapped) 5 times with its output in LOG; succeed only if every run does.
# Each run gets 30 s: on an incompatible layout, TSan aborts but ASan can
# spin forever instead.
probe_runs() {
    local log=$1 n
    shift
    for ((n = 0; n < 5; n++)); do
        timeout 30 "$@" >"$log" 2>&1 || return 1
    done
}

# fix_sanitizer_aslr DIR FLAGS: check that a program built with
# -fsanitize=FLAGS runs here. Sets SAN_WRAPPER to the command prefix the
# tests need (empty, or setarch -R), possibly lowering vm.mmap_rnd_bits.
# Returns non-zero if no way to run sanitized programs was found.
fix_sanitizer_aslr() {
    local dir=$1 flags=$2
    local cc probe="$dir/sanitizer-probe" arch
    cc=$(cache_value "$dir" CMAKE_C_COMPILER)
    arch=$(uname -m)
    SAN_WRAPPER=()
    cat >"$probe.c" <<'PROBE'
/* Probe: can a sanitized, threaded program start on this kernel? */
#include <pthread.h>
#include <stdlib.h>
static int value;
/* Thread body: touch shared state under no lock (joined before read). */
static void *work(void *arg)
{
    (void)arg;
    value = 1;
    return NULL;
}
/* Start and join one thread; allocate and free a little memory. */
int main(void)
{
    pthread_t t;
    char *p = malloc(16);
    if (pthread_create(&t, NULL, work, NULL) != 0)
        return 1;
    pthread_join(t, NULL);
    free(p);
    return value == 1 ? 0 : 1;
}
PROBE
    if ! "${cc:-$CC}" -fsanitize="$flags" -g -pthread "$probe.c" \
        -o "$probe" 2>"$probe.log"; then
        cat "$probe.log" >&2
        echo "test.sh: cannot build a -fsanitize=$flags program" >&2
        return 1
    fi
    # A randomised layout is only sometimes incompatible, so try a few
    # times before trusting that the plain run works.
    if probe_runs "$probe.log" "$probe"; then
        return 0
    fi
    echo "test.sh: -fsanitize=$flags probe failed:" >&2
    head -n 5 "$probe.log" >&2
    if command -v setarch >/dev/null 2>&1 &&
        probe_runs "$probe.log" setarch "$arch" -R "$probe"; then
        echo "test.sh: running $flags tests under 'setarch $arch -R'" \
             "(ASLR off)" >&2
        SAN_WRAPPER=(setarch "$arch" -R)
        return 0
    fi
    if [[ "$(id -u)" == 0 && -w /proc/sys/vm/mmap_rnd_bits ]]; then
        local old
        old=$(cat /proc/sys/vm/mmap_rnd_bits)
        if ((old > 28)) && echo 28 >/proc/sys/vm/mmap_rnd_bits 2>/dev/null; then
            [[ -n "$saved_rnd_bits" ]] || saved_rnd_bits=$old
            if probe_runs "$probe.log" "$probe"; then
                echo "test.sh: lowered vm.mmap_rnd_bits $old -> 28 for the" \
                     "$flags tests (restored on exit)" >&2
                return 0
            fi
            restore_rnd_bits
        fi
    fi
    echo "test.sh: sanitized programs cannot run on this machine" >&2
    return 1
}

# check_consumer DIR: install DIR's build into DIR/install-prefix and build
# and run tests/consumer against it, with CMake and with pkg-config.
check_consumer() {
    local dir=$1
    local prefix="$dir/install-prefix" out="$dir/consumer"
    rm -rf "$prefix" "$out"
    cmake --install "$dir" --prefix "$prefix" || return 1

    log "installed programs run"
    local prog
    for prog in redlock redlock-bench; do
        "$prefix/bin/$prog" --version || {
            echo "test.sh: $prog was not installed, or does not run" >&2
            return 1
        }
    done

    log "consumer via find_package(redlock)"
    cmake -S "$ROOT/tests/consumer" -B "$out" \
        -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo ||
        return 1
    cmake --build "$out" -j "$JOBS" || return 1
    "$out/redlock-consumer" || return 1
    "$out/redlock-consumer-static" || return 1

    log "consumer via pkg-config redlock"
    local pc pcpath flags libdir
    pc=$(find "$prefix" -name redlock.pc -print -quit)
    if [[ -z "$pc" ]]; then
        echo "test.sh: redlock.pc was not installed" >&2
        return 1
    fi
    pcpath="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    flags=$(PKG_CONFIG_PATH="$pcpath" pkg-config --cflags --libs redlock) ||
        return 1
    libdir=$(PKG_CONFIG_PATH="$pcpath" pkg-config --variable=libdir redlock) ||
        return 1
    echo "pkg-config --cflags --libs redlock: $flags"
    # shellcheck disable=SC2086 # flags must split into words
    cc -std=c11 -Wall -Wextra -Werror "$ROOT/tests/consumer/consumer.c" \
        $flags -o "$out/redlock-consumer-pc" || return 1
    LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$out/redlock-consumer-pc" || return 1
}

# build_normal: (a) gcc -Werror build, its tests, and the install check.
build_normal() {
    local dir="$ROOT/build-test"
    log "normal build in $dir"
    configure_and_build "$dir" RelWithDebInfo -DREDLOCK_SANITIZE= \
        -DCMAKE_INSTALL_PREFIX="$dir/install-prefix" || {
        failed_steps+=("normal: build")
        return
    }
    log "normal: ctest"
    run_ctest "$dir" "$MIN_TESTS_NORMAL" || failed_steps+=("normal: tests")
    log "normal: install and consumers"
    check_consumer "$dir" || failed_steps+=("normal: install/consumer")
}

# build_sanitized NAME DIR BUILD_TYPE FLAGS: a REDLOCK_SANITIZE=FLAGS build
# and its tests.
build_sanitized() {
    local name=$1 dir=$2 type=$3 flags=$4
    log "$name build (-fsanitize=$flags) in $dir"
    configure_and_build "$dir" "$type" -DREDLOCK_SANITIZE="$flags" || {
        failed_steps+=("$name: build")
        return
    }
    if ! fix_sanitizer_aslr "$dir" "$flags"; then
        failed_steps+=("$name: sanitizer runtime")
        return
    fi
    # The fault suite and the model are left out unless the user chose
    # the tests.
    CTEST_EXTRA=()
    user_selected || CTEST_EXTRA=(-LE 'fault|model')
    log "$name: ctest ${CTEST_EXTRA[*]:-(as selected)}${SAN_WRAPPER[*]:+ (under ${SAN_WRAPPER[*]})}"
    run_ctest "$dir" "$MIN_TESTS_SANITIZED" "${SAN_WRAPPER[@]}" ||
        failed_steps+=("$name: tests")
    CTEST_EXTRA=()
}

# build_fuzz: the libFuzzer harnesses, briefly (scripts/fuzz.sh).
build_fuzz() {
    log "fuzz: scripts/fuzz.sh, ${REDLOCK_FUZZ_SECONDS:-20}s per harness"
    REDLOCK_FUZZ_SECONDS=${REDLOCK_FUZZ_SECONDS:-20} \
        "$ROOT/scripts/fuzz.sh" || failed_steps+=("fuzz")
}

"$ROOT/scripts/deps.sh"

for build in $BUILDS; do
    case "$build" in
    normal) build_normal ;;
    asan) build_sanitized asan "$ROOT/build-asan" Debug address,undefined ;;
    tsan) build_sanitized tsan "$ROOT/build-tsan" RelWithDebInfo thread ;;
    fuzz) build_fuzz ;;
    *)
        echo "test.sh: unknown build '$build' in REDLOCK_TEST_BUILDS" \
             "(use normal, asan, tsan, fuzz)" >&2
        failed_steps+=("$build: unknown")
        ;;
    esac
done

echo
if ((total_skipped > 0)); then
    echo "test.sh: $total_skipped skipped: $(printf '%s; ' "${skipped_tests[@]}")"
fi
if ((${#failed_steps[@]} > 0)); then
    echo "test.sh: FAILED: $(printf '%s; ' "${failed_steps[@]}")"
fi
echo "$total_passed passed, $total_failed failed"
if ((${#failed_steps[@]} > 0 || total_failed > 0)); then
    exit 1
fi
