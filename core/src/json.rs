//! JSON output primitives: escaped strings cut at a character boundary, names filtered to the
//! schema's character set, integers, finite floats, fixed-point timestamps and hex ids.
//!
//! Everything writes through a [`Sink`], so a write that does not fit leaves nothing behind.

use crate::id::{SegmentId, TraceId};
use crate::name_charset::is_name_char;
use crate::sink::{Full, Sink};

/// The longest name X-Ray accepts, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The name written when filtering leaves nothing of the given name.
pub const FALLBACK_NAME: &str = "unnamed";

/// Cuts `text` to at most `max_chars` characters (at a char boundary). Returns the kept part
/// and whether anything was cut.
#[cfg_attr(not(feature = "small"), inline)]
pub(crate) fn cut_chars(text: &str, max_chars: usize) -> (&str, bool) {
    // A string has at most as many characters as bytes: no counting when the byte length
    // already proves it short enough (inlined, so that callers skip the call too).
    if text.len() <= max_chars {
        return (text, false);
    }
    cut_long(text, max_chars)
}

/// [`cut_chars`] for text of more bytes than `max_chars`.
#[cfg_attr(not(feature = "small"), inline(never))]
fn cut_long(text: &str, max_chars: usize) -> (&str, bool) {
    // A character starts at every byte that is not a UTF-8 continuation byte (0b10xx_xxxx).
    let mut chars = 0;
    for (at, &b) in text.as_bytes().iter().enumerate() {
        if b & 0xc0 != 0x80 {
            if chars == max_chars {
                return (text.get(..at).unwrap_or_default(), true);
            }
            chars += 1;
        }
    }
    (text, false)
}

// Two implementations of escaping, name filtering and timestamps: `fast` (the default) and
// `small` (the `small` feature), with the same output byte for byte. The crate uses the one
// its features select; unit tests compile both and compare them (`same_output_both_ways`),
// and the recorder fuzz target compares whole recordings of a core built each way.
#[cfg(not(feature = "small"))]
pub(crate) use fast::{escaped, name, timestamp};
#[cfg(feature = "small")]
pub(crate) use small::{escaped, name, timestamp};

/// The default versions: eight bytes at a time where they can.
#[cfg(any(test, not(feature = "small")))]
mod fast {
    use super::{FALLBACK_NAME, MAX_NAME_CHARS, TIMESTAMP_TEMPLATE, escape_of, is_name_ascii};
    use crate::name_charset::is_name_char;
    use crate::sink::{Full, Sink};
    use crate::time::Timestamp;

    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;

    /// Eight bytes as a little-endian word (`chunk` has exactly eight).
    pub(super) fn load8(chunk: &[u8]) -> u64 {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        u64::from_le_bytes(word)
    }

    /// Whether some byte of `x` equals `byte` (may also report a byte right after a match).
    #[cfg(test)]
    pub(super) fn has_byte(x: u64, byte: u8) -> bool {
        zero_bytes(x ^ (ONES * u64::from(byte))) & HIGHS != 0
    }

    /// The high bit of each byte lane of `y` that is zero (and maybe of lanes above one that
    /// is: exact as to whether any is).
    fn zero_bytes(y: u64) -> u64 {
        y.wrapping_sub(ONES) & !y
    }

    /// Whether all eight bytes are ASCII that JSON strings take as is: no control character,
    /// no `"`, no `\`, nothing above 0x7f (checked byte by byte instead).
    pub(super) fn plain_ascii8(x: u64) -> bool {
        // The high bit of a byte's lane is set where the byte is below 0x20, is 0x80 or
        // above, or equals `"` or `\` (the zero-byte test on x XOR the byte): one test, one
        // branch.
        let below_space = x.wrapping_sub(ONES * 0x20) & !x;
        let quote = zero_bytes(x ^ (ONES * u64::from(b'"')));
        let backslash = zero_bytes(x ^ (ONES * u64::from(b'\\')));
        (below_space | x | quote | backslash) & HIGHS == 0
    }

    /// Bytes a JSON string takes as is without a look: printable ASCII except `"` and `\`
    /// (`plain_ascii8` for one byte, as a table).
    const PLAIN: [bool; 256] = byte_table!(|b| b >= 0x20 && b < 0x80 && b != b'"' && b != b'\\');

    /// Four bytes as a little-endian word (`chunk` has exactly four).
    fn load4(chunk: &[u8]) -> u32 {
        let mut word = [0u8; 4];
        word.copy_from_slice(chunk);
        u32::from_le_bytes(word)
    }

    /// Whether every byte is plain ASCII (see [`PLAIN`]): eight bytes at a time, the last
    /// eight (or, below eight, the first and the last four) overlapping what came before,
    /// so that no tail is copied or looked at byte by byte.
    pub(super) fn all_plain(bytes: &[u8]) -> bool {
        let n = bytes.len();
        if n >= 8 {
            let mut i = 0;
            while i + 8 < n {
                if !plain_ascii8(load8(&bytes[i..i + 8])) {
                    return false;
                }
                i += 8;
            }
            return plain_ascii8(load8(&bytes[n - 8..]));
        }
        if n >= 4 {
            let word = u64::from(load4(&bytes[..4])) | (u64::from(load4(&bytes[n - 4..])) << 32);
            return plain_ascii8(word);
        }
        bytes.iter().all(|&b| PLAIN[usize::from(b)])
    }

    /// Writes the escaped contents of a JSON string (without quotes).
    ///
    /// Escapes `"`, `\`, every control character below U+0020 and U+2028/U+2029 (valid JSON,
    /// but line breaks to JavaScript and to some log pipelines).
    #[inline]
    pub(crate) fn escaped<S: Sink + ?Sized>(s: &mut S, text: &str) -> Result<(), Full> {
        // The common case, plain ASCII throughout, is written at once, inlined at the caller.
        if all_plain(text.as_bytes()) {
            return s.write(text.as_bytes());
        }
        escaped_any(s, text)
    }

    /// [`escaped`] for any text.
    #[inline(never)]
    pub(super) fn escaped_any<S: Sink + ?Sized>(s: &mut S, text: &str) -> Result<(), Full> {
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut run = 0;
        while i < bytes.len() {
            // Eight bytes at a time while none needs a look.
            if let Some(chunk) = bytes.get(i..i + 8)
                && plain_ascii8(load8(chunk))
            {
                i += 8;
                continue;
            }
            let b = bytes[i];
            if b >= 0x20 && b != b'"' && b != b'\\' && b != 0xe2 {
                i += 1;
                continue;
            }
            // A byte that needs a look starts a character: it is ASCII or a lead byte.
            let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
                i += 1;
                continue;
            };
            let mut hex = [0u8; 6];
            if let Some(escape) = escape_of(c, &mut hex) {
                s.write(&bytes[run..i])?;
                s.write(escape)?;
                run = i + c.len_utf8();
            }
            i += c.len_utf8();
        }
        s.write(&bytes[run..])
    }

    /// [`is_name_ascii`] as a table over every byte: one load per byte instead of a chain
    /// of comparisons (false for every byte of a multi-byte character).
    const NAME_ASCII: [bool; 256] = byte_table!(|b| b < 128 && is_name_ascii(b));

    /// Whether every byte is ASCII allowed in a name: eight table loads and'ed per branch.
    pub(super) fn all_name_ascii(bytes: &[u8]) -> bool {
        let allowed = |ok: bool, &b: &u8| ok & NAME_ASCII[usize::from(b)];
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            if !chunk.iter().fold(true, allowed) {
                return false;
            }
        }
        chunks.remainder().iter().fold(true, allowed)
    }

    /// Bit `j` set when byte `j` of `chunk` is ASCII that may appear in a name.
    fn name_mask(chunk: &[u8; 8]) -> u32 {
        let mut mask = 0;
        for (j, &b) in chunk.iter().enumerate() {
            mask |= u32::from(NAME_ASCII[usize::from(b)]) << j;
        }
        mask
    }

    /// How many bytes at the start of `bytes` are, 32 at a time, ASCII outside the name set
    /// (a multiple of 32): a long name of rejected ASCII costs a few comparisons per 32 bytes.
    fn rejected_ascii_run(bytes: &[u8]) -> usize {
        let mut blocks = bytes.chunks_exact(32);
        let mut skipped = 0;
        for block in &mut blocks {
            let (mut high, mut any) = (0, false);
            for word in block.chunks_exact(8) {
                high |= load8(word) & HIGHS;
                for &b in word {
                    any |= NAME_ASCII[usize::from(b)];
                }
            }
            if high != 0 || any {
                break;
            }
            skipped += 32;
        }
        skipped
    }

    /// Non-ASCII characters found outside the name set, by their low four bits: a long name
    /// of the same few rejected characters looks each up in the packed table once.
    struct Rejected([u32; 16]);

    impl Rejected {
        fn is_name_char(&mut self, c: char) -> bool {
            let slot = &mut self.0[c as usize % 16];
            if *slot == c as u32 {
                return false;
            }
            let ok = is_name_char(c);
            if !ok {
                *slot = c as u32;
            }
            ok
        }
    }

    /// Writes `name` as a JSON string, keeping only characters of the schema's name set and
    /// at most [`MAX_NAME_CHARS`] of them; [`FALLBACK_NAME`] if none is left. Returns whether
    /// the name was changed.
    #[inline]
    pub(crate) fn name<S: Sink + ?Sized>(s: &mut S, name: &str) -> Result<bool, Full> {
        let bytes = name.as_bytes();
        // The common case, inlined at the caller: allowed ASCII throughout and short enough,
        // kept as it is (with the writes `filtered_name` makes for it, in the same order).
        if (1..=MAX_NAME_CHARS).contains(&bytes.len()) && all_name_ascii(bytes) {
            s.byte(b'"')?;
            s.write(bytes)?;
            s.byte(b'"')?;
            return Ok(false);
        }
        filtered_name(s, name)
    }

    /// [`name`] for any name: the characters outside the name set left out.
    #[inline(never)]
    pub(super) fn filtered_name<S: Sink + ?Sized>(s: &mut S, name: &str) -> Result<bool, Full> {
        let bytes = name.as_bytes();
        s.byte(b'"')?;
        let mut kept = 0;
        let mut changed = false;
        // Kept bytes not yet written: `run..i`.
        let mut run = 0;
        let mut i = 0;
        // Empty slots hold 0, an ASCII character, which never reaches the cache.
        let mut rejected = Rejected([0; 16]);
        while i < bytes.len() && kept < MAX_NAME_CHARS {
            // Eight bytes at a time, tested against the table: kept whole, skipped whole (with
            // the rejected ASCII after them), or their leading ASCII byte by byte when mixed.
            if let Some((chunk, _)) = bytes[i..].split_first_chunk::<8>() {
                let mask = name_mask(chunk);
                if mask == 0xff && kept + 8 <= MAX_NAME_CHARS {
                    kept += 8;
                    i += 8;
                    continue;
                }
                let ascii = ((u64::from_le_bytes(*chunk) & HIGHS).trailing_zeros() / 8) as usize;
                if ascii > 0 {
                    if mask & ((1 << ascii) - 1) == 0 {
                        s.write(&bytes[run..i])?;
                        changed = true;
                        i += ascii + rejected_ascii_run(&bytes[i + ascii..]);
                        run = i;
                        continue;
                    }
                    let mut j = 0;
                    while j < ascii && kept < MAX_NAME_CHARS {
                        if mask >> j & 1 == 1 {
                            kept += 1;
                        } else {
                            s.write(&bytes[run..i + j])?;
                            changed = true;
                            run = i + j + 1;
                        }
                        j += 1;
                    }
                    i += j;
                    continue;
                }
            }
            // One character: the last few bytes, or a character above ASCII.
            let b = bytes[i];
            if NAME_ASCII[usize::from(b)] {
                i += 1;
                kept += 1;
                continue;
            }
            let Some(c) = name.get(i..).and_then(|rest| rest.chars().next()) else {
                break;
            };
            let len = c.len_utf8();
            if b.is_ascii() || !rejected.is_name_char(c) {
                s.write(&bytes[run..i])?;
                changed = true;
                run = i + len;
            } else if matches!(c, '\u{2028}' | '\u{2029}') {
                s.write(&bytes[run..i])?;
                s.write(if c == '\u{2028}' {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                })?;
                run = i + len;
                kept += 1;
            } else {
                kept += 1;
            }
            i += len;
        }
        s.write(&bytes[run..i])?;
        changed |= i < bytes.len();
        if kept == 0 {
            s.write(FALLBACK_NAME.as_bytes())?;
            changed = true;
        }
        s.byte(b'"')?;
        Ok(changed)
    }

    /// Writes a timestamp as fixed-point epoch seconds (`1700000000.123456`), two digits at
    /// a time.
    #[inline]
    pub(crate) fn timestamp<S: Sink + ?Sized>(s: &mut S, t: Timestamp) -> Result<(), Full> {
        // Every clock reading from 2001 to 2286: seventeen bytes in one fixed-size write.
        match t.ten_digit_decimal() {
            Some(text) => s.write(&text),
            None => any_timestamp(s, t),
        }
    }

    /// [`timestamp`] for any time.
    #[inline(never)]
    pub(super) fn any_timestamp<S: Sink + ?Sized>(s: &mut S, t: Timestamp) -> Result<(), Full> {
        let mut buf = TIMESTAMP_TEMPLATE;
        let n = t.write_decimal(&mut buf);
        s.write(&buf[..n])
    }
}

/// The `small` feature's versions: the same output in less code.
#[cfg(any(test, feature = "small"))]
mod small {
    use super::{FALLBACK_NAME, MAX_NAME_CHARS, TIMESTAMP_TEMPLATE, escape_of, is_name_char_quick};
    use crate::sink::{Full, Sink};
    use crate::time::Timestamp;

    /// Writes the escaped contents of a JSON string (without quotes), as the default version
    /// does, without its eight-byte scans.
    pub(crate) fn escaped<S: Sink + ?Sized>(s: &mut S, text: &str) -> Result<(), Full> {
        let bytes = text.as_bytes();
        let (mut run, mut i) = (0, 0);
        while i < bytes.len() {
            // What needs escaping is ASCII, or U+2028 / U+2029 (E2 80 A8 / E2 80 A9): bytes
            // are looked at one by one, with no UTF-8 decoding.
            let c = match (bytes[i], bytes.get(i + 1..i + 3)) {
                (0xe2, Some([0x80, 0xa8])) => '\u{2028}',
                (0xe2, Some([0x80, 0xa9])) => '\u{2029}',
                (b @ 0..=0x7f, _) => char::from(b),
                _ => '\u{80}',
            };
            let mut hex = [0u8; 6];
            let Some(escape) = escape_of(c, &mut hex) else {
                i += 1;
                continue;
            };
            // Runs of characters that need no escaping are written at once.
            s.write(bytes.get(run..i).unwrap_or_default())?;
            s.write(escape)?;
            i += c.len_utf8();
            run = i;
        }
        s.write(bytes.get(run..).unwrap_or_default())
    }

    /// Writes `name` as the default version does, one character at a time.
    pub(crate) fn name<S: Sink + ?Sized>(s: &mut S, name: &str) -> Result<bool, Full> {
        s.byte(b'"')?;
        let (mut kept, mut changed) = (0, false);
        for c in name.chars() {
            if kept == MAX_NAME_CHARS {
                changed = true;
                break;
            }
            if !is_name_char_quick(c) {
                changed = true;
                continue;
            }
            // Of the name set, only U+2028 and U+2029 need escaping.
            let mut utf8 = [0u8; 4];
            escaped(s, c.encode_utf8(&mut utf8))?;
            kept += 1;
        }
        if kept == 0 {
            s.write(FALLBACK_NAME.as_bytes())?;
            changed = true;
        }
        s.byte(b'"')?;
        Ok(changed)
    }

    /// Writes a timestamp as the default version does, one digit at a time with no table of
    /// digit pairs.
    pub(crate) fn timestamp<S: Sink + ?Sized>(s: &mut S, t: Timestamp) -> Result<(), Full> {
        let mut buf = TIMESTAMP_TEMPLATE;
        let at = t.write_decimal_right(&mut buf);
        s.write(&buf[at..])
    }
}

/// How `c` is written inside a JSON string, if not as itself: `"`, `\`, the control
/// characters (short forms, else `\u00XX` built in `hex`), and U+2028/U+2029.
// Out of line: only characters that need escaping reach it (and it keeps `escaped` small).
#[inline(never)]
fn escape_of(c: char, hex: &mut [u8; 6]) -> Option<&[u8]> {
    Some(match c {
        '"' => b"\\\"",
        '\\' => b"\\\\",
        '\n' => b"\\n",
        '\r' => b"\\r",
        '\t' => b"\\t",
        '\u{8}' => b"\\b",
        '\u{c}' => b"\\f",
        '\u{2028}' => b"\\u2028",
        '\u{2029}' => b"\\u2029",
        '\0'..='\u{1f}' => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let b = c as usize;
            *hex = [b'\\', b'u', b'0', b'0', HEX[b >> 4], HEX[b & 0xf]];
            hex
        }
        _ => return None,
    })
}

/// Brackets (`{ [ ] }`) outside strings, as `(index, depth after it)`; closing at depth 0
/// stays at 0. Used to find where an object ends and how deep a text nests.
pub(crate) fn bracket_depths(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    bytes.iter().enumerate().filter_map(move |(i, &b)| {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            return None;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => return None,
        }
        (b != b'"').then_some((i, depth))
    })
}

/// Containers nested deeper than this make [`is_json_value`] say no.
pub(crate) const MAX_CHECKED_DEPTH: u32 = 64;

/// Whether `b` is exactly one JSON value (RFC 8259 syntax; strings assumed UTF-8). Checks a
/// sampling rules file before serde-json-core parses it, since that parser accepts some text
/// that is not JSON. Iterative, at most [`MAX_CHECKED_DEPTH`] deep.
pub(crate) fn is_json_value(b: &[u8]) -> bool {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Want {
        Value,
        ValueOrEnd,
        Key,
        KeyOrEnd,
        Colon,
        CommaOrEnd,
    }
    let mut want = Want::Value;
    // One bit per open container, 1 for an object.
    let mut objects: u64 = 0;
    let mut depth = 0u32;
    let mut i = 0;
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        let Some(&c) = b.get(i) else {
            return depth == 0 && want == Want::CommaOrEnd;
        };
        let closes = match want {
            Want::ValueOrEnd => c == b']',
            Want::KeyOrEnd => c == b'}',
            Want::CommaOrEnd => depth > 0 && c == if objects & 1 == 1 { b'}' } else { b']' },
            _ => false,
        };
        if closes {
            objects >>= 1;
            depth -= 1;
            i += 1;
            want = Want::CommaOrEnd;
            continue;
        }
        let next = match want {
            Want::Value | Want::ValueOrEnd => match c {
                b'{' | b'[' => {
                    if depth == MAX_CHECKED_DEPTH {
                        return false;
                    }
                    depth += 1;
                    objects = (objects << 1) | u64::from(c == b'{');
                    want = if c == b'{' {
                        Want::KeyOrEnd
                    } else {
                        Want::ValueOrEnd
                    };
                    i += 1;
                    continue;
                }
                b'"' => skip_string(b, i),
                b't' => b[i..].starts_with(b"true").then_some(i + 4),
                b'f' => b[i..].starts_with(b"false").then_some(i + 5),
                b'n' => b[i..].starts_with(b"null").then_some(i + 4),
                b'-' | b'0'..=b'9' => skip_number(b, i),
                _ => None,
            },
            Want::Key | Want::KeyOrEnd => (c == b'"').then(|| skip_string(b, i)).flatten(),
            Want::Colon => (c == b':').then_some(i + 1),
            Want::CommaOrEnd => (depth > 0 && c == b',').then_some(i + 1),
        };
        let Some(next) = next else { return false };
        i = next;
        want = match want {
            Want::Key | Want::KeyOrEnd => Want::Colon,
            Want::Colon => Want::Value,
            Want::CommaOrEnd if objects & 1 == 1 => Want::Key,
            Want::CommaOrEnd => Want::Value,
            Want::Value | Want::ValueOrEnd => Want::CommaOrEnd,
        };
    }
}

/// The index after the string starting at `b[i] == '"'`.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match *b.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => match *b.get(j + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                b'u' if b.get(j + 2..j + 6)?.iter().all(u8::is_ascii_hexdigit) => j += 6,
                _ => return None,
            },
            0x00..=0x1f => return None,
            _ => j += 1,
        }
    }
}

/// The index after the number starting at `b[i]`.
fn skip_number(b: &[u8], i: usize) -> Option<usize> {
    let digits = |mut j: usize| {
        let start = j;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        (j > start).then_some(j)
    };
    let mut j = i + usize::from(b[i] == b'-');
    j = match b.get(j)? {
        b'0' => j + 1,
        _ => digits(j)?,
    };
    if b.get(j) == Some(&b'.') {
        j = digits(j + 1)?;
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        j += 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        j = digits(j)?;
    }
    Some(j)
}

/// Writes `"text"`, cut to `max_chars` characters. Returns whether it was cut.
pub(crate) fn string<S: Sink + ?Sized>(
    s: &mut S,
    text: &str,
    max_chars: usize,
) -> Result<bool, Full> {
    let (kept, cut) = cut_chars(text, max_chars);
    s.byte(b'"')?;
    escaped(s, kept)?;
    s.byte(b'"')?;
    Ok(cut)
}

/// Writes `"key":` for a key that needs no escaping (the crate's own field names).
pub(crate) fn key<S: Sink + ?Sized>(s: &mut S, key: &str) -> Result<(), Full> {
    s.byte(b'"')?;
    s.write(key.as_bytes())?;
    s.write(b"\":")
}

/// Whether `c` may appear in a name, with ASCII checked without a walk through the packed
/// table.
pub(crate) const fn is_name_char_quick(c: char) -> bool {
    if c.is_ascii() {
        is_name_ascii(c as u8)
    } else {
        is_name_char(c)
    }
}

/// Whether an ASCII byte may appear in a name: letters, digits, space and `_.:/%&#=+-@`.
pub(crate) const fn is_name_ascii(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b' ' | b'_' | b'.' | b':' | b'/' | b'%' | b'&' | b'#' | b'=' | b'+' | b'-' | b'@'
        )
}

/// Starting contents of the digit buffers below: every byte is overwritten before it is
/// read. Copied from a constant rather than zeroed, so that firmware links no separate
/// `memclr` routine for them (`memcpy` is linked anyway).
const DIGITS_TEMPLATE: [u8; 20] = *b"01234567890123456789";
const TIMESTAMP_TEMPLATE: [u8; 27] = *b"012345678901234567890123456";

/// Writes an unsigned integer.
pub(crate) fn u64<S: Sink + ?Sized>(s: &mut S, mut v: u64) -> Result<(), Full> {
    // Most integers recorded are small (status codes, counts): written at once, in the
    // default build, without the loop and its variable-length copy.
    #[cfg(not(feature = "small"))]
    if v < 1000 {
        let v = v as u32;
        let digit = |d: u32| b'0' + (d % 10) as u8;
        return match v {
            0..10 => s.byte(digit(v)),
            10..100 => s.write(&[digit(v / 10), digit(v)]),
            _ => s.write(&[digit(v / 100), digit(v / 10), digit(v)]),
        };
    }
    let mut buf = DIGITS_TEMPLATE;
    let mut i = buf.len();
    loop {
        i -= 1;
        let (rest, digit) = crate::divide::div_rem(v, crate::divide::by(10));
        buf[i] = b'0' + digit as u8;
        v = rest;
        if v == 0 {
            break;
        }
    }
    s.write(&buf[i..])
}

/// Writes a signed integer.
pub(crate) fn i64<S: Sink + ?Sized>(s: &mut S, v: i64) -> Result<(), Full> {
    if v < 0 {
        s.byte(b'-')?;
    }
    u64(s, v.unsigned_abs())
}

/// Writes a finite float in its shortest round-trip form. Returns `Ok(false)` and writes
/// nothing for NaN and infinities, which JSON cannot carry.
pub(crate) fn f64<S: Sink + ?Sized>(s: &mut S, v: f64) -> Result<bool, Full> {
    if !v.is_finite() {
        return Ok(false);
    }
    let mut buf = [0u8; 32];
    // serde-json-core formats finite floats with ryu; 32 bytes hold any f64.
    match serde_json_core::to_slice(&v, &mut buf) {
        Ok(n) => s.write(&buf[..n]).map(|_| true),
        Err(_) => Ok(false),
    }
}

/// Writes `true` or `false`.
pub(crate) fn bool<S: Sink + ?Sized>(s: &mut S, v: bool) -> Result<(), Full> {
    s.write(if v { b"true" } else { b"false" })
}

/// Writes `"0123456789abcdef"`.
pub(crate) fn segment_id<S: Sink + ?Sized>(s: &mut S, id: SegmentId) -> Result<(), Full> {
    s.write(&id.to_quoted_bytes())
}

/// Writes `"1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx"`.
pub(crate) fn trace_id<S: Sink + ?Sized>(s: &mut S, id: TraceId) -> Result<(), Full> {
    s.write(&id.to_quoted_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::SliceSink;
    use crate::time::Timestamp;
    use proptest::prelude::*;

    fn out(f: impl FnOnce(&mut SliceSink<'_>)) -> std::string::String {
        let mut buf = [0u8; 2048];
        let mut s = SliceSink::new(&mut buf);
        f(&mut s);
        std::string::String::from_utf8(s.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn escapes_quotes_backslashes_controls_and_line_separators() {
        let text = "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}\u{2028}\u{2029}é";
        let json = out(|s| {
            string(s, text, 1000).unwrap();
        });
        let want = std::format!(
            "{}{}{}",
            r#""a\"b\\c\n\r\t\b\f\u0001\u001f"#,
            "\u{7f}",
            r#"\u2028\u2029é""#
        );
        assert_eq!(json, want);
        let back: std::string::String = serde_json::from_str(&json).unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn cuts_at_char_boundaries() {
        assert_eq!(cut_chars("héllo", 2), ("hé", true));
        assert_eq!(cut_chars("hé", 2), ("hé", false));
        assert_eq!(cut_chars("", 0), ("", false));
        assert_eq!(cut_chars("a", 0), ("", true));
    }

    #[test]
    fn names_are_filtered_and_cut() {
        assert_eq!(
            out(|s| assert!(!name(s, "api.example.com").unwrap())),
            r#""api.example.com""#
        );
        assert_eq!(out(|s| assert!(name(s, "a?b;c*(d)").unwrap())), r#""abcd""#);
        assert_eq!(
            out(|s| assert!(name(s, "\"\\\n?").unwrap())),
            r#""unnamed""#
        );
        let long: std::string::String = "é".repeat(300);
        let json = out(|s| assert!(name(s, &long).unwrap()));
        assert_eq!(json.chars().count(), 202);
    }

    #[test]
    fn numbers() {
        for v in [
            0,
            1,
            9,
            10,
            99,
            100,
            200,
            9_999,
            10_000,
            99_999_999,
            100_000_000,
            4_294_967_295,
            4_294_967_296,
        ] {
            assert_eq!(out(|s| u64(s, v).unwrap()), std::format!("{v}"));
        }
        assert_eq!(out(|s| u64(s, 0).unwrap()), "0");
        // Every small integer, which the default build writes without the loop, and past it
        // (under miri, one in seven and the edges).
        let edge = |v: u64| [9, 10, 99, 100, 999, 1000].contains(&v);
        for v in (0..=1100u64).filter(|&v| !cfg!(miri) || v % 7 == 0 || edge(v)) {
            assert_eq!(out(|s| u64(s, v).unwrap()), std::format!("{v}"));
            assert_eq!(
                out(|s| i64(s, -(v as i64)).unwrap()),
                std::format!("{}", -(v as i64))
            );
        }
        assert_eq!(out(|s| u64(s, u64::MAX).unwrap()), "18446744073709551615");
        assert_eq!(out(|s| i64(s, i64::MIN).unwrap()), "-9223372036854775808");
        assert_eq!(out(|s| assert!(f64(s, 1.5).unwrap())), "1.5");
        assert_eq!(out(|s| assert!(!f64(s, f64::NAN).unwrap())), "");
        assert_eq!(out(|s| assert!(!f64(s, f64::NEG_INFINITY).unwrap())), "");
    }

    #[test]
    fn json_values_are_checked() {
        for ok in [
            "0",
            "-1.5e+3",
            "\"a\\u00e9\\n\"",
            "true",
            "null",
            "[]",
            "{}",
            " [1, {\"a\": [null]}] ",
            "{\"k\":{\"k\":[1,2,3]}}",
            "1E9",
            "-0",
        ] {
            assert!(is_json_value(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "{1:2}",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":}",
            "01",
            "1.",
            "-",
            "tru",
            "[1] 2",
            "]",
            "{\"a\":1,}",
            "\"\\x\"",
            "\"\u{1}\"",
            "[[[",
            "{\"a\" 1}",
            "nan",
            "+1",
            ".5",
        ] {
            assert!(!is_json_value(bad.as_bytes()), "{bad}");
        }
        let deep = "[".repeat(64) + &"]".repeat(64);
        assert!(is_json_value(deep.as_bytes()));
        let deeper = "[".repeat(65) + &"]".repeat(65);
        assert!(!is_json_value(deeper.as_bytes()), "past the depth limit");
    }

    #[test]
    fn word_checks_agree_with_byte_checks() {
        use fast::{has_byte, load8, plain_ascii8};
        let special = |b: u8| b < 0x20 || b == b'"' || b == b'\\' || b >= 0x80;
        for base in [*b"abcdefgh", *b"/v1/item", *b"GET acme"] {
            assert!(plain_ascii8(load8(&base)));
            for pos in 0..8 {
                for b in [0u8, 0x1f, b'"', b'\\', 0x80, 0xe2, 0xff, b' ', b'~', 0x7f] {
                    let mut w = base;
                    w[pos] = b;
                    assert_eq!(plain_ascii8(load8(&w)), !special(b), "{w:?}");
                    assert_eq!(has_byte(load8(&w), 0xe2), b == 0xe2, "{w:?}");
                }
            }
        }
    }

    #[test]
    fn plain_and_name_scans_find_one_odd_byte_anywhere() {
        for len in 0..=24 {
            let base = std::vec![b'a'; len];
            assert!(
                fast::all_plain(&base) && fast::all_name_ascii(&base),
                "{len}"
            );
            for pos in 0..len {
                for b in [
                    0u8, 0x1f, b'"', b'\\', 0x80, 0xe2, 0xff, b'?', b'~', 0x7f, b' ',
                ] {
                    let mut w = base.clone();
                    w[pos] = b;
                    let plain = (0x20..0x80).contains(&b) && b != b'"' && b != b'\\';
                    assert_eq!(fast::all_plain(&w), plain, "{w:?}");
                    assert_eq!(
                        fast::all_name_ascii(&w),
                        is_name_ascii(b) && b < 0x80,
                        "{w:?}"
                    );
                }
            }
        }
    }

    /// What `write` leaves in a sink of `capacity` bytes: the bytes if it fits, `None` if not.
    fn written(
        capacity: usize,
        write: impl FnOnce(&mut SliceSink<'_>) -> Result<(), Full>,
    ) -> Option<std::vec::Vec<u8>> {
        let mut buf = std::vec![0u8; capacity];
        let mut s = SliceSink::new(&mut buf);
        write(&mut s).ok().map(|()| s.as_bytes().to_vec())
    }

    /// Text that takes every path of both versions: ASCII runs longer than eight bytes,
    /// everything that needs escaping, other characters whose UTF-8 starts with E2 (as
    /// U+2028/U+2029 do), characters outside the name set, any character at all.
    const NASTY: &str = "[a-zA-Z0-9 _.:/%&#=+@-]{0,20}\
        (([\\x00-\\x1f]|[\"\\\\\u{7f}]|[\u{2028}\u{2029}]|[\u{2026}-\u{202a}€]|[éß😀?;*()\u{301}])\
        [a-z.]{0,12}){0,12}|(?s:.){0,80}|[a-z0-9]{150,210}[a-z\u{2028}é?]{0,60}";

    proptest! {
        #[test]
        fn same_output_both_ways(text in NASTY, capacity in 0usize..300, micros in any::<u64>()) {
            // Whatever the room, both versions fit or both fail, and what fits is the same.
            for room in [capacity, 2048] {
                prop_assert_eq!(
                    written(room, |s| fast::escaped(s, &text)),
                    written(room, |s| small::escaped(s, &text)),
                    "escaped {:?} in {} bytes", text, room
                );
                // The slow path of the fast version, also for text the fast path takes.
                prop_assert_eq!(
                    written(room, |s| fast::escaped_any(s, &text)),
                    written(room, |s| small::escaped(s, &text)),
                    "escaped_any {:?} in {} bytes", text, room
                );
                let (mut fast_changed, mut small_changed) = (None, None);
                prop_assert_eq!(
                    written(room, |s| fast::name(s, &text).map(|c| fast_changed = Some(c))),
                    written(room, |s| small::name(s, &text).map(|c| small_changed = Some(c))),
                    "name {:?} in {} bytes", text, room
                );
                prop_assert_eq!(fast_changed, small_changed, "name {:?} changed", text);
                // The slow path of the fast version, also for names the fast path takes.
                prop_assert_eq!(
                    written(room, |s| fast::filtered_name(s, &text).map(drop)),
                    written(room, |s| small::name(s, &text).map(drop)),
                    "filtered name {:?} in {} bytes", text, room
                );
                let t = Timestamp::from_micros(micros);
                // Times of the ten-digit path (2001 to 2286) as well as any.
                let recent = Timestamp::from_micros(micros % 9_000_000_000_000_000 + 1_000_000_000_000_000);
                for t in [t, recent] {
                    prop_assert_eq!(
                        written(room, |s| fast::timestamp(s, t)),
                        written(room, |s| small::timestamp(s, t))
                    );
                    prop_assert_eq!(
                        written(room, |s| fast::any_timestamp(s, t)),
                        written(room, |s| small::timestamp(s, t))
                    );
                }
            }
        }

        #[test]
        fn byte_scans_agree_with_byte_by_byte_checks(
            text in NASTY,
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
            ascii in "[ -~]{0,40}",
        ) {
            let plain = |b: &u8| (0x20..0x80).contains(b) && *b != b'"' && *b != b'\\';
            for b in [text.as_bytes(), &bytes[..], ascii.as_bytes()] {
                prop_assert_eq!(fast::all_plain(b), b.iter().all(plain), "{:?}", b);
                prop_assert_eq!(
                    fast::all_name_ascii(b),
                    b.iter().all(|&c| c.is_ascii() && is_name_ascii(c)),
                    "{:?}", b
                );
            }
        }

        #[test]
        fn integers_below_10_pow_9_are_written_as_std_formats_them(v in 0u64..1_000_000_000) {
            prop_assert_eq!(out(|s| u64(s, v).unwrap()), std::format!("{v}"));
        }

        #[test]
        fn integers_and_timestamps_are_written_as_std_formats_them(v in any::<u64>(), i in any::<i64>()) {
            prop_assert_eq!(out(|s| u64(s, v).unwrap()), std::format!("{v}"));
            prop_assert_eq!(out(|s| i64(s, i).unwrap()), std::format!("{i}"));
            let t = Timestamp::from_micros(v);
            prop_assert_eq!(
                out(|s| timestamp(s, t).unwrap()),
                std::format!("{}.{:06}", v / 1_000_000, v % 1_000_000)
            );
        }

        #[test]
        fn any_string_round_trips(text in "\\PC*|[\\x00-\\x1f\"\\\\\u{2028}\u{2029}]*") {
            let json = out(|s| { string(s, &text, usize::MAX).unwrap(); });
            let back: std::string::String = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, text);
        }

        #[test]
        fn json_check_agrees_with_serde_json(text in "[\\[\\]{}:,\"a0-9.eE+\\- tfrunl\\\\]{0,24}") {
            let ours = is_json_value(text.as_bytes());
            let theirs = serde_json::from_str::<serde_json::Value>(&text).is_ok();
            // serde_json nests 128 deep; 24 bytes never reach either limit.
            prop_assert_eq!(ours, theirs, "{:?}", text);
        }

        #[test]
        fn any_float_round_trips(v in any::<f64>()) {
            let json = out(|s| { f64(s, v).unwrap(); });
            if v.is_finite() {
                prop_assert_eq!(serde_json::from_str::<f64>(&json).unwrap(), v);
            } else {
                prop_assert!(json.is_empty());
            }
        }

        #[test]
        fn names_match_the_schema_set(text in "\\PC{0,300}") {
            let json = out(|s| { name(s, &text).unwrap(); });
            let back: std::string::String = serde_json::from_str(&json).unwrap();
            prop_assert!(back.chars().count() <= MAX_NAME_CHARS && !back.is_empty());
            prop_assert!(back.chars().all(is_name_char));
        }
    }
}
