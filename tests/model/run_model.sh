#!/usr/bin/env bash
# run_model.sh: check one configuration of the Promela model
# tests/model/redlock.pml with spin (docs/model.md; ctest label "model").
#
#   tests/model/run_model.sh CONFIG [WORKDIR]
#   tests/model/run_model.sh --list
#
# For CONFIG (the table below) it generates the verifier (`spin -a` with
# the configuration's -D flags), compiles pan with $CC (default cc),
# runs it, and checks the outcome:
#   holds      pan searched exhaustively (no "max search depth too small")
#              and found no error: prints the "states, stored" line.
#   violation  pan found an assertion violation, and it is the mutual
#              exclusion assertion (not the channel-capacity one); the
#              trail, replayed with `spin -t`, must show the configuration's
#              marker (the broken assumption at work). Prints the trail's
#              timeline (the model's MODEL lines) and the violating step.
# A missing spin or compiler fails the test: it never skips.
#
# WORKDIR (default: a fresh temporary directory, removed on exit) receives
# pan.c, pan, pan.out and the trail.
#
# Search options. Holds configurations run a plain exhaustive depth-first
# search with spin's default partial-order reduction (sound for safety
# properties: it never hides an assertion violation) and -DCOLLAPSE, a
# lossless compression of stored states that cuts memory about 3x; no
# bitstate and no hash compaction. Violation configurations run the same
# search with a depth bound (-m), which only affects how soon the first
# counterexample is met (a shallow one is also a short trail).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODEL="$HERE/redlock.pml"

# config NAME: set EXPECT, DEFS (spin -D flags), MARKER (an extended regex
# the counterexample's timeline must match), DEPTH (pan -m) and WHAT (a
# line of description). Returns 1 for an unknown name.
CONFIGS="holds_acquire holds_restart_guard holds_persist holds_extend
holds_abandon holds_lease violation_restart violation_drift
violation_prefix_extend violation_extend_inflight"
# The bounds shared by the configurations (docs/model.md, "Bounds"):
# 2 clients, 3 nodes, one acquire attempt each.
SMALL="-DDRIFT=0 -DMAXLAG=0"
config() {
    MARKER=""
    DEPTH=10000
    case "$1" in
    holds_acquire)
        WHAT="acquire, undo, release; keys expire and change hands; client clocks lag by up to the drift allowance"
        EXPECT=holds
        DEFS="-DL=3 -DTTL=3 -DDRIFT=1 -DMAXLAG=1"
        ;;
    holds_restart_guard)
        WHAT="a node restarts without persistence, and the restart guard is on"
        EXPECT=holds
        DEFS="-DL=2 -DTTL=1 $SMALL -DRESTARTS=1 -DGUARD=1"
        ;;
    holds_persist)
        WHAT="a node restarts with persistence (keeps its keys), guard off"
        EXPECT=holds
        DEFS="-DL=1 -DTTL=1 $SMALL -DRESTARTS=1 -DPERSIST -DGUARD=0"
        ;;
    holds_extend)
        WHAT="extend with the same or a shorter TTL, restore-on-extend"
        EXPECT=holds
        DEFS="-DL=1 -DTTL=2 -DTTL_SHORT=1 $SMALL -DMAXEXT=1 -DSHORT -DRESTORE"
        ;;
    holds_abandon)
        WHAT="timeouts: client 0 gives up waiting once a tick has passed and abandons the silent nodes' connections, whose commands still run later; extend with a shorter TTL"
        EXPECT=holds
        DEFS="-DL=1 -DTTL=2 -DTTL_SHORT=1 $SMALL -DMAXEXT=1 -DSHORT -DTIMEOUTS -DTIMEOUT_CLIENTS=1 -DEXTENDERS=1"
        ;;
    holds_lease)
        WHAT="a lease: renewals with a constant TTL only while valid, restore-on-extend, loss on a quorum of no"
        EXPECT=holds
        DEFS="-DL=2 -DTTL=2 $SMALL -DLEASE -DMAXEXT=1 -DRESTORE -DEXTENDERS=1"
        ;;
    violation_restart)
        WHAT="config 2: a node restarts without persistence, guard off"
        EXPECT=violation
        DEFS="-DL=2 -DTTL=1 $SMALL -DRESTARTS=1 -DGUARD=0"
        MARKER="restarts \\(keys lost\\)"
        DEPTH=100
        ;;
    violation_drift)
        WHAT="config 3: a client clock lags by more than the drift allowance"
        EXPECT=violation
        DEFS="-DL=3 -DTTL=3 -DDRIFT=1 -DMAXLAG=2"
        MARKER="clock lag 2"
        DEPTH=100
        ;;
    violation_prefix_extend)
        WHAT="config 4: the pre-fix extend rule (a failed extend keeps the old validity end)"
        EXPECT=violation
        DEFS="-DL=1 -DTTL=2 -DTTL_SHORT=1 $SMALL -DMAXEXT=1 -DSHORT -DPREFIX_EXTEND"
        MARKER="pre-fix rule"
        DEPTH=100
        ;;
    violation_extend_inflight)
        WHAT="the old end kept while a shortening extend is in flight (redlock_extend before the fix)"
        EXPECT=violation
        DEFS="-DL=1 -DTTL=2 -DTTL_SHORT=1 $SMALL -DMAXEXT=1 -DSHORT -DINFLIGHT_OLD_END"
        MARKER="extend 1 with ttl 1"
        DEPTH=100
        ;;
    *) return 1 ;;
    esac
}

die() {
    printf 'run_model.sh: %s\n' "$*" >&2
    exit 1
}

if [[ "${1:-}" == --list ]]; then
    echo $CONFIGS
    exit 0
fi
[[ $# -ge 1 ]] || die "usage: run_model.sh CONFIG [WORKDIR] | --list"
NAME=$1
config "$NAME" || die "unknown configuration '$NAME' (known: $CONFIGS)"

SPIN=${SPIN:-spin}
CC=${CC:-cc}
command -v "$SPIN" >/dev/null 2>&1 ||
    die "spin not found ('$SPIN'): install it (scripts/deps.sh installs the Debian package spin)"
command -v "$CC" >/dev/null 2>&1 || die "C compiler not found ('$CC')"

if [[ $# -ge 2 ]]; then
    WORK=$2
    rm -rf "$WORK"
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
fi
cd "$WORK"
# A local copy: pan names its trail after the model file, and spin -t
# looks for it next to the model it is given.
cp "$MODEL" redlock.pml
MODEL=redlock.pml

echo "model: $NAME: $WHAT"
echo "model: expect $EXPECT; spin $DEFS"
# shellcheck disable=SC2086 # DEFS is a list of flags
"$SPIN" $DEFS -a "$MODEL" >spin.out 2>&1 || {
    cat spin.out >&2
    die "spin -a failed"
}
CFLAGS=(-O2 -w -DSAFETY -DCOLLAPSE -DMEMLIM=3072)
"$CC" "${CFLAGS[@]}" -o pan pan.c || die "compiling pan failed"
start=$(date +%s)
rc=0
./pan -n -m"$DEPTH" >pan.out 2>&1 || rc=$?
end=$(date +%s)
echo "model: pan ran for $((end - start)) s (exit $rc)"

stored=$(grep -E '^ *[0-9.e+]+ states, stored' pan.out || true)
errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.out | tail -n 1)
if [[ -z "$errors" ]]; then
    cat pan.out >&2
    die "pan did not report a result"
fi

if [[ "$EXPECT" == holds ]]; then
    if ((errors != 0)); then
        cat pan.out >&2
        [[ -f redlock.pml.trail ]] &&
            "$SPIN" $DEFS -t -p "$MODEL" 2>&1 | grep -E 'MODEL|violated' >&2
        die "$NAME: expected no violation, pan found $errors error(s)"
    fi
    if grep -q 'max search depth too small' pan.out; then
        die "$NAME: the search was cut at depth $DEPTH: not exhaustive"
    fi
    if grep -q 'out of memory' pan.out; then
        die "$NAME: pan ran out of memory: not exhaustive"
    fi
    grep -E 'State-vector|depth reached' pan.out | head -n 1
    echo "model: $NAME: no violation, exhaustive within the bounds:$stored"
    exit 0
fi

# A counterexample is expected.
((errors >= 1)) || {
    cat pan.out >&2
    die "$NAME: expected a counterexample, pan found none"
}
grep -q 'assertion violated' pan.out ||
    die "$NAME: pan's error is not an assertion violation"
grep -q 'held\[k_\]' pan.out ||
    die "$NAME: the violated assertion is not mutual exclusion: $(grep 'assertion violated' pan.out)"
[[ -f redlock.pml.trail ]] || die "$NAME: no trail file"
# shellcheck disable=SC2086
"$SPIN" $DEFS -t -p "$MODEL" >trail.txt 2>&1 || true
echo "model: counterexample timeline (spin -t; global time t, clients and nodes from 0):"
grep -E '^ *MODEL ' trail.txt | sed 's/^ *MODEL /  /' || true
grep -E 'violated' trail.txt | head -n 1 | sed 's/^ */  /' || true
if ! grep -E '^ *MODEL ' trail.txt | grep -Eq "$MARKER"; then
    die "$NAME: the counterexample does not show the expected cause (/$MARKER/)"
fi
echo "model: $NAME: counterexample found, as expected (cause: /$MARKER/)"
