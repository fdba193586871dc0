//! The control plane's timers: ejected backends return, slow start ramps, drains finish,
//! retry budgets decay. Run every [`TICK`] by the control task; each step takes `now`, so the
//! logic is testable without sleeping.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fulcrum_http::state::HealthEvent;

use crate::Control;

/// How often the control plane looks at its timers.
pub const TICK: Duration = Duration::from_millis(100);

/// Passive-health bookkeeping of one ejected (or once-ejected) backend.
#[derive(Debug, Clone)]
pub(crate) struct Ejection {
    /// Ejections so far (the next one lasts `base * 2^count`, capped).
    pub count: u32,
    /// While ejected: when it returns.
    pub until: Option<Instant>,
    /// It holds one of the pool's ejection-budget slots.
    pub counted: bool,
    /// When it last returned (its count decays after a quiet period).
    pub returned: Option<Instant>,
}

/// The ejection time for the `count`-th repeat: base doubled each time, capped at `max`.
pub(crate) fn ejection_time(base: Duration, max: Duration, count: u32) -> Duration {
    let factor = 1u32.checked_shl(count.min(20)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}

/// Slow start: the weight for a backend usable since `since`, ramping linearly over `window`.
pub(crate) fn ramp(weight: u32, since: Instant, now: Instant, window: Duration) -> u32 {
    if window.is_zero() {
        return weight;
    }
    let elapsed = now.saturating_duration_since(since);
    if elapsed >= window {
        return weight;
    }
    let share = elapsed.as_secs_f64() / window.as_secs_f64();
    ((f64::from(weight) * share).ceil() as u32).clamp(1, weight.max(1))
}

impl Control {
    /// Handle one health event from the data path.
    pub fn on_event(&self, ev: HealthEvent, now: Instant) {
        let HealthEvent::Ejected(b) = ev;
        let mut inner = self.lock();
        let Some((key, pool)) = inner
            .backends
            .iter()
            .find(|(_, st)| std::sync::Arc::ptr_eq(st, &b))
            .map(|(k, _)| k.clone())
            .and_then(|k| inner.config.pool(&k.0).cloned().map(|p| (k, p)))
        else {
            return;
        };
        let e = inner.ejections.entry(key.clone()).or_insert(Ejection {
            count: 0,
            until: None,
            counted: false,
            returned: None,
        });
        let t = ejection_time(
            pool.outlier.base_ejection_time,
            pool.outlier.max_ejection_time,
            e.count,
        );
        e.count = e.count.saturating_add(1);
        e.until = Some(now + t);
        e.counted = true;
        tracing::warn!(pool = %key.0, backend = %b.label, seconds = t.as_secs_f64(), "backend ejected");
    }

    /// Advance every timer to `now`.
    pub fn tick(&self, now: Instant, decay_retries: bool) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        // Ejected backends whose time is up return; the ejection count decays after a quiet
        // period as long as the last ejection lasted.
        for (key, e) in inner.ejections.iter_mut() {
            let Some(pool) = inner.config.pool(&key.0) else {
                continue;
            };
            if let Some(until) = e.until {
                if now >= until {
                    e.until = None;
                    e.returned = Some(now);
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
            } else if let Some(back) = e.returned {
                let quiet = ejection_time(
                    pool.outlier.base_ejection_time,
                    pool.outlier.max_ejection_time,
                    e.count,
                );
                if e.count > 0 && now.saturating_duration_since(back) >= quiet {
                    e.count -= 1;
                    e.returned = Some(now);
                }
            }
        }
        inner
            .ejections
            .retain(|_, e| e.until.is_some() || e.count > 0);

        // Effective weights: health, ejection, draining and slow start in one place.
        for ((pool_name, addr), st) in &inner.backends {
            let window = inner
                .config
                .pool(pool_name)
                .map_or(Duration::ZERO, |p| p.slow_start);
            let since = inner.usable_since.get(&(pool_name.clone(), *addr)).copied();
            st.refresh(|w| match since {
                Some(s) => ramp(w, s, now, window),
                None => w,
            });
        }

        // Drains end when nothing is in flight any more, or at their deadline.
        inner.draining.retain(|d| {
            let inflight = d.backend.inflight.load(Ordering::Relaxed);
            if inflight == 0 {
                tracing::info!(pool = %d.pool, backend = %d.backend.label, after_ms = now.saturating_duration_since(d.since).as_millis() as u64, "backend drained");
                return false;
            }
            if now >= d.deadline {
                tracing::warn!(pool = %d.pool, backend = %d.backend.label, inflight, "drain timeout: removed with requests still in flight");
                return false;
            }
            true
        });

        if decay_retries {
            for shared in inner.shared.values() {
                shared.decay();
            }
        }
    }

    /// The control task: timers and health events, until shutdown. Runs on the admin thread's
    /// runtime.
    pub async fn run(self: std::sync::Arc<Self>) {
        let rx = match self.events_rx.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        let Some(mut rx) = rx else { return };
        let mut shutdown = self.shutdown_signal();
        let mut tick = tokio::time::interval(TICK);
        let mut n: u32 = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    n = n.wrapping_add(1);
                    self.tick(Instant::now(), n.is_multiple_of(10));
                }
                Some(ev) = rx.recv() => self.on_event(ev, Instant::now()),
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejection_time_doubles_and_caps() {
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(60);
        let got: Vec<u64> = (0..5)
            .map(|c| ejection_time(base, max, c).as_secs())
            .collect();
        assert_eq!(got, vec![10, 20, 40, 60, 60]);
        assert_eq!(ejection_time(base, max, 1000), max);
    }

    #[test]
    fn slow_start_ramps_linearly() {
        let t0 = Instant::now();
        let w = Duration::from_secs(10);
        assert_eq!(ramp(100, t0, t0, w), 1);
        assert_eq!(ramp(100, t0, t0 + Duration::from_millis(2500), w), 25);
        assert_eq!(ramp(100, t0, t0 + Duration::from_secs(5), w), 50);
        assert_eq!(ramp(100, t0, t0 + Duration::from_secs(10), w), 100);
        assert_eq!(ramp(100, t0, t0 + Duration::from_secs(99), w), 100);
        assert_eq!(ramp(3, t0, t0, Duration::ZERO), 3);
    }
}
