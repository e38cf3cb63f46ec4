//! The std adapter for `xray-core`: what a program on an operating system needs to send
//! AWS X-Ray traces.
//!
//! - [`DaemonAddress`]: the `AWS_XRAY_DAEMON_ADDRESS` format (pure parser, default
//!   `127.0.0.1:2000`).
//! - [`Config`]: every `AWS_XRAY_*` (and Lambda) variable, read once into a value.
//! - [`UdpTransport`]: a non-blocking, best-effort UDP [`xray_core::Transport`] with counters.
//! - [`SystemClock`]: the OS wall clock as an [`xray_core::Clock`].
//! - [`ThreadRng`], [`FastRng`], [`OsRng`]: `rand_core` RNGs for trace and segment ids.
//! - [`Tracer`]: shared by every thread, it hands out one [`TraceContext`] per request,
//!   sampling with the default rule or local rules (`AWS_XRAY_SAMPLING_RULES_FILE`), or
//!   `centralized_sampling` (cargo feature `centralized-sampling`) with rules and targets
//!   from the daemon.
//! - [`TraceContext`]: one request's trace (cheap to clone, shared across tasks), with
//!   [`Subsegment`] guards that end on drop, and [`current`] for one-line calls on the
//!   request being served.
//! - The `xray-core` types users name ([`TraceHeader`], [`TraceId`], [`SegmentId`],
//!   [`model`]…) re-exported, and the whole core as [`core`]: one dependency line suffices.
//! - [`plugins`]: EC2, ECS and Elastic Beanstalk metadata (cargo features `ec2`, `ecs`,
//!   `elastic-beanstalk`), gathered only when asked.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use xray_std::{TraceHeader, Tracer};
//!
//! // `Tracer::from_env("checkout")?.build()` in a real program: UDP to the daemon.
//! let tracer = Tracer::builder("checkout")
//!     .transport(Arc::new(Mutex::new(xray_std::core::NullTransport)))
//!     .build();
//! let incoming = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")?;
//! let ctx = tracer.begin(Some(&incoming)); // one handle per request
//! ctx.annotate("customer", "acme-corp");
//! {
//!     let _db = ctx.subsegment("orders-db"); // ends when dropped
//!     ctx.in_scope(|| xray_std::current::annotate("items", 3)); // deeper down, no handle
//! }
//! drop(ctx); // the segment is sent
//! assert_eq!(tracer.stats().sampled, 1);
//! # Ok::<(), xray_std::HeaderError>(())
//! ```
//!
//! Diagnostics go through the `log` facade; nothing is printed unless the application
//! installs a logger.
//!
//! # Features
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod build_error;
#[cfg(feature = "centralized-sampling")]
pub mod centralized_sampling;
pub mod config;
pub mod context;
pub mod current;
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
pub mod sampling;
#[cfg(feature = "centralized-sampling")]
pub mod sampling_proxy_client;
pub mod system_clock;
mod trace_clock;
pub mod tracer;
pub mod udp_transport;

pub use build_error::BuildError;
pub use config::{Config, ConfigError, ContextMissing, LambdaEnvironment};
pub use context::{Subsegment, TraceContext};
pub use daemon_address::{DaemonAddress, DaemonAddressError, Endpoint, Host};
pub use echo::MAX_ECHOED_CHARS;
pub use rng::{FastRng, OsRng, ThreadRng};
pub use system_clock::SystemClock;
pub use tracer::{TraceError, Tracer, TracerBuilder, TracerStats};
pub use udp_transport::{TransportStats, UdpTransport};

/// The `xray-core` crate, for everything not re-exported here.
pub use xray_core as core;
pub use xray_core::model;
pub use xray_core::{
    EntityId, HeaderError, Malformed, Outcome, RecorderConfig, SampledFlag, SegmentId, TraceHeader,
    TraceId,
};

/// The README's examples, compiled and run as doctests (here, where both crates are at hand).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
