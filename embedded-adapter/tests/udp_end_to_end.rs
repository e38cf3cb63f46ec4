//! Host end-to-end test: two embassy-net stacks in one process, joined by
//! `embassy-net-driver-channel` (IP medium, no root, no OS network). Stack A records traces with
//! `xray-core`, queues the datagrams through the emitter and sends them with
//! `EmbassyUdpTransport`; stack B listens on UDP port 2000 and captures them. Every captured
//! datagram must be a daemon header line plus a document that validates against the X-Ray
//! segment document schema. The addresses (192.0.2.0/24, RFC 5737 documentation range) exist
//! only inside the two in-process stacks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use embassy_futures::block_on;
use embassy_futures::join::join;
use embassy_futures::select::{Either3, select3};
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{Config, Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_driver_channel as ch;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::{Duration, with_timeout};
use serde_json::Value;
use xray_core::model::{Exception, HttpResponse, StackFrame};
use xray_core::rand_core::{Infallible, TryRng};
use xray_core::{Clock, DAEMON_HEADER, Recorder, RecorderConfig, Timestamp};
use xray_embassy::{AsyncTransport, Datagram, EmbassyClock, EmbassyUdpTransport, EmitterQueue};

/// With the `defmt` feature (e.g. `--all-features`) the stacks log through defmt, which needs
/// a global logger to link: this one discards everything.
#[cfg(feature = "defmt")]
mod defmt_sink {
    #[defmt::global_logger]
    struct Discard;

    // SAFETY: the logger holds no state; every method does nothing.
    #[allow(unsafe_code)]
    unsafe impl defmt::Logger for Discard {
        fn acquire() {}
        unsafe fn flush() {}
        unsafe fn release() {}
        unsafe fn write(_bytes: &[u8]) {}
    }

    defmt::timestamp!("{=u64}", 0);

    #[defmt::panic_handler]
    fn panic() -> ! {
        panic!("defmt panic")
    }
}

const MTU: usize = 1500;
const BUDGET: usize = 1472;
const TRACES: usize = 5;
const DAEMON_PORT: u16 = 2000;

fn leak<T>(t: T) -> &'static mut T {
    Box::leak(Box::new(t))
}

/// A UDP socket on `stack` whose buffers live for the test: `rx` and `tx` are (packets, bytes).
fn socket(stack: Stack<'static>, rx: (usize, usize), tx: (usize, usize)) -> UdpSocket<'static> {
    let meta = |n| Box::leak(vec![PacketMetadata::EMPTY; n].into_boxed_slice());
    let bytes = |n| Box::leak(vec![0u8; n].into_boxed_slice());
    UdpSocket::new(stack, meta(rx.0), bytes(rx.1), meta(tx.0), bytes(tx.1))
}

/// The daemon side: a socket on `stack` bound to the daemon port, receiving up to `packets`
/// datagrams in `bytes` of buffer.
fn daemon_socket(stack: Stack<'static>, packets: usize, bytes: usize) -> UdpSocket<'static> {
    let mut daemon = socket(stack, (packets, bytes), (1, 64));
    daemon.bind(DAEMON_PORT).expect("bind the daemon port");
    daemon
}

/// The device side: a transport on `stack` to the daemon (192.0.2.2), with `packets`
/// datagrams in `bytes` of transmit buffer.
fn device_transport(
    stack: Stack<'static>,
    packets: usize,
    bytes: usize,
) -> EmbassyUdpTransport<'static> {
    let socket = socket(stack, (1, 64), (packets, bytes));
    EmbassyUdpTransport::new(socket, (Ipv4Address::new(192, 0, 2, 2), DAEMON_PORT))
}

fn schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../spec/segment-document-schema.json"
        );
        let text = std::fs::read_to_string(path).expect("schema file");
        let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::draft4::new(&schema).expect("schema compiles")
    })
}

/// Checks the header line and validates the document; returns the document.
fn check_datagram(datagram: &[u8]) -> Value {
    assert!(
        datagram.len() <= BUDGET,
        "{} bytes over budget",
        datagram.len()
    );
    let text = std::str::from_utf8(datagram).expect("UTF-8");
    let (header, body) = text.split_once('\n').expect("header line");
    assert_eq!(header.as_bytes(), DAEMON_HEADER);
    let doc: Value = serde_json::from_str(body).expect("document is JSON");
    let errors: Vec<String> = schema().iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "schema errors {errors:?} in {body}");
    doc
}

struct XorShift(u64);

impl TryRng for XorShift {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// One in-process network interface: the stack, its runner and the driver channel's far end.
fn interface(
    last_octet: u8,
    seed: u64,
) -> (
    Stack<'static>,
    embassy_net::Runner<'static, ch::Device<'static, MTU>>,
    ch::Runner<'static, MTU>,
) {
    let state = leak(ch::State::<MTU, 4, 4>::new());
    let (chan, device) = ch::new(state, ch::driver::HardwareAddress::Ip);
    let config = Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::new(192, 0, 2, last_octet), 24),
        gateway: None,
        dns_servers: Default::default(),
    });
    let resources = leak(StackResources::<4>::new());
    let (stack, runner) = embassy_net::new(device, config, resources, seed);
    (stack, runner, chan)
}

/// Moves every packet that one interface transmits into the other one's receive queue.
async fn wire(mut from: ch::TxRunner<'_, MTU>, mut to: ch::RxRunner<'_, MTU>) {
    loop {
        let packet = from.tx_buf().await;
        let dst = to.rx_buf().await;
        let n = packet.len().min(dst.len());
        dst[..n].copy_from_slice(&packet[..n]);
        to.rx_done(n);
        from.tx_done();
    }
}

fn epoch_now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    Timestamp::from_secs_micros(d.as_secs(), d.subsec_micros())
}

/// Runs `app` with two connected stacks (A = 192.0.2.1, B = 192.0.2.2), bounded in time.
fn with_two_stacks<F, Fut, R>(app: F) -> R
where
    F: FnOnce(Stack<'static>, Stack<'static>) -> Fut,
    Fut: Future<Output = R>,
{
    let (stack_a, mut runner_a, chan_a) = interface(1, 0x1234);
    let (stack_b, mut runner_b, chan_b) = interface(2, 0x5678);
    let (state_a, rx_a, tx_a) = chan_a.split();
    let (state_b, rx_b, tx_b) = chan_b.split();
    state_a.set_link_state(ch::driver::LinkState::Up);
    state_b.set_link_state(ch::driver::LinkState::Up);

    let network = join(runner_a.run(), runner_b.run());
    let wires = join(wire(tx_a, rx_b), wire(tx_b, rx_a));
    let app = with_timeout(Duration::from_secs(30), app(stack_a, stack_b));
    match block_on(select3(network, wires, app)) {
        Either3::Third(Ok(r)) => r,
        Either3::Third(Err(_)) => panic!("end-to-end test timed out"),
        _ => unreachable!("the network tasks never return"),
    }
}

#[test]
fn recorded_segments_cross_two_stacks_and_validate() {
    let captured = with_two_stacks(|a, b| async move {
        a.wait_config_up().await;
        b.wait_config_up().await;

        // The daemon side: stack B, UDP port 2000.
        let daemon = daemon_socket(b, 16, 16 * 1024);

        // The device side: stack A, the transport, the emitter queue, the recorder.
        let mut udp = device_transport(a, 4, 4096);
        let slots = leak([Datagram::<BUDGET>::EMPTY; 16]);
        let mut queue = EmitterQueue::<NoopRawMutex, BUDGET>::new(slots);
        let (mut to_queue, mut emitter) = queue.split();
        let clock = leak(EmbassyClock::new());
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let mut rec: Box<Recorder<[u8; BUDGET + 1024], 8>> = Box::new(Recorder::new(
            [0; BUDGET + 1024],
            RecorderConfig::with_budget(BUDGET),
        ));

        // The daemon listens while the device sends, until it has every datagram the device
        // says it sent (at most 200; the whole test is bounded by a timeout). The short wait
        // on each receive only lets it look at that count again: a quiet line never ends it.
        let expected: Cell<Option<usize>> = Cell::new(None);
        let receiver = async {
            let mut captured = Vec::new();
            let mut buf = [0u8; 2048];
            while captured.len() < 200 && expected.get().is_none_or(|n| captured.len() < n) {
                match with_timeout(Duration::from_millis(50), daemon.recv_from(&mut buf)).await {
                    Ok(Ok((n, meta))) => {
                        assert_eq!(meta.endpoint.addr, Ipv4Address::new(192, 0, 2, 1).into());
                        captured.push(buf[..n].to_vec());
                    }
                    Ok(Err(e)) => panic!("receive error {e:?}"),
                    Err(_) => {}
                }
            }
            captured
        };
        let sender = async {
            // Before the epoch is known nothing is sampled, so nothing is queued.
            assert_eq!(clock.now(), None);
            let seg = rec.begin_segment("early-boot", None, true, &*clock, &mut rng);
            let _ = rec.end(seg, &*clock, &mut to_queue);
            assert_eq!(rec.stats().clock_unset, 1);
            assert_eq!(to_queue.stats().queued, 0);

            clock.set_now(epoch_now());
            let mut trace_ids = Vec::new();
            for t in 0..TRACES {
                let seg = rec.begin_segment("sensor-node", None, true, &*clock, &mut rng);
                trace_ids.push(rec.trace_id().expect("trace in progress").to_string());
                let _ = rec.annotate(seg, "device_id", "node-17");
                let _ = rec.annotate(seg, "round", t as u32);
                let read = rec.begin_subsegment(seg, "read-sensor", &*clock, &mut rng);
                let i2c = rec.begin_subsegment(read, "i2c-transfer", &*clock, &mut rng);
                let frames = [StackFrame {
                    path: Some("src/sensor.rs"),
                    line: Some(42),
                    label: Some("read_temperature"),
                }];
                let exception = Exception {
                    type_name: Some("I2cError"),
                    message: Some("NACK from address 0x48"),
                    stack: &frames,
                    ..Exception::default()
                };
                let _ = rec.add_exception(i2c, &exception, &mut rng);
                let _ = rec.set_fault(i2c);
                let _ = rec.end(i2c, &*clock, &mut to_queue);
                let _ = rec.end(read, &*clock, &mut to_queue);
                for i in 0..(t * 2) {
                    let s = rec.begin_subsegment(seg, "publish", &*clock, &mut rng);
                    let _ = rec.annotate(s, "attempt", i as u32);
                    let _ = rec.set_http_response(
                        s,
                        &HttpResponse {
                            status: Some(503),
                            ..HttpResponse::default()
                        },
                    );
                    let _ = rec.end(s, &*clock, &mut to_queue);
                }
                let _ = rec.end(seg, &*clock, &mut to_queue);
                assert_eq!(to_queue.stats().dropped(), 0, "queue drops");
                emitter.flush(&mut udp, 16).await;
            }
            let sent = rec.stats().datagrams;
            assert!(sent as usize >= TRACES);
            assert_eq!(to_queue.stats().queued, sent);
            assert_eq!(udp.stats().sent, sent, "transport stats {:?}", udp.stats());

            // A datagram larger than the socket's transmit buffer is a counted drop, not an error.
            udp.send(&[b' '; 5000]).await;
            assert_eq!(udp.stats().too_large, 1);
            expected.set(Some(sent as usize));
            (sent, trace_ids)
        };
        let (captured, (sent, trace_ids)) = join(receiver, sender).await;
        assert_eq!(captured.len(), sent as usize, "every datagram arrived");

        (captured, trace_ids)
    });

    let (datagrams, trace_ids) = captured;
    let docs: Vec<Value> = datagrams.iter().map(|d| check_datagram(d)).collect();
    let segments: Vec<&Value> = docs.iter().filter(|d| d.get("type").is_none()).collect();
    assert_eq!(segments.len(), TRACES, "one segment per trace");
    for (seg, id) in segments.iter().zip(&trace_ids) {
        assert_eq!(seg["trace_id"].as_str(), Some(id.as_str()));
        assert_eq!(seg["annotations"]["device_id"], "node-17");
    }
    let text: Vec<String> = docs.iter().map(Value::to_string).collect();
    assert!(
        text.iter().any(|t| t.contains("\"I2cError\"")),
        "exception present"
    );
    assert!(
        text.iter().any(|t| t.contains("\"i2c-transfer\"")),
        "nested subsegment present"
    );
}

#[test]
fn send_with_encodes_straight_into_the_socket_buffer() {
    let received = with_two_stacks(|a, b| async move {
        a.wait_config_up().await;
        b.wait_config_up().await;
        let daemon = daemon_socket(b, 4, 4096);

        let mut udp = device_transport(a, 2, 2048);

        // Record into a recorder whose transport is a slice, then let `send_with` place the
        // bytes in the socket's own buffer: the encoder side of the zero-copy path.
        let clock = xray_core::FixedClock(epoch_now());
        let mut rng = XorShift(7);
        let mut out = [0u8; BUDGET];
        let mut slice = xray_core::SliceTransport::new(&mut out);
        let mut rec: Recorder<[u8; 2048], 4> =
            Recorder::new([0; 2048], RecorderConfig::with_budget(1024));
        let seg = rec.begin_segment("direct", None, true, &clock, &mut rng);
        let _ = rec.end(seg, &clock, &mut slice);
        let doc = slice.last();
        assert!(!doc.is_empty());
        let ok = udp
            .send_with(doc.len(), |buf| {
                let mut sink = xray_core::SliceSink::new(buf);
                match xray_core::Sink::write(&mut sink, doc) {
                    Ok(()) => doc.len(),
                    Err(_) => 0,
                }
            })
            .await;
        assert!(ok);
        assert_eq!(udp.stats().sent, 1);
        let mut buf = [0u8; 2048];
        let (n, _) = with_timeout(Duration::from_secs(25), daemon.recv_from(&mut buf))
            .await
            .expect("in time")
            .expect("fits");
        buf[..n].to_vec()
    });
    let doc = check_datagram(&received);
    assert_eq!(doc["name"], "direct");
}

/// The recorder ends entities straight into the transport (synchronous `Transport`): each
/// datagram goes from the recorder's buffer into the socket's transmit buffer, with no queue.
#[test]
fn recorder_sends_straight_into_the_socket_buffer() {
    let (captured, sent, stats) = with_two_stacks(|a, b| async move {
        a.wait_config_up().await;
        b.wait_config_up().await;
        let daemon = daemon_socket(b, 8, 8192);

        // Room for four datagrams in the transmit buffer.
        let mut udp = device_transport(a, 4, 4 * BUDGET);

        let clock = xray_core::FixedClock(epoch_now());
        let mut rng = XorShift(11);
        let mut rec: Box<Recorder<[u8; BUDGET + 1024], 8>> = Box::new(Recorder::new(
            [0; BUDGET + 1024],
            RecorderConfig::with_budget(BUDGET),
        ));
        // Three traces (one datagram each) in a row, without yielding to the network task: all
        // fit in the transmit buffer.
        for t in 0..3u32 {
            let seg = rec.begin_segment("sensor-node", None, true, &clock, &mut rng);
            let _ = rec.annotate(seg, "round", t);
            let read = rec.begin_subsegment(seg, "read-sensor", &clock, &mut rng);
            let _ = rec.end(read, &clock, &mut udp);
            let _ = rec.end(seg, &clock, &mut udp);
        }
        let stats = udp.stats();
        assert_eq!(stats.sent, 3, "{stats:?}");
        assert_eq!(stats.dropped(), 0, "{stats:?}");
        // Two more: the fourth fits, the fifth finds the buffer full and is counted.
        for _ in 0..2 {
            let seg = rec.begin_segment("burst", None, true, &clock, &mut rng);
            let _ = rec.end(seg, &clock, &mut udp);
        }
        let stats = udp.stats();
        assert_eq!((stats.sent, stats.buffer_full), (4, 1), "{stats:?}");

        let mut captured = Vec::new();
        let mut buf = [0u8; 2048];
        while captured.len() < 4 {
            match with_timeout(Duration::from_secs(25), daemon.recv_from(&mut buf)).await {
                Ok(Ok((n, _))) => captured.push(buf[..n].to_vec()),
                other => panic!("datagram {} missing: {other:?}", captured.len() + 1),
            }
        }
        (captured, rec.stats().datagrams, stats)
    });
    assert_eq!(sent, 5, "the recorder handed over five datagrams");
    assert_eq!(stats.sent + stats.buffer_full, sent);
    let names: Vec<String> = captured
        .iter()
        .map(|d| check_datagram(d)["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        names,
        ["sensor-node", "sensor-node", "sensor-node", "burst"]
    );
}

#[test]
fn queue_counts_full_and_oversize_drops() {
    use xray_core::Transport;
    let mut slots = [Datagram::<64>::EMPTY; 2];
    let mut queue = EmitterQueue::<NoopRawMutex, 64>::new(&mut slots);
    let (mut tx, mut emitter) = queue.split();
    tx.send(b"one");
    tx.send(b"two");
    tx.send(b"three"); // queue full
    tx.send(&[0u8; 65]); // larger than a slot
    let s = tx.stats();
    assert_eq!((s.queued, s.queue_full, s.too_large), (2, 1, 1));
    assert_eq!(tx.pending(), 2);

    struct Collect(Vec<Vec<u8>>);
    impl AsyncTransport for Collect {
        async fn send(&mut self, d: &[u8]) {
            self.0.push(d.to_vec());
        }
    }
    let mut out = Collect(Vec::new());
    assert_eq!(block_on(emitter.flush(&mut out, 10)), 2);
    assert_eq!(out.0, vec![b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(emitter.pending(), 0);
}

#[test]
fn clock_is_unset_until_the_epoch_is_known() {
    let clock = EmbassyClock::new();
    assert_eq!(clock.now(), None);
    let epoch = Timestamp::from_secs_micros(1_700_000_000, 0);
    clock.set_now(epoch);
    let now = clock.now().expect("set");
    assert!(now >= epoch && now.as_micros() - epoch.as_micros() < 5_000_000);
    clock.set_offset_micros(1_000_000);
    assert!(clock.now().expect("set").as_micros() >= 1_000_000);
    clock.clear();
    assert_eq!(clock.now(), None);
}
