//! A polled `embassy-net-driver` for the SMSC LAN9118 Ethernet controller: the LAN9220 of
//! Arm's MPS2 boards, which QEMU's `mps2-an385`/`an386`/`an500` machines emulate with their
//! `lan9118` model.
//!
//! The controller has no DMA: the CPU moves frames through its FIFOs a 32-bit word at a time.
//! To send, it writes two command words (the buffer's and the frame's length, first and last
//! segment) and the frame; to receive, it pops a status word (the frame's length, including
//! the 4-byte CRC the controller appends) and then the frame's words. The MAC's own registers
//! (control, address) sit behind an indirect command/data register pair.
//!
//! The driver is polled: `receive` looks at the receive status FIFO and, when it is empty,
//! leaves its waker with [`RX_WAKER`], which the 1 kHz system tick wakes (see `systick`);
//! `transmit` does the same when the transmit FIFO lacks room for a whole frame.
//! A frame waits at most one tick; an interrupt-driven driver would use the controller's
//! IRQ line (13 on the MPS2) and its `RSFL` interrupt instead. QEMU's model sends a frame as
//! soon as its last word is written, so its transmit FIFO always has room.

use core::ptr::{read_volatile, write_volatile};
use core::task::Context;
use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState, RxToken, TxToken};
use embassy_sync::waitqueue::AtomicWaker;

/// Where the MPS2 boards (AN385, AN386) map the controller.
pub const MPS2_BASE: usize = 0x4020_0000;

/// The largest frame the driver moves: an Ethernet header and a 1,500-byte payload (the
/// controller adds and strips the CRC).
pub const MTU: usize = 1514;

/// Woken by the system tick: the poll of the receive path (and of a full transmit FIFO).
pub static RX_WAKER: AtomicWaker = AtomicWaker::new();

/// Register offsets from the base (LAN9118 data sheet, "System Control and Status Registers").
mod reg {
    pub const RX_DATA_FIFO: usize = 0x00;
    pub const TX_DATA_FIFO: usize = 0x20;
    pub const RX_STATUS_FIFO: usize = 0x40;
    pub const TX_STATUS_FIFO: usize = 0x48;
    pub const BYTE_TEST: usize = 0x64;
    pub const TX_CFG: usize = 0x70;
    pub const RX_FIFO_INF: usize = 0x7c;
    pub const TX_FIFO_INF: usize = 0x80;
    pub const MAC_CSR_CMD: usize = 0xa4;
    pub const MAC_CSR_DATA: usize = 0xa8;
}

/// Bits of those registers.
mod bit {
    /// What `BYTE_TEST` reads when the bus and the controller are up.
    pub const BYTE_TEST_VALUE: u32 = 0x8765_4321;
    /// `TX_CFG`: transmitter on.
    pub const TX_ON: u32 = 1 << 1;
    /// `TX_CFG`: the transmit status FIFO may overrun (the driver does not need the statuses).
    pub const TXSAO: u32 = 1 << 2;
    /// `MAC_CSR_CMD`: start the access / access in progress.
    pub const CSR_BUSY: u32 = 1 << 31;
    /// `MAC_CSR_CMD`: read (otherwise write).
    pub const CSR_READ: u32 = 1 << 30;
    /// MAC register indices.
    pub const MAC_CR: u32 = 1;
    pub const MAC_ADDRH: u32 = 2;
    pub const MAC_ADDRL: u32 = 3;
    /// `MAC_CR`: full duplex, transmitter and receiver on (and, by leaving `PRMS` clear, only
    /// frames to this address and broadcasts are received).
    pub const MAC_CR_FDPX: u32 = 1 << 20;
    pub const MAC_CR_TXEN: u32 = 1 << 3;
    pub const MAC_CR_RXEN: u32 = 1 << 2;
    /// Transmit command A: first and last segment of a frame (one buffer per frame).
    pub const TX_CMD_A_FIRST: u32 = 1 << 13;
    pub const TX_CMD_A_LAST: u32 = 1 << 12;
    /// Receive status: error summary.
    pub const RX_STS_ES: u32 = 1 << 15;
}

/// The controller's registers at a base address.
#[derive(Clone, Copy)]
struct Regs(usize);

impl Regs {
    fn read(self, offset: usize) -> u32 {
        // SAFETY: `Lan9118::new` only builds a `Regs` for the controller's register block,
        // and every offset used is one of its 32-bit registers.
        unsafe { read_volatile((self.0 + offset) as *const u32) }
    }

    fn write(self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { write_volatile((self.0 + offset) as *mut u32, value) }
    }

    fn mac_read(self, index: u32) -> u32 {
        self.write(reg::MAC_CSR_CMD, bit::CSR_BUSY | bit::CSR_READ | index);
        while self.read(reg::MAC_CSR_CMD) & bit::CSR_BUSY != 0 {}
        self.read(reg::MAC_CSR_DATA)
    }

    fn mac_write(self, index: u32, value: u32) {
        self.write(reg::MAC_CSR_DATA, value);
        self.write(reg::MAC_CSR_CMD, bit::CSR_BUSY | index);
        while self.read(reg::MAC_CSR_CMD) & bit::CSR_BUSY != 0 {}
    }

    /// Frames waiting in the receive FIFO.
    fn rx_pending(self) -> u32 {
        (self.read(reg::RX_FIFO_INF) >> 16) & 0xff
    }

    /// Whether the transmit FIFO has room for a whole frame and its two command words.
    fn tx_has_room(self) -> bool {
        (self.read(reg::TX_FIFO_INF) & 0xffff) as usize >= MTU + 8
    }

    /// Pops one frame into `buf`; returns its length, or `None` for a frame with an error or
    /// too long for `buf` (it is read out and discarded either way).
    fn pop_frame(self, buf: &mut [u8]) -> Option<usize> {
        let status = self.read(reg::RX_STATUS_FIFO);
        let with_crc = ((status >> 16) & 0x3fff) as usize;
        let len = with_crc.saturating_sub(4);
        let fits = len <= buf.len() && status & bit::RX_STS_ES == 0;
        for word in 0..with_crc.div_ceil(4) {
            let bytes = self.read(reg::RX_DATA_FIFO).to_le_bytes();
            for (i, b) in bytes.into_iter().enumerate() {
                let at = word * 4 + i;
                if fits && at < len {
                    buf[at] = b;
                }
            }
        }
        fits.then_some(len)
    }

    /// Writes one frame into the transmit FIFO; the controller sends it at its last word.
    fn push_frame(self, frame: &[u8]) {
        let len = frame.len() as u32;
        self.write(
            reg::TX_DATA_FIFO,
            bit::TX_CMD_A_FIRST | bit::TX_CMD_A_LAST | len,
        );
        // Command B: a packet tag (unused) and the frame length.
        self.write(reg::TX_DATA_FIFO, len);
        for chunk in frame.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write(reg::TX_DATA_FIFO, u32::from_le_bytes(word));
        }
        // Statuses are not needed; keep their FIFO from filling up.
        while self.read(reg::TX_FIFO_INF) >> 16 != 0 {
            let _ = self.read(reg::TX_STATUS_FIFO);
        }
    }
}

/// The LAN9118 as an embassy-net device.
pub struct Lan9118 {
    regs: Regs,
    mac: [u8; 6],
    rx: &'static mut [u8; MTU],
    tx: &'static mut [u8; MTU],
}

impl Lan9118 {
    /// Takes the controller at `base`, turns its transmitter and receiver on and reads the MAC
    /// address it holds (QEMU sets it from `-nic ...,mac=`). `None` when no controller
    /// answers there. The frame buffers are the caller's (statics, so that they are never
    /// built on the stack and copied).
    ///
    /// # Safety
    ///
    /// `base` is the address of a LAN9118's register block, and nothing else uses it.
    pub unsafe fn new(
        base: usize,
        rx: &'static mut [u8; MTU],
        tx: &'static mut [u8; MTU],
    ) -> Option<Self> {
        let regs = Regs(base);
        if regs.read(reg::BYTE_TEST) != bit::BYTE_TEST_VALUE {
            return None;
        }
        let low = regs.mac_read(bit::MAC_ADDRL).to_le_bytes();
        let high = regs.mac_read(bit::MAC_ADDRH).to_le_bytes();
        let mac = [low[0], low[1], low[2], low[3], high[0], high[1]];
        regs.mac_write(
            bit::MAC_CR,
            bit::MAC_CR_FDPX | bit::MAC_CR_TXEN | bit::MAC_CR_RXEN,
        );
        regs.write(reg::TX_CFG, bit::TX_ON | bit::TXSAO);
        Some(Self { regs, mac, rx, tx })
    }

    /// The controller's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }
}

/// A received frame, in the driver's receive buffer.
pub struct Rx<'a>(&'a mut [u8]);

impl RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

/// Room for one frame to send: the driver's transmit buffer, pushed to the FIFO when filled.
pub struct Tx<'a> {
    regs: Regs,
    buf: &'a mut [u8; MTU],
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let frame = &mut self.buf[..len.min(MTU)];
        let r = f(frame);
        self.regs.push_frame(frame);
        r
    }
}

impl Driver for Lan9118 {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, cx: &mut Context) -> Option<(Rx<'_>, Tx<'_>)> {
        // Register first, then look: a frame that arrives in between is seen at the next tick.
        RX_WAKER.register(cx.waker());
        while self.regs.rx_pending() > 0 {
            if let Some(len) = self.regs.pop_frame(&mut self.rx[..]) {
                let tx = Tx {
                    regs: self.regs,
                    buf: self.tx,
                };
                return Some((Rx(&mut self.rx[..len]), tx));
            }
        }
        None
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<Tx<'_>> {
        if !self.regs.tx_has_room() {
            // The controller is still sending; the next tick polls again.
            RX_WAKER.register(cx.waker());
            return None;
        }
        Some(Tx {
            regs: self.regs,
            buf: self.tx,
        })
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        // QEMU's link is up from reset (its PHY completes autonegotiation at once).
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}
