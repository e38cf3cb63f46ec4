#!/usr/bin/env bash
# User-space instructions per request through the tower server layer (XRayServer), sampled
# (recorded, encoded, handed to a null transport) and not sampled, and what the layer adds
# over the bare handler: the `tower_requests` example under valgrind's callgrind with N = 2001
# and N = 1 requests, (Ir(2001) - Ir(1)) / 2000 per request. Deterministic to a few
# instructions for one build, whatever the machine's load (the criterion bench
# `cargo bench -p xray-std --features tower --bench tower_layer` gives wall times).
#
#   bash scripts/bench-tower.sh
#
# Needs valgrind. Builds the example (release) in the workspace's target directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v valgrind >/dev/null 2>&1; then
    echo "bench-tower: valgrind is needed (apt-get install valgrind)" >&2
    exit 1
fi

cargo build --quiet --release -p xray-examples --bin tower_requests
bin="$root/target/release/tower_requests"

# Total instructions of one callgrind run (its "Collected" line).
instructions() {
    local out
    out="$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1)" ||
        { echo "$out" >&2; exit 1; }
    sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' <<<"$out"
}

declare -A per
for mode in bare not-sampled sampled; do
    one="$(instructions "$mode" 1)"
    many="$(instructions "$mode" 2001)"
    [ -n "$one" ] && [ -n "$many" ] ||
        { echo "bench-tower: no instruction count from callgrind ($mode)" >&2; exit 1; }
    per[$mode]=$(( (many - one) / 2000 ))
done
echo "instructions per request (callgrind, (Ir(2001) - Ir(1)) / 2000, request building included):"
echo "  bare handler: ${per[bare]}"
for mode in not-sampled sampled; do
    echo "  XRayServer, $mode: ${per[$mode]} (the layer adds $(( per[$mode] - per[bare] )))"
done
