//! Sends N requests through `XRayServer` (or the bare handler) and exits: the program
//! `scripts/bench-tower.sh` runs under callgrind to count the layer's instructions per
//! request, sampled and not. Each request is called, its response future polled, its body
//! read to the end, as a server does; the handler answers at once with a 5-byte body and the
//! tracer sends to a null transport.
//!
//! ```text
//! cargo run --release -p xray-examples --bin tower_requests -- not-sampled 10000
//! ```

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use tower::{Layer, Service};
use xray_std::Tracer;
use xray_std::integrations::http_server::XRayServerLayer;

#[path = "../../../std-adapter/benches/support/one_request.rs"]
mod one_request;
use one_request::Hello;

/// One request on `svc` ([`one_request::one`]): its body's frames.
fn one<S, B>(svc: &mut S, req: Request<()>) -> Result<usize, String>
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    B: http_body::Body,
{
    one_request::one(svc, req).ok_or_else(|| "the handler answers at once; it did not".into())
}

fn run(mode: &str, n: usize) -> Result<usize, String> {
    let sample = match mode {
        "bare" | "not-sampled" => false,
        "sampled" => true,
        _ => {
            return Err(format!(
                "mode is bare, not-sampled or sampled, not {mode:?}"
            ));
        }
    };
    let requests = (0..n).map(|_| {
        Request::get("http://orders.example/orders/42")
            .header("user-agent", "bench/1.0")
            .body(())
            .map_err(|e| e.to_string())
    });
    let mut frames = 0;
    if mode == "bare" {
        let mut svc = Hello;
        for req in requests {
            frames += one(&mut svc, req?)?;
        }
    } else {
        let tracer = Tracer::builder("orders-api")
            .transport(Arc::new(Mutex::new(xray_std::core::NullTransport)))
            .sampler(move |_| sample)
            .pool_size(4)
            .build();
        let mut svc = XRayServerLayer::new(tracer.clone()).layer(Hello);
        // Three traces 120 ms apart: from then on the tracer reads the CPU's time-stamp
        // counter after each trace's first reading (see `xray_std::Tracer`), in every run alike.
        let warm_up = if sample {
            drop(tracer.begin(None));
            for _ in 0..2 {
                std::thread::sleep(std::time::Duration::from_millis(120));
                drop(tracer.begin(None));
            }
            3
        } else {
            0
        };
        for req in requests {
            frames += one(&mut svc, req?)?;
        }
        let stats = tracer.stats();
        let n = n as u64 + warm_up;
        if stats.traces != n || stats.sampled != if sample { n } else { 0 } {
            return Err(format!("{n} requests, but the tracer counted {stats:?}"));
        }
    }
    Ok(frames)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(mode), Some(n)) = (args.next(), args.next().and_then(|n| n.parse().ok())) else {
        eprintln!("usage: tower_requests bare|not-sampled|sampled N");
        return ExitCode::FAILURE;
    };
    match run(&mode, n) {
        Ok(frames) if frames == n => ExitCode::SUCCESS,
        Ok(frames) => {
            eprintln!("tower_requests: {n} requests, {frames} body frames");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("tower_requests: {e}");
            ExitCode::FAILURE
        }
    }
}
