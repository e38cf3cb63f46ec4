//! [`TracerBuilder`]: how a [`Tracer`] is put together.

use std::path::Path;
use std::sync::{Arc, Mutex};

use xray_core::RecorderConfig;

use super::pool::Pool;
use super::stats::Counters;
use super::transport::SharedTransport;
use super::{Inner, Sampling, Tracer};
use crate::build_error::BuildError;
use crate::config::ContextMissing;
use crate::sampling::{LocalSampler, SamplingRequest, load_sampling_rules, parse_sampling_rules};
use crate::udp_transport::UdpTransport;

/// Recorders a tracer makes when it is built, by default ([`TracerBuilder::pool_size`]).
pub const DEFAULT_POOL_SIZE: usize = 16;

/// The most recorders a tracer makes, by default ([`TracerBuilder::max_pool_size`]): that
/// many requests are recorded at once, and the pool's memory is at most this many times
/// about 75 KB (a recorder with the default budget: [`TracerBuilder::recorder_bytes`] of buffer
/// and its state; measured by `tests/pool_memory.rs`).
pub const DEFAULT_MAX_POOL_SIZE: usize = 1024;

/// Bytes of field log kept next to the datagram budget in each pooled buffer.
const FIELD_LOG_BYTES: usize = 8 * 1024;

/// Builds a [`Tracer`]. See [`Tracer::builder`].
#[must_use]
pub struct TracerBuilder {
    pub(super) name: String,
    pub(super) enabled: bool,
    pub(super) context_missing: ContextMissing,
    pub(super) lambda: bool,
    pub(super) time_stamp_counter: bool,
    pub(super) transport: Option<Arc<dyn SharedTransport>>,
    pub(super) udp: Option<UdpTransport>,
    pub(super) sampling: Sampling,
    pub(super) pool_size: usize,
    pub(super) max_pool_size: usize,
    pub(super) config: RecorderConfig,
}

impl std::fmt::Debug for TracerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracerBuilder")
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("lambda", &self.lambda)
            .field("pool_size", &self.pool_size)
            .field("max_pool_size", &self.max_pool_size)
            .finish_non_exhaustive()
    }
}

impl TracerBuilder {
    pub(super) fn new(name: String) -> Self {
        TracerBuilder {
            name,
            enabled: true,
            context_missing: ContextMissing::default(),
            lambda: false,
            time_stamp_counter: true,
            transport: None,
            udp: None,
            sampling: Sampling::Rules(Arc::new(LocalSampler::default())),
            pool_size: DEFAULT_POOL_SIZE,
            max_pool_size: DEFAULT_MAX_POOL_SIZE,
            config: RecorderConfig::default(),
        }
    }

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

    /// Recorders made when the tracer is built (default [`DEFAULT_POOL_SIZE`]): sampled
    /// requests up to this many at once never wait for an allocation (unsampled requests
    /// borrow no recorder). Beyond it the pool grows, one recorder per extra sampled request
    /// in flight, up to [`TracerBuilder::max_pool_size`], and keeps what it grew. Each recorder is [`TracerBuilder::recorder_bytes`] of buffer plus about
    /// 1.2 KB of state.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n;
        self
    }

    /// The most recorders the pool grows to (default [`DEFAULT_MAX_POOL_SIZE`], at least
    /// [`TracerBuilder::pool_size`]), which bounds the tracer's memory. A sampled request that
    /// finds every recorder lent at the maximum is not recorded, but its handle still propagates
    /// the incoming trace header downstream; it is counted in
    /// [`TracerStats::pool_exhausted`](crate::TracerStats::pool_exhausted) and logged (at
    /// the 1st, 2nd, 4th, 8th… occurrence).
    pub fn max_pool_size(mut self, n: usize) -> Self {
        self.max_pool_size = n.max(1);
        self
    }

    /// Bytes of buffer each pooled recorder allocates with the current recorder settings: the
    /// datagram budget (65,507 by default), 8 KiB of field log and the recorder's working
    /// room ([`Recorder::buffer_len`](xray_core::Recorder::buffer_len)).
    pub fn recorder_bytes(&self) -> usize {
        let config = self.effective_config();
        xray_core::Recorder::buffer_len(config.budget, FIELD_LOG_BYTES)
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

    /// What to do on calls for a segment or subsegment that has ended (default
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

    /// Whether sampled traces may read the CPU's time-stamp counter after their first
    /// wall-clock reading (default on; used only on x86_64 Linux whose clocksource is `tsc`,
    /// and never in Lambda mode: see the `tracer` module docs). Off, every reading is the
    /// wall clock's ([`SystemClock`](crate::SystemClock)).
    pub fn time_stamp_counter(mut self, on: bool) -> Self {
        self.time_stamp_counter = on;
        self
    }

    /// The recorder settings (budget, string limits…). In Lambda mode `stream_all` is forced on.
    pub fn recorder_config(mut self, config: RecorderConfig) -> Self {
        self.config = config;
        self
    }

    fn effective_config(&self) -> RecorderConfig {
        if self.lambda {
            self.config.stream_all(true)
        } else {
            self.config
        }
    }

    /// Builds the tracer, making [`TracerBuilder::pool_size`] recorders now.
    pub fn build(self) -> Tracer {
        let config = self.effective_config();
        let len = self.recorder_bytes();
        let (initial, max) = if self.enabled {
            (
                self.pool_size,
                self.max_pool_size.max(self.pool_size).max(1),
            )
        } else {
            (0, 0)
        };
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
                pool: Pool::new(initial, max, len, config),
                // Lambda freezes an execution environment between invocations (see `trace_clock`).
                use_counter: self.time_stamp_counter
                    && !self.lambda
                    && crate::trace_clock::counter_usable(),
                counters: Counters::default(),
            }),
        }
    }
}
