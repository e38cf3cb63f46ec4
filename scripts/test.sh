#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script). Installs what it needs on a
# fresh machine: the pinned stable toolchain with its components and targets (from
# rust-toolchain.toml), a pinned nightly for -Z build-std, miri and fuzzing, qemu-system-arm
# and cargo-fuzz (each by its own script).
#
# Usage: scripts/test.sh            everything
#        FUZZ_SECONDS=60 scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
NIGHTLY=$(cat scripts/nightly-version)
step() { printf '\n==== %s (%ss)\n' "$*" "$SECONDS"; }

step "toolchains"
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src >/dev/null

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "tests"
cargo test --workspace --all-features

step "tests of the core without \`small\` (the default, speed-first code paths)"
cargo test -p xray-core --lib --tests --quiet

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet

step "cross-target builds of the core (no_std)"
for target in thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf; do
  cargo build -p xray-core --target "$target" --release --quiet
  echo "xray-core builds for $target"
done

step "no-alloc proof: the core builds against a sysroot of core only (-Z build-std=core)"
cargo +"$NIGHTLY" build -p xray-core --target thumbv7em-none-eabihf -Z build-std=core \
  --target-dir target/build-std --quiet
echo "xray-core builds with -Z build-std=core: nothing in its tree links alloc"

for extra in scripts/embedded-test.sh scripts/firmware-test.sh scripts/miri.sh; do
  if [ -f "$extra" ]; then
    step "$extra"
    bash "$extra"
  fi
done

if [ -f scripts/fuzz.sh ]; then
  step "fuzz (${FUZZ_SECONDS:-20}s per target)"
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi

step "demo"
cargo run --quiet -p xray-examples --bin demo >/tmp/xray-demo.out
tail -n 3 /tmp/xray-demo.out

step "done"
echo "all checks passed in ${SECONDS}s"
