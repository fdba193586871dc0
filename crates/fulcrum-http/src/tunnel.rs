//! Upgraded HTTP/1.1 connections (`101 Switching Protocols`, e.g. WebSocket): once hyper hands
//! over both the client's and the backend's connection, their bytes are relayed by
//! [`fulcrum_l4::relay`] until either side closes, nothing moved either way for the
//! listener's `timeouts.idle`, the backend's drain runs out, or the grace deadline of a
//! shutdown (or of the listener's removal) passes.
//!
//! The proxy service cannot run the tunnel itself (it must return the `101` first), and a
//! detached task would escape shutdown: so it parks the tunnel in its client connection's
//! [`TunnelSlot`], and the connection's task (`server.rs`) runs it once hyper let go of the
//! connection. The tunnel thereby keeps the connection's `max_connections` slot and is waited
//! for by the accept loop like any connection.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::backend::BackendInflight;
use crate::proxy::ConnCtx;

type Tunnel = Pin<Box<dyn Future<Output = ()>>>;

/// Where a connection's tunnel waits to be run (at most one: only HTTP/1.1 upgrades).
#[derive(Default)]
pub struct TunnelSlot(RefCell<Option<Tunnel>>);

impl TunnelSlot {
    /// The parked tunnel, if the connection was upgraded.
    pub fn take(&self) -> Option<impl Future<Output = ()>> {
        self.0.borrow_mut().take()
    }
}

/// Park the tunnel between `client` and `backend` (the two halves of an accepted upgrade) in
/// the connection's slot. `inflight` counts it on its backend until it ends.
pub fn park(
    cx: &ConnCtx,
    client: OnUpgrade,
    backend: OnUpgrade,
    inflight: Option<BackendInflight>,
) {
    let idle = cx.listener.load().timeouts.idle;
    let stop = cx.hold.stop.clone();
    let peer = cx.peer;
    let tunnel = async move {
        let cut = async {
            // A tunnel to a backend whose drain ran out is cut like a stream.
            let drained = async {
                match &inflight {
                    Some(i) => i.backend().drain_expired().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.cut() => tracing::debug!(client = %peer, "tunnel cut: grace period over"),
                _ = drained => tracing::debug!(client = %peer, "tunnel cut: backend drain timed out"),
            }
        };
        tokio::pin!(cut);
        let (c, b) = tokio::select! {
            r = async { tokio::try_join!(client, backend) } => match r {
                Ok(pair) => pair,
                Err(e) => return tracing::debug!(client = %peer, error = %e, "upgrade failed"),
            },
            _ = &mut cut => return,
        };
        let r = fulcrum_l4::relay(TokioIo::new(c), &[], TokioIo::new(b), Some(idle), cut).await;
        tracing::debug!(client = %peer, up = r.up, down = r.down, end = ?r.end, "tunnel ended");
    };
    *cx.hold.tunnel.0.borrow_mut() = Some(Box::pin(tunnel));
}
