//! The `tower` client layer driven for real: a traced hyper server on 127.0.0.1 whose handler
//! calls a downstream hyper server through [`XRayClientLayer`] over hyper-util's client; the
//! downstream server records the `X-Amzn-Trace-Id` it receives, the stand-in daemon the
//! datagrams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod http_support;
mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Request;
use http_support::{Body, client, recv, respond, send, serve, tracer};
use hyper::body::Incoming;
use serde_json::Value;
use support::{Daemon, check_datagram};
use tower::ServiceExt;
use tower_layer::Layer;
use xray_std::integrations::http_client::XRayClientLayer;
use xray_std::integrations::http_server::XRayServerLayer;

type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A plain (untraced) downstream server that records the trace header of every request.
async fn downstream(seen: Seen) -> SocketAddr {
    let svc = tower::service_fn(move |req: Request<Incoming>| {
        let header = req
            .headers()
            .get("x-amzn-trace-id")
            .map(|v| v.to_str().unwrap().to_owned());
        seen.lock()
            .unwrap()
            .push((req.uri().path().to_owned(), header));
        let status = match req.uri().path() {
            "/missing" => 404,
            "/throttled" => 429,
            "/boom" => 503,
            _ => 200,
        };
        async move { Ok::<_, Infallible>(respond(status, "downstream")) }
    });
    serve(svc, false).await
}

/// A traced front end whose handler calls `paths` on `down` through the client layer.
async fn front(
    tracer: xray_std::Tracer,
    down: SocketAddr,
    paths: &'static [&'static str],
    traced: bool,
) -> SocketAddr {
    let http = XRayClientLayer::new().traced(traced).layer(client());
    let svc =
        XRayServerLayer::new(tracer).layer(tower::service_fn(move |_req: Request<Incoming>| {
            let http = http.clone();
            async move {
                for path in paths {
                    let req = Request::get(format!("http://{down}{path}?secret=1"))
                        .body(Body::default())
                        .unwrap();
                    let _ = tokio::time::timeout(Duration::from_secs(5), http.clone().oneshot(req))
                        .await;
                }
                Ok::<_, Infallible>(respond(200, "front"))
            }
        }));
    serve(svc, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_get_remote_subsegments_and_carry_the_downstream_header() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let seen = Seen::default();
    let down = downstream(seen.clone()).await;
    let paths: &'static [&'static str] = &["/ok", "/missing", "/throttled", "/boom"];
    let t = tracer("front", &daemon.lock().unwrap());
    let addr = front(t, down, paths, false).await;

    let root = "1-5759e988-bd862e3fe1be46a994272793";
    let req = Request::get(format!("http://{addr}/"))
        .header(
            "x-amzn-trace-id",
            format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1"),
        )
        .body(Body::default())
        .unwrap();
    assert_eq!(send(&client(), req).await.0, 200);

    let got = recv(&daemon, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let doc = check_datagram(&got[0]);
    assert_eq!(doc["trace_id"], root);
    let subs = doc["subsegments"].as_array().expect("subsegments");
    assert_eq!(subs.len(), 4);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    for ((path, header), (sub, status)) in seen.iter().zip(subs.iter().zip([200, 404, 429, 503])) {
        let header = header.as_deref().expect("trace header sent downstream");
        let id = sub["id"].as_str().unwrap();
        assert_eq!(
            header,
            format!("Root={root};Parent={id};Sampled=1;Lineage=a87bd80c:1"),
            "Parent is the subsegment, extra fields forwarded ({path})"
        );
        assert_eq!(sub["name"], "127.0.0.1");
        assert_eq!(sub["namespace"], "remote");
        assert_eq!(sub["http"]["request"]["method"], "GET");
        assert_eq!(
            sub["http"]["request"]["url"],
            format!("http://{down}{path}")
        );
        assert_eq!(sub["http"]["response"]["status"], status);
        assert_eq!(sub["http"]["response"]["content_length"], 10);
        assert!(sub.get("traced").is_none(), "traced is opt-in");
    }
    let flag = |s: &Value, f: &str| s.get(f) == Some(&Value::Bool(true));
    assert!(!flag(&subs[0], "error") && !flag(&subs[0], "fault"));
    assert!(flag(&subs[1], "error") && !flag(&subs[1], "throttle"));
    assert!(flag(&subs[2], "error") && flag(&subs[2], "throttle"));
    assert!(flag(&subs[3], "fault") && !flag(&subs[3], "error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsampled_traces_still_propagate_and_untraced_calls_are_untouched() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let seen = Seen::default();
    let down = downstream(seen.clone()).await;
    let t = tracer("front", &daemon.lock().unwrap());
    let addr = front(t, down, &["/ok"], true).await;

    let root = "1-5759e988-bd862e3fe1be46a994272794";
    let req = Request::get(format!("http://{addr}/"))
        .header("x-amzn-trace-id", format!("Root={root};Sampled=0"))
        .body(Body::default())
        .unwrap();
    send(&client(), req).await;
    // Outside any trace: no header added.
    let bare = XRayClientLayer::new().layer(client());
    let req = Request::get(format!("http://{down}/bare"))
        .body(Body::default())
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), bare.oneshot(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let header = seen[0].1.as_deref().expect("header even when not sampled");
    assert!(
        header.starts_with(&format!("Root={root};Parent=")) && header.ends_with(";Sampled=0"),
        "{header}"
    );
    assert_eq!(seen[1], ("/bare".to_owned(), None));
    assert!(
        recv(&daemon, 1, Duration::from_millis(500))
            .await
            .is_empty(),
        "nothing sent for an unsampled trace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_context_traced_flag_and_connection_errors() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let tracer = tracer("worker", &daemon.lock().unwrap());
    // A port with nothing listening: bind, note the port, close.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let seen = Seen::default();
    let down = downstream(seen.clone()).await;

    // A background job: the context travels in the request's extensions.
    let ctx = tracer.begin(None);
    let http = XRayClientLayer::new().traced(true).layer(client());
    let mut req = Request::get(format!("http://{down}/ok"))
        .body(Body::default())
        .unwrap();
    req.extensions_mut().insert(ctx.clone());
    let resp = tokio::time::timeout(Duration::from_secs(5), http.clone().oneshot(req)).await;
    assert_eq!(resp.unwrap().unwrap().status(), 200);
    let mut req = Request::get(format!("http://{closed}/refused"))
        .body(Body::default())
        .unwrap();
    req.extensions_mut().insert(ctx.clone());
    let resp = tokio::time::timeout(Duration::from_secs(5), http.clone().oneshot(req)).await;
    assert!(resp.unwrap().is_err(), "connection refused");
    drop(ctx); // the last handle: ends the segment and gives the recorder back

    let got = recv(&daemon, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let doc = check_datagram(&got[0]);
    assert_eq!(doc["name"], "worker");
    let subs = doc["subsegments"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0]["traced"], true);
    assert_eq!(subs[1]["fault"], true);
    assert!(subs[1]["http"].get("response").is_none());
    assert!(
        !subs[1]["cause"]["exceptions"][0]["message"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert!(
        seen.lock().unwrap()[0]
            .1
            .as_deref()
            .unwrap()
            .contains(subs[0]["id"].as_str().unwrap())
    );
    assert_eq!(tracer.pool_available(), 8);
}
