//! Wall-clock time as X-Ray wants it: epoch seconds with microseconds, as integers.

use crate::divide::{by, div_rem};

/// The two ASCII digits of every number below 100.
const PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0u8; 2]; 100];
    let mut n = 0;
    while n < 100 {
        pairs[n] = [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
        n += 1;
    }
    pairs
};

/// The eight ASCII digits of `high` and `low` (each below 10,000, four digits with leading
/// zeros), as the bytes of a little-endian `u64`, computed in the lanes of one `u64` (SWAR): each lane is split in two by a
/// multiplication with a reciprocal, twice, instead of eight divisions.
fn digits8(high: u32, low: u32) -> u64 {
    // Little-endian: the first digit printed is the lowest byte. Two 32-bit lanes of < 10^4.
    let x = u64::from(high) | (u64::from(low) << 32);
    // lane / 100 is (lane * 10486) >> 20 for every lane below 10^4; the products stay below
    // 2^27, so they do not reach the next lane. Result: four 16-bit lanes of < 100.
    let q = ((x * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let x = q | ((x - q * 100) << 16);
    // lane / 10 is (lane * 103) >> 10 for every lane below 100 (products below 2^14).
    // Result: eight byte lanes of one digit each.
    let q = ((x * 103) >> 10) & 0x000f_000f_000f_000f;
    let x = q | ((x - q * 10) << 8);
    x | 0x3030_3030_3030_3030
}

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
        if let Some(text) = self.ten_digit_decimal() {
            out[..17].copy_from_slice(&text);
            return 17;
        }
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
            digits[at..at + 2].copy_from_slice(&PAIRS[pair as usize]);
        }
        if secs >= 10 {
            at -= 2;
            digits[at..at + 2].copy_from_slice(&PAIRS[secs as usize]);
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
            out[n + 1 + 2 * i..n + 3 + 2 * i].copy_from_slice(&PAIRS[part as usize]);
        }
        n + 7
    }

    /// [`Timestamp::write_decimal`]'s text when the seconds have exactly ten digits (from
    /// 2001-09-09 to 2286-11-20, so every clock reading in practice): seventeen bytes of fixed
    /// layout from a few divisions by constants and two [`digits8`], with no loop and no
    /// table.
    #[inline]
    pub(crate) fn ten_digit_decimal(self) -> Option<[u8; 17]> {
        let (secs, frac) = self.secs_and_subsec();
        if !(1_000_000_000..10_000_000_000).contains(&secs) {
            return None;
        }
        // The first eight digits of the seconds, then the last two with the six of the
        // fraction: two groups of eight digits. secs < 10^10, so secs / 100 < 10^8.
        let (first8, last2) = div_rem(secs, by(100));
        let first8 = first8 as u32;
        let head = digits8(first8 / 10_000, first8 % 10_000);
        let tail = digits8(last2 * 100 + frac / 10_000, frac % 10_000);
        // The point goes after the tail's second digit: its first digit alone, then the
        // second, the point and the six fraction digits as one word.
        let [tail0, ..] = tail.to_le_bytes();
        let rest = (tail & !0xffff) | (u64::from(b'.') << 8) | ((tail >> 8) & 0xff);
        let mut text = [0u8; 17];
        text[..8].copy_from_slice(&head.to_le_bytes());
        text[8] = tail0;
        text[9..].copy_from_slice(&rest.to_le_bytes());
        Some(text)
    }

    /// `(secs, subsec_micros)`: with a native 64-bit division where there is one (divisions
    /// by a constant, which compile to multiplications), through `divide` where there is not.
    fn secs_and_subsec(self) -> (u64, u32) {
        #[cfg(target_pointer_width = "64")]
        {
            (self.secs(), self.subsec_micros())
        }
        #[cfg(not(target_pointer_width = "64"))]
        {
            let (ten_thousandths, low) = div_rem(self.micros, by(10_000));
            let (secs, high) = div_rem(ten_thousandths, by(100));
            (secs, high * 10_000 + low)
        }
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

    /// What `write_decimal` wrote before its ten-digit path: `secs.micros` by `core::fmt`.
    fn reference(micros: u64) -> std::string::String {
        std::format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
    }

    #[test]
    fn digits8_agrees_with_fmt_on_every_four_digit_lane() {
        for n in 0..10_000u32 {
            for m in [
                0,
                1,
                9,
                10,
                99,
                100,
                999,
                1_000,
                9_999,
                (n * 7_919) % 10_000,
                n,
            ] {
                let want = std::format!("{n:04}{m:04}");
                assert_eq!(&digits8(n, m).to_le_bytes(), want.as_bytes(), "{n} {m}");
            }
        }
    }

    #[test]
    fn ten_digit_path_edges() {
        let first = 1_000_000_000 * 1_000_000;
        let past = 10_000_000_000 * 1_000_000;
        for micros in [
            0,
            1,
            999_999,
            first - 1,
            first,
            first + 1,
            first + 999_999,
            1_700_000_000_123_456,
            1_700_000_000_000_005,
            1_799_999_999_999_999,
            past - 1,
            past,
            past + 1,
            u64::MAX,
        ] {
            let t = Timestamp::from_micros(micros);
            assert_eq!(decimal(t), reference(micros).as_str(), "{micros}");
            let ten = t.ten_digit_decimal();
            assert_eq!(ten.is_some(), (first..past).contains(&micros), "{micros}");
            if let Some(text) = ten {
                assert_eq!(&text[..], reference(micros).as_bytes(), "{micros}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn ten_digit_path_matches_std_formatting(
            micros in 1_000_000_000_000_000u64..10_000_000_000_000_000,
            near in 0u64..2_000_000,
            boundary in proptest::sample::select(&[
                1_000_000_000_000_000u64, 10_000_000_000_000_000, 1_700_000_000_000_000,
                2_000_000_000_000_000, 4_294_967_296_000_000,
            ][..]),
        ) {
            let want = reference(micros);
            proptest::prop_assert_eq!(decimal(Timestamp::from_micros(micros)), want.as_str());
            // Around the ends of the ten-digit range and other round numbers, every rounding
            // of the micros.
            let v = boundary - 1_000_000 + near;
            let want = reference(v);
            proptest::prop_assert_eq!(decimal(Timestamp::from_micros(v)), want.as_str());
        }
    }

    #[test]
    fn micros_carry_into_seconds() {
        let t = Timestamp::from_secs_micros(10, 1_500_000);
        assert_eq!((t.secs(), t.subsec_micros()), (11, 500_000));
    }
}
