//! The guard as an I/O wrapper between the client socket and hyper.
//!
//! Bytes pass through untouched while the [`Scanner`] accepts them. At the first violation the
//! bytes before it are delivered, followed by a poison head (`NUL CR LF CR LF`) that no HTTP/1
//! parser accepts: hyper then answers `400 Bad Request` and closes, exactly as for its own parse
//! errors, and nothing after the bad byte is ever read, so nothing can reach a backend as a
//! second request. Inside a chunked body the poison makes hyper's decoder fail, which the proxy
//! turns into a 400 as well.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::scan::{Mode, Scan, Scanner};

const POISON: &[u8] = b"\0\r\n\r\n";

/// What hyper is given instead of a request the guard refuses with another status than 400
/// (505 for an HTTP version not spoken): a head hyper parses, which the proxy service answers
/// with that status (see [`refusal`]). Its two `Host` fields make it a head that never comes
/// from a client: the guard refuses a second Host before hyper could see it.
const REFUSAL: &[u8] = b"GET / HTTP/1.1\r\nhost: fulcrum.refusal\r\nhost: refusal\r\n\r\n";
const REFUSAL_HOST: &[u8] = b"fulcrum.refusal";

/// The status to answer `req` with when it is the [`REFUSAL`] head the guard gave hyper in
/// place of a refused request (only then: the connection's activity says the guard did).
pub fn refusal(activity: &ConnActivity, headers: &http::HeaderMap) -> Option<http::StatusCode> {
    let status = activity.refused.load(Ordering::Relaxed);
    if status == 0 {
        return None;
    }
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let first = hosts.next()?;
    (first.as_bytes() == REFUSAL_HOST && hosts.next().is_some())
        .then(|| http::StatusCode::from_u16(status).ok())
        .flatten()
}

/// What the connection's watchdog needs to know about a client connection. Shared between the
/// guard (which sees bytes), the proxy service (which sees requests) and the watchdog (which
/// enforces the header and idle timeouts). All three run on one worker thread; the fields are
/// atomics only because hyper's upgrade machinery requires the I/O object to be `Send`, and
/// relaxed atomics on a thread-local cache line cost what plain stores do.
#[derive(Debug)]
pub struct ConnActivity {
    base: Instant,
    /// Nanoseconds after `base` of the last byte read or written.
    last: AtomicU64,
    /// Nanoseconds after `base` (+1, 0 meaning none) since which a request head has been
    /// partly received, or since accept while nothing came yet; none between requests and
    /// for HTTP/2 or tunnels.
    head_since: AtomicU64,
    /// Requests accepted by the proxy service whose response has not finished.
    inflight: AtomicU32,
    /// Nanoseconds after `base` since when no request has been in flight: accept, or the end
    /// of the last response. Keep-alive idle time counts from here, so bytes that are not a
    /// request (empty lines, HTTP/2 pings) do not keep a connection alive.
    idle_since: AtomicU64,
    /// Nanoseconds after `base` (+1, 0 meaning none) since which the socket has refused the
    /// bytes written to it (the client is not reading): the `timeouts.send` clock.
    write_blocked_since: AtomicU64,
    /// How many times the socket started refusing writes.
    write_stalls: AtomicU64,
    /// The status the guard refused the connection's last request with, when that is not
    /// 400 (0: none); see [`refusal`].
    refused: AtomicU16,
}

impl ConnActivity {
    pub fn new(now: Instant) -> Arc<Self> {
        Arc::new(ConnActivity {
            base: now,
            last: AtomicU64::new(0),
            head_since: AtomicU64::new(1),
            inflight: AtomicU32::new(0),
            idle_since: AtomicU64::new(0),
            write_blocked_since: AtomicU64::new(0),
            write_stalls: AtomicU64::new(0),
            refused: AtomicU16::new(0),
        })
    }

    fn offset(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    fn at(&self, nanos: u64) -> Instant {
        fulcrum_core::time::later(self.base, Duration::from_nanos(nanos))
    }

    pub fn touch(&self, now: Instant) {
        self.last.store(self.offset(now), Ordering::Relaxed);
    }

    pub fn last(&self) -> Instant {
        self.at(self.last.load(Ordering::Relaxed))
    }

    pub fn head_since(&self) -> Option<Instant> {
        match self.head_since.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.at(n - 1)),
        }
    }

    fn set_head_since(&self, t: Option<Instant>) {
        let v = t.map_or(0, |t| self.offset(t).saturating_add(1));
        self.head_since.store(v, Ordering::Relaxed);
    }

    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Relaxed)
    }

    pub fn request_started(&self) {
        self.inflight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_finished(&self) {
        if self.inflight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.idle_since
                .store(self.offset(Instant::now()), Ordering::Relaxed);
        }
    }

    /// Since when the connection has had no request in flight.
    pub fn idle_since(&self) -> Instant {
        self.at(self.idle_since.load(Ordering::Relaxed))
    }

    /// Since when writes to the client have been refused, if they are.
    pub fn write_blocked_since(&self) -> Option<Instant> {
        match self.write_blocked_since.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.at(n - 1)),
        }
    }

    /// How many times writes to the client started being refused.
    pub fn write_stalls(&self) -> u64 {
        self.write_stalls.load(Ordering::Relaxed)
    }

    fn write_refused(&self) {
        let at = self.offset(Instant::now()).saturating_add(1);
        self.write_blocked_since.store(at, Ordering::Relaxed);
        self.write_stalls.fetch_add(1, Ordering::Relaxed);
    }

    fn write_accepted(&self) {
        self.write_blocked_since.store(0, Ordering::Relaxed);
    }
}

/// A client stream checked by the framing [`Scanner`].
pub struct GuardedIo<T> {
    inner: T,
    scanner: Scanner,
    activity: Arc<ConnActivity>,
    /// Poison still to deliver, from this offset of `poison` ([`POISON`] or [`REFUSAL`]).
    poison_at: Option<usize>,
    poison: &'static [u8],
    /// The poison has been delivered: reads return end-of-stream.
    closed: bool,
    /// The [`REFUSAL`] head has been delivered: reads never complete.
    stalled: bool,
    /// Bytes read past a request that asked to upgrade, held until the status is known.
    held: Vec<u8>,
    read_waker: Option<Waker>,
    /// Whether `activity.head_since` is currently set (it starts set: nothing came yet).
    in_head: bool,
    /// Whether the socket refused the last write or flush (`activity` knows since when).
    write_blocked: bool,
    counters: Option<ByteCounters>,
}

/// `fulcrum_bytes_total{direction}` handles and the worker recording into them.
pub struct ByteCounters {
    pub worker: usize,
    pub bytes_in: fulcrum_telemetry::Counter,
    pub bytes_out: fulcrum_telemetry::Counter,
}

impl<T> GuardedIo<T> {
    pub fn new(inner: T, activity: Arc<ConnActivity>, counters: Option<ByteCounters>) -> Self {
        GuardedIo {
            inner,
            scanner: Scanner::new(),
            activity,
            poison_at: None,
            poison: POISON,
            closed: false,
            stalled: false,
            held: Vec::new(),
            read_waker: None,
            in_head: true,
            write_blocked: false,
            counters,
        }
    }

    /// Judge the bytes `buf.filled()[from..]`, which are about to be handed to the reader.
    fn judge(&mut self, buf: &mut ReadBuf<'_>, from: usize, now: Instant) {
        if matches!(self.scanner.mode(), Mode::Tunnel | Mode::Http2) {
            return;
        }
        let base = self.scanner.position();
        match self.scanner.feed(&buf.filled()[from..]) {
            // Only recording scanners stop at heads; this one judges.
            Scan::Ok | Scan::Head(_) => {}
            Scan::Violation(at, why) => {
                tracing::debug!(violation = why.as_str(), "refusing malformed request");
                let began = self.scanner.message_start();
                // Another status than 400 needs hyper to see none of the refused request:
                // possible when it began in these bytes (else hyper's 400 it is).
                if why.status() != 400 && began >= base {
                    buf.set_filled(from + (began - base));
                    self.poison = REFUSAL;
                    self.activity.refused.store(why.status(), Ordering::Relaxed);
                } else {
                    buf.set_filled(from + at);
                }
                self.poison_at = Some(0);
                self.write_poison(buf);
            }
            Scan::Pause(at) => {
                let tail = buf.filled()[from + at..].to_vec();
                self.held.splice(0..0, tail);
                buf.set_filled(from + at);
            }
        }
        let in_head = self.scanner.in_head();
        if in_head != self.in_head {
            self.in_head = in_head;
            self.activity.set_head_since(in_head.then_some(now));
        }
    }

    fn write_poison(&mut self, buf: &mut ReadBuf<'_>) {
        let Some(at) = self.poison_at else { return };
        let rest = self.poison.get(at..).unwrap_or_default();
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        if at + n == self.poison.len() {
            self.poison_at = None;
            self.closed = true;
            // After the refusal head reads wait (hyper's default closes at once on the end
            // of the stream, before it answered): its answer closes the connection.
            self.stalled = self.poison == REFUSAL;
        } else {
            self.poison_at = Some(at + n);
        }
    }

    /// Record whether the client socket took a write (or flush) or refused it; the shared
    /// activity is only touched when that changes.
    fn watch_write<R>(&mut self, p: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        let blocked = p.is_pending();
        if blocked != self.write_blocked {
            self.write_blocked = blocked;
            if blocked {
                self.activity.write_refused();
            } else {
                self.activity.write_accepted();
            }
        }
        p
    }

    /// Called for every write: the first bytes of the response to an upgrade request say
    /// whether the stream becomes a tunnel.
    fn saw_response(&mut self, first: &[u8]) {
        if self.scanner.mode() == Mode::AwaitingUpgrade && !first.is_empty() {
            self.scanner
                .upgrade_result(first.starts_with(b"HTTP/1.1 101"));
            if let Some(w) = self.read_waker.take() {
                w.wake();
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.poison_at.is_some() {
            this.write_poison(buf);
            return Poll::Ready(Ok(()));
        }
        if this.stalled {
            return Poll::Pending;
        }
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        if this.scanner.mode() == Mode::AwaitingUpgrade {
            this.read_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let from = buf.filled().len();
        if !this.held.is_empty() {
            let n = this.held.len().min(buf.remaining());
            buf.put_slice(&this.held[..n]);
            this.held.drain(..n);
        } else {
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            if buf.filled().len() == from {
                return Poll::Ready(Ok(()));
            }
        }
        let now = Instant::now();
        this.activity.touch(now);
        if let Some(c) = &this.counters {
            c.bytes_in.add(c.worker, (buf.filled().len() - from) as u64);
        }
        this.judge(buf, from, now);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.saw_response(buf);
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        let n = ready!(this.watch_write(polled))?;
        this.activity.touch(Instant::now());
        if let Some(c) = &this.counters {
            c.bytes_out.add(c.worker, n as u64);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            this.saw_response(first);
        }
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        let n = ready!(this.watch_write(polled))?;
        this.activity.touch(Instant::now());
        if let Some(c) = &this.counters {
            c.bytes_out.add(c.worker, n as u64);
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch_write(polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
