//! Sending datagrams to the X-Ray daemon over UDP.

use core::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use xray_core::{MAX_DATAGRAM_LEN, Transport};

use crate::config::Config;
use crate::daemon_address::DaemonAddress;

/// A best-effort UDP [`Transport`] to the X-Ray daemon.
///
/// - Sends go through one socket, bound once to an ephemeral port on the wildcard address of
///   the daemon's address family, non-blocking, connected to the daemon's address, and
///   reused for every send (a second, unconnected one stands by: see below). A connected socket sends with `send`, which reuses the route the kernel found when
///   connecting, where `send_to` looks it up again for every datagram (a tenth of a loopback
///   send's time; `scripts/bench-request.sh` measures both).
/// - A daemon that is not listening makes the kernel report ICMP "port unreachable" on the
///   next send of a connected socket; that send is tried once more, so the datagram still
///   goes out and nothing is counted or printed. A missing daemon costs that second system
///   call; datagrams are simply lost, as with any UDP.
/// - When the connected socket cannot send but an unconnected one can (the host's address or
///   its route changed after connecting: a connected socket keeps the source address it
///   got), the transport sends from a second, unconnected socket with `send_to` from then on,
///   and logs it once. Where connecting fails at start, it does so from the start.
/// - A send never blocks and never fails the caller. Datagrams larger than the limit
///   (65,507 bytes, or lower with [`UdpTransport::with_max_datagram_len`]), datagrams the OS
///   refuses as too large (`EMSGSIZE`, e.g. macOS's 9,216-byte default), sends that would
///   block (full socket buffer) and other send errors are dropped and counted.
/// - Counters are atomics shared by all clones; read them with [`UdpTransport::stats`].
///
/// Cloning is cheap and shares the socket and the counters, so each thread or task can own a
/// clone. `&UdpTransport` is a `Transport` too.
///
/// # Address resolution
///
/// The daemon's host name is resolved once, when the transport is built, and never again. On
/// Lambda, ECS and EC2 the daemon address is an IP literal or a name that does not move while
/// the process lives. If yours can move, build a new transport (for example on a timer) and
/// swap it in; the old clones keep working until dropped.
///
/// ```
/// use xray_std::core::Transport;
/// use xray_std::UdpTransport;
///
/// // Nothing listens on this port: sending is still fine.
/// let mut transport = UdpTransport::new("127.0.0.1:9".parse().unwrap())?;
/// transport.send(b"{\"format\":\"json\",\"version\":1}\n{}");
/// let stats = transport.stats();
/// assert_eq!(stats.sent + stats.dropped(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct UdpTransport {
    inner: Arc<Inner>,
}

struct Inner {
    /// Connected to `target`, if connecting worked.
    connected: Option<UdpSocket>,
    /// Sends with `send_to`: used while `use_connected` is false.
    unconnected: UdpSocket,
    /// Whether sends go through `connected` (cleared for good once it fails where
    /// `unconnected` does not).
    use_connected: AtomicBool,
    target: SocketAddr,
    max_len: AtomicUsize,
    counters: Counters,
    warned_oversize: AtomicBool,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    bytes: AtomicU64,
    oversize: AtomicU64,
    would_block: AtomicU64,
    errors: AtomicU64,
}

/// A snapshot of a [`UdpTransport`]'s counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportStats {
    /// Datagrams handed to the OS in full.
    pub sent: u64,
    /// Bytes in those datagrams.
    pub bytes_sent: u64,
    /// Datagrams dropped as too large: over the transport's limit, or refused by the OS with
    /// `EMSGSIZE`.
    pub dropped_oversize: u64,
    /// Datagrams dropped because the socket's send buffer was full (`WouldBlock`).
    pub dropped_would_block: u64,
    /// Datagrams dropped for any other send error (no route, network down, ...).
    pub dropped_error: u64,
}

impl TransportStats {
    /// All dropped datagrams.
    pub fn dropped(&self) -> u64 {
        self.dropped_oversize + self.dropped_would_block + self.dropped_error
    }
}

impl UdpTransport {
    /// A transport sending to `target`.
    ///
    /// Binds two non-blocking sockets on ephemeral ports of `0.0.0.0` (or `[::]` for an IPv6
    /// target): one connected to `target`, which sends while it can, and one unconnected,
    /// used when connecting fails (no route yet) or the connected one stops sending (see the
    /// type's docs). Fails only if the OS gives no socket.
    pub fn new(target: SocketAddr) -> io::Result<Self> {
        let unconnected = bound_socket(target)?;
        // Failing to connect (no route yet) is not fatal: `send_to` finds the route per send.
        let connected = match bound_socket(target).and_then(|s| s.connect(target).map(|()| s)) {
            Ok(socket) => Some(socket),
            Err(e) => {
                log::debug!(
                    "X-Ray: cannot connect a UDP socket to {target} ({e}); sending unconnected"
                );
                None
            }
        };
        let transport = Self {
            inner: Arc::new(Inner {
                use_connected: AtomicBool::new(connected.is_some()),
                connected,
                unconnected,
                target,
                max_len: AtomicUsize::new(MAX_DATAGRAM_LEN),
                counters: Counters::default(),
                warned_oversize: AtomicBool::new(false),
            }),
        };
        log::debug!(
            "X-Ray: UDP transport from {:?} to {target}",
            transport.local_addr().ok()
        );
        Ok(transport)
    }

    /// A transport to the UDP endpoint of `address`, resolving a host name once, now.
    pub fn from_daemon_address(address: &DaemonAddress) -> io::Result<Self> {
        Self::new(address.udp().resolve()?)
    }

    /// A transport to the daemon named in `config` (`AWS_XRAY_DAEMON_ADDRESS`).
    pub fn from_config(config: &Config) -> io::Result<Self> {
        Self::from_daemon_address(&config.daemon_address)
    }

    /// Lowers the largest datagram sent (clamped to 1..=65,507); larger ones are dropped and
    /// counted as oversize. The limit is shared by all clones.
    ///
    /// Use it where the OS limit is lower than UDP's (macOS: `net.inet.udp.maxdgram`), and
    /// give the recorder the same budget so that it streams smaller pieces instead.
    pub fn with_max_datagram_len(self, max_len: usize) -> Self {
        self.inner
            .max_len
            .store(max_len.clamp(1, MAX_DATAGRAM_LEN), Ordering::Relaxed);
        self
    }

    /// Where datagrams go.
    pub fn target(&self) -> SocketAddr {
        self.inner.target
    }

    /// The local address datagrams are sent from: the connected socket's (a concrete source
    /// address), or the unconnected one's (the wildcard address) once sends have moved there.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket().local_addr()
    }

    /// The largest datagram this transport sends.
    pub fn max_datagram_len(&self) -> usize {
        self.inner.max_len.load(Ordering::Relaxed)
    }

    /// The counters so far (shared by all clones).
    pub fn stats(&self) -> TransportStats {
        let c = &self.inner.counters;
        TransportStats {
            sent: c.sent.load(Ordering::Relaxed),
            bytes_sent: c.bytes.load(Ordering::Relaxed),
            dropped_oversize: c.oversize.load(Ordering::Relaxed),
            dropped_would_block: c.would_block.load(Ordering::Relaxed),
            dropped_error: c.errors.load(Ordering::Relaxed),
        }
    }

    /// Sends one datagram, best effort. The same as [`Transport::send`], through `&self`.
    pub fn send_datagram(&self, datagram: &[u8]) {
        let inner = &*self.inner;
        let max_len = inner.max_len.load(Ordering::Relaxed);
        let outcome = if datagram.len() > max_len {
            SendOutcome::Oversize
        } else {
            inner.send(datagram)
        };
        let c = &inner.counters;
        match outcome {
            SendOutcome::Sent => {
                c.sent.fetch_add(1, Ordering::Relaxed);
                c.bytes.fetch_add(datagram.len() as u64, Ordering::Relaxed);
            }
            SendOutcome::Oversize => {
                c.oversize.fetch_add(1, Ordering::Relaxed);
                if !inner.warned_oversize.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "X-Ray: dropped a {}-byte datagram as too large (limit {max_len}); lower \
                         the recorder's datagram budget (reported once)",
                        datagram.len()
                    );
                }
            }
            SendOutcome::WouldBlock => {
                c.would_block.fetch_add(1, Ordering::Relaxed);
                log::debug!("X-Ray: UDP send buffer full; datagram dropped");
            }
            SendOutcome::Error => {
                c.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A UDP socket on an ephemeral port of the wildcard address of `target`'s family,
/// non-blocking.
fn bound_socket(target: SocketAddr) -> io::Result<UdpSocket> {
    let bind: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

impl Inner {
    /// The socket sends go through now.
    fn socket(&self) -> &UdpSocket {
        match &self.connected {
            Some(s) if self.use_connected.load(Ordering::Relaxed) => s,
            _ => &self.unconnected,
        }
    }

    /// Sends one datagram within the size limit and sorts the result.
    fn send(&self, datagram: &[u8]) -> SendOutcome {
        let Some(connected) = self
            .connected
            .as_ref()
            .filter(|_| self.use_connected.load(Ordering::Relaxed))
        else {
            return self.send_with(datagram, |d| self.unconnected.send_to(d, self.target));
        };
        let outcome = self.send_with(datagram, |d| connected.send(d));
        if outcome != SendOutcome::Error {
            return outcome;
        }
        // The connected socket's source address or route may be gone: an unconnected socket
        // picks both again for each datagram.
        let retry = self.send_with(datagram, |d| self.unconnected.send_to(d, self.target));
        if retry == SendOutcome::Sent && self.use_connected.swap(false, Ordering::Relaxed) {
            log::warn!(
                "X-Ray: the UDP socket connected to {} stopped sending (the host's address or \
                 route changed?); sending from an unconnected socket from now on",
                self.target
            );
        }
        retry
    }

    /// One send with `send`, tried once more after an earlier datagram's ICMP error.
    fn send_with(&self, datagram: &[u8], send: impl Fn(&[u8]) -> io::Result<usize>) -> SendOutcome {
        let mut result = send(datagram);
        if let Err(e) = &result
            && matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
            )
        {
            // A connected socket reports an earlier datagram's ICMP error ("port
            // unreachable": the daemon was not listening) on a later send, and so does
            // Windows even for unconnected sockets. The error was consumed; the datagram was
            // not sent: try once more.
            result = send(datagram);
        }
        let outcome = classify(&result, datagram.len());
        if outcome == SendOutcome::Error {
            log::debug!("X-Ray: UDP send to {} failed: {result:?}", self.target);
        }
        outcome
    }
}

/// What became of one send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendOutcome {
    Sent,
    Oversize,
    WouldBlock,
    Error,
}

/// Sorts a `send_to` result for the counters.
fn classify(result: &io::Result<usize>, len: usize) -> SendOutcome {
    match result {
        Ok(n) if *n == len => SendOutcome::Sent,
        // UDP sends whole datagrams; a short count would be an OS oddity.
        Ok(_) => SendOutcome::Error,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => SendOutcome::WouldBlock,
        Err(e) if is_message_too_long(e) => SendOutcome::Oversize,
        Err(_) => SendOutcome::Error,
    }
}

/// `EMSGSIZE`. std has no stable `ErrorKind` for it, so it is recognised by its raw code
/// (90 on Linux, 40 on macOS and the BSDs, `WSAEMSGSIZE` 10040 on Windows).
fn is_message_too_long(e: &io::Error) -> bool {
    let emsgsize = if cfg!(target_os = "linux") || cfg!(target_os = "android") {
        90
    } else if cfg!(windows) {
        10040
    } else {
        40
    };
    e.raw_os_error() == Some(emsgsize)
}

impl Transport for UdpTransport {
    fn send(&mut self, datagram: &[u8]) {
        self.send_datagram(datagram);
    }
}

impl Transport for &UdpTransport {
    fn send(&mut self, datagram: &[u8]) {
        self.send_datagram(datagram);
    }
}

impl fmt::Debug for UdpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpTransport")
            .field("target", &self.inner.target)
            .field("local", &self.local_addr().ok())
            .field("max_datagram_len", &self.max_datagram_len())
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emsgsize_is_recognised_by_code() {
        let code = if cfg!(target_os = "linux") { 90 } else { 40 };
        assert!(is_message_too_long(&io::Error::from_raw_os_error(code)));
        assert!(!is_message_too_long(&io::Error::from(
            io::ErrorKind::WouldBlock
        )));
    }

    #[test]
    fn oversize_is_dropped_before_the_socket() {
        let t = UdpTransport::new("127.0.0.1:9".parse().unwrap()).unwrap();
        t.send_datagram(&vec![b'x'; MAX_DATAGRAM_LEN + 1]);
        let s = t.stats();
        assert_eq!((s.sent, s.dropped_oversize, s.dropped()), (0, 1, 1));
    }

    #[test]
    fn send_results_are_sorted_for_the_counters() {
        let emsgsize = if cfg!(target_os = "linux") { 90 } else { 40 };
        assert_eq!(classify(&Ok(10), 10), SendOutcome::Sent);
        assert_eq!(classify(&Ok(5), 10), SendOutcome::Error);
        assert_eq!(
            classify(&Err(io::ErrorKind::WouldBlock.into()), 10),
            SendOutcome::WouldBlock
        );
        assert_eq!(
            classify(&Err(io::Error::from_raw_os_error(emsgsize)), 10),
            SendOutcome::Oversize
        );
        assert_eq!(
            classify(&Err(io::ErrorKind::NetworkUnreachable.into()), 10),
            SendOutcome::Error
        );
    }

    #[test]
    fn lower_limit_is_clamped_shared_and_enforced() {
        let t = UdpTransport::new("127.0.0.1:9".parse().unwrap()).unwrap();
        assert_eq!(t.max_datagram_len(), MAX_DATAGRAM_LEN);
        let t = t.with_max_datagram_len(1_000_000);
        assert_eq!(t.max_datagram_len(), MAX_DATAGRAM_LEN);
        let clone = t.clone();
        let t = t.with_max_datagram_len(10);
        assert_eq!(clone.max_datagram_len(), 10);
        t.send_datagram(&[0u8; 11]);
        t.send_datagram(&[0u8; 10]);
        let s = clone.stats();
        assert_eq!((s.dropped_oversize, s.sent, s.bytes_sent), (1, 1, 10));
    }
}
