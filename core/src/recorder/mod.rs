//! The recorder: one trace's segments and subsegments, written into one caller-provided buffer.
//!
//! ```
//! use xray_core::recorder::{Recorder, RecorderConfig};
//! use xray_core::{FixedClock, SliceTransport, Timestamp};
//! # use xray_core::rand_core::{TryRng, Infallible};
//! # struct Rng(u64);
//! # impl TryRng for Rng {
//! #     type Error = Infallible;
//! #     fn try_next_u32(&mut self) -> Result<u32, Infallible> { Ok(self.try_next_u64()? as u32) }
//! #     fn try_next_u64(&mut self) -> Result<u64, Infallible> { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1); Ok(self.0) }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Infallible> { for b in d { *b = self.try_next_u64()? as u8; } Ok(()) }
//! # }
//! let clock = FixedClock(Timestamp::from_secs_micros(1_700_000_000, 0));
//! let mut rng = Rng(1);
//! let mut out = [0u8; 2048];
//! let mut transport = SliceTransport::new(&mut out);
//!
//! let mut rec: Recorder<[u8; 4096]> = Recorder::new([0; 4096], RecorderConfig::with_budget(2048));
//! let seg = rec.begin_segment("checkout", None, true, &clock, &mut rng);
//! let _ = rec.annotate(seg, "customer", "acme-corp");
//! let db = rec.begin_subsegment(seg, "orders-db", &clock, &mut rng);
//! let _ = rec.end(db, &clock, &mut transport);
//! let _ = rec.end(seg, &clock, &mut transport);
//!
//! let datagram = core::str::from_utf8(transport.last()).unwrap();
//! assert!(datagram.starts_with("{\"format\":\"json\",\"version\":1}\n{\"name\":\"checkout\""));
//! assert!(datagram.contains("\"subsegments\":[{\"name\":\"orders-db\""));
//! ```
//!
//! # How the buffer is used
//!
//! The buffer holds the datagram being built (up to the configured budget) and, after it, the
//! field log of the open entities (see `field_log`). A closed subsegment becomes bytes at once:
//! its document is written at the end of the datagram and joins its parent's run of closed
//! children (`{child},{child}`), whatever order siblings close in. A parent's own fields are
//! written when it closes, in front of its children (`{"name":…,"subsegments":[…]}`): JSON key
//! order does not matter. No heap, no tree of nodes.
//!
//! # The byte budget, and what gives way
//!
//! Room is always kept for the smallest document of every entity still open, so the segment
//! can always be sent and always within the budget. When a closing subsegment does not fit in
//! its parent's datagram, it is sent on its own as an independent subsegment (`type`,
//! `trace_id`, `parent_id`). When a document does not fit even alone, it gives way in this
//! order, each step counted in [`RecorderStats`]:
//!
//! 1. strings are cut, at a character boundary, to their limits when recorded (names to 200
//!    characters of X-Ray's character set, schema fields to 250, others to
//!    [`RecorderConfig::max_string_chars`]);
//! 2. closed subsegments that do not fit are streamed as independent documents;
//! 3. metadata is dropped;
//! 4. stack frames are dropped and counted in each exception's `truncated`;
//! 5. only required fields, ids and error flags are kept.
//!
//! The output is always valid JSON within the budget; the recorder never panics.
//!
//! # Sampling
//!
//! Ids are generated for every trace, sampled or not, so logs can carry them. An unsampled
//! trace records, encodes and sends nothing: every call returns [`Outcome::NotSampled`].

mod assemble;
mod config;
mod field_log;
mod outcome;

pub use config::{MIN_BUDGET, RecorderConfig};
pub use outcome::{Outcome, RecorderStats, Rejection};

use crate::DAEMON_HEADER;
use crate::header::{SampledFlag, TraceHeader};
use crate::id::{SegmentId, TraceId};
use crate::json;
use crate::model::{
    AnnotationValue, Aws, Exception, HttpRequest, HttpResponse, Limits, Members, Sql,
    valid_annotation_key,
};
use crate::sink::{Full, Sink, SliceSink};
use crate::time::{Clock, Timestamp};
use crate::transport::Transport;
use assemble::{Doc, Level, write_fields};
use field_log::{FieldLog, Section};
use rand_core::Rng;

/// Open entities (segment plus nested or concurrent subsegments) one recorder tracks by default.
pub const DEFAULT_SLOTS: usize = 16;

/// The daemon header line and its newline.
const HEADER_LEN: usize = DAEMON_HEADER.len() + 1;
/// `{"type":"subsegment","trace_id":"<35>","parent_id":"<16>",`: what an independent
/// subsegment carries in front of its own fields.
const INDEPENDENT_PREFIX_LEN: usize = 1 + 20 + 12 + TraceId::LEN + 2 + 13 + SegmentId::LEN + 2;
/// Room in front of the datagram where the header and the independent prefix are placed
/// when a subsegment is sent on its own (the bytes there are saved and put back).
const SCRATCH: usize = HEADER_LEN + INDEPENDENT_PREFIX_LEN;
/// The largest document of an entity at [`Level::Minimal`], less its name: the independent
/// prefix, id, two timestamps of up to 27 digits, three flags, an empty `subsegments` array
/// and a separating comma.
const MIN_DOC_OVERHEAD: usize =
    INDEPENDENT_PREFIX_LEN + 7 + 24 + 14 + 27 + 12 + 27 + 13 + 13 + 16 + 16 + 1 + 1 + 1;
/// Free room kept after a child joins its parent, so that another subsegment (with a name of
/// up to 64 bytes) can begin.
const HEADROOM: usize = MIN_DOC_OVERHEAD + 7 + 64;
/// Field-log bytes kept at the least, whatever the budget.
const MIN_FIELD_LOG: usize = 256;

pub(crate) const FLAG_ERROR: u8 = 1;
pub(crate) const FLAG_FAULT: u8 = 2;
pub(crate) const FLAG_THROTTLE: u8 = 4;
const NO_PARENT: u8 = u8::MAX;

/// A handle to an open segment or subsegment of a [`Recorder`].
///
/// Handles are plain values: they stay valid until the entity ends, and a stale handle (or
/// [`EntityId::NONE`]) makes every call a typed no-op ([`Outcome::NoEntity`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntityId {
    slot: u8,
    generation: u16,
}

impl EntityId {
    /// The handle of nothing: returned when an entity could not begin.
    pub const NONE: EntityId = EntityId {
        slot: NO_PARENT,
        generation: 0,
    };

    /// Whether this is [`EntityId::NONE`].
    pub const fn is_none(self) -> bool {
        self.slot == NO_PARENT
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    Free,
    Open,
    /// Lambda's function segment: a parent reference that is never written.
    Facade,
    /// Never sampled, with everything under it (oversampling mitigation).
    Unsampled,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    state: SlotState,
    generation: u16,
    parent: u8,
    pub(crate) id: SegmentId,
    pub(crate) start: Timestamp,
    pub(crate) flags: u8,
    /// Closed children, written as `{…},{…}` at `region_start` in the datagram.
    region_start: usize,
    region_len: usize,
    /// Bytes of the `"name":"…"` member.
    name_len: usize,
}

const FREE: Slot = Slot {
    state: SlotState::Free,
    generation: 0,
    parent: NO_PARENT,
    id: SegmentId::ZERO,
    start: Timestamp::from_micros(0),
    flags: 0,
    region_start: 0,
    region_len: 0,
    name_len: 0,
};

/// The trace the recorder is working on.
#[derive(Clone, Debug)]
struct Trace {
    active: bool,
    sampled: bool,
    id: TraceId,
    /// The upstream caller's id, written as the segment's `parent_id`.
    parent: Option<SegmentId>,
    /// The upstream header, whose extra fields are forwarded downstream.
    upstream: TraceHeader,
    annotations: u16,
}

/// Records one trace at a time into a caller-provided buffer `B` (an array, a `&mut [u8]`, a
/// `Box<[u8]>`…), with up to `N` entities open at once. See the [module docs](self).
pub struct Recorder<B, const N: usize = DEFAULT_SLOTS> {
    buf: B,
    config: RecorderConfig,
    /// Where the datagram area ends and the field log begins.
    log_start: usize,
    /// End of the bytes written into the datagram area.
    used: usize,
    log: FieldLog,
    slots: [Slot; N],
    /// Sum of the open entities' reserves (see `own_reserve`).
    reserved: usize,
    trace: Trace,
    stats: RecorderStats,
    generation: u16,
}

impl<B: AsMut<[u8]> + AsRef<[u8]>, const N: usize> Recorder<B, N> {
    /// A recorder writing into `buf`.
    ///
    /// The buffer holds the datagram (the budget plus 131 bytes of working room) and the field
    /// log (the rest, at least 256 bytes). If `buf` is too small for the configured budget,
    /// the budget shrinks to fit; [`Recorder::budget`] tells the effective value. A budget
    /// below [`MIN_BUDGET`] (configured, or forced by a tiny buffer) disables the recorder:
    /// every begin is refused and counted, and nothing is ever sent. A buffer of budget +
    /// 4 KiB suits most services.
    pub fn new(mut buf: B, config: RecorderConfig) -> Self {
        let len = buf.as_mut().len();
        let room = len.saturating_sub(SCRATCH + MIN_FIELD_LOG);
        // Never send more than allowed: below the minimum the recorder records nothing.
        let budget = match config.budget.min(room) {
            b if b < MIN_BUDGET => 0,
            b => b,
        };
        let config = RecorderConfig { budget, ..config };
        let mut rec = Self {
            buf,
            config,
            log_start: SCRATCH + budget,
            used: SCRATCH + HEADER_LEN,
            log: FieldLog::default(),
            slots: [FREE; N],
            reserved: 0,
            trace: Trace {
                active: false,
                sampled: false,
                id: TraceId::ZERO,
                parent: None,
                upstream: TraceHeader::new(),
                annotations: 0,
            },
            stats: RecorderStats::default(),
            generation: 0,
        };
        rec.reset();
        rec
    }

    /// The effective datagram budget in bytes, header included (0 if the buffer was too
    /// small for even [`MIN_BUDGET`]: then nothing is ever sent).
    pub fn budget(&self) -> usize {
        if self.config.budget < MIN_BUDGET {
            0
        } else {
            self.config.budget
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &RecorderConfig {
        &self.config
    }

    /// What the recorder has done so far.
    pub fn stats(&self) -> &RecorderStats {
        &self.stats
    }

    /// Whether a trace is in progress.
    pub fn is_active(&self) -> bool {
        self.trace.active
    }

    /// Whether the trace in progress is sampled.
    pub fn is_sampled(&self) -> bool {
        self.trace.active && self.trace.sampled
    }

    /// The trace id of the trace in progress (also for unsampled traces).
    pub fn trace_id(&self) -> Option<TraceId> {
        self.trace.active.then_some(self.trace.id)
    }

    /// The segment or subsegment id behind a handle (also for unsampled traces).
    pub fn segment_id(&self, id: EntityId) -> Option<SegmentId> {
        self.slot(id).map(|i| self.slots[i].id)
    }

    /// The `X-Amzn-Trace-Id` header for a call made from `id`: this trace's Root, `id` as
    /// Parent, this trace's decision as Sampled, and the upstream extra fields.
    pub fn downstream_header(&self, id: EntityId) -> Option<TraceHeader> {
        let i = self.slot(id)?;
        let sampled = self.trace.sampled && self.slots[i].state != SlotState::Unsampled;
        Some(
            self.trace
                .upstream
                .downstream(self.trace.id, self.slots[i].id, sampled),
        )
    }

    /// Abandons the trace in progress without sending anything.
    pub fn reset(&mut self) {
        self.slots = [FREE; N];
        self.reserved = 0;
        self.log.clear();
        self.trace.active = false;
        self.trace.sampled = false;
        self.trace.annotations = 0;
        self.trace.parent = None;
        self.trace.upstream = TraceHeader::new();
        let buf = self.buf.as_mut();
        if let Some(h) = buf.get_mut(SCRATCH..SCRATCH + HEADER_LEN) {
            h[..DAEMON_HEADER.len()].copy_from_slice(DAEMON_HEADER);
            h[DAEMON_HEADER.len()] = b'\n';
        }
        self.used = SCRATCH + HEADER_LEN;
    }

    /// Begins the segment of a new trace.
    ///
    /// With an `upstream` header that has a Root, the trace continues it (its Parent becomes
    /// the segment's `parent_id`, its extra fields are forwarded); otherwise a new trace id is
    /// made from the clock and `rng`. `sampled` is the sampling decision (see the sampler).
    /// When the clock does not know the epoch yet, the trace is not sampled.
    ///
    /// Returns [`EntityId::NONE`] (and counts it) if a trace is already in progress or the
    /// name does not fit.
    pub fn begin_segment<C: Clock + ?Sized, R: Rng + ?Sized>(
        &mut self,
        name: &str,
        upstream: Option<&TraceHeader>,
        sampled: bool,
        clock: &C,
        rng: &mut R,
    ) -> EntityId {
        if self.trace.active || self.budget() == 0 {
            self.stats.begins_refused += 1;
            return EntityId::NONE;
        }
        let now = clock.now();
        let sampled = sampled && now.is_some();
        if now.is_none() {
            self.stats.clock_unset += 1;
        }
        let now = now.unwrap_or_default();
        let root = upstream.and_then(TraceHeader::root);
        self.trace.id = root.unwrap_or_else(|| TraceId::generate(now, rng));
        self.trace.parent = root.and_then(|_| upstream.and_then(TraceHeader::parent));
        self.trace.upstream = upstream.cloned().unwrap_or_default();
        self.start_trace(sampled);
        let id = SegmentId::generate(rng);
        self.open(NO_PARENT, SlotState::Open, id, now, name)
    }

    /// Begins Lambda's facade segment from the invocation's trace header: a parent reference
    /// (id = the header's Parent, trace = its Root) that is never written or sent. Every
    /// subsegment under it is sent on its own with `parent_id` = that Parent, and the header's
    /// `Sampled` decides (no local sampling). A header without Root, Parent or `Sampled=1`
    /// gives an unsampled trace: ids for logs, nothing sent.
    pub fn begin_facade(&mut self, header: &TraceHeader) -> EntityId {
        if self.trace.active || self.budget() == 0 {
            self.stats.begins_refused += 1;
            return EntityId::NONE;
        }
        let (Some(root), Some(parent)) = (header.root(), header.parent()) else {
            self.trace.id = header.root().unwrap_or(TraceId::ZERO);
            self.trace.upstream = header.clone();
            self.start_trace(false);
            return self.open(
                NO_PARENT,
                SlotState::Facade,
                header.parent().unwrap_or(SegmentId::ZERO),
                Timestamp::default(),
                "",
            );
        };
        self.trace.id = root;
        self.trace.parent = None;
        self.trace.upstream = header.clone();
        self.start_trace(header.sampled() == SampledFlag::Sampled);
        self.open(
            NO_PARENT,
            SlotState::Facade,
            parent,
            Timestamp::default(),
            "",
        )
    }

    /// Begins a subsegment of `parent` (a segment, subsegment or facade of this trace).
    pub fn begin_subsegment<C: Clock + ?Sized, R: Rng + ?Sized>(
        &mut self,
        parent: EntityId,
        name: &str,
        clock: &C,
        rng: &mut R,
    ) -> EntityId {
        let Some(p) = self.slot(parent) else {
            return EntityId::NONE;
        };
        let now = clock.now().unwrap_or(self.slots[p].start);
        let id = SegmentId::generate(rng);
        let state = match self.slots[p].state {
            SlotState::Unsampled => SlotState::Unsampled,
            _ => SlotState::Open,
        };
        self.open(p as u8, state, id, now, name)
    }

    /// Begins a subsegment that is never sampled, whatever the trace's decision: nothing
    /// under it is recorded or sent, and calls made from it carry `Sampled=0` downstream.
    /// This is the oversampling mitigation for work that fans out (for example one subsegment
    /// per message of a batch, whose own traces are decided per message).
    pub fn begin_unsampled_subsegment<C: Clock + ?Sized, R: Rng + ?Sized>(
        &mut self,
        parent: EntityId,
        name: &str,
        clock: &C,
        rng: &mut R,
    ) -> EntityId {
        let Some(p) = self.slot(parent) else {
            return EntityId::NONE;
        };
        let now = clock.now().unwrap_or(self.slots[p].start);
        let id = SegmentId::generate(rng);
        self.open(p as u8, SlotState::Unsampled, id, now, name)
    }

    /// Ends an entity now (see [`Recorder::end_at`]).
    pub fn end<C: Clock + ?Sized, T: Transport + ?Sized>(
        &mut self,
        id: EntityId,
        clock: &C,
        transport: &mut T,
    ) -> Outcome {
        let Some(i) = self.slot(id) else {
            return Outcome::NoEntity;
        };
        let now = clock.now().unwrap_or(self.slots[i].start);
        self.end_at(id, now, transport)
    }

    /// Ends an entity at `end`. Its children still open end first, at the same time. Ending
    /// the segment (or facade) sends what is left and finishes the trace; a subsegment joins
    /// its parent's document, or is sent on its own if it does not fit (or in Lambda).
    pub fn end_at<T: Transport + ?Sized>(
        &mut self,
        id: EntityId,
        end: Timestamp,
        transport: &mut T,
    ) -> Outcome {
        let Some(i) = self.slot(id) else {
            return Outcome::NoEntity;
        };
        let is_root = self.slots[i].parent == NO_PARENT;
        self.close(i, end, transport, N);
        if is_root {
            self.reset();
        }
        if self.trace.sampled {
            Outcome::Recorded
        } else {
            Outcome::NotSampled
        }
    }

    /// Adds an annotation (indexed by X-Ray for filter expressions). Keys are 1 to 500 of
    /// `[A-Za-z0-9_]`; string values are cut to 1,000 characters; setting a key again
    /// replaces the value; at most [`RecorderConfig::max_annotations`] per trace.
    pub fn annotate<'v>(
        &mut self,
        id: EntityId,
        key: &str,
        value: impl Into<AnnotationValue<'v>>,
    ) -> Outcome {
        let value = value.into();
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        if !valid_annotation_key(key) {
            return Outcome::Rejected(Rejection::InvalidAnnotationKey);
        }
        if let AnnotationValue::Float(f) = value
            && !f.is_finite()
        {
            return Outcome::Rejected(Rejection::NotFinite);
        }
        let max = self.config.max_string_chars.min(1000);
        let mut cut = false;
        let r = self.push(i, Section::Annotation, |s| {
            s.write(b"\"")?;
            s.write(key.as_bytes())?;
            s.write(b"\":")?;
            match value {
                AnnotationValue::Str(v) => cut = json::string(s, v, max)?,
                AnnotationValue::Int(v) => json::i64(s, v)?,
                AnnotationValue::Float(v) => {
                    json::f64(s, v)?;
                }
                AnnotationValue::Bool(v) => json::bool(s, v)?,
            }
            Ok(())
        });
        if r.is_err() {
            return self.outcome(r, cut);
        }
        let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
        let Some(at) = self.log.last_at(area) else {
            return Outcome::NoRoom;
        };
        if !self.log.kill_earlier_duplicates(area, at, key.len() + 3) {
            if self.trace.annotations >= self.config.max_annotations {
                self.log.kill(area, at);
                return Outcome::Rejected(Rejection::TooManyAnnotations);
            }
            self.trace.annotations += 1;
        }
        self.outcome(r, cut)
    }

    /// Adds `key: value` to a metadata namespace (`"default"` is the usual one). The value is
    /// anything `serde::Serialize`, written as JSON at once (with serde-json-core; NaN and
    /// infinities become `null`). Namespaces starting with `AWS.` are reserved; namespaces are
    /// cut to 40 characters and keys to 250; setting a key again replaces it. Metadata is the
    /// first thing dropped when a document must shrink.
    pub fn add_metadata<T: serde::Serialize + ?Sized>(
        &mut self,
        id: EntityId,
        namespace: &str,
        key: &str,
        value: &T,
    ) -> Outcome {
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        if namespace.starts_with("AWS.") {
            return Outcome::Rejected(Rejection::ReservedNamespace);
        }
        let max_key = self.config.max_string_chars.min(250);
        let (ns, ns_cut) = json::cut_chars(namespace, 40);
        // 40 characters escape to at most 240 bytes, so the length fits the one-byte prefix.
        let mut counter = crate::sink::CountingSink::new(255);
        if json::escaped(&mut counter, ns).is_err() {
            return Outcome::Rejected(Rejection::Serialize);
        }
        let ns_len = counter.len();
        let mut key_cut = false;
        let mut key_len = 0;
        let mut serialize_failed = false;
        let r = self.push(i, Section::Metadata, |s| {
            s.write(&[ns_len as u8])?;
            json::escaped(s, ns)?;
            let before = s.len();
            key_cut = json::string(s, key, max_key)?;
            s.write(b":")?;
            key_len = s.len() - before;
            let room = s.unfilled();
            match serde_json_core::to_slice(value, room) {
                Ok(n) => match json::escape_line_separators(room, n) {
                    Some(n) => {
                        s.advance(n);
                        Ok(())
                    }
                    None => Err(Full { needed: 3 }),
                },
                Err(serde_json_core::ser::Error::BufferFull) => Err(Full { needed: 1 }),
                Err(_) => {
                    serialize_failed = true;
                    Err(Full { needed: 0 })
                }
            }
        });
        if serialize_failed {
            return Outcome::Rejected(Rejection::Serialize);
        }
        if r.is_ok() {
            let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
            if let Some(at) = self.log.last_at(area) {
                self.log
                    .kill_earlier_duplicates(area, at, 1 + ns_len + key_len);
            }
        }
        self.outcome(r, ns_cut || key_cut)
    }

    /// Records the HTTP request (replacing an earlier one).
    pub fn set_http_request(&mut self, id: EntityId, request: &HttpRequest<'_>) -> Outcome {
        let limits = self.limits();
        let keep_query = self.config.record_url_query;
        self.replace_members(id, Section::HttpRequest, |m| {
            request.write_members(m, limits, keep_query)
        })
    }

    /// Records the HTTP response (replacing an earlier one) and sets the flags its status
    /// implies: 4xx `error`, 429 `throttle` too, 5xx `fault`.
    pub fn set_http_response(&mut self, id: EntityId, response: &HttpResponse) -> Outcome {
        let out = self.replace_members(id, Section::HttpResponse, |m| response.write_members(m));
        if out.is_recorded() {
            let (error, throttle, fault) = response.flags();
            if let Some(i) = self.slot(id) {
                let f = &mut self.slots[i].flags;
                *f |= if error { FLAG_ERROR } else { 0 }
                    | if throttle { FLAG_THROTTLE } else { 0 }
                    | if fault { FLAG_FAULT } else { 0 };
            }
        }
        out
    }

    /// Records the `aws` block (replacing an earlier one; the recorder's own `aws.xray` is kept).
    pub fn set_aws(&mut self, id: EntityId, aws: &Aws<'_>) -> Outcome {
        let limits = self.limits();
        self.replace_members(id, Section::Aws, |m| aws.write_members(m, limits))
    }

    /// Records the `sql` block (replacing an earlier one).
    pub fn set_sql(&mut self, id: EntityId, sql: &Sql<'_>) -> Outcome {
        let limits = self.limits();
        self.replace_members(id, Section::Sql, |m| sql.write_members(m, limits))
    }

    /// Records an exception under `cause.exceptions`, with a new random id. Does not set a flag:
    /// call [`Recorder::set_fault`] or [`Recorder::set_error`] as fits.
    pub fn add_exception<R: Rng + ?Sized>(
        &mut self,
        id: EntityId,
        exception: &Exception<'_>,
        rng: &mut R,
    ) -> Outcome {
        let exception_id = SegmentId::generate(rng);
        self.add_exception_with_id(id, exception_id, exception)
    }

    /// Records an exception with a given id (so that a parent can point at it with
    /// [`Recorder::set_cause_id`], or another exception through its `cause`).
    pub fn add_exception_with_id(
        &mut self,
        id: EntityId,
        exception_id: SegmentId,
        exception: &Exception<'_>,
    ) -> Outcome {
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        let limits = self.limits();
        let mut cut = false;
        let frames = u16::try_from(exception.stack.len()).unwrap_or(u16::MAX);
        // Measure the members first: their length goes in front of them.
        let mut counter = crate::sink::CountingSink::new(u16::MAX as usize);
        let mut m = Members::new(&mut counter);
        if exception
            .write_members(&mut m, exception_id, limits)
            .is_err()
        {
            return Outcome::NoRoom;
        }
        let members_len = u16::try_from(counter.len()).unwrap_or(u16::MAX);
        let r = self.push(i, Section::Exception, |s| {
            s.write(&frames.to_le_bytes())?;
            s.write(&exception.truncated.to_le_bytes())?;
            s.write(&members_len.to_le_bytes())?;
            let mut m = Members::new(&mut *s);
            exception.write_members(&mut m, exception_id, limits)?;
            cut = m.cut;
            cut |= exception.write_frames(s, limits)?;
            Ok(())
        });
        self.outcome(r, cut)
    }

    /// Sets `cause` to the id of an exception recorded elsewhere in the trace (usually in a
    /// child). Ignored in the document when this entity has exceptions of its own.
    pub fn set_cause_id(&mut self, id: EntityId, exception_id: SegmentId) -> Outcome {
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        self.kill_section(i, Section::CauseId);
        let r = self.push(i, Section::CauseId, |s| json::segment_id(s, exception_id));
        self.outcome(r, false)
    }

    /// Sets `cause.working_directory`.
    pub fn set_working_directory(&mut self, id: EntityId, dir: &str) -> Outcome {
        let max = self.config.max_string_chars;
        self.replace_member(id, Section::CauseTop, "working_directory", |m| {
            m.str("working_directory", Some(dir), max)
        })
    }

    /// Sets the `fault` flag (a server-side error, 5xx).
    pub fn set_fault(&mut self, id: EntityId) -> Outcome {
        self.set_flag(id, FLAG_FAULT)
    }

    /// Sets the `error` flag (a client-side error, 4xx).
    pub fn set_error(&mut self, id: EntityId) -> Outcome {
        self.set_flag(id, FLAG_ERROR)
    }

    /// Sets the `throttle` flag (throttled, 429).
    pub fn set_throttle(&mut self, id: EntityId) -> Outcome {
        self.set_flag(id, FLAG_THROTTLE)
    }

    /// Sets `namespace`: `"aws"` for AWS SDK calls, `"remote"` for other downstream calls.
    pub fn set_namespace(&mut self, id: EntityId, namespace: &str) -> Outcome {
        self.set_top_str(id, "namespace", namespace, 250)
    }

    /// Sets `user` (cut to 250 characters).
    pub fn set_user(&mut self, id: EntityId, user: &str) -> Outcome {
        self.set_top_str(id, "user", user, 250)
    }

    /// Sets `origin` (`AWS::EC2::Instance`, `AWS::ECS::Container`…).
    pub fn set_origin(&mut self, id: EntityId, origin: &str) -> Outcome {
        self.set_top_str(id, "origin", origin, 250)
    }

    /// Sets `resource_arn`.
    pub fn set_resource_arn(&mut self, id: EntityId, arn: &str) -> Outcome {
        self.set_top_str(id, "resource_arn", arn, self.config.max_string_chars)
    }

    /// Sets `service.version`.
    pub fn set_service_version(&mut self, id: EntityId, version: &str) -> Outcome {
        self.replace_member(id, Section::Top, "service", |m| {
            m.raw("service", |s| {
                s.write(b"{\"version\":")?;
                json::string(s, version, 250)?;
                s.write(b"}")
            })
        })
    }

    /// Sets `traced`: this subsegment called a traced service, whose segment will name it as
    /// `parent_id`.
    pub fn set_traced(&mut self, id: EntityId) -> Outcome {
        self.replace_member(id, Section::Top, "traced", |m| m.flag("traced", true))
    }

    /// Adds a precursor id: a sibling subsegment that completed before this one.
    pub fn add_precursor_id(&mut self, id: EntityId, precursor: SegmentId) -> Outcome {
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        let r = self.push(i, Section::Precursor, |s| s.write(precursor.as_bytes()));
        self.outcome(r, false)
    }

    /// Records the sampling rule that matched, as `aws.xray.sampling_rule_name` (with the SDK
    /// name and version), on the segment.
    pub fn set_sampling_rule_name(&mut self, id: EntityId, rule: &str) -> Outcome {
        self.replace_member(id, Section::Aws, "xray", |m| {
            crate::model::write_xray_member(m, Some(rule))
        })
    }

    // ----- internals -----

    fn limits(&self) -> Limits {
        Limits {
            max_chars: self.config.max_string_chars,
        }
    }

    /// The slot index behind a live handle.
    fn slot(&self, id: EntityId) -> Option<usize> {
        let i = usize::from(id.slot);
        let s = self.slots.get(i)?;
        (s.state != SlotState::Free && s.generation == id.generation && self.trace.active)
            .then_some(i)
    }

    /// The slot index of an entity that can take fields.
    fn writable(&self, id: EntityId) -> Result<usize, Outcome> {
        let i = self.slot(id).ok_or(Outcome::NoEntity)?;
        if !self.trace.sampled {
            return Err(Outcome::NotSampled);
        }
        match self.slots[i].state {
            SlotState::Facade => return Err(Outcome::Rejected(Rejection::Facade)),
            SlotState::Unsampled => return Err(Outcome::NotSampled),
            _ => {}
        }
        Ok(i)
    }

    fn push(
        &mut self,
        slot: usize,
        section: Section,
        write: impl FnMut(&mut SliceSink<'_>) -> Result<(), Full>,
    ) -> Result<(), Full> {
        let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
        self.log.push(area, slot as u8, section, write)
    }

    fn kill_section(&mut self, slot: usize, section: Section) {
        let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
        self.log.kill_matching(area, slot as u8, Some(section), b"");
    }

    fn outcome(&mut self, r: Result<(), Full>, cut: bool) -> Outcome {
        match r {
            Ok(()) if cut => Outcome::Shortened,
            Ok(()) => Outcome::Recorded,
            Err(_) => {
                self.stats.fields_dropped += 1;
                Outcome::NoRoom
            }
        }
    }

    fn set_flag(&mut self, id: EntityId, flag: u8) -> Outcome {
        match self.writable(id) {
            Ok(i) => {
                self.slots[i].flags |= flag;
                Outcome::Recorded
            }
            Err(o) => o,
        }
    }

    fn set_top_str(&mut self, id: EntityId, key: &str, value: &str, max: usize) -> Outcome {
        let max = max.min(self.config.max_string_chars);
        self.replace_member(id, Section::Top, key, |m| m.str(key, Some(value), max))
    }

    /// Replaces every record of a section with the members `write` produces.
    fn replace_members(
        &mut self,
        id: EntityId,
        section: Section,
        write: impl Fn(&mut Members<'_, SliceSink<'_>>) -> Result<(), Full>,
    ) -> Outcome {
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        self.kill_section(i, section);
        self.push_members(i, section, write)
    }

    /// Replaces the member `key` of a section.
    fn replace_member(
        &mut self,
        id: EntityId,
        section: Section,
        key: &str,
        write: impl Fn(&mut Members<'_, SliceSink<'_>>) -> Result<(), Full>,
    ) -> Outcome {
        let i = match self.writable(id) {
            Ok(i) => i,
            Err(o) => return o,
        };
        // Match `"key":` exactly.
        let mut prefix = [0u8; 40];
        let n = key.len().min(36);
        prefix[0] = b'"';
        prefix[1..=n].copy_from_slice(&key.as_bytes()[..n]);
        prefix[n + 1..n + 3].copy_from_slice(b"\":");
        let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
        self.log
            .kill_matching(area, i as u8, Some(section), &prefix[..n + 3]);
        self.push_members(i, section, write)
    }

    fn push_members(
        &mut self,
        i: usize,
        section: Section,
        write: impl Fn(&mut Members<'_, SliceSink<'_>>) -> Result<(), Full>,
    ) -> Outcome {
        let mut cut = false;
        let mut empty = false;
        let r = self.push(i, section, |s| {
            let mut m = Members::new(s);
            write(&mut m)?;
            cut = m.cut;
            empty = m.is_empty();
            Ok(())
        });
        if r.is_ok() && empty {
            // Nothing set: do not leave an empty record (it would write `,` alone).
            let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
            if let Some(at) = self.log.last_at(area) {
                self.log.kill(area, at);
            }
        }
        self.outcome(r, cut)
    }

    fn start_trace(&mut self, sampled: bool) {
        self.trace.active = true;
        self.trace.sampled = sampled;
        self.trace.annotations = 0;
        if !sampled {
            self.stats.unsampled += 1;
        }
    }

    /// Takes a free slot for a new entity and records its name.
    fn open(
        &mut self,
        parent: u8,
        state: SlotState,
        id: SegmentId,
        start: Timestamp,
        name: &str,
    ) -> EntityId {
        let Some(i) = self.slots.iter().position(|s| s.state == SlotState::Free) else {
            self.stats.begins_refused += 1;
            if parent == NO_PARENT {
                self.reset();
            }
            return EntityId::NONE;
        };
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let mut name_len = 0;
        if self.trace.sampled && state == SlotState::Open {
            let r = self.push(i, Section::Name, |s| {
                let before = s.len();
                s.write(b"\"name\":")?;
                json::name(s, name)?;
                name_len = s.len() - before;
                Ok(())
            });
            // The name is required, and room must stay for this entity's smallest document.
            let fits = r.is_ok()
                && self.used + self.reserve_all() + MIN_DOC_OVERHEAD + name_len <= self.limit();
            if !fits {
                let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
                self.log.kill_matching(area, i as u8, None, b"");
                self.stats.begins_refused += 1;
                if parent == NO_PARENT {
                    self.reset();
                }
                return EntityId::NONE;
            }
        }
        self.slots[i] = Slot {
            state,
            generation,
            parent,
            id,
            start,
            flags: 0,
            region_start: 0,
            region_len: 0,
            name_len,
        };
        self.reserved += self.own_reserve(i);
        if parent == NO_PARENT
            && self.trace.sampled
            && self.config.sdk_block
            && state == SlotState::Open
        {
            let _ = self.push_members(i, Section::Aws, |m| {
                crate::model::write_xray_member(m, None)
            });
        }
        EntityId {
            slot: i as u8,
            generation,
        }
    }

    fn limit(&self) -> usize {
        self.log_start
    }

    /// Room kept for slot `i`'s smallest document while it is open.
    fn own_reserve(&self, i: usize) -> usize {
        let s = &self.slots[i];
        if self.trace.sampled && s.state == SlotState::Open {
            MIN_DOC_OVERHEAD + s.name_len
        } else {
            0
        }
    }

    /// Room to keep for the smallest documents of every open entity but `except`.
    fn reserve_except(&self, except: usize) -> usize {
        self.reserved - self.own_reserve(except)
    }

    fn reserve_all(&self) -> usize {
        self.reserved
    }

    /// Closes slot `i` (its open children first) and frees it. `depth` bounds the recursion.
    fn close<T: Transport + ?Sized>(
        &mut self,
        i: usize,
        end: Timestamp,
        transport: &mut T,
        depth: usize,
    ) {
        if depth > 0 {
            for j in 0..N {
                if self.slots[j].state != SlotState::Free
                    && usize::from(self.slots[j].parent) == i
                    && j != i
                {
                    self.close(j, end, transport, depth - 1);
                }
            }
        }
        let own = self.own_reserve(i);
        self.write_closed(i, end, transport);
        self.reserved -= own;
        self.kill_records(i);
        self.slots[i] = Slot {
            generation: self.slots[i].generation,
            ..FREE
        };
    }

    /// Writes slot `i`'s document: sent (a segment, or a subsegment that streams) or added to
    /// its parent's children.
    fn write_closed<T: Transport + ?Sized>(&mut self, i: usize, end: Timestamp, transport: &mut T) {
        let slot = self.slots[i];
        if slot.state != SlotState::Open || !self.trace.sampled {
            return;
        }
        self.move_region_to_tail(i);
        let slot = self.slots[i];
        let parent = usize::from(slot.parent);
        let is_segment = slot.parent == NO_PARENT;
        if is_segment {
            let doc = Doc {
                slot_index: i as u8,
                slot: &slot,
                end,
                trace_id: Some(self.trace.id),
                parent_id: self.trace.parent,
            };
            let cap = self.limit();
            if self.write_document(i, &doc, cap, transport).is_some() {
                self.send(SCRATCH, transport);
            }
            return;
        }
        let parent_is_facade = self.slots[parent].state == SlotState::Facade;
        let doc = Doc {
            slot_index: i as u8,
            slot: &slot,
            end,
            trace_id: None,
            parent_id: None,
        };
        if !parent_is_facade && !self.config.stream_all {
            let cap = self.limit() - self.reserve_except(i);
            let comma = self.slots[parent].region_len > 0;
            if let Some(start) = self.try_level(i, &doc, cap, comma, Level::Full) {
                self.embed(parent, start);
                // This slot's children now live inside its parent's run.
                self.slots[i].region_len = 0;
                self.slots[i].state = SlotState::Free;
                self.keep_headroom(transport);
                return;
            }
        }
        // On its own: header + independent prefix + document within the budget.
        let budget_cap =
            slot.region_start + self.config.budget + 1 - HEADER_LEN - INDEPENDENT_PREFIX_LEN;
        let cap = self.limit().min(budget_cap);
        if let Some(start) = self.write_document(i, &doc, cap, transport) {
            let parent_id = self.slots[parent].id;
            let end = self.used;
            self.send_independent(start, end, parent_id, transport);
            self.used = start;
        }
    }

    /// Moves slot `i`'s run of closed children to the end of the datagram.
    fn move_region_to_tail(&mut self, i: usize) {
        let (rs, rl) = (self.slots[i].region_start, self.slots[i].region_len);
        if rl == 0 {
            self.slots[i].region_start = self.used;
            return;
        }
        if rs + rl != self.used {
            self.buf.as_mut()[rs..self.used].rotate_left(rl);
            for s in self.slots.iter_mut() {
                if s.state != SlotState::Free && s.region_len > 0 && s.region_start > rs {
                    s.region_start -= rl;
                }
            }
            self.slots[i].region_start = self.used - rl;
        }
    }

    /// Writes slot `i`'s document around its children (which are at the tail) within `cap`.
    /// If it does not fit whole, its children are sent on their own first; then it gives way
    /// level by level. Returns where the document starts.
    fn write_document<T: Transport + ?Sized>(
        &mut self,
        i: usize,
        doc: &Doc<'_>,
        cap: usize,
        transport: &mut T,
    ) -> Option<usize> {
        if let Some(start) = self.try_level(i, doc, cap, false, Level::Full) {
            return Some(start);
        }
        if self.slots[i].region_len > 0 {
            self.evict_children(i, transport);
            self.slots[i].region_start = self.used;
        }
        for level in [
            Level::Full,
            Level::NoMetadata,
            Level::NoStacks,
            Level::Minimal,
        ] {
            if let Some(start) = self.try_level(i, doc, cap, false, level) {
                match level {
                    Level::Full => {}
                    Level::NoMetadata => self.stats.metadata_dropped += 1,
                    Level::NoStacks => self.stats.stacks_dropped += 1,
                    Level::Minimal => self.stats.minimal_documents += 1,
                }
                return Some(start);
            }
        }
        // Unreachable while the reserve holds; drop rather than write past the budget.
        self.stats.minimal_documents += 1;
        None
    }

    /// Writes `[,]{fields[,"subsegments":[` at the tail, then moves it in front of the
    /// children and closes the document, all within `cap` (an offset in the buffer).
    fn try_level(
        &mut self,
        i: usize,
        doc: &Doc<'_>,
        cap: usize,
        comma: bool,
        level: Level,
    ) -> Option<usize> {
        let (rs, rl) = (self.slots[i].region_start, self.slots[i].region_len);
        let closing = if rl > 0 { 2 } else { 1 };
        let used = self.used;
        let end = cap.checked_sub(closing)?;
        if end < used {
            return None;
        }
        let (dgram, area) = self.buf.as_mut().split_at_mut(self.log_start);
        let mut s = SliceSink::new(&mut dgram[used..end]);
        let written = (|| {
            if comma {
                s.write(b",")?;
            }
            s.write(b"{")?;
            write_fields(&mut s, &self.log, area, doc, level)?;
            if rl > 0 {
                s.write(b",\"subsegments\":[")?;
            }
            Ok::<usize, Full>(s.len())
        })();
        let chunk = written.ok()?;
        let mut tail = used + chunk;
        if rl > 0 {
            dgram[rs..tail].rotate_right(chunk);
            dgram[tail..tail + 2].copy_from_slice(b"]}");
            tail += 2;
        } else {
            dgram[tail] = b'}';
            tail += 1;
        }
        self.used = tail;
        Some(rs)
    }

    /// Adds the document at `[start, used)` to the parent's run of children.
    fn embed(&mut self, parent: usize, start: usize) {
        let len = self.used - start;
        let p = self.slots[parent];
        if p.region_len == 0 {
            self.slots[parent].region_start = start;
            self.slots[parent].region_len = len;
            return;
        }
        let pe = p.region_start + p.region_len;
        if pe != start {
            self.buf.as_mut()[pe..self.used].rotate_right(len);
            for (j, s) in self.slots.iter_mut().enumerate() {
                if j != parent
                    && s.state != SlotState::Free
                    && s.region_len > 0
                    && s.region_start >= pe
                {
                    s.region_start += len;
                }
            }
        }
        self.slots[parent].region_len += len;
    }

    fn kill_records(&mut self, i: usize) {
        let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
        self.log.kill_matching(area, i as u8, None, b"");
    }

    /// Sends `[from, used)` as one datagram.
    fn send<T: Transport + ?Sized>(&mut self, from: usize, transport: &mut T) {
        let d = &self.buf.as_ref()[from..self.used];
        self.stats.datagrams += 1;
        self.stats.bytes += d.len() as u64;
        transport.send(d);
    }

    /// Sends the document at `[start, end)` as an independent subsegment of `parent`: the
    /// header and the independent prefix are written over the bytes in front of it, which are
    /// saved and put back afterwards.
    fn send_independent<T: Transport + ?Sized>(
        &mut self,
        start: usize,
        end: usize,
        parent: SegmentId,
        transport: &mut T,
    ) {
        let from = start + 1 - SCRATCH;
        let mut saved = [0u8; SCRATCH];
        let trace_id = self.trace.id;
        let buf = self.buf.as_mut();
        saved.copy_from_slice(&buf[from..=start]);
        {
            let mut s = SliceSink::new(&mut buf[from..=start]);
            let _ = s.write(DAEMON_HEADER);
            let _ = s.write(b"\n{\"type\":\"subsegment\",\"trace_id\":");
            let _ = json::trace_id(&mut s, trace_id);
            let _ = s.write(b",\"parent_id\":");
            let _ = json::segment_id(&mut s, parent);
            let _ = s.write(b",");
            debug_assert_eq!(s.len(), SCRATCH);
        }
        let d = &buf[from..end];
        self.stats.datagrams += 1;
        self.stats.bytes += d.len() as u64;
        self.stats.streamed += 1;
        transport.send(d);
        buf[from..=start].copy_from_slice(&saved);
    }

    /// Sends each closed child in slot `p`'s run as an independent subsegment and frees the
    /// run's bytes.
    fn evict_children<T: Transport + ?Sized>(&mut self, p: usize, transport: &mut T) {
        let (rs, rl) = (self.slots[p].region_start, self.slots[p].region_len);
        if rl == 0 {
            return;
        }
        let parent_id = self.slots[p].id;
        let end = rs + rl;
        let mut at = rs;
        while at < end {
            if self.buf.as_ref()[at] == b',' {
                at += 1;
                continue;
            }
            // Our own output: always a complete object here.
            let Some(len) = object_len(&self.buf.as_ref()[at..end]) else {
                break;
            };
            self.send_independent(at, at + len, parent_id, transport);
            at += len;
        }
        let used = self.used;
        self.buf.as_mut().copy_within(end..used, rs);
        for s in self.slots.iter_mut() {
            if s.state != SlotState::Free && s.region_len > 0 && s.region_start > rs {
                s.region_start -= rl;
            }
        }
        self.used -= rl;
        self.slots[p].region_len = 0;
    }

    /// Keeps room for one more subsegment to begin: when the free space runs low, the largest
    /// run of closed children is sent as independent subsegments.
    fn keep_headroom<T: Transport + ?Sized>(&mut self, transport: &mut T) {
        for _ in 0..N {
            let free = self.limit().saturating_sub(self.used + self.reserve_all());
            if free >= HEADROOM {
                return;
            }
            let largest = (0..N)
                .filter(|&j| self.slots[j].state == SlotState::Open && self.slots[j].region_len > 0)
                .max_by_key(|&j| self.slots[j].region_len);
            match largest {
                Some(j) => self.evict_children(j, transport),
                None => return,
            }
        }
    }
}

/// The length of the JSON object at the start of `bytes`, found by tracking nesting outside
/// strings.
fn object_len(bytes: &[u8]) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}
