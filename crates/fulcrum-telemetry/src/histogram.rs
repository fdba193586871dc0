//! Histograms of durations in seconds, with fixed buckets, sharded per worker.
//!
//! Each worker's shard holds one non-cumulative count per bucket (plus `+Inf`) and the sum of
//! observations in integer nanoseconds, all relaxed atomics: an observation is a short binary
//! search over the bounds and two `fetch_add`s on the worker's own lines. The sum is kept in
//! nanoseconds rather than as `f64` bits because an integer `fetch_add` needs no CAS loop and
//! adds exactly; it wraps after 584 years of observed time per shard. `_count` is the total of
//! the bucket counts, so it always equals the `+Inf` bucket.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::cells::Shards;
use crate::error::MetricError;
use crate::family::{Family, Sample};
use crate::text::{self, Series};

/// The default latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds (`le`, inclusive) of a histogram's buckets, in seconds; `+Inf` is implied.
#[derive(Clone)]
pub struct Buckets(Arc<BucketsInner>);

struct BucketsInner {
    seconds: Box<[f64]>,
    nanos: Box<[u64]>,
    /// The `le` label values, formatted once.
    labels: Box<[String]>,
}

impl Buckets {
    /// Bounds that are finite, positive and strictly increasing at 1 ns resolution. An empty
    /// list is allowed (only `+Inf`).
    pub fn try_new(bounds: &[f64]) -> Result<Self, MetricError> {
        let mut previous = 0;
        for &b in bounds {
            if !(b.is_finite() && b > 0.0) {
                return Err(MetricError::InvalidBuckets(format!(
                    "bound {b} is not a positive number of seconds"
                )));
            }
            let n = to_nanos(b);
            if n <= previous {
                return Err(MetricError::InvalidBuckets(format!(
                    "bound {b} does not increase (at 1 ns resolution)"
                )));
            }
            previous = n;
        }
        Ok(Self::from_valid(bounds))
    }

    /// The default latency buckets ([`LATENCY_BUCKETS`]).
    pub fn latency() -> Self {
        Self::from_valid(&LATENCY_BUCKETS)
    }

    fn from_valid(bounds: &[f64]) -> Self {
        Buckets(Arc::new(BucketsInner {
            seconds: bounds.into(),
            nanos: bounds.iter().map(|&b| to_nanos(b)).collect(),
            labels: bounds.iter().map(|b| b.to_string()).collect(),
        }))
    }

    /// The bounds, in seconds.
    pub fn bounds(&self) -> &[f64] {
        &self.0.seconds
    }

    /// The slot an observation falls in: the first bound `>= nanos`, or `len` for `+Inf`.
    #[inline]
    fn index(&self, nanos: u64) -> usize {
        self.0.nanos.partition_point(|&b| b < nanos)
    }
}

impl Default for Buckets {
    fn default() -> Self {
        Self::latency()
    }
}

impl fmt::Debug for Buckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.bounds()).finish()
    }
}

/// Seconds to nanoseconds; negative and NaN become 0, huge values saturate.
#[inline]
fn to_nanos(seconds: f64) -> u64 {
    (seconds * 1e9).round() as u64
}

/// A handle to one histogram. Cloning is cheap; every clone records into the same histogram.
#[derive(Clone)]
pub struct Histogram(Arc<HistogramCore>);

struct HistogramCore {
    buckets: Buckets,
    /// Slots `0..=len` are bucket counts (`len` is `+Inf`), slot `len + 1` the sum in ns.
    cells: Shards,
}

impl Histogram {
    pub(crate) fn new(buckets: Buckets, workers: usize) -> Self {
        let slots = buckets.bounds().len() + 2;
        Histogram(Arc::new(HistogramCore {
            buckets,
            cells: Shards::new(workers, slots),
        }))
    }

    /// Records an observation of `seconds` on `worker`'s shard. Negative and NaN values count
    /// as 0 s.
    #[inline]
    pub fn observe(&self, worker: usize, seconds: f64) {
        self.observe_nanos(worker, to_nanos(seconds));
    }

    /// Records `d` on `worker`'s shard, without going through floating point.
    #[inline]
    pub fn observe_duration(&self, worker: usize, d: Duration) {
        self.observe_nanos(worker, u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    #[inline]
    fn observe_nanos(&self, worker: usize, nanos: u64) {
        let core = &*self.0;
        let sum_slot = core.buckets.bounds().len() + 1;
        core.cells.add(worker, core.buckets.index(nanos), 1);
        core.cells.add(worker, sum_slot, nanos);
    }

    /// The current counts and sum over all workers.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let core = &*self.0;
        let len = core.buckets.bounds().len();
        let mut cumulative = Vec::with_capacity(len);
        let mut total = 0u64;
        for slot in 0..len {
            total = total.wrapping_add(core.cells.sum(slot));
            cumulative.push(total);
        }
        HistogramSnapshot {
            bounds: core.buckets.clone(),
            cumulative,
            count: total.wrapping_add(core.cells.sum(len)),
            sum_nanos: core.cells.sum(len + 1),
        }
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.snapshot();
        f.debug_struct("Histogram")
            .field("count", &s.count)
            .field("sum_nanos", &s.sum_nanos)
            .finish()
    }
}

/// A histogram's state at one moment.
#[derive(Debug, Clone)]
pub struct HistogramSnapshot {
    bounds: Buckets,
    /// Cumulative count per bound (observations `<=` it), in the order of the bounds.
    pub cumulative: Vec<u64>,
    /// All observations (the `+Inf` bucket).
    pub count: u64,
    /// The sum of observations, in nanoseconds.
    pub sum_nanos: u64,
}

impl HistogramSnapshot {
    /// The bucket bounds, in seconds.
    pub fn bounds(&self) -> &[f64] {
        self.bounds.bounds()
    }

    /// The sum of observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_nanos as f64 / 1e9
    }
}

impl Sample for Histogram {
    fn write(&self, series: &Series<'_>, out: &mut String) {
        let s = self.snapshot();
        for (le, n) in s.bounds.0.labels.iter().zip(&s.cumulative) {
            series.write(out, "_bucket", Some(("le", le)), n);
        }
        series.write(out, "_bucket", Some(("le", "+Inf")), s.count);
        series.write(out, "_sum", None, text::seconds(s.sum_nanos));
        series.write(out, "_count", None, s.count);
    }
}

/// A histogram family with `N` labels, e.g. `HistogramVec<3>` for `request_duration_seconds`.
#[derive(Clone)]
pub struct HistogramVec<const N: usize> {
    family: Arc<Family<Histogram, N>>,
    buckets: Buckets,
    workers: usize,
}

impl<const N: usize> HistogramVec<N> {
    pub(crate) fn new(family: Arc<Family<Histogram, N>>, buckets: Buckets, workers: usize) -> Self {
        HistogramVec {
            family,
            buckets,
            workers,
        }
    }

    /// The child for these label values, created (empty) on first use. Takes the family's
    /// mutex and allocates: call it off the hot path and keep the handle.
    pub fn with(&self, values: &[&str; N]) -> Histogram {
        self.family.get_or_insert(values, || {
            Histogram::new(self.buckets.clone(), self.workers)
        })
    }

    /// The child for these label values, if it exists.
    pub fn get(&self, values: &[&str; N]) -> Option<Histogram> {
        self.family.get(values)
    }

    /// Stops exporting this child. Returns whether it existed.
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

impl<const N: usize> fmt::Debug for HistogramVec<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistogramVec")
            .field("name", &self.name())
            .field("buckets", &self.buckets)
            .field("children", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_validated() {
        assert!(Buckets::try_new(&[]).is_ok());
        assert!(Buckets::try_new(&[0.1, 0.2]).is_ok());
        for bad in [
            &[0.0][..],
            &[-1.0],
            &[f64::NAN],
            &[f64::INFINITY],
            &[0.2, 0.1],
            &[0.1, 0.1],
            &[1e-10, 2e-10],
        ] {
            assert!(Buckets::try_new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bounds_are_inclusive_and_odd_values_are_clamped() {
        let b = Buckets::latency();
        assert_eq!(b.index(to_nanos(0.0005)), 0);
        assert_eq!(b.index(to_nanos(0.0005) + 1), 1);
        assert_eq!(b.index(to_nanos(10.0)), 13);
        assert_eq!(b.index(to_nanos(10.000_000_001)), 14);
        assert_eq!(to_nanos(-1.0), 0);
        assert_eq!(to_nanos(f64::NAN), 0);
        assert_eq!(to_nanos(f64::INFINITY), u64::MAX);
        let labels: Vec<&str> = b.0.labels.iter().map(String::as_str).collect();
        assert_eq!(labels[..3], ["0.0005", "0.001", "0.0025"]);
        assert_eq!(labels[10..], ["1", "2.5", "5", "10"]);
    }
}
