#!/usr/bin/env bash
# Size report of examples/firmware: .text, .rodata, .data and .bss per target, with the tracing
# code (default features) and without it (the baseline), and the difference: what xray-core
# and the firmware's tracing glue cost. Release profile: opt-level "s", fat LTO, one codegen
# unit, panic=abort. Prints a markdown table; with an argument, also writes it to that file.
#
#   bash scripts/firmware-size.sh [OUT.md]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fw="$root/examples/firmware"
out_file="${1:-}"

boards=(
    "lm3s6965evb thumbv7m-none-eabi"
    "mps2-an386 thumbv7em-none-eabihf"
    "microbit thumbv6m-none-eabi"
)

cd "$fw"
installed_targets="$(rustup target list --installed)"
rows=()
for entry in "${boards[@]}"; do
    read -r board target <<<"$entry"
    if ! grep -qx "$target" <<<"$installed_targets"; then
        rustup target add "$target" >&2
    fi
    for variant in tracing baseline; do
        features="board-$board"
        extra=()
        if [ "$variant" = baseline ]; then extra=(--no-default-features); fi
        dir="$fw/target/size-$variant"
        cargo build --quiet --release --target "$target" --features "$features" "${extra[@]}" \
            --target-dir "$dir" >&2
        rows+=("$board $target $variant $dir/$target/release/xray-firmware-demo")
    done
done

table="$(# shellcheck disable=SC2068 # each row is four words
python3 - ${rows[@]} <<'PY'
import struct, sys

def sections(path):
    """Section name -> size, from an ELF32 little-endian file's section headers."""
    data = open(path, "rb").read()
    assert data[:4] == b"\x7fELF" and data[4] == 1 and data[5] == 1, "ELF32 LE expected"
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    hdrs = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    stroff = hdrs[shstrndx][4]
    out = {}
    for h in hdrs:
        name_off, size = h[0], h[5]
        end = data.index(b"\0", stroff + name_off)
        out[data[stroff + name_off:end].decode()] = size
    return out

args = sys.argv[1:]
sizes = {}
for i in range(0, len(args), 4):
    board, target, variant, path = args[i:i + 4]
    s = sections(path)
    text = s.get(".vector_table", 0) + s.get(".text", 0)
    sizes[(board, target, variant)] = (text, s.get(".rodata", 0), s.get(".data", 0), s.get(".bss", 0) + s.get(".uninit", 0))

print("| board (target) | build | .text | .rodata | .data | .bss | flash | static RAM |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
seen = []
for (board, target, _v) in sizes:
    if (board, target) not in seen:
        seen.append((board, target))
for board, target in seen:
    t = sizes[(board, target, "tracing")]
    b = sizes[(board, target, "baseline")]
    d = tuple(x - y for x, y in zip(t, b))
    for label, v in (("with tracing", t), ("without tracing", b), ("**cost of tracing**", d)):
        flash = v[0] + v[1] + v[2]
        ram = v[2] + v[3]
        print(f"| {board} ({target}) | {label} | {v[0]} | {v[1]} | {v[2]} | {v[3]} | {flash} | {ram} |")
PY
)"
printf '%s\n' "$table"
if [ -n "$out_file" ]; then
    printf '%s\n' "$table" >"$out_file"
fi
