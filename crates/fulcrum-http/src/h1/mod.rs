//! The lean HTTP/1.1 → HTTP/1.1 engine: one task per client connection reads a request head
//! into a reused buffer, parses it with the guard's own scanner (its RFC 9112 rules are this
//! parser's rules: one scan, offsets instead of a header map), routes it, writes the
//! backend's head with one copy on a pooled backend connection of the worker (no lock, no
//! channel), streams the body re-framed, reads the response head the same way and writes it
//! back — small bodies in the same write as their heads.
//!
//! What it does not serve it hands to hyper, with the bytes it has read: HTTP/2 (prior
//! knowledge), upgrades, HTTP/1.0, `Expect`, absolute-form targets, pools with backend TLS,
//! connections from trusted front proxies and `https_redirect` listeners. The decision is
//! made per request, before anything is sent anywhere, and the connection stays with hyper
//! from then on.
//!
//! By phase: `client.rs` (the client connection and its buffer), `exchange.rs` (admission,
//! the backend, retries), `request.rs` (the request view and the backend's head),
//! `response.rs` (the backend's head and the client's), `relay.rs` (bodies), `local.rs`
//! (answers Fulcrum gives itself), `pool.rs` (the worker's backend connections and buffers).

mod client;
mod exchange;
mod local;
pub mod names;
mod pool;
mod prefixed;
/// Public for the fuzz targets (`fuzz/`), which drive [`relay::RespBody`]; the engine is its
/// only other user.
pub mod relay;
pub mod request;
pub mod response;
mod timer;

use std::future::Future;
use std::io;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub use pool::Pool;

use crate::server::Accepted;
use client::{Client, HeadRead, Wait};
use exchange::Next;

/// A client stream the fast path can serve.
pub trait ClientIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// Poll until a read would find bytes (or the end) without taking them, so an idle
    /// connection needs no buffer. `None`: this stream cannot tell (TLS keeps decrypted bytes
    /// inside), so it keeps its buffer while idle.
    fn poll_readable(&self, _cx: &mut Context<'_>) -> Option<Poll<io::Result<()>>> {
        None
    }

    /// Whether [`ClientIo::poll_readable`] can tell.
    fn waits_unbuffered(&self) -> bool {
        false
    }

    /// Read what is there without waiting (after [`ClientIo::poll_readable`] said there is
    /// something); `WouldBlock` when the readiness was stale.
    fn try_read_now(&self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl ClientIo for TcpStream {
    fn poll_readable(&self, cx: &mut Context<'_>) -> Option<Poll<io::Result<()>>> {
        Some(self.poll_read_ready(cx))
    }

    fn waits_unbuffered(&self) -> bool {
        true
    }

    fn try_read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_read(buf)
    }
}

impl ClientIo for tokio_rustls::server::TlsStream<TcpStream> {}

/// A keep-alive connection that waits this long for its next request is parked: the state of
/// an exchange (most of a connection's memory) is freed with the buffer and the scanner's
/// spans, and comes back, in one allocation, when the next request arrives. A connection whose
/// requests come closer together keeps it: no allocation per request under load. (NGINX and
/// HAProxy give an idle connection's request memory back at once.)
const PARK_AFTER: Duration = Duration::from_millis(100);

/// One connection's state between requests.
struct Conn<IO> {
    conn: Accepted,
    c: Client<IO>,
    peer_ip: http::HeaderValue,
    accepted: Instant,
    /// No request has been read yet.
    first: bool,
    /// When the last response ended (keep-alive idle counts from there).
    idle_from: Instant,
}

/// Serve one client connection until it closes, times out, is stopped, or is handed to hyper.
///
/// Not an `async fn`: its state is built here and moved into the future, which then holds it
/// once (an `async fn` would also keep its arguments).
pub(crate) fn serve<IO: ClientIo>(conn: Accepted, io: IO) -> impl Future<Output = ()> {
    let accepted = Instant::now();
    let c = Client::new(io, conn.worker.clone(), conn.hold.stop.clone(), accepted);
    let peer_ip = crate::headers::ip_value(conn.peer.ip());
    let mut s = Conn {
        conn,
        c,
        peer_ip,
        accepted,
        first: true,
        idle_from: accepted,
    };
    async move {
        loop {
            // Boxed: the exchange's state lives only while the connection is active.
            match Box::pin(active(s)).await {
                Some(parked) => s = parked,
                None => return,
            }
            s.c.shrink();
            let idle = s.conn.listener.load().timeouts.idle;
            let until = fulcrum_core::time::later(s.idle_from, idle);
            if s.c.wait_readable(until, false).await != Wait::Ready {
                Box::pin(s.c.close()).await;
                return;
            }
        }
    }
}

/// Serve requests until the connection ends (`None`: closed, timed out, stopped or handed to
/// hyper), or idles for [`PARK_AFTER`] (`Some`: its state, to wait small).
async fn active<IO: ClientIo>(mut s: Conn<IO>) -> Option<Conn<IO>> {
    loop {
        let (timeouts, max_head) = {
            let l = s.conn.listener.load();
            (l.timeouts, l.limits.max_header_bytes.max(8 * 1024))
        };
        // Wait for the next request (the first must arrive within the header timeout of
        // the accept; later ones within the keep-alive idle timeout).
        let first_deadline = fulcrum_core::time::later(s.accepted, timeouts.header);
        if s.c.pending().is_empty() {
            if !s.first && s.conn.hold.stop.deadline().is_some() {
                break;
            }
            let until = match s.first {
                true => first_deadline,
                false => fulcrum_core::time::later(s.idle_from, timeouts.idle),
            };
            let park_at = fulcrum_core::time::later(s.idle_from, PARK_AFTER);
            let parks = !s.first && s.c.io.waits_unbuffered() && park_at < until;
            match s
                .c
                .wait_readable(if parks { park_at } else { until }, s.first)
                .await
            {
                Wait::Ready => {}
                Wait::TimedOut if parks => return Some(s),
                Wait::TimedOut | Wait::Ended => break,
            }
        }
        // The request's clock starts with its first bytes.
        let start = Instant::now();
        let head_deadline = match s.first {
            true => first_deadline,
            false => fulcrum_core::time::later(start, timeouts.header),
        };
        s.first = false;
        match s.c.read_head(max_head, head_deadline).await {
            HeadRead::Head => {}
            HeadRead::Http2 => {
                hand_over(s.conn, s.c).await;
                return None;
            }
            HeadRead::Refused(status) => {
                local::refuse(&mut s.c, status).await;
                break;
            }
            HeadRead::Closed => break,
        }
        // The request is served on the snapshot current when its head arrived.
        let listener = s.conn.listener.load_full();
        let (next, ended) =
            exchange::exchange(&s.conn, &listener, &mut s.c, &s.peer_ip, start).await;
        s.idle_from = ended;
        match next {
            Next::KeepAlive => {}
            Next::Close => break,
            Next::HandOver => {
                hand_over(s.conn, s.c).await;
                return None;
            }
        }
    }
    s.c.close().await;
    None
}

/// Give the connection to hyper, replaying the bytes read and not yet served.
async fn hand_over<IO: ClientIo>(conn: Accepted, c: Client<IO>) {
    let (io, pending) = c.into_parts();
    // Boxed: the fast path's future must not hold room for hyper's connection state.
    Box::pin(crate::server::serve_hyper(
        conn,
        prefixed::Prefixed::new(pending, io),
    ))
    .await;
}
