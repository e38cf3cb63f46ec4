//! Shared helpers for the core's integration tests.
#![allow(dead_code)]

mod test_rng;

use serde_json::Value;
use std::sync::OnceLock;
pub use test_rng::TestRng;
use xray_core::{Clock, Timestamp, Transport};

/// A clock that advances 1 ms on every read.
pub struct StepClock(pub std::cell::Cell<u64>);

impl StepClock {
    pub fn new() -> Self {
        Self(std::cell::Cell::new(1_700_000_000_000_000))
    }
}

impl Clock for StepClock {
    fn now(&self) -> Option<Timestamp> {
        let t = self.0.get();
        self.0.set(t + 1000);
        Some(Timestamp::from_micros(t))
    }
}

/// Keeps every datagram.
#[derive(Default)]
pub struct Capture(pub Vec<Vec<u8>>);

impl Transport for Capture {
    fn send(&mut self, datagram: &[u8]) {
        self.0.push(datagram.to_vec());
    }
}

fn schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = include_str!("../../../spec/segment-document-schema.json");
        let schema: Value = serde_json::from_str(text).expect("schema is JSON");
        jsonschema::draft4::new(&schema).expect("schema compiles")
    })
}

/// Splits a datagram, checks the header line, parses the document, validates it against the
/// schema and the protocol rules the schema does not spell out. Returns the document.
pub fn check_datagram(datagram: &[u8], budget: usize) -> Value {
    assert!(
        datagram.len() <= budget,
        "datagram of {} bytes over budget {budget}",
        datagram.len()
    );
    let text = std::str::from_utf8(datagram).expect("datagram is UTF-8");
    let (header, body) = text.split_once('\n').expect("header line");
    assert_eq!(header, r#"{"format":"json","version":1}"#);
    let doc: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("invalid JSON ({e}): {body}"));
    let errors: Vec<String> = schema()
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema errors {errors:?} in {body}");
    check_rules(&doc, true);
    doc
}

fn is_hex16(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Rules from the spec that the schema leaves out, checked on every entity.
pub fn check_rules(doc: &Value, top: bool) {
    let name = doc["name"].as_str().expect("name");
    assert!(
        !name.is_empty() && name.chars().count() <= 200,
        "name {name:?}"
    );
    assert!(is_hex16(&doc["id"]), "id {}", doc["id"]);
    assert!(doc["start_time"].is_number());
    assert!(doc["end_time"].is_number() || doc["in_progress"] == Value::Bool(true));
    if top {
        let trace = doc["trace_id"].as_str().expect("trace_id");
        assert_eq!(trace.len(), 35);
        if doc.get("type").is_some() {
            assert_eq!(doc["type"], "subsegment");
            assert!(is_hex16(&doc["parent_id"]));
        }
    }
    if let Some(p) = doc.get("parent_id") {
        assert!(is_hex16(p));
    }
    if let Some(subs) = doc.get("subsegments") {
        for s in subs.as_array().expect("array") {
            assert!(s.get("trace_id").is_none() && s.get("type").is_none());
            check_rules(s, false);
        }
    }
}

/// Every entity in a document, depth first.
pub fn entities(doc: &Value) -> Vec<&Value> {
    let mut out = vec![doc];
    if let Some(subs) = doc.get("subsegments").and_then(Value::as_array) {
        for s in subs {
            out.extend(entities(s));
        }
    }
    out
}
