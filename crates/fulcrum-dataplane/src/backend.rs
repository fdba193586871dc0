//! A backend's live state, shared by every worker and carried across reloads for as long as the
//! backend stays in its pool. Only atomics change on the data path, and only through methods.
//!
//! The balancer reads the effective weight (0 when unhealthy, ejected or draining, lower during
//! slow start) and the in-flight count; requests report their outcome to the pool
//! ([`crate::PoolState::report`]), which ejects; the control plane sets the configured weight,
//! the active health verdict and draining, and recomputes the effective weight on its timer
//! ([`BackendState::refresh`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

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

/// One backend as its pool's snapshots share it.
#[derive(Debug)]
pub struct BackendState {
    pub addr: SocketAddr,
    /// The name it was resolved from (DNS backends): the TLS server name by default.
    pub host: Option<String>,
    /// `addr` as text, for logs, labels and the API.
    pub label: String,
    /// Configured weight (> 0).
    weight: AtomicU32,
    /// What the balancer uses now; 0 = not eligible.
    effective: AtomicU32,
    /// Requests in flight to this backend, across workers (see [`BackendInflight`]).
    inflight: AtomicU32,
    health: AtomicU8,
    /// Out by passive health; set and cleared by the pool's outlier state only.
    ejected: AtomicBool,
    /// The pool's outlier state counts failures of this backend that no success has reset
    /// yet: only then does a success need the pool's lock.
    failing: AtomicBool,
    draining: AtomicBool,
    /// Draining ran past `drain_timeout`: responses still streaming from it are cut off.
    drain_expired: AtomicBool,
    /// Woken when `drain_expired` is set, for what waits instead of polling (tunnels).
    drain_expired_notify: tokio::sync::Notify,
    requests: AtomicU64,
    failures: AtomicU64,
}

/// A backend's numbers at one moment, for the admin API and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendStats {
    pub health: Health,
    pub ejected: bool,
    pub draining: bool,
    pub weight: u32,
    pub effective_weight: u32,
    pub inflight: u32,
    pub requests: u64,
    pub failures: u64,
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
            failing: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            drain_expired: AtomicBool::new(false),
            drain_expired_notify: tokio::sync::Notify::new(),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// The configured weight.
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// The weight the balancer uses now (0: not chosen).
    pub fn effective_weight(&self) -> u32 {
        self.effective.load(Ordering::Relaxed)
    }

    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Relaxed)
    }

    pub fn health(&self) -> Health {
        Health::from_u8(self.health.load(Ordering::Relaxed))
    }

    pub fn is_ejected(&self) -> bool {
        self.ejected.load(Ordering::Relaxed)
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Whether the drain ran out: what still streams from this backend is cut.
    pub fn is_drain_expired(&self) -> bool {
        self.drain_expired.load(Ordering::Acquire)
    }

    /// Usable by the balancer right now, ignoring slow start.
    pub fn usable(&self) -> bool {
        !self.is_draining() && !self.is_ejected() && self.health() != Health::Unhealthy
    }

    pub fn stats(&self) -> BackendStats {
        BackendStats {
            health: self.health(),
            ejected: self.is_ejected(),
            draining: self.is_draining(),
            weight: self.weight(),
            effective_weight: self.effective_weight(),
            inflight: self.inflight(),
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    /// A new configured weight (> 0); the effective weight follows at the next
    /// [`BackendState::refresh`].
    pub fn set_weight(&self, weight: u32) {
        self.weight.store(weight, Ordering::Relaxed);
    }

    /// The active checks' verdict. Unhealthy takes the backend out at once; coming back waits
    /// for the next [`BackendState::refresh`] (which applies slow start).
    pub fn set_health(&self, h: Health) {
        self.health.store(h as u8, Ordering::Relaxed);
        if h == Health::Unhealthy {
            self.effective.store(0, Ordering::Relaxed);
        }
    }

    /// The backend left its pool: no new requests (effective weight 0 at once) and no
    /// ejection; those in flight finish.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.effective.store(0, Ordering::Relaxed);
    }

    /// Mark the drain as over: streams and tunnels still using this backend are cut.
    pub fn expire_drain(&self) {
        self.drain_expired.store(true, Ordering::Release);
        self.drain_expired_notify.notify_waiters();
    }

    /// Resolves once the backend's drain has run out (at once if it already has).
    pub fn drain_expired(&self) -> DrainExpired<'_> {
        DrainExpired {
            backend: self,
            notified: self.drain_expired_notify.notified(),
        }
    }

    /// Recompute the effective weight from the facts, with `ramp` applied to the configured
    /// weight (slow start; identity when there is none): 0 unless usable, else at least 1.
    pub fn refresh(&self, ramp: impl FnOnce(u32) -> u32) {
        let w = if self.usable() {
            ramp(self.weight()).max(1)
        } else {
            0
        };
        self.effective.store(w, Ordering::Relaxed);
    }

    /// Count one request's outcome in the statistics.
    pub(crate) fn count(&self, failure: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if failure {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    pub(crate) fn set_failing(&self, failing: bool) {
        if self.failing.load(Ordering::Relaxed) != failing {
            self.failing.store(failing, Ordering::Relaxed);
        }
    }

    /// Passive health took it out (the pool's outlier state decided, under its lock).
    pub(crate) fn eject(&self) {
        self.ejected.store(true, Ordering::Release);
        self.effective.store(0, Ordering::Relaxed);
        self.set_failing(false);
    }

    /// Its ejection is over; the effective weight comes back at the next refresh.
    pub(crate) fn readmit(&self) {
        self.ejected.store(false, Ordering::Release);
        self.set_failing(false);
    }
}

/// Holds one in-flight slot on a backend (what `least_request` compares and draining waits
/// for), released however the request or relay ends.
#[derive(Debug)]
pub struct BackendInflight(Arc<BackendState>);

impl BackendInflight {
    pub fn new(b: &Arc<BackendState>) -> Self {
        b.inflight.fetch_add(1, Ordering::Relaxed);
        BackendInflight(b.clone())
    }

    /// The backend this slot is held on.
    pub fn backend(&self) -> &Arc<BackendState> {
        &self.0
    }
}

impl Drop for BackendInflight {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// [`BackendState::drain_expired`]: resolves once the backend's drain ran out. Written by
    /// hand (a `Notified` and the backend) because every relayed connection holds one for
    /// its whole life.
    pub struct DrainExpired<'a> {
        backend: &'a BackendState,
        #[pin]
        notified: tokio::sync::futures::Notified<'a>,
    }
}

impl std::future::Future for DrainExpired<'_> {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let mut this = self.project();
        loop {
            // Registered before the flag is read: an expiry between the two still wakes us.
            this.notified.as_mut().enable();
            if this.backend.is_drain_expired() {
                return std::task::Poll::Ready(());
            }
            if this.notified.as_mut().poll(cx).is_pending() {
                return std::task::Poll::Pending;
            }
            // Woken: a fresh registration for the next notification, then the flag again.
            this.notified
                .set(this.backend.drain_expired_notify.notified());
        }
    }
}
