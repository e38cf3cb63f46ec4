//! Datagrams made by the real recorder (`xray-core`), with a settable clock and a
//! deterministic RNG so that ids and timestamps (and so the drawings) are the same on every
//! run; and the snapshot check.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use xray_core::model::{Aws, Exception, HttpRequest, HttpResponse, Sql};
use xray_core::rand_core::{Infallible, TryRng};
use xray_core::recorder::Sampling;
use xray_core::{
    Clock, Recorder, RecorderConfig, SampledFlag, SegmentId, Timestamp, TraceHeader, TraceId,
    Transport,
};
use xray_view::{RenderOptions, Viewer};

/// The epoch second every scenario starts at (2023-11-14T22:13:20Z).
pub const EPOCH: u64 = 1_700_000_000;

/// A clock the test moves by hand, in microseconds after its epoch second ([`EPOCH`]
/// unless told).
pub struct StepClock(Cell<u64>, u64);

impl StepClock {
    pub fn new() -> Self {
        Self::starting_at(EPOCH)
    }
    /// A clock starting at this epoch second.
    pub fn starting_at(epoch: u64) -> Self {
        Self(Cell::new(0), epoch)
    }
    /// Moves to `ms` milliseconds after the start.
    pub fn at_ms(&self, ms: f64) -> &Self {
        self.0.set((ms * 1000.0) as u64);
        self
    }
}

impl Clock for StepClock {
    fn now(&self) -> Option<Timestamp> {
        Some(Timestamp::from_micros(self.1 * 1_000_000 + self.0.get()))
    }
}

/// SplitMix64: the same ids on every run.
pub struct TestRng(pub u64);

impl TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// A transport keeping every datagram.
#[derive(Default)]
pub struct Collect(pub Vec<Vec<u8>>);

impl Transport for Collect {
    fn send(&mut self, datagram: &[u8]) {
        self.0.push(datagram.to_vec());
    }
}

fn recorder(config: RecorderConfig) -> Recorder<Vec<u8>> {
    Recorder::new(vec![0; config.budget + 8192], config)
}

/// A web request: a segment with HTTP, annotations and the sampling rule; a remote call; an
/// AWS call that was throttled; nested work with a database query and a failing payment.
/// With `stream_all`, every subsegment is sent on its own as it closes.
pub fn web_request(seed: u64, stream_all: bool) -> Vec<Vec<u8>> {
    let mut out = Collect::default();
    record_web_request(seed, stream_all, EPOCH, &mut out);
    assert!(!out.0.is_empty());
    out.0
}

/// [`web_request`] in one datagram, starting at the epoch second `epoch`.
pub fn web_request_at(seed: u64, epoch: u64) -> Vec<u8> {
    let mut out = Collect::default();
    record_web_request(seed, false, epoch, &mut out);
    out.0.remove(0)
}

/// [`web_request`], starting at the epoch second `epoch`, sent to `out` as it is recorded.
pub fn record_web_request(seed: u64, stream_all: bool, epoch: u64, mut out: impl Transport) {
    let clock = StepClock::starting_at(epoch);
    let mut rng = TestRng(seed);
    let mut rec = recorder(RecorderConfig::default().stream_all(stream_all));
    let seg = rec.begin_segment(
        "orders-api",
        None,
        Sampling {
            sampled: true,
            rule: Some("orders"),
        },
        clock.at_ms(0.0),
        &mut rng,
    );
    let _ = rec.set_http_request(
        seg,
        &HttpRequest {
            method: Some("POST"),
            url: Some("https://orders.example.com/orders"),
            ..HttpRequest::default()
        },
    );
    let _ = rec.annotate(seg, "customer", "acme-corp");
    let _ = rec.annotate(seg, "order_count", 3);

    let inventory = rec.begin_subsegment(seg, "inventory-service", clock.at_ms(0.4), &mut rng);
    let _ = rec.set_namespace(inventory, "remote");
    let _ = rec.set_http_request(
        inventory,
        &HttpRequest {
            method: Some("GET"),
            url: Some("https://inventory.internal/v1/stock"),
            ..HttpRequest::default()
        },
    );
    let _ = rec.set_http_response(
        inventory,
        &HttpResponse {
            status: Some(200),
            content_length: Some(512),
        },
    );
    let _ = rec.end(inventory, clock.at_ms(2.9), &mut out);

    let dynamo = rec.begin_subsegment(seg, "DynamoDB", clock.at_ms(3.0), &mut rng);
    let _ = rec.set_namespace(dynamo, "aws");
    let _ = rec.set_aws(
        dynamo,
        &Aws {
            operation: Some("GetItem"),
            table_name: Some("carts"),
            region: Some("eu-west-1"),
            ..Aws::default()
        },
    );
    let _ = rec.set_http_response(
        dynamo,
        &HttpResponse {
            status: Some(429),
            content_length: None,
        },
    );
    let _ = rec.set_error(dynamo);
    let _ = rec.set_throttle(dynamo);
    let _ = rec.end(dynamo, clock.at_ms(4.1), &mut out);

    let checkout = rec.begin_subsegment(seg, "checkout", clock.at_ms(4.5), &mut rng);
    let db = rec.begin_subsegment(checkout, "orders-db", clock.at_ms(4.7), &mut rng);
    let _ = rec.set_namespace(db, "remote");
    let _ = rec.set_sql(
        db,
        &Sql {
            sanitized_query: Some("SELECT * FROM carts WHERE customer = ?"),
            database_type: Some("PostgreSQL"),
            ..Sql::default()
        },
    );
    let _ = rec.end(db, clock.at_ms(6.2), &mut out);
    let payment = rec.begin_subsegment(checkout, "charge-card", clock.at_ms(6.5), &mut rng);
    let _ = rec.add_exception(
        payment,
        &Exception {
            type_name: Some("GatewayTimeout"),
            message: Some("payment gateway timed out"),
            ..Exception::default()
        },
        &mut rng,
    );
    let _ = rec.set_fault(payment);
    let _ = rec.end(payment, clock.at_ms(11.0), &mut out);
    let _ = rec.set_fault(checkout);
    let _ = rec.end(checkout, clock.at_ms(11.2), &mut out);

    let _ = rec.set_http_response(
        seg,
        &HttpResponse {
            status: Some(502),
            content_length: None,
        },
    );
    let _ = rec.set_fault(seg);
    let _ = rec.end(seg, clock.at_ms(12.0), &mut out);
}

/// A Lambda invocation: subsegments under the facade segment, which the Lambda service
/// writes and never sends here; each subsegment is its own datagram.
pub fn lambda(seed: u64) -> Vec<Vec<u8>> {
    lambda_at(seed, EPOCH)
}

/// [`lambda`], starting at the epoch second `epoch`.
pub fn lambda_at(seed: u64, epoch: u64) -> Vec<Vec<u8>> {
    let clock = StepClock::starting_at(epoch);
    let mut rng = TestRng(seed);
    let mut out = Collect::default();
    // As in Lambda: every subsegment is sent on its own as it closes.
    let mut rec = recorder(RecorderConfig::default().stream_all(true));
    let trace = TraceId::generate(clock.now().unwrap(), &mut rng);
    let header = TraceHeader::with(
        trace,
        Some(SegmentId::generate(&mut rng)),
        SampledFlag::Sampled,
    );
    let facade = rec.begin_facade(&header);
    let handler = rec.begin_subsegment(facade, "handle-order", clock.at_ms(1.0), &mut rng);
    let _ = rec.annotate(handler, "order_id", "o-42");
    let s3 = rec.begin_subsegment(handler, "S3", clock.at_ms(2.0), &mut rng);
    let _ = rec.set_namespace(s3, "aws");
    let _ = rec.set_aws(
        s3,
        &Aws {
            operation: Some("PutObject"),
            bucket_name: Some("receipts"),
            ..Aws::default()
        },
    );
    let _ = rec.set_http_response(
        s3,
        &HttpResponse {
            status: Some(200),
            content_length: None,
        },
    );
    let _ = rec.end(s3, clock.at_ms(7.5), &mut out);
    let _ = rec.end(handler, clock.at_ms(8.0), &mut out);
    let _ = rec.end(facade, clock.at_ms(8.0), &mut out);
    assert!(
        out.0.len() >= 2,
        "one datagram per subsegment: {}",
        out.0.len()
    );
    out.0
}

/// The current epoch second, for datagrams the X-Ray service would take today.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The header line and the document of a datagram.
pub fn split(datagram: &[u8]) -> (String, Value) {
    let text = std::str::from_utf8(datagram).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    (header.to_owned(), serde_json::from_str(body).unwrap())
}

/// A datagram from a header line and a document.
pub fn join(header: &str, doc: &Value) -> Vec<u8> {
    format!("{header}\n{doc}").into_bytes()
}

/// The in-progress version of a document, as a long request would send first: no
/// `end_time`, `"in_progress": true`, and its embedded children in progress too.
pub fn in_progress(doc: &Value) -> Value {
    let mut doc = doc.clone();
    let mut stack = vec![&mut doc];
    while let Some(e) = stack.pop() {
        let Some(fields) = e.as_object_mut() else {
            continue;
        };
        fields.remove("end_time");
        fields.insert("in_progress".into(), Value::Bool(true));
        if let Some(Value::Array(children)) = fields.get_mut("subsegments") {
            stack.extend(children.iter_mut());
        }
    }
    doc
}

/// What the viewer prints for these datagrams, arriving in this order, one a millisecond,
/// each followed by what became ready; then what is left when the input ends.
pub fn view(datagrams: &[Vec<u8>]) -> String {
    let mut viewer = Viewer::new(RenderOptions::default()).unwrap();
    let t0 = Instant::now();
    let mut out = String::new();
    for (i, d) in datagrams.iter().enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        if let Some(text) = viewer.receive(d, now) {
            out.push_str(&text);
            out.push('\n');
        }
        out.push_str(&viewer.ready(now, Duration::from_secs(2)));
    }
    out.push_str(&viewer.finish());
    out
}

/// Compares `actual` with `tests/snapshots/<name>.txt`. With `UPDATE_SNAPSHOTS=1` in the
/// environment, writes it there instead.
pub fn snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run `UPDATE_SNAPSHOTS=1 cargo test -p xray-view` to record it\n--- actual ---\n{actual}", path.display())
    });
    if expected != actual {
        panic!(
            "{name}: the drawing changed; if that is intended, re-record with `UPDATE_SNAPSHOTS=1 cargo test -p xray-view` and review the diff\n--- expected ({}) ---\n{expected}\n--- actual ---\n{actual}",
            path.display()
        );
    }
}
