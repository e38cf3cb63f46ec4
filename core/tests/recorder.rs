//! The recorder end to end: every datagram validates against AWS's segment document schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/reference.rs"]
mod reference;

use common::{Capture, StepClock, TestRng, check_datagram, entities};
use serde_json::{Value, json};
use xray_core::model::{Aws, AwsParam, Exception, HttpRequest, HttpResponse, Sql, StackFrame};
use xray_core::recorder::MIN_BUDGET;
use xray_core::{
    EntityId, Outcome, Recorder, RecorderConfig, Rejection, SampledFlag, SegmentId, TraceHeader,
    TraceId,
};

fn recorder(budget: usize) -> Recorder<Vec<u8>> {
    Recorder::new(vec![0; budget + 8192], RecorderConfig::with_budget(budget))
}

#[test]
fn reference_request_is_one_valid_datagram() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(1), Capture::default());
    let mut rec = recorder(65_507);
    assert_eq!(reference::record(&mut rec, &clock, &mut rng, &mut out), 0);
    assert_eq!(out.0.len(), 1, "one datagram per request when it fits");
    let doc = check_datagram(&out.0[0], 65_507);
    assert_eq!(doc["name"], "bench-service");
    assert_eq!(
        doc["annotations"],
        json!({"customer": "acme-corp", "order_count": 42, "premium": true})
    );
    assert_eq!(
        doc["metadata"],
        json!({"default": {"request": {"path": "/orders/123", "items": 3, "tags": ["a", "b"]}}})
    );
    assert_eq!(doc["aws"]["xray"]["sdk"], "X-Ray for Rust");
    let subs = doc["subsegments"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0]["name"], "downstream-api");
    assert_eq!(subs[0]["namespace"], "remote");
    assert_eq!(
        subs[0]["http"],
        json!({"request": {"method": "GET", "url": "https://api.example.com/v1/items"}, "response": {"status": 200}})
    );
    assert_eq!(subs[1]["name"], "compute");
    assert_eq!(subs[1]["fault"], true);
    assert_eq!(
        subs[1]["cause"]["exceptions"][0]["message"],
        "simulated failure"
    );
    // Times are fixed-point with microseconds and nest properly.
    let t = |v: &Value| v.as_f64().unwrap();
    assert!(
        t(&doc["start_time"]) <= t(&subs[0]["start_time"])
            && t(&subs[1]["end_time"]) <= t(&doc["end_time"])
    );
    assert!(
        std::str::from_utf8(&out.0[0])
            .unwrap()
            .contains("\"start_time\":1700000000.000000")
    );
    assert_eq!(rec.stats().datagrams, 1);
    assert!(!rec.is_active());
}

#[test]
fn nested_and_out_of_order_children_are_embedded() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(2), Capture::default());
    let mut rec = recorder(65_507);
    let seg = rec.begin_segment("root", None, true, &clock, &mut rng);
    let a = rec.begin_subsegment(seg, "a", &clock, &mut rng);
    let b = rec.begin_subsegment(seg, "b", &clock, &mut rng);
    let a1 = rec.begin_subsegment(a, "a1", &clock, &mut rng);
    let b1 = rec.begin_subsegment(b, "b1", &clock, &mut rng);
    let a_id = rec.segment_id(a).unwrap();
    let _ = rec.end(a1, &clock, &mut out);
    let _ = rec.end(b1, &clock, &mut out);
    // a's annotation arrives after its child closed, b closes before a.
    assert_eq!(rec.annotate(a, "late", 1), Outcome::Recorded);
    let _ = rec.end(b, &clock, &mut out);
    let _ = rec.end(a, &clock, &mut out);
    let _ = rec.end(seg, &clock, &mut out);
    assert_eq!(out.0.len(), 1);
    let doc = check_datagram(&out.0[0], 65_507);
    let names: Vec<&str> = entities(&doc)
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["root", "b", "b1", "a", "a1"]);
    let a_doc = &doc["subsegments"][1];
    assert_eq!(a_doc["annotations"]["late"], 1);
    assert_eq!(a_doc["id"], a_id.to_string());
}

#[test]
fn ending_the_segment_ends_open_children() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(3), Capture::default());
    let mut rec = recorder(4096);
    let seg = rec.begin_segment("root", None, true, &clock, &mut rng);
    let a = rec.begin_subsegment(seg, "a", &clock, &mut rng);
    let _ = rec.begin_subsegment(a, "a1", &clock, &mut rng);
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 4096);
    assert_eq!(entities(&doc).len(), 3);
    assert_eq!(
        rec.annotate(a, "x", 1),
        Outcome::NoEntity,
        "handles die with their trace"
    );
}

#[test]
fn children_that_do_not_fit_are_streamed_as_independent_subsegments() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(4), Capture::default());
    let budget = 1000;
    let mut rec = recorder(budget);
    let seg = rec.begin_segment("root", None, true, &clock, &mut rng);
    let seg_id = rec.segment_id(seg).unwrap();
    let mut made = 0;
    for i in 0..20 {
        let s = rec.begin_subsegment(seg, &format!("child-{i}"), &clock, &mut rng);
        assert!(!s.is_none());
        let _ = rec.annotate(s, "index", i);
        let _ = rec.end(s, &clock, &mut out);
        made += 1;
    }
    let _ = rec.end(seg, &clock, &mut out);
    assert!(out.0.len() > 2, "{} datagrams", out.0.len());
    assert!(rec.stats().streamed > 0);
    let mut seen = 0;
    for d in &out.0 {
        let doc = check_datagram(d, budget);
        seen += entities(&doc).len();
        if doc["type"] == "subsegment" {
            assert_eq!(doc["parent_id"], seg_id.to_string());
            assert_eq!(doc["trace_id"], rec_trace(&out.0));
        }
    }
    assert_eq!(seen, made + 1, "every subsegment arrives exactly once");
}

#[test]
fn streaming_gives_way_one_oldest_child_at_a_time() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(4), Capture::default());
    let budget = 1000;
    let mut rec = recorder(budget);
    let seg = rec.begin_segment("root", None, true, &clock, &mut rng);
    for i in 0..20 {
        // Children of equal size: each one that joins needs at most one to leave.
        let s = rec.begin_subsegment(seg, &format!("child-{i:02}"), &clock, &mut rng);
        let _ = rec.annotate(s, "index", 100 + i);
        let before = out.0.len();
        let _ = rec.end(s, &clock, &mut out);
        assert!(
            out.0.len() - before <= 1,
            "child {i} sent {} datagrams at once",
            out.0.len() - before
        );
    }
    let _ = rec.end(seg, &clock, &mut out);
    let docs: Vec<Value> = out.0.iter().map(|d| check_datagram(d, budget)).collect();
    let (segment, streamed) = docs.split_last().unwrap();
    assert!(streamed.iter().all(|d| d["type"] == "subsegment"));
    // The oldest went out, in order; the newest stayed embedded, in order.
    let names = |docs: &[Value]| -> Vec<String> {
        docs.iter()
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let embedded = names(segment["subsegments"].as_array().unwrap());
    let all: Vec<String> = names(streamed)
        .into_iter()
        .chain(embedded.clone())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("child-{i:02}")).collect();
    assert_eq!(all, expected);
    assert!(embedded.len() >= 2, "embedded: {embedded:?}");
}

fn rec_trace(datagrams: &[Vec<u8>]) -> Value {
    let last = datagrams.last().unwrap();
    let body = std::str::from_utf8(last)
        .unwrap()
        .split_once('\n')
        .unwrap()
        .1;
    serde_json::from_str::<Value>(body).unwrap()["trace_id"].clone()
}

#[test]
fn streamed_grandchildren_point_at_their_parent() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(5), Capture::default());
    let mut rec: Recorder<Vec<u8>> = Recorder::new(
        vec![0; 70_000],
        RecorderConfig::with_budget(65_507).stream_all(true),
    );
    let seg = rec.begin_segment("root", None, true, &clock, &mut rng);
    let a = rec.begin_subsegment(seg, "a", &clock, &mut rng);
    let a_id = rec.segment_id(a).unwrap();
    let a1 = rec.begin_subsegment(a, "a1", &clock, &mut rng);
    let _ = rec.end(a1, &clock, &mut out);
    let _ = rec.end(a, &clock, &mut out);
    let _ = rec.end(seg, &clock, &mut out);
    let docs: Vec<Value> = out.0.iter().map(|d| check_datagram(d, 65_507)).collect();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0]["name"], "a1");
    assert_eq!(docs[0]["parent_id"], a_id.to_string());
    assert_eq!(docs[1]["name"], "a");
    assert!(docs[2].get("subsegments").is_none());
}

#[test]
fn upstream_header_is_continued_and_forwarded() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(6), Capture::default());
    let mut rec = recorder(4096);
    let up = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1").unwrap();
    let seg = rec.begin_segment("svc", Some(&up), true, &clock, &mut rng);
    let call = rec.begin_subsegment(seg, "call", &clock, &mut rng);
    let down = rec.downstream_header(call).unwrap();
    assert_eq!(down.root(), up.root());
    assert_eq!(down.parent(), rec.segment_id(call));
    assert_eq!(down.extra(), "Lineage=a87bd80c:1");
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 4096);
    assert_eq!(doc["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
    assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
}

#[test]
fn lambda_facade_streams_every_subsegment_under_the_invocation_parent() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(7), Capture::default());
    let mut rec = recorder(65_507);
    let header = TraceHeader::parse(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1",
    )
    .unwrap();
    let facade = rec.begin_facade(&header);
    assert_eq!(
        rec.annotate(facade, "k", 1),
        Outcome::Rejected(Rejection::Facade)
    );
    let a = rec.begin_subsegment(facade, "handler", &clock, &mut rng);
    let a1 = rec.begin_subsegment(a, "dynamodb", &clock, &mut rng);
    let _ = rec.end(a1, &clock, &mut out);
    let _ = rec.end(a, &clock, &mut out);
    let b = rec.begin_subsegment(facade, "second", &clock, &mut rng);
    let _ = rec.end(b, &clock, &mut out);
    let _ = rec.end(facade, &clock, &mut out);
    assert_eq!(out.0.len(), 2, "the facade itself is never sent");
    for d in &out.0 {
        let doc = check_datagram(d, 65_507);
        assert_eq!(doc["type"], "subsegment");
        assert_eq!(doc["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(doc["parent_id"], "557abcec3ee5a047");
    }
}

#[test]
fn lambda_facade_without_a_sampled_parent_sends_nothing() {
    for text in [
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=0",
        "Root=1-5759e988-bd862e3fe1be46a994272793",
        "Parent=23b173df7f4902e2",
    ] {
        let (clock, mut rng, mut out) = (StepClock::new(), TestRng(8), Capture::default());
        let mut rec = recorder(4096);
        let facade = rec.begin_facade(&TraceHeader::parse(text).unwrap());
        let a = rec.begin_subsegment(facade, "handler", &clock, &mut rng);
        assert!(!a.is_none(), "ids exist for log correlation");
        assert_eq!(rec.annotate(a, "k", 1), Outcome::NotSampled);
        let _ = rec.end(facade, &clock, &mut out);
        assert!(out.0.is_empty(), "{text}");
    }
}

#[test]
fn unsampled_traces_have_ids_and_send_nothing() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(9), Capture::default());
    let mut rec = recorder(4096);
    let seg = rec.begin_segment("svc", None, false, &clock, &mut rng);
    assert!(rec.trace_id().is_some_and(|t| t != TraceId::ZERO));
    let sub = rec.begin_subsegment(seg, "x", &clock, &mut rng);
    assert_ne!(rec.segment_id(sub), rec.segment_id(seg));
    assert_eq!(
        rec.downstream_header(sub).unwrap().sampled(),
        SampledFlag::NotSampled
    );
    assert_eq!(rec.annotate(seg, "a", 1), Outcome::NotSampled);
    assert_eq!(rec.end(seg, &clock, &mut out), Outcome::NotSampled);
    assert!(out.0.is_empty());
    assert_eq!(rec.stats().unsampled, 1);
}

#[test]
fn the_sampling_decision_names_its_rule_in_the_segment() {
    use xray_core::recorder::Sampling;
    use xray_core::sampler::{Decision, Reason};
    let decided = |sampled, rule| Decision {
        sampled,
        reason: Reason::Reservoir,
        rule,
        requested: false,
    };
    for (sdk_block, decision, want) in [
        (true, decided(true, Some("Default")), Some(json!("Default"))),
        (
            false,
            decided(true, Some("checkout")),
            Some(json!("checkout")),
        ),
        (true, decided(true, None), None),
    ] {
        let (clock, mut rng, mut out) = (StepClock::new(), TestRng(11), Capture::default());
        let mut config = RecorderConfig::with_budget(4096);
        config.sdk_block = sdk_block;
        let mut rec = Recorder::<Vec<u8>>::new(vec![0; 8192], config);
        let seg = rec.begin_segment("svc", None, decision, &clock, &mut rng);
        assert_eq!(rec.end(seg, &clock, &mut out), Outcome::Recorded);
        let doc = check_datagram(&out.0[0], 4096);
        assert_eq!(doc["aws"]["xray"].get("sampling_rule_name"), want.as_ref());
        // The SDK's name goes with the rule name even without the SDK block.
        assert_eq!(
            doc["aws"]["xray"]["sdk"].is_string(),
            sdk_block || want.is_some()
        );
    }
    // A rule that decided "not sampled" records nothing, as any unsampled trace.
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(12), Capture::default());
    let mut rec = recorder(4096);
    let seg = rec.begin_segment(
        "svc",
        None,
        Sampling {
            sampled: false,
            rule: Some("r"),
        },
        &clock,
        &mut rng,
    );
    assert_eq!(rec.end(seg, &clock, &mut out), Outcome::NotSampled);
    assert!(out.0.is_empty());
    assert_eq!(rec.stats().fields_dropped, 0);
}

#[test]
fn clock_without_epoch_means_unsampled() {
    struct NoEpoch;
    impl xray_core::Clock for NoEpoch {
        fn now(&self) -> Option<xray_core::Timestamp> {
            None
        }
    }
    let (mut rng, mut out) = (TestRng(10), Capture::default());
    let mut rec = recorder(4096);
    let seg = rec.begin_segment("svc", None, true, &NoEpoch, &mut rng);
    assert!(!rec.is_sampled());
    let _ = rec.end(seg, &NoEpoch, &mut out);
    assert!(out.0.is_empty());
    assert_eq!(rec.stats().clock_unset, 1);
}

#[test]
fn every_block_of_the_model_validates() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(11), Capture::default());
    let mut rec = recorder(65_507);
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    let _ = rec.set_user(seg, "alice");
    let _ = rec.set_origin(seg, "AWS::EC2::Instance");
    let _ = rec.set_service_version(seg, "1.2.3");
    let _ = rec.set_resource_arn(seg, "arn:aws:ec2:us-east-1:123456789012:instance/i-0");
    let _ = rec.set_http_request(
        seg,
        &HttpRequest {
            method: Some("POST"),
            url: Some("https://bob:pw@shop.example.com/cart?token=secret#x"),
            user_agent: Some("curl/8"),
            client_ip: Some("203.0.113.9"),
            x_forwarded_for: true,
        },
    );
    let _ = rec.set_http_response(
        seg,
        &HttpResponse {
            status: Some(429),
            content_length: Some(12),
        },
    );
    let _ = rec.set_aws(
        seg,
        &Aws {
            account_id: Some("123456789012"),
            ec2: Some(xray_core::model::Ec2 {
                instance_id: Some("i-0"),
                availability_zone: Some("us-east-1a"),
                ..Default::default()
            }),
            elastic_beanstalk: Some(xray_core::model::ElasticBeanstalk {
                environment_name: Some("prod"),
                version_label: Some("v1"),
                deployment_id: Some(7),
            }),
            ..Default::default()
        },
    );
    let _ = rec.set_sampling_rule_name(seg, "checkout");
    let db = rec.begin_subsegment(seg, "orders@db.example.com", &clock, &mut rng);
    let _ = rec.set_namespace(db, "remote");
    let _ = rec.set_sql(
        db,
        &Sql {
            connection_string: Some("Host=db;Password=hunter2"),
            url: Some("postgresql://me:hunter2@db:5432/orders"),
            sanitized_query: Some("SELECT * FROM orders WHERE id = ?"),
            database_type: Some("PostgreSQL"),
            user: Some("me"),
            preparation: Some(xray_core::model::Preparation::Statement),
            ..Default::default()
        },
    );
    let ddb = rec.begin_subsegment(seg, "DynamoDB", &clock, &mut rng);
    let _ = rec.set_namespace(ddb, "aws");
    let _ = rec.set_aws(
        ddb,
        &Aws {
            operation: Some("GetItem"),
            region: Some("us-west-2"),
            request_id: Some("RID"),
            retries: Some(0),
            table_name: Some("orders"),
            ..Default::default()
        },
    );
    let frames = [StackFrame {
        path: Some("src/main.rs"),
        line: Some(42),
        label: Some("main"),
    }];
    let exc_id = SegmentId::parse("0123456789abcdef").unwrap();
    let _ = rec.add_exception_with_id(
        ddb,
        exc_id,
        &Exception {
            type_name: Some("ResourceNotFoundException"),
            message: Some("not found"),
            remote: true,
            stack: &frames,
            ..Default::default()
        },
    );
    let _ = rec.set_error(ddb);
    let ddb_id = rec.segment_id(ddb).unwrap();
    let _ = rec.end(ddb, &clock, &mut out);
    let _ = rec.add_precursor_id(db, ddb_id);
    let _ = rec.set_traced(db);
    let _ = rec.end(db, &clock, &mut out);
    let _ = rec.set_cause_id(seg, exc_id);
    let _ = rec.set_working_directory(ddb, "/srv");
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 65_507);
    assert_eq!(
        doc["http"]["request"]["url"],
        "https://shop.example.com/cart"
    );
    assert_eq!(
        (doc["error"].clone(), doc["throttle"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(doc["cause"], "0123456789abcdef");
    assert_eq!(doc["aws"]["xray"]["sampling_rule_name"], "checkout");
    assert_eq!(doc["aws"]["elastic_beanstalk"]["deployment_id"], 7);
    assert_eq!(doc["service"]["version"], "1.2.3");
    let text = std::str::from_utf8(&out.0[0]).unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("secret") && !text.contains("bob"),
        "secrets leaked: {text}"
    );
    let ddb_doc = &doc["subsegments"][0];
    assert_eq!(ddb_doc["cause"]["exceptions"][0]["stack"][0]["line"], 42);
    assert_eq!(ddb_doc["aws"]["table_name"], "orders");
    let db_doc = &doc["subsegments"][1];
    assert_eq!(db_doc["precursor_ids"][0], ddb_id.to_string());
    assert_eq!(db_doc["traced"], true);
    assert_eq!(db_doc["sql"]["connection_string"], "Host=db;Password=***");
}

#[test]
fn setting_a_key_again_replaces_it() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(12), Capture::default());
    let mut rec = recorder(4096);
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    let _ = rec.annotate(seg, "k", 1);
    let _ = rec.annotate(seg, "k", "two");
    let _ = rec.add_metadata(seg, "default", "m", &1);
    let _ = rec.add_metadata(seg, "default", "m", &[1, 2]);
    let _ = rec.add_metadata(seg, "other", "m", &true);
    let _ = rec.set_user(seg, "a");
    let _ = rec.set_user(seg, "b");
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 4096);
    assert_eq!(doc["annotations"], json!({"k": "two"}));
    assert_eq!(
        doc["metadata"],
        json!({"default": {"m": [1, 2]}, "other": {"m": true}})
    );
    assert_eq!(doc["user"], "b");
}

#[test]
fn a_checked_key_annotates_as_a_str_key_does() {
    use xray_core::model::AnnotationKey;
    let run = |checked: bool| {
        let (clock, mut rng, mut out) = (StepClock::new(), TestRng(12), Capture::default());
        let mut rec = recorder(4096);
        let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
        let mut outcomes = Vec::new();
        for (key, value) in [("k", 1i64), ("j", 2), ("k", 3)] {
            outcomes.push(if checked {
                rec.annotate_key(seg, AnnotationKey::new(key).unwrap(), value)
            } else {
                rec.annotate(seg, key, value)
            });
        }
        outcomes.push(if checked {
            rec.annotate_key(seg, AnnotationKey::new("s").unwrap(), "text")
        } else {
            rec.annotate(seg, "s", "text")
        });
        let _ = rec.end(seg, &clock, &mut out);
        (outcomes, out.0)
    };
    let (checked, sent) = run(true);
    assert_eq!(checked, vec![Outcome::Recorded; 4]);
    assert_eq!((checked, sent.clone()), run(false));
    let doc = check_datagram(&sent[0], 4096);
    assert_eq!(doc["annotations"], json!({"k": 3, "j": 2, "s": "text"}));
}

#[test]
fn documents_degrade_in_the_documented_order() {
    let (clock, mut rng) = (StepClock::new(), TestRng(13));
    let big = "x".repeat(900);
    let frames = [StackFrame {
        path: Some(&big[..200]),
        line: Some(1),
        label: Some("f"),
    }; 3];
    // 1. Metadata goes first.
    let mut out = Capture::default();
    let mut rec = recorder(1000);
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    let _ = rec.annotate(seg, "kept", true);
    let _ = rec.add_metadata(seg, "default", "big", big.as_str());
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 1000);
    assert!(doc.get("metadata").is_none());
    assert_eq!(doc["annotations"]["kept"], true);
    assert_eq!(rec.stats().metadata_dropped, 1);
    // 2. Then stack frames, counted in `truncated`.
    let mut out = Capture::default();
    let mut rec = recorder(1000);
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    let _ = rec.add_exception(
        seg,
        &Exception {
            message: Some("boom"),
            stack: &frames,
            truncated: 2,
            ..Default::default()
        },
        &mut rng,
    );
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 1000);
    let e = &doc["cause"]["exceptions"][0];
    assert_eq!(
        (
            e["message"].as_str(),
            e.get("stack"),
            e["truncated"].as_u64()
        ),
        (Some("boom"), None, Some(5))
    );
    assert_eq!(rec.stats().stacks_dropped, 1);
    // 3. Then everything optional.
    let mut out = Capture::default();
    let mut rec = recorder(MIN_BUDGET);
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    let _ = rec.annotate(seg, "a", &big[..300]);
    let _ = rec.set_user(seg, &big);
    let _ = rec.set_fault(seg);
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], MIN_BUDGET);
    assert_eq!(doc["fault"], true, "flags survive");
    assert!(doc.get("annotations").is_none() && doc.get("user").is_none());
    assert_eq!(rec.stats().minimal_documents, 1);
}

#[test]
fn handles_from_another_trace_are_no_ops() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(14), Capture::default());
    let mut rec = recorder(4096);
    let seg = rec.begin_segment("one", None, true, &clock, &mut rng);
    let _ = rec.end(seg, &clock, &mut out);
    let seg2 = rec.begin_segment("two", None, true, &clock, &mut rng);
    assert_eq!(rec.annotate(seg, "k", 1), Outcome::NoEntity);
    assert_eq!(rec.annotate(EntityId::NONE, "k", 1), Outcome::NoEntity);
    assert!(rec.begin_subsegment(seg, "x", &clock, &mut rng).is_none());
    assert!(
        rec.begin_segment("three", None, true, &clock, &mut rng)
            .is_none(),
        "one trace at a time"
    );
    assert_eq!(rec.stats().begins_refused, 1);
    let _ = rec.end(seg2, &clock, &mut out);
    assert_eq!(out.0.len(), 2);
}

#[test]
fn unsampled_subsegments_record_nothing_and_propagate_not_sampled() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(15), Capture::default());
    let mut rec = recorder(4096);
    let seg = rec.begin_segment("batch", None, true, &clock, &mut rng);
    let quiet = rec.begin_unsampled_subsegment(seg, "per-message", &clock, &mut rng);
    let inner = rec.begin_subsegment(quiet, "inner", &clock, &mut rng);
    assert_eq!(rec.annotate(quiet, "k", 1), Outcome::NotSampled);
    assert_eq!(rec.annotate(inner, "k", 1), Outcome::NotSampled);
    assert_eq!(
        rec.downstream_header(inner).unwrap().sampled(),
        SampledFlag::NotSampled
    );
    assert_eq!(
        rec.downstream_header(seg).unwrap().sampled(),
        SampledFlag::Sampled
    );
    let _ = rec.end(inner, &clock, &mut out);
    let _ = rec.end(quiet, &clock, &mut out);
    let _ = rec.end(seg, &clock, &mut out);
    assert_eq!(out.0.len(), 1);
    let doc = check_datagram(&out.0[0], 4096);
    assert!(
        doc.get("subsegments").is_none(),
        "nothing of the unsampled subtree is sent"
    );
}

#[test]
fn a_small_trace_under_a_small_budget_is_one_datagram() {
    // Regression: the closing child's own reserve was counted against the headroom, so its
    // parent's children were flushed early.
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(16), Capture::default());
    let mut rec: Recorder<[u8; 2048]> = Recorder::new([0; 2048], RecorderConfig::with_budget(1024));
    let seg = rec.begin_segment("checkout", None, true, &clock, &mut rng);
    let _ = rec.annotate(seg, "customer", "acme-corp");
    for name in ["orders-db", "payments"] {
        let sub = rec.begin_subsegment(seg, name, &clock, &mut rng);
        let _ = rec.set_fault(sub);
        let _ = rec.end(sub, &clock, &mut out);
    }
    let _ = rec.end(seg, &clock, &mut out);
    assert_eq!(out.0.len(), 1);
    assert_eq!(rec.stats().streamed, 0);
    let doc = check_datagram(&out.0[0], 1024);
    assert_eq!(doc["subsegments"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_reused_slot_starts_empty() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(17), Capture::default());
    let mut rec: Recorder<Vec<u8>, 2> =
        Recorder::new(vec![0; 8192], RecorderConfig::with_budget(4096));
    let seg = rec.begin_segment("root", None, true, &clock, &mut rng);
    let a = rec.begin_subsegment(seg, "a", &clock, &mut rng);
    let _ = rec.annotate(a, "only_a", 1);
    let _ = rec.set_http_request(
        a,
        &HttpRequest {
            method: Some("GET"),
            ..Default::default()
        },
    );
    let _ = rec.end(a, &clock, &mut out);
    let b = rec.begin_subsegment(seg, "b", &clock, &mut rng);
    assert!(!b.is_none(), "the second slot is free again");
    let _ = rec.end(b, &clock, &mut out);
    let _ = rec.end(seg, &clock, &mut out);
    let body = std::str::from_utf8(&out.0[0]).unwrap();
    assert_eq!(body.matches("only_a").count(), 1, "{body}");
    assert_eq!(body.matches("\"name\"").count(), 3, "{body}");
    let doc = check_datagram(&out.0[0], 4096);
    assert!(doc["subsegments"][1].get("annotations").is_none());
    assert!(doc["subsegments"][1].get("http").is_none());
}

#[test]
fn empty_blocks_leave_no_trace_in_the_document() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(18), Capture::default());
    let mut rec = recorder(4096);
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    let _ = rec.set_sql(seg, &Sql::default());
    let _ = rec.set_http_request(seg, &HttpRequest::default());
    let _ = rec.set_aws(
        seg,
        &Aws {
            region: Some("eu-west-1"),
            ..Default::default()
        },
    );
    let _ = rec.set_aws(seg, &Aws::default());
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 4096);
    assert!(
        doc.get("sql").is_none() && doc.get("http").is_none(),
        "{doc}"
    );
    assert!(
        doc["aws"].get("region").is_none(),
        "set again with nothing replaces it: {doc}"
    );
}

#[test]
fn the_aws_block_replaces_all_but_the_sdk_block() {
    // Fuzz findings R6 and R7: `set_aws` removed the recorder's own `aws.xray`, and a param
    // named `xray` made a second `xray` member next to the sampling rule's.
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(21), Capture::default());
    let mut rec = recorder(4096);
    let params = [
        ("xray", AwsParam::Json("{}")),
        ("stage", AwsParam::Str("prod")),
    ];
    let second = Aws {
        account_id: Some("123456789012"),
        params: &params,
        ..Default::default()
    };
    for rule in [None, Some("checkout")] {
        let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
        let first = Aws {
            region: Some("eu-west-1"),
            ..Default::default()
        };
        assert_eq!(rec.set_aws(seg, &first), Outcome::Recorded);
        assert_eq!(rec.set_aws(seg, &second), Outcome::Shortened);
        if let Some(rule) = rule {
            let _ = rec.set_sampling_rule_name(seg, rule);
        }
        let _ = rec.end(seg, &clock, &mut out);
        let sent = out.0.last().unwrap();
        let body = std::str::from_utf8(sent).unwrap();
        assert_eq!(body.matches("\"xray\"").count(), 1, "{body}");
        let doc = check_datagram(sent, 4096);
        let aws = &doc["aws"];
        assert!(aws["xray"]["sdk"].is_string(), "{doc}");
        assert_eq!(
            aws["xray"].get("sampling_rule_name"),
            rule.map(Value::from).as_ref()
        );
        assert_eq!(aws["account_id"], "123456789012", "{doc}");
        assert_eq!(aws["stage"], "prod", "{doc}");
        assert!(aws.get("region").is_none(), "{doc}");
    }
}

#[test]
fn every_loss_is_counted_whatever_level_a_document_ends_at() {
    // Fuzz finding R5: a document written at the no-stacks level lost its metadata too, but
    // only `stacks_dropped` was counted.
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(19), Capture::default());
    let mut rec = recorder(1000);
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    let frames = [StackFrame {
        path: Some("src/main.rs"),
        line: Some(1),
        label: Some("main"),
    }; 40];
    let _ = rec.add_metadata(seg, "default", "k", "v");
    let _ = rec.add_exception(
        seg,
        &Exception {
            message: Some("boom"),
            stack: &frames,
            ..Default::default()
        },
        &mut rng,
    );
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 1000);
    assert!(doc.get("metadata").is_none() && doc["cause"]["exceptions"][0].get("stack").is_none());
    let stats = rec.stats();
    assert_eq!(
        (
            stats.metadata_dropped,
            stats.stacks_dropped,
            stats.minimal_documents
        ),
        (1, 1, 0)
    );
}
