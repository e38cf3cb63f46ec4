//! W3C trace context against the OpenTelemetry propagators as oracles
//! (`opentelemetry_sdk`'s `TraceContextPropagator`, `opentelemetry-aws`'s `XrayPropagator`):
//!
//! - reading: generated `traceparent` headers, valid and mutated, through
//!   [`propagation::extract`]; what it accepts, TraceContextPropagator accepts with the same
//!   trace id, span id and sampled flag, and the X-Ray header it maps to is the one
//!   XrayPropagator writes for that span context. What TraceContextPropagator accepts and this
//!   SDK does not is one of the documented differences ([`otel_leniency`]);
//! - writing: what [`propagation::inject`] writes is read by both propagators as the same
//!   trace, parent and sampled flag, with the `tracestate` passed on;
//! - end to end on 127.0.0.1: a request with only `traceparent` continues that trace through
//!   `XRayServerLayer`, and a call made through `XRayClientLayer` carries both headers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod http_support;
mod support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Request};
use http_support::{Body, client, recv, respond, send, serve, tracer};
use hyper::body::Incoming as HyperIncoming;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_aws::trace::XrayPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use proptest::prelude::*;
use support::{Daemon, check_datagram};
use tower::ServiceExt;
use tower_layer::Layer;
use xray_std::core::traceparent::w3c_trace_id;
use xray_std::core::{SampledFlag, SegmentId, TraceHeader, TraceParent};
use xray_std::integrations::http_client::XRayClientLayer;
use xray_std::integrations::http_server::XRayServerLayer;
use xray_std::integrations::propagation::{self, Propagation, Source};
use xray_std::sampling::SamplingRequest;

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const XRAY_ROOT: &str = "1-4bf92f35-77b34da6a3ce929d0e0e4736";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

/// The headers as OpenTelemetry's `Extractor` sees them (lowercase names, one value each).
fn otel_map(map: &HeaderMap) -> HashMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect()
}

/// The remote span context a propagator reads, if any.
fn otel_read(p: &dyn TextMapPropagator, map: &HashMap<String, String>) -> Option<SpanContext> {
    let cx = p.extract(map);
    let sc = cx.span().span_context().clone();
    (sc.is_valid() && sc.is_remote()).then_some(sc)
}

fn hex16(id: SegmentId) -> String {
    id.to_string()
}

/// Why TraceContextPropagator may accept a `traceparent` that the Level 1 grammar rejects.
/// Each is a leniency of its parser (`opentelemetry_sdk` 0.33.1, `trace_context.rs`):
/// - it splits on `-` and reads each field with `from_str_radix`/`from_hex`, which take
///   fewer digits than the field's width and a leading `+`;
/// - it splits with `split_terminator`, so version `00` followed by one `-` still has
///   exactly four parts;
/// - it checks for uppercase hex in the trace id, span id and flags, not in the version.
fn otel_leniency(text: &str) -> Option<&'static str> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    if parts.len() < 4 {
        return None;
    }
    if parts[..4].iter().any(|p| p.starts_with('+')) {
        return Some("a field with a '+' sign");
    }
    if parts[..4]
        .iter()
        .zip([2, 32, 16, 2])
        .any(|(p, w)| p.len() != w)
    {
        return Some("a field shorter or longer than its width");
    }
    if parts[0].bytes().any(|b| b.is_ascii_uppercase()) {
        return Some("an uppercase version");
    }
    if parts[0] == "00" && parts.len() == 5 && parts[4].is_empty() {
        return Some("version 00 with a trailing '-'");
    }
    None
}

/// Valid `traceparent`s, then one mutation of them (or none).
fn arb_traceparent() -> impl Strategy<Value = String> {
    let version = prop_oneof![3 => Just(0u8), 1 => 1u8..=0xfe, 1 => Just(0xff)];
    let trace_id = prop_oneof![9 => any::<[u8; 16]>(), 1 => Just([0u8; 16])];
    let span_id = prop_oneof![9 => any::<[u8; 8]>(), 1 => Just([0u8; 8])];
    let tail = prop_oneof![4 => Just(String::new()), 1 => "-[a-z0-9-]{0,6}"];
    let valid = (version, trace_id, span_id, any::<u8>(), tail).prop_map(|(v, t, s, f, tail)| {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        format!("{v:02x}-{}-{}-{f:02x}{tail}", hex(&t), hex(&s))
    });
    let chars = prop_oneof![
        Just('0'),
        Just('a'),
        Just('f'),
        Just('A'),
        Just('g'),
        Just('-'),
        Just('+'),
        Just(' '),
        Just('\t')
    ];
    (valid, 0usize..8, any::<prop::sample::Index>(), chars).prop_map(|(s, op, at, c)| {
        let mut b: Vec<char> = s.chars().collect();
        let i = at.index(b.len());
        match op {
            0 | 1 => {}
            2 => b[i] = c,
            3 => {
                b.remove(i);
            }
            4 => b.insert(i, c),
            5 => b.truncate(i),
            6 => b[i] = b[i].to_ascii_uppercase(),
            _ => {
                b.insert(0, ' ');
                b.push('\t');
            }
        }
        b.into_iter().collect()
    })
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_*/-]{0,12}",
        "[a-z0-9][a-z0-9_*/-]{0,8}@[a-z][a-z0-9_*/-]{0,8}",
    ]
}

/// Valid Level 1 `tracestate` lists with distinct keys, within the limits.
fn arb_tracestate() -> impl Strategy<Value = String> {
    proptest::collection::btree_map(arb_key(), "[!-+\\--<>-~]{1,12}", 0..8).prop_map(|m| {
        m.into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Reading: accepts what TraceContextPropagator accepts, but for the documented
    /// differences, with the same ids and flag; the X-Ray mapping is XrayPropagator's.
    #[test]
    fn extract_agrees_with_trace_context_propagator(tp in arb_traceparent(), ts in arb_tracestate()) {
        let Ok(value) = HeaderValue::from_str(&tp) else { return Ok(()) };
        let mut map = HeaderMap::new();
        map.insert("traceparent", value);
        if !ts.is_empty() {
            map.insert("tracestate", HeaderValue::from_str(&ts).unwrap());
        }
        let ours = propagation::extract(&map, Propagation::default());
        let theirs = otel_read(&TraceContextPropagator::new(), &otel_map(&map));
        match (ours.header(), &theirs) {
            (Some(h), Some(sc)) => {
                prop_assert_eq!(ours.source(), Some(Source::W3c));
                let tp = TraceParent::from_trace_header(h).unwrap();
                let hex: String = tp.trace_id().iter().map(|b| format!("{b:02x}")).collect();
                prop_assert_eq!(hex, sc.trace_id().to_string());
                prop_assert_eq!(hex16(h.parent().unwrap()), sc.span_id().to_string());
                prop_assert_eq!(h.sampled() == SampledFlag::Sampled, sc.is_sampled());
                prop_assert_eq!(h.sampled() != SampledFlag::Unknown, true);
                // Valid, distinct, within limits: the same list as OpenTelemetry's.
                prop_assert_eq!(ours.tracestate().map_or("", |t| t.as_str()), sc.trace_state().header());
                // The X-Ray header this maps to is the one XrayPropagator writes for it.
                let mut written = HashMap::new();
                let plain = SpanContext::new(sc.trace_id(), sc.span_id(), sc.trace_flags(), true, TraceState::default());
                XrayPropagator::new().inject_context(
                    &opentelemetry::Context::new().with_remote_span_context(plain),
                    &mut written,
                );
                let xray = TraceHeader::parse(&written["x-amzn-trace-id"]).unwrap();
                prop_assert_eq!(xray.root(), h.root());
                prop_assert_eq!(xray.parent(), h.parent());
                prop_assert_eq!(xray.sampled(), h.sampled());
            }
            (None, None) => prop_assert!(ours.traceparent_error().is_some()),
            (Some(h), None) => prop_assert!(false, "accepted {:?} ({:?}), OpenTelemetry did not", tp, h),
            (None, Some(_)) => prop_assert!(
                otel_leniency(&tp).is_some(),
                "OpenTelemetry accepted {:?}, rejected here ({:?}) for no documented reason",
                tp,
                ours.traceparent_error()
            ),
        }
    }

    /// Writing: both propagators read back the trace, the parent and the sampled flag, and
    /// the tracestate passes through.
    #[test]
    fn inject_is_read_by_both_propagators(
        epoch in any::<u32>(),
        random in any::<[u8; 12]>(),
        parent in 1u64..,
        sampled in any::<bool>(),
        ts in arb_tracestate(),
    ) {
        let root = xray_std::core::TraceId::from_parts(epoch, random);
        prop_assume!(root != xray_std::core::TraceId::ZERO);
        let parent = SegmentId::from_bytes(parent.to_be_bytes());
        let header = TraceHeader::with(root, Some(parent), SampledFlag::from_bool(sampled));
        let state = xray_std::core::TraceState::parse(&ts).unwrap();
        let mut map = HeaderMap::new();
        // Stale headers are replaced.
        map.insert("traceparent", HeaderValue::from_static(TP));
        map.insert("tracestate", HeaderValue::from_static("stale=1"));
        propagation::inject(&mut map, &header, Some(&state));
        let otel = otel_map(&map);
        let expected_trace = TraceId::from_bytes(w3c_trace_id(root));
        for (name, p) in [
            ("TraceContextPropagator", &TraceContextPropagator::new() as &dyn TextMapPropagator),
            ("XrayPropagator", &XrayPropagator::new()),
        ] {
            let sc = otel_read(p, &otel).unwrap_or_else(|| panic!("{name} reads {otel:?}"));
            prop_assert_eq!(sc.trace_id(), expected_trace, "{}", name);
            prop_assert_eq!(sc.span_id().to_string(), hex16(parent), "{}", name);
            prop_assert_eq!(sc.is_sampled(), sampled, "{}", name);
        }
        let sc = otel_read(&TraceContextPropagator::new(), &otel).unwrap();
        prop_assert_eq!(sc.trace_state().header(), ts.clone());
        prop_assert_eq!(map.get("tracestate").is_some(), !ts.is_empty());
    }
}

#[test]
fn only_traceparent_continues_that_trace_with_the_mapped_ids() {
    let map = headers(&[("traceparent", TP), ("tracestate", "congo=t61rcWkgMzE")]);
    for policy in [Propagation::XRayFirst, Propagation::W3cFirst] {
        let found = propagation::extract(&map, policy);
        assert_eq!(found.source(), Some(Source::W3c));
        assert_eq!(
            found.header().unwrap().to_string(),
            format!("Root={XRAY_ROOT};Parent=00f067aa0ba902b7;Sampled=1")
        );
        assert_eq!(found.tracestate().unwrap().as_str(), "congo=t61rcWkgMzE");
    }
    // Not read at all with XRayOnly.
    let found = propagation::extract(&map, Propagation::XRayOnly);
    assert!(found.header().is_none() && found.tracestate().is_none());
    // Header names in any case (http lowercases them), several tracestate fields as one list.
    let map = headers(&[
        ("TraceParent", TP),
        ("TraceState", "a=1"),
        ("tracestate", "b=2"),
    ]);
    let found = propagation::extract(&map, Propagation::default());
    assert_eq!(found.tracestate().unwrap().as_str(), "a=1,b=2");
}

#[test]
fn the_policy_decides_when_both_headers_come() {
    let other = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
    let map = headers(&[
        ("x-amzn-trace-id", other),
        ("traceparent", TP),
        ("tracestate", "congo=t61rcWkgMzE"),
    ]);
    let x = propagation::extract(&map, Propagation::XRayFirst);
    assert_eq!(x.source(), Some(Source::XRay));
    assert_eq!(x.header().unwrap().to_string(), other);
    assert!(
        x.tracestate().is_none(),
        "another trace's tracestate is not passed on"
    );
    let w = propagation::extract(&map, Propagation::W3cFirst);
    assert_eq!(w.source(), Some(Source::W3c));
    assert_eq!(w.header().unwrap().root().unwrap().to_string(), XRAY_ROOT);
    assert!(w.tracestate().is_some());
    // The same trace in both (an OpenTelemetry caller with both propagators): X-Ray decides,
    // the tracestate still belongs to it.
    let same = format!("Root={XRAY_ROOT};Parent=53995c3f42cd8ad8;Sampled=1");
    let map = headers(&[
        ("x-amzn-trace-id", &same),
        ("traceparent", TP),
        ("tracestate", "congo=t61rcWkgMzE"),
    ]);
    let x = propagation::extract(&map, Propagation::XRayFirst);
    assert_eq!(x.header().unwrap().to_string(), same);
    assert_eq!(x.tracestate().unwrap().as_str(), "congo=t61rcWkgMzE");
    // The preferred header unusable: the other one decides.
    let map = headers(&[
        ("x-amzn-trace-id", "Root=junk;Sampled=1"),
        ("traceparent", TP),
    ]);
    assert_eq!(
        propagation::extract(&map, Propagation::XRayFirst).source(),
        Some(Source::W3c)
    );
    let map = headers(&[("x-amzn-trace-id", other), ("traceparent", "00-bad")]);
    let w = propagation::extract(&map, Propagation::W3cFirst);
    assert_eq!(w.source(), Some(Source::XRay));
    assert!(w.traceparent_error().is_some());
}

#[test]
fn malformed_traceparent_starts_a_new_trace_and_is_counted() {
    let daemon = Daemon::bind();
    let t = tracer("w3c", &daemon);
    let bad = headers(&[
        (
            "traceparent",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        ),
        ("tracestate", "congo=t61rcWkgMzE"),
    ]);
    let found = propagation::extract(&bad, Propagation::default());
    assert!(found.header().is_none());
    assert!(
        found.tracestate().is_none(),
        "no tracestate without a valid traceparent"
    );
    let ctx = found.begin(&t, &SamplingRequest::new("w3c"));
    let id = ctx.trace_id().expect("a new trace");
    assert_ne!(id.to_string(), XRAY_ROOT);
    assert!(ctx.tracestate().is_none());
    assert_eq!(t.stats().malformed_headers, 1);
    // A valid one is not counted; an invalid tracestate alone is dropped, the trace kept.
    let ok = headers(&[("traceparent", TP), ("tracestate", "Bad=1")]);
    let found = propagation::extract(&ok, Propagation::default());
    let ctx2 = found.begin(&t, &SamplingRequest::new("w3c"));
    assert_eq!(ctx2.trace_id().unwrap().to_string(), XRAY_ROOT);
    assert!(ctx2.tracestate().is_none());
    assert_eq!(t.stats().malformed_headers, 1);
    drop((ctx, ctx2));
}

#[test]
fn inject_writes_only_the_xray_header_when_there_is_no_w3c_form() {
    let no_parent = TraceHeader::parse(&format!("Root={XRAY_ROOT};Sampled=1")).unwrap();
    let mut map = headers(&[("traceparent", TP), ("tracestate", "a=1")]);
    let state = xray_std::core::TraceState::parse("a=1").unwrap();
    propagation::inject(&mut map, &no_parent, Some(&state));
    assert_eq!(
        map["x-amzn-trace-id"],
        format!("Root={XRAY_ROOT};Sampled=1")
    );
    assert!(map.get("traceparent").is_none() && map.get("tracestate").is_none());
}

type Seen = Arc<Mutex<Vec<HeaderMap>>>;

/// A plain downstream server that keeps the headers of every request.
async fn downstream(seen: Seen) -> SocketAddr {
    let svc = tower::service_fn(move |req: Request<HyperIncoming>| {
        seen.lock().unwrap().push(req.headers().clone());
        async move { Ok::<_, Infallible>(respond(200, "downstream")) }
    });
    serve(svc, false).await
}

/// A traced front end whose handler calls `down` once through the client layer.
async fn front(tracer: xray_std::Tracer, down: SocketAddr) -> SocketAddr {
    let http = XRayClientLayer::new().layer(client());
    let svc = XRayServerLayer::new(tracer)
        .propagation(Propagation::XRayFirst)
        .layer(tower::service_fn(move |_req: Request<HyperIncoming>| {
            let http = http.clone();
            async move {
                let req = Request::get(format!("http://{down}/next"))
                    .body(Body::default())
                    .unwrap();
                let resp =
                    tokio::time::timeout(Duration::from_secs(30), http.clone().oneshot(req)).await;
                let status = match resp {
                    Ok(Ok(r)) => r.status().as_u16(),
                    _ => 502,
                };
                Ok::<_, Infallible>(respond(status, "front"))
            }
        }));
    serve(svc, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traceparent_request_continues_its_trace_and_calls_carry_both_headers() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let seen = Seen::default();
    let down = downstream(seen.clone()).await;
    let t = tracer("w3c-front", &daemon.lock().unwrap());
    let addr = front(t.clone(), down).await;

    let req = Request::get(format!("http://{addr}/"))
        .header("traceparent", TP)
        .header("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        .body(Body::default())
        .unwrap();
    assert_eq!(send(&client(), req).await.0, 200);

    let got = recv(&daemon, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "one datagram for the request");
    let doc = check_datagram(&got[0]);
    assert_eq!(doc["trace_id"], XRAY_ROOT, "the W3C trace, mapped");
    assert_eq!(doc["parent_id"], "00f067aa0ba902b7", "the caller's span");
    let subs = doc["subsegments"].as_array().expect("the downstream call");
    assert_eq!(subs.len(), 1);
    let sub_id = subs[0]["id"].as_str().unwrap().to_owned();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let sent = &seen[0];
    assert_eq!(
        sent["x-amzn-trace-id"],
        format!("Root={XRAY_ROOT};Parent={sub_id};Sampled=1")
    );
    assert_eq!(
        sent["traceparent"],
        format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{sub_id}-01")
    );
    assert_eq!(
        sent["tracestate"],
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    );
    // Both OpenTelemetry propagators read the call as the same trace, under the subsegment.
    let otel = otel_map(sent);
    let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    for p in [
        &TraceContextPropagator::new() as &dyn TextMapPropagator,
        &XrayPropagator::new(),
    ] {
        let sc = otel_read(p, &otel).expect("a remote span context");
        assert_eq!(sc.trace_id(), trace);
        assert_eq!(sc.span_id().to_string(), sub_id);
        assert!(sc.is_sampled());
        assert_eq!(sc.trace_flags() & TraceFlags::SAMPLED, TraceFlags::SAMPLED);
    }
    let sc = otel_read(&TraceContextPropagator::new(), &otel).unwrap();
    assert_eq!(sc.trace_state().get("congo"), Some("t61rcWkgMzE"));
    assert_eq!(t.stats().malformed_headers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsampled_traceparent_is_honoured_and_still_propagated() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let seen = Seen::default();
    let down = downstream(seen.clone()).await;
    let t = tracer("w3c-front", &daemon.lock().unwrap());
    let addr = front(t, down).await;

    let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let req = Request::get(format!("http://{addr}/"))
        .header("traceparent", unsampled)
        .body(Body::default())
        .unwrap();
    assert_eq!(send(&client(), req).await.0, 200);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let otel = otel_map(&seen[0]);
    let sc = otel_read(&TraceContextPropagator::new(), &otel).expect("traceparent sent");
    assert_eq!(
        sc.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert!(!sc.is_sampled());
    assert_ne!(
        sc.span_id().to_string(),
        "00f067aa0ba902b7",
        "a new parent id"
    );
    assert!(seen[0].get("tracestate").is_none());
    let xray = TraceHeader::parse(seen[0]["x-amzn-trace-id"].to_str().unwrap()).unwrap();
    assert_eq!(xray.sampled(), SampledFlag::NotSampled);
    assert!(
        recv(&daemon, 1, Duration::from_millis(500))
            .await
            .is_empty(),
        "nothing sent for an unsampled trace"
    );
}
