//! Batched datagram I/O: [`RecvBatch`] takes every datagram waiting on a socket, up to its
//! count, in one call; [`SendBatch`] queues datagrams for many destinations and sends them in
//! one. On Linux these are `recvmmsg(2)` / `sendmmsg(2)` (the crate's `sys` module); elsewhere a
//! portable loop of `try_recv_from` / `try_send_to` with the same API and behaviour.
//!
//! Both are non-blocking and tokio-ready: `WouldBlock` means "await `readable()` or
//! `writable()` and call again", as for tokio's own `try_` calls:
//!
//! ```no_run
//! # async fn shell(socket: tokio::net::UdpSocket) -> std::io::Result<()> {
//! use fulcrum_l4::udp::{RecvBatch, SendBatch};
//! let mut rx = RecvBatch::new(64, 2048);
//! let mut tx = SendBatch::new(64);
//! loop {
//!     socket.readable().await?;
//!     match rx.recv(&socket) {
//!         Ok(_) => {}
//!         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
//!         Err(e) => return Err(e),
//!     }
//!     for datagram in rx.iter() {
//!         let queued = tx.push(datagram.peer, datagram.data); // echo it
//!         debug_assert!(queued, "64 received fit 64 queued");
//!     }
//!     while !tx.is_empty() {
//!         socket.writable().await?;
//!         let flushed = tx.flush(&socket);
//!         if let Some((dest, error)) = flushed.first_error {
//!             eprintln!("{} refused, the first for {dest}: {error}", flushed.failed);
//!         }
//!     }
//! }
//! # }
//! ```
//!
//! Must not: allocate per datagram (every buffer is made once, by `new`), or lose a datagram
//! silently: a truncated one says so, one the kernel refuses is counted in [`Flushed`].

// Built on Linux under test too, so the same tests run over both.
#[cfg(any(test, not(target_os = "linux")))]
#[cfg_attr(target_os = "linux", allow(dead_code))]
mod portable;
mod queue;
#[cfg(test)]
mod tests;

#[cfg(target_os = "linux")]
pub use crate::sys::mmsg::{ask_destination, RecvBatch, SendBatch};
#[cfg(not(target_os = "linux"))]
pub use portable::{ask_destination, RecvBatch, SendBatch};

pub(crate) use queue::Queue;

use std::io;
use std::net::SocketAddr;

/// One received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Who sent it.
    pub peer: SocketAddr,
    /// Its bytes, up to the batch's buffer size.
    pub data: &'a [u8],
    /// It was longer than the buffer: `data` is only its start.
    pub truncated: bool,
    /// The local address it came to, when the batch asks the kernel for it
    /// ([`RecvBatch::with_destination`], Linux): the address it was sent to, or for a
    /// broadcast or multicast datagram the receiving interface's; what a socket bound to a
    /// wildcard address answers from.
    pub local: Option<std::net::IpAddr>,
}

/// What one [`SendBatch::flush`] did. Whatever it did not send or refuse is still queued.
#[derive(Debug, Default)]
#[must_use = "refused datagrams are reported only here"]
pub struct Flushed {
    /// Datagrams the kernel took.
    pub sent: usize,
    /// Datagrams the kernel refused, dropped from the batch.
    pub failed: usize,
    /// The first refusal: its destination and error.
    pub first_error: Option<(SocketAddr, io::Error)>,
}

impl Flushed {
    pub(crate) fn refused(&mut self, dest: Option<SocketAddr>, error: io::Error) {
        self.failed += 1;
        if let (None, Some(dest)) = (&self.first_error, dest) {
            self.first_error = Some((dest, error));
        }
    }
}
