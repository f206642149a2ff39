#!/usr/bin/env bash
# run.sh: the main job. Installs missing dependencies, builds redlock and
# its benchmark in Release mode into build/, and runs
# build/bench/redlock-bench "$@": with no arguments, the embedded default
# (three redis-servers spawned on loopback and stopped at the end, every
# workload W1-W5 beside the limits L1 and L2, about 45 s; see
# docs/bench.md). If the bench was not built (no bench/ directory), it runs
# build/redlock-example instead, which starts three local redis-server
# processes and walks one lock through acquire, extend and release.
#
#   ./scripts/run.sh [bench arguments...]     # from any directory
#   ./scripts/run.sh --nodes-count 1,3,5 --json
#
# Environment: REDLOCK_JOBS (parallel build jobs, default: nproc).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build"
JOBS=${REDLOCK_JOBS:-$(nproc 2>/dev/null || echo 2)}

"$ROOT/scripts/deps.sh"

# Tests are built and run by scripts/test.sh, which also makes warnings
# errors; here a new compiler warning must not stop the main job.
cmake -S "$ROOT" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    -DREDLOCK_BUILD_TESTS=OFF \
    -DREDLOCK_WERROR=OFF \
    -DREDLOCK_SANITIZE=
cmake --build "$BUILD" -j "$JOBS"

if [[ -x "$BUILD/bench/redlock-bench" ]]; then
    echo "run.sh: running $BUILD/bench/redlock-bench $*"
    exec "$BUILD/bench/redlock-bench" "$@"
fi
if [[ ! -x "$BUILD/redlock-example" ]]; then
    echo "run.sh: neither bench/redlock-bench nor redlock-example was built" >&2
    exit 1
fi
echo "run.sh: running $BUILD/redlock-example"
exec "$BUILD/redlock-example"
