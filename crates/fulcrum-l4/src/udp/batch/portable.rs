//! The batches without `recvmmsg` / `sendmmsg`: one `try_recv_from` / `try_send_to` per
//! datagram, same API and behaviour as the Linux ones. Built on Linux too, under test, so both
//! run the same tests.
//!
//! Truncation: each buffer has one byte more than `size`, so a datagram longer than `size`
//! fills it and is reported truncated on platforms that cut silently (the BSDs, macOS). Windows
//! fails such a receive with an error instead.

use super::{Datagram, Flushed, Queue};
use std::io;
use std::net::SocketAddr;
use tokio::net::UdpSocket;

const MAX_BATCH: usize = 1024;

/// Up to `count` received datagrams of up to `size` bytes each; see the Linux `RecvBatch`.
pub struct RecvBatch {
    size: usize,
    /// `count` buffers of `size + 1` bytes, back to back.
    buf: Vec<u8>,
    /// Sender and length of each datagram of the last `recv`.
    received: Vec<(SocketAddr, usize)>,
    count: usize,
}

impl RecvBatch {
    /// Here the kernel is not asked: datagrams say `local: None`.
    pub fn with_destination(self) -> Self {
        self
    }

    pub fn new(count: usize, size: usize) -> Self {
        let count = count.clamp(1, MAX_BATCH);
        let size = size.max(1);
        Self {
            size,
            buf: vec![0u8; count * (size + 1)],
            received: Vec::with_capacity(count),
            count,
        }
    }

    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.received.clear();
        for chunk in self.buf.chunks_exact_mut(self.size + 1) {
            let got = loop {
                match socket.try_recv_from(chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    got => break got,
                }
            };
            match got {
                Ok((len, peer)) => self.received.push((peer, len)),
                // Any error ends the batch; it is the caller's only when nothing came first.
                Err(e) if self.received.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(self.received.len())
    }

    pub fn len(&self) -> usize {
        self.received.len()
    }

    pub fn is_empty(&self) -> bool {
        self.received.is_empty()
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn get(&self, i: usize) -> Option<Datagram<'_>> {
        let &(peer, len) = self.received.get(i)?;
        let start = i * (self.size + 1);
        Some(Datagram {
            peer,
            data: self.buf.get(start..start + len.min(self.size))?,
            truncated: len > self.size,
            local: None,
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = Datagram<'_>> + '_ {
        (0..self.received.len()).filter_map(|i| self.get(i))
    }
}

/// Here the kernel is not asked: a wildcard socket answers from the address it picks.
pub fn ask_destination(_socket: &UdpSocket) -> io::Result<()> {
    Ok(())
}

/// Datagrams queued for several destinations; see the Linux `SendBatch`.
pub struct SendBatch {
    queue: Queue,
}

impl SendBatch {
    pub fn new(max: usize) -> Self {
        Self {
            queue: Queue::new(max.clamp(1, MAX_BATCH)),
        }
    }

    #[must_use = "a full batch queues nothing: flush it first"]
    pub fn push(&mut self, dest: SocketAddr, payload: &[u8]) -> bool {
        self.queue.push(dest, payload)
    }

    /// Here the source cannot be chosen: sent as by [`push`](Self::push).
    #[must_use = "a full batch queues nothing: flush it first"]
    pub fn push_from(
        &mut self,
        dest: SocketAddr,
        _source: Option<std::net::IpAddr>,
        payload: &[u8],
    ) -> bool {
        self.queue.push(dest, payload)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.queue.is_full()
    }

    pub fn clear(&mut self) -> (usize, usize) {
        self.queue.clear()
    }

    pub fn flush(&mut self, socket: &UdpSocket) -> Flushed {
        let mut flushed = Flushed::default();
        let mut done = 0;
        for (dest, payload) in self.queue.iter() {
            let sent = loop {
                match socket.try_send_to(payload, dest) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    sent => break sent,
                }
            };
            match sent {
                Ok(_) => flushed.sent += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => flushed.refused(Some(dest), e),
            }
            done += 1;
        }
        self.queue.consume(done);
        flushed
    }
}
