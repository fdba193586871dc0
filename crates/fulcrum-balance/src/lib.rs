//! Fulcrum's backend selection: which backend of a pool serves the next request.
//!
//! This crate owns the selection algorithms — smooth weighted round robin, least request (power
//! of two choices), weighted random, IP hash and ring hash — and the stable hash of a client
//! address they key on. It does not own the backend set, health or in-flight accounting: those
//! are shared facts read through [`BackendView`], kept by whoever owns the pool.
//!
//! Each worker thread owns its own [`Selector`] (`&mut self`, no locks, no atomics, no
//! allocation per pick), built from the configured weights when a pool snapshot is built. Hash
//! algorithms ignore the seed, so every worker and every process maps a key to the same backend.
//!
//! It must not read clocks, do I/O or panic on any view it is given.

mod hash;
mod ip_hash;
mod least_request;
mod random;
mod ring_hash;
mod round_robin;
#[cfg(test)]
mod testing;

pub use hash::{hash_bytes, hash_ip, mix64};

use ip_hash::IpHash;
use ring_hash::Ring;
use round_robin::RoundRobin;

/// A selection algorithm (the `balance` of a pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// Smooth weighted round robin, as NGINX. Deterministic per worker.
    #[default]
    RoundRobin,
    /// The less loaded — `(inflight + 1) / weight` — of two weighted-random candidates.
    LeastRequest,
    /// Weighted random.
    Random,
    /// Deterministic weighted mapping of the client key; remaps most keys when the set changes.
    IpHash,
    /// Consistent hashing (ketama): a set change moves only about `1/N` of the keys.
    RingHash,
}

/// The live facts a [`Selector`] needs about a backend set, index-aligned with the weights the
/// selector was built from.
///
/// Implementations are read on every pick from every worker: they should be plain loads
/// (relaxed atomics or a snapshot), never locks. An index `i < len()` must not panic.
pub trait BackendView {
    /// Number of backends.
    fn len(&self) -> usize;
    /// Whether there are no backends.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Current effective weight; 0 means not eligible right now (unhealthy, draining, ejected).
    /// Slow start will lower it.
    fn weight(&self, i: usize) -> u32;
    /// Requests in flight to backend i (across all workers).
    fn inflight(&self, i: usize) -> u32;
}

/// Per-worker selection state for one pool.
///
/// Which weights count where: round robin, least request and random follow the view's
/// *effective* weights; IP hash and ring hash place keys by the *static* weights and use the
/// view only for eligibility (weight > 0), so slow start does not remap clients.
///
/// If the view's length differs from the static weights (a caller bug, a snapshot mismatch), the
/// selector does not panic: hash algorithms consider only indices present in both, the others
/// follow the view.
#[derive(Debug, Clone)]
pub struct Selector {
    state: State,
    rng: fastrand::Rng,
}

#[derive(Debug, Clone)]
enum State {
    RoundRobin(RoundRobin),
    /// Keeps no state beyond the generator.
    LeastRequest,
    /// Keeps no state beyond the generator.
    Random,
    IpHash(IpHash),
    RingHash(Ring),
}

impl Selector {
    /// Builds a selector. `static_weights`: configured weights (>0), index-aligned with the
    /// view; used to build hash rings and tables. `seed` seeds the random generator of
    /// least request and random (give each worker a different one); the others ignore it.
    ///
    /// Ring hash places backend `i` by an identity derived from `i`, so removing any backend
    /// but the last shifts the others' identities; use [`Selector::new_with_ids`] for rings.
    pub fn new(alg: Algorithm, static_weights: &[u32], seed: u64) -> Selector {
        let ids: Vec<u64> = match alg {
            Algorithm::RingHash => (0..static_weights.len()).map(ring_hash::index_id).collect(),
            _ => Vec::new(),
        };
        Self::new_with_ids(alg, static_weights, &ids, seed)
    }

    /// Like [`Selector::new`], with a stable identity per backend for ring hash: `ids[i]` is a
    /// hash of backend `i`'s address (see [`hash_bytes`]), so a backend's points on the ring do
    /// not depend on its position in the list. Other algorithms ignore `ids`.
    ///
    /// `ids` should be as long as `static_weights`; missing ids get index-derived ones.
    pub fn new_with_ids(
        alg: Algorithm,
        static_weights: &[u32],
        ids: &[u64],
        seed: u64,
    ) -> Selector {
        let state = match alg {
            Algorithm::RoundRobin => State::RoundRobin(RoundRobin::new(static_weights.len())),
            Algorithm::LeastRequest => State::LeastRequest,
            Algorithm::Random => State::Random,
            Algorithm::IpHash => State::IpHash(IpHash::new(static_weights)),
            Algorithm::RingHash => {
                let ids: Vec<u64> = (0..static_weights.len())
                    .map(|i| {
                        ids.get(i)
                            .copied()
                            .unwrap_or_else(|| ring_hash::index_id(i))
                    })
                    .collect();
                State::RingHash(Ring::new(static_weights, &ids))
            }
        };
        Selector {
            state,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The algorithm this selector runs.
    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            State::RoundRobin(_) => Algorithm::RoundRobin,
            State::LeastRequest => Algorithm::LeastRequest,
            State::Random => Algorithm::Random,
            State::IpHash(_) => Algorithm::IpHash,
            State::RingHash(_) => Algorithm::RingHash,
        }
    }

    /// Picks a backend index for the next request; `None` when no backend is eligible.
    ///
    /// `key`: a 64-bit hash of the client address (use [`hash_ip`]), ignored by non-hash
    /// algorithms.
    pub fn pick(&mut self, key: u64, view: &dyn BackendView) -> Option<usize> {
        match &mut self.state {
            State::RoundRobin(rr) => rr.pick(view),
            State::LeastRequest => least_request::pick(&mut self.rng, view),
            State::Random => random::weighted_pick(&mut self.rng, view, None),
            State::IpHash(table) => table.pick(key, view),
            State::RingHash(ring) => ring.pick(key, view),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testing::FixedView;

    const ALL: [Algorithm; 5] = [
        Algorithm::RoundRobin,
        Algorithm::LeastRequest,
        Algorithm::Random,
        Algorithm::IpHash,
        Algorithm::RingHash,
    ];

    #[test]
    fn every_algorithm_skips_ineligible() {
        let view = FixedView::weights(&[0, 2, 0, 1, 0]);
        let mut rng = fastrand::Rng::with_seed(8);
        for alg in ALL {
            let mut sel = Selector::new(alg, &[1, 2, 3, 1, 5], 1);
            for _ in 0..2000 {
                let got = sel.pick(rng.u64(..), &view);
                assert!(matches!(got, Some(1 | 3)), "{alg:?} picked {got:?}");
            }
        }
    }

    #[test]
    fn every_algorithm_returns_none_when_nothing_is_eligible() {
        for alg in ALL {
            let mut sel = Selector::new(alg, &[1, 2, 3], 1);
            assert_eq!(
                sel.pick(7, &FixedView::weights(&[0, 0, 0])),
                None,
                "{alg:?}"
            );
            let mut empty = Selector::new(alg, &[], 1);
            assert_eq!(empty.pick(7, &FixedView::weights(&[])), None, "{alg:?}");
        }
    }

    #[test]
    fn every_algorithm_tolerates_a_mismatched_view() {
        for alg in ALL {
            let mut sel = Selector::new(alg, &[1, 1], 1);
            for key in 0..50 {
                let got = sel.pick(key << 58, &FixedView::weights(&[1, 1, 1, 1]));
                assert!(matches!(got, Some(0..=3)), "{alg:?}");
                let got = sel.pick(key << 58, &FixedView::weights(&[0]));
                assert_eq!(got, None, "{alg:?}");
            }
            let mut ring = Selector::new_with_ids(alg, &[1, 1, 1], &[9], 1);
            assert!(
                ring.pick(3, &FixedView::weights(&[1, 1, 1])).is_some(),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn reports_its_algorithm() {
        for alg in ALL {
            assert_eq!(Selector::new(alg, &[1], 0).algorithm(), alg);
        }
    }

    #[test]
    fn selector_is_send() {
        fn send<T: Send + 'static>() {}
        send::<Selector>();
    }
}
