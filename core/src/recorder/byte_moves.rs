//! Moving bytes inside the recorder's buffer: rotations (a closed child joining its parent's
//! run, a parent's fields going in front of its children) and left shifts (runs sent away,
//! the field log squeezed). With the `small` feature neither calls `memmove`, and comparing
//! keys does not call `memcmp`.

// Two implementations of each: `fast` (the default) and `small` (the `small` feature), with
// the same effect. The recorder uses the one its features select; unit tests compile both and
// compare them (`same_effect_both_ways`).
#[cfg(not(feature = "small"))]
pub(super) use fast::{move_left, put_in_front, rotate_right, same_bytes};
#[cfg(feature = "small")]
pub(super) use small::{move_left, put_in_front, rotate_right, same_bytes};

/// The default versions: the standard library's (`memcmp`, `memmove`).
#[cfg(any(test, not(feature = "small")))]
mod fast {
    /// Whether `a` and `b` hold the same bytes.
    pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
        a == b
    }

    /// Rotates `bytes` right by `k` (`k` ≤ its length).
    pub(crate) fn rotate_right(bytes: &mut [u8], k: usize) {
        if k <= bytes.len() {
            bytes.rotate_right(k);
        }
    }

    /// Copies `bytes[from]` to `to` (`to` ≤ `from.start`).
    pub(crate) fn move_left(bytes: &mut [u8], from: core::ops::Range<usize>, to: usize) {
        bytes.copy_within(from, to);
    }

    /// Moves the last `k` bytes of `bytes[start..end]` to `start`, the rest after them (a
    /// right rotation of that range by `k`). `bytes[spare..]`, past `end`, is free: when `k`
    /// bytes fit there, three copies do it (the standard rotation falls back to a slow
    /// element-wise algorithm when both sides are over 256 bytes, as a parent's fields and
    /// its children often are).
    pub(crate) fn put_in_front(bytes: &mut [u8], start: usize, end: usize, k: usize, spare: usize) {
        if start > end || k > end - start || spare < end {
            return;
        }
        if spare + k <= bytes.len() {
            bytes.copy_within(end - k..end, spare);
            bytes.copy_within(start..end - k, start + k);
            bytes.copy_within(spare..spare + k, start);
        } else if let Some(range) = bytes.get_mut(start..end) {
            rotate_right(range, k);
        }
    }
}

/// The `small` feature's versions: plain loops, no `memcmp` or `memmove`.
#[cfg(any(test, feature = "small"))]
mod small {
    /// Whether `a` and `b` hold the same bytes, by a plain loop: `==` on slices calls
    /// `memcmp`, which firmware would link for keys alone.
    pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
    }

    /// Rotates `bytes` right by `k` (`k` ≤ its length), by three reversals: no `memmove`,
    /// whose general version is large on a microcontroller.
    pub(crate) fn rotate_right(bytes: &mut [u8], k: usize) {
        if k > bytes.len() {
            return;
        }
        bytes.reverse();
        let (front, back) = bytes.split_at_mut(k);
        front.reverse();
        back.reverse();
    }

    /// Copies `bytes[from]` to `to` (`to` ≤ `from.start`), front to back, which is safe for
    /// overlapping ranges in this direction (and needs no `memmove`).
    pub(crate) fn move_left(bytes: &mut [u8], from: core::ops::Range<usize>, to: usize) {
        for (k, at) in from.enumerate() {
            bytes[to + k] = bytes[at];
        }
    }

    /// Moves the last `k` bytes of `bytes[start..end]` to `start` (a right rotation), by
    /// reversals: the spare room past `end` is not used.
    pub(crate) fn put_in_front(
        bytes: &mut [u8],
        start: usize,
        end: usize,
        k: usize,
        _spare: usize,
    ) {
        if let Some(range) = bytes.get_mut(start..end) {
            rotate_right(range, k);
        }
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

    proptest::proptest! {
        #[test]
        fn same_effect_both_ways(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            k in 0usize..90,
            a in 0usize..80,
            b in 0usize..80,
            to in 0usize..80,
        ) {
            let (mut x, mut y) = (bytes.clone(), bytes.clone());
            fast::rotate_right(&mut x, k);
            small::rotate_right(&mut y, k);
            proptest::prop_assert_eq!(&x, &y, "rotate_right by {}", k);

            let n = bytes.len();
            let (start, end) = (a.min(b).min(n), a.max(b).min(n));
            let to = to.min(start);
            let (mut x, mut y) = (bytes.clone(), bytes.clone());
            fast::move_left(&mut x, start..end, to);
            small::move_left(&mut y, start..end, to);
            proptest::prop_assert_eq!(&x, &y, "move_left {}..{} to {}", start, end, to);

            let spare = end + to;
            for room in [0usize, 4, 100] {
                let mut x = bytes.clone();
                x.resize(n + room, 0);
                let mut y = x.clone();
                let mut want = x.clone();
                let k = k.min(end - start);
                fast::put_in_front(&mut x, start, end, k, spare.min(end.max(n)));
                small::put_in_front(&mut y, start, end, k, spare.min(end.max(n)));
                want[start..end].rotate_right(k);
                proptest::prop_assert_eq!(&x[..end], &want[..end], "put_in_front {}..{} by {}", start, end, k);
                proptest::prop_assert_eq!(&y[..end], &want[..end]);
            }

            let (front, back) = bytes.split_at(a.min(n));
            let pairs = [
                (front, back),
                (front, front),
                (back, back),
                (&bytes[to..start], &bytes[..start - to]),
            ];
            for (p, q) in pairs {
                proptest::prop_assert_eq!(fast::same_bytes(p, q), small::same_bytes(p, q));
                proptest::prop_assert_eq!(fast::same_bytes(p, q), p == q);
            }
        }
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
