//! The tracing layer in a real axum 0.8 service behind [`XRayServerLayer`], served over
//! 127.0.0.1 and called with a real hyper client: `#[tracing::instrument]` functions called
//! by the handler (one in a task spawned with `in_current_span`, one emitting
//! `tracing::error!`) must appear as nested subsegments of the request's segment, every
//! document valid against the schema.
//!
//! The concurrency test keeps 64 requests in flight at once (each handler waits on a barrier
//! of 64 inside its span) and checks that every subsegment lands in its own request's trace.
//! Documents are awaited on a condition variable (bounded: 20 s, then the test fails).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use support::{check_datagram, entities};
use tokio::sync::Barrier;
use tracing::Instrument;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use xray_std::Tracer;
use xray_std::integrations::TRACE_HEADER;
use xray_std::integrations::http_server::XRayServerLayer;
use xray_std::integrations::tracing_layer::{DefaultFilter, XRayLayer};
use xray_std::tracer::SharedTransport;

type Body = Full<Bytes>;

/// Keeps every datagram and wakes whoever waits for them.
#[derive(Default)]
struct Datagrams {
    sent: Mutex<Vec<Vec<u8>>>,
    arrived: Condvar,
}

impl SharedTransport for Datagrams {
    fn send_shared(&self, datagram: &[u8]) {
        self.sent.lock().unwrap().push(datagram.to_vec());
        self.arrived.notify_all();
    }
}

impl Datagrams {
    /// Waits for `n` datagrams (at most 20 s) and returns them checked and parsed.
    fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut sent = self.sent.lock().unwrap();
        while sent.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{} of {n} datagrams after 20 s",
                sent.len()
            );
            sent = self.arrived.wait_timeout(sent, left).unwrap().0;
        }
        assert_eq!(sent.len(), n, "more datagrams than requests");
        sent.iter().map(|d| check_datagram(d)).collect()
    }
}

/// The layer with its default filter, for every thread of this test binary.
fn install_subscriber() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let subscriber =
            tracing_subscriber::registry().with(XRayLayer::new().with_filter(DefaultFilter));
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    });
}

struct App {
    /// Handlers wait here inside their `checkout` span (concurrency test), if set.
    barrier: Option<Barrier>,
}

async fn order(State(app): State<Arc<App>>, Path(id): Path<i64>) -> String {
    checkout(&app, id).await
}

#[tracing::instrument(skip(app), fields(customer = "acme", metadata.channel = "web"))]
async fn checkout(app: &App, order_id: i64) -> String {
    let price = tokio::spawn(price(order_id).in_current_span())
        .await
        .expect("the price task does not panic");
    if let Some(barrier) = &app.barrier {
        barrier.wait().await;
    }
    let rows = query_orders(order_id).await;
    charge(order_id).await;
    format!("{price}:{rows}")
}

#[tracing::instrument]
async fn price(order_id: i64) -> i64 {
    tokio::task::yield_now().await;
    exchange_rate().await * order_id
}

#[tracing::instrument]
async fn exchange_rate() -> i64 {
    tokio::task::yield_now().await;
    2
}

#[tracing::instrument(fields(
    db.system.name = "postgresql",
    db.query.text = "SELECT * FROM orders WHERE id = $1",
    db.namespace = "shop",
    server.address = "db.internal",
))]
async fn query_orders(order_id: i64) -> u64 {
    tokio::task::yield_now().await;
    1
}

#[tracing::instrument]
async fn charge(order_id: i64) {
    tokio::task::yield_now().await;
    tracing::warn!("retrying the card network");
    tracing::error!(exception.type = "CardDeclined", "card declined for order {order_id}");
}

fn root(i: usize) -> String {
    format!("1-5759e988-bd862e3fe1be46a99427{i:04x}")
}

/// Serves the app behind the server layer on 127.0.0.1 and sends `n` requests at once,
/// request `i` for order `i` with trace `root(i)`; returns the documents.
async fn run(n: usize, barrier: bool) -> Vec<Value> {
    install_subscriber();
    let datagrams = Arc::new(Datagrams::default());
    let tracer = Tracer::builder("orders")
        .transport(datagrams.clone())
        .pool_size(n)
        .build();
    let app = Arc::new(App {
        barrier: barrier.then(|| Barrier::new(n)),
    });
    let router = Router::new()
        .route("/order/{id}", get(order))
        .with_state(app)
        .layer(XRayServerLayer::new(tracer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let req = Request::get(format!("http://{addr}/order/{i}"))
                    .header(TRACE_HEADER, format!("Root={};Sampled=1", root(i)))
                    .body(Body::default())
                    .unwrap();
                let resp = client.request(req).await.expect("response");
                assert_eq!(resp.status(), 200);
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(&body[..], format!("{}:1", 2 * i).as_bytes());
            })
        })
        .collect();
    for call in calls {
        call.await.expect("the call succeeds");
    }
    let docs = tokio::task::spawn_blocking(move || datagrams.wait_for(n))
        .await
        .unwrap();
    server.abort();
    docs
}

fn child<'a>(parent: &'a Value, name: &str) -> &'a Value {
    let subs = parent["subsegments"]
        .as_array()
        .unwrap_or_else(|| panic!("no subsegments under {parent}"));
    let found: Vec<_> = subs.iter().filter(|s| s["name"] == name).collect();
    assert_eq!(found.len(), 1, "one {name} under {parent}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_functions_become_nested_subsegments() {
    let docs = run(1, false).await;
    let doc = &docs[0];
    assert_eq!(doc["trace_id"], root(0));
    assert_eq!(doc["name"], "orders");
    // Only the application's spans: the handler's one, none of axum's, hyper's or tokio's.
    let subs = doc["subsegments"].as_array().unwrap();
    assert_eq!(subs.len(), 1, "{doc}");
    let checkout = child(doc, "checkout");
    assert_eq!(checkout["annotations"]["order_id"], 0);
    assert_eq!(checkout["annotations"]["customer"], "acme");
    assert_eq!(checkout["metadata"]["default"]["channel"], "web");
    assert!(checkout.get("fault").is_none(), "{checkout}");

    // The spawned task's span nests under its caller's, and its own child under it.
    let price = child(checkout, "price");
    child(price, "exchange_rate");

    let query = child(checkout, "query_orders");
    assert_eq!(query["namespace"], "remote");
    assert_eq!(query["sql"]["database_type"], "postgresql");
    assert_eq!(
        query["sql"]["sanitized_query"],
        "SELECT * FROM orders WHERE id = $1"
    );
    assert_eq!(query["sql"]["url"], "db.internal/shop");

    let charge = child(checkout, "charge");
    assert_eq!(charge["fault"], true);
    let exceptions = charge["cause"]["exceptions"].as_array().unwrap();
    assert_eq!(
        exceptions.len(),
        1,
        "the WARN event records nothing: {charge}"
    );
    assert_eq!(exceptions[0]["type"], "CardDeclined");
    assert_eq!(exceptions[0]["message"], "card declined for order 0");

    // Times nest: every child within its parent.
    for parent in entities(doc) {
        for c in parent["subsegments"].as_array().into_iter().flatten() {
            let (ps, pe) = (
                parent["start_time"].as_f64().unwrap(),
                parent["end_time"].as_f64().unwrap(),
            );
            let (cs, ce) = (
                c["start_time"].as_f64().unwrap(),
                c["end_time"].as_f64().unwrap(),
            );
            assert!(
                ps <= cs && ce <= pe,
                "{} outside {}",
                c["name"],
                parent["name"]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_keep_their_spans_in_their_own_trace() {
    const N: usize = 64;
    let docs = run(N, true).await;
    let mut seen = [false; N];
    for doc in &docs {
        let trace = doc["trace_id"].as_str().unwrap();
        let i = (0..N).find(|&i| root(i) == trace).expect("a trace we sent");
        assert!(!seen[i], "two documents for request {i}");
        seen[i] = true;
        let checkout = child(doc, "checkout");
        assert_eq!(checkout["annotations"]["order_id"], i, "{doc}");
        let price = child(checkout, "price");
        assert_eq!(price["annotations"]["order_id"], i, "{doc}");
        child(price, "exchange_rate");
        assert_eq!(
            child(checkout, "query_orders")["annotations"]["order_id"],
            i
        );
        let charge = child(checkout, "charge");
        let message = &charge["cause"]["exceptions"][0]["message"];
        assert_eq!(message, &format!("card declined for order {i}"));
        // Five subsegments, no more: nothing from another request leaked in.
        assert_eq!(entities(doc).len(), 6, "{doc}");
    }
    assert!(seen.iter().all(|&s| s));
}
