//! Worker threads: each runs a single-threaded tokio runtime and accepts on its own
//! `SO_REUSEPORT` socket of every listener, so a connection and all its requests stay on one
//! thread from accept to the backend and back.
//!
//! The control plane talks to a worker through [`WorkerHandle`]: listeners are added and
//! removed while the worker runs (a removed listener stops accepting; its open connections
//! finish), and idle connections to a drained backend are closed.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use fulcrum_config::model;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::{JoinSet, LocalSet};

use crate::access_log::AccessLog;
use crate::proxy::Worker;
use crate::server::{self, SHUTDOWN_GRACE};
use crate::state::ListenerState;
use crate::upstream::UpstreamPool;

/// A listener's share of one worker: its socket and the listener's live state.
pub struct WorkerListener {
    /// The listener's name (several sockets share it when it binds several addresses).
    pub name: String,
    pub socket: std::net::TcpListener,
    pub state: Arc<ArcSwap<ListenerState>>,
    /// Shared by every worker: the listener's `max_connections`.
    pub limit: Arc<Semaphore>,
}

/// What the control plane asks of a running worker.
pub enum WorkerCmd {
    /// Start accepting on this socket.
    AddListener(WorkerListener),
    /// Stop accepting on every socket of the named listener; its connections finish.
    RemoveListener(String),
    /// Close idle pooled connections to this backend (it is being drained).
    CloseIdle(SocketAddr),
}

/// The command channel of a running worker thread.
pub struct WorkerHandle {
    pub id: usize,
    tx: mpsc::UnboundedSender<WorkerCmd>,
}

impl WorkerHandle {
    /// Send a command; false when the worker has stopped.
    pub fn send(&self, cmd: WorkerCmd) -> bool {
        self.tx.send(cmd).is_ok()
    }
}

/// Start worker `id` on its own thread. It runs until `shutdown` turns true, then stops
/// accepting, lets in-flight requests finish (at most [`SHUTDOWN_GRACE`]) and returns.
pub fn spawn(
    id: usize,
    listeners: Vec<WorkerListener>,
    access_log: &model::AccessLog,
    shutdown: watch::Receiver<bool>,
) -> io::Result<(WorkerHandle, JoinHandle<()>)> {
    let log_cfg = access_log.clone();
    let (tx, rx) = mpsc::unbounded_channel();
    let thread = std::thread::Builder::new()
        .name(format!("fulcrum-worker-{id}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(worker = id, error = %e, "cannot start worker runtime");
                    return;
                }
            };
            let access_log = AccessLog::open(&log_cfg).unwrap_or_else(|e| {
                tracing::error!(error = %e, "access log disabled");
                AccessLog::off()
            });
            let worker = Rc::new(Worker {
                id,
                upstream: UpstreamPool::new(),
                access_log,
            });
            let local = LocalSet::new();
            local.block_on(&rt, run(worker, listeners, rx, shutdown));
        })?;
    Ok((WorkerHandle { id, tx }, thread))
}

async fn run(
    worker: Rc<Worker>,
    listeners: Vec<WorkerListener>,
    mut commands: mpsc::UnboundedReceiver<WorkerCmd>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut accepts = JoinSet::new();
    // Per listener name, the stop switches of its accept loops.
    let mut stops: HashMap<String, Vec<watch::Sender<bool>>> = HashMap::new();
    let global = shutdown.clone();
    let add = |accepts: &mut JoinSet<()>,
               stops: &mut HashMap<String, Vec<watch::Sender<bool>>>,
               l: WorkerListener| {
        let (stop, stopped) = watch::channel(false);
        stops.entry(l.name.clone()).or_default().push(stop);
        accepts.spawn_local(accept_loop(worker.clone(), l, global.clone(), stopped));
    };
    for l in listeners {
        add(&mut accepts, &mut stops, l);
    }
    let housekeeping = tokio::task::spawn_local(housekeeping(worker.clone()));
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(WorkerCmd::AddListener(l)) => add(&mut accepts, &mut stops, l),
                Some(WorkerCmd::RemoveListener(name)) => {
                    for stop in stops.remove(&name).unwrap_or_default() {
                        let _ = stop.send(true);
                    }
                }
                Some(WorkerCmd::CloseIdle(addr)) => worker.upstream.close_idle(addr),
                None => break,
            },
            _ = shutdown.changed() => break,
            Some(_) = accepts.join_next(), if !accepts.is_empty() => {}
        }
    }
    while accepts.join_next().await.is_some() {}
    housekeeping.abort();
    worker.access_log.flush();
}

/// Periodic per-worker chores: flush the access log, close expired idle backend connections.
async fn housekeeping(worker: Rc<Worker>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut n: u32 = 0;
    loop {
        tick.tick().await;
        worker.access_log.flush();
        n = n.wrapping_add(1);
        if n.is_multiple_of(20) {
            worker.upstream.sweep();
        }
    }
}

async fn accept_loop(
    worker: Rc<Worker>,
    l: WorkerListener,
    mut shutdown: watch::Receiver<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(l.socket) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot register listening socket");
            return;
        }
    };
    let mut conns = JoinSet::new();
    // Connections are told to finish when this loop ends, for shutdown or listener removal.
    let (conn_stop, conn_stop_rx) = watch::channel(false);
    loop {
        if *shutdown.borrow() || *stopped.borrow() {
            break;
        }
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
            _ = stopped.changed() => break,
        };
        // `max_connections` is shared by all workers. At the limit, the connection just
        // accepted waits for a slot and this worker stops accepting: further clients queue in
        // the kernel's backlog (as HAProxy's maxconn), none is refused.
        let permit = tokio::select! {
            p = l.limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let worker = worker.clone();
                let state = l.state.clone();
                let stop = conn_stop_rx.clone();
                conns.spawn_local(async move {
                    let snapshot = state.load_full();
                    if snapshot.passthrough.is_some() {
                        crate::passthrough::serve(worker, snapshot, stream, peer).await;
                        drop(permit);
                    } else {
                        drop(snapshot);
                        // The slot is held until the connection ends, including any tunnel
                        // it was upgraded into.
                        server::serve(worker, state, stream, peer, stop, permit).await;
                    }
                });
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // Reap finished connection tasks without waiting.
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    // In-flight requests finish (at most SHUTDOWN_GRACE); idle keep-alive connections close.
    let _ = conn_stop.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
}
