//! Per-span cost of the X-Ray tracing layer, next to tracing-opentelemetry's layer doing the
//! same work, and the untraced cost.
//!
//! Each iteration is one span with three fields (`order_id`, `customer`, `attempt`), entered,
//! exited and closed. Spans run 10 at a time under one request: an X-Ray segment (begun,
//! then ended and encoded into one datagram for a transport that discards it) or an
//! OpenTelemetry root span (with the SDK's simple processor and an exporter that discards
//! the spans, so OpenTelemetry does no serialisation at all; or, in `otel_traced_otlp`, one
//! that encodes each span as OTLP protobuf bytes, as the X-Ray layer encodes each subsegment
//! as JSON, and discards them). That request's own cost is included, shared by its 10 spans.
//!
//! - `registry_only`: the `tracing-subscriber` registry with no layer (the floor).
//! - `xray_traced`: [`XRayLayer`] inside a sampled request.
//! - `xray_unsampled`: inside an unsampled request (ids kept, fields skipped).
//! - `xray_untraced`: outside any request: what every span of a program costs the layer.
//! - `otel_traced`: `tracing_opentelemetry::layer()` with an always-on sampler.
//! - `otel_traced_otlp`: the same, each span also turned into an OTLP `Span` message and
//!   encoded (`opentelemetry-proto`, `prost`): the same work the X-Ray layer does.
//! - `*_no_fields`: the same with a span that has no fields (the subsegment or span alone).
//!
//! `cargo bench -p xray-std --features tracing --bench tracing_layer`
//!
//! Instruction counts per span (steadier than wall time on a shared machine), every case and
//! the ratios: `bash scripts/bench-span.sh` (each case under callgrind, `one_span`'s inclusive
//! count divided by its calls).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_proto::tonic::trace::v1::Span as OtlpSpan;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;
use xray_std::integrations::tracing_layer::XRayLayer;
use xray_std::{TraceContext, TraceHeader, Tracer};

/// Spans per request (10 spans, 30 annotations: under the recorder's default cap of 50
/// annotations a trace, as a request should be).
const PER_REQUEST: u64 = 10;

/// The measured unit: one span with three fields, entered once, closed.
#[inline(never)]
fn one_span(i: u64) {
    let span = tracing::info_span!(
        "load_order",
        order_id = black_box(i as i64),
        customer = "acme",
        attempt = 1_u64
    );
    let _entered = span.enter();
}

/// A span with no fields (what the subsegment itself costs, without annotations).
#[inline(never)]
fn bare_span(_: u64) {
    let span = tracing::info_span!("load_order");
    let _entered = span.enter();
}

/// Times `iters` spans, `PER_REQUEST` at a time inside `request`.
fn spans(iters: u64, request: &mut dyn FnMut(&mut dyn FnMut())) -> Duration {
    spans_of(one_span, iters, request)
}

/// [`spans`] of `make`.
fn spans_of(make: fn(u64), iters: u64, request: &mut dyn FnMut(&mut dyn FnMut())) -> Duration {
    let start = Instant::now();
    let mut done = 0;
    while done < iters {
        let n = PER_REQUEST.min(iters - done);
        request(&mut || {
            for i in 0..n {
                make(done + i);
            }
        });
        done += n;
    }
    start.elapsed()
}

#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

/// Encodes each span as the OTLP exporters do (the SDK's `SpanData` into an OTLP `Span`
/// message, then protobuf bytes into a buffer reused from span to span), then discards the
/// bytes: what OpenTelemetry does before a span can leave the process.
#[derive(Debug, Default)]
struct OtlpEncode {
    buf: Mutex<Vec<u8>>,
}

impl SpanExporter for OtlpEncode {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut buf = self.buf.lock().unwrap();
        for span in batch {
            buf.clear();
            prost::Message::encode(&OtlpSpan::from(span), &mut *buf).expect("a Vec grows");
            black_box(&*buf);
        }
        Ok(())
    }
}

/// A registry with tracing-opentelemetry's layer, every span sampled, each one exported to
/// `exporter` as it ends (the SDK's simple processor).
fn otel(exporter: impl SpanExporter + 'static) -> Dispatch {
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"))),
    )
}

fn tracer() -> Tracer {
    Tracer::builder("bench")
        .transport(Arc::new(Mutex::new(xray_std::core::NullTransport)))
        .always_sample()
        .pool_size(2)
        .build()
}

fn tracing_layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracing_layer_span_3_fields");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    let registry = Dispatch::new(tracing_subscriber::registry());
    tracing::dispatcher::with_default(&registry, || {
        group.bench_function("registry_only", |b| {
            b.iter_custom(|iters| spans(iters, &mut |f| f()))
        });
    });

    let xray = Dispatch::new(tracing_subscriber::registry().with(XRayLayer::new()));
    let sampled = tracer();
    let unsampled = tracer();
    // The caller's decision is kept: these requests are not sampled.
    let not_sampled =
        TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0").expect("header");
    tracing::dispatcher::with_default(&xray, || {
        group.bench_function("xray_traced", |b| {
            b.iter_custom(|iters| {
                spans(iters, &mut |f| {
                    let ctx = sampled.begin(None);
                    assert!(ctx.is_recording());
                    ctx.in_scope(f);
                })
            })
        });
        group.bench_function("xray_traced_no_fields", |b| {
            b.iter_custom(|iters| {
                spans_of(bare_span, iters, &mut |f| sampled.begin(None).in_scope(f))
            })
        });
        group.bench_function("xray_unsampled", |b| {
            b.iter_custom(|iters| {
                spans(iters, &mut |f| {
                    let ctx = unsampled.begin(Some(&not_sampled));
                    assert!(!ctx.is_sampled());
                    ctx.in_scope(f);
                })
            })
        });
        group.bench_function("xray_untraced", |b| {
            b.iter_custom(|iters| {
                assert!(TraceContext::current().is_none());
                spans(iters, &mut |f| f())
            })
        });
    });
    // (No traces when a name filter left the X-Ray runs out.)
    let stats = sampled.stats();
    assert!(
        stats.traces == 0 || stats.datagrams > 0,
        "the traced runs sent their segments"
    );
    assert_eq!(stats.sampled, stats.traces, "every request was sampled");

    tracing::dispatcher::with_default(&otel(Discard), || {
        group.bench_function("otel_traced", |b| {
            b.iter_custom(|iters| spans(iters, &mut |f| tracing::info_span!("request").in_scope(f)))
        });
        group.bench_function("otel_traced_no_fields", |b| {
            b.iter_custom(|iters| {
                spans_of(bare_span, iters, &mut |f| {
                    tracing::info_span!("request").in_scope(f)
                })
            })
        });
    });
    tracing::dispatcher::with_default(&otel(OtlpEncode::default()), || {
        group.bench_function("otel_traced_otlp", |b| {
            b.iter_custom(|iters| spans(iters, &mut |f| tracing::info_span!("request").in_scope(f)))
        });
    });
    group.finish();
    eprintln!(
        "xray: {} requests sampled, {} datagrams",
        sampled.stats().sampled,
        sampled.stats().datagrams
    );
}

criterion_group!(benches, tracing_layer);
criterion_main!(benches);
