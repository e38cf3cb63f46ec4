//! Trace ids (`1-5759e988-bd862e3fe1be46a994272793`) and segment ids (`53995c3f42cd8ad8`).

use crate::time::Timestamp;
use core::fmt;
use rand_core::Rng;

/// Why an id was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// The text has the wrong length (a trace id has 35 characters, a segment id 16).
    Length,
    /// The trace id does not start with version `1-`.
    Version,
    /// A `-` separator of the trace id is missing.
    Separator,
    /// A character that is not a hex digit.
    NotHex,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdError::Length => "id has the wrong length",
            IdError::Version => "trace id does not start with version 1",
            IdError::Separator => "trace id is missing a '-' separator",
            IdError::NotHex => "id contains a character that is not a hex digit",
        })
    }
}

impl core::error::Error for IdError {}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_value(c: u8) -> Result<u8, IdError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(IdError::NotHex),
    }
}

/// Decodes `2 * out.len()` hex digits (either case).
fn decode_hex(text: &[u8], out: &mut [u8]) -> Result<(), IdError> {
    for (pair, byte) in text.chunks_exact(2).zip(out.iter_mut()) {
        *byte = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Ok(())
}

/// Writes `bytes` as lowercase hex into `out` (which is twice as long).
#[cfg(feature = "small")]
#[inline(never)]
pub(crate) fn encode_hex(bytes: &[u8], out: &mut [u8]) {
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = HEX[(b >> 4) as usize];
        pair[1] = HEX[(b & 0xf) as usize];
    }
}

/// Writes `bytes` as lowercase hex into `out` (which is twice as long): one load of both
/// digits per byte from a 512-byte table. Inlined, so that each id's fixed length unrolls.
#[cfg(not(feature = "small"))]
#[inline]
pub(crate) fn encode_hex(bytes: &[u8], out: &mut [u8]) {
    for (&b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
}

/// The two lowercase hex digits of every byte.
#[cfg(any(test, not(feature = "small")))]
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut pairs = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [HEX[b >> 4], HEX[b & 0xf]];
        b += 1;
    }
    pairs
};

/// An X-Ray trace id: version 1, the epoch second the trace began, 96 random bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId {
    epoch_secs: u32,
    random: [u8; 12],
}

impl TraceId {
    /// Length of the text form.
    pub const LEN: usize = 35;

    /// The id X-Ray SDKs use for "no trace" (`1-00000000-000000000000000000000000`).
    pub const ZERO: TraceId = TraceId {
        epoch_secs: 0,
        random: [0; 12],
    };

    /// A trace id from its parts.
    pub const fn from_parts(epoch_secs: u32, random: [u8; 12]) -> Self {
        Self { epoch_secs, random }
    }

    /// A new trace id for a trace that begins at `now`.
    pub fn generate<R: Rng + ?Sized>(now: Timestamp, rng: &mut R) -> Self {
        // Two word draws rather than a byte fill: RNGs (hardware ones too) make words, and
        // their byte fill is a loop around them that each program would link for this alone.
        let mut random = [0u8; 12];
        let (high, low) = random.split_at_mut(8);
        high.copy_from_slice(&rng.next_u64().to_le_bytes());
        low.copy_from_slice(&rng.next_u32().to_le_bytes());
        // Epoch seconds fit 32 bits until 2106; saturate rather than wrap after that.
        let epoch_secs = u32::try_from(now.secs()).unwrap_or(u32::MAX);
        Self { epoch_secs, random }
    }

    /// Parses `1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY` (hex digits of either case).
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let b = text.as_bytes();
        if b.len() != Self::LEN {
            return Err(IdError::Length);
        }
        if b[0] != b'1' {
            return Err(IdError::Version);
        }
        if b[1] != b'-' || b[10] != b'-' {
            return Err(IdError::Separator);
        }
        let mut epoch = [0u8; 4];
        decode_hex(&b[2..10], &mut epoch)?;
        let mut random = [0u8; 12];
        decode_hex(&b[11..35], &mut random)?;
        Ok(Self {
            epoch_secs: u32::from_be_bytes(epoch),
            random,
        })
    }

    /// The epoch second recorded in the id.
    pub const fn epoch_secs(&self) -> u32 {
        self.epoch_secs
    }

    /// The 96 random bits.
    pub const fn random(&self) -> [u8; 12] {
        self.random
    }

    /// The text form, lowercase, as bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        // Starts from the zero id rather than from zero bytes: a run of zero bytes is cleared
        // with a `memclr` call, which firmware would otherwise link for this alone.
        let mut out = *b"1-00000000-000000000000000000000000";
        encode_hex(&self.epoch_secs.to_be_bytes(), &mut out[2..10]);
        encode_hex(&self.random, &mut out[11..35]);
        out
    }

    /// The text form in JSON quotes, for the encoder to write at once.
    pub(crate) fn to_quoted_bytes(self) -> [u8; Self::LEN + 2] {
        let mut out = *b"\"1-00000000-000000000000000000000000\"";
        encode_hex(&self.epoch_secs.to_be_bytes(), &mut out[3..11]);
        encode_hex(&self.random, &mut out[12..36]);
        out
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        // Hex digits and '-' only: always ASCII.
        f.write_str(core::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl core::str::FromStr for TraceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

/// A 64-bit segment, subsegment or exception id, written as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentId([u8; 8]);

impl SegmentId {
    /// Length of the text form.
    pub const LEN: usize = 16;

    /// The all-zero id X-Ray SDKs use for "no segment".
    pub const ZERO: SegmentId = SegmentId([0; 8]);

    /// A segment id from its bytes.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }

    /// The id's bytes.
    pub const fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// A new random id (never the zero id).
    pub fn generate<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = rng.next_u64().to_be_bytes();
        if bytes == [0; 8] {
            bytes[7] = 1;
        }
        Self(bytes)
    }

    /// Parses 16 hex digits (either case).
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let b = text.as_bytes();
        if b.len() != Self::LEN {
            return Err(IdError::Length);
        }
        let mut bytes = [0u8; 8];
        decode_hex(b, &mut bytes)?;
        Ok(Self(bytes))
    }

    /// The text form, lowercase, as bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        encode_hex(&self.0, &mut out);
        out
    }

    /// The text form in JSON quotes, for the encoder to write at once.
    pub(crate) fn to_quoted_bytes(self) -> [u8; Self::LEN + 2] {
        let mut out = *b"\"0000000000000000\"";
        encode_hex(&self.0, &mut out[1..17]);
        out
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        f.write_str(core::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SegmentId({self})")
    }
}

impl core::str::FromStr for SegmentId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;
    use proptest::prelude::*;

    #[test]
    fn parses_and_formats_the_spec_examples() {
        for text in [
            "1-5759e988-bd862e3fe1be46a994272793",
            "1-581cf771-a006649127e371903a2de979",
        ] {
            let id = TraceId::parse(text).unwrap();
            assert_eq!(&id.to_bytes()[..], text.as_bytes());
        }
        let id = TraceId::parse("1-5759E988-BD862E3FE1BE46A994272793").unwrap();
        assert_eq!(id.epoch_secs(), 0x5759e988);
        assert_eq!(&id.to_bytes()[..], b"1-5759e988-bd862e3fe1be46a994272793");
        let seg = SegmentId::parse("53995c3f42cd8ad8").unwrap();
        assert_eq!(&seg.to_bytes(), b"53995c3f42cd8ad8");
        assert_eq!(&seg.to_quoted_bytes(), b"\"53995c3f42cd8ad8\"");
        assert_eq!(
            &id.to_quoted_bytes()[..],
            b"\"1-5759e988-bd862e3fe1be46a994272793\""
        );
    }

    #[test]
    fn rejects_malformed_ids_with_a_reason() {
        assert_eq!(TraceId::parse(""), Err(IdError::Length));
        assert_eq!(
            TraceId::parse("2-5759e988-bd862e3fe1be46a994272793"),
            Err(IdError::Version)
        );
        assert_eq!(
            TraceId::parse("1_5759e988-bd862e3fe1be46a994272793"),
            Err(IdError::Separator)
        );
        assert_eq!(
            TraceId::parse("1-5759e988-bd862e3fe1be46a99427279g"),
            Err(IdError::NotHex)
        );
        // ALB's documented Self id has only 23 digits.
        assert_eq!(
            TraceId::parse("1-67891233-12456789abcdef012345678"),
            Err(IdError::Length)
        );
        assert_eq!(SegmentId::parse("foo"), Err(IdError::Length));
        assert_eq!(SegmentId::parse("53995c3f42cd8adz"), Err(IdError::NotHex));
        // Multi-byte UTF-8 of the right byte length is still not hex.
        assert_eq!(
            SegmentId::parse("ééééééééé"[..16].trim()),
            Err(IdError::NotHex)
        );
    }

    #[test]
    fn generates_from_clock_and_rng() {
        let mut rng = TestRng(7);
        let now = Timestamp::from_secs_micros(0x6000_0000, 0);
        let t = TraceId::generate(now, &mut rng);
        assert_eq!(t.epoch_secs(), 0x6000_0000);
        let a = SegmentId::generate(&mut rng);
        let b = SegmentId::generate(&mut rng);
        assert_ne!(a, b);
        assert_ne!(a, SegmentId::ZERO);
    }

    #[test]
    fn hex_table_agrees_with_fmt() {
        for (b, pair) in HEX_PAIRS.iter().enumerate() {
            assert_eq!(pair, std::format!("{b:02x}").as_bytes());
        }
    }

    proptest! {
        #[test]
        fn encode_hex_agrees_with_fmt(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut out = std::vec![b'?'; bytes.len() * 2];
            encode_hex(&bytes, &mut out);
            let want: std::string::String = bytes.iter().map(|b| std::format!("{b:02x}")).collect();
            prop_assert_eq!(out, want.into_bytes());
        }

        #[test]
        fn trace_id_round_trips(epoch in any::<u32>(), random in any::<[u8; 12]>()) {
            let id = TraceId::from_parts(epoch, random);
            let bytes = id.to_bytes();
            let text = core::str::from_utf8(&bytes).unwrap();
            prop_assert_eq!(TraceId::parse(text), Ok(id));
        }

        #[test]
        fn segment_id_round_trips(bytes in any::<[u8; 8]>()) {
            let id = SegmentId::from_bytes(bytes);
            let text = id.to_bytes();
            prop_assert_eq!(SegmentId::parse(core::str::from_utf8(&text).unwrap()), Ok(id));
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = TraceId::parse(&s);
            let _ = SegmentId::parse(&s);
        }
    }
}
