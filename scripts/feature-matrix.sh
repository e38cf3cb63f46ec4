#!/usr/bin/env bash
# The feature sets that ship, each linted on its own (as smoltcp's ci.sh does): a user who
# enables one feature of xray-std gets code that compiles without warnings, with the
# dependencies that feature declares and nothing that another feature or a dev-dependency
# happens to pull in. The union of features is linted and tested by scripts/test.sh.
#
# Usage: scripts/feature-matrix.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# The features a package declares, `default` excluded, from Cargo.toml (via cargo metadata).
features_of() {
  cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
pkg = sys.argv[1]
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == pkg:
        print(" ".join(sorted(f for f in p["features"] if f != "default")))
' "$1"
}

check() {
  echo "feature-matrix: $*"
  cargo clippy --quiet "$@" -- -D warnings
}

# xray-core: the default (speed-first) paths and `small`, host and a bare-metal target.
for f in "" small; do
  check -p xray-core --all-targets --no-default-features --features "$f"
  check -p xray-core --target thumbv7em-none-eabihf --no-default-features --features "$f"
done

# xray-std: no features, then each feature alone (library and its tests: the tests of a
# feature are cfg'd on it, so a test that needs another feature must say so).
check -p xray-std --no-default-features
check -p xray-std --all-targets --no-default-features
for f in $(features_of xray-std); do
  check -p xray-std --no-default-features --features "$f"
done
# Tests without any feature run too: they are what a user of the bare tracer relies on.
cargo test --quiet -p xray-std --no-default-features

# xray-embassy: each medium alone, with and without defmt, on the host and a bare-metal target.
for f in medium-ethernet medium-ip "medium-ethernet,defmt" "medium-ip,defmt"; do
  check -p xray-embassy --no-default-features --features "$f"
  check -p xray-embassy --target thumbv7em-none-eabihf --no-default-features --features "$f"
done
echo "feature-matrix: every shipped feature set is clean"
