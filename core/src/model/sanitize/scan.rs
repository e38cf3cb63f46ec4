//! One look at a whole input before a dialect reads it: what it says decides whether the
//! check must see the kept text, and whether kept text can be counted in bytes.

/// What a text holds, as far as the sanitizer's cost is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Scan {
    /// The text holds `=` or `@`: only then can the check object (see [`sanitize`]).
    ///
    /// [`sanitize`]: super::sanitize
    pub(super) eq_or_at: bool,
    /// Every byte is ASCII: then so is everything a sanitizer writes (slices of the input and
    /// ASCII literals), and characters are bytes.
    pub(super) ascii: bool,
    /// Every byte is ASCII and none needs escaping in a JSON string (a control, `"`, `\`):
    /// then nothing a sanitizer writes does (its literals are `%`, hex digits, `?`, `;`,
    /// [`MASK`](super::MASK) and [`REDACTED`](super::REDACTED)).
    pub(super) json_plain: bool,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` that equals `b` (exact as "any or none"; bits above a
/// match may be set too, which does not matter here).
const fn bytes_equal(x: u64, b: u8) -> u64 {
    let y = x ^ (ONES * b as u64);
    y.wrapping_sub(ONES) & !y & HIGHS
}

/// The high bit of every byte of `x` below `n` (`n <= 0x80`; exact as "any or none").
const fn bytes_below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * n as u64) & !x & HIGHS
}

/// Looks at `text` eight bytes at a time. The `small` build, which takes no shortcut by
/// `ascii` or `json_plain`, looks for `=` and `@` only, byte by byte.
pub(super) fn scan(text: &[u8]) -> Scan {
    if cfg!(feature = "small") {
        return Scan {
            eq_or_at: text.iter().any(|&c| c == b'=' || c == b'@'),
            ascii: false,
            json_plain: false,
        };
    }
    let (words, rest) = text.as_chunks::<8>();
    let (mut found, mut high, mut escape) = (0, 0, 0);
    for w in words {
        let x = u64::from_le_bytes(*w);
        found |= bytes_equal(x, b'=') | bytes_equal(x, b'@');
        high |= x;
        escape |= bytes_below(x, 0x20) | bytes_equal(x, b'"') | bytes_equal(x, b'\\');
    }
    let (mut found, mut high, mut escape) = (found != 0, high & HIGHS != 0, escape != 0);
    for &c in rest {
        found |= c == b'=' || c == b'@';
        high |= !c.is_ascii();
        escape |= c < 0x20 || c == b'"' || c == b'\\';
    }
    Scan {
        eq_or_at: found,
        ascii: !high,
        json_plain: !high && !escape,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn says_what_a_byte_by_byte_look_says(text in prop::collection::vec(any::<u8>(), 0..40)) {
            let s = scan(&text);
            prop_assert_eq!(s.eq_or_at, text.iter().any(|&b| b == b'=' || b == b'@'));
            if cfg!(feature = "small") {
                prop_assert!(!s.ascii && !s.json_plain);
                return Ok(());
            }
            prop_assert_eq!(s.ascii, text.is_ascii());
            prop_assert_eq!(s.json_plain, text.iter().all(|&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\'));
        }
    }

    #[test]
    fn finds_a_byte_at_every_position() {
        let cases = [
            (b'=', true, true, true),
            (b'@', true, true, true),
            (b'"', false, true, false),
            (b'\\', false, true, false),
            (0x1f, false, true, false),
            (0, false, true, false),
            (0x80, false, false, false),
            (0xbd, false, false, false),
            (0xc0, false, false, false),
            (b'<', false, true, true),
            (b'>', false, true, true),
            (b'?', false, true, true),
            (b'A', false, true, true),
            (b' ', false, true, true),
            (0x7f, false, true, true),
        ];
        for len in 0..24 {
            for at in 0..len {
                for (b, eq_or_at, ascii, json_plain) in cases {
                    let mut t = std::vec![b'a'; len];
                    t[at] = b;
                    let fast = !cfg!(feature = "small");
                    let want = Scan {
                        eq_or_at,
                        ascii: fast && ascii,
                        json_plain: fast && json_plain,
                    };
                    assert_eq!(scan(&t), want, "{len} {at} {b}");
                }
            }
        }
    }
}
