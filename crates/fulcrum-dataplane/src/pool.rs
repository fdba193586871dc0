//! A pool as the data path sees it: its backends, one balancer state per worker, and where
//! outcomes are reported.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fulcrum_balance::{Algorithm, BackendView, Selector};
use fulcrum_config::model::{Outlier, ProxyVersion, Retry};
use fulcrum_tls::UpstreamTls;

use crate::{BackendState, PoolShared};

/// What a pool snapshot is built from, besides its backends (the control plane converts the
/// configuration into this).
#[derive(Debug, Clone)]
pub struct PoolSpec {
    pub name: String,
    pub balance: Algorithm,
    /// A backend that does not accept within this counts as failed.
    pub connect_timeout: Duration,
    /// Passive health: when a backend is ejected and for how long.
    pub outlier: Outlier,
    pub retry: Retry,
    /// `[pool.X.tls]`: how to reach the backends over TLS; `None` is cleartext.
    pub tls: Option<UpstreamTls>,
    /// `proxy_protocol`: the PROXY header each backend connection starts with.
    pub proxy_protocol: Option<ProxyVersion>,
}

/// Per-worker selector slot, on its own cache line so workers never share one.
#[repr(align(64))]
#[derive(Debug)]
struct SelectorSlot(Mutex<Selector>);

/// A pool snapshot: immutable once built, shared by `Arc` (fields are read, never written).
#[derive(Debug)]
pub struct PoolState {
    pub name: String,
    pub backends: Vec<Arc<BackendState>>,
    pub connect_timeout: Duration,
    pub retry: Retry,
    /// How to reach the backends over TLS; `None` is cleartext.
    pub tls: Option<UpstreamTls>,
    /// The PROXY header each backend connection starts with (layer-4 pools).
    pub proxy_protocol: Option<ProxyVersion>,
    shared: Arc<PoolShared>,
    /// Passive health is on (`consecutive_failures > 0`).
    passive: bool,
    /// One selector per worker: the lock is only ever taken by its own worker, so it is never
    /// contended; it exists because the pool is shared across threads.
    selectors: Box<[SelectorSlot]>,
}

impl BackendView for PoolState {
    fn len(&self) -> usize {
        self.backends.len()
    }
    fn weight(&self, i: usize) -> u32 {
        self.backends.get(i).map_or(0, |b| b.effective_weight())
    }
    fn inflight(&self, i: usize) -> u32 {
        self.backends.get(i).map_or(0, |b| b.inflight())
    }
}

impl PoolState {
    /// A pool over `backends` (the control plane passes the states it keeps across reloads)
    /// with `workers` balancer states. `shared` takes these backends and `spec.outlier` as
    /// its passive-health membership: the newest snapshot decides.
    pub fn new(
        spec: PoolSpec,
        backends: Vec<Arc<BackendState>>,
        shared: Arc<PoolShared>,
        workers: usize,
    ) -> Self {
        let weights: Vec<u32> = backends.iter().map(|b| b.weight()).collect();
        let ids: Vec<u64> = backends
            .iter()
            .map(|b| fulcrum_balance::hash_bytes(b.label.as_bytes()))
            .collect();
        let selectors = (0..workers.max(1))
            .map(|w| {
                let seed = fulcrum_balance::mix64(w as u64 ^ fastrand::u64(..));
                SelectorSlot(Mutex::new(Selector::new_with_ids(
                    spec.balance,
                    &weights,
                    &ids,
                    seed,
                )))
            })
            .collect();
        shared.set_members(&spec.outlier, &backends);
        PoolState {
            name: spec.name,
            backends,
            connect_timeout: spec.connect_timeout,
            retry: spec.retry,
            tls: spec.tls,
            proxy_protocol: spec.proxy_protocol,
            shared,
            passive: spec.outlier.consecutive_failures > 0,
            selectors,
        }
    }

    /// The pool-level state this snapshot shares with the pool's other snapshots.
    pub fn shared(&self) -> &Arc<PoolShared> {
        &self.shared
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

    /// Choose a backend other than `not` (for a retry): the balancer's next choice, or the
    /// first other eligible backend when it keeps choosing `not`.
    pub fn pick_other(
        &self,
        worker: usize,
        key: u64,
        not: &BackendState,
    ) -> Option<&Arc<BackendState>> {
        for attempt in 0..3u64 {
            let b = self.pick(worker, key ^ fulcrum_balance::mix64(attempt + 1))?;
            if !std::ptr::eq(Arc::as_ptr(b), not) {
                return Some(b);
            }
        }
        self.backends
            .iter()
            .find(|b| !std::ptr::eq(Arc::as_ptr(b), not) && b.effective_weight() > 0)
    }

    /// The outcome of one request to `b` (`failure`: connect error, reset or 5xx): counted in
    /// its statistics and run through passive health, which ejects it at once when it fails
    /// `consecutive_failures` times in a row, within the pool's ejection budget. The control
    /// plane's timer brings it back ([`PoolShared::readmit_due`]).
    pub fn report(&self, b: &Arc<BackendState>, failure: bool) {
        self.report_with(b, failure, Instant::now);
    }

    /// [`PoolState::report`] at a chosen instant.
    pub fn report_at(&self, b: &Arc<BackendState>, failure: bool, now: Instant) {
        self.report_with(b, failure, || now);
    }

    fn report_with(&self, b: &Arc<BackendState>, failure: bool, now: impl FnOnce() -> Instant) {
        b.count(failure);
        // The common case: a success with no failures pending costs one relaxed load.
        if !failure && !b.is_failing() {
            return;
        }
        // A draining backend is on its way out, an ejected one is out already: neither result
        // changes anything (and a draining backend must not take a budget slot).
        if !self.passive || b.is_draining() || b.is_ejected() {
            return;
        }
        self.shared.on_result(&self.name, b, failure, now());
    }

    /// Count a request towards the retry budget's window (pools that can retry at all).
    pub fn count_request(&self) {
        self.shared.count_request();
    }

    /// Take one retry from the pool's retry budget (`retry.budget_percent` of recent requests).
    pub fn try_retry(&self) -> bool {
        self.shared.try_retry(self.retry.budget_percent)
    }
}
