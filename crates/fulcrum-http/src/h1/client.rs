//! The client side of a fast-path connection: its stream, the read buffer (taken from the
//! worker's free list while a request is in progress, given back while the connection idles,
//! when the stream can wait without one), and the recording scanner that finds each head.

use std::future::Future;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::pool::BUF;
use super::timer::{StopBegun, Timer};
use super::ClientIo;
use crate::guard::scan::{HeadSpans, Mode, Scan, Scanner};
use crate::proxy::Worker;
use crate::stop::Stop;

/// How waiting for a request's first bytes ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// Bytes are in the buffer.
    Ready,
    /// The time ran out.
    TimedOut,
    /// The client closed, or stopping began.
    Ended,
}

/// How reading a request head ended.
pub(super) enum HeadRead {
    /// A head is complete: [`Client::head`].
    Head,
    /// The connection is HTTP/2 (prior knowledge): for hyper.
    Http2,
    /// Refused with this status (400: the guard's rules; 505: an HTTP version not spoken;
    /// 431: head too large); then closed.
    Refused(u16),
    /// The client closed, or the head did not arrive in time.
    Closed,
}

pub(super) struct Client<IO> {
    pub(super) io: IO,
    pub(super) worker: Rc<Worker>,
    /// `buf[start..end]` is read and not yet served; empty (no capacity) while idle.
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    /// Bytes of `buf` the scanner has seen.
    fed: usize,
    pub(super) scanner: Scanner,
    stop: Stop,
    begun: StopBegun,
    /// The connection's timer: idle, header and request deadlines (see `timer.rs`).
    pub(super) timer: Timer,
    /// Bytes served (heads and bodies) and written since the last [`Client::take_bytes`].
    bytes_in: u64,
    bytes_out: u64,
}

impl<IO: ClientIo> Client<IO> {
    pub(super) fn new(io: IO, worker: Rc<Worker>, stop: Stop, now: Instant) -> Self {
        Client {
            begun: StopBegun::new(&stop),
            timer: Timer::new(now),
            io,
            worker,
            buf: Vec::new(),
            start: 0,
            end: 0,
            fed: 0,
            scanner: Scanner::recording(),
            stop,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// Bytes read and not yet served.
    pub(super) fn pending(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// The head [`Client::read_head`] found.
    pub(super) fn head(&self) -> Option<&HeadSpans> {
        self.scanner.head()
    }

    /// Where the body (or the next request) starts: right after the head.
    pub(super) fn head_end(&self) -> usize {
        self.fed
    }

    /// Mark `buf[start..start + n]` as served.
    pub(super) fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.bytes_in += n as u64;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.fed = 0;
            self.scanner.rebase(0);
        }
    }

    /// Bytes served and written since the last call.
    pub(super) fn take_bytes(&mut self) -> (u64, u64) {
        (
            std::mem::take(&mut self.bytes_in),
            std::mem::take(&mut self.bytes_out),
        )
    }

    fn ensure_buf(&mut self) {
        if self.buf.is_empty() {
            self.buf = self.worker.h1.buf();
        }
    }

    /// Move what is pending to the front of the buffer (between messages only: the
    /// scanner's offsets move with it).
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.fed -= self.start.min(self.fed);
        self.start = 0;
        self.scanner.rebase(self.fed);
    }

    /// Wait until the next request's first bytes can be read, at most until `until`. A plain
    /// TCP stream waits without a buffer (it is given back to the worker meanwhile).
    ///
    /// A connection that has not sent its first request yet is waited for even when stopping
    /// has begun (it was accepted before: its request is on the way), until the grace
    /// deadline; an idle keep-alive connection closes then, unless its next request is
    /// already here.
    pub(super) async fn wait_readable(&mut self, until: Instant, first: bool) -> Wait {
        let unbuffered = self.io.waits_unbuffered();
        // The first request: stopping lets it come (until the grace deadline). Boxed, and only
        // then: later waits (an idle connection's) need not hold room for it.
        let mut cut = first.then(|| Box::pin(self.stop.clone().cut()));
        let mut cut = std::future::poll_fn(move |cx| match cut.as_mut() {
            Some(f) => f.as_mut().poll(cx),
            None => Poll::Pending,
        });
        let mut cut = std::pin::Pin::new(&mut cut);
        if unbuffered {
            loop {
                let buf = std::mem::take(&mut self.buf);
                self.worker.h1.give(buf);
                enum Woke {
                    Ready(bool),
                    Stop,
                }
                let (io, begun) = (&self.io, &mut self.begun);
                let woke = std::future::poll_fn(|cx| {
                    if let Some(Poll::Ready(r)) = io.poll_readable(cx) {
                        return Poll::Ready(Woke::Ready(r.is_ok()));
                    }
                    if !first && begun.poll_begun(cx).is_ready() {
                        return Poll::Ready(Woke::Stop);
                    }
                    if cut.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Woke::Stop);
                    }
                    Poll::Pending
                });
                match self.timer.within(until, woke).await {
                    Ok(Woke::Ready(true)) => {}
                    Ok(Woke::Ready(false)) => return Wait::Ended,
                    Err(_) => return Wait::TimedOut,
                    Ok(Woke::Stop) => {
                        // Its next request may be here already: then it is served.
                        self.ensure_buf();
                        let n = self.io.try_read_now(&mut self.buf[self.end..]).unwrap_or(0);
                        self.end += n;
                        return if n > 0 { Wait::Ready } else { Wait::Ended };
                    }
                }
                // Readiness can be stale: the read says (and clears it when it is).
                self.ensure_buf();
                self.compact();
                match self.io.try_read_now(&mut self.buf[self.end..]) {
                    Ok(n) => {
                        self.end += n;
                        return if n > 0 { Wait::Ready } else { Wait::Ended };
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(_) => return Wait::Ended,
                }
            }
        } else {
            self.ensure_buf();
            self.compact();
            let (io, buf, end, begun) = (&mut self.io, &mut self.buf, self.end, &mut self.begun);
            let read = async {
                match buf.get_mut(end..) {
                    Some(spare) if !spare.is_empty() => io.read(spare).await.unwrap_or(0),
                    _ => 0,
                }
            };
            let mut read = std::pin::pin!(read);
            let woke = std::future::poll_fn(|cx| {
                if let Poll::Ready(n) = read.as_mut().poll(cx) {
                    return Poll::Ready(n);
                }
                if (!first && begun.poll_begun(cx).is_ready()) || cut.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(0);
                }
                Poll::Pending
            });
            match self.timer.within(until, woke).await {
                Ok(n) if n > 0 => {
                    self.end += n;
                    Wait::Ready
                }
                Ok(_) => Wait::Ended,
                Err(_) => Wait::TimedOut,
            }
        }
    }

    /// Give back what a parked connection does not need: its buffer (already given back
    /// while waiting) and the scanner's field spans (a fresh scanner allocates nothing until
    /// its first head).
    pub(super) fn shrink(&mut self) {
        if self.pending().is_empty() {
            let buf = std::mem::take(&mut self.buf);
            self.worker.h1.give(buf);
            self.start = 0;
            self.end = 0;
            self.fed = 0;
            self.scanner = Scanner::recording();
        }
    }

    /// Read until a complete head is in the buffer (at most `max_head` bytes of it) or
    /// `deadline` passes. A stop that begins meanwhile lets the head finish.
    pub(super) async fn read_head(&mut self, max_head: usize, deadline: Instant) -> HeadRead {
        self.ensure_buf();
        self.compact();
        loop {
            // Never more than `max_head` bytes of a head are judged (as on hyper, whose
            // buffer is that large): the guard sees the same bytes on both engines.
            let judged = self.end.min(self.start + max_head);
            if self.fed < judged {
                let fed = self.fed;
                match self.scanner.feed(&self.buf[fed..judged]) {
                    Scan::Head(n) => {
                        self.fed = fed + n;
                        return HeadRead::Head;
                    }
                    Scan::Ok => {
                        self.fed = judged;
                        if self.scanner.mode() == Mode::Http2 {
                            return HeadRead::Http2;
                        }
                    }
                    Scan::Violation(_, why) => {
                        tracing::debug!(violation = why.as_str(), "refusing malformed request");
                        return HeadRead::Refused(why.status());
                    }
                    // Only a judging scanner pauses (after an upgrade request, which the
                    // fast path hands over before reading on).
                    Scan::Pause(_) => return HeadRead::Refused(400),
                }
            }
            if self.end - self.start >= max_head {
                return HeadRead::Refused(431);
            }
            if self.end == self.buf.len() {
                self.buf.resize(max_head.max(BUF), 0);
            }
            let cap = (self.start + max_head).min(self.buf.len());
            let read = self.io.read(&mut self.buf[self.end..cap]);
            match self.timer.within(deadline, read).await {
                Ok(Ok(n)) if n > 0 => self.end += n,
                _ => return HeadRead::Closed,
            }
        }
    }

    /// Read more body bytes into the buffer, within `limit`; 0 at the end of the stream.
    pub(super) async fn read_more(&mut self, limit: Duration) -> std::io::Result<usize> {
        self.ensure_buf();
        if self.end == self.buf.len() {
            self.compact();
        }
        if self.end == self.buf.len() {
            return Ok(0);
        }
        let read = self.io.read(&mut self.buf[self.end..]);
        match tokio::time::timeout(limit, read).await {
            Ok(Ok(n)) => {
                self.end += n;
                Ok(n)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    /// Write `data` to the client within `limit` (the send timeout).
    pub(super) async fn write(&mut self, data: &[u8], limit: Duration) -> std::io::Result<()> {
        self.bytes_out += data.len() as u64;
        match tokio::time::timeout(limit, self.io.write_all(data)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    /// The stream and what was read of it but not served (for hyper).
    pub(super) fn into_parts(mut self) -> (IO, Vec<u8>) {
        let pending = self.pending().to_vec();
        let buf = std::mem::take(&mut self.buf);
        self.worker.h1.give(buf);
        (self.io, pending)
    }

    /// Close the connection: a TLS stream says goodbye first.
    pub(super) async fn close(mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.worker.h1.give(buf);
        let _ = tokio::time::timeout(Duration::from_secs(1), self.io.shutdown()).await;
    }
}
