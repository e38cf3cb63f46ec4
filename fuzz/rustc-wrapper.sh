#!/usr/bin/env bash
# rustc wrapper for the fuzz workspace: leaves coverage instrumentation (cargo-fuzz's
# `-sanitizer-coverage-*` flags) on the code under test and the targets, and turns it off
# for every other crate (the oracles: serde_json, jsonschema and its regex engines; arbitrary,
# libfuzzer-sys; `xray-core-small`, whose output the recorder target compares with the
# default core's; `xray-fuzz-recorder`, the recorder target's model, checks and small-core
# driver). libFuzzer's work per execution grows with the instrumented code an input runs,
# and coverage of the checker's own parsing does not guide the fuzzer anywhere useful.
# Generic code is instrumented where it is instantiated: that is why the recorder target's
# checks and its `small` driver live in a crate of their own.
# AddressSanitizer stays on everywhere.
#
# Usage (by cargo, through .cargo/config.toml): rustc-wrapper.sh RUSTC ARGS...
rustc=$1
shift
crate=
kind=
prev=
for a in "$@"; do
  [ "$prev" = --crate-name ] && crate=$a
  [ "$prev" = --crate-type ] && kind=$a
  prev=$a
done
# The fuzz targets (the bins of this package) and the code under test.
[ "$kind" = bin ] && exec "$rustc" "$@"
# Add a crate here when a target tests it (xray_view: main's `viewer` target).
case "$crate" in
  xray_core | xray_std | xray_view | serde_json_core | heapless) exec "$rustc" "$@" ;;
esac
# Our own uninstrumented crates keep their debug assertions (`xray-core-small` checks its
# recorder's invariants after every call with them); other people's crates (the oracles,
# arbitrary, libfuzzer-sys) lose them: their internal checks are not what is tested.
own=
case "$crate" in xray_*) own=1 ;; esac
case " $* " in
  *sanitizer-coverage-level=*)
    if [ -n "$own" ]; then
      exec "$rustc" "$@" -Cllvm-args=-sanitizer-coverage-level=0 \
        -Cllvm-args=-sanitizer-coverage-trace-compares=false
    fi
    exec "$rustc" "$@" -Cllvm-args=-sanitizer-coverage-level=0 \
      -Cllvm-args=-sanitizer-coverage-trace-compares=false \
      -Cdebug-assertions=off -Coverflow-checks=off ;;
esac
exec "$rustc" "$@"
