//! The baseline: one fixed datagram through the same stack, driver and socket kind, and no
//! tracing code.

use embassy_net::Stack;
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_time::{Duration, with_timeout};
use static_cell::ConstStaticCell;

const PAYLOAD: &[u8] = b"xray-firmware-net: tracing disabled";

static RX_META: ConstStaticCell<[PacketMetadata; 1]> =
    ConstStaticCell::new([PacketMetadata::EMPTY]);
static RX: ConstStaticCell<[u8; 16]> = ConstStaticCell::new([0; 16]);
static TX_META: ConstStaticCell<[PacketMetadata; 1]> =
    ConstStaticCell::new([PacketMetadata::EMPTY]);
static TX: ConstStaticCell<[u8; 64]> = ConstStaticCell::new([0; 64]);

/// Sends the datagram and waits until it has left the socket.
pub async fn run(stack: Stack<'static>, out: &mut crate::Out) -> bool {
    let mut socket = UdpSocket::new(stack, RX_META.take(), RX.take(), TX_META.take(), TX.take());
    let sent = socket.bind(0).is_ok()
        && socket.send_to(PAYLOAD, crate::DAEMON).await.is_ok()
        && with_timeout(Duration::from_secs(5), socket.flush())
            .await
            .is_ok();
    if sent {
        out.line(&[b"# xray-firmware-net: ok sent=1"], None);
    } else {
        out.line(&[b"# xray-firmware-net: FAILED sent=0"], None);
    }
    sent
}
