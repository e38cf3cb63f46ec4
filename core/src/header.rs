//! The `X-Amzn-Trace-Id` header (and the SQS `AWSTraceHeader` attribute, which uses the same
//! format): `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`.
//!
//! Parsing follows the tolerant peers (spec §3.3): parts are split on `;` and trimmed, keys are
//! compared case-insensitively, parts without `=` or with an empty key or value are skipped,
//! the last of duplicate keys wins, `Self` (added by ALB) is dropped, and other keys (such as
//! `Lineage`) are kept in their order, up to [`EXTRA_CAPACITY`] bytes, to be forwarded
//! downstream. Each field is read on its own, as the Go, Java and Node SDKs do: a `Root` or
//! `Parent` that is not a valid id, or a `Sampled` value other than `0`, `1` or `?`, loses
//! only that field (the last occurrence of a key decides), and [`TraceHeader::malformed`] says
//! which fields were lost, so a valid `Root` and an upstream `Sampled=1` survive a malformed
//! `Parent`. Work is bounded: input longer than [`MAX_HEADER_LEN`] is rejected before it is
//! looked at, the only error [`TraceHeader::parse`] returns.
//!
//! Formatting writes `Root`, `Parent`, `Sampled`, then the kept keys, with no spaces and no
//! trailing `;`. Every kept key and value was checked to be visible ASCII without `;`, so a
//! formatted header can never contain CR, LF or a key that was not put there as a key.

use crate::id::{IdError, SegmentId, TraceId};
use core::fmt;

/// Headers longer than this (bytes) are rejected unread. Lambda allows 8,192 characters.
pub const MAX_HEADER_LEN: usize = 8192;

/// Bytes kept for keys other than `Root`, `Parent`, `Sampled` and `Self`, as `K=V;K=V`
/// (Node's SDK keeps 256). Further keys are dropped and [`TraceHeader::extra_dropped`] is set.
pub const EXTRA_CAPACITY: usize = 256;

/// The longest text [`TraceHeader::to_heapless`] can produce.
pub const MAX_FORMATTED_LEN: usize =
    5 + TraceId::LEN + 8 + SegmentId::LEN + 10 + 1 + EXTRA_CAPACITY;

/// The `Sampled` field of a trace header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SampledFlag {
    /// `Sampled=1`: the caller sampled this trace.
    Sampled,
    /// `Sampled=0`: the caller did not sample this trace.
    NotSampled,
    /// `Sampled=?`: the caller asks this service to decide and to send the decision back.
    Requested,
    /// No `Sampled` field, or a value other than `0`, `1` or `?`.
    #[default]
    Unknown,
}

impl SampledFlag {
    /// The header value (`None` for [`SampledFlag::Unknown`], which is not written).
    pub const fn as_str(self) -> Option<&'static str> {
        match self {
            SampledFlag::Sampled => Some("1"),
            SampledFlag::NotSampled => Some("0"),
            SampledFlag::Requested => Some("?"),
            SampledFlag::Unknown => None,
        }
    }

    /// `Sampled` for `true`, `NotSampled` for `false`.
    pub const fn from_bool(sampled: bool) -> Self {
        if sampled {
            SampledFlag::Sampled
        } else {
            SampledFlag::NotSampled
        }
    }
}

/// Why a trace header was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The header is longer than [`MAX_HEADER_LEN`] bytes.
    TooLong,
    /// The `Root` value is not a valid trace id (see [`Malformed::root`]).
    InvalidRoot(IdError),
    /// The `Parent` value is not a valid segment id (see [`Malformed::parent`]).
    InvalidParent(IdError),
    /// A key or value given to [`TraceHeader::push_extra`] is empty, is a reserved key, or
    /// holds a character outside visible ASCII, `;`, or (in a key) `=`.
    InvalidExtra,
    /// A field given to [`TraceHeader::push_extra`] does not fit in [`EXTRA_CAPACITY`]
    /// (checked first: a field too long is refused with this whatever it holds).
    ExtraFull,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::TooLong => write!(f, "trace header longer than {MAX_HEADER_LEN} bytes"),
            HeaderError::InvalidRoot(e) => write!(f, "trace header Root is invalid: {e}"),
            HeaderError::InvalidParent(e) => write!(f, "trace header Parent is invalid: {e}"),
            HeaderError::InvalidExtra => {
                f.write_str("trace header field has a forbidden character")
            }
            HeaderError::ExtraFull => {
                write!(f, "trace header extra fields exceed {EXTRA_CAPACITY} bytes")
            }
        }
    }
}

impl core::error::Error for HeaderError {}

/// The fields a parsed header had but could not be read (see [`TraceHeader::malformed`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Malformed {
    /// Why the last `Root` value was not a trace id; the header then has no Root.
    pub root: Option<IdError>,
    /// Why the last `Parent` value was not a segment id; the header then has no Parent.
    pub parent: Option<IdError>,
    /// The last `Sampled` value was none of `0`, `1` and `?` (read as unknown).
    pub sampled: bool,
}

impl Malformed {
    /// Whether any field was lost.
    pub const fn any(&self) -> bool {
        self.root.is_some() || self.parent.is_some() || self.sampled
    }
}

/// A parsed `X-Amzn-Trace-Id` header.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TraceHeader {
    root: Option<TraceId>,
    parent: Option<SegmentId>,
    sampled: SampledFlag,
    extra: heapless::String<EXTRA_CAPACITY>,
    extra_dropped: bool,
    malformed: Malformed,
}

fn is_reserved(key: &str) -> bool {
    ["root", "parent", "sampled", "self"]
        .iter()
        .any(|k| key.eq_ignore_ascii_case(k))
}

fn valid_extra_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b';' && b != b'=')
}

fn valid_extra_value(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic() && b != b';')
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

impl TraceHeader {
    /// An empty header (no Root, no Parent, sampling unknown).
    pub const fn new() -> Self {
        Self {
            root: None,
            parent: None,
            sampled: SampledFlag::Unknown,
            extra: heapless::String::new(),
            extra_dropped: false,
            malformed: Malformed {
                root: None,
                parent: None,
                sampled: false,
            },
        }
    }

    /// A header for a call made from `parent` in trace `root`.
    pub fn with(root: TraceId, parent: Option<SegmentId>, sampled: SampledFlag) -> Self {
        Self {
            root: Some(root),
            parent,
            sampled,
            ..Self::new()
        }
    }

    /// Parses a header value (see the module documentation for the rules). The only error is
    /// [`HeaderError::TooLong`]; fields that cannot be read are left out and reported by
    /// [`TraceHeader::malformed`].
    pub fn parse(text: &str) -> Result<Self, HeaderError> {
        if text.len() > MAX_HEADER_LEN {
            return Err(HeaderError::TooLong);
        }
        let mut header = Self::new();
        for part in text.split(';') {
            let Some((key, value)) = part.split_once('=') else {
                continue;
            };
            let (key, value) = (trim(key), trim(value));
            if key.is_empty() || value.is_empty() {
                continue;
            }
            let lost = &mut header.malformed;
            if key.eq_ignore_ascii_case("root") {
                let root = TraceId::parse(value);
                lost.root = root.err();
                header.root = root.ok();
            } else if key.eq_ignore_ascii_case("parent") {
                let parent = SegmentId::parse(value);
                lost.parent = parent.err();
                header.parent = parent.ok();
            } else if key.eq_ignore_ascii_case("sampled") {
                lost.sampled = false;
                header.sampled = match value {
                    "1" => SampledFlag::Sampled,
                    "0" => SampledFlag::NotSampled,
                    "?" => SampledFlag::Requested,
                    _ => {
                        lost.sampled = true;
                        SampledFlag::Unknown
                    }
                };
            } else if key.eq_ignore_ascii_case("self") {
                // Added by ALB for its own hop; never forwarded.
            } else if header.push_extra(key, value).is_err() {
                header.extra_dropped = true;
            }
        }
        Ok(header)
    }

    /// The trace id (`Root`), if present.
    pub const fn root(&self) -> Option<TraceId> {
        self.root
    }

    /// The caller's segment or subsegment id (`Parent`), if present.
    pub const fn parent(&self) -> Option<SegmentId> {
        self.parent
    }

    /// The caller's sampling decision.
    pub const fn sampled(&self) -> SampledFlag {
        self.sampled
    }

    /// Sets the trace id.
    pub fn set_root(&mut self, root: Option<TraceId>) {
        self.root = root;
    }

    /// Sets the parent id.
    pub fn set_parent(&mut self, parent: Option<SegmentId>) {
        self.parent = parent;
    }

    /// Sets the sampling decision.
    pub fn set_sampled(&mut self, sampled: SampledFlag) {
        self.sampled = sampled;
    }

    /// The kept extra fields as `K=V;K=V` (empty if none).
    pub fn extra(&self) -> &str {
        &self.extra
    }

    /// The kept extra fields as `(key, value)` pairs, in their order.
    pub fn extra_fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.extra.split(';').filter_map(|kv| kv.split_once('='))
    }

    /// Whether parsing dropped extra fields (invalid characters or over [`EXTRA_CAPACITY`]).
    pub const fn extra_dropped(&self) -> bool {
        self.extra_dropped
    }

    /// The fields this header had but that could not be read, and were left out.
    pub const fn malformed(&self) -> Malformed {
        self.malformed
    }

    /// Appends an extra field to forward. The key must not be `Root`, `Parent`, `Sampled` or
    /// `Self`; key and value must be visible ASCII without `;` (and the key without `=`).
    ///
    /// A field that does not fit is refused with [`HeaderError::ExtraFull`] before its
    /// characters are read, so refusing a long value costs nothing.
    pub fn push_extra(&mut self, key: &str, value: &str) -> Result<(), HeaderError> {
        let sep = usize::from(!self.extra.is_empty());
        if self.extra.len() + sep + key.len() + 1 + value.len() > EXTRA_CAPACITY {
            return Err(HeaderError::ExtraFull);
        }
        if is_reserved(key) || !valid_extra_key(key) || !valid_extra_value(value) {
            return Err(HeaderError::InvalidExtra);
        }
        // Capacity was checked above, so these pushes cannot fail.
        if sep == 1 {
            let _ = self.extra.push(';');
        }
        let _ = self.extra.push_str(key);
        let _ = self.extra.push('=');
        let _ = self.extra.push_str(value);
        Ok(())
    }

    /// The header to send on a call made from `parent`: same Root and extra fields, the
    /// caller's id as Parent and this service's decision as Sampled.
    pub fn downstream(&self, root: TraceId, parent: SegmentId, sampled: bool) -> Self {
        Self {
            root: Some(root),
            parent: Some(parent),
            sampled: SampledFlag::from_bool(sampled),
            extra: self.extra.clone(),
            ..Self::new()
        }
    }

    /// Writes the header value (`Root=…;Parent=…;Sampled=…;K=V`).
    pub fn write_to<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        let mut first = true;
        let mut sep = |out: &mut W| -> fmt::Result {
            if !core::mem::take(&mut first) {
                out.write_char(';')?;
            }
            Ok(())
        };
        if let Some(root) = self.root {
            sep(out)?;
            write!(out, "Root={root}")?;
        }
        if let Some(parent) = self.parent {
            sep(out)?;
            write!(out, "Parent={parent}")?;
        }
        if let Some(s) = self.sampled.as_str() {
            sep(out)?;
            write!(out, "Sampled={s}")?;
        }
        if !self.extra.is_empty() {
            sep(out)?;
            out.write_str(&self.extra)?;
        }
        Ok(())
    }

    /// The header value in a fixed-capacity string (always fits).
    pub fn to_heapless(&self) -> heapless::String<MAX_FORMATTED_LEN> {
        let mut s = heapless::String::new();
        // MAX_FORMATTED_LEN bounds every field, so this cannot run out of room.
        let _ = self.write_to(&mut s);
        s
    }
}

impl fmt::Display for TraceHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

impl core::str::FromStr for TraceHeader {
    type Err = HeaderError;
    fn from_str(s: &str) -> Result<Self, HeaderError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    fn root() -> TraceId {
        TraceId::parse(ROOT).unwrap()
    }

    #[test]
    fn spec_vector_12_full_header() {
        let h = TraceHeader::parse(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        )
        .unwrap();
        assert_eq!(h.root(), Some(root()));
        assert_eq!(
            h.parent(),
            Some(SegmentId::parse("53995c3f42cd8ad8").unwrap())
        );
        assert_eq!(h.sampled(), SampledFlag::Sampled);
        assert_eq!(
            h.to_heapless(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        );
    }

    #[test]
    fn spec_vector_13_lineage_is_kept_and_forwarded() {
        let text = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1;Lineage=a87bd80c:1|68fd508a:5|c512fbe3:2";
        let h = TraceHeader::parse(text).unwrap();
        assert_eq!(h.extra(), "Lineage=a87bd80c:1|68fd508a:5|c512fbe3:2");
        assert_eq!(h.to_heapless(), text);
        let down = h.downstream(root(), SegmentId::from_bytes([1; 8]), false);
        assert_eq!(
            down.to_heapless(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0101010101010101;Sampled=0;Lineage=a87bd80c:1|68fd508a:5|c512fbe3:2"
        );
    }

    #[test]
    fn spec_vector_14_any_order_self_dropped_unknown_kept() {
        // Go's test uses Parent=foo; we require a real id, so use one.
        for text in [
            "Sampled=?;Root=1-57ff426a-80c11c39b0c928905eb0828d;Parent=53995c3f42cd8ad8;Self=2;Foo=bar",
            "Sampled=?; Root=1-57ff426a-80c11c39b0c928905eb0828d; Parent=53995c3f42cd8ad8; Self=2; Foo=bar",
        ] {
            let h = TraceHeader::parse(text).unwrap();
            assert_eq!(h.sampled(), SampledFlag::Requested);
            assert_eq!(
                h.root(),
                Some(TraceId::parse("1-57ff426a-80c11c39b0c928905eb0828d").unwrap())
            );
            assert_eq!(
                h.extra_fields().collect::<heapless::Vec<_, 4>>().as_slice(),
                &[("Foo", "bar")]
            );
        }
    }

    #[test]
    fn spec_vector_15_serialization() {
        let mut h = TraceHeader::new();
        h.set_sampled(SampledFlag::Sampled);
        assert_eq!(h.to_heapless(), "Sampled=1");
        let p = SegmentId::parse("53995c3f42cd8ad8").unwrap();
        h.set_parent(Some(p));
        assert_eq!(h.to_heapless(), "Parent=53995c3f42cd8ad8;Sampled=1");
        h.set_root(Some(root()));
        h.push_extra("Foo", "bar").unwrap();
        assert_eq!(
            h.to_heapless(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Foo=bar"
        );
        let mut only_extra = TraceHeader::new();
        only_extra.push_extra("Foo", "bar").unwrap();
        assert_eq!(only_extra.to_heapless(), "Foo=bar");
        assert_eq!(TraceHeader::new().to_heapless(), "");
        // Unknown sampling leaves no trailing separator (unlike Go and Java).
        let h = TraceHeader::with(root(), None, SampledFlag::Unknown);
        assert_eq!(h.to_heapless(), "Root=1-5759e988-bd862e3fe1be46a994272793");
    }

    #[test]
    fn spec_vector_16_node_edge_cases() {
        let h = TraceHeader::parse(
            "RoOt=1-58ed6027-14afb2e09172c337713486c0;PaREnT=48af77592b6dd73f;saMpLed=1",
        )
        .unwrap();
        assert!(h.root().is_some() && h.parent().is_some());
        assert_eq!(h.sampled(), SampledFlag::Sampled);
        for tail in [";", ";Parent", ";=48af77592b6dd73f", ";Parent="] {
            let text = [ROOT, tail].concat();
            let h = TraceHeader::parse(&["Root=", &text].concat()).unwrap();
            assert_eq!(h.root(), Some(root()));
            assert_eq!(h.parent(), None);
            assert_eq!(h.extra(), "");
        }
    }

    #[test]
    fn spec_vector_17_alb_self_is_ignored_without_validation() {
        let h = TraceHeader::parse("Self=1-67891233-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678;CalledFrom=app").unwrap();
        assert_eq!(
            h.root(),
            Some(TraceId::parse("1-67891233-abcdef012345678912345678").unwrap())
        );
        assert_eq!(h.extra(), "CalledFrom=app");
    }

    #[test]
    fn spec_vector_18_lambda_init_header_has_no_root() {
        let h = TraceHeader::parse("Parent=23b173df7f4902e2").unwrap();
        assert_eq!(h.root(), None);
        assert!(h.parent().is_some());
    }

    #[test]
    fn a_malformed_field_loses_only_that_field() {
        let h = TraceHeader::parse("Root=1-abc;Parent=53995c3f42cd8ad8;Sampled=1").unwrap();
        assert_eq!(h.root(), None);
        assert!(h.parent().is_some());
        assert_eq!(h.sampled(), SampledFlag::Sampled);
        assert_eq!(h.malformed().root, Some(IdError::Length));
        assert!(h.malformed().any());

        let h = TraceHeader::parse(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=foo;Sampled=1;Lineage=a:1",
        )
        .unwrap();
        assert_eq!(h.root(), Some(root()));
        assert_eq!(h.parent(), None);
        assert_eq!(h.sampled(), SampledFlag::Sampled);
        assert_eq!(h.extra(), "Lineage=a:1");
        assert_eq!(
            h.malformed(),
            Malformed {
                parent: Some(IdError::Length),
                ..Malformed::default()
            }
        );
        assert_eq!(
            h.to_heapless(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1;Lineage=a:1"
        );

        let h = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=yes").unwrap();
        assert_eq!(h.sampled(), SampledFlag::Unknown);
        assert!(h.malformed().sampled);
        // The last occurrence decides, for the flag as for the value.
        let h = TraceHeader::parse("Parent=zz;Parent=53995c3f42cd8ad8").unwrap();
        assert!(h.parent().is_some() && !h.malformed().any());
        let well_formed = TraceHeader::parse(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
        )
        .unwrap();
        assert!(!well_formed.malformed().any());
    }

    #[test]
    fn values_keep_later_equals_signs_and_drop_control_characters() {
        let h = TraceHeader::parse(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Tok=a=b==;Bad=x\r\nInjected: 1;Ok=1",
        )
        .unwrap();
        assert_eq!(h.extra(), "Tok=a=b==;Ok=1");
        assert!(h.extra_dropped());
    }

    #[test]
    fn extra_fields_beyond_capacity_are_dropped_and_flagged() {
        let long = "v".repeat(200);
        let text = ["A=", &long, ";B=", &long, ";C=c"].concat();
        let h = TraceHeader::parse(&text).unwrap();
        assert_eq!(h.extra_fields().count(), 2, "A and C fit, B does not");
        assert!(h.extra_dropped());
        assert!(h.extra().len() <= EXTRA_CAPACITY);
    }

    #[test]
    fn megabyte_header_is_rejected_unread() {
        let big = "a".repeat(1 << 20);
        assert_eq!(TraceHeader::parse(&big), Err(HeaderError::TooLong));
        let at_limit = "x".repeat(MAX_HEADER_LEN);
        assert!(TraceHeader::parse(&at_limit).is_ok());
    }

    #[test]
    fn push_extra_cannot_inject() {
        let mut h = TraceHeader::new();
        assert_eq!(
            h.push_extra("A", "b;Root=x"),
            Err(HeaderError::InvalidExtra)
        );
        assert_eq!(h.push_extra("A=B", "c"), Err(HeaderError::InvalidExtra));
        assert_eq!(
            h.push_extra("A", "b\r\nX: y"),
            Err(HeaderError::InvalidExtra)
        );
        assert_eq!(h.push_extra("root", "x"), Err(HeaderError::InvalidExtra));
        assert_eq!(h.push_extra("A", ""), Err(HeaderError::InvalidExtra));
        assert_eq!(h.extra(), "");
    }

    #[test]
    fn push_extra_refuses_what_does_not_fit_before_reading_it() {
        let mut h = TraceHeader::new();
        // `K=` and a value filling the rest fits exactly; one byte more does not, whatever
        // the bytes are (a forbidden character in a value too long is reported as too long).
        let fits = "v".repeat(EXTRA_CAPACITY - 2);
        assert_eq!(h.push_extra("K", &fits), Ok(()));
        assert_eq!(h.extra().len(), EXTRA_CAPACITY);
        let mut h = TraceHeader::new();
        let long = "v".repeat(EXTRA_CAPACITY - 1);
        assert_eq!(h.push_extra("K", &long), Err(HeaderError::ExtraFull));
        let long_and_bad = ";".repeat(EXTRA_CAPACITY);
        assert_eq!(
            h.push_extra("K", &long_and_bad),
            Err(HeaderError::ExtraFull)
        );
        assert_eq!(h.push_extra("K", ";"), Err(HeaderError::InvalidExtra));
        assert_eq!(h.extra(), "");
    }

    fn arb_header() -> impl Strategy<Value = TraceHeader> {
        let extra =
            proptest::collection::vec(("[A-Za-z][A-Za-z0-9_-]{0,8}", "[!-:<-~]{1,12}"), 0..6);
        (
            proptest::option::of((any::<u32>(), any::<[u8; 12]>())),
            proptest::option::of(any::<[u8; 8]>()),
            prop_oneof![
                Just(SampledFlag::Sampled),
                Just(SampledFlag::NotSampled),
                Just(SampledFlag::Requested),
                Just(SampledFlag::Unknown)
            ],
            extra,
        )
            .prop_map(|(root, parent, sampled, extra)| {
                let mut h = TraceHeader::new();
                h.set_root(root.map(|(e, r)| TraceId::from_parts(e, r)));
                h.set_parent(parent.map(SegmentId::from_bytes));
                h.set_sampled(sampled);
                for (k, v) in extra {
                    let _ = h.push_extra(&k, &v);
                }
                h
            })
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(h in arb_header()) {
            let text = h.to_heapless();
            let back = TraceHeader::parse(&text).unwrap();
            prop_assert_eq!(&back, &h);
            prop_assert_eq!(back.to_heapless(), text);
        }

        #[test]
        fn formatted_output_never_has_line_breaks(s in "\\PC{0,300}") {
            if let Ok(h) = TraceHeader::parse(&s) {
                let out = h.to_heapless();
                prop_assert!(!out.bytes().any(|b| b == b'\r' || b == b'\n'));
                // parse -> format -> parse is stable on whatever we accepted.
                prop_assert_eq!(TraceHeader::parse(&out).map(|h| h.to_heapless()), Ok(out.clone()));
            }
        }
    }
}
