//! Property tests: anything recorded encodes to schema-valid JSON within the budget, and
//! values round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Capture, StepClock, TestRng, check_datagram, entities};
use proptest::prelude::*;
use serde_json::Value;
use xray_core::model::{Exception, HttpRequest, HttpResponse, StackFrame};
use xray_core::{EntityId, Recorder, RecorderConfig};

fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_and_numbers_round_trip(
        name in "\\PC{0,220}",
        text in ".{0,1100}",
        int in any::<i64>(),
        float in any::<f64>(),
        status in any::<u16>(),
        length in any::<u64>(),
        line in any::<u32>(),
    ) {
        let (clock, mut rng, mut out) = (StepClock::new(), TestRng(1), Capture::default());
        // Room for every field at its longest (1,100 characters of 6-byte escapes each).
        let mut rec: Recorder<Vec<u8>> = Recorder::new(vec![0; 65_507 + 65_536], RecorderConfig::default());
        let seg = rec.begin_segment(&name, None, true, &clock, &mut rng);
        let _ = rec.annotate(seg, "s", text.as_str());
        let _ = rec.annotate(seg, "i", int);
        let float_kept = rec.annotate(seg, "f", float).is_recorded();
        prop_assert!(rec.add_metadata(seg, &text, &text, &text).is_recorded());
        let _ = rec.set_user(seg, &text);
        let _ = rec.set_http_request(seg, &HttpRequest { method: Some(&text), user_agent: Some(&text), ..Default::default() });
        let _ = rec.set_http_response(seg, &HttpResponse { status: Some(status), content_length: Some(length) });
        let sub = rec.begin_subsegment(seg, &text, &clock, &mut rng);
        let frames = [StackFrame { path: Some(&text), line: Some(line), label: Some(&name) }];
        let _ = rec.add_exception(sub, &Exception { type_name: Some(&name), message: Some(&text), stack: &frames, ..Default::default() }, &mut rng);
        let _ = rec.end(sub, &clock, &mut out);
        let _ = rec.end(seg, &clock, &mut out);
        prop_assert_eq!(out.0.len(), 1);
        let doc = check_datagram(&out.0[0], 65_507);
        prop_assert_eq!(doc["annotations"]["s"].as_str().map(str::to_owned), Some(cut(&text, 1000)));
        prop_assert_eq!(doc["annotations"]["i"].as_i64(), Some(int));
        prop_assert_eq!(float_kept, float.is_finite());
        if float.is_finite() {
            prop_assert_eq!(doc["annotations"]["f"].as_f64(), Some(float));
        }
        prop_assert_eq!(doc["user"].as_str().map(str::to_owned), Some(cut(&text, 250)));
        // X-Ray takes statuses 100..=599 only; any other is left out.
        let valid = (100..=599).contains(&status);
        prop_assert_eq!(doc["http"]["response"]["status"].as_u64(), valid.then_some(u64::from(status)));
        prop_assert_eq!(doc["http"]["response"]["content_length"].as_u64(), Some(length));
        let ns = cut(&text, 40);
        prop_assert_eq!(doc["metadata"][ns.as_str()][cut(&text, 250).as_str()].as_str(), Some(text.as_str()));
        let e = &doc["subsegments"][0]["cause"]["exceptions"][0];
        prop_assert_eq!(e["message"].as_str().map(str::to_owned), Some(cut(&text, 1000)));
        prop_assert_eq!(e["stack"][0]["line"].as_u64(), Some(u64::from(line)));
        // The name keeps the given name's allowed characters, in order (schema-checked above).
        let got = doc["name"].as_str().unwrap();
        let mut rest = name.chars();
        prop_assert!(got == "unnamed" || got.chars().all(|c| rest.any(|n| n == c)), "{got:?} from {name:?}");
    }
}

#[derive(Debug, Clone)]
enum Op {
    Begin(usize, String),
    End(usize),
    Annotate(usize, String, i64),
    Metadata(usize, String),
    Exception(usize, String, usize),
    Fault(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..8usize, "\\PC{0,40}").prop_map(|(p, n)| Op::Begin(p, n)),
        (0..8usize).prop_map(Op::End),
        (0..8usize, "[a-z_]{1,8}", any::<i64>()).prop_map(|(e, k, v)| Op::Annotate(e, k, v)),
        (0..8usize, ".{0,300}").prop_map(|(e, t)| Op::Metadata(e, t)),
        (0..8usize, ".{0,200}", 0..20usize).prop_map(|(e, m, f)| Op::Exception(e, m, f)),
        (0..8usize).prop_map(Op::Fault),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_budget_yields_valid_json_within_it(
        budget in 0usize..6000,
        extra in 0usize..3000,
        stream_all in any::<bool>(),
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let (clock, mut rng, mut out) = (StepClock::new(), TestRng(2), Capture::default());
        let config = RecorderConfig::with_budget(budget).stream_all(stream_all);
        let mut rec: Recorder<Vec<u8>, 8> = Recorder::new(vec![0; budget + extra], config);
        let seg = rec.begin_segment("root", None, true, &clock, &mut rng);
        let mut open: Vec<EntityId> = vec![seg];
        // The X-Ray id of every entity begun while sampled, to find each in the output.
        let mut begun: Vec<String> = rec.segment_id(seg).filter(|_| !seg.is_none()).map(|i| i.to_string()).into_iter().collect();
        let frames = [StackFrame { path: Some("src/lib.rs"), line: Some(7), label: Some("f") }; 20];
        for op in ops {
            let pick = |i: usize| open[i % open.len()];
            match op {
                Op::Begin(p, name) => {
                    let id = rec.begin_subsegment(pick(p), &name, &clock, &mut rng);
                    if !id.is_none() {
                        open.push(id);
                        begun.push(rec.segment_id(id).unwrap().to_string());
                    }
                }
                Op::End(e) if open.len() > 1 => {
                    let i = 1 + e % (open.len() - 1);
                    let _ = rec.end(open.remove(i), &clock, &mut out);
                }
                Op::End(_) => {}
                Op::Annotate(e, k, v) => { let _ = rec.annotate(pick(e), &k, v); }
                Op::Metadata(e, t) => { let _ = rec.add_metadata(pick(e), "default", "k", &t); }
                Op::Exception(e, m, f) => {
                    let _ = rec.add_exception(pick(e), &Exception { message: Some(&m), stack: &frames[..f], ..Default::default() }, &mut rng);
                }
                Op::Fault(e) => { let _ = rec.set_fault(pick(e)); }
            }
        }
        let _ = rec.end(seg, &clock, &mut out);
        let effective = rec.budget();
        prop_assert!(effective <= budget);
        let mut received: Vec<String> = Vec::new();
        let mut trace_ids: Vec<String> = Vec::new();
        for d in &out.0 {
            let doc: Value = check_datagram(d, effective);
            for e in entities(&doc) {
                received.push(e["id"].as_str().unwrap().to_owned());
            }
            trace_ids.push(doc["trace_id"].as_str().unwrap().to_owned());
        }
        // Every entity that began while sampled arrives exactly once (none is lost silently,
        // none is sent twice), by id, and every datagram belongs to the one trace.
        if !seg.is_none() {
            begun.sort();
            received.sort();
            prop_assert_eq!(received, begun);
            trace_ids.dedup();
            prop_assert_eq!(trace_ids.len(), 1);
        } else {
            prop_assert!(out.0.is_empty());
        }
    }
}
