//! The std entry point: a [`Tracer`] shared by every thread, handing out one
//! [`TraceContext`] per request.
//!
//! A `Tracer` owns a pool of [`Recorder`](xray_core::Recorder)s. Each sampled request borrows
//! one through its [`TraceContext`] (shared by its clones and guards), records into it, and
//! gives it back when the last handle is dropped. Nothing on the record → encode → send path
//! allocates: the recorder writes into its own buffer and the datagram goes straight to the
//! transport. The pool grows on demand up to a maximum; a recorder is allocated only when it
//! grows ([`TracerBuilder::pool_size`], [`TracerBuilder::max_pool_size`]).
//!
//! The sampler decides first, so an unsampled request (most of them, with the default 1 a
//! second plus 5 %) borrows no recorder: its handle carries the trace's ids alone, for logs
//! and for the `Sampled=0` header of downstream calls. The pool's size is that of the sampled
//! requests in flight.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use xray_std::Tracer;
//!
//! // Any `Transport` behind a mutex is a shared transport; here one that keeps nothing.
//! let transport = Arc::new(Mutex::new(xray_std::core::NullTransport));
//! let tracer = Tracer::builder("checkout").transport(transport).pool_size(4).build();
//!
//! let ctx = tracer.begin(None);
//! ctx.annotate("customer", "acme-corp");
//! {
//!     let _db = ctx.subsegment("orders-db"); // ends when dropped
//! }
//! drop(ctx); // ends the segment, sends it, gives the recorder back
//! assert_eq!(tracer.stats().traces, 1);
//! ```
//!
//! # Timestamps
//!
//! A sampled trace reads the wall clock ([`SystemClock`]) when its segment
//! begins. Where the kernel's clocksource is the CPU's time-stamp counter (x86_64 Linux; not
//! in Lambda), its later readings within 10 ms of the last wall-clock reading are that reading
//! plus the counter's ticks since, at the rate the tracer measured from its own trace
//! beginnings (from 200 ms after the first): about 8 ns a reading instead of 25–33 ns, and
//! durations inside a trace that are elapsed time even if the wall clock is stepped meanwhile.
//! Readings stay within a few microseconds of the wall clock's. The rate is measured again
//! every minute, by the trace that begins then, which also reads the kernel's clocksource from
//! sysfs (about 12 µs, no allocation) and stops using the counter if the kernel has. Everywhere
//! else every reading is the wall clock's; [`TracerBuilder::time_stamp_counter`] turns the
//! counter off.
//!
//! # Never silently dropped
//!
//! When every recorder is lent and the pool is at its maximum, a sampled request is not
//! recorded, but its handle still carries the incoming header (same Root, the upstream
//! Parent, the upstream Sampled), so calls made downstream stay in the caller's trace. The
//! request is counted ([`TracerStats::pool_exhausted`]) and logged (rate-limited).
//!
//! # Context missing
//!
//! Recording for a segment or subsegment that has ended is what the other X-Ray SDKs call a
//! missing context. What happens then follows [`ContextMissing`]
//! (`AWS_XRAY_CONTEXT_MISSING`): log an error (the default), ignore it, or report
//! [`TraceError::ContextMissing`] through [`TraceContext::last_outcome`]. Nothing ever panics,
//! and no recording call returns anything the caller must handle.
//!
//! # Disabled
//!
//! A tracer built disabled (`AWS_XRAY_SDK_DISABLED=true`) hands out handles that do nothing:
//! no recorder, no ids, nothing sent.

mod builder;
mod errors;
mod pool;
mod stats;
mod transport;

use std::sync::Arc;

pub use self::builder::{DEFAULT_MAX_POOL_SIZE, DEFAULT_POOL_SIZE, TracerBuilder};
pub use self::errors::TraceError;
#[cfg(feature = "tracing")]
pub(crate) use self::pool::Locked;
pub use self::pool::PooledRecorder;
pub(crate) use self::pool::{Entry, State, abandon};
pub use self::stats::TracerStats;
pub(crate) use self::stats::{Counters, bump};
pub(crate) use self::transport::ByRef;
pub use self::transport::SharedTransport;
pub use crate::build_error::BuildError;
pub use crate::config::ContextMissing;
pub use crate::sampling::{
    LOCAL_RULE_CAPACITY, LocalSampler, Sampler, SamplingRequest, load_sampling_rules,
    parse_sampling_rules,
};

use crate::config::Config;
use crate::context::TraceContext;
use crate::rng::ThreadRng;
use crate::system_clock::SystemClock;
use crate::trace_clock::{TraceClock, TraceStart};
use crate::udp_transport::{TransportStats, UdpTransport};
use pool::Pool;
use xray_core::recorder::Sampling as Decided;
use xray_core::sampler::Upstream;
use xray_core::{Clock, SampledFlag, SegmentId, Timestamp, TraceHeader, TraceId};

/// Who decides for requests whose upstream header carries no decision.
#[derive(Clone)]
pub(crate) enum Sampling {
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

/// The reading a trace's beginning is decided with: taken at the first call (only a sampler
/// with rules, or making a trace id, needs one), then the same for every call.
#[derive(Default)]
struct ReadClock(std::cell::Cell<Option<Option<Timestamp>>>);

/// A reading taken once and handed to a call.
struct Reading(Option<Timestamp>);

impl Clock for Reading {
    #[inline]
    fn now(&self) -> Option<Timestamp> {
        self.0
    }
}

impl Clock for ReadClock {
    #[inline]
    fn now(&self) -> Option<Timestamp> {
        match self.0.get() {
            Some(reading) => reading,
            None => {
                let reading = SystemClock.now();
                self.0.set(Some(reading));
                reading
            }
        }
    }
}

pub(crate) struct Inner {
    enabled: bool,
    name: String,
    pub(crate) context_missing: ContextMissing,
    lambda: bool,
    pub(crate) transport: Arc<dyn SharedTransport>,
    udp: Option<UdpTransport>,
    sampling: Sampling,
    pool: Pool,
    /// Whether traces read the time-stamp counter after their first reading (see
    /// `trace_clock`).
    pub(crate) use_counter: bool,
    pub(crate) counters: Counters,
}

impl Inner {
    /// Takes a recorder back into the pool (reset by the caller).
    pub(crate) fn pool_give_back(&self, entry: Arc<Entry>) {
        self.pool.give_back(entry);
    }
}

/// The std entry point: shared by every thread (it is `Clone`, `Send` and `Sync`), it hands
/// out one [`TraceContext`] per request. See the [module docs](self).
#[derive(Clone)]
pub struct Tracer {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("name", &self.inner.name)
            .field("enabled", &self.inner.enabled)
            .field("lambda", &self.inner.lambda)
            .field("recorders", &self.inner.pool.created())
            .field("max_recorders", &self.inner.pool.max())
            .finish_non_exhaustive()
    }
}

impl Tracer {
    /// A builder for a tracer whose segments are named `name`.
    pub fn builder(name: impl Into<String>) -> TracerBuilder {
        TracerBuilder::new(name.into())
    }

    /// A builder from the environment: see [`Tracer::from_config`].
    pub fn from_env(default_name: &str) -> Result<TracerBuilder, BuildError> {
        let config = Config::from_env().map_err(BuildError::Config)?;
        Tracer::from_config(&config, default_name)
    }

    /// A builder from a [`Config`]: UDP to its daemon address, its context-missing mode, its
    /// `AWS_XRAY_SDK_DISABLED`, Lambda mode when in Lambda (with one recorder per concurrent
    /// invocation, `AWS_LAMBDA_MAX_CONCURRENCY`), its `AWS_XRAY_TRACING_NAME` (which
    /// overrides `default_name`) and its local sampling rules file
    /// (`AWS_XRAY_SAMPLING_RULES_FILE`, read now; not in Lambda, where the header decides).
    /// Adjust the rest (pool size, sampler) before [`TracerBuilder::build`].
    pub fn from_config(config: &Config, default_name: &str) -> Result<TracerBuilder, BuildError> {
        let name = config.tracing_name.as_deref().unwrap_or(default_name);
        let mut builder = Tracer::builder(name)
            .enabled(config.is_enabled())
            .context_missing(config.context_missing)
            .lambda(config.is_lambda());
        if let Some(lambda) = &config.lambda {
            // One invocation at a time unless the runtime runs several; room for twice as
            // many, for handles kept a little past their invocation.
            let n = lambda.max_concurrency.map_or(1, |n| n.max(1) as usize);
            builder = builder.pool_size(n).max_pool_size(2 * n);
        }
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

    /// Whether sampled traces read the CPU's time-stamp counter after their first wall-clock
    /// reading (see [Timestamps](self#timestamps)): asked for
    /// ([`TracerBuilder::time_stamp_counter`], on by default), not in Lambda mode, and on
    /// x86_64 Linux whose clocksource is `tsc`.
    pub fn uses_time_stamp_counter(&self) -> bool {
        self.inner.use_counter
    }

    /// What to do on calls for a segment or subsegment that has ended.
    pub fn context_missing(&self) -> ContextMissing {
        self.inner.context_missing
    }

    /// Counters since the tracer was built.
    pub fn stats(&self) -> TracerStats {
        self.inner
            .counters
            .snapshot(self.inner.pool.created() as u64)
    }

    /// Recorders free in the pool right now (the pool may still grow).
    pub fn pool_available(&self) -> usize {
        self.inner.pool.available()
    }

    /// The most recorders the pool grows to.
    pub fn max_pool_size(&self) -> usize {
        self.inner.pool.max()
    }

    /// Begins a trace for a request, continuing `upstream` (the incoming `X-Amzn-Trace-Id`)
    /// when it has a Root. An upstream `Sampled=1` or `Sampled=0` decides; otherwise (`?` or
    /// absent) the sampler does, and the name of the rule that sampled it is recorded on the
    /// segment. In Lambda mode nothing is sampled locally: only `Sampled=1` samples.
    ///
    /// The segment ends, and is sent, when the last clone of the returned handle is dropped
    /// (or at [`TraceContext::end`]).
    pub fn begin(&self, upstream: Option<&TraceHeader>) -> TraceContext {
        self.begin_with(upstream, &SamplingRequest::new(&self.inner.name))
    }

    /// Like [`Tracer::begin`], with HTTP attributes for the sampler.
    pub fn begin_with(
        &self,
        upstream: Option<&TraceHeader>,
        request: &SamplingRequest<'_>,
    ) -> TraceContext {
        let inner = &*self.inner;
        if !self.note_upstream(upstream) {
            return TraceContext::unrecorded(false, upstream);
        }
        // One clock reading for the decision and the trace id, if they need one.
        let clock = ReadClock::default();
        let mut rng = ThreadRng;
        let decided: Decided<'_> = match (&inner.sampling, upstream.map(TraceHeader::sampled)) {
            (_, Some(SampledFlag::Sampled)) => true.into(),
            (_, Some(SampledFlag::NotSampled)) => false.into(),
            // Lambda: the invocation header decides, nothing else samples.
            _ if inner.lambda => false.into(),
            (Sampling::Always, _) => true.into(),
            (Sampling::Custom(f), _) => f(request).into(),
            (Sampling::Rules(sampler), _) => {
                let up = Upstream::from_header(upstream);
                sampler
                    .decide(&request.to_core(), up, &clock, &mut rng)
                    .into()
            }
            // The rule's name is the centralized rules' (read-locked while it is used).
            #[cfg(feature = "centralized-sampling")]
            (Sampling::Centralized(central), _) => {
                let up = Upstream::from_header(upstream);
                return central.decide_with(
                    &request.to_core(),
                    up,
                    &clock,
                    &mut rng,
                    |decision, rng| self.begin_decided(upstream, decision.into(), &clock, rng),
                );
            }
        };
        self.begin_decided(upstream, decided, &clock, &mut rng)
    }

    /// Begins the trace the sampler decided on: a sampled one on a recorder from the pool, an
    /// unsampled one as its ids alone (see [`TraceContext`]'s module docs).
    fn begin_decided(
        &self,
        upstream: Option<&TraceHeader>,
        decided: Decided<'_>,
        clock: &ReadClock,
        rng: &mut ThreadRng,
    ) -> TraceContext {
        let inner = &*self.inner;
        if !decided.sampled {
            // The ids the recorder would have made.
            let root = upstream.and_then(TraceHeader::root);
            let trace_id =
                root.unwrap_or_else(|| TraceId::generate(clock.now().unwrap_or_default(), rng));
            bump(&inner.counters.traces);
            return TraceContext::unsampled(trace_id, SegmentId::generate(rng), upstream);
        }
        let Some(ctx) = self.lend(upstream) else {
            return TraceContext::unrecorded(true, upstream);
        };
        // The segment starts now: with a reading that anchors the trace's clock, or the one
        // the decision took.
        let (start, anchor) = if inner.use_counter {
            TraceClock::begin()
        } else {
            (clock.now(), TraceStart::NONE)
        };
        ctx.begin(inner, |st| {
            st.clock.start(anchor);
            let State { rec, rng, .. } = st;
            rec.begin_segment(inner.name.as_str(), upstream, decided, &Reading(start), rng)
        })
    }

    /// Begins a Lambda invocation's trace from its trace header (see the `lambda` module for
    /// where the header comes from): a facade segment that is never sent, whose subsegments
    /// go out as independent documents with `parent_id` = the header's Parent. The header's
    /// `Sampled=1` decides.
    ///
    /// Without a header, or one without a Root, the handle does nothing and has no ids.
    /// With a Root but no Parent (PassThrough mode), nothing is recorded and the header is
    /// passed on downstream as it came.
    pub fn begin_lambda(&self, header: Option<&TraceHeader>) -> TraceContext {
        if !self.note_upstream(header) {
            return TraceContext::unrecorded(false, header);
        }
        let (Some(header), Some(root), Some(parent)) = (
            header,
            header.and_then(TraceHeader::root),
            header.and_then(TraceHeader::parent),
        ) else {
            return TraceContext::unrecorded(true, header);
        };
        if header.sampled() != SampledFlag::Sampled {
            // The facade's ids: the header's Root and Parent.
            bump(&self.inner.counters.traces);
            return TraceContext::unsampled(root, parent, Some(header));
        }
        let Some(ctx) = self.lend(Some(header)) else {
            return TraceContext::unrecorded(true, Some(header));
        };
        ctx.begin(&self.inner, |st| st.rec.begin_facade(header))
    }

    /// Whether tracing is on; counts a malformed `upstream` header if it is.
    fn note_upstream(&self, upstream: Option<&TraceHeader>) -> bool {
        let inner = &*self.inner;
        if inner.enabled && upstream.is_some_and(|h| h.malformed().any()) {
            bump(&inner.counters.malformed_headers);
        }
        inner.enabled
    }

    /// A recorder from the pool, as a handle with no entity yet. `None` when no recorder can
    /// be had (then counted and logged).
    #[inline]
    fn lend(&self, upstream: Option<&TraceHeader>) -> Option<TraceContext> {
        match self.inner.pool.take() {
            Some(entry) => Some(TraceContext::lent(self.clone(), entry)),
            None => {
                self.pool_exhausted(upstream);
                None
            }
        }
    }

    /// Counts and logs (at the 1st, 2nd, 4th… time) a sampled request the pool had no
    /// recorder for.
    #[cold]
    #[inline(never)]
    fn pool_exhausted(&self, upstream: Option<&TraceHeader>) {
        let inner = &*self.inner;
        let n = bump(&inner.counters.pool_exhausted);
        if n.is_power_of_two() {
            log::warn!(
                "X-Ray: all {} recorders are in use: a request is not recorded, its \
                 trace header ({}) is passed on downstream ({n} so far)",
                inner.pool.max(),
                if upstream.is_some_and(|h| h.root().is_some()) {
                    "present"
                } else {
                    "absent"
                }
            );
        }
    }
}
