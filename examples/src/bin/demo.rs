//! The README demo: a traced system end to end on 127.0.0.1, with no AWS account.
//!
//! Starts the viewer's receiver (`xray-view`, in process) on an ephemeral 127.0.0.1 port
//! standing in for the X-Ray daemon, then the shop ([`xray_examples::shop`]): two axum
//! services with `XRayServerLayer`, one calling the other through hyper-util's client with
//! `XRayClientLayer`, and a traced client program whose local sampling rules sample orders
//! and not health checks. The client places an order (a downstream call and a database-like
//! subsegment with a nested query), pays for it (an error in a nested subsegment, a 502) and
//! checks health (not sampled: nothing is recorded anywhere). The demo prints each call with
//! its sampling decision and the header the service got, then every trace as a waterfall.
//!
//! Every datagram is checked as the daemon and the X-Ray service would (AWS's segment
//! document schema and the rules it leaves out); the demo exits non-zero if one would be
//! refused or did not arrive. `--json` also prints each document. Everything is bounded: a
//! missing datagram ends the wait after 3 s.
//!
//! ```text
//! cargo run -p xray-examples --bin demo
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;
use xray_examples::shop::Shop;
use xray_view::{Listener, RenderOptions, Viewer};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let print_json = std::env::args().any(|a| a == "--json");

    // 1. A stand-in daemon: the viewer's receiver on 127.0.0.1. Datagrams wait in the
    // socket's buffer until step 3 reads them.
    let mut daemon = Listener::bind(([127, 0, 0, 1], 0).into())?;
    let daemon_addr = daemon.local_addr()?;

    // 2. The shop, and the client program's three calls. Each service sends its segment
    // before its response goes out, so when the last call returns every datagram is sent.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let expected = runtime.block_on(async {
        let shop = Shop::start(daemon_addr, ([127, 0, 0, 1], 0).into()).await?;
        println!(
            "orders-api on http://{}, inventory on http://{}, daemon (xray-view) on udp {daemon_addr}",
            shop.orders, shop.inventory
        );
        for call in shop.run_calls().await? {
            println!(
                "checkout-cli  {:<22} → {}  {:<12}  orders-api got X-Amzn-Trace-Id: {}",
                call.what,
                call.status,
                if call.sampled { "sampled" } else { "not sampled" },
                call.header
            );
        }
        Ok::<_, Box<dyn std::error::Error>>(shop.datagrams_sent())
    })?;
    drop(runtime);

    // 3. What the daemon received, checked and drawn.
    let mut viewer = Viewer::new(RenderOptions::for_stdout())?;
    let mut received = 0;
    println!();
    while received < expected {
        let Some(datagram) = daemon.recv(Duration::from_secs(3))? else {
            break;
        };
        received += 1;
        if print_json {
            let text = String::from_utf8_lossy(&datagram.bytes);
            if let Some(doc) = text
                .split_once('\n')
                .and_then(|(_, body)| serde_json::from_str::<Value>(body).ok())
            {
                println!("{}", serde_json::to_string_pretty(&doc)?);
            }
        }
        if let Some(text) = viewer.receive_datagram(&datagram, Instant::now()) {
            println!("{text}");
        }
    }
    print!("{}", viewer.finish());
    let ok = viewer.refused() == 0 && received == expected && expected > 0;
    println!(
        "{received}/{expected} datagrams received, {} traces, {}",
        viewer.traces_shown(),
        if ok {
            "all valid against spec/segment-document-schema.json and X-Ray's rules"
        } else {
            "FAILED"
        }
    );
    Ok(ok)
}
