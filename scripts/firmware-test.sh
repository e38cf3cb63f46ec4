#!/usr/bin/env bash
# Builds examples/firmware for three boards, runs each under qemu-system-arm with semihosting
# and validates the printed datagrams against the X-Ray segment document schema. The basic
# build (without the `full-model` feature) runs once more on the Cortex-M4F.
#
#   lm3s6965evb  thumbv7m-none-eabi      (Cortex-M3)
#   mps2-an386   thumbv7em-none-eabihf   (Cortex-M4F)
#   microbit     thumbv6m-none-eabi      (Cortex-M0)
#
# Installs what is missing: qemu-system-arm (apt), the Rust targets (rustup), jsonschema (pip).
# Each QEMU run is bounded by `timeout`. Exits non-zero on the first failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fw="$root/examples/firmware"
budget=1472 # keep in step with BUDGET in examples/firmware/src/demo.rs
# Peak stack of a run, whole program (reset to the end of the trace). QEMU runs are
# deterministic: today 840 B on the Cortex-M3 and M4F, 1,072 B on the M0 (see
# scripts/firmware-size.sh). The bound catches a regression such as a recorder or slot
# array built on the stack and copied (it once cost 616 B).
max_stack=1280
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

# The firmware is its own workspace: the root's fmt and clippy steps do not see it.
ensure_target thumbv7em-none-eabihf
cargo fmt --check
for features in "" "--no-default-features --features tracing" "--no-default-features"; do
    # shellcheck disable=SC2086 # each set is several words
    cargo clippy --quiet --release --target thumbv7em-none-eabihf --features board-mps2-an386 \
        $features --target-dir "$fw/target/clippy" -- -D warnings
done
echo "firmware-test: examples/firmware is formatted and clippy-clean"
# Builds the firmware for one board with the given features, runs it under QEMU and
# validates its output for that model (full or basic).
run_board() {
    local board="$1" target="$2" model="$3"
    shift 3
    local dir="$fw/target/$model"
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
    if python3 "$fw/validate.py" --model="$model" --max-stack="$max_stack" "$out" "$budget"; then
        echo "firmware-test: $board ($model) passed"
        passed=$((passed + 1))
    else
        echo "FAIL: $board ($model): output did not validate ($out)"
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
