//! Writes one entity's own fields (everything but `subsegments`) from its slot and its
//! records in the field log, at a given level of detail.

use super::byte_moves::same_bytes;
use super::field_log::{FieldLog, Record, Section};
use super::layout::{exception, metadata};
use super::{FLAG_ERROR, FLAG_FAULT, FLAG_THROTTLE, Slot};
use crate::id::{SegmentId, TraceId};
use crate::json;
use crate::sink::{Full, Sink, SliceSink};
use crate::time::Timestamp;

/// How much of an entity to write; each level leaves out more, in the documented order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// Everything recorded.
    Full,
    /// Without metadata.
    NoMetadata,
    /// Without metadata and stack frames (exceptions report the frames in `truncated`).
    NoStacks,
    /// Only required fields, ids and error flags.
    Minimal,
}

/// Writes one group of sections that only some programs record (see [`Writers`]).
pub(crate) type GroupWriter = fn(&mut SliceSink<'_>, &Entity<'_>, Level) -> Result<(), Full>;

/// The writers of the optional section groups, registered by the recording calls that make
/// their records: a program that never records metadata or an exception, say, does not link
/// their writers. A group with records always has its writer, and a writer writes nothing for
/// an entity without records of its group. They are written in this order (with `aws`, `sql`
/// and `annotations` after `http`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Writers {
    /// Top-level members (`namespace`, `user`, `service`…): set by their calls.
    pub(crate) top: Option<GroupWriter>,
    /// `http`: set by the request and response calls.
    pub(crate) http: Option<GroupWriter>,
    /// Set by `add_metadata`.
    pub(crate) metadata: Option<GroupWriter>,
    /// Set by the exception and cause calls.
    pub(crate) cause: Option<GroupWriter>,
    /// Set by `add_precursor_id`.
    pub(crate) precursors: Option<GroupWriter>,
}

/// What the caller knows about the document being written.
pub(crate) struct Doc<'a> {
    pub(crate) slot_index: u8,
    pub(crate) slot: &'a Slot,
    pub(crate) end: Timestamp,
    /// Written for a segment (the root document of a trace).
    pub(crate) trace_id: Option<TraceId>,
    /// The caller's id, for a segment continuing an upstream trace.
    pub(crate) parent_id: Option<SegmentId>,
    pub(crate) writers: Writers,
}

/// Records kept in one pass over the log; an entity with more falls back to scanning the log
/// once per section (always, with the `small` feature: less code, more reading).
const COLLECTED: usize = if cfg!(feature = "small") { 0 } else { 32 };

/// Sections a record can have (`Section` values are below this), when records are gathered
/// and grouped (none with `small`, which walks the log instead).
const SECTIONS: usize = if COLLECTED != 0 {
    Section::Upstream as usize + 1
} else {
    0
};

/// One entity's live records, gathered in a single pass over the field log and grouped by
/// section (a counting sort of their indices), so that each section's records are a slice.
pub(crate) struct Entity<'a> {
    log: &'a FieldLog,
    area: &'a [u8],
    slot: u8,
    /// A record boundary at or before the entity's first record.
    from: usize,
    records: heapless::Vec<Record<'a>, COLLECTED>,
    /// Indices into `records`, section by section, in log order within a section.
    order: [u8; COLLECTED],
    /// Where each section's indices end in `order` (and the next one's start).
    ends: [u8; SECTIONS],
    overflow: bool,
    /// One bit per section that has at least one live record.
    present: u16,
}

impl<'a> Entity<'a> {
    /// An entity with nothing gathered yet (see [`Entity::gather`]).
    fn new(log: &'a FieldLog, area: &'a [u8], slot: u8, from: usize) -> Self {
        Self {
            log,
            area,
            slot,
            from,
            records: heapless::Vec::new(),
            order: [0; COLLECTED],
            ends: [0; SECTIONS],
            overflow: false,
            present: 0,
        }
    }

    /// Gathers the entity's records, in place: an `Entity` returned by value was copied
    /// whole (its list of records with it) at every close.
    fn gather(&mut self) {
        for r in self.log.of_slot(self.area, self.from, self.slot) {
            self.present |= 1 << (r.section as u8);
            if !self.overflow && self.records.push(r).is_err() {
                self.overflow = true;
            }
            if COLLECTED != 0
                && let Some(n) = self.ends.get_mut(r.section as usize)
            {
                *n = n.wrapping_add(1);
            }
        }
        if COLLECTED != 0 && !self.overflow {
            // Counts become ends; each record then takes the last free place of its section,
            // walking backwards so that a section keeps log order.
            let mut total = 0u8;
            for n in self.ends.iter_mut() {
                total = total.wrapping_add(*n);
                *n = total;
            }
            let mut next = self.ends;
            for (k, r) in self.records.iter().enumerate().rev() {
                if let Some(n) = next.get_mut(r.section as usize) {
                    *n = n.wrapping_sub(1);
                    if let Some(place) = self.order.get_mut(usize::from(*n)) {
                        *place = k as u8;
                    }
                }
            }
        }
    }

    /// Whether the entity has at least one live record of `section`.
    fn has(&self, section: Section) -> bool {
        self.present & (1 << (section as u8)) != 0
    }

    /// The entity's records of one section, in the order they were recorded.
    fn of(&self, section: Section) -> SectionRecords<'_, 'a> {
        let at = if COLLECTED == 0 || self.overflow {
            self.from
        } else {
            // The section's records follow those of the sections before it.
            (section as usize)
                .checked_sub(1)
                .and_then(|before| self.ends.get(before))
                .map_or(0, |&n| usize::from(n))
        };
        SectionRecords {
            entity: self,
            section,
            at,
        }
    }
}

/// The records of one section of an [`Entity`]: from the grouped list, or (for an entity
/// with more records than were gathered) from the log itself.
struct SectionRecords<'e, 'a> {
    entity: &'e Entity<'a>,
    section: Section,
    /// An index into the grouped order, or an offset into the log.
    at: usize,
}

impl<'a> Iterator for SectionRecords<'_, 'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        let e = self.entity;
        // With nothing gathered (`small`) the grouped-list path compiles away.
        if COLLECTED == 0 || e.overflow {
            loop {
                let (rec, next) = e.log.next_live(e.area, self.at)?;
                self.at = next;
                if rec.slot == e.slot && rec.section == self.section {
                    return Some(rec);
                }
            }
        }
        let end = usize::from(*e.ends.get(self.section as usize)?);
        if self.at >= end {
            return None;
        }
        let k = *e.order.get(self.at)?;
        self.at += 1;
        e.records.get(usize::from(k)).copied()
    }
}

/// The error flags and how each is written. Tables in flash, rather than arrays built on the
/// stack at each call.
const FLAGS: &[(u8, &[u8])] = &[
    (FLAG_FAULT, b",\"fault\":true"),
    (FLAG_ERROR, b",\"error\":true"),
    (FLAG_THROTTLE, b",\"throttle\":true"),
];

/// The sections written as one object each after `http`, and their keys.
const OBJECTS: &[(Section, &[u8])] = &[
    (Section::Aws, b",\"aws\":"),
    (Section::Sql, b",\"sql\":"),
    (Section::Annotation, b",\"annotations\":"),
];

/// Writes `"name":…,"id":…` and the rest, comma-separated, without braces: in one pass when
/// the records came in document order (see `fields_in_order`), grouped otherwise.
pub(crate) fn write_fields(
    s: &mut SliceSink<'_>,
    log: &FieldLog,
    area: &[u8],
    doc: &Doc<'_>,
    level: Level,
) -> Result<(), Full> {
    #[cfg(not(feature = "small"))]
    if level == Level::Full {
        let mark = s.len();
        match super::fields_in_order::write_fields_in_order(s, log, area, doc) {
            Ok(()) => return Ok(()),
            Err(_) => s.truncate(mark),
        }
    }
    write_fields_grouped(s, log, area, doc, level)
}

/// [`write_fields`] for any order of records and at any level: gathers the entity's records
/// and groups them by section first.
pub(crate) fn write_fields_grouped(
    s: &mut SliceSink<'_>,
    log: &FieldLog,
    area: &[u8],
    doc: &Doc<'_>,
    level: Level,
) -> Result<(), Full> {
    let from = doc.slot.log_from();
    let mut entity = Entity::new(log, area, doc.slot_index, from);
    entity.gather();
    let entity = &entity;
    let name = entity
        .of(Section::Name)
        .last()
        .map_or(&b""[..], |r| r.payload);
    write_head(s, doc, name)?;
    if level == Level::Minimal {
        return Ok(());
    }
    let w = doc.writers;
    for write in [w.top, w.http].into_iter().flatten() {
        write(s, entity, level)?;
    }
    for &(section, key) in OBJECTS {
        if entity.has(section) {
            s.write(key)?;
            object(s, entity, section)?;
        }
    }
    for write in [w.metadata, w.cause, w.precursors].into_iter().flatten() {
        write(s, entity, level)?;
    }
    Ok(())
}

/// Writes the members every document has: the name member (as recorded), `id`, the times,
/// the segment's `trace_id` and `parent_id`, and the error flags.
pub(crate) fn write_head(s: &mut SliceSink<'_>, doc: &Doc<'_>, name: &[u8]) -> Result<(), Full> {
    s.write(name)?;
    s.write(b",\"id\":")?;
    json::segment_id(s, doc.slot.id)?;
    s.write(b",\"start_time\":")?;
    json::timestamp(s, doc.slot.start)?;
    s.write(b",\"end_time\":")?;
    json::timestamp(s, doc.end.max(doc.slot.start))?;
    if let Some(t) = doc.trace_id {
        s.write(b",\"trace_id\":")?;
        json::trace_id(s, t)?;
    }
    if let Some(p) = doc.parent_id {
        s.write(b",\"parent_id\":")?;
        json::segment_id(s, p)?;
    }
    // Most entities have none: then the list is not walked (with `small`, the walk alone is
    // less code).
    if cfg!(feature = "small") || doc.slot.flags != 0 {
        for &(flag, text) in FLAGS {
            if doc.slot.flags & flag != 0 {
                s.write(text)?;
            }
        }
    }
    Ok(())
}

/// Writes the top-level members (a [`GroupWriter`]).
pub(crate) fn write_top(
    s: &mut SliceSink<'_>,
    entity: &Entity<'_>,
    _level: Level,
) -> Result<(), Full> {
    // With `small`, the walk below finds nothing just as well, in less code.
    if COLLECTED != 0 && !entity.has(Section::Top) {
        return Ok(());
    }
    for r in entity.of(Section::Top) {
        s.byte(b',')?;
        s.write(r.payload)?;
    }
    Ok(())
}

/// Writes `,"http":{"request":{…},"response":{…}}` (a [`GroupWriter`]).
pub(crate) fn write_http(
    s: &mut SliceSink<'_>,
    entity: &Entity<'_>,
    _level: Level,
) -> Result<(), Full> {
    if !entity.has(Section::HttpRequest) && !entity.has(Section::HttpResponse) {
        return Ok(());
    }
    s.write(b",\"http\":{")?;
    let mut first = true;
    for (section, key) in [
        (Section::HttpRequest, "request"),
        (Section::HttpResponse, "response"),
    ] {
        if entity.has(section) {
            if !core::mem::take(&mut first) {
                s.byte(b',')?;
            }
            json::key(s, key)?;
            object(s, entity, section)?;
        }
    }
    s.byte(b'}')
}

/// Writes `,"precursor_ids":[…]` (a [`GroupWriter`]).
pub(crate) fn write_precursors(
    s: &mut SliceSink<'_>,
    entity: &Entity<'_>,
    _level: Level,
) -> Result<(), Full> {
    if !entity.has(Section::Precursor) {
        return Ok(());
    }
    s.write(b",\"precursor_ids\":[")?;
    // Each record is the id's 8 raw bytes (one of another length cannot occur; it is skipped).
    let ids = entity.of(Section::Precursor);
    for (i, id) in ids.filter_map(|r| r.payload.first_chunk::<8>()).enumerate() {
        if i > 0 {
            s.byte(b',')?;
        }
        json::segment_id(s, SegmentId::from_bytes(*id))?;
    }
    s.byte(b']')
}

/// Writes `{member,member}` from every record of a section.
fn object(s: &mut SliceSink<'_>, entity: &Entity<'_>, section: Section) -> Result<(), Full> {
    s.byte(b'{')?;
    for (i, r) in entity.of(section).enumerate() {
        if i > 0 {
            s.byte(b',')?;
        }
        s.write(r.payload)?;
    }
    s.byte(b'}')
}

/// Splits a metadata payload into its namespace (escaped) and member.
fn split_metadata(payload: &[u8]) -> (&[u8], &[u8]) {
    metadata::split(payload)
}

/// Writes `,"metadata":{…}` (a [`GroupWriter`]); nothing from [`Level::NoMetadata`] on.
pub(crate) fn write_metadata(
    s: &mut SliceSink<'_>,
    entity: &Entity<'_>,
    level: Level,
) -> Result<(), Full> {
    if level >= Level::NoMetadata || !entity.has(Section::Metadata) {
        return Ok(());
    }
    s.write(b",\"metadata\":{")?;
    let mut first_ns = true;
    for (i, r) in entity.of(Section::Metadata).enumerate() {
        let (ns, _) = split_metadata(r.payload);
        // Each namespace is written once, where it first appears.
        if entity
            .of(Section::Metadata)
            .take(i)
            .any(|e| same_bytes(split_metadata(e.payload).0, ns))
        {
            continue;
        }
        if !core::mem::take(&mut first_ns) {
            s.byte(b',')?;
        }
        s.byte(b'"')?;
        s.write(ns)?;
        s.write(b"\":{")?;
        let members = entity
            .of(Section::Metadata)
            .skip(i)
            .filter(|e| same_bytes(split_metadata(e.payload).0, ns));
        for (j, e) in members.enumerate() {
            if j > 0 {
                s.byte(b',')?;
            }
            s.write(split_metadata(e.payload).1)?;
        }
        s.byte(b'}')?;
    }
    s.byte(b'}')
}

/// Writes `,"cause":…` (a [`GroupWriter`]): exceptions (stacks dropped from
/// [`Level::NoStacks`] on, and counted in `truncated`), the other cause members, or an id.
pub(crate) fn write_cause(
    s: &mut SliceSink<'_>,
    entity: &Entity<'_>,
    level: Level,
) -> Result<(), Full> {
    let (has_exceptions, has_top) = (
        entity.has(Section::Exception),
        entity.has(Section::CauseTop),
    );
    if !has_exceptions && !has_top {
        if let Some(r) = entity.of(Section::CauseId).last() {
            s.write(b",\"cause\":")?;
            s.write(r.payload)?;
        }
        return Ok(());
    }
    s.write(b",\"cause\":{")?;
    let mut first = true;
    for r in entity.of(Section::CauseTop) {
        if !core::mem::take(&mut first) {
            s.byte(b',')?;
        }
        s.write(r.payload)?;
    }
    if has_exceptions {
        if !first {
            s.byte(b',')?;
        }
        s.write(b"\"exceptions\":[")?;
        // Records are the recorder's own: one that does not parse cannot occur, and is skipped.
        let records = entity.of(Section::Exception);
        for (i, e) in records
            .filter_map(|r| exception::parse(r.payload))
            .enumerate()
        {
            if i > 0 {
                s.byte(b',')?;
            }
            write_exception(s, &e, level)?;
        }
        s.byte(b']')?;
    }
    s.byte(b'}')
}

/// Writes one exception object: its members, its stack (left out from [`Level::NoStacks`]
/// on, and then counted in `truncated`) and `truncated`.
#[inline]
pub(crate) fn write_exception(
    s: &mut SliceSink<'_>,
    e: &exception::Exception<'_>,
    level: Level,
) -> Result<(), Full> {
    s.byte(b'{')?;
    s.write(e.members)?;
    let keep_stack = level < Level::NoStacks && e.frames > 0;
    if keep_stack {
        s.write(b",\"stack\":[")?;
        s.write(e.stack)?;
        s.byte(b']')?;
    }
    let truncated = u64::from(e.truncated) + if keep_stack { 0 } else { u64::from(e.frames) };
    if truncated > 0 {
        s.write(b",\"truncated\":")?;
        json::u64(s, truncated)?;
    }
    s.byte(b'}')
}
