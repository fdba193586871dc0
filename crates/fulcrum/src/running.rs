//! A running Fulcrum: listeners bound, workers started, admin serving. Configuration flows in
//! here once, as a validated model, and is turned into the snapshots the workers read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use fulcrum_admin::AdminState;
use fulcrum_config::model::Config;
use fulcrum_http::state::Snapshot;
use fulcrum_http::worker::{self, WorkerListener};
use tokio::sync::{watch, Semaphore};

/// A started instance. Dropping it does not stop it; call [`Running::shutdown`].
pub struct Running {
    /// Per listener name, the addresses actually bound (ports resolved when 0 was asked).
    pub bound: HashMap<String, Vec<SocketAddr>>,
    pub admin_addr: Option<SocketAddr>,
    pub admin: Arc<AdminState>,
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// Bind every listener and start the workers and the admin listener. Fails, with nothing
    /// left running, when an address cannot be bound.
    pub fn start(cfg: &Config) -> anyhow::Result<Running> {
        let workers = cfg.runtime.workers.max(1);
        let snapshot = Snapshot::build(cfg);
        let (shutdown, shutdown_rx) = watch::channel(false);

        let mut per_worker: Vec<Vec<WorkerListener>> = (0..workers).map(|_| Vec::new()).collect();
        let mut bound = HashMap::new();
        for (l, state) in cfg.listeners.iter().zip(&snapshot.listeners) {
            let state = Arc::new(ArcSwap::new(state.clone()));
            let limit = Arc::new(Semaphore::new(l.limits.max_connections));
            let mut addrs = Vec::new();
            for addr in &l.binds {
                let set = fulcrum_net::bind_set(*addr, workers)
                    .with_context(|| format!("listener \"{}\"", l.name))?;
                addrs.push(set.local_addr);
                for (w, socket) in set.sockets.into_iter().enumerate() {
                    per_worker[w].push(WorkerListener {
                        socket,
                        state: state.clone(),
                        limit: limit.clone(),
                    });
                }
            }
            bound.insert(l.name.clone(), addrs);
        }

        let admin = Arc::new(AdminState::default());
        let mut admin_addr = None;
        let mut threads = Vec::new();
        if let Some(a) = &cfg.admin {
            let socket = std::net::TcpListener::bind(a.bind)
                .with_context(|| format!("admin: cannot bind {}", a.bind))?;
            socket.set_nonblocking(true)?;
            admin_addr = Some(socket.local_addr()?);
            let state = admin.clone();
            let rx = shutdown_rx.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("fulcrum-admin".into())
                    .spawn(move || {
                        let rt = match tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            Ok(rt) => rt,
                            Err(e) => return tracing::error!(error = %e, "admin runtime"),
                        };
                        rt.block_on(async move {
                            match tokio::net::TcpListener::from_std(socket) {
                                Ok(l) => fulcrum_admin::serve(l, state, rx).await,
                                Err(e) => tracing::error!(error = %e, "admin listener"),
                            }
                        });
                    })?,
            );
        }

        for (id, listeners) in per_worker.into_iter().enumerate() {
            threads.push(worker::spawn(
                id,
                listeners,
                &cfg.access_log,
                shutdown_rx.clone(),
            )?);
        }
        admin.ready.store(true, Ordering::Release);
        for (name, addrs) in &bound {
            for a in addrs {
                tracing::info!(listener = %name, address = %a, "listening");
            }
        }
        if let Some(a) = admin_addr {
            tracing::info!(address = %a, "admin listening");
        }
        Ok(Running {
            bound,
            admin_addr,
            admin,
            shutdown,
            threads,
        })
    }

    /// The first bound address of listener `name`.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.bound.get(name).and_then(|a| a.first().copied())
    }

    /// Stop accepting, let in-flight requests finish, and wait for every thread to end.
    pub fn shutdown(self) {
        self.admin.ready.store(false, Ordering::Release);
        let _ = self.shutdown.send(true);
        for t in self.threads {
            let _ = t.join();
        }
    }
}
