#!/usr/bin/env bash
# rustc wrapper for the fuzz workspace: leaves coverage instrumentation (cargo-fuzz's
# `-sanitizer-coverage-*` flags) on the code under test and the targets, and turns it off
# for every other crate (the oracles: serde_json, jsonschema and its regex engines; arbitrary,
# libfuzzer-sys; `xray-core-small`, whose output the recorder target compares with the
# default core's). libFuzzer's work per execution grows with the instrumented code an input
# runs, and coverage of the checker's own parsing does not guide the fuzzer anywhere useful.
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
case " $* " in
  *sanitizer-coverage-level=*)
    exec "$rustc" "$@" -Cllvm-args=-sanitizer-coverage-level=0 \
      -Cllvm-args=-sanitizer-coverage-trace-compares=false ;;
esac
exec "$rustc" "$@"
