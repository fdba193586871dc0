//! Fulcrum's control plane.
//!
//! Owns: the running configuration and everything derived from it that must outlive one
//! snapshot — bound listeners, backend states (health, in-flight counts, statistics), pool
//! budgets, backends added through the API, backends being drained. A change (file reload,
//! API call) is validated completely first, then applied as a diff: new snapshots are swapped
//! into the listeners' `ArcSwap`s, new listeners are bound and handed to the workers, removed
//! ones stop accepting, removed backends drain. Requests in flight keep the snapshot they
//! started with.
//!
//! Must not: sit on the data path. Workers never call into it; it only swaps snapshots and
//! sends commands to workers.

mod admin;
mod apply;
mod audit;
mod checks;
mod dns;
mod ops;
mod tick;
mod tls;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use arc_swap::ArcSwap;
use fulcrum_config::model::{self, Config};
use fulcrum_http::state::{BackendState, HealthEvent, ListenerState, PoolShared, PoolState};
use fulcrum_http::worker::WorkerHandle;
use fulcrum_telemetry::{FulcrumMetrics, Registry, ReloadResult};
use tokio::sync::{mpsc, watch, Semaphore};

pub use audit::Audit;
pub use dns::{Resolve, SystemResolver};
pub use ops::{file_stamp, ApiError, FileStamp, ReloadError};

/// A listener as the control plane tracks it.
struct ListenerRt {
    spec: model::Listener,
    bound: Vec<SocketAddr>,
    /// Distinguishes this listener's socket set from an earlier one with the same name.
    generation: u64,
    state: Arc<ArcSwap<ListenerState>>,
    limit: Arc<Semaphore>,
    /// Permits still to take out of `limit` after `max_connections` was lowered while they
    /// were in use (taken as connections close, by the timer).
    limit_deficit: usize,
}

/// A backend removed from its pool, finishing its in-flight requests.
struct Draining {
    pool: String,
    backend: Arc<BackendState>,
    since: Instant,
    deadline: Instant,
}

/// Backends added or removed through the admin API, kept across file reloads while their pool
/// exists (an autoscaler's additions must not vanish on an unrelated reload).
#[derive(Default)]
struct Overlay {
    added: HashMap<String, Vec<model::Backend>>,
    removed: HashSet<(String, SocketAddr)>,
}

struct Inner {
    config: Config,
    listeners: HashMap<String, ListenerRt>,
    /// Live backend states by (pool, address): reused by every rebuild while they stay.
    backends: HashMap<(String, SocketAddr), Arc<BackendState>>,
    shared: HashMap<String, Arc<PoolShared>>,
    pools: Vec<Arc<PoolState>>,
    overlay: Overlay,
    draining: Vec<Draining>,
    /// When a backend became usable (for slow start), by (pool, address).
    usable_since: HashMap<(String, SocketAddr), Instant>,
    ejections: HashMap<(String, SocketAddr), tick::Ejection>,
    /// The latest answers for DNS-named backends.
    resolved: HashMap<dns::DnsKey, Vec<SocketAddr>>,
    /// TLS of https listeners (acceptors) and of pools (client configurations).
    tls: tls::TlsRt,
    /// Worker threads running (fixed at start).
    workers: usize,
}

/// The control plane of one running Fulcrum.
pub struct Control {
    inner: Mutex<Inner>,
    pub registry: Arc<Registry>,
    pub metrics: Arc<FulcrumMetrics>,
    path: Option<PathBuf>,
    workers: Vec<WorkerHandle>,
    joins: Mutex<Vec<std::thread::JoinHandle<()>>>,
    events: mpsc::UnboundedSender<HealthEvent>,
    events_rx: Mutex<Option<mpsc::UnboundedReceiver<HealthEvent>>>,
    checkers: Mutex<checks::Checkers>,
    resolver: Arc<dyn Resolve>,
    loaded_stamp: Mutex<Option<FileStamp>>,
    shutdown: watch::Sender<bool>,
    pub audit: Audit,
}

/// Lock `m`, carrying on with its data if another thread panicked while holding it (every
/// critical section here leaves the data consistent between statements).
pub(crate) fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Control {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        locked(&self.inner)
    }

    /// Bind every listener, start the workers and return the control plane. `path` is the
    /// file reloads read (none for the demo).
    pub fn start(cfg: Config, path: Option<PathBuf>) -> Result<Arc<Control>, String> {
        Self::start_with_resolver(cfg, path, Arc::new(SystemResolver))
    }

    /// [`Control::start`] with a chosen name resolver for DNS-named backends.
    pub fn start_with_resolver(
        cfg: Config,
        path: Option<PathBuf>,
        resolver: Arc<dyn Resolve>,
    ) -> Result<Arc<Control>, String> {
        // Errors name addresses and files; values from `${ENV}` are printed as references.
        let redactions = cfg.redactions.clone();
        Self::start_inner(cfg, path, resolver).map_err(|e| redactions.apply(&e))
    }

    fn start_inner(
        cfg: Config,
        path: Option<PathBuf>,
        resolver: Arc<dyn Resolve>,
    ) -> Result<Arc<Control>, String> {
        let workers = cfg.runtime.workers.max(1);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (events, events_rx) = mpsc::unbounded_channel();
        let audit = Audit::open(
            &cfg.admin
                .as_ref()
                .map_or(model::LogTarget::Stderr, |a| a.audit_log.clone()),
        )
        .map_err(|e| e.to_string())?;
        let mut inner = Inner {
            config: cfg.clone(),
            listeners: HashMap::new(),
            backends: HashMap::new(),
            shared: HashMap::new(),
            pools: Vec::new(),
            overlay: Overlay::default(),
            draining: Vec::new(),
            usable_since: HashMap::new(),
            ejections: HashMap::new(),
            resolved: dns::resolve_all(&*resolver, &cfg),
            tls: tls::TlsRt::default(),
            workers,
        };
        let tls = inner.tls.prepare(&cfg)?;
        let registry = Arc::new(Registry::new());
        let metrics =
            Arc::new(FulcrumMetrics::register(&registry, workers).map_err(|e| e.to_string())?);
        for r in [ReloadResult::Success, ReloadResult::Failure] {
            // Present from the start, at 0.
            let _ = metrics.config_reloads_total.with(&[r.as_str()]);
        }
        let (pools, _) = apply::build_pools(
            &mut inner,
            &cfg,
            &events,
            &metrics,
            &tls.pools,
            Instant::now(),
        );
        inner.pools = pools;
        inner.tls = tls;
        let mut per_worker: Vec<Vec<fulcrum_http::worker::WorkerListener>> =
            (0..workers).map(|_| Vec::new()).collect();
        for l in &cfg.listeners {
            let state = Arc::new(ArcSwap::new(Arc::new(
                ListenerState::build_with_metrics(l, &inner.pools, Some(&metrics))
                    .with_tls(inner.tls.acceptor(&l.name)),
            )));
            let limit = Arc::new(Semaphore::new(l.limits.max_connections));
            let mut rt = ListenerRt {
                spec: l.clone(),
                bound: Vec::new(),
                generation: 0,
                limit_deficit: 0,
                state,
                limit,
            };
            for (w, socket) in apply::bind_listener(&mut rt, workers)? {
                per_worker[w].push(socket);
            }
            inner.listeners.insert(l.name.clone(), rt);
        }
        let mut handles = Vec::with_capacity(workers);
        let mut joins = Vec::with_capacity(workers);
        for (id, listeners) in per_worker.into_iter().enumerate() {
            let (handle, join) =
                fulcrum_http::worker::spawn(id, listeners, &cfg.access_log, shutdown_rx.clone())
                    .map_err(|e| format!("cannot start worker {id}: {e}"))?;
            handles.push(handle);
            joins.push(join);
        }
        for (name, l) in &inner.listeners {
            for a in &l.bound {
                tracing::info!(listener = %name, address = %a, "listening");
            }
        }
        Ok(Arc::new(Control {
            inner: Mutex::new(inner),
            registry,
            metrics,
            path,
            workers: handles,
            joins: Mutex::new(joins),
            events,
            events_rx: Mutex::new(Some(events_rx)),
            checkers: Mutex::new(Default::default()),
            resolver,
            loaded_stamp: Mutex::new(None),
            shutdown,
            audit,
        }))
    }

    /// The addresses listener `name` is bound to.
    pub fn bound(&self, name: &str) -> Vec<SocketAddr> {
        self.lock()
            .listeners
            .get(name)
            .map(|l| l.bound.clone())
            .unwrap_or_default()
    }

    /// The configuration now in force.
    pub fn config(&self) -> Config {
        self.lock().config.clone()
    }

    pub fn config_path(&self) -> Option<&PathBuf> {
        self.path.as_ref()
    }

    /// A receiver for the shutdown signal (true once shutdown began).
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stop accepting everywhere, let in-flight requests finish, join the workers.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let joins = std::mem::take(&mut *locked(&self.joins));
        for j in joins {
            let _ = j.join();
        }
    }
}

impl Control {
    /// `GET /metrics`: everything registered, in Prometheus text format.
    pub fn metrics_text(&self) -> String {
        self.registry.render()
    }
}
