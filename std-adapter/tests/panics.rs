//! Panics in code the tracer calls (a sampler, a transport, a `Serialize` of metadata) never
//! lose a recorder, never leave a broken recorder to a later request, and never escape a
//! `drop`: each is injected and caught with `catch_unwind`, and the process goes on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod capture;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use capture::Capture;
use xray_std::tracer::SharedTransport;
use xray_std::{TraceHeader, Tracer};

const POOL: usize = 2;

/// Keeps datagrams, or panics on every send while armed.
#[derive(Default)]
struct Flaky {
    armed: AtomicBool,
    panics: AtomicUsize,
    kept: Capture,
}

impl SharedTransport for Flaky {
    fn send_shared(&self, datagram: &[u8]) {
        if self.armed.load(Ordering::SeqCst) {
            self.panics.fetch_add(1, Ordering::SeqCst);
            panic!("injected transport panic");
        }
        self.kept.send_shared(datagram);
    }
}

fn tracer(transport: &Arc<Flaky>) -> Tracer {
    Tracer::builder("panics")
        .transport(transport.clone())
        .always_sample()
        .pool_size(POOL)
        .max_pool_size(POOL)
        .build()
}

/// A request recorded start to end sends its segment: the tracer is healthy.
fn healthy(tracer: &Tracer, transport: &Flaky) {
    let before = transport.kept.documents().len();
    for _ in 0..(2 * POOL) {
        let ctx = tracer.begin(None);
        ctx.annotate("ok", true);
        let sub = ctx.subsegment("work");
        sub.metadata("rows", &[1, 2, 3]);
        drop(sub);
        drop(ctx);
    }
    let docs = transport.kept.documents();
    assert_eq!(docs.len(), before + 2 * POOL, "every later request sent");
    let last = docs.last().unwrap();
    assert_eq!(last["annotations"]["ok"], true);
    assert_eq!(last["subsegments"][0]["metadata"]["default"]["rows"][2], 3);
    assert_eq!(tracer.pool_available(), POOL, "no recorder lost");
    assert_eq!(tracer.stats().pool_exhausted, 0);
}

#[test]
fn a_panicking_sampler_loses_no_recorder() {
    let transport = Arc::new(Flaky::default());
    let tracer = Tracer::builder("panics")
        .transport(transport.clone())
        .sampler(|_| panic!("injected sampler panic"))
        .pool_size(POOL)
        .max_pool_size(POOL)
        .build();
    for _ in 0..(5 * POOL) {
        let r = catch_unwind(AssertUnwindSafe(|| tracer.begin(None)));
        assert!(r.is_err(), "the sampler's panic reaches the caller");
    }
    assert_eq!(tracer.pool_available(), POOL);
    // The sampler decides before a recorder is lent: no trace was begun, none abandoned.
    assert_eq!(tracer.stats().panics, 0);
    assert_eq!(tracer.stats().traces, 0);
    // Requests that carry a decision do not ask the sampler, and record normally.
    let sampled = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1").unwrap();
    for _ in 0..(2 * POOL) {
        let ctx = tracer.begin(Some(&sampled));
        ctx.annotate("ok", true);
    }
    assert_eq!(transport.kept.documents().len(), 2 * POOL);
    assert_eq!(tracer.pool_available(), POOL);
}

#[test]
fn a_transport_panicking_when_the_handle_drops_does_not_escape_drop() {
    let transport = Arc::new(Flaky::default());
    let tracer = tracer(&transport);
    transport.armed.store(true, Ordering::SeqCst);
    for _ in 0..(3 * POOL) {
        let ctx = tracer.begin(None);
        ctx.annotate("k", 1);
        drop(ctx); // sends: the transport panics inside drop, which catches it
    }
    assert_eq!(transport.panics.load(Ordering::SeqCst), 3 * POOL);
    assert_eq!(tracer.stats().panics, 3 * POOL as u64);
    transport.armed.store(false, Ordering::SeqCst);
    healthy(&tracer, &transport);
}

#[test]
fn a_transport_panicking_at_an_explicit_end_does_not_panic_again_in_drop() {
    let transport = Arc::new(Flaky::default());
    let tracer = tracer(&transport);
    transport.armed.store(true, Ordering::SeqCst);
    for _ in 0..(3 * POOL) {
        let r = catch_unwind(AssertUnwindSafe(|| {
            let ctx = tracer.begin(None);
            let _db = ctx.subsegment("db"); // ended by the segment's end, then dropped
            ctx.end(); // the transport panics here; `ctx` and `_db` drop while unwinding
        }));
        assert!(r.is_err());
    }
    // One panic per request: the drops while unwinding did not send (and abort) again.
    assert_eq!(transport.panics.load(Ordering::SeqCst), 3 * POOL);
    assert_eq!(tracer.stats().panics, 3 * POOL as u64);
    transport.armed.store(false, Ordering::SeqCst);
    healthy(&tracer, &transport);
}

#[test]
fn a_transport_panicking_while_a_handler_panic_unwinds_does_not_abort() {
    let transport = Arc::new(Flaky::default());
    let tracer = tracer(&transport);
    // Lambda-like: every subsegment is sent as it ends, so the guards send while unwinding.
    let lambda = Tracer::builder("panics")
        .transport(transport.clone())
        .lambda(true)
        .pool_size(POOL)
        .max_pool_size(POOL)
        .build();
    let header = TraceHeader::parse(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    .unwrap();
    transport.armed.store(true, Ordering::SeqCst);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let ctx = tracer.begin(None);
        let _db = ctx.subsegment("db");
        panic!("injected handler panic");
    }));
    assert!(r.is_err());
    let r = catch_unwind(AssertUnwindSafe(|| {
        let ctx = lambda.begin_lambda(Some(&header));
        let _db = ctx.subsegment("db");
        panic!("injected handler panic");
    }));
    assert!(r.is_err());
    assert_eq!(transport.panics.load(Ordering::SeqCst), 2);
    assert_eq!(lambda.pool_available(), POOL);
    transport.armed.store(false, Ordering::SeqCst);
    healthy(&tracer, &transport);
}

struct Exploding;

impl serde::Serialize for Exploding {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("injected Serialize panic")
    }
}

#[test]
fn a_panicking_serialize_abandons_only_its_own_trace() {
    let transport = Arc::new(Flaky::default());
    let tracer = tracer(&transport);
    let other = tracer.begin(None); // another request in flight meanwhile
    other.annotate("other", true);
    for _ in 0..(3 * POOL) {
        let ctx = tracer.begin(None);
        let r = catch_unwind(AssertUnwindSafe(|| ctx.metadata("boom", &Exploding)));
        assert!(r.is_err());
        // The trace was abandoned: later calls are no-ops, nothing is sent for it.
        ctx.annotate("late", 1);
        assert!(!ctx.is_recording());
        drop(ctx);
    }
    assert_eq!(tracer.stats().panics, 3 * POOL as u64);
    assert!(transport.kept.documents().is_empty());
    other.annotate("still", true);
    drop(other);
    let docs = transport.kept.documents();
    assert_eq!(docs.len(), 1, "the other request was not disturbed");
    assert_eq!(docs[0]["annotations"]["still"], true);
    healthy(&tracer, &transport);
}

/// Records on the current request from inside `Serialize`, as a logging or tracing hook might.
struct Reentrant;

impl serde::Serialize for Reentrant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        xray_std::current::annotate("nested", 1);
        let _ = xray_std::current::trace_id();
        s.serialize_u8(7)
    }
}

/// A transport that asks for the current request's ids while sending (as a logger might).
struct Curious(Capture);

impl SharedTransport for Curious {
    fn send_shared(&self, datagram: &[u8]) {
        let _ = xray_std::current::downstream_header();
        xray_std::current::annotate("late", 1);
        self.0.send_shared(datagram);
    }
}

#[test]
fn callbacks_recording_on_their_own_request_do_not_deadlock() {
    let transport = Arc::new(Curious(Capture::default()));
    let tracer = Tracer::builder("reentrant")
        .transport(transport.clone())
        .always_sample()
        .pool_size(1)
        .build();
    let ctx = tracer.begin(None);
    ctx.in_scope(|| {
        ctx.metadata("value", &Reentrant);
        ctx.end(); // the transport runs with the recorder locked
    });
    drop(ctx);
    let docs = transport.0.documents();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["metadata"]["default"]["value"], 7);
    // The nested calls were skipped, not recorded and not deadlocked.
    assert!(docs[0].get("annotations").is_none());
    assert_eq!(tracer.pool_available(), 1);
}
