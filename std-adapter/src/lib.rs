//! The std adapter for `xray-core`: what a program on an operating system needs to send
//! AWS X-Ray traces.
//!
//! - [`DaemonAddress`]: the `AWS_XRAY_DAEMON_ADDRESS` format (pure parser, default
//!   `127.0.0.1:2000`).
//! - [`Config`]: every `AWS_XRAY_*` (and Lambda) variable, read once into a value.
//! - [`UdpTransport`]: a non-blocking, best-effort UDP [`xray_core::Transport`] with counters.
//! - [`SystemClock`]: the OS wall clock as an [`xray_core::Clock`].
//! - [`ThreadRng`], [`FastRng`], [`OsRng`]: `rand_core` RNGs for trace and segment ids.
//! - [`Tracer`]: the per-request API, sampling with the default rule or local rules
//!   (`AWS_XRAY_SAMPLING_RULES_FILE`), or [`centralized_sampling`] (cargo feature
//!   `centralized-sampling`) with rules and targets from the daemon.
//! - [`plugins`]: EC2, ECS and Elastic Beanstalk metadata (cargo features `ec2`, `ecs`,
//!   `elastic-beanstalk`), gathered only when asked.
//!
//! ```no_run
//! // `no_run`: it would send a datagram to a daemon on 127.0.0.1:2000, if one runs there.
//! use xray_core::{Clock, SegmentId, TraceId, Transport};
//! use xray_std::{Config, SystemClock, ThreadRng, UdpTransport};
//!
//! let config = Config::from_lookup(|_| None)?; // Config::from_env() in a real program
//! let mut transport = UdpTransport::from_config(&config)?;
//! if let Some(now) = SystemClock.now() {
//!     let trace = TraceId::generate(now, &mut ThreadRng);
//!     let id = SegmentId::generate(&mut ThreadRng);
//!     let _ = (trace, id); // the recorder turns these into a datagram
//! }
//! transport.send(b"{\"format\":\"json\",\"version\":1}\n{}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Diagnostics go through the `log` facade; nothing is printed unless the application
//! installs a logger.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

#[cfg(feature = "centralized-sampling")]
pub mod centralized_sampling;
pub mod config;
pub mod daemon_address;
mod echo;
#[cfg(any(feature = "tower", feature = "tracing", feature = "aws-sdk"))]
pub mod integrations;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(any(feature = "ec2", feature = "ecs", feature = "centralized-sampling"))]
mod local_http;
pub mod plugins;
pub mod reference;
pub mod rng;
#[cfg(feature = "centralized-sampling")]
pub mod sampling_proxy_client;
pub mod system_clock;
pub mod tracer;
pub mod udp_transport;

pub use config::{Config, ConfigError, ContextMissing, LambdaEnvironment};
pub use daemon_address::{DaemonAddress, DaemonAddressError, Endpoint, Host};
pub use echo::MAX_ECHOED_CHARS;
pub use rng::{FastRng, OsRng, ThreadRng};
pub use system_clock::SystemClock;
pub use tracer::{Trace, TraceError, Tracer, TracerBuilder};
pub use udp_transport::{TransportStats, UdpTransport};

/// The README's examples, compiled and run as doctests (here, where both crates are at hand).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
