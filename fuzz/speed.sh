#!/usr/bin/env bash
# Measures the fuzz targets' throughput, as fuzz/README.md's "Throughput" table reports it.
# For each target binary in BIN_DIR (built by `cargo fuzz build`, with or without a sanitizer):
#
# - replay: every committed corpus input run once (`-runs=0` over a copy of corpus/<target>),
#   wall seconds (startup and the schema's compilation included);
# - instructions per execution (callgrind; stable however loaded the machine is): the replay's
#   instructions minus those of an empty replay, divided by the corpus size. Only for builds
#   without AddressSanitizer (valgrind cannot run ASan binaries); `-` otherwise;
# - a fixed-time run as scripts/fuzz.sh makes it (copied corpus, `-seed=1337`): executions, the
#   CPU seconds it got (on a shared machine fewer than the wall seconds) and executions per
#   CPU second, the figure that load on the machine moves least.
#
# Usage: fuzz/speed.sh BIN_DIR [seconds] [target...]
#        fuzz/speed.sh target/x86_64-unknown-linux-gnu/release 60 recorder header
#        SPEED_NO_CALLGRIND=1 fuzz/speed.sh ...     without the (slow) instruction counts
# Prints one line per target: target replay_s instr/exec runs runs/s cpu_s runs/cpu_s cov
set -euo pipefail
cd "$(dirname "$0")"
bin_dir=$1
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
targets=${*:-$(ls corpus)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Total instructions callgrind counted for one run of `bin args...` (0 when not measurable).
instructions() {
  local out=$work/cg.out
  if valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>&1; then
    sed -n 's/^summary: *//p;s/^totals: *//p' "$out" | head -1
  else
    echo 0
  fi
}

printf '%-15s %9s %12s %10s %8s %7s %9s %7s\n' target replay_s instr/exec runs runs/s cpu_s runs/cpu_s cov
for t in $targets; do
  bin=$bin_dir/$t
  [ -x "$bin" ] || { echo "speed: no binary $bin" >&2; exit 1; }
  rm -rf "$work/corpus" "$work/empty"
  mkdir -p "$work/corpus" "$work/empty"
  cp -r "corpus/$t/." "$work/corpus/"
  n=$(ls "$work/corpus" | wc -l)
  start=$(date +%s.%N)
  "$bin" -runs=0 "$work/corpus" >"$work/replay.log" 2>&1
  replay=$(echo "$(date +%s.%N) - $start" | bc)
  per_exec=-
  if [ "$(nm "$bin" 2>/dev/null | grep -c __asan_init)" = 0 ] && [ -z "${SPEED_NO_CALLGRIND:-}" ] \
    && command -v valgrind >/dev/null; then
    full=$(instructions "$bin" -runs=0 "$work/corpus")
    empty=$(instructions "$bin" -runs=0 "$work/empty")
    per_exec=$(( (full - empty) / n ))
  fi
  rm -rf "$work/corpus"
  mkdir -p "$work/corpus"
  cp -r "corpus/$t/." "$work/corpus/"
  /usr/bin/time -f '%U %S' -o "$work/cpu" \
    "$bin" "$work/corpus" -max_total_time="$seconds" -seed=1337 -timeout=20 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$work/" >"$work/run.log" 2>&1 || true
  cpu=$(tail -1 "$work/cpu" | awk '{print $1 + $2}')
  runs=$(grep -a 'stat::number_of_executed_units' "$work/run.log" | awk '{print $2}')
  cov=$(grep -a -o 'cov: [0-9]*' "$work/run.log" | tail -1 | awk '{print $2}')
  if grep -aq 'ERROR: libFuzzer\|panicked' "$work/run.log"; then
    echo "speed: $t found something; log:" >&2
    grep -a -A12 'panicked\|ERROR: libFuzzer' "$work/run.log" | head -30 >&2
  fi
  printf '%-15s %9.2f %12s %10s %8s %7.1f %9s %7s\n' "$t" "$replay" "$per_exec" "${runs:-?}" \
    "$(( ${runs:-0} / seconds ))" "$cpu" "$(echo "${runs:-0} / $cpu" | bc)" "${cov:-?}"
done
