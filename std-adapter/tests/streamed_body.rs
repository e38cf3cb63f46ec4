//! A streamed response body timed by both layers: a hyper server on 127.0.0.1 behind
//! [`XRayServerLayer`] answers with a body fed chunk by chunk from a channel the test holds;
//! a hyper-util client behind [`XRayClientLayer`] reads it frame by frame. The server's
//! segment and the client's subsegment must end after the last chunk was released, and a
//! body the client abandons half-way must still end the segment exactly once, marked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod http_support;
mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use http_support::{Body, client, recv, tracer};
use hyper::body::Incoming;
use serde_json::Value;
use support::{Daemon, check_datagram};
use tokio::sync::mpsc;
use tower::ServiceExt;
use tower_layer::Layer;
use xray_std::integrations::http_client::XRayClientLayer;
use xray_std::integrations::http_server::XRayServerLayer;

const WITHIN: Duration = Duration::from_secs(30);

/// A response body whose chunks come from a channel: it ends when the sender is dropped.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|c| c.map(|c| Ok(Frame::data(c))))
    }
}

/// Serves one streamed response (per request, the next receiver in `bodies`) on 127.0.0.1.
async fn streaming_server(
    tracer: xray_std::Tracer,
    bodies: Arc<Mutex<Vec<mpsc::Receiver<Bytes>>>>,
) -> SocketAddr {
    let svc = XRayServerLayer::new(tracer).layer(tower::service_fn(move |_: Request<Incoming>| {
        let rx = bodies
            .lock()
            .unwrap()
            .pop()
            .expect("a body for every request");
        async move { Ok::<_, Infallible>(Response::new(ChannelBody(rx))) }
    }));
    http_support::serve(svc, false).await
}

/// Seconds since the epoch, cut to whole microseconds (as X-Ray timestamps are written).
fn now_secs() -> f64 {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros();
    micros as f64 / 1e6
}

/// The next data frame of `body`, as text (`None` at the end).
async fn next_chunk<B>(body: &mut B) -> Option<String>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let frame = tokio::time::timeout(WITHIN, body.frame())
        .await
        .expect("a frame within 30 s")?
        .expect("frame");
    let data = frame.into_data().expect("a data frame");
    Some(String::from_utf8_lossy(&data).into_owned())
}

fn by_name<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no segment {name} in {docs:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_segment_and_the_call_end_after_the_last_chunk() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let server_tracer = tracer("streamer", &daemon.lock().unwrap());
    let client_tracer = tracer("downloader", &daemon.lock().unwrap());
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let addr = streaming_server(server_tracer.clone(), Arc::new(Mutex::new(vec![rx]))).await;
    let http = XRayClientLayer::new().traced(true).layer(client());

    let ctx = client_tracer.begin(None);
    let mut req = Request::get(format!("http://{addr}/download"))
        .body(Body::default())
        .unwrap();
    req.extensions_mut().insert(ctx.clone());
    let resp = tokio::time::timeout(WITHIN, http.oneshot(req))
        .await
        .expect("head within 30 s")
        .expect("response");
    assert_eq!(resp.status(), 200);
    let head_at = now_secs();
    let mut body = resp.into_body();

    // Each chunk is released only after the client read the one before.
    let mut released = 0.0;
    for i in 0..3 {
        released = now_secs();
        tx.send(Bytes::from(format!("chunk {i}"))).await.unwrap();
        assert_eq!(
            next_chunk(&mut body).await.as_deref(),
            Some(&*format!("chunk {i}"))
        );
    }
    drop(tx); // the end of the stream
    assert_eq!(next_chunk(&mut body).await, None);
    drop(body);
    ctx.end();

    let got = recv(&daemon, 2, WITHIN).await;
    assert_eq!(got.len(), 2, "the server's segment and the client's");
    let docs: Vec<Value> = got.iter().map(|d| check_datagram(d)).collect();
    let server = by_name(&docs, "streamer");
    let caller = by_name(&docs, "downloader");
    let call = &caller["subsegments"][0];

    assert!(
        released > head_at,
        "the last chunk was released after the head"
    );
    for (what, entity) in [("server segment", server), ("client subsegment", call)] {
        let (start, end) = (
            entity["start_time"].as_f64().unwrap(),
            entity["end_time"].as_f64().unwrap(),
        );
        assert!(start <= head_at, "{what} began before the head: {entity}");
        assert!(
            end >= released,
            "{what} ended at {end}, before the last chunk was released at {released}"
        );
    }
    // The body was read to its end: a plain success on both sides.
    for entity in [server, call] {
        for flag in ["error", "fault"] {
            assert!(
                entity.get(flag).is_none_or(|v| v == false),
                "{flag}: {entity}"
            );
        }
        assert_eq!(entity["http"]["response"]["status"], 200);
        assert!(entity["http"]["response"].get("content_length").is_none());
    }
    assert_eq!(
        server["trace_id"], caller["trace_id"],
        "the header was passed on"
    );
    assert_eq!(server["parent_id"], call["id"]);
    assert_eq!(server_tracer.pool_available(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_abandoned_mid_stream_ends_the_segment_once_marked_cut_short() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let server_tracer = tracer("streamer", &daemon.lock().unwrap());
    let client_tracer = tracer("downloader", &daemon.lock().unwrap());
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let addr = streaming_server(server_tracer.clone(), Arc::new(Mutex::new(vec![rx]))).await;
    let http = XRayClientLayer::new().layer(client());

    let ctx = client_tracer.begin(None);
    let mut req = Request::get(format!("http://{addr}/download"))
        .body(Body::default())
        .unwrap();
    req.extensions_mut().insert(ctx.clone());
    let resp = tokio::time::timeout(WITHIN, http.oneshot(req))
        .await
        .expect("head within 30 s")
        .expect("response");
    let mut body = resp.into_body();
    tx.send(Bytes::from_static(b"first")).await.unwrap();
    assert_eq!(next_chunk(&mut body).await.as_deref(), Some("first"));
    // The client goes away: hyper-util closes a connection whose body was not read out.
    drop(body);
    ctx.end();

    // The server notices when a write fails or the peer's close is read; then it drops the
    // body, and with it the receiver: sending fails from then on (bounded in count and time).
    let gone = tokio::time::timeout(WITHIN, async {
        for _ in 0..10_000 {
            if tx.send(Bytes::from(vec![b'x'; 16 * 1024])).await.is_err() {
                return true;
            }
        }
        false
    })
    .await
    .expect("the server dropped the body within 30 s");
    assert!(
        gone,
        "the server kept reading the body after the client left"
    );

    let got = recv(&daemon, 2, WITHIN).await;
    assert_eq!(got.len(), 2, "one segment on each side");
    assert!(
        recv(&daemon, 1, Duration::from_millis(500))
            .await
            .is_empty(),
        "no second segment for the abandoned body"
    );
    let docs: Vec<Value> = got.iter().map(|d| check_datagram(d)).collect();
    let server = by_name(&docs, "streamer");
    assert_eq!(server["http"]["response"]["status"], 200);
    assert_eq!(server["error"], true, "the client gave up: error, as 4xx");
    assert!(server.get("fault").is_none_or(|v| v == false));
    assert_eq!(server["cause"]["exceptions"][0]["type"], "BodyCutShort");
    // The caller chose to stop reading: its subsegment ends there, unflagged.
    let call = &by_name(&docs, "downloader")["subsegments"][0];
    assert_eq!(call["http"]["response"]["status"], 200);
    for flag in ["error", "fault"] {
        assert!(call.get(flag).is_none_or(|v| v == false), "{flag}: {call}");
    }
    assert_eq!(server_tracer.pool_available(), 8);
}
