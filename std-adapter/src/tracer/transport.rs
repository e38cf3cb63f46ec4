//! Where a tracer's datagrams go: a transport shared by every request.

use std::sync::{Mutex, PoisonError};

use xray_core::Transport;

use crate::udp_transport::UdpTransport;

/// A transport that many threads can send through at once.
///
/// The core's [`Transport`] takes `&mut self`; a tracer shares one transport between every
/// request, so it needs `&self`. Any `Transport` behind a [`Mutex`] is one; a UDP socket that
/// sends with `&self` can implement this directly and avoid the lock.
///
/// The contract is the core's: best effort, never block for long, never fail the caller. A
/// transport that panics anyway does not take the tracer down: the trace being sent is
/// abandoned and counted ([`TracerStats::panics`](crate::TracerStats::panics)), its recorder
/// is reset and reused, and a send made while a request handle is dropped never lets the
/// panic out of `drop`.
pub trait SharedTransport: Send + Sync {
    /// Sends one datagram, best effort: failures are counted by the transport, not returned.
    fn send_shared(&self, datagram: &[u8]);
}

impl<T: Transport + Send> SharedTransport for Mutex<T> {
    fn send_shared(&self, datagram: &[u8]) {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(datagram);
    }
}

impl SharedTransport for UdpTransport {
    fn send_shared(&self, datagram: &[u8]) {
        self.send_datagram(datagram);
    }
}

/// Adapts a [`SharedTransport`] to the core's `&mut self` [`Transport`].
pub(crate) struct ByRef<'a>(pub(crate) &'a dyn SharedTransport);

impl Transport for ByRef<'_> {
    fn send(&mut self, datagram: &[u8]) {
        self.0.send_shared(datagram);
    }
}
