//! Fulcrum's control plane.
//!
//! Owns: the running configuration and everything derived from it that must outlive one
//! snapshot — bound listeners, the data plane's backend and pool states by (pool, address)
//! and pool name (handed to every rebuild), backends added through the API, backends being
//! drained, active health checkers and slow start. A change (file reload, API call) is
//! validated completely first, then applied as a diff: the configuration is converted into
//! data-plane snapshots (`snapshot.rs`, the one place the model meets `fulcrum-dataplane`),
//! new snapshots are swapped into the listeners' `ArcSwap`s, new listeners are bound and handed to the workers, removed
//! ones stop accepting, removed backends drain. Requests in flight keep the snapshot they
//! started with. Shutdown is two steps: [`Control::begin_drain`] (`/ready` answers 503, all
//! else as before) and, after the caller's drain delay, [`Control::shutdown`] (stop accepting,
//! let connections finish within `runtime.shutdown_grace`, join the workers).
//!
//! Must not: sit on the data path, or change live state other than through the data plane's
//! methods. Workers never call into it; it only swaps snapshots and sends commands to
//! workers.

mod admin;
mod apply;
mod audit;
mod checks;
mod dns;
mod guards;
mod guards_view;
mod jwks;
mod ops;
mod series;
mod snapshot;
mod tick;
mod tls;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use fulcrum_config::model::{self, Config};
use fulcrum_dataplane::{BackendState, ListenerState, PoolShared, PoolState, WorkerHandle};
use fulcrum_net::accept::LogLimit;
use fulcrum_telemetry::{FulcrumMetrics, Registry, ReloadResult};
use tokio::sync::{watch, Semaphore};

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
    /// Permits still to take out of `limit` after `max_connections` (udp: `max_flows`) was lowered while they
    /// were in use (taken as connections close, by the timer).
    limit_deficit: usize,
    /// The control plane's copies of the listening sockets (duplicated descriptors), by bind
    /// address: a rebind that keeps an address hands these very sockets to the new socket
    /// set, so no connection waiting in their backlog is lost. Dropped when shutdown stops
    /// accepting, before the workers close theirs.
    sockets: Vec<apply::SocketSet>,
    /// Accept-failure warnings of this listener, shared by its sockets on every worker.
    accept_log: Arc<LogLimit>,
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
    checkers: Mutex<checks::Checkers>,
    /// JWKS fetchers (`jwks.rs`).
    jwks: Mutex<jwks::Fetchers>,
    resolver: Arc<dyn Resolve>,
    loaded_stamp: Mutex<Option<FileStamp>>,
    /// The `[admin]` settings in force, published by every apply: the admin listener reads
    /// its tokens per request without the control plane's lock (which a reload holds while it
    /// reads files and binds sockets).
    admin: arc_swap::ArcSwapOption<model::Admin>,
    /// Set by [`Control::begin_drain`]: `/ready` answers 503 from then on.
    draining: AtomicBool,
    /// The workers' stop signal: the grace deadline once they must stop accepting.
    stop_workers: watch::Sender<Option<Instant>>,
    /// True once the workers ended: the admin listener, timers and file watcher stop.
    shutdown: watch::Sender<bool>,
    pub audit: Audit,
}

/// Lock `m`, carrying on with its data if another thread panicked while holding it (every
/// critical section here leaves the data consistent between statements).
pub(crate) fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The pools of `cfg` by name. `Config::pool` is a scan of the pools: loops over every
/// backend or pool use this instead, so their cost stays linear with thousands of pools.
pub(crate) fn pools_by_name(cfg: &Config) -> HashMap<&str, &model::Pool> {
    let mut map = HashMap::with_capacity(cfg.pools.len());
    for p in &cfg.pools {
        map.entry(p.name.as_str()).or_insert(p);
    }
    map
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
        let (shutdown, _) = watch::channel(false);
        let (stop_workers, stop_rx) = watch::channel(None);
        let audit =
            Audit::open(&admin::audit_target(cfg.admin.as_ref())).map_err(|e| e.to_string())?;
        let mut inner = Inner {
            config: cfg.clone(),
            listeners: HashMap::new(),
            backends: HashMap::new(),
            shared: HashMap::new(),
            pools: Vec::new(),
            overlay: Overlay::default(),
            draining: Vec::new(),
            usable_since: HashMap::new(),
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
        let (pools, _) = apply::build_pools(&mut inner, &cfg, &metrics, &tls, Instant::now());
        inner.pools = pools;
        inner.tls = tls;
        let mut per_worker: Vec<Vec<fulcrum_dataplane::WorkerListener>> =
            (0..workers).map(|_| Vec::new()).collect();
        let pools = snapshot::PoolIndex::new(&inner.pools);
        for l in &cfg.listeners {
            let state = Arc::new(ArcSwap::new(Arc::new(snapshot::listener(
                l,
                &pools,
                Some(&metrics),
                inner.tls.acceptor(&l.name),
                None,
            ))));
            let limit = Arc::new(Semaphore::new(apply::limit_of(l)));
            let mut rt = ListenerRt::new(l, state, limit);
            let bound = apply::bind_listener(&mut rt, workers, None)?;
            for (w, socket) in bound.sockets {
                per_worker[w].push(socket);
            }
            inner.listeners.insert(l.name.clone(), rt);
        }
        let mut handles = Vec::with_capacity(workers);
        let mut joins = Vec::with_capacity(workers);
        for (id, listeners) in per_worker.into_iter().enumerate() {
            let (handle, join) =
                fulcrum_http::worker::spawn(id, listeners, &cfg.access_log, stop_rx.clone())
                    .map_err(|e| format!("cannot start worker {id}: {e}"))?;
            handles.push(handle);
            joins.push(join);
        }
        for (name, l) in &inner.listeners {
            for a in &l.bound {
                tracing::info!(listener = %name, address = %a, "listening");
            }
        }
        apply::check_fd_budget(&cfg, None);
        Ok(Arc::new(Control {
            inner: Mutex::new(inner),
            registry,
            metrics,
            path,
            workers: handles,
            joins: Mutex::new(joins),
            checkers: Mutex::new(Default::default()),
            jwks: Mutex::new(Default::default()),
            resolver,
            loaded_stamp: Mutex::new(None),
            admin: arc_swap::ArcSwapOption::from(cfg.admin.clone().map(Arc::new)),
            draining: AtomicBool::new(false),
            stop_workers,
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

    /// A receiver for the end of shutdown (true once the workers ended): what runs beside the
    /// data path (the admin listener, timers, the file watcher) stops then.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        let mut rx = self.shutdown.subscribe();
        // A task that subscribes only after shutdown ended must still see it: its `changed()`
        // would otherwise wait for a change that already happened.
        if *rx.borrow() {
            rx.mark_changed();
        }
        rx
    }

    /// The first step of a shutdown: `/ready` answers 503 from now on, while every listener
    /// goes on accepting and serving, so that load balancers in front take this instance out
    /// of rotation. Returns the configured `drain_delay`, which the caller waits before
    /// [`Control::shutdown`].
    pub fn begin_drain(&self) -> Duration {
        let delay = self.lock().config.runtime.drain_delay;
        if !self.draining.swap(true, Ordering::AcqRel) {
            tracing::info!(
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "draining: /ready answers 503; listeners still accept until the drain delay ends"
            );
        }
        delay
    }

    /// Whether [`Control::begin_drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Stop accepting everywhere (connections already waiting in the backlogs are still
    /// served), let open connections finish within `runtime.shutdown_grace`, join the
    /// workers, then stop the admin listener and the timers.
    pub fn shutdown(&self) {
        self.begin_drain();
        {
            let mut inner = self.lock();
            let grace = inner.config.runtime.shutdown_grace;
            // The workers' sockets must be the last copies, so that closing them refuses new
            // clients.
            for rt in inner.listeners.values_mut() {
                rt.sockets.clear();
            }
            let deadline = fulcrum_core::time::later(Instant::now(), grace);
            self.stop_workers.send_if_modified(|d| {
                let first = d.is_none();
                if first {
                    *d = Some(deadline);
                }
                first
            });
            tracing::info!(
                grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                "stopped accepting; finishing open connections"
            );
        }
        let joins = std::mem::take(&mut *locked(&self.joins));
        for j in joins {
            let _ = j.join();
        }
        // `send_replace`: `send` would not store the value while no task has subscribed yet,
        // and a task that subscribes later would then wait forever.
        self.shutdown.send_replace(true);
    }

    /// Whether [`Control::shutdown`] stopped the workers (changes are refused from then on).
    fn stopping(&self) -> bool {
        self.stop_workers.borrow().is_some()
    }
}

impl ListenerRt {
    fn new(
        spec: &model::Listener,
        state: Arc<ArcSwap<ListenerState>>,
        limit: Arc<Semaphore>,
    ) -> Self {
        ListenerRt {
            spec: spec.clone(),
            bound: Vec::new(),
            generation: 0,
            limit_deficit: 0,
            state,
            limit,
            sockets: Vec::new(),
            accept_log: Arc::new(LogLimit::new(LogLimit::ACCEPT_WARNINGS)),
        }
    }
}

impl Control {
    /// `GET /metrics`: everything registered, in Prometheus text format.
    pub fn metrics_text(&self) -> String {
        self.registry.render()
    }
}
