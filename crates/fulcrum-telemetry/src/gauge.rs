//! Gauges: `i64` values that go up and down, stored or computed at render time.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::cells::Padded;
use crate::family::{Family, Sample};
use crate::text::Series;

/// A handle to one gauge: a single atomic on its own cache line.
///
/// Not sharded: a gauge is one number that every writer moves, so its writers share one
/// line. Gauges here change per connection or per backend state change, not per request.
#[derive(Clone, Default)]
pub struct Gauge(Arc<Padded<AtomicI64>>);

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: i64) {
        self.0 .0.store(v, Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.add(-1);
    }

    /// Adds `v` (which may be negative), wrapping.
    #[inline]
    pub fn add(&self, v: i64) {
        self.0 .0.fetch_add(v, Ordering::Relaxed);
    }

    /// Subtracts `v`, wrapping.
    #[inline]
    pub fn sub(&self, v: i64) {
        self.0 .0.fetch_sub(v, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0 .0.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Gauge").field(&self.get()).finish()
    }
}

/// A function evaluated at render time, for values owned elsewhere (e.g. a pool's in-flight
/// atomics). It runs on the scraping thread without any registry lock held.
pub(crate) type GaugeFn = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Clone)]
pub(crate) enum GaugeChild {
    Value(Gauge),
    Func(GaugeFn),
}

impl Sample for GaugeChild {
    fn write(&self, series: &Series<'_>, out: &mut String) {
        let v = match self {
            GaugeChild::Value(g) => g.get(),
            GaugeChild::Func(f) => f(),
        };
        series.write(out, "", None, v);
    }
}

/// A gauge family with `N` labels, e.g. `GaugeVec<2>` for `backend_up{pool,backend}`.
#[derive(Clone)]
pub struct GaugeVec<const N: usize> {
    family: Arc<Family<GaugeChild, N>>,
}

impl<const N: usize> GaugeVec<N> {
    pub(crate) fn new(family: Arc<Family<GaugeChild, N>>) -> Self {
        GaugeVec { family }
    }

    /// The stored gauge for these label values, created (at zero) on first use. If a callback
    /// child ([`with_fn`](Self::with_fn)) has these labels, it is replaced: last writer wins.
    /// Takes the family's mutex: call it off the hot path and keep the handle.
    pub fn with(&self, values: &[&str; N]) -> Gauge {
        let mut children = self.family.lock();
        let child = children
            .entry(crate::family::key(values))
            .or_insert_with(|| GaugeChild::Value(Gauge::default()));
        match child {
            GaugeChild::Value(g) => g.clone(),
            GaugeChild::Func(_) => {
                let g = Gauge::default();
                *child = GaugeChild::Value(g.clone());
                g
            }
        }
    }

    /// Exports `f()` under these label values, evaluated at each render. Replaces any child
    /// with the same labels (handles to a replaced stored gauge are no longer rendered). `f`
    /// must not register or remove children of this same family.
    pub fn with_fn<F>(&self, values: &[&str; N], f: F)
    where
        F: Fn() -> i64 + Send + Sync + 'static,
    {
        self.family
            .lock()
            .insert(crate::family::key(values), GaugeChild::Func(Arc::new(f)));
    }

    /// The current value for these labels (stored or computed), if such a child exists.
    pub fn value(&self, values: &[&str; N]) -> Option<i64> {
        self.family.get(values).map(|child| match child {
            GaugeChild::Value(g) => g.get(),
            GaugeChild::Func(f) => f(),
        })
    }

    /// Stops exporting this child (e.g. a removed backend). Returns whether it existed.
    pub fn remove(&self, values: &[&str; N]) -> bool {
        self.family.remove(values)
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

impl<const N: usize> fmt::Debug for GaugeVec<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GaugeVec")
            .field("name", &self.name())
            .field("children", &self.len())
            .finish()
    }
}
