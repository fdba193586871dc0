//! Ring hash: consistent hashing in the style of ketama.
//!
//! Each backend owns `weight * 160` points on a 64-bit ring (scaled down proportionally when the
//! whole ring would exceed [`MAX_POINTS`]; every backend with a weight keeps at least one). A
//! point's position is a hash of the backend's stable *identity* and the point number — never its
//! index — so removing or adding a backend leaves every other backend's points where they were,
//! and only the keys on the changed backend's arcs move (about `1/N` of them).
//!
//! A key is served by the first point at or after it (wrapping past the top). When that point's
//! backend is ineligible the walk continues to the next point whose backend is eligible, which
//! spreads an ineligible backend's keys over the others while every other key stays put.

use crate::hash::mix64;
use crate::BackendView;

/// Points per unit of static weight.
pub(crate) const POINTS_PER_WEIGHT: u64 = 160;
/// Upper bound (give or take one point per backend) on the ring's size.
pub(crate) const MAX_POINTS: u64 = 100_000;

/// The sorted ring: `hashes[k]` is a point's position and `owners[k]` its backend index.
#[derive(Debug, Clone)]
pub(crate) struct Ring {
    hashes: Vec<u64>,
    owners: Vec<u32>,
    /// Per backend: whether it has any point at all (static weight > 0).
    placed: Vec<bool>,
}

impl Ring {
    /// Builds the ring. `ids[i]` is backend `i`'s stable identity; both slices are index-aligned.
    pub fn new(static_weights: &[u32], ids: &[u64]) -> Self {
        let n = static_weights.len().min(ids.len()).min(u32::MAX as usize);
        let raw: u64 = static_weights[..n]
            .iter()
            .map(|&w| u64::from(w) * POINTS_PER_WEIGHT)
            .sum();
        let count = |w: u32| {
            let want = u64::from(w) * POINTS_PER_WEIGHT;
            if raw <= MAX_POINTS || w == 0 {
                want
            } else {
                // u128: `want * MAX_POINTS` may exceed u64 for huge weights.
                ((u128::from(want) * u128::from(MAX_POINTS) / u128::from(raw)) as u64).max(1)
            }
        };
        let mut points: Vec<(u64, u64, u32)> = Vec::new();
        for (i, (&w, &id)) in static_weights.iter().zip(ids).take(n).enumerate() {
            for point in 0..count(w) {
                points.push((point_hash(id, point), id, i as u32));
            }
        }
        // Ties on position (vanishingly rare) are broken by identity, not index, so they too
        // are unaffected by the backend list's order.
        points.sort_unstable();
        Ring {
            hashes: points.iter().map(|p| p.0).collect(),
            owners: points.iter().map(|p| p.2).collect(),
            placed: static_weights[..n].iter().map(|&w| w > 0).collect(),
        }
    }

    pub fn pick(&self, key: u64, view: &dyn BackendView) -> Option<usize> {
        let n = view.len();
        let eligible = |i: usize| i < n && view.weight(i) > 0;
        // O(backends) check first, so an all-down set does not walk the whole ring.
        if !self
            .placed
            .iter()
            .enumerate()
            .any(|(i, &p)| p && eligible(i))
        {
            return None;
        }
        let len = self.hashes.len();
        let start = self.hashes.partition_point(|&h| h < key);
        (0..len)
            .map(|k| self.owners[(start + k) % len] as usize)
            .find(|&i| eligible(i))
    }

    #[cfg(test)]
    fn points(&self) -> usize {
        self.hashes.len()
    }
}

/// Position of point number `point` of the backend identified by `id`.
fn point_hash(id: u64, point: u64) -> u64 {
    mix64(mix64(id) ^ point.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The identity [`crate::Selector::new`] gives backend `i` when the caller supplies none.
pub(crate) fn index_id(i: usize) -> u64 {
    mix64((i as u64).wrapping_add(0x5bd1_e995_0000_0001))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{shares, FixedView};
    use crate::{hash_bytes, Algorithm, Selector};

    fn ids(n: usize) -> Vec<u64> {
        (0..n)
            .map(|i| hash_bytes(format!("10.0.0.{i}:8080").as_bytes()))
            .collect()
    }

    fn ring(ids: &[u64]) -> (Selector, FixedView) {
        let weights = vec![1; ids.len()];
        let sel = Selector::new_with_ids(Algorithm::RingHash, &weights, ids, 0);
        (sel, FixedView::weights(&weights))
    }

    fn keys(n: usize) -> Vec<u64> {
        let mut rng = fastrand::Rng::with_seed(42);
        (0..n).map(|_| rng.u64(..)).collect()
    }

    /// For each key, the identity of the backend it lands on.
    fn owners(ids: &[u64], keys: &[u64]) -> Vec<u64> {
        let (mut sel, view) = ring(ids);
        keys.iter()
            .map(|&k| ids[sel.pick(k, &view).unwrap()])
            .collect()
    }

    #[test]
    fn removing_a_backend_moves_only_its_keys() {
        let all = ids(10);
        let mut fewer = all.clone();
        let removed = fewer.remove(3);
        let keys = keys(10_000);
        let (before, after) = (owners(&all, &keys), owners(&fewer, &keys));
        let mut moved = 0;
        for (b, a) in before.iter().zip(&after) {
            if b != a {
                assert_eq!(*b, removed, "a key moved off a backend that stayed");
                moved += 1;
            }
        }
        let fraction = f64::from(moved) / 10_000.0;
        assert!((0.05..0.16).contains(&fraction), "moved {fraction}");
    }

    #[test]
    fn adding_a_backend_moves_about_one_in_n_plus_one() {
        let more = ids(11);
        let keys = keys(10_000);
        let (before, after) = (owners(&more[..10], &keys), owners(&more, &keys));
        let mut moved = 0;
        for (b, a) in before.iter().zip(&after) {
            if b != a {
                assert_eq!(
                    *a, more[10],
                    "a key moved to a backend that was already there"
                );
                moved += 1;
            }
        }
        let fraction = f64::from(moved) / 10_000.0;
        assert!((0.045..0.15).contains(&fraction), "moved {fraction}");
    }

    #[test]
    fn ineligible_backend_behaves_like_removed() {
        let all = ids(10);
        let (mut sel, mut view) = ring(&all);
        let keys = keys(10_000);
        let before: Vec<_> = keys.iter().map(|&k| sel.pick(k, &view).unwrap()).collect();
        view.weights[6] = 0;
        let mut fewer = all.clone();
        fewer.remove(6);
        let removed = owners(&fewer, &keys);
        for (i, &k) in keys.iter().enumerate() {
            let now = sel.pick(k, &view).unwrap();
            assert_ne!(now, 6);
            if before[i] != 6 {
                assert_eq!(now, before[i]);
            }
            assert_eq!(all[now], removed[i], "walking past = removing");
        }
    }

    #[test]
    fn order_of_backends_does_not_matter() {
        let all = ids(8);
        let mut shuffled = all.clone();
        shuffled.reverse();
        shuffled.swap(0, 3);
        let keys = keys(5_000);
        assert_eq!(owners(&all, &keys), owners(&shuffled, &keys));
    }

    #[test]
    fn weighted_distribution() {
        // A ring's shares carry placement noise on top of sampling noise: a backend with `m` of
        // the ring's `K` points owns a share with standard deviation about sqrt(m)/K (measured
        // 0.0124 over 200 identity sets for weights 3,2,1: 960 points). So ±2% holds only with
        // enough points; at 160 points per unit weight the bound is 3.5σ (±4.5%).
        let cases: [(&[u32], f64); 2] = [(&[3, 2, 1], 0.045), (&[30, 20, 10], 0.02)];
        for (weights, tolerance) in cases {
            let mut sel = Selector::new_with_ids(Algorithm::RingHash, weights, &ids(3), 0);
            let view = FixedView::weights(weights);
            let keys = keys(60_000);
            let got = shares(&mut sel, &view, 60_000, |k| keys[k as usize]);
            for (share, want) in got.iter().zip([3.0 / 6.0, 2.0 / 6.0, 1.0 / 6.0]) {
                assert!((share - want).abs() < tolerance, "{weights:?}: {got:?}");
            }
        }
    }

    #[test]
    fn point_budget_is_capped_and_proportional() {
        let ring = Ring::new(&[1000, 1000, 1], &[1, 2, 3]);
        assert!(
            ring.points() <= MAX_POINTS as usize + 3,
            "{}",
            ring.points()
        );
        assert!(
            ring.points() >= MAX_POINTS as usize - 3,
            "{}",
            ring.points()
        );
        assert_eq!(Ring::new(&[3, 1], &[1, 2]).points(), 4 * 160);
        // The weight-1 backend keeps a foothold.
        let ring = Ring::new(&[1_000_000, 1], &[1, 2]);
        assert!(ring.owners.contains(&1));
    }

    #[test]
    fn stable_and_none_when_all_down() {
        let (mut sel, mut view) = ring(&ids(5));
        let key = 0xdead_beef_u64;
        let first = sel.pick(key, &view);
        assert_eq!(first, sel.pick(key, &view));
        view.weights = vec![0; 5];
        assert_eq!(sel.pick(key, &view), None);
        assert_eq!(sel.pick(key, &FixedView::weights(&[])), None);
    }

    #[test]
    fn index_ids_keep_others_in_place_when_the_last_is_removed() {
        let keys = keys(5_000);
        let mut four = Selector::new(Algorithm::RingHash, &[1; 4], 0);
        let mut three = Selector::new(Algorithm::RingHash, &[1; 3], 0);
        let (v4, v3) = (FixedView::weights(&[1; 4]), FixedView::weights(&[1; 3]));
        for &k in &keys {
            let before = four.pick(k, &v4).unwrap();
            if before != 3 {
                assert_eq!(three.pick(k, &v3), Some(before));
            }
        }
    }
}
