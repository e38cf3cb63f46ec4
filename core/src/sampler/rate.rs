//! The fixed rate applied after a reservoir is used up, as an integer threshold.

use rand_core::Rng;

/// A sampling probability in `[0, 1]`, kept as a threshold out of 2³².
///
/// The Bernoulli draw is `u64::from(rng.next_u32()) < threshold`: one 32-bit random number and
/// one integer comparison, exact and cheap on firmware without an FPU. The only float work is
/// the conversion in [`Rate::new`], which runs when rules are loaded, never per request. The
/// threshold is `round(rate · 2³²)`, so the probability is within 2⁻³³ of the configured rate;
/// rate 0 never samples and rate 1 always does, and neither draws a random number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    threshold: u64,
}

/// 2³²: the threshold of rate 1.
const ONE: u64 = 1 << 32;

impl Rate {
    /// Never samples.
    pub const ZERO: Rate = Rate { threshold: 0 };
    /// Always samples.
    pub const ONE: Rate = Rate { threshold: ONE };
    /// 5 %: the default rule's rate (spec §5.1).
    pub const FIVE_PERCENT: Rate = Rate::from_ratio(5, 100);

    /// A rate from a probability; `None` unless `0 ≤ rate ≤ 1` (NaN included).
    pub fn new(rate: f64) -> Option<Rate> {
        if !(0.0..=1.0).contains(&rate) {
            return None;
        }
        // In [0, 2^32] after the check; `as` saturates and maps NaN to 0 in any case.
        let threshold = (rate * ONE as f64 + 0.5) as u64;
        Some(Rate {
            threshold: if threshold > ONE { ONE } else { threshold },
        })
    }

    /// A rate of `numerator / denominator`, rounded to the nearest threshold, clamped to 1.
    /// A zero denominator gives [`Rate::ZERO`].
    pub const fn from_ratio(numerator: u32, denominator: u32) -> Rate {
        if denominator == 0 {
            return Rate::ZERO;
        }
        let d = denominator as u64;
        let t = ((numerator as u64) * ONE + d / 2) / d;
        Rate {
            threshold: if t > ONE { ONE } else { t },
        }
    }

    /// The rate with this threshold out of 2³² (clamped to 2³²).
    pub const fn from_threshold(threshold: u64) -> Rate {
        Rate {
            threshold: if threshold > ONE { ONE } else { threshold },
        }
    }

    /// The threshold out of 2³² (0 ..= 2³²).
    pub const fn threshold(self) -> u64 {
        self.threshold
    }

    /// The rate as a float (for display and reports).
    pub fn as_f64(self) -> f64 {
        self.threshold as f64 / ONE as f64
    }

    /// One Bernoulli draw: `true` with this probability. Draws no random number for rates 0
    /// and 1.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(self, rng: &mut R) -> bool {
        match self.threshold {
            0 => false,
            ONE => true,
            t => u64::from(rng.next_u32()) < t,
        }
    }
}

impl Default for Rate {
    /// The default rule's 5 %.
    fn default() -> Self {
        Rate::FIVE_PERCENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;

    #[test]
    fn bounds_are_checked() {
        assert_eq!(Rate::new(-0.01), None);
        assert_eq!(Rate::new(1.01), None);
        assert_eq!(Rate::new(f64::NAN), None);
        assert_eq!(Rate::new(f64::INFINITY), None);
        assert_eq!(Rate::new(0.0), Some(Rate::ZERO));
        assert_eq!(Rate::new(1.0), Some(Rate::ONE));
        assert_eq!(Rate::new(-0.0), Some(Rate::ZERO));
    }

    #[test]
    fn thresholds_are_rounded() {
        assert_eq!(Rate::new(0.5).map(Rate::threshold), Some(1 << 31));
        assert_eq!(Rate::FIVE_PERCENT.threshold(), 214_748_365);
        assert_eq!(Rate::new(0.05), Some(Rate::FIVE_PERCENT));
        assert_eq!(Rate::from_ratio(3, 2), Rate::ONE);
        assert_eq!(Rate::from_ratio(1, 0), Rate::ZERO);
        assert!((Rate::FIVE_PERCENT.as_f64() - 0.05).abs() < 1e-9);
    }

    #[test]
    fn extremes_draw_nothing() {
        let mut rng = TestRng(1);
        for _ in 0..100 {
            assert!(!Rate::ZERO.sample(&mut rng));
            assert!(Rate::ONE.sample(&mut rng));
        }
        // The RNG was never advanced.
        assert_eq!(rng.0, 1);
    }

    #[test]
    fn half_samples_about_half() {
        let mut rng = TestRng(42);
        let rate = Rate::from_ratio(1, 2);
        let hits = (0..10_000).filter(|_| rate.sample(&mut rng)).count();
        // Mean 5,000, sd 50: ±6 sd, and the seed is fixed.
        assert!((4_700..=5_300).contains(&hits), "{hits}");
    }
}
