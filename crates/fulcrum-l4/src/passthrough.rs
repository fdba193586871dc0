//! The tokio shell of TLS passthrough: read the ClientHello, route by its server name, relay
//! bytes both ways.
//!
//! [`serve`] is a `tls_passthrough` listener's connection from accept to close: the
//! ClientHello is read without terminating TLS ([`read_client_hello`], however it is split over
//! segments and records), its SNI picks a pool through the listener snapshot's SNI table, the
//! pool's balancer picks a backend (the connect's outcome is reported to the pool, for passive
//! health), and [`crate::relay`] sends the bytes already read, then everything else, unchanged
//! (the backend's own certificate is what the client sees). The relay closes a connection idle
//! for the listener's `timeouts.idle` and is cut when the caller's stop future resolves (the
//! grace deadline of a shutdown or of the listener's removal).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_dataplane::{BackendInflight, ListenerState};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;

use crate::client_hello::{parse_limited, Parsed, MAX_CLIENT_HELLO};
use crate::L4Error;

/// Bytes asked for per read while the ClientHello is incomplete; most hellos fit in one.
const READ_CHUNK: usize = 2048;

/// Reads from `stream` until the bytes read hold a whole ClientHello, and returns those bytes
/// (which may run past the hello; they all belong to the backend) with the server name.
///
/// `timeout` bounds the whole read; `max` bounds the bytes read (a hello that needs more is
/// [`L4Error::NotTls`], as is anything that is not a ClientHello). Works on any byte stream; a
/// listener passes its `TcpStream`.
pub async fn read_client_hello<S>(
    stream: &mut S,
    timeout: Duration,
    max: usize,
) -> Result<(Vec<u8>, Option<String>), L4Error>
where
    S: AsyncRead + Unpin + ?Sized,
{
    let mut buf = Vec::with_capacity(READ_CHUNK.min(max));
    let sni = tokio::time::timeout(timeout, read_until_parsed(stream, &mut buf, max))
        .await
        .map_err(|_| L4Error::Timeout)??;
    tracing::trace!(bytes = buf.len(), sni = sni.as_deref(), "client hello read");
    Ok((buf, sni))
}

async fn read_until_parsed<S>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<Option<String>, L4Error>
where
    S: AsyncRead + Unpin + ?Sized,
{
    loop {
        match parse_limited(buf, max) {
            Parsed::Done { sni, .. } => return Ok(sni),
            Parsed::NotTls(why) => return Err(L4Error::NotTls(why)),
            Parsed::NeedMore => {}
        }
        // While the answer is NeedMore the buffer is shorter than `max`, so `room` > 0; the
        // guard is for the reader, not for the parser.
        let room = max.saturating_sub(buf.len()).min(READ_CHUNK);
        if room == 0 {
            return Err(L4Error::NotTls("client hello too large"));
        }
        let start = buf.len();
        buf.resize(start + room, 0);
        let read = stream.read(&mut buf[start..]).await;
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                buf.truncate(start);
                return Err(e.into());
            }
        };
        buf.truncate(start + n);
        if n == 0 {
            return Err(L4Error::Closed(buf.len()));
        }
    }
}

/// Serve one passthrough connection of `listener` to its end, on worker `worker` (its balancer
/// state and metric shard). `stop` resolves when the relay must be cut. `who.addr` is the
/// client (from a trusted PROXY header, or the peer); a pool with `proxy_protocol` is told it.
pub async fn serve(
    worker: usize,
    listener: Arc<ListenerState>,
    mut client: TcpStream,
    who: crate::tcp::Client,
    stop: impl Future<Output = ()>,
) {
    let peer = who.addr;
    fulcrum_net::tune_stream(&client);
    let Some(table) = listener.passthrough.as_ref() else {
        return;
    };
    let started = Instant::now();
    let (hello, sni) =
        match read_client_hello(&mut client, listener.timeouts.header, MAX_CLIENT_HELLO).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(client = %peer, error = %e, "passthrough: no usable ClientHello");
                return;
            }
        };
    let Some(pool) = table.find(sni.as_deref()) else {
        tracing::debug!(client = %peer, sni = ?sni, "passthrough: no route for this server name");
        return;
    };
    let key = fulcrum_balance::hash_ip(peer.ip());
    let Some(backend) = pool.pick(worker, key).cloned() else {
        tracing::debug!(client = %peer, pool = %pool.name, "passthrough: no usable backend");
        return;
    };
    let _inflight = BackendInflight::new(&backend);
    let connected =
        tokio::time::timeout(pool.connect_timeout, TcpStream::connect(backend.addr)).await;
    let upstream = match connected {
        Ok(Ok(s)) => {
            pool.report(&backend, false);
            s
        }
        Ok(Err(e)) => {
            pool.report(&backend, true);
            tracing::debug!(backend = %backend.label, error = %e, "passthrough: backend refused");
            return;
        }
        Err(_) => {
            pool.report(&backend, true);
            tracing::debug!(backend = %backend.label, "passthrough: backend connect timeout");
            return;
        }
    };
    fulcrum_net::tune_stream(&upstream);
    let mut initial = Vec::new();
    who.proxy_header(pool.proxy_protocol, &client, &mut initial);
    initial.extend_from_slice(&hello);
    let idle = Some(listener.timeouts.idle);
    let r = crate::relay(client, &initial, upstream, idle, stop).await;
    if let Some(m) = &listener.metrics {
        m.bytes_in.add(worker, r.up);
        m.bytes_out.add(worker, r.down);
    }
    tracing::debug!(client = %peer, sni = ?sni, backend = %backend.label, secs = started.elapsed().as_secs_f64(), end = ?r.end, "passthrough done");
}
