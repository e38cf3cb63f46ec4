//! `X-Amzn-Trace-Id` parsing (`TraceHeader::parse`, `TraceId::parse`, `SegmentId::parse`).
//!
//! Invariants checked, beyond "no panic":
//! - input over `MAX_HEADER_LEN` bytes is `TooLong`; otherwise the result agrees with a small
//!   reference model of the grammar (spec §3.3) written here from the module docs: the same
//!   Root, Parent, Sampled, kept extra fields, `extra_dropped` and malformed fields (a field
//!   that cannot be read is lost alone, and flagged);
//! - the formatted header (`to_heapless`, `write_to`, `Display`) is the same text each way,
//!   at most `MAX_FORMATTED_LEN` bytes, visible ASCII only (no CR, LF, space), no empty part,
//!   no trailing `;`, `Root`/`Parent`/`Sampled` first and in that order;
//! - parse → format → parse is the identity (every field), and format is a fixed point;
//! - id round trip: `TraceId`/`SegmentId` parse → display gives the input lowercased, and
//!   display → parse gives the id back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xray_core::header::{EXTRA_CAPACITY, MAX_FORMATTED_LEN, MAX_HEADER_LEN};
use xray_core::{HeaderError, Malformed, SampledFlag, SegmentId, TraceHeader, TraceId};

#[derive(Debug, PartialEq)]
struct Model {
    root: Option<TraceId>,
    parent: Option<SegmentId>,
    sampled: SampledFlag,
    extra: String,
    dropped: bool,
    malformed: Malformed,
}

fn trim(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

fn reserved(k: &str) -> bool {
    ["root", "parent", "sampled", "self"]
        .iter()
        .any(|r| k.eq_ignore_ascii_case(r))
}

/// The grammar of the module docs, written independently (with `String`, no capacity tricks).
fn model(text: &str) -> Result<Model, HeaderError> {
    if text.len() > MAX_HEADER_LEN {
        return Err(HeaderError::TooLong);
    }
    let mut m = Model {
        root: None,
        parent: None,
        sampled: SampledFlag::Unknown,
        extra: String::new(),
        dropped: false,
        malformed: Malformed::default(),
    };
    for part in text.split(';') {
        let Some(eq) = part.find('=') else { continue };
        let (k, v) = (trim(&part[..eq]), trim(&part[eq + 1..]));
        if k.is_empty() || v.is_empty() {
            continue;
        }
        match k.to_ascii_lowercase().as_str() {
            "root" => {
                m.root = TraceId::parse(v).ok();
                m.malformed.root = TraceId::parse(v).err();
            }
            "parent" => {
                m.parent = SegmentId::parse(v).ok();
                m.malformed.parent = SegmentId::parse(v).err();
            }
            "sampled" => {
                m.sampled = match v {
                    "1" => SampledFlag::Sampled,
                    "0" => SampledFlag::NotSampled,
                    "?" => SampledFlag::Requested,
                    _ => SampledFlag::Unknown,
                };
                m.malformed.sampled = m.sampled == SampledFlag::Unknown;
            }
            "self" => {}
            _ => {
                let ok_key = k
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b';' && b != b'=');
                let ok_val = v.bytes().all(|b| b.is_ascii_graphic() && b != b';');
                let sep = usize::from(!m.extra.is_empty());
                if !ok_key
                    || !ok_val
                    || m.extra.len() + sep + k.len() + 1 + v.len() > EXTRA_CAPACITY
                {
                    m.dropped = true;
                } else {
                    if sep == 1 {
                        m.extra.push(';');
                    }
                    m.extra.push_str(k);
                    m.extra.push('=');
                    m.extra.push_str(v);
                }
            }
        }
    }
    Ok(m)
}

fn view(h: &TraceHeader) -> Model {
    Model {
        root: h.root(),
        parent: h.parent(),
        sampled: h.sampled(),
        extra: h.extra().to_owned(),
        dropped: h.extra_dropped(),
        malformed: h.malformed(),
    }
}

fn check_ids(text: &str) {
    if let Ok(id) = TraceId::parse(text) {
        let shown = id.to_string();
        assert_eq!(
            shown,
            text.to_ascii_lowercase(),
            "TraceId display is the lowercased input"
        );
        assert_eq!(&id.to_bytes()[..], shown.as_bytes());
        assert_eq!(TraceId::parse(&shown), Ok(id));
    }
    if let Ok(id) = SegmentId::parse(text) {
        let shown = id.to_string();
        assert_eq!(
            shown,
            text.to_ascii_lowercase(),
            "SegmentId display is the lowercased input"
        );
        assert_eq!(&id.to_bytes()[..], shown.as_bytes());
        assert_eq!(SegmentId::parse(&shown), Ok(id));
    }
}

fn check_formatted(h: &TraceHeader) -> String {
    let heapless = h.to_heapless();
    let mut written = String::new();
    h.write_to(&mut written)
        .expect("write_to a String cannot fail");
    assert_eq!(heapless.as_str(), written, "to_heapless and write_to agree");
    assert_eq!(h.to_string(), written, "Display and write_to agree");
    assert!(written.len() <= MAX_FORMATTED_LEN);
    assert!(
        written.bytes().all(|b| b.is_ascii_graphic()),
        "formatted header has only visible ASCII: {written:?}"
    );
    if !written.is_empty() {
        assert!(!written.ends_with(';') && !written.starts_with(';'));
        assert!(
            written.split(';').all(|p| p
                .split_once('=')
                .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())),
            "{written:?}"
        );
    }
    // Reserved keys come first, once each, in order; extra keys never look reserved.
    let keys: Vec<&str> = written
        .split(';')
        .filter_map(|p| p.split_once('='))
        .map(|(k, _)| k)
        .collect();
    let reserved_keys: Vec<&str> = keys.iter().copied().filter(|k| reserved(k)).collect();
    let expected: Vec<&str> = [
        ("Root", h.root().is_some()),
        ("Parent", h.parent().is_some()),
        ("Sampled", h.sampled() != SampledFlag::Unknown),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    assert_eq!(reserved_keys, expected);
    assert_eq!(&keys[..expected.len()], &expected[..]);
    written
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    check_ids(text);
    // Also try each `;` part's value on its own, which reaches the id parsers far more often.
    for part in text.split(';').take(8) {
        if let Some((_, v)) = part.split_once('=') {
            check_ids(v.trim_matches([' ', '\t']));
        }
    }

    let parsed = TraceHeader::parse(text);
    let expected = model(text);
    match (&parsed, &expected) {
        (Ok(h), Ok(m)) => assert_eq!(
            &view(h),
            m,
            "parse disagrees with the reference model for {text:?}"
        ),
        (Err(a), Err(b)) => assert_eq!(a, b, "different errors for {text:?}"),
        _ => panic!("parse {parsed:?} vs model {expected:?} for {text:?}"),
    }
    let Ok(h) = parsed else { return };

    let once = check_formatted(&h);
    let again = TraceHeader::parse(&once).expect("a formatted header parses");
    let mut want = view(&h);
    want.dropped = false;
    want.malformed = Malformed::default();
    assert_eq!(
        view(&again),
        want,
        "parse(format(h)) == h for {text:?} -> {once:?}"
    );
    assert_eq!(check_formatted(&again), once, "format is a fixed point");
    assert!(
        again.extra_fields().eq(h.extra_fields()),
        "extra fields survive the round trip"
    );

    // downstream() keeps extra fields and always has Root, Parent and Sampled=0|1.
    let root = TraceId::from_parts(0x5759_e988, [0xab; 12]);
    let parent = SegmentId::from_bytes([1, 2, 3, 4, 5, 6, 7, 8]);
    let down = h.downstream(root, parent, true);
    let text = check_formatted(&down);
    assert!(
        text.starts_with(
            "Root=1-5759e988-abababababababababababab;Parent=0102030405060708;Sampled=1"
        )
    );
    assert_eq!(down.extra(), h.extra());
    assert!(!down.malformed().any());
    assert_eq!(
        view(&TraceHeader::parse(&text).expect("downstream parses")),
        view(&down)
    );
});
