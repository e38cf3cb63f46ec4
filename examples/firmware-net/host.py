#!/usr/bin/env python3
"""Plays the network for examples/firmware-net: runs the firmware under qemu-system-arm with its
LAN9118 on QEMU's UDP socket backend, answers ARP for the daemon's address, receives the UDP
datagrams the firmware sends to the daemon, and checks them.

Usage: host.py [--untraced] [--timeout=SECONDS] [--max-stack=BYTES] ELF BUDGET [SCHEMA]

The emulated link is one UDP socket pair on 127.0.0.1: QEMU sends every Ethernet frame the
firmware transmits as one datagram to this program's socket, and takes every datagram sent
back as a frame for the firmware (`-nic socket,udp=...,localaddr=...`). The addresses inside
the frames (device 192.0.2.10, daemon 192.0.2.2: RFC 5737 documentation range) exist only
there. Nothing is waited for by the clock: the firmware sends, waits until its sockets are
empty (every frame written to the controller, which QEMU sends at once), prints its counters
over semihosting and exits QEMU; this program then reads what is left on its socket. Only the
whole run is bounded, by --timeout.

Checks: every frame to the daemon is IPv4 (valid header checksum, not fragmented) carrying UDP
to port 2000 (valid checksum); every datagram fits BUDGET, is the daemon header line plus a
document that validates against the X-Ray segment document schema; the firmware exited with
success, and the number of datagrams received equals the number its transports say they sent
(the `sent=` of its last line). The traced build must also deliver the segments of the
requests it sent through the emitter, with their annotations and the I2cError exception, and
times from its clock: after the epoch it sets, within the run, the requests at least the
10 ms apart that it waits between them.
With --untraced (the build without the `tracing` feature) the one datagram is a fixed text.
Exits non-zero with the reason otherwise.
"""
import json
import os
import pathlib
import re
import select
import socket
import struct
import subprocess
import sys
import time

HEADER = b'{"format":"json","version":1}'
DEVICE_IP = bytes([192, 0, 2, 10])
DAEMON_IP = bytes([192, 0, 2, 2])
DAEMON_PORT = 2000
DAEMON_MAC = bytes([0x02, 0x00, 0x00, 0x00, 0x00, 0x02])
DEVICE_MAC = "02:00:00:00:00:0a"
UNTRACED_PAYLOAD = b"xray-firmware-net: tracing disabled"
# Requests the traced firmware sends through its emitter (REQUESTS in src/traces.rs).
REQUESTS = 3
# The epoch the traced firmware sets on its clock (src/traces.rs), in seconds.
EPOCH = 1_700_000_000


def fail(msg):
    sys.exit(f"FAIL: {msg}")


def checksum(data):
    """The Internet checksum (RFC 1071) of `data`: 0 when a header holding its checksum is valid."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def arp_reply(frame):
    """The reply to an ARP request for the daemon's address, or None for any other ARP."""
    if len(frame) < 42:
        return None
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", frame, 14)
    sha, spa, tpa = frame[22:28], frame[28:32], frame[38:42]
    if (htype, ptype, hlen, plen, op) != (1, 0x0800, 6, 4, 1) or tpa != DAEMON_IP:
        return None
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + DAEMON_MAC + DAEMON_IP + sha + spa
    return sha + DAEMON_MAC + struct.pack("!H", 0x0806) + arp


def udp_payload(frame):
    """The payload of a UDP datagram from the device to the daemon, after checking its
    Ethernet, IPv4 and UDP headers; fails the run on a malformed one."""
    if frame[0:6] != DAEMON_MAC:
        fail(f"IPv4 frame to {frame[0:6].hex(':')}, not to the daemon's MAC address")
    ip = frame[14:]
    if len(ip) < 20 or ip[0] >> 4 != 4:
        fail("not an IPv4 header")
    ihl = (ip[0] & 0xF) * 4
    total = struct.unpack_from("!H", ip, 2)[0]
    if checksum(ip[:ihl]) != 0:
        fail("IPv4 header checksum is wrong")
    flags_frag = struct.unpack_from("!H", ip, 6)[0]
    if flags_frag & 0x3FFF:
        fail("fragmented IPv4 datagram (the budget keeps datagrams within the MTU)")
    if ip[9] != 17 or ip[12:16] != DEVICE_IP or ip[16:20] != DAEMON_IP:
        fail(f"IPv4 packet proto {ip[9]} from {ip[12:16].hex()} to {ip[16:20].hex()}")
    udp = ip[ihl:total]
    _sport, dport, length, csum = struct.unpack_from("!HHHH", udp, 0)
    if dport != DAEMON_PORT or length != len(udp):
        fail(f"UDP to port {dport}, length {length} for {len(udp)} bytes")
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, length)
    if csum != 0 and checksum(pseudo + udp) != 0:
        fail("UDP checksum is wrong")
    return bytes(udp[8:])


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_schema(explicit):
    root = pathlib.Path(__file__).resolve().parent.parent.parent
    for c in ([pathlib.Path(explicit)] if explicit else []) + [
            root / "spec/segment-document-schema.json",
            root.parent / "shared/spec/segment-document-schema.json"]:
        if c.is_file():
            return c
    fail("no segment document schema found")


def run_qemu(elf, timeout):
    """Runs the firmware with the emulated link; returns (exit code, stdout, stderr, frames,
    ARP replies sent). The port QEMU binds is picked free just before; if another process
    took it meanwhile, QEMU fails at once and the run is tried again with another."""
    for _ in range(3):
        result = run_qemu_once(elf, timeout)
        if result[0] == 0 or "Address already in use" not in result[2]:
            return result
    return result


def run_qemu_once(elf, timeout):
    wire = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    wire.bind(("127.0.0.1", 0))
    wire.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    host_port = wire.getsockname()[1]
    qemu_port = free_port()
    cmd = ["qemu-system-arm", "-M", "mps2-an386", "-nographic",
           "-semihosting-config", "enable=on,target=native", "-kernel", elf,
           "-nic", f"socket,model=lan9118,mac={DEVICE_MAC},"
                   f"udp=127.0.0.1:{host_port},localaddr=127.0.0.1:{qemu_port}"]
    qemu = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    os.set_blocking(qemu.stdout.fileno(), False)
    stdout, frames, arps = b"", [], 0
    deadline = time.monotonic() + timeout

    def take_frame():
        nonlocal arps
        frame, _ = wire.recvfrom(65536)
        if len(frame) >= 14 and struct.unpack_from("!H", frame, 12)[0] == 0x0806:
            reply = arp_reply(frame)
            if reply is not None:
                wire.sendto(reply, ("127.0.0.1", qemu_port))
                arps += 1
            return
        frames.append(frame)

    try:
        while qemu.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                qemu.kill()
                qemu.wait()
                fail(f"timed out after {timeout} s; the firmware printed:\n"
                     f"{stdout.decode(errors='replace')}")
            ready, _, _ = select.select([wire, qemu.stdout], [], [], min(left, 0.5))
            if wire in ready:
                take_frame()
            if qemu.stdout in ready:
                stdout += qemu.stdout.read() or b""
        # QEMU has exited: what it sent before is already on this socket.
        wire.setblocking(False)
        while True:
            try:
                take_frame()
            except BlockingIOError:
                break
        os.set_blocking(qemu.stdout.fileno(), True)
        stdout += qemu.stdout.read() or b""
        stderr = qemu.stderr.read()
    finally:
        if qemu.poll() is None:
            qemu.kill()
        wire.close()
    return qemu.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"), \
        frames, arps


def walk(doc):
    yield doc
    for sub in doc.get("subsegments", []):
        yield from walk(sub)


def main():
    untraced, timeout, max_stack, args = False, 60.0, None, []
    for a in sys.argv[1:]:
        if a == "--untraced":
            untraced = True
        elif a.startswith("--timeout="):
            timeout = float(a[len("--timeout="):])
        elif a.startswith("--max-stack="):
            max_stack = int(a[len("--max-stack="):])
        else:
            args.append(a)
    if len(args) < 2:
        sys.exit(__doc__)
    elf, budget = args[0], int(args[1])

    started = time.monotonic()
    rc, out, err, frames, arps = run_qemu(elf, timeout)
    elapsed = time.monotonic() - started
    for line in out.splitlines():
        print(f"firmware> {line}")
    if rc != 0:
        fail(f"qemu exited with {rc}; stderr: {err.strip()[-500:]}")
    verdict = [line for line in out.splitlines() if line.startswith("# xray-firmware-net: ")]
    m = re.fullmatch(r"# xray-firmware-net: ok sent=(\d+)", verdict[-1] if verdict else "")
    if not m:
        fail(f"no success verdict from the firmware: {verdict}")
    sent = int(m.group(1))
    stack = re.search(r"^# stack peak bytes: (\d+)$", out, re.M)
    if not stack:
        fail("the firmware did not report its peak stack use")
    if max_stack is not None and int(stack.group(1)) > max_stack:
        fail(f"peak stack {stack.group(1)} bytes exceeds the bound of {max_stack}")
    if arps == 0:
        fail("the firmware never asked for the daemon's MAC address (ARP)")

    payloads = []
    for frame in frames:
        if len(frame) < 14 or struct.unpack_from("!H", frame, 12)[0] != 0x0800:
            fail(f"unexpected frame (ethertype {frame[12:14].hex()})")
        payloads.append(udp_payload(frame))
    if len(payloads) != sent:
        fail(f"received {len(payloads)} datagrams, the firmware's transports sent {sent}")

    if untraced:
        if payloads != [UNTRACED_PAYLOAD]:
            fail(f"expected the one fixed datagram, got {payloads}")
        print(f"ok (untraced): 1 datagram received; {arps} ARP request(s) answered; "
              f"peak stack {stack.group(1)} bytes; {elapsed:.1f} s under QEMU")
        return

    import jsonschema
    schema = json.loads(find_schema(args[2] if len(args) > 2 else None).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    docs = []
    for n, p in enumerate(payloads, 1):
        if len(p) > budget:
            fail(f"datagram {n} of {len(p)} bytes exceeds the budget of {budget}")
        head, sep, body = p.partition(b"\n")
        if head != HEADER or not sep:
            fail(f"datagram {n} does not start with the daemon header line: {p[:60]!r}")
        doc = json.loads(body)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            fail(f"datagram {n} does not validate: {errors[0].message} at "
                 f"{list(errors[0].path)}\n{body.decode()}")
        docs.append(doc)

    segments = [d for d in docs if d.get("type") != "subsegment"]
    if len(segments) != REQUESTS or any(s.get("name") != "sensor-node" for s in segments):
        fail(f"expected {REQUESTS} sensor-node segments (the emitter's requests), got "
             f"{[s.get('name') for s in segments]}")
    if sorted(s.get("annotations", {}).get("request") for s in segments) != list(range(REQUESTS)):
        fail("the segments do not carry request annotations 0..REQUESTS")
    ids = {e["id"] for d in docs for e in walk(d)}
    seg_traces = {s["trace_id"] for s in segments}
    for d in docs:
        # Independent subsegments of the emitter's requests must name a parent that arrived;
        # those of the tiny-buffer request may have lost theirs (its segment was too large
        # for that socket, counted as dropped).
        if d.get("type") == "subsegment" and d["trace_id"] in seg_traces \
                and d["parent_id"] not in ids:
            fail(f"independent subsegment {d['name']} has an unknown parent")
    entities = [e for d in docs for e in walk(d)]
    exceptions = [x for e in entities for x in e.get("cause", {}).get("exceptions", [])]
    if sum(x.get("type") == "I2cError" for x in exceptions) < REQUESTS:
        fail("an I2cError exception is missing")
    # The clock: EmbassyClock, embassy-time on the SysTick driver plus the epoch the firmware
    # sets (EPOCH). Every time is after it and within the run; the trace ids carry its
    # seconds; the requests, 10 ms apart on embassy-time's timer, begin at least that far apart.
    for e in entities:
        start, end = e["start_time"], e.get("end_time", e["start_time"])
        if not EPOCH <= start <= end <= EPOCH + timeout:
            fail(f"{e['name']}: times {start}..{end} outside the run (epoch {EPOCH})")
    for d in docs:
        if int(d["trace_id"].split("-")[1], 16) not in range(EPOCH, EPOCH + int(timeout) + 1):
            fail(f"trace id {d['trace_id']} does not carry the epoch's time")
    starts = [s["start_time"] for s in sorted(segments, key=lambda s: s["annotations"]["request"])]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    if any(g < 0.0099 for g in gaps):  # 10 ms, less float rounding
        fail(f"requests began {gaps} s apart; the firmware waits 10 ms between them")
    traces = {d["trace_id"] for d in docs}
    largest = max(len(p) for p in payloads)
    print(f"ok (traced): {len(payloads)} datagrams received from {len(traces)} traces "
          f"({len(segments)} segments, {len(docs) - len(segments)} independent subsegments, "
          f"{len(entities)} entities), all valid against the schema, largest {largest} bytes "
          f"(budget {budget}); requests began {', '.join(f'{g * 1000:.1f}' for g in gaps)} ms "
          f"apart; {arps} ARP request(s) answered; peak stack {stack.group(1)} "
          f"bytes; {elapsed:.1f} s under QEMU")


if __name__ == "__main__":
    main()
