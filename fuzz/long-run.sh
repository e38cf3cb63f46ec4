#!/usr/bin/env bash
# Runs fuzz targets for a fixed amount of CPU time each (default 1,800 s: the "30-minute run
# per target" that fuzz/README.md reports), JOBS targets at a time, and prints one table row
# per target. CPU time, not wall time: on a shared machine a wall-time limit gives a target
# whatever the other processes leave, so the figure would say little about how hard the
# target was fuzzed. Each run is stopped with SIGINT once its process has used the CPU
# seconds (libFuzzer then prints its final stats and exits 72); a run that has not got them
# within WALL_LIMIT seconds is stopped there and its row says so. Do not pause a run
# (SIGSTOP) to measure something else: libFuzzer's -timeout counts wall time, so the input
# it was running is reported as a timeout when it resumes.
#
# Usage: fuzz/long-run.sh BIN_DIR [target...]          (default: every target in corpus/)
#        CPU_SECONDS=600 JOBS=1 fuzz/long-run.sh target/x86_64-unknown-linux-gnu/release recorder
# BIN_DIR holds the binaries of `cargo fuzz build --sanitizer none` (as scripts/fuzz.sh builds).
# Seeds are 3001, 3002, … in the order the targets are given. Crash inputs go to
# artifacts/<target>/; logs to $LOG_DIR (default: a new temporary directory, kept).
set -euo pipefail
cd "$(dirname "$0")"
bin_dir=$1
shift
targets=${*:-$(ls corpus)}
cpu_limit=${CPU_SECONDS:-1800}
wall_limit=${WALL_LIMIT:-$((cpu_limit * 4))}
jobs=${JOBS:-$(nproc)}
log_dir=${LOG_DIR:-$(mktemp -d /tmp/fuzz-long.XXXXXX)}
tick=$(getconf CLK_TCK)
mkdir -p "$log_dir"
echo "long-run: $cpu_limit CPU seconds per target, $jobs at a time, logs in $log_dir"

# CPU seconds (user + system) used so far by process $1; empty once it has exited.
cpu_seconds() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  # Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
  stat=${stat##*) }
  awk -v t="$tick" '{ printf "%d", ($12 + $13) / t }' <<<"$stat"
}

# Runs one target to its CPU limit and writes its table row to $log_dir/<target>.row.
run_one() {
  local t=$1 seed=$2
  local bin=$bin_dir/$t corpus=$log_dir/$t.corpus log=$log_dir/$t.log
  [ -x "$bin" ] || { echo "long-run: no binary $bin" >&2; return 1; }
  rm -rf "$corpus" && mkdir -p "$corpus" "artifacts/$t"
  cp -r "corpus/$t/." "$corpus/"
  local committed
  committed=$(ls "$corpus" | wc -l)
  local start=$SECONDS
  "$bin" "$corpus" -seed="$seed" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1 &
  local pid=$! used=0 stopped=cpu
  while kill -0 "$pid" 2>/dev/null; do
    used=$(cpu_seconds "$pid")
    [ -n "$used" ] || break
    if [ "$used" -ge "$cpu_limit" ]; then break; fi
    if [ $((SECONDS - start)) -ge "$wall_limit" ]; then stopped=wall; break; fi
    sleep 2
  done
  kill -INT "$pid" 2>/dev/null || stopped=exited
  local status=0
  wait "$pid" || status=$?
  local wall=$((SECONDS - start))
  local runs cov ft
  runs=$(grep -a 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  cov=$(grep -a -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  ft=$(grep -a -o 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  local findings=0 verdict
  # 72: libFuzzer's exit after SIGINT, the normal end here. Anything else is a finding.
  if [ "$status" -ne 72 ] || [ "$stopped" = exited ]; then
    findings=1
    verdict="FAILED (exit $status): $(grep -a -m1 'panicked\|ERROR: libFuzzer\|SUMMARY' "$log" || true)"
  else
    verdict="0 findings"
  fi
  [ "$stopped" = wall ] && verdict="$verdict; stopped at the wall limit with only ${used}s of CPU"
  printf '| `%s` | %d:%02d | %s | %s | %s / %s | %s → %s | %s |\n' "$t" $((wall / 60)) \
    $((wall % 60)) "$used" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$committed" \
    "$(ls "$corpus" | wc -l)" "$verdict" >"$log_dir/$t.row"
  cat "$log_dir/$t.row"
  return "$findings"
}

seed=3000
pids=()
failed=0
for t in $targets; do
  seed=$((seed + 1))
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || failed=1; done
  run_one "$t" "$seed" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done

echo
echo '| target | wall | CPU seconds | executions | final `cov` / `ft` | corpus: committed → at the end | findings |'
echo '| --- | --- | --- | --- | --- | --- | --- |'
for t in $targets; do cat "$log_dir/$t.row" 2>/dev/null || echo "| \`$t\` | no result |"; done
exit "$failed"
