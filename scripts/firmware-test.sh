#!/usr/bin/env bash
# Builds examples/firmware for three boards, runs each under qemu-system-arm with semihosting,
# validates the printed datagrams against the X-Ray segment document schema and the datagram
# budget, bounds the peak stack by examples/firmware/size-budget.txt, and compares the output
# byte for byte with the committed golden file. The basic build (without the `full-model`
# feature) runs once more on the Cortex-M4F.
#
#   lm3s6965evb  thumbv7m-none-eabi      (Cortex-M3)
#   mps2-an386   thumbv7em-none-eabihf   (Cortex-M4F)
#   microbit     thumbv6m-none-eabi      (Cortex-M0)
#
# Golden output: the firmware runs on a tick clock and a fixed RNG seed, so each run prints the
# same bytes every time. examples/firmware/golden/<board>-<build>.out holds what each board and
# build must print, with one filter: the number on the `# stack peak bytes:` line becomes `<peak>`
# (the peak is set by code generation, not by what the firmware records; it is checked against
# its bound in the size budget instead). On a mismatch the script prints a unified diff and
# fails. When the output changes on purpose, re-record and review the diff before committing:
#
#   XRAY_UPDATE_GOLDEN=1 bash scripts/firmware-test.sh && git diff examples/firmware/golden
#
# (a run's output is recorded only when it validates).
#
# Installs what is missing: qemu-system-arm (apt), the Rust targets (rustup), jsonschema (pip).
# Each QEMU run is bounded by `timeout`. Exits non-zero if anything failed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fw="$root/examples/firmware"
budget=1472 # keep in step with BUDGET in examples/firmware/src/demo.rs
size_budget="$fw/size-budget.txt"
golden_dir="$fw/golden"
update_golden="${XRAY_UPDATE_GOLDEN:-0}"
qemu_timeout="${QEMU_TIMEOUT:-60}"

if ! command -v qemu-system-arm >/dev/null 2>&1; then
    echo "firmware-test: installing qemu-system-arm"
    sudo_cmd=""
    if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq qemu-system-arm >/dev/null
fi
if ! python3 -c 'import jsonschema' >/dev/null 2>&1; then
    echo "firmware-test: installing jsonschema"
    python3 -m pip install --quiet jsonschema
fi

mapfile -t boards < <(grep -v "^#" "$fw/boards.txt")
[ ${#boards[@]} -gt 0 ] || { echo "no boards in $fw/boards.txt" >&2; exit 1; }

cd "$fw"
installed_targets="$(rustup target list --installed)"
ensure_target() {
    if ! grep -qx "$1" <<<"$installed_targets"; then
        rustup target add "$1"
    fi
}
passed=0
failed=0
compared=()

# The firmware is its own workspace: the root's fmt and clippy steps do not see it.
ensure_target thumbv7em-none-eabihf
cargo fmt --check
for features in "" "--no-default-features --features tracing" "--no-default-features"; do
    # shellcheck disable=SC2086 # each set is several words
    cargo clippy --quiet --release --target thumbv7em-none-eabihf --features board-mps2-an386 \
        $features --target-dir "$fw/target/clippy" -- -D warnings
done
echo "firmware-test: examples/firmware is formatted and clippy-clean"

# The bound on a run's peak stack: the `stack` column of the size budget's row.
stack_bound() {
    awk -v board="$1" -v build="$2" '!/^#/ && $1 == board && $2 == build { print $5 }' \
        "$size_budget"
}
# The golden comparison's one filter: the peak stack number (see the top of this file).
filter_output() {
    sed -E 's/^# stack peak bytes: [0-9]+$/# stack peak bytes: <peak>/' "$1"
}
# Builds the firmware for one board with the given features, runs it under QEMU, validates
# its output for that model (full or basic) and compares it with its golden file.
run_board() {
    local board="$1" target="$2" model="$3"
    shift 3
    # The same target directories as scripts/firmware-size.sh, which reuses these builds.
    local dir="$fw/target/$model"
    local max_stack
    max_stack="$(stack_bound "$board" "$model")"
    if [ -z "$max_stack" ]; then
        echo "FAIL: $board ($model): no row in $size_budget"
        failed=$((failed + 1))
        return
    fi
    ensure_target "$target"
    echo "firmware-test: building the $model model for $board ($target)"
    cargo build --release --target "$target" --features "board-$board" "$@" --target-dir "$dir"
    local elf="$dir/$target/release/xray-firmware-demo"
    local out="$fw/target/qemu-$board-$model.out"
    echo "firmware-test: running under qemu-system-arm -M $board"
    set +e
    timeout "$qemu_timeout" qemu-system-arm -M "$board" -nographic \
        -semihosting-config enable=on,target=native -kernel "$elf" >"$out" 2>"$out.stderr"
    local rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: $board ($model): qemu exited with $rc (124 = timeout)"
        tail -n 5 "$out" "$out.stderr" || true
        failed=$((failed + 1))
        return
    fi
    if ! python3 "$fw/validate.py" --model="$model" --max-stack="$max_stack" "$out" "$budget"; then
        echo "FAIL: $board ($model): output did not validate ($out)"
        failed=$((failed + 1))
        return
    fi
    local golden="$golden_dir/$board-$model.out"
    compared+=("$board-$model")
    filter_output "$out" >"$out.filtered"
    if [ "$update_golden" = 1 ]; then
        mkdir -p "$golden_dir"
        if cmp -s "$out.filtered" "$golden" 2>/dev/null; then
            echo "firmware-test: $board ($model) passed; golden file unchanged"
        else
            cp "$out.filtered" "$golden"
            echo "firmware-test: $board ($model) passed; RECORDED ${golden#"$root"/}"
        fi
        passed=$((passed + 1))
    elif [ ! -f "$golden" ]; then
        echo "FAIL: $board ($model): no golden file ${golden#"$root"/};" \
            "record it with XRAY_UPDATE_GOLDEN=1 bash scripts/firmware-test.sh"
        failed=$((failed + 1))
    elif cmp -s "$golden" "$out.filtered"; then
        echo "firmware-test: $board ($model) passed; output identical to ${golden#"$root"/}"
        passed=$((passed + 1))
    else
        echo "FAIL: $board ($model): output differs from ${golden#"$root"/}" \
            "($(cmp "$golden" "$out.filtered" 2>&1 | sed 's/^[^:]*: //' || true))"
        diff -u --label "golden/$board-$model.out" --label "this run (stack filtered)" \
            "$golden" "$out.filtered" || true
        echo "If the change is intended: XRAY_UPDATE_GOLDEN=1 bash scripts/firmware-test.sh," \
            "then review git diff examples/firmware/golden"
        failed=$((failed + 1))
    fi
}

# The default build (the full model) on every board; the basic build (without the
# `full-model` feature: what the size report's first figure measures) on the Cortex-M4F.
for entry in "${boards[@]}"; do
    read -r board target <<<"$entry"
    run_board "$board" "$target" full
done
run_board mps2-an386 thumbv7em-none-eabihf basic --no-default-features --features tracing
# A golden file that no run compared (its board or build dropped) must not linger unnoticed.
for golden in "$golden_dir"/*.out; do
    [ -e "$golden" ] || continue
    if ! grep -qx "$(basename "$golden" .out)" <<<"$(printf '%s\n' "${compared[@]}")"; then
        echo "FAIL: ${golden#"$root"/}: no run of this script produces it; remove it"
        failed=$((failed + 1))
    fi
done

# The embassy adapter on the same bare-metal targets (and RISC-V), with and without defmt.
cd "$root"
for target in thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf; do
    ensure_target "$target"
    if cargo build --quiet -p xray-embassy --target "$target" --release &&
        cargo build --quiet -p xray-embassy --target "$target" --release \
            --no-default-features --features medium-ip,defmt; then
        echo "firmware-test: xray-embassy builds for $target"
        passed=$((passed + 1))
    else
        echo "FAIL: xray-embassy does not build for $target"
        failed=$((failed + 1))
    fi
done

echo "firmware: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
