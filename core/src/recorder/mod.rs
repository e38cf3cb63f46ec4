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
//! field log of the open entities (see `field_log`, and `layout` for the bytes of each record). A closed subsegment becomes bytes at once:
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

// The files:
//
// - `mod.rs`: the recorder's state, beginning entities and ending them (this file);
// - `record.rs`: the recording calls (annotations, metadata, http, errors…), which write
//   each field as JSON into the field log;
// - `field_log.rs`: the log of open entities' fields and its operations (push, kill, squeeze);
// - `layout.rs`: the byte layout of every record kept in the buffer, one accessor per field;
// - `fields.rs`: writes one entity's own fields from the log, at a level of detail;
// - `fields_in_order.rs`: the same in one pass, when the records came in document order (the
//   default build's common case; not with `small`);
// - `close.rs`: closes an entity and places its document (in its parent's run of children, or
//   out as its own datagram), the byte budget and sending;
// - `byte_moves.rs`: moving bytes inside the buffer (rotations, left shifts);
// - `invariants.rs`: `check_invariants`, run after each call in debug and fuzz builds;
// - `config.rs`, `outcome.rs`, `sampling.rs`: the settings, the results, the decision.
mod byte_moves;
mod close;
mod config;
mod field_log;
mod fields;
#[cfg(not(feature = "small"))]
mod fields_in_order;
#[cfg(debug_assertions)]
mod invariants;
mod layout;
mod outcome;
mod record;
mod sampling;

pub use config::{MIN_BUDGET, RecorderConfig};
pub use outcome::{Outcome, RecorderStats, Rejection};
pub use sampling::Sampling;

use crate::DAEMON_HEADER;
use crate::header::{SampledFlag, TraceHeader};
use crate::id::{SegmentId, TraceId};
use crate::json;
use crate::model::Limits;
use crate::name::EntityName;
use crate::sink::{Full, Sink, SliceSink};
use crate::time::{Clock, Timestamp};
use crate::transport::Transport;
use field_log::{FieldLog, Section};
use fields::Writers;
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
/// The largest document of an entity at [`Level::Minimal`](fields::Level::Minimal), less
/// its name: the independent prefix, id, two timestamps of up to 27 digits, three flags, an
/// empty `subsegments` array and a separating comma.
const MIN_DOC_OVERHEAD: usize =
    INDEPENDENT_PREFIX_LEN + 7 + 24 + 14 + 27 + 12 + 27 + 13 + 13 + 16 + 16 + 1 + 1 + 1;
/// Free room kept after a child joins its parent, so that another subsegment (with a name of
/// up to 64 bytes) can begin.
const HEADROOM: usize = MIN_DOC_OVERHEAD + 7 + 64;
/// Bookkeeping that saves walks and searches at the cost of code: where each entity's records
/// start in the field log, a count of its open children, one bit per annotation or metadata
/// key it recorded, and cutting the field log back when a closing entity's records end it. Left out with the `small` feature (less
/// code, more reading), where the walks are done instead.
const BOOKKEEPING: bool = !cfg!(feature = "small");
/// Field-log bytes kept at the least, whatever the budget.
const MIN_FIELD_LOG: usize = 256;

pub(crate) const FLAG_ERROR: u8 = 1;
pub(crate) const FLAG_FAULT: u8 = 2;
pub(crate) const FLAG_THROTTLE: u8 = 4;
const NO_PARENT: u8 = u8::MAX;
/// The field-log slot of trace-wide records (entity slots are below it).
const TRACE_SLOT: u8 = u8::MAX;

/// Puts the daemon header line where every datagram starts (a buffer too small for it has a
/// budget of 0 and never sends).
fn write_daemon_header(buf: &mut [u8]) {
    if let Some(h) = buf.get_mut(SCRATCH..SCRATCH + HEADER_LEN) {
        h[..DAEMON_HEADER.len()].copy_from_slice(DAEMON_HEADER);
        h[DAEMON_HEADER.len()] = b'\n';
    }
}

/// The start of the `aws.xray` object: [`crate::SDK_NAME`] and [`crate::SDK_VERSION`], which
/// need no escaping (a test checks that this agrees with them).
const XRAY_SDK: &str = concat!(
    "{\"sdk\":\"",
    sdk_name!(),
    "\",\"sdk_version\":\"",
    env!("CARGO_PKG_VERSION"),
    "\""
);

/// Writes the `aws.xray` object: the SDK's name and version (constants: no escaping needed)
/// and the sampling rule that matched, if given (cut to 64 characters; returns whether it was).
fn write_xray(s: &mut SliceSink<'_>, rule: Option<&str>) -> Result<bool, Full> {
    s.write(XRAY_SDK.as_bytes())?;
    let mut cut = false;
    if let Some(rule) = rule {
        s.write(b",\"sampling_rule_name\":")?;
        cut = json::string(s, rule, 64)?;
    }
    s.byte(b'}')?;
    Ok(cut)
}

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
    /// Sections this entity has recorded into (one bit per `Section`); a clear bit means no
    /// record of that section exists, so nothing needs to be looked up or replaced.
    sections: u16,
    /// A field-log record boundary at or before this entity's first live record (while
    /// `sections` is not 0): walks over its records start here rather than at the log's
    /// start. Squeezing the log sets every slot's back to 0.
    pub(crate) log_from: u16,
    /// Open entities whose parent this is: closing skips looking for them when there are none.
    children: u8,
    /// The `field_log::key_bit`s of the annotation and metadata keys this entity recorded: a
    /// key whose bit is clear is new, and nothing is walked to replace an earlier value.
    pub(crate) keys: u16,
}

impl Slot {
    fn has(&self, section: Section) -> bool {
        self.sections & (1 << (section as u8)) != 0
    }

    /// Where walks over this entity's records start: `log_from`, or the log's start with
    /// `small` (which keeps no starting points).
    pub(crate) fn log_from(&self) -> usize {
        if BOOKKEEPING {
            usize::from(self.log_from)
        } else {
            0
        }
    }
}

/// A free slot: all zero bytes, so that `[FREE; N]` is written in place as a memset. With one
/// non-zero byte the compiler built the slots on the stack and copied them (the firmware's
/// stack bound in its size budget catches that). Only a free slot's `state` is ever read:
/// `open` writes the rest.
const FREE: Slot = Slot {
    state: SlotState::Free,
    generation: 0,
    parent: 0,
    id: SegmentId::ZERO,
    start: Timestamp::from_micros(0),
    flags: 0,
    region_start: 0,
    region_len: 0,
    name_len: 0,
    sections: 0,
    log_from: 0,
    children: 0,
    keys: 0,
};
const _: () = assert!(SlotState::Free as u8 == 0 && FREE.parent == 0 && FREE.flags == 0);

/// The trace the recorder is working on.
#[derive(Clone, Debug)]
struct Trace {
    active: bool,
    sampled: bool,
    id: TraceId,
    /// The upstream caller's id, written as the segment's `parent_id`.
    parent: Option<SegmentId>,
    annotations: u16,
}

impl Trace {
    /// No trace in progress. The id is read only while a trace is active, so its value here
    /// is free: all ones rather than all zeros, because a run of zero bytes this long made the
    /// compiler clear it with `memclr`, which firmware would link for this use alone (see the
    /// firmware's size budget).
    const IDLE: Trace = Trace {
        active: false,
        sampled: false,
        id: TraceId::from_parts(u32::MAX, [u8::MAX; 12]),
        parent: None,
        annotations: 0,
    };
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
    /// Writers of the optional sections, set by the calls that record them.
    writers: Writers,
}

/// On `Recorder<[u8; 0]>` alone, so that `Recorder::buffer_len(…)` needs no type parameters.
impl Recorder<[u8; 0]> {
    /// The buffer length a recorder needs for a datagram `budget` and `field_log` bytes of
    /// field log (at least 256 are kept, whatever is asked): the budget, the working room in
    /// front of the datagram and the log.
    ///
    /// ```
    /// use xray_core::recorder::{Recorder, RecorderConfig};
    ///
    /// const LEN: usize = Recorder::buffer_len(1472, 1024);
    /// let rec: Recorder<[u8; LEN]> = Recorder::new([0; LEN], RecorderConfig::with_budget(1472));
    /// assert_eq!(rec.budget(), 1472);
    /// ```
    pub const fn buffer_len(budget: usize, field_log: usize) -> usize {
        let log = if field_log > MIN_FIELD_LOG {
            field_log
        } else {
            MIN_FIELD_LOG
        };
        SCRATCH + budget + log
    }
}

impl<B: AsMut<[u8]> + AsRef<[u8]>, const N: usize> Recorder<B, N> {
    /// A recorder writing into `buf`.
    ///
    /// The buffer holds the datagram (the budget plus 131 bytes of working room) and the field
    /// log (the rest, at least 256 bytes): [`Recorder::buffer_len`] tells the length for a
    /// budget. If `buf` is too small for the configured budget,
    /// the budget shrinks to fit; [`Recorder::budget`] tells the effective value. A budget
    /// below [`MIN_BUDGET`] (configured, or forced by a tiny buffer) disables the recorder:
    /// every begin is refused and counted, and nothing is ever sent. A buffer of budget +
    /// 4 KiB suits most services.
    pub fn new(mut buf: B, config: RecorderConfig) -> Self {
        const {
            assert!(
                N > 0 && N < TRACE_SLOT as usize,
                "a recorder has 1 to 254 slots"
            )
        };
        let len = buf.as_mut().len();
        let room = len.saturating_sub(SCRATCH + MIN_FIELD_LOG);
        // Never send more than allowed: below the minimum the recorder records nothing.
        let budget = match config.budget.min(room) {
            b if b < MIN_BUDGET => 0,
            b => b,
        };
        let config = RecorderConfig { budget, ..config };
        write_daemon_header(buf.as_mut());
        // Built as one literal (no `reset` on a local copy) so that a caller placing the
        // recorder in a static gets it written in place, not built on the stack and copied.
        Self {
            buf,
            config,
            log_start: SCRATCH + budget,
            used: SCRATCH + HEADER_LEN,
            log: FieldLog::default(),
            slots: [FREE; N],
            reserved: 0,
            trace: Trace::IDLE,
            stats: RecorderStats::default(),
            generation: 0,
            writers: Writers::default(),
        }
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
        let flag = SampledFlag::from_bool(sampled);
        let mut header = TraceHeader::with(self.trace.id, Some(self.slots[i].id), flag);
        let area = &self.buf.as_ref()[self.log_start..];
        if let Some(extra) = self.log.of(area, TRACE_SLOT, Section::Upstream).next() {
            // Checked when the upstream header was parsed, and within its capacity.
            let text = core::str::from_utf8(extra.payload).unwrap_or("");
            for (key, value) in text.split(';').filter_map(|kv| kv.split_once('=')) {
                let _ = header.push_extra(key, value);
            }
        }
        Some(header)
    }

    /// Keeps the upstream header's extra fields (such as `Lineage`) to forward downstream.
    fn keep_upstream_extra(&mut self, upstream: Option<&TraceHeader>) {
        let Some(extra) = upstream.map(TraceHeader::extra).filter(|e| !e.is_empty()) else {
            return;
        };
        let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
        let pushed = self.log.push(area, TRACE_SLOT, Section::Upstream, |s| {
            s.write(extra.as_bytes())
        });
        if pushed.is_err() {
            self.stats.fields_dropped += 1;
        }
    }

    /// Abandons the trace in progress without sending anything.
    #[inline(never)]
    pub fn reset(&mut self) {
        // Only the state of a free slot is ever read (every other field is written when the
        // slot is taken again), and a strided store is not turned into a `memclr` call.
        for s in self.slots.iter_mut() {
            s.state = SlotState::Free;
        }
        self.reserved = 0;
        self.log.clear();
        self.trace.active = false;
        self.trace.sampled = false;
        self.trace.annotations = 0;
        self.trace.parent = None;
        write_daemon_header(self.buf.as_mut());
        self.used = SCRATCH + HEADER_LEN;
        self.checked();
    }

    /// Begins the segment of a new trace.
    ///
    /// With an `upstream` header that has a Root, the trace continues it (its Parent becomes
    /// the segment's `parent_id`, its extra fields are forwarded); otherwise a new trace id is
    /// made from the clock and `rng`. `sampling` is the sampling decision: a `bool`, or the
    /// sampler's [`Decision`](crate::Decision) (see [`Sampling`]), whose rule name is written
    /// as `aws.xray.sampling_rule_name`. When the clock does not know the epoch yet, the trace
    /// is not sampled.
    ///
    /// `name` is a [`Name`](crate::Name), written as it is, or any string, filtered to X-Ray's
    /// rules as it is recorded (see [`EntityName`]); the same holds for subsegments.
    ///
    /// Returns [`EntityId::NONE`] (and counts it) if a trace is already in progress or the
    /// name does not fit.
    pub fn begin_segment<'a, C: Clock + ?Sized, R: Rng + ?Sized>(
        &mut self,
        name: impl EntityName,
        upstream: Option<&TraceHeader>,
        sampling: impl Into<Sampling<'a>>,
        clock: &C,
        rng: &mut R,
    ) -> EntityId {
        if self.trace.active || self.budget() == 0 {
            self.stats.begins_refused += 1;
            return EntityId::NONE;
        }
        let Sampling { sampled, rule } = sampling.into();
        let now = clock.now();
        let sampled = sampled && now.is_some();
        if now.is_none() {
            self.stats.clock_unset += 1;
        }
        let now = now.unwrap_or_default();
        let root = upstream.and_then(TraceHeader::root);
        self.trace.id = root.unwrap_or_else(|| TraceId::generate(now, rng));
        self.trace.parent = root.and_then(|_| upstream.and_then(TraceHeader::parent));
        self.keep_upstream_extra(upstream);
        self.start_trace(sampled);
        let id = SegmentId::generate(rng);
        let seg = self.open(NO_PARENT, SlotState::Open, id, now, Some(&name));
        if let Some(i) = self.slot(seg)
            && self.trace.sampled
            && (self.config.sdk_block || rule.is_some())
        {
            self.push_xray(i, rule);
        }
        seg
    }

    /// Records the segment's `aws.xray` object: the SDK block and the sampling rule, if any.
    /// A rule name over 64 characters is cut (a local rule's name has at most 32 bytes).
    #[inline(never)]
    fn push_xray(&mut self, i: usize, rule: Option<&str>) {
        let r = self.push(i, Section::Aws, |s| {
            s.write(b"\"xray\":")?;
            write_xray(s, rule).map(|_cut| ())
        });
        let _ = self.outcome(r, false);
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
            self.keep_upstream_extra(Some(header));
            self.start_trace(false);
            return self.open(
                NO_PARENT,
                SlotState::Facade,
                header.parent().unwrap_or(SegmentId::ZERO),
                Timestamp::default(),
                None,
            );
        };
        self.trace.id = root;
        self.trace.parent = None;
        self.keep_upstream_extra(Some(header));
        self.start_trace(header.sampled() == SampledFlag::Sampled);
        self.open(
            NO_PARENT,
            SlotState::Facade,
            parent,
            Timestamp::default(),
            None,
        )
    }

    /// Begins a subsegment of `parent` (a segment, subsegment or facade of this trace).
    pub fn begin_subsegment<C: Clock + ?Sized, R: Rng + ?Sized>(
        &mut self,
        parent: EntityId,
        name: impl EntityName,
        clock: &C,
        rng: &mut R,
    ) -> EntityId {
        self.begin_child(parent, &name, clock.now(), SegmentId::generate(rng), false)
    }

    /// Begins a subsegment that is never sampled, whatever the trace's decision: nothing
    /// under it is recorded or sent, and calls made from it carry `Sampled=0` downstream.
    /// This is the oversampling mitigation for work that fans out (for example one subsegment
    /// per message of a batch, whose own traces are decided per message).
    pub fn begin_unsampled_subsegment<C: Clock + ?Sized, R: Rng + ?Sized>(
        &mut self,
        parent: EntityId,
        name: impl EntityName,
        clock: &C,
        rng: &mut R,
    ) -> EntityId {
        self.begin_child(parent, &name, clock.now(), SegmentId::generate(rng), true)
    }

    /// Opens a child of `parent`; it is unsampled if asked or if its parent is.
    fn begin_child(
        &mut self,
        parent: EntityId,
        name: &dyn EntityName,
        now: Option<Timestamp>,
        id: SegmentId,
        unsampled: bool,
    ) -> EntityId {
        let Some(p) = self.slot(parent) else {
            return EntityId::NONE;
        };
        let now = now.unwrap_or(self.slots[p].start);
        let state = if unsampled || self.slots[p].state == SlotState::Unsampled {
            SlotState::Unsampled
        } else {
            SlotState::Open
        };
        self.open(p as u8, state, id, now, Some(name))
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
        self.end_slot(i, now, transport)
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
        self.end_slot(i, end, transport)
    }

    /// [`Recorder::end_at`] for the live slot `i`.
    fn end_slot<T: Transport + ?Sized>(
        &mut self,
        i: usize,
        end: Timestamp,
        transport: &mut T,
    ) -> Outcome {
        let is_root = self.slots[i].parent == NO_PARENT;
        // Read before `reset`, which clears it when the segment ends.
        let sampled = self.trace.sampled;
        self.close(i, end, transport, N);
        if is_root {
            self.reset();
        }
        self.checked();
        if sampled {
            Outcome::Recorded
        } else {
            Outcome::NotSampled
        }
    }

    /// Checks the recorder's invariants (debug and fuzz builds; nothing in release builds).
    #[inline(always)]
    fn checked(&self) {
        #[cfg(debug_assertions)]
        self.check_invariants();
    }

    fn limits(&self) -> Limits {
        Limits {
            max_chars: self.config.max_string_chars,
        }
    }

    /// The slot index behind a live handle.
    // Called by every recording call: inlined it is fast, out of line it is small.
    #[cfg_attr(not(feature = "small"), inline)]
    #[cfg_attr(feature = "small", inline(never))]
    fn slot(&self, id: EntityId) -> Option<usize> {
        let i = usize::from(id.slot);
        let s = self.slots.get(i)?;
        (s.state != SlotState::Free && s.generation == id.generation && self.trace.active)
            .then_some(i)
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
        name: Option<&dyn EntityName>,
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
        if let Some(name) = name.filter(|_| self.trace.sampled && state == SlotState::Open) {
            let r = self.push(i, Section::Name, |s| {
                let before = s.len();
                s.write(b"\"name\":")?;
                name.write_json(s)?;
                name_len = s.len() - before;
                Ok(())
            });
            // The name is required, and room must stay for this entity's smallest document.
            let fits = r.is_ok()
                && self.used + self.reserved + MIN_DOC_OVERHEAD + name_len <= self.limit();
            if !fits {
                let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
                self.log.kill_matching(area, 0, i as u8, None, None);
                self.stats.begins_refused += 1;
                if parent == NO_PARENT {
                    self.reset();
                }
                return EntityId::NONE;
            }
        }
        // Where the name was pushed (after any squeeze it caused): the entity's first record.
        let log_from = if BOOKKEEPING && name_len > 0 {
            log_offset(self.log.last_at())
        } else {
            0
        };
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
            log_from,
            children: 0,
            keys: 0,
            // The name (if any) was recorded above, before the slot was filled in.
            sections: if name_len > 0 {
                1 << (Section::Name as u8)
            } else {
                0
            },
        };
        if let Some(p) = self
            .slots
            .get_mut(usize::from(parent))
            .filter(|_| BOOKKEEPING)
        {
            p.children += 1;
        }
        self.reserved += self.own_reserve(i);
        self.checked();
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

    fn kill_records(&mut self, i: usize) {
        // A segment's records go with the whole log when the trace ends.
        if self.slots[i].sections == 0 || self.slots[i].parent == NO_PARENT {
            return;
        }
        let from = self.slots[i].log_from();
        let (_, area) = self.buf.as_mut().split_at_mut(self.log_start);
        if !BOOKKEEPING {
            self.log.kill_matching(area, from, i as u8, None, None);
            return;
        }
        if let Some(len) = self.log.kill_slot(area, from, i as u8) {
            // The log was cut back: every starting point stays within it (a slot whose
            // records all died may have one past the new end).
            let len = log_offset(len);
            for s in self.slots.iter_mut() {
                s.log_from = s.log_from.min(len);
            }
        }
    }
}

/// A field-log offset as a slot's `log_from`: 0 (the log's start, always a record boundary)
/// for an offset that does not fit.
pub(crate) fn log_offset(at: usize) -> u16 {
    u16::try_from(at).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_sdk_members_agree_with_the_constants() {
        let mut buf = [0u8; 128];
        let mut s = SliceSink::new(&mut buf);
        write_xray(&mut s, Some("Default")).unwrap();
        let mut want = [0u8; 128];
        let mut w = SliceSink::new(&mut want);
        for part in [
            "{\"sdk\":\"",
            crate::SDK_NAME,
            "\",\"sdk_version\":\"",
            crate::SDK_VERSION,
            "\",\"sampling_rule_name\":\"Default\"}",
        ] {
            w.write(part.as_bytes()).unwrap();
        }
        assert_eq!(s.as_bytes(), w.as_bytes());
    }
}
