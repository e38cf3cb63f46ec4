//! Load generator: sends N reference requests (see `xray_std::reference`), every one sampled,
//! to the daemon named by `AWS_XRAY_DAEMON_ADDRESS` (default `127.0.0.1:2000`), and prints as
//! its last line a JSON summary.
//!
//! ```text
//! cargo run --release --bin loadgen -- --requests 100000
//! ```

use std::process::ExitCode;
use std::time::Instant;

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
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let threads = args.threads.clamp(1, 256);
    // Every request sampled: the sampler is not consulted (no upstream decision → always).
    let tracer = match Tracer::from_config(&config, reference::SERVICE_NAME) {
        Ok(b) => b
            .always_sample()
            .pool_size(threads as usize)
            .name(reference::SERVICE_NAME)
            .build(),
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
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
    let seconds = start.elapsed().as_secs_f64();
    let stats = tracer.stats();
    let udp = tracer.transport_stats().unwrap_or_default();
    let us_per_request = if args.requests == 0 {
        0.0
    } else {
        seconds * 1e6 / args.requests as f64
    };
    let summary = serde_json::json!({
        "requests": args.requests,
        "threads": threads,
        "seconds": seconds,
        "us_per_request": us_per_request,
        "datagrams_sent": udp.sent,
        "bytes_sent": udp.bytes_sent,
        "dropped": udp.dropped() + stats.pool_exhausted,
        "daemon": config.daemon_address.udp().to_string(),
    });
    println!("{summary}");
    ExitCode::SUCCESS
}
