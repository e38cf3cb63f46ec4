//! The layer under a real `tracing` registry, recording on a real tracer whose datagrams
//! are kept: the field convention and the semantic-convention mapping as documents show them.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

use super::XRayLayer;
use crate::tracer::SharedTransport;
use crate::{TraceContext, Tracer};

#[derive(Default)]
struct Keep(Mutex<Vec<Vec<u8>>>);

impl SharedTransport for Keep {
    fn send_shared(&self, datagram: &[u8]) {
        self.0.lock().unwrap().push(datagram.to_vec());
    }
}

/// Runs `f` in a sampled request with the layer installed on this thread; returns the one
/// document sent.
fn traced(f: impl FnOnce()) -> Value {
    let keep = Arc::new(Keep::default());
    let tracer = Tracer::builder("svc")
        .transport(keep.clone())
        .always_sample()
        .build();
    let subscriber = tracing_subscriber::registry().with(XRayLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let ctx = tracer.begin(None);
        ctx.in_scope(f);
    });
    let sent = keep.0.lock().unwrap();
    assert_eq!(sent.len(), 1, "one datagram");
    let text = std::str::from_utf8(&sent[0]).unwrap();
    serde_json::from_str(text.split_once('\n').unwrap().1).unwrap()
}

fn only_child(doc: &Value) -> &Value {
    let subs = doc["subsegments"].as_array().expect("subsegments");
    assert_eq!(subs.len(), 1, "{doc}");
    &subs[0]
}

#[test]
fn scalar_fields_with_valid_keys_are_annotations_the_rest_metadata() {
    #[derive(Debug)]
    struct Cart {
        _items: u8,
    }
    let doc = traced(|| {
        let span = tracing::info_span!(
            "work",
            order_id = 42_i64,
            count = 7_u64,
            big = u64::MAX,
            ratio = 0.5,
            paid = true,
            who = "acme",
            cart = ?Cart { _items: 2 },
            shown = %"text",
            user.id = "u-1",
            metadata.note = "kept",
            nan = f64::NAN,
            late = tracing::field::Empty,
        );
        span.record("late", 9_i64);
        drop(span);
    });
    let sub = only_child(&doc);
    assert_eq!(sub["name"], "work");
    let ann = &sub["annotations"];
    assert_eq!(ann["order_id"], 42);
    assert_eq!(ann["count"], 7);
    assert_eq!(ann["ratio"], 0.5);
    assert_eq!(ann["paid"], true);
    assert_eq!(ann["who"], "acme");
    assert_eq!(ann["late"], 9, "recorded later: {sub}");
    let meta = &sub["metadata"]["default"];
    assert_eq!(meta["big"], u64::MAX);
    assert_eq!(meta["cart"], "Cart { _items: 2 }");
    assert_eq!(meta["shown"], "text");
    assert_eq!(meta["user.id"], "u-1");
    assert_eq!(meta["note"], "kept");
    assert_eq!(meta["nan"], "NaN");
    for key in ["big", "cart", "shown", "nan"] {
        assert!(ann.get(key).is_none(), "{key} is not an annotation: {sub}");
    }
}

#[test]
fn spans_nest_as_subsegments_and_otel_name_renames() {
    let doc = traced(|| {
        let outer = tracing::info_span!("outer", otel.name = "checkout");
        let _in = outer.enter();
        let inner = tracing::info_span!("inner");
        drop(inner);
    });
    let outer = only_child(&doc);
    assert_eq!(outer["name"], "checkout");
    assert_eq!(only_child(outer)["name"], "inner");
}

#[test]
fn http_fields_fill_the_http_block() {
    let doc = traced(|| {
        let span = tracing::info_span!(
            "call",
            http.request.method = "GET",
            url.full = "https://user:pw@api.example.com/orders?id=1",
            server.address = "api.example.com",
            http.response.status_code = tracing::field::Empty,
        );
        span.record("http.response.status_code", 503_u64);
    });
    let sub = only_child(&doc);
    assert_eq!(sub["namespace"], "remote");
    assert_eq!(sub["http"]["request"]["method"], "GET");
    assert_eq!(
        sub["http"]["request"]["url"],
        "https://api.example.com/orders"
    );
    assert_eq!(sub["http"]["response"]["status"], 503);
    assert_eq!(sub["fault"], true);
    assert!(sub.get("annotations").is_none(), "{sub}");
}

#[test]
fn db_fields_fill_the_sql_block() {
    let doc = traced(|| {
        let _span = tracing::info_span!(
            "query",
            db.system.name = "postgresql",
            db.query.text = "SELECT * FROM orders WHERE id = $1",
            db.namespace = "shop",
            db.user = "app",
            server.address = "db.internal",
        );
    });
    let sub = only_child(&doc);
    assert_eq!(sub["namespace"], "remote");
    let sql = &sub["sql"];
    assert_eq!(sql["database_type"], "postgresql");
    assert_eq!(sql["sanitized_query"], "SELECT * FROM orders WHERE id = $1");
    assert_eq!(sql["user"], "app");
    assert_eq!(sql["url"], "db.internal/shop");
}

#[test]
fn rpc_fields_set_the_namespace() {
    let doc = traced(|| {
        let _a = tracing::info_span!("grpc", rpc.system = "grpc", rpc.service = "shop.Orders");
        let _b = tracing::info_span!(
            "dynamo",
            rpc.system = "aws-api",
            rpc.service = "DynamoDB",
            rpc.method = "GetItem",
            cloud.region = "eu-west-1",
        );
    });
    let subs = doc["subsegments"].as_array().unwrap();
    let by = |n: &str| subs.iter().find(|s| s["name"] == n).unwrap();
    assert_eq!(by("grpc")["namespace"], "remote");
    assert_eq!(
        by("grpc")["metadata"]["default"]["rpc.service"],
        "shop.Orders"
    );
    let dynamo = by("dynamo");
    assert_eq!(dynamo["namespace"], "aws");
    assert_eq!(dynamo["aws"]["operation"], "GetItem");
    assert_eq!(dynamo["aws"]["region"], "eu-west-1");
}

#[test]
fn error_events_mark_their_span_and_warnings_do_not() {
    let doc = traced(|| {
        let span = tracing::info_span!("pay");
        let _in = span.enter();
        tracing::warn!("slow card network");
        tracing::error!(exception.type = "CardDeclined", "card {} declined", 4242);
    });
    let sub = only_child(&doc);
    assert_eq!(sub["fault"], true);
    let exceptions = sub["cause"]["exceptions"].as_array().unwrap();
    assert_eq!(exceptions.len(), 1, "{sub}");
    assert_eq!(exceptions[0]["type"], "CardDeclined");
    assert_eq!(exceptions[0]["message"], "card 4242 declined");
    assert!(
        doc.get("fault").is_none(),
        "the segment is not marked: {doc}"
    );
}

#[test]
fn outside_a_request_nothing_is_recorded() {
    let subscriber = tracing_subscriber::registry().with(XRayLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        assert!(TraceContext::current().is_none());
        let span = tracing::info_span!("alone", n = 1);
        let _in = span.enter();
        tracing::error!("nothing to mark");
    });
}

#[test]
fn annotations_past_the_cap_become_metadata() {
    let doc = traced(|| {
        for i in 0..60_i64 {
            let key = format!("k{i}");
            let _s = tracing::info_span!("step", n = i, key = key.as_str());
        }
    });
    let subs = doc["subsegments"].as_array().unwrap();
    assert_eq!(subs.len(), 60);
    let (mut annotated, mut in_metadata) = (0, 0);
    for (i, s) in subs.iter().enumerate() {
        for field in ["n", "key"] {
            match (
                s["annotations"].get(field),
                s["metadata"]["default"].get(field),
            ) {
                (Some(_), None) => annotated += 1,
                (None, Some(_)) => in_metadata += 1,
                other => panic!("{field} of step {i}: {other:?}"),
            }
        }
    }
    // The default cap: 50 annotations a trace; the other 70 values are kept as metadata.
    assert_eq!((annotated, in_metadata), (50, 70));
}

#[test]
fn an_event_logged_while_a_field_is_recorded_does_not_deadlock() {
    /// Logs an error from inside its `Debug` (as a value whose formatting logs would).
    struct Loud;
    impl std::fmt::Debug for Loud {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            tracing::error!("logged while formatting");
            f.write_str("loud")
        }
    }
    let doc = traced(|| {
        let span = tracing::info_span!("rec", late = tracing::field::Empty);
        let _in = span.enter();
        span.record("late", tracing::field::debug(Loud));
    });
    let sub = only_child(&doc);
    assert_eq!(sub["metadata"]["default"]["late"], "loud");
    assert_eq!(
        sub["cause"]["exceptions"][0]["message"],
        "logged while formatting"
    );
}

#[test]
fn a_debug_field_that_records_on_the_request_is_formatted_with_the_recorder_unlocked() {
    // The span's fields are recorded under one lock, released while a `Debug` value is
    // formatted: a call it makes on the same trace is recorded, not skipped as re-entrant.
    struct Records;
    impl std::fmt::Debug for Records {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            crate::current::annotate("from_debug", 1_i64);
            f.write_str("records")
        }
    }
    let doc = traced(|| {
        let span = tracing::info_span!("work", before = 1_i64, value = ?Records, after = 2_i64);
        drop(span);
    });
    assert_eq!(doc["annotations"]["from_debug"], 1, "{doc}");
    let sub = only_child(&doc);
    assert_eq!(sub["annotations"]["before"], 1, "{sub}");
    assert_eq!(sub["annotations"]["after"], 2, "{sub}");
    assert_eq!(sub["metadata"]["default"]["value"], "records", "{sub}");
}
