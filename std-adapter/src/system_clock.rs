//! The wall clock of the operating system.

use std::time::{SystemTime, UNIX_EPOCH};

use xray_core::{Clock, Timestamp};

/// A [`Clock`] reading [`SystemTime::now`].
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
    fn now(&self) -> Option<Timestamp> {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        let micros = u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX);
        Some(Timestamp::from_micros(micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
