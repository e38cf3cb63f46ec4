//! The viewer (`xray-view`): the datagram checks, trace assembly and the waterfall.
//!
//! The input is split at each NUL byte into up to 16 datagrams, checked, assembled and drawn
//! (live, then at the end). Invariants checked, beyond "no panic":
//! - a datagram the checks accept has a header line the daemon takes (JSON, `format` json,
//!   `version` 1), a document of at most 64 KiB that is a JSON object with a well-formed
//!   trace id, and ids of 16 lowercase hex digits on every entity;
//! - every datagram is either drawn in a trace or reported on its own, never lost: the
//!   traces' document counts add up to the datagrams placed;
//! - every entity id of the documents placed appears exactly once in its trace (an entity sent
//!   twice is kept once), and nothing is nested deeper than `MAX_DEPTH` below a root;
//! - the drawing (colour off) holds no control character but the newline; with colour on,
//!   only the escape character besides.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use xray_view::assemble::MAX_DEPTH;
use xray_view::{Assembler, Checker, Entity, Kind, RenderOptions, render};

fn ids(doc: &Value, out: &mut BTreeSet<String>) {
    let mut stack = vec![doc];
    while let Some(e) = stack.pop() {
        out.insert(
            e.get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        );
        if let Some(Value::Array(children)) = e.get("subsegments") {
            stack.extend(children.iter().filter(|c| c.is_object()));
        }
    }
}

fn depth(e: &Entity) -> usize {
    1 + e.children.iter().map(depth).max().unwrap_or(0)
}

fn printable(text: &str, color: bool) {
    for c in text.chars() {
        assert!(
            !c.is_control() || c == '\n' || (color && c == '\u{1b}'),
            "control character {c:?} in {text:?}"
        );
    }
}

// The schema is compiled once, before the first execution (`Checker::new` shares it).
fuzz_target!(init: { let _ = Checker::new(); }, |data: &[u8]| {
    let checker = Checker::new().expect("the schema compiles");
    let mut assembler = Assembler::new();
    let t0 = Instant::now();
    let mut placed: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
    let mut unplaced = 0;
    for (i, datagram) in data.split(|&b| b == 0).filter(|d| !d.is_empty()).take(16).enumerate() {
        let checked = checker.check(datagram);
        if checked.is_accepted() {
            let newline = datagram.iter().position(|&b| b == b'\n').expect("a header line");
            let header: Value = serde_json::from_slice(&datagram[..newline]).expect("header is JSON");
            assert!(header["format"].as_str().is_some_and(|f| f.eq_ignore_ascii_case("json")));
            assert_eq!(header["version"].as_u64(), Some(1));
            assert!(datagram.len() - newline - 1 <= xray_view::datagram::MAX_DOCUMENT_LEN);
            let doc = checked.document.as_ref().expect("a document");
            let trace = doc["trace_id"].as_str().expect("a trace id");
            assert!(trace.len() == 35 && trace.starts_with("1-"), "{trace}");
            let mut all = BTreeSet::new();
            ids(doc, &mut all);
            for id in &all {
                assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id:?}");
            }
        }
        let trace_id = checked
            .document
            .as_ref()
            .and_then(|d| d.get("trace_id"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.len() <= 64)
            .map(str::to_owned);
        let doc = checked.document.clone();
        let now = t0 + Duration::from_millis(i as u64 * 500);
        match assembler.add(checked, datagram, now) {
            Some(u) => {
                unplaced += 1;
                assert!(!u.problems.is_empty());
                printable(&render::unplaced(&u, &RenderOptions::default()), false);
            }
            None => {
                let (trace, doc) = (trace_id.expect("placed by its trace id"), doc.expect("a document"));
                let entry = placed.entry(trace).or_default();
                entry.0 += 1;
                ids(&doc, &mut entry.1);
            }
        }
        for t in assembler.take_ready(now, Duration::from_secs(1)) {
            printable(&render::trace(&t, &RenderOptions::default()), false);
        }
    }
    assert_eq!(assembler.datagrams() as usize, unplaced + placed.values().map(|p| p.0).sum::<usize>());
    // Everything again, at the end: each trace whole.
    let mut again = Assembler::new();
    for datagram in data.split(|&b| b == 0).filter(|d| !d.is_empty()).take(16) {
        let _ = again.add(checker.check(datagram), datagram, t0);
    }
    let traces = again.take_all();
    assert_eq!(traces.len(), placed.len());
    for t in &traces {
        let (documents, want) = &placed[&t.id];
        assert_eq!(t.documents, *documents);
        let mut seen = BTreeSet::new();
        for e in t.entities().into_iter().filter(|e| e.kind != Kind::Facade) {
            assert!(seen.insert(e.id.clone()), "{:?} twice in {}", e.id, t.id);
        }
        assert_eq!(&seen, want, "entities of {}", t.id);
        for root in &t.roots {
            assert!(depth(root) <= MAX_DEPTH + 1, "depth {}", depth(root));
        }
        printable(&render::trace(t, &RenderOptions::default()), false);
        printable(&render::trace(t, &RenderOptions { color: true, ..RenderOptions::default() }), true);
    }
});
