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
//! `scripts/bench-request.sh` runs both modes.

use std::net::UdpSocket;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use xray_std::{Config, Tracer, reference};

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
    /// Requests (and raw sends) per batch with `--vs-raw`.
    #[arg(long, default_value_t = 1_000)]
    batch: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.vs_raw {
        vs_raw(&args)
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
    let builder =
        Tracer::from_config(config, reference::SERVICE_NAME).map_err(|e| e.to_string())?;
    Ok(builder
        .always_sample()
        .pool_size(pool)
        .name(reference::SERVICE_NAME)
        .build())
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
        "datagrams_sent": udp.sent,
        "bytes_sent": udp.bytes_sent,
        "dropped": udp.dropped() + stats.pool_exhausted,
        "daemon": config.daemon_address.udp().to_string(),
    }))
}

/// Reference requests and raw sends of the same size, in alternating batches.
fn vs_raw(args: &Args) -> Result<serde_json::Value, String> {
    let receiver = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind receiver: {e}"))?;
    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let addr = receiver.local_addr().map_err(|e| e.to_string())?;
    let text = addr.to_string();
    let config = Config::from_lookup(|k| (k == "AWS_XRAY_DAEMON_ADDRESS").then(|| text.clone()))
        .map_err(|e| e.to_string())?;
    let tracer = tracer(&config, 1)?;

    // One request first: its datagram's size is the raw send's.
    reference::record(&tracer);
    let mut buf = vec![0u8; 65_536];
    let (len, _) = receiver
        .recv_from(&mut buf)
        .map_err(|e| format!("no reference datagram arrived: {e}"))?;
    let datagram = buf[..len].to_vec();
    let raw = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind sender: {e}"))?;
    raw.set_nonblocking(true).map_err(|e| e.to_string())?;
    let connected = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind sender: {e}"))?;
    connected.set_nonblocking(true).map_err(|e| e.to_string())?;
    connected
        .connect(addr)
        .map_err(|e| format!("connect: {e}"))?;

    let batch = args.batch.max(1);
    let (mut traced, mut floor, mut floor_connected) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut done, mut raw_failed) = (0u64, 0u64);
    while done < args.requests {
        let n = batch.min(args.requests - done);
        let start = Instant::now();
        for _ in 0..n {
            reference::record(&tracer);
        }
        traced += start.elapsed();
        let start = Instant::now();
        for _ in 0..n {
            if raw.send_to(std::hint::black_box(&datagram), addr).is_err() {
                raw_failed += 1;
            }
        }
        floor += start.elapsed();
        let start = Instant::now();
        for _ in 0..n {
            if connected.send(std::hint::black_box(&datagram)).is_err() {
                raw_failed += 1;
            }
        }
        floor_connected += start.elapsed();
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
        "datagram_bytes": len,
        "us_per_request": traced_us,
        "raw_send_to_us": raw_us,
        "ratio": ratio(raw_us),
        "raw_send_connected_us": connected_us,
        "ratio_to_connected": ratio(connected_us),
        "dropped": udp.dropped() + tracer.stats().pool_exhausted,
        "raw_send_failed": raw_failed,
    }))
}
