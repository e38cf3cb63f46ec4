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
use xray_core::rand_core::Rng;
use xray_core::{Clock, Outcome, Recorder, Transport};

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

/// The reference request's HTTP call.
const API_REQUEST: HttpRequest<'static> = HttpRequest {
    method: Some("GET"),
    url: Some("https://api.example.com/v1/items"),
    user_agent: None,
    client_ip: None,
    x_forwarded_for: false,
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
        api.http_request(&API_REQUEST);
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

/// Records the same request on a bare core [`Recorder`], with the core's own calls: what the
/// request costs without the std handles (no pool, no locks, no shared transport), for the
/// load generator's `--split` breakdown. Sampled. Returns how many calls did not record.
pub fn record_core<B, C, R, T>(
    rec: &mut Recorder<B>,
    clock: &C,
    rng: &mut R,
    transport: &mut T,
) -> u32
where
    B: AsMut<[u8]> + AsRef<[u8]>,
    C: Clock + ?Sized,
    R: Rng + ?Sized,
    T: Transport + ?Sized,
{
    let mut missed = 0;
    let mut check = |o: Outcome| missed += u32::from(!o.is_recorded());
    let seg = rec.begin_segment(SERVICE_NAME, None, true, clock, rng);
    check(rec.annotate(seg, "customer", "acme-corp"));
    check(rec.annotate(seg, "order_count", 42));
    check(rec.annotate(seg, "premium", true));
    check(rec.add_metadata(seg, "default", "request", &REQUEST));
    let api = rec.begin_subsegment(seg, "downstream-api", clock, rng);
    check(rec.set_namespace(api, "remote"));
    check(rec.set_http_request(api, &API_REQUEST));
    check(rec.set_http_response(
        api,
        &HttpResponse {
            status: Some(200),
            ..HttpResponse::default()
        },
    ));
    check(rec.end(api, clock, transport));
    let compute = rec.begin_subsegment(seg, "compute", clock, rng);
    check(rec.set_fault(compute));
    check(rec.add_exception(
        compute,
        &Exception {
            type_name: Some("SimulatedError"),
            message: Some("simulated failure"),
            ..Exception::default()
        },
        rng,
    ));
    check(rec.end(compute, clock, transport));
    check(rec.end(seg, clock, transport));
    missed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use xray_core::{FixedClock, RecorderConfig, SliceTransport, Timestamp};

    /// Keeps every datagram sent.
    #[derive(Default)]
    struct Capture(Vec<Vec<u8>>);

    impl Transport for Capture {
        fn send(&mut self, datagram: &[u8]) {
            self.0.push(datagram.to_vec());
        }
    }

    /// The segment document of a datagram, with the members that differ from one recording
    /// to the next (ids, times) taken out, at every depth.
    fn without_ids_and_times(datagram: &[u8]) -> serde_json::Value {
        fn strip(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(m) => {
                    for key in ["id", "trace_id", "start_time", "end_time"] {
                        m.remove(key);
                    }
                    m.values_mut().for_each(strip);
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
                _ => {}
            }
        }
        let text = std::str::from_utf8(datagram).unwrap();
        let (header, body) = text.split_once('\n').unwrap();
        assert_eq!(header, r#"{"format":"json","version":1}"#);
        let mut doc: serde_json::Value = serde_json::from_str(body).unwrap();
        strip(&mut doc);
        doc
    }

    #[test]
    fn the_core_reference_request_records_what_the_std_one_does() {
        let capture = Arc::new(Mutex::new(Capture::default()));
        let tracer = Tracer::builder(SERVICE_NAME)
            .transport(capture.clone())
            .always_sample()
            .pool_size(1)
            .build();
        record(&tracer);
        let std_datagrams = std::mem::take(&mut capture.lock().unwrap().0);
        assert_eq!(std_datagrams.len(), 1);

        let mut rec = Recorder::new(
            vec![0u8; Recorder::buffer_len(RecorderConfig::default().budget, 8192)],
            RecorderConfig::default(),
        );
        let clock = FixedClock(Timestamp::from_secs_micros(1_700_000_000, 0));
        let mut out = vec![0u8; 65_536];
        let mut slice = SliceTransport::new(&mut out);
        assert_eq!(
            record_core(&mut rec, &clock, &mut crate::ThreadRng, &mut slice),
            0
        );
        assert_eq!(slice.sent(), 1);
        let core = slice.last();
        assert_eq!(core.len(), std_datagrams[0].len());
        let want = without_ids_and_times(&std_datagrams[0]);
        assert!(want["subsegments"][1]["cause"]["exceptions"][0]["message"] == "simulated failure");
        assert_eq!(without_ids_and_times(core), want);
    }
}
