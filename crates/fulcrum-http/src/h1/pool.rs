//! What the fast path keeps per worker: idle keep-alive connections to backends and a free
//! list of I/O buffers. Both are owned by the worker's thread (no lock, no channel); a
//! connection's task takes what it needs for one exchange and gives it back at the end, so
//! steady traffic allocates nothing and an idle client connection holds no buffer.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// Size of every pooled buffer: a request or response head must fit in one (a larger
/// `max_header_bytes` grows a buffer for that head alone).
pub const BUF: usize = 16 * 1024;
/// Buffers kept on the free list; more are dropped when given back.
const MAX_FREE_BUFS: usize = 1024;
/// Idle connections kept per backend.
const MAX_IDLE_PER_BACKEND: usize = 256;

/// A cheap hash for backend addresses (keys from the configuration, not from clients): the
/// map is looked up twice per request, where SipHash would cost more than the lookup.
#[derive(Default)]
struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type AddrMap<V> = HashMap<SocketAddr, V, std::hash::BuildHasherDefault<AddrHasher>>;

struct Idle {
    stream: TcpStream,
    /// Closed unused from this instant on.
    expires: Instant,
}

/// A worker's idle backend connections (cleartext HTTP/1.1) and spare buffers.
#[derive(Default)]
pub struct Pool {
    idle: RefCell<AddrMap<Vec<Idle>>>,
    bufs: RefCell<Vec<Vec<u8>>>,
    outs: RefCell<Vec<Vec<u8>>>,
}

/// Whether an idle connection can still carry a request: the backend has neither closed it
/// nor sent anything unasked. Asks the reactor, which already knows (no system call).
fn usable(stream: &TcpStream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    matches!(stream.poll_read_ready(&mut cx), Poll::Pending)
}

impl Pool {
    /// An idle connection to `addr`, newest first.
    pub fn checkout(&self, addr: SocketAddr, now: Instant) -> Option<TcpStream> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(&addr)?;
        while let Some(c) = list.pop() {
            if now < c.expires && usable(&c.stream) {
                return Some(c.stream);
            }
        }
        None
    }

    /// Keep a connection whose last response was read to its exact end.
    /// Keep it for `expiry` from `now`.
    pub fn put(&self, addr: SocketAddr, stream: TcpStream, now: Instant, expiry: Duration) {
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(addr).or_default();
        if list.len() < MAX_IDLE_PER_BACKEND {
            list.push(Idle {
                stream,
                expires: fulcrum_core::time::later(now, expiry),
            });
        }
    }

    /// Close connections that expired or that their backend closed.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.idle.borrow_mut().retain(|_, list| {
            list.retain(|c| now < c.expires && usable(&c.stream));
            !list.is_empty()
        });
    }

    /// Close every idle connection to `addr` (a backend being drained or removed).
    pub fn close_idle(&self, addr: SocketAddr) {
        self.idle.borrow_mut().remove(&addr);
    }

    /// A buffer of [`BUF`] bytes (zeroed once, when first made).
    pub fn buf(&self) -> Vec<u8> {
        self.bufs.borrow_mut().pop().unwrap_or_else(|| vec![0; BUF])
    }

    /// Give a buffer back (one that grew past [`BUF`] is dropped).
    pub fn give(&self, buf: Vec<u8>) {
        if buf.len() != BUF {
            return;
        }
        let mut bufs = self.bufs.borrow_mut();
        if bufs.len() < MAX_FREE_BUFS {
            bufs.push(buf);
        }
    }

    /// An empty output buffer (with room for [`BUF`] bytes).
    pub fn take_out(&self) -> Vec<u8> {
        self.outs
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUF))
    }

    /// Give an output buffer back (one that grew large is dropped).
    pub fn give_out(&self, mut out: Vec<u8>) {
        if out.capacity() > 4 * BUF {
            return;
        }
        out.clear();
        let mut outs = self.outs.borrow_mut();
        if outs.len() < MAX_FREE_BUFS {
            outs.push(out);
        }
    }

    #[cfg(test)]
    pub fn idle_count(&self, addr: SocketAddr) -> usize {
        self.idle.borrow().get(&addr).map_or(0, Vec::len)
    }
}
