//! `tracing` log correlation: the span carries the trace and segment ids, recorded through a
//! real `tracing` subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use xray_std::Tracer;
use xray_std::integrations::log_correlation;

/// Keeps every span field recorded, as `(name, value)`.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(String, String)>>>);

impl Visit for Capture {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        span.record(&mut self.clone());
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut self.clone());
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn spans_carry_the_trace_and_segment_ids() {
    let tracer = Tracer::builder("svc").always_sample().build();
    let ctx = tracer.begin(None);
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let _a = log_correlation::span(&ctx);
        // Outside a traced task: a disabled span, nothing recorded.
        let _b = log_correlation::current_span();
        ctx.clone().in_scope(|| {
            let _c = log_correlation::current_span();
        });
    });
    let got = capture.0.lock().unwrap().clone();
    let trace_id = ctx.trace_id().unwrap().to_string();
    let seg_id = ctx.id().unwrap().to_string();
    let count = |k: &str, v: &str| got.iter().filter(|(n, x)| n == k && x == v).count();
    assert_eq!(count("xray.trace_id", &trace_id), 2, "{got:?}");
    assert_eq!(count("xray.segment_id", &seg_id), 2, "{got:?}");
    assert_eq!(count("xray.sampled", "true"), 2, "{got:?}");
}
