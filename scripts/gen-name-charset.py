#!/usr/bin/env python3
"""Regenerates the range table in core/src/name_charset.rs from the schema's name pattern.

Usage: python3 scripts/gen-name-charset.py   (prints the ranges; paste into RANGES)
"""
import json, pathlib

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
for a, b in merged:
    print(f"    (0x{a:04x}, 0x{b:04x}),")
