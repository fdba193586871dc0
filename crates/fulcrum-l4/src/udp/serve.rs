//! A udp listener on one worker: the tokio shell around the flow table and the batches.
//!
//! One loop per worker and bind address reads the listener's `SO_REUSEPORT` socket in batches
//! ([`RecvBatch`]); the kernel keeps each client (address and port) on one socket of the set,
//! so this worker's [`FlowTable`](super::FlowTable) is the whole truth about its clients. For
//! each datagram the flow table says which backend: a new or moved flow gets a backend socket
//! of its own, connected from an ephemeral port (so replies are told apart by socket, and an
//! ICMP "port unreachable" comes back as `ECONNREFUSED`), and a small task on the worker's
//! `LocalSet` that waits for that socket: replies are sent to the client from the listener's
//! socket, so the client sees the address it sent to. Idle flows expire on a timer set to
//! [`next_expiry`](super::FlowTable::next_expiry); an expired, evicted or moved flow's socket
//! and task go with it. `max_flows` holds for the listener as a whole: a flow holds one permit
//! of the listener's semaphore (shared by every worker), and at the limit a new client here
//! takes the permit of this worker's least recently active flow.
//!
//! Nothing waits: a datagram a socket cannot take at once (`WouldBlock`) is dropped and
//! counted, never queued. Outcomes go to the pool only where UDP says anything: a refused
//! backend socket is a failure (passive health), a flow's first reply a success.
//!
//! Must not: know the worker, its access log or HTTP (what ends is handed to `on_end`), or
//! block the worker on any one flow.

mod ending;
mod forward;
mod replies;
mod shared;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use fulcrum_dataplane::{BackendState, ListenerState};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use super::flows::Traffic;
use super::RecvBatch;
use shared::Shared;

/// Datagrams taken per system call, from clients and from each backend socket.
pub const BATCH: usize = 32;
/// Receive buffers are this large, so no UDP datagram (at most 65,527 bytes of payload) is
/// ever cut. They are zeroed lazily by the kernel: only what datagrams fill is resident.
pub const MAX_DATAGRAM: usize = 65_536;
/// Batches read per wakeup before other tasks of the worker get a turn.
const ROUNDS: usize = 8;

/// What one loop is given: a listener's UDP socket on one worker and the listener's state.
pub struct UdpLoop {
    /// The worker's index (its balancer state and metric shard).
    pub worker: usize,
    /// Non-blocking, bound (see `fulcrum_net::bind_udp_set`).
    pub socket: std::net::UdpSocket,
    pub state: Arc<ArcSwap<ListenerState>>,
    /// `max_flows` permits, shared by every loop of the listener.
    pub limit: Arc<Semaphore>,
    /// Called once for each backend socket a flow ends (the access log line).
    pub on_end: Box<dyn Fn(&FlowDone<'_>)>,
}

/// Why a flow's backend socket closed, for the access log's `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowEnd {
    /// No datagram either way for the listener's `idle`.
    Expired,
    /// The least recently active flow, pushed out by a new one at `max_flows`.
    Evicted,
    /// Its backend was no longer usable: the flow goes on, on another backend (a line of its
    /// own).
    Moved,
    /// The backend's socket said `ECONNREFUSED` (an ICMP port unreachable).
    Refused,
    /// Another error on the backend's socket, or none could be opened.
    Failed,
    /// The listener was removed or rebound, or Fulcrum shut down.
    Stopped,
}

impl FlowEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowEnd::Expired => "expired",
            FlowEnd::Evicted => "evicted",
            FlowEnd::Moved => "moved",
            FlowEnd::Refused => "refused",
            FlowEnd::Failed => "failed",
            FlowEnd::Stopped => "stopped",
        }
    }
}

/// What one flow did on one backend.
#[derive(Debug)]
pub struct FlowDone<'a> {
    pub listener: &'a str,
    pub client: SocketAddr,
    pub pool: &'a str,
    pub backend: &'a BackendState,
    /// Datagrams from the client while on this backend (counted when they arrived, including
    /// any dropped) and replies passed to the client.
    pub from_client: Traffic,
    pub to_client: Traffic,
    pub duration: Duration,
    pub end: FlowEnd,
    pub error: Option<&'a str>,
}

/// Serve `l` until `stop` resolves, then close every flow (each reported as stopped).
pub async fn serve(l: UdpLoop, stop: impl Future<Output = ()>) {
    let socket = match UdpSocket::from_std(l.socket) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot register a udp listener socket");
            return;
        }
    };
    let mut rx = RecvBatch::new(BATCH, MAX_DATAGRAM);
    // Bound to a wildcard address, the socket learns which of the host's addresses each
    // client sent to, and its flows answer from that one.
    if socket.local_addr().is_ok_and(|a| a.ip().is_unspecified()) {
        match super::batch::ask_destination(&socket) {
            Ok(()) => rx = rx.with_destination(),
            Err(e) => tracing::warn!(
                error = %e,
                "udp: cannot ask for datagrams' destinations; replies leave from the address the kernel picks"
            ),
        }
    }
    let shared = Rc::new(Shared::new(l.worker, socket, l.state, l.limit, l.on_end));
    // However the loop ends (even dropped), its flows and their tasks go with it.
    let _closer = Closer(shared.clone());
    let mut scratch = Vec::new();
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer, stop);
    let mut armed: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            () = &mut stop => break,
            ready = shared.socket().readable() => {
                if ready.is_err() {
                    break;
                }
                if !read_clients(&shared, &mut rx, &mut scratch) {
                    // An error other than "nothing waiting": do not spin on it.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            () = &mut timer, if armed.is_some() => {
                armed = None;
                shared.expire(Instant::now());
            }
        }
        // The next flow to expire only moves later as flows are refreshed, so the timer is
        // set again only when it is earlier than the one armed (a timer that fires early
        // finds nothing and is set again).
        if let Some(next) = shared.next_expiry() {
            if armed.is_none_or(|a| next < a) {
                timer.as_mut().reset(next.into());
                armed = Some(next);
            }
        }
    }
}

/// Up to [`ROUNDS`] batches from clients; false on an error other than `WouldBlock`.
fn read_clients(shared: &Rc<Shared>, rx: &mut RecvBatch, scratch: &mut Vec<u8>) -> bool {
    for _ in 0..ROUNDS {
        match rx.recv(shared.socket()) {
            Ok(_) => shared.client_datagrams(rx, scratch),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) => {
                tracing::debug!(listener = %shared.name(), error = %e, "udp: receive failed");
                return false;
            }
        }
    }
    true
}

/// Closes the loop's flows when it ends.
struct Closer(Rc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.stop_all(Instant::now());
    }
}
