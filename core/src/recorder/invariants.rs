//! `check_invariants`: what holds between any two recorder calls, checked after each call that
//! changes the recorder in debug builds (tests, and the fuzz target, whose builds have debug
//! assertions). Release builds compile none of it.

use super::field_log::Section;
use super::field_log::key_bit;
use super::layout::{metadata, record};
use super::{BOOKKEEPING, HEADER_LEN, NO_PARENT, Recorder, SCRATCH, SlotState};

impl<B: AsMut<[u8]> + AsRef<[u8]>, const N: usize> Recorder<B, N> {
    /// Panics, naming the broken invariant, if the recorder's state is not one its calls can
    /// leave behind.
    pub(super) fn check_invariants(&self) {
        if self.budget() == 0 {
            // A disabled recorder (a budget below the minimum): nothing is ever written.
            assert!(!self.trace.active, "a trace in a disabled recorder");
            return;
        }
        let buf = self.buf.as_ref();
        // The buffer: scratch, header line, datagram, field log, in that order.
        assert!(self.log_start <= buf.len(), "datagram area past the buffer");
        assert!(
            SCRATCH + HEADER_LEN <= self.used && self.used <= self.log_start,
            "datagram end outside its area"
        );
        self.log.check_invariants(&buf[self.log_start..]);
        if !self.trace.active {
            assert!(
                self.slots.iter().all(|s| s.state == SlotState::Free),
                "an entity open with no trace"
            );
            assert_eq!(
                self.used,
                SCRATCH + HEADER_LEN,
                "bytes left over with no trace"
            );
            return;
        }
        let mut reserved = 0;
        for (i, s) in self.slots.iter().enumerate() {
            if s.state == SlotState::Free {
                continue;
            }
            reserved += self.own_reserve(i);
            // The room kept covers the smallest document of every open entity.
            if s.parent != NO_PARENT {
                let p = self.slots.get(usize::from(s.parent));
                assert!(
                    p.is_some_and(|p| p.state != SlotState::Free),
                    "an open entity whose parent is not open"
                );
            }
            if s.region_len > 0 {
                assert!(
                    s.region_start >= SCRATCH + HEADER_LEN
                        && s.region_start + s.region_len <= self.used,
                    "a run of closed children outside the datagram"
                );
                assert_eq!(
                    buf.get(s.region_start),
                    Some(&b'{'),
                    "a run of closed children that does not start a document"
                );
            }
            let children = self
                .slots
                .iter()
                .filter(|c| c.state != SlotState::Free && usize::from(c.parent) == i)
                .count();
            assert_eq!(
                usize::from(s.children),
                if BOOKKEEPING { children } else { 0 },
                "a count of open children out of step"
            );
            if s.has(Section::Name) {
                assert!(s.name_len > 0, "a recorded name without its length");
            }
        }
        self.check_log_starts(&buf[self.log_start..]);
        assert_eq!(
            reserved, self.reserved,
            "reserve out of step with the open entities"
        );
        assert!(
            self.used + self.reserved <= self.log_start,
            "the room kept for open entities is gone"
        );
    }

    /// Every open slot's `log_from` is a record boundary within the log, at or before each of
    /// its live records: the walks that start there see all of them.
    fn check_log_starts(&self, area: &[u8]) {
        let len = self.log.len();
        for (i, s) in self.slots.iter().enumerate() {
            if s.state == SlotState::Free {
                continue;
            }
            let from = usize::from(s.log_from);
            assert!(from <= len, "a slot's log start past the log");
            let mut at = 0;
            let mut boundary = from == len;
            while at + record::HEADER <= len {
                boundary |= at == from;
                let section = record::section(area, at);
                if usize::from(record::slot(area, at)) == i && section != Section::Dead {
                    assert!(at >= from, "a slot's record before its log start");
                    let payload = record::payload(area, at);
                    if let Some(n) = key_prefix_len(section, payload).filter(|_| BOOKKEEPING) {
                        assert!(
                            s.keys & key_bit(&payload[..n]) != 0,
                            "a recorded key missing from its slot's key bits"
                        );
                    }
                }
                at += record::total_len(area, at);
            }
            assert!(boundary, "a slot's log start inside a record");
        }
    }
}

/// The length of the key prefix of an annotation (`"key":`) or metadata record (namespace and
/// `"key":`), as the recording calls hash it; `None` for other sections.
fn key_prefix_len(section: Section, payload: &[u8]) -> Option<usize> {
    let start = match section {
        Section::Annotation => 0,
        Section::Metadata => metadata::NS + metadata::split(payload).0.len(),
        _ => return None,
    };
    // A JSON string (keys escape `"` and `\\`), then `:`.
    let mut at = start + 1;
    while at < payload.len() {
        match payload[at] {
            b'\\' => at += 2,
            b'"' => return Some(at + 2),
            _ => at += 1,
        }
    }
    panic!("a key record without its key")
}
