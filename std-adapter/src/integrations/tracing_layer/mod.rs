//! A `tracing-subscriber` [`Layer`] that turns `tracing` spans into X-Ray subsegments
//! (feature `tracing`).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tracing_subscriber::Layer;
//! use tracing_subscriber::layer::SubscriberExt;
//! use xray_std::Tracer;
//! use xray_std::integrations::tracing_layer::{DefaultFilter, XRayLayer};
//!
//! #[tracing::instrument]
//! fn load_order(order_id: i64) {
//!     // A subsegment `load_order` with the annotation `order_id`; this event gives it an
//!     // exception and `fault`.
//!     tracing::error!("no such order");
//! }
//!
//! let subscriber =
//!     tracing_subscriber::registry().with(XRayLayer::new().with_filter(DefaultFilter));
//! // A program installs it once: `tracing::subscriber::set_global_default(subscriber)`.
//! tracing::subscriber::with_default(subscriber, || {
//!     let tracer = Tracer::builder("orders")
//!         .transport(Arc::new(Mutex::new(xray_std::core::NullTransport)))
//!         .build();
//!     let ctx = tracer.begin(None);
//!     ctx.in_scope(|| load_order(7)); // the tower server layer does this around a handler
//! });
//! ```
//!
//! # Where subsegments go
//!
//! A span becomes a subsegment of the subsegment of its closest parent span that has one, so
//! subsegments nest as spans do, across `.await`s, threads and tasks
//! (`tokio::spawn(fut.in_current_span())`): the parent is found through the span registry,
//! not through thread-locals. A span with no such parent goes under the current request,
//! [`TraceContext::current`] (the tower server layer and the Lambda wrappers set it while
//! the handler runs). With neither, the span is not traced: outside a traced request this
//! layer records nothing and costs a registry lookup and a thread-local read per span.
//!
//! The subsegment begins when the span is created and ends when it closes (all its handles
//! dropped), however often it is entered in between: an `async` span is one subsegment.
//! Entering and leaving cost nothing.
//!
//! # Which spans
//!
//! Every span this layer sees: choose them with a per-layer filter,
//! [`Layer::with_filter`]. [`DefaultFilter`] takes the application's spans at `DEBUG` and
//! above and `ERROR` events, and leaves out libraries (`hyper`, `h2`, `tokio`, `tower`, …).
//! The `xray` span that [`log_correlation`](super::log_correlation) puts around each
//! request is never a subsegment.
//!
//! # Fields and events
//!
//! Span fields become annotations or metadata as the [`fields`] convention says; fields
//! named after OpenTelemetry's semantic conventions fill the `http`, `sql` and `aws` blocks
//! and the namespace ([`semconv`]); `otel.name` renames.
//!
//! An `ERROR` event inside a traced span records an exception on that span's subsegment
//! (type from an `exception.type` field, else `Error`; message from the event's message,
//! else its `error` or `exception.message` field) and sets `fault`. Events at other levels
//! are not recorded (they are logs; [`log_correlation`](super::log_correlation) joins them
//! with the trace). An event outside any traced span records nothing.
//!
//! Unsampled requests keep the subsegment ids (for downstream headers and logs) and skip
//! the fields.
//!
//! # Cost
//!
//! `benches/tracing_layer.rs` measures a span with three fields next to
//! tracing-opentelemetry's layer. Most of a traced span's cost is the recorder's (three
//! annotations, and the subsegment encoded as JSON when it ends); outside a traced request
//! the layer adds a registry lookup and a thread-local read to what the registry costs.

pub mod fields;
mod filter;
pub mod semconv;

pub use filter::DefaultFilter;

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use xray_core::model::Exception;

use crate::context::{Subsegment, TraceContext, format_into};
use crate::current;
use fields::SpanFields;
use semconv::Collected;

/// The layer: see the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct XRayLayer {
    _private: (),
}

impl XRayLayer {
    /// A layer with no filter of its own (add one with [`Layer::with_filter`], for example
    /// [`DefaultFilter`]).
    pub const fn new() -> Self {
        XRayLayer { _private: () }
    }
}

/// What a traced span keeps in its registry extensions.
struct Traced {
    sub: Subsegment,
    /// Sampled and recording: fields and events are written.
    recording: bool,
    /// Semantic-convention values seen so far (boxed: most spans have none).
    collected: Option<Box<Collected>>,
}

/// Records `values` on `sub`, keeping semantic-convention values in `collected` and
/// applying their blocks when one arrived.
fn record_fields(
    sub: &TraceContext,
    collected: &mut Option<Box<Collected>>,
    values: &dyn RecordFields,
) {
    let mut visitor = SpanFields {
        held: sub.hold(),
        collected,
        blocks_changed: false,
    };
    values.record_into(&mut visitor);
    let blocks_changed = visitor.blocks_changed;
    // Unlocks the recorder, which `apply` locks again.
    drop(visitor);
    if blocks_changed && let Some(c) = collected {
        c.apply(sub);
    }
}

/// Begins `sub` (made by [`TraceContext::unbegun_child`]) as subsegment `name` of `parent`
/// and, if it records, records `attrs` on it, under one lock; whether it records.
fn begin_with_fields(
    sub: &mut Subsegment,
    parent: xray_core::EntityId,
    name: &str,
    collected: &mut Option<Box<Collected>>,
    attrs: &Attributes<'_>,
) -> bool {
    let mut held = sub.hold();
    let (id, recording) = held.begin_subsegment(parent, name);
    let mut blocks_changed = false;
    if recording {
        let mut visitor = SpanFields {
            held,
            collected,
            blocks_changed: false,
        };
        attrs.record(&mut visitor);
        blocks_changed = visitor.blocks_changed;
    } else {
        drop(held);
    }
    sub.set_begun(id);
    if blocks_changed && let Some(c) = collected {
        // Unlocked: `apply` locks the recorder itself.
        c.apply(sub);
    }
    recording
}

/// `Attributes` and `Record` alike.
trait RecordFields {
    fn record_into(&self, visitor: &mut dyn Visit);
}

impl RecordFields for Attributes<'_> {
    fn record_into(&self, visitor: &mut dyn Visit) {
        self.record(visitor);
    }
}

impl RecordFields for Record<'_> {
    fn record_into(&self, visitor: &mut dyn Visit) {
        self.record(visitor);
    }
}

/// The subsegment of the closest traced span from `span` upwards (`span` included).
fn traced_ancestor<S>(span: Option<SpanRef<'_, S>>) -> Option<TraceContext>
where
    S: for<'a> LookupSpan<'a>,
{
    let mut next = span;
    while let Some(s) = next {
        if let Some(t) = s.extensions().get::<Traced>() {
            return Some(t.sub.context());
        }
        next = s.parent();
    }
    None
}

/// Reads `otel.name` (only when the span declares it).
struct OtelName<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Visit for OtelName<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "otel.name" {
            self.len = format_into(self.buf, format_args!("{value}")).len();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "otel.name" {
            self.len = format_into(self.buf, format_args!("{value:?}")).len();
        }
    }
}

impl<S> Layer<S> for XRayLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        // Outside any request, a span with no parent at all has nothing to be traced under:
        // decided before the registry is asked for it.
        let in_request = current::is_set();
        if !in_request
            && (attrs.is_root() || (attrs.is_contextual() && ctx.current_span().id().is_none()))
        {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        // The server layer's log-correlation span is bookkeeping, not work.
        if span.metadata().target() == super::log_correlation::TARGET {
            return;
        }
        let ancestor = traced_ancestor(span.parent());
        if ancestor.is_none() && !in_request {
            return;
        }
        let mut name_buf = [0u8; 200];
        let mut name = span.name();
        if attrs.fields().field("otel.name").is_some() {
            let mut v = OtelName {
                buf: &mut name_buf,
                len: 0,
            };
            attrs.record(&mut v);
            let len = v.len;
            if len > 0 {
                // `format_into` wrote valid UTF-8 of this length.
                name = std::str::from_utf8(&name_buf[..len]).unwrap_or(name);
            }
        }
        let child = match &ancestor {
            Some(parent) => Some(parent.unbegun_child()),
            // The current request's handle, borrowed rather than cloned (making a guard runs
            // no user code that could enter a scope).
            None => current::with_current(TraceContext::unbegun_child),
        };
        let Some((mut sub, parent)) = child else {
            return;
        };
        let mut collected = None;
        let recording = begin_with_fields(&mut sub, parent, name, &mut collected, attrs);
        span.extensions_mut().insert(Traced {
            sub,
            recording,
            collected,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        // Recorded with the span's extensions unlocked: recording may log, and an event
        // inside this span would look its extensions up again on this thread.
        let (sub, mut collected) = {
            let mut ext = span.extensions_mut();
            let Some(traced) = ext.get_mut::<Traced>().filter(|t| t.recording) else {
                return;
            };
            (traced.sub.context(), traced.collected.take())
        };
        record_fields(&sub, &mut collected, values);
        if let Some(traced) = span.extensions_mut().get_mut::<Traced>() {
            traced.collected = collected;
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let Some(target) = traced_ancestor(scope.into_iter().next()) else {
            return;
        };
        if !target.is_recording() {
            return;
        }
        let mut v = ErrorEvent::default();
        event.record(&mut v);
        let (type_name, message) = v.finish();
        target.exception(&Exception {
            type_name: Some(type_name),
            message: Some(message),
            ..Exception::default()
        });
        target.fault();
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        // Taken out first: the subsegment ends (as it drops) with the extensions unlocked.
        let traced = span.extensions_mut().remove::<Traced>();
        drop(traced);
    }
}

/// Reads an `ERROR` event: the message, `error`, `exception.message` and `exception.type`
/// (errors are rare; their text is kept in `String`s, each cut at 1 KiB).
#[derive(Default)]
struct ErrorEvent {
    /// message, error, exception.message, exception.type.
    parts: [Option<String>; 4],
}

impl ErrorEvent {
    fn put(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        let i = match field.name() {
            "message" => 0,
            "error" => 1,
            "exception.message" => 2,
            "exception.type" => 3,
            _ => return,
        };
        let mut buf = [0u8; 1024];
        self.parts[i] = Some(format_into(&mut buf, value).to_owned());
    }

    /// `(type, message)`.
    fn finish(&self) -> (&str, &str) {
        let [message, error, exception_message, type_name] = &self.parts;
        let message = message
            .as_ref()
            .or(error.as_ref())
            .or(exception_message.as_ref());
        (
            type_name.as_deref().unwrap_or("Error"),
            message.map_or("", String::as_str),
        )
    }
}

impl Visit for ErrorEvent {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, format_args!("{value}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests;
