//! IP hash: a deterministic, weighted mapping from a client key to a backend.
//!
//! The key is scaled into `[0, sum of static weights)` (the high bits of `key * sum`), and the
//! backend owning that slice of the cumulative weights is chosen. Static weights, not effective
//! ones, shape the table, so slow start or a neighbour's ejection never remaps healthy clients.
//! When the chosen backend is ineligible the key is rehashed (mixed with the attempt number) up to
//! [`REHASH_ATTEMPTS`] times; after that the first eligible backend scanning forward from the
//! original choice is used. No randomness: every worker and process maps a key identically.
//!
//! Unlike [`crate::ring_hash`], adding or removing a backend remaps most keys.

use crate::hash::mix64;
use crate::BackendView;

/// Rehashes tried before falling back to a scan.
pub(crate) const REHASH_ATTEMPTS: u64 = 20;

/// The cumulative static weights: `ends[i]` is the exclusive end of backend `i`'s slice.
#[derive(Debug, Clone)]
pub(crate) struct IpHash {
    ends: Vec<u64>,
}

impl IpHash {
    pub fn new(static_weights: &[u32]) -> Self {
        let ends = static_weights
            .iter()
            .scan(0u64, |sum, &w| {
                *sum += u64::from(w);
                Some(*sum)
            })
            .collect();
        IpHash { ends }
    }

    fn total(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    /// The backend owning `key`'s slice; `None` only when all static weights are 0.
    fn slot(&self, key: u64) -> Option<usize> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        // Multiply-high keeps the top bits of the key, which `hash_ip` mixes well, and is
        // unbiased to within 2^-64 (a modulo would favour low slots when `total` is large).
        let point = ((u128::from(key) * u128::from(total)) >> 64) as u64;
        Some(self.ends.partition_point(|&end| end <= point))
    }

    pub fn pick(&self, key: u64, view: &dyn BackendView) -> Option<usize> {
        let n = view.len().min(self.ends.len());
        let eligible = |i: usize| i < n && view.weight(i) > 0;
        let first = self.slot(key);
        if let Some(i) = first.filter(|&i| eligible(i)) {
            return Some(i);
        }
        for attempt in 1..=REHASH_ATTEMPTS {
            let rekey = mix64(key ^ attempt.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            if let Some(i) = self.slot(rekey).filter(|&i| eligible(i)) {
                return Some(i);
            }
        }
        let start = first.unwrap_or(0);
        (0..n).map(|k| (start + k) % n).find(|&i| eligible(i))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{shares, FixedView};
    use crate::{hash_ip, Algorithm, Selector};
    use std::net::{IpAddr, Ipv4Addr};

    fn selector(weights: &[u32]) -> Selector {
        Selector::new(Algorithm::IpHash, weights, 0)
    }

    #[test]
    fn weighted_spread_over_many_keys() {
        let view = FixedView::weights(&[3, 2, 1]);
        let mut rng = fastrand::Rng::with_seed(9);
        let keys: Vec<u64> = (0..60_000).map(|_| rng.u64(..)).collect();
        let got = shares(&mut selector(&[3, 2, 1]), &view, 60_000, |k| {
            keys[k as usize]
        });
        for (share, want) in got.iter().zip([3.0 / 6.0, 2.0 / 6.0, 1.0 / 6.0]) {
            assert!((share - want).abs() < 0.02, "{got:?}");
        }
    }

    #[test]
    fn spread_over_sequential_client_addresses() {
        let view = FixedView::weights(&[1, 1, 1, 1]);
        let mut sel = selector(&[1, 1, 1, 1]);
        let key = |k: u32| hash_ip(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + k)));
        for share in shares(&mut sel, &view, 40_000, key) {
            assert!((share - 0.25).abs() < 0.02, "{share}");
        }
    }

    #[test]
    fn stable_for_a_key_across_selectors_and_seeds() {
        let view = FixedView::weights(&[1, 4, 2, 3]);
        let key = hash_ip(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 23)));
        let want = selector(&[1, 4, 2, 3]).pick(key, &view);
        for seed in 0..20 {
            let mut sel = Selector::new(Algorithm::IpHash, &[1, 4, 2, 3], seed);
            for _ in 0..5 {
                assert_eq!(sel.pick(key, &view), want);
            }
        }
    }

    #[test]
    fn effective_weight_changes_do_not_remap() {
        // Slow start lowers backend 0's effective weight: keys keep their backends.
        let full = FixedView::weights(&[2, 2, 2]);
        let warming = FixedView::weights(&[1, 2, 2]);
        let mut sel = selector(&[2, 2, 2]);
        let mut rng = fastrand::Rng::with_seed(2);
        for _ in 0..1000 {
            let key = rng.u64(..);
            assert_eq!(sel.pick(key, &full), sel.pick(key, &warming));
        }
    }

    #[test]
    fn ineligible_moves_only_its_own_keys_and_is_never_picked() {
        let all = FixedView::weights(&[1, 1, 1, 1]);
        let one_down = FixedView::weights(&[1, 0, 1, 1]);
        let mut sel = selector(&[1, 1, 1, 1]);
        let mut rng = fastrand::Rng::with_seed(4);
        let mut moved = [0u32; 4];
        for _ in 0..10_000 {
            let key = rng.u64(..);
            let before = sel.pick(key, &all).unwrap();
            let after = sel.pick(key, &one_down).unwrap();
            assert_ne!(after, 1);
            if before != 1 {
                assert_eq!(before, after);
            } else {
                moved[after] += 1;
            }
        }
        // The displaced keys are rehashed, so they spread over the survivors.
        for i in [0, 2, 3] {
            assert!((700..1000).contains(&moved[i]), "{moved:?}");
        }
    }

    #[test]
    fn falls_back_to_scan_and_none() {
        // Only a weight-1 backend among heavy ineligible ones: rehashes may all miss, the scan
        // must still find it.
        let mut weights = vec![1_000_000; 8];
        weights.push(1);
        let mut view = FixedView::weights(&weights);
        view.weights = vec![0; 9];
        view.weights[8] = 1;
        let mut sel = selector(&weights);
        for key in 0..100 {
            assert_eq!(sel.pick(key * 0x1234_5678_9abc, &view), Some(8));
        }
        assert_eq!(sel.pick(1, &FixedView::weights(&[0; 9])), None);
    }

    #[test]
    fn keys_at_the_extremes() {
        let view = FixedView::weights(&[1, 1]);
        let mut sel = selector(&[1, 1]);
        assert_eq!(sel.pick(0, &view), Some(0));
        assert_eq!(sel.pick(u64::MAX, &view), Some(1));
    }
}
