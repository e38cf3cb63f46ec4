//! A per-rule reservoir: at most `capacity` takes per calendar second of the injected clock
//! (Go's and Python's window, spec §5.4), shared between threads without a lock.
//!
//! # Atomics and targets
//!
//! The whole state is one 32-bit word, `second mod 2¹⁶` in the high half and the number taken
//! in that second in the low half, updated with a compare-and-swap loop. The word is a
//! [`portable_atomic::AtomicU32`]:
//!
//! - on targets with native 32-bit CAS (x86-64, AArch64, thumbv7em, riscv32imac) it *is* the
//!   native atomic: lock-free, no critical section, no interrupt masking;
//! - on thumbv6m (Cortex-M0/M0+, no CAS instructions) portable-atomic implements the CAS with
//!   the [`critical-section`](https://docs.rs/critical-section) crate, so firmware for those
//!   chips must link an implementation (for example `cortex-m`'s `critical-section-single-core`
//!   feature, or the one its HAL or embassy provides). A few instructions run with interrupts
//!   masked.
//!
//! We chose this over a `critical_section::Mutex` around all the state because that would make
//! std hosts take a global lock per decision, and over 64-bit atomics because thumbv7em and
//! riscv32imac have no native 64-bit CAS.
//!
//! # Limits of the packing
//!
//! - A second's count saturates at [`MAX_CAPACITY`] (65,534), so larger reservoirs are clamped.
//! - The second is kept modulo 2¹⁶ (about 18 hours). If a reservoir sees no decision for a
//!   whole multiple of 2¹⁶ seconds (give or take two seconds) it can reuse the old count for
//!   up to three seconds: fewer reservoir samples, never more.
//! - A thread whose clock read is up to two seconds behind the window's second (read just
//!   before a second boundary, run just after) counts against the current window instead of
//!   resetting it, so stragglers cannot reopen a used-up reservoir.

use portable_atomic::{AtomicU32, Ordering};

/// The largest per-second capacity a reservoir can hold.
pub const MAX_CAPACITY: u32 = 0xFFFE;

/// The low half of a reservoir that has never been taken from (no window yet).
const FRESH: u32 = 0xFFFF;

/// How many seconds behind the window a clock read may be and still count against it.
const STRAGGLER_SECS: u32 = 2;

/// A lock-free counter of takes per second (see the module documentation).
#[derive(Debug)]
pub struct Reservoir {
    state: AtomicU32,
}

impl Default for Reservoir {
    fn default() -> Self {
        Self::new()
    }
}

impl Reservoir {
    /// An empty reservoir.
    pub const fn new() -> Self {
        Self {
            state: AtomicU32::new(FRESH),
        }
    }

    /// Takes one from this second's `capacity` (clamped to [`MAX_CAPACITY`]); `false` when the
    /// second's capacity is used up or `capacity` is 0. `now_secs` is the epoch second.
    #[inline]
    pub fn take(&self, now_secs: u64, capacity: u32) -> bool {
        if capacity == 0 {
            return false;
        }
        let capacity = capacity.min(MAX_CAPACITY);
        let sec = (now_secs & 0xFFFF) as u32;
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            let window = current >> 16;
            let used = current & 0xFFFF;
            let behind = window.wrapping_sub(sec) & 0xFFFF;
            let next = if used == FRESH {
                (sec << 16) | 1
            } else if window == sec || behind <= STRAGGLER_SECS {
                if used >= capacity {
                    // Used up: no write, so contended readers do not bounce the cache line.
                    return false;
                }
                current + 1
            } else {
                (sec << 16) | 1
            };
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// How many were taken in the second of `now_secs` (0 if the window is another second).
    pub fn used(&self, now_secs: u64) -> u32 {
        let current = self.state.load(Ordering::Relaxed);
        if current & 0xFFFF != FRESH && current >> 16 == (now_secs & 0xFFFF) as u32 {
            current & 0xFFFF
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_per_second() {
        let r = Reservoir::new();
        let sec = 1_700_000_000;
        assert_eq!((0..10).filter(|_| r.take(sec, 3)).count(), 3);
        assert_eq!(r.used(sec), 3);
        assert_eq!((0..10).filter(|_| r.take(sec + 1, 3)).count(), 3);
        assert_eq!((0..10).filter(|_| r.take(sec + 5, 1)).count(), 1);
        assert_eq!(r.used(sec + 6), 0);
    }

    #[test]
    fn zero_capacity_never_takes() {
        let r = Reservoir::new();
        assert!(!r.take(10, 0));
        assert_eq!(r.used(10), 0);
    }

    #[test]
    fn a_fresh_reservoir_opens_a_window_at_any_second() {
        for sec in [0, 1, 65_534, 65_535, 65_536, 1_700_000_000] {
            let r = Reservoir::new();
            assert_eq!(r.used(sec), 0);
            assert!(r.take(sec, 1), "{sec}");
            assert!(!r.take(sec, 1), "{sec}");
            assert!(r.take(sec + 1, 1), "{sec}");
        }
    }

    #[test]
    fn stragglers_do_not_reopen_the_window() {
        let r = Reservoir::new();
        assert!(r.take(1_000, 1));
        assert!(!r.take(999, 1));
        assert!(!r.take(998, 1));
        assert!(!r.take(1_000, 1));
        // Far in the past counts as a new window (a clock step backwards).
        assert!(r.take(900, 1));
    }

    #[test]
    fn large_capacities_are_clamped() {
        let r = Reservoir::new();
        let taken = (0..70_000).filter(|_| r.take(5, 100_000)).count();
        assert_eq!(taken, MAX_CAPACITY as usize);
    }

    #[test]
    fn threads_share_exactly_the_capacity() {
        let r = Reservoir::new();
        let total: usize = std::thread::scope(|s| {
            let handles: [_; 4] = core::array::from_fn(|_| {
                s.spawn(|| (0..5_000).filter(|_| r.take(77, 1_000)).count())
            });
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .sum()
        });
        assert_eq!(total, 1_000);
    }
}
