//! A shared transport that keeps every datagram, and helpers to read the segment back.
#![allow(dead_code)]

use std::sync::Mutex;

use serde_json::Value;
use xray_std::tracer::SharedTransport;

#[derive(Default)]
pub struct Capture(pub Mutex<Vec<Vec<u8>>>);

impl SharedTransport for Capture {
    fn send_shared(&self, datagram: &[u8]) {
        self.0.lock().unwrap().push(datagram.to_vec());
    }
}

impl Capture {
    /// The documents sent so far (the JSON after the daemon header line).
    pub fn documents(&self) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|d| {
                let text = std::str::from_utf8(d).unwrap();
                let (_, doc) = text.split_once('\n').unwrap();
                serde_json::from_str(doc).unwrap()
            })
            .collect()
    }
}

/// `aws.xray.sampling_rule_name` of a document.
pub fn rule_name(doc: &Value) -> Option<&str> {
    doc["aws"]["xray"]["sampling_rule_name"].as_str()
}
