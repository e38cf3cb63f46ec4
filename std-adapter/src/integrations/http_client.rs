//! A `tower` layer that traces outgoing `http::Request`s (feature `tower`): wrap the client
//! service (hyper-util's `Client`, reqwest through tower, a tonic channel).
//!
//! Each call made inside a traced request gets a subsegment named after the URL's host, with
//! `namespace: "remote"`, `http.request` (method, URL; the core drops userinfo and the query),
//! `http.response` (status, content length) and the flags the status implies (4xx `error`,
//! 429 `throttle`, 5xx `fault`); a transport error is recorded as an exception with `fault`.
//! The request carries `X-Amzn-Trace-Id: Root=…;Parent=<the subsegment's id>;Sampled=<0|1>`
//! plus the incoming header's extra fields, and the same trace as W3C `traceparent` (with the
//! incoming `tracestate`), replacing any trace headers it had ([`super::propagation`]).
//!
//! The trace is found in the outgoing request's extensions (a [`TraceContext`] put there by
//! the caller) or, failing that, in [`TraceContext::current`] (inside a handler served
//! through [`XRayServerLayer`](super::http_server::XRayServerLayer)). Without one the call
//! goes through untouched. A request that got no recorder (the pool was at its maximum)
//! still has its incoming header passed on: same Root, the upstream Parent and Sampled.
//!
//! `traced` (the downstream service records its own segment, so X-Ray waits for it) is off
//! by default: turn it on with [`XRayClientLayer::traced`] when every callee is traced.
//!
//! The subsegment ends when the response *body* ends (its last frame read, or an error,
//! recorded with `fault`), so a streamed download is timed; if the caller drops the body
//! before its end, the subsegment ends then, with no flag (the call succeeded; the caller
//! stopped reading). A call whose future is dropped before the response gets `fault` and a
//! `Cancelled` exception. A gRPC status other than OK is recorded as on the server side (see
//! [`http_server`](super::http_server#grpc)), with `remote: true`. [`ResponseFuture`] and
//! [`ResponseBody`] are named types: no boxed future per call, no `Send` bound.
//!
//! With tonic, wrap the `Channel` (`ServiceBuilder::new().layer(XRayClientLayer::new())
//! .service(channel)`) and build the generated client `with_origin`: the channel adds the
//! host to the URI only below this layer, so without an origin the subsegment is named
//! `remote` and its URL is the path alone.
//!
//! ```
//! use tower_layer::Layer;
//! use xray_std::integrations::http_client::XRayClientLayer;
//!
//! # #[derive(Clone)] struct HttpClient;
//! # impl tower_service::Service<http::Request<String>> for HttpClient {
//! #     type Response = http::Response<String>;
//! #     type Error = std::convert::Infallible;
//! #     type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
//! #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> { std::task::Poll::Ready(Ok(())) }
//! #     fn call(&mut self, _: http::Request<String>) -> Self::Future { std::future::ready(Ok(http::Response::new(String::new()))) }
//! # }
//! // `HttpClient` stands for hyper-util's `Client::builder(TokioExecutor::new()).build_http()`.
//! let client = XRayClientLayer::new().layer(HttpClient);
//! # let _ = client;
//! ```

mod response_future;

use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;
use xray_core::model::HttpRequest;

pub use self::response_future::ResponseFuture;
use super::response_body::Open;
pub use super::response_body::ResponseBody;
use crate::context::{Subsegment, TraceContext, format_into};

/// A `tower` layer that traces outgoing HTTP calls. See the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct XRayClientLayer {
    traced: bool,
}

impl XRayClientLayer {
    /// A layer that records every call made inside a traced request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks every subsegment `traced: true`: the callee is itself traced (X-Ray then waits
    /// for a segment whose `parent_id` is the subsegment).
    pub fn traced(mut self, on: bool) -> Self {
        self.traced = on;
        self
    }
}

impl<S> Layer<S> for XRayClientLayer {
    type Service = XRayClient<S>;

    fn layer(&self, inner: S) -> XRayClient<S> {
        XRayClient {
            inner,
            traced: self.traced,
        }
    }
}

/// The service made by [`XRayClientLayer`].
#[derive(Clone, Debug)]
pub struct XRayClient<S> {
    inner: S,
    traced: bool,
}

impl<S> XRayClient<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            traced: false,
        }
    }
}

/// The URI as text, built from its parts without userinfo: the formatted text is cut to the
/// buffer, and a cut must never fall inside an authority (the core sanitizer would then see
/// a password as a host).
fn uri_without_userinfo<'b>(buf: &'b mut [u8], uri: &http::Uri) -> &'b str {
    let path = uri
        .path_and_query()
        .map_or("", http::uri::PathAndQuery::as_str);
    match (uri.scheme_str(), uri.host()) {
        (Some(scheme), Some(host)) => match uri.port_u16() {
            Some(port) => format_into(buf, format_args!("{scheme}://{host}:{port}{path}")),
            None => format_into(buf, format_args!("{scheme}://{host}{path}")),
        },
        _ => format_into(buf, format_args!("{path}")),
    }
}

/// Begins the subsegment for `req` under `ctx`, records its request and injects the header.
fn begin<B>(ctx: &TraceContext, req: &mut Request<B>, traced: bool) -> Subsegment {
    let name = req.uri().host().unwrap_or("remote");
    let sub = ctx.subsegment(name);
    // One lock for the three calls; in an unsampled trace, none of them (nor the URL).
    sub.record_sampled("http_request", |rec, id| {
        let mut url_buf = [0u8; 512];
        let url = uri_without_userinfo(&mut url_buf, req.uri());
        let _ = rec.set_namespace(id, "remote");
        let out = rec.set_http_request(
            id,
            &HttpRequest {
                method: Some(req.method().as_str()),
                url: Some(url),
                ..HttpRequest::default()
            },
        );
        if traced { rec.set_traced(id) } else { out }
    });
    inject_header(req.headers_mut(), &sub);
    sub
}

/// Sets the outgoing trace header for a call recorded by `sub` (its Parent is `sub`; without
/// a recorder, the incoming header as it came), replacing any the request had.
fn inject_header(headers: &mut HeaderMap, sub: &TraceContext) {
    // Both `X-Amzn-Trace-Id` and W3C `traceparent` (+ the incoming `tracestate`).
    if let Some(header) = sub.downstream_header() {
        super::propagation::inject(headers, &header, sub.tracestate());
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for XRayClient<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let ctx = req
            .extensions()
            .get::<TraceContext>()
            .cloned()
            .or_else(TraceContext::current);
        let Some(ctx) = ctx else {
            return ResponseFuture::new(self.inner.call(req), None);
        };
        let sub = begin(&ctx, &mut req, self.traced);
        ResponseFuture::new(self.inner.call(req), Some(Open::subsegment(sub)))
    }
}

#[cfg(test)]
mod tests {
    use super::uri_without_userinfo;

    fn formatted(uri: &str) -> String {
        let uri: http::Uri = uri.parse().unwrap();
        let mut buf = [0u8; 512];
        uri_without_userinfo(&mut buf, &uri).to_owned()
    }

    #[test]
    fn userinfo_never_reaches_the_formatted_url() {
        assert_eq!(
            formatted("https://user:secret@api.example.com:8443/v1?x=1"),
            "https://api.example.com:8443/v1?x=1"
        );
        assert_eq!(formatted("http://h.example"), "http://h.example/");
        assert_eq!(formatted("/p?q"), "/p?q");
        // A password longer than the buffer is not cut into what would look like a host.
        let long = formatted(&format!("https://user:{}@h.example/p", "s".repeat(600)));
        assert_eq!(long, "https://h.example/p");
    }
}
