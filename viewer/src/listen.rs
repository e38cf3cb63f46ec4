//! Receiving datagrams like the daemon: UDP, `127.0.0.1:2000` unless told otherwise.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime};

use xray_std::{DaemonAddress, DaemonAddressError};

use crate::datagram::Datagram;

/// Bytes read per datagram: the daemon's buffer, larger than any UDP datagram over IPv4.
pub const RECV_BUFFER_LEN: usize = 64 * 1024;

/// Where to listen: the address given (`--address`), else `AWS_XRAY_DAEMON_ADDRESS`, else
/// `127.0.0.1:2000`. Either is a daemon address (`host:port` or `tcp:h:p udp:h:p`, parsed by
/// `xray_std`'s parser); its UDP part is used, and a host name is resolved. The given address
/// may also be a socket address with port 0, for an ephemeral port.
pub fn listen_address(given: Option<&str>, env: Option<&str>) -> Result<SocketAddr, AddressError> {
    if let Some(addr) = given.and_then(|g| g.trim().parse::<SocketAddr>().ok()) {
        return Ok(addr);
    }
    let address = match (given, env.filter(|v| !v.trim().is_empty())) {
        (Some(text), _) => DaemonAddress::parse(text).map_err(AddressError::Flag)?,
        (None, Some(text)) => DaemonAddress::parse(text).map_err(AddressError::Env)?,
        (None, None) => DaemonAddress::default(),
    };
    address.udp().resolve().map_err(AddressError::Resolve)
}

/// Why the address to listen on is unusable.
#[derive(Debug)]
pub enum AddressError {
    /// The address given is not a daemon address.
    Flag(DaemonAddressError),
    /// `AWS_XRAY_DAEMON_ADDRESS` is not a daemon address.
    Env(DaemonAddressError),
    /// Its host name did not resolve.
    Resolve(io::Error),
}

impl std::fmt::Display for AddressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddressError::Flag(e) => {
                write!(f, "--address takes the AWS_XRAY_DAEMON_ADDRESS format: {e}")
            }
            AddressError::Env(e) => e.fmt(f),
            AddressError::Resolve(e) => write!(f, "cannot resolve the address to listen on: {e}"),
        }
    }
}

impl std::error::Error for AddressError {}

/// A UDP socket receiving segment datagrams.
#[derive(Debug)]
pub struct Listener {
    socket: UdpSocket,
    buf: Vec<u8>,
}

impl Listener {
    /// Binds `addr` (port 0 picks a free port; see [`Listener::local_addr`]).
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        Ok(Self {
            socket: UdpSocket::bind(addr)?,
            buf: vec![0; RECV_BUFFER_LEN],
        })
    }

    /// The address bound, to point `AWS_XRAY_DAEMON_ADDRESS` at.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Waits up to `wait` for one datagram; `Ok(None)` when none came.
    pub fn recv(&mut self, wait: Duration) -> io::Result<Option<Datagram>> {
        // A zero timeout means "block forever" to the socket.
        self.socket
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match self.socket.recv_from(&mut self.buf) {
            Ok((n, from)) => Ok(Some(Datagram {
                bytes: self.buf[..n].to_vec(),
                from: Some(from),
                received_at: Some(SystemTime::now()),
            })),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            // ICMP port unreachable from an earlier send shows up here on some systems.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_from_flag_then_env_then_default() {
        assert_eq!(
            listen_address(None, None).unwrap(),
            "127.0.0.1:2000".parse().unwrap()
        );
        assert_eq!(
            listen_address(None, Some("127.0.0.1:3000")).unwrap().port(),
            3000
        );
        assert_eq!(
            listen_address(Some("127.0.0.2:4000"), Some("127.0.0.1:3000")).unwrap(),
            "127.0.0.2:4000".parse().unwrap()
        );
        assert_eq!(
            listen_address(None, Some("tcp:127.0.0.1:2000 udp:127.0.0.1:2001"))
                .unwrap()
                .port(),
            2001
        );
        assert_eq!(listen_address(Some("127.0.0.1:0"), None).unwrap().port(), 0);
        let err = listen_address(Some("nonsense"), None).unwrap_err();
        assert!(err.to_string().starts_with("--address"), "{err}");
        let err = listen_address(None, Some("127.0.0.1:0")).unwrap_err();
        assert!(err.to_string().contains("AWS_XRAY_DAEMON_ADDRESS"), "{err}");
    }

    #[test]
    fn receives_on_loopback() {
        let mut l = Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(l.recv(Duration::from_millis(10)).unwrap(), None);
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(b"hello", l.local_addr().unwrap()).unwrap();
        let d = l.recv(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(d.bytes, b"hello");
        assert_eq!(d.from, Some(s.local_addr().unwrap()));
    }
}
