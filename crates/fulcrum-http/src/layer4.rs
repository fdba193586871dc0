//! Connections of `tcp` listeners: counted in the listener's connection and byte metrics,
//! relayed by `fulcrum_l4::tcp`, and written to the access log (one line per connection).
//! And `udp` listeners' loops (`fulcrum_l4::udp::serve`, which counts its own datagrams): one
//! line per flow and backend when it ends. The layer-4 engine knows nothing of the worker;
//! this is where its outcome meets the worker's metrics shard and log.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use fulcrum_dataplane::{ListenSocket, ListenerState, WorkerListener};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::accept::LoopStop;
use crate::access_log::{now_ts, AccessLog};
use crate::proxy::Worker;
use crate::server::ActiveGuard;

/// One access-log line per relayed connection (tcp) or per flow and backend (udp).
#[derive(Debug, Serialize)]
pub struct ConnEntry<'a> {
    pub ts: f64,
    pub listener: &'a str,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    pub client: String,
    pub pool: Option<&'a str>,
    pub backend: Option<&'a str>,
    /// Bytes from the client to the backend and from the backend to the client.
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_ms: f64,
    /// What only one of the protocols has.
    #[serde(flatten)]
    pub detail: ConnDetail,
    /// How it ended: tcp `closed`, `idle`, `stopped`, `drained`, `failed`, `no_backend`,
    /// `connect_failed`; udp `expired`, `evicted`, `moved`, `refused`, `failed`, `stopped`.
    pub end: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// The fields of a [`ConnEntry`] that depend on its protocol.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ConnDetail {
    Tcp {
        connect_ms: Option<f64>,
        /// Backends tried.
        attempts: usize,
        /// Relayed with splice(2).
        zero_copy: bool,
    },
    Udp {
        /// Datagrams from the client (counted as they came) and passed to the client.
        datagrams_in: u64,
        datagrams_out: u64,
    },
}

/// Serve one connection of a tcp listener; `stop` cuts it at its deadline.
///
/// A function returning an `async move` block rather than an `async fn`: an `async fn` keeps
/// each argument twice in its state (as given, and moved into its body), for as long as the
/// connection lives.
// Not an `async fn`, which would hold its arguments twice (see above).
#[allow(clippy::manual_async_fn)]
pub(crate) fn serve_tcp(
    worker: Rc<Worker>,
    listener: Arc<ListenerState>,
    mut stream: TcpStream,
    who: fulcrum_l4::tcp::Client,
    stop: crate::stop::Stop,
) -> impl std::future::Future<Output = ()> {
    async move {
        // Made here, pinned once and lent down. The relay is told when stopping begins and
        // keeps the grace deadline on its own timer: a connection holds no second one.
        let begun = std::pin::pin!(stop.begun());
        let _active = listener.metrics.as_ref().map(|m| {
            m.connections_total.inc(worker.id);
            m.connections_active.inc();
            ActiveGuard(Some(m.connections_active.clone()))
        });
        let sampled = worker.access_log.sampled();
        // Lent, not moved: the relay's future holds no second copy of the socket or the client.
        let done = fulcrum_l4::tcp::serve(worker.id, &listener, &mut stream, &who, begun).await;
        if let Some(m) = &listener.metrics {
            m.bytes_in.add(worker.id, done.up);
            m.bytes_out.add(worker.id, done.down);
        }
        tracing::debug!(
            client = %who.addr,
            backend = done.backend.as_ref().map(|b| b.label.as_str()),
            end = done.end.as_str(),
            up = done.up,
            down = done.down,
            "tcp connection done"
        );
        if sampled {
            log(&worker.access_log, &listener, who.addr, &done);
        }
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
        detail: ConnDetail::Tcp {
            connect_ms: done.connect.map(|d| d.as_secs_f64() * 1000.0),
            attempts: done.attempts,
            zero_copy: done.zero_copy,
        },
        end: done.end.as_str(),
        error: done.error.as_deref(),
    });
}

/// Run a udp listener's loop on `l`'s socket until told to stop (then its flows close).
pub(crate) async fn serve_udp(
    worker: Rc<Worker>,
    l: WorkerListener,
    mut stopped: watch::Receiver<Option<LoopStop>>,
) {
    let ListenSocket::Udp(socket) = l.socket else {
        tracing::error!(listener = %l.name, "a tcp socket given to a udp loop");
        return;
    };
    let log = worker.clone();
    let on_end = Box::new(move |done: &fulcrum_l4::udp::FlowDone<'_>| {
        tracing::debug!(
            listener = done.listener,
            client = %done.client,
            backend = %done.backend.label,
            end = done.end.as_str(),
            datagrams_in = done.from_client.datagrams,
            datagrams_out = done.to_client.datagrams,
            "udp flow done"
        );
        if log.access_log.sampled() {
            log_flow(&log.access_log, done);
        }
    });
    let udp = fulcrum_l4::udp::UdpLoop {
        worker: worker.id,
        socket,
        state: l.state,
        limit: l.limit,
        on_end,
    };
    // A datagram socket has no backlog to drain and a flow no end to wait for: told to stop
    // (however), the loop closes its flows at once.
    let stop = async move {
        while stopped.borrow_and_update().is_none() {
            if stopped.changed().await.is_err() {
                break;
            }
        }
    };
    fulcrum_l4::udp::serve(udp, stop).await;
}

fn log_flow(log: &AccessLog, done: &fulcrum_l4::udp::FlowDone<'_>) {
    log.record(&ConnEntry {
        ts: now_ts(),
        listener: done.listener,
        protocol: "udp",
        client: done.client.to_string(),
        pool: Some(done.pool),
        backend: Some(&done.backend.label),
        bytes_in: done.from_client.bytes,
        bytes_out: done.to_client.bytes,
        duration_ms: done.duration.as_secs_f64() * 1000.0,
        detail: ConnDetail::Udp {
            datagrams_in: done.from_client.datagrams,
            datagrams_out: done.to_client.datagrams,
        },
        end: done.end.as_str(),
        error: done.error,
    });
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, B, C, D, E, F: Future>(_: impl FnOnce(A, B, C, D, E) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// An idle relayed TCP connection costs this future, tokio's task header and trailer (80
    /// bytes; the task is aligned to and rounded up to 128) and the two sockets' registrations
    /// (256 bytes each). 880 bytes on x86-64 with rustc 1.95, a 1,024-byte task (it was a
    /// 768-byte task plus a boxed 2,032-byte future before the relay was written by hand, the
    /// arguments stopped being held twice and the cut shared the relay's timer). The bound
    /// keeps the task at 1,024.
    #[test]
    fn a_tcp_connections_future_stays_small() {
        let size = future_size(super::serve_tcp);
        assert!(
            size <= 888,
            "a tcp connection's future grew to {size} bytes"
        );
    }
}
