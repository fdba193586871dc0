//! Turning a validated configuration into running state, and a new one into a diff.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use fulcrum_config::model::{self, Config};
use fulcrum_dataplane::{
    BackendState, ListenSocket, PoolShared, PoolState, WorkerCmd, WorkerListener,
};
use fulcrum_telemetry::FulcrumMetrics;
use tokio::sync::Semaphore;

use crate::snapshot::PoolIndex;
use crate::{Control, Draining, Inner, ListenerRt};

/// Socket-set names are `listener#generation`, so a listener whose addresses change can get
/// its new sockets before the old ones are removed.
fn socket_set_name(listener: &str, generation: u64) -> String {
    format!("{listener}#{generation}")
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The listening sockets of one bind address, one per worker, as the control plane keeps them
/// (duplicates of the workers' descriptors): TCP, or UDP for udp listeners.
pub(crate) struct SocketSet {
    /// The address as configured (its port may be 0).
    requested: SocketAddr,
    per_worker: Vec<ListenSocket>,
    local: SocketAddr,
    udp: bool,
}

/// The permits of a listener's `limit`: its `max_flows` (udp) or `max_connections`.
pub(crate) fn limit_of(l: &model::Listener) -> usize {
    match l.protocol {
        model::Protocol::Udp => usize::try_from(l.limits.max_flows).unwrap_or(usize::MAX),
        _ => l.limits.max_connections,
    }
}

/// What [`bind_listener`] gives: each worker's sockets (by worker index), and the addresses
/// whose sockets came from the previous socket set.
pub(crate) struct Bound {
    pub sockets: Vec<(usize, WorkerListener)>,
    pub reused: Vec<SocketAddr>,
}

/// Give `rt` its sockets, one per worker for each bind address: those of `reuse` (the
/// listener's previous socket set) for the addresses it already had (as configured, or as
/// bound: `127.0.0.1:0` then `127.0.0.1:8080` keeps port 8080's sockets) when they are of the
/// same kind (TCP or UDP), new ones for the rest. Returns them per worker index, with the
/// addresses whose sockets were reused.
pub(crate) fn bind_listener(
    rt: &mut ListenerRt,
    workers: usize,
    reuse: Option<&ListenerRt>,
) -> Result<Bound, String> {
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    rt.generation = generation;
    let mut out = Vec::new();
    let mut reused = Vec::new();
    rt.bound.clear();
    rt.sockets.clear();
    let err = |e: std::io::Error| format!("listener \"{}\": {e}", rt.spec.name);
    let udp = rt.spec.protocol == model::Protocol::Udp;
    for addr in &rt.spec.binds {
        let old = reuse.and_then(|o| {
            o.sockets.iter().find(|s| {
                (s.requested == *addr || s.local == *addr)
                    && s.per_worker.len() == workers
                    && s.udp == udp
            })
        });
        let (local, sockets) = match old {
            Some(old) => {
                let dups: std::io::Result<Vec<_>> =
                    old.per_worker.iter().map(|s| s.try_clone()).collect();
                reused.push(old.local);
                (old.local, dups.map_err(err)?)
            }
            None if udp => {
                let set = fulcrum_net::bind_udp_set(*addr, workers).map_err(err)?;
                let sockets = set.sockets.into_iter().map(ListenSocket::Udp).collect();
                (set.local_addr, sockets)
            }
            None => {
                let set = fulcrum_net::bind_set(*addr, workers).map_err(err)?;
                let sockets = set.sockets.into_iter().map(ListenSocket::Tcp).collect();
                (set.local_addr, sockets)
            }
        };
        let kept: std::io::Result<Vec<_>> = sockets.iter().map(|s| s.try_clone()).collect();
        rt.sockets.push(SocketSet {
            requested: *addr,
            per_worker: kept.map_err(err)?,
            local,
            udp,
        });
        rt.bound.push(local);
        for (w, socket) in sockets.into_iter().enumerate() {
            out.push((
                w,
                WorkerListener {
                    name: socket_set_name(&rt.spec.name, generation),
                    socket,
                    state: rt.state.clone(),
                    limit: rt.limit.clone(),
                    accept_log: rt.accept_log.clone(),
                },
            ));
        }
    }
    Ok(Bound {
        sockets: out,
        reused,
    })
}

/// Descriptors the listeners of `cfg` may need (see `fulcrum_net::fd_limit`): a udp
/// listener's sockets (one per worker and address) and one per flow up to `max_flows`.
fn fds_needed(cfg: &Config) -> u64 {
    use fulcrum_net::fd_limit::{needed, PER_CONNECTION, PER_FLOW, PER_SPLICED_CONNECTION};
    let workers = cfg.runtime.workers.max(1);
    needed(cfg.listeners.iter().flat_map(|l| match l.protocol {
        model::Protocol::Udp => [
            (limit_of(l), PER_FLOW),
            (workers.saturating_mul(l.binds.len()), 1),
        ],
        model::Protocol::Tcp => [(l.limits.max_connections, PER_SPLICED_CONNECTION), (0, 0)],
        _ => [(l.limits.max_connections, PER_CONNECTION), (0, 0)],
    }))
}

/// Warn when the listeners' `max_connections` (and `max_flows`) may need more descriptors than the open-file
/// limit allows; on a change, only when what they need changed (an API call that adds a
/// backend must not repeat the warning).
pub(crate) fn check_fd_budget(cfg: &Config, previous: Option<&Config>) {
    let need = fds_needed(cfg);
    if previous.is_some_and(|p| fds_needed(p) == need) {
        return;
    }
    match fulcrum_net::fd_limit::current() {
        Ok(limit) => {
            if let Some(w) = fulcrum_net::fd_limit::shortfall(need, limit) {
                tracing::warn!("{w}");
            }
        }
        Err(e) => tracing::debug!(error = %e, "cannot read the open-file limit"),
    }
}

/// The backends a pool should have now: the file's, plus the API's additions, minus the API's
/// removals.
fn wanted_backends(inner: &Inner, p: &model::Pool) -> Vec<model::Backend> {
    let mut list: Vec<model::Backend> = p.backends.clone();
    let added = inner.overlay.added.get(&p.name);
    if added.is_none() && p.dns.is_empty() && inner.overlay.removed.is_empty() {
        return list;
    }
    // The addresses listed so far, so that a pool of thousands of API or DNS backends is not
    // scanned once per backend.
    let mut listed: HashSet<SocketAddr> = list.iter().map(|b| b.address).collect();
    if let Some(added) = added {
        for b in added {
            if listed.insert(b.address) {
                list.push(b.clone());
            }
        }
    }
    for d in &p.dns {
        let key = (p.name.clone(), d.host.clone(), d.port);
        for addr in inner.resolved.get(&key).into_iter().flatten() {
            if listed.insert(*addr) {
                list.push(model::Backend {
                    address: *addr,
                    weight: d.weight,
                });
            }
        }
    }
    if !inner.overlay.removed.is_empty() {
        list.retain(|b| !inner.overlay.removed.contains(&(p.name.clone(), b.address)));
    }
    list
}

/// Build every pool's snapshot, reusing the live state of backends that stay. Backends that
/// are gone start draining; their addresses are returned so workers close idle connections.
pub(crate) fn build_pools(
    inner: &mut Inner,
    cfg: &Config,
    metrics: &FulcrumMetrics,
    tls: &crate::tls::TlsRt,
    now: Instant,
) -> (Vec<Arc<PoolState>>, Vec<SocketAddr>) {
    let first_build = inner.pools.is_empty() && inner.backends.is_empty();
    // Selector slots follow the running worker threads (a reload cannot change their number).
    let workers = inner.workers.max(1);
    let mut keep = HashSet::new();
    let mut pools = Vec::with_capacity(cfg.pools.len());
    for p in &cfg.pools {
        let shared = inner
            .shared
            .entry(p.name.clone())
            .or_insert_with(PoolShared::new)
            .clone();
        let wanted = wanted_backends(inner, p);
        // Which addresses came from which name (the TLS server name of DNS backends).
        let mut names: std::collections::HashMap<SocketAddr, String> =
            std::collections::HashMap::new();
        for d in &p.dns {
            let key = (p.name.clone(), d.host.clone(), d.port);
            for addr in inner.resolved.get(&key).into_iter().flatten() {
                names.entry(*addr).or_insert_with(|| d.host.clone());
            }
        }
        let mut states = Vec::with_capacity(wanted.len());
        for b in wanted {
            let key = (p.name.clone(), b.address);
            let st = match inner.backends.get(&key) {
                Some(st) => st.clone(),
                None => {
                    // Slow start applies to backends added to a running pool, not at startup.
                    let since = if first_build {
                        now.checked_sub(p.slow_start).unwrap_or(now)
                    } else {
                        now
                    };
                    inner.usable_since.insert(key.clone(), since);
                    let st =
                        BackendState::named(b.address, names.get(&b.address).cloned(), b.weight);
                    // Start on the ramp at once, not at full weight until the next tick.
                    st.refresh(|w| fulcrum_health::ramp_weight(w, since, now, p.slow_start));
                    inner.backends.insert(key.clone(), st.clone());
                    let (up, inflight) = (Arc::downgrade(&st), Arc::downgrade(&st));
                    metrics
                        .backend_up
                        .with_fn(&[p.name.as_str(), st.label.as_str()], move || {
                            up.upgrade().map_or(0, |b| i64::from(b.usable()))
                        });
                    metrics
                        .backend_inflight
                        .with_fn(&[p.name.as_str(), st.label.as_str()], move || {
                            inflight.upgrade().map_or(0, |b| i64::from(b.inflight()))
                        });
                    st
                }
            };
            st.set_weight(b.weight);
            keep.insert(key);
            states.push(st);
        }
        let spec = crate::snapshot::pool_spec(p, tls.upstream(&p.name));
        // The new snapshot also tells the pool's passive health who its members are: a
        // backend that left gives back its ejection-budget slot.
        pools.push(Arc::new(PoolState::new(spec, states, shared, workers)));
    }
    // What is no longer wanted drains.
    let mut removed = Vec::new();
    let gone: Vec<(String, SocketAddr)> = inner
        .backends
        .keys()
        .filter(|k| !keep.contains(*k))
        .cloned()
        .collect();
    // By name, made once: a lookup in the pool lists per removed backend would be quadratic.
    let (old_pools, new_pools) = (
        crate::pools_by_name(&inner.config),
        crate::pools_by_name(cfg),
    );
    for key in gone {
        let Some(st) = inner.backends.remove(&key) else {
            continue;
        };
        inner.usable_since.remove(&key);
        st.drain();
        let drain = old_pools
            .get(key.0.as_str())
            .or_else(|| new_pools.get(key.0.as_str()))
            .map_or(std::time::Duration::from_secs(30), |p| p.drain_timeout);
        tracing::info!(pool = %key.0, backend = %st.label, "backend draining");
        removed.push(st.addr);
        inner.draining.push(Draining {
            pool: key.0,
            backend: st,
            since: now,
            deadline: fulcrum_core::time::later(now, drain),
        });
    }
    inner
        .shared
        .retain(|name, _| new_pools.contains_key(name.as_str()));
    (pools, removed)
}

impl Control {
    /// Make `cfg` (already valid) the running configuration. Nothing changes unless every new
    /// listener address could be bound.
    pub(crate) fn apply(&self, cfg: Config) -> Result<(), String> {
        let mut inner = self.lock();
        self.apply_locked(&mut inner, cfg)
    }

    /// Apply the configuration in force again, after `edit` changed what it is built from
    /// (API backends, DNS answers) — all under one lock, so a concurrent reload cannot be
    /// undone by a change that read the configuration before it.
    pub(crate) fn reapply<E>(
        &self,
        edit: impl FnOnce(&mut Inner) -> Result<(), E>,
        apply_error: impl FnOnce(String) -> E,
    ) -> Result<(), E> {
        let mut inner = self.lock();
        edit(&mut inner)?;
        let cfg = inner.config.clone();
        self.apply_locked(&mut inner, cfg).map_err(apply_error)
    }

    /// [`Control::apply_diff`], its error naming values from `${ENV}` as written.
    fn apply_locked(&self, inner: &mut Inner, cfg: Config) -> Result<(), String> {
        let redactions = cfg.redactions.clone();
        self.apply_diff(inner, cfg)
            .map_err(|e| redactions.apply(&e))
    }

    fn apply_diff(&self, inner: &mut Inner, cfg: Config) -> Result<(), String> {
        if self.stopping() {
            return Err("shutting down: configuration changes are refused".into());
        }
        let now = Instant::now();
        let workers = self.workers.len().max(1);

        // 0. TLS material first: a bad certificate, key or CA rejects the whole change. It is
        //    only prepared here; it goes live with the listener snapshots in step 3.
        let tls = inner.tls.prepare(&cfg)?;
        // The admin listener's address cannot change here; its audit log can.
        crate::admin::check(inner.config.admin.as_ref(), cfg.admin.as_ref())?;
        let audit = self
            .audit
            .prepare(&crate::admin::audit_target(cfg.admin.as_ref()))
            .map_err(|e| format!("admin.audit_log: {e}"))?;

        // 1. Bind what is new first: a failure here leaves everything as it was.
        //    A listener that keeps an address keeps its sockets there (see `bind_listener`).
        let mut fresh: Vec<(ListenerRt, Bound)> = Vec::new();
        for l in &cfg.listeners {
            let unchanged = inner
                .listeners
                .get(&l.name)
                .is_some_and(|old| old.spec.binds == l.binds && old.spec.protocol == l.protocol);
            if unchanged {
                continue;
            }
            let mut rt = ListenerRt::new(
                l,
                Arc::new(ArcSwap::new(Arc::new(crate::snapshot::listener(
                    l,
                    &PoolIndex::default(),
                    None,
                    None,
                    None,
                )))),
                Arc::new(Semaphore::new(limit_of(l))),
            );
            let bound = bind_listener(&mut rt, workers, inner.listeners.get(&l.name))?;
            fresh.push((rt, bound));
        }

        // 2. Pools, reusing live backend state.
        let (pools, removed) = build_pools(inner, &cfg, &self.metrics, &tls, now);
        inner.pools = pools;
        inner.tls = tls;
        if let Some(audit) = audit {
            self.audit.commit(audit);
        }

        // 3. Listener snapshots: swap in place for unchanged listeners, start new ones, stop
        //    the ones that went away (their open connections finish).
        let pools = PoolIndex::new(&inner.pools);
        for l in &cfg.listeners {
            let previous = inner.listeners.get(&l.name).map(|rt| rt.state.load_full());
            let state = Arc::new(crate::snapshot::listener(
                l,
                &pools,
                Some(&self.metrics),
                inner.tls.acceptor(&l.name),
                previous.as_deref(),
            ));
            if let Some(rt) = inner.listeners.get_mut(&l.name) {
                if rt.spec.binds == l.binds && rt.spec.protocol == l.protocol {
                    rt.state.store(state);
                    resize_limit(
                        &rt.limit,
                        &mut rt.limit_deficit,
                        limit_of(&rt.spec),
                        limit_of(l),
                    );
                    rt.spec = l.clone();
                    continue;
                }
            }
            if let Some(pos) = fresh.iter().position(|(rt, _)| rt.spec.name == l.name) {
                let (rt, Bound { sockets, reused }) = fresh.swap_remove(pos);
                rt.state.store(state);
                for (w, socket) in sockets {
                    if let Some(worker) = self.workers.get(w) {
                        worker.send(WorkerCmd::AddListener(socket));
                    }
                }
                // The new sockets are accepting (commands run in order) before the old ones stop.
                if let Some(old) = inner.listeners.insert(l.name.clone(), rt) {
                    self.remove_sockets(&old, reused, cfg.runtime.shutdown_grace);
                }
                for a in &inner.listeners[&l.name].bound {
                    tracing::info!(listener = %l.name, address = %a, "listening");
                }
            }
        }
        let wanted: HashSet<&str> = cfg.listeners.iter().map(|l| l.name.as_str()).collect();
        let gone: Vec<String> = inner
            .listeners
            .keys()
            .filter(|n| !wanted.contains(n.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(old) = inner.listeners.remove(&name) {
                tracing::info!(listener = %name, "listener removed");
                self.remove_sockets(&old, Vec::new(), cfg.runtime.shutdown_grace);
            }
        }

        // 4. Drained backends: no pooled idle connection may be reused.
        for addr in removed {
            for w in &self.workers {
                w.send(WorkerCmd::CloseIdle(addr));
            }
        }
        check_fd_budget(&cfg, Some(&inner.config));
        self.admin.store(cfg.admin.clone().map(Arc::new));
        inner.config = cfg;
        crate::series::prune(inner, &self.metrics);
        Ok(())
    }

    /// Stop `old`'s accept loops. On the addresses in `live_on` its sockets live on in the
    /// listener's new socket set; on the others, connections waiting in the backlog are
    /// accepted and served before the sockets close. Its open connections get `grace`.
    fn remove_sockets(
        &self,
        old: &ListenerRt,
        live_on: Vec<SocketAddr>,
        grace: std::time::Duration,
    ) {
        let name = socket_set_name(&old.spec.name, old.generation);
        let deadline = fulcrum_core::time::later(Instant::now(), grace);
        for w in &self.workers {
            w.send(WorkerCmd::RemoveListener {
                name: name.clone(),
                deadline,
                live_on: live_on.clone(),
            });
        }
    }
}

/// Grow or shrink a listener's connection limit in place. Permits in use cannot be taken
/// back at once: what is missing is recorded in `deficit` and taken later by the timer.
fn resize_limit(limit: &Semaphore, deficit: &mut usize, old: usize, new: usize) {
    if new > old {
        let grow = new - old;
        let repay = grow.min(*deficit);
        *deficit -= repay;
        limit.add_permits(grow - repay);
    } else if new < old {
        let want = old - new + *deficit;
        *deficit = want - limit.forget_permits(want);
    }
}

/// The timer's share of [`resize_limit`]: take permits freed since.
pub(crate) fn settle_limits(inner: &mut Inner) {
    for rt in inner.listeners.values_mut() {
        if rt.limit_deficit > 0 {
            rt.limit_deficit -= rt.limit.forget_permits(rt.limit_deficit);
        }
    }
}
