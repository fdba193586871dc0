//! What the control plane asks of a running worker ([`WorkerCmd`] through a [`WorkerHandle`]),
//! and a listener's share of one worker ([`WorkerListener`]). The engines' workers receive
//! these; the control plane sends them.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use fulcrum_net::accept::LogLimit;
use tokio::sync::{mpsc, Semaphore};

use crate::ListenerState;

/// A listener's socket on one worker: TCP listening (accept loops) or UDP (flow loops).
#[derive(Debug)]
pub enum ListenSocket {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

impl ListenSocket {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            ListenSocket::Tcp(s) => s.local_addr(),
            ListenSocket::Udp(s) => s.local_addr(),
        }
    }

    /// A second descriptor for the same socket (not a new socket: one file description).
    pub fn try_clone(&self) -> io::Result<ListenSocket> {
        Ok(match self {
            ListenSocket::Tcp(s) => ListenSocket::Tcp(s.try_clone()?),
            ListenSocket::Udp(s) => ListenSocket::Udp(s.try_clone()?),
        })
    }

    pub fn is_udp(&self) -> bool {
        matches!(self, ListenSocket::Udp(_))
    }
}

/// A listener's share of one worker: its socket and the listener's live state.
pub struct WorkerListener {
    /// The listener's name (several sockets share it when it binds several addresses).
    pub name: String,
    pub socket: ListenSocket,
    pub state: Arc<ArcSwap<ListenerState>>,
    /// Shared by every worker: the listener's `max_connections` (tcp and HTTP listeners) or
    /// `max_flows` (udp: one permit per flow, across every worker's flow tables).
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
    /// finish by `deadline`. A udp listener's loops stop reading and close their flows at
    /// once (a datagram socket has no backlog, a flow no end to wait for).
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
