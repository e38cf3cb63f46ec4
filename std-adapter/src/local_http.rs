//! The HTTP agent for local endpoints: the instance metadata services (plugins) and the
//! daemon's sampling proxy.

use std::time::Duration;
use ureq::Agent;

/// An agent with short timeouts, no proxy (these endpoints are link-local or on the host; an
/// `HTTP_PROXY` in the environment must not capture them), no redirects and HTTP statuses
/// returned as values.
pub(crate) fn agent(timeout: Duration) -> Agent {
    Agent::config_builder()
        .timeout_global(Some(timeout))
        .timeout_connect(Some(timeout))
        .proxy(None)
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent(concat!("xray-rust/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}
