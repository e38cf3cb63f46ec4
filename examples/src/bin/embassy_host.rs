//! The embedded adapter on a host: a device program on embassy-net (std) recording with
//! `xray-core` and sending through `xray-embassy`'s `EmbassyUdpTransport`.
//!
//! A real device's network is a radio or an Ethernet MAC; on a host, embassy-net would need a
//! TAP or TUN device (`embassy-net-tuntap`), which takes root and an OS interface. Instead,
//! as `embedded-adapter/tests/udp_end_to_end.rs` does, two embassy-net stacks run in this
//! process, joined by `embassy-net-driver-channel` (IP medium, no OS network; their
//! 192.0.2.0/24 addresses, RFC 5737's documentation range, exist only inside them):
//!
//! - the **device** (192.0.2.1) records three traces of a sensor read (annotations, a nested
//!   subsegment with an I2C error) into a `Recorder` with a fixed buffer, queues the
//!   datagrams in an `EmitterQueue` and flushes them through `EmbassyUdpTransport` to
//!   192.0.2.2:2000, as the firmware does;
//! - the **gateway** (192.0.2.2) receives them on UDP port 2000 and forwards each unchanged,
//!   through the host's std socket, to `AWS_XRAY_DAEMON_ADDRESS` (default 127.0.0.1:2000):
//!   the X-Ray daemon, or `xray-view`.
//!
//! ```text
//! cargo run -p xray-view &
//! cargo run -p xray-examples --bin embassy_host
//! ```
//!
//! The run is bounded (30 s) and exits non-zero if a datagram was dropped on the way.

use std::cell::Cell;
use std::net::SocketAddr;

use embassy_futures::block_on;
use embassy_futures::join::join;
use embassy_futures::select::{Either3, select3};
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{Config, Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_driver_channel as ch;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::{Duration, with_timeout};
use xray_embassy::{Datagram, EmbassyClock, EmbassyUdpTransport, EmitterQueue};
use xray_std::core::Clock;
use xray_std::core::Recorder;
use xray_std::model::{Exception, StackFrame};
use xray_std::{FastRng, RecorderConfig, SystemClock};

/// With the `defmt` feature (xray-embassy's `defmt`, on in builds with every feature) the
/// stacks log through defmt, which needs a global logger to link: this one discards
/// everything.
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
/// The largest datagram the device sends (an Ethernet MTU's UDP payload).
const BUDGET: usize = 1472;
const TRACES: u32 = 3;
const DAEMON_PORT: u16 = 2000;
const GATEWAY: Ipv4Address = Ipv4Address::new(192, 0, 2, 2);

type Error = Box<dyn std::error::Error>;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embassy_host: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let config = xray_std::Config::from_env()?;
    let daemon = config.daemon_address.udp().resolve()?;
    let host_socket = std::net::UdpSocket::bind(if daemon.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    })?;

    let (sent, forwarded) = with_two_stacks(|device, gateway| async move {
        device.wait_config_up().await;
        gateway.wait_config_up().await;

        // The gateway: UDP port 2000 on stack B.
        let mut listen = socket(gateway, (16, 16 * 1024), (1, 64));
        listen
            .bind(DAEMON_PORT)
            .map_err(|e| format!("bind {e:?}"))?;

        // The device: the transport on stack A, the emitter queue, the recorder.
        let mut udp = EmbassyUdpTransport::new(
            socket(device, (1, 64), (4, 4 * BUDGET)),
            (GATEWAY, DAEMON_PORT),
        );
        let slots = leak([Datagram::<BUDGET>::EMPTY; 16]);
        let mut queue = EmitterQueue::<NoopRawMutex, BUDGET>::new(slots);
        let (mut to_queue, mut emitter) = queue.split();
        let clock = leak(EmbassyClock::new());
        let mut rng = FastRng::from_os();
        let mut rec: Box<Recorder<[u8; BUDGET + 1024], 8>> = Box::new(Recorder::new(
            [0; BUDGET + 1024],
            RecorderConfig::with_budget(BUDGET),
        ));

        // The gateway forwards until it has every datagram the device says it sent; the
        // short wait on each receive only lets it look at that count again.
        let expected: Cell<Option<u64>> = Cell::new(None);
        let gateway_side = async {
            let mut forwarded = 0u64;
            let mut buf = [0u8; 2048];
            while expected.get().is_none_or(|n| forwarded < n) {
                match with_timeout(Duration::from_millis(50), listen.recv_from(&mut buf)).await {
                    Ok(Ok((n, _meta))) => {
                        host_socket.send_to(&buf[..n], daemon)?;
                        forwarded += 1;
                    }
                    Ok(Err(e)) => return Err(format!("gateway receive: {e:?}").into()),
                    Err(_) => {}
                }
            }
            Ok::<u64, Error>(forwarded)
        };
        let device_side = async {
            // The device learns the time (SNTP, a GPS, a phone); before that nothing would
            // be sampled.
            clock.set_now(SystemClock.now().ok_or("the system clock is before 1970")?);
            for round in 0..TRACES {
                let seg = rec.begin_segment("sensor-node", None, true, &*clock, &mut rng);
                let _ = rec.annotate(seg, "device_id", "node-17");
                let _ = rec.annotate(seg, "round", round);
                let read = rec.begin_subsegment(seg, "read-sensor", &*clock, &mut rng);
                let i2c = rec.begin_subsegment(read, "i2c-transfer", &*clock, &mut rng);
                if round == TRACES - 1 {
                    let frames = [StackFrame {
                        path: Some("src/sensor.rs"),
                        line: Some(42),
                        label: Some("read_temperature"),
                    }];
                    let nack = Exception {
                        type_name: Some("I2cError"),
                        message: Some("NACK from address 0x48"),
                        stack: &frames,
                        ..Exception::default()
                    };
                    let _ = rec.add_exception(i2c, &nack, &mut rng);
                    let _ = rec.set_fault(i2c);
                }
                let _ = rec.end(i2c, &*clock, &mut to_queue);
                let _ = rec.end(read, &*clock, &mut to_queue);
                let _ = rec.end(seg, &*clock, &mut to_queue);
                emitter.flush(&mut udp, 16).await;
            }
            let sent = u64::from(rec.stats().datagrams);
            let dropped = to_queue.stats().dropped() + udp.stats().dropped();
            expected.set(Some(sent));
            if dropped > 0 {
                return Err(format!("{dropped} datagrams dropped on the device").into());
            }
            Ok::<u64, Error>(sent)
        };
        let (forwarded, sent) = join(gateway_side, device_side).await;
        Ok::<_, Error>((sent?, forwarded?))
    })??;
    println!(
        "device sent {sent} datagrams through EmbassyUdpTransport; gateway forwarded {forwarded} to udp {daemon}"
    );
    if sent != forwarded || sent == 0 {
        return Err("not every datagram was forwarded".into());
    }
    Ok(())
}

fn leak<T>(t: T) -> &'static mut T {
    Box::leak(Box::new(t))
}

/// A UDP socket on `stack` whose buffers live for the program: `rx` and `tx` are
/// (packets, bytes).
fn socket(stack: Stack<'static>, rx: (usize, usize), tx: (usize, usize)) -> UdpSocket<'static> {
    let meta = |n| Box::leak(vec![PacketMetadata::EMPTY; n].into_boxed_slice());
    let bytes = |n| Box::leak(vec![0u8; n].into_boxed_slice());
    UdpSocket::new(stack, meta(rx.0), bytes(rx.1), meta(tx.0), bytes(tx.1))
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

/// Runs `app` with two connected stacks (device = 192.0.2.1, gateway = 192.0.2.2), for at
/// most 30 s.
fn with_two_stacks<F, Fut, R>(app: F) -> Result<R, Error>
where
    F: FnOnce(Stack<'static>, Stack<'static>) -> Fut,
    Fut: Future<Output = R>,
{
    let (device, mut runner_a, chan_a) = interface(1, 0x1234);
    let (gateway, mut runner_b, chan_b) = interface(2, 0x5678);
    let (state_a, rx_a, tx_a) = chan_a.split();
    let (state_b, rx_b, tx_b) = chan_b.split();
    state_a.set_link_state(ch::driver::LinkState::Up);
    state_b.set_link_state(ch::driver::LinkState::Up);

    let network = join(runner_a.run(), runner_b.run());
    let wires = join(wire(tx_a, rx_b), wire(tx_b, rx_a));
    let app = with_timeout(Duration::from_secs(30), app(device, gateway));
    match block_on(select3(network, wires, app)) {
        Either3::Third(Ok(r)) => Ok(r),
        Either3::Third(Err(_)) => Err("timed out after 30 s".into()),
        _ => Err("a network task returned".into()),
    }
}
