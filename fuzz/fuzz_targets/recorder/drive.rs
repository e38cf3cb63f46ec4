// The driver, compiled once per core build (see `recorder.rs`): `xr` names the core.
// Everything here but the calls into the recorder is shared with the other build.

use super::*;
use xr::model::{
    AnnotationValue, Aws, AwsParam, Ec2, Ecs, Eks, ElasticBeanstalk, Exception, HttpRequest,
    HttpResponse, Preparation, Sql, StackFrame,
};
use xr::recorder::{MIN_BUDGET, Sampling};
use xr::{
    Clock, EntityId, Outcome, Recorder, RecorderConfig, SampledFlag, SegmentId, Timestamp,
    TraceHeader, TraceId, Transport,
};

/// A trace in progress: the model, and the handles of its live entities.
struct Trace {
    m: TraceModel,
    handles: Vec<(EntityId, usize)>,
}

/// The clock: starts at `now` and steps by `step` at each read (or is unset).
struct TestClock {
    now: Cell<u64>,
    step: u64,
    unset: bool,
}

/// The transport: keeps every datagram.
#[derive(Default)]
struct Capture(Vec<Vec<u8>>);

/// Every counter, to compare the two builds without formatting them each execution.
fn all_stats(s: &xr::RecorderStats) -> [u64; 11] {
    // `RecorderStats` is `non_exhaustive`: a counter added to it changes its size and stops
    // this build until it is listed here.
    const _: () = assert!(size_of::<xr::RecorderStats>() == 10 * 4 + 8);
    [
        s.datagrams.into(),
        s.bytes,
        s.streamed.into(),
        s.unsampled.into(),
        s.clock_unset.into(),
        s.begins_refused.into(),
        s.fields_dropped.into(),
        s.metadata_dropped.into(),
        s.stacks_dropped.into(),
        s.values_redacted.into(),
        s.minimal_documents.into(),
    ]
}

fn stats(s: &xr::RecorderStats) -> Stats {
    Stats {
        datagrams: s.datagrams,
        bytes: s.bytes,
        metadata_dropped: s.metadata_dropped,
        stacks_dropped: s.stacks_dropped,
        minimal_documents: s.minimal_documents,
        fields_dropped: s.fields_dropped,
    }
}

impl Clock for TestClock {
    fn now(&self) -> Option<Timestamp> {
        if self.unset {
            return None;
        }
        let t = self.now.get();
        self.now.set(t.saturating_add(self.step));
        Some(Timestamp::from_micros(t))
    }
}

impl Transport for Capture {
    fn send(&mut self, datagram: &[u8]) {
        self.0.push(datagram.to_vec());
    }
}

/// Drives one recorder through `input`, checking what can be checked on the way, and
/// returns what it sent with what the model knows of each trace.
pub fn run(input: &Input) -> Recording {
    let budget = (input.budget % 70_001) as usize;
    let buf_len = if input.tiny_buffer {
        usize::from(input.buffer % 2048)
    } else {
        budget + BUF_SLACK + usize::from(input.buffer)
    };
    let mut cfg = RecorderConfig::with_budget(budget)
        .record_url_query(input.record_url_query)
        .stream_all(input.stream_all)
        .sdk_block(input.sdk_block);
    if let Some(n) = input.max_string_chars {
        cfg = cfg.max_string_chars(usize::from(n));
    }
    if let Some(n) = input.max_annotations {
        cfg = cfg.max_annotations(u16::from(n));
    }
    // One buffer for every input, refilled with the same bytes each time (not zeros, so that
    // nothing can rely on a zeroed buffer): allocating up to 70 KB per input costs page faults
    // under AddressSanitizer.
    let mut buf = BUF.take();
    buf.clear();
    buf.resize(buf_len, 0xa5);
    let mut rec: Recorder<&mut [u8]> = Recorder::new(&mut buf[..], cfg);
    let eff = rec.budget();
    assert!(
        eff <= budget,
        "effective budget {eff} over the configured {budget}"
    );
    assert!(eff == 0 || eff >= MIN_BUDGET);
    assert!(
        eff <= buf_len,
        "effective budget {eff} over the buffer {buf_len}"
    );
    let cfg = *rec.config();
    let stats_of = |rec: &Recorder<&mut [u8]>| stats(rec.stats());

    let (now, step, unset, monotonic) = match input.clock {
        ClockKind::Step(s) => (1_700_000_000_000_000, u64::from(s), false, true),
        ClockKind::Wild(t, s) => (t, u64::from(s), false, true),
        ClockKind::Unset => (0, 0, true, true),
    };
    let clock = TestClock {
        now: Cell::new(now),
        step,
        unset,
    };
    let mut rng = Rng(input.rng_seed);
    let mut out = Capture::default();
    let mut traces: Vec<(Trace, bool)> = Vec::new();
    let mut current: Option<Trace> = None;

    let begin_trace = |rec: &mut Recorder<&mut [u8]>,
                       start: &Start,
                       rng: &mut Rng,
                       out: &Capture,
                       current: &mut Option<Trace>| {
        let stats_before = stats_of(rec);
        let was_active = rec.is_active();
        let (handle, facade, name, upstream_parent) = match start {
            Start::Segment {
                name,
                upstream,
                sampled,
                rule,
            } => {
                let h = upstream.as_ref().map(header);
                let name = name.render();
                let rule = rule.as_ref().map(Text::render);
                let sampling = Sampling {
                    sampled: *sampled,
                    rule: rule.as_deref(),
                };
                let id = rec.begin_segment(&name, h.as_ref(), sampling, &clock, rng);
                let up = h.as_ref().and_then(|h| h.root().and(h.parent()));
                if !id.is_none() && !was_active {
                    if let Some(h) = &h {
                        if let Some(r) = h.root() {
                            assert_eq!(rec.trace_id(), Some(r), "the upstream Root is continued");
                        }
                    }
                    if unset {
                        assert!(!rec.is_sampled(), "sampled without a clock");
                    }
                    if !*sampled {
                        assert!(!rec.is_sampled());
                    }
                }
                (id, false, name, up)
            }
            Start::Facade(up) => {
                let h = header(up);
                let id = rec.begin_facade(&h);
                if !id.is_none() && !was_active {
                    let want = h.root().is_some()
                        && h.parent().is_some()
                        && h.sampled() == SampledFlag::Sampled;
                    assert_eq!(rec.is_sampled(), want, "facade sampling follows the header");
                    assert_eq!(
                        rec.segment_id(id),
                        Some(h.parent().unwrap_or(SegmentId::ZERO))
                    );
                }
                (id, true, String::new(), h.parent())
            }
        };
        if was_active {
            assert!(
                handle.is_none(),
                "a second trace began while one was active"
            );
            return;
        }
        if handle.is_none() {
            assert!(!rec.is_active() || eff == 0);
            return;
        }
        if eff == 0 {
            panic!("a begin succeeded with no budget");
        }
        let id = rec
            .segment_id(handle)
            .expect("live handle has an id")
            .to_bytes();
        *current = Some(Trace {
            m: TraceModel {
                sampled: rec.is_sampled(),
                id: rec.trace_id().map(|t| t.to_string()),
                upstream_parent: upstream_parent.map(|p| p.to_bytes()),
                entities: vec![Entity::new(id, None, name, facade)],
                first_datagram: out.0.len(),
                monotonic,
                stats_before,
            },
            handles: vec![(handle, 0)],
        });
    };

    begin_trace(&mut rec, &input.start, &mut rng, &out, &mut current);

    for op in input.ops.iter().take(300) {
        // Handles: live ones plus stale ones (ended, or of an earlier trace) to test no-ops.
        let pick = |which: u8, cur: &Option<Trace>| -> (EntityId, Option<usize>) {
            match cur {
                Some(t) if !t.handles.is_empty() => {
                    let (h, e) = t.handles[usize::from(which) % t.handles.len()];
                    (h, Some(e))
                }
                _ => (EntityId::NONE, None),
            }
        };
        let max = cfg.max_string_chars;
        match op {
            Op::NewTrace(start) => {
                begin_trace(&mut rec, start, &mut rng, &out, &mut current);
            }
            Op::Reset => {
                rec.reset();
                assert!(!rec.is_active());
                if let Some(t) = current.take() {
                    traces.push((t, true));
                }
            }
            Op::Begin { parent, name } => {
                let (h, pe) = pick(*parent, &current);
                let name = name.render();
                // A name that is already valid goes in as a `Name` (written as it is): the
                // document must be the same as through the filter.
                let child = match xr::Name::checked(&name) {
                    Some(checked) => rec.begin_subsegment(h, checked, &clock, &mut rng),
                    None => rec.begin_subsegment(h, &name, &clock, &mut rng),
                };
                if let (Some(t), Some(pe)) = (current.as_mut(), pe) {
                    if !child.is_none() {
                        let id = rec.segment_id(child).expect("live child").to_bytes();
                        assert!(
                            t.m.entities.iter().all(|e| e.id != id) || !t.m.sampled,
                            "duplicate id"
                        );
                        t.m.entities.push(Entity::new(id, Some(pe), name, false));
                        let idx = t.m.entities.len() - 1;
                        t.handles.push((child, idx));
                    }
                } else {
                    assert!(child.is_none(), "begin under no entity succeeded");
                }
            }
            Op::End { which } | Op::EndAt { which, .. } => {
                let (h, e) = pick(*which, &current);
                let o = match op {
                    Op::EndAt { micros, .. } => {
                        if let Some(t) = current.as_mut() {
                            t.m.monotonic = false;
                        }
                        rec.end_at(h, Timestamp::from_micros(*micros), &mut out)
                    }
                    _ => rec.end(h, &clock, &mut out),
                };
                if let (Some(t), Some(e)) = (current.as_mut(), e) {
                    if o == Outcome::NoEntity {
                        continue;
                    }
                    // The entity and every descendant are closed: drop their handles. A parent
                    // is begun before its children, so one pass in index order finds them all.
                    let mut closed = vec![false; t.m.entities.len()];
                    closed[e] = true;
                    for i in e + 1..closed.len() {
                        closed[i] = t.m.entities[i].parent.is_some_and(|p| closed[p]);
                    }
                    t.handles.retain(|&(_, i)| !closed[i]);
                    if t.m.entities[e].parent.is_none() {
                        assert!(!rec.is_active(), "ending the segment ends the trace");
                        traces.push((current.take().expect("current"), false));
                    }
                }
            }
            Op::Annotate { which, key, value } => {
                let (h, e) = pick(*which, &current);
                let key = key.render();
                let o = match value {
                    AnnValue::Str(t) => rec.annotate(h, &key, AnnotationValue::Str(&t.render())),
                    AnnValue::Int(i) => rec.annotate(h, &key, *i),
                    AnnValue::Float(f) => rec.annotate(h, &key, *f),
                    AnnValue::Nan => rec.annotate(h, &key, f64::NAN),
                    AnnValue::Inf(neg) => rec.annotate(
                        h,
                        &key,
                        if *neg {
                            f64::NEG_INFINITY
                        } else {
                            f64::INFINITY
                        },
                    ),
                    AnnValue::Bool(b) => rec.annotate(h, &key, *b),
                };
                if matches!(value, AnnValue::Nan | AnnValue::Inf(_))
                    || matches!(value, AnnValue::Float(f) if !f.is_finite())
                {
                    assert!(!o.is_recorded(), "non-finite annotation recorded");
                }
                let valid = !key.is_empty()
                    && key.len() <= 500
                    && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid {
                    assert!(!o.is_recorded(), "annotation with key {key:?} recorded");
                }
                if let (Some(t), Some(e), true) = (current.as_mut(), e, o.is_recorded()) {
                    t.m.entities[e].annotations.insert(key, value.clone());
                }
            }
            Op::Metadata {
                which,
                namespace,
                key,
                value,
            } => {
                if meta_depth(value) > 110 || (skip_known() && meta_known_bug(value)) {
                    continue;
                }
                let (h, e) = pick(*which, &current);
                let ns = namespace.render();
                let key = key.render();
                let o = rec.add_metadata(h, &ns, &key, value);
                if ns.starts_with("AWS.") {
                    assert!(!o.is_recorded());
                }
                if let (Some(t), Some(e), true) = (current.as_mut(), e, o.is_recorded()) {
                    // What serde_json makes of the value (NaN and infinities become null).
                    if let Ok(v) = serde_json::to_value(value) {
                        let ns = cut_chars(&ns, 40);
                        let key = cut_chars(&key, max.min(250));
                        t.m.entities[e].metadata.insert((ns, key), v);
                    } else {
                        t.m.entities[e]
                            .metadata
                            .remove(&(cut_chars(&ns, 40), cut_chars(&key, max.min(250))));
                    }
                }
            }
            Op::HttpRequest {
                which,
                method,
                url,
                user_agent,
                client_ip,
                xff,
            } => {
                let (h, _) = pick(*which, &current);
                let (m, u, a, c) = (
                    method.as_ref().map(Text::render),
                    url.as_ref().map(Text::render),
                    user_agent.as_ref().map(Text::render),
                    client_ip.as_ref().map(Text::render),
                );
                let req = HttpRequest {
                    method: m.as_deref(),
                    url: u.as_deref(),
                    user_agent: a.as_deref(),
                    client_ip: c.as_deref(),
                    x_forwarded_for: *xff,
                };
                let _ = rec.set_http_request(h, &req);
            }
            Op::HttpResponse {
                which,
                status,
                content_length,
            } => {
                let (h, _) = pick(*which, &current);
                let _ = rec.set_http_response(
                    h,
                    &HttpResponse {
                        status: *status,
                        content_length: *content_length,
                    },
                );
            }
            Op::Aws {
                which,
                fields,
                retries,
                ec2,
                ecs,
                eks,
                eb,
                params,
            } => {
                let (h, e) = pick(*which, &current);
                let rendered = render_params(params, max);
                let params: Vec<(&str, AwsParam)> = rendered
                    .iter()
                    .map(|(k, v, _)| {
                        let v = match v {
                            ParamText::Str(s) => AwsParam::Str(s),
                            ParamText::Count(n) => AwsParam::Count(*n),
                            ParamText::Json(s) => AwsParam::Json(s),
                        };
                        (k.as_str(), v)
                    })
                    .collect();
                let f: Vec<Option<String>> = fields
                    .iter()
                    .map(|t| t.as_ref().map(Text::render))
                    .collect();
                let ec2s: Option<Vec<Option<String>>> = ec2
                    .as_ref()
                    .map(|a| a.iter().map(|t| t.as_ref().map(Text::render)).collect());
                let ecss: Option<Vec<Option<String>>> = ecs
                    .as_ref()
                    .map(|a| a.iter().map(|t| t.as_ref().map(Text::render)).collect());
                let ekss: Option<Vec<Option<String>>> = eks
                    .as_ref()
                    .map(|a| a.iter().map(|t| t.as_ref().map(Text::render)).collect());
                let ebs = eb.as_ref().map(|(a, b, c)| {
                    (
                        a.as_ref().map(Text::render),
                        b.as_ref().map(Text::render),
                        *c,
                    )
                });
                let aws = Aws {
                    account_id: f[0].as_deref(),
                    operation: f[1].as_deref(),
                    region: f[2].as_deref(),
                    request_id: f[3].as_deref(),
                    id_2: f[4].as_deref(),
                    retries: *retries,
                    queue_url: f[5].as_deref(),
                    table_name: f[6].as_deref(),
                    bucket_name: f[7].as_deref(),
                    params: &params,
                    ec2: ec2s.as_ref().map(|v| Ec2 {
                        instance_id: v[0].as_deref(),
                        availability_zone: v[1].as_deref(),
                        instance_size: v[2].as_deref(),
                        ami_id: v[3].as_deref(),
                    }),
                    ecs: ecss.as_ref().map(|v| Ecs {
                        container: v[0].as_deref(),
                        container_id: v[1].as_deref(),
                        container_arn: v[2].as_deref(),
                    }),
                    eks: ekss.as_ref().map(|v| Eks {
                        cluster_name: v[0].as_deref(),
                        pod: v[1].as_deref(),
                        container_id: v[2].as_deref(),
                    }),
                    elastic_beanstalk: ebs.as_ref().map(|(a, b, c)| ElasticBeanstalk {
                        environment_name: a.as_deref(),
                        version_label: b.as_deref(),
                        deployment_id: *c,
                    }),
                };
                let o = rec.set_aws(h, &aws);
                // Every parameter left out is reported: the call's outcome says shortened.
                if o.is_recorded() && rendered.iter().any(|(_, _, want)| want.is_none()) {
                    assert_eq!(
                        o,
                        Outcome::Shortened,
                        "aws parameters left out, outcome {o:?}"
                    );
                }
                if let (Some(t), Some(e)) = (current.as_mut(), e) {
                    let entity = &mut t.m.entities[e];
                    if o.is_recorded() {
                        entity.aws_params = Some(
                            rendered
                                .into_iter()
                                .filter_map(|(k, _, want)| Some((k, want?)))
                                .collect(),
                        );
                    } else if o == Outcome::NoRoom {
                        entity.aws_params = None;
                    }
                }
            }
            Op::Sql {
                which,
                fields,
                preparation,
            } => {
                let (h, _) = pick(*which, &current);
                let f: Vec<Option<String>> = fields
                    .iter()
                    .map(|t| t.as_ref().map(Text::render))
                    .collect();
                let sql = Sql {
                    connection_string: f[0].as_deref(),
                    url: f[1].as_deref(),
                    sanitized_query: f[2].as_deref(),
                    database_type: f[3].as_deref(),
                    database_version: f[4].as_deref(),
                    driver_version: f[5].as_deref(),
                    user: f[6].as_deref(),
                    preparation: preparation.map(|p| {
                        if p {
                            Preparation::Call
                        } else {
                            Preparation::Statement
                        }
                    }),
                };
                let _ = rec.set_sql(h, &sql);
            }
            Op::Exception {
                which,
                type_name,
                message,
                remote,
                frames,
                repeat,
                truncated,
                skipped,
                cause,
                id,
            } => {
                let (h, _) = pick(*which, &current);
                let rendered: Vec<(Option<String>, Option<u32>, Option<String>)> = frames
                    .iter()
                    .map(|f| {
                        (
                            f.path.as_ref().map(Text::render),
                            f.line,
                            f.label.as_ref().map(Text::render),
                        )
                    })
                    .collect();
                let one: Vec<StackFrame> = rendered
                    .iter()
                    .map(|(p, l, b)| StackFrame {
                        path: p.as_deref(),
                        line: *l,
                        label: b.as_deref(),
                    })
                    .collect();
                let n = one.len() * (usize::from(*repeat % 2000) + 1);
                let stack: Vec<StackFrame> =
                    one.iter().copied().cycle().take(n.min(70_000)).collect();
                let (t, m) = (
                    type_name.as_ref().map(Text::render),
                    message.as_ref().map(Text::render),
                );
                let ex = Exception {
                    type_name: t.as_deref(),
                    message: m.as_deref(),
                    remote: *remote,
                    stack: &stack,
                    truncated: *truncated,
                    skipped: *skipped,
                    cause: cause.map(|c| SegmentId::from_bytes(c.to_be_bytes())),
                };
                let _ = match id {
                    Some(i) => {
                        rec.add_exception_with_id(h, SegmentId::from_bytes(i.to_be_bytes()), &ex)
                    }
                    None => rec.add_exception(h, &ex, &mut rng),
                };
            }
            Op::CauseId { which, id } => {
                let (h, _) = pick(*which, &current);
                let _ = rec.set_cause_id(h, SegmentId::from_bytes(id.to_be_bytes()));
            }
            Op::WorkingDirectory { which, dir } => {
                let (h, _) = pick(*which, &current);
                let _ = rec.set_working_directory(h, &dir.render());
            }
            Op::Fault { which } => {
                let _ = rec.set_fault(pick(*which, &current).0);
            }
            Op::Error { which } => {
                let _ = rec.set_error(pick(*which, &current).0);
            }
            Op::Throttle { which } => {
                let _ = rec.set_throttle(pick(*which, &current).0);
            }
            Op::Namespace { which, value } => {
                let _ = rec.set_namespace(pick(*which, &current).0, &value.render());
            }
            Op::User { which, value } => {
                let _ = rec.set_user(pick(*which, &current).0, &value.render());
            }
            Op::Origin { which, value } => {
                let _ = rec.set_origin(pick(*which, &current).0, &value.render());
            }
            Op::ResourceArn { which, value } => {
                let _ = rec.set_resource_arn(pick(*which, &current).0, &value.render());
            }
            Op::ServiceVersion { which, value } => {
                let _ = rec.set_service_version(pick(*which, &current).0, &value.render());
            }
            Op::Traced { which } => {
                let _ = rec.set_traced(pick(*which, &current).0);
            }
            Op::Precursor { which, id } => {
                let _ = rec.add_precursor_id(
                    pick(*which, &current).0,
                    SegmentId::from_bytes(id.to_be_bytes()),
                );
            }
            Op::SamplingRule { which, rule } => {
                let _ = rec.set_sampling_rule_name(pick(*which, &current).0, &rule.render());
            }
            Op::DownstreamHeader { which } => {
                let (h, e) = pick(*which, &current);
                let dh = rec.downstream_header(h);
                if let (Some(t), Some(e), Some(dh)) = (current.as_ref(), e, dh.as_ref()) {
                    assert_eq!(dh.root().map(|r| r.to_string()), t.m.id);
                    assert_eq!(dh.parent().map(|p| p.to_bytes()), Some(t.m.entities[e].id));
                    let text = dh.to_heapless();
                    assert_eq!(
                        TraceHeader::parse(&text).map(|p| (p.root(), p.parent())),
                        Ok((dh.root(), dh.parent()))
                    );
                }
            }
        }
    }
    // Finish the trace in progress by ending its segment (which ends its open children).
    if let Some(t) = current.take() {
        let root = t.handles.iter().find(|(_, i)| *i == 0).map(|(h, _)| *h);
        if let Some(root) = root {
            let o = rec.end(root, &clock, &mut out);
            assert_ne!(
                o,
                Outcome::NoEntity,
                "the segment's handle went stale while it was open"
            );
            assert!(!rec.is_active());
            traces.push((t, false));
        } else {
            traces.push((t, true));
        }
    }

    let traces = traces
        .into_iter()
        .map(|(t, abandoned)| (t.m, abandoned))
        .collect();
    let recording = Recording {
        datagrams: out.0,
        stats: stats(rec.stats()),
        all_stats: all_stats(rec.stats()),
        traces,
        budget: eff,
        max_string_chars: cfg.max_string_chars,
        max_annotations: cfg.max_annotations,
        sdk_block: cfg.sdk_block,
    };
    drop(rec);
    BUF.set(buf);
    recording
}

thread_local! {
    /// The recorder's buffer, kept between inputs.
    static BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The header an `Upstream` stands for.
fn header(up: &Upstream) -> TraceHeader {
    match up {
        Upstream::Parts {
            root,
            parent,
            sampled,
            extra,
        } => {
            let mut h = TraceHeader::with(
                TraceId::from_parts(root.map_or(0, |r| r.0), root.map_or([0; 12], |r| r.1)),
                parent.map(|p| SegmentId::from_bytes(p.to_be_bytes())),
                match sampled % 4 {
                    0 => SampledFlag::Sampled,
                    1 => SampledFlag::NotSampled,
                    2 => SampledFlag::Requested,
                    _ => SampledFlag::Unknown,
                },
            );
            if root.is_none() {
                h.set_root(None);
            }
            if let Some((k, v)) = extra {
                let _ = h.push_extra(&k.render(), &v.render());
            }
            h
        }
        Upstream::Raw(t) => TraceHeader::parse(&t.render()).unwrap_or_default(),
    }
}
