//! xray-core on a Cortex-M microcontroller, under QEMU.
//!
//! With the `tracing` feature the firmware records one trace: the sampler's decision, a segment
//! with nested subsegments, annotations and an error, encoded by `xray-core` into a fixed buffer
//! under a 1,472-byte datagram budget, and hands every datagram to a transport that prints it
//! over semihosting (the daemon header line, then the document line). The `full-model`
//! feature, on by default, adds HTTP blocks, metadata, a stack frame, a service version and a
//! namespace. It then exits QEMU with success when the recorder's counters say everything went
//! out whole, or failure otherwise.
//!
//! Without `tracing` it prints one fixed line through the same semihosting path: the baseline
//! that `scripts/firmware-size.sh` subtracts to get the flash and RAM cost of the tracing code.
//! Both builds then print their peak stack use (see `stack`).
//!
//! No allocator is linked: there is no `alloc` anywhere in the dependency graph.
#![no_std]
#![no_main]

use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hio};

#[cfg(feature = "tracing")]
mod demo;
mod stack;

/// Writes a whole line to the host's stdout; failures are ignored (nothing else to report to).
pub(crate) fn host_write(out: &mut Option<hio::HostStream>, bytes: &[u8]) -> bool {
    match out {
        Some(stream) => stream.write_all(bytes).is_ok(),
        None => false,
    }
}

#[entry]
fn main() -> ! {
    let mut out = hio::hstdout().ok();
    #[cfg(feature = "tracing")]
    let ok = demo::run(&mut out);
    #[cfg(not(feature = "tracing"))]
    let ok = host_write(&mut out, b"# xray-firmware-demo: tracing disabled\n");
    // Printed after the verdict, by both builds: the size report subtracts the baseline's.
    let mut digits = [0; 10];
    host_write(&mut out, b"# stack peak bytes: ");
    host_write(&mut out, stack::decimal(stack::peak(), &mut digits));
    host_write(&mut out, b"\n");
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // No formatting: it would pull core::fmt into both builds and blur the size report.
    let mut out = hio::hstdout().ok();
    host_write(&mut out, b"# xray-firmware-demo: PANIC\n");
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    let mut out = hio::hstdout().ok();
    host_write(&mut out, b"# xray-firmware-demo: HARDFAULT\n");
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
