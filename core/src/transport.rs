//! Where finished datagrams go.
//!
//! A datagram is one daemon header line, a newline and one segment document
//! ([`crate::DAEMON_HEADER`]). Transports are best effort: a send never fails the caller and
//! never blocks the request path. A transport that cannot deliver a datagram drops it and
//! counts the drop where the application can read it (the adapters' transports expose
//! counters); it does not report the failure back into the recording code.
//!
//! The recorder only ever sends synchronously. Async network stacks get their own trait in
//! their adapter (`xray_embassy::AsyncTransport`), fed from a queue the recorder fills.

/// A blocking (or queueing) transport.
///
/// Implementations must not block for long: a UDP `send_to` on an unconnected socket, or a copy
/// into a bounded queue drained by another task, are the intended shapes.
pub trait Transport {
    /// Hands one complete datagram to the network. Errors are counted, not returned.
    fn send(&mut self, datagram: &[u8]);
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn send(&mut self, datagram: &[u8]) {
        (**self).send(datagram)
    }
}

/// A transport that drops everything (for unsampled-only setups and measurements).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullTransport;

impl Transport for NullTransport {
    fn send(&mut self, _datagram: &[u8]) {}
}

/// A transport that copies each datagram into a fixed slice, for tests and for handing the
/// bytes to something else. Keeps the last datagram; counts every send.
#[derive(Debug)]
pub struct SliceTransport<'a> {
    buf: &'a mut [u8],
    len: usize,
    sent: u32,
    dropped: u32,
}

impl<'a> SliceTransport<'a> {
    /// A transport writing into `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self {
            buf,
            len: 0,
            sent: 0,
            dropped: 0,
        }
    }

    /// The last datagram received (empty if none).
    pub fn last(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// How many datagrams were stored.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    /// How many datagrams were larger than the slice and dropped.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

impl Transport for SliceTransport<'_> {
    fn send(&mut self, datagram: &[u8]) {
        match self.buf.get_mut(..datagram.len()) {
            Some(dst) => {
                dst.copy_from_slice(datagram);
                self.len = datagram.len();
                self.sent += 1;
            }
            None => self.dropped += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_transport_keeps_last_and_counts_drops() {
        let mut buf = [0u8; 8];
        let mut t = SliceTransport::new(&mut buf);
        t.send(b"abc");
        t.send(b"0123456789");
        assert_eq!(t.last(), b"abc");
        assert_eq!((t.sent(), t.dropped()), (1, 1));
    }
}
