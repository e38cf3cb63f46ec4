//! The reference request every benchmark and load test records (issue 2).
//!
//! Shared by the tests and the benchmark through `#[path]`.

use xray_core::model::{Exception, HttpRequest, HttpResponse};
use xray_core::rand_core::Rng;
use xray_core::{Clock, Recorder, Transport};

/// The metadata value `default.request`.
#[derive(serde::Serialize)]
pub struct RequestInfo {
    pub path: &'static str,
    pub items: u32,
    pub tags: [&'static str; 2],
}

pub const REQUEST_INFO: RequestInfo = RequestInfo {
    path: "/orders/123",
    items: 3,
    tags: ["a", "b"],
};

/// Records and sends one reference request: segment `bench-service` with three annotations
/// and one metadata value; subsegments `downstream-api` (remote GET, 200) and `compute`
/// (fault, one exception).
///
/// Returns how many recording calls did not record what they were given (0 when all did),
/// counted without allocating so the no-alloc test can check it.
pub fn record<B: AsMut<[u8]> + AsRef<[u8]>, C: Clock, R: Rng, T: Transport>(
    rec: &mut Recorder<B>,
    clock: &C,
    rng: &mut R,
    transport: &mut T,
) -> u32 {
    let mut missed = 0;
    let mut check = |o: xray_core::Outcome| missed += u32::from(!o.is_recorded());
    let seg = rec.begin_segment("bench-service", None, true, clock, rng);
    check(rec.annotate(seg, "customer", "acme-corp"));
    check(rec.annotate(seg, "order_count", 42));
    check(rec.annotate(seg, "premium", true));
    check(rec.add_metadata(seg, "default", "request", &REQUEST_INFO));
    let api = rec.begin_subsegment(seg, "downstream-api", clock, rng);
    check(rec.set_namespace(api, "remote"));
    check(rec.set_http_request(
        api,
        &HttpRequest {
            method: Some("GET"),
            url: Some("https://api.example.com/v1/items"),
            ..Default::default()
        },
    ));
    check(rec.set_http_response(
        api,
        &HttpResponse {
            status: Some(200),
            content_length: None,
        },
    ));
    check(rec.end(api, clock, transport));
    let compute = rec.begin_subsegment(seg, "compute", clock, rng);
    check(rec.set_fault(compute));
    check(rec.add_exception(
        compute,
        &Exception {
            message: Some("simulated failure"),
            ..Default::default()
        },
        rng,
    ));
    check(rec.end(compute, clock, transport));
    check(rec.end(seg, clock, transport));
    missed
}
