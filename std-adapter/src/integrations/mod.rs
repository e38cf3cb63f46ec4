//! Integrations with the Rust ecosystem, each behind its own cargo feature:
//!
//! | feature | module | what |
//! | --- | --- | --- |
//! | `tower` | `http_server` | a `tower` layer tracing every incoming `http::Request` (axum, hyper, tonic) until its response body ends |
//! | `tower` | `http_client` | a `tower` layer tracing outgoing `http::Request`s until their response body ends, and propagating the header |
//! | `tower` | `propagation` | `X-Amzn-Trace-Id` and W3C `traceparent`/`tracestate`: read from a request, written on a downstream one |
//! | `tracing` | `tracing_layer` | a `tracing-subscriber` layer: spans become subsegments |
//! | `tracing` | `log_correlation` | trace and segment ids on a `tracing` span |
//! | `aws-sdk` | `aws_sdk` | an AWS SDK for Rust interceptor: a subsegment per operation |
//!
//! They share the per-request handle, [`TraceContext`](crate::TraceContext). The server
//! layer makes it available to the handler in two ways: as a request extension, and as the
//! current request ([`crate::current`]) while the handler's future runs. The client layer
//! and the AWS SDK interceptor find it the same way.
//!
//! The core records with no heap allocation. The tower layers box nothing: their futures and
//! response bodies are named types (`ResponseFuture`, `ResponseBody`) wrapping the inner
//! service's, as tower-http's are; what they allocate per request is the request
//! extension holding the handle (the `http` crate's extension map). The AWS SDK interceptor
//! keeps its per-operation state in the SDK's config bag, as the SDK's own interceptors do.

#[cfg(feature = "aws-sdk")]
pub mod aws_sdk;
#[cfg(feature = "tower")]
mod grpc_status;
#[cfg(feature = "tower")]
mod header_names;
#[cfg(feature = "tower")]
pub mod http_client;
#[cfg(feature = "tower")]
pub mod http_server;
#[cfg(feature = "tracing")]
pub mod log_correlation;
#[cfg(feature = "tower")]
pub mod propagation;
#[cfg(feature = "tower")]
mod response_body;
#[cfg(any(feature = "tower", feature = "aws-sdk"))]
mod scrub;
#[cfg(feature = "tracing")]
pub mod tracing_layer;

/// The name of the X-Ray trace header.
pub const TRACE_HEADER: &str = "x-amzn-trace-id";

/// Records a failure on `ctx`'s entity: an exception (type `type_name`, message from
/// `Display`, `remote` as given) and `fault`.
#[cfg(feature = "tower")]
pub(crate) fn record_fault(
    ctx: &crate::TraceContext,
    type_name: &str,
    message: &dyn std::fmt::Display,
    remote: bool,
) {
    let mut buf = [0u8; 1024];
    let message = crate::context::format_into(&mut buf, format_args!("{message}"));
    let mut clean = [0u8; 1024];
    let message = scrub::scrub_urls(message, &mut clean);
    ctx.exception(&xray_core::model::Exception {
        type_name: Some(type_name),
        message: Some(message),
        remote,
        ..Default::default()
    });
    ctx.fault();
}

#[cfg(test)]
mod tests {
    use crate::context::format_into;

    #[test]
    fn format_into_cuts_at_a_char_boundary() {
        let mut buf = [0u8; 5];
        assert_eq!(format_into(&mut buf, format_args!("ab{}", "éé")), "abé");
        let mut buf = [0u8; 16];
        assert_eq!(format_into(&mut buf, format_args!("{}-{}", 1, 2)), "1-2");
    }
}
