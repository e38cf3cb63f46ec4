//! The future of a traced call: the inner client's future, then the response recorded and its
//! body wrapped to end the subsegment.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use http_body::Body;
use xray_core::model::HttpResponse;

use crate::integrations::http_server::content_length;
use crate::integrations::record_fault;
use crate::integrations::response_body::{Open, ResponseBody};

pin_project_lite::pin_project! {
    /// The future of [`XRayClient`](super::XRayClient): the inner client's future; when it
    /// resolves, the response is recorded and its body becomes a [`ResponseBody`] that ends
    /// the call's subsegment. Dropped before that, it ends the subsegment as cancelled. A call
    /// made outside a traced request passes through untouched. No allocation.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        open: Option<Open>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, open: Option<Open>) -> Self {
        Self { inner, open }
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
            Ok(resp) => {
                if let Some(open) = &open {
                    open.ctx().http_response(&HttpResponse {
                        status: Some(resp.status().as_u16()),
                        content_length: content_length(&resp),
                    });
                    open.grpc_status(resp.headers());
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
