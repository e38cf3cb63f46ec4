//! The project's reference request: the one workload the load generator, the benchmarks and
//! the allocation test all record, so that their numbers measure the same thing.
//!
//! A segment (named after the tracer, `bench-service` in the tools) with three annotations
//! (`customer = "acme-corp"`, `order_count = 42`, `premium = true`), one metadata value
//! (`default.request = {"path": "/orders/123", "items": 3, "tags": ["a", "b"]}`) and two
//! subsegments: `downstream-api` (namespace `remote`, `GET https://api.example.com/v1/items`,
//! status 200) and `compute` (fault, one exception `"simulated failure"`).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use xray_std::{reference, Tracer};
//!
//! let tracer = Tracer::builder(reference::SERVICE_NAME)
//!     .transport(Arc::new(Mutex::new(xray_std::core::NullTransport)))
//!     .pool_size(1)
//!     .build();
//! reference::record(&tracer);
//! assert_eq!(tracer.stats().datagrams, 1);
//! ```

use serde::Serialize;
use xray_core::model::{Exception, HttpRequest, HttpResponse};

use crate::tracer::Tracer;

/// The segment name of the reference request.
pub const SERVICE_NAME: &str = "bench-service";

/// The metadata value `default.request`.
#[derive(Serialize)]
struct RequestInfo {
    path: &'static str,
    items: u32,
    tags: [&'static str; 2],
}

const REQUEST: RequestInfo = RequestInfo {
    path: "/orders/123",
    items: 3,
    tags: ["a", "b"],
};

/// Records one reference request with `tracer` (sampled unless the tracer's sampler says
/// otherwise) and sends it. Allocation-free once the tracer is warm.
pub fn record(tracer: &Tracer) {
    let ctx = tracer.begin(None);
    ctx.annotate("customer", "acme-corp");
    ctx.annotate("order_count", 42);
    ctx.annotate("premium", true);
    ctx.metadata("request", &REQUEST);
    {
        let api = ctx.subsegment("downstream-api");
        api.namespace("remote");
        api.http_request(&HttpRequest {
            method: Some("GET"),
            url: Some("https://api.example.com/v1/items"),
            ..HttpRequest::default()
        });
        api.http_response(&HttpResponse {
            status: Some(200),
            ..HttpResponse::default()
        });
    }
    {
        let compute = ctx.subsegment("compute");
        compute.fault();
        compute.exception(&Exception {
            type_name: Some("SimulatedError"),
            message: Some("simulated failure"),
            ..Exception::default()
        });
    }
}
