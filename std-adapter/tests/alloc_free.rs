//! Zero heap allocations per traced request in std: the reference request recorded through a
//! [`Tracer`] (pool checkout, record, encode, UDP `send_to` to a listener on 127.0.0.1, pool
//! return) with a counting global allocator around it.
//!
//! `harness = false`: the test harness itself allocates. `unsafe` is allowed in this file
//! only, for the `GlobalAlloc` implementation.
#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;

use xray_std::{Config, Tracer, reference};

#[path = "../../core/tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{Counting, allocations};

#[global_allocator]
static GLOBAL: Counting = Counting;

const REQUESTS: usize = 200;

fn main() {
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = daemon.local_addr().expect("addr").to_string();
    let config = Config::from_lookup(|k| (k == "AWS_XRAY_DAEMON_ADDRESS").then(|| addr.clone()))
        .expect("config");
    let tracer = Tracer::from_config(&config, reference::SERVICE_NAME)
        .expect("tracer")
        .always_sample()
        .pool_size(2)
        .build();

    // Warm up: pool, socket, lazy statics, thread-locals.
    for _ in 0..10 {
        reference::record(&tracer);
    }
    let mut buf = vec![0u8; 65_536];
    daemon
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .expect("timeout");
    for _ in 0..10 {
        daemon.recv_from(&mut buf).expect("warm-up datagram");
    }
    let sent_before = tracer.stats().datagrams;

    // Three batches 120 ms apart: the tracer measures its time-stamp counter's rate (and
    // checks the kernel's clocksource) at trace beginnings 100 and 200 ms after a first one,
    // so that work is inside the window too (where the counter is used).
    let before = allocations();
    for batch in 0..3 {
        if batch > 0 {
            std::thread::sleep(std::time::Duration::from_millis(120));
        }
        for _ in 0..REQUESTS / 3 + usize::from(batch < REQUESTS % 3) {
            reference::record(&tracer);
        }
    }
    let after = allocations();

    let stats = tracer.stats();
    let udp = tracer.transport_stats().expect("udp");
    let allocations = after - before;
    println!(
        "alloc_free: {REQUESTS} sampled reference requests, {} datagrams sent, {} dropped, \
         {allocations} heap allocations",
        stats.datagrams - sent_before,
        udp.dropped()
    );
    assert_eq!(
        stats.datagrams - sent_before,
        REQUESTS as u64,
        "one datagram per request"
    );
    assert_eq!(stats.sampled, 10 + REQUESTS as u64);
    assert!(udp.sent >= 10 + REQUESTS as u64 - udp.dropped());
    assert_eq!(
        allocations, 0,
        "heap allocations on the record → encode → send path"
    );
    // The datagrams really went out.
    let mut received = 0;
    while received < 5 && daemon.recv_from(&mut buf).is_ok() {
        received += 1;
    }
    assert_eq!(received, 5);
    sampler_decisions_do_not_allocate(&config);
    println!("2 passed, 0 failed");
}

/// The default path: local rules decide (mostly "not sampled" after the first request of
/// the second) and the matched rule's name is recorded, without allocating.
fn sampler_decisions_do_not_allocate(config: &Config) {
    let tracer = Tracer::from_config(config, reference::SERVICE_NAME)
        .expect("tracer")
        .sampling_rules_json(
            r#"{"version": 2, "default": {"fixed_target": 1, "rate": 0.05},
                "rules": [{"description": "orders", "host": "*", "http_method": "*",
                           "url_path": "/orders*", "fixed_target": 0, "rate": 0.5}]}"#,
        )
        .expect("rules")
        .pool_size(2)
        .build();
    for _ in 0..10 {
        reference::record(&tracer);
    }
    // Three batches 120 ms apart: the tracer measures its time-stamp counter's rate (and
    // checks the kernel's clocksource) at trace beginnings 100 and 200 ms after a first one,
    // so that work is inside the window too (where the counter is used).
    let before = allocations();
    for batch in 0..3 {
        if batch > 0 {
            std::thread::sleep(std::time::Duration::from_millis(120));
        }
        for _ in 0..REQUESTS / 3 + usize::from(batch < REQUESTS % 3) {
            reference::record(&tracer);
        }
    }
    let after = allocations();
    assert_eq!(tracer.stats().traces, 10 + REQUESTS as u64);
    assert_eq!(
        after - before,
        0,
        "heap allocations on the sampler decision path"
    );
}
