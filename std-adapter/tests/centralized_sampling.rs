//! Centralized sampling against a stand-in daemon sampling proxy on 127.0.0.1: rules fetched
//! and used by the tracer, statistics reported with the right counts, quotas applied, the
//! poller thread, and the fallback to local rules when the daemon is absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod capture;
mod ports;
mod stub_http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use capture::{Capture, rule_name};
use serde_json::{Value, json};
use stub_http::StubServer;
use xray_core::sampler::{Reason, SamplingRequest, Upstream};
use xray_core::{Clock, FixedClock, Timestamp};
use xray_std::centralized_sampling::{CentralizedSampling, Poller, PollerOptions};
use xray_std::sampling_proxy_client::SamplingProxyClient;
use xray_std::tracer::{LocalSampler, SamplingRequest as TracerRequest};
use xray_std::{FastRng, SystemClock, Tracer};

fn rule(name: &str, priority: i64, rate: f64, size: u64, path: &str) -> Value {
    json!({"SamplingRule": {
        "RuleName": name, "RuleARN": format!("arn:aws:xray:::{name}"), "ResourceARN": "*",
        "Priority": priority, "FixedRate": rate, "ReservoirSize": size, "ServiceName": "*",
        "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": path, "Version": 1,
        "Attributes": {}
    }, "CreatedAt": 1.6e9, "ModifiedAt": 1.6e9})
}

fn rules_body() -> String {
    let mut attrs = rule("attrs", 1, 0.0, 0, "/checkout*");
    attrs["SamplingRule"]["Attributes"] = json!({"tier": "gold"});
    let mut arn = rule("arn", 1, 0.0, 0, "/checkout*");
    arn["SamplingRule"]["ResourceARN"] = json!("arn:aws:ecs:x");
    json!({"SamplingRuleRecords": [
        rule("Default", 10000, 0.0, 1, "*"),
        // Unsupported (attributes, a specific ARN): would shadow `checkout` if used.
        attrs, arn,
        rule("checkout", 10, 1.0, 0, "/checkout*"),
    ], "NextToken": null})
    .to_string()
}

fn stub() -> StubServer {
    StubServer::start(|call| match call.path.as_str() {
        "/GetSamplingRules" => (200, rules_body()),
        "/SamplingTargets" => (
            200,
            json!({
                "SamplingTargetDocuments": [{"RuleName": "Default", "FixedRate": 0.0,
                    "ReservoirQuota": 3, "ReservoirQuotaTTL": 4.0e9, "Interval": 10}],
                "LastRuleModification": 1.0e9,
                "UnprocessedStatistics": []
            })
            .to_string(),
        ),
        _ => (404, "{}".into()),
    })
}

fn client(addr: SocketAddr) -> SamplingProxyClient {
    SamplingProxyClient::new(addr, Duration::from_secs(2))
}

/// A local port nothing listens on; `offset` is the test's own (see `ports`).
fn dead_port(offset: u16) -> SocketAddr {
    ports::unused(offset)
}

fn now_secs() -> u64 {
    SystemClock.now().unwrap().secs()
}

fn sampling() -> Arc<CentralizedSampling> {
    let local = LocalSampler::from_rules_json(
        r#"{"version": 2, "default": {"fixed_target": 0, "rate": 0},
            "rules": [{"description": "local-checkout", "host": "*", "http_method": "*",
                       "url_path": "/checkout*", "fixed_target": 0, "rate": 1}]}"#,
    )
    .unwrap();
    CentralizedSampling::with_rng(local, &mut FastRng::seed_from_u64(7))
}

fn decide(s: &CentralizedSampling, path: &str, secs: u64) -> (bool, Reason, Option<String>) {
    let req = SamplingRequest {
        service_name: Some("shop"),
        url_path: Some(path),
        ..Default::default()
    };
    let clock = FixedClock(Timestamp::from_secs_micros(secs, 0));
    let mut rng = FastRng::seed_from_u64(secs);
    s.decide_with(&req, Upstream::NoTrace, &clock, &mut rng, |d, _| {
        (d.sampled, d.reason, d.rule.map(str::to_owned))
    })
}

#[test]
fn rules_are_fetched_and_used_by_the_tracer() {
    let daemon = stub();
    let s = sampling();
    let refresh = s.refresh_rules(&client(daemon.addr()), now_secs()).unwrap();
    assert_eq!((refresh.received, refresh.kept), (4, 2));
    assert_eq!(s.rule_names(), ["checkout", "Default"]);
    let calls = daemon.requests();
    assert_eq!(calls[0].path, "/GetSamplingRules");
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].body).unwrap(),
        json!({"NextToken": null})
    );

    let capture = Arc::new(Capture::default());
    let tracer = Tracer::builder("shop")
        .centralized_sampling(s.clone())
        .transport(capture.clone())
        .pool_size(2)
        .build();
    let req = |path| TracerRequest::new("shop").with_http(None, Some("GET"), Some(path));
    for _ in 0..10 {
        assert!(tracer.begin_with(None, &req("/checkout/1")).is_sampled());
    }
    let docs = capture.documents();
    assert_eq!(docs.len(), 10);
    assert!(docs.iter().all(|d| rule_name(d) == Some("checkout")));

    // Default: rate 0, one borrowed request per second at most.
    let start = Instant::now();
    let other = (0..50)
        .filter(|_| tracer.begin_with(None, &req("/other")).is_sampled())
        .count() as u64;
    assert!(other <= start.elapsed().as_secs() + 1, "{other}");
}

#[test]
fn default_with_rate_zero_samples_nothing_after_the_borrow() {
    let daemon = stub();
    let s = sampling();
    let t0 = now_secs();
    s.refresh_rules(&client(daemon.addr()), t0).unwrap();
    let d: Vec<(bool, Reason)> = (0..5)
        .map(|_| decide(&s, "/other", t0 + 1))
        .map(|(s, r, _)| (s, r))
        .collect();
    assert_eq!(d[0], (true, Reason::Borrowed));
    assert!(d[1..].iter().all(|&x| x == (false, Reason::Rate)), "{d:?}");
    assert_eq!(decide(&s, "/other", t0 + 1).2.as_deref(), Some("Default"));
}

#[test]
fn targets_are_reported_with_counts_and_the_quota_applies() {
    let daemon = stub();
    let s = sampling();
    let c = client(daemon.addr());
    let t0 = now_secs();
    s.refresh_rules(&c, t0).unwrap();
    for _ in 0..4 {
        decide(&s, "/checkout", t0 + 1); // rate 1: 4 sampled
    }
    for _ in 0..3 {
        decide(&s, "/other", t0 + 1); // 1 borrowed, 2 not sampled
    }
    // Nothing is due before the 10 s interval: no call.
    let early = s.report_targets(&c, t0 + 5).unwrap();
    assert_eq!(early.reported, 0);
    assert_eq!(daemon.requests().len(), 1);

    let report = s.report_targets(&c, t0 + 10).unwrap();
    assert_eq!((report.reported, report.applied), (2, 1));
    assert!(!report.refresh_rules, "LastRuleModification is older");
    let calls = daemon.requests();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].path, "/SamplingTargets");
    let body: Value = serde_json::from_str(&calls[1].body).unwrap();
    let docs = body["SamplingStatisticsDocuments"].as_array().unwrap();
    let find = |name: &str| docs.iter().find(|d| d["RuleName"] == name).unwrap().clone();
    let checkout = find("checkout");
    assert_eq!(
        (
            &checkout["RequestCount"],
            &checkout["SampledCount"],
            &checkout["BorrowCount"]
        ),
        (&json!(4), &json!(4), &json!(0))
    );
    let default = find("Default");
    assert_eq!(
        (
            &default["RequestCount"],
            &default["SampledCount"],
            &default["BorrowCount"]
        ),
        (&json!(3), &json!(0), &json!(1))
    );
    assert_eq!(default["Timestamp"], json!(t0 + 10));
    assert_eq!(default["ClientID"].as_str().unwrap(), s.client_id());
    assert_eq!(s.client_id().len(), 24);

    // The quota of 3 per second replaced borrowing.
    let reasons: Vec<Reason> = (0..4).map(|_| decide(&s, "/other", t0 + 11).1).collect();
    assert_eq!(
        reasons,
        [
            Reason::Reservoir,
            Reason::Reservoir,
            Reason::Reservoir,
            Reason::Rate
        ]
    );
}

#[test]
fn a_newer_rule_modification_asks_for_a_refresh() {
    let daemon = StubServer::start(|call| match call.path.as_str() {
        "/GetSamplingRules" => (200, rules_body()),
        _ => (
            200,
            json!({"SamplingTargetDocuments": [], "LastRuleModification": 4.0e9}).to_string(),
        ),
    });
    let s = sampling();
    let c = client(daemon.addr());
    let t0 = now_secs();
    s.refresh_rules(&c, t0).unwrap();
    decide(&s, "/checkout", t0);
    assert!(s.report_targets(&c, t0 + 10).unwrap().refresh_rules);
}

#[test]
fn without_a_daemon_the_local_rules_decide() {
    let s = sampling();
    let t0 = now_secs();
    let err = s.refresh_rules(&client(dead_port(21)), t0);
    assert!(err.is_err());
    assert!(!s.is_fresh(t0));
    // The local rule, not a centralized one.
    assert_eq!(
        decide(&s, "/checkout", t0).2.as_deref(),
        Some("local-checkout")
    );
    let (sampled, _, rule) = decide(&s, "/other", t0);
    assert_eq!((sampled, rule.as_deref()), (false, Some("Default")));

    // A daemon that answers garbage or an error status changes nothing either.
    let bad = StubServer::start(|call| match call.path.as_str() {
        "/GetSamplingRules" => (200, "{not json".into()),
        _ => (500, "{}".into()),
    });
    assert!(s.refresh_rules(&client(bad.addr()), t0).is_err());
    assert!(!s.is_fresh(t0));
}

#[test]
fn stale_rules_fall_back_to_local_rules() {
    let daemon = stub();
    let s = sampling();
    let t0 = now_secs();
    s.refresh_rules(&client(daemon.addr()), t0).unwrap();
    assert_eq!(
        decide(&s, "/checkout", t0 + 3600).2.as_deref(),
        Some("checkout")
    );
    assert_eq!(
        decide(&s, "/checkout", t0 + 3601).2.as_deref(),
        Some("local-checkout")
    );
}

/// Waits until `f` holds, polling the state it reads; the minute is a bound against a hang,
/// far above what the event takes even on a loaded machine.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn the_poller_fetches_rules_and_stops() {
    let daemon = stub();
    let s = sampling();
    let poller = Poller::start(s.clone(), client(daemon.addr()), PollerOptions::default()).unwrap();
    assert!(eventually(|| poller.stats().rules_fetched >= 1));
    assert!(s.is_fresh(now_secs()));
    assert_eq!(s.rule_names(), ["checkout", "Default"]);
    // Stopping wakes the thread at once (it would otherwise sleep ~10 s).
    poller.stop();
    let calls = daemon.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
}

#[test]
fn the_poller_survives_an_absent_daemon_and_the_tracer_keeps_working() {
    let s = sampling();
    let poller = Poller::start(
        s.clone(),
        client(dead_port(22)),
        PollerOptions::default().retry(Duration::from_millis(20)),
    )
    .unwrap();
    assert!(eventually(|| poller.stats().rules_failed >= 2));
    let capture = Arc::new(Capture::default());
    let tracer = Tracer::builder("shop")
        .centralized_sampling(s.clone())
        .transport(capture.clone())
        .build();
    let req = TracerRequest::new("shop").with_http(None, None, Some("/checkout"));
    assert!(tracer.begin_with(None, &req).is_sampled());
    assert_eq!(rule_name(&capture.documents()[0]), Some("local-checkout"));
    drop(poller); // Drop stops it too.
}
