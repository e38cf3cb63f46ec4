//! The README demo: a traced request end to end, with no AWS account.
//!
//! Starts the viewer's receiver (`xray-view`, in process) on an ephemeral 127.0.0.1 port
//! standing in for the X-Ray daemon, points a tracer at it, records a small realistic request
//! (segment, nested subsegments, annotations, metadata, an error, an outgoing call with its
//! trace header), then prints the incoming and outgoing headers and the trace as a waterfall.
//! Every datagram is checked as the daemon and the X-Ray service would (AWS's segment
//! document schema and the rules it leaves out); the demo exits non-zero if one would be
//! refused. `--json` also prints each document.
//!
//! ```text
//! cargo run --bin demo
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;
use xray_std::core::Clock;
use xray_std::model::{HttpRequest, HttpResponse};
use xray_std::{
    Config, FastRng, SampledFlag, SegmentId, SystemClock, TraceHeader, TraceId, Tracer,
};
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
    // 1. A stand-in daemon: the viewer's receiver on 127.0.0.1. Datagrams wait in the
    // socket's buffer until step 4 reads them.
    let mut daemon = Listener::bind(([127, 0, 0, 1], 0).into())?;
    let daemon_addr = daemon.local_addr()?;
    let print_json = std::env::args().any(|a| a == "--json");

    // 2. The tracer, configured as from the environment.
    let addr = daemon_addr.to_string();
    let config = Config::from_lookup(|k| (k == "AWS_XRAY_DAEMON_ADDRESS").then(|| addr.clone()))?;
    let tracer = Tracer::from_config(&config, "orders-api")?
        .pool_size(2)
        .build();

    // 3. An incoming request from a traced caller (a load balancer, say).
    let mut rng = FastRng::from_os();
    let now = SystemClock.now().ok_or("the system clock is before 1970")?;
    let mut incoming = TraceHeader::with(
        TraceId::generate(now, &mut rng),
        Some(SegmentId::generate(&mut rng)),
        SampledFlag::Sampled,
    );
    incoming.push_extra("Lineage", "a87bd80c:1")?;
    println!("incoming  X-Amzn-Trace-Id: {incoming}");

    let trace = tracer.begin(Some(&incoming));
    trace.http_request(&HttpRequest {
        method: Some("POST"),
        url: Some("https://orders.example.com/orders?debug=1"),
        user_agent: Some("curl/8.5.0"),
        client_ip: Some("203.0.113.7"),
        x_forwarded_for: true,
    });
    trace.annotate("customer", "acme-corp");
    trace.annotate("order_count", 3);
    trace.metadata("cart", &["sku-1", "sku-2", "sku-3"]);

    // An outgoing call: a subsegment in namespace `remote` and the header to send with it.
    {
        let inventory = trace.subsegment("inventory-service");
        inventory.namespace("remote");
        inventory.http_request(&HttpRequest {
            method: Some("GET"),
            url: Some("https://inventory.internal/v1/stock"),
            ..HttpRequest::default()
        });
        if let Some(outgoing) = inventory.downstream_header() {
            println!("outgoing  X-Amzn-Trace-Id: {outgoing}");
        }
        inventory.http_response(&HttpResponse {
            status: Some(200),
            content_length: Some(512),
        });
    }

    // Nested work, one part of which fails.
    {
        let checkout = trace.subsegment("checkout");
        {
            let validate = checkout.subsegment("validate-cart");
            validate.annotate("items", 3);
        }
        let payment = checkout.subsegment("charge-card");
        payment.error(std::io::Error::other("payment gateway timed out"));
    }

    trace.http_response(&HttpResponse {
        status: Some(502),
        content_length: None,
    });
    let trace_id = trace.trace_id();
    drop(trace); // the last handle: the segment is sent

    // 4. What the daemon received, checked and drawn.
    let expected = tracer.stats().datagrams;
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
        "trace {} : {received}/{expected} datagrams received, {}",
        trace_id.map(|t| t.to_string()).unwrap_or_default(),
        if ok {
            "all valid against spec/segment-document-schema.json and X-Ray's rules"
        } else {
            "FAILED"
        }
    );
    Ok(ok)
}
