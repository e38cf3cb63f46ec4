//! A trace's clock: the wall clock read when the trace begins, then the CPU's time-stamp
//! counter (TSC) for its later readings.
//!
//! A traced request reads the clock six times (its segment, and the start and end of each
//! subsegment). `clock_gettime` costs 25–33 ns a reading on the machines this SDK is measured
//! on, the counter about 8 ns (`loadgen --split`). A reading within
//! [`MAX_EXTRAPOLATION_MICROS`] of the trace's anchor is the anchor's wall time plus the
//! counter's ticks since, converted at the counter's measured rate; any other reading is the
//! wall clock's, and becomes the anchor. OpenTelemetry Java's `AnchoredClock` does the same
//! with `System.nanoTime`. A side effect users see: durations inside a trace are elapsed
//! time even if the wall clock is stepped meanwhile.
//!
//! The counter is used only where the kernel trusts it: x86_64 Linux whose clocksource is
//! `tsc` (the kernel then checked that it ticks at a constant rate, synchronized across CPUs),
//! and not in Lambda, where an execution environment is frozen between invocations (a trace's
//! first reading there is the facade's, never read, so nothing would anchor it). Its rate is
//! measured from the wall-clock readings that begin traces (no calibration loop at start-up):
//! used once two measurements, 100 and 200 ms after a first reading, agree; measured again
//! every minute from that first reading; dropped when a measurement disagrees (the wall clock
//! was stepped) until measured anew; and given up for good once the kernel no longer uses the
//! counter (checked at each measurement). Until then, and wherever the counter is not used,
//! every reading is the wall clock's, as [`SystemClock`] reads it.
//!
//! A reading pair (wall clock, counter) taken while the thread was preempted would be off by
//! the pause: each pair is bracketed by two counter reads, and one whose bracket is wider than
//! both [`MIN_PAIR_TICKS`] and [`PAIR_SLACK`] times the narrowest this process has seen (or
//! wider than [`MAX_PAIR_TICKS`]) is not used. That a rate is used only once two measurements
//! from the same first pair agree finds out a first pair that was off anyway.

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use xray_core::{Clock, Timestamp};

use crate::system_clock::SystemClock;

/// How far past its anchor a reading is extrapolated. The counter's rate is known to about
/// two parts in 10⁵ after 100 ms of measuring (and better each minute after), and NTP slews
/// the wall clock by at most 500 ppm: 10 ms keeps a reading within 6 µs of the wall clock's.
const MAX_EXTRAPOLATION_MICROS: u64 = 10_000;
/// How many times the narrowest bracket seen a usable pair's may be (or [`MIN_PAIR_TICKS`],
/// if more): where every reading is slow, as under valgrind, pairs stay usable.
const PAIR_SLACK: u64 = 16;
/// A bracket this narrow is always usable: about 1.5 µs at today's rates, while a
/// `clock_gettime` takes about 80 ticks.
const MIN_PAIR_TICKS: u64 = 4_096;
/// The widest bracket of a usable pair whatever the narrowest (about 0.3 ms at today's rates:
/// reached only where every reading is slow, as under valgrind).
const MAX_PAIR_TICKS: u64 = 1 << 20;
/// The least time between the two pairs a rate is measured from.
const MIN_BASELINE_MICROS: u64 = 100_000;
/// How often the rate is measured again (from the first pair, so ever more precisely).
const RECHECK_MICROS: u64 = 60_000_000;
/// How far a new measurement may differ from the rate in use (parts per million) before the
/// wall clock is taken to have been stepped: the rate is then dropped and measured again.
const MAX_RATE_CHANGE_PPM: u64 = 1_000;

/// Reads the time-stamp counter, where it is used.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline]
#[allow(unsafe_code)]
fn ticks() -> u64 {
    // SAFETY: RDTSC has no operands and no preconditions; every x86_64 CPU implements it. It
    // is `unsafe` in `core::arch` only as all intrinsics were.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
#[inline]
fn ticks() -> u64 {
    0
}

/// Whether the kernel's clocksource is the counter, read now: about 12 µs (opening and reading
/// a sysfs file), without allocating (it runs on a request's path once a minute).
fn kernel_uses_counter() -> bool {
    use std::io::Read;
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        return false;
    }
    let mut buf = [0u8; 16];
    std::fs::File::open("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .and_then(|mut f| f.read(&mut buf))
        .is_ok_and(|n| buf.get(..n).is_some_and(|s| s.trim_ascii() == b"tsc"))
}

/// Whether this process may extrapolate readings with the counter (see the module docs);
/// decided once, when the first tracer is built. Each measurement of the rate checks the
/// clocksource again: a kernel that found the counter unstable switches away from it.
pub(crate) fn counter_usable() -> bool {
    static USABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *USABLE.get_or_init(kernel_uses_counter)
}

/// A wall-clock reading and the counter at that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pair {
    wall: Timestamp,
    ticks: u64,
}

/// The narrowest bracket of a pair this process has seen.
static NARROWEST: AtomicU64 = AtomicU64::new(u64::MAX);

/// Whether a pair whose counter reads were `bracket` ticks apart is usable, given the
/// narrowest bracket seen so far (which it updates).
fn usable_bracket(bracket: u64, narrowest: &AtomicU64) -> bool {
    let seen = narrowest.load(Ordering::Relaxed);
    if bracket < seen {
        // Racy by design: another thread's narrower bracket may be overwritten, and is seen
        // again soon enough. One narrower than any reading takes (two CPUs' counters read
        // across a migration) leaves the floor, [`MIN_PAIR_TICKS`].
        narrowest.store(bracket, Ordering::Relaxed);
    }
    bracket <= MAX_PAIR_TICKS
        && bracket <= MIN_PAIR_TICKS.max(seen.min(bracket).saturating_mul(PAIR_SLACK))
}

/// Reads the wall clock between two counter reads: the pair, if the thread was not paused
/// meanwhile (see [`PAIR_SLACK`]), and the reading in any case. A first try that is not
/// usable is made again once: the first reading after the thread was idle is often slow (its
/// caches cold), the next one not.
fn read_pair() -> (Option<Timestamp>, Option<Pair>) {
    match try_pair() {
        (wall, None) if wall.is_some() => try_pair(),
        first => first,
    }
}

/// One try of [`read_pair`].
#[inline]
fn try_pair() -> (Option<Timestamp>, Option<Pair>) {
    let before = ticks();
    let wall = SystemClock.now();
    let after = ticks();
    let bracket = after.wrapping_sub(before);
    let pair = wall
        .filter(|_| usable_bracket(bracket, &NARROWEST))
        .map(|wall| Pair {
            wall,
            ticks: before + bracket / 2,
        });
    (wall, pair)
}

/// The counter's rate as extrapolation uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rate {
    /// Microseconds per tick, in 32.32 fixed point.
    micros_per_tick: u64,
    /// Ticks in [`MAX_EXTRAPOLATION_MICROS`].
    max_ticks: u64,
}

impl Rate {
    /// The rate from two pairs, if they are far enough apart, in order, and the rate is
    /// within what any CPU's counter ticks at (1 MHz to 100 GHz).
    fn between(first: Pair, last: Pair) -> Option<Rate> {
        let micros = last.wall.as_micros().checked_sub(first.wall.as_micros())?;
        let ticks = last.ticks.checked_sub(first.ticks)?;
        if micros < MIN_BASELINE_MICROS || ticks < micros || ticks / micros > 100_000 {
            return None;
        }
        let micros_per_tick = u64::try_from((u128::from(micros) << 32) / u128::from(ticks)).ok()?;
        let max_ticks = u64::try_from(
            u128::from(MAX_EXTRAPOLATION_MICROS) * u128::from(ticks) / u128::from(micros),
        )
        .ok()?;
        Some(Rate {
            micros_per_tick,
            max_ticks,
        })
    }

    /// Whether `other` differs from this rate by at most [`MAX_RATE_CHANGE_PPM`].
    fn agrees_with(self, other: Rate) -> bool {
        let (a, b) = (self.micros_per_tick, other.micros_per_tick);
        a.abs_diff(b).saturating_mul(1_000_000) <= a.saturating_mul(MAX_RATE_CHANGE_PPM)
    }
}

/// The process's measurement of the counter's rate.
struct Calibration {
    /// Cleared for good once the kernel no longer uses the counter.
    trusted: AtomicBool,
    /// [`Rate::micros_per_tick`], 0 while unknown.
    micros_per_tick: AtomicU64,
    /// [`Rate::max_ticks`].
    max_ticks: AtomicU64,
    /// The wall time (µs) at which a trace's pair is next used to measure the rate.
    next_check: AtomicU64,
    /// The measurement under way.
    measuring: Mutex<Measuring>,
}

/// A measurement of the counter's rate: from a first pair, to later ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Measuring {
    first: Option<Pair>,
    /// A rate measured from `first`, not yet confirmed by a second measurement.
    candidate: Option<Rate>,
}

/// What a pair does to the measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Nothing to use yet; measure again [`MIN_BASELINE_MICROS`] later.
    Wait,
    /// Use this rate; measure again [`RECHECK_MICROS`] later.
    Use(Rate),
    /// Stop using any rate: the measurements disagree (a first pair that was off, or a wall
    /// clock stepped meanwhile). Measuring starts again from this pair.
    Drop,
}

impl Measuring {
    /// Takes `pair` into the measurement, given the rate in use.
    fn step(&mut self, pair: Pair, in_use: Option<Rate>) -> Step {
        let Some(first) = self.first else {
            self.first = Some(pair);
            return Step::Wait;
        };
        let Some(rate) = Rate::between(first, pair) else {
            // Too close to the first pair, or behind it: start again if behind.
            if pair.wall < first.wall || pair.ticks < first.ticks {
                *self = Measuring::default();
                self.first = Some(pair);
                return Step::Drop;
            }
            return Step::Wait;
        };
        match in_use.or(self.candidate) {
            None => {
                self.candidate = Some(rate);
                Step::Wait
            }
            Some(earlier) if earlier.agrees_with(rate) => {
                self.candidate = None;
                Step::Use(rate)
            }
            Some(_) => {
                *self = Measuring::default();
                self.first = Some(pair);
                Step::Drop
            }
        }
    }
}

static CALIBRATION: Calibration = Calibration::new();

impl Calibration {
    const fn new() -> Calibration {
        Calibration {
            trusted: AtomicBool::new(true),
            micros_per_tick: AtomicU64::new(0),
            max_ticks: AtomicU64::new(0),
            next_check: AtomicU64::new(0),
            measuring: Mutex::new(Measuring {
                first: None,
                candidate: None,
            }),
        }
    }

    /// The rate in use, if measured.
    fn rate(&self) -> Option<Rate> {
        let micros_per_tick = self.micros_per_tick.load(Ordering::Relaxed);
        (micros_per_tick != 0).then(|| Rate {
            micros_per_tick,
            max_ticks: self.max_ticks.load(Ordering::Relaxed),
        })
    }

    /// Measures the rate with the pair a trace began with, when a measurement is due. Never
    /// waits: a pair that finds another thread measuring is not used. A rate is used only if
    /// `kernel_uses_counter` still says so then.
    fn note(&self, pair: Pair, kernel_uses_counter: fn() -> bool) {
        if pair.wall.as_micros() < self.next_check.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut measuring) = self.measuring.try_lock() else {
            return;
        };
        let next = match measuring.step(pair, self.rate()) {
            Step::Wait => MIN_BASELINE_MICROS,
            Step::Use(_) if !kernel_uses_counter() => {
                self.trusted.store(false, Ordering::Relaxed);
                self.micros_per_tick.store(0, Ordering::Relaxed);
                u64::MAX / 2
            }
            Step::Use(rate) => {
                self.max_ticks.store(rate.max_ticks, Ordering::Relaxed);
                self.micros_per_tick
                    .store(rate.micros_per_tick, Ordering::Relaxed);
                RECHECK_MICROS
            }
            Step::Drop => {
                self.micros_per_tick.store(0, Ordering::Relaxed);
                MIN_BASELINE_MICROS
            }
        };
        self.next_check.store(
            pair.wall.as_micros().saturating_add(next),
            Ordering::Relaxed,
        );
    }
}

/// Where a trace's readings are extrapolated from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Anchor {
    pair: Pair,
    rate: Rate,
}

impl Anchor {
    /// The time `now` ticks of the counter say, if within reach of the anchor.
    #[inline]
    fn extrapolate(self, now: u64) -> Option<Timestamp> {
        let elapsed = now.wrapping_sub(self.pair.ticks);
        (elapsed <= self.rate.max_ticks).then(|| {
            Timestamp::from_micros(
                self.pair.wall.as_micros() + ((elapsed * self.rate.micros_per_tick) >> 32),
            )
        })
    }
}

/// The clock of one trace (kept with its recorder): see the module docs.
#[derive(Debug, Default)]
pub(crate) struct TraceClock {
    anchor: Cell<Option<Anchor>>,
}

impl TraceClock {
    /// The reading a trace begins with (`None` when the system time is before 1970), and the
    /// anchor it gives the trace's later readings (where [`counter_usable`]).
    pub(crate) fn begin() -> (Option<Timestamp>, TraceStart) {
        if !CALIBRATION.trusted.load(Ordering::Relaxed) {
            return (SystemClock.now(), TraceStart::NONE);
        }
        let (wall, pair) = read_pair();
        let anchor = pair.and_then(|pair| {
            CALIBRATION.note(pair, kernel_uses_counter);
            CALIBRATION.rate().map(|rate| Anchor { pair, rate })
        });
        (wall, TraceStart(anchor))
    }

    /// Starts a trace's readings from `start`.
    pub(crate) fn start(&self, start: TraceStart) {
        self.anchor.set(start.0);
    }

    /// Forgets the trace (its recorder goes back to the pool).
    pub(crate) fn clear(&self) {
        self.anchor.set(None);
    }

    /// A wall-clock reading that becomes the anchor if it can be one.
    #[cold]
    fn reanchor(&self) -> Option<Timestamp> {
        let (wall, pair) = read_pair();
        let anchor = pair
            .zip(CALIBRATION.rate())
            .map(|(pair, rate)| Anchor { pair, rate });
        self.anchor.set(anchor);
        wall
    }
}

/// What [`TraceClock::begin`] passes to the trace's clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TraceStart(Option<Anchor>);

impl TraceStart {
    /// No anchor: every reading of the trace is the wall clock's.
    pub(crate) const NONE: TraceStart = TraceStart(None);
}

impl Clock for TraceClock {
    #[inline]
    fn now(&self) -> Option<Timestamp> {
        match self.anchor.get() {
            Some(anchor) => match anchor.extrapolate(ticks()) {
                Some(t) => Some(t),
                None => self.reanchor(),
            },
            None => SystemClock.now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(micros: u64, ticks: u64) -> Pair {
        Pair {
            wall: Timestamp::from_micros(micros),
            ticks,
        }
    }

    #[test]
    fn a_rate_needs_100_ms_of_baseline_and_a_plausible_counter() {
        let t0 = 1_700_000_000_000_000;
        // 3 GHz over exactly one second.
        let rate = Rate::between(pair(t0, 10), pair(t0 + 1_000_000, 10 + 3_000_000_000)).unwrap();
        assert_eq!(rate.max_ticks, 30_000_000);
        // 1/3000 µs per tick in 32.32.
        assert_eq!(rate.micros_per_tick, (1u64 << 32) / 3000);
        assert!(Rate::between(pair(t0, 10), pair(t0 + 100_000, 300_000_010)).is_some());
        assert!(Rate::between(pair(t0, 10), pair(t0 + 99_999, 300_000_000)).is_none());
        // Backwards in either clock, or a counter slower than 1 MHz or faster than 100 GHz.
        assert!(Rate::between(pair(t0 + 2_000_000, 10), pair(t0, 3_000_000_000)).is_none());
        assert!(Rate::between(pair(t0, 3_000_000_000), pair(t0 + 2_000_000, 10)).is_none());
        assert!(Rate::between(pair(t0, 0), pair(t0 + 2_000_000, 1_000_000)).is_none());
        assert!(Rate::between(pair(t0, 0), pair(t0 + 1_000_000, 200_000_000_000_000)).is_none());
        assert!(Rate::between(pair(t0, 0), pair(t0 + 1_000_000, 1_000_000)).is_some());
    }

    #[test]
    fn a_rate_is_used_once_two_measurements_agree_and_dropped_when_one_disagrees() {
        let t0 = 1_700_000_000_000_000;
        // 3,000 ticks a microsecond.
        let at = |micros: u64| pair(t0 + micros, 5 + micros * 3_000);
        let mut m = Measuring::default();
        assert_eq!(m.step(at(0), None), Step::Wait);
        // Too soon after the first pair.
        assert_eq!(m.step(at(50_000), None), Step::Wait);
        assert_eq!(m.step(at(100_000), None), Step::Wait);
        let rate = Rate::between(at(0), at(200_000)).unwrap();
        assert_eq!(m.step(at(200_000), None), Step::Use(rate));
        // A minute later, from the same first pair: still agrees.
        let later = Rate::between(at(0), at(60_200_000)).unwrap();
        assert_eq!(m.step(at(60_200_000), Some(rate)), Step::Use(later));
        // The wall clock stepped 1 s forward: dropped, and measured again from there.
        let stepped = pair(t0 + 121_200_000, 5 + 120_200_000 * 3_000);
        assert_eq!(m.step(stepped, Some(later)), Step::Drop);
        assert_eq!(m.first, Some(stepped));
        // A wall clock that went back: dropped at once.
        let mut m = Measuring::default();
        m.step(at(1_000_000), None);
        assert_eq!(m.step(at(500_000), None), Step::Drop);
        // A first pair 10 ms off (its thread paused): the two measurements disagree.
        let mut m = Measuring::default();
        m.step(pair(t0 - 10_000, 5), None);
        assert_eq!(m.step(at(100_000), None), Step::Wait);
        assert_eq!(m.step(at(200_000), None), Step::Drop);
    }

    #[test]
    fn no_rate_is_used_once_the_kernel_no_longer_uses_the_counter() {
        let t0 = 1_700_000_000_000_000;
        let at = |micros: u64| pair(t0 + micros, 5 + micros * 3_000);
        let trusting = Calibration::new();
        for m in [0, 100_000, 200_000] {
            trusting.note(at(m), || true);
        }
        assert_eq!(trusting.rate(), Rate::between(at(0), at(200_000)));
        assert!(trusting.trusted.load(Ordering::Relaxed));
        // A minute later the kernel has switched to another clocksource.
        trusting.note(at(60_200_000), || false);
        assert_eq!(trusting.rate(), None);
        assert!(!trusting.trusted.load(Ordering::Relaxed));
        // And it is not measured again.
        trusting.note(at(120_200_000), || true);
        assert_eq!(trusting.rate(), None);
        let never = Calibration::new();
        for m in [0, 100_000, 200_000] {
            never.note(at(m), || false);
        }
        assert_eq!(never.rate(), None);
    }

    #[test]
    fn a_bracket_is_usable_within_sixteen_times_the_narrowest_seen_or_the_floor() {
        let narrowest = AtomicU64::new(u64::MAX);
        assert!(usable_bracket(1_000, &narrowest));
        assert_eq!(narrowest.load(Ordering::Relaxed), 1_000);
        assert!(usable_bracket(16_000, &narrowest));
        assert!(!usable_bracket(16_001, &narrowest));
        assert!(usable_bracket(800, &narrowest));
        assert_eq!(narrowest.load(Ordering::Relaxed), 800);
        assert!(!usable_bracket(12_801, &narrowest));
        assert!(usable_bracket(12_800, &narrowest));
        // A first bracket that was slow (cold caches) does not keep later pauses usable.
        let cold = AtomicU64::new(u64::MAX);
        assert!(usable_bracket(28_000, &cold));
        assert!(usable_bracket(78, &cold));
        assert!(!usable_bracket(28_000, &cold));
        // One narrower than any reading takes (counters of two CPUs read across a
        // migration) leaves the floor: readings of a few thousand ticks stay usable.
        assert!(usable_bracket(3, &narrowest));
        assert!(usable_bracket(MIN_PAIR_TICKS, &narrowest));
        assert!(!usable_bracket(MIN_PAIR_TICKS + 1, &narrowest));
        // The floor, whatever the narrowest.
        let fast = AtomicU64::new(u64::MAX);
        assert!(usable_bracket(80, &fast));
        assert!(usable_bracket(MIN_PAIR_TICKS, &fast));
        assert!(!usable_bracket(MIN_PAIR_TICKS + 1, &fast));
        // Where every reading is slow, up to the bound.
        let slow = AtomicU64::new(u64::MAX);
        assert!(usable_bracket(100_000, &slow));
        assert!(usable_bracket(MAX_PAIR_TICKS, &slow));
        assert!(!usable_bracket(MAX_PAIR_TICKS + 1, &slow));
    }

    #[test]
    fn rates_agree_within_a_thousand_ppm() {
        let a = Rate {
            micros_per_tick: 1_000_000,
            max_ticks: 1,
        };
        let near = Rate {
            micros_per_tick: 1_001_000,
            ..a
        };
        let far = Rate {
            micros_per_tick: 1_001_001,
            ..a
        };
        assert!(a.agrees_with(a) && a.agrees_with(near) && !a.agrees_with(far));
    }

    #[test]
    fn readings_are_extrapolated_within_reach_of_the_anchor_only() {
        let t0 = 1_700_000_000_000_000;
        let rate = Rate::between(pair(t0, 0), pair(t0 + 1_000_000, 3_000_000_000)).unwrap();
        let anchor = Anchor {
            pair: pair(t0 + 5_000_000, 1_000),
            rate,
        };
        assert_eq!(
            anchor.extrapolate(1_000),
            Some(Timestamp::from_micros(t0 + 5_000_000))
        );
        // 1.5 ms later, and every microsecond up to the limit, to within one microsecond
        // (the fixed-point rate rounds down).
        assert_eq!(
            anchor.extrapolate(1_000 + 4_500_000),
            Some(Timestamp::from_micros(t0 + 5_001_500 - 1))
        );
        for micros in (0..=MAX_EXTRAPOLATION_MICROS).step_by(7) {
            let got = anchor
                .extrapolate(1_000 + micros * 3000)
                .unwrap()
                .as_micros();
            let want = t0 + 5_000_000 + micros;
            assert!(got <= want && want - got <= 1, "{micros}: {got} vs {want}");
        }
        // Past the limit, or a counter behind the anchor: not extrapolated.
        assert_eq!(anchor.extrapolate(1_000 + 30_000_001), None);
        assert_eq!(anchor.extrapolate(999), None);
    }

    #[test]
    fn a_clock_without_an_anchor_reads_the_wall_clock() {
        let clock = TraceClock::default();
        clock.start(TraceStart(None));
        let before = SystemClock.now().unwrap();
        let now = clock.now().unwrap();
        let after = SystemClock.now().unwrap();
        assert!(before <= now && now <= after);
    }

    /// On a machine whose kernel uses the counter: with a rate measured over 110 ms,
    /// every reading of a trace lies between two wall-clock readings taken around it (within
    /// 5 µs: rounding, and the rate's error over 10 ms), readings never go back, and one
    /// made more than 10 ms after the anchor is the wall clock's again.
    #[test]
    fn extrapolated_readings_agree_with_the_wall_clock() {
        if !counter_usable() {
            eprintln!("the kernel's clocksource is not tsc: nothing to check here");
            return;
        }
        // A rate measured the way traces do it, over 110 ms (pairs taken while the thread
        // was preempted are not used: try again).
        let measure = |wait: std::time::Duration| {
            for _ in 0..20 {
                let (_, first) = read_pair();
                std::thread::sleep(wait);
                let (_, last) = read_pair();
                if let Some(rate) = first.zip(last).and_then(|(a, b)| Rate::between(a, b)) {
                    return rate;
                }
            }
            panic!("20 tries, and no two usable pairs 110 ms apart");
        };
        let rate = measure(std::time::Duration::from_millis(110));
        let clock = TraceClock::default();
        let mut anchored = 0;
        let mut last = Timestamp::from_micros(0);
        for i in 0..2_000 {
            if i % 200 == 0 {
                // A new trace.
                let (_, pair) = read_pair();
                clock.start(TraceStart(pair.map(|pair| Anchor { pair, rate })));
                last = Timestamp::from_micros(0);
            }
            anchored += usize::from(clock.anchor.get().is_some());
            let before = SystemClock.now().unwrap().as_micros();
            let now = clock.now().unwrap();
            let after = SystemClock.now().unwrap().as_micros();
            assert!(
                before.saturating_sub(5) <= now.as_micros() && now.as_micros() <= after + 5,
                "reading {i}: {} not within [{before}, {after}] ± 5 µs",
                now.as_micros()
            );
            assert!(now >= last, "reading {i} went back");
            last = now;
            std::hint::black_box((0..200).sum::<u64>());
        }
        assert!(
            anchored > 1_000,
            "only {anchored} of 2,000 readings had an anchor"
        );
        // More than 10 ms after the anchor: a wall-clock reading, which anchors again.
        let (_, pair) = read_pair();
        clock.start(TraceStart(pair.map(|pair| Anchor { pair, rate })));
        std::thread::sleep(std::time::Duration::from_millis(15));
        let before = SystemClock.now().unwrap();
        let now = clock.now().unwrap();
        let after = SystemClock.now().unwrap();
        assert!(before <= now && now <= after);
    }
}
