//! The emitter: a bounded queue that the recorder fills synchronously and a task drains to
//! the network, so that recording never awaits.

use crate::fmt::log_warn;
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::zerocopy_channel::{Channel, Receiver, Sender};
use xray_core::Transport;

use crate::async_transport::AsyncTransport;

/// One queue slot: a datagram of up to `LEN` bytes.
pub struct Datagram<const LEN: usize> {
    len: usize,
    buf: [u8; LEN],
}

impl<const LEN: usize> Datagram<LEN> {
    /// An empty slot (for the queue's backing array: `[Datagram::EMPTY; DEPTH]`).
    pub const EMPTY: Self = Self {
        len: 0,
        buf: [0; LEN],
    };

    /// The datagram's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len.min(LEN)]
    }
}

/// Counters of the recorder side of the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct QueueStats {
    /// Datagrams queued for the emitter task.
    pub queued: u32,
    /// Dropped: the queue was full.
    pub queue_full: u32,
    /// Dropped: larger than a queue slot.
    pub too_large: u32,
}

impl QueueStats {
    /// Datagrams dropped, for whatever reason.
    pub fn dropped(&self) -> u32 {
        self.queue_full + self.too_large
    }
}

/// A bounded datagram queue between the recorder and the emitter task, over caller-provided
/// slots (no allocation). Split it into a [`QueueTransport`] for the recorder and an
/// [`Emitter`] for the task.
///
/// `M` is the mutex kind: `CriticalSectionRawMutex` when the two halves live in different
/// executors or interrupt priorities, `NoopRawMutex` when they share one executor.
pub struct EmitterQueue<'a, M: RawMutex, const LEN: usize> {
    channel: Channel<'a, M, Datagram<LEN>>,
}

impl<'a, M: RawMutex, const LEN: usize> EmitterQueue<'a, M, LEN> {
    /// A queue over `slots` (its capacity is `slots.len()`, at least one).
    pub fn new(slots: &'a mut [Datagram<LEN>]) -> Self {
        Self {
            channel: Channel::new(slots),
        }
    }

    /// The recorder's half and the task's half.
    pub fn split(&mut self) -> (QueueTransport<'_, M, LEN>, Emitter<'_, M, LEN>) {
        let (tx, rx) = self.channel.split();
        (
            QueueTransport {
                tx,
                stats: QueueStats::default(),
            },
            Emitter { rx },
        )
    }
}

/// The recorder's side: a synchronous [`Transport`] that copies each datagram into a free
/// queue slot and returns at once. A full queue or an oversize datagram is a counted drop.
pub struct QueueTransport<'a, M: RawMutex, const LEN: usize> {
    tx: Sender<'a, M, Datagram<LEN>>,
    stats: QueueStats,
}

impl<M: RawMutex, const LEN: usize> QueueTransport<'_, M, LEN> {
    /// What the queue has taken and dropped so far.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }

    /// Datagrams waiting for the emitter task.
    pub fn pending(&self) -> usize {
        self.tx.len()
    }
}

impl<M: RawMutex, const LEN: usize> Transport for QueueTransport<'_, M, LEN> {
    fn send(&mut self, datagram: &[u8]) {
        if datagram.len() > LEN {
            self.stats.too_large += 1;
            log_warn!(
                "xray: datagram of {} bytes exceeds the queue slot",
                datagram.len()
            );
            return;
        }
        match self.tx.try_send() {
            Some(slot) => {
                slot.buf[..datagram.len()].copy_from_slice(datagram);
                slot.len = datagram.len();
                self.tx.send_done();
                self.stats.queued += 1;
            }
            None => {
                self.stats.queue_full += 1;
                log_warn!("xray: datagram dropped: queue full");
            }
        }
    }
}

/// The task's side: takes queued datagrams and sends them through an [`AsyncTransport`]
/// (usually [`crate::EmbassyUdpTransport`], which writes them straight into the socket's
/// transmit buffer).
pub struct Emitter<'a, M: RawMutex, const LEN: usize> {
    rx: Receiver<'a, M, Datagram<LEN>>,
}

impl<M: RawMutex, const LEN: usize> Emitter<'_, M, LEN> {
    /// Waits for the next datagram and sends it.
    pub async fn send_next<T: AsyncTransport + ?Sized>(&mut self, transport: &mut T) {
        let slot = self.rx.receive().await;
        transport.send(slot.as_bytes()).await;
        self.rx.receive_done();
    }

    /// Sends what is queued now, at most `max` datagrams, without waiting for more. Returns
    /// how many were sent.
    pub async fn flush<T: AsyncTransport + ?Sized>(
        &mut self,
        transport: &mut T,
        max: usize,
    ) -> usize {
        let mut n = 0;
        while n < max {
            let Some(slot) = self.rx.try_receive() else {
                break;
            };
            transport.send(slot.as_bytes()).await;
            self.rx.receive_done();
            n += 1;
        }
        n
    }

    /// Sends datagrams as they come, forever: the body of the emitter task.
    pub async fn run<T: AsyncTransport + ?Sized>(&mut self, transport: &mut T) -> ! {
        loop {
            self.send_next(transport).await;
        }
    }

    /// Datagrams waiting to be sent.
    pub fn pending(&self) -> usize {
        self.rx.len()
    }
}
