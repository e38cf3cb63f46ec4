#!/usr/bin/env bash
# Runs the core's unit tests (xray-core --lib) under miri: undefined behaviour, out-of-bounds
# and uninitialised reads in the no_std core, its encoder and its parsers.
#
# Pinned nightly: the project's (scripts/nightly-version) when it ships miri, else
# MIRI_NIGHTLY below (nightly-2026-05-19 has no miri component; nightly-2026-05-20 has).
# Property tests run with PROPTEST_CASES=4, and the few tests that take minutes under miri
# are skipped by name (see SKIP); the full suite runs natively in scripts/test.sh.
#
# Usage: scripts/miri.sh [extra test-name filters...]
set -euo pipefail
cd "$(dirname "$0")/.."

PINNED=$(cat scripts/nightly-version 2>/dev/null || echo nightly-2026-05-19)
MIRI_NIGHTLY=${MIRI_NIGHTLY:-nightly-2026-05-20}
start=$SECONDS

toolchain=""
for tc in "$PINNED" "$MIRI_NIGHTLY"; do
  if rustup toolchain install "$tc" --profile minimal --component miri,rust-src >/dev/null 2>&1 \
    && rustup component list --toolchain "$tc" --installed 2>/dev/null | grep -q '^miri'; then
    toolchain=$tc
    break
  fi
done
if [ -z "$toolchain" ]; then
  echo "miri: no miri component for $PINNED or $MIRI_NIGHTLY" >&2
  exit 1
fi
echo "miri: using $toolchain"
cargo +"$toolchain" miri setup >/dev/null 2>&1 || cargo +"$toolchain" miri setup

# Tests too slow under miri (each takes minutes there); they run natively in scripts/test.sh.
# Statistical tests that draw 10^4..10^5 random decisions, a 10,000-byte wildcard scan, a
# sweep of every char against the name set and of 110,000 timestamp digit groups against
# `format!`, the sanitizers' megabyte inputs, their thousands
# of differential cases against the `url` crate and the counts of what 2,000 generated URLs
# reach in the fast paths: each a minute or more under miri. (Property tests with a fixed case
# count of their own take fewer cases under `cfg(miri)`.)
SKIP=(${MIRI_SKIP:-
  sampler::tests::default_rule_statistics
  sampler::reservoir::tests::large_capacities_are_clamped
  sampler::rate::tests::half_samples_about_half
  sampler::wildcard::tests::pathological_pattern_is_linear
  json::tests::names_match_the_schema_set
  name_charset::tests::agrees_with_the_schema_pattern
  divide::tests::agrees_with_native_division
  time::tests::digits8_agrees_with_fmt_on_every_four_digit_lane
  model::sanitize::tests::megabyte_inputs_are_read_in_linear_time
  model::sanitize::tests::agrees_with_the_url_crate
  model::sanitize::tests::the_differential_inputs_cover_the_forms
  model::sanitize::tests::the_fast_path_inputs_cover_the_cases
  model::sanitize::tests::the_one_pass_reader_takes_ordinary_urls
})
skip_args=()
for s in "${SKIP[@]}"; do skip_args+=(--skip "$s"); done

export PROPTEST_CASES=${PROPTEST_CASES:-4}
# proptest reads the working directory (failure persistence) and the clock: no isolation.
export MIRIFLAGS=${MIRIFLAGS:--Zmiri-disable-isolation}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/miri}
cargo +"$toolchain" miri test -p xray-core --lib -- "${skip_args[@]}" "$@" 2>&1 \
  | while IFS= read -r line; do printf '[%4ss] %s\n' "$((SECONDS - start))" "$line"; done
echo "miri: done in $((SECONDS - start))s"
