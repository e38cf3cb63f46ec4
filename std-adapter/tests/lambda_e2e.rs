//! Lambda end to end: the real `lambda_runtime` (with `AWS_LAMBDA_MAX_CONCURRENCY=2`, so two
//! invocations are in flight at once) driven by a local stand-in for the Lambda Runtime API
//! on 127.0.0.1, sending to a UDP stand-in for the daemon.
//!
//! The runtime runs in a child process (this same test binary, running `lambda_child` only),
//! because it reads its settings from the environment; the child is killed at the end, so the
//! runtime always stops. Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use support::{Daemon, check_datagram};
use xray_std::lambda::{self, LambdaTrace};

const CHILD_ENV: &str = "XRAY_STD_LAMBDA_E2E_CHILD";

async fn handler(event: LambdaEvent<Value>, xray: LambdaTrace) -> Result<Value, Error> {
    let n = event.payload["n"].as_i64().unwrap_or(-1);
    let work = xray.subsegment("work");
    let _ = xray.with(|t| t.annotate(work, "n", n));
    let inner = xray.begin_subsegment(work, "inner")?;
    // Long enough for the other worker to take the next invocation meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = xray.end(inner);
    let _ = xray.end(work);
    // The task-local gives the same trace.
    let same = LambdaTrace::current().and_then(|t| t.trace_id()) == xray.trace_id();
    Ok(serde_json::json!({ "n": n, "same_context": same }))
}

/// The Lambda function: only runs when the parent test starts it as a child process.
#[test]
fn lambda_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tracer = lambda::tracer_from_env().unwrap();
    assert!(tracer.is_lambda());
    let _ = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(30),
            lambda_runtime::run_concurrent(lambda::service_fn(tracer, handler)),
        )
        .await
    });
}

struct Invocation {
    id: String,
    trace: String,
    body: String,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Invocation>,
    in_flight: usize,
    max_in_flight: usize,
    responses: HashMap<String, String>,
    errors: usize,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

/// Reads one HTTP/1.1 request: (method, path, body). `None` at end of stream or on error.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let (mut len, mut chunked) = (0usize, false);
    for _ in 0..100 {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        if k.eq_ignore_ascii_case("content-length") {
            len = v.trim().parse().ok()?;
        } else if k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        for _ in 0..1000 {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(len.min(1 << 20), 0);
        r.read_exact(&mut body).ok()?;
    }
    Some((method, path, body))
}

fn serve(stream: TcpStream, state: Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    for _ in 0..100 {
        let Some((method, path, body)) = read_request(&mut r) else {
            return;
        };
        let (lock, cvar) = &*state;
        let reply = if method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
            let mut st = lock.lock().unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            while st.queue.is_empty() && Instant::now() < deadline {
                st = cvar.wait_timeout(st, Duration::from_millis(100)).unwrap().0;
            }
            let Some(inv) = st.queue.pop_front() else {
                return;
            };
            st.in_flight += 1;
            st.max_in_flight = st.max_in_flight.max(st.in_flight);
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Lambda-Runtime-Aws-Request-Id: {}\r\nLambda-Runtime-Deadline-Ms: 9999999999999\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:xray-e2e\r\n\
                 Lambda-Runtime-Trace-Id: {}\r\nContent-Length: {}\r\n\r\n{}",
                inv.id,
                inv.trace,
                inv.body.len(),
                inv.body
            )
        } else if method == "POST" && path.starts_with("/2018-06-01/runtime/invocation/") {
            let mut st = lock.lock().unwrap();
            st.in_flight = st.in_flight.saturating_sub(1);
            let id = path.split('/').nth(4).unwrap_or_default().to_owned();
            if path.ends_with("/response") {
                st.responses
                    .insert(id, String::from_utf8_lossy(&body).into_owned());
            } else {
                st.errors += 1;
            }
            cvar.notify_all();
            "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                .to_owned()
        } else {
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned()
        };
        if w.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

const TRACES: [(&str, &str, &str); 4] = [
    (
        "1-5759e988-bd862e3fe1be46a994272701",
        "53995c3f42cd8a01",
        "1",
    ),
    (
        "1-5759e988-bd862e3fe1be46a994272702",
        "53995c3f42cd8a02",
        "1",
    ),
    (
        "1-5759e988-bd862e3fe1be46a994272703",
        "53995c3f42cd8a03",
        "0",
    ),
    (
        "1-5759e988-bd862e3fe1be46a994272704",
        "53995c3f42cd8a04",
        "1",
    ),
];

#[test]
fn lambda_runtime_end_to_end_with_concurrent_invocations() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let daemon = Daemon::bind();
    let api = TcpListener::bind("127.0.0.1:0").unwrap();
    let api_addr = api.local_addr().unwrap();
    let state: Shared = Arc::default();
    {
        let mut st = state.0.lock().unwrap();
        for (i, (root, parent, sampled)) in TRACES.iter().enumerate() {
            st.queue.push_back(Invocation {
                id: format!("req-{i}"),
                trace: format!("Root={root};Parent={parent};Sampled={sampled};Lineage=a87bd80c:1"),
                body: format!("{{\"n\":{i}}}"),
            });
        }
    }
    let accept_state = Arc::clone(&state);
    std::thread::spawn(move || {
        for stream in api.incoming().take(16).flatten() {
            let st = Arc::clone(&accept_state);
            std::thread::spawn(move || serve(stream, st));
        }
    });

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["lambda_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("AWS_LAMBDA_RUNTIME_API", api_addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "xray-e2e")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_MAX_CONCURRENCY", "2")
        .env("LAMBDA_TASK_ROOT", std::env::temp_dir())
        .env("AWS_XRAY_DAEMON_ADDRESS", daemon.addr().to_string())
        .env_remove("_X_AMZN_TRACE_ID")
        .env_remove("AWS_XRAY_SDK_DISABLED")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // Wait (bounded) for every invocation's response, then stop the runtime.
    let done = {
        let (lock, cvar) = &*state;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut st = lock.lock().unwrap();
        while st.responses.len() + st.errors < TRACES.len() && Instant::now() < deadline {
            st = cvar.wait_timeout(st, Duration::from_millis(100)).unwrap().0;
        }
        st.responses.len()
    };
    let datagrams = daemon.recv(6, Duration::from_secs(5));
    let _ = child.kill();
    let _ = child.wait();

    let st = state.0.lock().unwrap();
    assert_eq!(done, TRACES.len(), "every invocation answered");
    assert_eq!(st.errors, 0);
    assert!(
        st.max_in_flight >= 2,
        "two invocations in flight at once (max {})",
        st.max_in_flight
    );
    for (i, _) in TRACES.iter().enumerate() {
        let body: Value = serde_json::from_str(&st.responses[&format!("req-{i}")]).unwrap();
        assert_eq!(body["n"], i as i64);
        assert_eq!(body["same_context"], true);
    }

    // 3 sampled invocations × (work + inner), each sent on its own; nothing for Sampled=0.
    assert_eq!(datagrams.len(), 6, "datagrams received");
    assert!(daemon.recv(1, Duration::from_millis(300)).is_empty());
    let docs: Vec<Value> = datagrams.iter().map(|d| check_datagram(d)).collect();
    for doc in &docs {
        assert_eq!(doc["type"], "subsegment");
        assert_ne!(doc["trace_id"], TRACES[2].0, "Sampled=0 sends nothing");
    }
    for (i, (root, parent, sampled)) in TRACES.iter().enumerate() {
        if *sampled == "0" {
            continue;
        }
        let work: Vec<&Value> = docs
            .iter()
            .filter(|d| d["name"] == "work" && d["annotations"]["n"] == i as i64)
            .collect();
        assert_eq!(work.len(), 1, "one work subsegment for invocation {i}");
        let work = work[0];
        assert_eq!(work["trace_id"], *root, "invocation {i} keeps its own Root");
        assert_eq!(
            work["parent_id"], *parent,
            "invocation {i} keeps its own Parent"
        );
        let inner: Vec<&Value> = docs
            .iter()
            .filter(|d| d["name"] == "inner" && d["parent_id"] == work["id"])
            .collect();
        assert_eq!(inner.len(), 1);
        assert_eq!(inner[0]["trace_id"], *root);
    }
}
