//! `tls_passthrough` listeners: read the ClientHello's SNI without terminating TLS, route by
//! it to a pool, and relay the bytes unchanged (the backend's own certificate is what the
//! client sees). The relay closes a connection idle for the listener's `timeouts.idle` and
//! is cut at the grace deadline of a shutdown or of the listener's removal.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpStream;

use crate::proxy::Worker;
use crate::state::ListenerState;
use crate::stop::Stop;

/// Largest ClientHello accepted (handshake message plus record headers).
const MAX_HELLO: usize = fulcrum_l4::client_hello::MAX_CLIENT_HELLO;

/// Serve one passthrough connection to its end.
pub async fn serve(
    worker: Rc<Worker>,
    listener: Arc<ListenerState>,
    mut client: TcpStream,
    peer: SocketAddr,
    stop: Stop,
) {
    fulcrum_net::tune_stream(&client);
    let Some(table) = listener.passthrough.as_ref() else {
        return;
    };
    let started = Instant::now();
    let (hello, sni) =
        match fulcrum_l4::read_client_hello(&mut client, listener.timeouts.header, MAX_HELLO).await
        {
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
    let Some(backend) = pool.pick(worker.id, key).cloned() else {
        tracing::debug!(client = %peer, pool = %pool.name, "passthrough: no usable backend");
        return;
    };
    let _inflight = crate::backend::BackendInflight::new(&backend);
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
    let idle = Some(listener.timeouts.idle);
    let r = fulcrum_l4::relay(client, &hello, upstream, idle, stop.cut()).await;
    if let Some(m) = &listener.metrics {
        m.bytes_in.add(worker.id, r.up);
        m.bytes_out.add(worker.id, r.down);
    }
    tracing::debug!(client = %peer, sni = ?sni, backend = %backend.label, secs = started.elapsed().as_secs_f64(), end = ?r.end, "passthrough done");
}
