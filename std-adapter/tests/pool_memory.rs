//! What the recorder pool costs, measured with a byte-counting global allocator: the bytes a
//! recorder takes (what each request in flight beyond the pool's initial size adds), that
//! growing allocates only for new recorders, that a pool at its high-water mark serves any
//! number of requests in flight without allocating, and the resident memory 256 requests in
//! flight at once add (from `/proc/self/statm`, printed only: pages are the kernel's call).
//!
//! `harness = false`: the test harness itself allocates. `unsafe` is allowed in this file
//! only, for the `GlobalAlloc` implementation.
#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use xray_std::core::NullTransport;
use xray_std::{TraceContext, Tracer, TracerBuilder};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

fn counted() -> (usize, usize) {
    (
        ALLOCATIONS.load(Ordering::SeqCst),
        BYTES.load(Ordering::SeqCst),
    )
}

// SAFETY: forwards to the system allocator unchanged; only counts calls and bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size.saturating_sub(layout.size()), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn builder() -> TracerBuilder {
    Tracer::builder("pool")
        .transport(Arc::new(Mutex::new(NullTransport)))
        .always_sample()
}

/// A request in flight: a segment with annotations, an open subsegment with metadata.
fn request(tracer: &Tracer) -> (TraceContext, xray_std::Subsegment) {
    let ctx = tracer.begin(None);
    ctx.annotate("customer", "acme-corp");
    ctx.annotate("order_count", 42);
    let db = ctx.subsegment("orders-db");
    db.metadata("query", &["SELECT 1", "SELECT 2"]);
    (ctx, db)
}

fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() {
    let recorder_bytes = builder().recorder_bytes();

    // Growth: 1 recorder made at build, 32 requests in flight make 31 more.
    let tracer = builder().pool_size(1).max_pool_size(64).build();
    drop(request(&tracer)); // warm up (thread-locals, the first recorder's RNG)
    let (a0, b0) = counted();
    let held: Vec<_> = (0..32).map(|_| request(&tracer)).collect();
    let (a1, b1) = counted();
    assert_eq!(tracer.stats().recorders, 32);
    let grown = 31;
    let per_recorder = (b1 - b0) / grown;
    let allocs_per_recorder = (a1 - a0) as f64 / grown as f64;
    drop(held);
    assert_eq!(tracer.pool_available(), 32, "every recorder went back");

    // Steady state at the high-water mark: 32 in flight again, 10 times, no allocation.
    let mut held = Vec::with_capacity(32);
    let (a3, _) = counted();
    for _ in 0..10 {
        held.extend((0..32).map(|_| request(&tracer)));
        held.clear();
    }
    let (a4, _) = counted();
    assert_eq!(a4 - a3, 0, "no allocation once the pool has grown");
    assert_eq!(tracer.stats().recorders, 32);
    assert_eq!(tracer.stats().traces, 1 + 32 + 320);

    // Resident memory of 256 requests in flight (each recorder touched by a small request).
    let big = builder().pool_size(1).max_pool_size(256).build();
    let rss0 = resident_bytes();
    let held: Vec<_> = (0..256).map(|_| request(&big)).collect();
    let rss1 = resident_bytes();
    drop(held);
    let rss_per_request = match (rss0, rss1) {
        (Some(a), Some(b)) => format!("{} bytes", b.saturating_sub(a) / 256),
        _ => "unknown (no /proc/self/statm)".to_owned(),
    };

    println!(
        "pool_memory: recorder buffer {recorder_bytes} bytes; each recorder made allocates \
         {per_recorder} bytes in {allocs_per_recorder:.2} allocations; 0 allocations for 320 \
         requests with 32 in flight once grown; resident memory per request in flight (256 at \
         once, small requests): {rss_per_request}"
    );
    assert!(per_recorder >= recorder_bytes);
    assert!(per_recorder < recorder_bytes + 4096, "{per_recorder}");
    println!("1 passed, 0 failed");
}
