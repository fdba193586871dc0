//! Least request by the power of two random choices, weight-aware.
//!
//! Two distinct eligible candidates are drawn by weighted random; the one with the lower load
//! `inflight / weight` wins, and ties go to the first drawn. Comparing two random candidates
//! instead of scanning for the global minimum keeps workers, which all read the same shared
//! in-flight counts, from herding onto the same momentarily idle backend.
//!
//! On an idle set every load is 0, so the first drawn wins and the split is exactly the
//! weighted draw's. Under load the in-flight counts settle in proportion to the weights. (Using
//! `inflight + 1` instead would make the heavier backend of each pair win every tie, sending an
//! idle set's traffic to its heaviest backends far beyond their weight.)

use crate::random::weighted_pick;
use crate::BackendView;

/// Picks the less loaded of two weighted-random candidates; `None` when none is eligible.
pub(crate) fn pick(rng: &mut fastrand::Rng, view: &dyn BackendView) -> Option<usize> {
    let first = weighted_pick(rng, view, None)?;
    let Some(second) = weighted_pick(rng, view, Some(first)) else {
        return Some(first);
    };
    if lighter(view, second, first) {
        Some(second)
    } else {
        Some(first)
    }
}

/// Whether `a` is strictly less loaded than `b`: `inflight_a / w_a < inflight_b / w_b`, compared
/// by cross-multiplication (each product fits in a `u64`: at most 2^32 * 2^32).
fn lighter(view: &dyn BackendView, a: usize, b: usize) -> bool {
    let load = |i: usize| u64::from(view.inflight(i));
    load(a) * u64::from(view.weight(b)) < load(b) * u64::from(view.weight(a))
}

#[cfg(test)]
mod tests {
    use crate::testing::{shares, FixedView};
    use crate::{Algorithm, Selector};

    fn selector(weights: &[u32]) -> Selector {
        Selector::new(Algorithm::LeastRequest, weights, 11)
    }

    #[test]
    fn prefers_the_less_loaded() {
        let view = FixedView {
            weights: vec![1, 1, 1],
            inflight: vec![10, 0, 0],
        };
        let got = shares(&mut selector(&[1, 1, 1]), &view, 30_000, |_| 0);
        // Backend 0 wins only when drawn against itself, which distinct draws rule out.
        assert_eq!(got[0], 0.0, "{got:?}");
        assert!((got[1] - 0.5).abs() < 0.02, "{got:?}");
    }

    #[test]
    fn equal_load_equal_weights_is_uniform() {
        let view = FixedView {
            weights: vec![1, 1, 1],
            inflight: vec![4, 4, 4],
        };
        let got = shares(&mut selector(&[1, 1, 1]), &view, 60_000, |_| 0);
        for share in &got {
            assert!((share - 1.0 / 3.0).abs() < 0.02, "{got:?}");
        }
    }

    #[test]
    fn idle_set_follows_weight() {
        // Weights 3,2,1 and nothing in flight: the first drawn always wins, so the split is the
        // weighted draw's: 1/2, 1/3, 1/6.
        let view = FixedView {
            weights: vec![3, 2, 1],
            inflight: vec![0, 0, 0],
        };
        let got = shares(&mut selector(&[3, 2, 1]), &view, 60_000, |_| 0);
        assert!((got[0] - 0.5).abs() < 0.02, "{got:?}");
        assert!((got[1] - 1.0 / 3.0).abs() < 0.02, "{got:?}");
        assert!((got[2] - 1.0 / 6.0).abs() < 0.02, "{got:?}");
    }

    #[test]
    fn closed_loop_shares_follow_weights() {
        // 60 requests always in flight; each step one in-flight request (chosen uniformly, i.e.
        // equal latency everywhere) completes and a new one is picked. The in-flight counts
        // settle where inflight / weight is level: about 30 / 20 / 10, so throughput shares come
        // out near 1/2, 1/3, 1/6: proportional to the weights 3 / 2 / 1.
        let mut view = FixedView {
            weights: vec![3, 2, 1],
            inflight: vec![20, 20, 20],
        };
        let mut sel = selector(&[3, 2, 1]);
        let mut rng = fastrand::Rng::with_seed(5);
        let mut counts = [0u32; 3];
        let steps = 60_000;
        for step in 0..steps + 10_000 {
            let total: u32 = view.inflight.iter().sum();
            let mut done = rng.u32(0..total);
            for slot in view.inflight.iter_mut() {
                if done < *slot {
                    *slot -= 1;
                    break;
                }
                done -= *slot;
            }
            let i = sel.pick(0, &view).unwrap();
            view.inflight[i] += 1;
            if step >= 10_000 {
                counts[i] += 1; // after warm-up
            }
        }
        for (i, want) in [30.0 / 60.0, 20.0 / 60.0, 10.0 / 60.0].iter().enumerate() {
            let got = f64::from(counts[i]) / f64::from(steps);
            assert!((got - want).abs() < 0.02, "backend {i}: {got} vs {want}");
        }
    }

    #[test]
    fn ineligible_never_picked() {
        let view = FixedView {
            weights: vec![0, 1, 0, 1],
            inflight: vec![0, 50, 0, 60],
        };
        let mut sel = selector(&[1, 1, 1, 1]);
        for _ in 0..1000 {
            assert!(matches!(sel.pick(0, &view), Some(1 | 3)));
        }
    }

    #[test]
    fn single_eligible_and_none() {
        let mut sel = selector(&[1, 1]);
        let view = FixedView {
            weights: vec![0, 1],
            inflight: vec![0, 1000],
        };
        assert_eq!(sel.pick(0, &view), Some(1));
        assert_eq!(sel.pick(0, &FixedView::weights(&[0, 0])), None);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let view = FixedView {
            weights: vec![u32::MAX, u32::MAX],
            inflight: vec![u32::MAX, 0],
        };
        let mut sel = selector(&[1, 1]);
        for _ in 0..100 {
            assert_eq!(sel.pick(0, &view), Some(1));
        }
    }
}
