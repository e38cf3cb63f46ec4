//! A gRPC call traced end to end: tonic-health's `grpc.health.v1.Health` service served by
//! tonic on 127.0.0.1 behind [`XRayServerLayer`] (`Server::builder().layer(..)`), called by
//! tonic's generated client over a `Channel` wrapped in [`XRayClientLayer`]. Both sides send
//! to the stand-in daemon; the trace header crosses HTTP/2, and the gRPC status (in the
//! trailers, or in the headers of a trailers-only answer) becomes flags on both sides.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod http_support;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_support::{recv, tracer};
use serde_json::Value;
use support::{Daemon, check_datagram};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus as Answer;
use tonic_health::pb::health_client::HealthClient;
use xray_std::integrations::http_client::XRayClientLayer;
use xray_std::integrations::http_server::XRayServerLayer;

const WITHIN: Duration = Duration::from_secs(30);

fn flag(entity: &Value, name: &str) -> bool {
    entity.get(name) == Some(&Value::Bool(true))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_check_is_traced_across_tonic_client_and_server() {
    let daemon = Arc::new(Mutex::new(Daemon::bind()));
    let server_tracer = tracer("health-server", &daemon.lock().unwrap());
    let client_tracer = tracer("health-client", &daemon.lock().unwrap());

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("orders.Orders", ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .layer(XRayServerLayer::new(server_tracer.clone()))
            .add_service(health)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = stopped.await;
            }),
    );

    let origin: http::Uri = format!("http://{addr}").parse().unwrap();
    let channel = tokio::time::timeout(WITHIN, Endpoint::from(origin.clone()).connect())
        .await
        .expect("connected within 30 s")
        .expect("connect");
    let traced = tower::ServiceBuilder::new()
        .layer(XRayClientLayer::new().traced(true))
        .service(channel);
    // With the origin, the request URI names the host (tonic's channel would add it only
    // below the layer), so the subsegment is named after it.
    let mut health = HealthClient::with_origin(traced, origin);

    let ctx = client_tracer.begin(None);
    let ask = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    let serving = tokio::time::timeout(
        WITHIN,
        ctx.clone().scope(health.check(ask("orders.Orders"))),
    )
    .await
    .expect("answer within 30 s")
    .expect("Check succeeds");
    assert_eq!(serving.into_inner().status, Answer::Serving as i32);
    let unknown = tokio::time::timeout(WITHIN, ctx.clone().scope(health.check(ask("nope.Nope"))))
        .await
        .expect("answer within 30 s")
        .expect_err("an unknown service is NOT_FOUND");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    ctx.end();
    drop(ctx); // gives the recorder back

    let got = recv(&daemon, 3, WITHIN).await;
    stop.send(()).unwrap();
    tokio::time::timeout(WITHIN, server)
        .await
        .expect("server stopped within 30 s")
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 3, "two server segments and the client's");
    let docs: Vec<Value> = got.iter().map(|d| check_datagram(d)).collect();
    let caller = docs
        .iter()
        .find(|d| d["name"] == "health-client")
        .expect("client segment");
    let calls = caller["subsegments"].as_array().expect("calls");
    assert_eq!(calls.len(), 2);
    let served: Vec<&Value> = docs
        .iter()
        .filter(|d| d["name"] == "health-server")
        .collect();
    assert_eq!(served.len(), 2);

    let url = format!("http://{addr}/grpc.health.v1.Health/Check");
    for (i, call) in calls.iter().enumerate() {
        assert_eq!(call["name"], "127.0.0.1");
        assert_eq!(call["namespace"], "remote");
        assert_eq!(call["traced"], true);
        assert_eq!(call["http"]["request"]["method"], "POST");
        assert_eq!(call["http"]["request"]["url"], url.as_str());
        assert_eq!(call["http"]["response"]["status"], 200, "gRPC answers 200");
        // Each call's header reached the server: its segment continues the trace under it.
        let segment = served
            .iter()
            .find(|s| s["parent_id"] == call["id"])
            .unwrap_or_else(|| panic!("no server segment under call {i}: {docs:?}"));
        assert_eq!(segment["trace_id"], caller["trace_id"]);
        assert_eq!(segment["http"]["request"]["method"], "POST");
        assert!(
            segment["http"]["request"]["url"]
                .as_str()
                .unwrap()
                .ends_with("/grpc.health.v1.Health/Check")
        );
        // The call ends when the client has read the trailers, after the server's body ended.
        assert!(segment["end_time"].as_f64() <= call["end_time"].as_f64());
        assert!(call["start_time"].as_f64() <= segment["start_time"].as_f64());
        let failed = i == 1;
        for entity in [call, *segment] {
            assert_eq!(
                flag(entity, "error"),
                failed,
                "NOT_FOUND is error: {entity}"
            );
            assert!(
                !flag(entity, "fault") && !flag(entity, "throttle"),
                "{entity}"
            );
            if failed {
                let exception = &entity["cause"]["exceptions"][0];
                assert_eq!(exception["type"], "NOT_FOUND");
                assert_eq!(exception["message"], "service not registered", "decoded");
            } else {
                assert!(entity.get("cause").is_none(), "{entity}");
            }
        }
        assert_eq!(
            call["cause"]["exceptions"][0]["remote"],
            if failed {
                Value::Bool(true)
            } else {
                Value::Null
            }
        );
    }
    assert_eq!(server_tracer.pool_available(), 8);
    assert_eq!(client_tracer.pool_available(), 8);
}
