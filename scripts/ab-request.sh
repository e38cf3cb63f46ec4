#!/usr/bin/env bash
# Wall time of the reference request, this checkout against another revision, in interleaved
# pairs: each pair runs both builds' `loadgen --vs-raw` once, in alternating order, so that
# both see the same load on the machine. Prints each run, then per build the median time per
# request and the median ratio to a raw `send_to`, and per pair the difference of the ratios
# (this checkout minus the other revision: negative is faster).
#
#   bash scripts/ab-request.sh REV [PAIRS] [REQUESTS]     # defaults: 8 pairs, 200,000 requests
#
# REV is built in a temporary git worktree with its own target directory (the first build
# takes a few minutes); this checkout's loadgen is built in the workspace's target directory.
# Wall times vary with the machine's load; the per-pair differences are the figure to quote.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rev="${1:?usage: ab-request.sh REV [PAIRS] [REQUESTS]}"
pairs="${2:-8}"
requests="${3:-200000}"

tmp="$(mktemp -d)"
cleanup() {
    git -C "$root" worktree remove --force "$tmp/other" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

git -C "$root" worktree add --detach --quiet "$tmp/other" "$rev"
echo "ab-request: building $rev ($(git -C "$tmp/other" log --oneline -1 | cut -c1-60))" >&2
(cd "$tmp/other" && CARGO_TARGET_DIR="$tmp/target" cargo build --quiet --release \
    -p xray-examples --bin loadgen)
echo "ab-request: building this checkout" >&2
cargo build --quiet --release -p xray-examples --bin loadgen
cp "$tmp/target/release/loadgen" "$tmp/loadgen.other"
cp "$root/target/release/loadgen" "$tmp/loadgen.this"

for i in $(seq "$pairs"); do
    if [ $((i % 2)) = 1 ]; then order="this other"; else order="other this"; fi
    for build in $order; do
        printf '%s %s\n' "$build" \
            "$("$tmp/loadgen.$build" --vs-raw --requests "$requests" | tail -n 1)"
    done
done >"$tmp/runs"

python3 - "$tmp/runs" "$rev" <<'PY'
import json, statistics, sys
runs = [(line.split(" ", 1)[0], json.loads(line.split(" ", 1)[1]))
        for line in open(sys.argv[1]) if line.strip()]
for build, s in runs:
    if s["dropped"] or s["raw_send_failed"]:
        sys.exit(f"ab-request: a {build} run dropped {s['dropped']} requests")
    print(f"{build:5} {s['us_per_request']:.3f} us per request, raw send_to "
          f"{s['raw_send_to_us']:.3f} us: {s['ratio']:.3f}x")
names = {"this": "this checkout", "other": sys.argv[2]}
for build in ("other", "this"):
    ss = [s for b, s in runs if b == build]
    print(f"{names[build]}: median {statistics.median(s['us_per_request'] for s in ss):.3f} us "
          f"per request, median ratio {statistics.median(s['ratio'] for s in ss):.3f}x")
diffs = []
for k in range(0, len(runs), 2):
    pair = dict((b, s["ratio"]) for b, s in runs[k:k + 2])
    diffs.append(pair["this"] - pair["other"])
better = sum(d < 0 for d in diffs)
print("per pair, this checkout minus the other (ratio): "
      + ", ".join(f"{d:+.3f}" for d in diffs)
      + f"; faster in {better} of {len(diffs)}")
PY
