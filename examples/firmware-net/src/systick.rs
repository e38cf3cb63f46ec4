//! embassy-time's driver on the Cortex-M SysTick timer: a 1 kHz tick plus the counter's
//! current value for the microseconds in between.
//!
//! Every tick the handler wakes the timers that are due (embassy-time's timer queue, which
//! this driver owns) and the network driver's receive poll (`lan9118::RX_WAKER`). A timer is
//! late by at most one tick; no alarm is re-armed.

use core::cell::{Cell, RefCell};
use core::task::Waker;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// The core clock of QEMU's MPS2 machines (`SYSCLK_FRQ` in hw/arm/mps2.c).
const CORE_HZ: u32 = 25_000_000;
/// Core cycles per tick, less one (SysTick counts from the reload value down to zero).
const RELOAD: u32 = CORE_HZ / 1_000 - 1;
const CYCLES_PER_MICRO: u32 = CORE_HZ / 1_000_000;

struct SysTickDriver {
    /// Milliseconds since `start`.
    millis: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    millis: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

/// Starts the tick (embassy-time reads zero until then).
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| {
            let millis = self.millis.borrow(cs).get();
            let mut current = SYST::get_current();
            // Inside a critical section the tick may have wrapped without its handler having
            // run yet: then it is pending, and the count read above may be from either side.
            let millis = if SCB::is_pendst_pending() {
                current = SYST::get_current();
                millis + 1
            } else {
                millis
            };
            millis * 1_000 + u64::from(RELOAD.saturating_sub(current) / CYCLES_PER_MICRO)
        })
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            self.queue.borrow_ref_mut(cs).schedule_wake(at, waker);
        });
    }
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let millis = DRIVER.millis.borrow(cs);
        millis.set(millis.get() + 1);
    });
    let now = DRIVER.now();
    critical_section::with(|cs| DRIVER.queue.borrow_ref_mut(cs).next_expiration(now));
    crate::lan9118::RX_WAKER.wake();
}
