#!/bin/sh
# check_tiers.sh: check the three tiers of src/ (docs/design.md, "Tiers").
#
#   pure leaves  may include only leaf headers and internal.h;
#   transport    (conn, node, op) may add conn.h, node.h, op.h, but never a
#                header of the algorithms or the manager, nor call them;
#   algorithms   (lock, lease, fence, election, inspect, async) may add op.h,
#                manager.h, lock.h, lease.h, async.h, never node.h or conn.h, and
#                never touch slots, wire states or node workers by name;
#                lock.c never includes lease.h (lease calls lock, not the
#                reverse);
#   assembly     (manager, log, scoped) may include anything;
#   internal.h   (lock ranks, magic numbers, logging) includes only
#                redlock.h.
# A file of src/ in no tier is an error too, so a new file must be placed.
#
# Usage: check_tiers.sh [SRC_DIR]   (default: the src/ next to this script)
# Exit 0 when every rule holds; 1 with one line per violation otherwise.
# Run by ctest as check_tiers (label unit).
set -u
src=${1:-$(dirname "$0")/../src}
[ -d "$src" ] || { echo "check_tiers: no directory $src" >&2; exit 2; }

leaves="quorum classify value clock token scripts answer reply uri heap hashslot
        options status version"
transport="conn node op subscribe cluster sentinel"
algorithms="lock lease fence election inspect async"
assembly="manager log scoped wake"

leaf_h="redlock.h internal.h quorum.h classify.h value.h clock.h token.h
        scripts.h answer.h reply.h uri.h heap.h options.h hashslot.h"
transport_h="$leaf_h conn.h node.h op.h subscribe.h cluster.h sentinel.h"
algorithm_h="$leaf_h op.h manager.h lock.h lease.h async.h fence.h"

bad=0
fail() { echo "check_tiers: $*"; bad=1; }
in_list() { case " $(echo $2) " in *" $1 "*) return 0;; esac; return 1; }

# The project headers a file includes ("x.h", not <x.h>).
includes() { sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$1"; }

check_includes() { # file allowed-list tier
    for h in $(includes "$1"); do
        in_list "$h" "$2" || fail "$1 ($3) includes \"$h\""
    done
}

# Names a file may not use: pattern (extended regex) and what it means.
check_names() { # file tier pattern what
    if grep -nE "$3" "$1" >/dev/null; then
        grep -nE "$3" "$1" | while IFS= read -r line; do
            echo "check_tiers: $1 ($2) uses $4: $line"
        done
        bad=1
    fi
}

for f in "$src"/*.c "$src"/*.h; do
    [ -e "$f" ] || continue
    base=$(basename "$f"); stem=${base%.*}
    if [ "$base" = internal.h ]; then
        # Shared by every tier: lock ranks, magic numbers, logging only.
        check_includes "$f" "redlock.h" "shared by all tiers"
    elif in_list "$stem" "$leaves"; then
        check_includes "$f" "$leaf_h" "pure leaf"
        check_names "$f" "pure leaf" \
            'redlock__(node|conn|manager|lock|lease|leases|wires)_|redlock__(slot|op|node|wires)\b|redlock__op_(new|unref|submit|wait|tally|complete|answer)' \
            "a transport or algorithm name"
    elif in_list "$stem" "$transport"; then
        check_includes "$f" "$transport_h" "transport"
        check_names "$f" "transport" \
            'redlock__(manager|lock|lease|leases|extend)_|struct redlock_(manager|lock|lease) *\{|->m->' \
            "the manager or an algorithm"
    elif in_list "$stem" "$algorithms"; then
        allowed=$algorithm_h
        [ "$stem" = lock ] && allowed=$(echo "$algorithm_h" | sed 's/lease\.h//')
        check_includes "$f" "$allowed" "algorithm"
        check_names "$f" "algorithm" \
            'redlock__slot|->slots|\.wire\b|->wire\b|WIRE_|redlock__node_|redlock__conn_|redlock__tls' \
            "a slot, wire state or node worker (use the op API)"
        if [ "$stem" = lock ]; then
            check_names "$f" "algorithm" 'redlock__lease' \
                "the lease layer (lease.c calls lock.c, not the reverse)"
        fi
    elif in_list "$stem" "$assembly"; then
        :
    else
        fail "$f is in no tier: add it to scripts/check_tiers.sh and docs/design.md"
    fi
done
exit $bad
