//! A real axum 0.8 service with [`XRayServerLayer`] on it and [`XRayClientLayer`] on its
//! outgoing hyper client, calling a second loopback server that records the headers it gets,
//! and a real UDP listener on 127.0.0.1 as the daemon.
//!
//! 256 requests are in flight at once, all arriving with `Sampled=1`: every handler calls
//! downstream and then waits on a barrier of 256, so all of them hold their trace at the same
//! time. Then they answer one at a time, each after the daemon has received the previous
//! one's segment (a burst of 256 datagrams could overflow the listener's socket buffer, and
//! UDP would drop some; ordering the answers keeps one datagram in flight without relying on
//! timing). Every request must produce a segment with the caller's Root and Parent, and every
//! downstream call must carry `Root=<same>;Parent=<the call's subsegment>;Sampled=1`.
//!
//! A second service with room for only 16 recorders shows that requests beyond them still
//! pass the caller's header on unchanged. Everything is bounded in count and time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use support::check_datagram;
use tokio::sync::{Barrier, watch};
use tower::{Layer, ServiceExt};
use xray_std::Tracer;
use xray_std::integrations::TRACE_HEADER;
use xray_std::integrations::http_client::{XRayClient, XRayClientLayer};
use xray_std::integrations::http_server::XRayServerLayer;

type Body = Full<Bytes>;
type Seen = Arc<Mutex<HashMap<usize, String>>>;

fn root(i: usize) -> String {
    format!("1-5759e988-bd862e3fe1be46a99427{i:04x}")
}

fn parent(i: usize) -> String {
    format!("53995c3f42cd{i:04x}")
}

struct App {
    http: XRayClient<Client<HttpConnector, Body>>,
    down: SocketAddr,
    barrier: Barrier,
    /// Answer one at a time, in the order handlers passed the barrier.
    ordered: bool,
    turns: AtomicUsize,
    received: Arc<watch::Sender<usize>>,
}

async fn work(State(app): State<Arc<App>>, Path(i): Path<usize>) -> String {
    let req = Request::get(format!("http://{}/down/{i}", app.down))
        .body(Body::default())
        .unwrap();
    let status = match app.http.clone().oneshot(req).await {
        Ok(resp) => resp.status().as_u16(),
        Err(_) => 0,
    };
    app.barrier.wait().await;
    if app.ordered {
        let turn = app.turns.fetch_add(1, Ordering::SeqCst);
        let mut rx = app.received.subscribe();
        let _ = rx.wait_for(|n| *n >= turn).await;
    }
    status.to_string()
}

async fn down(State(seen): State<Seen>, Path(i): Path<usize>, headers: HeaderMap) -> &'static str {
    if let Some(v) = headers.get(TRACE_HEADER).and_then(|v| v.to_str().ok()) {
        seen.lock().unwrap().insert(i, v.to_owned());
    }
    "ok"
}

async fn listen(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A UDP daemon on 127.0.0.1 read by its own thread: datagrams go to the returned list, and
/// their count to `received`. Stops after `max` datagrams or when `stop` is set.
fn daemon(
    max: usize,
    received: Arc<watch::Sender<usize>>,
    stop: Arc<AtomicBool>,
) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let out = Arc::clone(&got);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while !stop.load(Ordering::SeqCst) && out.lock().unwrap().len() < max {
            if let Ok((n, _)) = socket.recv_from(&mut buf) {
                out.lock().unwrap().push(buf[..n].to_vec());
                received.send_modify(|c| *c += 1);
            }
        }
    });
    (addr, got)
}

struct Run {
    docs: Vec<Value>,
    seen: HashMap<usize, String>,
    statuses: Vec<String>,
    tracer: Tracer,
}

/// Serves `n` requests at once through a service whose tracer has at most `max` recorders.
async fn run(n: usize, max: usize, ordered: bool) -> Run {
    let received = Arc::new(watch::channel(0usize).0);
    let stop = Arc::new(AtomicBool::new(false));
    let expected = n.min(max);
    let (daemon_addr, datagrams) = daemon(expected, Arc::clone(&received), Arc::clone(&stop));
    let tracer = Tracer::builder("orders-api")
        .udp(xray_std::UdpTransport::new(daemon_addr).unwrap())
        .max_pool_size(max)
        .build(); // default sampling: every request here carries Sampled=1

    let seen: Seen = Arc::default();
    let down_addr = listen(
        Router::new()
            .route("/down/{i}", get(down))
            .with_state(Arc::clone(&seen)),
    )
    .await;
    let app = Arc::new(App {
        http: XRayClientLayer::new().layer(Client::builder(TokioExecutor::new()).build_http()),
        down: down_addr,
        barrier: Barrier::new(n),
        ordered,
        turns: AtomicUsize::new(0),
        received: Arc::clone(&received),
    });
    let addr = listen(
        Router::new()
            .route("/work/{i}", get(work))
            .with_state(app)
            .layer(XRayServerLayer::new(tracer.clone())),
    )
    .await;

    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..n {
        let client = client.clone();
        calls.spawn(async move {
            let req = Request::get(format!("http://{addr}/work/{i}"))
                .header(
                    TRACE_HEADER,
                    format!("Root={};Parent={};Sampled=1", root(i), parent(i)),
                )
                .body(Body::default())
                .unwrap();
            let resp = client.request(req).await.unwrap();
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap()
                .to_bytes();
            String::from_utf8_lossy(&body).into_owned()
        });
    }
    let mut statuses = Vec::new();
    while let Some(r) = calls.join_next().await {
        statuses.push(r.unwrap());
    }
    // Every response is out, so every segment was sent: wait for the daemon to have them.
    let mut rx = received.subscribe();
    let _ = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|c| *c >= expected)).await;
    stop.store(true, Ordering::SeqCst);
    let docs = datagrams
        .lock()
        .unwrap()
        .iter()
        .map(|d| check_datagram(d))
        .collect();
    let seen = seen.lock().unwrap().clone();
    Run {
        docs,
        seen,
        statuses,
        tracer,
    }
}

#[test]
fn axum_256_in_flight_every_request_traced_and_every_call_carries_its_header() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let n = 256;
    let out = rt
        .block_on(async {
            let run = run(n, xray_std::tracer::DEFAULT_MAX_POOL_SIZE, true);
            tokio::time::timeout(Duration::from_secs(120), run).await
        })
        .expect("the run finishes within 120 s");

    assert_eq!(out.statuses.len(), n);
    assert!(
        out.statuses.iter().all(|s| s == "200"),
        "{:?}",
        out.statuses
    );
    let stats = out.tracer.stats();
    assert_eq!(stats.traces, n as u64);
    assert_eq!(stats.sampled, n as u64);
    assert_eq!(stats.pool_exhausted, 0);
    assert!(stats.recorders >= n as u64, "the pool grew: {stats:?}");
    assert_eq!(out.docs.len(), n, "a segment per request");
    let by_root: HashMap<&str, &Value> = out
        .docs
        .iter()
        .map(|d| (d["trace_id"].as_str().unwrap(), d))
        .collect();
    assert_eq!(by_root.len(), n, "one segment per trace");
    for i in 0..n {
        let root = root(i);
        let doc = by_root[root.as_str()];
        assert_eq!(doc["name"], "orders-api");
        assert_eq!(doc["parent_id"], parent(i), "request {i}");
        assert!(
            doc["http"]["request"]["url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/work/{i}"))
        );
        let subs = doc["subsegments"].as_array().unwrap();
        assert_eq!(subs.len(), 1, "request {i}: one downstream call");
        assert_eq!(subs[0]["namespace"], "remote");
        assert_eq!(subs[0]["http"]["response"]["status"], 200);
        let sub_id = subs[0]["id"].as_str().unwrap();
        assert_eq!(
            out.seen.get(&i).map(String::as_str),
            Some(format!("Root={root};Parent={sub_id};Sampled=1").as_str()),
            "request {i}: the downstream call's header"
        );
    }
}

#[test]
fn axum_requests_beyond_the_pool_still_pass_their_header_on() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (n, max) = (64, 16);
    let out = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(60), run(n, max, false)).await })
        .expect("the run finishes within 60 s");

    assert!(
        out.statuses.iter().all(|s| s == "200"),
        "{:?}",
        out.statuses
    );
    let stats = out.tracer.stats();
    assert_eq!(stats.traces, max as u64);
    assert_eq!(stats.pool_exhausted, (n - max) as u64);
    assert_eq!(stats.recorders, max as u64);
    assert_eq!(out.docs.len(), max, "a segment per recorded request");
    let recorded: HashMap<&str, &Value> = out
        .docs
        .iter()
        .map(|d| (d["trace_id"].as_str().unwrap(), d))
        .collect();
    assert_eq!(out.seen.len(), n, "every downstream call carried a header");
    for i in 0..n {
        let header = &out.seen[&i];
        let root = root(i);
        match recorded.get(root.as_str()) {
            Some(doc) => {
                let sub_id = doc["subsegments"][0]["id"].as_str().unwrap();
                assert_eq!(*header, format!("Root={root};Parent={sub_id};Sampled=1"));
            }
            // Not recorded: the caller's header, passed on unchanged.
            None => assert_eq!(
                *header,
                format!("Root={root};Parent={};Sampled=1", parent(i)),
                "request {i}"
            ),
        }
    }
}
