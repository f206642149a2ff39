#!/usr/bin/env bash
# fuzz.sh: build the libFuzzer harnesses (tests/fuzz) with clang and run
# each one for a while.
#
#   ./scripts/fuzz.sh                        # every harness, 30 s each
#   ./scripts/fuzz.sh fuzz_reply fuzz_uri    # only these
#   REDLOCK_FUZZ_SECONDS=600 ./scripts/fuzz.sh
#
# Configures build-fuzz/ with clang, REDLOCK_FUZZ=ON and the tests off,
# builds the target redlock_fuzzers, then runs each harness for
# REDLOCK_FUZZ_SECONDS over a copy of its seed corpus
# (build-fuzz/corpus/<name>/; the seeds in tests/fuzz/corpus/ are never
# written). A crash, leak, UB report or hang leaves its input in
# build-fuzz/artifacts/<name>/; add it to the seeds once fixed.
#
# Before the runs, a harness is started on its seeds alone as a probe. If
# that fails, the runs go under `setarch $(uname -m) -R` (ASLR off) when
# that helps: some kernels randomise mmap with more bits than the
# sanitizer runtime expects (see scripts/test.sh).
#
# Environment:
#   REDLOCK_FUZZ_SECONDS  seconds per harness, default 30
#   REDLOCK_FUZZ_DIR      build directory, default <repo>/build-fuzz
#   REDLOCK_FUZZ_CC       the compiler, default clang
#   REDLOCK_JOBS          parallel build jobs, default 2
#
# Exits non-zero if the build fails or any harness reports a problem.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${REDLOCK_FUZZ_DIR:-$ROOT/build-fuzz}
SECONDS_EACH=${REDLOCK_FUZZ_SECONDS:-30}
CC_FUZZ=${REDLOCK_FUZZ_CC:-clang}
JOBS=${REDLOCK_JOBS:-2}
WRAPPER=()

# log MESSAGE: print a visible step header.
log() {
    printf '\n==> fuzz: %s\n' "$*"
}

# die MESSAGE: print MESSAGE to stderr and exit 1.
die() {
    printf 'fuzz.sh: %s\n' "$*" >&2
    exit 1
}

# short_name HARNESS: the corpus directory name (fuzz_uri -> uri).
short_name() {
    printf '%s\n' "${1#fuzz_}"
}

# probe HARNESS [WRAPPER...]: run HARNESS once over its seeds (no
# fuzzing); succeed if it exits cleanly within 60 s.
probe() {
    local name=$1
    shift
    timeout 60 "$@" "$DIR/fuzz/$name" -runs=0 \
        "$ROOT/tests/fuzz/corpus/$(short_name "$name")" \
        >"$DIR/probe-$name.log" 2>&1
}

if [[ ! "$SECONDS_EACH" =~ ^[1-9][0-9]*$ ]]; then
    die "REDLOCK_FUZZ_SECONDS must be a positive whole number," \
        "not '$SECONDS_EACH'"
fi
command -v "$CC_FUZZ" >/dev/null 2>&1 ||
    die "$CC_FUZZ not found (Debian: apt-get install clang" \
        "libclang-rt-14-dev, or run scripts/deps.sh)"

log "configure and build in $DIR with $CC_FUZZ"
# A cache made with another compiler cannot be switched: start over.
if [[ -f "$DIR/CMakeCache.txt" ]] &&
    ! grep -q "^CMAKE_C_COMPILER:[A-Z]*=.*$(basename "$CC_FUZZ")" \
        "$DIR/CMakeCache.txt"; then
    rm -rf "$DIR"
fi
cmake -S "$ROOT" -B "$DIR" \
    -DCMAKE_C_COMPILER="$CC_FUZZ" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DREDLOCK_FUZZ=ON \
    -DREDLOCK_BUILD_TESTS=OFF \
    -DREDLOCK_SANITIZE= \
    -DREDLOCK_WERROR=ON || die "configure failed"
cmake --build "$DIR" -j "$JOBS" --target redlock_fuzzers ||
    die "build failed"

# The harnesses to run: the arguments, or every one that was built.
harnesses=("$@")
if ((${#harnesses[@]} == 0)); then
    for bin in "$DIR"/fuzz/fuzz_*; do
        [[ -x "$bin" ]] && harnesses+=("$(basename "$bin")")
    done
fi
((${#harnesses[@]} > 0)) || die "no harness was built"
for name in "${harnesses[@]}"; do
    [[ -x "$DIR/fuzz/$name" ]] || die "unknown harness '$name'"
done

log "probe: ${harnesses[0]} over its seeds"
if ! probe "${harnesses[0]}"; then
    arch=$(uname -m)
    if command -v setarch >/dev/null 2>&1 &&
        probe "${harnesses[0]}" setarch "$arch" -R; then
        echo "fuzz.sh: running under 'setarch $arch -R' (ASLR off)"
        WRAPPER=(setarch "$arch" -R)
    else
        tail -n 30 "$DIR/probe-${harnesses[0]}.log" >&2
        die "${harnesses[0]} fails on its own seeds (log above)"
    fi
fi

failed=()
for name in "${harnesses[@]}"; do
    short=$(short_name "$name")
    corpus="$DIR/corpus/$short"
    artifacts="$DIR/artifacts/$short"
    mkdir -p "$corpus" "$artifacts"
    # Keep what earlier runs found; add the current seeds.
    cp -f "$ROOT/tests/fuzz/corpus/$short"/* "$corpus"/ 2>/dev/null || true
    log "$name for ${SECONDS_EACH}s (corpus $corpus)"
    # -timeout: one input slower than 10 s is a hang. timeout(1) is a
    # backstop in case the fuzzer itself does not stop.
    if timeout $((SECONDS_EACH + 120)) "${WRAPPER[@]}" "$DIR/fuzz/$name" \
        -max_total_time="$SECONDS_EACH" \
        -timeout=10 \
        -rss_limit_mb=2048 \
        -print_final_stats=1 \
        -artifact_prefix="$artifacts/" \
        "$corpus" >"$DIR/$name.log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' \
            "$DIR/$name.log" || true
        echo "fuzz.sh: $name: ok"
    else
        tail -n 40 "$DIR/$name.log" >&2
        echo "fuzz.sh: $name: FAILED (log $DIR/$name.log," \
             "inputs in $artifacts)" >&2
        failed+=("$name")
    fi
done

echo
if ((${#failed[@]} > 0)); then
    echo "fuzz.sh: FAILED: ${failed[*]}"
    exit 1
fi
echo "fuzz.sh: ${#harnesses[@]} harnesses ran ${SECONDS_EACH}s each, no problem found"
