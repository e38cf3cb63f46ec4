//! A tracer's counters.

use std::sync::atomic::{AtomicU64, Ordering};

use xray_core::RecorderStats;

/// Counters of what a [`Tracer`](crate::Tracer) did, for observability (all since the tracer
/// was built).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TracerStats {
    /// Traces recorded (sampled or not), each with a recorder from the pool.
    pub traces: u64,
    /// Traces recorded sampled.
    pub sampled: u64,
    /// Requests that found no recorder (the pool was at its maximum): nothing was recorded
    /// for them, and their handle propagated the incoming header downstream unchanged (Root,
    /// the upstream Parent, Sampled).
    pub pool_exhausted: u64,
    /// Recorders the pool holds (free or lent), grown on demand up to its maximum.
    pub recorders: u64,
    /// Incoming trace headers with a field that could not be read (a malformed Root, Parent
    /// or Sampled), which was left out while the others were kept; and invalid W3C
    /// `traceparent` headers, ignored as a whole (see `integrations::propagation`).
    pub malformed_headers: u64,
    /// Calls made for a segment or subsegment that had already ended.
    pub context_missing: u64,
    /// Panics in code the tracer calls (sampler, transport, `Serialize` of metadata) while a
    /// trace was being recorded: that trace was abandoned, its recorder reset and reused.
    pub panics: u64,
    /// Datagrams handed to the transport.
    pub datagrams: u64,
    /// Bytes handed to the transport.
    pub bytes: u64,
    /// Subsegments sent as independent documents.
    pub streamed: u64,
    /// Values the recorders dropped for lack of room (fields, metadata, stacks), summed.
    pub degraded: u64,
    /// URLs and connection strings recorded as `[redacted]` because they could not be read
    /// with confidence (the recorders' `values_redacted`, summed; each such call's outcome was
    /// `Outcome::Redacted`).
    pub redacted: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) traces: AtomicU64,
    pub(crate) sampled: AtomicU64,
    pub(crate) pool_exhausted: AtomicU64,
    pub(crate) malformed_headers: AtomicU64,
    pub(crate) context_missing: AtomicU64,
    pub(crate) panics: AtomicU64,
    datagrams: AtomicU64,
    bytes: AtomicU64,
    streamed: AtomicU64,
    degraded: AtomicU64,
    redacted: AtomicU64,
}

/// Adds one to a counter and returns the new value.
pub(crate) fn bump(counter: &AtomicU64) -> u64 {
    counter.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
}

impl Counters {
    /// Adds what a recorder did between two snapshots of its stats.
    pub(crate) fn add_recorder(&self, before: &RecorderStats, after: &RecorderStats) {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        let add = |c: &AtomicU64, v: u64| {
            if v > 0 {
                c.fetch_add(v, Ordering::Relaxed);
            }
        };
        add(
            &self.datagrams,
            d(after.datagrams.into(), before.datagrams.into()),
        );
        add(&self.bytes, d(after.bytes, before.bytes));
        add(
            &self.streamed,
            d(after.streamed.into(), before.streamed.into()),
        );
        let degraded = |s: &RecorderStats| {
            u64::from(s.fields_dropped)
                + u64::from(s.metadata_dropped)
                + u64::from(s.stacks_dropped)
                + u64::from(s.minimal_documents)
        };
        add(&self.degraded, d(degraded(after), degraded(before)));
        add(
            &self.redacted,
            d(after.values_redacted.into(), before.values_redacted.into()),
        );
    }

    pub(crate) fn snapshot(&self, recorders: u64) -> TracerStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TracerStats {
            traces: l(&self.traces),
            sampled: l(&self.sampled),
            pool_exhausted: l(&self.pool_exhausted),
            recorders,
            malformed_headers: l(&self.malformed_headers),
            context_missing: l(&self.context_missing),
            panics: l(&self.panics),
            datagrams: l(&self.datagrams),
            bytes: l(&self.bytes),
            streamed: l(&self.streamed),
            degraded: l(&self.degraded),
            redacted: l(&self.redacted),
        }
    }
}
