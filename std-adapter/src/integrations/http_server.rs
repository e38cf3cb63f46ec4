//! A `tower` layer that traces every incoming `http::Request` (feature `tower`): works with
//! axum, hyper and tonic, which all serve `tower::Service<http::Request<B>>`.
//!
//! For each request [`XRayServer`]:
//!
//! 1. parses the incoming `X-Amzn-Trace-Id`, field by field: a malformed field is left out
//!    (logged at debug) and the others are kept, so a valid Root and `Sampled=1` survive a
//!    malformed Parent; without one (or as [`XRayServerLayer::propagation`] says), the W3C
//!    `traceparent` and `tracestate` ([`super::propagation`]);
//! 2. begins a segment through the [`Tracer`] (an upstream `Sampled=1`/`0` decides; otherwise
//!    the tracer's sampler, given the `Host`, the method and the URL path);
//! 3. records `http.request`: method, URL (scheme, host and path; the core drops userinfo and
//!    the query), `user_agent`, and `client_ip` — the first `X-Forwarded-For` entry with
//!    `x_forwarded_for: true`, else the peer address when a [`PeerAddr`] (or a
//!    [`std::net::SocketAddr`]) is in the request extensions, else nothing;
//! 4. runs the inner service with the request's [`TraceContext`] in the request extensions
//!    and as the current request ([`crate::current`]) while its future runs (when the pool
//!    has no recorder to spare, that handle still passes the incoming header on to the
//!    client layer, so downstream calls stay in the caller's trace);
//! 5. records `http.response` (`status`, and `content_length` from the `Content-Length`
//!    header or the body's exact size hint) and the flags the status implies (4xx `error`,
//!    429 `throttle`, 5xx `fault`); for gRPC (tonic), the `grpc-status` in the trailers (or
//!    in the headers of a trailers-only answer) as an exception and flags: see below;
//! 6. answers a request that said `Sampled=?` with `X-Amzn-Trace-Id: Root=…;Sampled=<0|1>`
//!    (the Python and Node behaviour; protocol digest 3.3);
//! 7. ends the segment when the response body ends, which sends it.
//!
//! In a handler, one line records on the request (Go: `xray.AddAnnotation(ctx, k, v)`):
//!
//! ```
//! async fn get_order() -> &'static str {
//!     xray_std::current::annotate("order_id", "o-123");
//!     let _db = xray_std::current::subsegment("orders-db"); // ends when dropped
//!     // ... query ...
//!     "ok"
//! }
//! # let _ = get_order;
//! ```
//!
//! # When the segment ends
//!
//! When the response *body* ends, so the time a streamed body takes is in the segment:
//!
//! - the body's last frame was taken (or it was empty): a plain end;
//! - the body yielded an error: an exception (its `Display`) with `fault`;
//! - the body was dropped before its end (the client went away mid-stream, or a layer
//!   outside stopped sending): an exception of type `BodyCutShort` with `error` — the service
//!   answered, the client gave up, as nginx's 499 says; the status recorded is the one sent;
//! - the inner service returned an error instead of a response: an exception with `fault`;
//! - the future was dropped before the response (the client went away, a timeout layer
//!   outside fired, the handler panicked): `fault` and an exception of type `Cancelled`, the
//!   request got no response from this service.
//!
//! [`ResponseFuture`] and [`ResponseBody`] are named types (no boxed future per request),
//! and the layer asks nothing more of the inner service than tower-http's `TraceLayer`: no
//! `Send`, no `'static` (a handler on a `LocalSet` is traced). The body's frames are polled
//! with the request as the current request, so a stream that records (a subsegment per
//! chunk) records on it.
//!
//! # gRPC
//!
//! gRPC answers HTTP 200 whatever happened. A `grpc-status` other than `0` is recorded as an
//! exception typed with the code's name (`NOT_FOUND`), its message the decoded
//! `grpc-message`, with the flag of the HTTP status gRPC maps the code to: `error` for the
//! caller's mistakes (`INVALID_ARGUMENT`, `NOT_FOUND`, `PERMISSION_DENIED`, `CANCELLED`, …),
//! `error` and `throttle` for `RESOURCE_EXHAUSTED`, `fault` for the service's (`INTERNAL`,
//! `UNAVAILABLE`, `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `DATA_LOSS`). With tonic:
//! `Server::builder().layer(XRayServerLayer::new(tracer))`.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tower_layer::Layer;
//! use xray_std::Tracer;
//! use xray_std::integrations::http_server::XRayServerLayer;
//!
//! # #[derive(Clone)] struct App;
//! # impl tower_service::Service<http::Request<String>> for App {
//! #     type Response = http::Response<String>;
//! #     type Error = std::convert::Infallible;
//! #     type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
//! #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> { std::task::Poll::Ready(Ok(())) }
//! #     fn call(&mut self, _: http::Request<String>) -> Self::Future { std::future::ready(Ok(http::Response::new(String::new()))) }
//! # }
//! let tracer = Tracer::builder("orders-api")
//!     .transport(Arc::new(Mutex::new(xray_std::core::NullTransport)))
//!     .build(); // Tracer::from_env("orders-api")?.build() in a real service
//! // With axum: `Router::new().route(...).layer(XRayServerLayer::new(tracer))`.
//! let service = XRayServerLayer::new(tracer).layer(App);
//! # let _ = service;
//! ```

mod response_future;

use std::net::SocketAddr;
use std::task::{Context, Poll};

use http::header::{CONTENT_LENGTH, HOST, USER_AGENT};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;
use xray_core::model::HttpRequest;
use xray_core::{SampledFlag, TraceHeader};

pub use self::response_future::ResponseFuture;
use super::header_names::{X_FORWARDED_FOR, X_FORWARDED_PROTO};
use super::propagation::{Incoming, Propagation};
use super::response_body::Open;
pub use super::response_body::ResponseBody;
use crate::context::{TraceContext, format_into};
use crate::sampling::SamplingRequest;
use crate::tracer::Tracer;

/// The client's address, for `http.request.client_ip` when the request has no
/// `X-Forwarded-For`. Insert it into the request extensions in your accept loop (hyper's
/// `service_fn`, or a `map_request` layer with axum's `ConnectInfo`); a bare
/// [`SocketAddr`] extension is used too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// A `tower` layer that traces incoming HTTP requests. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct XRayServerLayer {
    tracer: Tracer,
    propagation: Propagation,
}

impl XRayServerLayer {
    /// A layer recording with `tracer`.
    pub fn new(tracer: Tracer) -> Self {
        Self {
            tracer,
            propagation: Propagation::default(),
        }
    }

    /// Which incoming header continues the trace when a request has both `X-Amzn-Trace-Id`
    /// and `traceparent` (default [`Propagation::XRayFirst`]; see [`super::propagation`]).
    pub fn propagation(mut self, propagation: Propagation) -> Self {
        self.propagation = propagation;
        self
    }
}

impl<S> Layer<S> for XRayServerLayer {
    type Service = XRayServer<S>;

    fn layer(&self, inner: S) -> XRayServer<S> {
        XRayServer {
            tracer: self.tracer.clone(),
            propagation: self.propagation,
            inner,
        }
    }
}

/// The service made by [`XRayServerLayer`].
#[derive(Clone, Debug)]
pub struct XRayServer<S> {
    tracer: Tracer,
    propagation: Propagation,
    inner: S,
}

impl<S> XRayServer<S> {
    /// Wraps `inner`, recording with `tracer`.
    pub fn new(tracer: Tracer, inner: S) -> Self {
        Self {
            tracer,
            propagation: Propagation::default(),
            inner,
        }
    }
}

/// The incoming trace context: `X-Amzn-Trace-Id`, or W3C `traceparent`/`tracestate` as
/// `policy` says; fields that cannot be read are left out.
pub(crate) fn incoming_header(headers: &HeaderMap, policy: Propagation) -> Incoming {
    super::propagation::extract(headers, policy)
}

fn header_str(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The host (with port, if any) the request was sent to: the `Host` header, or the URI's
/// authority (HTTP/2).
fn request_host<B>(req: &Request<B>) -> Option<&str> {
    header_str(req.headers(), HOST)
        .or_else(|| req.uri().authority().map(http::uri::Authority::as_str))
}

/// The response's `content_length`: the header, or the body's exact size.
pub(crate) fn content_length<B: Body>(resp: &Response<B>) -> Option<u64> {
    header_str(resp.headers(), CONTENT_LENGTH)
        .and_then(|v| v.trim().parse().ok())
        .or_else(|| resp.body().size_hint().exact())
}

/// Begins the segment for `req` and records its `http.request` (if sampled).
fn begin<B>(
    tracer: &Tracer,
    req: &Request<B>,
    policy: Propagation,
) -> (TraceContext, Option<TraceHeader>) {
    let headers = req.headers();
    let incoming = incoming_header(headers, policy);
    let host = request_host(req);
    let method = req.method().as_str();
    let path = req.uri().path();
    let sampling = SamplingRequest::new(tracer.name()).with_http(host, Some(method), Some(path));
    // W3C: a mapped `traceparent`, counted if malformed; the handle keeps the `tracestate`.
    let ctx = incoming.begin(tracer, &sampling);
    let upstream = incoming.into_header();

    // An unsampled request (most of them) records nothing: the URL is not even put together.
    ctx.record_sampled("http_request", |rec, id| {
        let scheme = req
            .uri()
            .scheme_str()
            .or_else(|| header_str(headers, &X_FORWARDED_PROTO))
            .unwrap_or("http");
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or(path, http::uri::PathAndQuery::as_str);
        let mut url_buf = [0u8; 512];
        let url = format_into(
            &mut url_buf,
            format_args!("{scheme}://{}{path_and_query}", host.unwrap_or("")),
        );

        let forwarded = header_str(headers, &X_FORWARDED_FOR)
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let mut ip_buf = [0u8; 64];
        let peer = req
            .extensions()
            .get::<PeerAddr>()
            .map(|p| p.0)
            .or_else(|| req.extensions().get::<SocketAddr>().copied());
        let client_ip = match (forwarded, peer) {
            (Some(f), _) => Some(f),
            (None, Some(p)) => Some(format_into(&mut ip_buf, format_args!("{}", p.ip()))),
            (None, None) => None,
        };
        let request = HttpRequest {
            method: Some(method),
            url: Some(url),
            user_agent: header_str(headers, USER_AGENT),
            client_ip,
            x_forwarded_for: forwarded.is_some(),
        };
        rec.set_http_request(id, &request)
    });
    (ctx, upstream)
}

/// The response header for a request that said `Sampled=?`: `Root=…;Sampled=<decision>`.
fn sampling_response(ctx: &TraceContext, upstream: Option<&TraceHeader>) -> Option<HeaderValue> {
    let upstream = upstream?;
    // Only a request this service recorded has a decision to send back (one passed on
    // without a recorder leaves the question to the next service).
    if upstream.sampled() != SampledFlag::Requested || ctx.id().is_none() {
        return None;
    }
    let root = ctx.trace_id().or(upstream.root())?;
    let header = TraceHeader::with(root, None, SampledFlag::from_bool(ctx.is_sampled()));
    HeaderValue::from_str(&header.to_heapless()).ok()
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for XRayServer<S>
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
        let (ctx, upstream) = begin(&self.tracer, &req, self.propagation);
        let respond_with = sampling_response(&ctx, upstream.as_ref());
        req.extensions_mut().insert(ctx.clone());
        let inner = &mut self.inner;
        let fut = ctx.in_scope(|| inner.call(req));
        #[cfg(feature = "tracing")]
        let fut = tracing::Instrument::instrument(fut, super::log_correlation::span(&ctx));
        ResponseFuture::new(ctx.clone().scope(fut), Open::segment(ctx), respond_with)
    }
}
