//! The byte layouts the recorder keeps in its buffer, each defined once with one accessor per
//! field (as smoltcp's `wire` modules do). Everything else reads and writes these bytes through
//! them.
//!
//! The buffer itself: `[scratch | daemon header line | datagram … | field log …]` (see the
//! constants in `mod.rs`); the records below live in the field log.
//!
//! Contract (as smoltcp's "no accessor panics after `check_len`"): no record accessor panics
//! at an offset where the log walk finds a record, that is at 0 and after each record, below
//! the log's length. The log only ever holds what it wrote, and `check_invariants` (debug and
//! fuzz builds) walks it after each recorder call to show that every record lies within it.
//! The same holds for `metadata::split` on a metadata payload the log wrote; `exception::parse`
//! never panics on any bytes.
//! Record accessors index directly rather than return options: the code the log had before,
//! without the flash that fallbacks would cost firmware.

use super::field_log::Section;

/// A field-log record: `[slot: u8][section: u8][len: u16 LE][payload: len bytes]`.
pub(crate) mod record {
    use super::Section;
    use core::ops::Range;

    /// The entity's slot (or the trace-wide slot).
    pub(crate) const SLOT: usize = 0;
    /// The [`Section`] (0 is dead: superseded or consumed).
    pub(crate) const SECTION: usize = 1;
    /// The payload's length.
    pub(crate) const LEN: Range<usize> = 2..4;
    /// Bytes in front of the payload.
    pub(crate) const HEADER: usize = 4;

    /// The header of a record of `slot` and `section` with a payload of `len` bytes.
    pub(crate) fn header(slot: u8, section: Section, len: u16) -> [u8; HEADER] {
        let [l0, l1] = len.to_le_bytes();
        [slot, section as u8, l0, l1]
    }

    /// The slot of the record at `at`.
    pub(crate) fn slot(area: &[u8], at: usize) -> u8 {
        area[at + SLOT]
    }

    /// The section of the record at `at`, as stored.
    pub(crate) fn section_byte(area: &[u8], at: usize) -> u8 {
        area[at + SECTION]
    }

    /// The section of the record at `at`.
    pub(crate) fn section(area: &[u8], at: usize) -> Section {
        Section::from_u8(section_byte(area, at))
    }

    /// Sets the section of the record at `at` (to [`Section::Dead`], in practice).
    pub(crate) fn set_section(area: &mut [u8], at: usize, section: Section) {
        area[at + SECTION] = section as u8;
    }

    /// The payload length of the record at `at`.
    #[cfg_attr(not(feature = "small"), inline)]
    pub(crate) fn payload_len(area: &[u8], at: usize) -> usize {
        usize::from(u16::from_le_bytes([
            area[at + LEN.start],
            area[at + LEN.start + 1],
        ]))
    }

    /// Where the payload of the record at `at` lies.
    #[cfg_attr(not(feature = "small"), inline)]
    pub(crate) fn payload_range(area: &[u8], at: usize) -> Range<usize> {
        at + HEADER..at + HEADER + payload_len(area, at)
    }

    /// The payload of the record at `at`.
    #[cfg_attr(not(feature = "small"), inline)]
    pub(crate) fn payload(area: &[u8], at: usize) -> &[u8] {
        &area[payload_range(area, at)]
    }

    /// The slot, the section (as stored) and where the payload lies, of the record at `at` in
    /// `log` (the log's bytes in use): `None` unless the whole record lies within it. For
    /// walks that read every record and must stop at the log's end.
    #[inline]
    pub(crate) fn read(log: &[u8], at: usize) -> Option<(u8, u8, Range<usize>)> {
        let h = log.get(at..at + HEADER)?;
        let len = usize::from(u16::from_le_bytes([h[LEN.start], h[LEN.start + 1]]));
        let payload = at + HEADER..at + HEADER + len;
        (payload.end <= log.len()).then_some((h[SLOT], h[SECTION], payload))
    }

    /// The whole length (header and payload) of the record at `at`.
    pub(crate) fn total_len(area: &[u8], at: usize) -> usize {
        HEADER + payload_len(area, at)
    }
}

/// The payload of a [`Section::Metadata`] record:
/// `[ns_len: u8][namespace: ns_len bytes, escaped]["key":value]`.
pub(crate) mod metadata {
    /// The namespace's length.
    pub(crate) const NS_LEN: usize = 0;
    /// Where the namespace starts.
    pub(crate) const NS: usize = 1;

    /// The namespace (escaped, without quotes) and the `"key":value` member of a payload the
    /// log wrote (it panics on others: see the contract above).
    pub(crate) fn split(payload: &[u8]) -> (&[u8], &[u8]) {
        let n = usize::from(payload[NS_LEN]);
        (&payload[NS..NS + n], &payload[NS + n..])
    }
}

/// The payload of a [`Section::Exception`] record: `[frames: u16 LE][truncated: u32 LE]
/// [members_len: u16 LE][members: members_len bytes][stack frames JSON]`.
pub(crate) mod exception {
    use core::ops::Range;

    /// Stack frames recorded (written unless stacks are dropped).
    pub(crate) const FRAMES: Range<usize> = 0..2;
    /// Frames the caller had already left out.
    pub(crate) const TRUNCATED: Range<usize> = 2..6;
    /// The members' length, patched in once they are written.
    pub(crate) const MEMBERS_LEN: Range<usize> = 6..8;
    /// Bytes in front of the members.
    pub(crate) const HEADER: usize = 8;

    /// An exception record read back.
    pub(crate) struct Exception<'a> {
        /// See [`FRAMES`].
        pub(crate) frames: u16,
        /// See [`TRUNCATED`].
        pub(crate) truncated: u32,
        /// The exception's members (`"id":…,"message":…`).
        pub(crate) members: &'a [u8],
        /// The stack frames, comma-separated.
        pub(crate) stack: &'a [u8],
    }

    /// The header, with the members' length still 0.
    pub(crate) fn header(frames: u16, truncated: u32) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        h[FRAMES].copy_from_slice(&frames.to_le_bytes());
        h[TRUNCATED].copy_from_slice(&truncated.to_le_bytes());
        h
    }

    /// Reads a record written by the exception call (`None` only for bytes that are not one).
    pub(crate) fn parse(p: &[u8]) -> Option<Exception<'_>> {
        let (h, rest) = p.split_first_chunk::<HEADER>()?;
        let [f0, f1, t0, t1, t2, t3, m0, m1] = *h;
        let members_len = usize::from(u16::from_le_bytes([m0, m1]));
        let (members, stack) = rest.split_at_checked(members_len)?;
        Some(Exception {
            frames: u16::from_le_bytes([f0, f1]),
            truncated: u32::from_le_bytes([t0, t1, t2, t3]),
            members,
            stack,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_read_what_was_written() {
        let mut area = [0u8; 12];
        area[..4].copy_from_slice(&record::header(3, Section::Top, 5));
        area[4..9].copy_from_slice(b"\"a\":1");
        assert_eq!(record::slot(&area, 0), 3);
        assert_eq!(record::section(&area, 0), Section::Top);
        assert_eq!(record::payload(&area, 0), b"\"a\":1");
        assert_eq!(record::total_len(&area, 0), 9);
        record::set_section(&mut area, 0, Section::Dead);
        assert_eq!(record::section(&area, 0), Section::Dead);
        assert_eq!(
            metadata::split(b"\x07default\"k\":1"),
            (&b"default"[..], &b"\"k\":1"[..])
        );

        let mut e = [0u8; 12];
        e[..8].copy_from_slice(&exception::header(2, 7));
        e[exception::MEMBERS_LEN].copy_from_slice(&2u16.to_le_bytes());
        e[8..12].copy_from_slice(b"m1s2");
        let parsed = exception::parse(&e).unwrap();
        assert_eq!((parsed.frames, parsed.truncated), (2, 7));
        assert_eq!((parsed.members, parsed.stack), (&b"m1"[..], &b"s2"[..]));
        assert!(exception::parse(&e[..7]).is_none());
    }
}
