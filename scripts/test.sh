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
# down by 2-20x (run it there by hand with `ctest -L fault` if wanted).
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
#   CC                   compiler for a fresh build directory, default gcc
#
# Runs every requested build even after a failure, then exits non-zero if
# anything failed. The last line is "N passed, F failed" over all ctest runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${REDLOCK_JOBS:-2}
BUILDS=${REDLOCK_TEST_BUILDS:-normal asan tsan fuzz}
CTEST_ARGS=("$@")
# Extra ctest arguments of the build being tested (set per build).
CTEST_EXTRA=()
export CC=${CC:-gcc}

total_passed=0
total_failed=0
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

# run_ctest DIR [WRAPPER...]: run ctest in DIR (prefixed by WRAPPER, such as
# setarch) with the script's extra arguments, and add its counts to the
# totals. Returns ctest's status.
run_ctest() {
    local dir=$1
    shift
    local rc=0 counts
    (cd "$dir" &&
        "$@" ctest --output-on-failure -j "$JOBS" "${CTEST_EXTRA[@]}" \
            "${CTEST_ARGS[@]}") 2>&1 |
        tee "$dir/ctest.log" || rc=$?
    # "100% tests passed, 0 tests failed out of 12"
    counts=$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\1 \2/p' \
        "$dir/ctest.log" | tail -n 1)
    if [[ -n "$counts" ]]; then
        local failed=${counts% *} total=${counts#* }
        total_passed=$((total_passed + total - failed))
        total_failed=$((total_failed + failed))
    fi
    return "$rc"
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
    run_ctest "$dir" || failed_steps+=("normal: tests")
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
    log "$name: ctest -LE fault${SAN_WRAPPER[*]:+ (under ${SAN_WRAPPER[*]})}"
    CTEST_EXTRA=(-LE fault)
    run_ctest "$dir" "${SAN_WRAPPER[@]}" || failed_steps+=("$name: tests")
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
if ((${#failed_steps[@]} > 0)); then
    echo "test.sh: FAILED: $(printf '%s; ' "${failed_steps[@]}")"
fi
echo "$total_passed passed, $total_failed failed"
if ((${#failed_steps[@]} > 0 || total_failed > 0)); then
    exit 1
fi
