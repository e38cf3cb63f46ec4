//! Moving bytes inside the recorder's buffer: rotations (a closed child joining its parent's
//! run, a parent's fields going in front of its children) and left shifts (runs sent away,
//! the field log squeezed). With the `small` feature neither calls `memmove`.

/// Rotates `bytes` right by `k` (`k` ≤ its length).
#[cfg(not(feature = "small"))]
pub(super) fn rotate_right(bytes: &mut [u8], k: usize) {
    if k <= bytes.len() {
        bytes.rotate_right(k);
    }
}

/// Rotates `bytes` right by `k` (`k` ≤ its length), by three reversals: no `memmove`, whose
/// general version costs 1.5 KiB of flash on a microcontroller.
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
