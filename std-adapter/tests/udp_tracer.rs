//! The tracer end to end over real UDP on 127.0.0.1: every datagram of a multi-request,
//! multi-thread scenario arrives, with a valid daemon header line, and validates against the
//! published segment document schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::{Daemon, check_datagram, entities};
use xray_std::{
    Config, ContextMissing, Outcome, SampledFlag, TraceError, TraceHeader, Tracer, TracerBuilder,
    reference,
};

fn config(daemon: &Daemon, extra: &[(&str, &str)]) -> Config {
    let addr = daemon.addr().to_string();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| {
        if k == "AWS_XRAY_DAEMON_ADDRESS" {
            return Some(addr.clone());
        }
        extra.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .expect("valid config")
}

/// A tracer `name` sending to `daemon`, with one recorder and never more.
fn one_recorder(daemon: &Daemon, name: &str) -> TracerBuilder {
    Tracer::from_config(&config(daemon, &[]), name)
        .expect("valid config")
        .pool_size(1)
        .max_pool_size(1)
}

#[test]
fn every_datagram_of_a_multi_request_scenario_arrives_and_validates() {
    let daemon = Daemon::bind();
    let tracer = Tracer::from_config(&config(&daemon, &[]), reference::SERVICE_NAME)
        .expect("tracer")
        .always_sample()
        .pool_size(4)
        .build();

    // 4 threads × 5 reference requests.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    reference::record(&tracer);
                }
            });
        }
    });

    // One request continuing an upstream header with extra fields, one refused by it.
    let upstream =
        TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1")
            .unwrap();
    let t = tracer.begin(Some(&upstream));
    let call = t.subsegment("payments");
    let down = call.downstream_header().expect("downstream header");
    assert_eq!(down.root(), upstream.root());
    assert_eq!(down.parent(), call.id());
    assert_eq!(down.sampled(), SampledFlag::Sampled);
    assert!(down.to_string().ends_with(";Lineage=a87bd80c:1"), "{down}");
    drop(call);
    drop(t);
    let not_sampled =
        TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272794;Sampled=0").unwrap();
    let t = tracer.begin(Some(&not_sampled));
    assert!(t.trace_id().is_some() && !t.is_sampled());
    drop(t);

    let stats = tracer.stats();
    assert_eq!(stats.traces, 22);
    assert_eq!(stats.sampled, 21);
    assert_eq!(stats.pool_exhausted, 0);
    assert_eq!(stats.datagrams, 21, "one datagram per sampled request");
    assert_eq!(tracer.pool_available(), 4, "every recorder went back");

    let got = daemon.recv(21, Duration::from_secs(30));
    assert_eq!(got.len(), 21, "every datagram arrived");
    // Nothing more (the unsampled request sent nothing).
    assert!(daemon.recv(1, Duration::from_millis(300)).is_empty());

    let udp = tracer.transport_stats().expect("udp");
    assert_eq!((udp.sent, udp.dropped()), (21, 0));
    assert_eq!(udp.bytes_sent, stats.bytes);

    let mut references = 0;
    let mut continued = 0;
    let mut ids = std::collections::HashSet::new();
    for d in &got {
        let doc = check_datagram(d);
        assert!(ids.insert(doc["trace_id"].as_str().unwrap().to_owned()));
        assert_eq!(doc["name"], "bench-service");
        if doc["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793" {
            continued += 1;
            assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
            continue;
        }
        references += 1;
        assert_eq!(doc["annotations"]["customer"], "acme-corp");
        assert_eq!(doc["annotations"]["order_count"], 42);
        assert_eq!(doc["annotations"]["premium"], true);
        assert_eq!(
            doc["metadata"]["default"]["request"],
            serde_json::json!({"path": "/orders/123", "items": 3, "tags": ["a", "b"]})
        );
        let all = entities(&doc);
        let api = all.iter().find(|e| e["name"] == "downstream-api").unwrap();
        assert_eq!(api["namespace"], "remote");
        assert_eq!(api["http"]["request"]["method"], "GET");
        assert_eq!(api["http"]["response"]["status"], 200);
        let compute = all.iter().find(|e| e["name"] == "compute").unwrap();
        assert_eq!(compute["fault"], true);
        assert_eq!(
            compute["cause"]["exceptions"][0]["message"],
            "simulated failure"
        );
    }
    assert_eq!((references, continued), (20, 1));
}

#[test]
fn tracing_name_overrides_and_disabled_sends_nothing() {
    let daemon = Daemon::bind();
    let tracer = Tracer::from_config(
        &config(&daemon, &[("AWS_XRAY_TRACING_NAME", "renamed")]),
        "original",
    )
    .unwrap()
    .pool_size(1)
    .build();
    assert_eq!(tracer.name(), "renamed");
    reference::record(&tracer);
    let got = daemon.recv(1, Duration::from_secs(30));
    assert_eq!(got.len(), 1);
    assert_eq!(check_datagram(&got[0])["name"], "renamed");

    let off = Tracer::from_config(&config(&daemon, &[("AWS_XRAY_SDK_DISABLED", "true")]), "x")
        .unwrap()
        .build();
    assert!(!off.is_enabled());
    let t = off.begin(None);
    assert!(!t.is_recording() && t.trace_id().is_none());
    t.annotate("k", 1);
    assert_eq!(t.last_outcome(), Ok(Outcome::NotSampled));
    assert!(t.downstream_header().is_none());
    drop(t);
    reference::record(&off);
    assert!(daemon.recv(1, Duration::from_millis(300)).is_empty());
    assert_eq!(off.stats().traces, 0);
}

#[test]
fn context_missing_modes() {
    let daemon = Daemon::bind();
    let strict = Tracer::from_config(
        &config(&daemon, &[("AWS_XRAY_CONTEXT_MISSING", "RUNTIME_ERROR")]),
        "strict",
    )
    .unwrap()
    .pool_size(1)
    .build();
    assert_eq!(strict.context_missing(), ContextMissing::RuntimeError);
    let t = strict.begin(None);
    let work = t.subsegment("work");
    let sub = work.context();
    sub.end();
    assert!(t.last_outcome().unwrap().is_recorded());
    // Recording on an ended subsegment: an error to those who ask, never a panic.
    sub.annotate("late", 1);
    assert_eq!(t.last_outcome(), Err(TraceError::ContextMissing));
    sub.end();
    assert_eq!(sub.last_outcome(), Err(TraceError::ContextMissing));
    let orphan = sub.subsegment("orphan");
    assert!(orphan.id().is_none());
    assert_eq!(t.last_outcome(), Err(TraceError::ContextMissing));
    drop(orphan);
    t.annotate("fine", 1);
    assert_eq!(t.last_outcome(), Ok(Outcome::Recorded));
    drop((work, sub, t)); // the guard of an ended subsegment ends nothing more
    assert_eq!(strict.stats().context_missing, 3);

    let lenient = Tracer::from_config(
        &config(&daemon, &[("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")]),
        "lenient",
    )
    .unwrap()
    .pool_size(1)
    .build();
    let t = lenient.begin(None);
    t.end();
    t.annotate("k", 1);
    assert_eq!(t.last_outcome(), Ok(Outcome::NoEntity));
    drop(t);
    assert_eq!(lenient.stats().context_missing, 1);
}

#[test]
fn the_pool_grows_to_its_maximum_then_requests_pass_their_header_on() {
    let daemon = Daemon::bind();
    let tracer = Tracer::from_config(&config(&daemon, &[]), "pool")
        .unwrap()
        .always_sample()
        .pool_size(1)
        .max_pool_size(2)
        .build();
    assert_eq!(tracer.stats().recorders, 1);
    let upstream = TraceHeader::parse(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1",
    )
    .unwrap();
    let first = tracer.begin(Some(&upstream));
    let second = tracer.begin(Some(&upstream)); // the pool grows
    assert_eq!(tracer.stats().recorders, 2);
    let third = tracer.begin(Some(&upstream)); // at its maximum: passed on, not recorded
    assert!(first.is_recording() && second.is_recording());
    assert!(!third.is_recording());
    assert_eq!(tracer.stats().pool_exhausted, 1);
    // The third request still carries the caller's decision downstream, unchanged.
    assert_eq!(third.trace_id(), upstream.root());
    assert!(third.is_sampled());
    assert_eq!(third.downstream_header(), Some(upstream.clone()));
    let sub = third.subsegment("call");
    assert_eq!(sub.downstream_header(), Some(upstream.clone()));
    drop((sub, third, second, first));
    assert_eq!(tracer.pool_available(), 2, "every recorder went back");
    assert_eq!(daemon.recv(3, Duration::from_secs(2)).len(), 2);
    // Without a header there is nothing to pass on (sampled requests: only they borrow
    // recorders).
    let (a, b) = (tracer.begin(None), tracer.begin(None));
    assert!(a.is_recording() && b.is_recording());
    let c = tracer.begin(None);
    assert!(c.trace_id().is_none() && c.downstream_header().is_none());
    drop((a, b, c));
}

#[test]
fn the_sampler_decides_only_without_an_upstream_decision() {
    let daemon = Daemon::bind();
    let tracer = Tracer::from_config(&config(&daemon, &[]), "sampler")
        .unwrap()
        .sampler(|_| false)
        .build();
    assert!(!tracer.begin(None).is_sampled());
    let ask = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?").unwrap();
    assert!(!tracer.begin(Some(&ask)).is_sampled());
    let yes = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1").unwrap();
    assert!(tracer.begin(Some(&yes)).is_sampled());
}

#[test]
fn lambda_invocations_trace_only_with_root_and_parent_and_never_invent_ids() {
    let daemon = Daemon::bind();
    let tracer = one_recorder(&daemon, "fn").lambda(true).build();
    // No header: nothing recorded, no ids, nothing passed on.
    let none = tracer.begin_lambda(None);
    assert!(none.trace_id().is_none() && none.id().is_none());
    assert!(none.downstream_header().is_none());
    drop(none.subsegment("work"));
    // Root without Parent (PassThrough): nothing recorded, the header passed on as it came.
    let pass = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1").unwrap();
    let ctx = tracer.begin_lambda(Some(&pass));
    assert_eq!(ctx.trace_id(), pass.root());
    assert!(!ctx.is_recording());
    assert_eq!(ctx.downstream_header(), Some(pass.clone()));
    drop(ctx);
    // Root, Parent and Sampled=1: subsegments sent on their own under the function segment.
    let full = TraceHeader::parse(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    .unwrap();
    let ctx = tracer.begin_lambda(Some(&full));
    drop(ctx.subsegment("work"));
    drop(ctx);
    let got = daemon.recv(1, Duration::from_secs(30));
    assert_eq!(got.len(), 1);
    assert!(
        daemon.recv(1, Duration::from_millis(300)).is_empty(),
        "only the subsegment: Lambda's segment is the service's"
    );
    let doc = check_datagram(&got[0]);
    assert_eq!(doc["type"], "subsegment");
    assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
    assert_eq!(tracer.stats().traces, 1);
    assert_eq!(tracer.pool_available(), 1);
}

#[test]
fn a_redacted_value_is_said_and_counted() {
    use xray_std::Outcome;
    use xray_std::model::Sql;
    let daemon = Daemon::bind();
    let tracer = Tracer::from_config(&config(&daemon, &[]), "svc")
        .expect("tracer")
        .always_sample()
        .build();
    let ctx = tracer.begin(None);
    {
        let db = ctx.subsegment("db");
        db.sql(&Sql {
            connection_string: Some("Server=db;Password=\"s3cret;unclosed"),
            ..Sql::default()
        });
        assert_eq!(db.last_outcome(), Ok(Outcome::Redacted));
        db.sql(&Sql {
            connection_string: Some("Server=db;Password=s3cret"),
            ..Sql::default()
        });
        assert_eq!(db.last_outcome(), Ok(Outcome::Recorded));
    }
    drop(ctx);
    let datagrams = daemon.recv(1, Duration::from_secs(30));
    assert_eq!(datagrams.len(), 1);
    let text = String::from_utf8(datagrams[0].clone()).unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    check_datagram(&datagrams[0]);
    assert_eq!(tracer.stats().redacted, 1);
}

#[test]
fn unsampled_requests_borrow_no_recorder_and_keep_their_ids() {
    let daemon = Daemon::bind();
    let tracer = one_recorder(&daemon, "unsampled")
        .sampler(|_| false)
        .build();
    let upstream = TraceHeader::parse(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?;Lineage=a:1",
    )
    .unwrap();
    // Far more requests in flight, each with a subsegment open, than the pool may hold.
    let held: Vec<_> = (0..64)
        .map(|i| {
            let ctx = tracer.begin((i % 2 == 0).then_some(&upstream));
            let sub = ctx.subsegment("call");
            (ctx, sub)
        })
        .collect();
    assert_eq!(tracer.pool_available(), 1, "no recorder was lent");
    let stats = tracer.stats();
    assert_eq!(
        (stats.traces, stats.sampled, stats.pool_exhausted),
        (64, 0, 0)
    );
    let mut ids = std::collections::HashSet::new();
    for (i, (ctx, sub)) in held.iter().enumerate() {
        assert!(!ctx.is_sampled() && !ctx.is_recording() && !sub.is_recording());
        let trace = ctx.trace_id().expect("a trace id for logs");
        let (segment, call) = (
            ctx.id().expect("a segment id"),
            sub.id().expect("its own id"),
        );
        assert!(
            ids.insert(segment) && ids.insert(call),
            "ids are drawn anew"
        );
        assert_eq!(sub.trace_id(), Some(trace));
        if i % 2 == 0 {
            assert_eq!(Some(trace), upstream.root(), "the caller's trace continues");
        }
        // What a call made from the subsegment carries: as the recorder would write it.
        let down = sub.downstream_header().expect("a header to pass on");
        assert_eq!(down.root(), Some(trace));
        assert_eq!(down.parent(), Some(call));
        assert_eq!(down.sampled(), SampledFlag::NotSampled);
        assert_eq!(down.extra(), if i % 2 == 0 { "Lineage=a:1" } else { "" });
        assert_eq!(
            ctx.downstream_header().and_then(|h| h.parent()),
            Some(segment)
        );
        let nested = sub.subsegment("nested");
        assert_eq!(nested.trace_id(), Some(trace));
        assert!(nested.id().is_some() && nested.id() != sub.id());
        sub.annotate("k", 1);
        assert_eq!(sub.last_outcome(), Ok(Outcome::NotSampled));
    }
    // A `tracestate` given to an unsampled handle goes along with its extra fields.
    let state = xray_std::core::TraceState::parse("vendor=abc").unwrap();
    let with_state = tracer
        .begin(Some(&upstream))
        .with_tracestate(Some(state.clone()));
    let sub = with_state.subsegment("call");
    assert_eq!(sub.tracestate(), Some(&state));
    assert_eq!(sub.downstream_header().unwrap().extra(), "Lineage=a:1");
    let plain = tracer.begin(None).with_tracestate(Some(state.clone()));
    assert_eq!(plain.tracestate(), Some(&state));
    assert_eq!(plain.with_tracestate(None).tracestate(), None);
    drop((sub, with_state));
    // The same header from the recorder's own unsampled trace.
    let mut rec: xray_std::core::Recorder<[u8; 4096]> =
        xray_std::core::Recorder::new([0; 4096], xray_std::core::RecorderConfig::with_budget(2048));
    let seg = rec.begin_segment(
        "unsampled",
        Some(&upstream),
        false,
        &xray_std::SystemClock,
        &mut xray_std::FastRng::from_os(),
    );
    let from_recorder = rec.downstream_header(seg).unwrap();
    let from_handle = held[0].0.downstream_header().unwrap();
    assert_eq!(from_handle.root(), from_recorder.root());
    assert_eq!(from_handle.sampled(), from_recorder.sampled());
    assert_eq!(from_handle.extra(), from_recorder.extra());
    drop(held);
    // A sampled request still gets the recorder, and only it is sent.
    let yes = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1").unwrap();
    let ctx = tracer.begin(Some(&yes));
    assert!(ctx.is_recording());
    drop(ctx);
    assert_eq!(daemon.recv(2, Duration::from_secs(2)).len(), 1);
    assert_eq!(tracer.pool_available(), 1);
}

#[test]
fn an_unsampled_lambda_invocation_borrows_no_recorder() {
    let daemon = Daemon::bind();
    let tracer = one_recorder(&daemon, "fn").lambda(true).build();
    let header = TraceHeader::parse(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=b:2",
    )
    .unwrap();
    let held: Vec<_> = (0..4).map(|_| tracer.begin_lambda(Some(&header))).collect();
    assert_eq!(tracer.pool_available(), 1, "no recorder was lent");
    for ctx in &held {
        // The facade's ids: the header's own.
        assert_eq!(ctx.trace_id(), header.root());
        assert_eq!(ctx.id(), header.parent());
        assert!(!ctx.is_sampled());
        let sub = ctx.subsegment("work");
        let down = sub.downstream_header().unwrap();
        assert_eq!(down.root(), header.root());
        assert_eq!(down.parent(), sub.id());
        assert_ne!(sub.id(), header.parent());
        assert_eq!(down.sampled(), SampledFlag::NotSampled);
        assert_eq!(down.extra(), "Lineage=b:2");
    }
    drop(held);
    assert_eq!(tracer.stats().traces, 4);
    assert!(
        daemon.recv(1, Duration::from_millis(300)).is_empty(),
        "nothing is sent"
    );
}

/// Microseconds since the epoch of a document's `start_time` or `end_time` (an `f64` of
/// seconds: exact to a fraction of a microsecond at today's dates).
fn micros(entity: &serde_json::Value, key: &str) -> i64 {
    let seconds = entity[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key} in {entity}"));
    (seconds * 1e6).round() as i64
}

/// The wall clock now, in microseconds since the epoch.
fn wall_micros() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_micros()).unwrap()
}

#[test]
fn every_timestamp_of_a_trace_lies_within_the_wall_clock_readings_around_it() {
    let daemon = Daemon::bind();
    for counter in [true, false] {
        let tracer = one_recorder(&daemon, "clocked")
            .always_sample()
            .time_stamp_counter(counter)
            .build();
        let kernel_uses_tsc = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc");
        assert_eq!(
            tracer.uses_time_stamp_counter(),
            counter && cfg!(target_arch = "x86_64") && kernel_uses_tsc
        );
        timestamps_follow_the_wall_clock(&daemon, &tracer);
    }
    let lambda = one_recorder(&daemon, "clocked").lambda(true).build();
    assert!(!lambda.uses_time_stamp_counter());
}

/// Records traces of three subsegments with `tracer` and checks their timestamps against the
/// wall clock read around each.
fn timestamps_follow_the_wall_clock(daemon: &Daemon, tracer: &Tracer) {
    // Three traces 120 ms apart: the tracer measures its time-stamp counter's rate from them
    // (where it reads one: see the `tracer` module docs); the traces after read it.
    for i in 0..3 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(120));
        }
        drop(tracer.begin(None));
    }
    assert_eq!(daemon.recv(3, Duration::from_secs(5)).len(), 3);

    const TRACES: usize = 40;
    let mut windows = Vec::new();
    for i in 0..TRACES {
        let before = wall_micros();
        let ctx = tracer.begin(None);
        for name in ["a", "b", "c"] {
            let sub = ctx.subsegment(name);
            // Work of a few microseconds, and once a pause past the counter's 10 ms reach.
            std::hint::black_box((0..2_000u64).sum::<u64>());
            if i == TRACES / 2 && name == "b" {
                std::thread::sleep(Duration::from_millis(15));
            }
            drop(sub);
        }
        drop(ctx);
        windows.push((before, wall_micros()));
    }
    let datagrams = daemon.recv(TRACES, Duration::from_secs(5));
    assert_eq!(datagrams.len(), TRACES);
    for (datagram, (before, after)) in datagrams.iter().zip(windows) {
        let doc = check_datagram(datagram);
        let all = entities(&doc);
        assert_eq!(all.len(), 4, "{doc}");
        // Within the readings around the trace, to 5 µs (rounding and the counter's rate).
        for e in &all {
            let (start, end) = (micros(e, "start_time"), micros(e, "end_time"));
            assert!(
                before - 5 <= start && start <= end && end <= after + 5,
                "{start}..{end} not within {before}..{after}: {e}"
            );
        }
        // The subsegments one after the other, inside their segment.
        let (seg_start, seg_end) = (micros(all[0], "start_time"), micros(all[0], "end_time"));
        let mut last = seg_start;
        for sub in &all[1..] {
            let (start, end) = (micros(sub, "start_time"), micros(sub, "end_time"));
            assert!(
                last <= start && end <= seg_end,
                "{sub} out of order in {doc}"
            );
            last = end;
        }
    }
}
