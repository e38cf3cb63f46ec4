//! The header names the tower integrations read and write, made once. Looking a header up by
//! a `&str` makes `http` parse and check the name on every call (a few hundred instructions
//! each for these names); a `HeaderName` is hashed as it is.

use http::HeaderName;

/// `x-amzn-trace-id` ([`super::TRACE_HEADER`]).
pub(crate) const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static(super::TRACE_HEADER);
/// `traceparent` ([`super::propagation::TRACEPARENT`]).
pub(crate) const TRACEPARENT: HeaderName = HeaderName::from_static(super::propagation::TRACEPARENT);
/// `tracestate` ([`super::propagation::TRACESTATE`]).
pub(crate) const TRACESTATE: HeaderName = HeaderName::from_static(super::propagation::TRACESTATE);
/// `x-forwarded-for`.
pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `x-forwarded-proto`.
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `grpc-status`.
pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// `grpc-message`.
pub(crate) const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_ones_the_str_constants_spell() {
        assert_eq!(X_AMZN_TRACE_ID.as_str(), "x-amzn-trace-id");
        assert_eq!(TRACEPARENT.as_str(), "traceparent");
        assert_eq!(TRACESTATE.as_str(), "tracestate");
        // A map filled by `&str` names finds each under its constant.
        let mut headers = http::HeaderMap::new();
        for (i, name) in [
            "x-amzn-trace-id",
            "traceparent",
            "tracestate",
            "x-forwarded-for",
            "x-forwarded-proto",
            "grpc-status",
            "grpc-message",
        ]
        .into_iter()
        .enumerate()
        {
            headers.insert(name, http::HeaderValue::from(i));
        }
        for (i, name) in [
            X_AMZN_TRACE_ID,
            TRACEPARENT,
            TRACESTATE,
            X_FORWARDED_FOR,
            X_FORWARDED_PROTO,
            GRPC_STATUS,
            GRPC_MESSAGE,
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(
                headers.get(name),
                Some(&http::HeaderValue::from(i)),
                "{name}"
            );
        }
    }
}
