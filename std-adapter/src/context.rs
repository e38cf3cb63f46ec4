//! [`TraceContext`]: one request's trace, as the code serving it sees it, and
//! [`Subsegment`], a guard that ends a subsegment when dropped.
//!
//! One handle serves plain code, the tower layers, Lambda and the AWS SDK interceptor. It is
//! cheap to clone (reference counts, no allocation) and `Send + Sync`, so it can go into
//! spawned tasks; clones share the trace, each naming the entity (segment or subsegment) its
//! calls record on.
//!
//! It follows `tracing`'s convention: recording calls return nothing the caller must handle.
//! What a call did is still there for those who want it ([`TraceContext::last_outcome`]),
//! values that could not be recorded are counted in the tracer's
//! [`TracerStats`](crate::TracerStats), and under `AWS_XRAY_CONTEXT_MISSING=RUNTIME_ERROR` a
//! call for an entity that has ended reports [`TraceError::ContextMissing`] there.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use xray_std::{TraceHeader, Tracer};
//!
//! let tracer = Tracer::builder("checkout")
//!     .transport(Arc::new(Mutex::new(xray_std::core::NullTransport)))
//!     .build();
//! let incoming = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")?;
//! let ctx = tracer.begin(Some(&incoming));
//! ctx.annotate("customer", "acme-corp");
//! {
//!     let db = ctx.subsegment("orders-db"); // ends when `db` is dropped
//!     db.metadata("rows", &3);
//!     // A call made from here carries Root, Parent = the subsegment's id, Sampled=1.
//!     let header = db.downstream_header();
//!     assert_eq!(header.and_then(|h| h.parent()), db.id());
//! }
//! assert_eq!(ctx.trace_id(), incoming.root());
//! # Ok::<(), xray_std::HeaderError>(())
//! ```
//!
//! # Lifetime
//!
//! The segment ends, is sent, and the recorder goes back to the pool when the last clone of
//! the request's handle (and of its [`Subsegment`] guards) is dropped, or earlier at
//! [`TraceContext::end`]. A clone kept past the request keeps its recorder out of the pool
//! until it is dropped (the pool grows to make up for it).
//!
//! # Unsampled traces
//!
//! A trace the sampler did not sample borrows no recorder: its handles carry its ids (the
//! trace id, and each handle's own segment or subsegment id, drawn when the subsegment
//! begins) so that logs and downstream headers (`Sampled=0`) have them, and nothing else.
//! The pool's recorders, and its maximum, are for the sampled requests in flight. Recording
//! calls on such a handle do nothing and report [`Outcome::NotSampled`]; a call on a
//! subsegment that has ended is not told apart from one on an open subsegment there (there is
//! nothing it could have recorded either way).

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use xray_core::model::{AnnotationValue, Aws, Exception, HttpRequest, HttpResponse, Sql};
use xray_core::{EntityId, Outcome, SampledFlag, SegmentId, TraceHeader, TraceId, TraceState};

use crate::config::ContextMissing;
use crate::current::{self, Scoped};
use crate::rng::ThreadRng;
use crate::tracer::{ByRef, Entry, Inner, PooledRecorder, State, TraceError, Tracer, bump};

/// One request's trace: see the [module docs](self).
#[derive(Clone)]
pub struct TraceContext {
    link: Link,
    /// What calls made from here pass on besides the ids; `None` when nothing (most
    /// requests: no allocation then).
    passed_on: Option<Arc<PassedOn>>,
}

/// What a handle passes on downstream besides the ids.
struct PassedOn {
    /// The incoming W3C `tracestate`, passed on next to `traceparent`.
    tracestate: Option<TraceState>,
    /// For an unsampled trace, the upstream header, kept for its extra fields (`K=V;K=V`,
    /// such as `Lineage`); a recorder keeps them itself.
    upstream: Option<TraceHeader>,
}

#[derive(Clone)]
enum Link {
    /// Nothing to record and nothing to pass on.
    Off,
    /// No recorder: the incoming header, passed on downstream as it came.
    Propagating(Arc<TraceHeader>),
    /// An unsampled trace: its ids, no recorder.
    Unsampled(Unsampled),
    /// A recorder lent from the pool, and the entity (segment or subsegment) this handle
    /// records on.
    Recording(Lease, EntityId),
}

/// The ids of a handle on an unsampled trace (see the module docs).
#[derive(Clone, Copy)]
struct Unsampled {
    trace_id: TraceId,
    /// This handle's segment or subsegment.
    id: SegmentId,
}

/// A share of a recorder lent from the pool; the last one to drop gives it back.
struct Lease {
    tracer: Tracer,
    entry: Arc<Entry>,
}

impl Clone for Lease {
    fn clone(&self) -> Self {
        self.entry.users.fetch_add(1, Ordering::Relaxed);
        Lease {
            tracer: self.tracer.clone(),
            entry: Arc::clone(&self.entry),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.entry.users.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let inner = &*self.tracer.inner;
        // `None` only if this thread holds the lock, which the last handle cannot be doing;
        // then the recorder is not given back in an unknown state.
        let Some(mut st) = self.entry.lock(&inner.counters) else {
            return;
        };
        if st.rec.is_active() && !st.broken {
            let segment = st.segment;
            // `drop` must never panic (it may run while unwinding from another panic).
            let ended = catch_unwind(AssertUnwindSafe(|| {
                let State { rec, clock, .. } = &mut *st;
                let _ = rec.end(segment, &*clock, &mut ByRef(&*inner.transport));
            }));
            if ended.is_err() {
                crate::tracer::abandon(&mut st, &inner.counters);
            }
        }
        st.count(&inner.counters);
        st.reset();
        drop(st);
        inner.pool_give_back(Arc::clone(&self.entry));
    }
}

impl std::fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceContext")
            .field("trace_id", &self.trace_id())
            .field("id", &self.id())
            .field("sampled", &self.is_sampled())
            .field("recording", &self.is_recording())
            .finish()
    }
}

/// Formats `value` into `buf` and returns the text, cut at a character boundary when it does
/// not fit. No allocation.
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

/// Counts a call for an entity that has ended and answers as the tracer's mode says.
fn missing(inner: &Inner, what: &'static str) -> Result<Outcome, TraceError> {
    bump(&inner.counters.context_missing);
    match inner.context_missing {
        ContextMissing::LogError => {
            log::error!("X-Ray: {what} called for a segment or subsegment that has ended");
            Ok(Outcome::NoEntity)
        }
        ContextMissing::IgnoreError => Ok(Outcome::NoEntity),
        ContextMissing::RuntimeError => Err(TraceError::ContextMissing),
    }
}

impl TraceContext {
    /// A handle that records nothing and passes nothing on (what code outside a traced
    /// request can use).
    pub const fn none() -> TraceContext {
        TraceContext {
            link: Link::Off,
            passed_on: None,
        }
    }

    /// A handle for a request that gets no recorder: it passes `upstream` on downstream (as
    /// it came) when it has a Root and tracing is on.
    pub(crate) fn unrecorded(enabled: bool, upstream: Option<&TraceHeader>) -> TraceContext {
        match upstream.filter(|h| enabled && h.root().is_some()) {
            Some(h) => TraceContext {
                link: Link::Propagating(Arc::new(h.clone())),
                passed_on: None,
            },
            None => TraceContext::none(),
        }
    }

    /// A handle on an unsampled trace: `trace_id`, the segment's `id`, and `upstream`'s extra
    /// fields to pass on.
    pub(crate) fn unsampled(
        trace_id: TraceId,
        id: SegmentId,
        upstream: Option<&TraceHeader>,
    ) -> TraceContext {
        let passed_on = upstream.filter(|h| !h.extra().is_empty()).map(|h| {
            Arc::new(PassedOn {
                tracestate: None,
                upstream: Some(h.clone()),
            })
        });
        TraceContext {
            link: Link::Unsampled(Unsampled { trace_id, id }),
            passed_on,
        }
    }

    /// A handle on a recorder just taken from the pool (no entity yet).
    pub(crate) fn lent(tracer: Tracer, entry: Arc<Entry>) -> TraceContext {
        entry.users.store(1, Ordering::Release);
        TraceContext {
            link: Link::Recording(Lease { tracer, entry }, EntityId::NONE),
            passed_on: None,
        }
    }

    /// Begins the trace with `f` (a panic in it leaves through here; the recorder goes back
    /// to the pool as `self` drops) and counts it.
    pub(crate) fn begin(mut self, inner: &Inner, f: impl FnOnce(&mut State) -> EntityId) -> Self {
        let Link::Recording(lease, entity) = &mut self.link else {
            return self;
        };
        let (segment, sampled) = match lease.entry.lock(&inner.counters) {
            Some(mut st) => {
                let segment = f(&mut st);
                st.segment = segment;
                (segment, st.rec.is_sampled())
            }
            None => (EntityId::NONE, false),
        };
        bump(&inner.counters.traces);
        if sampled {
            bump(&inner.counters.sampled);
        }
        *entity = segment;
        self
    }

    /// The entity this handle records on (`NONE` without a recorder).
    #[inline]
    fn entity(&self) -> EntityId {
        match &self.link {
            Link::Recording(_, entity) => *entity,
            _ => EntityId::NONE,
        }
    }

    /// The handle of the request being served on this thread or task: inside
    /// [`TraceContext::scope`] or [`TraceContext::in_scope`] (the tower server layer and the
    /// Lambda wrappers run every handler in one). `None` elsewhere. See [`crate::current`]
    /// for one-line calls on it.
    pub fn current() -> Option<TraceContext> {
        current::get()
    }

    /// Runs `fut` with this handle as [`TraceContext::current`] (set while it is polled, on
    /// whatever thread polls it; any executor).
    pub fn scope<F: Future>(self, fut: F) -> Scoped<F> {
        Scoped::new(self, fut)
    }

    /// Runs `f` with this handle as [`TraceContext::current`] (synchronous code).
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        current::in_scope(self.clone(), f)
    }

    /// Runs `f` on the locked recording state; `None` without a recorder or after a panic
    /// abandoned the trace.
    fn locked<R>(&self, f: impl FnOnce(&mut State, &Inner) -> R) -> Option<R> {
        let Link::Recording(lease, _) = &self.link else {
            return None;
        };
        let inner = &*lease.tracer.inner;
        let mut st = lease.entry.lock(&inner.counters)?;
        if st.broken {
            return None;
        }
        Some(f(&mut st, inner))
    }

    /// Runs a recording call on this handle's entity and keeps its outcome.
    fn record(&self, what: &'static str, f: impl FnOnce(&mut State, &Inner, EntityId) -> Outcome) {
        let entity = self.entity();
        // A guard whose subsegment could not begin records nothing (counted by the recorder).
        if entity.is_none() {
            return;
        }
        self.locked(|st, inner| {
            let out = f(st, inner, entity);
            keep_outcome(st, inner, what, out);
        });
    }

    /// [`TraceContext::record`] for a call whose arguments cost something to make: `f` makes
    /// and records them only if the trace is sampled (under the lock: it must run no user
    /// code). Otherwise the outcome kept is `NotSampled`, as the recorder's own call says.
    #[cfg(feature = "tower")]
    pub(crate) fn record_sampled(
        &self,
        what: &'static str,
        f: impl FnOnce(&mut PooledRecorder, EntityId) -> Outcome,
    ) {
        self.record(what, |st, _, id| {
            if st.rec.is_sampled() {
                f(&mut st.rec, id)
            } else {
                Outcome::NotSampled
            }
        });
    }

    /// A handle on this handle's entity that keeps the recorder locked across several
    /// calls: see [`Held`].
    #[cfg(feature = "tracing")]
    pub(crate) fn hold(&self) -> Held<'_> {
        Held {
            ctx: self,
            entity: self.entity(),
            guard: None,
        }
    }

    /// A guard for a subsegment of this handle's entity that is not begun yet, and that
    /// entity: [`Held::begin_subsegment`] begins it under the lock its fields are then
    /// recorded with (one lock for both; the tracing layer's new spans). Until then it
    /// records nothing and ends nothing.
    #[cfg(feature = "tracing")]
    #[inline]
    pub(crate) fn unbegun_child(&self) -> (Subsegment, EntityId) {
        let (link, parent) = match &self.link {
            Link::Recording(lease, entity) => {
                (Link::Recording(lease.clone(), EntityId::NONE), *entity)
            }
            // Its own id now: there is no recorder to begin it in.
            Link::Unsampled(u) => return (self.unsampled_child(u), EntityId::NONE),
            other => (other.clone(), EntityId::NONE),
        };
        let ctx = TraceContext {
            link,
            passed_on: self.passed_on.clone(),
        };
        (Subsegment { ctx }, parent)
    }

    /// Begins a subsegment of this handle's entity; it ends when the guard is dropped (or at
    /// [`Subsegment::end`]). Calls made through the guard record on the subsegment, and
    /// [`Subsegment::context`] gives a handle to pass on. Without a recorder the guard does
    /// nothing (and still passes the incoming header on).
    pub fn subsegment(&self, name: &str) -> Subsegment {
        self.subsegment_recording(name).0
    }

    /// [`TraceContext::subsegment`], and whether the subsegment is recording (what
    /// [`TraceContext::is_recording`] on it answers), read under the same lock.
    pub(crate) fn subsegment_recording(&self, name: &str) -> (Subsegment, bool) {
        let parent = match &self.link {
            Link::Recording(_, entity) => *entity,
            Link::Unsampled(u) => return (self.unsampled_child(u), false),
            Link::Off | Link::Propagating(_) => EntityId::NONE,
        };
        let (child, recording) = if parent.is_none() {
            (EntityId::NONE, false)
        } else {
            self.locked(|st, inner| begin_child(st, inner, parent, name))
                .unwrap_or((EntityId::NONE, false))
        };
        let link = match &self.link {
            Link::Recording(lease, _) => Link::Recording(lease.clone(), child),
            other => other.clone(),
        };
        let sub = Subsegment {
            ctx: TraceContext {
                link,
                passed_on: self.passed_on.clone(),
            },
        };
        (sub, recording)
    }

    /// A subsegment guard of the unsampled trace `u` (this handle's): only a new id.
    #[inline]
    fn unsampled_child(&self, u: &Unsampled) -> Subsegment {
        Subsegment {
            ctx: TraceContext {
                link: Link::Unsampled(Unsampled {
                    id: SegmentId::generate(&mut ThreadRng),
                    ..*u
                }),
                passed_on: self.passed_on.clone(),
            },
        }
    }

    /// Adds an annotation (indexed, filterable; keys `[A-Za-z0-9_]`): strings, integers,
    /// floats and booleans.
    pub fn annotate<'v>(&self, key: &str, value: impl Into<AnnotationValue<'v>>) {
        let value = value.into();
        self.record("annotate", |st, _, id| st.rec.annotate(id, key, value));
    }

    /// Adds metadata in the `default` namespace: any `serde::Serialize` value.
    pub fn metadata<T: serde::Serialize + ?Sized>(&self, key: &str, value: &T) {
        self.metadata_in("default", key, value);
    }

    /// Adds metadata in `namespace` (not starting with `AWS.`).
    pub fn metadata_in<T: serde::Serialize + ?Sized>(&self, namespace: &str, key: &str, value: &T) {
        self.record("metadata", |st, _, id| {
            st.rec.add_metadata(id, namespace, key, value)
        });
    }

    /// Records an error: an exception of type `Error` whose message is `error`'s `Display`
    /// (formatted into a 1 KiB stack buffer, no allocation), and sets `fault`. Go's
    /// `xray.AddError`.
    pub fn error(&self, error: impl std::fmt::Display) {
        let mut buf = [0u8; 1024];
        let message = format_into(&mut buf, format_args!("{error}"));
        self.exception(&Exception {
            type_name: Some("Error"),
            message: Some(message),
            ..Exception::default()
        });
        self.fault();
    }

    /// Records an exception (no flag: add [`TraceContext::fault`] or
    /// [`TraceContext::client_error`]).
    pub fn exception(&self, exception: &Exception<'_>) {
        self.record("exception", |st, _, id| {
            st.rec.add_exception(id, exception, &mut st.rng)
        });
    }

    /// Sets `fault` (a server-side error).
    pub fn fault(&self) {
        self.record("fault", |st, _, id| st.rec.set_fault(id));
    }

    /// Sets `error` (a client-side error, 4xx).
    pub fn client_error(&self) {
        self.record("client_error", |st, _, id| st.rec.set_error(id));
    }

    /// Sets `throttle`.
    pub fn throttle(&self) {
        self.record("throttle", |st, _, id| st.rec.set_throttle(id));
    }

    /// Records `http.request`.
    pub fn http_request(&self, request: &HttpRequest<'_>) {
        self.record("http_request", |st, _, id| {
            st.rec.set_http_request(id, request)
        });
    }

    /// Records `http.response` and the flags its status implies (4xx error, 429 throttle,
    /// 5xx fault).
    pub fn http_response(&self, response: &HttpResponse) {
        self.record("http_response", |st, _, id| {
            st.rec.set_http_response(id, response)
        });
    }

    /// Records the `aws` block.
    pub fn aws(&self, aws: &Aws<'_>) {
        self.record("aws", |st, _, id| st.rec.set_aws(id, aws));
    }

    /// Records the `sql` block (give it a sanitized query).
    pub fn sql(&self, sql: &Sql<'_>) {
        self.record("sql", |st, _, id| st.rec.set_sql(id, sql));
    }

    /// Sets `namespace` (`"remote"` for downstream calls, `"aws"` for AWS SDK calls).
    pub fn namespace(&self, namespace: &str) {
        self.record("namespace", |st, _, id| st.rec.set_namespace(id, namespace));
    }

    /// Sets `user`.
    pub fn user(&self, user: &str) {
        self.record("user", |st, _, id| st.rec.set_user(id, user));
    }

    /// Sets `origin`.
    pub fn origin(&self, origin: &str) {
        self.record("origin", |st, _, id| st.rec.set_origin(id, origin));
    }

    /// Marks a subsegment `traced` (the callee records its own segment under it).
    pub fn traced(&self) {
        self.record("traced", |st, _, id| st.rec.set_traced(id));
    }

    /// Ends this handle's entity now: a subsegment joins its segment (or is sent on its own),
    /// the segment is sent with everything still open under it. Later calls for it are a
    /// missing context.
    pub fn end(&self) {
        self.record("end", |st, inner, id| {
            st.rec.end(id, &st.clock, &mut ByRef(&*inner.transport))
        });
    }

    /// Ends the entity if it is still open, never letting a panic out (for `drop`).
    pub(crate) fn end_quietly(&self) {
        let entity = self.entity();
        if entity.is_none() {
            return;
        }
        self.locked(|st, inner| {
            let ended = catch_unwind(AssertUnwindSafe(|| {
                st.rec.end(entity, &st.clock, &mut ByRef(&*inner.transport))
            }));
            match ended {
                // Ended already (by `end`, or with its segment): nothing was done, and the
                // last outcome stays what it was.
                Ok(Outcome::NoEntity) => {}
                Ok(out) => st.last = Ok(out),
                Err(_) => crate::tracer::abandon(st, &inner.counters),
            }
        });
    }

    /// The trace id (`Root`), also for unsampled traces and for requests passed on without a
    /// recorder: for logs. `None` when there is none.
    pub fn trace_id(&self) -> Option<TraceId> {
        match &self.link {
            Link::Off => None,
            Link::Propagating(h) => h.root(),
            Link::Unsampled(u) => Some(u.trace_id),
            Link::Recording(..) => self.locked(|st, _| st.rec.trace_id()).flatten(),
        }
    }

    /// The id of this handle's segment or subsegment (for logs); `None` when nothing is
    /// recorded.
    pub fn id(&self) -> Option<SegmentId> {
        if let Link::Unsampled(u) = &self.link {
            return Some(u.id);
        }
        self.locked(|st, _| st.rec.segment_id(self.entity()))
            .flatten()
    }

    /// The sampling decision: this trace's, or the upstream one for a request passed on
    /// without a recorder.
    pub fn is_sampled(&self) -> bool {
        match &self.link {
            Link::Off => false,
            Link::Propagating(h) => h.sampled() == SampledFlag::Sampled,
            Link::Unsampled(_) => false,
            Link::Recording(..) => self.locked(|st, _| st.rec.is_sampled()).unwrap_or(false),
        }
    }

    /// Whether calls on this handle are recorded and will be sent (a recorder, a sampled
    /// trace in progress, and this handle's entity open).
    pub fn is_recording(&self) -> bool {
        self.locked(|st, _| st.rec.is_sampled() && st.rec.segment_id(self.entity()).is_some())
            .unwrap_or(false)
    }

    /// The `X-Amzn-Trace-Id` for a call made from here: this trace's Root, this entity's id as
    /// Parent, this trace's decision as Sampled and the upstream extra fields. For a request
    /// passed on without a recorder, the incoming header as it came. `None` when there is no
    /// trace.
    pub fn downstream_header(&self) -> Option<TraceHeader> {
        match &self.link {
            Link::Off => None,
            Link::Propagating(h) => Some(TraceHeader::clone(h)),
            Link::Unsampled(u) => {
                let mut header = TraceHeader::with(u.trace_id, Some(u.id), SampledFlag::NotSampled);
                let upstream = self.passed_on.as_ref().and_then(|p| p.upstream.as_ref());
                for (key, value) in upstream.iter().flat_map(|h| h.extra_fields()) {
                    // Checked when the upstream header was parsed, and within its capacity.
                    let _ = header.push_extra(key, value);
                }
                Some(header)
            }
            Link::Recording(..) => self
                .locked(|st, _| {
                    st.rec
                        .downstream_header(self.entity())
                        .or_else(|| st.rec.downstream_header(st.segment))
                })
                .flatten(),
        }
    }

    /// The incoming W3C `tracestate` this trace passes on downstream next to `traceparent`.
    pub fn tracestate(&self) -> Option<&TraceState> {
        self.passed_on.as_ref()?.tracestate.as_ref()
    }

    /// This handle, passing `tracestate` on downstream (the server layer gives it the
    /// incoming one); an empty list is not kept.
    pub fn with_tracestate(mut self, tracestate: Option<TraceState>) -> Self {
        let tracestate = tracestate.filter(|t| !t.is_empty());
        let upstream = self
            .passed_on
            .take()
            .and_then(|p| match Arc::try_unwrap(p) {
                Ok(p) => p.upstream,
                Err(shared) => shared.upstream.clone(),
            });
        if tracestate.is_some() || upstream.is_some() {
            self.passed_on = Some(Arc::new(PassedOn {
                tracestate,
                upstream,
            }));
        }
        self
    }

    /// What the last recording call on this trace (through any of its handles) did: the
    /// core's [`Outcome`], or under [`ContextMissing::RuntimeError`] the error for a call on
    /// an entity that had ended. `Ok(Outcome::NotSampled)` when nothing is recorded.
    pub fn last_outcome(&self) -> Result<Outcome, TraceError> {
        self.locked(|st, _| st.last)
            .unwrap_or(Ok(Outcome::NotSampled))
    }

    /// Runs `f` on the pooled recorder and this handle's entity, for the core calls this type
    /// does not wrap (keep it short: the recorder is locked). `None` without a recorder.
    pub fn with_recorder<R>(
        &self,
        f: impl FnOnce(&mut PooledRecorder, EntityId) -> R,
    ) -> Option<R> {
        self.locked(|st, _| f(&mut st.rec, self.entity()))
    }
}

/// Begins subsegment `name` of `parent` on the locked state: its id, and whether it records.
#[inline]
fn begin_child(st: &mut State, inner: &Inner, parent: EntityId, name: &str) -> (EntityId, bool) {
    let State {
        rec, rng, clock, ..
    } = st;
    let id = rec.begin_subsegment(parent, name, &*clock, rng);
    if id.is_none() && rec.segment_id(parent).is_none() {
        st.last = missing(inner, "subsegment");
    }
    (id, !id.is_none() && rec.is_sampled())
}

/// Keeps what a recording call did, for [`TraceContext::last_outcome`].
fn keep_outcome(st: &mut State, inner: &Inner, what: &'static str, out: Outcome) {
    st.last = match out {
        Outcome::NoEntity => missing(inner, what),
        out => Ok(out),
    };
}

/// Several recording calls on one handle's entity under one lock (a span's fields, say),
/// each doing what the handle's own call does. The lock is taken at the first call and
/// held until [`Held::release`] or drop: release it before running code that may record on
/// the same trace (a `Debug` impl), which would otherwise find it held and do nothing.
#[cfg(feature = "tracing")]
pub(crate) struct Held<'a> {
    ctx: &'a TraceContext,
    /// The entity recorded on: the handle's, or the one [`Held::begin_subsegment`] began.
    entity: EntityId,
    guard: Option<(crate::tracer::Locked<'a>, &'a Inner)>,
}

#[cfg(feature = "tracing")]
impl<'a> Held<'a> {
    /// The locked state, locking it first if needed; `None` as [`TraceContext::locked`].
    fn state(&mut self) -> Option<(&mut State, &'a Inner)> {
        if self.guard.is_none() {
            let ctx: &'a TraceContext = self.ctx;
            let Link::Recording(lease, _) = &ctx.link else {
                return None;
            };
            let inner = &*lease.tracer.inner;
            self.guard = Some((lease.entry.lock(&inner.counters)?, inner));
        }
        let (guard, inner) = self.guard.as_mut()?;
        if guard.broken {
            return None;
        }
        Some((&mut **guard, *inner))
    }

    /// Unlocks the recorder (the next call locks it again).
    pub(crate) fn release(&mut self) {
        self.guard = None;
    }

    /// Begins subsegment `name` of `parent` for a guard made by
    /// [`TraceContext::unbegun_child`], the recorder staying locked for the calls that follow
    /// (which record on it): its id, for [`Subsegment::set_begun`] once this is dropped, and
    /// whether it records. What [`TraceContext::subsegment_recording`] would answer.
    #[inline]
    pub(crate) fn begin_subsegment(&mut self, parent: EntityId, name: &str) -> (EntityId, bool) {
        if parent.is_none() {
            return (EntityId::NONE, false);
        }
        let begun = match self.state() {
            Some((st, inner)) => begin_child(st, inner, parent, name),
            None => (EntityId::NONE, false),
        };
        self.entity = begun.0;
        begun
    }

    /// [`TraceContext::with_recorder`].
    pub(crate) fn with_recorder<R>(
        &mut self,
        f: impl FnOnce(&mut PooledRecorder, EntityId) -> R,
    ) -> Option<R> {
        let entity = self.entity;
        self.state().map(|(st, _)| f(&mut st.rec, entity))
    }

    /// A recording call as [`TraceContext`]'s own (`what` names it for a missing context).
    fn record(&mut self, what: &'static str, f: impl FnOnce(&mut State, EntityId) -> Outcome) {
        let entity = self.entity;
        if entity.is_none() {
            return;
        }
        if let Some((st, inner)) = self.state() {
            let out = f(st, entity);
            keep_outcome(st, inner, what, out);
        }
    }

    /// [`TraceContext::metadata`].
    pub(crate) fn metadata<T: serde::Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        self.record("metadata", |st, id| {
            st.rec.add_metadata(id, "default", key, value)
        });
    }

    /// [`TraceContext::namespace`].
    pub(crate) fn namespace(&mut self, namespace: &str) {
        self.record("namespace", |st, id| st.rec.set_namespace(id, namespace));
    }

    /// [`TraceContext::fault`].
    pub(crate) fn fault(&mut self) {
        self.record("fault", |st, id| st.rec.set_fault(id));
    }
}

/// A subsegment that ends when this guard is dropped (or at [`Subsegment::end`]). It derefs
/// to the [`TraceContext`] of the subsegment: calls on it record there, and subsegments begun
/// from it nest under it. Made by [`TraceContext::subsegment`].
#[must_use = "the subsegment ends when this guard is dropped: bind it, `let _db = ctx.subsegment(..);`"]
#[derive(Debug)]
pub struct Subsegment {
    ctx: TraceContext,
}

impl Subsegment {
    /// A handle on this subsegment to pass on (to a task, or as the current request), which
    /// does not end it.
    pub fn context(&self) -> TraceContext {
        self.ctx.clone()
    }

    /// Ends the subsegment now (dropping the guard does the same).
    pub fn end(self) {
        drop(self);
    }

    /// Gives a guard made by [`TraceContext::unbegun_child`] the subsegment
    /// [`Held::begin_subsegment`] began for it.
    #[cfg(feature = "tracing")]
    pub(crate) fn set_begun(&mut self, id: EntityId) {
        if let Link::Recording(_, entity) = &mut self.ctx.link {
            *entity = id;
        }
    }
}

impl std::ops::Deref for Subsegment {
    type Target = TraceContext;

    fn deref(&self) -> &TraceContext {
        &self.ctx
    }
}

impl Drop for Subsegment {
    fn drop(&mut self) {
        self.ctx.end_quietly();
    }
}
