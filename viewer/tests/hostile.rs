//! Hostile datagrams never crash the viewer, never hang it, and never reach the terminal as
//! control characters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use xray_view::{RenderOptions, Viewer};

const HEADER: &str = "{\"format\":\"json\",\"version\":1}\n";

/// Everything the viewer does with a batch of datagrams: check, assemble, draw (live and at
/// the end).
fn run(datagrams: &[Vec<u8>]) -> String {
    let mut viewer = Viewer::new(RenderOptions::default()).unwrap();
    let t0 = Instant::now();
    let mut out = String::new();
    for (i, d) in datagrams.iter().enumerate() {
        let now = t0 + Duration::from_millis(i as u64 * 700);
        if let Some(text) = viewer.receive(d, now) {
            out.push_str(&text);
        }
        out.push_str(&viewer.ready(now, Duration::from_secs(1)));
    }
    out.push_str(&viewer.finish());
    assert_eq!(viewer.datagrams(), datagrams.len() as u64);
    out
}

/// No control character but the newline reaches the output (colours are off).
fn assert_printable(out: &str) {
    assert!(
        !out.chars().any(|c| c.is_control() && c != '\n'),
        "control character in output:\n{out:?}"
    );
}

/// Ids from a small pool, so that parents, duplicates and cycles happen often.
fn id() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u8..6).prop_map(|n| json!(format!("{n:016x}"))),
        Just(json!("XYZ")),
        Just(json!(7)),
        "\\PC{0,20}".prop_map(Value::from),
    ]
}

fn time() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u32..1000).prop_map(|ms| json!(1_700_000_000.0 + f64::from(ms) / 1000.0)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        Just(json!(-1)),
        Just(json!("soon")),
        Just(json!(u64::MAX)),
    ]
}

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z]{1,8}".prop_map(Value::from),
        "\\PC{0,30}".prop_map(Value::from),
        Just(json!("\u{1b}[2J\u{1b}[31mred\u{202e}\r\n\t\u{7}")),
        Just(Value::Null),
    ]
}

/// An entity with random fields, nested `depth` more levels.
fn entity(depth: u32) -> BoxedStrategy<Value> {
    let leaf = (
        id(),
        id(),
        text(),
        time(),
        proptest::option::of(time()),
        any::<[bool; 6]>(),
        text(),
        proptest::option::of(0u16..700),
    )
        .prop_map(|(id, parent, name, start, end, flags, ns, status)| {
            let mut m = Map::new();
            m.insert("id".into(), id);
            if flags[0] {
                m.insert("parent_id".into(), parent);
                m.insert("type".into(), json!("subsegment"));
            }
            m.insert("name".into(), name);
            m.insert("trace_id".into(), json!("1-5759e988-bd862e3fe1be46a994272793"));
            m.insert("start_time".into(), start);
            if let Some(end) = end {
                m.insert("end_time".into(), end);
            }
            if flags[1] {
                m.insert("in_progress".into(), json!(true));
            }
            m.insert("fault".into(), json!(flags[2]));
            m.insert("error".into(), json!(flags[3]));
            m.insert("throttle".into(), json!(flags[4]));
            m.insert("namespace".into(), ns.clone());
            if let Some(status) = status {
                m.insert("http".into(), json!({"request": {"method": ns, "url": "http://x/\u{1b}]0;title\u{7}"}, "response": {"status": status}}));
            }
            if flags[5] {
                m.insert("cause".into(), json!({"exceptions": [{"id": "0000000000000001", "type": "E\u{1b}", "message": "m\r"}]}));
                m.insert("annotations".into(), json!({"k\u{1b}": "v\u{9b}", "n": 1.5}));
            }
            Value::Object(m)
        });
    if depth == 0 {
        leaf.boxed()
    } else {
        (leaf, proptest::collection::vec(entity(depth - 1), 0..3))
            .prop_map(|(mut e, kids)| {
                if !kids.is_empty() {
                    e["subsegments"] = Value::Array(kids);
                }
                e
            })
            .boxed()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6)) {
        assert_printable(&run(&datagrams));
    }

    #[test]
    fn arbitrary_bytes_after_a_header(bodies in proptest::collection::vec("\\PC{0,200}", 1..6)) {
        let datagrams: Vec<Vec<u8>> = bodies.iter().map(|b| format!("{HEADER}{b}").into_bytes()).collect();
        assert_printable(&run(&datagrams));
    }

    #[test]
    fn arbitrary_documents_of_one_trace(docs in proptest::collection::vec(entity(2), 1..10)) {
        let datagrams: Vec<Vec<u8>> = docs.iter().map(|d| format!("{HEADER}{d}").into_bytes()).collect();
        assert_printable(&run(&datagrams));
    }
}

#[test]
fn deep_nesting_and_long_chains_are_bounded() {
    // As deep as serde_json parses (128 levels), and a chain of 1,000 independent
    // subsegments each the parent of the next.
    let mut doc = json!({"id": "0000000000000000", "name": "leaf", "start_time": 1, "end_time": 2});
    for i in 1..120u32 {
        doc = json!({"id": format!("{i:016x}"), "name": "n", "start_time": 1, "end_time": 2, "subsegments": [doc]});
    }
    doc["trace_id"] = json!("1-5759e988-bd862e3fe1be46a994272793");
    let mut datagrams = vec![format!("{HEADER}{doc}").into_bytes()];
    for i in 0..1000u32 {
        datagrams.push(format!(
            "{HEADER}{{\"type\":\"subsegment\",\"trace_id\":\"1-5759e988-bd862e3fe1be46a994272793\",\"parent_id\":\"{:016x}\",\"id\":\"{:016x}\",\"name\":\"c\",\"start_time\":1,\"end_time\":2}}",
            0x1000 + i,
            0x1001 + i
        ).into_bytes());
    }
    let out = run(&datagrams);
    assert!(out.contains("trace 1-5759e988-bd862e3fe1be46a994272793"));
    // Nested JSON past serde_json's limit is reported, not followed.
    let deep = format!("{HEADER}{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(run(&[deep.into_bytes()]).contains("not JSON"));
}

#[test]
fn many_traces_are_bounded() {
    let datagrams: Vec<Vec<u8>> = (0..1_100u32)
        .map(|i| format!("{HEADER}{{\"trace_id\":\"1-5759e988-{i:024x}\",\"id\":\"{i:016x}\",\"name\":\"s\",\"start_time\":1,\"in_progress\":true}}").into_bytes())
        .collect();
    let out = run(&datagrams);
    assert_eq!(
        out.matches("trace 1-").count(),
        1_100,
        "each drawn once, some early"
    );
}
