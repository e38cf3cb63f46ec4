#!/usr/bin/env bash
# Size report and size gate of examples/firmware: .text, .rodata, .data and .bss per target, with
# the tracing code and without it (the baseline), and the difference: what xray-core and the
# firmware's tracing glue cost. Two tracing builds: the full model (default features: HTTP,
# metadata, stack frames and the rest on top) and the basic one (`tracing` alone: the sampler, a
# segment with nested subsegments, annotations and an error, streamed under the budget). Release
# profile: opt-level "s", fat LTO, one codegen unit, panic=abort. Prints a markdown table; with
# an argument, also writes it to that file. Then, for thumbv7em, where the flash cost goes: the
# symbols the tracing build has and the baseline has not, summed by module (functions inlined
# into the demo count as the demo's). Each build also runs once under qemu-system-arm to read
# its peak stack use (cortex-m-rt paints the stack at reset; the firmware prints how deep it was
# used); scripts/firmware-test.sh installs QEMU.
#
# The gate: every full and basic build is checked against examples/firmware/size-budget.txt, and
# the script fails, naming board, build, measure, budget and actual, when flash or static RAM is
# above its row (flash by more than the 32 B that the checkout directory alone can move it) or
# the peak stack above its bound. Builds share their target directories
# (target/full, target/basic, target/baseline) with scripts/firmware-test.sh: run after it, only
# the builds it does not make are compiled. When growth is intended, rewrite the budget's flash
# and static RAM columns with what the builds measure, and commit it with the change:
#
#   XRAY_UPDATE_BUDGET=1 bash scripts/firmware-size.sh
#
#   bash scripts/firmware-size.sh [OUT.md]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fw="$root/examples/firmware"
out_file="${1:-}"
size_budget="$fw/size-budget.txt"
measures="$fw/target/size-measures.txt"
qemu_timeout="${QEMU_TIMEOUT:-60}"

if ! command -v qemu-system-arm >/dev/null 2>&1; then
    echo "firmware-size: qemu-system-arm is needed for the peak stack" \
        "(bash scripts/firmware-test.sh installs it)" >&2
    exit 1
fi

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
    for variant in full basic baseline; do
        features="board-$board"
        extra=()
        case "$variant" in
            basic) extra=(--no-default-features --features tracing) ;;
            baseline) extra=(--no-default-features) ;;
        esac
        # The same directories and flags as scripts/firmware-test.sh: its builds are reused.
        dir="$fw/target/$variant"
        cargo build --quiet --release --target "$target" --features "$features" "${extra[@]}" \
            --target-dir "$dir" >&2
        elf="$dir/$target/release/xray-firmware-demo"
        stack="$(timeout "$qemu_timeout" qemu-system-arm -M "$board" -nographic \
            -semihosting-config enable=on,target=native -kernel "$elf" 2>/dev/null |
            sed -n 's/^# stack peak bytes: \([0-9]*\)$/\1/p' || true)"
        if [ -z "$stack" ]; then
            echo "firmware-size: $board ($variant) printed no peak stack under QEMU" >&2
            exit 1
        fi
        rows+=("$board $target $variant $elf $stack")
    done
done

table="$(# shellcheck disable=SC2068 # each row is five words
python3 - "$measures" ${rows[@]} <<'PY'
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

measures, args = sys.argv[1], sys.argv[2:]
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
    t = sizes[(board, target, "full")]
    c = sizes[(board, target, "basic")]
    b = sizes[(board, target, "baseline")]
    d = tuple(x - y for x, y in zip(t, b))
    dc = tuple(x - y for x, y in zip(c, b))
    st, sc, sb = (stacks[(board, target, v)] for v in ("full", "basic", "baseline"))
    diff = lambda x, y: x - y if x is not None and y is not None else None
    for label, v, stack in (("with tracing, full model", t, st), ("with tracing, basic", c, sc),
                            ("without tracing", b, sb),
                            ("**cost of tracing, full model**", d, diff(st, sb)),
                            ("**cost of tracing, basic**", dc, diff(sc, sb))):
        flash = v[0] + v[1] + v[2]
        ram = v[2] + v[3]
        stack = "n/a" if stack is None else stack
        print(f"| {board} ({target}) | {label} | {v[0]} | {v[1]} | {v[2]} | {v[3]} | {flash} | {ram} | {stack} |")
# What the gate compares with the budget: board, build, flash, static RAM, peak stack.
with open(measures, "w") as f:
    for (board, target, variant), v in sizes.items():
        f.write(f"{board} {variant} {v[0] + v[1] + v[2]} {v[2] + v[3]} {stacks[(board, target, variant)]}\n")
PY
)"
printf '%s\n' "$table"
if [ -n "$out_file" ]; then
    printf '%s\n' "$table" >"$out_file"
fi

breakdown="$(python3 - \
    "$fw/target/full/thumbv7em-none-eabihf/release/xray-firmware-demo" \
    "$fw/target/baseline/thumbv7em-none-eabihf/release/xray-firmware-demo" <<'PY'
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

# The gate (or, with XRAY_UPDATE_BUDGET=1, the budget's flash and static RAM rewritten).
python3 - "$size_budget" "$measures" "${XRAY_UPDATE_BUDGET:-0}" <<'PY'
import sys

budget_path, measures_path, update = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
measured = {}
for line in open(measures_path):
    board, build, flash, ram, stack = line.split()
    if build != "baseline":  # the baseline is the report's reference, not a shipped build
        measured[(board, build)] = (int(flash), int(ram), int(stack))

lines = open(budget_path).read().splitlines()
rows = {}
for n, line in enumerate(lines):
    if line.strip() and not line.startswith("#"):
        board, build, flash, ram, stack = line.split()
        rows[(board, build)] = (n, int(flash), int(ram), int(stack))

# The same code can link a few bytes larger or smaller from another checkout directory (the
# path is in the crates' metadata hashes, which order the functions and so their padding:
# 4 B measured between two clones of one commit). Flash within this many bytes over its row is
# reported, not failed; the rows stay what the builds measure.
LAYOUT_NOISE = 32
failures, notes, noise = [], [], []
for board, build in sorted(measured.keys() - rows.keys()):
    failures.append(f"{board} {build}: no row in the budget; add one "
                    "(XRAY_UPDATE_BUDGET=1 then fills in flash and static RAM)")
for board, build in sorted(rows.keys() - measured.keys()):
    failures.append(f"{board} {build}: a budget row for a build this script does not make; "
                    "remove it")
print()
for key in sorted(rows.keys() & measured.keys()):
    n, b_flash, b_ram, b_stack = rows[key]
    flash, ram, stack = measured[key]
    if update:
        lines[n] = f"{key[0]:<12} {key[1]:<6} {flash:<6} {ram:<11} {b_stack}"
        b_flash, b_ram = flash, ram
    for measure, actual, limit in (("flash", flash, b_flash), ("static RAM", ram, b_ram),
                                   ("peak stack", stack, b_stack)):
        if measure == "flash" and limit < actual <= limit + LAYOUT_NOISE:
            noise.append(f"{key[0]} {key[1]}: flash is {actual:,} B, {actual - limit:,} B "
                         f"over its budget of {limit:,} B, within the {LAYOUT_NOISE} B a "
                         "checkout directory can move it")
        elif actual > limit:
            failures.append(f"{key[0]} {key[1]}: {measure} is {actual:,} B, above its "
                            f"budget of {limit:,} B (+{actual - limit:,} B)")
        elif actual < limit and measure != "peak stack":
            notes.append(f"{key[0]} {key[1]}: {measure} is {actual:,} B, "
                         f"{limit - actual:,} B under its budget of {limit:,} B")
    print(f"size gate: {key[0]} {key[1]}: flash {flash:,} of {b_flash:,} B, "
          f"static RAM {ram:,} of {b_ram:,} B, peak stack {stack:,} of {b_stack:,} B")
if update:
    open(budget_path, "w").write("\n".join(lines) + "\n")
    print(f"size gate: rewrote flash and static RAM in {budget_path}; review and commit it")
for note in notes:
    print(f"size gate: note: {note} (tighten it: XRAY_UPDATE_BUDGET=1 bash scripts/firmware-size.sh)")
for note in noise:
    print(f"size gate: note: {note}")
for failure in failures:
    print(f"size gate: FAIL {failure}")
if failures:
    print("size gate: if the growth is intended, XRAY_UPDATE_BUDGET=1 bash scripts/firmware-size.sh "
          "rewrites flash and static RAM (the stack bound is edited by hand); commit "
          "examples/firmware/size-budget.txt with the change and say why")
    sys.exit(1)
print(f"size gate: {len(rows)} builds within examples/firmware/size-budget.txt")
PY
