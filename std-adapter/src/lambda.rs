//! AWS Lambda with the `lambda_runtime` crate (feature `lambda`).
//!
//! Lambda writes the function's segment itself. Each invocation's trace header (from the
//! runtime's `Lambda-Runtime-Trace-Id`) names it: `Root` is the trace, `Parent` the function
//! segment, `Sampled` the decision. The SDK opens a *facade* for it ([`Tracer::begin_lambda`])
//! and every subsegment recorded under it is sent as an independent document with
//! `parent_id` = that Parent as soon as it closes. Nothing is sampled locally.
//!
//! The header is taken from [`Context::xray_trace_id`], one per invocation, and only from
//! there: under `AWS_LAMBDA_MAX_CONCURRENCY` the runtime does not set `_X_AMZN_TRACE_ID`, and
//! a value left in the process environment belongs to no invocation in particular. An
//! invocation without a header records nothing and has no ids. Each invocation borrows its
//! own recorder; [`tracer_from_env`] makes one per concurrent invocation
//! (`AWS_LAMBDA_MAX_CONCURRENCY`, 1 when unset), so invocations in flight at once never share
//! or mix a trace.
//!
//! The handler gets the invocation's [`TraceContext`], passed explicitly:
//!
//! ```no_run
//! use lambda_runtime::{Error, LambdaEvent};
//! use serde_json::Value;
//! use xray_std::{TraceContext, lambda};
//!
//! async fn handler(event: LambdaEvent<Value>, xray: TraceContext) -> Result<Value, Error> {
//!     let _db = xray.subsegment("orders-db"); // sent when dropped
//!     // ... call the database ...
//!     Ok(event.payload)
//! }
//!
//! # async fn run() -> Result<(), Error> {
//! let tracer = lambda::tracer_from_env()?;
//! lambda_runtime::run(lambda::service_fn(tracer, handler)).await
//! # }
//! # let _ = run;
//! ```
//!
//! or, around any handler service, as the current request ([`crate::current`]) with the
//! [`XRayLayer`] tower layer.

use std::future::Future;
use std::task::{Context as TaskContext, Poll};

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{Context, LambdaEvent};
use xray_core::TraceHeader;

use crate::config::{LAMBDA_FUNCTION_NAME_VAR, LAMBDA_TASK_ROOT_VAR};
use crate::context::TraceContext;
use crate::current::Scoped;
use crate::tracer::{BuildError, Tracer};

/// Whether this process runs in AWS Lambda (`LAMBDA_TASK_ROOT` or `AWS_LAMBDA_FUNCTION_NAME`
/// is set).
pub fn is_lambda() -> bool {
    std::env::var_os(LAMBDA_TASK_ROOT_VAR).is_some()
        || std::env::var_os(LAMBDA_FUNCTION_NAME_VAR).is_some()
}

/// The invocation's trace header, from [`Context::xray_trace_id`] (never from the process
/// environment). `None` when the invocation has none; fields that cannot be read are left
/// out ([`TraceHeader::malformed`]).
pub fn invocation_header(ctx: &Context) -> Option<TraceHeader> {
    ctx.xray_trace_id
        .as_deref()
        .and_then(|text| TraceHeader::parse(text).ok())
}

/// A Lambda-mode tracer from the environment (`AWS_XRAY_DAEMON_ADDRESS`,
/// `AWS_XRAY_SDK_DISABLED`, `AWS_XRAY_CONTEXT_MISSING`…), with one recorder per concurrent
/// invocation (`AWS_LAMBDA_MAX_CONCURRENCY`).
pub fn tracer_from_env() -> Result<Tracer, BuildError> {
    Tracer::from_env("lambda").map(|b| b.lambda(true).build())
}

/// Begins the trace of the invocation described by `ctx`.
pub fn begin(tracer: &Tracer, ctx: &Context) -> TraceContext {
    tracer.begin_lambda(invocation_header(ctx).as_ref())
}

/// A handler service that passes each invocation's [`TraceContext`] to `handler` (and makes
/// it the current request while the handler runs). Hand the result to `lambda_runtime::run`
/// (or `run_concurrent`).
pub fn service_fn<T, F, Fut, R, E>(tracer: Tracer, handler: F) -> ServiceFn<F>
where
    F: Fn(LambdaEvent<T>, TraceContext) -> Fut,
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
    F: Fn(LambdaEvent<T>, TraceContext) -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    type Response = R;
    type Error = E;
    type Future = Scoped<Fut>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let trace = begin(&self.tracer, &event.context);
        let fut = trace.in_scope(|| (self.handler)(event, trace.clone()));
        trace.scope(fut)
    }
}

/// A tower layer for Lambda handler services: each invocation gets a [`TraceContext`],
/// current ([`crate::current`]) while the handler's future runs.
///
/// ```no_run
/// use lambda_runtime::{service_fn, tower::Layer, Error, LambdaEvent};
/// use serde_json::Value;
/// use xray_std::lambda::XRayLayer;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     let _work = xray_std::current::subsegment("work");
///     Ok(event.payload)
/// }
///
/// # async fn run() -> Result<(), Error> {
/// let tracer = xray_std::lambda::tracer_from_env()?;
/// lambda_runtime::run(XRayLayer::new(tracer).layer(service_fn(handler))).await
/// # }
/// # let _ = run;
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
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Scoped<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let trace = begin(&self.tracer, &event.context);
        let fut = trace.in_scope(|| self.inner.call(event));
        trace.scope(fut)
    }
}
