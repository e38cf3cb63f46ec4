//! AWS Lambda with the `lambda_runtime` crate (feature `lambda`).
//!
//! Lambda writes the function's segment itself. Each invocation's trace header (from the
//! runtime's `Lambda-Runtime-Trace-Id`) names it: `Root` is the trace, `Parent` the function
//! segment, `Sampled` the decision. The SDK opens a *facade* for it ([`Tracer::begin_lambda`])
//! and every subsegment recorded under it is sent as an independent document with
//! `parent_id` = that Parent as soon as it closes. Nothing is sampled locally.
//!
//! The header is taken from [`Context::xray_trace_id`] (one per invocation, also under
//! `AWS_LAMBDA_MAX_CONCURRENCY` where the runtime no longer sets `_X_AMZN_TRACE_ID`); the
//! environment variable is only a fallback. Each invocation borrows its own recorder from the
//! tracer's pool, so invocations in flight at once never share or mix a trace.
//!
//! One line gives a handler its per-invocation context, passed explicitly:
//!
//! ```no_run
//! use lambda_runtime::{Error, LambdaEvent};
//! use serde_json::Value;
//! use xray_std::lambda::{self, LambdaTrace};
//!
//! async fn handler(event: LambdaEvent<Value>, xray: LambdaTrace) -> Result<Value, Error> {
//!     let db = xray.subsegment("orders-db");
//!     // ... call the database ...
//!     xray.end(db);
//!     Ok(event.payload)
//! }
//!
//! # async fn run() -> Result<(), Error> {
//! let tracer = lambda::tracer_from_env()?;
//! lambda_runtime::run(lambda::service_fn(tracer, handler)).await
//! # }
//! ```
//!
//! or, around any handler service, through a task-local ([`LambdaTrace::current`]) with the
//! [`XRayLayer`] tower layer.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{Context, LambdaEvent};
use xray_core::{EntityId, Outcome, TraceHeader, TraceId};

use crate::config::{LAMBDA_FUNCTION_NAME_VAR, LAMBDA_TASK_ROOT_VAR, LAMBDA_TRACE_ID_VAR};
use crate::tracer::{Trace, TraceError, Tracer};

/// Whether this process runs in AWS Lambda (`LAMBDA_TASK_ROOT` or `AWS_LAMBDA_FUNCTION_NAME`
/// is set).
pub fn is_lambda() -> bool {
    std::env::var_os(LAMBDA_TASK_ROOT_VAR).is_some()
        || std::env::var_os(LAMBDA_FUNCTION_NAME_VAR).is_some()
}

/// The invocation's trace header: [`Context::xray_trace_id`] first, `_X_AMZN_TRACE_ID` only
/// when the context has none. `None` when neither holds a parsable header.
pub fn invocation_header(ctx: &Context) -> Option<TraceHeader> {
    match ctx.xray_trace_id.as_deref() {
        Some(text) => TraceHeader::parse(text).ok(),
        None => std::env::var(LAMBDA_TRACE_ID_VAR)
            .ok()
            .and_then(|v| TraceHeader::parse(&v).ok()),
    }
}

/// A Lambda-mode tracer from the environment (`AWS_XRAY_DAEMON_ADDRESS`,
/// `AWS_XRAY_SDK_DISABLED`, `AWS_XRAY_CONTEXT_MISSING`…), named after the function.
pub fn tracer_from_env() -> Result<Tracer, crate::tracer::BuildError> {
    Tracer::from_env("lambda").map(|b| b.lambda(true).build())
}

/// One invocation's trace, shared by the handler and the code it calls (cheap to clone).
///
/// The facade ([`LambdaTrace::facade`]) stands for Lambda's function segment: annotate and
/// record on subsegments, not on it. Once the invocation ends every call is a no-op.
#[derive(Clone, Debug)]
pub struct LambdaTrace {
    trace: Arc<Mutex<Option<Trace>>>,
    facade: EntityId,
    trace_id: Option<TraceId>,
}

tokio::task_local! {
    static CURRENT: LambdaTrace;
}

impl LambdaTrace {
    /// Begins the trace of the invocation described by `ctx`.
    pub fn begin(tracer: &Tracer, ctx: &Context) -> LambdaTrace {
        let header = invocation_header(ctx).unwrap_or_default();
        let trace = tracer.begin_lambda(&header);
        LambdaTrace {
            facade: trace.segment(),
            trace_id: trace.trace_id(),
            trace: Arc::new(Mutex::new(Some(trace))),
        }
    }

    /// The invocation trace of the running task, inside a handler wrapped by [`XRayLayer`]
    /// (or [`service_fn`]). `None` elsewhere.
    pub fn current() -> Option<LambdaTrace> {
        CURRENT.try_with(LambdaTrace::clone).ok()
    }

    /// The facade (Lambda's function segment): the parent of top-level subsegments.
    pub fn facade(&self) -> EntityId {
        self.facade
    }

    /// The invocation's trace id (`Root`), for logs.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.trace_id
    }

    /// The shared trace (for [`crate::integrations::TraceContext::current`]).
    #[cfg(any(feature = "tower", feature = "tracing", feature = "aws-sdk"))]
    pub(crate) fn shared(&self) -> &Arc<Mutex<Option<Trace>>> {
        &self.trace
    }

    /// Runs `f` on the invocation's [`Trace`]; `None` once the invocation has ended.
    pub fn with<R>(&self, f: impl FnOnce(&mut Trace) -> R) -> Option<R> {
        let mut guard = self.trace.lock().unwrap_or_else(PoisonError::into_inner);
        guard.as_mut().map(f)
    }

    /// Begins a subsegment under the facade ([`EntityId::NONE`] when not recording).
    pub fn subsegment(&self, name: &str) -> EntityId {
        self.with(|t| t.begin_subsegment(self.facade, name))
            .and_then(Result::ok)
            .unwrap_or(EntityId::NONE)
    }

    /// Begins a subsegment under `parent`.
    pub fn begin_subsegment(&self, parent: EntityId, name: &str) -> Result<EntityId, TraceError> {
        self.with(|t| t.begin_subsegment(parent, name))
            .unwrap_or(Ok(EntityId::NONE))
    }

    /// Ends a subsegment, which sends it.
    pub fn end(&self, id: EntityId) -> Result<Outcome, TraceError> {
        self.with(|t| t.end(id)).unwrap_or(Ok(Outcome::NoEntity))
    }

    /// The `X-Amzn-Trace-Id` header for a call made from `id`.
    pub fn downstream_header(&self, id: EntityId) -> Option<TraceHeader> {
        self.with(|t| t.downstream_header(id)).flatten()
    }

    /// Ends what is still open and returns the recorder to the pool. Called by the wrappers
    /// when the handler returns; later calls are no-ops.
    pub fn finish(&self) {
        let trace = self
            .trace
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(trace);
    }
}

/// A handler service that passes each invocation's [`LambdaTrace`] to `handler` and finishes
/// it when the handler's future completes. Hand the result to `lambda_runtime::run` (or
/// `run_concurrent`).
pub fn service_fn<T, F, Fut, R, E>(tracer: Tracer, handler: F) -> ServiceFn<F>
where
    F: Fn(LambdaEvent<T>, LambdaTrace) -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    ServiceFn { tracer, handler }
}

/// The service made by [`service_fn`].
#[derive(Clone, Debug)]
pub struct ServiceFn<F> {
    tracer: Tracer,
    handler: F,
}

impl<T, F, Fut, R, E> Service<LambdaEvent<T>> for ServiceFn<F>
where
    F: Fn(LambdaEvent<T>, LambdaTrace) -> Fut,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
{
    type Response = R;
    type Error = E;
    type Future = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let trace = LambdaTrace::begin(&self.tracer, &event.context);
        let fut = (self.handler)(event, trace.clone());
        Box::pin(async move {
            let out = CURRENT.scope(trace.clone(), fut).await;
            trace.finish();
            out
        })
    }
}

/// A tower layer for Lambda handler services: each invocation gets a [`LambdaTrace`],
/// available to the handler through [`LambdaTrace::current`], finished when the handler's
/// future completes.
///
/// ```no_run
/// use lambda_runtime::{service_fn, tower::Layer, Error, LambdaEvent};
/// use serde_json::Value;
/// use xray_std::lambda::{LambdaTrace, XRayLayer};
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     if let Some(xray) = LambdaTrace::current() {
///         let s = xray.subsegment("work");
///         let _ = xray.end(s);
///     }
///     Ok(event.payload)
/// }
///
/// # async fn run() -> Result<(), Error> {
/// let tracer = xray_std::lambda::tracer_from_env()?;
/// lambda_runtime::run(XRayLayer::new(tracer).layer(service_fn(handler))).await
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct XRayLayer {
    tracer: Tracer,
}

impl XRayLayer {
    /// A layer recording with `tracer` (build it in Lambda mode).
    pub fn new(tracer: Tracer) -> Self {
        Self { tracer }
    }
}

impl<S> Layer<S> for XRayLayer {
    type Service = XRayService<S>;

    fn layer(&self, inner: S) -> XRayService<S> {
        XRayService {
            tracer: self.tracer.clone(),
            inner,
        }
    }
}

/// The service made by [`XRayLayer`].
#[derive(Clone, Debug)]
pub struct XRayService<S> {
    tracer: Tracer,
    inner: S,
}

impl<S, T> Service<LambdaEvent<T>> for XRayService<S>
where
    S: Service<LambdaEvent<T>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let trace = LambdaTrace::begin(&self.tracer, &event.context);
        let fut = self.inner.call(event);
        Box::pin(async move {
            let out = CURRENT.scope(trace.clone(), fut).await;
            trace.finish();
            out
        })
    }
}
