//! Record and encode the reference request; parse and format trace headers (X-Ray and W3C).
//!
//! `cargo bench -p xray-core --bench encode`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use xray_core::{
    FixedClock, NullTransport, Recorder, RecorderConfig, SliceTransport, Timestamp, TraceHeader,
    TraceParent, TraceState,
};

#[path = "../tests/common/reference.rs"]
mod reference;
#[path = "../tests/common/test_rng.rs"]
mod test_rng;

fn bench(c: &mut Criterion) {
    let clock = FixedClock(Timestamp::from_secs_micros(1_700_000_000, 0));
    let mut rng = test_rng::TestRng(7);
    let mut rec: Recorder<Box<[u8]>> = Recorder::new(
        vec![0u8; 65_507 + 16_384].into_boxed_slice(),
        RecorderConfig::default(),
    );

    // Report the datagram size once.
    let mut out = vec![0u8; 65_536];
    let mut slice = SliceTransport::new(&mut out);
    reference::record(&mut rec, &clock, &mut rng, &mut slice);
    println!(
        "reference request: {} datagram(s), {} bytes",
        slice.sent(),
        slice.last().len()
    );

    c.bench_function("record+encode reference request", |b| {
        b.iter(|| reference::record(&mut rec, &clock, &mut rng, &mut NullTransport))
    });

    let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5";
    c.bench_function("trace header parse", |b| {
        b.iter(|| TraceHeader::parse(black_box(header)))
    });
    let parsed = TraceHeader::parse(header).ok();
    c.bench_function("trace header format", |b| {
        b.iter(|| black_box(parsed.as_ref()).map(TraceHeader::to_heapless))
    });
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    c.bench_function("traceparent parse", |b| {
        b.iter(|| TraceParent::parse(black_box(traceparent)))
    });
    let tracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
    c.bench_function("tracestate parse", |b| {
        b.iter(|| TraceState::parse(black_box(tracestate)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
