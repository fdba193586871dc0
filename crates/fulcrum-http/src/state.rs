//! The immutable snapshots the data path reads: listeners with their compiled route tables,
//! pools with their backends. Built from a validated [`fulcrum_config::model::Config`]; a
//! request holds `Arc`s to the snapshot it started with, so a swap never disturbs it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fulcrum_balance::{Algorithm, BackendView, Selector};
use fulcrum_config::model::{self, Action, Balance, HostMatch};
use fulcrum_route::{HostPattern, RouteSpec, RouteTable};
use http::{HeaderValue, StatusCode};

/// One backend of a pool. Shared by all workers; only atomics change.
#[derive(Debug)]
pub struct BackendState {
    pub addr: SocketAddr,
    /// `addr` as text, for logs and labels.
    pub label: String,
    pub weight: u32,
    /// Requests in flight to this backend, across workers.
    pub inflight: AtomicU32,
}

/// Per-worker selector slot, on its own cache line so workers never share one.
#[repr(align(64))]
#[derive(Debug)]
struct SelectorSlot(Mutex<Selector>);

/// A pool as the data path sees it.
#[derive(Debug)]
pub struct PoolState {
    pub name: String,
    pub backends: Vec<Arc<BackendState>>,
    pub connect_timeout: Duration,
    /// One selector per worker: the lock is only ever taken by its own worker, so it is never
    /// contended; it exists because the pool is shared across threads.
    selectors: Box<[SelectorSlot]>,
}

impl BackendView for PoolState {
    fn len(&self) -> usize {
        self.backends.len()
    }
    fn weight(&self, i: usize) -> u32 {
        self.backends.get(i).map_or(0, |b| b.weight)
    }
    fn inflight(&self, i: usize) -> u32 {
        self.backends
            .get(i)
            .map_or(0, |b| b.inflight.load(Ordering::Relaxed))
    }
}

impl PoolState {
    pub fn build(pool: &model::Pool, workers: usize) -> Self {
        let backends: Vec<Arc<BackendState>> = pool
            .backends
            .iter()
            .map(|b| {
                Arc::new(BackendState {
                    addr: b.address,
                    label: b.address.to_string(),
                    weight: b.weight,
                    inflight: AtomicU32::new(0),
                })
            })
            .collect();
        let weights: Vec<u32> = backends.iter().map(|b| b.weight).collect();
        let ids: Vec<u64> = backends
            .iter()
            .map(|b| fulcrum_balance::hash_bytes(b.label.as_bytes()))
            .collect();
        let alg = algorithm(pool.balance);
        let selectors = (0..workers.max(1))
            .map(|w| {
                let seed = fulcrum_balance::mix64(w as u64 ^ fastrand::u64(..));
                SelectorSlot(Mutex::new(Selector::new_with_ids(
                    alg, &weights, &ids, seed,
                )))
            })
            .collect();
        PoolState {
            name: pool.name.clone(),
            backends,
            connect_timeout: pool.connect_timeout,
            selectors,
        }
    }

    /// Choose a backend for a client whose address hashes to `key`, on worker `worker`.
    pub fn pick(&self, worker: usize, key: u64) -> Option<&Arc<BackendState>> {
        let slot = self.selectors.get(worker % self.selectors.len().max(1))?;
        let i = match slot.0.lock() {
            Ok(mut s) => s.pick(key, self),
            Err(poisoned) => poisoned.into_inner().pick(key, self),
        }?;
        self.backends.get(i)
    }
}

fn algorithm(b: Balance) -> Algorithm {
    match b {
        Balance::RoundRobin => Algorithm::RoundRobin,
        Balance::LeastRequest => Algorithm::LeastRequest,
        Balance::Random => Algorithm::Random,
        Balance::IpHash => Algorithm::IpHash,
        Balance::RingHash => Algorithm::RingHash,
    }
}

/// What a matched route does.
#[derive(Debug)]
pub enum RouteAction {
    Pool(Arc<PoolState>),
    /// Weighted choice; `total` is the sum of weights (> 0).
    Split {
        targets: Vec<(Arc<PoolState>, u32)>,
        total: u32,
    },
    Redirect {
        location: HeaderValue,
        status: StatusCode,
    },
    Respond {
        status: StatusCode,
        body: Bytes,
    },
}

impl RouteAction {
    /// The pool for this request, for `Pool` and `Split` actions.
    pub fn pool(&self) -> Option<&Arc<PoolState>> {
        match self {
            RouteAction::Pool(p) => Some(p),
            RouteAction::Split { targets, total } => {
                let mut n = fastrand::u32(..(*total).max(1));
                for (p, w) in targets {
                    if n < *w {
                        return Some(p);
                    }
                    n -= w;
                }
                targets.last().map(|(p, _)| p)
            }
            _ => None,
        }
    }
}

/// A listener as the data path sees it.
#[derive(Debug)]
pub struct ListenerState {
    pub name: String,
    pub routes: RouteTable<RouteAction>,
    pub route_names: Vec<String>,
    pub timeouts: model::Timeouts,
    pub limits: model::Limits,
}

impl ListenerState {
    pub fn build(l: &model::Listener, pools: &[Arc<PoolState>]) -> Self {
        let find = |name: &str| pools.iter().find(|p| p.name == name).cloned();
        let mut specs = Vec::with_capacity(l.routes.len());
        let mut names = Vec::with_capacity(l.routes.len());
        for r in &l.routes {
            let action = match &r.action {
                Action::Pool(p) => match find(p) {
                    Some(p) => RouteAction::Pool(p),
                    None => continue, // validation guarantees pools exist
                },
                Action::Split(targets) => {
                    let targets: Vec<_> = targets
                        .iter()
                        .filter_map(|t| find(&t.pool).map(|p| (p, t.weight)))
                        .collect();
                    let total = targets.iter().map(|(_, w)| *w).sum();
                    RouteAction::Split { targets, total }
                }
                Action::Redirect { to, status } => RouteAction::Redirect {
                    location: HeaderValue::from_str(to)
                        .unwrap_or_else(|_| HeaderValue::from_static("/")),
                    status: *status,
                },
                Action::Respond { status, body } => RouteAction::Respond {
                    status: *status,
                    body: Bytes::from(body.clone()),
                },
            };
            specs.push(RouteSpec {
                host: r.host.as_ref().map(|h| match h {
                    HostMatch::Exact(s) => HostPattern::Exact(s.clone()),
                    HostMatch::Wildcard(s) => HostPattern::Wildcard(s.clone()),
                }),
                path_prefix: r.path_prefix.clone(),
                headers: r.headers.clone(),
                action,
            });
            names.push(r.name.clone());
        }
        ListenerState {
            name: l.name.clone(),
            routes: RouteTable::new(specs),
            route_names: names,
            timeouts: l.timeouts,
            limits: l.limits,
        }
    }
}

/// Everything built from one configuration.
#[derive(Debug)]
pub struct Snapshot {
    pub listeners: Vec<Arc<ListenerState>>,
    pub pools: Vec<Arc<PoolState>>,
}

impl Snapshot {
    pub fn build(cfg: &model::Config) -> Self {
        let workers = cfg.runtime.workers;
        let pools: Vec<Arc<PoolState>> = cfg
            .pools
            .iter()
            .map(|p| Arc::new(PoolState::build(p, workers)))
            .collect();
        let listeners = cfg
            .listeners
            .iter()
            .map(|l| Arc::new(ListenerState::build(l, &pools)))
            .collect();
        Snapshot { listeners, pools }
    }
}
