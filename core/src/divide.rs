//! Division of a `u64` by a small constant without 64-bit division.
//!
//! 32-bit microcontrollers have no 64-bit divide instruction: `u64 / 10` calls the compiler's
//! general `__aeabi_uldivmod`, a large routine that firmware would link for this alone (the
//! size budget, `examples/firmware/size-budget.txt`, catches its return). Timestamps and
//! integers are written in decimal, so here the division is done in four 16-bit steps with
//! 32-bit divides instead.
//! On 64-bit targets the native division is used.

use core::num::NonZeroU16;

/// `(v / d, v % d)`.
#[inline]
pub(crate) fn div_rem(v: u64, d: NonZeroU16) -> (u64, u32) {
    #[cfg(target_pointer_width = "64")]
    {
        let d = u64::from(d.get());
        (v / d, (v % d) as u32)
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        div_rem_by_parts(v, d)
    }
}

/// [`div_rem`] with 32-bit divisions only: long division in 16-bit digits. Built on 32-bit
/// targets, and for the tests on any host.
#[cfg(any(test, not(target_pointer_width = "64")))]
#[inline(never)]
fn div_rem_by_parts(v: u64, d: NonZeroU16) -> (u64, u32) {
    let d = core::num::NonZeroU32::from(d);
    let (mut q, mut r) = (0u64, 0u32);
    for shift in [48, 32, 16, 0] {
        // r < d < 2^16, so this fits in 32 bits.
        let part = (r << 16) | ((v >> shift) as u32 & 0xffff);
        q = (q << 16) | u64::from(part / d);
        r = part % d;
    }
    (q, r)
}

/// A divisor known to be non-zero.
pub(crate) const fn by(d: u16) -> NonZeroU16 {
    match NonZeroU16::new(d) {
        Some(d) => d,
        None => NonZeroU16::MIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn native(v: u64, d: u16) -> (u64, u32) {
        (v / u64::from(d), (v % u64::from(d)) as u32)
    }

    proptest! {
        #[test]
        fn agrees_with_native_division(v in any::<u64>(), d in 1u16..) {
            prop_assert_eq!(div_rem(v, by(d)), native(v, d));
            prop_assert_eq!(div_rem_by_parts(v, by(d)), native(v, d));
        }
    }

    #[test]
    fn extremes() {
        for d in [1u16, 10, 100, 10_000, u16::MAX] {
            for v in [0, 1, u64::from(d) - 1, u64::from(d), u64::MAX] {
                assert_eq!(div_rem_by_parts(v, by(d)), native(v, d));
            }
        }
    }
}
