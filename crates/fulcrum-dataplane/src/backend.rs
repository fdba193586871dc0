//! A backend's live state, shared by every worker and carried across reloads for as long as the
//! backend stays in its pool. Only atomics change on the data path.
//!
//! The data path reads `effective` (the weight the balancer uses: 0 when unhealthy, ejected or
//! draining, lower during slow start) and reports each request's outcome; the control plane
//! runs the health checks and the timers and recomputes `effective`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

/// The active health verdict, as shown by the admin API and `fulcrum_backend_up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No verdict yet: usable.
    Unknown = 0,
    Healthy = 1,
    Unhealthy = 2,
}

impl Health {
    fn from_u8(v: u8) -> Health {
        match v {
            1 => Health::Healthy,
            2 => Health::Unhealthy,
            _ => Health::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// Something the control plane must act on.
#[derive(Debug)]
pub enum HealthEvent {
    /// The data path ejected this backend (passive health), taking a slot of its pool's
    /// ejection budget: schedule its return (or give the slot back if it is gone).
    Ejected(Arc<BackendState>, Arc<PoolShared>),
}

#[derive(Debug)]
pub struct BackendState {
    pub addr: SocketAddr,
    /// The name it was resolved from (DNS backends): the TLS server name by default.
    pub host: Option<String>,
    /// `addr` as text, for logs, labels and the API.
    pub label: String,
    /// Configured weight (> 0).
    pub weight: AtomicU32,
    /// What the balancer uses now; 0 = not eligible.
    pub effective: AtomicU32,
    /// Requests in flight to this backend, across workers.
    pub inflight: AtomicU32,
    health: AtomicU8,
    pub ejected: AtomicBool,
    pub draining: AtomicBool,
    /// Draining ran past `drain_timeout`: responses still streaming from it are cut off.
    pub drain_expired: AtomicBool,
    /// Woken when `drain_expired` is set, for what waits instead of polling (tunnels).
    pub drain_expired_notify: tokio::sync::Notify,
    /// Consecutive failures seen on real traffic (passive health).
    pub consecutive_failures: AtomicU32,
    pub requests: AtomicU64,
    pub failures: AtomicU64,
}

impl BackendState {
    pub fn new(addr: SocketAddr, weight: u32) -> Arc<Self> {
        Self::named(addr, None, weight)
    }

    /// A backend found by resolving `host`.
    pub fn named(addr: SocketAddr, host: Option<String>, weight: u32) -> Arc<Self> {
        Arc::new(BackendState {
            addr,
            host,
            label: addr.to_string(),
            weight: AtomicU32::new(weight),
            effective: AtomicU32::new(weight),
            inflight: AtomicU32::new(0),
            health: AtomicU8::new(Health::Unknown as u8),
            ejected: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            drain_expired: AtomicBool::new(false),
            drain_expired_notify: tokio::sync::Notify::new(),
            consecutive_failures: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    pub fn health(&self) -> Health {
        Health::from_u8(self.health.load(Ordering::Relaxed))
    }

    pub fn set_health(&self, h: Health) {
        self.health.store(h as u8, Ordering::Relaxed);
    }

    /// Mark the drain as over: streams and tunnels still using this backend are cut.
    pub fn expire_drain(&self) {
        self.drain_expired.store(true, Ordering::Release);
        self.drain_expired_notify.notify_waiters();
    }

    /// Resolves once the backend's drain has run out (at once if it already has).
    pub async fn drain_expired(&self) {
        loop {
            let notified = self.drain_expired_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.drain_expired.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Usable by the balancer right now, ignoring slow start.
    pub fn usable(&self) -> bool {
        !self.draining.load(Ordering::Relaxed)
            && !self.ejected.load(Ordering::Relaxed)
            && self.health() != Health::Unhealthy
    }

    /// Recompute `effective` from the facts, with `ramp` applied to the configured weight
    /// (slow start; identity when there is none).
    pub fn refresh(&self, ramp: impl FnOnce(u32) -> u32) {
        let w = if self.usable() {
            ramp(self.weight.load(Ordering::Relaxed)).max(1)
        } else {
            0
        };
        self.effective.store(w, Ordering::Relaxed);
    }
}

/// Pool-level facts that outlive snapshots: the ejection budget, the retry budget and the
/// channel to the control plane.
#[derive(Debug)]
pub struct PoolShared {
    /// Backends of this pool currently ejected by passive health.
    pub ejected: AtomicU32,
    /// Requests and retries seen recently (the control plane halves both every second).
    pub recent_requests: AtomicU64,
    pub recent_retries: AtomicU64,
    pub events: Option<mpsc::UnboundedSender<HealthEvent>>,
}

impl PoolShared {
    pub fn new(events: Option<mpsc::UnboundedSender<HealthEvent>>) -> Arc<Self> {
        Arc::new(PoolShared {
            ejected: AtomicU32::new(0),
            recent_requests: AtomicU64::new(0),
            recent_retries: AtomicU64::new(0),
            events,
        })
    }

    /// Exponential decay of the retry window.
    pub fn decay(&self) {
        for c in [&self.recent_requests, &self.recent_retries] {
            let v = c.load(Ordering::Relaxed);
            c.store(v / 2, Ordering::Relaxed);
        }
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

/// Holds one in-flight slot on a backend (what `least_request` compares and draining waits
/// for), released however the request or relay ends.
pub struct BackendInflight(pub Arc<BackendState>);

impl BackendInflight {
    pub fn new(b: &Arc<BackendState>) -> Self {
        b.inflight.fetch_add(1, Ordering::Relaxed);
        BackendInflight(b.clone())
    }
}

impl Drop for BackendInflight {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}
