//! The std user API: a [`Tracer`] shared by every thread, and a [`Trace`] guard per request.
//!
//! A `Tracer` owns a pool of [`Recorder`]s whose buffers are allocated once, when the tracer is
//! built. Each traced request borrows one recorder from the pool through a [`Trace`], records
//! into it, and gives it back when the `Trace` is finished or dropped. Nothing on the
//! record → encode → send path allocates: the pool is a pre-sized `Vec` behind a mutex, the
//! recorder writes into its own buffer, and the datagram goes straight to the transport.
//!
//! ```
//! use xray_std::tracer::{Tracer, SharedTransport};
//! use xray_core::EntityId;
//! use xray_core::model::{HttpRequest, HttpResponse};
//! use std::sync::{Arc, Mutex};
//!
//! // Any `Transport` behind a mutex is a shared transport; here one that keeps nothing.
//! let transport = Arc::new(Mutex::new(xray_core::NullTransport));
//! let tracer = Tracer::builder("checkout").transport(transport).pool_size(4).build();
//!
//! let mut trace = tracer.begin(None);
//! let seg = trace.segment();
//! let _ = trace.annotate(seg, "customer", "acme-corp");
//! let db = trace.begin_subsegment(seg, "orders-db").unwrap_or(EntityId::NONE);
//! let _ = trace.end(db);
//! trace.finish(); // or let it drop
//! assert_eq!(tracer.stats().traces, 1);
//! ```
//!
//! # Context missing
//!
//! Recording through a handle that is not open (ended, never begun, or
//! [`EntityId::NONE`]) is what the other X-Ray SDKs call a missing context. What happens
//! then follows [`ContextMissing`] (`AWS_XRAY_CONTEXT_MISSING`): log an error (the default),
//! ignore it, or return [`TraceError::ContextMissing`] from the call. Nothing ever panics.
//!
//! # Disabled
//!
//! A tracer built disabled (`AWS_XRAY_SDK_DISABLED=true`) hands out no-op traces: no
//! recorder, no ids, nothing sent, every call returns `Ok(Outcome::NotSampled)`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub use crate::config::ContextMissing;
use crate::config::{Config, ConfigError};
use crate::rng::FastRng;
use crate::system_clock::SystemClock;
use crate::udp_transport::{TransportStats, UdpTransport};
use xray_core::model::{AnnotationValue, Aws, Exception, HttpRequest, HttpResponse, Sql};
use xray_core::recorder::{DEFAULT_SLOTS, RecorderStats};
use xray_core::sampler::{RulesError, Upstream};
use xray_core::{
    Clock, EntityId, Outcome, Recorder, RecorderConfig, SampledFlag, SegmentId, Timestamp,
    TraceHeader, TraceId, Transport,
};

/// The error the fallible [`Trace`] calls return under [`ContextMissing::RuntimeError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceError {
    /// The handle names no open segment or subsegment of this trace.
    ContextMissing,
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceError::ContextMissing => f.write_str("no open X-Ray segment or subsegment"),
        }
    }
}

impl std::error::Error for TraceError {}

/// A transport that many threads can send through at once.
///
/// The core's [`Transport`] takes `&mut self`; a tracer shares one transport between every
/// request, so it needs `&self`. Any `Transport` behind a [`Mutex`] is one; a UDP socket that
/// sends with `&self` can implement this directly and avoid the lock.
pub trait SharedTransport: Send + Sync {
    /// Sends one datagram, best effort: failures are counted by the transport, not returned.
    fn send_shared(&self, datagram: &[u8]);
}

impl<T: Transport + Send> SharedTransport for Mutex<T> {
    fn send_shared(&self, datagram: &[u8]) {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(datagram);
    }
}

impl SharedTransport for UdpTransport {
    fn send_shared(&self, datagram: &[u8]) {
        self.send_datagram(datagram);
    }
}

/// Why a tracer could not be built from the environment.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// An `AWS_XRAY_*` variable is invalid.
    Config(ConfigError),
    /// The UDP socket could not be opened, or the daemon address not resolved.
    Io(std::io::Error),
    /// The local sampling rules file (`AWS_XRAY_SAMPLING_RULES_FILE`) could not be read.
    SamplingRulesRead {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        error: std::io::Error,
    },
    /// The local sampling rules (a file, or JSON given to the builder) are invalid.
    SamplingRules {
        /// The file, when the rules came from one.
        path: Option<PathBuf>,
        /// What is wrong with them.
        error: RulesError,
    },
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "invalid X-Ray configuration: {e}"),
            BuildError::Io(e) => write!(f, "cannot open the X-Ray UDP transport: {e}"),
            BuildError::SamplingRulesRead { path, error } => write!(
                f,
                "cannot read the X-Ray sampling rules file {}: {error}",
                crate::echo::echoed(&path.to_string_lossy())
            ),
            BuildError::SamplingRules {
                path: Some(path),
                error,
            } => write!(
                f,
                "invalid X-Ray sampling rules file {}: {error}",
                crate::echo::echoed(&path.to_string_lossy())
            ),
            BuildError::SamplingRules { path: None, error } => {
                write!(f, "invalid X-Ray sampling rules: {error}")
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            BuildError::Io(e) => Some(e),
            BuildError::SamplingRulesRead { error, .. } => Some(error),
            BuildError::SamplingRules { error, .. } => Some(error),
        }
    }
}

/// Adapts a [`SharedTransport`] to the core's `&mut self` [`Transport`].
struct ByRef<'a>(&'a dyn SharedTransport);

impl Transport for ByRef<'_> {
    fn send(&mut self, datagram: &[u8]) {
        self.0.send_shared(datagram);
    }
}

/// What a sampling decision can look at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SamplingRequest<'a> {
    /// The segment name (service name).
    pub service_name: &'a str,
    /// The HTTP host, when tracing an HTTP request.
    pub host: Option<&'a str>,
    /// The HTTP method.
    pub method: Option<&'a str>,
    /// The URL path.
    pub url_path: Option<&'a str>,
    /// The service type (the segment's `origin`, such as `AWS::EC2::Instance`); only
    /// centralized rules match on it.
    pub service_type: Option<&'a str>,
}

impl<'a> SamplingRequest<'a> {
    /// A request with only a service name.
    pub fn new(service_name: &'a str) -> Self {
        Self {
            service_name,
            ..Self::default()
        }
    }

    /// Adds the HTTP attributes.
    pub fn with_http(
        mut self,
        host: Option<&'a str>,
        method: Option<&'a str>,
        url_path: Option<&'a str>,
    ) -> Self {
        self.host = host;
        self.method = method;
        self.url_path = url_path;
        self
    }

    /// Adds the service type (the segment's `origin`).
    pub fn with_service_type(mut self, service_type: Option<&'a str>) -> Self {
        self.service_type = service_type;
        self
    }

    /// The core sampler's view of this request.
    pub fn to_core(&self) -> xray_core::SamplingRequest<'a> {
        xray_core::SamplingRequest {
            service_name: Some(self.service_name),
            host: self.host,
            method: self.method,
            url_path: self.url_path,
            service_type: self.service_type,
        }
    }
}

/// A sampling decision function: `true` to sample. It must not allocate if the request path
/// is to stay allocation-free.
pub type Sampler = Arc<dyn Fn(&SamplingRequest<'_>) -> bool + Send + Sync>;

/// How many rules (besides the default rule) a local rules file may hold.
pub const LOCAL_RULE_CAPACITY: usize = 32;

/// The local-rules sampler a tracer uses by default: the core's [`xray_core::Sampler`] with
/// room for [`LOCAL_RULE_CAPACITY`] rules. Its `Default` is the default rule (1 request per
/// second, then 5 %).
pub type LocalSampler = xray_core::Sampler<LOCAL_RULE_CAPACITY>;

/// Parses a local sampling rules document (version 1 or 2, spec §5.2).
pub fn parse_sampling_rules(json: &str) -> Result<LocalSampler, BuildError> {
    LocalSampler::from_rules_json(json)
        .map_err(|error| BuildError::SamplingRules { path: None, error })
}

/// Reads and parses a local sampling rules file; errors name the file.
pub fn load_sampling_rules(path: &Path) -> Result<LocalSampler, BuildError> {
    let json = std::fs::read_to_string(path).map_err(|error| BuildError::SamplingRulesRead {
        path: path.to_path_buf(),
        error,
    })?;
    LocalSampler::from_rules_json(&json).map_err(|error| BuildError::SamplingRules {
        path: Some(path.to_path_buf()),
        error,
    })
}

/// Who decides for requests whose upstream header carries no decision.
#[derive(Clone)]
enum Sampling {
    /// Sample every one.
    Always,
    /// A user function.
    Custom(Sampler),
    /// Local rules (the core sampler; by default the default rule).
    Rules(Arc<LocalSampler>),
    /// Centralized rules from the daemon, local rules while they are missing or stale.
    #[cfg(feature = "centralized-sampling")]
    Centralized(Arc<crate::centralized_sampling::CentralizedSampling>),
}

/// A clock reading taken once and handed to several calls.
struct ReadClock(Option<Timestamp>);

impl Clock for ReadClock {
    #[inline]
    fn now(&self) -> Option<Timestamp> {
        self.0
    }
}

/// The recorder type the tracer pools.
pub type PooledRecorder = Recorder<Box<[u8]>, DEFAULT_SLOTS>;

/// One pooled recorder and its id generator.
struct PoolEntry {
    rec: PooledRecorder,
    rng: FastRng,
}

/// Counters of what a [`Tracer`] did, for observability (all since the tracer was built).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TracerStats {
    /// Traces begun (sampled or not, not counting disabled no-ops).
    pub traces: u64,
    /// Traces begun sampled.
    pub sampled: u64,
    /// Traces that found the pool empty and ran as no-ops.
    pub pool_exhausted: u64,
    /// Calls made through a handle that was not open.
    pub context_missing: u64,
    /// Datagrams handed to the transport.
    pub datagrams: u64,
    /// Bytes handed to the transport.
    pub bytes: u64,
    /// Subsegments sent as independent documents.
    pub streamed: u64,
    /// Values the recorders dropped for lack of room (fields, metadata, stacks), summed.
    pub degraded: u64,
    /// URLs and connection strings recorded as `[redacted]` because they could not be read
    /// with confidence (the recorders' `values_redacted`, summed; each such call returned
    /// `Outcome::Redacted`).
    pub redacted: u64,
}

#[derive(Default)]
struct Counters {
    traces: AtomicU64,
    sampled: AtomicU64,
    pool_exhausted: AtomicU64,
    context_missing: AtomicU64,
    datagrams: AtomicU64,
    bytes: AtomicU64,
    streamed: AtomicU64,
    degraded: AtomicU64,
    redacted: AtomicU64,
}

struct Inner {
    enabled: bool,
    name: String,
    context_missing: ContextMissing,
    lambda: bool,
    transport: Arc<dyn SharedTransport>,
    udp: Option<UdpTransport>,
    sampling: Sampling,
    // Boxed on purpose: entries are large and move in and out of the pool by pointer.
    #[allow(clippy::vec_box)]
    pool: Mutex<Vec<Box<PoolEntry>>>,
    pool_size: usize,
    clock: SystemClock,
    counters: Counters,
}

/// Builds a [`Tracer`]. See [`Tracer::builder`].
#[must_use]
pub struct TracerBuilder {
    name: String,
    enabled: bool,
    context_missing: ContextMissing,
    lambda: bool,
    transport: Option<Arc<dyn SharedTransport>>,
    udp: Option<UdpTransport>,
    sampling: Sampling,
    pool_size: usize,
    config: RecorderConfig,
    buffer_len: Option<usize>,
}

impl std::fmt::Debug for TracerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracerBuilder")
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("lambda", &self.lambda)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

/// Bytes of field log kept next to the datagram budget in each pooled buffer.
const FIELD_LOG_BYTES: usize = 8 * 1024;
/// Room the recorder needs in front of the datagram (see `Recorder::new`).
const RECORDER_OVERHEAD: usize = 160;

impl TracerBuilder {
    /// The service name written as every segment's `name` (overridden by
    /// `AWS_XRAY_TRACING_NAME` when built from the environment).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Where datagrams go (usually the UDP transport to the daemon). Without one, datagrams
    /// are dropped.
    pub fn transport(mut self, transport: Arc<dyn SharedTransport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Sends to the daemon through `udp` (and reports its counters in
    /// [`Tracer::transport_stats`]).
    pub fn udp(mut self, udp: UdpTransport) -> Self {
        self.transport = Some(Arc::new(udp.clone()));
        self.udp = Some(udp);
        self
    }

    /// How many requests can be traced at once (default 16). Each pooled recorder holds a
    /// buffer of the datagram budget plus 8 KiB, allocated when the tracer is built; a request
    /// that finds the pool empty runs untraced and is counted in
    /// [`TracerStats::pool_exhausted`].
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// The sampling decision for requests that arrive without `Sampled=1` or `Sampled=0`,
    /// as a function (the default is the local default rule, see
    /// [`TracerBuilder::local_rules`]). No rule name is recorded.
    pub fn sampler(
        mut self,
        f: impl Fn(&SamplingRequest<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.sampling = Sampling::Custom(Arc::new(f));
        self
    }

    /// Samples every request that does not carry a decision (for tests and load generators;
    /// the default is the default rule: 1 request per second, then 5 %).
    pub fn always_sample(mut self) -> Self {
        self.sampling = Sampling::Always;
        self
    }

    /// Decides with local rules (the core sampler): the first matching rule's reservoir,
    /// then its rate; the matched rule's name is recorded as `aws.xray.sampling_rule_name`.
    /// This is the default, with only the default rule (1 request per second, then 5 %).
    pub fn local_rules(mut self, sampler: LocalSampler) -> Self {
        self.sampling = Sampling::Rules(Arc::new(sampler));
        self
    }

    /// Decides with the local rules of a rules document (version 1 or 2, spec §5.2).
    pub fn sampling_rules_json(self, json: &str) -> Result<Self, BuildError> {
        Ok(self.local_rules(parse_sampling_rules(json)?))
    }

    /// Decides with the local rules of a rules file (`AWS_XRAY_SAMPLING_RULES_FILE`), read
    /// now; the error names the file.
    pub fn sampling_rules_file(self, path: impl AsRef<Path>) -> Result<Self, BuildError> {
        Ok(self.local_rules(load_sampling_rules(path.as_ref())?))
    }

    /// Decides with centralized rules from the daemon (fed by a
    /// [`crate::centralized_sampling::Poller`]), falling back to its local rules while they
    /// are missing or older than an hour.
    #[cfg(feature = "centralized-sampling")]
    pub fn centralized_sampling(
        mut self,
        sampling: Arc<crate::centralized_sampling::CentralizedSampling>,
    ) -> Self {
        self.sampling = Sampling::Centralized(sampling);
        self
    }

    /// What to do on calls through a handle that is not open (default
    /// [`ContextMissing::LogError`]).
    pub fn context_missing(mut self, mode: ContextMissing) -> Self {
        self.context_missing = mode;
        self
    }

    /// `false` makes every trace a no-op (`AWS_XRAY_SDK_DISABLED=true`).
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// Lambda mode: traces follow the invocation header's facade segment and every subsegment
    /// is sent on its own as soon as it closes (see [`Tracer::begin_lambda`]).
    pub fn lambda(mut self, on: bool) -> Self {
        self.lambda = on;
        self
    }

    /// The recorder settings (budget, string limits…). In Lambda mode `stream_all` is forced on.
    pub fn recorder_config(mut self, config: RecorderConfig) -> Self {
        self.config = config;
        self
    }

    /// Builds the tracer, allocating every pooled buffer now.
    pub fn build(self) -> Tracer {
        let config = if self.lambda {
            self.config.stream_all(true)
        } else {
            self.config
        };
        let pool_size = if self.enabled { self.pool_size } else { 0 };
        let len = self
            .buffer_len
            .unwrap_or(config.budget + RECORDER_OVERHEAD + FIELD_LOG_BYTES);
        let mut pool = Vec::with_capacity(pool_size);
        for _ in 0..pool_size {
            pool.push(Box::new(PoolEntry {
                rec: Recorder::new(vec![0u8; len].into_boxed_slice(), config),
                rng: FastRng::from_os(),
            }));
        }
        let transport = self
            .transport
            .unwrap_or_else(|| Arc::new(Mutex::new(xray_core::NullTransport)));
        Tracer {
            inner: Arc::new(Inner {
                enabled: self.enabled,
                name: self.name,
                context_missing: self.context_missing,
                lambda: self.lambda,
                transport,
                udp: self.udp,
                sampling: self.sampling,
                pool: Mutex::new(pool),
                pool_size,
                clock: SystemClock,
                counters: Counters::default(),
            }),
        }
    }
}

/// The std entry point: shared by every thread (it is `Clone`, `Send` and `Sync`), it hands
/// out one [`Trace`] per request. See the [module docs](self).
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("name", &self.inner.name)
            .field("enabled", &self.inner.enabled)
            .field("lambda", &self.inner.lambda)
            .field("pool_size", &self.inner.pool_size)
            .finish_non_exhaustive()
    }
}

impl Tracer {
    /// A builder for a tracer whose segments are named `name`.
    pub fn builder(name: impl Into<String>) -> TracerBuilder {
        TracerBuilder {
            name: name.into(),
            enabled: true,
            context_missing: ContextMissing::default(),
            lambda: false,
            transport: None,
            udp: None,
            sampling: Sampling::Rules(Arc::new(LocalSampler::default())),
            pool_size: 16,
            config: RecorderConfig::default(),
            buffer_len: None,
        }
    }

    /// A builder from the environment: see [`Tracer::from_config`].
    pub fn from_env(default_name: &str) -> Result<TracerBuilder, BuildError> {
        let config = Config::from_env().map_err(BuildError::Config)?;
        Tracer::from_config(&config, default_name)
    }

    /// A builder from a [`Config`]: UDP to its daemon address, its context-missing mode, its
    /// `AWS_XRAY_SDK_DISABLED`, Lambda mode when in Lambda, its `AWS_XRAY_TRACING_NAME`
    /// (which overrides `default_name`) and its local sampling rules file
    /// (`AWS_XRAY_SAMPLING_RULES_FILE`, read now; not in Lambda, where the header decides).
    /// Adjust the rest (pool size, sampler) before [`TracerBuilder::build`].
    pub fn from_config(config: &Config, default_name: &str) -> Result<TracerBuilder, BuildError> {
        let name = config.tracing_name.as_deref().unwrap_or(default_name);
        let mut builder = Tracer::builder(name)
            .enabled(config.is_enabled())
            .context_missing(config.context_missing)
            .lambda(config.is_lambda());
        if !config.is_enabled() {
            return Ok(builder);
        }
        if let (Some(path), false) = (&config.sampling_rules_file, config.is_lambda()) {
            builder = builder.sampling_rules_file(path)?;
        }
        let udp = UdpTransport::from_config(config).map_err(BuildError::Io)?;
        Ok(builder.udp(udp))
    }

    /// The UDP transport's counters (sent, bytes, dropped), when the tracer sends over UDP.
    pub fn transport_stats(&self) -> Option<TransportStats> {
        self.inner.udp.as_ref().map(UdpTransport::stats)
    }

    /// A tracer that records nothing.
    pub fn disabled() -> Tracer {
        Tracer::builder("disabled").enabled(false).build()
    }

    /// The segment name in use.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether tracing is on (`AWS_XRAY_SDK_DISABLED` was not set).
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled
    }

    /// Whether the tracer runs in Lambda mode.
    pub fn is_lambda(&self) -> bool {
        self.inner.lambda
    }

    /// What to do on calls through a handle that is not open.
    pub fn context_missing(&self) -> ContextMissing {
        self.inner.context_missing
    }

    /// Counters since the tracer was built.
    pub fn stats(&self) -> TracerStats {
        let c = &self.inner.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TracerStats {
            traces: l(&c.traces),
            sampled: l(&c.sampled),
            pool_exhausted: l(&c.pool_exhausted),
            context_missing: l(&c.context_missing),
            datagrams: l(&c.datagrams),
            bytes: l(&c.bytes),
            streamed: l(&c.streamed),
            degraded: l(&c.degraded),
            redacted: l(&c.redacted),
        }
    }

    /// Recorders free in the pool right now.
    pub fn pool_available(&self) -> usize {
        self.inner
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Begins a trace for a request, continuing `upstream` (the incoming `X-Amzn-Trace-Id`)
    /// when it has a Root. An upstream `Sampled=1` or `Sampled=0` decides; otherwise (`?` or
    /// absent) the sampler does, and the name of the rule that sampled it is recorded on the
    /// segment. In Lambda mode nothing is sampled locally: only `Sampled=1` samples.
    pub fn begin(&self, upstream: Option<&TraceHeader>) -> Trace {
        self.begin_with(upstream, &SamplingRequest::new(&self.inner.name))
    }

    /// Like [`Tracer::begin`], with HTTP attributes for the sampler.
    pub fn begin_with(
        &self,
        upstream: Option<&TraceHeader>,
        request: &SamplingRequest<'_>,
    ) -> Trace {
        let Some(mut entry) = self.take() else {
            return self.noop();
        };
        let inner = &*self.inner;
        let PoolEntry { rec, rng } = &mut *entry;
        let before = *rec.stats();
        // One clock reading for the decision and the segment start.
        let clock = ReadClock(inner.clock.now());
        let name = inner.name.as_str();
        let flag = upstream.map(TraceHeader::sampled);
        let seg = match (&inner.sampling, flag) {
            (_, Some(SampledFlag::Sampled)) => rec.begin_segment(name, upstream, true, &clock, rng),
            (_, Some(SampledFlag::NotSampled)) => {
                rec.begin_segment(name, upstream, false, &clock, rng)
            }
            // Lambda: the invocation header decides, nothing else samples.
            _ if inner.lambda => rec.begin_segment(name, upstream, false, &clock, rng),
            (Sampling::Always, _) => rec.begin_segment(name, upstream, true, &clock, rng),
            (Sampling::Custom(f), _) => rec.begin_segment(name, upstream, f(request), &clock, rng),
            (Sampling::Rules(sampler), _) => {
                let up = Upstream::from_header(upstream);
                let decision = sampler.decide(&request.to_core(), up, &clock, rng);
                rec.begin_segment(name, upstream, decision, &clock, rng)
            }
            #[cfg(feature = "centralized-sampling")]
            (Sampling::Centralized(central), _) => {
                let up = Upstream::from_header(upstream);
                central.decide_with(&request.to_core(), up, &clock, rng, |decision, rng| {
                    rec.begin_segment(name, upstream, decision, &clock, rng)
                })
            }
        };
        self.started(entry, seg, before)
    }

    /// Begins a Lambda invocation's trace from its trace header (see [`crate::lambda`] for
    /// where the header comes from): a facade segment that is never sent, whose subsegments
    /// go out as independent documents with `parent_id` = the header's Parent. The header's
    /// `Sampled=1` decides; without Root, Parent and `Sampled=1` nothing is sent.
    pub fn begin_lambda(&self, header: &TraceHeader) -> Trace {
        let Some(mut entry) = self.take() else {
            return self.noop();
        };
        let before = *entry.rec.stats();
        let seg = entry.rec.begin_facade(header);
        self.started(entry, seg, before)
    }

    fn take(&self) -> Option<Box<PoolEntry>> {
        if !self.inner.enabled {
            return None;
        }
        let entry = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if entry.is_none() {
            self.inner
                .counters
                .pool_exhausted
                .fetch_add(1, Ordering::Relaxed);
            log::warn!("X-Ray recorder pool exhausted: request not traced");
        }
        entry
    }

    fn noop(&self) -> Trace {
        Trace {
            tracer: self.clone(),
            entry: None,
            segment: EntityId::NONE,
            before: RecorderStats::default(),
        }
    }

    fn started(&self, entry: Box<PoolEntry>, segment: EntityId, before: RecorderStats) -> Trace {
        let c = &self.inner.counters;
        c.traces.fetch_add(1, Ordering::Relaxed);
        if entry.rec.is_sampled() {
            c.sampled.fetch_add(1, Ordering::Relaxed);
        }
        Trace {
            tracer: self.clone(),
            entry: Some(entry),
            segment,
            before,
        }
    }

    fn give_back(&self, mut entry: Box<PoolEntry>, before: RecorderStats) {
        entry.rec.reset();
        let after = *entry.rec.stats();
        let c = &self.inner.counters;
        let d = |a: u64, b: u64| a.saturating_sub(b);
        c.datagrams.fetch_add(
            d(after.datagrams.into(), before.datagrams.into()),
            Ordering::Relaxed,
        );
        c.bytes
            .fetch_add(d(after.bytes, before.bytes), Ordering::Relaxed);
        c.streamed.fetch_add(
            d(after.streamed.into(), before.streamed.into()),
            Ordering::Relaxed,
        );
        let degraded = |s: &RecorderStats| {
            u64::from(s.fields_dropped)
                + u64::from(s.metadata_dropped)
                + u64::from(s.stacks_dropped)
                + u64::from(s.minimal_documents)
        };
        c.degraded
            .fetch_add(d(degraded(&after), degraded(&before)), Ordering::Relaxed);
        c.redacted.fetch_add(
            d(after.values_redacted.into(), before.values_redacted.into()),
            Ordering::Relaxed,
        );
        let mut pool = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The Vec was sized for the whole pool: this push never reallocates.
        if pool.len() < self.inner.pool_size {
            pool.push(entry);
        }
    }
}

/// One request's trace: a recorder borrowed from the [`Tracer`]'s pool.
///
/// Ends its segment (and any subsegment left open) and returns the recorder when finished
/// with [`Trace::finish`] or dropped. Every recording call takes an [`EntityId`] (the
/// segment's from [`Trace::segment`], or a subsegment's) and returns the core's [`Outcome`],
/// or [`TraceError::ContextMissing`] under [`ContextMissing::RuntimeError`].
pub struct Trace {
    tracer: Tracer,
    entry: Option<Box<PoolEntry>>,
    segment: EntityId,
    before: RecorderStats,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("trace_id", &self.trace_id())
            .field("sampled", &self.is_sampled())
            .field("segment", &self.segment)
            .finish()
    }
}

impl Trace {
    /// The segment (or Lambda facade) handle; [`EntityId::NONE`] for a no-op trace.
    pub fn segment(&self) -> EntityId {
        self.segment
    }

    /// Whether this trace records anything (it is not a disabled or pool-exhausted no-op).
    pub fn is_active(&self) -> bool {
        self.entry.as_ref().is_some_and(|e| e.rec.is_active())
    }

    /// Whether this trace is sampled (its documents will be sent).
    pub fn is_sampled(&self) -> bool {
        self.entry.as_ref().is_some_and(|e| e.rec.is_sampled())
    }

    /// The trace id (also for unsampled traces, for log correlation).
    pub fn trace_id(&self) -> Option<TraceId> {
        self.entry.as_ref().and_then(|e| e.rec.trace_id())
    }

    /// The segment or subsegment id behind a handle.
    pub fn segment_id(&self, id: EntityId) -> Option<SegmentId> {
        self.entry.as_ref().and_then(|e| e.rec.segment_id(id))
    }

    /// The `X-Amzn-Trace-Id` header for an outgoing call made from `id`.
    pub fn downstream_header(&self, id: EntityId) -> Option<TraceHeader> {
        self.entry
            .as_ref()
            .and_then(|e| e.rec.downstream_header(id))
    }

    /// The recorder's counters so far (zero for a no-op trace).
    pub fn recorder_stats(&self) -> RecorderStats {
        self.entry
            .as_ref()
            .map(|e| *e.rec.stats())
            .unwrap_or_default()
    }

    /// Begins a subsegment of `parent`.
    pub fn begin_subsegment(
        &mut self,
        parent: EntityId,
        name: &str,
    ) -> Result<EntityId, TraceError> {
        let Some(entry) = self.entry.as_deref_mut() else {
            return Ok(EntityId::NONE);
        };
        let clock = &self.tracer.inner.clock;
        let id = entry
            .rec
            .begin_subsegment(parent, name, clock, &mut entry.rng);
        if id.is_none() && entry.rec.segment_id(parent).is_none() {
            self.missing("begin_subsegment")?;
        }
        Ok(id)
    }

    /// Begins a subsegment of the segment.
    pub fn subsegment(&mut self, name: &str) -> Result<EntityId, TraceError> {
        self.begin_subsegment(self.segment, name)
    }

    /// Ends a subsegment (or the segment, which ends the trace's recording; the recorder is
    /// returned to the pool only when the `Trace` is dropped or finished).
    pub fn end(&mut self, id: EntityId) -> Result<Outcome, TraceError> {
        self.record_with("end", |e, inner| {
            e.rec
                .end(id, &inner.clock, &mut ByRef(inner.transport.as_ref()))
        })
    }

    /// Adds an annotation (indexed, filterable): see [`Recorder::annotate`].
    pub fn annotate<'v>(
        &mut self,
        id: EntityId,
        key: &str,
        value: impl Into<AnnotationValue<'v>>,
    ) -> Result<Outcome, TraceError> {
        let value = value.into();
        self.record("annotate", |e| e.rec.annotate(id, key, value))
    }

    /// Adds metadata: see [`Recorder::add_metadata`].
    pub fn add_metadata<T: serde::Serialize + ?Sized>(
        &mut self,
        id: EntityId,
        namespace: &str,
        key: &str,
        value: &T,
    ) -> Result<Outcome, TraceError> {
        self.record("add_metadata", |e| {
            e.rec.add_metadata(id, namespace, key, value)
        })
    }

    /// Records the HTTP request.
    pub fn set_http_request(
        &mut self,
        id: EntityId,
        request: &HttpRequest<'_>,
    ) -> Result<Outcome, TraceError> {
        self.record("set_http_request", |e| e.rec.set_http_request(id, request))
    }

    /// Records the HTTP response and the flags its status implies (4xx error, 429 throttle,
    /// 5xx fault).
    pub fn set_http_response(
        &mut self,
        id: EntityId,
        response: &HttpResponse,
    ) -> Result<Outcome, TraceError> {
        self.record("set_http_response", |e| {
            e.rec.set_http_response(id, response)
        })
    }

    /// Records the `aws` block.
    pub fn set_aws(&mut self, id: EntityId, aws: &Aws<'_>) -> Result<Outcome, TraceError> {
        self.record("set_aws", |e| e.rec.set_aws(id, aws))
    }

    /// Records the `sql` block (give it a sanitized query).
    pub fn set_sql(&mut self, id: EntityId, sql: &Sql<'_>) -> Result<Outcome, TraceError> {
        self.record("set_sql", |e| e.rec.set_sql(id, sql))
    }

    /// Records an exception (no flag: add [`Trace::set_fault`] or [`Trace::set_error`]).
    pub fn add_exception(
        &mut self,
        id: EntityId,
        exception: &Exception<'_>,
    ) -> Result<Outcome, TraceError> {
        self.record("add_exception", |e| {
            e.rec.add_exception(id, exception, &mut e.rng)
        })
    }

    /// Records a Rust error as an exception (type `"Error"` unless given, message from
    /// `Display`, formatted into a stack buffer of 1 KiB) and sets `fault`.
    pub fn add_error(
        &mut self,
        id: EntityId,
        error: &(dyn std::error::Error + '_),
    ) -> Result<Outcome, TraceError> {
        use std::io::Write;
        let mut buf = [0u8; 1024];
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(cursor, "{error}");
        let n = usize::try_from(cursor.position()).unwrap_or(0);
        let message = match std::str::from_utf8(&buf[..n]) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or_default(),
        };
        let exception = Exception {
            type_name: Some("Error"),
            message: Some(message),
            ..Exception::default()
        };
        let out = self.add_exception(id, &exception)?;
        let _ = self.set_fault(id)?;
        Ok(out)
    }

    /// Sets `fault` (server-side error).
    pub fn set_fault(&mut self, id: EntityId) -> Result<Outcome, TraceError> {
        self.record("set_fault", |e| e.rec.set_fault(id))
    }

    /// Sets `error` (client-side error).
    pub fn set_error(&mut self, id: EntityId) -> Result<Outcome, TraceError> {
        self.record("set_error", |e| e.rec.set_error(id))
    }

    /// Sets `throttle`.
    pub fn set_throttle(&mut self, id: EntityId) -> Result<Outcome, TraceError> {
        self.record("set_throttle", |e| e.rec.set_throttle(id))
    }

    /// Sets `namespace` (`"remote"` for downstream calls, `"aws"` for AWS SDK calls).
    pub fn set_namespace(&mut self, id: EntityId, namespace: &str) -> Result<Outcome, TraceError> {
        self.record("set_namespace", |e| e.rec.set_namespace(id, namespace))
    }

    /// Sets `user`.
    pub fn set_user(&mut self, id: EntityId, user: &str) -> Result<Outcome, TraceError> {
        self.record("set_user", |e| e.rec.set_user(id, user))
    }

    /// Sets `origin`.
    pub fn set_origin(&mut self, id: EntityId, origin: &str) -> Result<Outcome, TraceError> {
        self.record("set_origin", |e| e.rec.set_origin(id, origin))
    }

    /// Records the matched sampling rule on the segment.
    pub fn set_sampling_rule_name(
        &mut self,
        id: EntityId,
        rule: &str,
    ) -> Result<Outcome, TraceError> {
        self.record("set_sampling_rule_name", |e| {
            e.rec.set_sampling_rule_name(id, rule)
        })
    }

    /// Gives direct access to the pooled recorder, its clock and id generator are not
    /// exposed: for recorder calls this type does not wrap. `None` for a no-op trace.
    pub fn recorder(&mut self) -> Option<&mut PooledRecorder> {
        self.entry.as_deref_mut().map(|e| &mut e.rec)
    }

    /// Ends the segment (and anything still open), sends what is left, and returns the
    /// recorder to the pool. Dropping the `Trace` does the same.
    pub fn finish(self) {
        drop(self);
    }

    fn record(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut PoolEntry) -> Outcome,
    ) -> Result<Outcome, TraceError> {
        self.record_with(what, |e, _| f(e))
    }

    fn record_with(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut PoolEntry, &Inner) -> Outcome,
    ) -> Result<Outcome, TraceError> {
        let Some(entry) = self.entry.as_deref_mut() else {
            return Ok(Outcome::NotSampled);
        };
        let out = f(entry, &self.tracer.inner);
        if out == Outcome::NoEntity {
            self.missing(what)?;
        }
        Ok(out)
    }

    fn missing(&self, what: &'static str) -> Result<(), TraceError> {
        let inner = &self.tracer.inner;
        inner
            .counters
            .context_missing
            .fetch_add(1, Ordering::Relaxed);
        match inner.context_missing {
            ContextMissing::LogError => {
                log::error!("X-Ray: {what} called without an open segment or subsegment");
                Ok(())
            }
            ContextMissing::IgnoreError => Ok(()),
            ContextMissing::RuntimeError => Err(TraceError::ContextMissing),
        }
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        let Some(mut entry) = self.entry.take() else {
            return;
        };
        let inner = &self.tracer.inner;
        if entry.rec.is_active() {
            let _ = entry.rec.end(
                self.segment,
                &inner.clock,
                &mut ByRef(inner.transport.as_ref()),
            );
        }
        self.tracer.give_back(entry, self.before);
    }
}

#[cfg(test)]
mod tests {
    use super::BuildError;
    use std::path::PathBuf;

    #[test]
    fn build_errors_cut_the_rules_file_path() {
        let path = PathBuf::from("/".repeat(1 << 20));
        let err = BuildError::SamplingRulesRead {
            path,
            error: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let msg = err.to_string();
        assert!(msg.len() < crate::MAX_ECHOED_CHARS + 200, "{}", msg.len());
        assert!(msg.contains(&format!("{}...", "/".repeat(crate::MAX_ECHOED_CHARS))));
    }
}
