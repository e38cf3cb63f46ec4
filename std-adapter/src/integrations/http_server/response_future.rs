//! The future of a traced request: the inner service's future, run as the current request,
//! then the response recorded and its body wrapped to end the segment.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Response};
use http_body::Body;
use xray_core::model::HttpResponse;

use super::content_length;
use crate::current::Scoped;
use crate::integrations::header_names::X_AMZN_TRACE_ID;
use crate::integrations::record_fault;
use crate::integrations::response_body::{Open, ResponseBody};

/// The inner future inside the request's `tracing` span (feature `tracing`), for log
/// correlation.
#[cfg(feature = "tracing")]
pub(super) type Traced<F> = tracing::instrument::Instrumented<F>;
/// The inner future (without the `tracing` feature there is no span to enter).
#[cfg(not(feature = "tracing"))]
pub(super) type Traced<F> = F;

pin_project_lite::pin_project! {
    /// The future of [`XRayServer`](super::XRayServer): the inner service's future, polled
    /// with the request as [`TraceContext::current`](crate::TraceContext::current); when it
    /// resolves, the response is recorded and its body becomes a [`ResponseBody`] that ends
    /// the segment. Dropped before that, it ends the segment as cancelled. No allocation;
    /// `Send` when the inner future is.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Scoped<Traced<F>>,
        open: Option<Open>,
        respond_with: Option<HeaderValue>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(
        inner: Scoped<Traced<F>>,
        open: Open,
        respond_with: Option<HeaderValue>,
    ) -> Self {
        Self {
            inner,
            open: Some(open),
            respond_with,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    E: Display,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        let open = this.open.take();
        Poll::Ready(match out {
            Ok(mut resp) => {
                if let Some(open) = &open {
                    open.ctx().http_response(&HttpResponse {
                        status: Some(resp.status().as_u16()),
                        content_length: content_length(&resp),
                    });
                    // A trailers-only gRPC answer (an error before any message).
                    open.grpc_status(resp.headers());
                }
                if let Some(value) = this.respond_with.take() {
                    resp.headers_mut().insert(X_AMZN_TRACE_ID, value);
                }
                Ok(resp.map(|body| ResponseBody::new(body, open)))
            }
            Err(e) => {
                if let Some(open) = open {
                    record_fault(open.ctx(), "Error", &e, false);
                    open.finish();
                }
                Err(e)
            }
        })
    }
}
