//! Helpers shared by the integration tests: a UDP stand-in for the daemon and the checks
//! every datagram must pass.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A UDP socket on 127.0.0.1 standing in for the X-Ray daemon.
pub struct Daemon {
    socket: UdpSocket,
}

impl Daemon {
    /// Binds to an ephemeral port on 127.0.0.1.
    pub fn bind() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        Self { socket }
    }

    /// The address to point `AWS_XRAY_DAEMON_ADDRESS` at.
    pub fn addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("local addr")
    }

    /// Receives up to `n` datagrams, waiting at most `within` in total.
    pub fn recv(&self, n: usize, within: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while out.len() < n && Instant::now() < deadline {
            if let Ok((len, _)) = self.socket.recv_from(&mut buf) {
                out.push(buf[..len].to_vec());
            }
        }
        out
    }
}

fn schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = include_str!("../../../spec/segment-document-schema.json");
        let schema: Value = serde_json::from_str(text).expect("schema is JSON");
        jsonschema::draft4::new(&schema).expect("schema compiles")
    })
}

/// Checks the daemon header line (as the daemon does: JSON, `format` json, `version` 1),
/// parses the document and validates it against the published schema. Returns the document.
pub fn check_datagram(datagram: &[u8]) -> Value {
    assert!(datagram.len() <= 65_507, "datagram over the UDP limit");
    let text = std::str::from_utf8(datagram).expect("datagram is UTF-8");
    let (header, body) = text.split_once('\n').expect("header line and body");
    let header: Value = serde_json::from_str(header).expect("header line is JSON");
    assert!(
        header["format"]
            .as_str()
            .is_some_and(|f| f.eq_ignore_ascii_case("json")),
        "header format: {header}"
    );
    assert_eq!(header["version"], 1, "header version: {header}");
    let doc: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("invalid JSON ({e}): {body}"));
    let errors: Vec<String> = schema()
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema errors {errors:?} in {body}");
    doc
}

/// Every entity of a document, depth first.
pub fn entities(doc: &Value) -> Vec<&Value> {
    let mut out = vec![doc];
    let mut i = 0;
    while i < out.len() && i < 10_000 {
        if let Some(children) = out[i]["subsegments"].as_array() {
            out.extend(children.iter());
        }
        i += 1;
    }
    out
}
