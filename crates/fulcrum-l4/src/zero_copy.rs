//! The relay between two TCP sockets without copying through user space (Linux): each
//! direction splices socket → pipe → socket, so the bytes stay in the kernel. Same contract as
//! [`crate::relay`]: half-close carried through, an idle timeout, a stop future, the bytes
//! each way and how it ended.
//!
//! A direction only reads into its pipe when the pipe is empty (and asks for no more than a
//! pipe holds), so an `EAGAIN` from a read splice is always the socket's and from a write
//! splice always the destination socket's: tokio's readiness is cleared for the right one.
//!
//! Pipes are leased, not owned: a direction takes one from its thread's pool when its socket
//! has bytes, and gives it back once the pipe is empty again, so an idle connection holds no
//! pipe and a short one makes none (no `pipe2`, no `close` per connection once the pool is
//! warm). A pipe that still holds bytes when its relay ends (a failed write, a cut) is closed,
//! never pooled. When no pipe can be made (descriptors exhausted), that burst is copied
//! through user space instead.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;

use tokio::io::{Interest, ReadBuf};
use tokio::net::TcpStream;

use crate::relay::{idle_expired, Activity};
use crate::sys::splice::{splice, Pipe};
use crate::{RelayEnd, Relayed};

/// Bytes asked for per splice: the default pipe capacity (16 pages), so a read into an empty
/// pipe never finds it full.
const CHUNK: usize = 64 * 1024;

/// Empty pipes a thread keeps for its next bursts; more are closed when given back. Enough
/// for the bursts a worker has in flight at once under load (each holds one for as long as
/// its destination takes the bytes).
pub const POOL_MAX: usize = 64;

/// Bytes the copying fallback moves per burst (when no pipe could be had).
const COPY_CHUNK: usize = 16 * 1024;

thread_local! {
    /// This thread's empty pipes.
    static POOL: RefCell<Vec<Pipe>> = const { RefCell::new(Vec::new()) };
    /// Pipes this thread has made.
    static MADE: Cell<u64> = const { Cell::new(0) };
}

/// Whether this thread can splice: its pool has a pipe, or one can be made (and is pooled).
/// `false` when descriptors are exhausted or the kernel refuses pipes: relay by copying.
pub fn available() -> bool {
    if pooled() > 0 {
        return true;
    }
    match new_pipe() {
        Ok(p) => {
            give_back(p);
            true
        }
        Err(_) => false,
    }
}

/// Empty pipes in this thread's pool.
pub fn pooled() -> usize {
    POOL.with(|p| p.borrow().len())
}

fn give_back(pipe: Pipe) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_MAX {
            p.push(pipe);
        }
    });
}

/// A pipe for one burst: the pool's, or a new one. The caller gives it back with
/// [`give_back`] once it is empty; dropped instead (a failure, a cut), it is closed.
fn lease() -> io::Result<Pipe> {
    match POOL.with(|p| p.borrow_mut().pop()) {
        Some(p) => Ok(p),
        None => new_pipe(),
    }
}

fn new_pipe() -> io::Result<Pipe> {
    let p = Pipe::new()?;
    MADE.with(|m| m.set(m.get() + 1));
    Ok(p)
}

/// Pipes this thread has made so far (a warm pool makes none per connection).
pub fn made() -> u64 {
    MADE.with(Cell::get)
}

/// A test of the client's first bytes (what one peek finds when it first sends): `true`
/// ends the relay, failed, before they reach the backend.
pub type FirstBytes = fn(&[u8]) -> bool;

/// Relay `client` ↔ `backend` (after `initial` is written to the backend) through pipes
/// leased per burst until both directions ended, nothing moved for `idle`, or `stop`
/// resolves. `refuse`, when given, looks at the client's first bytes before any is relayed.
///
/// The caller closes both sockets when this returns: the direction that ends last does not
/// shut its destination down for writing (closing it sends the same FIN, one call fewer).
pub async fn relay(
    client: &TcpStream,
    initial: &[u8],
    backend: &TcpStream,
    idle: Option<std::time::Duration>,
    stop: impl Future<Output = ()>,
    refuse: Option<FirstBytes>,
) -> Relayed {
    let activity = Activity::new();
    let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
    let one_ended = AtomicBool::new(false);
    let end = {
        // Every future is made in place, pinned where it is polled and never moved: a relay is
        // mostly waiting, and its state is what an idle connection costs.
        let mut stop = pin!(stop);
        let mut idle_expired = pin!(idle_expired(&activity, idle));
        let mut both = pin!(async {
            write_all(backend, initial, &activity).await?;
            up.fetch_add(initial.len() as u64, Ordering::Relaxed);
            // The first failure ends both directions (a reset on one side ends the relay).
            tokio::try_join!(
                pump(client, backend, &activity, &up, &one_ended, refuse),
                pump(backend, client, &activity, &down, &one_ended, None),
            )
        });
        poll_fn(|cx| {
            if let Poll::Ready(r) = both.as_mut().poll(cx) {
                return Poll::Ready(match r {
                    Ok(_) => RelayEnd::Closed,
                    Err(e) => RelayEnd::Failed(e),
                });
            }
            if idle_expired.as_mut().poll(cx).is_ready() {
                return Poll::Ready(RelayEnd::Idle);
            }
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(RelayEnd::Stopped);
            }
            Poll::Pending
        })
        .await
    };
    Relayed {
        up: up.into_inner(),
        down: down.into_inner(),
        end,
    }
}

/// One direction: splice `from` → pipe → `to` until `from` ends, then shut `to` down for
/// writing unless the other direction already ended (`one_ended`: the caller closes both
/// sockets next). Bytes written to `to` are added to `moved` as they go.
async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    activity: &Activity,
    moved: &AtomicU64,
    one_ended: &AtomicBool,
    mut refuse: Option<FirstBytes>,
) -> io::Result<()> {
    loop {
        poll_fn(|cx| from.poll_read_ready(cx)).await?;
        if let Some(test) = refuse.take() {
            let mut first = [0u8; 16];
            let n = poll_fn(|cx| from.poll_peek(cx, &mut ReadBuf::new(&mut first))).await?;
            if test(first.get(..n).unwrap_or_default()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "refused the client's first bytes",
                ));
            }
        }
        let Ok(pipe) = lease() else {
            // No pipe to be had: this burst goes through user space (boxed: the rare path's
            // state does not enlarge every relay's).
            match Box::pin(copy_burst(from, to, activity, moved)).await? {
                true => break,
                false => continue,
            }
        };
        let n = match from.try_io(Interest::READABLE, || {
            splice(from.as_fd(), pipe.write.as_fd(), CHUNK)
        }) {
            Ok(0) => {
                give_back(pipe);
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                give_back(pipe);
                continue;
            }
            Err(e) => return Err(e),
        };
        activity.touch();
        let mut left = n;
        while left > 0 {
            poll_fn(|cx| to.poll_write_ready(cx)).await?;
            match to.try_io(Interest::WRITABLE, || {
                splice(pipe.read.as_fd(), to.as_fd(), left)
            }) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => {
                    left -= w.min(left);
                    moved.fetch_add(w as u64, Ordering::Relaxed);
                    activity.touch();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        // Empty again: the next burst (of any connection on this thread) may have it.
        give_back(pipe);
    }
    if one_ended.swap(true, Ordering::Relaxed) {
        // The other direction ended first: both sockets are closed next, which sends `to`
        // its FIN.
        return Ok(());
    }
    // The end of `from`'s stream is passed on; the other direction goes on (half-close).
    match socket2::SockRef::from(to).shutdown(Shutdown::Write) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        Err(e) => Err(e),
    }
}

/// One burst copied through user space: read what `from` has, write it all to `to`. `true`
/// at the end of `from`'s stream.
async fn copy_burst(
    from: &TcpStream,
    to: &TcpStream,
    activity: &Activity,
    moved: &AtomicU64,
) -> io::Result<bool> {
    let mut buf = vec![0u8; COPY_CHUNK];
    let n = match from.try_read(&mut buf) {
        Ok(0) => return Ok(true),
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
        Err(e) => return Err(e),
    };
    activity.touch();
    write_all(to, buf.get(..n).unwrap_or_default(), activity).await?;
    moved.fetch_add(n as u64, Ordering::Relaxed);
    Ok(false)
}

/// Write all of `data` to `to` (the bytes read before relaying began).
async fn write_all(to: &TcpStream, mut data: &[u8], activity: &Activity) -> io::Result<()> {
    while !data.is_empty() {
        poll_fn(|cx| to.poll_write_ready(cx)).await?;
        match to.try_write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                data = data.get(n..).unwrap_or_default();
                activity.touch();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
