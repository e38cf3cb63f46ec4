//! Integrations with the Rust ecosystem, each behind its own cargo feature:
//!
//! | feature | module | what |
//! | --- | --- | --- |
//! | `tower` | [`http_server`] | a `tower` layer tracing every incoming `http::Request` (axum, hyper, tonic) |
//! | `tower` | [`http_client`] | a `tower` layer tracing outgoing `http::Request`s and propagating the header |
//! | `tracing` | [`log_correlation`] | trace and segment ids on a `tracing` span |
//! | `aws-sdk` | [`aws_sdk`] | an AWS SDK for Rust interceptor: a subsegment per operation |
//!
//! They share one per-request handle, [`TraceContext`]: the request's [`Trace`] behind its
//! own mutex (one per request, so requests never contend), plus the entity new subsegments
//! go under. The server layer makes it available to the handler in two ways: as a request
//! extension, and as a tokio task-local ([`TraceContext::current`]) while the handler's
//! future runs. The client layer and the AWS SDK interceptor find it the same way.
//!
//! The lock is taken only inside synchronous calls ([`TraceContext::with`] and the helpers on
//! top of it), never across an `.await`.
//!
//! The core records with no heap allocation; these integrations allocate a little per request
//! (the shared handle and a boxed future), like the frameworks they plug into.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use xray_core::model::Exception;
use xray_core::{EntityId, SegmentId, TraceHeader, TraceId};

use crate::tracer::Trace;

#[cfg(feature = "aws-sdk")]
pub mod aws_sdk;
#[cfg(feature = "tower")]
pub mod http_client;
#[cfg(feature = "tower")]
pub mod http_server;
#[cfg(feature = "tracing")]
pub mod log_correlation;
mod scrub;

/// The name of the X-Ray trace header.
pub const TRACE_HEADER: &str = "x-amzn-trace-id";

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// One request's trace, shared by the code that serves it (cheap to clone), and the entity
/// (segment or subsegment) that new subsegments go under.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use xray_std::Tracer;
/// use xray_std::integrations::TraceContext;
///
/// let tracer = Tracer::builder("svc")
///     .transport(Arc::new(Mutex::new(xray_core::NullTransport)))
///     .build();
/// let ctx = TraceContext::new(tracer.begin(None));
/// let db = ctx.begin_subsegment("orders-db");
/// // ... query the database ...
/// ctx.end(db);
/// assert!(ctx.trace_id().is_some());
/// ctx.finish(); // ends the segment and sends it
/// assert_eq!(tracer.pool_available(), 16);
/// ```
#[derive(Clone)]
pub struct TraceContext {
    shared: Arc<Mutex<Option<Trace>>>,
    entity: EntityId,
    trace_id: Option<TraceId>,
    entity_id: Option<SegmentId>,
    sampled: bool,
}

impl std::fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceContext")
            .field("trace_id", &self.trace_id)
            .field("entity_id", &self.entity_id)
            .field("sampled", &self.sampled)
            .finish_non_exhaustive()
    }
}

impl TraceContext {
    /// Shares `trace`; new subsegments go under its segment.
    pub fn new(trace: Trace) -> Self {
        let entity = trace.segment();
        Self {
            entity,
            trace_id: trace.trace_id(),
            entity_id: trace.segment_id(entity),
            sampled: trace.is_sampled(),
            shared: Arc::new(Mutex::new(Some(trace))),
        }
    }

    /// The context of the running task: inside [`TraceContext::scope`] (the server layer runs
    /// every handler in one), or, with the `lambda` feature, the invocation's
    /// [`LambdaTrace`](crate::lambda::LambdaTrace) (its facade as the parent). `None` elsewhere.
    pub fn current() -> Option<Self> {
        if let Ok(ctx) = CURRENT.try_with(Self::clone) {
            return Some(ctx);
        }
        #[cfg(feature = "lambda")]
        if let Some(l) = crate::lambda::LambdaTrace::current() {
            return Some(Self {
                shared: l.shared().clone(),
                entity: l.facade(),
                trace_id: l.trace_id(),
                entity_id: l.with(|t| t.segment_id(l.facade())).flatten(),
                sampled: l.with(|t| t.is_sampled()).unwrap_or(false),
            });
        }
        None
    }

    /// Runs `fut` with this context as [`TraceContext::current`].
    pub fn scope<F: Future>(self, fut: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, fut)
    }

    /// Runs `f` with this context as [`TraceContext::current`] (synchronous code).
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self, f)
    }

    /// The same trace with `parent` as the entity new subsegments go under (for example a
    /// subsegment, so that calls made inside it nest there).
    pub fn child(&self, parent: EntityId) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            entity: parent,
            trace_id: self.trace_id,
            entity_id: self.with(|t| t.segment_id(parent)).flatten(),
            sampled: self.sampled,
        }
    }

    /// The entity new subsegments go under (the segment, unless made by
    /// [`TraceContext::child`]).
    pub fn entity(&self) -> EntityId {
        self.entity
    }

    /// The trace id (`Root`), also for unsampled traces: for logs.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.trace_id
    }

    /// The id of [`TraceContext::entity`], for logs.
    pub fn entity_id(&self) -> Option<SegmentId> {
        self.entity_id
    }

    /// Whether the trace is sampled (its documents are sent).
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// Runs `f` on the request's [`Trace`] (holding its lock: keep `f` short and never
    /// await in it). `None` once the trace has been finished.
    pub fn with<R>(&self, f: impl FnOnce(&mut Trace) -> R) -> Option<R> {
        let mut guard = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        guard.as_mut().map(f)
    }

    /// Begins a subsegment under [`TraceContext::entity`] ([`EntityId::NONE`] when nothing
    /// is recorded).
    pub fn begin_subsegment(&self, name: &str) -> EntityId {
        self.with(|t| t.begin_subsegment(self.entity, name))
            .and_then(Result::ok)
            .unwrap_or(EntityId::NONE)
    }

    /// Ends a subsegment (errors follow the tracer's context-missing mode and are not
    /// returned).
    pub fn end(&self, id: EntityId) {
        let _ = self.with(|t| t.end(id));
    }

    /// The `X-Amzn-Trace-Id` for a call made from [`TraceContext::entity`].
    pub fn downstream_header(&self) -> Option<TraceHeader> {
        self.with(|t| t.downstream_header(self.entity)).flatten()
    }

    /// Ends the segment (and what is still open), sends it and returns the recorder to the
    /// pool. Later calls on any clone are no-ops.
    pub fn finish(&self) {
        let trace = self
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(trace);
    }
}

/// Formats `value` into `buf` and returns the text, cut at a character boundary when it does
/// not fit. No allocation.
#[allow(dead_code)]
pub(crate) fn format_into<'b>(buf: &'b mut [u8], value: std::fmt::Arguments<'_>) -> &'b str {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = cursor.write_fmt(value);
    let n = usize::try_from(cursor.position()).unwrap_or(0);
    let written = &buf[..n];
    match std::str::from_utf8(written) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&written[..e.valid_up_to()]).unwrap_or_default(),
    }
}

/// Records an error on `id`: an exception (type `type_name`, message from `Display`) and
/// `fault`.
#[allow(dead_code)]
pub(crate) fn record_fault(
    trace: &mut Trace,
    id: EntityId,
    type_name: &str,
    message: &dyn std::fmt::Display,
    remote: bool,
) {
    let mut buf = [0u8; 1024];
    let message = format_into(&mut buf, format_args!("{message}"));
    let mut clean = [0u8; 1024];
    let message = scrub::scrub_urls(message, &mut clean);
    let exception = Exception {
        type_name: Some(type_name),
        message: Some(message),
        remote,
        ..Exception::default()
    };
    let _ = trace.add_exception(id, &exception);
    let _ = trace.set_fault(id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_into_cuts_at_a_char_boundary() {
        let mut buf = [0u8; 5];
        assert_eq!(format_into(&mut buf, format_args!("ab{}", "éé")), "abé");
        let mut buf = [0u8; 16];
        assert_eq!(format_into(&mut buf, format_args!("{}-{}", 1, 2)), "1-2");
    }
}
