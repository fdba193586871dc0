//! What the control plane asks of a running worker ([`WorkerCmd`] through a [`WorkerHandle`]),
//! and a listener's share of one worker ([`WorkerListener`]). The engines' workers receive
//! these; the control plane sends them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use fulcrum_net::accept::LogLimit;
use tokio::sync::{mpsc, Semaphore};

use crate::ListenerState;

/// A listener's share of one worker: its socket and the listener's live state.
pub struct WorkerListener {
    /// The listener's name (several sockets share it when it binds several addresses).
    pub name: String,
    pub socket: std::net::TcpListener,
    pub state: Arc<ArcSwap<ListenerState>>,
    /// Shared by every worker: the listener's `max_connections`.
    pub limit: Arc<Semaphore>,
    /// Shared by every worker: at most one accept-failure warning per interval.
    pub accept_log: Arc<LogLimit>,
}

/// What the control plane asks of a running worker.
pub enum WorkerCmd {
    /// Start accepting on this socket.
    AddListener(WorkerListener),
    /// Stop accepting on every socket of the named listener. Connections waiting in a
    /// socket's backlog are accepted and served first, except on sockets bound to an address
    /// in `live_on` (a newer socket set accepts on those very sockets). Open connections
    /// finish by `deadline`.
    RemoveListener {
        name: String,
        deadline: Instant,
        live_on: Vec<SocketAddr>,
    },
    /// Close idle pooled connections to this backend (it is being drained).
    CloseIdle(SocketAddr),
}

/// The command channel of a running worker thread.
pub struct WorkerHandle {
    pub id: usize,
    tx: mpsc::UnboundedSender<WorkerCmd>,
}

impl WorkerHandle {
    /// The handle of worker `id`, and the receiving end its thread reads.
    pub fn new(id: usize) -> (WorkerHandle, mpsc::UnboundedReceiver<WorkerCmd>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (WorkerHandle { id, tx }, rx)
    }

    /// Send a command; false when the worker has stopped.
    pub fn send(&self, cmd: WorkerCmd) -> bool {
        self.tx.send(cmd).is_ok()
    }
}
