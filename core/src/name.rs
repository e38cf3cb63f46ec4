//! Segment and subsegment names: any string, filtered when recorded, or a [`Name`] checked
//! where it is made (at compile time with [`name!`](crate::name!)).
//!
//! A name filtered at run time needs the schema's Unicode name table and its lookup. A
//! firmware whose names are all [`Name`]s made in constants does not link them: the recorder
//! writes those names as they are.

use crate::json::{self, MAX_NAME_CHARS};
use crate::sink::{Full, Sink, SliceSink};

/// A segment or subsegment name that already meets X-Ray's rules: 1 to
/// [`MAX_NAME_CHARS`] characters of the schema's name set (Unicode letters, digits, space
/// separators and `_ . : / % & # = + - @`), none of which needs a JSON escape.
///
/// Make one in a constant, so that the check runs at compile time:
///
/// ```
/// use xray_core::{Name, name};
///
/// const READ: Name<'static> = Name::new("read-sensor");
/// let publish = name!("publish"); // the same, inline
/// assert_eq!(READ.as_str(), "read-sensor");
/// assert_eq!(Name::checked("no;semicolons"), None);
/// ```
///
/// An invalid name in a constant does not compile:
///
/// ```compile_fail
/// const BAD: xray_core::Name<'static> = xray_core::Name::new("checkout?");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Name<'a>(&'a str);

impl<'a> Name<'a> {
    /// Checks `name` and wraps it.
    ///
    /// # Panics
    ///
    /// If `name` is not valid (see [`Name::checked`]). Meant for constants, where that is a
    /// compile error; for names from outside the program use [`Name::checked`], or pass the
    /// string itself to the recorder, which filters it.
    pub const fn new(name: &'a str) -> Self {
        match Self::checked(name) {
            Some(n) => n,
            None => {
                panic!("not a valid X-Ray name: 1 to 200 letters, digits, spaces or _.:/%&#=+-@")
            }
        }
    }

    /// `name` as a [`Name`], or `None` if it is empty, longer than [`MAX_NAME_CHARS`]
    /// characters, or has a character outside the name set (or U+2028 / U+2029, which the
    /// set allows but JSON text would have to escape).
    pub const fn checked(name: &'a str) -> Option<Self> {
        let bytes = name.as_bytes();
        let (mut at, mut chars) = (0, 0);
        while at < bytes.len() {
            let Some((c, len)) = decode(bytes, at) else {
                return None;
            };
            let allowed = json::is_name_char_quick(c) && !matches!(c, '\u{2028}' | '\u{2029}');
            if !allowed || chars == MAX_NAME_CHARS {
                return None;
            }
            at += len;
            chars += 1;
        }
        if chars == 0 { None } else { Some(Name(name)) }
    }

    /// The name.
    pub const fn as_str(self) -> &'a str {
        self.0
    }
}

/// Decodes the character at `at` of UTF-8 text: the character and its length.
const fn decode(bytes: &[u8], at: usize) -> Option<(char, usize)> {
    let first = bytes[at] as u32;
    let (len, mut c) = match first {
        0x00..=0x7f => return Some((first as u8 as char, 1)),
        0xc0..=0xdf => (2, first & 0x1f),
        0xe0..=0xef => (3, first & 0x0f),
        _ => (4, first & 0x07),
    };
    if at + len > bytes.len() {
        return None;
    }
    let mut i = 1;
    while i < len {
        c = (c << 6) | (bytes[at + i] as u32 & 0x3f);
        i += 1;
    }
    match char::from_u32(c) {
        Some(c) => Some((c, len)),
        None => None,
    }
}

/// What the recorder takes as a name: a [`Name`], written as it is, or any string (`&str`,
/// `&String`…), filtered as it is recorded: characters outside the name set are dropped, the
/// rest cut to [`MAX_NAME_CHARS`], and [`FALLBACK_NAME`](crate::FALLBACK_NAME) written if
/// nothing is left.
pub trait EntityName: sealed::Sealed {
    /// Writes the name as a JSON string, quotes included.
    fn write_json(&self, sink: &mut SliceSink<'_>) -> Result<(), Full>;
}

impl EntityName for Name<'_> {
    fn write_json(&self, sink: &mut SliceSink<'_>) -> Result<(), Full> {
        sink.byte(b'"')?;
        sink.write(self.0.as_bytes())?;
        sink.byte(b'"')
    }
}

impl<T: AsRef<str> + ?Sized> EntityName for &T {
    fn write_json(&self, sink: &mut SliceSink<'_>) -> Result<(), Full> {
        write_filtered(sink, (**self).as_ref())
    }
}

/// The filter behind every string name. Not generic and never inlined, so it is compiled once,
/// in this crate, whatever string types callers use (the fuzz target relies on that: the
/// core built with `small` is compiled without coverage instrumentation, its callers with).
#[inline(never)]
fn write_filtered(sink: &mut SliceSink<'_>, name: &str) -> Result<(), Full> {
    json::name(sink, name).map(|_changed| ())
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Name<'_> {}
    impl<T: AsRef<str> + ?Sized> Sealed for &T {}
}

/// A [`Name`] checked at compile time: `name!("read-sensor")` is
/// `const { Name::new("read-sensor") }`.
#[macro_export]
macro_rules! name {
    ($name:expr) => {
        const { $crate::Name::new($name) }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(text: &str) -> heapless::Vec<u8, 1024> {
        let mut buf = [0u8; 1024];
        let mut s = SliceSink::new(&mut buf);
        (&text).write_json(&mut s).unwrap();
        heapless::Vec::from_slice(s.as_bytes()).unwrap()
    }

    #[test]
    fn accepts_what_the_filter_keeps_unchanged() {
        for ok in ["a", "read-sensor", "orders db", "é中ß٣", "x:/%&#=+-@_.1"] {
            let name = Name::checked(ok).unwrap();
            let mut buf = [0u8; 64];
            let mut s = SliceSink::new(&mut buf);
            name.write_json(&mut s).unwrap();
            assert_eq!(s.as_bytes(), &filtered(ok)[..], "{ok}");
        }
        let longest: heapless::String<800> = core::iter::repeat_n('中', MAX_NAME_CHARS).collect();
        assert!(Name::checked(&longest).is_some());
    }

    #[test]
    fn rejects_what_the_filter_would_change() {
        let too_long: heapless::String<800> =
            core::iter::repeat_n('a', MAX_NAME_CHARS + 1).collect();
        for bad in [
            "",
            "a;b",
            "quote\"",
            "back\\slash",
            "tab\t",
            "\u{2028}",
            "\u{1F600}",
            too_long.as_str(),
        ] {
            assert_eq!(Name::checked(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn made_at_compile_time() {
        const N: Name<'static> = crate::name!("sample-a");
        assert_eq!(N.as_str(), "sample-a");
    }

    /// The filter as it was before it read ASCII eight bytes at a time (d158366): one
    /// character at a time, the reference the current one must match byte for byte.
    fn filtered_before(s: &mut SliceSink<'_>, name: &str) -> Result<bool, Full> {
        s.byte(b'"')?;
        let bytes = name.as_bytes();
        let (mut kept, mut changed, mut run, mut i) = (0, false, 0, 0);
        while i < bytes.len() && kept < MAX_NAME_CHARS {
            let b = bytes[i];
            if b.is_ascii() && json::is_name_ascii(b) {
                i += 1;
                kept += 1;
                continue;
            }
            s.write(&bytes[run..i])?;
            let Some(c) = name.get(i..).and_then(|rest| rest.chars().next()) else {
                break;
            };
            let len = c.len_utf8();
            if b.is_ascii() || !crate::name_charset::is_name_char(c) {
                changed = true;
            } else {
                match c {
                    '\u{2028}' => s.write(b"\\u2028")?,
                    '\u{2029}' => s.write(b"\\u2029")?,
                    _ => s.write(&bytes[i..i + len])?,
                }
                kept += 1;
            }
            i += len;
            run = i;
        }
        s.write(&bytes[run..i])?;
        changed |= i < bytes.len();
        if kept == 0 {
            s.write(json::FALLBACK_NAME.as_bytes())?;
            changed = true;
        }
        s.byte(b'"')?;
        Ok(changed)
    }

    /// What `write` leaves in a sink of `capacity` bytes and what it returned (`None`: full).
    fn written(
        capacity: usize,
        write: impl FnOnce(&mut SliceSink<'_>) -> Result<bool, Full>,
    ) -> Option<(std::vec::Vec<u8>, bool)> {
        let mut buf = std::vec![0u8; capacity];
        let mut s = SliceSink::new(&mut buf);
        let changed = write(&mut s).ok()?;
        Some((s.as_bytes().to_vec(), changed))
    }

    extern crate std;

    proptest::proptest! {
        /// The filter (the default or the `small` one, as the features select) writes what
        /// the character-by-character filter wrote, in any room: long runs of rejected ASCII
        /// and non-ASCII characters, kept runs across the 200-character cap, mixed words;
        /// U+06C1 and U+0700 have UTF-8 bytes that read as rejected ASCII without their top bit.
        #[test]
        fn same_output_as_before(
            head in "[a-z0-9 ._-]{0,210}",
            piece in "([a-zA-Z0-9 _.:/%&#=+@-]|[\\x00-\\x1f\"\\\\?;*()\\x7f]|[\u{2028}\u{2029}é中😀\u{301}\u{2026}\u{6c1}\u{700}])\
                {1,12}|(?s:.){1,6}",
            times in 0usize..400,
            mid in "[a-z0-9]{0,210}",
            tail in "\\PC{0,20}",
            capacity in 0usize..600,
        ) {
            let text = std::format!("{head}{}{mid}{tail}", piece.repeat(times));
            for room in [capacity, text.len() * 6 + 16] {
                proptest::prop_assert_eq!(
                    written(room, |s| json::name(s, &text)),
                    written(room, |s| filtered_before(s, &text)),
                    "{:?} in {} bytes", text, room
                );
            }
        }

        /// A string is a valid `Name` exactly when the run-time filter keeps it as it is.
        #[test]
        fn agrees_with_the_filter(text in "\\PC{0,8}|[a-z\u{2028} é;]{0,8}") {
            let mut buf = [0u8; 256];
            let mut s = SliceSink::new(&mut buf);
            let changed = json::name(&mut s, &text).unwrap();
            let escaped = text.contains(['\u{2028}', '\u{2029}']);
            proptest::prop_assert_eq!(Name::checked(&text).is_some(), !changed && !escaped);
        }
    }
}
