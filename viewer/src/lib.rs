//! `xray-view`: a local stand-in for the X-Ray daemon that draws each trace it receives as a
//! waterfall in the terminal, and says which documents the X-Ray service would reject.
//!
//! The binary listens on UDP like the daemon (`127.0.0.1:2000`, or `AWS_XRAY_DAEMON_ADDRESS`),
//! so any X-Ray SDK can send to it unchanged. The library is the same pipeline, for tests and
//! programs that want to show their own traces (the workspace's demo does):
//!
//! - [`datagram`]: the header line and the document, checked as the daemon and the service
//!   would (AWS's schema and the rules it leaves out);
//! - [`assemble`]: documents into traces, in any arrival order, split across datagrams, with
//!   in-progress documents replaced by finished ones and Lambda's missing facade parent;
//! - [`render`]: a trace as a text waterfall;
//! - [`listen`]: the UDP socket and the address to bind;
//! - [`record`]: datagrams as JSON lines, written and read back.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use xray_view::{RenderOptions, Viewer};
//!
//! let mut viewer = Viewer::new(RenderOptions::default())?;
//! let datagram = concat!(
//!     "{\"format\":\"json\",\"version\":1}\n",
//!     "{\"name\":\"checkout\",\"id\":\"70de5b6f19ff9a0a\",\"trace_id\":\"1-581cf771-a006649127e371903a2de979\",",
//!     "\"start_time\":1478293361.271,\"end_time\":1478293361.449}"
//! );
//! let now = Instant::now();
//! assert_eq!(viewer.receive(datagram.as_bytes(), now), None);
//! let text = viewer.ready(now, Duration::from_secs(2));
//! assert!(text.contains("checkout"));
//! assert!(text.contains("178.000 ms"));
//! assert_eq!(viewer.refused(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod assemble;
pub mod datagram;
pub mod listen;
pub mod record;
pub mod render;

use std::time::{Duration, Instant};

pub use assemble::{Assembler, Entity, Kind, Status, Trace, Unplaced};
pub use datagram::{Checked, Checker, Datagram, Problem, SchemaError, Stage};
pub use listen::{Listener, listen_address};
pub use render::RenderOptions;

/// The whole pipeline: check each datagram, gather traces, draw the ones that are ready.
#[derive(Debug)]
pub struct Viewer {
    checker: Checker,
    assembler: Assembler,
    options: RenderOptions,
    refused: u64,
    traces_shown: u64,
}

impl Viewer {
    /// A viewer drawing with `options`.
    pub fn new(options: RenderOptions) -> Result<Self, SchemaError> {
        Ok(Self {
            checker: Checker::new()?,
            assembler: Assembler::new(),
            options,
            refused: 0,
            traces_shown: 0,
        })
    }

    /// Takes one datagram received at `now`. Returns the text to show at once when it belongs
    /// to no trace (it has no readable document, or no trace id); otherwise its trace is shown
    /// by [`Viewer::ready`] or [`Viewer::finish`].
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> Option<String> {
        self.take(bytes, None, now)
    }

    /// As [`Viewer::receive`], and also checks the date in the trace id against
    /// [`Datagram::received_at`] (the service refuses trace ids older than about 30 days).
    pub fn receive_datagram(&mut self, datagram: &Datagram, now: Instant) -> Option<String> {
        self.take(&datagram.bytes, datagram.received_at, now)
    }

    fn take(
        &mut self,
        bytes: &[u8],
        received_at: Option<std::time::SystemTime>,
        now: Instant,
    ) -> Option<String> {
        let checked = self.checker.check_received(bytes, received_at);
        if !checked.is_accepted() {
            self.refused += 1;
        }
        self.assembler
            .add(checked, bytes, now)
            .map(|u| render::unplaced(&u, &self.options))
    }

    /// The waterfalls of the traces ready at `now` (complete, or quiet for `timeout`), each
    /// followed by a blank line; empty when none is.
    pub fn ready(&mut self, now: Instant, timeout: Duration) -> String {
        let traces = self.assembler.take_ready(now, timeout);
        self.draw(traces)
    }

    /// The waterfalls of every trace not shown yet, complete or not: the input has ended.
    pub fn finish(&mut self) -> String {
        let traces = self.assembler.take_all();
        self.draw(traces)
    }

    fn draw(&mut self, traces: Vec<Trace>) -> String {
        let mut out = String::new();
        for t in traces {
            self.traces_shown += 1;
            out.push_str(&render::trace(&t, &self.options));
            out.push('\n');
        }
        out
    }

    /// Datagrams received so far.
    pub fn datagrams(&self) -> u64 {
        self.assembler.datagrams()
    }

    /// Datagrams the daemon or the service would refuse.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Traces drawn so far (a trace drawn again after late documents counts again).
    pub fn traces_shown(&self) -> u64 {
        self.traces_shown
    }

    /// Traces received but not drawn yet.
    pub fn pending(&self) -> usize {
        self.assembler.pending()
    }
}
