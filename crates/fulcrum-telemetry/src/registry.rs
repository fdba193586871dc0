//! The registry: the set of metric families, rendered in Prometheus text format 0.0.4.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::counter::{Counter, CounterVec};
use crate::desc::{Desc, Kind};
use crate::error::MetricError;
use crate::family::{Collect, Family};
use crate::gauge::{Gauge, GaugeVec};
use crate::histogram::{Buckets, Histogram, HistogramVec};

/// The `Content-Type` of [`Registry::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Metric families by name. Created once by the binary and passed down as `Arc<Registry>`;
/// there is no global registry.
///
/// Registration and rendering take the registry's mutex; recording never does (it goes
/// through the handles the registration returned).
#[derive(Default)]
pub struct Registry {
    families: Mutex<BTreeMap<String, Arc<dyn Collect>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a counter family with labels `labels`, sharded for `workers` workers.
    pub fn counter_vec<const N: usize>(
        &self,
        name: &str,
        help: &str,
        labels: [&str; N],
        workers: usize,
    ) -> Result<CounterVec<N>, MetricError> {
        let family = Arc::new(Family::new(Desc::try_new(
            name,
            help,
            Kind::Counter,
            labels,
        )?));
        self.insert(name, family.clone())?;
        Ok(CounterVec::new(family, workers))
    }

    /// Registers a gauge family with labels `labels`.
    pub fn gauge_vec<const N: usize>(
        &self,
        name: &str,
        help: &str,
        labels: [&str; N],
    ) -> Result<GaugeVec<N>, MetricError> {
        let family = Arc::new(Family::new(Desc::try_new(name, help, Kind::Gauge, labels)?));
        self.insert(name, family.clone())?;
        Ok(GaugeVec::new(family))
    }

    /// Registers a histogram family with labels `labels` (not `le`), sharded for `workers`.
    pub fn histogram_vec<const N: usize>(
        &self,
        name: &str,
        help: &str,
        labels: [&str; N],
        buckets: Buckets,
        workers: usize,
    ) -> Result<HistogramVec<N>, MetricError> {
        let desc = Desc::try_new(name, help, Kind::Histogram, labels)?;
        let family = Arc::new(Family::new(desc));
        self.insert(name, family.clone())?;
        Ok(HistogramVec::new(family, buckets, workers))
    }

    /// Registers an unlabelled counter.
    pub fn counter(&self, name: &str, help: &str, workers: usize) -> Result<Counter, MetricError> {
        Ok(self.counter_vec(name, help, [], workers)?.with(&[]))
    }

    /// Registers an unlabelled gauge.
    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge, MetricError> {
        Ok(self.gauge_vec(name, help, [])?.with(&[]))
    }

    /// Registers an unlabelled histogram.
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        buckets: Buckets,
        workers: usize,
    ) -> Result<Histogram, MetricError> {
        Ok(self
            .histogram_vec(name, help, [], buckets, workers)?
            .with(&[]))
    }

    /// Removes a family; its handles keep working but are no longer rendered.
    pub fn unregister(&self, name: &str) -> bool {
        self.lock().remove(name).is_some()
    }

    /// The names of the registered families, in render order (sorted).
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Every family with at least one child, sorted by name, children sorted by label values.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    /// [`render`](Self::render) appending to `out` (to reuse a buffer).
    pub fn render_into(&self, out: &mut String) {
        // Copy the family list out so the registry lock is not held while families render.
        let families: Vec<Arc<dyn Collect>> = self.lock().values().cloned().collect();
        for family in families {
            family.render(out);
        }
    }

    fn insert(&self, name: &str, family: Arc<dyn Collect>) -> Result<(), MetricError> {
        let mut families = self.lock();
        if families.contains_key(name) {
            return Err(MetricError::AlreadyRegistered(name.to_owned()));
        }
        families.insert(name.to_owned(), family);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<dyn Collect>>> {
        // Every update is one map operation; a poisoned lock holds a consistent map.
        self.families.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("families", &self.names())
            .finish()
    }
}
