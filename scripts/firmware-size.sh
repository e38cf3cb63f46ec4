#!/usr/bin/env bash
# Size report of examples/firmware: .text, .rodata, .data and .bss per target, with the tracing
# code and without it (the baseline), and the difference: what xray-core and the firmware's
# tracing glue cost. Two tracing builds: the full model (default features: HTTP, metadata,
# stack frames and the rest on top) and the basic one (`tracing` alone: the sampler, a segment
# with nested subsegments, annotations and an error, streamed under the budget). Release profile: opt-level "s", fat LTO, one codegen
# unit, panic=abort. Prints a markdown table; with an argument, also writes it to that file.
# Then, for thumbv7em, where the flash cost goes: the symbols the tracing build has and the
# baseline has not, summed by module (functions inlined into the demo count as the demo's).
# With qemu-system-arm installed (scripts/firmware-test.sh installs it), each build also runs
# once under QEMU to read its peak stack use (cortex-m-rt paints the stack at reset; the
# firmware prints how deep it was used).
#
#   bash scripts/firmware-size.sh [OUT.md]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fw="$root/examples/firmware"
out_file="${1:-}"

mapfile -t boards < <(grep -v "^#" "$fw/boards.txt")
[ ${#boards[@]} -gt 0 ] || { echo "no boards in $fw/boards.txt" >&2; exit 1; }

cd "$fw"
installed_targets="$(rustup target list --installed)"
rows=()
for entry in "${boards[@]}"; do
    read -r board target <<<"$entry"
    if ! grep -qx "$target" <<<"$installed_targets"; then
        rustup target add "$target" >&2
    fi
    for variant in tracing basic baseline; do
        features="board-$board"
        extra=()
        case "$variant" in
            basic) extra=(--no-default-features --features tracing) ;;
            baseline) extra=(--no-default-features) ;;
        esac
        dir="$fw/target/size-$variant"
        cargo build --quiet --release --target "$target" --features "$features" "${extra[@]}" \
            --target-dir "$dir" >&2
        elf="$dir/$target/release/xray-firmware-demo"
        stack=-
        if command -v qemu-system-arm >/dev/null 2>&1; then
            stack="$(timeout 60 qemu-system-arm -M "$board" -nographic \
                -semihosting-config enable=on,target=native -kernel "$elf" 2>/dev/null |
                sed -n 's/^# stack peak bytes: \([0-9]*\)$/\1/p' || true)"
            stack="${stack:--}"
        fi
        rows+=("$board $target $variant $elf $stack")
    done
done

table="$(# shellcheck disable=SC2068 # each row is five words
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
stacks = {}
for i in range(0, len(args), 5):
    board, target, variant, path, stack = args[i:i + 5]
    s = sections(path)
    text = s.get(".vector_table", 0) + s.get(".text", 0)
    sizes[(board, target, variant)] = (text, s.get(".rodata", 0), s.get(".data", 0), s.get(".bss", 0) + s.get(".uninit", 0))
    stacks[(board, target, variant)] = int(stack) if stack.isdigit() else None

print("| board (target) | build | .text | .rodata | .data | .bss | flash | static RAM | peak stack |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
seen = []
for (board, target, _v) in sizes:
    if (board, target) not in seen:
        seen.append((board, target))
for board, target in seen:
    t = sizes[(board, target, "tracing")]
    c = sizes[(board, target, "basic")]
    b = sizes[(board, target, "baseline")]
    d = tuple(x - y for x, y in zip(t, b))
    dc = tuple(x - y for x, y in zip(c, b))
    st, sc, sb = (stacks[(board, target, v)] for v in ("tracing", "basic", "baseline"))
    diff = lambda x, y: x - y if x is not None and y is not None else None
    for label, v, stack in (("with tracing, full model", t, st), ("with tracing, basic", c, sc),
                            ("without tracing", b, sb),
                            ("**cost of tracing, full model**", d, diff(st, sb)),
                            ("**cost of tracing, basic**", dc, diff(sc, sb))):
        flash = v[0] + v[1] + v[2]
        ram = v[2] + v[3]
        stack = "n/a" if stack is None else stack
        print(f"| {board} ({target}) | {label} | {v[0]} | {v[1]} | {v[2]} | {v[3]} | {flash} | {ram} | {stack} |")
PY
)"
printf '%s\n' "$table"
if [ -n "$out_file" ]; then
    printf '%s\n' "$table" >"$out_file"
fi

breakdown="$(python3 - \
    "$fw/target/size-tracing/thumbv7em-none-eabihf/release/xray-firmware-demo" \
    "$fw/target/size-baseline/thumbv7em-none-eabihf/release/xray-firmware-demo" <<'PY'
import collections, re, struct, sys

def symbols(path):
    """(name, size) of every function and data object in an ELF32 little-endian file."""
    data = open(path, "rb").read()
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
    hdrs = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    out = []
    for h in hdrs:
        if h[1] != 2:  # SHT_SYMTAB
            continue
        strtab = hdrs[h[6]][4]
        for off in range(h[4], h[4] + h[5], 16):
            name_off, _value, size, info, _other, shndx = struct.unpack_from("<IIIBBH", data, off)
            if size == 0 or shndx == 0 or shndx >= len(hdrs) or (info & 0xF) not in (1, 2):
                continue  # not a defined OBJECT or FUNC
            if hdrs[shndx][1] == 8:
                continue  # .bss (NOBITS): RAM, not flash
            end = data.index(b"\0", strtab + name_off)
            out.append((data[strtab + name_off:end].decode(errors="replace"), size))
    return out

def path_of(mangled):
    """Module path of a legacy-mangled Rust symbol (_ZN4core3fmt5write17h...E)."""
    if not mangled.startswith("_ZN"):
        return [mangled]
    parts, i = [], 3
    while i < len(mangled) and mangled[i].isdigit():
        j = i
        while mangled[j].isdigit():
            j += 1
        n = int(mangled[i:j])
        parts.append(mangled[j:j + n])
        i = j + n
    return [p for p in parts if not re.fullmatch(r"h[0-9a-f]{16}", p)]

def core_group(p):
    """The report's group for a path inside xray_core (module, then item)."""
    if len(p) > 2 and p[1] in ("recorder", "sampler", "model"):
        return "xray_core::" + p[1] + (("::" + p[2]) if p[1] == "recorder" and len(p) > 3 and not p[2].startswith("_") and p[2][0].islower() else "")
    return "xray_core::" + (p[1] if len(p) > 1 else "")

def group(name):
    if name.startswith("_R"):  # v0 mangling: compiler builtins and core
        return "compiler builtins (mem*, division)" if "compiler_builtins" in name else "core"
    p = path_of(name)
    if p[0] == "xray_core":
        return core_group(p)
    # Trait impls, `<Type as Trait>::method`: grouped by the type's module, or by the trait's
    # for a closure (`F`): the recorder's payload writers are the recording calls' bodies.
    impl = re.match(r"_\$LT\$(.*?)\$u20\$as\$u20\$(.*?)\$GT\$$", p[0])
    if impl and "xray_core" in p[0]:
        self_type, trait = impl.groups()
        if self_type == "F" and trait.startswith("xray_core..recorder.."):
            return "xray_core::recorder::record"
        if self_type.startswith("xray_firmware_demo.."):
            return "firmware demo (with what is inlined into it)"
        owner = self_type if self_type.startswith("xray_core..") else trait
        return core_group(owner.split("..") + [p[-1]])
    if "xray_core" in name:
        return "xray_core (trait impls)"
    if p[0] in ("compiler_builtins",) or name.startswith(("__aeabi", "mem", "__udiv")):
        return "compiler builtins (mem*, division)"
    if p[0] == "xray_firmware_demo":
        return "firmware demo (with what is inlined into it)"
    if name.startswith(".L") or name.startswith("anon"):
        return "constants (strings, tables)"
    return p[0]

tracing, baseline = symbols(sys.argv[1]), symbols(sys.argv[2])
base_sizes = collections.Counter()
for n, s in baseline:
    base_sizes[group(n)] += s
costs = collections.Counter()
for n, s in tracing:
    costs[group(n)] += s
for g in list(costs):
    costs[g] -= base_sizes.get(g, 0)
print("| where the flash goes (thumbv7em, tracing minus baseline) | bytes |")
print("|---|---:|")
for g, s in costs.most_common():
    if s > 0:
        print(f"| {g} | {s} |")
print(f"| **sum of symbol sizes** | {sum(v for v in costs.values() if v > 0)} |")
PY
)"
printf '\n%s\n' "$breakdown"
if [ -n "$out_file" ]; then
    printf '\n%s\n' "$breakdown" >>"$out_file"
fi
