//! One client connection: guard + hyper (HTTP/1.1 or HTTP/2 by prior knowledge) + a watchdog
//! for the header, keep-alive idle and send timeouts, the HTTP/2 stall and rapid-reset checks
//! (`h2conn.rs`), and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;

use crate::guard::{ByteCounters, ConnActivity, GuardedIo};
use crate::proxy::{self, ClientCert, ConnCtx, Worker};
use crate::state::ListenerState;
use crate::stop::Stop;
use crate::tunnel::TunnelSlot;

/// Runs futures on the current worker's `LocalSet`: connection state is `Rc`, never crosses
/// threads.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// Response bytes hyper may buffer per HTTP/2 stream beyond what the socket took (hyper's
/// default is 400 KiB, which a client that never reads turns into 100 MiB per connection).
const H2_SEND_BUFFER: usize = 64 * 1024;

/// A connection's whole future, boxed once per connection: each layer that sets a
/// connection up returns it rather than awaiting it, so an idle connection's task holds one
/// layer's state, not a copy of every layer's arguments (async functions keep those).
pub type ConnFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Serve one accepted client connection until it closes, times out, or `stop` ends it.
/// `local_port` is the listening socket's port (for `X-Forwarded-Port`).
pub fn serve(
    worker: Rc<Worker>,
    listener: Arc<ArcSwap<ListenerState>>,
    stream: TcpStream,
    peer: SocketAddr,
    local_port: Option<http::HeaderValue>,
    shutdown: Stop,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> ConnFuture {
    fulcrum_net::tune_stream(&stream);
    let facts = ConnFacts {
        local_port,
        client_cert: None,
        sni: None,
    };
    let acceptor = listener.load().tls.clone();
    let Some(acceptor) = acceptor else {
        return serve_io(worker, listener, stream, peer, facts, shutdown, permit);
    };
    Box::pin(serve_tls(
        acceptor, worker, listener, stream, peer, facts, shutdown, permit,
    ))
}

/// An https connection: the handshake, then HTTP on the decrypted stream.
#[allow(clippy::too_many_arguments)]
async fn serve_tls(
    acceptor: Arc<fulcrum_tls::TlsAcceptor>,
    worker: Rc<Worker>,
    listener: Arc<ArcSwap<ListenerState>>,
    stream: TcpStream,
    peer: SocketAddr,
    mut facts: ConnFacts,
    shutdown: Stop,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    // The handshake is bounded by the acceptor's timeout (the listener's header timeout).
    match acceptor.accept(stream).await {
        Ok((tls, info)) => {
            facts.sni = info.sni.map(String::into_boxed_str);
            facts.client_cert = info.client.map(|c| ClientCert {
                subject: http::HeaderValue::from_str(&c.subject)
                    .unwrap_or_else(|_| http::HeaderValue::from_static("")),
                sans: http::HeaderValue::from_str(&c.san_string())
                    .unwrap_or_else(|_| http::HeaderValue::from_static("")),
            });
            serve_io(worker, listener, tls, peer, facts, shutdown, permit).await;
        }
        Err(e) => tracing::debug!(client = %peer, error = %e, "TLS handshake failed"),
    }
}

/// What is known of a connection before HTTP starts on it.
pub(crate) struct ConnFacts {
    /// The port the client connected to, for `X-Forwarded-Port`.
    pub(crate) local_port: Option<http::HeaderValue>,
    /// https: the verified client certificate and the SNI the handshake settled.
    pub(crate) client_cert: Option<ClientCert>,
    pub(crate) sni: Option<Box<str>>,
}

/// A connection as the engines get it: who is at the other end, what holds its slot, and
/// its byte counters.
pub(crate) struct Accepted {
    pub(crate) worker: Rc<Worker>,
    pub(crate) listener: Arc<ArcSwap<ListenerState>>,
    pub(crate) peer: SocketAddr,
    pub(crate) facts: ConnFacts,
    pub(crate) hold: Rc<ConnHold>,
    pub(crate) counters: Option<ByteCounters>,
}

/// Serve HTTP on an accepted (and, for https, decrypted) stream: with the lean HTTP/1.1
/// engine (`crate::h1`, which hands hyper what it does not serve itself), or with hyper.
fn serve_io<IO>(
    worker: Rc<Worker>,
    listener: Arc<ArcSwap<ListenerState>>,
    stream: IO,
    peer: SocketAddr,
    facts: ConnFacts,
    shutdown: Stop,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> ConnFuture
where
    IO: crate::h1::ClientIo,
{
    let l = listener.load_full();
    let counters = l.metrics.as_ref().map(|m| {
        m.connections_total.inc(worker.id);
        m.connections_active.inc();
        ByteCounters {
            worker: worker.id,
            bytes_in: m.bytes_in.clone(),
            bytes_out: m.bytes_out.clone(),
        }
    });
    // The connection's slot and `connections_active` are released however it ends, and only
    // once an upgraded tunnel (which shares this hold) has ended too.
    let hold = Rc::new(ConnHold {
        _permit: permit,
        _active: ActiveGuard(l.metrics.as_ref().map(|m| m.connections_active.clone())),
        stop: shutdown,
        tunnel: TunnelSlot::default(),
    });
    let engine = l.engine;
    drop(l);
    let conn = Accepted {
        worker,
        listener,
        peer,
        facts,
        hold,
        counters,
    };
    match engine {
        fulcrum_config::model::Engine::Auto => Box::pin(crate::h1::serve(conn, stream)),
        fulcrum_config::model::Engine::Hyper => Box::pin(serve_hyper(conn, stream)),
    }
}

/// Serve the connection with hyper (HTTP/1.1, or HTTP/2 by prior knowledge), from its first
/// byte or from the request the fast path handed over (whose bytes `stream` replays).
pub(crate) async fn serve_hyper<IO>(conn: Accepted, stream: IO)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let Accepted {
        worker,
        listener,
        peer,
        facts,
        hold,
        counters,
    } = conn;
    let l = listener.load_full();
    let timeouts = l.timeouts;
    let proto = l.proto.clone();
    let limits = l.limits;
    let max_head = limits.max_header_bytes.max(8 * 1024);
    drop(l);
    let shutdown = hold.stop.clone();
    let conn_hold = hold.clone();
    let activity = ConnActivity::new(Instant::now());
    let cx = Rc::new(ConnCtx {
        worker,
        listener,
        peer,
        peer_ip: crate::headers::ip_value(peer.ip()),
        activity: activity.clone(),
        proto,
        local_port: facts.local_port,
        client_cert: facts.client_cert,
        sni: facts.sni,
        hold,
        h2: std::cell::OnceCell::new(),
    });
    // The watchdog's view of the connection's HTTP/2 streams.
    let streams = cx.clone();
    let io = TokioIo::new(GuardedIo::new(stream, activity.clone(), counters));
    let service = service_fn(move |req| proxy::handle(cx.clone(), req));

    let mut builder = auto::Builder::new(LocalExec);
    builder
        .http1()
        .timer(TokioTimer::new())
        // The watchdog below owns the header timeout (from accept or a head's first byte).
        .header_read_timeout(None)
        .max_buf_size(max_head)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_send_buf_size(H2_SEND_BUFFER)
        .max_header_list_size(u32::try_from(max_head).unwrap_or(u32::MAX));
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);

    // The watchdog shares the connection's task: every time the task is polled (any I/O
    // progress) the deadline is recomputed, and the timer is re-armed only when the deadline
    // moved earlier (a head started), so a busy keep-alive connection costs no timer work
    // per request beyond that.
    // Shutdown lets a request head that has begun arrive in full (and be answered) before
    // the connection is told to close: closing under a half-sent head resets it.
    let mut hard_deadline: Option<Instant> = shutdown.deadline();
    let mut draining = hard_deadline.is_some();
    let mut close_after_head = draining;
    let far = || after(Instant::now(), Duration::from_secs(3600));
    let mut armed = far();
    let sleep = tokio::time::sleep_until(armed.into());
    tokio::pin!(sleep);
    let stop = shutdown;
    let shutdown_signal = async move { stop.begun().await };
    tokio::pin!(shutdown_signal);
    let scan_every = (timeouts.send / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut next_scan: Option<Instant> = None;
    loop {
        let event = std::future::poll_fn(|cx| {
            if let Poll::Ready(res) = conn.as_mut().poll(cx) {
                return Poll::Ready(Event::Closed(res.err()));
            }
            if !draining {
                if let Poll::Ready(deadline) = shutdown_signal.as_mut().poll(cx) {
                    return Poll::Ready(Event::Shutdown(deadline));
                }
            }
            if close_after_head && activity.head_since().is_none() {
                return Poll::Ready(Event::HeadDone);
            }
            let h2 = streams.h2.get();
            if !draining && h2.is_some_and(|h| h.must_calm_down()) {
                return Poll::Ready(Event::CalmDown);
            }
            // Stalled HTTP/2 streams are looked for while any is registered.
            if h2.is_some_and(|h| h.watching()) {
                next_scan.get_or_insert_with(|| after(Instant::now(), scan_every));
            }
            let mut want = next_wake(&activity, &timeouts, draining, hard_deadline);
            if let Some(t) = next_scan {
                want = want.min(t);
            }
            if want < armed {
                armed = want;
                sleep.as_mut().reset(want.into());
            }
            if sleep.as_mut().poll(cx).is_ready() {
                armed = far();
                sleep.as_mut().reset(armed.into());
                return Poll::Ready(Event::Timer);
            }
            Poll::Pending
        })
        .await;
        let now = Instant::now();
        match event {
            Event::Closed(err) => {
                if let Some(e) = err {
                    tracing::debug!(client = %peer, error = %e, "connection ended with an error");
                }
                // An upgraded connection goes on as a tunnel, in this task.
                if let Some(tunnel) = conn_hold.tunnel.take() {
                    tunnel.await;
                }
                return;
            }
            Event::Shutdown(deadline) => {
                draining = true;
                hard_deadline = Some(deadline);
                close_after_head = true;
            }
            Event::HeadDone => {
                close_after_head = false;
                conn.as_mut().graceful_shutdown();
            }
            Event::CalmDown => {
                // GOAWAY now; streams in flight get a second to finish.
                draining = true;
                hard_deadline = Some(after(now, Duration::from_secs(1)));
                conn.as_mut().graceful_shutdown();
            }
            Event::Timer => {
                if hard_deadline.is_some_and(|d| now >= d) {
                    return;
                }
                // The client has not taken a byte for `send`: it is not reading (NGINX's
                // send_timeout). Closing releases every stream and backend connection.
                if activity
                    .write_blocked_since()
                    .is_some_and(|since| now >= after(since, timeouts.send))
                {
                    tracing::debug!(client = %peer, "client not reading: send timeout");
                    return;
                }
                if next_scan.is_some_and(|t| now >= t) {
                    next_scan = None;
                    if let Some(h2) = streams.h2.get() {
                        let hard = stall_limit(&timeouts);
                        let cut = h2.scan(now, activity.write_stalls(), timeouts.send, hard);
                        if cut > 0 {
                            tracing::debug!(client = %peer, streams = cut, "cut HTTP/2 streams the client does not read");
                        }
                    }
                }
                if activity
                    .head_since()
                    .is_some_and(|since| now >= after(since, timeouts.header))
                {
                    tracing::debug!(client = %peer, "request head timeout");
                    return;
                }
                // A request in flight whose bytes stopped moving both ways for this long (a
                // client trickling a body, or not reading the response) is cut off.
                if activity.inflight() > 0 && now >= after(activity.last(), stall_limit(&timeouts))
                {
                    tracing::debug!(client = %peer, "no progress on a request in flight; closing");
                    return;
                }
                if !draining
                    && activity.inflight() == 0
                    && activity.head_since().is_none()
                    && now >= after(activity.idle_since(), timeouts.idle)
                {
                    tracing::trace!(client = %peer, "keep-alive idle timeout");
                    draining = true;
                    hard_deadline = Some(after(now, Duration::from_secs(1)));
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// What a client connection holds while it (or a tunnel it became) lives.
pub struct ConnHold {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _active: ActiveGuard,
    /// The accept loop's stop signal, for the tunnel.
    pub stop: Stop,
    /// The tunnel an upgrade parked, run by this connection's task once hyper is done.
    pub tunnel: TunnelSlot,
}

pub(crate) struct ActiveGuard(pub(crate) Option<fulcrum_telemetry::Gauge>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.dec();
        }
    }
}

enum Event {
    Closed(Option<Box<dyn std::error::Error + Send + Sync>>),
    /// Stopping began; connections end by this deadline.
    Shutdown(Instant),
    /// No request head is in progress any more: the connection may be told to close.
    HeadDone,
    /// The HTTP/2 client resets most of its streams early (rapid reset).
    CalmDown,
    Timer,
}

/// `t + d`, never panicking (`fulcrum_core::time::later`).
fn after(t: Instant, d: Duration) -> Instant {
    fulcrum_core::time::later(t, d)
}

/// How long a request in flight may go without a byte moving on the client connection:
/// the longer of the idle and request timeouts.
fn stall_limit(t: &fulcrum_config::model::Timeouts) -> Duration {
    t.idle.max(t.request)
}

/// When the watchdog must look again.
fn next_wake(
    a: &ConnActivity,
    timeouts: &fulcrum_config::model::Timeouts,
    draining: bool,
    hard: Option<Instant>,
) -> Instant {
    let t = match a.head_since() {
        Some(since) => after(since, timeouts.header),
        None if a.inflight() == 0 && !draining => after(a.idle_since(), timeouts.idle),
        None if a.inflight() > 0 => after(a.last(), stall_limit(timeouts)),
        // Draining with nothing in flight: only the hard deadline applies.
        None => after(a.last(), Duration::from_secs(3600)),
    };
    let t = match a.write_blocked_since() {
        Some(since) => t.min(after(since, timeouts.send)),
        None => t,
    };
    hard.map_or(t, |h| t.min(h))
}
