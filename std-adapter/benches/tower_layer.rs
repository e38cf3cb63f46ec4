//! One request through `XRayServer` (call, poll the `ResponseFuture`, read the `ResponseBody`
//! to its end), next to the same request on the bare inner service: the layer's cost per
//! request, sampled (recorded, encoded, handed to a null transport) and not sampled. Also
//! prints the heap allocations per request, counted by a wrapping global allocator.
//!
//! `cargo bench -p xray-std --features tower --bench tower_layer`
//!
//! Instruction counts per request (steadier than wall time on a shared machine):
//! `bash scripts/bench-tower.sh`, which runs the same request through
//! `examples/src/bin/tower_requests.rs` under callgrind.
//!
//! `unsafe` is allowed in this file only, for the counting `GlobalAlloc` it includes.
#![allow(missing_docs, unsafe_code, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;
use xray_std::Tracer;
use xray_std::integrations::http_server::XRayServerLayer;

#[path = "../../core/tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{Counting, allocations as allocated};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[path = "support/one_request.rs"]
mod one_request;
use one_request::Hello;

/// [`one_request::one`], which every service here answers at once.
fn one<S, B>(svc: &mut S, req: Request<()>) -> usize
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    B: Body,
{
    one_request::one(svc, req).expect("the handler answers at once")
}

fn request() -> Request<()> {
    Request::get("http://orders.example/orders/42")
        .header("user-agent", "bench/1.0")
        .body(())
        .unwrap()
}

fn tracer(sample: bool) -> Tracer {
    Tracer::builder("orders-api")
        .transport(Arc::new(Mutex::new(xray_std::core::NullTransport)))
        .sampler(move |_| sample)
        .pool_size(4)
        .build()
}

/// Allocations per request on `svc`, over 1,000 requests after a warm-up.
fn allocations<S, B>(svc: &mut S) -> f64
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    B: Body,
{
    let reqs: Vec<_> = (0..1_100).map(|_| request()).collect();
    let mut reqs = reqs.into_iter();
    for req in reqs.by_ref().take(100) {
        one(svc, req);
    }
    let before = allocated();
    for req in reqs {
        one(svc, req);
    }
    (allocated() - before) as f64 / 1_000.0
}

fn tower_layer(c: &mut Criterion) {
    let mut bare = Hello;
    let mut sampled = XRayServerLayer::new(tracer(true)).layer(Hello);
    let mut unsampled = XRayServerLayer::new(tracer(false)).layer(Hello);

    let mut group = c.benchmark_group("tower_layer");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("bare_service", |b| {
        b.iter_batched(
            request,
            |r| black_box(one(&mut bare, r)),
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("xray_server_sampled", |b| {
        b.iter_batched(
            request,
            |r| black_box(one(&mut sampled, r)),
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("xray_server_not_sampled", |b| {
        b.iter_batched(
            request,
            |r| black_box(one(&mut unsampled, r)),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();

    eprintln!(
        "allocations per request (request building excluded): bare {:.2}, sampled {:.2}, not sampled {:.2}",
        allocations(&mut bare),
        allocations(&mut sampled),
        allocations(&mut unsampled),
    );
}

criterion_group!(benches, tower_layer);
criterion_main!(benches);
