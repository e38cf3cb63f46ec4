#!/usr/bin/env bash
# User-space instructions per span of the tracing-layer benchmark (a span with three fields,
# entered, exited and closed, ten to a request): for each case, the inclusive instructions of
# the bench's `one_span` divided by its calls, under valgrind's callgrind. Deterministic to a
# few instructions for one build, whatever the machine's load (the criterion bench gives wall
# times: `cargo bench -p xray-std --features tracing --bench tracing_layer`). Then the X-Ray
# layer's ratio to tracing-opentelemetry's, with spans discarded and with each span encoded
# as OTLP protobuf (what an OTLP exporter does with it), both with the registry included.
#
#   bash scripts/bench-span.sh
#
# Needs valgrind. Builds the bench in the workspace's target directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v valgrind >/dev/null 2>&1; then
    echo "bench-span: valgrind is needed (apt-get install valgrind)" >&2
    exit 1
fi

bin="$(cargo bench -p xray-std --features tracing --bench tracing_layer --no-run 2>&1 |
    sed -n 's/^ *Executable .*(\(.*\))$/\1/p')"
[ -x "$bin" ] || { echo "bench-span: the bench did not build" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cases="registry_only xray_traced xray_unsampled xray_untraced otel_traced otel_traced_otlp"
for case in $cases; do
    valgrind --tool=callgrind --callgrind-out-file="$tmp/$case.out" "$bin" --bench \
        --profile-time 1 "span_3_fields/$case\$" >"$tmp/$case.log" 2>&1 ||
        { cat "$tmp/$case.log" >&2; exit 1; }
done

python3 - "$tmp" $cases <<'PY'
import re, sys

def per_span(path):
    """one_span's inclusive instructions over its calls, from the calls into it."""
    names, callee, calls, total, pending = {}, None, 0, 0, False
    for line in open(path):
        m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
        if m and m.group(2):
            names[m.group(1)] = m.group(2).strip()
        if line.startswith("cfn="):
            callee = names.get(re.match(r"cfn=\((\d+)\)", line).group(1), "")
        elif line.startswith("calls=") and callee.endswith("tracing_layer::one_span"):
            calls += int(line.split("=")[1].split()[0])
            pending = True
        elif pending:
            total += int(line.split()[-1])
            pending = False
    if not calls:
        sys.exit(f"bench-span: no calls to one_span in {path}")
    return total / calls

tmp, cases = sys.argv[1], sys.argv[2:]
per = {c: per_span(f"{tmp}/{c}.out") for c in cases}
print("instructions per span (callgrind, one_span inclusive / calls):")
for c in cases:
    print(f"  {c:18} {per[c]:8.0f}")
x = per["xray_traced"]
print(f"X-Ray layer, sampled, against tracing-opentelemetry: spans discarded "
      f"{x / per['otel_traced']:.3f}x, spans encoded as OTLP {x / per['otel_traced_otlp']:.3f}x")
PY
