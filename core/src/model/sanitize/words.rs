//! Finding delimiters eight bytes at a time: an ordinary URL is read in a few words rather
//! than byte by byte.

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of every byte of `x` that equals `b`, and no other bit. Exact per byte (no
/// carry crosses a byte), so the lowest and the highest set bits both say where a match is.
pub(super) const fn eq(x: u64, b: u8) -> u64 {
    let y = x ^ (ONES * b as u64);
    !(((y & LOW7) + LOW7) | y | LOW7)
}

/// The bytes of `b` from `at` (below `to`) as a word, the first byte lowest, zero from `to`
/// on: zero is no delimiter, so a match in a word is always before `to`. `at < to <= b.len()`.
#[inline]
fn word(b: &[u8], at: usize, to: usize) -> u64 {
    let load = |from: usize| {
        b.get(from..)
            .and_then(|s| s.first_chunk::<8>())
            .map_or(0, |w| u64::from_le_bytes(*w))
    };
    if at + 8 <= to {
        load(at)
    } else if to >= 8 {
        // The last word of the range, read as the eight bytes before `to`, with those before
        // `at` (already looked at) shifted out.
        load(to - 8) >> (8 * (8 - (to - at)))
    } else {
        let mut w = [0u8; 8];
        for (to, &from) in w.iter_mut().zip(b.get(at..to).unwrap_or_default()) {
            *to = from;
        }
        u64::from_le_bytes(w)
    }
}

/// Where byte `bit` of a match mask is (the index of its byte in the word).
const fn byte_of(bit: u32) -> usize {
    (bit / 8) as usize
}

/// The first index in `from..to` of a byte that `matches` flags in its word (a mask made
/// with [`eq`] of non-zero bytes), or `to`.
#[inline]
pub(super) fn find(b: &[u8], from: usize, to: usize, matches: impl Fn(u64) -> u64) -> usize {
    let mut at = from;
    while at < to {
        let m = matches(word(b, at, to));
        if m != 0 {
            return at + byte_of(m.trailing_zeros());
        }
        at += 8;
    }
    to
}

/// The last index in `from..to` whose byte is `c` (not zero), or `None`.
#[inline]
pub(super) fn rfind(b: &[u8], from: usize, to: usize, c: u8) -> Option<usize> {
    let mut last = None;
    let mut at = from;
    while at < to {
        let m = eq(word(b, at, to), c);
        if m != 0 {
            last = Some(at + byte_of(63 - m.leading_zeros()));
        }
        at += 8;
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn finds_what_a_byte_by_byte_look_finds(
            b in prop::collection::vec(prop::sample::select(std::vec![b'a', b'@', b'A', b'?', b'#', b'/', 0, 0x80, 0xc0, 0xbf, 0x3e]), 0..40),
            from in 0usize..42,
            to in 0usize..42,
        ) {
            let to = to.min(b.len());
            let from = from.min(to);
            let naive = b[from..to].iter().position(|&c| c == b'?' || c == b'#').map_or(to, |i| from + i);
            prop_assert_eq!(find(&b, from, to, |x| eq(x, b'?') | eq(x, b'#')), naive);
            let naive = b[from..to].iter().rposition(|&c| c == b'@').map(|i| from + i);
            prop_assert_eq!(rfind(&b, from, to, b'@'), naive);
        }

        #[test]
        fn eq_flags_exactly_the_equal_bytes(x: u64, c: u8) {
            let want = x.to_le_bytes().iter().enumerate().fold(0u64, |m, (i, &byte)| {
                m | if byte == c { 0x80 << (8 * i) } else { 0 }
            });
            prop_assert_eq!(eq(x, c), want);
        }
    }
}
