//! Pool-level state that outlives snapshots: passive health (outlier ejection) and the retry
//! budget. The control plane keeps one per pool name and hands it to every rebuild.
//!
//! Passive health is `fulcrum-health`'s [`PoolOutlier`], run here on the outcomes requests
//! report. A success costs one relaxed load (the backend's `failing` flag) unless failures
//! are pending; a failure takes the pool's lock, so the ejection budget holds exactly across
//! workers. Failures are rare and the lock is held for a few hash-map operations; it is never
//! held across an `.await`.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use fulcrum_config::model::Outlier;
use fulcrum_health::{Event, PoolOutlier};

use crate::BackendState;

/// A pool member as the outlier state knows it: by identity, so a backend removed and added
/// again with the same address starts with a clean record.
#[derive(Debug, Clone)]
struct Member(Arc<BackendState>);

impl PartialEq for Member {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Member {}

impl Hash for Member {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

/// Pool-level facts that outlive snapshots.
#[derive(Debug)]
pub struct PoolShared {
    outlier: Mutex<PoolOutlier<Member>>,
    /// Requests and retries seen recently (halved every second by [`PoolShared::decay_retries`]).
    recent_requests: AtomicU64,
    recent_retries: AtomicU64,
}

impl PoolShared {
    pub fn new() -> Arc<Self> {
        Arc::new(PoolShared {
            outlier: Mutex::new(PoolOutlier::new(&Outlier::default(), [])),
            recent_requests: AtomicU64::new(0),
            recent_retries: AtomicU64::new(0),
        })
    }

    fn outlier(&self) -> MutexGuard<'_, PoolOutlier<Member>> {
        // Every critical section leaves the state consistent between statements.
        self.outlier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pool is now `backends` under `config` (called by [`crate::PoolState::new`], so the
    /// newest snapshot decides): members that stay keep their record, a member that left gives
    /// its budget slot back.
    pub(crate) fn set_members(&self, config: &Outlier, backends: &[Arc<BackendState>]) {
        let mut o = self.outlier();
        o.set_config(config);
        o.set_members(backends.iter().cloned().map(Member));
    }

    /// Run one outcome of `b` through the outlier state; ejects it if the state says so.
    pub(crate) fn on_result(&self, pool: &str, b: &Arc<BackendState>, failure: bool, now: Instant) {
        let member = Member(b.clone());
        let mut o = self.outlier();
        if let Some(Event::Ejected { until, .. }) = o.on_result(&member, failure, now) {
            b.eject();
            tracing::warn!(
                pool,
                backend = %b.label,
                seconds = until.saturating_duration_since(now).as_secs_f64(),
                "backend ejected"
            );
            return;
        }
        let pending = o
            .state(&member)
            .is_some_and(|s| s.consecutive_failures() > 0);
        b.set_failing(pending);
    }

    /// Bring back the backends whose ejection is over at `now`, and return them (the control
    /// plane restarts their slow start).
    pub fn readmit_due(&self, now: Instant) -> Vec<Arc<BackendState>> {
        let events = self.outlier().tick(now);
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::Returned { backend } => {
                    backend.0.readmit();
                    Some(backend.0)
                }
                Event::Ejected { .. } => None,
            })
            .collect()
    }

    /// Backends of this pool ejected now (each holds a slot of the ejection budget).
    pub fn ejected(&self) -> usize {
        self.outlier().ejected_count()
    }

    /// Count a request towards the retry budget's window.
    pub fn count_request(&self) {
        self.recent_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Exponential decay of the retry window.
    pub fn decay_retries(&self) {
        for c in [&self.recent_requests, &self.recent_retries] {
            let v = c.load(Ordering::Relaxed);
            c.store(v / 2, Ordering::Relaxed);
        }
    }

    /// The retry window now: (recent requests, recent retries).
    pub fn retry_window(&self) -> (u64, u64) {
        (
            self.recent_requests.load(Ordering::Relaxed),
            self.recent_retries.load(Ordering::Relaxed),
        )
    }

    /// Take one retry from the budget: allowed while retries stay within `percent` of recent
    /// requests (with a floor of 3 so a quiet pool can still retry; none when `percent` is 0).
    pub fn try_retry(&self, percent: u32) -> bool {
        if percent == 0 {
            return false;
        }
        let requests = self.recent_requests.load(Ordering::Relaxed);
        let allowed = (requests * u64::from(percent) / 100).max(3);
        let retries = self.recent_retries.fetch_add(1, Ordering::Relaxed);
        if retries < allowed {
            true
        } else {
            self.recent_retries.fetch_sub(1, Ordering::Relaxed);
            false
        }
    }
}
