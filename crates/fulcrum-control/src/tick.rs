//! The control plane's timers: ejected backends return, slow start ramps, drains finish,
//! retry budgets decay. Run every [`TICK`] by the control task; each step takes `now`, so the
//! logic is testable without sleeping.

use std::time::{Duration, Instant};

use fulcrum_health::ramp_weight;

use crate::Control;

/// How often the control plane looks at its timers.
pub const TICK: Duration = Duration::from_millis(100);

impl Control {
    /// Advance every timer to `now`.
    pub fn tick(&self, now: Instant, decay_retries: bool) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        // Ejected backends whose time is up return (the data plane times ejections); their
        // slow start begins now.
        for (pool, shared) in &inner.shared {
            for b in shared.readmit_due(now) {
                tracing::info!(pool = %pool, backend = %b.label, "backend returned from ejection");
                inner.usable_since.insert((pool.clone(), b.addr), now);
            }
        }

        // Effective weights: health, ejection, draining and slow start in one place.
        // Pools by name, made once: a lookup in the pool list per backend is quadratic with
        // thousands of pools (the control lock is held meanwhile).
        let pools = crate::pools_by_name(&inner.config);
        for (key, st) in &inner.backends {
            let window = pools
                .get(key.0.as_str())
                .map_or(Duration::ZERO, |p| p.slow_start);
            let since = inner.usable_since.get(key).copied();
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
            let inflight = d.backend.inflight();
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
                shared.decay_retries();
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

    /// The control task: the timers, until shutdown. Runs on the admin thread's runtime.
    pub async fn run(self: std::sync::Arc<Self>) {
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
                    self.reconcile_jwks();
                    if n.is_multiple_of(5) {
                        self.refresh_dns(&mut dns_due).await;
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
