//! A `tcp` listener's connection from accept to close: a backend of the listener's pool is
//! chosen (hash balancers key on the client address), connected within the pool's
//! `connect_timeout` — a backend that refuses or does not answer is reported to the pool
//! (passive health) and another is tried, up to [`MAX_ATTEMPTS`], before anything was read
//! from the client — and the bytes are relayed both ways until both sides closed, the
//! listener's idle timeout, the stop signal (shutdown's grace deadline, the listener's
//! removal) or the backend's drain running out.
//!
//! On Linux the relay splices through pipes leased per burst from the worker's pool
//! (`crate::zero_copy`); where that cannot be had (no pipes left, other platforms) it copies
//! (`crate::relay`). What happened is returned
//! for the access log and metrics, which the caller owns.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use fulcrum_dataplane::{BackendInflight, BackendState, DrainExpired, ListenerState, PoolState};
use tokio::net::TcpStream;

use crate::{Cut, RelayEnd, Relayed};

/// Backends tried per connection before giving up (each a different one when the pool has
/// that many).
pub const MAX_ATTEMPTS: usize = 3;

/// How a relayed TCP connection ended, for the access log's `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpEnd {
    /// Both sides closed (each end passed on to the other).
    Closed,
    /// No byte moved either way for the listener's idle timeout.
    Idle,
    /// Cut by a shutdown's grace deadline or the listener's removal.
    Stopped,
    /// Cut when its backend's `drain_timeout` ran out.
    Drained,
    /// A side reset the connection, or a read or write failed.
    Failed,
    /// The pool had no usable backend.
    NoBackend,
    /// Every backend tried refused or did not accept in time.
    ConnectFailed,
}

impl TcpEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            TcpEnd::Closed => "closed",
            TcpEnd::Idle => "idle",
            TcpEnd::Stopped => "stopped",
            TcpEnd::Drained => "drained",
            TcpEnd::Failed => "failed",
            TcpEnd::NoBackend => "no_backend",
            TcpEnd::ConnectFailed => "connect_failed",
        }
    }
}

/// What one connection did.
#[derive(Debug)]
pub struct TcpDone {
    pub pool: Option<Arc<PoolState>>,
    /// The backend it was relayed to (the last one tried when none accepted).
    pub backend: Option<Arc<BackendState>>,
    /// Connects tried.
    pub attempts: usize,
    /// Time to the backend's accept (of the attempt that succeeded).
    pub connect: Option<Duration>,
    /// Bytes sent to the backend and to the client.
    pub up: u64,
    pub down: u64,
    pub end: TcpEnd,
    /// The error that ended it (`Failed`, `ConnectFailed`).
    pub error: Option<String>,
    /// Relayed with splice(2) (false: copied through user space).
    pub zero_copy: bool,
    pub duration: Duration,
}

/// Who the client is, as the accept loop established it.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// The client's address: the peer's, or the one a trusted front balancer's PROXY header
    /// gave.
    pub addr: SocketAddr,
    /// The address it connected to, when a PROXY header said (else the socket's own).
    pub destination: Option<SocketAddr>,
    /// The peer is not trusted to send a PROXY header on a listener that reads them: a
    /// connection that starts with one is refused, not relayed.
    pub refuse_proxy_header: bool,
}

impl Client {
    /// Append the PROXY header a backend of a pool with `proxy_protocol = version` is sent
    /// first (nothing without one): the client, and the address it connected to — the one a
    /// front balancer's header named, else `socket`'s own.
    pub fn proxy_header(
        &self,
        version: Option<fulcrum_config::model::ProxyVersion>,
        socket: &TcpStream,
        out: &mut Vec<u8>,
    ) {
        let Some(version) = version else {
            return;
        };
        let destination = self
            .destination
            .or_else(|| socket.local_addr().ok())
            .unwrap_or(self.addr);
        crate::proxy_header::encode(version, self.addr, destination, out);
    }
}

/// Serve one connection of a tcp `listener` on worker `worker` (its balancer state). `stop`
/// resolves when stopping begins, with the time the connection must be cut at (shutdown's
/// grace deadline); it is cut at once when its backend's drain runs out.
///
/// An idle connection's cost is mostly this future's state, so everything it is given is
/// borrowed (an owned argument would be stored here and again in each future it is passed
/// to), the body is an `async move` block (an `async fn` stores its arguments twice), the
/// connect phase is boxed (freed before the relay begins), the relay keeps one timer for its
/// idle timeout and the cut, and `stop` is best passed pinned by reference
/// (`std::pin::pin!(f)`, a `Pin<&mut F>`).
// Not an `async fn`, which would hold its arguments twice (see above).
#[allow(clippy::manual_async_fn)]
pub fn serve<'a>(
    worker: usize,
    listener: &'a ListenerState,
    client: &'a mut TcpStream,
    who: &'a Client,
    stop: impl Future<Output = Instant> + 'a,
) -> impl Future<Output = TcpDone> + 'a {
    async move {
        let started = Instant::now();
        fulcrum_net::tune_stream(client);
        let mut done = TcpDone {
            pool: listener.l4_pool.clone(),
            backend: None,
            attempts: 0,
            connect: None,
            up: 0,
            down: 0,
            end: TcpEnd::NoBackend,
            error: None,
            zero_copy: false,
            duration: Duration::ZERO,
        };
        let Some(pool) = listener.l4_pool.as_ref() else {
            return done;
        };
        let key = fulcrum_balance::hash_ip(who.addr.ip());
        // Boxed: the connect phase's state (its timeout, the connect future) is freed before the
        // relay begins instead of sizing every connection's future.
        let Some((backend, mut upstream, _inflight)) =
            Box::pin(connect(pool, worker, key, &mut done)).await
        else {
            done.duration = started.elapsed();
            return done;
        };
        fulcrum_net::tune_stream(&upstream);
        // The pool's backends are told who the client is before its first byte.
        let mut initial = Vec::new();
        who.proxy_header(pool.proxy_protocol, client, &mut initial);
        let refuse = who
            .refuse_proxy_header
            .then_some(crate::proxy_header::looks_like_header as fn(&[u8]) -> bool);
        // Lent to the relay pinned, not moved into it.
        let mut cut = std::pin::pin!(Cuts {
            stop,
            stop_at: None,
            drain: backend.drain_expired(),
            drained_at: None,
        });
        let idle = Some(listener.timeouts.idle);
        // Awaited here, not through a wrapper future: its state would be one more layer of
        // every idle connection's.
        done.zero_copy = can_splice();
        let r = match done.zero_copy {
            #[cfg(target_os = "linux")]
            true => {
                crate::zero_copy::relay(client, &initial, &upstream, idle, cut.as_mut(), refuse)
                    .await
            }
            // Boxed: the fallback's state does not enlarge every spliced connection's.
            _ => {
                let copying = copied(client, &initial, &mut upstream, idle, cut.as_mut(), refuse);
                Box::pin(copying).await
            }
        };
        done.up = r.up;
        done.down = r.down;
        done.end = match r.end {
            RelayEnd::Closed => TcpEnd::Closed,
            RelayEnd::Idle => TcpEnd::Idle,
            RelayEnd::Stopped if cut.drained_at.is_some() => TcpEnd::Drained,
            RelayEnd::Stopped => TcpEnd::Stopped,
            RelayEnd::Failed(e) => {
                done.error = Some(e.to_string());
                TcpEnd::Failed
            }
        };
        done.duration = started.elapsed();
        done
    }
}

/// Connect to a backend of `pool`, trying others when one fails.
async fn connect(
    pool: &PoolState,
    worker: usize,
    key: u64,
    done: &mut TcpDone,
) -> Option<(Arc<BackendState>, TcpStream, BackendInflight)> {
    let mut tried: Vec<*const BackendState> = Vec::new();
    while done.attempts < MAX_ATTEMPTS {
        let Some(b) = choose(pool, worker, key, &tried) else {
            break;
        };
        tried.push(Arc::as_ptr(b));
        done.attempts += 1;
        done.backend = Some(b.clone());
        let inflight = BackendInflight::new(b);
        let at = Instant::now();
        match tokio::time::timeout(pool.connect_timeout, TcpStream::connect(b.addr)).await {
            Ok(Ok(s)) => {
                pool.report(b, false);
                done.connect = Some(at.elapsed());
                return Some((b.clone(), s, inflight));
            }
            Ok(Err(e)) => {
                pool.report(b, true);
                tracing::debug!(backend = %b.label, error = %e, "tcp: backend refused");
                done.error = Some(format!("connect to {}: {e}", b.label));
            }
            Err(_) => {
                pool.report(b, true);
                tracing::debug!(backend = %b.label, "tcp: backend connect timeout");
                done.error = Some(format!(
                    "connect to {}: no answer within {:?}",
                    b.label, pool.connect_timeout
                ));
            }
        }
        done.end = TcpEnd::ConnectFailed;
    }
    None
}

/// The balancer's choice for `key`, or — when it chose a backend already `tried` — its next
/// choices, then the first usable backend not tried yet.
fn choose<'p>(
    pool: &'p PoolState,
    worker: usize,
    key: u64,
    tried: &[*const BackendState],
) -> Option<&'p Arc<BackendState>> {
    let fresh = |b: &Arc<BackendState>| !tried.contains(&Arc::as_ptr(b));
    for attempt in 0..3u64 {
        let k = match attempt {
            0 => key,
            n => key ^ fulcrum_balance::mix64(n + tried.len() as u64),
        };
        let b = pool.pick(worker, k)?;
        if fresh(b) {
            return Some(b);
        }
    }
    pool.backends
        .iter()
        .find(|b| fresh(b) && b.effective_weight() > 0)
}

/// Whether this thread can relay by splicing (Linux, with a pipe to be had).
fn can_splice() -> bool {
    #[cfg(target_os = "linux")]
    {
        crate::zero_copy::available()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The copying relay: `initial` goes to the backend first; `refuse` tests the client's first
/// bytes.
async fn copied(
    client: &mut TcpStream,
    initial: &[u8],
    backend: &mut TcpStream,
    idle: Option<Duration>,
    cut: impl Cut,
    refuse: Option<fn(&[u8]) -> bool>,
) -> Relayed {
    let client = FirstBytesChecked { io: client, refuse };
    crate::relay(client, initial, backend, idle, crate::cut_expired(cut)).await
}

pin_project_lite::pin_project! {
    /// What cuts a tcp connection: `stop` (shutdown's grace deadline, once it begins) or its
    /// backend's drain running out (now), whichever is sooner.
    struct Cuts<'a, S> {
        #[pin]
        stop: S,
        stop_at: Option<Instant>,
        #[pin]
        drain: DrainExpired<'a>,
        drained_at: Option<Instant>,
    }
}

impl<S: Future<Output = Instant>> Cut for Cuts<'_, S> {
    fn poll_cut(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        let this = self.project();
        // Each source is polled until it answered, never after.
        if this.drained_at.is_none() && this.drain.poll(cx).is_ready() {
            *this.drained_at = Some(Instant::now());
        }
        if this.stop_at.is_none() {
            if let Poll::Ready(at) = this.stop.poll(cx) {
                *this.stop_at = Some(at);
            }
        }
        match this.drained_at.iter().chain(this.stop_at.iter()).min() {
            Some(at) => Poll::Ready(*at),
            None => Poll::Pending,
        }
    }
}

/// A client stream whose first bytes read are tested (the copying relay's twin of the
/// splicing relay's peek): `refuse` saying yes fails the read.
struct FirstBytesChecked<S> {
    io: S,
    refuse: Option<fn(&[u8]) -> bool>,
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstBytesChecked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let first = buf.filled().get(before..).unwrap_or_default();
            if !first.is_empty() {
                if let Some(test) = self.refuse.take() {
                    if test(first) {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "refused the client's first bytes",
                        )));
                    }
                }
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstBytesChecked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
