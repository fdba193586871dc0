//! Weighted random selection over the eligible backends.
//!
//! Also the drawing primitive of [`crate::least_request`]. One pass over the view to total the
//! effective weights, one partial pass to find the drawn backend; no allocation.

use crate::BackendView;

/// Draws a backend with probability proportional to its effective weight, skipping `exclude`.
///
/// Returns `None` when no backend (other than `exclude`) has a weight above zero.
pub(crate) fn weighted_pick(
    rng: &mut fastrand::Rng,
    view: &dyn BackendView,
    exclude: Option<usize>,
) -> Option<usize> {
    let n = view.len();
    let weight = |i: usize| {
        if Some(i) == exclude {
            0
        } else {
            u64::from(view.weight(i))
        }
    };
    let total: u64 = (0..n).map(weight).sum();
    if total == 0 {
        return None;
    }
    let mut point = rng.u64(0..total);
    for i in 0..n {
        let w = weight(i);
        if point < w {
            return Some(i);
        }
        point -= w;
    }
    // Unreachable while the view answers consistently; a view whose weights changed between
    // the two passes (a racing health update) lands here, and any eligible backend will do.
    (0..n).find(|&i| weight(i) > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{shares, FixedView};
    use crate::{Algorithm, Selector};

    #[test]
    fn follows_weights() {
        let view = FixedView::weights(&[3, 2, 1]);
        let mut sel = Selector::new(Algorithm::Random, &[3, 2, 1], 7);
        let got = shares(&mut sel, &view, 60_000, |_| 0);
        for (share, want) in got.iter().zip([3.0 / 6.0, 2.0 / 6.0, 1.0 / 6.0]) {
            assert!((share - want).abs() < 0.02, "{got:?}");
        }
    }

    #[test]
    fn skips_ineligible_and_excluded() {
        let view = FixedView::weights(&[0, 5, 0, 1]);
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..1000 {
            let i = weighted_pick(&mut rng, &view, None);
            assert!(matches!(i, Some(1 | 3)), "{i:?}");
            assert_eq!(weighted_pick(&mut rng, &view, Some(1)), Some(3));
        }
        assert_eq!(
            weighted_pick(&mut rng, &FixedView::weights(&[0, 7]), Some(1)),
            None
        );
    }

    #[test]
    fn none_when_nothing_eligible() {
        let mut sel = Selector::new(Algorithm::Random, &[1, 1], 0);
        assert_eq!(sel.pick(0, &FixedView::weights(&[0, 0])), None);
        assert_eq!(sel.pick(0, &FixedView::weights(&[])), None);
    }

    #[test]
    fn follows_effective_weights_not_static_ones() {
        // Slow start halves backend 0's weight: the view, not the constructor, decides.
        let view = FixedView::weights(&[1, 2]);
        let mut sel = Selector::new(Algorithm::Random, &[2, 2], 3);
        let got = shares(&mut sel, &view, 30_000, |_| 0);
        assert!((got[0] - 1.0 / 3.0).abs() < 0.02, "{got:?}");
    }
}
