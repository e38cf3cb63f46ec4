//! A tiny blocking HTTP client for metadata services (IMDS, ECS task metadata), on `ureq`.

use ureq::Agent;

/// Metadata documents are small; anything larger is not what we asked for.
const MAX_BODY: u64 = 64 * 1024;

/// The outcome of one metadata request.
#[derive(Debug)]
pub(crate) enum Fetch {
    /// A 2xx answer and its body.
    Body(String),
    /// The service answered with another status.
    Status(u16),
    /// No answer: connection refused, timeout, bad body, ...
    Unreachable(String),
}

impl std::fmt::Display for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fetch::Body(body) => write!(f, "{} bytes", body.len()),
            Fetch::Status(status) => write!(f, "HTTP status {status}"),
            Fetch::Unreachable(e) => write!(f, "no answer ({e})"),
        }
    }
}

pub(crate) use crate::local_http::agent;

fn finish(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Fetch {
    match result {
        Ok(mut response) => {
            let status = response.status();
            if !status.is_success() {
                return Fetch::Status(status.as_u16());
            }
            match response
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_string()
            {
                Ok(body) => Fetch::Body(body),
                Err(e) => Fetch::Unreachable(e.to_string()),
            }
        }
        Err(e) => Fetch::Unreachable(e.to_string()),
    }
}

/// `GET url` with extra headers.
pub(crate) fn get(agent: &Agent, url: &str, headers: &[(&str, &str)]) -> Fetch {
    let mut request = agent.get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    finish(request.call())
}

/// `PUT url` with extra headers and no body.
#[cfg(feature = "ec2")]
pub(crate) fn put(agent: &Agent, url: &str, headers: &[(&str, &str)]) -> Fetch {
    let mut request = agent.put(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    finish(request.send_empty())
}

/// A string field of a JSON object, if present and a string.
pub(crate) fn json_str(value: &serde_json::Value, key: &str) -> Option<String> {
    value.get(key)?.as_str().map(str::to_owned)
}
