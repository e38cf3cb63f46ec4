//! Moving bytes inside the recorder's buffer: rotations (a closed child joining its parent's
//! run, a parent's fields going in front of its children) and left shifts (runs sent away,
//! the field log squeezed). With the `small` feature neither calls `memmove`, and comparing
//! keys does not call `memcmp`.

/// Whether `a` and `b` hold the same bytes. With the `small` feature a plain loop: `==` on
/// slices calls `memcmp`, which firmware would link for keys alone.
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if cfg!(feature = "small") {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
    } else {
        a == b
    }
}

/// Rotates `bytes` right by `k` (`k` ≤ its length).
#[cfg(not(feature = "small"))]
pub(super) fn rotate_right(bytes: &mut [u8], k: usize) {
    if k <= bytes.len() {
        bytes.rotate_right(k);
    }
}

/// Rotates `bytes` right by `k` (`k` ≤ its length), by three reversals: no `memmove`, a large
/// general routine that firmware would link for this alone.
#[cfg(feature = "small")]
pub(super) fn rotate_right(bytes: &mut [u8], k: usize) {
    if k > bytes.len() {
        return;
    }
    bytes.reverse();
    let (front, back) = bytes.split_at_mut(k);
    front.reverse();
    back.reverse();
}

/// Copies `bytes[from]` to `to` (`to` ≤ `from.start`).
#[cfg(not(feature = "small"))]
pub(super) fn move_left(bytes: &mut [u8], from: core::ops::Range<usize>, to: usize) {
    bytes.copy_within(from, to);
}

/// Copies `bytes[from]` to `to` (`to` ≤ `from.start`), front to back, which is safe for
/// overlapping ranges in this direction (and needs no `memmove`).
#[cfg(feature = "small")]
pub(super) fn move_left(bytes: &mut [u8], from: core::ops::Range<usize>, to: usize) {
    for (k, at) in from.enumerate() {
        bytes[to + k] = bytes[at];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Run with and without `small`: each case holds for both versions.

    #[test]
    fn rotations_move_the_tail_to_the_front() {
        let mut b = *b"abcdef";
        rotate_right(&mut b, 2);
        assert_eq!(&b, b"efabcd");
        rotate_right(&mut b, 0);
        assert_eq!(&b, b"efabcd");
        rotate_right(&mut b, 6);
        assert_eq!(&b, b"efabcd");
        // Out of range: nothing moves.
        rotate_right(&mut b, 7);
        assert_eq!(&b, b"efabcd");
    }

    #[test]
    fn left_moves_survive_overlap() {
        let mut b = *b"..abcd";
        move_left(&mut b, 2..6, 1);
        assert_eq!(&b, b".abcdd");
        let mut b = *b"xyabcd";
        move_left(&mut b, 2..6, 0);
        assert_eq!(&b, b"abcdcd");
    }

    #[test]
    fn same_bytes_is_slice_equality() {
        for (a, b) in [
            (&b""[..], &b""[..]),
            (b"key", b"key"),
            (b"key", b"kez"),
            (b"key", b"ke"),
            (b"k", b""),
        ] {
            assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
        }
    }
}
