//! AWS SDK for Rust (feature `aws-sdk`): an interceptor that records a subsegment per SDK
//! operation and propagates the trace header to AWS.
//!
//! Register [`XRayInterceptor`] on a client's config (`.interceptor(XRayInterceptor::new())`
//! on any `aws-sdk-*` config builder). Each operation called inside a traced request (see
//! [`TraceContext::current`]) gets a subsegment:
//!
//! - `name`: the service (`DynamoDB`, `STS`…, the SDK's service name), `namespace: "aws"`;
//! - `aws.operation` (`GetItem`), `aws.region` (from the SigV4 credential scope of the signed
//!   request, so it is right with custom endpoints too), `aws.request_id` (the response's
//!   `x-amzn-requestid`, `x-amz-request-id` or `x-amz-id-2`'s companion), `aws.id_2` (S3),
//!   `aws.retries` (attempts − 1);
//! - `http.response` status and content length, with the flags the status implies (4xx
//!   `error`, 429 `throttle`, 5xx `fault`);
//! - an exception when the operation failed: `remote: true` for an error the service sent;
//!   a failure with no response (connection, timeout) also sets `fault`.
//!
//! Every attempt carries `X-Amzn-Trace-Id: Root=…;Parent=<the subsegment>;Sampled=<0|1>`
//! (with the incoming header's extra fields), replacing the one the SDK's recursion
//! detection may have set from `_X_AMZN_TRACE_ID`. The header is not part of the SigV4
//! signature, so setting it after signing is safe.
//!
//! The subsegment ends when the operation completes, or, if the operation's future is
//! dropped first, when the operation's state is dropped with it.
//!
//! ```
//! use xray_std::integrations::aws_sdk::XRayInterceptor;
//! // let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config)
//! //     .interceptor(XRayInterceptor::new())
//! //     .build();
//! let interceptor = XRayInterceptor::new();
//! # let _ = interceptor;
//! ```

use std::sync::Mutex;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use xray_core::model::{Aws, Exception, HttpResponse};

use super::TRACE_HEADER;
use crate::context::{Subsegment, TraceContext, format_into};

/// An AWS SDK interceptor recording a subsegment per operation. See the
/// [module docs](self).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct XRayInterceptor {}

impl XRayInterceptor {
    /// A new interceptor (it keeps no state between operations).
    pub fn new() -> Self {
        Self {}
    }
}

/// Per-operation state, kept in the operation's config bag.
#[derive(Debug)]
struct OperationTrace {
    sub: Subsegment,
    attempts: Mutex<u32>,
}

impl Storable for OperationTrace {
    type Storer = StoreReplace<Self>;
}

/// An error and its sources (at most 5 levels), joined with `": "`.
struct Chain<'e>(&'e (dyn std::error::Error + 'e));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        for _ in 0..5 {
            let Some(e) = next else { break };
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

/// The region from a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20240101/us-east-1/dynamodb/aws4_request`).
fn sigv4_region(authorization: &str) -> Option<&str> {
    let scope = authorization.split("Credential=").nth(1)?;
    let scope = scope.split([',', ' ']).next()?;
    let mut parts = scope.split('/');
    let region = parts.nth(2)?;
    (!region.is_empty() && region.len() <= 64).then_some(region)
}

impl Intercept for XRayInterceptor {
    fn name(&self) -> &'static str {
        "XRayInterceptor"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(ctx) = TraceContext::current() else {
            return Ok(());
        };
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("aws", None), |m| (m.service(), Some(m.name())));
        let sub = ctx.subsegment(service);
        let _ = operation; // recorded with the rest of `aws` when the operation completes
        sub.namespace("aws");
        cfg.interceptor_state().store_put(OperationTrace {
            sub,
            attempts: Mutex::new(0),
        });
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(op) = cfg.load::<OperationTrace>() else {
            return Ok(());
        };
        if let Ok(mut n) = op.attempts.lock() {
            *n = n.saturating_add(1);
        }
        let header = op.sub.downstream_header();
        if let Some(h) = header {
            let value = h.to_heapless();
            let _ = context
                .request_mut()
                .headers_mut()
                .try_insert(TRACE_HEADER, value.as_str().to_owned());
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(op) = cfg.load::<OperationTrace>() else {
            return Ok(());
        };
        let sub = &op.sub;
        let attempts = op.attempts.lock().map_or(1, |n| *n);
        let region = context
            .request()
            .and_then(|r| r.headers().get("authorization"))
            .and_then(sigv4_region);
        let response = context.response();
        let header = |name: &str| response.and_then(|r| r.headers().get(name));
        let request_id = header("x-amzn-requestid").or_else(|| header("x-amz-request-id"));
        let aws = Aws {
            operation: cfg.load::<Metadata>().map(Metadata::name),
            region,
            request_id,
            id_2: header("x-amz-id-2"),
            retries: Some(attempts.saturating_sub(1)),
            ..Aws::default()
        };
        let http = response.map(|r| HttpResponse {
            status: Some(r.status().as_u16()),
            content_length: header("content-length").and_then(|v| v.trim().parse().ok()),
        });
        let mut buf = [0u8; 1024];
        let failure = match context.output_or_error() {
            Some(Err(e)) => {
                let message = match e.as_operation_error() {
                    Some(op_err) => format_into(&mut buf, format_args!("{op_err}")),
                    None => format_into(&mut buf, format_args!("{}", Chain(e))),
                };
                Some(message)
            }
            _ => None,
        };
        sub.aws(&aws);
        if let Some(http) = &http {
            sub.http_response(http);
        }
        if let Some(message) = failure {
            sub.exception(&Exception {
                type_name: Some(if response.is_some() {
                    "ServiceError"
                } else {
                    "SdkError"
                }),
                message: Some(message),
                remote: response.is_some(),
                ..Exception::default()
            });
            if response.is_none() {
                sub.fault();
            }
        }
        TraceContext::end(sub);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::sigv4_region;

    #[test]
    fn region_from_the_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-3/sts/aws4_request, \
                    SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(sigv4_region(auth), Some("eu-west-3"));
        assert_eq!(sigv4_region("Bearer token"), None);
        assert_eq!(sigv4_region("Credential=AKID"), None);
        assert_eq!(sigv4_region("Credential=a//"), None);
    }
}
