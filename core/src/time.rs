//! Wall-clock time as X-Ray wants it: epoch seconds with microseconds, as integers.

use crate::divide::{by, div_rem};

/// A point in time: microseconds since the Unix epoch.
///
/// X-Ray documents carry times as JSON numbers in epoch seconds. Keeping them as an integer
/// count of microseconds and writing `secs.micros` as digits is exact and keeps float
/// formatting out of firmware (see [`Timestamp::write_decimal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    micros: u64,
}

impl Timestamp {
    /// A timestamp from microseconds since the Unix epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Self { micros }
    }

    /// A timestamp from whole seconds and a sub-second part in microseconds.
    ///
    /// A `micros` of one million or more carries into the seconds.
    pub const fn from_secs_micros(secs: u64, micros: u32) -> Self {
        Self {
            micros: secs.saturating_mul(1_000_000).saturating_add(micros as u64),
        }
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// Whole seconds since the Unix epoch.
    pub const fn secs(self) -> u64 {
        self.micros / 1_000_000
    }

    /// The microseconds past [`Timestamp::secs`] (0..1,000,000).
    pub const fn subsec_micros(self) -> u32 {
        (self.micros % 1_000_000) as u32
    }

    /// Writes the time as a JSON number `secs.micros` (always six fraction digits) into
    /// `out` and returns the number of bytes written (at most 27).
    pub fn write_decimal(self, out: &mut [u8; 27]) -> usize {
        const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
            2021222324252627282930313233343536373839\
            4041424344454647484950515253545556575859\
            6061626364656667686970717273747576777879\
            8081828384858687888990919293949596979899";
        // 64-bit division by constants (see `divide`): seconds and fraction, then the seconds'
        // digits right to left, two at a time.
        let (ten_thousandths, low) = div_rem(self.micros, by(10_000));
        let (mut secs, high) = div_rem(ten_thousandths, by(100));
        let frac = high * 10_000 + low;
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        while secs >= 100 {
            let (rest, pair) = div_rem(secs, by(100));
            secs = rest;
            at -= 2;
            let pair = pair as usize * 2;
            digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
        }
        if secs >= 10 {
            at -= 2;
            let pair = secs as usize * 2;
            digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
        } else {
            at -= 1;
            digits[at] = b'0' + secs as u8;
        }
        let n = digits.len() - at;
        out[..n].copy_from_slice(&digits[at..]);
        out[n] = b'.';
        for (i, part) in [frac / 10_000, frac / 100 % 100, frac % 100]
            .into_iter()
            .enumerate()
        {
            let pair = part as usize * 2;
            out[n + 1 + 2 * i..n + 3 + 2 * i].copy_from_slice(&PAIRS[pair..pair + 2]);
        }
        n + 7
    }

    /// Writes what [`Timestamp::write_decimal`] does at the end of `out`, one digit at a
    /// time with no table of digit pairs, and returns where it starts: the same text in less
    /// flash, for the `small` feature.
    #[cfg(any(test, feature = "small"))]
    pub(crate) fn write_decimal_right(self, out: &mut [u8; 27]) -> usize {
        // Six fraction digits, the point, then the seconds (at least one digit). A u64 has
        // at most 20 digits, so 21 bytes are used at most.
        let mut v = self.micros;
        let mut at = out.len();
        for place in 0..20 {
            if place == 6 {
                at -= 1;
                out[at] = b'.';
            }
            let (rest, digit) = div_rem(v, by(10));
            at -= 1;
            out[at] = b'0' + digit as u8;
            v = rest;
            if v == 0 && place >= 6 {
                break;
            }
        }
        at
    }
}

/// A source of wall-clock time.
///
/// Returns `None` while the epoch is not known yet: firmware often learns the time late (from
/// SNTP, an RTC or GPS). The recorder does not sample a request that begins while the clock
/// returns `None`, since X-Ray rejects documents whose trace id carries a wrong date.
pub trait Clock {
    /// The current time, or `None` when the epoch is not known yet.
    fn now(&self) -> Option<Timestamp>;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Option<Timestamp> {
        (**self).now()
    }
}

/// A clock that always reads the same time: for tests, benchmarks and replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Option<Timestamp> {
        Some(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(t: Timestamp) -> heapless::String<27> {
        let mut buf = [0u8; 27];
        let n = t.write_decimal(&mut buf);
        let mut s = heapless::String::new();
        for &b in &buf[..n] {
            s.push(b as char).ok();
        }
        s
    }

    #[test]
    fn writes_fixed_point_with_six_fraction_digits() {
        assert_eq!(
            decimal(Timestamp::from_secs_micros(1_700_000_000, 123_456)),
            "1700000000.123456"
        );
        assert_eq!(
            decimal(Timestamp::from_secs_micros(1_700_000_000, 5)),
            "1700000000.000005"
        );
        assert_eq!(decimal(Timestamp::from_micros(0)), "0.000000");
        assert_eq!(
            decimal(Timestamp::from_micros(u64::MAX)),
            "18446744073709.551615"
        );
    }

    proptest::proptest! {
        #[test]
        fn matches_std_formatting(micros in proptest::prelude::any::<u64>()) {
            use core::fmt::Write;
            let t = Timestamp::from_micros(micros);
            let mut want = heapless::String::<27>::new();
            write!(want, "{}.{:06}", t.secs(), t.subsec_micros()).unwrap();
            proptest::prop_assert_eq!(decimal(t), want.clone());
            let mut buf = [0u8; 27];
            let at = t.write_decimal_right(&mut buf);
            proptest::prop_assert_eq!(&buf[at..], want.as_bytes());
        }
    }

    #[test]
    fn micros_carry_into_seconds() {
        let t = Timestamp::from_secs_micros(10, 1_500_000);
        assert_eq!((t.secs(), t.subsec_micros()), (11, 500_000));
    }
}
