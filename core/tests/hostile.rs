//! Hostile input, each with its defined, documented result (issue 6).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Capture, StepClock, TestRng, check_datagram, entities};
use serde_json::Value;
use xray_core::model::{Aws, Exception, HttpRequest, Sql, StackFrame};
use xray_core::{EntityId, HeaderError, Outcome, Recorder, RecorderConfig, Rejection, TraceHeader};

fn recorder(budget: usize) -> Recorder<Vec<u8>> {
    Recorder::new(vec![0; budget + 8192], RecorderConfig::with_budget(budget))
}

#[test]
fn megabyte_values() {
    // A megabyte header is rejected unread.
    let big = "Root=".to_string() + &"a".repeat(1 << 20);
    assert_eq!(TraceHeader::parse(&big), Err(HeaderError::TooLong));
    // Megabyte strings are cut to their limits; the document stays valid.
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(1), Capture::default());
    let mut rec = recorder(65_507);
    let huge = "é".repeat(1 << 19);
    let seg = rec.begin_segment(&huge, None, true, &clock, &mut rng);
    assert_eq!(rec.annotate(seg, "k", huge.as_str()), Outcome::Shortened);
    assert_eq!(rec.set_user(seg, &huge), Outcome::Shortened);
    let _ = rec.add_metadata(seg, &huge, &huge, &huge[..1000]);
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 65_507);
    assert_eq!(doc["name"].as_str().unwrap().chars().count(), 200);
    assert_eq!(
        doc["annotations"]["k"].as_str().unwrap().chars().count(),
        1000
    );
    assert_eq!(doc["user"].as_str().unwrap().chars().count(), 250);
}

#[test]
fn a_hundred_thousand_annotations() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(2), Capture::default());
    let mut rec = recorder(65_507);
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    let mut recorded = 0;
    for i in 0..100_000u32 {
        match rec.annotate(seg, &format!("key_{i}"), i) {
            Outcome::Recorded => recorded += 1,
            Outcome::Rejected(Rejection::TooManyAnnotations) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(recorded, 50, "X-Ray indexes 50 per trace; the default cap");
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 65_507);
    assert_eq!(doc["annotations"].as_object().unwrap().len(), 50);

    // With the cap lifted, the field log fills up and the rest is counted as dropped.
    let mut rec: Recorder<Vec<u8>> = Recorder::new(
        vec![0; 8192],
        RecorderConfig::with_budget(4096).max_annotations(u16::MAX),
    );
    let mut out = Capture::default();
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    let outcomes: Vec<Outcome> = (0..100_000u32)
        .map(|i| rec.annotate(seg, &format!("k{i}"), i))
        .collect();
    let kept = outcomes.iter().filter(|o| o.is_recorded()).count();
    assert!(kept > 10 && outcomes.iter().skip(kept).all(|o| *o == Outcome::NoRoom));
    assert_eq!(rec.stats().fields_dropped as usize, 100_000 - kept);
    let _ = rec.end(seg, &clock, &mut out);
    for d in &out.0 {
        check_datagram(d, 4096);
    }
}

#[test]
fn nesting_a_thousand_deep() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(3), Capture::default());
    let mut rec = recorder(65_507);
    let seg = rec.begin_segment("root", None, true, &clock, &mut rng);
    let mut parent = seg;
    let mut depth = 0;
    for i in 0..1000 {
        let child = rec.begin_subsegment(parent, &format!("level-{i}"), &clock, &mut rng);
        if child.is_none() {
            break;
        }
        depth += 1;
        parent = child;
    }
    assert_eq!(
        depth, 15,
        "16 slots: the segment and 15 nested subsegments; deeper begins are refused"
    );
    assert!(
        rec.begin_subsegment(parent, "deeper", &clock, &mut rng)
            .is_none()
    );
    assert_eq!(rec.annotate(EntityId::NONE, "k", 1), Outcome::NoEntity);
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 65_507);
    assert_eq!(entities(&doc).len(), 16);
}

#[test]
fn a_64_byte_budget_disables_recording() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(4), Capture::default());
    let mut rec: Recorder<[u8; 64]> = Recorder::new([0; 64], RecorderConfig::with_budget(64));
    assert_eq!(rec.budget(), 0);
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    assert!(seg.is_none());
    assert_eq!(rec.annotate(seg, "k", 1), Outcome::NoEntity);
    let _ = rec.end(seg, &clock, &mut out);
    assert!(
        out.0.is_empty(),
        "never more than the budget: nothing at all"
    );
    assert_eq!(rec.stats().begins_refused, 1);
    // A large buffer does not override a small configured budget either.
    let mut rec: Recorder<Vec<u8>> =
        Recorder::new(vec![0u8; 70_000], RecorderConfig::with_budget(64));
    assert!(
        rec.begin_segment("svc", None, true, &clock, &mut rng)
            .is_none()
    );
}

#[test]
fn names_made_only_of_forbidden_characters() {
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(5), Capture::default());
    let mut rec = recorder(4096);
    let seg = rec.begin_segment("?;*()!$~^<>\"\\\n\t", None, true, &clock, &mut rng);
    let sub = rec.begin_subsegment(seg, "", &clock, &mut rng);
    let _ = rec.end(sub, &clock, &mut out);
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 4096);
    assert_eq!(doc["name"], "unnamed");
    assert_eq!(doc["subsegments"][0]["name"], "unnamed");
}

#[test]
fn every_ascii_control_character_in_every_string_field() {
    let controls: String = (0u8..0x20).chain([0x7f]).map(char::from).collect();
    let text = format!("a{controls}b\"\\\u{2028}\u{2029}");
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(6), Capture::default());
    let mut rec = recorder(65_507);
    let seg = rec.begin_segment(&text, None, true, &clock, &mut rng);
    for o in [
        rec.annotate(seg, "s", text.as_str()),
        rec.add_metadata(seg, &text, &text, &text),
        rec.set_user(seg, &text),
        rec.set_origin(seg, &text),
        rec.set_resource_arn(seg, &text),
        rec.set_service_version(seg, &text),
        rec.set_namespace(seg, &text),
        rec.set_sampling_rule_name(seg, &text),
        rec.set_working_directory(seg, &text),
        rec.set_http_request(
            seg,
            &HttpRequest {
                method: Some(&text),
                url: Some(&text),
                user_agent: Some(&text),
                client_ip: Some(&text),
                x_forwarded_for: false,
            },
        ),
        rec.set_aws(
            seg,
            &Aws {
                operation: Some(&text),
                region: Some(&text),
                request_id: Some(&text),
                queue_url: Some(&text),
                table_name: Some(&text),
                ..Default::default()
            },
        ),
        rec.set_sql(
            seg,
            &Sql {
                connection_string: Some(&text),
                url: Some(&text),
                sanitized_query: Some(&text),
                database_type: Some(&text),
                user: Some(&text),
                ..Default::default()
            },
        ),
        rec.add_exception(
            seg,
            &Exception {
                type_name: Some(&text),
                message: Some(&text),
                stack: &[StackFrame {
                    path: Some(&text),
                    line: Some(1),
                    label: Some(&text),
                }],
                ..Default::default()
            },
            &mut rng,
        ),
    ] {
        assert!(o.is_recorded(), "{o:?}");
    }
    let sub = rec.begin_subsegment(seg, &text, &clock, &mut rng);
    let _ = rec.end(sub, &clock, &mut out);
    let _ = rec.end(seg, &clock, &mut out);
    let raw = std::str::from_utf8(&out.0[0]).unwrap();
    let body = raw.split_once('\n').unwrap().1;
    assert!(!body.bytes().any(|b| b < 0x20), "control bytes are escaped");
    assert!(!body.contains('\u{2028}') && !body.contains('\u{2029}'));
    let doc = check_datagram(&out.0[0], 65_507);
    assert_eq!(doc["annotations"]["s"], Value::String(text.clone()));
    assert_eq!(doc["user"], Value::String(text.clone()));
    assert_eq!(
        doc["cause"]["exceptions"][0]["message"],
        Value::String(text.clone())
    );
    assert_eq!(
        doc["name"], "ab\u{2028}\u{2029}",
        "names keep only the schema's characters"
    );
}

#[test]
fn metadata_serde_json_core_could_not_write_is_written_correctly() {
    // The recorder fuzz target found serde-json-core writing integer map keys bare, map keys
    // unescaped, bytes raw, and panicking on `char`. Metadata now goes through the core's own
    // serializer, which writes them as serde_json does.
    let (clock, mut rng, mut out) = (StepClock::new(), TestRng(7), Capture::default());
    let mut rec = recorder(4096);
    let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
    let by_number: std::collections::BTreeMap<i32, &str> = [(-1, "minus one"), (2, "two")].into();
    assert_eq!(
        rec.add_metadata(seg, "default", "by_number", &by_number),
        Outcome::Recorded
    );
    let quote_key: std::collections::BTreeMap<&str, char> = [("a\"b", '"')].into();
    assert_eq!(
        rec.add_metadata(seg, "default", "quote_key", &quote_key),
        Outcome::Recorded
    );
    assert_eq!(
        rec.add_metadata(seg, "default", "letter", &'x'),
        Outcome::Recorded
    );
    struct Bytes;
    impl serde::Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&[0, 255])
        }
    }
    assert_eq!(
        rec.add_metadata(seg, "default", "bytes", &Bytes),
        Outcome::Recorded
    );
    let float_keys: Vec<(f64, u8)> = vec![(0.5, 1)];
    struct FloatKeys(Vec<(f64, u8)>);
    impl serde::Serialize for FloatKeys {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(None)?;
            for (k, v) in &self.0 {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }
    assert_eq!(
        rec.add_metadata(seg, "default", "float_keys", &FloatKeys(float_keys)),
        Outcome::Rejected(Rejection::Serialize),
        "JSON has no float keys; serde_json refuses them too"
    );
    let _ = rec.end(seg, &clock, &mut out);
    let doc = check_datagram(&out.0[0], 4096);
    let md = &doc["metadata"]["default"];
    assert_eq!(
        md["by_number"],
        serde_json::json!({"-1": "minus one", "2": "two"})
    );
    assert_eq!(md["quote_key"], serde_json::json!({"a\"b": "\""}));
    assert_eq!(md["letter"], "x");
    assert_eq!(md["bytes"], serde_json::json!([0, 255]));
    assert!(md.get("float_keys").is_none());
}

#[test]
fn statuses_outside_100_to_599_are_left_out() {
    use xray_core::model::HttpResponse;
    for (status, written) in [
        (0u16, None::<u16>),
        (99, None),
        (100, Some(100)),
        (599, Some(599)),
        (600, None),
        (u16::MAX, None),
    ] {
        let (clock, mut rng, mut out) = (StepClock::new(), TestRng(8), Capture::default());
        let mut rec = recorder(4096);
        let seg = rec.begin_segment("svc", None, true, &clock, &mut rng);
        let outcome = rec.set_http_response(
            seg,
            &HttpResponse {
                status: Some(status),
                content_length: Some(12),
            },
        );
        let want = if written.is_some() {
            Outcome::Recorded
        } else {
            Outcome::Shortened
        };
        assert_eq!(outcome, want, "{status}");
        let _ = rec.end(seg, &clock, &mut out);
        let doc = check_datagram(&out.0[0], 4096);
        assert_eq!(
            doc["http"]["response"]["status"].as_u64(),
            written.map(u64::from)
        );
        assert_eq!(doc["http"]["response"]["content_length"], 12);
        if written.is_none() {
            assert!(
                doc.get("fault").is_none() && doc.get("error").is_none(),
                "no flag from a status X-Ray does not take: {doc}"
            );
        }
    }
}
