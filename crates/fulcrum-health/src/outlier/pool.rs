//! Outlier detection for a whole pool: per-backend states plus the ejection budget.

use std::time::Instant;

use fulcrum_config::model::Outlier;

use super::{EjectionBudget, OutlierState};

/// Something the control plane should publish (or log, or count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Backend `backend` is out until `until`.
    Ejected { backend: usize, until: Instant },
    /// Backend `backend`'s ejection is over; it may take traffic again.
    Returned { backend: usize },
}

/// Passive health of one pool's backends, addressed by index (the pool's backend order).
///
/// Owned by one task (the control plane's health task for the pool); the data path reports
/// results to it and reads ejections from the snapshots it publishes. Call
/// [`PoolOutlier::tick`] by [`PoolOutlier::next_deadline`] to bring ejected backends back.
#[derive(Debug, Clone)]
pub struct PoolOutlier {
    config: Outlier,
    budget: EjectionBudget,
    backends: Vec<OutlierState>,
}

impl PoolOutlier {
    /// `backends` backends, none ejected.
    pub fn new(config: &Outlier, backends: usize) -> Self {
        PoolOutlier {
            config: *config,
            budget: EjectionBudget::new(config.max_ejection_percent),
            backends: vec![OutlierState::new(config); backends],
        }
    }

    /// Record a result for backend `i`; returns [`Event::Ejected`] if it got ejected. An index
    /// out of range is ignored.
    pub fn on_result(&mut self, i: usize, failure: bool, now: Instant) -> Option<Event> {
        if !self.backends.get_mut(i)?.on_result(failure, now) {
            return None;
        }
        // Counted only when a backend crosses the threshold: pools are small, results many.
        let (ejected, pool_size) = (self.ejected_count(), self.backends.len());
        if !self.budget.allows(ejected, pool_size) {
            tracing::debug!(
                backend = i,
                ejected,
                pool_size,
                "outlier ejection refused: max_ejection_percent reached"
            );
            return None;
        }
        let until = self.backends.get_mut(i)?.eject(now);
        Some(Event::Ejected { backend: i, until })
    }

    /// Bring back every backend whose ejection is over, and decay ejection multipliers.
    pub fn tick(&mut self, now: Instant) -> Vec<Event> {
        let mut events = Vec::new();
        for (backend, state) in self.backends.iter_mut().enumerate() {
            if state.maybe_return(now) {
                events.push(Event::Returned { backend });
            }
            state.decay(now);
        }
        events
    }

    /// When the next ejection ends (`None` with none ejected).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.backends.iter().filter_map(|s| s.ejected_until()).min()
    }

    /// Whether backend `i` is ejected (`false` for an index out of range).
    pub fn is_ejected(&self, i: usize) -> bool {
        self.backends.get(i).is_some_and(OutlierState::is_ejected)
    }

    pub fn ejected_count(&self) -> usize {
        self.backends.iter().filter(|s| s.is_ejected()).count()
    }

    pub fn state(&self, i: usize) -> Option<&OutlierState> {
        self.backends.get(i)
    }

    pub fn len(&self) -> usize {
        self.backends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// A new backend at the end (index `len()` before the call), not ejected.
    pub fn push_backend(&mut self) -> usize {
        self.backends.push(OutlierState::new(&self.config));
        self.backends.len() - 1
    }

    /// Forget backend `i`; later backends move down one index. Out of range: nothing.
    pub fn remove_backend(&mut self, i: usize) {
        if i < self.backends.len() {
            self.backends.remove(i);
        }
    }
}
