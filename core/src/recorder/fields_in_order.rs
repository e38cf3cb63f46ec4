//! Writes an entity's own fields in one pass over its records, when they were recorded in the
//! order the document lists them (name, top-level members, `http`, `aws`, `sql`,
//! `annotations`, `metadata` of one namespace, `cause`, `precursor_ids`): the common case, as a
//! request records its request before its response, and its annotations together.
//!
//! The bytes are exactly those `fields::write_fields_grouped` writes at [`Level::Full`]: that writer
//! gathers an entity's records and groups them by section first, which costs more than the
//! writing. When the records are not in that order, or the document does not fit, this writer
//! says so and the caller falls back to `fields::write_fields_grouped` (the `small` feature always
//! does: one writer, less code). A unit test compares the two writers on every order of a
//! set of records, and the recorder fuzz target compares the default build with `small`.
//!
//! [`Level::Full`]: super::fields::Level::Full

use super::field_log::{FieldLog, Section};
use super::fields::{Doc, Level, write_exception, write_head};
use super::layout::{exception, metadata};
use crate::id::SegmentId;
use crate::json;
use crate::sink::{Full, Sink, SliceSink};

/// The one-pass writer gave up: a record came after one that the document lists later, or is
/// of a section it leaves to the grouped writer (`cause` given as an id, a second namespace…),
/// or the sink is full (the grouped writer decides what gives way). The caller writes the
/// fields the other way.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotInOrder;

impl From<Full> for NotInOrder {
    fn from(_: Full) -> Self {
        NotInOrder
    }
}

/// Where a section's records go in the document: records must arrive with ranks that never
/// decrease. `None` for sections this writer does not handle.
fn rank(section: Section) -> Option<u8> {
    Some(match section {
        Section::Name => 0,
        Section::Top => 1,
        Section::HttpRequest => 2,
        Section::HttpResponse => 3,
        Section::Aws => 4,
        Section::Sql => 5,
        Section::Annotation => 6,
        Section::Metadata => 7,
        Section::CauseTop => 8,
        Section::Exception => 9,
        Section::Precursor => 10,
        Section::Dead | Section::CauseId | Section::Upstream => return None,
    })
}

/// A group's opening or closing bytes, padded to a fixed size: written with one fixed-size
/// move ([`SliceSink::write_padded`]) rather than a `memcpy` call of a variable length.
struct Piece {
    bytes: [u8; PIECE],
    len: usize,
}

/// Room for the longest piece (`,"cause":{"exceptions":[`).
const PIECE: usize = 32;

const fn piece(text: &[u8]) -> Piece {
    let mut bytes = [0u8; PIECE];
    let mut i = 0;
    while i < text.len() {
        bytes[i] = text[i];
        i += 1;
    }
    Piece {
        bytes,
        len: text.len(),
    }
}

const NOTHING: Piece = piece(b"");

/// What opens a section's group, given the section before it (the same bytes as the grouped
/// writer's: `http` holds `request` then `response`, `cause` holds its members then
/// `exceptions`).
fn open(section: Section, before: Option<Section>) -> &'static Piece {
    const HTTP_REQUEST: Piece = piece(b",\"http\":{\"request\":{");
    const RESPONSE: Piece = piece(b",\"response\":{");
    const HTTP_RESPONSE: Piece = piece(b",\"http\":{\"response\":{");
    const AWS: Piece = piece(b",\"aws\":{");
    const SQL: Piece = piece(b",\"sql\":{");
    const ANNOTATIONS: Piece = piece(b",\"annotations\":{");
    const METADATA: Piece = piece(b",\"metadata\":{\"");
    const CAUSE: Piece = piece(b",\"cause\":{");
    const EXCEPTIONS: Piece = piece(b",\"exceptions\":[");
    const CAUSE_EXCEPTIONS: Piece = piece(b",\"cause\":{\"exceptions\":[");
    const PRECURSORS: Piece = piece(b",\"precursor_ids\":[");
    match (section, before) {
        (Section::HttpRequest, _) => &HTTP_REQUEST,
        (Section::HttpResponse, Some(Section::HttpRequest)) => &RESPONSE,
        (Section::HttpResponse, _) => &HTTP_RESPONSE,
        (Section::Aws, _) => &AWS,
        (Section::Sql, _) => &SQL,
        (Section::Annotation, _) => &ANNOTATIONS,
        (Section::Metadata, _) => &METADATA,
        (Section::CauseTop, _) => &CAUSE,
        (Section::Exception, Some(Section::CauseTop)) => &EXCEPTIONS,
        (Section::Exception, _) => &CAUSE_EXCEPTIONS,
        (Section::Precursor, _) => &PRECURSORS,
        _ => &NOTHING,
    }
}

/// What closes a section's group, given the section after it (`None` at the end).
fn close(section: Section, after: Option<Section>) -> &'static Piece {
    const BRACE: Piece = piece(b"}");
    const BRACES: Piece = piece(b"}}");
    const BRACKET: Piece = piece(b"]");
    const BRACKET_BRACE: Piece = piece(b"]}");
    match (section, after) {
        (Section::HttpRequest, Some(Section::HttpResponse)) => &BRACE,
        (Section::HttpRequest | Section::HttpResponse, _) => &BRACES,
        (Section::Aws | Section::Sql | Section::Annotation, _) => &BRACE,
        (Section::Metadata, _) => &BRACES,
        (Section::CauseTop, Some(Section::Exception)) => &NOTHING,
        (Section::CauseTop, _) => &BRACE,
        (Section::Exception, _) => &BRACKET_BRACE,
        (Section::Precursor, _) => &BRACKET,
        _ => &NOTHING,
    }
}

/// Writes a piece.
#[inline]
fn put(s: &mut SliceSink<'_>, piece: &Piece) -> Result<(), Full> {
    s.write_padded(&piece.bytes, piece.len)
}

/// Writes `"name":…,"id":…` and the rest, as `fields::write_fields_grouped` does at `Level::Full`, if
/// the entity's records are in document order.
pub(crate) fn write_fields_in_order(
    s: &mut SliceSink<'_>,
    log: &FieldLog,
    area: &[u8],
    doc: &Doc<'_>,
) -> Result<(), NotInOrder> {
    let mut records = log.of_slot(area, doc.slot.log_from(), doc.slot_index);
    // The name is the entity's first record (recorded when it began), and its only one.
    let name = match records.next() {
        Some(r) if r.section == Section::Name => r.payload,
        _ => return Err(NotInOrder),
    };
    write_head(s, doc, name)?;
    let mut current: Option<Section> = None;
    let mut current_rank = 0;
    // The one namespace metadata records may have here.
    let mut namespace: &[u8] = &[];
    for r in records {
        let r_rank = rank(r.section).ok_or(NotInOrder)?;
        let first_of_group = current != Some(r.section);
        if first_of_group {
            if r_rank <= current_rank {
                return Err(NotInOrder);
            }
            if let Some(c) = current {
                put(s, close(c, Some(r.section)))?;
            }
            put(s, open(r.section, current))?;
            current = Some(r.section);
            current_rank = r_rank;
        }
        match r.section {
            Section::Top => {
                s.byte(b',')?;
                s.write(r.payload)?;
            }
            Section::Metadata => {
                let (ns, member) = metadata::split(r.payload);
                if first_of_group {
                    namespace = ns;
                    s.write(ns)?;
                    s.write(b"\":{")?;
                } else if ns != namespace {
                    return Err(NotInOrder);
                } else {
                    s.byte(b',')?;
                }
                s.write(member)?;
            }
            Section::Exception => {
                if !first_of_group {
                    s.byte(b',')?;
                }
                let e = exception::parse(r.payload).ok_or(NotInOrder)?;
                write_exception(s, &e, Level::Full)?;
            }
            Section::Precursor => {
                if !first_of_group {
                    s.byte(b',')?;
                }
                let id = r.payload.first_chunk::<8>().ok_or(NotInOrder)?;
                json::segment_id(s, SegmentId::from_bytes(*id))?;
            }
            _ => {
                if !first_of_group {
                    s.byte(b',')?;
                }
                s.write(r.payload)?;
            }
        }
    }
    if let Some(c) = current {
        put(s, close(c, None))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fields::{
        Level, Writers, write_cause, write_fields_grouped, write_http, write_metadata,
        write_precursors, write_top,
    };
    use super::super::{FREE, Slot, SlotState};
    use super::*;
    use crate::time::Timestamp;

    /// One record: its section and its payload.
    type Rec = (Section, &'static [u8]);

    /// Every kind of record, each section's records in the order they would be written.
    const RECORDS: &[Rec] = &[
        (Section::Top, b"\"namespace\":\"remote\""),
        (Section::Top, b"\"user\":\"u\""),
        (Section::HttpRequest, b"\"method\":\"GET\""),
        (Section::HttpResponse, b"\"status\":200"),
        (Section::Aws, b"\"xray\":{\"sdk\":\"x\"}"),
        (Section::Sql, b"\"url\":\"db\""),
        (Section::Annotation, b"\"a\":1"),
        (Section::Annotation, b"\"b\":true"),
        (Section::Metadata, b"\x07default\"k\":1"),
        (Section::Metadata, b"\x07default\"j\":[]"),
        (Section::Metadata, b"\x05other\"k\":2"),
        (Section::CauseTop, b"\"working_directory\":\"/\""),
        (Section::Exception, b""),
        (Section::Exception, b""),
        (Section::Precursor, b"\x01\x02\x03\x04\x05\x06\x07\x08"),
        (Section::CauseId, b"\"0123456789abcdef\""),
    ];

    /// An exception record: `frames` frames (`"f"`), `truncated` already left out.
    fn exception_payload(out: &mut heapless::Vec<u8, 128>, frames: u16, truncated: u32) {
        let members = b"\"id\":\"00000000000000aa\",\"message\":\"m\"";
        out.extend_from_slice(&exception::header(frames, truncated))
            .unwrap();
        let len = members.len() as u16;
        out[exception::MEMBERS_LEN].copy_from_slice(&len.to_le_bytes());
        out.extend_from_slice(members).unwrap();
        for i in 0..frames {
            if i > 0 {
                out.push(b',').unwrap();
            }
            out.extend_from_slice(b"{\"path\":\"f\"}").unwrap();
        }
    }

    /// Pushes `records` (indices into `RECORDS`) for slot 1 after its name, with a record of
    /// slot 2 between each, and writes slot 1's fields both ways. Returns (one pass, grouped).
    fn both_ways(order: &[usize]) -> (Option<heapless::Vec<u8, 2048>>, heapless::Vec<u8, 2048>) {
        let mut area = [0u8; 2048];
        let mut log = FieldLog::default();
        let push = |log: &mut FieldLog, area: &mut [u8], slot: u8, section, bytes: &[u8]| {
            log.push(area, slot, section, |s| s.write(bytes)).unwrap();
        };
        push(&mut log, &mut area, 1, Section::Name, b"\"name\":\"n\"");
        for (k, &i) in order.iter().enumerate() {
            let (section, payload) = RECORDS[i];
            let mut exc = heapless::Vec::<u8, 128>::new();
            let payload = if section == Section::Exception {
                exception_payload(&mut exc, (i % 2) as u16 * 2, (k % 3) as u32);
                &exc[..]
            } else {
                payload
            };
            push(&mut log, &mut area, 1, section, payload);
            push(&mut log, &mut area, 2, Section::Annotation, b"\"other\":0");
        }
        let slot = Slot {
            state: SlotState::Open,
            id: SegmentId::from_bytes([0xab; 8]),
            start: Timestamp::from_micros(1_700_000_000_000_001),
            flags: super::super::FLAG_FAULT,
            ..FREE
        };
        let doc = Doc {
            slot_index: 1,
            slot: &slot,
            end: Timestamp::from_micros(1_700_000_000_500_000),
            trace_id: None,
            parent_id: Some(SegmentId::from_bytes([0xcd; 8])),
            writers: Writers {
                top: Some(write_top),
                http: Some(write_http),
                metadata: Some(write_metadata),
                cause: Some(write_cause),
                precursors: Some(write_precursors),
            },
        };
        let mut one = [0u8; 2048];
        let mut s = SliceSink::new(&mut one);
        let fast = write_fields_in_order(&mut s, &log, &area, &doc)
            .ok()
            .map(|()| heapless::Vec::from_slice(s.as_bytes()).unwrap());
        let mut grouped = [0u8; 2048];
        let mut s = SliceSink::new(&mut grouped);
        write_fields_grouped(&mut s, &log, &area, &doc, Level::Full).unwrap();
        (fast, heapless::Vec::from_slice(s.as_bytes()).unwrap())
    }

    #[test]
    fn records_in_document_order_are_written_in_one_pass_as_the_grouped_writer_does() {
        // Every subset of the records that a document lists in order (one namespace, no
        // cause id), in that order: the one-pass writer writes them, byte for byte the same.
        let in_order: heapless::Vec<usize, 16> = (0..RECORDS.len())
            .filter(|&i| i != 10 && RECORDS[i].0 != Section::CauseId)
            .collect();
        // Every subset natively; under miri (where each takes most of a second) one in 397.
        let step = if cfg!(miri) { 397 } else { 1 };
        for mask in (0u32..1 << in_order.len()).step_by(step) {
            let order: heapless::Vec<usize, 16> = in_order
                .iter()
                .enumerate()
                .filter(|(k, _)| mask & (1 << k) != 0)
                .map(|(_, &i)| i)
                .collect();
            let (fast, grouped) = both_ways(&order);
            let fast = fast.unwrap_or_else(|| panic!("not written in one pass: {order:?}"));
            assert_eq!(
                core::str::from_utf8(&fast).unwrap(),
                core::str::from_utf8(&grouped).unwrap(),
                "{order:?}"
            );
        }
    }

    #[test]
    fn records_in_any_other_order_are_refused_or_written_the_same() {
        // Shuffles of every record (a second namespace and a cause id among them): whenever
        // the one-pass writer accepts an order, its bytes are the grouped writer's.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut accepted = 0;
        let rounds = if cfg!(miri) { 24 } else { 4000 };
        for round in 0..rounds {
            let n = 1 + round % RECORDS.len();
            let mut order: heapless::Vec<usize, 16> = (0..RECORDS.len()).collect();
            for i in (1..order.len()).rev() {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                order.swap(i, (seed >> 33) as usize % (i + 1));
            }
            order.truncate(n);
            let (fast, grouped) = both_ways(&order);
            if let Some(fast) = fast {
                accepted += 1;
                assert_eq!(fast, grouped, "{order:?}");
            }
        }
        // Short shuffles are often in order: the comparison above was made.
        assert!(
            accepted > rounds / 40,
            "only {accepted} orders written in one pass"
        );
    }
}
