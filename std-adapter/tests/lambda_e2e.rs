//! Lambda end to end: the real `lambda_runtime` under `run_concurrent` with
//! `AWS_LAMBDA_MAX_CONCURRENCY=32`, driven by a local stand-in for the Lambda Runtime API on
//! 127.0.0.1 with 40 invocations, sending to a UDP stand-in for the daemon.
//!
//! The runtime runs in a child process (this same test binary, running `lambda_child` only),
//! because it reads its settings from the environment; the child is killed at the end, so the
//! runtime always stops. Invocations overlap by construction, not by timing: every handler
//! waits (on a `watch` channel) until 32 invocations have started, so the first 32 are all in
//! flight at once. Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use support::{Daemon, check_datagram};
use xray_std::{TraceContext, current, lambda};

const CHILD_ENV: &str = "XRAY_STD_LAMBDA_E2E_CHILD";
const CONCURRENCY: usize = 32;
const INVOCATIONS: usize = 40;
/// A header left in the process environment: concurrent invocations must never use it.
const STALE_ENV_HEADER: &str =
    "Root=1-5759e988-000000000000000000000bad;Parent=53995c3f42cd8bad;Sampled=1";

/// Started invocations, so that handlers can wait for each other.
fn started() -> &'static tokio::sync::watch::Sender<usize> {
    static STARTED: OnceLock<tokio::sync::watch::Sender<usize>> = OnceLock::new();
    STARTED.get_or_init(|| tokio::sync::watch::channel(0).0)
}

async fn handler(event: LambdaEvent<Value>, xray: TraceContext) -> Result<Value, Error> {
    let n = event.payload["n"].as_i64().unwrap_or(-1);
    let work = xray.subsegment("work");
    work.annotate("n", n);
    let inner = work.subsegment("inner");
    // Hold both subsegments open until CONCURRENCY invocations have started.
    started().send_modify(|c| *c += 1);
    let mut rx = started().subscribe();
    let _ = rx.wait_for(|c| *c >= CONCURRENCY).await;
    drop(inner);
    drop(work);
    // The current request is the same trace.
    let same = current::trace_id() == xray.trace_id();
    Ok(serde_json::json!({
        "n": n,
        "trace_id": xray.trace_id().map(|t| t.to_string()),
        "same_context": same,
    }))
}

/// The Lambda function: only runs when the parent test starts it as a child process.
#[test]
fn lambda_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let tracer = lambda::tracer_from_env().unwrap();
    assert!(tracer.is_lambda());
    assert_eq!(
        tracer.pool_available(),
        CONCURRENCY,
        "one recorder per invocation"
    );
    let _ = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(60),
            lambda_runtime::run_concurrent(lambda::service_fn(tracer, handler)),
        )
        .await
    });
}

struct Invocation {
    id: String,
    trace: Option<String>,
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
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    for _ in 0..100 {
        let Some((method, path, body)) = read_request(&mut r) else {
            return;
        };
        let (lock, cvar) = &*state;
        let reply = if method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
            let mut st = lock.lock().unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
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
                 {}Content-Length: {}\r\n\r\n{}",
                inv.id,
                inv.trace
                    .as_ref()
                    .map(|t| format!("Lambda-Runtime-Trace-Id: {t}\r\n"))
                    .unwrap_or_default(),
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

/// Invocation `i`'s header: Root and Parent of its own, `Sampled=0` for every 8th from 3,
/// none at all for every 8th from 7.
fn header(i: usize) -> Option<(String, String, &'static str)> {
    match i % 8 {
        7 => None,
        3 => Some((root(i), parent(i), "0")),
        _ => Some((root(i), parent(i), "1")),
    }
}

fn root(i: usize) -> String {
    format!("1-5759e988-bd862e3fe1be46a9942727{i:02x}")
}

fn parent(i: usize) -> String {
    format!("53995c3f42cd8a{i:02x}")
}

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
        for i in 0..INVOCATIONS {
            st.queue.push_back(Invocation {
                id: format!("req-{i}"),
                trace: header(i).map(|(root, parent, sampled)| {
                    format!("Root={root};Parent={parent};Sampled={sampled};Lineage=a87bd80c:1")
                }),
                body: format!("{{\"n\":{i}}}"),
            });
        }
    }
    let accept_state = Arc::clone(&state);
    std::thread::spawn(move || {
        for stream in api.incoming().take(4 * INVOCATIONS).flatten() {
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
        .env("AWS_LAMBDA_MAX_CONCURRENCY", CONCURRENCY.to_string())
        .env("LAMBDA_TASK_ROOT", std::env::temp_dir())
        .env("AWS_XRAY_DAEMON_ADDRESS", daemon.addr().to_string())
        .env("_X_AMZN_TRACE_ID", STALE_ENV_HEADER)
        .env_remove("AWS_XRAY_SDK_DISABLED")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // Wait (bounded) for every invocation's response, then stop the runtime.
    let done = {
        let (lock, cvar) = &*state;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut st = lock.lock().unwrap();
        while st.responses.len() + st.errors < INVOCATIONS && Instant::now() < deadline {
            st = cvar.wait_timeout(st, Duration::from_millis(100)).unwrap().0;
        }
        st.responses.len()
    };
    let sampled: Vec<usize> = (0..INVOCATIONS)
        .filter(|i| header(*i).is_some_and(|h| h.2 == "1"))
        .collect();
    let expected = 2 * sampled.len();
    let datagrams = daemon.recv(expected, Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();

    let st = state.0.lock().unwrap();
    assert_eq!(done, INVOCATIONS, "every invocation answered");
    assert_eq!(st.errors, 0);
    assert!(
        st.max_in_flight >= CONCURRENCY,
        "{CONCURRENCY} invocations in flight at once (max {})",
        st.max_in_flight
    );
    for i in 0..INVOCATIONS {
        let body: Value = serde_json::from_str(&st.responses[&format!("req-{i}")]).unwrap();
        assert_eq!(body["n"], i as i64);
        assert_eq!(body["same_context"], true);
        match header(i) {
            // No header: no trace, no id, and never the one left in the environment.
            None => assert_eq!(body["trace_id"], Value::Null, "invocation {i}"),
            Some((root, _, _)) => assert_eq!(body["trace_id"], root, "invocation {i}"),
        }
    }

    // 2 subsegments (work + inner) per sampled invocation, each sent on its own; nothing for
    // Sampled=0 or header-less invocations.
    assert_eq!(datagrams.len(), expected, "datagrams received");
    assert!(daemon.recv(1, Duration::from_millis(300)).is_empty());
    let docs: Vec<Value> = datagrams.iter().map(|d| check_datagram(d)).collect();
    for doc in &docs {
        assert_eq!(doc["type"], "subsegment");
        assert_ne!(doc["trace_id"], "1-5759e988-000000000000000000000bad");
    }
    for i in sampled {
        let (root, parent, _) = header(i).unwrap();
        let work: Vec<&Value> = docs
            .iter()
            .filter(|d| d["name"] == "work" && d["annotations"]["n"] == i as i64)
            .collect();
        assert_eq!(work.len(), 1, "one work subsegment for invocation {i}");
        let work = work[0];
        assert_eq!(work["trace_id"], root, "invocation {i} keeps its own Root");
        assert_eq!(
            work["parent_id"], parent,
            "invocation {i} keeps its own Parent"
        );
        let inner: Vec<&Value> = docs
            .iter()
            .filter(|d| d["name"] == "inner" && d["parent_id"] == work["id"])
            .collect();
        assert_eq!(inner.len(), 1, "invocation {i}");
        assert_eq!(inner[0]["trace_id"], root);
    }
}
