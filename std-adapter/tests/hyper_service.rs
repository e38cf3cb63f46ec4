//! The server layer on hyper directly, no framework: hyper 1's `serve_connection` with a
//! `tower::ServiceBuilder` stack (a `map_request` giving the [`PeerAddr`], then
//! [`XRayServerLayer`], then a `service_fn`) adapted by hyper-util's `TowerToHyperService`.
//! Once on the multi-threaded runtime, once on a `LocalSet` with a handler whose future is not
//! `Send` (it holds an `Rc` across an await), which the layer must accept as tower-http does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod http_support;
mod support;

use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Request;
use http_support::{Body, client, recv, respond, send, tracer};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use support::{Daemon, check_datagram};
use xray_std::integrations::http_server::{PeerAddr, XRayServerLayer};

const WITHIN: Duration = Duration::from_secs(30);
const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272797";

async fn hello(req: Request<Incoming>) -> Result<http::Response<Body>, Infallible> {
    xray_std::current::annotate("path", req.uri().path());
    Ok(respond(200, "hello"))
}

/// A request continuing `ROOT` under a caller's segment.
fn continued(addr: SocketAddr, path: &str) -> Request<Body> {
    Request::get(format!("http://{addr}{path}"))
        .header(
            "x-amzn-trace-id",
            format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"),
        )
        .body(Body::default())
        .unwrap()
}

/// Checks the one segment `got` holds for `path`.
fn check_segment(got: &[Vec<u8>], path: &str) -> Value {
    assert_eq!(got.len(), 1, "one segment");
    let doc = check_datagram(&got[0]);
    assert_eq!(doc["trace_id"], ROOT);
    assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
    assert_eq!(
        doc["annotations"]["path"], path,
        "the handler ran as the current request"
    );
    assert_eq!(
        doc["http"]["request"]["client_ip"], "127.0.0.1",
        "from PeerAddr"
    );
    assert_eq!(doc["http"]["response"]["status"], 200);
    assert_eq!(doc["http"]["response"]["content_length"], 5);
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_serve_connection_with_a_tower_service_builder_stack() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let tracer = tracer("hyper-direct", &daemon.lock().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = XRayServerLayer::new(tracer.clone());
    let server = tokio::spawn(async move {
        let (stream, remote) = listener.accept().await.unwrap();
        let svc = tower::ServiceBuilder::new()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(PeerAddr(remote));
                req
            })
            .layer(layer)
            .service_fn(hello);
        hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
            .await
    });

    let (status, _, body) = send(&client(), continued(addr, "/direct")).await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    let got = recv(&daemon, 1, WITHIN).await;
    check_segment(&got, "/direct");
    // The client (a temporary) is gone, and with it the connection: the server returns.
    tokio::time::timeout(WITHIN, server)
        .await
        .expect("connection closed within 30 s")
        .unwrap()
        .expect("served without error");
    assert_eq!(tracer.pool_available(), 8);
}

#[test]
fn a_handler_whose_future_is_not_send_is_traced_on_a_local_set() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let daemon = Arc::new(Mutex::new(Daemon::bind()));
        let tracer = tracer("local", &daemon.lock().unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let layer = XRayServerLayer::new(tracer.clone());
        // `spawn_local`: the connection future is not `Send`, because the handler's is not.
        let server = tokio::task::spawn_local(async move {
            let (stream, remote) = listener.accept().await.unwrap();
            let svc = tower::ServiceBuilder::new()
                .map_request(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(PeerAddr(remote));
                    req
                })
                .layer(layer)
                .service_fn(|req: Request<Incoming>| async move {
                    let polls = Rc::new(Cell::new(0u32)); // held across the await: not Send
                    let _work = xray_std::current::subsegment("local-work");
                    tokio::task::yield_now().await;
                    polls.set(polls.get() + 1);
                    hello(req).await
                });
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                .await
        });

        let (status, _, body) = send(&client(), continued(addr, "/local")).await;
        assert_eq!((status, body.as_str()), (200, "hello"));
        let got = recv(&daemon, 1, WITHIN).await;
        let doc = check_segment(&got, "/local");
        assert_eq!(doc["subsegments"][0]["name"], "local-work");
        tokio::time::timeout(WITHIN, server)
            .await
            .expect("connection closed within 30 s")
            .unwrap()
            .expect("served without error");
        assert_eq!(tracer.pool_available(), 8);
    });
}
