#!/usr/bin/env bash
# deps.sh: install the Debian/Ubuntu packages redlock needs to build, test
# and run its example, skipping those already installed.
#
#   ./scripts/deps.sh            # from any directory
#   REDLOCK_SKIP_DEPS=1 ...      # do nothing (for machines you manage)
#
# Checks each package with dpkg-query; only when something is missing does
# it run `apt-get update` once and `apt-get install -y` for the missing
# ones, as root or through sudo. Non-interactive.
set -euo pipefail

PACKAGES=(
    build-essential # gcc, make, libc headers
    cmake
    pkg-config
    libhiredis-dev  # hiredis 0.14.1 on Debian 12
    libsodium-dev
    libssl-dev      # OpenSSL 3: TLS (rediss://) and SHA1
    openssl         # tests and bench --tls: make a test CA and certificates
    libcmocka-dev   # tests only
    redis-server    # tests, example and bench start their own servers
    redis-tools     # redis-cli, redis-benchmark
    redis-sentinel  # tests start Sentinel groups (tests/support/sentinel_spawn.c)
    spin            # tests only: the Promela model (ctest -L model)
    clang           # scripts/fuzz.sh: the libFuzzer harnesses
    libclang-rt-14-dev # libFuzzer and sanitizer runtimes for clang 14
    libuv1-dev      # examples/loop_libuv.c (event-loop example and its test)
    libevent-dev    # examples/loop_libevent.c (the same with libevent)
)

# die MESSAGE: print MESSAGE to stderr and exit 1.
die() {
    printf 'deps.sh: %s\n' "$*" >&2
    exit 1
}

if [[ "${REDLOCK_SKIP_DEPS:-0}" == 1 ]]; then
    echo "deps.sh: REDLOCK_SKIP_DEPS=1, not checking packages"
    exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1 ||
   ! command -v apt-get >/dev/null 2>&1; then
    echo "deps.sh: not a Debian-like system (no dpkg-query/apt-get);" \
         "install the equivalents of: ${PACKAGES[*]}" >&2
    echo "deps.sh: continuing; configure will name anything still missing" >&2
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != *" ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "deps.sh: all ${#PACKAGES[@]} packages present"
    exit 0
fi

echo "deps.sh: installing: ${missing[*]}"
if [[ "$(id -u)" == 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    die "need root or sudo to install: ${missing[*]}" \
        "(run: apt-get install -y ${missing[*]})"
fi

# sudo resets the environment, so pass DEBIAN_FRONTEND through env(1).
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update ||
    die "apt-get update failed"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}" ||
    die "apt-get install failed for: ${missing[*]}"
echo "deps.sh: done"
