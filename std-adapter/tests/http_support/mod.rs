//! A real HTTP/1.1 server and client on 127.0.0.1 for the `tower` integration tests.
//! Bounded: the server accepts at most 64 connections and stops with the test's runtime.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::ServiceExt;
use xray_std::Tracer;
use xray_std::integrations::http_server::PeerAddr;

use crate::support::Daemon;

pub type Body = Full<Bytes>;

/// Serves `svc` over HTTP/1.1 on 127.0.0.1; with `peer`, each request carries the
/// connection's [`PeerAddr`].
pub async fn serve<S, B>(svc: S, peer: bool) -> SocketAddr
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((stream, remote)) = listener.accept().await else {
                break;
            };
            let svc = svc.clone();
            tokio::spawn(async move {
                let hs = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    if peer {
                        req.extensions_mut().insert(PeerAddr(remote));
                    }
                    svc.clone().oneshot(req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hs)
                    .await;
            });
        }
    });
    addr
}

/// A plain hyper-util client.
pub fn client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `req` with a 5 s timeout; returns the status, headers and body text.
pub async fn send(
    client: &Client<HttpConnector, Body>,
    req: Request<Body>,
) -> (u16, http::HeaderMap, String) {
    let resp = tokio::time::timeout(Duration::from_secs(30), client.request(req))
        .await
        .expect("response within 5 s")
        .expect("response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = tokio::time::timeout(Duration::from_secs(30), resp.into_body().collect())
        .await
        .expect("body within 5 s")
        .expect("body")
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// A response with `status` and `body`.
pub fn respond(status: u16, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
    r
}

/// A tracer named `name` sending over UDP to `daemon`.
pub fn tracer(name: &str, daemon: &Daemon) -> Tracer {
    let udp = xray_std::UdpTransport::new(daemon.addr()).unwrap();
    Tracer::builder(name)
        .udp(udp)
        .always_sample()
        .pool_size(8)
        .build()
}

/// Receives `n` datagrams off the async runtime's threads.
pub async fn recv(daemon: &Arc<Mutex<Daemon>>, n: usize, within: Duration) -> Vec<Vec<u8>> {
    let d = Arc::clone(daemon);
    tokio::task::spawn_blocking(move || d.lock().unwrap().recv(n, within))
        .await
        .unwrap()
}
