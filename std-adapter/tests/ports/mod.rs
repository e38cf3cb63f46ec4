//! Ports that nothing listens on, for tests of "the daemon (or metadata service) is absent".
//!
//! A port taken with `bind(…:0)` and closed again can be handed to a parallel test at once,
//! which then answers where this test expects silence. The ports here lie *below* the
//! kernel's ephemeral range, which `bind(…:0)` never hands out, and each test names its own,
//! so no other socket of the test suite can take one meanwhile.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener, UdpSocket};

/// The first port of the kernel's ephemeral range (`ip_local_port_range`), 32768 if unknown.
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A loopback port below the ephemeral range, `offset` ports down, on which neither TCP nor
/// UDP is bound right now. Give each test its own `offset` (1..=999). Panics (failing the
/// test loudly) if no such port can be found.
pub fn unused(offset: u16) -> SocketAddr {
    let low = ephemeral_low();
    assert!(
        (1..1000).contains(&offset) && low > 2000,
        "offset {offset}, ephemeral range from {low}"
    );
    // Try the named port, then a few further down, in case something outside the suite
    // holds it.
    for step in 0..16u16 {
        let Some(port) = (low - offset)
            .checked_sub(step * 1000)
            .filter(|p| *p > 1024)
        else {
            break;
        };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let free = TcpListener::bind(addr).is_ok() && UdpSocket::bind(addr).is_ok();
        if free {
            return addr;
        }
    }
    panic!("no unused loopback port found below {low} at offset {offset}")
}
