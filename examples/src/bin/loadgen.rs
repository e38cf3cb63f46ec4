//! Load generator: sends N reference requests (see `xray_std::reference`), every one sampled,
//! to the daemon named by `AWS_XRAY_DAEMON_ADDRESS` (default `127.0.0.1:2000`), and prints as
//! its last line a JSON summary.
//!
//! ```text
//! cargo run --release --bin loadgen -- --requests 100000
//! ```
//!
//! With `--vs-raw`, it measures the floor in the same run: it binds its own receiver on
//! 127.0.0.1, and alternates batches of `--batch` reference requests with batches of raw sends
//! of a datagram of the same size, so that all see the same load on the machine: `send_to`
//! from an unconnected, non-blocking socket, and `send` from a connected one (as the
//! transport's). The summary then adds both raw sends' times and the ratios to each.
//!
//! With `--split`, it breaks one reference request's cost down, from alternating batches in
//! one run (one thread):
//!
//! - the core recorder alone (`xray_std::reference::record_core`), with a fixed clock, then
//!   with the system clock, its datagram discarded;
//! - the same, followed by a raw `send` of the reference datagram on a connected socket;
//! - the std tracer with its datagram discarded, then sending over UDP (the measured request);
//! - the raw sends alone.
//!
//! The differences are what six wall-clock readings, the std handles (net of what the
//! tracer's trace clock saves over those readings), and the send itself being slower after
//! the recorder's code than alone cost per request (the kernel's send path
//! finds its code and branch history evicted by whatever ran before it: a pure arithmetic
//! loop leaves it alone). All figures vary with the machine's load; their differences less.
//!
//! `scripts/bench-request.sh` runs the first two modes.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use xray_std::core::{FixedClock, NullTransport, Recorder, RecorderConfig, Timestamp};
use xray_std::{Config, SystemClock, ThreadRng, Tracer, reference};

/// Sends reference X-Ray requests to the daemon.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// How many reference requests to send.
    #[arg(long, default_value_t = 10_000)]
    requests: u64,
    /// Threads sending at once (each request borrows one pooled recorder).
    #[arg(long, default_value_t = 1)]
    threads: u64,
    /// Interleave the requests with raw `send_to` and connected `send` calls of a same-size
    /// datagram to a receiver of its own, and report all three (one thread; the daemon
    /// address is not used).
    #[arg(long)]
    vs_raw: bool,
    /// Break the cost of one request down (see the module docs): one thread; the daemon
    /// address is not used.
    #[arg(long, conflicts_with = "vs_raw")]
    split: bool,
    /// Requests (and raw sends) per batch with `--vs-raw` and `--split`.
    #[arg(long, default_value_t = 1_000)]
    batch: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.vs_raw {
        vs_raw(&args)
    } else if args.split {
        split(&args)
    } else {
        load(&args)
    };
    match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Every request sampled: the sampler is not consulted (no upstream decision → always).
fn tracer(config: &Config, pool: usize) -> Result<Tracer, String> {
    Ok(builder(config, pool)?.build())
}

fn builder(config: &Config, pool: usize) -> Result<xray_std::TracerBuilder, String> {
    let builder =
        Tracer::from_config(config, reference::SERVICE_NAME).map_err(|e| e.to_string())?;
    Ok(builder
        .always_sample()
        .pool_size(pool)
        .name(reference::SERVICE_NAME))
}

/// Requests recorded before any mode measures (not counted in `requests`).
const WARM_UP_REQUESTS: u64 = 3;

/// Records three requests 120 ms apart: the tracer measures the rate of the CPU's time-stamp
/// counter from trace beginnings 100 ms apart (twice, to check it), and from then on reads the
/// counter rather than the wall clock after each trace's first reading (see
/// `xray_std::Tracer`). Every mode measures after that, so that callgrind counts the same path
/// in every run.
fn warm_up(tracer: &Tracer) {
    reference::record(tracer);
    for _ in 1..WARM_UP_REQUESTS {
        std::thread::sleep(Duration::from_millis(120));
        reference::record(tracer);
    }
}

fn per_request(elapsed: Duration, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        elapsed.as_secs_f64() * 1e6 / n as f64
    }
}

/// The plain load: `--requests` over `--threads` threads.
fn load(args: &Args) -> Result<serde_json::Value, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let threads = args.threads.clamp(1, 256);
    let tracer = tracer(&config, threads as usize)?;
    warm_up(&tracer);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let tracer = &tracer;
            let n = args.requests / threads + u64::from(t < args.requests % threads);
            s.spawn(move || {
                for _ in 0..n {
                    reference::record(tracer);
                }
            });
        }
    });
    let elapsed = start.elapsed();
    let stats = tracer.stats();
    let udp = tracer.transport_stats().unwrap_or_default();
    Ok(serde_json::json!({
        "requests": args.requests,
        "threads": threads,
        "seconds": elapsed.as_secs_f64(),
        "us_per_request": per_request(elapsed, args.requests),
        "warm_up_requests": WARM_UP_REQUESTS,
        "datagrams_sent": udp.sent,
        "bytes_sent": udp.bytes_sent,
        "dropped": udp.dropped() + stats.pool_exhausted,
        "daemon": config.daemon_address.udp().to_string(),
    }))
}

/// A receiver on 127.0.0.1 that never reads after the first datagram (the kernel drops what
/// its buffer cannot hold; every send succeeds), and the configuration that sends to it.
fn receiver() -> Result<(UdpSocket, Config), String> {
    let receiver = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind receiver: {e}"))?;
    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let text = receiver
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let config = Config::from_lookup(|k| (k == "AWS_XRAY_DAEMON_ADDRESS").then(|| text.clone()))
        .map_err(|e| e.to_string())?;
    Ok((receiver, config))
}

/// The reference request's datagram: one request recorded with `tracer`, read back by
/// `receiver`.
fn reference_datagram(tracer: &Tracer, receiver: &UdpSocket) -> Result<Vec<u8>, String> {
    reference::record(tracer);
    let mut buf = vec![0u8; 65_536];
    let (len, _) = receiver
        .recv_from(&mut buf)
        .map_err(|e| format!("no reference datagram arrived: {e}"))?;
    buf.truncate(len);
    Ok(buf)
}

/// The floors: raw sends of a datagram to one address from non-blocking sockets, `send_to`
/// from an unconnected one and `send` from a connected one (as the transport's).
struct RawSenders {
    unconnected: UdpSocket,
    connected: UdpSocket,
    to: SocketAddr,
}

impl RawSenders {
    fn new(to: SocketAddr) -> Result<Self, String> {
        let bind = || -> Result<UdpSocket, String> {
            let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind sender: {e}"))?;
            socket.set_nonblocking(true).map_err(|e| e.to_string())?;
            Ok(socket)
        };
        let (unconnected, connected) = (bind()?, bind()?);
        connected.connect(to).map_err(|e| format!("connect: {e}"))?;
        Ok(Self {
            unconnected,
            connected,
            to,
        })
    }

    /// `send_to` from the unconnected socket: 1 if it failed.
    fn send_to(&self, datagram: &[u8]) -> u64 {
        u64::from(
            self.unconnected
                .send_to(std::hint::black_box(datagram), self.to)
                .is_err(),
        )
    }

    /// `send` from the connected socket: 1 if it failed.
    fn send(&self, datagram: &[u8]) -> u64 {
        u64::from(self.connected.send(std::hint::black_box(datagram)).is_err())
    }
}

/// Times `n` runs of `f`, adding the time to `total`.
fn timed(total: &mut Duration, n: u64, mut f: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    *total += start.elapsed();
}

/// The cost of one request, broken down (see the module docs).
fn split(args: &Args) -> Result<serde_json::Value, String> {
    let (receiver, config) = receiver()?;
    let addr = receiver.local_addr().map_err(|e| e.to_string())?;
    let udp = tracer(&config, 1)?;
    let discarding = builder(&config, 1)?
        .transport(std::sync::Arc::new(std::sync::Mutex::new(NullTransport)))
        .build();
    // The core recorder gets the tracer's buffer size and (default) settings.
    let len = builder(&config, 1)?.recorder_bytes();
    let mut rec: Recorder<Box<[u8]>> =
        Recorder::new(vec![0u8; len].into_boxed_slice(), RecorderConfig::default());
    let fixed = FixedClock(Timestamp::from_secs_micros(1_700_000_000, 0));

    // The datagrams of both paths, for the raw sends and to show they are the same size.
    let datagram = reference_datagram(&udp, &receiver)?;
    let mut slice_out = vec![0u8; 65_536];
    let mut slice = xray_std::core::SliceTransport::new(&mut slice_out);
    let missed = reference::record_core(&mut rec, &SystemClock, &mut ThreadRng, &mut slice);
    let core_len = slice.last().len();
    if missed != 0 || slice.sent() != 1 {
        return Err(format!("the core reference request missed {missed} calls"));
    }
    // The counter's rate is the process's: one warm-up serves both tracers.
    warm_up(&udp);
    let raw = RawSenders::new(addr)?;

    let batch = args.batch.max(1);
    let mut t = [Duration::ZERO; 7];
    let (mut done, mut raw_failed) = (0u64, 0u64);
    while done < args.requests {
        let n = batch.min(args.requests - done);
        timed(&mut t[0], n, || {
            reference::record_core(&mut rec, &fixed, &mut ThreadRng, &mut NullTransport);
        });
        timed(&mut t[1], n, || {
            reference::record_core(&mut rec, &SystemClock, &mut ThreadRng, &mut NullTransport);
        });
        timed(&mut t[6], n, || {
            reference::record_core(&mut rec, &SystemClock, &mut ThreadRng, &mut NullTransport);
            raw_failed += raw.send(&datagram);
        });
        timed(&mut t[2], n, || reference::record(&discarding));
        timed(&mut t[3], n, || reference::record(&udp));
        timed(&mut t[4], n, || raw_failed += raw.send(&datagram));
        timed(&mut t[5], n, || raw_failed += raw.send_to(&datagram));
        done += n;
    }
    let us = t.map(|d| per_request(d, done));
    let sent = udp.transport_stats().unwrap_or_default();
    Ok(serde_json::json!({
        "requests": done,
        "batch": batch,
        "datagram_bytes": datagram.len(),
        "core_datagram_bytes": core_len,
        "core_fixed_clock_us": us[0],
        "core_system_clock_us": us[1],
        "core_then_raw_send_us": us[6],
        "std_discarded_us": us[2],
        "std_udp_us": us[3],
        "raw_send_connected_us": us[4],
        "raw_send_to_us": us[5],
        "share": {
            "encode_and_record_us": us[0],
            "system_clock_us": us[1] - us[0],
            "std_handles_us": us[2] - us[1],
            "send_slowed_by_the_code_before_it_us": us[6] - us[1] - us[4],
            "sending_through_the_tracer_beyond_that_us": (us[3] - us[2]) - (us[6] - us[1]),
        },
        "ratio": if us[5] > 0.0 { us[3] / us[5] } else { 0.0 },
        "dropped": sent.dropped() + udp.stats().pool_exhausted,
        "raw_send_failed": raw_failed,
    }))
}

/// Reference requests and raw sends of the same size, in alternating batches.
fn vs_raw(args: &Args) -> Result<serde_json::Value, String> {
    let (receiver, config) = receiver()?;
    let addr = receiver.local_addr().map_err(|e| e.to_string())?;
    let tracer = tracer(&config, 1)?;

    // One request first: its datagram is the raw sends'.
    let datagram = reference_datagram(&tracer, &receiver)?;
    warm_up(&tracer);
    let raw = RawSenders::new(addr)?;

    let batch = args.batch.max(1);
    let (mut traced, mut floor, mut floor_connected) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut done, mut raw_failed) = (0u64, 0u64);
    while done < args.requests {
        let n = batch.min(args.requests - done);
        timed(&mut traced, n, || reference::record(&tracer));
        timed(&mut floor, n, || raw_failed += raw.send_to(&datagram));
        timed(&mut floor_connected, n, || {
            raw_failed += raw.send(&datagram)
        });
        done += n;
    }
    let udp = tracer.transport_stats().unwrap_or_default();
    let traced_us = per_request(traced, done);
    let raw_us = per_request(floor, done);
    let connected_us = per_request(floor_connected, done);
    let ratio = |floor: f64| if floor > 0.0 { traced_us / floor } else { 0.0 };
    Ok(serde_json::json!({
        "requests": done,
        "batch": batch,
        "datagram_bytes": datagram.len(),
        "us_per_request": traced_us,
        "raw_send_to_us": raw_us,
        "ratio": ratio(raw_us),
        "raw_send_connected_us": connected_us,
        "ratio_to_connected": ratio(connected_us),
        "dropped": udp.dropped() + tracer.stats().pool_exhausted,
        "raw_send_failed": raw_failed,
    }))
}
