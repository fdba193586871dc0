//! Passive health (outlier detection, as in Envoy): eject a backend after consecutive failures
//! seen on real traffic, for a time that doubles on each repeat and decays while it behaves.
//!
//! [`OutlierState`] is one backend; [`EjectionBudget`] caps how much of a pool may be out at
//! once; [`PoolOutlier`] puts the two together for a whole pool.

mod pool;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use fulcrum_config::model::Outlier;

pub use pool::{Event, PoolOutlier};

/// One backend's passive-health state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierState {
    config: Outlier,
    /// Failures in a row since the last success or return (not counted while ejected).
    consecutive_failures: u32,
    /// The ejection multiplier: the next ejection lasts `base * 2^ejections` (capped). It stops
    /// growing once that reaches `max_ejection_time`, and decays by one per
    /// `base_ejection_time` spent un-ejected.
    ejections: u32,
    /// `Some` while ejected.
    ejected_until: Option<Instant>,
    /// While un-ejected with `ejections > 0`: when the current decay period began.
    decay_from: Option<Instant>,
}

impl OutlierState {
    pub fn new(config: &Outlier) -> Self {
        OutlierState {
            config: *config,
            consecutive_failures: 0,
            ejections: 0,
            ejected_until: None,
            decay_from: None,
        }
    }

    /// Thresholds and times from now on; the failure count and ejection multiplier stay.
    pub fn set_config(&mut self, config: &Outlier) {
        self.config = *config;
    }

    /// Record one result seen on real traffic (`failure`: connect failure, reset or 5xx).
    /// Returns whether the backend should now be ejected: the caller asks the pool's
    /// [`EjectionBudget`] and, if allowed, calls [`OutlierState::eject`].
    ///
    /// While the threshold is reached but the budget refuses, every further failure returns
    /// `true` again, so a still-failing backend is ejected as soon as the budget frees up.
    /// Results arriving while ejected (requests sent before the ejection) are ignored.
    /// Always `false` when `consecutive_failures = 0` (detection off).
    pub fn on_result(&mut self, failure: bool, now: Instant) -> bool {
        self.decay(now);
        if self.config.consecutive_failures == 0 || self.is_ejected() {
            return false;
        }
        if !failure {
            self.consecutive_failures = 0;
            return false;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.consecutive_failures >= self.config.consecutive_failures
    }

    /// Eject from `now` for `base_ejection_time * 2^ejections`, capped at `max_ejection_time`;
    /// returns the instant the backend comes back.
    pub fn eject(&mut self, now: Instant) -> Instant {
        let time = self.ejection_time();
        if time < self.config.max_ejection_time {
            self.ejections = self.ejections.saturating_add(1);
        }
        let until = fulcrum_core::time::later(now, time);
        self.ejected_until = Some(until);
        self.consecutive_failures = 0;
        self.decay_from = None;
        until
    }

    /// How long the next ejection would last.
    pub fn ejection_time(&self) -> Duration {
        let (base, max) = (
            self.config.base_ejection_time,
            self.config.max_ejection_time,
        );
        2u32.checked_pow(self.ejections)
            .and_then(|factor| base.checked_mul(factor))
            .map_or(max, |t| t.min(max))
    }

    /// Bring the backend back if its ejection is over (`now >= ejected_until`); returns whether
    /// it came back just now. The failure count restarts; the ejection multiplier is kept (so a
    /// repeat ejection lasts longer) and starts to decay from `now`.
    pub fn maybe_return(&mut self, now: Instant) -> bool {
        match self.ejected_until {
            Some(until) if now >= until => {
                self.ejected_until = None;
                self.consecutive_failures = 0;
                self.decay_from = (self.ejections > 0).then_some(now);
                true
            }
            _ => false,
        }
    }

    /// Forget one ejection per full `base_ejection_time` spent un-ejected. Called by
    /// [`OutlierState::on_result`] before it counts (so before any ejection); calling it more
    /// often changes nothing.
    pub fn decay(&mut self, now: Instant) {
        let Some(from) = self.decay_from else { return };
        if self.is_ejected() {
            return;
        }
        let base = self.config.base_ejection_time.as_nanos().max(1);
        let periods = now.saturating_duration_since(from).as_nanos() / base;
        let periods = u32::try_from(periods)
            .unwrap_or(u32::MAX)
            .min(self.ejections);
        self.ejections -= periods;
        self.decay_from = if self.ejections == 0 {
            None
        } else {
            self.config
                .base_ejection_time
                .checked_mul(periods)
                .and_then(|d| from.checked_add(d))
        };
    }

    pub fn is_ejected(&self) -> bool {
        self.ejected_until.is_some()
    }

    pub fn ejected_until(&self) -> Option<Instant> {
        self.ejected_until
    }

    /// The current ejection multiplier (see [`OutlierState::ejection_time`]).
    pub fn ejections(&self) -> u32 {
        self.ejections
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }
}

/// How many backends of a pool may be ejected at once: `floor(pool size * max_ejection_percent
/// / 100)`.
///
/// Unlike Envoy (which always allows at least one), we round down: a 2-backend pool at 50% may
/// eject one, a 1-backend pool none. Ejecting the only backend left would turn a degraded pool
/// into a dead one (every request a 503); active checks can still mark it unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EjectionBudget {
    /// 0..=100 (larger values are treated as 100).
    max_percent: u32,
}

impl EjectionBudget {
    pub fn new(max_ejection_percent: u32) -> Self {
        EjectionBudget {
            max_percent: max_ejection_percent.min(100),
        }
    }

    /// The most backends of a `pool_size` pool that may be out at once.
    pub fn max_ejected(&self, pool_size: usize) -> usize {
        let max = pool_size as u128 * u128::from(self.max_percent) / 100;
        usize::try_from(max).unwrap_or(pool_size)
    }

    /// Whether one more backend may be ejected while `ejected` of `pool_size` are out.
    pub fn allows(&self, ejected: usize, pool_size: usize) -> bool {
        ejected < self.max_ejected(pool_size)
    }
}
