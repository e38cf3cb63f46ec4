//! Record → encode → send of the reference request over loopback UDP, next to raw sends of
//! the same bytes from the same process: `send_to` from an unconnected socket (the floor
//! issue 17 names), and `send` from a connected one (the floor of what the transport does).
//!
//! `cargo bench -p xray-std --bench end_to_end`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::UdpSocket;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use xray_std::{Config, Tracer, reference};

fn end_to_end(c: &mut Criterion) {
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    daemon
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let addr = daemon.local_addr().expect("addr");
    let text = addr.to_string();
    let config = Config::from_lookup(|k| (k == "AWS_XRAY_DAEMON_ADDRESS").then(|| text.clone()))
        .expect("config");
    let tracer = Tracer::from_config(&config, reference::SERVICE_NAME)
        .expect("tracer")
        // Measure the sampled path (the default rule would sample 1 request per second).
        .always_sample()
        .pool_size(4)
        .build();

    // The bytes of one reference request, for the raw send.
    reference::record(&tracer);
    let mut buf = vec![0u8; 65_536];
    let (n, _) = daemon.recv_from(&mut buf).expect("reference datagram");
    let datagram = buf[..n].to_vec();

    let mut group = c.benchmark_group("end_to_end");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("reference_request_record_encode_send", |b| {
        b.iter(|| reference::record(black_box(&tracer)))
    });
    let raw = UdpSocket::bind("127.0.0.1:0").expect("bind");
    raw.set_nonblocking(true).expect("nonblocking");
    group.bench_function("raw_udp_send_to_same_bytes", |b| {
        b.iter(|| {
            let _ = raw.send_to(black_box(&datagram), addr);
        })
    });
    let connected = UdpSocket::bind("127.0.0.1:0").expect("bind");
    connected.set_nonblocking(true).expect("nonblocking");
    connected.connect(addr).expect("connect");
    group.bench_function("raw_udp_send_connected_same_bytes", |b| {
        b.iter(|| {
            let _ = connected.send(black_box(&datagram));
        })
    });
    group.finish();
    eprintln!(
        "reference datagram: {} bytes; tracer sent {} datagrams, dropped {}",
        datagram.len(),
        tracer.stats().datagrams,
        tracer.transport_stats().map_or(0, |s| s.dropped())
    );
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
