//! `moto_server` (the Python AWS mock) on 127.0.0.1, one per test: started on a port it picks
//! itself (`-p 0`, no race for a free port), ready when it prints the address it listens on,
//! killed and reaped on drop.
//!
//! Found as `$XRAY_MOTO_SERVER` (scripts/moto.sh installs the pinned version and prints its
//! path; scripts/test.sh sets the variable), else in `target/moto-venv` (where that script
//! installs it), else on `PATH`. A test that cannot start it fails, saying how to install it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long moto may take to start (it imports every mocked service first).
const START_WITHIN: Duration = Duration::from_secs(90);

const HOW_TO_INSTALL: &str = "moto_server is needed: run `bash scripts/moto.sh` (installs the \
    pinned moto[server] into target/moto-venv with pip and prints its path) and set \
    XRAY_MOTO_SERVER to that path, or `pip install 'moto[server]'` so it is on PATH";

/// A running `moto_server`.
pub struct Moto {
    child: Child,
    log: Option<JoinHandle<Vec<String>>>,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

fn program() -> PathBuf {
    if let Some(p) = std::env::var_os("XRAY_MOTO_SERVER").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    let venv = target.join("moto-venv/bin/moto_server");
    if venv.is_file() {
        return venv;
    }
    PathBuf::from("moto_server")
}

impl Moto {
    /// Starts `moto_server -H 127.0.0.1 -p 0` and waits (at most 90 s) for its address.
    pub fn start() -> Self {
        let program = program();
        let mut child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}. {HOW_TO_INSTALL}", program.display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        // Reads moto's log to its end (it logs every request: the pipe must not fill), sends
        // the address once, and keeps the last lines for a failure message.
        let log = std::thread::spawn(move || {
            let mut tail = Vec::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split("Running on ").nth(1) {
                    let _ = tx.send(addr.trim().to_owned());
                }
                tail.push(line);
                if tail.len() > 40 {
                    tail.remove(0);
                }
            }
            tail
        });
        let mut moto = Moto {
            child,
            log: Some(log),
            endpoint: String::new(),
        };
        match rx.recv_timeout(START_WITHIN) {
            Ok(endpoint) if endpoint.starts_with("http://127.0.0.1:") => {
                moto.endpoint = endpoint;
                moto
            }
            other => {
                let tail = moto.stop();
                panic!(
                    "{} did not start ({other:?}); its log:\n{}\n{HOW_TO_INSTALL}",
                    program.display(),
                    tail.join("\n")
                );
            }
        }
    }

    /// Kills moto, reaps it and returns the last lines it logged.
    fn stop(&mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
