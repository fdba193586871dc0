//! The byte relay between two connections, with an idle timeout and a stop signal.
//!
//! Used for everything Fulcrum forwards as opaque bytes: `tls_passthrough` connections (after
//! the ClientHello was read) and HTTP connections upgraded by a `101` (WebSocket tunnels).
//! A relay ends when both directions have ended (TCP half-close is carried through), when no
//! byte moved either way for the idle timeout, or when the caller's stop future resolves
//! (shutdown's grace deadline, a backend's drain running out). It reports how it ended and the
//! bytes each way, whatever the ending.
//!
//! `copy_bidirectional` moves bytes through user-space buffers; between two plain TCP sockets
//! on Linux, `crate::zero_copy` moves them through a pipe instead, with the same contract.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Why a relay ended.
#[derive(Debug)]
pub enum RelayEnd {
    /// Both sides finished sending (each EOF was passed on to the other side).
    Closed,
    /// No byte moved either way for the idle timeout.
    Idle,
    /// The caller's stop future resolved.
    Stopped,
    /// Reading or writing failed (a reset, a broken pipe).
    Failed(io::Error),
}

/// What a relay did.
#[derive(Debug)]
pub struct Relayed {
    /// Bytes written to the backend side (`initial` included).
    pub up: u64,
    /// Bytes written to the client side.
    pub down: u64,
    pub end: RelayEnd,
}

/// When the last byte moved, shared by both directions of one relay.
pub(crate) struct Activity {
    base: Instant,
    /// Nanoseconds after `base`.
    last: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity {
            base: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    pub(crate) fn touch(&self) {
        let n = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last.store(n, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        let n = Duration::from_nanos(self.last.load(Ordering::Relaxed));
        self.base.checked_add(n).unwrap_or(self.base)
    }
}

/// One side of the relay: marks activity on every byte read or written and counts the bytes
/// written to it.
struct Tracked<'a, S> {
    io: S,
    activity: &'a Activity,
    written: u64,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<'_, S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<'_, S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 {
                self.activity.touch();
                self.written = self
                    .written
                    .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
            }
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Resolves once nothing moved for `idle` (never when `idle` is `None`).
pub(crate) async fn idle_expired(activity: &Activity, idle: Option<Duration>) {
    let Some(idle) = idle else {
        return std::future::pending().await;
    };
    loop {
        let Some(deadline) = activity.last().checked_add(idle) else {
            return std::future::pending().await;
        };
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// Writes `initial` (e.g. the bytes [`crate::read_client_hello`] returned) to `backend`, then
/// copies bytes both ways until both directions have ended, nothing moved for `idle`, or
/// `stop` resolves. When one side finishes sending, the other is shut down for writing and
/// the opposite direction goes on (TCP half-close). On idle or stop both streams are dropped
/// (closed) on return.
pub async fn relay<C, B, S>(
    client: C,
    initial: &[u8],
    backend: B,
    idle: Option<Duration>,
    stop: S,
) -> Relayed
where
    C: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
    S: Future<Output = ()>,
{
    let activity = Activity::new();
    let mut c = Tracked {
        io: client,
        activity: &activity,
        written: 0,
    };
    let mut b = Tracked {
        io: backend,
        activity: &activity,
        written: 0,
    };
    let end = tokio::select! {
        r = async {
            b.write_all(initial).await?;
            tokio::io::copy_bidirectional(&mut c, &mut b).await
        } => match r {
            Ok(_) => RelayEnd::Closed,
            Err(e) => RelayEnd::Failed(e),
        },
        _ = idle_expired(&activity, idle) => RelayEnd::Idle,
        _ = stop => RelayEnd::Stopped,
    };
    Relayed {
        up: b.written,
        down: c.written,
        end,
    }
}

/// What cuts a relay before its sides are done, told as a time: shutdown's grace deadline,
/// a backend's drain running out (now). Unlike a future it is polled for as long as the relay
/// runs, also after it gave a time, so that a nearer cut (a drain running out during a
/// shutdown's grace period) replaces a later one.
pub trait Cut {
    /// `Ready(at)`: end the relay at `at` (at once if it is past). Polled again after that;
    /// it may then give an earlier time.
    fn poll_cut(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant>;
}

/// A relay nothing cuts.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCut;

impl Cut for NoCut {
    fn poll_cut(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Instant> {
        Poll::Pending
    }
}

impl<C: Cut + ?Sized> Cut for Pin<&mut C> {
    fn poll_cut(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        self.get_mut().as_mut().poll_cut(cx)
    }
}

/// Resolves when `cut` says, following it to an earlier time if it gives one (for relays that
/// take a plain stop future).
pub async fn cut_expired<C: Cut>(cut: C) {
    let mut cut = std::pin::pin!(cut);
    let mut at = std::future::poll_fn(|cx| cut.as_mut().poll_cut(cx)).await;
    let mut sleep = std::pin::pin!(tokio::time::sleep_until(at.into()));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(sooner) = cut.as_mut().poll_cut(cx) {
            if sooner < at {
                at = sooner;
                sleep.as_mut().reset(at.into());
            }
        }
        sleep.as_mut().poll(cx)
    })
    .await;
}
