//! [`AsyncTransport`]: the async side of sending, for a task that may wait for the network.

/// A transport that may wait for room in the network stack: what an [`Emitter`] task drains
/// its queue into. [`EmbassyUdpTransport`] is one.
///
/// The recorder never awaits: it ends entities into a synchronous
/// [`Transport`](xray_core::Transport) (the UDP transport itself, or the queue's
/// [`QueueTransport`]), and only the task on the other side of the queue uses this trait.
///
/// [`Emitter`]: crate::Emitter
/// [`EmbassyUdpTransport`]: crate::EmbassyUdpTransport
/// [`QueueTransport`]: crate::QueueTransport
pub trait AsyncTransport {
    /// Sends one complete datagram. Errors are counted, not returned.
    fn send(&mut self, datagram: &[u8]) -> impl core::future::Future<Output = ()>;
}
