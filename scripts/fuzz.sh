#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for a fixed time from the committed
# corpus, with a fixed seed. The recorder target covers both builds of the core (default and
# `small`) in one binary. Fails if any target fails to build, crashes, or breaks one of its
# invariants. Installs what it needs: the pinned nightly (scripts/nightly-version) and a pinned
# cargo-fuzz.
#
# Usage: scripts/fuzz.sh [seconds-per-target]     (default 20)
#        FUZZ_TARGETS="header wildcard" scripts/fuzz.sh 60
#        XRAY_FUZZ_SKIP_KNOWN=1 scripts/fuzz.sh     look past the findings listed in fuzz/README.md
#        FUZZ_SANITIZER=address scripts/fuzz.sh     with AddressSanitizer (default: none; the
#                                                   code under test forbids `unsafe`, and
#                                                   without ASan a target runs 2-3x as many
#                                                   inputs: see fuzz/README.md, Throughput)
#
# The committed corpus is copied to a temporary directory, so runs never grow it. Crash inputs
# are written to fuzz/artifacts/<target>/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-20}
NIGHTLY=$(cat scripts/nightly-version 2>/dev/null || echo nightly-2026-05-19)
CARGO_FUZZ_VERSION=0.13.2
SEED=${FUZZ_SEED:-1337}
SANITIZER=${FUZZ_SANITIZER:-none}

start=$SECONDS
rustup toolchain list | grep -q "^$NIGHTLY" \
  || rustup toolchain install "$NIGHTLY" --profile minimal
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# The recorder target records every trace with two builds of the core, xray-core and
# xray-core-small (core/src/lib.rs again, with `small`: fuzz/core-small/). That package must
# match core/Cargo.toml: the version (written in every datagram) and the dependencies.
deps() { sed -n '/^\[dependencies\]/,/^\[/p' "$1" | grep -o '^[a-z_-]*' | sort; }
pkg_version() { sed -n "/^\\[$2\\]/,/^\\[/s/^version *= *\"\\(.*\\)\"/\\1/p" "$1"; }
core_version=$(pkg_version core/Cargo.toml package)
[ -n "$core_version" ] || core_version=$(pkg_version Cargo.toml workspace.package)
if [ "$(deps core/Cargo.toml)" != "$(deps fuzz/core-small/Cargo.toml)" ] \
  || [ "$core_version" != "$(pkg_version fuzz/core-small/Cargo.toml package)" ]; then
  echo "fuzz: fuzz/core-small/Cargo.toml no longer matches core/Cargo.toml (version or dependencies)"
  diff <(deps core/Cargo.toml) <(deps fuzz/core-small/Cargo.toml) || true
  exit 1
fi

cd fuzz
targets=${FUZZ_TARGETS:-$(cargo +"$NIGHTLY" fuzz list)}
echo "fuzz: building $(echo $targets | wc -w) targets with $NIGHTLY, sanitizer $SANITIZER"
cargo +"$NIGHTLY" fuzz build --sanitizer "$SANITIZER"
bin_dir=target/x86_64-unknown-linux-gnu/release
echo "fuzz: build took $((SECONDS - start))s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
# Runs one target binary from the committed corpus and regressions; `label` names it in the log.
run_target() {
  local t=$1 bin=$2 label=$3
  mkdir -p "$work/$label" "artifacts/$t"
  if [ -d "corpus/$t" ]; then cp -r "corpus/$t/." "$work/$label/"; fi
  # Every committed reproducer must pass too (once fixed; see fuzz/README.md for open ones).
  local regressions=()
  if [ -d "regressions/$t" ] && [ -z "${XRAY_FUZZ_SKIP_KNOWN:-}" ]; then
    regressions=(regressions/"$t"/*)
  fi
  local log="$work/$label.log"
  echo "fuzz: $label for ${SECONDS_PER_TARGET}s"
  local status=0
  if [ ${#regressions[@]} -gt 0 ]; then
    "$bin" "${regressions[@]}" >"$log" 2>&1 || status=$?
    if [ $status -ne 0 ]; then
      echo "fuzz: $label FAILS on a committed reproducer in fuzz/regressions/$t/:"
      grep -a -A3 'panicked\|ERROR' "$log" | head -20
      failed+=("$label")
      return
    fi
  fi
  "$bin" "$work/$label" -max_total_time="$SECONDS_PER_TARGET" -seed="$SEED" \
    -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || status=$?
  local runs
  runs=$(grep -a 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  if [ $status -ne 0 ]; then
    echo "fuzz: $label FAILED (exit $status) after ${runs:-?} runs:"
    grep -a -B2 -A12 'panicked\|ERROR: libFuzzer\|SUMMARY' "$log" | head -40
    failed+=("$label")
  else
    echo "fuzz: $label ok: ${runs:-?} runs, $(ls "$work/$label" | wc -l) corpus entries"
  fi
}

for t in $targets; do
  run_target "$t" "$bin_dir/$t" "$t"
done

echo "fuzz: done in $((SECONDS - start))s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: $(echo $targets | wc -w) passed, 0 failed"
