//! `AWS_XRAY_DAEMON_ADDRESS` parsing (`xray_std::DaemonAddress::parse`, `Endpoint::parse`).
//!
//! Invariants checked, beyond "no panic":
//! - parse → format → parse is the identity, and the formatted value is canonical (formatting
//!   again gives the same text): `host:port` or `tcp:… udp:…` with one space;
//! - a parsed port is never 0; a parsed host name is 1..=253 bytes of DNS labels;
//! - the error names the value it was given;
//! - well-formed values built from parts (IPv4, bracketed IPv6, host names; either form and
//!   order, any prefix case, any whitespace between and around) parse to exactly those parts.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xray_std::DaemonAddress;
use xray_std::daemon_address::{Endpoint, Host};

#[derive(Arbitrary, Debug, Clone)]
enum HostPart {
    V4([u8; 4]),
    V6([u16; 8]),
    /// Labels mapped onto `[a-z0-9-]`, 1..=63 bytes each, not starting or ending with `-`.
    Name(Vec<(Vec<u8>, bool)>, bool),
}

impl HostPart {
    fn build(&self) -> Option<(String, Host)> {
        match self {
            HostPart::V4(b) => {
                let ip = Ipv4Addr::from(*b);
                Some((ip.to_string(), Host::Ip(IpAddr::V4(ip))))
            }
            HostPart::V6(s) => {
                let ip = Ipv6Addr::from(*s);
                Some((format!("[{ip}]"), Host::Ip(IpAddr::V6(ip))))
            }
            HostPart::Name(labels, trailing_dot) => {
                const SET: &[u8] =
                    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
                let mut parts = Vec::new();
                for (bytes, letter_first) in labels.iter().take(8) {
                    let mut l: String = bytes
                        .iter()
                        .take(63)
                        .map(|b| char::from(SET[usize::from(*b) % SET.len()]))
                        .collect();
                    if l.is_empty() || *letter_first {
                        l.insert(0, 'h');
                        l.truncate(63);
                    }
                    if l.starts_with('-') || l.ends_with('-') {
                        l = l.trim_matches('-').to_owned();
                        if l.is_empty() {
                            l.push('x');
                        }
                    }
                    parts.push(l);
                }
                if parts.is_empty() {
                    parts.push("daemon".into());
                }
                let mut name = parts.join(".");
                // Not all digits and dots (that is an IPv4 mistake, rejected on purpose).
                if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                    // Replace, not insert: a label may already be 63 bytes long.
                    name.replace_range(..1, "h");
                }
                if name.len() > 253 {
                    return None;
                }
                if *trailing_dot {
                    name.push('.');
                }
                Some((name.clone(), Host::Name(name)))
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Built {
    udp: (HostPart, u16),
    tcp: Option<(HostPart, u16)>,
    tcp_first: bool,
    prefix_case: u8,
    spaces: [u8; 3],
}

fn ws(n: u8, at_least_one: bool) -> String {
    let set = [" ", "\t", "\n", "\r", "\u{3000}"];
    let count = usize::from(n % 3) + usize::from(at_least_one);
    (0..count)
        .map(|i| set[(usize::from(n) + i) % set.len()])
        .collect()
}

fn skip_known() -> bool {
    static SKIP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SKIP.get_or_init(|| std::env::var_os("XRAY_FUZZ_SKIP_KNOWN").is_some_and(|v| v == "1"))
}

/// Finding D1 (fuzz/README.md): one endpoint for both protocols whose host is named `tcp` or
/// `udp` formats as `tcp:2000`, which does not parse back. `XRAY_FUZZ_SKIP_KNOWN=1` looks past it.
fn known_d1(a: &DaemonAddress) -> bool {
    a.udp() == a.tcp()
        && matches!(&a.udp().host, Host::Name(n) if n.eq_ignore_ascii_case("tcp") || n.eq_ignore_ascii_case("udp"))
}

fn check_parsed(a: &DaemonAddress) {
    if skip_known() && known_d1(a) {
        return;
    }
    for e in [a.udp(), a.tcp()] {
        assert_ne!(e.port, 0, "port 0 accepted");
        if let Host::Name(n) = &e.host {
            let bare = n.strip_suffix('.').unwrap_or(n);
            assert!(!bare.is_empty() && bare.len() <= 253, "host name {n:?}");
            assert!(
                n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'),
                "host name {n:?}"
            );
        }
        let shown = e.to_string();
        assert_eq!(
            Endpoint::parse(&shown).as_ref(),
            Ok(e),
            "endpoint round trip via {shown:?}"
        );
    }
    let shown = a.to_string();
    let again = DaemonAddress::parse(&shown)
        .unwrap_or_else(|err| panic!("formatted {shown:?} does not parse: {err}"));
    assert_eq!(&again, a, "parse(format(a)) != a for {shown:?}");
    assert_eq!(again.to_string(), shown, "format is not canonical");
    assert!(shown.matches(' ').count() <= 1 && !shown.contains(['\t', '\n', '\r']));
}

fuzz_target!(|data: &[u8]| {
    // Raw text.
    let text = String::from_utf8_lossy(data);
    match DaemonAddress::parse(&text) {
        Ok(a) => check_parsed(&a),
        Err(e) => {
            // The value, cut after 1,024 characters (documented on `value()`).
            match text.char_indices().nth(1024) {
                Some((cut, _)) => assert_eq!(e.value(), format!("{}...", &text[..cut])),
                None => assert_eq!(e.value(), text.as_ref()),
            }
            let _ = e.to_string();
        }
    }
    if let Ok(e) = Endpoint::parse(&text) {
        check_parsed(&DaemonAddress::same(e));
    }

    // Well-formed values built from parts must parse to those parts.
    let mut u = Unstructured::new(data);
    let Ok(b) = Built::arbitrary(&mut u) else {
        return;
    };
    let Some((udp_text, udp_host)) = b.udp.0.build() else {
        return;
    };
    let udp_port = b.udp.1.max(1);
    let (lead, mid, tail) = (
        ws(b.spaces[0], false),
        ws(b.spaces[1], true),
        ws(b.spaces[2], false),
    );
    let (text, want) = match &b.tcp {
        // `udp:1` is a prefix without its pair, not host `udp` port 1: ambiguous, rejected.
        None if matches!(&udp_host, Host::Name(n) if n.eq_ignore_ascii_case("tcp") || n.eq_ignore_ascii_case("udp")) =>
        {
            return;
        }
        None => (
            format!("{lead}{udp_text}:{udp_port}{tail}"),
            DaemonAddress::same(Endpoint {
                host: udp_host,
                port: udp_port,
            }),
        ),
        Some((tcp_part, tcp_port)) => {
            let Some((tcp_text, tcp_host)) = tcp_part.build() else {
                return;
            };
            let tcp_port = (*tcp_port).max(1);
            let p = |s: &str, bit: u8| {
                if b.prefix_case & bit != 0 {
                    s.to_uppercase()
                } else {
                    s.to_owned()
                }
            };
            let (t, u) = (
                format!("{}{tcp_text}:{tcp_port}", p("tcp:", 1)),
                format!("{}{udp_text}:{udp_port}", p("udp:", 2)),
            );
            let body = if b.tcp_first {
                format!("{t}{mid}{u}")
            } else {
                format!("{u}{mid}{t}")
            };
            (
                format!("{lead}{body}{tail}"),
                DaemonAddress::new(
                    Endpoint {
                        host: udp_host,
                        port: udp_port,
                    },
                    Endpoint {
                        host: tcp_host,
                        port: tcp_port,
                    },
                ),
            )
        }
    };
    match DaemonAddress::parse(&text) {
        Ok(a) => {
            assert_eq!(a, want, "{text:?}");
            check_parsed(&a);
        }
        Err(e) => panic!("well-formed {text:?} rejected: {e}"),
    }
});
