//! The current request (`xray_std::current`): one-line calls inside a scope, nothing outside
//! it, scopes that nest and restore, and futures that carry their request across threads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod capture;

use std::sync::Arc;

use capture::Capture;
use xray_std::{TraceContext, Tracer, current};

fn tracer(capture: &Arc<Capture>) -> Tracer {
    Tracer::builder("current")
        .transport(capture.clone())
        .always_sample()
        .pool_size(2)
        .build()
}

#[test]
fn outside_a_request_the_calls_do_nothing() {
    assert!(TraceContext::current().is_none());
    assert!(current::trace_id().is_none());
    assert!(current::downstream_header().is_none());
    current::annotate("k", 1);
    current::metadata("k", &1);
    current::error("nothing to record it on");
    let guard = current::subsegment("nowhere");
    assert!(guard.id().is_none());
}

#[test]
fn calls_record_on_the_request_in_scope_and_scopes_nest() {
    let capture = Arc::new(Capture::default());
    let tracer = tracer(&capture);
    let outer = tracer.begin(None);
    let other = tracer.begin(None);
    outer.in_scope(|| {
        current::annotate("who", "outer");
        let db = current::subsegment("db");
        db.context().in_scope(|| {
            let _query = current::subsegment("query"); // nests under `db`
            current::metadata("rows", &3);
        });
        other.in_scope(|| current::annotate("who", "other"));
        // Back to the outer request.
        assert_eq!(current::trace_id(), outer.trace_id());
        current::error("card declined");
    });
    assert!(TraceContext::current().is_none());
    drop((outer, other));
    let docs = capture.documents();
    assert_eq!(docs.len(), 2);
    let outer = docs
        .iter()
        .find(|d| d["annotations"]["who"] == "outer")
        .unwrap();
    assert_eq!(outer["fault"], true);
    assert_eq!(outer["cause"]["exceptions"][0]["message"], "card declined");
    let db = &outer["subsegments"][0];
    assert_eq!(db["name"], "db");
    assert_eq!(db["subsegments"][0]["name"], "query");
    assert_eq!(db["metadata"]["default"]["rows"], 3);
    assert!(docs.iter().any(|d| d["annotations"]["who"] == "other"));
}

#[test]
fn a_scoped_future_carries_its_request_across_threads() {
    let capture = Arc::new(Capture::default());
    let tracer = tracer(&capture);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let ctx = tracer.begin(None);
    let id = ctx.trace_id();
    let task = ctx.clone().scope(async move {
        for i in 0..10_i64 {
            tokio::task::yield_now().await;
            current::annotate(&format!("step_{i}"), i);
            assert_eq!(current::trace_id(), id);
        }
    });
    rt.block_on(async { tokio::spawn(task).await.unwrap() });
    drop(ctx);
    let docs = capture.documents();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["annotations"]["step_9"], 9);
}
