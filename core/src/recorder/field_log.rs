//! The field log: recorded fields of open entities, kept as ready-to-write JSON fragments.
//!
//! Fields arrive in any order and for any open entity, while an entity's document can only be
//! written when it closes. Each field is escaped, cut and written as JSON once, when it is
//! recorded, into this append-only log; closing an entity copies its fragments into the
//! datagram. Records are laid out as `layout::record` says. Superseded or consumed records are
//! marked dead and squeezed out when the log runs out of room.

use super::byte_moves::same_bytes;
use super::layout::record::{self, HEADER};
use crate::sink::{Full, SliceSink};

/// What a record holds, which decides where it goes in the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Section {
    /// Superseded or consumed.
    Dead = 0,
    /// Top-level members (`"user":"x"`, `"namespace":"remote"` …).
    Top,
    /// Members of `http.request`.
    HttpRequest,
    /// Members of `http.response`.
    HttpResponse,
    /// Members of `aws`.
    Aws,
    /// Members of `sql`.
    Sql,
    /// One `"key":value` member of `annotations`.
    Annotation,
    /// `[ns_len][ns (escaped)][ "key":value ]`: one member of a metadata namespace.
    Metadata,
    /// Members of the `cause` object other than `exceptions`.
    CauseTop,
    /// A cause given as a 16-hex exception id: `"0123456789abcdef"`.
    CauseId,
    /// `[frames: u16][truncated: u32][members_len: u16][members][frames JSON]`.
    Exception,
    /// 8 raw bytes of a precursor subsegment id.
    Precursor,
    /// The `"name":"…"` member (required; never dropped).
    Name,
    /// The upstream header's extra fields (`K=V;K=V`), forwarded downstream; trace-wide.
    Upstream,
}

impl Section {
    pub(crate) fn from_u8(v: u8) -> Section {
        match v {
            1 => Section::Top,
            2 => Section::HttpRequest,
            3 => Section::HttpResponse,
            4 => Section::Aws,
            5 => Section::Sql,
            6 => Section::Annotation,
            7 => Section::Metadata,
            8 => Section::CauseTop,
            9 => Section::CauseId,
            10 => Section::Exception,
            11 => Section::Precursor,
            12 => Section::Name,
            13 => Section::Upstream,
            _ => Section::Dead,
        }
    }
}

/// Writes a record's payload: implemented by every closure of that shape.
///
/// A trait of its own rather than `dyn FnMut`: the vtable of a `dyn FnMut` also holds
/// `FnOnce::call_once`, a second copy of each closure's code that is never called but still
/// linked (the recorder's two other such traits avoid it the same way).
pub(crate) trait Payload {
    /// Writes the payload into `s`.
    fn write_payload(&mut self, s: &mut SliceSink<'_>) -> Result<(), Full>;
}

impl<F: FnMut(&mut SliceSink<'_>) -> Result<(), Full>> Payload for F {
    fn write_payload(&mut self, s: &mut SliceSink<'_>) -> Result<(), Full> {
        self(s)
    }
}

/// Whether `payload` is the object member `key` (starts with `"key":`).
fn is_member(payload: &[u8], key: &str) -> bool {
    let key = key.as_bytes();
    payload.first() == Some(&b'"')
        && payload
            .get(1..1 + key.len())
            .is_some_and(|k| same_bytes(k, key))
        && payload.get(1 + key.len()..3 + key.len()) == Some(b"\":")
}

/// A one-bit summary (of 16) of a member's key prefix as recorded (`"key":`, or a metadata
/// record's namespace and key): each slot keeps the bits of the keys it has recorded, and a
/// key whose bit is clear cannot be a duplicate, so no walk over the log is needed for it.
#[inline]
pub(crate) fn key_bit(prefix: &[u8]) -> u16 {
    let n = prefix.len();
    let last = prefix.get(n.wrapping_sub(3)).copied().unwrap_or(0);
    let middle = prefix.get(n / 2).copied().unwrap_or(0);
    1 << ((n + 3 * usize::from(last) + usize::from(middle)) & 15)
}

/// A record read back from the log.
#[derive(Clone, Copy)]
pub(crate) struct Record<'a> {
    pub(crate) slot: u8,
    pub(crate) section: Section,
    pub(crate) payload: &'a [u8],
}

/// The live records of one slot (see [`FieldLog::of_slot`]): a walk that reads each record's
/// header once, for the one-pass writer.
pub(crate) struct SlotRecords<'a> {
    /// The log's bytes in use.
    log: &'a [u8],
    at: usize,
    slot: u8,
}

impl<'a> Iterator for SlotRecords<'a> {
    type Item = Record<'a>;

    #[inline]
    fn next(&mut self) -> Option<Record<'a>> {
        loop {
            let (slot, section, payload) = record::read(self.log, self.at)?;
            self.at = payload.end;
            if slot == self.slot && section != Section::Dead as u8 {
                return Some(Record {
                    slot,
                    section: Section::from_u8(section),
                    payload: self.log.get(payload)?,
                });
            }
        }
    }
}

/// The log's state; the bytes live in the recorder's buffer and are passed in.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FieldLog {
    len: usize,
    /// Where the last record pushed starts (while `len > 0`), kept rather than found by
    /// walking the log.
    last: usize,
    run: Run,
}

/// The slot that pushed every record from `from` to the log's end, one after another (the
/// entity being recorded on, usually): [`FieldLog::kill_slot`] cuts its records off without
/// walking them. `slot` is `None` when no such run is known. Not kept with the `small`
/// feature (a zero-sized type there), which never cuts a slot's records off this way.
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    #[cfg(not(feature = "small"))]
    slot: Option<u8>,
    #[cfg(not(feature = "small"))]
    from: usize,
}

impl Run {
    fn forget(&mut self) {
        #[cfg(not(feature = "small"))]
        {
            self.slot = None;
        }
    }

    #[inline]
    fn pushed(&mut self, _slot: u8, _at: usize) {
        #[cfg(not(feature = "small"))]
        if self.slot != Some(_slot) {
            self.slot = Some(_slot);
            self.from = _at;
        }
    }

    /// Whether every record from `from` on was pushed by `slot`.
    fn covers(&self, _slot: u8, _from: usize) -> bool {
        #[cfg(not(feature = "small"))]
        return self.slot == Some(_slot) && self.from <= _from;
        #[cfg(feature = "small")]
        false
    }
}

impl FieldLog {
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.run.forget();
    }

    /// Bytes in use (live and dead).
    #[cfg(any(test, debug_assertions))]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends a record whose payload `write` produces ([`FieldLog::last_at`] tells where). If
    /// it does not fit, dead records are squeezed out and `write` runs once more. Nothing is
    /// kept of a write that fails.
    #[inline(always)]
    pub(crate) fn push(
        &mut self,
        area: &mut [u8],
        slot: u8,
        section: Section,
        mut write: impl FnMut(&mut SliceSink<'_>) -> Result<(), Full>,
    ) -> Result<(), Full> {
        self.push_payload(area, slot, section, &mut write)
    }

    /// [`FieldLog::push`], not generic.
    pub(crate) fn push_payload(
        &mut self,
        area: &mut [u8],
        slot: u8,
        section: Section,
        write: &mut dyn Payload,
    ) -> Result<(), Full> {
        match self.try_push(area, slot, section, write) {
            Err(_) if self.compact(area) => self.try_push(area, slot, section, write),
            other => other,
        }
    }

    /// Appends a record if it fits as the log is (see [`FieldLog::push`]).
    #[cfg_attr(not(feature = "small"), inline)]
    pub(crate) fn try_push<P: Payload + ?Sized>(
        &mut self,
        area: &mut [u8],
        slot: u8,
        section: Section,
        write: &mut P,
    ) -> Result<(), Full> {
        let start = self.len;
        let Some(rest) = area.get_mut(start + HEADER..) else {
            return Err(Full);
        };
        // Payload lengths are u16; a longer field is treated as not fitting.
        let cap = rest.len().min(u16::MAX as usize);
        let mut sink = SliceSink::new(&mut rest[..cap]);
        write.write_payload(&mut sink)?;
        let n = sink.as_bytes().len();
        area[start..start + HEADER].copy_from_slice(&record::header(slot, section, n as u16));
        self.len = start + HEADER + n;
        self.last = start;
        self.run.pushed(slot, start);
        Ok(())
    }

    /// The next live record at or after offset `at`, and the offset after it. Inlined in the
    /// default build: it is the inner loop of writing an entity's fields.
    #[cfg_attr(not(feature = "small"), inline(always))]
    pub(crate) fn next_live<'a>(
        &self,
        area: &'a [u8],
        mut at: usize,
    ) -> Option<(Record<'a>, usize)> {
        while at + HEADER <= self.len {
            let rec = Record {
                slot: record::slot(area, at),
                section: record::section(area, at),
                payload: record::payload(area, at),
            };
            at += record::total_len(area, at);
            if rec.section != Section::Dead {
                return Some((rec, at));
            }
        }
        None
    }

    /// Iterates over live records in order.
    pub(crate) fn records<'a>(&self, area: &'a [u8]) -> impl Iterator<Item = Record<'a>> + 'a {
        self.records_from(area, 0)
    }

    /// Iterates over live records in order, from the record boundary `from` on.
    pub(crate) fn records_from<'a>(
        &self,
        area: &'a [u8],
        from: usize,
    ) -> impl Iterator<Item = Record<'a>> + 'a {
        let log = *self;
        let mut at = from;
        core::iter::from_fn(move || {
            let (rec, next) = log.next_live(area, at)?;
            at = next;
            Some(rec)
        })
    }

    /// Live records of `slot`, in order, from the record boundary `from` on.
    pub(crate) fn of_slot<'a>(&self, area: &'a [u8], from: usize, slot: u8) -> SlotRecords<'a> {
        SlotRecords {
            log: area.get(..self.len).unwrap_or(&[]),
            at: from,
            slot,
        }
    }

    /// Live records of one slot and section.
    pub(crate) fn of<'a>(
        &self,
        area: &'a [u8],
        slot: u8,
        section: Section,
    ) -> impl Iterator<Item = Record<'a>> + 'a {
        self.records(area)
            .filter(move |r| r.slot == slot && r.section == section)
    }

    /// Marks the record at `at` dead.
    pub(crate) fn kill(&self, area: &mut [u8], at: usize) {
        record::set_section(area, at, Section::Dead);
    }

    /// Marks dead every record of `slot` (in `section`, if given), or only those that are the
    /// member `key` (`"key":…`) when a key is given. `from` is a record boundary at or before
    /// the slot's first record (0 always is).
    pub(crate) fn kill_matching(
        &self,
        area: &mut [u8],
        from: usize,
        slot: u8,
        section: Option<Section>,
        key: Option<&str>,
    ) {
        self.kill_where(area, from, slot, section, |payload| {
            key.is_none_or(|k| is_member(payload, k))
        });
    }

    /// Marks dead the records of `slot` in `section` but the member `keep` (the recorder's
    /// own `aws.xray`, which a user's `aws` block replaces everything but).
    pub(crate) fn kill_section_but(
        &self,
        area: &mut [u8],
        from: usize,
        slot: u8,
        section: Section,
        keep: &str,
    ) {
        self.kill_where(area, from, slot, Some(section), |payload| {
            !is_member(payload, keep)
        });
    }

    /// Marks dead the live records of `slot` (in `section`, if given) whose payload `kill`
    /// picks, looking from the record boundary `from` on.
    fn kill_where(
        &self,
        area: &mut [u8],
        from: usize,
        slot: u8,
        section: Option<Section>,
        kill: impl Fn(&[u8]) -> bool,
    ) {
        let mut at = from;
        while at + HEADER <= self.len {
            let s = record::section(area, at);
            if record::slot(area, at) == slot
                && s != Section::Dead
                && section.is_none_or(|want| want == s)
                && kill(record::payload(area, at))
            {
                record::set_section(area, at, Section::Dead);
            }
            at += record::total_len(area, at);
        }
    }

    /// Marks dead the records before the one at `at` that have its slot and section and the
    /// same first `prefix_len` payload bytes (a key set again), looking from the record
    /// boundary `from` (at or before the slot's first record) on. Returns whether any died.
    pub(crate) fn kill_earlier_duplicates(
        &self,
        area: &mut [u8],
        from: usize,
        at: usize,
        prefix_len: usize,
    ) -> bool {
        if prefix_len > record::payload_len(area, at) {
            return false;
        }
        let (slot, section) = (record::slot(area, at), record::section_byte(area, at));
        let new_prefix = at + HEADER..at + HEADER + prefix_len;
        let mut killed = false;
        let mut i = from;
        while i < at {
            let n = record::payload_len(area, i);
            if record::slot(area, i) == slot
                && record::section_byte(area, i) == section
                && n >= prefix_len
                && same_bytes(
                    &area[i + HEADER..i + HEADER + prefix_len],
                    &area[new_prefix.clone()],
                )
            {
                record::set_section(area, i, Section::Dead);
                killed = true;
            }
            i += HEADER + n;
        }
        killed
    }

    /// Marks dead every record of `slot`, looking from the record boundary `from` (at or before
    /// the slot's first record) on. When nothing but its records and dead ones lie from `from`
    /// to the end (a closing entity's records are usually the last ones), the log is cut back
    /// to `from` instead, and the new length returned: the caller keeps the other slots'
    /// starting points within it.
    pub(crate) fn kill_slot(&mut self, area: &mut [u8], from: usize, slot: u8) -> Option<usize> {
        // When every record from `from` on is this slot's, they are not walked: the log is cut
        // back below.
        let only_ours = self.run.covers(slot, from) || self.kill_walk(area, from, slot);
        if only_ours && from < self.len {
            self.len = from;
            self.run.forget();
            return Some(from);
        }
        None
    }

    /// [`FieldLog::kill_slot`]'s walk: marks `slot`'s records from `from` on dead, and says
    /// whether no other slot has a live record there.
    fn kill_walk(&self, area: &mut [u8], from: usize, slot: u8) -> bool {
        let mut at = from;
        let mut only_ours = true;
        while at + HEADER <= self.len {
            if record::section(area, at) != Section::Dead {
                if record::slot(area, at) == slot {
                    record::set_section(area, at, Section::Dead);
                } else {
                    only_ours = false;
                }
            }
            at += record::total_len(area, at);
        }
        only_ours
    }

    /// The first `len` payload bytes of the record at `at` (fewer if it is shorter).
    #[inline]
    pub(crate) fn prefix<'a>(&self, area: &'a [u8], at: usize, len: usize) -> &'a [u8] {
        let p = record::payload(area, at);
        p.get(..len).unwrap_or(p)
    }

    /// Where the last record pushed starts (live or dead). Only meaningful right after a push
    /// that succeeded (squeezing the log moves records; the push after it sets this again).
    pub(crate) fn last_at(&self) -> usize {
        self.last
    }

    /// Checks that the records tile the log exactly (each within it, the last ending at its
    /// length): debug and fuzz builds.
    #[cfg(debug_assertions)]
    pub(crate) fn check_invariants(&self, area: &[u8]) {
        assert!(self.len <= area.len(), "field log past its area");
        let mut at = 0;
        while at + HEADER <= self.len {
            at += record::total_len(area, at);
        }
        assert_eq!(at, self.len, "field log records do not end at its length");
        #[cfg(not(feature = "small"))]
        if let Run {
            slot: Some(slot),
            from,
        } = self.run
        {
            let mut at = 0;
            while at < from {
                at += record::total_len(area, at);
            }
            assert_eq!(at, from, "the run's start is not a record boundary");
            while at + HEADER <= self.len {
                assert_eq!(
                    record::slot(area, at),
                    slot,
                    "another slot's record in the run"
                );
                at += record::total_len(area, at);
            }
        }
    }

    /// Squeezes out dead records. Returns whether any space was freed.
    pub(crate) fn compact(&mut self, area: &mut [u8]) -> bool {
        let (mut read, mut write) = (0, 0);
        while read + HEADER <= self.len {
            let n = record::total_len(area, read);
            if record::section(area, read) != Section::Dead {
                super::byte_moves::move_left(area, read..read + n, write);
                write += n;
            }
            read += n;
        }
        let freed = write < self.len;
        self.len = write;
        self.run.forget();
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Sink;

    #[test]
    fn push_iterate_kill_and_compact() {
        let mut area = [0u8; 32];
        let mut log = FieldLog::default();
        log.push(&mut area, 1, Section::Top, |s| s.write(b"\"a\":1"))
            .unwrap();
        log.push(&mut area, 2, Section::Annotation, |s| s.write(b"\"b\":2"))
            .unwrap();
        log.push(&mut area, 1, Section::Annotation, |s| s.write(b"\"c\":3"))
            .unwrap();
        assert_eq!(log.records(&area).count(), 3);
        assert_eq!(
            log.of(&area, 1, Section::Annotation)
                .next()
                .unwrap()
                .payload,
            b"\"c\":3"
        );
        // Full: 3 * 9 = 27 bytes used, a 9-byte record does not fit until something dies.
        assert!(
            log.push(&mut area, 3, Section::Top, |s| s.write(b"\"d\":4"))
                .is_err()
        );
        log.kill_matching(&mut area, 0, 2, Some(Section::Annotation), Some("b"));
        log.push(&mut area, 3, Section::Top, |s| s.write(b"\"d\":4"))
            .unwrap();
        let payloads: heapless::Vec<&[u8], 4> = log.records(&area).map(|r| r.payload).collect();
        assert_eq!(
            payloads.as_slice(),
            &[&b"\"a\":1"[..], b"\"c\":3", b"\"d\":4"]
        );
        assert_eq!(log.len(), 27);
    }

    #[test]
    fn killing_a_slot_cuts_the_log_back_when_its_records_are_last() {
        let mut area = [0u8; 64];
        let mut log = FieldLog::default();
        log.push(&mut area, 0, Section::Top, |s| s.write(b"\"a\":1"))
            .unwrap();
        log.push(&mut area, 1, Section::Top, |s| s.write(b"\"b\":2"))
            .unwrap();
        let from = log.last_at();
        log.push(&mut area, 1, Section::Annotation, |s| s.write(b"\"c\":3"))
            .unwrap();
        // Slot 1's records are the last ones: the log ends where they began.
        assert_eq!(log.kill_slot(&mut area, from, 1), Some(from));
        assert_eq!(log.len(), from);
        // Slot 2's record after slot 0's: killing slot 0 only marks its record dead.
        log.push(&mut area, 2, Section::Top, |s| s.write(b"\"d\":4"))
            .unwrap();
        assert_eq!(log.kill_slot(&mut area, 0, 0), None);
        {
            let mut left = log.records(&area).map(|r| r.payload);
            assert_eq!(left.next(), Some(&b"\"d\":4"[..]));
            assert!(left.next().is_none());
        }
        // Nothing but dead records and slot 2's from the start: cut back to 0.
        assert_eq!(log.kill_slot(&mut area, 0, 2), Some(0));
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn a_slot_that_pushed_last_is_cut_off_as_the_walk_would() {
        let mut area = [0u8; 128];
        let mut log = FieldLog::default();
        let push = |log: &mut FieldLog, area: &mut [u8], slot: u8, member: &[u8]| {
            log.push(area, slot, Section::Top, |s| s.write(member))
                .unwrap();
            log.check_invariants(area);
            log.last_at()
        };
        let live = |log: &FieldLog, area: &[u8]| -> heapless::Vec<(u8, heapless::Vec<u8, 8>), 8> {
            log.records(area)
                .map(|r| (r.slot, heapless::Vec::from_slice(r.payload).unwrap()))
                .collect()
        };
        // Slot 1's records with slot 2's between them: only marked dead.
        let first = push(&mut log, &mut area, 1, b"\"a\":1");
        push(&mut log, &mut area, 2, b"\"b\":2");
        push(&mut log, &mut area, 1, b"\"c\":3");
        assert_eq!(log.kill_slot(&mut area, first, 1), None);
        log.check_invariants(&area);
        let len = log.len();
        // Slot 1 again (another entity): its records are the last ones and go.
        let from = push(&mut log, &mut area, 1, b"\"d\":4");
        push(&mut log, &mut area, 1, b"\"e\":5");
        assert_eq!(log.kill_slot(&mut area, from, 1), Some(from));
        log.check_invariants(&area);
        assert_eq!(log.len(), len);
        let want: heapless::Vec<(u8, heapless::Vec<u8, 8>), 8> =
            [(2, heapless::Vec::from_slice(b"\"b\":2").unwrap())]
                .into_iter()
                .collect();
        assert_eq!(live(&log, &area), want);
        // After a squeeze the run is unknown: the walk decides, with the same result.
        assert!(log.compact(&mut area));
        log.check_invariants(&area);
        let from = push(&mut log, &mut area, 3, b"\"f\":6");
        assert_eq!(log.kill_slot(&mut area, 0, 3), None);
        assert_eq!(live(&log, &area), want);
        assert_eq!(log.kill_slot(&mut area, 0, 2), Some(0));
        assert_eq!((log.len(), from > 0), (0, true));
        log.check_invariants(&area);
    }

    #[test]
    fn a_member_key_matches_whole_keys_only() {
        assert!(is_member(b"\"name\":\"x\"", "name"));
        assert!(!is_member(b"\"namespace\":\"remote\"", "name"));
        assert!(!is_member(b"\"nam\":1", "name"));
        assert!(!is_member(b"name\":1", "name"));
        assert!(!is_member(b"\"name\"", "name"));
        assert!(!is_member(b"", "name"));

        let mut area = [0u8; 64];
        let mut log = FieldLog::default();
        for member in [&b"\"name\":1"[..], b"\"namespace\":2", b"\"name\":3"] {
            log.push(&mut area, 0, Section::Top, |s| s.write(member))
                .unwrap();
        }
        log.push(&mut area, 1, Section::Top, |s| s.write(b"\"name\":4"))
            .unwrap();
        log.kill_matching(&mut area, 0, 0, Some(Section::Top), Some("name"));
        let left: heapless::Vec<&[u8], 4> = log.records(&area).map(|r| r.payload).collect();
        assert_eq!(left.as_slice(), &[&b"\"namespace\":2"[..], b"\"name\":4"]);
    }
}
