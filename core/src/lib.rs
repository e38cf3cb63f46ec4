//! An allocation-free AWS X-Ray tracing core.
//!
//! `xray-core` is `#![no_std]`, uses no `alloc` and no `unsafe`, and runs the same in a Lambda
//! binary, a long-running service and microcontroller firmware. It owns the parts of X-Ray that
//! must not allocate:
//!
//! - [`TraceId`] and [`SegmentId`]: generated from a [`Clock`] and a `rand_core` RNG, parsed and
//!   formatted without allocation;
//! - [`TraceHeader`]: the `X-Amzn-Trace-Id` header (and SQS `AWSTraceHeader`);
//! - [`TraceParent`] and [`TraceState`]: the W3C `traceparent` and `tracestate` headers, and
//!   the mapping between W3C and X-Ray ids;
//! - [`Recorder`]: segments, nested subsegments, annotations, metadata, errors, http/aws/sql
//!   blocks, written as JSON straight into one caller-provided buffer under a byte budget;
//! - [`model`]: the typed values of the segment document;
//! - [`sampler`]: upstream decisions, local rules files (versions 1 and 2), the 1 request per
//!   second plus 5 % default, per-rule reservoirs, and the state for centralized sampling;
//! - [`Sink`]: the all-or-nothing byte sinks the encoder writes into;
//! - [`Transport`]: where finished datagrams go;
//! - [`Clock`] and [`Timestamp`]: epoch time as integer microseconds.
//!
//! Adapters (`xray-std`, `xray-embassy`) bring sockets, clocks, RNGs and configuration.
//!
//! # Features
//!
//! This list is the one description of the crate's features; `Cargo.toml` and the README
//! refer here.
//!
//! - `small`: prefer smaller code to speed, for flash-constrained firmware. The sink's write stays
//!   one out-of-line function; buffer rotations swap bytes instead of calling `memmove`; every
//!   field goes through one out-of-line push instead of its own inlined one, and slot lookups are
//!   calls; an entity's fields are read from the log per section, never in the default build's one
//!   pass for records that came in document order; escaping and name filtering skip their
//!   eight-byte fast paths; the URL sanitizer looks at its input byte by byte and reads every URL
//!   with its one general reader; timestamps are written one digit at a time; keys are compared
//!   byte by byte instead of with `memcmp`. The output is the same byte for byte. What it saves in
//!   flash and costs in speed is measured by `scripts/firmware-size.sh` and `cargo bench -p
//!   xray-core --bench encode` (figures in the README); services leave it off.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

/// The SDK's name as a literal, for `concat!` (see [`SDK_NAME`]).
macro_rules! sdk_name {
    () => {
        "X-Ray for Rust"
    };
}

#[macro_use]
mod byte_table;
mod divide;
pub mod header;
pub mod id;
mod json;
mod metadata_serializer;
pub mod model;
pub mod name;
mod name_charset;
pub mod recorder;
pub mod sampler;
mod sink;
pub mod time;
pub mod traceparent;
pub mod transport;

/// Lets unit tests share the integration tests' helpers, which name the crate.
#[cfg(test)]
extern crate self as xray_core;
#[cfg(test)]
extern crate std;
#[cfg(test)]
#[path = "../tests/common/test_rng.rs"]
pub(crate) mod test_rng;

pub use header::{HeaderError, Malformed, SampledFlag, TraceHeader};
pub use id::{IdError, SegmentId, TraceId};
pub use json::{FALLBACK_NAME, MAX_NAME_CHARS};
pub use name::{EntityName, Name};
pub use rand_core;
pub use recorder::{EntityId, Outcome, Recorder, RecorderConfig, RecorderStats, Rejection};
pub use sampler::{Decision, MissingSampledPolicy, Reason, Sampler, SamplingRequest, Upstream};
pub use sink::{Full, Sink, SliceSink};
pub use time::{Clock, FixedClock, Timestamp};
pub use traceparent::{TraceParent, TraceParentError, TraceState, TraceStateError};
pub use transport::{NullTransport, SliceTransport, Transport};

/// The daemon's header line, compact as Python and Node write it, without the newline that
/// separates it from the document. Every datagram starts with this line and `\n`.
pub const DAEMON_HEADER: &[u8] = br#"{"format":"json","version":1}"#;

/// The SDK name written in `aws.xray.sdk`.
pub const SDK_NAME: &str = sdk_name!();

/// The SDK version written in `aws.xray.sdk_version`.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The largest UDP payload over IPv4 (65,535 − 8 − 20 bytes): the default datagram budget.
pub const MAX_DATAGRAM_LEN: usize = 65_507;
