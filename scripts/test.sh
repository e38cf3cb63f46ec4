#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script). Installs what it needs on a
# fresh machine: the pinned stable toolchain with its components and targets (from
# rust-toolchain.toml), a pinned nightly for -Z build-std, miri and fuzzing, qemu-system-arm
# and cargo-fuzz (each by its own script).
#
# Usage: scripts/test.sh            everything
#        FUZZ_SECONDS=60 scripts/test.sh   longer fuzzing (never less than 20 s a target)
#
# Every step always runs: a missing script fails the suite, and variables that would narrow a
# run (a subset of fuzz targets or miri tests, fewer proptest cases) are cleared first.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
NIGHTLY=$(cat scripts/nightly-version)
step() { printf '\n==== %s (%ss)\n' "$*" "$SECONDS"; }

for var in FUZZ_TARGETS XRAY_FUZZ_SKIP_KNOWN FUZZ_SEED FUZZ_SANITIZER MIRI_SKIP MIRI_NIGHTLY PROPTEST_CASES \
  XRAY_UPDATE_GOLDEN XRAY_UPDATE_BUDGET UPDATE_SNAPSHOTS RUSTFLAGS CARGO_BUILD_TARGET; do
  if [ -n "${!var+set}" ]; then
    echo "test.sh: clearing $var=${!var}: the whole suite runs, always"
    unset "$var"
  fi
done
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
[ "$FUZZ_SECONDS" -ge 20 ] 2>/dev/null || FUZZ_SECONDS=20

# Runs a script the suite needs; a missing one fails the suite instead of vanishing.
run_script() {
  step "$*"
  [ -f "$1" ] || { echo "test.sh: $1 is missing" >&2; exit 1; }
  bash "$@"
}

step "toolchains"
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
# The toolchain file's targets, also when the toolchain was installed before without them.
rustup target add thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf \
  riscv32imac-unknown-none-elf aarch64-unknown-linux-gnu >/dev/null
rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src >/dev/null

# What services ship: every feature of every workspace crate except xray-core's `small`, which
# only firmware enables (`--all-features` would turn it on everywhere and hide the default,
# speed-first core paths from clippy, the std tests and the docs).
SHIPPED=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
print(",".join(p["name"] + "/" + f for p in json.load(sys.stdin)["packages"]
               for f in sorted(p["features"]) if f != "default" and (p["name"], f) != ("xray-core", "small")))')
echo "shipped features: $SHIPPED"

step "format"
cargo fmt --all -- --check

step "clippy (every shipped feature, default core)"
cargo clippy --workspace --all-targets --features "$SHIPPED" -- -D warnings

step "clippy of the core with \`small\` (the firmware's code paths)"
cargo clippy -p xray-core --all-targets --features small -- -D warnings

step "tests (every shipped feature, default core; doctests deny warnings)"
# The aws-sdk tests run real SDK clients against moto_server (pinned, installed by the script).
XRAY_MOTO_SERVER=$(bash scripts/moto.sh)
export XRAY_MOTO_SERVER
cargo test --workspace --features "$SHIPPED"

step "tests of the core with \`small\`"
cargo test -p xray-core --features small --lib --tests --quiet

run_script scripts/feature-matrix.sh

run_script scripts/examples-test.sh

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --features "$SHIPPED" --no-deps --quiet
RUSTDOCFLAGS="-D warnings" cargo doc -p xray-core --features small --no-deps --quiet
# The core's private items too: its module docs link the internals they describe.
RUSTDOCFLAGS="-D warnings" cargo doc -p xray-core --no-deps --document-private-items --quiet

# Miri runs the core's tests one at a time on one core for several minutes: it runs in the
# background from here, beside the steps that mostly use one core (the small cross builds,
# QEMU, the fuzzers; started earlier it slowed the parallel builds as much as it saved), and
# its log is printed and its result checked after the fuzz step.
step "miri (started in the background; its log follows the fuzz step)"
[ -f scripts/miri.sh ] || { echo "test.sh: scripts/miri.sh is missing" >&2; exit 1; }
miri_log=$(mktemp)
# Its own process group, so that a failing step stops all of it (cargo, miri) on the way out.
setsid bash scripts/miri.sh >"$miri_log" 2>&1 &
miri_pid=$!
trap 'kill -- "-$miri_pid" 2>/dev/null || true; rm -f "$miri_log"' EXIT

step "cross-target builds of the core (no_std)"
for target in thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf; do
  cargo build -p xray-core --target "$target" --release --quiet
  echo "xray-core builds for $target"
done

step "aarch64 Linux (Lambda on arm64, Graviton): clippy of xray-core and xray-std"
# Their libraries with every shipped feature: cfg'd code (the x86_64-only trace clock, atomics)
# must build and lint on the other architecture Lambda runs. The tests need C cross-compilers
# (the AWS SDK's TLS) and run on x86_64 only.
STD_SHIPPED=$(tr ',' '\n' <<<"$SHIPPED" | grep '^xray-std/' | paste -sd, -)
cargo clippy -p xray-core -p xray-std --lib --target aarch64-unknown-linux-gnu \
  --features "$STD_SHIPPED" --quiet -- -D warnings
echo "xray-core and xray-std lint clean for aarch64-unknown-linux-gnu"

step "no-alloc proof: the core builds against a sysroot of core only (-Z build-std=core)"
cargo +"$NIGHTLY" build -p xray-core --target thumbv7em-none-eabihf -Z build-std=core \
  --target-dir target/build-std --quiet
echo "xray-core builds with -Z build-std=core: nothing in its tree links alloc"

run_script scripts/firmware-test.sh
run_script scripts/firmware-size.sh
run_script scripts/firmware-net-test.sh
run_script scripts/fuzz.sh "$FUZZ_SECONDS"

step "miri (waiting for the background run)"
miri_status=0
wait "$miri_pid" || miri_status=$?
cat "$miri_log"
if [ "$miri_status" -ne 0 ]; then
  echo "test.sh: scripts/miri.sh failed (exit $miri_status)" >&2
  exit 1
fi

step "demo"
cargo run --quiet -p xray-examples --bin demo >/tmp/xray-demo.out
tail -n 3 /tmp/xray-demo.out

step "done"
echo "all checks passed in ${SECONDS}s"
