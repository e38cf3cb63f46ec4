//! A wall clock from embassy-time's monotonic [`Instant`] plus an epoch offset set later.

use core::cell::Cell;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::Instant;
use xray_core::{Clock, Timestamp};

/// A [`Clock`] for firmware: embassy-time's monotonic time since boot plus an epoch offset.
///
/// Devices usually learn the wall time late (SNTP, an RTC, GPS). Until the application calls
/// [`EmbassyClock::set_now`] (or [`EmbassyClock::set_offset_micros`]) the clock returns `None`,
/// and the recorder does not sample the traces that begin meanwhile: X-Ray rejects trace ids
/// with a wrong date. The offset can be set and corrected at any time, from any task or
/// interrupt (it is kept under a critical section, so it works on cores without 64-bit
/// atomics such as Cortex-M0 and RV32).
///
/// ```
/// # use xray_embassy::EmbassyClock;
/// # use xray_core::{Clock, Timestamp};
/// static CLOCK: EmbassyClock = EmbassyClock::new();
/// assert_eq!(CLOCK.now(), None);
/// // ...later, once SNTP has answered:
/// CLOCK.set_now(Timestamp::from_secs_micros(1_700_000_000, 0));
/// assert!(CLOCK.now().is_some());
/// ```
pub struct EmbassyClock {
    offset: Mutex<CriticalSectionRawMutex, Cell<Option<u64>>>,
}

impl Default for EmbassyClock {
    fn default() -> Self {
        Self::new()
    }
}

impl EmbassyClock {
    /// A clock that does not know the epoch yet.
    pub const fn new() -> Self {
        Self {
            offset: Mutex::new(Cell::new(None)),
        }
    }

    /// Sets the epoch from the current wall time (from SNTP, an RTC, GPS…), read now.
    pub fn set_now(&self, now: Timestamp) {
        let since_boot = Instant::now().as_micros();
        self.set_offset_micros(now.as_micros().saturating_sub(since_boot));
    }

    /// Sets the epoch offset directly: the epoch time, in microseconds, at which
    /// embassy-time's `Instant` was zero.
    pub fn set_offset_micros(&self, offset: u64) {
        self.offset.lock(|o| o.set(Some(offset)));
    }

    /// Forgets the epoch (the clock returns `None` again).
    pub fn clear(&self) {
        self.offset.lock(|o| o.set(None));
    }

    /// The epoch offset in microseconds, if set.
    pub fn offset_micros(&self) -> Option<u64> {
        self.offset.lock(Cell::get)
    }

    /// The wall time at a given monotonic instant, if the epoch is known.
    pub fn at(&self, instant: Instant) -> Option<Timestamp> {
        self.offset_micros()
            .map(|o| Timestamp::from_micros(o.saturating_add(instant.as_micros())))
    }
}

impl Clock for EmbassyClock {
    fn now(&self) -> Option<Timestamp> {
        self.at(Instant::now())
    }
}
