//! The README demo: a traced request end to end, with no AWS account.
//!
//! Starts a UDP listener on 127.0.0.1 standing in for the X-Ray daemon, points a tracer at
//! it, records a small realistic request (segment, nested subsegments, annotations, metadata,
//! an error, an outgoing call with its trace header), then prints the incoming header, the
//! outgoing header and every datagram received, pretty-printed and validated against the
//! published segment document schema.
//!
//! ```text
//! cargo run --bin demo
//! ```

use std::net::UdpSocket;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use serde_json::Value;
use xray_std::core::Clock;
use xray_std::model::{HttpRequest, HttpResponse};
use xray_std::{
    Config, FastRng, SampledFlag, SegmentId, SystemClock, TraceHeader, TraceId, Tracer,
};

const SCHEMA: &str = include_str!("../../../spec/segment-document-schema.json");

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
    // 1. A stand-in daemon: a UDP socket on 127.0.0.1, read by a thread.
    let daemon = UdpSocket::bind("127.0.0.1:0")?;
    daemon.set_read_timeout(Some(Duration::from_millis(100)))?;
    let daemon_addr = daemon.local_addr()?;
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_listener = Arc::clone(&stop);
    let listener = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        // Bounded: at most 50 polls of 100 ms with nothing, or 100 datagrams.
        let (mut idle, mut got) = (0, 0);
        while idle < 50 && got < 100 && !stop_listener.load(Ordering::Relaxed) {
            match daemon.recv_from(&mut buf) {
                Ok((n, _)) => {
                    got += 1;
                    idle = 0;
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
                Err(_) => idle += 1,
            }
        }
    });

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

    // 4. What the daemon received.
    let expected = tracer.stats().datagrams;
    let schema: Value = serde_json::from_str(SCHEMA)?;
    let validator = jsonschema::draft4::new(&schema)?;
    let mut all_valid = true;
    let mut received = 0;
    while received < expected {
        let Ok(datagram) = rx.recv_timeout(Duration::from_secs(3)) else {
            break;
        };
        received += 1;
        let text = String::from_utf8_lossy(&datagram);
        let Some((header, body)) = text.split_once('\n') else {
            println!("datagram {received}: no header line");
            all_valid = false;
            continue;
        };
        let doc: Value = serde_json::from_str(body)?;
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        println!(
            "\ndatagram {received} ({} bytes) header {header}",
            datagram.len()
        );
        println!("{}", serde_json::to_string_pretty(&doc)?);
        if errors.is_empty() {
            println!("=> valid against spec/segment-document-schema.json");
        } else {
            all_valid = false;
            println!("=> INVALID: {errors:?}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    drop(rx);
    let _ = listener.join();
    let ok = all_valid && received == expected && expected > 0;
    println!(
        "\ntrace {} : {received}/{expected} datagrams received, {}",
        trace_id.map(|t| t.to_string()).unwrap_or_default(),
        if ok { "all valid" } else { "FAILED" }
    );
    Ok(ok)
}
