//! The `tower` server layer driven for real: a hyper HTTP/1.1 server on 127.0.0.1 with
//! [`XRayServerLayer`], requests from a hyper-util client, segments sent over UDP to a stand-in
//! daemon on 127.0.0.1 and checked against the published schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod http_support;
mod support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Request;
use http_support::{Body, client, recv, respond, send, serve, tracer};
use hyper::body::Incoming;
use serde_json::Value;
use support::{Daemon, check_datagram, entities};
use tower::ServiceExt;
use tower_layer::Layer;
use xray_std::TraceContext;
use xray_std::integrations::http_server::XRayServerLayer;

async fn app(req: Request<Incoming>) -> Result<http::Response<Body>, Infallible> {
    Ok(match req.uri().path() {
        "/ok" => respond(200, "hello"),
        "/missing" => respond(404, "no such thing"),
        "/throttled" => respond(429, ""),
        "/boom" => respond(500, "oops"),
        "/sub" => {
            let ext = req.extensions().get::<TraceContext>().cloned();
            let current = TraceContext::current();
            let same = match (&ext, &current) {
                (Some(a), Some(b)) => a.trace_id() == b.trace_id() && a.trace_id().is_some(),
                _ => false,
            };
            if let Some(ctx) = current {
                let _work = ctx.subsegment("work");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            respond(if same { 200 } else { 500 }, "sub")
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            respond(200, "late")
        }
        _ => respond(400, "?"),
    })
}

fn by_path<'a>(docs: &'a [Value], path: &str) -> &'a Value {
    docs.iter()
        .find(|d| {
            d["http"]["request"]["url"]
                .as_str()
                .is_some_and(|u| u.ends_with(path))
        })
        .unwrap_or_else(|| panic!("no segment for {path} in {docs:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_carry_http_fields_and_the_flags_of_200_404_429_500() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let tracer = tracer("orders-api", &daemon.lock().unwrap());
    let svc = XRayServerLayer::new(tracer.clone()).layer(tower::service_fn(app));
    let addr = serve(svc, true).await;
    let c = client();

    let req = Request::get(format!("http://{addr}/ok?token=secret"))
        .header("user-agent", "integration-test/1.0")
        .header("x-forwarded-for", " 203.0.113.7 , 10.0.0.1")
        .body(Body::default())
        .unwrap();
    let (status, headers, body) = send(&c, req).await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    assert!(
        headers.get("x-amzn-trace-id").is_none(),
        "no response header unless the request said Sampled=?"
    );
    for path in ["/missing", "/throttled", "/boom"] {
        // A proxy in front that ended TLS says so; the URL takes its scheme.
        let proto = if path == "/throttled" {
            "https"
        } else {
            "http"
        };
        let req = Request::get(format!("http://{addr}{path}"))
            .header("x-forwarded-proto", proto)
            .body(Body::default())
            .unwrap();
        send(&c, req).await;
    }

    let got = recv(&daemon, 4, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 4, "one segment per request");
    let docs: Vec<Value> = got.iter().map(|d| check_datagram(d)).collect();
    for d in &docs {
        assert_eq!(d["name"], "orders-api");
        assert!(d.get("parent_id").is_none(), "fresh traces have no parent");
        assert_eq!(d["http"]["request"]["method"], "GET");
    }

    let ok = by_path(&docs, "/ok");
    let req = &ok["http"]["request"];
    assert_eq!(req["url"], format!("http://{addr}/ok"), "query stripped");
    assert_eq!(req["user_agent"], "integration-test/1.0");
    assert_eq!(req["client_ip"], "203.0.113.7");
    assert_eq!(req["x_forwarded_for"], true);
    assert_eq!(ok["http"]["response"]["status"], 200);
    assert_eq!(ok["http"]["response"]["content_length"], 5);
    for flag in ["error", "throttle", "fault"] {
        assert!(ok.get(flag).is_none_or(|v| v == false), "{flag} on a 200");
    }

    let missing = by_path(&docs, "/missing");
    assert_eq!(missing["http"]["response"]["status"], 404);
    assert_eq!(missing["error"], true);
    assert!(missing.get("fault").is_none_or(|v| v == false));
    // Without X-Forwarded-For the peer address is used.
    assert_eq!(missing["http"]["request"]["client_ip"], "127.0.0.1");
    assert!(
        missing["http"]["request"]
            .get("x_forwarded_for")
            .is_none_or(|v| v == false)
    );

    let throttled = by_path(&docs, "/throttled");
    assert_eq!(throttled["http"]["response"]["status"], 429);
    assert_eq!(
        throttled["http"]["request"]["url"],
        format!("https://{addr}/throttled"),
        "the scheme X-Forwarded-Proto names"
    );
    assert_eq!(
        (&throttled["error"], &throttled["throttle"]),
        (&Value::Bool(true), &Value::Bool(true))
    );

    let boom = by_path(&docs, "/boom");
    assert_eq!(boom["http"]["response"]["status"], 500);
    assert_eq!(boom["fault"], true);
    assert!(boom.get("error").is_none_or(|v| v == false));

    assert_eq!(tracer.pool_available(), 8, "every recorder went back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_question_mark_is_answered_and_upstream_headers_are_continued() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let udp = xray_std::UdpTransport::new(daemon.lock().unwrap().addr()).unwrap();
    // Sample only requests to /ok, so the `?` decision can be seen both ways.
    let tracer = xray_std::Tracer::builder("edge")
        .udp(udp)
        .sampler(|r| r.url_path == Some("/ok"))
        .build();
    let svc = XRayServerLayer::new(tracer.clone()).layer(tower::service_fn(app));
    let addr = serve(svc, false).await;
    let c = client();
    let root = "1-5759e988-bd862e3fe1be46a994272793";

    let ask = |path: &str, header: &str| {
        Request::get(format!("http://{addr}{path}"))
            .header("x-amzn-trace-id", header)
            .body(Body::default())
            .unwrap()
    };
    let (_, h, _) = send(
        &c,
        ask(
            "/ok",
            &format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=?"),
        ),
    )
    .await;
    assert_eq!(
        h["x-amzn-trace-id"],
        format!("Root={root};Sampled=1").as_str()
    );
    let (_, h, _) = send(
        &c,
        ask(
            "/missing",
            "Root=1-5759e988-bd862e3fe1be46a994272794;Sampled=?",
        ),
    )
    .await;
    assert_eq!(
        h["x-amzn-trace-id"], "Root=1-5759e988-bd862e3fe1be46a994272794;Sampled=0",
        "the sampler said no"
    );
    // An explicit decision wins over the sampler, and gets no response header.
    let (_, h, _) = send(
        &c,
        ask(
            "/missing",
            "Root=1-5759e988-bd862e3fe1be46a994272795;Parent=1111111111111111;Sampled=1",
        ),
    )
    .await;
    assert!(h.get("x-amzn-trace-id").is_none());
    // `?` without a Root: a new trace, and its id in the answer.
    let (_, h, _) = send(&c, ask("/ok", "Sampled=?")).await;
    let fresh = h["x-amzn-trace-id"].to_str().unwrap().to_owned();
    assert!(
        fresh.starts_with("Root=1-") && fresh.ends_with(";Sampled=1"),
        "{fresh}"
    );
    // An invalid Root starts a fresh trace (the upstream Sampled=1 is kept).
    let (status, _, _) = send(&c, ask("/ok", "Root=not-a-trace-id;Sampled=1")).await;
    assert_eq!(status, 200);
    // A malformed Parent loses only the Parent: the Root and Sampled=1 (which overrides the
    // sampler's "no" for /missing) survive.
    let lenient = "1-5759e988-bd862e3fe1be46a994272796";
    let (status, _, _) = send(
        &c,
        ask("/missing", &format!("Root={lenient};Parent=zz;Sampled=1")),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(tracer.stats().malformed_headers, 2);

    let got = recv(&daemon, 5, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 5);
    assert!(
        recv(&daemon, 1, Duration::from_millis(300))
            .await
            .is_empty(),
        "the unsampled request sent nothing"
    );
    let docs: Vec<Value> = got.iter().map(|d| check_datagram(d)).collect();
    let continued = docs
        .iter()
        .find(|d| d["trace_id"] == root)
        .expect("continued trace");
    assert_eq!(continued["parent_id"], "53995c3f42cd8ad8");
    let forced = docs
        .iter()
        .find(|d| d["trace_id"] == "1-5759e988-bd862e3fe1be46a994272795")
        .expect("Sampled=1 wins over the sampler");
    assert_eq!(forced["parent_id"], "1111111111111111");
    assert!(
        docs.iter()
            .any(|d| fresh.contains(d["trace_id"].as_str().unwrap()))
    );
    assert!(docs.iter().all(|d| d["trace_id"] != "not-a-trace-id"));
    let fresh_from_invalid = docs
        .iter()
        .filter(|d| d["trace_id"] != root && d.get("parent_id").is_none())
        .count();
    assert_eq!(
        fresh_from_invalid, 3,
        "`?` without Root, the invalid Root and the malformed Parent (no parent_id)"
    );
    assert!(
        docs.iter()
            .any(|d| d["trace_id"] == lenient && d.get("parent_id").is_none())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_see_the_trace_context_and_record_subsegments() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let tracer = tracer("svc", &daemon.lock().unwrap());
    let svc = XRayServerLayer::new(tracer).layer(tower::service_fn(app));
    let addr = serve(svc, false).await;
    let (status, _, _) = send(
        &client(),
        Request::get(format!("http://{addr}/sub"))
            .body(Body::default())
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "extension and task-local name the same trace");
    let got = recv(&daemon, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1);
    let doc = check_datagram(&got[0]);
    assert_eq!(doc["subsegments"][0]["name"], "work");
    assert!(
        doc["http"]["request"].get("client_ip").is_none(),
        "no peer info, no client_ip"
    );
    assert_eq!(entities(&doc).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_is_a_fault_and_an_inner_error_too() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let tracer = tracer("svc", &daemon.lock().unwrap());

    // Dropped: a timeout outside the layer gives up on a slow handler.
    let svc = XRayServerLayer::new(tracer.clone()).layer(tower::service_fn(
        |_req: Request<String>| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, Infallible>(respond(200, "late"))
        },
    ));
    let req = Request::get("http://svc.internal/slow")
        .body(String::new())
        .unwrap();
    let timed_out = tokio::time::timeout(Duration::from_millis(50), svc.oneshot(req)).await;
    assert!(timed_out.is_err());

    // An inner error.
    let failing = XRayServerLayer::new(tracer.clone()).layer(tower::service_fn(
        |_req: Request<String>| async {
            Err::<http::Response<Body>, _>(std::io::Error::other("db down"))
        },
    ));
    let req = Request::get("http://svc.internal/fail")
        .body(String::new())
        .unwrap();
    assert!(failing.oneshot(req).await.is_err());

    let got = recv(&daemon, 2, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 2);
    let docs: Vec<Value> = got.iter().map(|d| check_datagram(d)).collect();
    let slow = by_path(&docs, "/slow");
    assert_eq!(slow["fault"], true);
    assert_eq!(slow["cause"]["exceptions"][0]["type"], "Cancelled");
    assert!(slow["http"].get("response").is_none());
    let fail = by_path(&docs, "/fail");
    assert_eq!(fail["fault"], true);
    assert_eq!(fail["cause"]["exceptions"][0]["message"], "db down");
    assert_eq!(tracer.pool_available(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_ends_its_segment_as_a_cancelled_fault() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let tracer = tracer("svc", &daemon.lock().unwrap());
    let svc = XRayServerLayer::new(tracer.clone()).layer(tower::service_fn(
        |req: Request<String>| async move {
            tokio::task::yield_now().await; // panics while polled, not in `call`
            if req.uri().path() == "/panic" {
                panic!("handler bug");
            }
            Ok::<_, Infallible>(respond(200, "fine"))
        },
    ));
    let req = Request::get("http://svc.internal/panic")
        .body(String::new())
        .unwrap();
    // As hyper and axum run a connection: in a task, whose panic drops the future.
    let joined = tokio::spawn(svc.oneshot(req)).await;
    assert!(joined.unwrap_err().is_panic());

    let got = recv(&daemon, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1);
    let doc = check_datagram(&got[0]);
    assert_eq!(doc["fault"], true);
    assert_eq!(doc["cause"]["exceptions"][0]["type"], "Cancelled");
    assert!(doc["http"].get("response").is_none());
    assert_eq!(tracer.pool_available(), 8);
}
