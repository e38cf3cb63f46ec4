#!/usr/bin/env bash
# How much slower a UDP send on loopback gets when other code ran just before it, without any
# X-Ray code: the floor under issue 17's "record + encode + send within 1.3x a raw send".
#
# It generates a throwaway Rust program (no dependencies) with 600 small functions of the
# same shape (arithmetic and branches, about 150 bytes of code each), builds it with
# `rustc -O`, and times, in alternating batches of one run:
#
#   work          calls of the first K functions, 300 calls in all (K = 1 runs one small
#                 loop; K = 600 runs about 90 KB of distinct code)
#   work + send   the same, then one `send` of 876 bytes on a connected, non-blocking socket
#
# "send part" is (work + send) - work: what the send costs after that work. With K = 1 it is
# a raw send in a tight loop, the floor `loadgen --vs-raw` compares with. With more distinct
# code between sends, the kernel's send path no longer finds its code and branch history
# cached, and the send costs more, whatever the code did. `loadgen --split` shows the same
# for the recorder ("the send, slower after the recorder's code than alone").
#
#   bash scripts/send-after-code.sh
#
# Needs rustc (the workspace's toolchain) and python3. Sends only to 127.0.0.1.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

python3 - "$tmp/send_after_code.rs" <<'PY'
import sys
N = 600
funcs = []
for k in range(N):
    body = []
    for j in range(8):
        c = (k * 8 + j) * 2654435761 % (1 << 32) | 1
        if j % 2:
            body.append(f"    if y & {1 << (j % 8)} == 0 {{ y = y.wrapping_mul({c}) }} "
                        f"else {{ y = y.rotate_left({(k + j) % 63 + 1}) ^ {c} }}")
        else:
            body.append(f"    y = y.wrapping_add({c}).rotate_right({(k * 3 + j) % 63 + 1});")
    funcs.append(f"#[inline(never)]\nfn f{k}(x: u64) -> u64 {{\n    let mut y = x;\n"
                 + "\n".join(body) + "\n    y\n}")
table = f"static FS: [fn(u64) -> u64; {N}] = [{', '.join(f'f{k}' for k in range(N))}];"
main = r'''
use std::hint::black_box;
use std::net::UdpSocket;
use std::time::Instant;

/// 300 calls over the first `distinct` functions.
#[inline(never)]
fn work(mut x: u64, distinct: usize) -> u64 {
    for i in 0..300 {
        x = FS[i % distinct](x);
    }
    x
}

fn main() {
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sender.connect(receiver.local_addr().expect("addr")).expect("connect");
    sender.set_nonblocking(true).expect("nonblocking");
    let datagram = vec![b'x'; 876];
    let n = 20_000u64;
    println!("| distinct functions | work (ns) | work + send (ns) | send part (ns) |");
    println!("|---:|---:|---:|---:|");
    for distinct in [1usize, 25, 50, 100, 200, 400, 600] {
        let (mut with_send, mut alone) = (0f64, 0f64);
        for _ in 0..5 {
            let t = Instant::now();
            for i in 0..n {
                black_box(work(i, distinct));
                let _ = sender.send(black_box(&datagram));
            }
            with_send += t.elapsed().as_nanos() as f64 / n as f64;
            let t = Instant::now();
            for i in 0..n {
                black_box(work(i, distinct));
            }
            alone += t.elapsed().as_nanos() as f64 / n as f64;
        }
        let (with_send, alone) = (with_send / 5.0, alone / 5.0);
        println!("| {distinct} | {alone:.0} | {with_send:.0} | {:.0} |", with_send - alone);
    }
}
'''
open(sys.argv[1], "w").write("\n\n".join(funcs) + "\n\n" + table + "\n" + main)
PY
rustc --edition 2024 -O "$tmp/send_after_code.rs" -o "$tmp/send_after_code"
"$tmp/send_after_code"
