//! AWS SDK for Rust (feature `aws-sdk`): an interceptor that records a subsegment per SDK
//! operation and propagates the trace header to AWS.
//!
//! Register [`XRayInterceptor`] on a client's config (`.interceptor(XRayInterceptor::new())`
//! on any `aws-sdk-*` config builder), or on one call
//! (`.customize().interceptor(XRayInterceptor::new())`); both record the same. Each
//! operation called inside a traced request (see [`TraceContext::current`]) gets a
//! subsegment:
//!
//! - `name`: the SDK's service id (`DynamoDB`, `S3`, `SQS`, `SNS`, `Lambda`, `Kinesis`…),
//!   `namespace: "aws"`;
//! - `aws.operation` (`GetItem`), `aws.region` (the client's region, or the SigV4 credential
//!   scope of the signed request when the config has none), `aws.request_id` (the response's
//!   `x-amzn-requestid` or `x-amz-request-id`), `aws.id_2` (S3), `aws.retries` (attempts − 1);
//! - the operation's request and response parameters that the official X-Ray SDKs record
//!   (`table_name`, `queue_url`, `message_id`, `bucket_name`, `key`, `item_count`…), from the
//!   table in `parameters.rs`, read from the HTTP request and response: JSON bodies, form
//!   bodies, headers, the URI. Only bodies the SDK holds in memory are read, up to 1 MiB; a
//!   streaming body (an S3 object) is never touched;
//! - `http.response` status and content length, with the flags the status implies (4xx
//!   `error`, 429 `throttle`, 5xx `fault`), and `throttle` for a throttling error code
//!   (`ThrottlingException`, `ProvisionedThroughputExceededException`, `SlowDown`…);
//! - an exception when the operation failed: its type is the service's error code
//!   (`ResourceNotFoundException`, `NoSuchBucket`; the status text, `NotFound`, when the
//!   response names none), `remote: true` for an error the service sent; a failure with no
//!   response (connection, timeout) is an `SdkError` and sets `fault`.
//!
//! Every attempt carries `X-Amzn-Trace-Id: Root=…;Parent=<the subsegment>;Sampled=<0|1>`
//! (with the incoming header's extra fields), replacing the one the SDK's recursion
//! detection may have set from `_X_AMZN_TRACE_ID`. The header is not part of the SigV4
//! signature, so setting it after signing is safe.
//!
//! In an unsampled trace the interceptor only passes that header on (with `Sampled=0`): it
//! reads nothing from the request or the response, whose bodies it would otherwise parse for
//! the parameters above.
//!
//! The subsegment begins when the operation's input is about to be serialized (the first
//! hook that sees the operation's name whichever way the interceptor is registered) and ends
//! when the operation completes, or, if the operation's future is dropped first, when the
//! operation's state is dropped with it.
//!
//! ```
//! use xray_std::integrations::aws_sdk::XRayInterceptor;
//! // let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config)
//! //     .interceptor(XRayInterceptor::new())
//! //     .build();
//! let interceptor = XRayInterceptor::new();
//! # let _ = interceptor;
//! ```

mod extract;
mod parameters;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_types::region::Region;
use xray_core::model::{Aws, AwsParam, Exception, HttpResponse};

use self::extract::Recorded;
use super::TRACE_HEADER;
use crate::context::{Subsegment, TraceContext, format_into};

/// An AWS SDK interceptor recording a subsegment per operation. See the
/// [module docs](self).
#[derive(Debug)]
#[non_exhaustive]
pub struct XRayInterceptor {
    /// Tells this interceptor's operations from another's when both are registered (on the
    /// client and on the call): the one that began the subsegment records it, once.
    id: u64,
}

impl XRayInterceptor {
    /// A new interceptor (it keeps no state between operations).
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The operation's state, if this interceptor began its subsegment.
    fn operation<'c>(&self, cfg: &'c ConfigBag) -> Option<&'c OperationTrace> {
        let op = cfg.load::<OperationTrace>();
        op.filter(|op| op.owner == self.id)
    }
}

impl Default for XRayInterceptor {
    fn default() -> Self {
        Self::new()
    }
}

/// Per-operation state, kept in the operation's config bag.
#[derive(Debug)]
struct OperationTrace {
    owner: u64,
    sub: Subsegment,
    /// Whether the subsegment records (a sampled trace): an unsampled one only passes the
    /// trace header on, and nothing is read from the request or the response for it.
    recording: bool,
    table: Option<&'static parameters::Operation>,
    attempts: Mutex<Attempts>,
}

/// What the attempts saw of the request (the orchestrator drops it before the end).
#[derive(Debug, Default)]
struct Attempts {
    count: u32,
    /// The request's parameters, read at the first attempt.
    params: Vec<(&'static str, Recorded)>,
    /// The region of the request's SigV4 credential scope.
    signed_region: Option<String>,
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

/// The recorded parameters as the core's `aws` members: `table_name`, `queue_url` and
/// `bucket_name` are fields of [`Aws`], the rest go to `params`.
fn fill<'a>(
    aws: &mut Aws<'a>,
    recorded: &'a [(&'static str, Recorded)],
) -> Vec<(&'a str, AwsParam<'a>)> {
    let mut params = Vec::with_capacity(recorded.len());
    for (key, value) in recorded {
        let field = match *key {
            "table_name" => Some(&mut aws.table_name),
            "queue_url" => Some(&mut aws.queue_url),
            "bucket_name" => Some(&mut aws.bucket_name),
            _ => None,
        };
        match (field, value) {
            (Some(field), Recorded::Str(s)) => *field = Some(s),
            (Some(_), _) => {}
            (None, Recorded::Str(s)) => params.push((*key, AwsParam::Str(s))),
            (None, Recorded::Count(n)) => params.push((*key, AwsParam::Count(*n))),
            (None, Recorded::Json(j)) => params.push((*key, AwsParam::Json(j))),
        }
    }
    params
}

impl Intercept for XRayInterceptor {
    fn name(&self) -> &'static str {
        "XRayInterceptor"
    }

    // Not `read_before_execution`: for an interceptor on the client's config it runs before
    // the operation's runtime plugin has stored the operation's `Metadata`.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(ctx) = TraceContext::current() else {
            return Ok(());
        };
        if cfg.load::<OperationTrace>().is_some() {
            return Ok(()); // registered twice (client and operation): one subsegment
        }
        let metadata = cfg.load::<Metadata>();
        let (sub, recording) = ctx.subsegment_recording(metadata.map_or("aws", Metadata::service));
        if recording {
            sub.namespace("aws");
        }
        let table = metadata.and_then(|m| parameters::lookup(m.service(), m.name()));
        cfg.interceptor_state().store_put(OperationTrace {
            owner: self.id,
            sub,
            recording,
            table,
            attempts: Mutex::new(Attempts::default()),
        });
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(op) = self.operation(cfg) else {
            return Ok(());
        };
        let request = context.request_mut();
        if let Ok(mut attempts) = op.attempts.lock() {
            attempts.count = attempts.count.saturating_add(1);
            // The request's parameters are parsed out of its body: not for nothing.
            if attempts.count == 1 && op.recording {
                if let Some(table) = op.table {
                    attempts.params = extract::from_request(request, table.request);
                }
                attempts.signed_region = request
                    .headers()
                    .get("authorization")
                    .and_then(sigv4_region)
                    .map(str::to_owned);
            }
        }
        if let Some(h) = op.sub.downstream_header() {
            let value = h.to_heapless();
            let _ = request
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
        let Some(op) = self.operation(cfg) else {
            return Ok(());
        };
        let sub = &op.sub;
        if !op.recording {
            // Nothing to record: the response is not read (its body may be large).
            TraceContext::end(sub);
            return Ok(());
        }
        let attempts = op
            .attempts
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default();
        let response = context.response();
        let header = |name: &str| response.and_then(|r| r.headers().get(name));
        let failed = matches!(context.output_or_error(), Some(Err(_)));
        let mut recorded = attempts.params;
        if let (Some(table), Some(response), false) = (op.table, response, failed) {
            recorded.extend(extract::from_response(response, table.response));
        }
        let mut aws = Aws {
            operation: cfg.load::<Metadata>().map(Metadata::name),
            region: cfg
                .load::<Region>()
                .map(|r| -> &str { r.as_ref() })
                .or(attempts.signed_region.as_deref()),
            request_id: header("x-amzn-requestid").or_else(|| header("x-amz-request-id")),
            id_2: header("x-amz-id-2"),
            retries: Some(attempts.count.max(1) - 1),
            ..Aws::default()
        };
        let params = fill(&mut aws, &recorded);
        aws.params = &params;
        sub.aws(&aws);
        if let Some(r) = response {
            sub.http_response(&HttpResponse {
                status: Some(r.status().as_u16()),
                content_length: header("content-length").and_then(|v| v.trim().parse().ok()),
            });
        }
        if let Some(Err(e)) = context.output_or_error() {
            let mut buf = [0u8; 1024];
            let message = match e.as_operation_error() {
                Some(op_err) => format_into(&mut buf, format_args!("{op_err}")),
                None => format_into(&mut buf, format_args!("{}", Chain(e))),
            };
            // SDK errors can name the request's (presigned) URL.
            let mut clean = [0u8; 1024];
            let message = super::scrub::scrub_urls(message, &mut clean);
            let code = response.and_then(extract::error_code);
            let status_text = response.and_then(|r| {
                http::StatusCode::from_u16(r.status().as_u16())
                    .ok()?
                    .canonical_reason()
                    .map(|t| t.replace(' ', ""))
            });
            let type_name = match (&code, &status_text, response) {
                (Some(code), _, _) => code.as_str(),
                (None, Some(text), Some(_)) => text.as_str(),
                (None, _, Some(_)) => "ServiceError",
                (None, _, None) => "SdkError",
            };
            // The SDK's message starts with the code the type already says
            // (`ResourceNotFoundException: Requested resource not found`).
            let message = message
                .strip_prefix(type_name)
                .and_then(|rest| rest.strip_prefix(": "))
                .filter(|rest| !rest.is_empty())
                .unwrap_or(message);
            sub.exception(&Exception {
                type_name: Some(type_name),
                message: Some(message),
                remote: response.is_some(),
                ..Exception::default()
            });
            match response {
                None => sub.fault(),
                Some(_)
                    if code
                        .as_deref()
                        .is_some_and(|c| extract::THROTTLING_CODES.contains(&c)) =>
                {
                    sub.throttle();
                    sub.client_error();
                }
                // A 2xx whose body the SDK could not read: the call failed all the same.
                Some(r) if r.status().is_success() => sub.fault(),
                Some(_) => {} // the status set error or fault
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
