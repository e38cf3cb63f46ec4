//! The wall clock of the operating system.

#[cfg(not(any(target_os = "linux", target_os = "android")))]
use std::time::{SystemTime, UNIX_EPOCH};

use xray_core::{Clock, Timestamp};

/// A [`Clock`] reading the system's wall clock: what [`std::time::SystemTime::now`] reads
/// (`clock_gettime(CLOCK_REALTIME)` on Linux and Android, read directly there).
///
/// Returns `None` only when the system time is before the Unix epoch (a badly set clock), so
/// that the recorder does not stamp documents with a wrong date.
///
/// ```
/// use xray_std::core::Clock;
/// use xray_std::SystemClock;
///
/// let now = SystemClock.now().expect("the system clock is past 1970");
/// assert!(now.secs() > 1_600_000_000);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn now(&self) -> Option<Timestamp> {
        // What `SystemTime::now` reads, without its checked `Duration` arithmetic: a traced
        // request reads it at least once (see `trace_clock` for the others).
        let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME).ok()?;
        let secs = u64::try_from(t.tv_sec()).ok()?;
        let micros = u32::try_from(t.tv_nsec() / 1_000).ok()?;
        Some(Timestamp::from_secs_micros(secs, micros))
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn now(&self) -> Option<Timestamp> {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        let micros = u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX);
        Some(Timestamp::from_micros(micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn reads_the_system_time_in_micros() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        let now = SystemClock.now().unwrap().as_micros();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        assert!(before <= now && now <= after, "{before} {now} {after}");
    }
}
