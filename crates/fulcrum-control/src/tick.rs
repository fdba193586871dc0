//! The control plane's timers: ejected backends return, slow start ramps, drains finish,
//! retry budgets decay. Run every [`TICK`] by the control task; each step takes `now`, so the
//! logic is testable without sleeping.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fulcrum_dataplane::HealthEvent;
use fulcrum_health::{ramp_weight, OutlierState};

use crate::Control;

/// How often the control plane looks at its timers.
pub const TICK: Duration = Duration::from_millis(100);

/// Passive-health timing of one ejected (or once-ejected) backend: the doubling ejection
/// time and its decay come from [`OutlierState`]; `counted` says it holds one of the pool's
/// ejection-budget slots.
pub(crate) struct Ejection {
    pub state: OutlierState,
    pub counted: bool,
}

impl Control {
    /// Handle one health event from the data path.
    pub fn on_event(&self, ev: HealthEvent, now: Instant) {
        let HealthEvent::Ejected(b, shared) = ev;
        let mut inner = self.lock();
        let Some((key, pool)) = inner
            .backends
            .iter()
            .find(|(_, st)| std::sync::Arc::ptr_eq(st, &b))
            .map(|(k, _)| k.clone())
            .and_then(|k| inner.config.pool(&k.0).cloned().map(|p| (k, p)))
        else {
            // Removed meanwhile: give its budget slot back; it will not be timed.
            shared.ejected.fetch_sub(1, Ordering::AcqRel);
            b.ejected.store(false, Ordering::Release);
            return;
        };
        let e = inner
            .ejections
            .entry(key.clone())
            .or_insert_with(|| Ejection {
                state: OutlierState::new(&pool.outlier),
                counted: false,
            });
        let until = e.state.eject(now);
        e.counted = true;
        tracing::warn!(
            pool = %key.0,
            backend = %b.label,
            seconds = until.saturating_duration_since(now).as_secs_f64(),
            "backend ejected"
        );
    }

    /// Advance every timer to `now`.
    pub fn tick(&self, now: Instant, decay_retries: bool) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        // Ejected backends whose time is up return; the ejection count decays while they
        // stay out of trouble.
        for (key, e) in inner.ejections.iter_mut() {
            if e.state.maybe_return(now) {
                if e.counted {
                    e.counted = false;
                    if let Some(shared) = inner.shared.get(&key.0) {
                        shared.ejected.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                if let Some(st) = inner.backends.get(key) {
                    st.ejected.store(false, Ordering::Release);
                    st.consecutive_failures.store(0, Ordering::Relaxed);
                    tracing::info!(pool = %key.0, backend = %st.label, "backend returned from ejection");
                }
                inner.usable_since.insert(key.clone(), now);
            }
            e.state.decay(now);
        }
        inner
            .ejections
            .retain(|_, e| e.state.is_ejected() || e.state.ejections() > 0);

        // Effective weights: health, ejection, draining and slow start in one place.
        for ((pool_name, addr), st) in &inner.backends {
            let window = inner
                .config
                .pool(pool_name)
                .map_or(Duration::ZERO, |p| p.slow_start);
            let since = inner.usable_since.get(&(pool_name.clone(), *addr)).copied();
            st.refresh(|w| match since {
                Some(s) => ramp_weight(w, s, now, window),
                None => w,
            });
        }

        // Drains end when nothing is in flight any more, or at their deadline; the backend's
        // series go with them.
        let backends = &inner.backends;
        let metrics = &self.metrics;
        inner.draining.retain(|d| {
            let inflight = d.backend.inflight.load(Ordering::Relaxed);
            if inflight == 0 {
                tracing::info!(pool = %d.pool, backend = %d.backend.label, after_ms = now.saturating_duration_since(d.since).as_millis() as u64, "backend drained");
                crate::series::drain_ended(backends, metrics, d);
                return false;
            }
            if now >= d.deadline {
                d.backend.expire_drain();
                tracing::warn!(pool = %d.pool, backend = %d.backend.label, inflight, "drain timeout: cutting off the requests still in flight");
                crate::series::drain_ended(backends, metrics, d);
                return false;
            }
            true
        });

        if decay_retries {
            for shared in inner.shared.values() {
                shared.decay();
            }
            // Once a second too: certificate files that changed on disk, and connection
            // limits lowered while in use.
            crate::tls::reload_changed(&mut inner.tls);
            crate::apply::settle_limits(inner);
            // Series of removed routes and listeners (a request still on an old snapshot may
            // have created one again since the reload).
            crate::series::prune(inner, &self.metrics);
        }
    }

    /// The control task: timers and health events, until shutdown. Runs on the admin thread's
    /// runtime.
    pub async fn run(self: std::sync::Arc<Self>) {
        let rx = crate::locked(&self.events_rx).take();
        let Some(mut rx) = rx else { return };
        let mut shutdown = self.shutdown_signal();
        let mut tick = tokio::time::interval(TICK);
        let mut n: u32 = 0;
        let mut dns_due = std::collections::HashMap::new();
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    n = n.wrapping_add(1);
                    self.tick(Instant::now(), n.is_multiple_of(10));
                    self.reconcile_checkers();
                    if n.is_multiple_of(5) {
                        self.refresh_dns(&mut dns_due).await;
                    }
                }
                Some(ev) = rx.recv() => self.on_event(ev, Instant::now()),
                _ = shutdown.changed() => return,
            }
        }
    }
}
