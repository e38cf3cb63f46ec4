//! Integrations with the Rust ecosystem, each behind its own cargo feature:
//!
//! | feature | module | what |
//! | --- | --- | --- |
//! | `tower` | `http_server` | a `tower` layer tracing every incoming `http::Request` (axum, hyper, tonic) |
//! | `tower` | `http_client` | a `tower` layer tracing outgoing `http::Request`s and propagating the header |
//! | `tower` | `propagation` | `X-Amzn-Trace-Id` and W3C `traceparent`/`tracestate`: read from a request, written on a downstream one |
//! | `tracing` | `log_correlation` | trace and segment ids on a `tracing` span |
//! | `aws-sdk` | `aws_sdk` | an AWS SDK for Rust interceptor: a subsegment per operation |
//!
//! They share the per-request handle, [`TraceContext`](crate::TraceContext). The server
//! layer makes it available to the handler in two ways: as a request extension, and as the
//! current request ([`crate::current`]) while the handler's future runs. The client layer
//! and the AWS SDK interceptor find it the same way.
//!
//! The core records with no heap allocation; these integrations allocate a little per request
//! (a boxed future), like the frameworks they plug into.

#[cfg(feature = "aws-sdk")]
pub mod aws_sdk;
#[cfg(feature = "tower")]
pub mod http_client;
#[cfg(feature = "tower")]
pub mod http_server;
#[cfg(feature = "tracing")]
pub mod log_correlation;
#[cfg(feature = "tower")]
pub mod propagation;
#[cfg(any(feature = "tower", feature = "aws-sdk"))]
mod scrub;

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
