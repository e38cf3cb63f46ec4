#!/usr/bin/env python3
"""Regenerates core/src/name_charset.rs from the schema's name pattern.

Usage: python3 scripts/gen-name-charset.py   (rewrites the file in place)

The accepted code points are sorted inclusive ranges, all in the Basic Multilingual Plane.
They are stored packed: per range, the gap from the end of the previous range and the range's
length, each a 1-byte (< 0x80) or 2-byte (0x80 | high 7 bits, low 8 bits) number. An index
every BLOCK ranges lets a lookup start near its code point instead of at the beginning.
"""
import json, pathlib

BLOCK = 32

root = pathlib.Path(__file__).resolve().parent.parent
schema = json.loads((root / "spec/segment-document-schema.json").read_text())
pat = schema["properties"]["name"]["pattern"]
body = pat[2 : -len("]{1,200}$")]


def tok(i):
    if body[i] == "\\":
        if body[i + 1] == "u":
            return int(body[i + 2 : i + 6], 16), i + 6
        return ord(body[i + 1]), i + 2
    return ord(body[i]), i + 1


items, i = [], 0
while i < len(body):
    a, i = tok(i)
    if i < len(body) and body[i] == "-" and i + 1 < len(body):
        b, i = tok(i + 1)
        items.append((a, b))
    else:
        items.append((a, a))
merged = []
for a, b in sorted(items):
    if merged and a <= merged[-1][1] + 1:
        merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
    else:
        merged.append((a, b))
assert all(b <= 0xFFFF for _, b in merged), "the packing assumes the BMP"


def number(v):
    assert 0 <= v < 0x8000
    return [v] if v < 0x80 else [0x80 | (v >> 8), v & 0xFF]


packed, index, prev_end = [], [], 0
for k, (a, b) in enumerate(merged):
    if k % BLOCK == 0:
        index.append((prev_end, len(packed)))
    packed += number(a - prev_end) + number(b - a)
    prev_end = b

rows = [", ".join(f"0x{v:02x}" for v in packed[i : i + 16]) for i in range(0, len(packed), 16)]
packed_text = "\n".join(f"    {r}," for r in rows)
index_text = "\n".join(f"    (0x{e:04x}, {o})," for e, o in index)

template = (root / "scripts/name_charset.rs.in").read_text()
out = (
    template.replace("@RANGES@", str(len(merged)))
    .replace("@BYTES@", str(len(packed)))
    .replace("@BLOCK@", str(BLOCK))
    .replace("@PACKED@", packed_text)
    .replace("@INDEX@", index_text)
)
(root / "core/src/name_charset.rs").write_text(out)
print(f"{len(merged)} ranges, {len(packed)} packed bytes, {len(index)} index entries")
