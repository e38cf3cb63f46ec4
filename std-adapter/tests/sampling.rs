//! The tracer's sampling: the default rule, local rules files (`AWS_XRAY_SAMPLING_RULES_FILE`),
//! upstream decisions, the rule name on the segment, and Lambda mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod capture;

use std::sync::Arc;
use std::time::Instant;

use capture::{Capture, rule_name};
use xray_core::TraceHeader;
use xray_std::tracer::{BuildError, SamplingRequest};
use xray_std::{Config, Tracer};

const RULES: &str = r#"{"version": 2,
  "default": {"fixed_target": 0, "rate": 0},
  "rules": [
    {"description": "checkout", "host": "*", "http_method": "POST", "url_path": "/checkout*",
     "fixed_target": 0, "rate": 1},
    {"description": "health", "host": "*", "http_method": "*", "url_path": "/health",
     "fixed_target": 0, "rate": 0}
  ]}"#;

fn tracer(capture: &Arc<Capture>, builder: xray_std::TracerBuilder) -> Tracer {
    builder.transport(capture.clone()).pool_size(2).build()
}

fn post(path: &str) -> SamplingRequest<'_> {
    SamplingRequest::new("shop").with_http(Some("shop.example.com"), Some("POST"), Some(path))
}

#[test]
fn local_rules_decide_and_the_rule_name_is_recorded() {
    let capture = Arc::new(Capture::default());
    let t = tracer(
        &capture,
        Tracer::builder("shop").sampling_rules_json(RULES).unwrap(),
    );
    for _ in 0..5 {
        assert!(t.begin_with(None, &post("/checkout/1")).is_sampled());
        assert!(!t.begin_with(None, &post("/health")).is_sampled());
        // The default rule here is 0 + 0 %.
        assert!(!t.begin_with(None, &post("/other")).is_sampled());
    }
    let docs = capture.documents();
    assert_eq!(docs.len(), 5);
    assert!(
        docs.iter().all(|d| rule_name(d) == Some("checkout")),
        "{docs:?}"
    );
    assert_eq!(t.stats().sampled, 5);
}

#[test]
fn the_default_sampler_is_one_per_second_plus_five_percent() {
    let capture = Arc::new(Capture::default());
    let t = tracer(&capture, Tracer::builder("svc"));
    let start = Instant::now();
    let n = 2_000;
    for _ in 0..n {
        drop(t.begin(None));
    }
    let secs = start.elapsed().as_secs() + 1;
    let sampled = t.stats().sampled;
    // At least the reservoir's first request; far fewer than all: 1 per second started,
    // plus a 5 % Bernoulli (mean 100 of 2000; 250 is > 10 standard deviations away).
    assert!(sampled >= 1, "{sampled}");
    assert!(
        sampled <= secs + 250,
        "{sampled} sampled of {n} in {secs} s"
    );
    assert!(
        capture
            .documents()
            .iter()
            .all(|d| rule_name(d) == Some("Default"))
    );
}

#[test]
fn upstream_decisions_win_and_question_mark_runs_the_rules() {
    let capture = Arc::new(Capture::default());
    let t = tracer(
        &capture,
        Tracer::builder("shop").sampling_rules_json(RULES).unwrap(),
    );
    let root = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";
    let h = |s: &str| TraceHeader::parse(&format!("{root};Sampled={s}")).unwrap();
    // Sampled=1 wins over a rule that never samples, and records no rule name.
    assert!(t.begin_with(Some(&h("1")), &post("/health")).is_sampled());
    // Sampled=0 wins over a rule that always samples.
    assert!(!t.begin_with(Some(&h("0")), &post("/checkout")).is_sampled());
    // `?` and a missing Sampled run the rules.
    assert!(t.begin_with(Some(&h("?")), &post("/checkout")).is_sampled());
    assert!(!t.begin_with(Some(&h("?")), &post("/health")).is_sampled());
    let no_flag = TraceHeader::parse(root).unwrap();
    assert!(
        t.begin_with(Some(&no_flag), &post("/checkout"))
            .is_sampled()
    );
    assert!(!t.begin_with(Some(&no_flag), &post("/other")).is_sampled());
    let names: Vec<Option<String>> = capture
        .documents()
        .iter()
        .map(|d| rule_name(d).map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        [None, Some("checkout".into()), Some("checkout".into())]
    );
}

#[test]
fn always_sample_and_custom_samplers_stay() {
    let capture = Arc::new(Capture::default());
    let all = tracer(&capture, Tracer::builder("svc").always_sample());
    assert!((0..50).all(|_| all.begin(None).is_sampled()));
    let none = tracer(&capture, Tracer::builder("svc").sampler(|_| false));
    assert!(!none.begin(None).is_sampled());
    assert_eq!(capture.documents().len(), 50);
    assert!(capture.documents().iter().all(|d| rule_name(d).is_none()));
}

fn config(vars: &[(&str, &str)]) -> Config {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap()
}

#[test]
fn the_rules_file_is_loaded_at_build_time_and_errors_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("rules.json");
    std::fs::write(&good, RULES).unwrap();
    let path = good.to_str().unwrap();
    let capture = Arc::new(Capture::default());
    let t = tracer(
        &capture,
        Tracer::from_config(&config(&[("AWS_XRAY_SAMPLING_RULES_FILE", path)]), "shop").unwrap(),
    );
    assert!(!t.begin_with(None, &post("/other")).is_sampled());
    assert!(t.begin_with(None, &post("/checkout")).is_sampled());

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"version": 3, "default": {"fixed_target": 1, "rate": 0.1}}"#,
    )
    .unwrap();
    let err = Tracer::from_config(
        &config(&[("AWS_XRAY_SAMPLING_RULES_FILE", bad.to_str().unwrap())]),
        "shop",
    )
    .unwrap_err();
    assert!(matches!(err, BuildError::SamplingRules { path: Some(ref p), .. } if *p == bad));
    assert!(err.to_string().contains("bad.json"), "{err}");

    let missing = dir.path().join("missing.json");
    let err = Tracer::from_config(
        &config(&[("AWS_XRAY_SAMPLING_RULES_FILE", missing.to_str().unwrap())]),
        "shop",
    )
    .unwrap_err();
    assert!(matches!(err, BuildError::SamplingRulesRead { .. }));
    assert!(err.to_string().contains("missing.json"), "{err}");
}

#[test]
fn lambda_mode_does_not_sample_locally() {
    let capture = Arc::new(Capture::default());
    let t = tracer(&capture, Tracer::builder("fn").always_sample().lambda(true));
    // No header, or one without a decision: nothing is sampled whatever the sampler says.
    assert!(!t.begin(None).is_sampled());
    let ask = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?").unwrap();
    assert!(!t.begin(Some(&ask)).is_sampled());
    let yes = TraceHeader::parse(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    .unwrap();
    assert!(t.begin(Some(&yes)).is_sampled());
    // And the rules file is not read in Lambda (the header decides).
    let lambda = config(&[
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("AWS_XRAY_SAMPLING_RULES_FILE", "/nonexistent/rules.json"),
    ]);
    assert!(Tracer::from_config(&lambda, "fn").is_ok());
}

#[test]
fn the_tracer_stays_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Tracer>();
    check::<xray_std::TraceContext>();
    check::<xray_std::Subsegment>();
}
