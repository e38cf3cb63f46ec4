#!/usr/bin/env bash
# Where the reference request's user-space instructions go, by the source file that owns them:
# the load generator under valgrind's callgrind with N = 2001 and N = 1 requests, per request
# (Ir(2001) - Ir(1)) / 2000 as scripts/bench-request.sh counts them, and each executed
# instruction charged to the innermost frame of this project that it was inlined into
# (addr2line -i on a build with line tables; the optimised code is the same as the release
# build's, so the total is the same count). A byte written through the sink (core/src/sink.rs),
# and a libc copy (memcpy, memmove, memset), count to the code that asked for it.
#
# Files are then summed into parts: the encoders (text the output must hold whatever places
# it: escaping, names, times, ids, model values, metadata, the URL sanitizer), the recorder
# (the field log, placing fields and documents, the recording calls), the std adapter, and
# what lies outside the project (libc, the standard library's own functions, the kernel entry).
#
#   bash scripts/profile-request.sh          # parts and files
#   TOP=40 bash scripts/profile-request.sh   # and the 40 costliest functions
#
# Needs valgrind and addr2line (binutils). Builds the load generator with line tables in its
# own target directory (target/profile-lines), so the release build of the other scripts is
# left as it is.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
top="${TOP:-0}"

for tool in valgrind addr2line; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "profile-request: $tool is needed (apt-get install valgrind binutils)" >&2
        exit 1
    fi
done

target_dir="$root/target/profile-lines"
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --quiet --release \
    -p xray-examples --bin loadgen --target-dir "$target_dir"
loadgen="$target_dir/release/loadgen"
tmp="$(mktemp -d)"
receiver=""
trap 'rm -rf "$tmp"; [ -z "$receiver" ] || kill "$receiver" 2>/dev/null' EXIT

# A socket that never reads, as in scripts/bench-request.sh: every send succeeds.
python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
time.sleep(3600)
' >"$tmp/port" &
receiver=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port="$(cat "$tmp/port")"
[ -n "$port" ] || { echo "profile-request: the receiver did not start" >&2; exit 1; }

for n in 1 2001; do
    AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:$port" valgrind --tool=callgrind --dump-instr=yes \
        --callgrind-out-file="$tmp/callgrind.out.$n" "$loadgen" --requests "$n" \
        >/dev/null 2>"$tmp/err.$n" || { cat "$tmp/err.$n" >&2; exit 1; }
done

python3 - "$tmp/callgrind.out.1" "$tmp/callgrind.out.2001" "$loadgen" "$root" "$top" <<'PY'
import collections, re, subprocess, sys

one_path, many_path, binary, root, top = sys.argv[1:6]
root = root.rstrip("/") + "/"
COPY = re.compile(r"\b_*(memcpy|memmove|memset)")


def executed(path):
    """(object, address) -> instructions executed there; a call to a libc copy is charged, with
    everything the copy executed, to the address that called it."""
    names, ob, fn, cfn, calling, at = {}, None, None, None, False, 0
    out = collections.Counter()
    for line in open(path):
        m = re.match(r"(c?ob|c?fn|c?fl|fi|fe)=\((\d+)\)(?: (.*))?", line)
        if m:
            kind = m.group(1).lstrip("c")
            space = kind if kind in ("ob", "fn") else "file"
            if m.group(3):
                names[(space, m.group(2))] = m.group(3).strip()
            value = names.get((space, m.group(2)))
            if m.group(1) == "ob":
                ob = value
            elif m.group(1) == "fn":
                fn = value
            elif m.group(1) == "cfn":
                cfn = value
            continue
        if line.startswith("calls="):
            calling = True
            continue
        m = re.match(r"(0x[0-9a-f]+|[+-]\d+|\*)\s+\S+\s+(\d+)", line)
        if not m:
            continue
        a = m.group(1)
        at = int(a, 16) if a.startswith("0x") else at if a == "*" else at + int(a)
        n = int(m.group(2))
        copy_here = bool(fn and COPY.search(fn))
        if calling:
            calling = False
            if cfn and COPY.search(cfn) and not copy_here:
                out[(ob, at)] += n
        elif not copy_here:
            out[(ob, at)] += n
    return out


one, many = executed(one_path), executed(many_path)
per_address = collections.Counter()
for key in set(one) | set(many):
    d = many.get(key, 0) - one.get(key, 0)
    if d:
        per_address[key] = d

# Each address of the load generator: its inline frames, innermost first.
addresses = sorted(a for (o, a) in per_address if o == binary)
text = subprocess.run(
    ["addr2line", "-a", "-i", "-f", "-C", "-e", binary],
    input="\n".join(hex(a) for a in addresses), capture_output=True, text=True, check=True,
).stdout.splitlines()
frames, owner, i = {}, {}, 0
current = None
while i < len(text):
    if re.fullmatch(r"0x[0-9a-f]+", text[i]):
        current = int(text[i], 16)
        frames[current] = []
        i += 1
        continue
    location = text[i + 1] if i + 1 < len(text) else "?"
    frames[current].append((re.sub(r"::h[0-9a-f]{16}$", "", text[i]), location))
    i += 2
for a, stack in frames.items():
    pick = None
    for function, location in stack:
        path = location.split(":")[0]
        if path.startswith(root) and not path.endswith("core/src/sink.rs"):
            pick = (path[len(root):], function)
            break
    owner[a] = pick or ("(outside the project)", stack[0][0] if stack else "?")

by_file, by_function = collections.Counter(), collections.Counter()
for (o, a), d in per_address.items():
    if o == binary:
        f, function = owner.get(a, ("(outside the project)", "?"))
    else:
        f, function = "(outside the project)", (o or "?").rsplit("/", 1)[-1]
    by_file[f] += d
    by_function[(f, function)] += d

PARTS = [
    ("the encoders (escaping, names, times, ids, model values, metadata, URL sanitizer)",
     r"^core/src/(json|name|name_charset|byte_table|time|id|divide|metadata_serializer)\.rs$|"
     r"^core/src/model/"),
    ("the recorder (field log, placing fields and documents, the recording calls)",
     r"^core/src/recorder/"),
    ("the std adapter (handles, pool, locks, trace clock, transport)", r"^std-adapter/src/"),
    ("outside the project (libc, the standard library's functions, the kernel entry)",
     r"^\(outside"),
]
total = sum(by_file.values()) / 2000
print(f"instructions per reference request: {total:.0f}")
print("by part:")
placed = set()
for label, pattern in PARTS:
    files = [f for f in by_file if re.search(pattern, f)]
    placed.update(files)
    print(f"  {sum(by_file[f] for f in files) / 2000:6.0f}  {label}")
rest = [f for f in by_file if f not in placed]
print(f"  {sum(by_file[f] for f in rest) / 2000:6.0f}  the rest ({', '.join(sorted(rest)) or 'none'})")
print("by file (10 or more per request):")
for f, d in by_file.most_common():
    if d >= 10 * 2000:
        print(f"  {d / 2000:6.0f}  {f}")
if int(top) > 0:
    print(f"the {top} costliest functions (inlined code counted to the function it came from):")
    for (f, function), d in by_function.most_common(int(top)):
        print(f"  {d / 2000:6.0f}  {function[:100]}  ({f})")
PY
