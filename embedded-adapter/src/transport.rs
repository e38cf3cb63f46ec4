//! The UDP transport: datagrams written straight into an embassy-net socket's transmit buffer.

use crate::fmt::{log_debug, log_warn};
use core::task::{Context, Poll, Waker};
use embassy_net::IpEndpoint;
use embassy_net::udp::{SendError, UdpSocket};
use embassy_time::{Duration, with_timeout};
use xray_core::Transport;

use crate::async_transport::AsyncTransport;

/// What a transport has done: every datagram is either sent or counted in one drop counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct TransportStats {
    /// Datagrams handed to the network stack.
    pub sent: u32,
    /// Bytes handed to the network stack.
    pub bytes: u64,
    /// Dropped: larger than the socket's transmit buffer can ever hold.
    pub too_large: u32,
    /// Dropped: no route to the daemon (link down, no address yet).
    pub no_route: u32,
    /// Dropped: the socket is not bound.
    pub not_bound: u32,
    /// Dropped: the transmit buffer stayed full for longer than the send timeout.
    pub timed_out: u32,
    /// Dropped: the transmit buffer was full when a synchronous send ([`Transport`]) came.
    pub buffer_full: u32,
}

impl TransportStats {
    /// Datagrams dropped, for whatever reason.
    pub fn dropped(&self) -> u32 {
        self.too_large + self.no_route + self.not_bound + self.timed_out + self.buffer_full
    }
}

/// A transport over an embassy-net [`UdpSocket`], sending to the X-Ray daemon (or a collector)
/// at a fixed endpoint. It is both:
///
/// - a synchronous [`Transport`], so the recorder can end entities straight into it: each
///   datagram is copied from the recorder's buffer into the socket's transmit buffer at once,
///   with no queue in between, and the network stack's task sends it. It never waits: when the
///   transmit buffer is full the datagram is dropped and counted in
///   [`TransportStats::buffer_full`], so size that buffer (and its packet metadata) for the
///   datagrams one trace sends in a burst;
/// - an [`AsyncTransport`] through [`UdpSocket::send_to_with`], which waits for room in the
///   transmit buffer up to the send timeout (default 100 ms). [`EmbassyUdpTransport::send_with`]
///   hands that buffer to an encoder that writes the datagram there itself.
///
/// Sends are best effort: errors are counted in [`TransportStats`], never returned.
pub struct EmbassyUdpTransport<'a> {
    socket: UdpSocket<'a>,
    remote: IpEndpoint,
    timeout: Duration,
    stats: TransportStats,
}

impl<'a> EmbassyUdpTransport<'a> {
    /// A transport sending to `remote` (usually the daemon, port 2000) through `socket`.
    ///
    /// An unbound socket is bound to an ephemeral local port; if that fails, sends are
    /// counted in [`TransportStats::not_bound`].
    pub fn new(mut socket: UdpSocket<'a>, remote: impl Into<IpEndpoint>) -> Self {
        if socket.endpoint().port == 0 && socket.bind(0).is_err() {
            log_warn!("xray: could not bind the UDP socket");
        }
        Self {
            socket,
            remote: remote.into(),
            timeout: Duration::from_millis(100),
            stats: TransportStats::default(),
        }
    }

    /// Sets how long a send may wait for room in the transmit buffer before the datagram is
    /// dropped (and counted in [`TransportStats::timed_out`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where datagrams go.
    pub fn remote(&self) -> IpEndpoint {
        self.remote
    }

    /// Changes where datagrams go (for a daemon address learned later, e.g. over DHCP).
    pub fn set_remote(&mut self, remote: impl Into<IpEndpoint>) {
        self.remote = remote.into();
    }

    /// What the transport has done so far.
    pub fn stats(&self) -> TransportStats {
        self.stats
    }

    /// The socket.
    pub fn socket(&self) -> &UdpSocket<'a> {
        &self.socket
    }

    /// Gives the socket back.
    pub fn into_socket(self) -> UdpSocket<'a> {
        self.socket
    }

    /// Sends one datagram of at most `max_len` bytes that `encode` writes straight into the
    /// socket's transmit buffer; `encode` returns how many bytes it wrote (0 sends nothing
    /// useful, so return the length of what is there). Returns whether the datagram went to
    /// the network stack.
    pub async fn send_with<F>(&mut self, max_len: usize, encode: F) -> bool
    where
        F: FnOnce(&mut [u8]) -> usize,
    {
        let remote = self.remote;
        let send = self.socket.send_to_with(max_len, remote, |buf| {
            let n = encode(buf).min(buf.len());
            (n, n)
        });
        match with_timeout(self.timeout, send).await {
            Ok(Ok(n)) => {
                self.stats.sent += 1;
                self.stats.bytes += n as u64;
                log_debug!("xray: sent {} bytes", n);
                true
            }
            Ok(Err(e)) => {
                match e {
                    SendError::PacketTooLarge => self.stats.too_large += 1,
                    SendError::NoRoute => self.stats.no_route += 1,
                    SendError::SocketNotBound => self.stats.not_bound += 1,
                }
                log_warn!("xray: datagram dropped: {}", e);
                false
            }
            Err(_) => {
                self.stats.timed_out += 1;
                log_warn!("xray: datagram dropped: transmit buffer full");
                false
            }
        }
    }
}

impl AsyncTransport for EmbassyUdpTransport<'_> {
    async fn send(&mut self, datagram: &[u8]) {
        self.send_with(datagram.len(), |buf| match buf.get_mut(..datagram.len()) {
            Some(dst) => {
                dst.copy_from_slice(datagram);
                datagram.len()
            }
            None => 0,
        })
        .await;
    }
}

impl Transport for EmbassyUdpTransport<'_> {
    /// Copies the datagram into the socket's transmit buffer now, or counts it as dropped.
    fn send(&mut self, datagram: &[u8]) {
        // A no-op waker: this call never waits, so it needs no wake-up when room appears.
        let mut cx = Context::from_waker(Waker::noop());
        match self.socket.poll_send_to(datagram, self.remote, &mut cx) {
            Poll::Ready(Ok(())) => {
                self.stats.sent += 1;
                self.stats.bytes += datagram.len() as u64;
                log_debug!("xray: queued {} bytes in the socket", datagram.len());
            }
            Poll::Ready(Err(e)) => {
                match e {
                    SendError::PacketTooLarge => self.stats.too_large += 1,
                    SendError::NoRoute => self.stats.no_route += 1,
                    SendError::SocketNotBound => self.stats.not_bound += 1,
                }
                log_warn!("xray: datagram dropped: {}", e);
            }
            Poll::Pending => {
                self.stats.buffer_full += 1;
                log_warn!("xray: datagram dropped: transmit buffer full");
            }
        }
    }
}
