//! xray-embassy on a Cortex-M4F with an Ethernet controller, under QEMU: traces sent over UDP.
//!
//! QEMU's `mps2-an386` machine has a LAN9118 Ethernet controller; `lan9118` drives it behind
//! `embassy-net-driver`, `systick` gives embassy-time its clock, and an embassy executor runs
//! the embassy-net stack (static IPv4 address 192.0.2.10/24, RFC 5737 documentation range: it
//! exists only in the frames QEMU exchanges with the test's host program). With the `tracing`
//! feature (the default) `traces` records requests with `xray-core`, times them with
//! `EmbassyClock` (its epoch set by the program, as SNTP would) and sends them to the daemon at
//! 192.0.2.2:2000 through xray-embassy's emitter and `EmbassyUdpTransport`, then through a
//! transport on a deliberately tiny socket, and prints the counters over semihosting.
//!
//! Without `tracing` it sends one fixed datagram through the same stack and driver: the
//! baseline that the size report subtracts. Both builds print their peak stack use (`stack`)
//! and exit QEMU with success when everything went as the counters say it should.
//!
//! No allocator is linked.
#![no_std]
#![no_main]

use cortex_m_rt::{ExceptionFrame, exception};
use cortex_m_semihosting::{debug, hio};
use embassy_executor::Spawner;
use embassy_net::{Config, Ipv4Address, Ipv4Cidr, Runner, Stack, StackResources, StaticConfigV4};
use embassy_time::{Duration, with_timeout};
use static_cell::{ConstStaticCell, StaticCell};

mod lan9118;
mod out;
mod stack;
mod systick;
#[cfg(feature = "tracing")]
mod traces;
#[cfg(not(feature = "tracing"))]
mod untraced;

use lan9118::Lan9118;
use out::Out;

/// The device's address on the emulated link.
const DEVICE: Ipv4Address = Ipv4Address::new(192, 0, 2, 10);
/// The daemon's address and port (the host program answers ARP for it).
const DAEMON: (Ipv4Address, u16) = (Ipv4Address::new(192, 0, 2, 2), 2000);

/// Sockets the stack can hold: the traced build opens two UDP sockets.
const SOCKETS: usize = 2;

static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
/// The driver's frame buffers.
static RX_FRAME: ConstStaticCell<[u8; lan9118::MTU]> = ConstStaticCell::new([0; lan9118::MTU]);
static TX_FRAME: ConstStaticCell<[u8; lan9118::MTU]> = ConstStaticCell::new([0; lan9118::MTU]);

#[embassy_executor::task]
async fn network(mut runner: Runner<'static, Lan9118>) -> ! {
    runner.run().await
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let mut out = Out::new(hio::hstdout().ok());
    let ok = run(spawner, &mut out).await;
    out.line(&[b"# stack peak bytes: "], Some(stack::peak() as u64));
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
}

async fn run(spawner: Spawner, out: &mut Out) -> bool {
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        return false;
    };
    systick::start(peripherals.SYST);
    let (Some(rx), Some(tx)) = (RX_FRAME.try_take(), TX_FRAME.try_take()) else {
        return false;
    };
    // SAFETY: the MPS2's LAN9118 register block; this is its only user.
    let Some(nic) = (unsafe { Lan9118::new(lan9118::MPS2_BASE, rx, tx) }) else {
        out.line(
            &[b"# xray-firmware-net: no LAN9118 at its MPS2 address"],
            None,
        );
        return false;
    };
    let config = Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(DEVICE, 24),
        gateway: None,
        dns_servers: Default::default(),
    });
    // The seed of the stack's ports and sequence numbers: a board's hardware RNG would do.
    let seed = u64::from_le_bytes([nic.mac()[0], nic.mac()[1], nic.mac()[2], 3, 4, 5, 6, 7]);
    let resources = RESOURCES.init_with(StackResources::new);
    let (stack, runner) = embassy_net::new(nic, config, resources, seed);
    let Ok(task) = network(runner) else {
        return false;
    };
    spawner.spawn(task);
    if with_timeout(Duration::from_secs(5), stack.wait_config_up())
        .await
        .is_err()
    {
        out.line(&[b"# xray-firmware-net: the network did not come up"], None);
        return false;
    }
    out.line(
        &[b"# xray-firmware-net: up at 192.0.2.10/24, daemon 192.0.2.2:2000"],
        None,
    );
    send(stack, out).await
}

#[cfg(feature = "tracing")]
async fn send(stack: Stack<'static>, out: &mut Out) -> bool {
    traces::run(stack, out).await
}

#[cfg(not(feature = "tracing"))]
async fn send(stack: Stack<'static>, out: &mut Out) -> bool {
    untraced::run(stack, out).await
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // No formatting: it would pull core::fmt into both builds and blur the size report.
    Out::new(hio::hstdout().ok()).line(&[b"# xray-firmware-net: PANIC"], None);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    Out::new(hio::hstdout().ok()).line(&[b"# xray-firmware-net: HARDFAULT"], None);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
