//! Worker threads: each runs a single-threaded tokio runtime and accepts on its own
//! `SO_REUSEPORT` socket of every listener, so a connection and all its requests stay on one
//! thread from accept to the backend and back. A udp listener's socket gets a datagram loop
//! instead of an accept loop (`crate::layer4::serve_udp`): the kernel keeps each client on
//! one worker's socket, and that worker's flow table holds it.
//!
//! The control plane talks to a worker through [`WorkerHandle`]: listeners are added and
//! removed while the worker runs, and idle connections to a drained backend are closed. When an
//! accept loop stops (shutdown, or its listener removed), the connections already waiting in
//! its socket's backlog are accepted and served before the socket closes (unless the socket
//! lives on in a newer socket set), and its open connections get until the grace deadline
//! (see [`crate::stop`]); the worker returns once all of them ended.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fulcrum_config::model;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinSet, LocalSet};

use crate::accept::{accept_loop, LoopStop};
use crate::access_log::AccessLog;
use crate::proxy::Worker;
use crate::stop::deadline_after;
use crate::upstream::UpstreamPool;
pub use fulcrum_dataplane::{WorkerCmd, WorkerHandle, WorkerListener};

/// Start worker `id` on its own thread. It runs until `shutdown` holds a deadline, then stops
/// accepting, lets its connections finish until that deadline and returns.
pub fn spawn(
    id: usize,
    listeners: Vec<WorkerListener>,
    access_log: &model::AccessLog,
    shutdown: watch::Receiver<Option<Instant>>,
) -> io::Result<(WorkerHandle, JoinHandle<()>)> {
    let log_cfg = access_log.clone();
    let (handle, rx) = WorkerHandle::new(id);
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
                h1: crate::h1::Pool::default(),
                access_log,
            });
            let local = LocalSet::new();
            // The worker's loop runs as a task of its own: `block_on` polls its future every
            // time any task on the thread wakes (every request), a task only when its own
            // wakers fire.
            local.block_on(&rt, async move {
                let _ = tokio::task::spawn_local(run(worker, listeners, rx, shutdown)).await;
            });
        })?;
    Ok((handle, thread))
}

/// One accept loop as the worker tracks it.
struct LoopHandle {
    addr: Option<SocketAddr>,
    stop: watch::Sender<Option<LoopStop>>,
}

async fn run(
    worker: Rc<Worker>,
    listeners: Vec<WorkerListener>,
    mut commands: mpsc::UnboundedReceiver<WorkerCmd>,
    mut shutdown: watch::Receiver<Option<Instant>>,
) {
    let mut accepts = JoinSet::new();
    // Per listener name, its accept loops.
    let mut loops: HashMap<String, Vec<LoopHandle>> = HashMap::new();
    let add = |accepts: &mut JoinSet<()>,
               loops: &mut HashMap<String, Vec<LoopHandle>>,
               l: WorkerListener| {
        let (stop, stopped) = watch::channel(None);
        let addr = l.socket.local_addr().ok();
        loops
            .entry(l.name.clone())
            .or_default()
            .push(LoopHandle { addr, stop });
        if l.socket.is_udp() {
            accepts.spawn_local(crate::layer4::serve_udp(worker.clone(), l, stopped));
        } else {
            accepts.spawn_local(accept_loop(worker.clone(), l, stopped));
        }
    };
    for l in listeners {
        add(&mut accepts, &mut loops, l);
    }
    let housekeeping = tokio::task::spawn_local(housekeeping(worker.clone()));
    let deadline = loop {
        if let Some(d) = *shutdown.borrow_and_update() {
            break d;
        }
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(WorkerCmd::AddListener(l)) => add(&mut accepts, &mut loops, l),
                Some(WorkerCmd::RemoveListener { name, deadline, live_on }) => {
                    for l in loops.remove(&name).unwrap_or_default() {
                        let drain_backlog = !l.addr.is_some_and(|a| live_on.contains(&a));
                        let _ = l.stop.send(Some(LoopStop { deadline, drain_backlog }));
                    }
                }
                Some(WorkerCmd::CloseIdle(addr)) => {
                    worker.upstream.close_idle(addr);
                    worker.h1.close_idle(addr);
                }
                // The control plane is gone: stop as for a shutdown with the default grace.
                None => break deadline_after(Instant::now(), model::Runtime::DEFAULT_SHUTDOWN_GRACE),
            },
            changed = shutdown.changed() => if changed.is_err() {
                break deadline_after(Instant::now(), model::Runtime::DEFAULT_SHUTDOWN_GRACE);
            },
            Some(_) = accepts.join_next(), if !accepts.is_empty() => {}
        }
    };
    for l in loops.into_values().flatten() {
        let _ = l.stop.send(Some(LoopStop {
            deadline,
            drain_backlog: true,
        }));
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
            worker.h1.sweep();
        }
    }
}
