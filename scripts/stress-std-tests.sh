#!/usr/bin/env bash
# Runs the std adapter's tests (every feature, the default core) N times in a row while busy
# loops keep every core loaded, and counts failures: a test that depends on timing shows up
# here long before it blocks CI at random.
#
# Usage: scripts/stress-std-tests.sh [runs]      (default 20)
#        LOAD=4 scripts/stress-std-tests.sh 50   more busy loops (default: one per core)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-20}
LOAD=${LOAD:-$(nproc)}
FEATURES=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
print(",".join(f for p in json.load(sys.stdin)["packages"] if p["name"] == "xray-std"
               for f in sorted(p["features"]) if f != "default"))')

cargo test -p xray-std --features "$FEATURES" --no-run --quiet
log=$(mktemp -d)
busy=()
cleanup() { for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
for _ in $(seq "$LOAD"); do
  ( while :; do :; done ) &
  busy+=($!)
done
echo "stress: $RUNS runs of the xray-std tests (features: $FEATURES) under $LOAD busy loops"
failures=0
for i in $(seq "$RUNS"); do
  start=$SECONDS
  if cargo test -p xray-std --features "$FEATURES" --quiet >"$log/run-$i.log" 2>&1; then
    tests=$(grep -Eo '^test result: ok\. [0-9]+ passed' "$log/run-$i.log" | awk '{s+=$4} END {print s}')
    echo "stress: run $i ok ($tests tests, $((SECONDS - start)) s)"
  else
    failures=$((failures + 1))
    echo "stress: run $i FAILED ($((SECONDS - start)) s):"
    grep -E -A15 '^failures:|panicked' "$log/run-$i.log" | head -40
  fi
done
echo "stress: $RUNS runs, $failures failed (logs in $log)"
[ "$failures" -eq 0 ]
