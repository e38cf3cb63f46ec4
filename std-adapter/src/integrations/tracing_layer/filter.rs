//! [`DefaultFilter`]: the spans and events worth a subsegment, without library noise.

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_subscriber::layer::{Context, Filter};

/// Crates whose spans describe their own machinery (connections, polls, retries), not the
/// application's work. The AWS SDK's are here because the `aws-sdk` interceptor records
/// its calls already.
const NOISY_CRATES: &[&str] = &[
    "h2",
    "h3",
    "hyper",
    "hyper_util",
    "mio",
    "quinn",
    "reqwest",
    "rustls",
    "tokio",
    "tokio_util",
    "tonic",
    "tower",
    "tower_http",
    "want",
    "axum",
    "aws_config",
    "lambda_runtime",
    "xray_std",
];

/// Crate-name prefixes treated as [`NOISY_CRATES`].
const NOISY_PREFIXES: &[&str] = &["aws_smithy_", "aws_sdk_"];

/// The per-layer filter most services want (`XRayLayer::new().with_filter(DefaultFilter)`):
///
/// - spans at `DEBUG` and above, except those of library crates (`hyper`, `hyper_util`, `h2`,
///   `tokio`, `tower`, `tower_http`, `tonic`, `axum`, `reqwest`, `rustls`, the AWS SDK's
///   `aws_smithy_*`/`aws_sdk_*`, `xray_std` itself, and a few more), whose spans describe
///   connections and polls rather than the application's work;
/// - `ERROR` events from anywhere (they mark their span's subsegment);
/// - nothing else (`WARN` and lower events are not part of a trace).
///
/// The decision is made once per callsite (`Interest::never` for the rest), so filtered-out
/// spans and events cost this layer nothing. For anything else, any `tracing-subscriber`
/// filter works, `EnvFilter` and `Targets` included.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultFilter;

impl DefaultFilter {
    fn wants(meta: &Metadata<'_>) -> bool {
        if meta.is_event() {
            return *meta.level() == Level::ERROR;
        }
        *meta.level() <= Level::DEBUG && !is_library(meta.target())
    }
}

/// Whether `target` belongs to one of the noisy library crates.
fn is_library(target: &str) -> bool {
    let krate = target.split("::").next().unwrap_or(target);
    NOISY_CRATES.contains(&krate) || NOISY_PREFIXES.iter().any(|p| krate.starts_with(p))
}

impl<S> Filter<S> for DefaultFilter {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        Self::wants(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if Self::wants(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::DEBUG)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_crates_are_recognised_by_crate_name() {
        assert!(is_library("hyper"));
        assert!(is_library("hyper::proto::h1"));
        assert!(is_library("hyper_util::client::legacy"));
        assert!(is_library("aws_smithy_runtime::client::orchestrator"));
        assert!(is_library("aws_sdk_dynamodb::operation"));
        assert!(is_library("xray_std::integrations::log_correlation"));
        assert!(!is_library("hyperion"));
        assert!(!is_library("my_app::orders"));
        assert!(!is_library("tokio_postgres_wrapper_app"));
    }
}
