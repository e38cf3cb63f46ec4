//! The traced part: requests recorded with `xray-core` and sent to the daemon through
//! `xray-embassy`, in two ways.
//!
//! 1. **Through the emitter.** The recorder ends entities into an `EmitterQueue`'s
//!    synchronous `QueueTransport` and never waits; an `Emitter`, run next to the request
//!    loop, drains the queue into an `EmbassyUdpTransport`, waiting for room in the socket's
//!    transmit buffer when it has to. Nothing is dropped.
//! 2. **Straight into a tiny socket.** The recorder ends one more request directly into an
//!    `EmbassyUdpTransport` (a synchronous `Transport`: a copy into the socket's transmit
//!    buffer, never a wait) whose socket holds two datagrams in 512 bytes. The burst of
//!    datagrams that one request sends does not fit: what does not is dropped and counted
//!    (`buffer_full`, and `too_large` for datagrams larger than the whole buffer, such as the
//!    segment's), and the firmware carries on.
//!
//! The counters of both are printed over semihosting for the host program, which checks that
//! it received exactly the datagrams the transports say they sent.

use core::convert::Infallible;
use embassy_futures::select::select;
use embassy_net::Stack;
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::{Duration, Timer, with_timeout};
use static_cell::{ConstStaticCell, StaticCell};
use xray_core::model::Exception;
use xray_core::rand_core::TryRng;
use xray_core::{Name, Recorder, RecorderConfig, Timestamp, Transport, name};
use xray_embassy::{
    Datagram, EmbassyClock, EmbassyUdpTransport, EmitterQueue, QueueStats, TransportStats,
};

use crate::Out;

/// The datagram budget: the largest UDP payload that crosses a 1,500-byte Ethernet MTU
/// without IP fragmentation.
pub const BUDGET: usize = 1472;
/// The recorder's buffer: the budget, its working room and the field log of open entities.
const BUFFER: usize = BUDGET + 1024;
/// Entities open at once.
const SLOTS: usize = 8;
/// Requests recorded through the emitter.
const REQUESTS: u32 = 3;
/// Subsegments recorded in a loop in each request: enough to overflow the budget so that
/// some are streamed as independent subsegments.
const SAMPLES: u32 = 8;
/// Datagrams the emitter's queue holds: a request's burst (its segment, the nested
/// subsegments, the streamed ones).
const QUEUE_DEPTH: usize = 8;
/// Datagrams the emitter's socket holds: fewer than a burst, so the emitter waits for room
/// (the queue absorbs the burst, the emitter paces it into the socket).
const EMITTER_PACKETS: usize = 2;
/// The tiny socket's transmit buffer: two datagrams in 512 bytes.
const TINY_PACKETS: usize = 2;
const TINY_BYTES: usize = 512;

/// Wall time for the recorder: embassy-time's monotonic clock plus an epoch the program sets
/// (as it would after asking SNTP, an RTC or GPS).
static CLOCK: EmbassyClock = EmbassyClock::new();

// Everything large lives in statics (`.bss`), never built on the stack and copied.
static BUFFER_CELL: ConstStaticCell<[u8; BUFFER]> = ConstStaticCell::new([0; BUFFER]);
static RECORDER: StaticCell<Recorder<&'static mut [u8; BUFFER], SLOTS>> = StaticCell::new();
static QUEUE_SLOTS: ConstStaticCell<[Datagram<BUDGET>; QUEUE_DEPTH]> =
    ConstStaticCell::new([Datagram::EMPTY; QUEUE_DEPTH]);
static EMITTER_TX_META: ConstStaticCell<[PacketMetadata; EMITTER_PACKETS]> =
    ConstStaticCell::new([PacketMetadata::EMPTY; EMITTER_PACKETS]);
static EMITTER_TX: ConstStaticCell<[u8; EMITTER_PACKETS * BUDGET]> =
    ConstStaticCell::new([0; EMITTER_PACKETS * BUDGET]);
static TINY_TX_META: ConstStaticCell<[PacketMetadata; TINY_PACKETS]> =
    ConstStaticCell::new([PacketMetadata::EMPTY; TINY_PACKETS]);
static TINY_TX: ConstStaticCell<[u8; TINY_BYTES]> = ConstStaticCell::new([0; TINY_BYTES]);
// The sockets only send: their receive sides hold one small datagram each.
static RX_META: ConstStaticCell<[PacketMetadata; 2]> =
    ConstStaticCell::new([PacketMetadata::EMPTY; 2]);
static RX: ConstStaticCell<[u8; 32]> = ConstStaticCell::new([0; 32]);

/// xorshift64*: stands in for the board's hardware RNG.
struct XorShift(u64);

impl TryRng for XorShift {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        Ok(x.wrapping_mul(0x2545_f491_4f6c_dd1d))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

type Rec = Recorder<&'static mut [u8; BUFFER], SLOTS>;

const SAMPLE_NAMES: [Name<'static>; 4] = [
    name!("sample-a"),
    name!("sample-b"),
    name!("sample-c"),
    name!("sample-d"),
];

/// One request: a segment with annotations, a subsegment with a nested one that fails (an
/// exception and fault flags), a loop of small subsegments that overflows the budget (so some
/// are streamed on their own) and a last one. Every datagram goes to `transport`.
fn record_request<T: Transport>(rec: &mut Rec, rng: &mut XorShift, transport: &mut T, n: u32) {
    let seg = rec.begin_segment(name!("sensor-node"), None, true, &CLOCK, rng);
    let _ = rec.annotate(seg, "device_id", "node-17");
    let _ = rec.annotate(seg, "request", n);
    let read = rec.begin_subsegment(seg, name!("read-sensor"), &CLOCK, rng);
    let i2c = rec.begin_subsegment(read, name!("i2c-transfer"), &CLOCK, rng);
    let _ = rec.annotate(i2c, "bus", 1u8);
    let _ = rec.add_exception(
        i2c,
        &Exception {
            type_name: Some("I2cError"),
            message: Some("NACK from address 0x48"),
            ..Exception::default()
        },
        rng,
    );
    let _ = rec.set_fault(i2c);
    let _ = rec.end(i2c, &CLOCK, transport);
    let _ = rec.set_fault(read);
    let _ = rec.end(read, &CLOCK, transport);
    for i in 0..SAMPLES {
        let s = rec.begin_subsegment(seg, SAMPLE_NAMES[i as usize % 4], &CLOCK, rng);
        let _ = rec.annotate(s, "index", i);
        let _ = rec.end(s, &CLOCK, transport);
    }
    let publish = rec.begin_subsegment(seg, name!("publish"), &CLOCK, rng);
    let _ = rec.end(publish, &CLOCK, transport);
    let _ = rec.set_fault(seg);
    let _ = rec.end(seg, &CLOCK, transport);
}

fn print_transport(out: &mut Out, label: &[u8], s: &TransportStats) {
    out.counters(
        label,
        &[
            (b"sent", s.sent.into()),
            (b"bytes", s.bytes),
            (b"too_large", s.too_large.into()),
            (b"no_route", s.no_route.into()),
            (b"not_bound", s.not_bound.into()),
            (b"timed_out", s.timed_out.into()),
            (b"buffer_full", s.buffer_full.into()),
            (b"dropped", s.dropped().into()),
        ],
    );
}

fn print_queue(out: &mut Out, s: &QueueStats) {
    out.counters(
        b"# emitter queue:",
        &[
            (b"queued", s.queued.into()),
            (b"queue_full", s.queue_full.into()),
            (b"too_large", s.too_large.into()),
            (b"dropped", s.dropped().into()),
        ],
    );
}

/// Waits until `socket` has handed every datagram to the driver (the controller sends a frame
/// as soon as it is written), so that exiting QEMU loses nothing. Whether it did.
async fn flush(mut socket: UdpSocket<'_>) -> bool {
    with_timeout(Duration::from_secs(5), socket.flush())
        .await
        .is_ok()
}

/// Records and sends; returns whether every counter says what it should.
pub async fn run(stack: Stack<'static>, out: &mut Out) -> bool {
    // Each static is taken once (`try_take`: a second call gets `None`, not a panic). Kept
    // apart, the zeroed arrays stay in `.bss` (next to non-zero packet metadata they would be
    // copied from flash).
    let (Some(buffer), Some(slots), Some(rx_meta), Some(rx)) = (
        BUFFER_CELL.try_take(),
        QUEUE_SLOTS.try_take(),
        RX_META.try_take(),
        RX.try_take(),
    ) else {
        return false;
    };
    let (Some(emitter_meta), Some(emitter_tx), Some(tiny_meta), Some(tiny_tx)) = (
        EMITTER_TX_META.try_take(),
        EMITTER_TX.try_take(),
        TINY_TX_META.try_take(),
        TINY_TX.try_take(),
    ) else {
        return false;
    };
    let (rx_meta_a, rx_meta_b) = rx_meta.split_at_mut(1);
    let (rx_a, rx_b) = rx.split_at_mut(16);
    let emitter_socket = UdpSocket::new(stack, rx_meta_a, rx_a, emitter_meta, emitter_tx);
    let tiny_socket = UdpSocket::new(stack, rx_meta_b, rx_b, tiny_meta, tiny_tx);
    let Some(rec) =
        RECORDER.try_init_with(|| Recorder::new(buffer, RecorderConfig::with_budget(BUDGET)))
    else {
        return false;
    };
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    // Until the epoch is set the clock reads `None` and traces are not sampled.
    CLOCK.set_now(Timestamp::from_secs_micros(1_700_000_000, 0));

    // 1. Requests through the emitter, which runs beside them and drains the queue.
    // The emitter waits for room in the socket; allow for the first datagrams waiting on the
    // daemon's ARP reply (embassy-net asks again after a second without one).
    let mut udp = EmbassyUdpTransport::new(emitter_socket, crate::DAEMON)
        .with_timeout(Duration::from_secs(3));
    let mut queue = EmitterQueue::<NoopRawMutex, BUDGET>::new(slots);
    let (mut to_queue, mut emitter) = queue.split();
    let requests = async {
        for n in 0..REQUESTS {
            record_request(rec, &mut rng, &mut to_queue, n);
            // The device's other work between requests.
            Timer::after_millis(10).await;
        }
    };
    select(requests, emitter.run(&mut udp)).await;
    emitter.flush(&mut udp, QUEUE_DEPTH).await;
    let queue_stats = to_queue.stats();
    let udp_stats = udp.stats();
    let flushed = flush(udp.into_socket()).await;

    // 2. One more request straight into a transport on a tiny socket: counted drops.
    let mut tiny = EmbassyUdpTransport::new(tiny_socket, crate::DAEMON);
    record_request(rec, &mut rng, &mut tiny, REQUESTS);
    let tiny_stats = tiny.stats();
    let tiny_flushed = flush(tiny.into_socket()).await;

    let rec_stats = *rec.stats();
    print_queue(out, &queue_stats);
    print_transport(out, b"# emitter transport:", &udp_stats);
    print_transport(out, b"# tiny-buffer transport:", &tiny_stats);
    out.counters(
        b"# recorder:",
        &[
            (b"datagrams", rec_stats.datagrams.into()),
            (b"streamed", rec_stats.streamed.into()),
            (b"fields_dropped", rec_stats.fields_dropped.into()),
        ],
    );
    let handed =
        queue_stats.queued + queue_stats.dropped() + tiny_stats.sent + tiny_stats.dropped();
    let ok = flushed
        && tiny_flushed
        && queue_stats.dropped() == 0
        && udp_stats.dropped() == 0
        && udp_stats.sent == queue_stats.queued
        && tiny_stats.sent > 0
        && tiny_stats.buffer_full > 0
        && tiny_stats.too_large > 0
        && rec_stats.datagrams == handed
        && rec_stats.fields_dropped == 0
        && rec_stats.begins_refused == 0
        && !rec.is_active();
    let verdict: &[u8] = if ok {
        b"# xray-firmware-net: ok sent="
    } else {
        b"# xray-firmware-net: FAILED sent="
    };
    out.line(&[verdict], Some((udp_stats.sent + tiny_stats.sent).into()));
    ok
}
