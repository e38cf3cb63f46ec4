//! The AWS SDK interceptor driven through the smithy orchestrator's own context types (the
//! hooks an `aws-sdk-*` client calls, in its order: before execution, before transmit per
//! attempt, after execution), with the tracer sending over UDP to a stand-in daemon.
//! A full SDK client is not compiled here, to keep CI's build time down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut, Error,
    FinalizerInterceptorContextRef, Input, InterceptorContext,
};
use aws_smithy_runtime_api::client::orchestrator::{
    HttpRequest, HttpResponse, Metadata, OrchestratorError,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Layer};
use support::{Daemon, check_datagram};
use xray_std::Tracer;
use xray_std::integrations::aws_sdk::XRayInterceptor;

/// Runs one operation through the interceptor: `attempts` transmits, then `status` (or no
/// response) and `error`. Returns the trace header of the last attempt.
fn operation(
    interceptor: &XRayInterceptor,
    status: Option<u16>,
    error: Option<&str>,
    attempts: u32,
) -> Option<String> {
    let rc = RuntimeComponentsBuilder::for_tests().build().unwrap();
    let mut layer = Layer::new("op");
    layer.store_put(Metadata::new("GetItem", "DynamoDB"));
    let mut cfg = ConfigBag::of_layers(vec![layer]);
    let mut ctx = InterceptorContext::new(Input::doesnt_matter());
    interceptor
        .read_before_execution(
            &BeforeSerializationInterceptorContextRef::from(&ctx),
            &mut cfg,
        )
        .unwrap();
    let mut req = HttpRequest::new(SdkBody::empty());
    req.headers_mut().insert(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-3/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
    );
    ctx.set_request(req);
    for _ in 0..attempts {
        interceptor
            .modify_before_transmit(
                &mut BeforeTransmitInterceptorContextMut::from(&mut ctx),
                &rc,
                &mut cfg,
            )
            .unwrap();
    }
    let header = ctx
        .request()
        .and_then(|r| r.headers().get("x-amzn-trace-id"))
        .map(str::to_owned);
    if let Some(status) = status {
        let mut resp = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        resp.headers_mut().insert("x-amzn-requestid", "REQ123");
        resp.headers_mut().insert("content-length", "2");
        ctx.set_response(resp);
    }
    let out = match error {
        Some(m) if status.is_some() => Err(OrchestratorError::operation(Error::erase(
            std::io::Error::other(m.to_owned()),
        ))),
        Some(m) => Err(OrchestratorError::connector(
            aws_smithy_runtime_api::client::result::ConnectorError::io(m.to_owned().into()),
        )),
        None => Ok(aws_smithy_runtime_api::client::interceptors::context::Output::doesnt_matter()),
    };
    ctx.set_output_or_error(out);
    interceptor
        .read_after_execution(&FinalizerInterceptorContextRef::from(&ctx), &rc, &mut cfg)
        .unwrap();
    header
}

#[test]
fn operations_become_aws_subsegments_with_header_propagation() {
    let daemon = Daemon::bind();
    let udp = xray_std::UdpTransport::new(daemon.addr()).unwrap();
    let tracer = Tracer::builder("app").udp(udp).always_sample().build();
    let interceptor = XRayInterceptor::new();

    // Outside a trace: nothing recorded, no header.
    assert_eq!(operation(&interceptor, Some(200), None, 1), None);

    let ctx = tracer.begin(None);
    let headers = ctx.clone().in_scope(|| {
        [
            operation(&interceptor, Some(200), None, 2),
            operation(
                &interceptor,
                Some(400),
                Some("ValidationException: bad key"),
                1,
            ),
            operation(&interceptor, None, Some("connection refused"), 1),
        ]
    });
    let trace_id = ctx.trace_id().unwrap().to_string();
    ctx.end();

    let got = daemon.recv(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    let doc = check_datagram(&got[0]);
    let subs = doc["subsegments"].as_array().unwrap();
    assert_eq!(subs.len(), 3);
    for (sub, header) in subs.iter().zip(&headers) {
        assert_eq!(sub["name"], "DynamoDB");
        assert_eq!(sub["namespace"], "aws");
        assert_eq!(sub["aws"]["operation"], "GetItem");
        assert_eq!(sub["aws"]["region"], "eu-west-3");
        let id = sub["id"].as_str().unwrap();
        assert_eq!(
            header.as_deref(),
            Some(format!("Root={trace_id};Parent={id};Sampled=1").as_str())
        );
    }
    let ok = &subs[0];
    assert_eq!(ok["aws"]["request_id"], "REQ123");
    assert_eq!(ok["aws"]["retries"], 1, "two attempts");
    assert_eq!(ok["http"]["response"]["status"], 200);
    assert!(ok.get("fault").is_none() && ok.get("error").is_none());
    let bad = &subs[1];
    assert_eq!(bad["aws"]["retries"], 0);
    assert_eq!(bad["http"]["response"]["status"], 400);
    assert_eq!(bad["error"], true);
    assert!(
        bad.get("fault").is_none(),
        "a 4xx service error is not a fault"
    );
    assert_eq!(bad["cause"]["exceptions"][0]["remote"], true);
    assert_eq!(
        bad["cause"]["exceptions"][0]["message"],
        "ValidationException: bad key"
    );
    let down = &subs[2];
    assert_eq!(down["fault"], true);
    assert!(down.get("http").is_none());
    assert!(down["aws"].get("request_id").is_none());
    assert!(
        down["cause"]["exceptions"][0]["message"]
            .as_str()
            .unwrap()
            .contains("connection refused")
    );
}
