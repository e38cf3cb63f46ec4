//! The viewer on datagrams made by the real recorder: valid, invalid, out of order, split
//! across datagrams, a Lambda facade, an unfinished trace. Drawings are compared with the
//! text snapshots in `tests/snapshots/` (colour off, deterministic ids and timestamps);
//! re-record them with `UPDATE_SNAPSHOTS=1 cargo test -p xray-view` and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;
use xray_view::{Assembler, Checker, Entity, Kind, Problem, RenderOptions, Stage, Status, Viewer};

fn checker() -> Checker {
    Checker::new().unwrap()
}

/// The tree of names, `a(b,c(d))`, of each root.
fn tree(e: &Entity) -> String {
    if e.children.is_empty() {
        e.name.clone()
    } else {
        let kids: Vec<String> = e.children.iter().map(tree).collect();
        format!("{}({})", e.name, kids.join(","))
    }
}

fn assemble(datagrams: &[Vec<u8>]) -> Vec<xray_view::Trace> {
    let c = checker();
    let mut a = Assembler::new();
    let now = Instant::now();
    for d in datagrams {
        assert!(a.add(c.check(d), d, now).is_none());
    }
    a.take_all()
}

const WEB_TREE: &str = "orders-api(inventory-service,DynamoDB,checkout(orders-db,charge-card))";

#[test]
fn a_valid_trace_in_one_datagram() {
    let datagrams = web_request(1, false);
    assert_eq!(datagrams.len(), 1, "it fits in one datagram");
    assert_eq!(checker().check(&datagrams[0]).problems, vec![]);
    let traces = assemble(&datagrams);
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].status, Status::Complete);
    assert_eq!(tree(&traces[0].roots[0]), WEB_TREE);
    let out = view(&datagrams);
    for needle in [
        "POST https://orders.example.com/orders → 502",
        "[remote]  GET https://inventory.internal/v1/stock → 200",
        "[aws]  status 429  aws: GetItem table_name=carts region=eu-west-1  ERROR  THROTTLE",
        "sql: SELECT * FROM carts WHERE customer = ?",
        "! GatewayTimeout: payment gateway timed out",
        "annotations: customer=\"acme-corp\" order_count=3",
        "sampled by rule \"orders\"",
    ] {
        assert!(out.contains(needle), "{needle:?} not in\n{out}");
    }
    snapshot("web_request", &out);
}

#[test]
fn a_trace_split_across_datagrams() {
    let datagrams = web_request(2, true);
    assert_eq!(
        datagrams.len(),
        6,
        "five streamed subsegments and the segment"
    );
    for d in &datagrams {
        assert_eq!(checker().check(d).problems, vec![]);
    }
    let traces = assemble(&datagrams);
    assert_eq!(traces.len(), 1);
    assert_eq!(tree(&traces[0].roots[0]), WEB_TREE);
    assert_eq!(traces[0].documents, 6);
    let out = view(&datagrams);
    assert_eq!(
        out.matches("trace 1-").count(),
        1,
        "drawn once, when the segment arrived:\n{out}"
    );
    assert!(out.contains("(own datagram #1)"), "{out}");
    snapshot("streamed", &out);
}

#[test]
fn any_arrival_order_gives_the_same_tree() {
    let datagrams = web_request(2, true);
    let n = datagrams.len();
    let mut orders: Vec<Vec<usize>> = (0..n)
        .map(|r| (0..n).map(|i| (i + r) % n).collect())
        .collect();
    orders.push((0..n).rev().collect());
    for order in orders {
        let shuffled: Vec<Vec<u8>> = order.iter().map(|&i| datagrams[i].clone()).collect();
        let traces = assemble(&shuffled);
        assert_eq!(traces.len(), 1, "{order:?}");
        assert_eq!(traces[0].roots.len(), 1, "{order:?}: {:?}", traces[0].roots);
        assert_eq!(tree(&traces[0].roots[0]), WEB_TREE, "{order:?}");
    }
}

#[test]
fn out_of_order_subsegments() {
    // Children before their parents, the nested ones first, and the segment last.
    let datagrams = web_request(5, true);
    let order = [3, 2, 4, 1, 0, 5];
    let shuffled: Vec<Vec<u8>> = order.iter().map(|&i| datagrams[i].clone()).collect();
    let out = view(&shuffled);
    assert_eq!(out.matches("trace 1-").count(), 1, "{out}");
    snapshot("out_of_order", &out);
}

#[test]
fn a_segment_before_its_streamed_subsegments_is_drawn_again() {
    let mut datagrams = web_request(2, true);
    let segment = datagrams.pop().unwrap();
    datagrams.insert(0, segment);
    let out = view(&datagrams);
    // Complete as soon as the segment arrives; each late subsegment draws it again.
    assert!(
        out.contains("updated: more documents arrived after it was shown"),
        "{out}"
    );
    let last = out.rsplit("trace 1-").next().unwrap();
    assert!(
        last.contains("charge-card") && last.contains("6 documents"),
        "{out}"
    );
}

#[test]
fn a_lambda_facade() {
    let datagrams = lambda(3);
    for d in &datagrams {
        let (_, doc) = split(d);
        assert_eq!(doc["type"], "subsegment");
        assert_eq!(checker().check(d).problems, vec![]);
    }
    let traces = assemble(&datagrams);
    let root = &traces[0].roots[0];
    assert_eq!(root.kind, Kind::Facade);
    assert_eq!(tree(root), "facade(handle-order(S3))");
    // Live, it is drawn when the timeout passes after its last datagram.
    let mut viewer = Viewer::new(RenderOptions::default()).unwrap();
    let t0 = Instant::now();
    for d in &datagrams {
        assert_eq!(viewer.receive(d, t0), None);
    }
    assert_eq!(
        viewer.ready(t0 + Duration::from_secs(1), Duration::from_secs(2)),
        ""
    );
    let out = viewer.ready(t0 + Duration::from_secs(2), Duration::from_secs(2));
    assert!(out.contains("incomplete: shown after the timeout"), "{out}");
    assert!(out.contains("facade (not received)"), "{out}");
    snapshot("lambda", &out);
}

#[test]
fn an_unfinished_trace() {
    let (header, doc) = split(&web_request(4, false)[0]);
    let unfinished = join(&header, &in_progress(&doc));
    assert_eq!(checker().check(&unfinished).problems, vec![]);
    let out = view(std::slice::from_ref(&unfinished));
    assert!(
        out.contains("incomplete: shown at the end of the input"),
        "{out}"
    );
    assert!(out.contains("░"), "{out}");
    snapshot("in_progress", &out);

    // The finished version replaces it: drawn once, when it arrives, with nothing in progress.
    let finished = join(&header, &doc);
    let out = view(&[unfinished, finished]);
    assert_eq!(out.matches("trace 1-").count(), 1, "{out}");
    assert!(!out.contains("░") && !out.contains("in progress"), "{out}");
    assert!(out.contains("6 replaced by a later version"), "{out}");
}

/// A copy of a real document with `change` applied.
fn edited(seed: u64, change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let (header, mut doc) = split(&web_request(seed, false)[0]);
    change(&mut doc);
    join(&header, &doc)
}

#[test]
fn invalid_datagrams_say_why() {
    let c = checker();
    let (_, good) = split(&web_request(10, false)[0]);
    let bad_header = {
        let mut d = b"{\"format\":\"xml\",\"version\":1}\n".to_vec();
        d.extend_from_slice(good.to_string().as_bytes());
        d
    };
    let schema = edited(11, |doc| {
        doc["name"] = json!("orders?api");
        doc["annotations"]["customer-id"] = json!(7);
    });
    let oversize = edited(12, |doc| {
        doc["metadata"] = json!({"default": {"blob": "x".repeat(70_000)}});
    });
    let bad_ids = edited(13, |doc| {
        doc["subsegments"][1]["id"] = json!("XYZ0000000000000");
        doc.as_object_mut().unwrap().remove("end_time");
    });
    let no_newline = good.to_string().into_bytes();
    let not_json = b"{\"format\":\"json\",\"version\":1}\n{\"name\":\"orders-api\",".to_vec();

    let problems = |d: &[u8]| c.check(d).problems;
    assert!(matches!(
        problems(&bad_header)[..],
        [Problem::BadHeader { .. }]
    ));
    assert_eq!(problems(&bad_header)[0].stage(), Stage::Daemon);
    let p = problems(&schema);
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::Schema { path, .. } if path == "/name")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::Schema { path, .. } if path == "/annotations")),
        "{p:?}"
    );
    let p = problems(&oversize);
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::DocumentTooLarge { .. })),
        "{p:?}"
    );
    assert!(
        p.iter().any(|p| matches!(p, Problem::OverUdpLimit { .. })),
        "{p:?}"
    );
    let p = problems(&bad_ids);
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::BadId { path, .. } if path == "/subsegments/1/id")),
        "{p:?}"
    );
    assert!(
        p.contains(&Problem::NoEndTime {
            path: String::new()
        }),
        "{p:?}"
    );
    assert_eq!(problems(&no_newline), vec![Problem::MissingHeaderOrBody]);
    assert!(matches!(
        problems(&not_json)[..],
        [Problem::InvalidJson { .. }]
    ));

    let mut viewer = Viewer::new(RenderOptions::default()).unwrap();
    let all = [bad_header, schema, oversize, bad_ids, no_newline, not_json];
    let now = Instant::now();
    let mut out = String::new();
    for d in &all {
        if let Some(text) = viewer.receive(d, now) {
            out.push_str(&text);
            out.push('\n');
        }
    }
    out.push_str(&viewer.finish());
    assert_eq!(viewer.refused(), 6);
    assert_eq!(out.matches("in no trace").count(), 2, "{out}");
    snapshot("invalid", &out);
}

#[test]
fn colours_only_when_asked() {
    let datagrams = web_request(1, false);
    let draw = |color| {
        let mut v = Viewer::new(RenderOptions {
            color,
            ..RenderOptions::default()
        })
        .unwrap();
        let _ = v.receive(&datagrams[0], Instant::now());
        v.finish()
    };
    let plain = draw(false);
    let coloured = draw(true);
    assert!(!plain.contains('\u{1b}'));
    assert!(coloured.contains("\u{1b}[31m"), "faults in red: {coloured}");
    assert!(
        coloured.contains("\u{1b}[35m"),
        "throttles in magenta: {coloured}"
    );
    assert!(
        coloured.contains("\u{1b}[33m"),
        "errors in yellow: {coloured}"
    );
    // Without the escapes, the same text.
    let mut stripped = String::new();
    let mut rest = coloured.as_str();
    while let Some(i) = rest.find('\u{1b}') {
        stripped.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find('m').unwrap();
        rest = &after[end + 1..];
    }
    stripped.push_str(rest);
    assert_eq!(stripped, plain);
}

#[test]
fn the_readme_shows_the_current_drawing() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../README.md")).unwrap();
    let drawing = std::fs::read_to_string(root.join("tests/snapshots/web_request.txt")).unwrap();
    assert!(
        readme.contains(drawing.trim_end()),
        "README.md's waterfall differs from tests/snapshots/web_request.txt: paste it again"
    );
}
