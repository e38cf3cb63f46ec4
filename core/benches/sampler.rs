//! Sampler decision cost: single-threaded, and two threads sharing one sampler.
//!
//! `cargo bench -p xray-core --bench sampler`

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use core::cell::Cell;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};
use xray_core::sampler::{Sampler, SamplingRequest, Upstream, wildcard_match};
use xray_core::{Clock, FixedClock, SampledFlag, Timestamp};

/// SplitMix64.
#[path = "../tests/common/test_rng.rs"]
mod test_rng;
use test_rng::TestRng as Rng;

/// A clock whose every read is the next second: every decision opens a new reservoir window,
/// so every decision does a compare-and-swap on the rule's reservoir (the worst case).
struct NextSecondClock(Cell<u64>);

impl Clock for NextSecondClock {
    fn now(&self) -> Option<Timestamp> {
        let s = self.0.get() + 1;
        self.0.set(s);
        Some(Timestamp::from_secs_micros(s, 0))
    }
}

const RULES: &str = r#"{"version": 2,
    "default": {"fixed_target": 1, "rate": 0.05},
    "rules": [
      {"description": "health", "host": "*", "http_method": "GET", "url_path": "/health*",
       "fixed_target": 0, "rate": 0},
      {"description": "checkout", "host": "shop.*", "http_method": "POST",
       "url_path": "/checkout/*", "fixed_target": 2, "rate": 1},
      {"description": "admin", "host": "admin.*.example.com", "http_method": "*",
       "url_path": "*", "fixed_target": 1, "rate": 0.5},
      {"description": "api", "host": "*", "http_method": "*", "url_path": "/api/v?/*/items",
       "fixed_target": 1, "rate": 0.1}
    ]}"#;

const REQUEST: SamplingRequest<'static> = SamplingRequest {
    service_name: Some("orders"),
    host: Some("api.example.com"),
    method: Some("GET"),
    url_path: Some("/api/v2/orders/items"),
    service_type: None,
};

fn single_thread(c: &mut Criterion) {
    let default: Sampler<8> = Sampler::default();
    let rules: Sampler<8> = match Sampler::from_rules_json(RULES) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let fixed = FixedClock(Timestamp::from_secs_micros(1_700_000_000, 0));
    let mut g = c.benchmark_group("decide/1-thread");

    // Steady state: the second's reservoir is used up, the 5 % rate decides.
    g.bench_function("default rule, rate", |b| {
        let mut rng = Rng(1);
        b.iter(|| {
            default.decide(
                black_box(&REQUEST),
                black_box(Upstream::NoTrace),
                &fixed,
                &mut rng,
            )
        })
    });
    g.bench_function("default rule, reservoir CAS every call", |b| {
        let mut rng = Rng(2);
        let clock = NextSecondClock(Cell::new(1_700_000_000));
        b.iter(|| default.decide(black_box(&REQUEST), Upstream::NoTrace, &clock, &mut rng))
    });
    g.bench_function("4 rules, last matches (wildcards)", |b| {
        let mut rng = Rng(3);
        b.iter(|| rules.decide(black_box(&REQUEST), Upstream::NoTrace, &fixed, &mut rng))
    });
    g.bench_function("upstream Sampled=1", |b| {
        let mut rng = Rng(4);
        b.iter(|| {
            rules.decide(
                black_box(&REQUEST),
                black_box(SampledFlag::Sampled.into()),
                &fixed,
                &mut rng,
            )
        })
    });
    g.finish();
}

/// Runs `iters` decisions on each of two threads sharing `sampler`; returns the slower
/// thread's time (thread start-up excluded), so the result is ns per decision per thread
/// under contention.
fn two_threads<F>(iters: u64, work: F) -> Duration
where
    F: Fn(u64, u64) + Sync,
{
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let handles: [_; 2] = core::array::from_fn(|t| {
            let (barrier, work) = (&barrier, &work);
            s.spawn(move || {
                barrier.wait();
                let start = Instant::now();
                work(t as u64, iters);
                start.elapsed()
            })
        });
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .max()
            .unwrap_or_default()
    })
}

fn contended(c: &mut Criterion) {
    let default: Sampler<8> = Sampler::default();
    let rules: Sampler<8> = match Sampler::from_rules_json(RULES) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let fixed = FixedClock(Timestamp::from_secs_micros(1_700_000_000, 0));
    let mut g = c.benchmark_group("decide/2-threads");

    g.bench_function("default rule, rate", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                let mut rng = Rng(t);
                for _ in 0..n {
                    black_box(default.decide(
                        black_box(&REQUEST),
                        Upstream::NoTrace,
                        &fixed,
                        &mut rng,
                    ));
                }
            })
        })
    });
    g.bench_function("default rule, reservoir CAS every call", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                let mut rng = Rng(t);
                let clock = NextSecondClock(Cell::new(1_700_000_000 + t * 7));
                for _ in 0..n {
                    black_box(default.decide(
                        black_box(&REQUEST),
                        Upstream::NoTrace,
                        &clock,
                        &mut rng,
                    ));
                }
            })
        })
    });
    g.bench_function("4 rules, last matches (wildcards)", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                let mut rng = Rng(t);
                for _ in 0..n {
                    black_box(rules.decide(
                        black_box(&REQUEST),
                        Upstream::NoTrace,
                        &fixed,
                        &mut rng,
                    ));
                }
            })
        })
    });
    g.finish();
}

fn wildcard(c: &mut Criterion) {
    let text: String = "a".repeat(10_000);
    let mut text_b = text.clone();
    text_b.push('b');
    let mut g = c.benchmark_group("wildcard");
    g.bench_function("*a*a*a*a*a*b vs 10,000 a (no match)", |b| {
        b.iter(|| wildcard_match(black_box("*a*a*a*a*a*b"), black_box(&text)))
    });
    g.bench_function("*a*a*a*a*a*b vs 10,000 a + b (match)", |b| {
        b.iter(|| wildcard_match(black_box("*a*a*a*a*a*b"), black_box(&text_b)))
    });
    g.bench_function("*aaaaaaaab*c vs 10,000 a + c (no match)", |b| {
        let mut t = text.clone();
        t.push('c');
        b.iter(|| wildcard_match(black_box("*aaaaaaaab*c"), black_box(&t)))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = single_thread, contended, wildcard
}
criterion_main!(benches);
