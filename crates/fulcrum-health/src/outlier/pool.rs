//! Outlier detection for a whole pool: per-backend states plus the ejection budget.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

use fulcrum_config::model::Outlier;

use super::{EjectionBudget, OutlierState};

/// Something the owner should publish (or log, or count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<K> {
    /// Backend `backend` is out until `until`.
    Ejected { backend: K, until: Instant },
    /// Backend `backend`'s ejection is over; it may take traffic again.
    Returned { backend: K },
}

/// Passive health of one pool's backends, each named by a key of the owner's choosing (the
/// data plane uses the backend's identity, so a backend removed and added again starts over).
///
/// The members follow the pool ([`PoolOutlier::set_members`] after each rebuild): the ejection
/// budget is a share of them, and a member that leaves gives its slot back. Call
/// [`PoolOutlier::tick`] by [`PoolOutlier::next_deadline`] to bring ejected backends back.
#[derive(Debug, Clone)]
pub struct PoolOutlier<K> {
    config: Outlier,
    budget: EjectionBudget,
    backends: HashMap<K, OutlierState>,
    /// Members ejected now (kept, not counted, so a failure costs no scan of the pool).
    ejected: usize,
}

impl<K: Eq + Hash + Clone> PoolOutlier<K> {
    /// A pool of `members`, none ejected.
    pub fn new(config: &Outlier, members: impl IntoIterator<Item = K>) -> Self {
        let mut pool = PoolOutlier {
            config: *config,
            budget: EjectionBudget::new(config.max_ejection_percent),
            backends: HashMap::new(),
            ejected: 0,
        };
        pool.set_members(members);
        pool
    }

    /// A new `[pool.X.outlier]` table: thresholds and times apply from the next result; who
    /// is ejected and each backend's ejection multiplier stay.
    pub fn set_config(&mut self, config: &Outlier) {
        if self.config == *config {
            return;
        }
        self.config = *config;
        self.budget = EjectionBudget::new(config.max_ejection_percent);
        for s in self.backends.values_mut() {
            s.set_config(config);
        }
    }

    /// The pool's backends are now `members`: those that stay keep their state, new ones start
    /// clean, and those gone are forgotten (an ejected one gives its budget slot back).
    pub fn set_members(&mut self, members: impl IntoIterator<Item = K>) {
        let mut next = HashMap::new();
        for k in members {
            let state = self
                .backends
                .remove(&k)
                .unwrap_or_else(|| OutlierState::new(&self.config));
            next.insert(k, state);
        }
        self.backends = next;
        self.ejected = self.backends.values().filter(|s| s.is_ejected()).count();
    }

    /// Record a result for backend `key`; returns [`Event::Ejected`] if it got ejected. A key
    /// that is not a member is ignored.
    pub fn on_result(&mut self, key: &K, failure: bool, now: Instant) -> Option<Event<K>> {
        if !self.backends.get_mut(key)?.on_result(failure, now) {
            return None;
        }
        let (ejected, pool_size) = (self.ejected, self.backends.len());
        if !self.budget.allows(ejected, pool_size) {
            tracing::debug!(
                ejected,
                pool_size,
                "outlier ejection refused: max_ejection_percent reached"
            );
            return None;
        }
        let until = self.backends.get_mut(key)?.eject(now);
        self.ejected += 1;
        Some(Event::Ejected {
            backend: key.clone(),
            until,
        })
    }

    /// Bring back every backend whose ejection is over (ejection multipliers decay as results
    /// come in, see [`OutlierState::decay`]).
    pub fn tick(&mut self, now: Instant) -> Vec<Event<K>> {
        let mut events = Vec::new();
        if self.ejected == 0 {
            return events;
        }
        for (backend, state) in &mut self.backends {
            if state.maybe_return(now) {
                events.push(Event::Returned {
                    backend: backend.clone(),
                });
            }
        }
        self.ejected -= events.len();
        events
    }

    /// When the next ejection ends (`None` with none ejected).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.backends
            .values()
            .filter_map(|s| s.ejected_until())
            .min()
    }

    /// Whether backend `key` is ejected (`false` for a key that is not a member).
    pub fn is_ejected(&self, key: &K) -> bool {
        self.backends.get(key).is_some_and(OutlierState::is_ejected)
    }

    pub fn ejected_count(&self) -> usize {
        self.ejected
    }

    pub fn state(&self, key: &K) -> Option<&OutlierState> {
        self.backends.get(key)
    }

    pub fn len(&self) -> usize {
        self.backends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }
}
