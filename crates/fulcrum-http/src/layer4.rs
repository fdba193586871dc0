//! Connections of `tcp` listeners: counted in the listener's connection and byte metrics,
//! relayed by `fulcrum_l4::tcp`, and written to the access log (one line per connection).
//! The layer-4 engine knows nothing of the worker; this is where its outcome meets the
//! worker's metrics shard and log.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use fulcrum_dataplane::ListenerState;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::access_log::{now_ts, AccessLog};
use crate::proxy::Worker;
use crate::server::ActiveGuard;

/// One access-log line per relayed connection.
#[derive(Debug, Serialize)]
pub struct ConnEntry<'a> {
    pub ts: f64,
    pub listener: &'a str,
    /// `tcp`.
    pub protocol: &'static str,
    pub client: String,
    pub pool: Option<&'a str>,
    pub backend: Option<&'a str>,
    /// Bytes sent to the backend (from the client) and to the client (from the backend).
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_ms: f64,
    pub connect_ms: Option<f64>,
    /// Backends tried.
    pub attempts: usize,
    /// How it ended: `closed`, `idle`, `stopped`, `drained`, `failed`, `no_backend`,
    /// `connect_failed`.
    pub end: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    /// Relayed with splice(2).
    pub zero_copy: bool,
}

/// Serve one connection of a tcp listener; `stop` cuts it.
pub(crate) async fn serve_tcp(
    worker: Rc<Worker>,
    listener: Arc<ListenerState>,
    stream: TcpStream,
    who: fulcrum_l4::tcp::Client,
    stop: impl std::future::Future<Output = ()>,
) {
    let peer = who.addr;
    let _active = listener.metrics.as_ref().map(|m| {
        m.connections_total.inc(worker.id);
        m.connections_active.inc();
        ActiveGuard(Some(m.connections_active.clone()))
    });
    let sampled = worker.access_log.sampled();
    let done = fulcrum_l4::tcp::serve(worker.id, listener.clone(), stream, who, stop).await;
    if let Some(m) = &listener.metrics {
        m.bytes_in.add(worker.id, done.up);
        m.bytes_out.add(worker.id, done.down);
    }
    tracing::debug!(
        client = %peer,
        backend = done.backend.as_ref().map(|b| b.label.as_str()),
        end = done.end.as_str(),
        up = done.up,
        down = done.down,
        "tcp connection done"
    );
    if sampled {
        log(&worker.access_log, &listener, peer, &done);
    }
}

fn log(
    log: &AccessLog,
    listener: &ListenerState,
    peer: SocketAddr,
    done: &fulcrum_l4::tcp::TcpDone,
) {
    log.record(&ConnEntry {
        ts: now_ts(),
        listener: &listener.name,
        protocol: "tcp",
        client: peer.to_string(),
        pool: done.pool.as_ref().map(|p| p.name.as_str()),
        backend: done.backend.as_ref().map(|b| b.label.as_str()),
        bytes_in: done.up,
        bytes_out: done.down,
        duration_ms: done.duration.as_secs_f64() * 1000.0,
        connect_ms: done.connect.map(|d| d.as_secs_f64() * 1000.0),
        attempts: done.attempts,
        end: done.end.as_str(),
        error: done.error.as_deref(),
        zero_copy: done.zero_copy,
    });
}
