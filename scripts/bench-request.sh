#!/usr/bin/env bash
# The cost of one reference request (xray_std::reference: a segment with three annotations and
# a metadata value, a remote HTTP subsegment and a faulted subsegment with an exception), two ways:
#
# 1. user-space instructions per request: the load generator under valgrind's callgrind with
#    N = 2001 and N = 1 requests; (Ir(2001) - Ir(1)) / 2000 leaves out start-up and the first
#    request's warm-up. Deterministic to a few instructions.
# 2. wall time per request against a raw `send_to` of a datagram of the same size (issue 17's
#    floor), and against a raw `send` of it on a connected socket (what the transport makes),
#    from ONE run that alternates batches of the three (`loadgen --vs-raw`), and the ratios.
#    Varies with the machine's load; the ratios less so.
# 3. atomic read-modify-write instructions (`lock`-prefixed, `xchg` with memory) executed per request, from
#    the same two callgrind runs: each costs tens of cycles whatever the instruction count says
#    (reference counts, locks, counters).
# 4. the same instructions by part, from the same two runs: each executed instruction charged to
#    the innermost frame of this project it was inlined into (addr2line -i on the `profiling`
#    build: release with line tables, the same code), a write through the sink
#    (core/src/sink.rs) and a libc copy (memcpy, memmove, memset) to the code that asked for it;
#    files summed into the encoders (text the output must hold whoever places it: escaping,
#    names, times, ids, model values, metadata, the URL sanitizer), the recorder (the field log,
#    placing fields and documents, the recording calls), the std adapter, and what lies outside
#    the project (libc, the standard library's own functions). With TOP=N, the N costliest
#    functions too.
# 5. where the wall time goes (`loadgen --split`, one more interleaved run): the core recorder
#    alone, the system clock, the std handles, and how much slower the send is after the
#    recorder's code than alone.
#
#   bash scripts/bench-request.sh
#   REQUESTS=200000 bash scripts/bench-request.sh
#   TOP=40 bash scripts/bench-request.sh
#
# Needs valgrind, objdump and addr2line (binutils). Builds the load generator (the `profiling`
# profile: release with line tables) in the workspace's target directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
requests="${REQUESTS:-100000}"

for tool in valgrind objdump addr2line; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench-request: $tool is needed (apt-get install valgrind binutils)" >&2
        exit 1
    fi
done

# The release build with line tables (the workspace's `profiling` profile), for part 4.
cargo build --quiet --profile profiling -p xray-examples --bin loadgen
loadgen="$root/target/profiling/loadgen"
tmp="$(mktemp -d)"
receiver=""
trap 'rm -rf "$tmp"; [ -z "$receiver" ] || kill "$receiver" 2>/dev/null' EXIT

# The datagrams of the callgrind runs go to a socket that never reads (the kernel drops what
# its buffer cannot hold; every send succeeds). Where nothing listened, the connected
# transport's every other send would be refused and tried again: not the path measured.
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
time.sleep(3600)
' >"$tmp/port" &
receiver=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port="$(cat "$tmp/port")"
[ -n "$port" ] || { echo "bench-request: the receiver did not start" >&2; exit 1; }

# Total instructions of a callgrind run (its "Collected" line).
instructions() {
    AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:$port" valgrind --tool=callgrind --dump-instr=yes \
        --callgrind-out-file="$tmp/callgrind.out.$1" "$loadgen" --requests "$1" \
        >"$tmp/out.$1" 2>"$tmp/err.$1" || { cat "$tmp/err.$1" >&2; exit 1; }
    local n
    n="$(sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$tmp/err.$1")"
    [ -n "$n" ] || { echo "bench-request: no instruction count from callgrind" >&2; cat "$tmp/err.$1" >&2; exit 1; }
    echo "$n"
}
one="$(instructions 1)"
many="$(instructions 2001)"
per_request=$(( (many - one) / 2000 ))
echo "instructions per reference request (callgrind, (Ir(2001) - Ir(1)) / 2000): $per_request"
python3 - "$tmp/callgrind.out.1" "$tmp/callgrind.out.2001" "$loadgen" "$root" "${TOP:-0}" <<'PY'
import collections, re, subprocess, sys

one_path, many_path, binary, root, top = sys.argv[1:6]
root = root.rstrip("/") + "/"
COPY = re.compile(r"\b_*(memcpy|memmove|memset)")


def executed(path):
    """Two counts, (object, address) -> instructions: executed there, and charged there (a
    call to a libc copy charged, with everything the copy executed, to the address that
    called it, and the copy's own instructions to nobody)."""
    names, ob, fn, cfn, calling, at = {}, None, None, None, False, 0
    own, out = collections.Counter(), collections.Counter()
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
            continue
        own[(ob, at)] += n
        if not copy_here:
            out[(ob, at)] += n
    return own, out


def atomic_addresses(obj):
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", obj],
                         capture_output=True, text=True).stdout
    return {int(m.group(1), 16) for line in out.splitlines()
            # `xchg` is atomic with a memory operand only; `xchg %ax,%ax` is padding.
            if re.search(r"\block\b|\bxchg\s.*\(", line)
            for m in [re.match(r"\s*([0-9a-f]+):", line)] if m}


(own_one, one), (own_many, many) = executed(one_path), executed(many_path)

# Atomic read-modify-writes (part 3), from the instructions as executed.
objects = {o for o, _ in own_many if o and o.startswith("/")}
atomic = {o: atomic_addresses(o) for o in objects}
atomics = sum(n for (o, a), n in own_many.items() if a in atomic.get(o, ())) - \
    sum(n for (o, a), n in own_one.items() if a in atomic.get(o, ()))
print(f"atomic read-modify-write instructions per reference request: {atomics / 2000:.1f}")

# The same instructions by part (part 4), with each copy charged to its caller.
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
if not any(f.startswith("core/src/") for f in by_file):
    sys.exit("bench-request: no instruction was placed in core/src: the load generator has no "
             "line tables (the workspace's profiling profile keeps them: debug = \"line-tables-only\")")
print("the same instructions by part, each charged to the source file of this project it came from:")
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
if [ -n "${KEEP_PROFILE:-}" ]; then
    cp "$tmp/callgrind.out.2001" "$KEEP_PROFILE"
    echo "profile of the 2001-request run: $KEEP_PROFILE (callgrind_annotate it)"
fi

summary="$("$loadgen" --vs-raw --requests "$requests" | tail -n 1)"
echo "interleaved run ($requests requests): $summary"
python3 - "$summary" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
if s["dropped"] or s["raw_send_failed"]:
    sys.exit(f"bench-request: {s['dropped']} traced and {s['raw_send_failed']} raw sends failed")
print(f"wall time per request {s['us_per_request']:.3f} us vs raw send_to of "
      f"{s['datagram_bytes']} bytes {s['raw_send_to_us']:.3f} us: {s['ratio']:.2f}x")
print(f"wall time per request {s['us_per_request']:.3f} us vs raw send of "
      f"{s['datagram_bytes']} bytes on a connected socket (as the transport's) "
      f"{s['raw_send_connected_us']:.3f} us: {s['ratio_to_connected']:.2f}x")
PY

split="$("$loadgen" --split --requests "$requests" | tail -n 1)"
python3 - "$split" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
if s["dropped"] or s["raw_send_failed"]:
    sys.exit(f"bench-request: {s['dropped']} traced and {s['raw_send_failed']} raw sends failed")
share = s["share"]
print(f"where the time goes (loadgen --split, {s['requests']} requests, one interleaved run):")
for label, key in [
    ("record and encode (core recorder, fixed clock)", "encode_and_record_us"),
    ("six wall-clock readings (the core's path)", "system_clock_us"),
    ("the std handles (pool, locks, reference counts; net of the trace clock's saving on those readings)", "std_handles_us"),
    ("the send, slower after the recorder's code than alone", "send_slowed_by_the_code_before_it_us"),
    ("sending through the tracer, beyond that", "sending_through_the_tracer_beyond_that_us"),
]:
    print(f"  {label}: {share[key]:.3f} us")
print(f"  a raw send on a connected socket: {s['raw_send_connected_us']:.3f} us; "
      f"the whole request {s['std_udp_us']:.3f} us, {s['ratio']:.2f}x a raw send_to "
      f"({s['raw_send_to_us']:.3f} us)")
PY
