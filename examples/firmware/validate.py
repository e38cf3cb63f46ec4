#!/usr/bin/env python3
"""Checks what the firmware printed over semihosting.

Usage: validate.py [--model=full|basic] [--max-stack=BYTES] OUTPUT_FILE BUDGET [SCHEMA]

The output holds comment lines (`# ...`) and datagrams, each printed as its two lines: the
daemon header `{"format":"json","version":1}` and the segment document. Every document must
validate against the X-Ray segment document schema, every datagram must fit the budget, and
together they must carry what the firmware recorded: one segment with annotations, a
subsegment with a nested subsegment, and an exception; with the full model (the default
build), HTTP blocks and metadata too, and without it (`--model=basic`, the firmware built
without its `full-model` feature), none of those. With --max-stack, the peak stack use the
firmware reports must not exceed it. Exits non-zero with the reason otherwise.
"""
import json
import pathlib
import sys

HEADER = '{"format":"json","version":1}'
STACK = "# stack peak bytes: "


def find_schema(explicit):
    here = pathlib.Path(__file__).resolve().parent
    root = here.parent.parent
    candidates = [pathlib.Path(explicit)] if explicit else []
    candidates += [root / "spec/segment-document-schema.json",
                   root.parent / "shared/spec/segment-document-schema.json"]
    for c in candidates:
        if c.is_file():
            return c
    sys.exit(f"FAIL: no schema found in {[str(c) for c in candidates]}")


def walk(doc):
    """Yields a document and all its embedded subsegments."""
    yield doc
    for sub in doc.get("subsegments", []):
        yield from walk(sub)


def main():
    model = "full"
    max_stack = None
    args = []
    for a in sys.argv[1:]:
        if a.startswith("--model="):
            model = a[len("--model="):]
        elif a.startswith("--max-stack="):
            max_stack = int(a[len("--max-stack="):])
        else:
            args.append(a)
    if len(args) < 2 or model not in ("full", "basic"):
        sys.exit(__doc__)
    out_path, budget = args[0], int(args[1])
    import jsonschema

    schema = json.loads(find_schema(args[2] if len(args) > 2 else None).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)

    raw = pathlib.Path(out_path).read_bytes()
    lines = raw.decode("utf-8").split("\n")
    docs, verdict, stack, i = [], None, None, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(STACK):
            stack = int(line[len(STACK):])
            i += 1
        elif line.startswith("# "):
            verdict = line
            i += 1
        elif line == HEADER:
            if i + 1 >= len(lines):
                sys.exit("FAIL: header line without a document")
            body = lines[i + 1]
            size = len(HEADER.encode()) + 1 + len(body.encode())
            if size > budget:
                sys.exit(f"FAIL: datagram of {size} bytes exceeds the budget of {budget}")
            doc = json.loads(body)
            errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
            if errors:
                e = errors[0]
                sys.exit(f"FAIL: datagram {len(docs) + 1} does not validate: "
                         f"{e.message} at {list(e.path)}\n{body}")
            docs.append(doc)
            i += 2
        elif line == "":
            i += 1
        else:
            sys.exit(f"FAIL: unexpected output line: {line[:200]!r}")

    if verdict != "# xray-firmware-demo: ok":
        sys.exit(f"FAIL: firmware verdict {verdict!r}")
    if len(docs) < 2:
        sys.exit(f"FAIL: expected several datagrams, got {len(docs)}")
    segments = [d for d in docs if d.get("type") != "subsegment"]
    if len(segments) != 1 or segments[0].get("name") != "sensor-node":
        sys.exit(f"FAIL: expected one segment named sensor-node, got {segments}")
    seg = segments[0]
    if seg.get("annotations", {}).get("device_id") != "node-17" or not seg.get("fault"):
        sys.exit(f"FAIL: segment lacks its annotations or fault flag: {seg}")
    if model == "full" and seg.get("http", {}).get("response", {}).get("status") != 500:
        sys.exit(f"FAIL: segment lacks its http response: {seg}")
    if model == "full" and seg.get("metadata", {}).get("default", {}).get("free_ram_bytes") is None:
        sys.exit(f"FAIL: segment lacks its metadata: {seg}")
    if seg.get("aws", {}).get("xray", {}).get("sampling_rule_name") != "Default":
        sys.exit(f"FAIL: segment lacks the sampling rule name: {seg}")
    trace_ids = {d["trace_id"] for d in docs}
    if len(trace_ids) != 1:
        sys.exit(f"FAIL: documents of several traces: {trace_ids}")
    ids = {e["id"] for d in docs for e in walk(d)}
    for d in docs:
        if d.get("type") == "subsegment" and d["parent_id"] not in ids:
            sys.exit(f"FAIL: independent subsegment {d['name']} has an unknown parent")
    entities = [e for d in docs for e in walk(d)]
    nested = [e for e in entities if e.get("subsegments") and e is not seg]
    if not nested:
        sys.exit("FAIL: no subsegment carries a nested subsegment")
    exceptions = [x for e in entities for x in e.get("cause", {}).get("exceptions", [])]
    if not any(x.get("type") == "I2cError" for x in exceptions):
        sys.exit("FAIL: the I2cError exception is missing")
    if model == "basic":
        extra = [k for e in entities for k in ("http", "metadata", "service", "namespace") if k in e]
        if extra:
            sys.exit(f"FAIL: the build without the full model recorded {sorted(set(extra))}")
    names = [e["name"] for e in entities]
    for expected in ("read-sensor", "i2c-transfer", "publish"):
        if expected not in names:
            sys.exit(f"FAIL: subsegment {expected} is missing")
    if stack is None:
        sys.exit("FAIL: the firmware did not report its peak stack use")
    if max_stack is not None and stack > max_stack:
        sys.exit(f"FAIL: peak stack {stack} bytes exceeds the bound of {max_stack} "
                 "(the stack column of examples/firmware/size-budget.txt)")
    print(f"ok ({model} model): {len(docs)} datagrams, {len(entities)} entities, all valid, "
          f"largest {max(len(json.dumps(d, separators=(',', ':'))) for d in docs) + len(HEADER) + 1} bytes "
          f"(budget {budget}); peak stack {stack} bytes")


if __name__ == "__main__":
    main()
