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
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{Interest, ReadBuf};
use tokio::net::TcpStream;

use crate::sys::splice::{splice, Pipe};
use crate::{Cut, RelayEnd, Relayed};

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
/// leased per burst until both directions ended, nothing moved for `idle`, or `cut` says
/// (at the time it gives). `refuse`, when given, looks at the client's first bytes before any is relayed.
///
/// The caller closes both sockets when this returns: the direction that ends last does not
/// shut its destination down for writing (closing it sends the same FIN, one call fewer).
///
/// The relay is one hand-written state machine ([`Splice`]) and one timer: an idle
/// connection holds two small direction states, the time of its last byte and a `Sleep`
/// (re-armed from that time when it fires), not a tree of futures.
pub fn relay<'a>(
    client: &'a TcpStream,
    initial: &'a [u8],
    backend: &'a TcpStream,
    idle: Option<Duration>,
    cut: impl Cut + 'a,
    refuse: Option<FirstBytes>,
) -> impl Future<Output = Relayed> + 'a {
    let last = Instant::now();
    SpliceRelay {
        s: Splice {
            client,
            backend,
            initial,
            refuse,
            up: Dir::Wait,
            down: Dir::Wait,
            moved_up: 0,
            moved_down: 0,
            last,
        },
        idle,
        // Armed at `last + idle` as `last` was then; when it fires, re-armed from the newer
        // `last` if bytes moved since, or at the cut if that comes first.
        timer: tokio::time::sleep_until(
            last.checked_add(idle.unwrap_or_default())
                .unwrap_or(last)
                .into(),
        ),
        armed: idle.is_some(),
        cut,
        cut_at: None,
    }
}

pin_project_lite::pin_project! {
    /// [`relay`]'s future: the two directions, one timer for both the idle timeout and the cut,
    /// and the cut signal — nothing else (an `async` body would also keep its arguments and
    /// each pinned local's reference, and a cut future its own timer).
    struct SpliceRelay<'a, C> {
        s: Splice<'a>,
        idle: Option<Duration>,
        #[pin]
        timer: tokio::time::Sleep,
        armed: bool,
        #[pin]
        cut: C,
        cut_at: Option<Instant>,
    }
}

impl<C: Cut> Future for SpliceRelay<'_, C> {
    type Output = Relayed;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Relayed> {
        let mut this = self.project();
        let s = &mut *this.s;
        let end = 'end: {
            if let Poll::Ready(r) = s.poll(cx) {
                break 'end match r {
                    Ok(()) => RelayEnd::Closed,
                    Err(e) => RelayEnd::Failed(e),
                };
            }
            let mut rearm = false;
            if let Poll::Ready(at) = this.cut.poll_cut(cx) {
                if this.cut_at.is_none_or(|c| at < c) {
                    *this.cut_at = Some(at);
                    rearm = true;
                }
            }
            while rearm || (*this.armed && this.timer.as_mut().poll(cx).is_ready()) {
                rearm = false;
                let now = Instant::now();
                if this.cut_at.is_some_and(|c| c <= now) {
                    break 'end RelayEnd::Stopped;
                }
                let due = this.idle.and_then(|i| s.last.checked_add(i));
                if due.is_some_and(|d| d <= now) {
                    break 'end RelayEnd::Idle;
                }
                let Some(next) = due.into_iter().chain(*this.cut_at).min() else {
                    *this.armed = false;
                    break;
                };
                this.timer.as_mut().reset(next.into());
                *this.armed = true;
            }
            return Poll::Pending;
        };
        Poll::Ready(Relayed {
            up: s.moved_up,
            down: s.moved_down,
            end,
        })
    }
}

/// Both directions of one relay, polled together: what an idle connection keeps between
/// bursts.
struct Splice<'a> {
    client: &'a TcpStream,
    backend: &'a TcpStream,
    /// Still to be written to the backend before anything else goes up.
    initial: &'a [u8],
    /// The test of the client's first bytes, until it ran.
    refuse: Option<FirstBytes>,
    /// Client → backend.
    up: Dir,
    /// Backend → client.
    down: Dir,
    /// Bytes written to the backend (`initial` included) and to the client.
    moved_up: u64,
    moved_down: u64,
    /// When the last byte moved either way.
    last: Instant,
}

/// Where one direction is.
enum Dir {
    /// Waiting for its source to be readable; holds no pipe.
    Wait,
    /// `left` bytes are in the leased `pipe`, waiting for the destination to take them.
    Moving { pipe: Pipe, left: usize },
    /// No pipe could be had: this burst goes through a buffer (boxed: the rare path's state
    /// does not enlarge every relay's).
    Copying(Box<Copied>),
    /// The source's stream ended and the end was passed on.
    Done,
}

/// A burst copied through user space: `buf[at..len]` is still to be written.
struct Copied {
    buf: Vec<u8>,
    at: usize,
    len: usize,
}

impl Splice<'_> {
    /// Move what can be moved now: `Ready(Ok)` once both directions are done, `Ready(Err)` at
    /// the first failure (a reset on one side ends both), else `Pending` with each direction
    /// registered for the readiness it waits on.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (client, backend) = (self.client, self.backend);
        while !self.initial.is_empty() {
            ready!(backend.poll_write_ready(cx))?;
            match backend.try_write(self.initial) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    self.initial = self.initial.get(n..).unwrap_or_default();
                    self.moved_up += n as u64;
                    self.last = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let down_done = matches!(self.down, Dir::Done);
        let up = pump(
            cx,
            &mut self.up,
            client,
            backend,
            Counts {
                moved: &mut self.moved_up,
                last: &mut self.last,
            },
            &mut self.refuse,
            down_done,
        )?;
        let up_done = matches!(self.up, Dir::Done);
        let down = pump(
            cx,
            &mut self.down,
            backend,
            client,
            Counts {
                moved: &mut self.moved_down,
                last: &mut self.last,
            },
            &mut None,
            up_done,
        )?;
        if up.is_ready() && down.is_ready() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }
}

/// What a direction updates as bytes move.
struct Counts<'a> {
    moved: &'a mut u64,
    last: &'a mut Instant,
}

impl Counts<'_> {
    fn add(&mut self, n: usize) {
        *self.moved += n as u64;
        *self.last = Instant::now();
    }
}

/// One direction: splice `from` → pipe → `to` until `from` ends, then shut `to` down for
/// writing unless the other direction already ended (`other_done`: the caller closes both
/// sockets next). `Ready(Ok)` once done; `Pending` when waiting on a socket.
fn pump(
    cx: &mut Context<'_>,
    dir: &mut Dir,
    from: &TcpStream,
    to: &TcpStream,
    mut counts: Counts<'_>,
    refuse: &mut Option<FirstBytes>,
    other_done: bool,
) -> io::Result<Poll<()>> {
    loop {
        match dir {
            Dir::Done => return Ok(Poll::Ready(())),
            Dir::Wait => {
                if from.poll_read_ready(cx)?.is_pending() {
                    return Ok(Poll::Pending);
                }
                if let Some(test) = *refuse {
                    let mut first = [0u8; 16];
                    let n = match from.poll_peek(cx, &mut ReadBuf::new(&mut first))? {
                        Poll::Ready(n) => n,
                        Poll::Pending => return Ok(Poll::Pending),
                    };
                    *refuse = None;
                    if test(first.get(..n).unwrap_or_default()) {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "refused the client's first bytes",
                        ));
                    }
                }
                let Ok(pipe) = lease() else {
                    *dir = Dir::Copying(Box::new(Copied {
                        buf: vec![0u8; COPY_CHUNK],
                        at: 0,
                        len: 0,
                    }));
                    continue;
                };
                match from.try_io(Interest::READABLE, || {
                    splice(from.as_fd(), pipe.write.as_fd(), CHUNK)
                }) {
                    Ok(0) => {
                        give_back(pipe);
                        finish(dir, to, other_done)?;
                    }
                    Ok(n) => {
                        *counts.last = Instant::now();
                        *dir = Dir::Moving { pipe, left: n };
                    }
                    // Readiness is cleared: the next round registers for more.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => give_back(pipe),
                    Err(e) => return Err(e),
                }
            }
            Dir::Moving { pipe, left } => {
                if to.poll_write_ready(cx)?.is_pending() {
                    return Ok(Poll::Pending);
                }
                match to.try_io(Interest::WRITABLE, || {
                    splice(pipe.read.as_fd(), to.as_fd(), *left)
                }) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(w) => {
                        *left -= w.min(*left);
                        counts.add(w);
                        if *left == 0 {
                            // Empty again: the next burst (of any connection on this
                            // thread) may have it.
                            if let Dir::Moving { pipe, .. } = std::mem::replace(dir, Dir::Wait) {
                                give_back(pipe);
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            Dir::Copying(c) => {
                if c.at == c.len {
                    if from.poll_read_ready(cx)?.is_pending() {
                        return Ok(Poll::Pending);
                    }
                    match from.try_read(&mut c.buf) {
                        Ok(0) => {
                            finish(dir, to, other_done)?;
                            continue;
                        }
                        Ok(n) => {
                            (c.at, c.len) = (0, n);
                            *counts.last = Instant::now();
                        }
                        // Nothing after all: wait without the buffer.
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => *dir = Dir::Wait,
                        Err(e) => return Err(e),
                    }
                    continue;
                }
                while c.at < c.len {
                    if to.poll_write_ready(cx)?.is_pending() {
                        return Ok(Poll::Pending);
                    }
                    match to.try_write(c.buf.get(c.at..c.len).unwrap_or_default()) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => {
                            c.at += n;
                            counts.add(n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                // The burst is through: the next one tries for a pipe again.
                *dir = Dir::Wait;
            }
        }
    }
}

/// `from`'s stream ended: pass the end on to `to` (the other direction goes on: half-close),
/// unless the other direction ended first — then both sockets are closed next, which sends
/// `to` its FIN.
fn finish(dir: &mut Dir, to: &TcpStream, other_done: bool) -> io::Result<()> {
    *dir = Dir::Done;
    if other_done {
        return Ok(());
    }
    match socket2::SockRef::from(to).shutdown(Shutdown::Write) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
