#!/usr/bin/env bash
# Builds examples/firmware-net (an embassy-net firmware for QEMU's mps2-an386, whose LAN9118
# Ethernet controller it drives) with and without tracing, runs each under qemu-system-arm with
# the controller on QEMU's UDP socket network backend on 127.0.0.1, and plays the network with
# examples/firmware-net/host.py: it answers ARP for the daemon's address (192.0.2.2, inside the
# emulated link only), receives the firmware's UDP datagrams to port 2000 and validates each
# against the X-Ray segment document schema and the datagram budget. The firmware prints the
# drop counters of its transports over semihosting (the traced build also sends a request into
# a deliberately tiny socket: counted drops, not a hang) and the host program checks that it
# received exactly what the transports say they sent. No user-mode (slirp) networking, no TAP:
# the only sockets are two UDP ports on 127.0.0.1. Each run is bounded by a timeout and
# synchronised on the firmware's exit, not on the clock.
#
# Then the size report of both builds (flash, static RAM, peak stack) and the cost of tracing
# on the network path, gated by examples/firmware-net/size-budget.txt as scripts/firmware-size.sh
# gates examples/firmware: the script fails when flash or static RAM grows past its row or the
# peak stack past its bound. When growth is intended:
#
#   XRAY_UPDATE_BUDGET=1 bash scripts/firmware-net-test.sh
#
# rewrites the flash and static RAM columns (the stack column is edited by hand).
#
# Installs what is missing: qemu-system-arm (apt), the Rust target (rustup), jsonschema (pip).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fw="$root/examples/firmware-net"
target=thumbv7em-none-eabihf
budget=1472 # keep in step with BUDGET in examples/firmware-net/src/traces.rs
size_budget="$fw/size-budget.txt"
run_timeout="${QEMU_TIMEOUT:-60}"
started=$SECONDS

if ! command -v qemu-system-arm >/dev/null 2>&1; then
    echo "firmware-net-test: installing qemu-system-arm"
    sudo_cmd=""
    if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq qemu-system-arm >/dev/null
fi
if ! python3 -c 'import jsonschema' >/dev/null 2>&1; then
    echo "firmware-net-test: installing jsonschema"
    python3 -m pip install --quiet jsonschema
fi
if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi

cd "$fw"
# Its own workspace: the root's fmt and clippy steps do not see it.
cargo fmt --check
for features in "" "--no-default-features"; do
    # shellcheck disable=SC2086 # each set is several words
    cargo clippy --quiet --release --target "$target" $features --target-dir "$fw/target/clippy" \
        -- -D warnings
done
echo "firmware-net-test: examples/firmware-net is formatted and clippy-clean"

# The bound on a build's peak stack: the `stack` column of its size budget row.
stack_bound() {
    awk -v build="$1" '!/^#/ && $1 == build { print $4 }' "$size_budget"
}

passed=0
failed=0
mkdir -p "$fw/target/elf"
# One target directory for both builds: their dependencies are the same, only the binary differs.
for build in traced untraced; do
    features=()
    host_args=()
    if [ "$build" = untraced ]; then
        features=(--no-default-features)
        host_args=(--untraced)
    fi
    echo "firmware-net-test: building the $build firmware ($target)"
    cargo build --quiet --release --target "$target" "${features[@]}" --target-dir "$fw/target"
    elf="$fw/target/elf/xray-firmware-net-$build"
    cp "$fw/target/$target/release/xray-firmware-net" "$elf"
    max_stack="$(stack_bound "$build")"
    echo "firmware-net-test: running the $build firmware under qemu-system-arm -M mps2-an386"
    if python3 "$fw/host.py" "${host_args[@]}" --timeout="$run_timeout" \
        --max-stack="${max_stack:-999999}" "$elf" "$budget" | tee "$fw/target/host-$build.out"; then
        passed=$((passed + 1))
    else
        echo "FAIL: the $build firmware's network run (examples/firmware-net/host.py)"
        failed=$((failed + 1))
    fi
done

# Size report and gate.
if [ "$failed" -eq 0 ]; then
    stack_of() { sed -n 's/.*peak stack \([0-9]*\) bytes.*/\1/p' "$fw/target/host-$1.out"; }
    if python3 - "$size_budget" "${XRAY_UPDATE_BUDGET:-0}" \
        "$fw/target/elf/xray-firmware-net-traced" "$(stack_of traced)" \
        "$fw/target/elf/xray-firmware-net-untraced" "$(stack_of untraced)" <<'PY'; then
import struct, sys

def sections(path):
    """Section name -> size, from an ELF32 little-endian file's section headers."""
    data = open(path, "rb").read()
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    hdrs = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    stroff = hdrs[shstrndx][4]
    out = {}
    for h in hdrs:
        end = data.index(b"\0", stroff + h[0])
        out[data[stroff + h[0]:end].decode()] = h[5]
    return out

budget_path, update = sys.argv[1], sys.argv[2] == "1"
measured = {}
for build, path, stack in (("traced", sys.argv[3], sys.argv[4]), ("untraced", sys.argv[5], sys.argv[6])):
    s = sections(path)
    text = s.get(".vector_table", 0) + s.get(".text", 0)
    measured[build] = (text, s.get(".rodata", 0), s.get(".data", 0),
                       s.get(".bss", 0) + s.get(".uninit", 0), int(stack))

print("| board (target) | build | .text | .rodata | .data | .bss | flash | static RAM | peak stack |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
t, u = measured["traced"], measured["untraced"]
for label, v in (("embassy-net, with tracing", t), ("embassy-net, without tracing", u),
                 ("**cost of tracing over embassy-net**", tuple(a - b for a, b in zip(t, u)))):
    print(f"| mps2-an386 (thumbv7em-none-eabihf) | {label} | {v[0]} | {v[1]} | {v[2]} | {v[3]} "
          f"| {v[0] + v[1] + v[2]} | {v[2] + v[3]} | {v[4]} |")

# Flash within this many bytes over its row passes (the checkout directory alone moves the
# layout by a few bytes: see LAYOUT_NOISE in scripts/firmware-size.sh).
LAYOUT_NOISE = 32
lines = open(budget_path).read().splitlines()
failures = []
seen = set()
for n, line in enumerate(lines):
    if not line.strip() or line.startswith("#"):
        continue
    build, b_flash, b_ram, b_stack = line.split()
    if build not in measured:
        failures.append(f"{build}: a budget row for a build this script does not make")
        continue
    seen.add(build)
    text, rodata, data, bss, stack = measured[build]
    flash, ram = text + rodata + data, data + bss
    if update:
        lines[n] = f"{build:<9} {flash:<6} {ram:<11} {b_stack}"
        b_flash, b_ram = flash, ram
    for measure, actual, limit in (("flash", flash, int(b_flash)), ("static RAM", ram, int(b_ram)),
                                   ("peak stack", stack, int(b_stack))):
        if measure == "flash" and limit < actual <= limit + LAYOUT_NOISE:
            print(f"size gate: note: firmware-net {build}: flash is {actual:,} B, "
                  f"{actual - limit:,} B over its budget of {limit:,} B, within the "
                  f"{LAYOUT_NOISE} B a checkout directory can move it")
        elif actual > limit:
            failures.append(f"{build}: {measure} is {actual:,} B, above its budget of {limit:,} B")
    print(f"size gate: firmware-net {build}: flash {flash:,} of {int(b_flash):,} B, static RAM "
          f"{ram:,} of {int(b_ram):,} B, peak stack {stack:,} of {int(b_stack):,} B")
for build in sorted(measured.keys() - seen):
    failures.append(f"{build}: no row in the budget")
if update:
    open(budget_path, "w").write("\n".join(lines) + "\n")
    print(f"size gate: rewrote flash and static RAM in {budget_path}; review and commit it")
for f in failures:
    print(f"size gate: FAIL firmware-net {f}")
if failures:
    print("size gate: if the growth is intended, XRAY_UPDATE_BUDGET=1 bash "
          "scripts/firmware-net-test.sh rewrites flash and static RAM; commit "
          "examples/firmware-net/size-budget.txt with the change and say why")
    sys.exit(1)
PY
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
fi

echo "firmware-net-test: took $((SECONDS - started)) s"
echo "firmware-net: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
