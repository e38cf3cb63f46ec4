//! A small traced system on 127.0.0.1, shared by the `demo` and `axum_service` binaries.
//!
//! Three programs, each with its own [`Tracer`] (as three processes would have):
//!
//! - `inventory`: an axum service with [`XRayServerLayer`], `GET /stock/{sku}`;
//! - `orders-api`: an axum service with [`XRayServerLayer`] whose handlers call `inventory`
//!   through hyper-util's client wrapped in [`XRayClientLayer`], record a database-like
//!   subsegment with a nested query (`POST /orders`) and fail in a nested subsegment
//!   (`POST /orders/{id}/pay` answers 502 after a payment error);
//! - `checkout-cli`: a traced client that begins its own segment for each call, sampled by
//!   local sampling rules ([`RULES`]): orders are sampled, health checks are not. Its
//!   [`XRayClientLayer`] passes the decision on in `X-Amzn-Trace-Id`, so the services record
//!   a sampled call and nothing for an unsampled one.
//!
//! Every datagram goes to the daemon address given to [`Shop::start`].

use std::error::Error;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};
use xray_std::integrations::TRACE_HEADER;
use xray_std::integrations::http_client::{XRayClient, XRayClientLayer};
use xray_std::integrations::http_server::XRayServerLayer;
use xray_std::model::Sql;
use xray_std::sampling::SamplingRequest;
use xray_std::{Tracer, UdpTransport, current};

/// The request body type of the shop's HTTP clients.
pub type Body = Full<Bytes>;

/// A hyper-util client that records a subsegment per call and sends the trace header.
pub type TracedClient = XRayClient<Client<HttpConnector, Body>>;

/// `checkout-cli`'s local sampling rules (version 2 rules document): every order is sampled
/// (a reservoir of 10 a second), health checks never are.
pub const RULES: &str = r#"{
  "version": 2,
  "rules": [
    { "description": "health-checks", "host": "*", "http_method": "GET",
      "url_path": "/health", "fixed_target": 0, "rate": 0.0 },
    { "description": "orders", "host": "*", "http_method": "*",
      "url_path": "/orders*", "fixed_target": 10, "rate": 1.0 }
  ],
  "default": { "fixed_target": 1, "rate": 0.05 }
}"#;

/// The three programs of the shop, serving on 127.0.0.1.
pub struct Shop {
    /// Where `orders-api` listens.
    pub orders: SocketAddr,
    /// Where `inventory` listens.
    pub inventory: SocketAddr,
    /// The client program's tracer (`checkout-cli`).
    pub client_tracer: Tracer,
    tracers: Vec<Tracer>,
    http: TracedClient,
}

/// What one call of the client program did.
#[derive(Debug)]
pub struct Call {
    /// `METHOD path`.
    pub what: String,
    /// The HTTP status the client got.
    pub status: u16,
    /// Whether `checkout-cli`'s sampler sampled the call.
    pub sampled: bool,
    /// The header the client sent, as `orders-api` got it.
    pub header: String,
}

#[derive(Clone)]
struct Orders {
    http: TracedClient,
    inventory: SocketAddr,
}

impl Shop {
    /// Starts `orders-api` on `orders` (port 0: any free port) and `inventory` on an
    /// ephemeral 127.0.0.1 port, each with a tracer sending to `daemon`, and makes the client
    /// program's tracer. Needs a Tokio runtime.
    pub async fn start(daemon: SocketAddr, orders: SocketAddr) -> Result<Self, Box<dyn Error>> {
        let tracer = |name: &str| -> Result<Tracer, Box<dyn Error>> {
            Ok(Tracer::builder(name)
                .udp(UdpTransport::new(daemon)?)
                .build())
        };
        let inventory_tracer = tracer("inventory")?;
        let orders_tracer = tracer("orders-api")?;
        let client_tracer = Tracer::builder("checkout-cli")
            .udp(UdpTransport::new(daemon)?)
            .sampling_rules_json(RULES)?
            .build();

        let inventory = serve(
            ([127, 0, 0, 1], 0).into(),
            Router::new()
                .route("/stock/{sku}", get(stock))
                .layer(XRayServerLayer::new(inventory_tracer.clone())),
        )
        .await?;
        // `traced(true)`: every callee here records its own segment.
        let http = XRayClientLayer::new()
            .traced(true)
            .layer(Client::builder(TokioExecutor::new()).build_http());
        let orders = serve(
            orders,
            Router::new()
                .route("/orders", post(create_order))
                .route("/orders/{id}/pay", post(pay))
                .route("/health", get(health))
                .with_state(Orders {
                    http: http.clone(),
                    inventory,
                })
                .layer(XRayServerLayer::new(orders_tracer.clone())),
        )
        .await?;
        Ok(Self {
            orders,
            inventory,
            client_tracer,
            tracers: vec![inventory_tracer, orders_tracer],
            http,
        })
    }

    /// Datagrams sent so far by the three programs.
    pub fn datagrams_sent(&self) -> u64 {
        self.tracers
            .iter()
            .chain([&self.client_tracer])
            .map(|t| t.stats().datagrams)
            .sum()
    }

    /// One call of the client program: begins its trace (the sampling rules decide), calls
    /// `orders-api` with the trace as the current request, and ends the trace.
    pub async fn call(&self, method: &str, path: &str) -> Result<Call, Box<dyn Error>> {
        let host = self.orders.to_string();
        let trace = self.client_tracer.begin_with(
            None,
            &SamplingRequest::new("checkout-cli").with_http(Some(&host), Some(method), Some(path)),
        );
        trace.annotate("cli_command", path);
        let sampled = trace.is_sampled();
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{host}{path}"))
            .body(Body::default())?;
        let response = trace
            .clone()
            .scope(self.http.clone().oneshot(request))
            .await?;
        let status = response.status();
        let header = response
            .headers()
            .get(SEEN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let _ = response.into_body().collect().await?;
        if status.is_server_error() {
            trace.error(format!("{method} {path} answered {status}"));
        }
        drop(trace); // the client's segment is sent here
        Ok(Call {
            what: format!("{method} {path}"),
            status: status.as_u16(),
            sampled,
            header,
        })
    }

    /// The calls the demo and the axum example make: an order (sampled), its payment (sampled,
    /// fails), a health check (not sampled).
    pub async fn run_calls(&self) -> Result<Vec<Call>, Box<dyn Error>> {
        Ok(vec![
            self.call("POST", "/orders").await?,
            self.call("POST", "/orders/1042/pay").await?,
            self.call("GET", "/health").await?,
        ])
    }
}

/// Serves `app` on `addr`, in a Tokio task; returns the address bound.
async fn serve(addr: SocketAddr, app: Router) -> Result<SocketAddr, Box<dyn Error>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// `inventory`: how many of `sku` are in stock.
async fn stock(Path(sku): Path<String>) -> String {
    current::annotate("sku", sku.as_str());
    "17".to_owned()
}

/// The trace header this service got, echoed for the client to print.
fn seen_header(headers: &HeaderMap) -> String {
    headers
        .get(TRACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// `orders-api`: a health check.
async fn health(headers: HeaderMap) -> ([(&'static str, String); 1], &'static str) {
    ([(SEEN, seen_header(&headers))], "ok")
}

/// `orders-api`: checks stock downstream, then writes the order in a database-like
/// subsegment with a nested query.
async fn create_order(
    State(app): State<Orders>,
    headers: HeaderMap,
) -> Result<([(&'static str, String); 1], String), StatusCode> {
    current::annotate("customer", "acme-corp");
    let header = seen_header(&headers);
    let request = Request::get(format!("http://{}/stock/sku-1", app.inventory))
        .body(Body::default())
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let stock = app
        .http
        .clone()
        .oneshot(request)
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    if !stock.status().is_success() {
        return Err(StatusCode::BAD_GATEWAY);
    }
    {
        let db = current::subsegment("orders-db");
        db.namespace("remote");
        db.sql(&Sql {
            url: Some("postgresql://db.internal:5432/orders"),
            database_type: Some("PostgreSQL"),
            sanitized_query: Some("INSERT INTO orders (customer, sku) VALUES ($1, $2)"),
            ..Sql::default()
        });
        let insert = db.subsegment("insert-order");
        insert.annotate("order_id", 1042);
    }
    Ok(([(SEEN, header)], "order 1042 created".to_owned()))
}

/// `orders-api`: the payment fails in a nested subsegment and the request answers 502.
async fn pay(
    Path(id): Path<u32>,
    headers: HeaderMap,
) -> (StatusCode, [(&'static str, String); 1], String) {
    let header = seen_header(&headers);
    let checkout = current::subsegment("checkout");
    checkout.annotate("order_id", id);
    {
        let _validate = checkout.subsegment("validate-cart");
    }
    let charge = checkout.subsegment("charge-card");
    charge.error(std::io::Error::other("payment gateway timed out"));
    (
        StatusCode::BAD_GATEWAY,
        [(SEEN, header)],
        format!("order {id}: payment failed"),
    )
}

/// The response header carrying the trace header a handler saw (for the demo's output).
const SEEN: &str = "x-seen-trace-header";
