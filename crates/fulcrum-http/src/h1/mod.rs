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

use std::io;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub use pool::Pool;

use crate::server::Accepted;
use client::{Client, HeadRead};
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

/// Serve one client connection until it closes, times out, is stopped, or is handed to hyper.
pub(crate) async fn serve<IO: ClientIo>(conn: Accepted, io: IO) {
    let accepted = Instant::now();
    let mut c = Client::new(io, conn.worker.clone(), conn.hold.stop.clone(), accepted);
    let peer_ip = crate::headers::ip_value(conn.peer.ip());
    let mut first = true;
    // When the last response ended (keep-alive idle counts from there).
    let mut idle_from = accepted;
    loop {
        let (timeouts, max_head) = {
            let l = conn.listener.load();
            (l.timeouts, l.limits.max_header_bytes.max(8 * 1024))
        };
        // Wait for the next request (the first must arrive within the header timeout of
        // the accept; later ones within the keep-alive idle timeout).
        let first_deadline = fulcrum_core::time::later(accepted, timeouts.header);
        if c.pending().is_empty() {
            if !first && conn.hold.stop.deadline().is_some() {
                break;
            }
            let until = match first {
                true => first_deadline,
                false => fulcrum_core::time::later(idle_from, timeouts.idle),
            };
            if !c.wait_readable(until, first).await {
                break;
            }
        }
        // The request's clock starts with its first bytes.
        let start = Instant::now();
        let head_deadline = match first {
            true => first_deadline,
            false => fulcrum_core::time::later(start, timeouts.header),
        };
        first = false;
        match c.read_head(max_head, head_deadline).await {
            HeadRead::Head => {}
            HeadRead::Http2 => return hand_over(conn, c).await,
            HeadRead::Refused(status) => {
                local::refuse(&mut c, status).await;
                break;
            }
            HeadRead::Closed => break,
        }
        // The request is served on the snapshot current when its head arrived.
        let listener = conn.listener.load_full();
        let (next, ended) = exchange::exchange(&conn, &listener, &mut c, &peer_ip, start).await;
        idle_from = ended;
        match next {
            Next::KeepAlive => {}
            Next::Close => break,
            Next::HandOver => return hand_over(conn, c).await,
        }
    }
    c.close().await;
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
