//! One clock reading, as the recorder takes six per reference request: [`SystemClock`] next to
//! `SystemTime::now()` turned into microseconds (what `SystemClock` did before it read
//! `clock_gettime` directly on Linux). Compare the two within one run.
//!
//! `cargo bench -p xray-std --bench clock`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use xray_std::SystemClock;
use xray_std::core::Clock;

fn clock(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    group.bench_function("system_clock_now", |b| {
        b.iter(|| black_box(SystemClock.now()));
    });
    group.bench_function("system_time_now_as_micros", |b| {
        b.iter(|| {
            black_box(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_micros()),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, clock);
criterion_main!(benches);
