//! embassy-net adapter for [`xray_core`]: X-Ray tracing in async firmware, with no heap.
//!
//! - [`EmbassyUdpTransport`]: a transport on an embassy-net
//!   [`UdpSocket`](embassy_net::udp::UdpSocket) that puts each datagram straight into the
//!   socket's transmit buffer. As a synchronous [`Transport`](xray_core::Transport) the
//!   recorder ends entities directly into it (one copy, from the recorder's buffer to the
//!   socket's, and never a wait); as an [`AsyncTransport`] it waits
//!   for room (`send_to_with`), and [`EmbassyUdpTransport::send_with`] lets an encoder write
//!   into that buffer itself;
//! - [`EmbassyClock`]: embassy-time's monotonic clock plus an epoch offset that the
//!   application sets when it learns the time (SNTP, RTC, GPS); `None` until then;
//! - [`EmitterQueue`]: for datagrams that should wait for room instead of being dropped when
//!   the transmit buffer is full, a bounded queue that the recorder fills through a
//!   synchronous [`QueueTransport`] and an [`Emitter`] task drains to the network;
//! - counters for every drop ([`TransportStats`], [`QueueStats`]) and optional `defmt` logging
//!   (feature `defmt`).
//!
//! Any `rand_core` RNG works with the recorder; a hardware RNG usually is one already. The
//! crate is `no_std`, allocates nothing and builds for `thumbv6m-none-eabi`,
//! `thumbv7em-none-eabihf` and `riscv32imac-unknown-none-elf`; it needs a `critical-section`
//! implementation (e.g. `cortex-m`'s `critical-section-single-core`) and an embassy-time driver,
//! as any embassy application has.
//!
//! Keep the recorder's buffer off the stack: it is a few kilobytes, and an array built in a
//! function is built on the stack first. Any `&mut [u8; N]` serves as the buffer, for example
//! one taken from a zeroed `static_cell::ConstStaticCell<[u8; N]>`, which sits in `.bss` and is
//! never copied; `examples/firmware` does that and reports its peak stack use.
//!
//! ```no_run
//! use embassy_net::udp::{PacketMetadata, UdpSocket};
//! use embassy_net::{Ipv4Address, Stack};
//! use embassy_sync::blocking_mutex::raw::NoopRawMutex;
//! use xray_core::{Recorder, RecorderConfig, name};
//! use xray_embassy::{Datagram, EmbassyClock, EmbassyUdpTransport, EmitterQueue};
//!
//! static CLOCK: EmbassyClock = EmbassyClock::new();
//!
//! async fn traced(
//!     stack: Stack<'_>,
//!     buffer: &'static mut [u8; 2560], // from a ConstStaticCell: in .bss, never on the stack
//!     rng: &mut impl xray_core::rand_core::Rng,
//! ) {
//!     // Room for four datagrams of up to 1,472 bytes in the socket's transmit buffer.
//!     let (mut rx_meta, mut rx_buf) = ([PacketMetadata::EMPTY; 1], [0u8; 64]);
//!     let (mut tx_meta, mut tx_buf) = ([PacketMetadata::EMPTY; 4], [0u8; 4 * 1472]);
//!     let socket = UdpSocket::new(stack, &mut rx_meta, &mut rx_buf, &mut tx_meta, &mut tx_buf);
//!     let mut udp = EmbassyUdpTransport::new(socket, (Ipv4Address::new(192, 0, 2, 1), 2000));
//!
//!     let mut rec: Recorder<_, 8> = Recorder::new(buffer, RecorderConfig::with_budget(1472));
//!     // `name!` checks the name at compile time: no name filter is linked.
//!     let seg = rec.begin_segment(name!("sensor-node"), None, true, &CLOCK, rng);
//!     let _ = rec.annotate(seg, "device_id", "node-17");
//!     let _ = rec.end(seg, &CLOCK, &mut udp); // into the transmit buffer; never awaits
//!
//!     // Or through a queue that an emitter task drains, waiting for room as needed.
//!     let mut slots = [Datagram::<1472>::EMPTY; 2];
//!     let mut queue = EmitterQueue::<NoopRawMutex, 1472>::new(&mut slots);
//!     let (mut to_queue, mut emitter) = queue.split();
//!     let seg = rec.begin_segment(name!("sensor-node"), None, true, &CLOCK, rng);
//!     let _ = rec.end(seg, &CLOCK, &mut to_queue);
//!     emitter.flush(&mut udp, 2).await; // or `emitter.run(&mut udp)` in its own task
//! }
//! # // With the `defmt` feature the example links defmt's symbols: a firmware has a logger
//! # // (defmt-rtt, say); on the host this one discards everything.
//! # #[defmt::global_logger]
//! # struct Discard;
//! # #[allow(unsafe_code)]
//! # unsafe impl defmt::Logger for Discard {
//! #     fn acquire() {}
//! #     unsafe fn flush() {}
//! #     unsafe fn release() {}
//! #     unsafe fn write(_bytes: &[u8]) {}
//! # }
//! # defmt::timestamp!("{=u64}", 0);
//! # #[defmt::panic_handler]
//! # fn defmt_panic() -> ! {
//! #     panic!()
//! # }
//! # fn main() {}
//! ```
//!
//! # Features
#![doc = document_features::document_features!()]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod fmt;

mod async_transport;
mod clock;
mod emitter;
mod transport;

pub use async_transport::AsyncTransport;
pub use clock::EmbassyClock;
pub use emitter::{Datagram, Emitter, EmitterQueue, QueueStats, QueueTransport};
pub use transport::{EmbassyUdpTransport, TransportStats};
