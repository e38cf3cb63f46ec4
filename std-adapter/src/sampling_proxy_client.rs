//! A blocking client for the X-Ray daemon's TCP sampling proxy (spec §4.6): unsigned
//! `POST /GetSamplingRules` and `POST /SamplingTargets`, which the daemon signs and forwards
//! to X-Ray. On `ureq` (no TLS: the daemon is local), with timeouts on every call.

use std::net::SocketAddr;
use std::time::Duration;

use ureq::Agent;

use crate::config::Config;

/// Responses larger than this are refused (a rules page is a few KiB).
const MAX_BODY: u64 = 1024 * 1024;

/// The default timeout of each call (connect and whole request).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a call to the sampling proxy failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SamplingProxyError {
    /// No answer: connection refused, timeout, a broken or oversized body.
    Unreachable(String),
    /// The proxy answered with a non-2xx status.
    Status(u16),
    /// The answer is not the JSON document expected.
    Body(String),
}

impl std::fmt::Display for SamplingProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SamplingProxyError::Unreachable(e) => {
                write!(f, "X-Ray daemon sampling proxy unreachable: {e}")
            }
            SamplingProxyError::Status(s) => {
                write!(f, "X-Ray daemon sampling proxy answered HTTP {s}")
            }
            SamplingProxyError::Body(e) => {
                write!(f, "unexpected answer from the X-Ray sampling proxy: {e}")
            }
        }
    }
}

impl std::error::Error for SamplingProxyError {}

/// A client for the daemon's sampling proxy at one `host:port`.
#[derive(Clone, Debug)]
pub struct SamplingProxyClient {
    agent: Agent,
    base: String,
}

impl SamplingProxyClient {
    /// A client for the proxy at `addr`, each call bounded by `timeout`.
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Self {
            agent: crate::local_http::agent(timeout),
            base: format!("http://{addr}"),
        }
    }

    /// A client for the TCP part of the configured daemon address (`AWS_XRAY_DAEMON_ADDRESS`),
    /// resolved now, with [`DEFAULT_TIMEOUT`].
    pub fn from_config(config: &Config) -> std::io::Result<Self> {
        let addr = config.daemon_address.tcp().resolve()?;
        Ok(Self::new(addr, DEFAULT_TIMEOUT))
    }

    /// `http://host:port` of the proxy.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `POST /GetSamplingRules` with `{"NextToken": null}`; the response body (only the first
    /// page is used, like every peer SDK).
    pub fn get_sampling_rules(&self) -> Result<String, SamplingProxyError> {
        self.post("/GetSamplingRules", r#"{"NextToken":null}"#)
    }

    /// `POST /SamplingTargets` with a `SamplingStatisticsDocuments` body; the response body.
    pub fn get_sampling_targets(&self, body: &str) -> Result<String, SamplingProxyError> {
        self.post("/SamplingTargets", body)
    }

    fn post(&self, path: &str, body: &str) -> Result<String, SamplingProxyError> {
        let url = format!("{}{path}", self.base);
        let result = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body);
        let mut response = result
            .map_err(|e| SamplingProxyError::Unreachable(crate::echo::echoed(&e.to_string())))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SamplingProxyError::Status(status.as_u16()));
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| SamplingProxyError::Unreachable(crate::echo::echoed(&e.to_string())))
    }
}
