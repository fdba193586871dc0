//! Smooth weighted round robin, exactly as NGINX's `ngx_http_upstream_get_peer`.
//!
//! Each pick adds every eligible backend's effective weight to its `current`, chooses the largest
//! `current` (the first one on ties) and subtracts the total weight from the chosen one. Over any
//! window of `total` picks with stable weights each backend is chosen exactly `weight` times, and
//! heavy backends are interleaved with light ones (5,1,1 gives a,a,b,a,c,a,a) rather than bunched.

use crate::BackendView;

/// Per-worker round-robin state: one running `current` per backend.
#[derive(Debug, Clone)]
pub(crate) struct RoundRobin {
    current: Vec<i64>,
}

impl RoundRobin {
    pub fn new(len: usize) -> Self {
        RoundRobin {
            current: vec![0; len],
        }
    }

    pub fn pick(&mut self, view: &dyn BackendView) -> Option<usize> {
        let n = view.len();
        if self.current.len() != n {
            // The caller's view no longer matches the constructor's weights. Keep working (with
            // fresh state for new slots) rather than panic; this allocates only on a mismatch.
            self.current.resize(n, 0);
        }
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        let mut best_current = i64::MIN;
        for (i, current) in self.current.iter_mut().enumerate() {
            let w = i64::from(view.weight(i));
            if w == 0 {
                // An ineligible backend re-enters from neutral, not with credit it banked
                // before it left (which would send it a burst on return).
                *current = 0;
                continue;
            }
            *current += w;
            total += w;
            if *current > best_current {
                best_current = *current;
                best = Some(i);
            }
        }
        let chosen = best?;
        if let Some(c) = self.current.get_mut(chosen) {
            *c -= total;
        }
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{shares, FixedView};
    use crate::{Algorithm, Selector};

    fn sequence(weights: &[u32], n: usize) -> Vec<usize> {
        let view = FixedView::weights(weights);
        let mut sel = Selector::new(Algorithm::RoundRobin, weights, 0);
        (0..n).map(|_| sel.pick(0, &view).unwrap()).collect()
    }

    #[test]
    fn nginx_sequence_for_5_1_1() {
        // a,a,b,a,c,a,a — the sequence documented for NGINX's smooth weighted round robin.
        assert_eq!(
            sequence(&[5, 1, 1], 14),
            [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]
        );
    }

    #[test]
    fn exact_distribution() {
        let view = FixedView::weights(&[3, 2, 1]);
        let mut sel = Selector::new(Algorithm::RoundRobin, &[3, 2, 1], 0);
        let got = shares(&mut sel, &view, 60_000, |_| 0);
        assert_eq!(got, [0.5, 30_000.0 / 90_000.0, 10_000.0 / 60_000.0]);
        // And exact within every window of `total` picks.
        for window in sequence(&[3, 2, 1], 60).chunks(6) {
            let count = |b| window.iter().filter(|&&i| i == b).count();
            assert_eq!((count(0), count(1), count(2)), (3, 2, 1));
        }
    }

    #[test]
    fn equal_weights_rotate() {
        assert_eq!(sequence(&[1, 1, 1], 6), [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn skips_ineligible() {
        let view = FixedView::weights(&[2, 0, 1]);
        let mut sel = Selector::new(Algorithm::RoundRobin, &[2, 5, 1], 0);
        let picks: Vec<_> = (0..6).map(|_| sel.pick(0, &view).unwrap()).collect();
        assert_eq!(picks, [0, 2, 0, 0, 2, 0]);
    }

    #[test]
    fn none_when_nothing_eligible() {
        let mut sel = Selector::new(Algorithm::RoundRobin, &[1, 1], 0);
        assert_eq!(sel.pick(0, &FixedView::weights(&[0, 0])), None);
        // It recovers as soon as a backend comes back.
        assert_eq!(sel.pick(0, &FixedView::weights(&[0, 1])), Some(1));
    }

    #[test]
    fn returning_backend_gets_no_burst() {
        let mut sel = Selector::new(Algorithm::RoundRobin, &[1, 1], 0);
        let up = FixedView::weights(&[1, 1]);
        let one_down = FixedView::weights(&[1, 0]);
        sel.pick(0, &up);
        for _ in 0..100 {
            assert_eq!(sel.pick(0, &one_down), Some(0));
        }
        let picks: Vec<_> = (0..4).map(|_| sel.pick(0, &up).unwrap()).collect();
        let ones = picks.iter().filter(|&&i| i == 1).count();
        assert_eq!(ones, 2, "{picks:?}");
    }

    #[test]
    fn survives_view_length_mismatch() {
        let mut sel = Selector::new(Algorithm::RoundRobin, &[1], 0);
        let view = FixedView::weights(&[1, 1, 1]);
        let picks: Vec<_> = (0..3).map(|_| sel.pick(0, &view).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2]);
    }
}
