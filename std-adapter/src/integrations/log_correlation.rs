//! Log correlation with the `tracing` crate (feature `tracing`): the X-Ray trace id and
//! segment id as fields of a `tracing` span, so every event logged inside it can be joined
//! with its trace.
//!
//! The fields are `xray.trace_id` (`1-5759e988-bd862e3fe1be46a994272793`), `xray.segment_id`
//! (16 hex digits; the segment, or the subsegment the handle names) and
//! `xray.sampled`. With the `tower` feature too, the server layer runs every handler inside
//! [`span`] of its request, so nothing more is needed there.
//!
//! To turn spans into subsegments, add
//! [`XRayLayer`](super::tracing_layer::XRayLayer) to the subscriber; the `xray` span made
//! here is not one of them. The ids are formatted only when a subscriber records the span.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use xray_std::Tracer;
//! use xray_std::integrations::log_correlation;
//!
//! let tracer = Tracer::builder("svc")
//!     .transport(Arc::new(Mutex::new(xray_std::core::NullTransport)))
//!     .build();
//! let ctx = tracer.begin(None);
//! let _entered = log_correlation::span(&ctx).entered();
//! tracing::info!("charged the card"); // carries xray.trace_id and xray.segment_id
//! ```

use tracing::Span;
use tracing::field::{Empty, display};

use crate::context::TraceContext;

/// The target of [`span`]'s spans (the tracing layer leaves them out).
pub(crate) const TARGET: &str = module_path!();

/// An `INFO` span named `xray` with the context's `xray.trace_id`, `xray.segment_id` and
/// `xray.sampled` (ids left empty when the trace records nothing).
pub fn span(ctx: &TraceContext) -> Span {
    let span = tracing::info_span!(
        "xray",
        xray.trace_id = Empty,
        xray.segment_id = Empty,
        xray.sampled = ctx.is_sampled()
    );
    record_ids(&span, ctx);
    span
}

/// [`span`] for [`TraceContext::current`], or a disabled span outside a traced request.
pub fn current_span() -> Span {
    TraceContext::current().map_or_else(Span::none, |ctx| span(&ctx))
}

/// Records `xray.trace_id` and `xray.segment_id` on a span of yours that declared them
/// (`tracing::info_span!("handler", xray.trace_id = tracing::field::Empty,
/// xray.segment_id = tracing::field::Empty)`).
pub fn record_ids(span: &Span, ctx: &TraceContext) {
    if let Some(id) = ctx.trace_id() {
        span.record("xray.trace_id", display(id));
    }
    if let Some(id) = ctx.id() {
        span.record("xray.segment_id", display(id));
    }
}
