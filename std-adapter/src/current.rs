//! The request being served on this thread or task, and one-line calls on it.
//!
//! Inside a handler served through the tower server layer or the Lambda wrappers (or any
//! code run with [`TraceContext::scope`] / [`TraceContext::in_scope`]), these record on the
//! request's handle without passing it around, as Go's `xray.AddAnnotation(ctx, k, v)` does:
//!
//! ```
//! # use std::sync::{Arc, Mutex};
//! # let tracer = xray_std::Tracer::builder("svc")
//! #     .transport(Arc::new(Mutex::new(xray_std::core::NullTransport)))
//! #     .build();
//! fn charge(amount: u64) {
//!     xray_std::current::annotate("amount", amount as i64);
//!     let _call = xray_std::current::subsegment("payments-api"); // ends when dropped
//!     // ... call the payments API ...
//! }
//!
//! let ctx = tracer.begin(None);
//! ctx.in_scope(|| charge(42));
//! ```
//!
//! Outside a request they do nothing. The handle is kept in a thread-local slot that
//! [`Scoped`] fills only while its future is polled (as `tracing`'s `Instrumented` does), so
//! it works with any executor and follows a future from thread to thread. A task spawned from
//! a handler does not inherit it (as with `tracing` spans): hand it the handle, as
//! `tokio::spawn(ctx.clone().scope(task))`.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use xray_core::model::AnnotationValue;
use xray_core::{TraceHeader, TraceId};

use crate::context::{Subsegment, TraceContext};

thread_local! {
    static CURRENT: RefCell<Option<TraceContext>> = const { RefCell::new(None) };
}

/// Swaps `slot` with the thread's current handle (never while a borrow is held: every borrow
/// of `CURRENT` in this module ends before user code runs, `with_current`'s once its call
/// into the recorder returns).
fn swap(slot: &mut Option<TraceContext>) {
    let _ = CURRENT.try_with(|c| {
        if let Ok(mut cur) = c.try_borrow_mut() {
            std::mem::swap(&mut *cur, slot);
        }
    });
}

/// Makes a handle current until dropped, then puts the previous one back (also when
/// unwinding).
struct Entered<'a> {
    slot: &'a mut Option<TraceContext>,
}

impl<'a> Entered<'a> {
    fn new(slot: &'a mut Option<TraceContext>) -> Self {
        swap(slot);
        Entered { slot }
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        swap(self.slot);
    }
}

/// The current handle (a clone), if any.
pub(crate) fn get() -> Option<TraceContext> {
    CURRENT
        .try_with(|c| c.try_borrow().ok().and_then(|c| c.clone()))
        .ok()
        .flatten()
}

/// Whether there is a current handle.
#[cfg(feature = "tracing")]
pub(crate) fn is_set() -> bool {
    CURRENT
        .try_with(|c| c.try_borrow().is_ok_and(|c| c.is_some()))
        .unwrap_or(false)
}

/// Runs `f` on the current handle, borrowed (no clone); `None` outside a request. The slot
/// stays borrowed while `f` runs, so `f` must not run user code (a scope entered meanwhile
/// would find the slot borrowed and leave it as it is): the tracing layer begins a
/// subsegment in it, which calls nothing but the recorder, the clock and (for a parent that
/// has ended) the logger.
#[cfg(feature = "tracing")]
pub(crate) fn with_current<R>(f: impl FnOnce(&TraceContext) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| c.try_borrow().ok().and_then(|c| c.as_ref().map(f)))
        .ok()
        .flatten()
}

pub(crate) fn in_scope<R>(ctx: TraceContext, f: impl FnOnce() -> R) -> R {
    let mut slot = Some(ctx);
    let _entered = Entered::new(&mut slot);
    f()
}

pin_project_lite::pin_project! {
    /// A future run with a [`TraceContext`] as the current request: made by
    /// [`TraceContext::scope`].
    #[derive(Debug)]
    pub struct Scoped<F> {
        ctx: Option<TraceContext>,
        #[pin]
        inner: F,
    }
}

impl<F> Scoped<F> {
    pub(crate) fn new(ctx: TraceContext, inner: F) -> Self {
        Scoped {
            ctx: Some(ctx),
            inner,
        }
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = Entered::new(this.ctx);
        this.inner.poll(cx)
    }
}

/// Runs `f` on the current request's handle; `None` outside a request.
pub fn with<R>(f: impl FnOnce(&TraceContext) -> R) -> Option<R> {
    get().map(|ctx| f(&ctx))
}

/// Adds an annotation to the current request's entity (see [`TraceContext::annotate`]).
pub fn annotate<'v>(key: &str, value: impl Into<AnnotationValue<'v>>) {
    with(|ctx| ctx.annotate(key, value));
}

/// Adds metadata in the `default` namespace (see [`TraceContext::metadata`]).
pub fn metadata<T: serde::Serialize + ?Sized>(key: &str, value: &T) {
    with(|ctx| ctx.metadata(key, value));
}

/// Records an error as an exception and sets `fault` (see [`TraceContext::error`]).
pub fn error(error: impl std::fmt::Display) {
    with(|ctx| ctx.error(error));
}

/// Begins a subsegment of the current request's entity, ended when the guard drops (a guard
/// that does nothing outside a request).
pub fn subsegment(name: &str) -> Subsegment {
    get().unwrap_or_else(TraceContext::none).subsegment(name)
}

/// The current request's trace id, for logs.
pub fn trace_id() -> Option<TraceId> {
    with(TraceContext::trace_id).flatten()
}

/// The `X-Amzn-Trace-Id` for a call made from the current request.
pub fn downstream_header() -> Option<TraceHeader> {
    with(TraceContext::downstream_header).flatten()
}
