//! Test support: a fixed backend view and a share counter.

use crate::{BackendView, Selector};

/// A view with fixed weights and in-flight counts.
pub(crate) struct FixedView {
    pub weights: Vec<u32>,
    pub inflight: Vec<u32>,
}

impl FixedView {
    pub fn weights(weights: &[u32]) -> Self {
        FixedView {
            weights: weights.to_vec(),
            inflight: vec![0; weights.len()],
        }
    }
}

impl BackendView for FixedView {
    fn len(&self) -> usize {
        self.weights.len()
    }
    fn weight(&self, i: usize) -> u32 {
        self.weights[i]
    }
    fn inflight(&self, i: usize) -> u32 {
        self.inflight[i]
    }
}

/// Picks `n` times (the key of pick `k` is `key(k)`) and returns each backend's share.
/// Panics if a pick returns `None`.
pub(crate) fn shares(
    sel: &mut Selector,
    view: &FixedView,
    n: u32,
    key: impl Fn(u32) -> u64,
) -> Vec<f64> {
    let mut counts = vec![0u32; view.len()];
    for k in 0..n {
        let i = sel.pick(key(k), view).expect("an eligible backend");
        counts[i] += 1;
    }
    counts
        .iter()
        .map(|&c| f64::from(c) / f64::from(n))
        .collect()
}
