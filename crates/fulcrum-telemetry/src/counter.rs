//! Counters: monotonically increasing `u64`s, sharded per worker.

use std::fmt;
use std::sync::Arc;

use crate::cells::Shards;
use crate::family::{Family, Sample};
use crate::text::Series;

/// A handle to one counter. Cloning is cheap and every clone counts into the same value.
///
/// Each worker adds into its own padded shard (a relaxed `fetch_add`, no lock, no allocation);
/// [`Counter::get`] and rendering sum the shards. Values wrap at `u64::MAX`.
#[derive(Clone)]
pub struct Counter(Arc<Shards>);

impl Counter {
    pub(crate) fn new(workers: usize) -> Self {
        Counter(Arc::new(Shards::new(workers, 1)))
    }

    /// Adds one, on `worker`'s shard (any value is correct; see the crate docs).
    #[inline]
    pub fn inc(&self, worker: usize) {
        self.0.add(worker, 0, 1);
    }

    /// Adds `n`, on `worker`'s shard.
    #[inline]
    pub fn add(&self, worker: usize, n: u64) {
        self.0.add(worker, 0, n);
    }

    /// The current total over all workers.
    pub fn get(&self) -> u64 {
        self.0.sum(0)
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Counter").field(&self.get()).finish()
    }
}

impl Sample for Counter {
    fn write(&self, series: &Series<'_>, out: &mut String) {
        series.write(out, "", None, self.get());
    }
}

/// A counter family with `N` labels, e.g. `CounterVec<1>` for `connections_total{listener}`.
#[derive(Clone)]
pub struct CounterVec<const N: usize> {
    family: Arc<Family<Counter, N>>,
    workers: usize,
}

impl<const N: usize> CounterVec<N> {
    pub(crate) fn new(family: Arc<Family<Counter, N>>, workers: usize) -> Self {
        CounterVec { family, workers }
    }

    /// The child for these label values, created (at zero) on first use. Takes the family's
    /// mutex and allocates: call it when building a snapshot, keep the handle, not per request.
    pub fn with(&self, values: &[&str; N]) -> Counter {
        self.family
            .get_or_insert(values, || Counter::new(self.workers))
    }

    /// The child for these label values, if it exists.
    pub fn get(&self, values: &[&str; N]) -> Option<Counter> {
        self.family.get(values)
    }

    /// Stops exporting this child (e.g. a backend that went away). Handles already given out
    /// keep working but are no longer rendered; a later [`with`](Self::with) starts from zero.
    pub fn remove(&self, values: &[&str; N]) -> bool {
        self.family.remove(values)
    }

    /// Stops exporting every child whose label values (in label order) `keep` refuses, e.g.
    /// the series of a listener, route or pool that a reload removed. Handles already given
    /// out keep working but are no longer rendered. Returns how many children were removed.
    pub fn retain(&self, keep: impl FnMut(&[String; N]) -> bool) -> usize {
        self.family.retain(keep)
    }

    /// The number of children.
    pub fn len(&self) -> usize {
        self.family.len()
    }

    /// Whether the family has no children.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The family's name.
    pub fn name(&self) -> &str {
        &self.family.desc.name
    }
}

impl<const N: usize> fmt::Debug for CounterVec<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CounterVec")
            .field("name", &self.name())
            .field("children", &self.len())
            .finish()
    }
}
