//! `UdpTransport` against real sockets on the loopback interface: delivery, the size limit,
//! a port nobody listens on, sharing across threads, host name resolution and IPv6; and, in a
//! network namespace of its own, a source address that goes away after connecting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ports;

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use xray_core::{MAX_DATAGRAM_LEN, Transport};
use xray_std::{Config, DaemonAddress, UdpTransport};

const HEADER: &[u8] = b"{\"format\":\"json\",\"version\":1}\n";

/// A stand-in daemon: a UDP socket on loopback. Fails the test if `addr` cannot be bound.
fn listener(addr: &str) -> UdpSocket {
    UdpSocket::bind(addr).unwrap_or_else(|e| panic!("cannot bind {addr}: {e}"))
}

/// Receives exactly `n` datagrams, with their sources, waiting for each as long as it takes
/// on a loaded machine; fails the test if one has not come within 30 s.
fn receive(socket: &UdpSocket, n: usize) -> Vec<(Vec<u8>, SocketAddr)> {
    socket.set_nonblocking(false).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = vec![0u8; 70_000];
    (0..n)
        .map(|i| match socket.recv_from(&mut buf) {
            Ok((len, from)) => (buf[..len].to_vec(), from),
            Err(e) => panic!("datagram {i} of {n} did not arrive: {e}"),
        })
        .collect()
}

/// Every datagram queued on `socket` right now, without waiting: after [`receive`] has taken
/// the expected ones, anything here is one too many.
fn extra(socket: &UdpSocket) -> usize {
    socket.set_nonblocking(true).unwrap();
    let mut buf = vec![0u8; 70_000];
    // Bounded: a socket's queue holds far fewer.
    (0..10_000)
        .take_while(|_| socket.recv_from(&mut buf).is_ok())
        .count()
}

fn datagram(i: usize) -> Vec<u8> {
    let mut d = HEADER.to_vec();
    d.extend_from_slice(format!("{{\"n\":{i}}}").as_bytes());
    d
}

#[test]
fn delivers_every_datagram_from_one_reused_socket() {
    let daemon = listener("127.0.0.1:0");
    let mut transport = UdpTransport::new(daemon.local_addr().unwrap()).unwrap();
    let local = transport.local_addr().unwrap();
    // Connected: the kernel chose a concrete source address, not the wildcard.
    assert_eq!(local.ip(), Ipv4Addr::LOCALHOST);
    let sent: Vec<Vec<u8>> = (0..20).map(datagram).collect();
    for d in &sent {
        transport.send(d);
    }
    let got = receive(&daemon, sent.len());
    assert_eq!(extra(&daemon), 0);
    for ((bytes, from), want) in got.iter().zip(&sent) {
        assert_eq!(bytes, want);
        assert_eq!(from.port(), local.port(), "one socket for every send");
    }
    let stats = transport.stats();
    assert_eq!(stats.sent, 20);
    assert_eq!(
        stats.bytes_sent,
        sent.iter().map(|d| d.len() as u64).sum::<u64>()
    );
    assert_eq!(stats.dropped(), 0);
}

#[test]
fn largest_datagram_is_delivered_and_one_byte_more_is_dropped() {
    let daemon = listener("127.0.0.1:0");
    let mut transport = UdpTransport::new(daemon.local_addr().unwrap()).unwrap();
    let mut max = HEADER.to_vec();
    max.resize(MAX_DATAGRAM_LEN, b' ');
    transport.send(&max);
    let mut over = max.clone();
    over.push(b' ');
    transport.send(&over);

    let got = receive(&daemon, 1);
    assert_eq!(extra(&daemon), 0, "only the legal datagram arrives");
    assert_eq!(got[0].0.len(), MAX_DATAGRAM_LEN);
    let stats = transport.stats();
    assert_eq!((stats.sent, stats.bytes_sent), (1, MAX_DATAGRAM_LEN as u64));
    assert_eq!((stats.dropped_oversize, stats.dropped()), (1, 1));
}

#[test]
fn a_port_nobody_listens_on_is_not_an_error_and_sending_resumes_later() {
    // A port below the ephemeral range, so no parallel test can take it meanwhile.
    let target = ports::unused(31);
    let mut transport = UdpTransport::new(target).unwrap();
    for i in 0..50 {
        transport.send(&datagram(i));
        if i % 10 == 0 {
            // Leave time for ICMP "port unreachable" to come back between sends.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let stats = transport.stats();
    assert_eq!(stats.sent + stats.dropped(), 50, "{stats:?}");
    assert_eq!(stats.dropped_oversize, 0);
    if cfg!(target_os = "linux") {
        // The connected socket reports "port unreachable" on the send after one that found
        // nobody; that send is tried again and goes out: every send succeeds locally.
        assert_eq!(stats.sent, 50, "{stats:?}");
    }

    // A daemon that starts later on that port receives the next datagrams.
    let daemon = listener(&target.to_string());
    transport.send(&datagram(99));
    let got = receive(&daemon, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, datagram(99));
}

#[test]
fn clones_on_several_threads_share_the_socket_and_the_counters() {
    let daemon = listener("127.0.0.1:0");
    let transport = UdpTransport::new(daemon.local_addr().unwrap()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let mut mine = transport.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    mine.send(&datagram(t * 100 + i));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // `&UdpTransport` is a transport too.
    let mut by_ref = &transport;
    by_ref.send(&datagram(1000));

    let got = receive(&daemon, 41);
    assert_eq!(got.len(), 41);
    let sources: HashSet<u16> = got.iter().map(|(_, from)| from.port()).collect();
    assert_eq!(sources.len(), 1, "all clones send from one socket");
    let distinct: HashSet<&Vec<u8>> = got.iter().map(|(d, _)| d).collect();
    assert_eq!(distinct.len(), 41);
    assert_eq!(transport.stats().sent, 41);
}

#[test]
fn from_config_resolves_a_host_name_once() {
    let daemon = listener("127.0.0.1:0");
    let port = daemon.local_addr().unwrap().port();
    let value = format!("localhost:{port}");
    let config =
        Config::from_lookup(|name| (name == "AWS_XRAY_DAEMON_ADDRESS").then(|| value.clone()))
            .unwrap();
    let mut transport = UdpTransport::from_config(&config).unwrap();
    // `localhost` prefers 127.0.0.1, where the daemon listens.
    assert_eq!(transport.target(), daemon.local_addr().unwrap());
    transport.send(&datagram(1));
    assert_eq!(receive(&daemon, 1).len(), 1);
}

#[test]
fn tcp_and_udp_parts_send_to_the_udp_one() {
    let daemon = listener("127.0.0.1:0");
    let udp = daemon.local_addr().unwrap();
    let address = DaemonAddress::parse(&format!("tcp:127.0.0.1:1 udp:{udp}")).unwrap();
    let mut transport = UdpTransport::from_daemon_address(&address).unwrap();
    transport.send(&datagram(2));
    assert_eq!(receive(&daemon, 1)[0].0, datagram(2));
}

#[test]
fn ipv6_loopback() {
    // Fails loudly where ::1 is missing: the IPv6 path is part of what ships.
    let daemon = listener("[::1]:0");
    let addr = daemon.local_addr().unwrap();
    assert_eq!(addr.ip(), Ipv6Addr::LOCALHOST);
    let address = DaemonAddress::parse(&format!("[::1]:{}", addr.port())).unwrap();
    let mut transport = UdpTransport::from_daemon_address(&address).unwrap();
    assert!(transport.local_addr().unwrap().is_ipv6());
    transport.send(&datagram(6));
    let got = receive(&daemon, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, datagram(6));
    assert_eq!(transport.stats().sent, 1);
}

#[test]
fn sending_never_blocks_even_when_nobody_reads() {
    // 2,000 datagrams of 8 KiB to a socket that never reads: the kernel drops what does not
    // fit; the caller is never held up and every datagram is accounted for.
    let daemon = listener("127.0.0.1:0");
    let mut transport = UdpTransport::new(daemon.local_addr().unwrap()).unwrap();
    let big = vec![b'x'; 8 * 1024];
    // A blocked send would never return; the minute only bounds the test, it measures nothing.
    let (tx, rx) = mpsc::channel();
    let sender = std::thread::spawn(move || {
        for _ in 0..2_000 {
            transport.send(&big);
        }
        let _ = tx.send(transport.stats());
    });
    let stats = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("2,000 sends did not return: a send blocked");
    sender.join().unwrap();
    assert_eq!(stats.sent + stats.dropped(), 2_000, "{stats:?}");
    assert_eq!(stats.dropped_oversize + stats.dropped_error, 0, "{stats:?}");
    drop(daemon);
}

/// Runs `script` with `sh -c`, failing the test if it fails.
fn sh(script: &str) {
    let status = Command::new("sh").arg("-c").arg(script).status().unwrap();
    assert!(status.success(), "`{script}` failed: {status}");
}

/// Set in the copy of this test binary that runs inside the network namespace.
const IN_NAMESPACE: &str = "XRAY_TEST_IN_NETNS";

#[test]
fn sends_move_to_an_unconnected_socket_when_the_source_address_goes_away() {
    if std::env::var_os(IN_NAMESPACE).is_none() {
        // Run this same test again inside a network and user namespace of its own (`unshare
        // -rn`), where it may change addresses and routes without touching the machine's.
        if !Command::new("unshare")
            .args(["-rn", "true"])
            .status()
            .is_ok_and(|s| s.success())
        {
            eprintln!("skipped: `unshare -rn` is not allowed here (no network namespace)");
            return;
        }
        let test = "sends_move_to_an_unconnected_socket_when_the_source_address_goes_away";
        let out = Command::new("unshare")
            .arg("-rn")
            .arg(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(IN_NAMESPACE, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "in the namespace: {}\n{text}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    // Datagrams to 10.8.0.0/24 leave through `lo` from 10.9.0.1 (and, not being for a local
    // address, are dropped there: only the sender's side matters here).
    sh("ip link set lo up && ip addr add 10.9.0.1/32 dev lo \
        && ip route add 10.8.0.0/24 dev lo src 10.9.0.1");
    let mut transport = UdpTransport::new("10.8.0.2:2000".parse().unwrap()).unwrap();
    assert_eq!(
        transport.local_addr().unwrap().ip(),
        Ipv4Addr::new(10, 9, 0, 1),
        "connected, from the route's source address"
    );
    transport.send(&datagram(1));
    assert_eq!(
        (transport.stats().sent, transport.stats().dropped()),
        (1, 0)
    );
    // A socket connected the same way, to show what the transport's own would do.
    let witness = UdpSocket::bind("0.0.0.0:0").unwrap();
    witness.connect("10.8.0.2:2000").unwrap();

    // The host's address changes: the connected socket keeps the old one and can no longer
    // send ("network unreachable"); an unconnected socket uses the new one.
    sh(
        "ip addr del 10.9.0.1/32 dev lo && ip addr add 10.9.0.3/32 dev lo \
        && ip route replace 10.8.0.0/24 dev lo src 10.9.0.3",
    );
    assert!(
        witness.send(b"x").is_err(),
        "a connected socket cannot send now"
    );
    for i in 2..=5 {
        transport.send(&datagram(i));
    }
    let stats = transport.stats();
    assert_eq!((stats.sent, stats.dropped()), (5, 0), "{stats:?}");
    assert_eq!(
        transport.local_addr().unwrap().ip(),
        Ipv4Addr::UNSPECIFIED,
        "sends moved to the unconnected socket"
    );
}
