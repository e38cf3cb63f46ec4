//! The X-Ray daemon's address: the `AWS_XRAY_DAEMON_ADDRESS` format.
//!
//! The daemon listens for segment datagrams on UDP and serves the sampling proxy on TCP.
//! Both default to `127.0.0.1:2000`. The variable takes one of two forms:
//!
//! - `host:port`: the same address for UDP and TCP;
//! - `tcp:host:port udp:host:port` (either order, separated by any whitespace).
//!
//! `host` is an IPv4 address, a bracketed IPv6 address (`[::1]`) or a host name. The reference
//! SDKs reject IPv6 literals; we accept them in brackets, as in URLs. Parsing is pure: host
//! names are not resolved here (see [`Endpoint::resolve`]).

use core::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// The name of the environment variable holding the daemon address.
pub const DAEMON_ADDRESS_VAR: &str = "AWS_XRAY_DAEMON_ADDRESS";

/// The daemon's default port, for UDP and TCP.
pub const DEFAULT_PORT: u16 = 2000;

/// The longest host name accepted (DNS limit, without a trailing dot).
const MAX_HOST_NAME_LEN: usize = 253;

/// The longest value the parser looks at; longer values are rejected without scanning.
const MAX_VALUE_LEN: usize = 1024;

/// The host part of an [`Endpoint`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IP address literal (`127.0.0.1`, `[::1]`).
    Ip(IpAddr),
    /// A host name, resolved later by [`Endpoint::resolve`]. Stored as written.
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// One `host:port` address of the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The host: an IP literal or a host name.
    pub host: Host,
    /// The port (never 0 when parsed).
    pub port: u16,
}

impl Endpoint {
    /// An endpoint at an IP address.
    pub const fn ip(ip: IpAddr, port: u16) -> Self {
        Self {
            host: Host::Ip(ip),
            port,
        }
    }

    /// Parses one `host:port` (no `tcp:`/`udp:` prefix).
    ///
    /// ```
    /// use xray_std::daemon_address::{Endpoint, Host};
    /// let e = Endpoint::parse("[::1]:2000")?;
    /// assert_eq!(e.port, 2000);
    /// assert!(matches!(e.host, Host::Ip(ip) if ip.is_ipv6()));
    /// # Ok::<(), xray_std::DaemonAddressError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self, DaemonAddressError> {
        parse_endpoint(text).map_err(|kind| DaemonAddressError::new(text, kind))
    }

    /// Resolves the endpoint to one socket address.
    ///
    /// An IP literal needs no lookup. A host name goes through the system resolver (this may
    /// block); when it yields several addresses the first IPv4 one is taken, because the daemon
    /// binds `127.0.0.1` by default and `localhost` often resolves to `::1` first. Otherwise
    /// the first address is used.
    pub fn resolve(&self) -> io::Result<SocketAddr> {
        match &self.host {
            Host::Ip(ip) => Ok(SocketAddr::new(*ip, self.port)),
            Host::Name(name) => {
                let addrs: Vec<SocketAddr> =
                    (name.as_str(), self.port).to_socket_addrs()?.collect();
                addrs
                    .iter()
                    .find(|a| a.is_ipv4())
                    .or_else(|| addrs.first())
                    .copied()
                    .ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("daemon host {name:?} resolved to no address"),
                        )
                    })
            }
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl FromStr for Endpoint {
    type Err = DaemonAddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Where the daemon listens: UDP for segments, TCP for the sampling proxy.
///
/// ```
/// use xray_std::DaemonAddress;
/// let a = DaemonAddress::parse("tcp:127.0.0.1:3000 udp:127.0.0.2:2000")?;
/// assert_eq!(a.udp().to_string(), "127.0.0.2:2000");
/// assert_eq!(a.tcp().to_string(), "127.0.0.1:3000");
/// assert_eq!(DaemonAddress::default().to_string(), "127.0.0.1:2000");
/// # Ok::<(), xray_std::DaemonAddressError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DaemonAddress {
    udp: Endpoint,
    tcp: Endpoint,
}

impl Default for DaemonAddress {
    /// `127.0.0.1:2000` for both UDP and TCP.
    fn default() -> Self {
        let e = Endpoint::ip(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT);
        Self {
            udp: e.clone(),
            tcp: e,
        }
    }
}

impl DaemonAddress {
    /// A daemon address from its two endpoints.
    pub fn new(udp: Endpoint, tcp: Endpoint) -> Self {
        Self { udp, tcp }
    }

    /// The same endpoint for UDP and TCP.
    pub fn same(endpoint: Endpoint) -> Self {
        Self {
            udp: endpoint.clone(),
            tcp: endpoint,
        }
    }

    /// Parses an `AWS_XRAY_DAEMON_ADDRESS` value.
    ///
    /// Leading and trailing whitespace is ignored. Never panics; an invalid value gives a
    /// [`DaemonAddressError`] that names the variable and the value.
    pub fn parse(text: &str) -> Result<Self, DaemonAddressError> {
        parse_address(text).map_err(|kind| DaemonAddressError::new(text, kind))
    }

    /// The UDP endpoint, where segment datagrams go.
    pub fn udp(&self) -> &Endpoint {
        &self.udp
    }

    /// The TCP endpoint, where the sampling proxy listens.
    pub fn tcp(&self) -> &Endpoint {
        &self.tcp
    }
}

impl fmt::Display for DaemonAddress {
    /// The canonical `AWS_XRAY_DAEMON_ADDRESS` form; it parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A host named `tcp` or `udp` would read as a protocol prefix in the one-part form.
        let prefix_like = matches!(&self.udp.host, Host::Name(n) if n.eq_ignore_ascii_case("tcp") || n.eq_ignore_ascii_case("udp"));
        if self.udp == self.tcp && !prefix_like {
            write!(f, "{}", self.udp)
        } else {
            write!(f, "tcp:{} udp:{}", self.tcp, self.udp)
        }
    }
}

impl FromStr for DaemonAddress {
    type Err = DaemonAddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Why a daemon address did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DaemonAddressErrorKind {
    /// The value is empty or only whitespace.
    Empty,
    /// The value is longer than the parser accepts (1024 bytes).
    TooLong,
    /// More than two whitespace-separated parts.
    TooManyParts,
    /// Two parts, but not one `tcp:` and one `udp:`.
    NeedTcpAndUdp,
    /// A single part carrying a `tcp:` or `udp:` prefix (the other protocol is missing).
    PrefixInSinglePart,
    /// No `:port` after the host.
    MissingPort,
    /// The port is not a number in 1..=65535.
    InvalidPort,
    /// The host is empty.
    EmptyHost,
    /// `[...]` does not hold an IPv6 address, or the bracket is not closed.
    InvalidIpv6,
    /// An IPv6 address without brackets (write `[::1]:2000`).
    UnbracketedIpv6,
    /// The host is neither an IPv4 address nor a valid host name.
    InvalidHost,
}

impl DaemonAddressErrorKind {
    fn describe(self) -> &'static str {
        match self {
            Self::Empty => "the value is empty",
            Self::TooLong => "the value is too long",
            Self::TooManyParts => "more than two whitespace-separated parts",
            Self::NeedTcpAndUdp => "two parts must be one tcp:host:port and one udp:host:port",
            Self::PrefixInSinglePart => {
                "a tcp: or udp: address needs the other one too (tcp:host:port udp:host:port)"
            }
            Self::MissingPort => "missing :port",
            Self::InvalidPort => "the port must be a number from 1 to 65535",
            Self::EmptyHost => "the host is empty",
            Self::InvalidIpv6 => "invalid bracketed IPv6 address",
            Self::UnbracketedIpv6 => "IPv6 addresses must be in brackets, as in [::1]:2000",
            Self::InvalidHost => "the host is not an IPv4 address or a valid host name",
        }
    }
}

/// An invalid daemon address. Its message names `AWS_XRAY_DAEMON_ADDRESS` and the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonAddressError {
    value: String,
    kind: DaemonAddressErrorKind,
}

impl DaemonAddressError {
    fn new(value: &str, kind: DaemonAddressErrorKind) -> Self {
        Self {
            value: crate::echo::echoed(value),
            kind,
        }
    }

    /// The rejected value, cut to [`MAX_ECHOED_CHARS`](crate::MAX_ECHOED_CHARS) characters
    /// (then followed by `...`).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What was wrong with it.
    pub fn kind(&self) -> DaemonAddressErrorKind {
        self.kind
    }
}

impl fmt::Display for DaemonAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {DAEMON_ADDRESS_VAR} value {:?}: {} (expected host:port or \"tcp:host:port udp:host:port\")",
            self.value,
            self.kind.describe()
        )
    }
}

impl std::error::Error for DaemonAddressError {}

fn parse_address(text: &str) -> Result<DaemonAddress, DaemonAddressErrorKind> {
    use DaemonAddressErrorKind as K;
    if text.len() > MAX_VALUE_LEN {
        return Err(K::TooLong);
    }
    let mut parts = text.split_whitespace();
    let (Some(first), second) = (parts.next(), parts.next()) else {
        return Err(K::Empty);
    };
    if parts.next().is_some() {
        return Err(K::TooManyParts);
    }
    let Some(second) = second else {
        if split_prefix(first).is_some() {
            return Err(K::PrefixInSinglePart);
        }
        return parse_endpoint(first).map(DaemonAddress::same);
    };
    let mut tcp = None;
    let mut udp = None;
    for part in [first, second] {
        match split_prefix(part) {
            Some((Proto::Tcp, rest)) if tcp.is_none() => tcp = Some(parse_endpoint(rest)?),
            Some((Proto::Udp, rest)) if udp.is_none() => udp = Some(parse_endpoint(rest)?),
            _ => return Err(K::NeedTcpAndUdp),
        }
    }
    match (udp, tcp) {
        (Some(udp), Some(tcp)) => Ok(DaemonAddress { udp, tcp }),
        _ => Err(K::NeedTcpAndUdp),
    }
}

enum Proto {
    Tcp,
    Udp,
}

/// Splits a `tcp:` / `udp:` prefix (ASCII case-insensitive).
fn split_prefix(part: &str) -> Option<(Proto, &str)> {
    let (head, rest) = (part.get(..4)?, part.get(4..)?);
    if head.eq_ignore_ascii_case("tcp:") {
        Some((Proto::Tcp, rest))
    } else if head.eq_ignore_ascii_case("udp:") {
        Some((Proto::Udp, rest))
    } else {
        None
    }
}

fn parse_endpoint(text: &str) -> Result<Endpoint, DaemonAddressErrorKind> {
    use DaemonAddressErrorKind as K;
    if text.len() > MAX_VALUE_LEN {
        return Err(K::TooLong);
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(K::Empty);
    }
    let (host, port) = if let Some(inner) = text.strip_prefix('[') {
        let (v6, after) = inner.split_once(']').ok_or(K::InvalidIpv6)?;
        let ip = Ipv6Addr::from_str(v6).map_err(|_| K::InvalidIpv6)?;
        let port = after.strip_prefix(':').ok_or(K::MissingPort)?;
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (host, port) = text.rsplit_once(':').ok_or(K::MissingPort)?;
        if host.contains(':') {
            return Err(if Ipv6Addr::from_str(host).is_ok() || host.contains("::") {
                K::UnbracketedIpv6
            } else {
                K::InvalidHost
            });
        }
        (parse_host(host)?, port)
    };
    Ok(Endpoint {
        host,
        port: parse_port(port)?,
    })
}

fn parse_port(text: &str) -> Result<u16, DaemonAddressErrorKind> {
    // `u16::from_str` accepts a leading `+`; a port is digits only.
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DaemonAddressErrorKind::InvalidPort);
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(DaemonAddressErrorKind::InvalidPort),
        Ok(port) => Ok(port),
    }
}

fn parse_host(text: &str) -> Result<Host, DaemonAddressErrorKind> {
    use DaemonAddressErrorKind as K;
    if text.is_empty() {
        return Err(K::EmptyHost);
    }
    if let Ok(ip) = Ipv4Addr::from_str(text) {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    // Something that looks like an IPv4 address but is not one (`999.1.1.1`, `1.2.3`) is a
    // mistake, not a host name.
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(K::InvalidHost);
    }
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() || name.len() > MAX_HOST_NAME_LEN {
        return Err(K::InvalidHost);
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.split('.').all(label_ok) {
        Ok(Host::Name(text.to_owned()))
    } else {
        Err(K::InvalidHost)
    }
}

#[cfg(test)]
mod tests {
    use super::DaemonAddressErrorKind as K;
    use super::*;
    use proptest::prelude::*;

    fn kind(text: &str) -> DaemonAddressErrorKind {
        match DaemonAddress::parse(text) {
            Err(e) => e.kind(),
            Ok(a) => panic!("{text:?} parsed as {a:?}"),
        }
    }

    fn v4(a: [u8; 4], port: u16) -> Endpoint {
        Endpoint::ip(IpAddr::V4(Ipv4Addr::from(a)), port)
    }

    #[test]
    fn default_is_localhost_2000_for_both() {
        let d = DaemonAddress::default();
        assert_eq!(d.udp(), &v4([127, 0, 0, 1], 2000));
        assert_eq!(d.tcp(), d.udp());
    }

    #[test]
    fn single_part_sets_udp_and_tcp() {
        let a = DaemonAddress::parse("169.254.79.129:2000").unwrap();
        assert_eq!(a.udp(), &v4([169, 254, 79, 129], 2000));
        assert_eq!(a.tcp(), a.udp());
        let padded = DaemonAddress::parse("  10.0.0.1:2001\n").unwrap();
        assert_eq!(padded.udp(), &v4([10, 0, 0, 1], 2001));
    }

    #[test]
    fn two_parts_in_either_order_and_any_whitespace() {
        let want = DaemonAddress::new(v4([127, 0, 0, 2], 2000), v4([127, 0, 0, 1], 3000));
        for text in [
            "tcp:127.0.0.1:3000 udp:127.0.0.2:2000",
            "udp:127.0.0.2:2000 tcp:127.0.0.1:3000",
            "udp:127.0.0.2:2000\t \ttcp:127.0.0.1:3000",
            "UDP:127.0.0.2:2000 Tcp:127.0.0.1:3000",
        ] {
            assert_eq!(DaemonAddress::parse(text).unwrap(), want, "{text:?}");
        }
    }

    #[test]
    fn ipv6_in_brackets() {
        let a = DaemonAddress::parse("[::1]:2000").unwrap();
        assert_eq!(
            a.udp(),
            &Endpoint::ip(IpAddr::V6(Ipv6Addr::LOCALHOST), 2000)
        );
        let b = DaemonAddress::parse("tcp:[fe80::1]:3000 udp:[::1]:2000").unwrap();
        assert_eq!(b.tcp().port, 3000);
        assert_eq!(b.to_string(), "tcp:[fe80::1]:3000 udp:[::1]:2000");
    }

    #[test]
    fn host_names_are_kept_unresolved() {
        let a = DaemonAddress::parse("xray-daemon.internal:2000").unwrap();
        assert_eq!(a.udp().host, Host::Name("xray-daemon.internal".into()));
        let b = DaemonAddress::parse("tcp:localhost:2000 udp:my_daemon:2000").unwrap();
        assert_eq!(b.tcp().host, Host::Name("localhost".into()));
        assert_eq!(b.udp().host, Host::Name("my_daemon".into()));
        assert!(DaemonAddress::parse("daemon.example.:2000").is_ok());
    }

    #[test]
    fn rejects_invalid_values_with_a_reason() {
        assert_eq!(kind(""), K::Empty);
        assert_eq!(kind("   "), K::Empty);
        assert_eq!(kind("127.0.0.1"), K::MissingPort);
        assert_eq!(kind("127.0.0.1:"), K::InvalidPort);
        assert_eq!(kind("127.0.0.1:0"), K::InvalidPort);
        assert_eq!(kind("127.0.0.1:65536"), K::InvalidPort);
        assert_eq!(kind("127.0.0.1:+200"), K::InvalidPort);
        assert_eq!(kind("127.0.0.1:20 00"), K::NeedTcpAndUdp);
        assert_eq!(kind(":2000"), K::EmptyHost);
        assert_eq!(kind("::1:2000"), K::UnbracketedIpv6);
        assert_eq!(kind("[::1:2000"), K::InvalidIpv6);
        assert_eq!(kind("[not-v6]:2000"), K::InvalidIpv6);
        assert_eq!(kind("[::1]2000"), K::MissingPort);
        assert_eq!(kind("999.0.0.1:2000"), K::InvalidHost);
        assert_eq!(kind("bad host!:2000"), K::NeedTcpAndUdp);
        assert_eq!(kind("bad!:2000"), K::InvalidHost);
        assert_eq!(kind("-x.com:2000"), K::InvalidHost);
        assert_eq!(kind("a..b:2000"), K::InvalidHost);
        assert_eq!(kind("udp:127.0.0.1:2000"), K::PrefixInSinglePart);
        assert_eq!(kind("tcp:127.0.0.1:2000"), K::PrefixInSinglePart);
        assert_eq!(
            kind("udp:127.0.0.1:2000 udp:127.0.0.1:2001"),
            K::NeedTcpAndUdp
        );
        assert_eq!(kind("tcp:127.0.0.1:2000 127.0.0.1:2001"), K::NeedTcpAndUdp);
        assert_eq!(kind("tcp:a:1 udp:b:2 tcp:c:3"), K::TooManyParts);
        assert_eq!(kind("tcp:127.0.0.1:x udp:127.0.0.1:2000"), K::InvalidPort);
        assert_eq!(kind(&"a".repeat(2000)), K::TooLong);
    }

    #[test]
    fn error_message_names_variable_and_value() {
        let err = DaemonAddress::parse("localhost").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("AWS_XRAY_DAEMON_ADDRESS"), "{msg}");
        assert!(msg.contains("\"localhost\""), "{msg}");
        assert!(msg.contains("missing :port"), "{msg}");
        assert_eq!(err.value(), "localhost");
    }

    #[test]
    fn resolves_ip_literals_without_lookup() {
        let e = Endpoint::parse("[::1]:2000").unwrap();
        assert_eq!(
            e.resolve().unwrap(),
            "[::1]:2000".parse::<SocketAddr>().unwrap()
        );
        let e = Endpoint::parse("127.0.0.1:2000").unwrap();
        assert_eq!(
            e.resolve().unwrap(),
            "127.0.0.1:2000".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn resolves_localhost_preferring_ipv4() {
        // `localhost` is in every hosts file; this does not touch the network.
        let e = Endpoint::parse("localhost:2000").unwrap();
        let addr = e.resolve().unwrap();
        assert!(addr.ip().is_loopback());
        assert_eq!(addr.port(), 2000);
    }

    fn endpoint_strategy() -> impl Strategy<Value = Endpoint> {
        let host = prop_oneof![
            any::<[u8; 4]>().prop_map(|a| Host::Ip(IpAddr::V4(Ipv4Addr::from(a)))),
            any::<[u16; 8]>().prop_map(|a| Host::Ip(IpAddr::V6(Ipv6Addr::from(a)))),
            "[a-z][a-z0-9-]{0,10}[a-z0-9](\\.[a-z][a-z0-9_]{0,10}){0,3}".prop_map(Host::Name),
        ];
        (host, 1u16..).prop_map(|(host, port)| Endpoint { host, port })
    }

    proptest! {
        #[test]
        fn never_panics_on_any_input(s in "\\PC{0,80}") {
            let _ = DaemonAddress::parse(&s);
        }

        #[test]
        fn never_panics_on_address_like_input(s in "(tcp:|udp:|TCP:)?[\\[\\]0-9a-f:.x -]{0,40}") {
            if let Err(e) = DaemonAddress::parse(&s) {
                prop_assert!(e.to_string().contains(DAEMON_ADDRESS_VAR));
            }
        }

        #[test]
        fn display_round_trips(udp in endpoint_strategy(), tcp in endpoint_strategy(), same in any::<bool>()) {
            let a = if same { DaemonAddress::same(udp) } else { DaemonAddress::new(udp, tcp) };
            let text = a.to_string();
            prop_assert_eq!(DaemonAddress::parse(&text), Ok(a), "{}", text);
        }

        #[test]
        fn port_numbers_parse_exactly(port in 1u16..) {
            let a = DaemonAddress::parse(&format!("127.0.0.1:{port}")).unwrap();
            prop_assert_eq!(a.udp().port, port);
        }
    }

    #[test]
    fn hosts_named_like_a_prefix_round_trip() {
        // Found by the daemon_address fuzz target: `tcp:tcp:2000 udp:tcp:2000` was written
        // back as `tcp:2000`, which reads as a lone tcp: part.
        for text in ["tcp:tcp:2000 udp:tcp:2000", "tcp:UDP:2000 udp:UDP:2000"] {
            let a = DaemonAddress::parse(text).unwrap();
            assert_eq!(DaemonAddress::parse(&a.to_string()), Ok(a.clone()), "{a}");
        }
    }
}
