//! A labelled family: its description and its children, keyed by label values.
//!
//! The children map sits behind a mutex that is taken only to create, remove or render a
//! child — never by a recording handle. Rendering copies the (cheap, `Arc`-backed) children
//! out of the map first, so callback gauges run without the lock held.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::desc::Desc;
use crate::text::{self, Series};

/// One child of a family: a handle that can write its sample lines.
pub(crate) trait Sample: Clone + Send + Sync + 'static {
    fn write(&self, series: &Series<'_>, out: &mut String);
}

/// Something the registry can render: one whole family.
pub(crate) trait Collect: Send + Sync {
    fn render(&self, out: &mut String);
}

/// Label values, one per label name.
pub(crate) type Key<const N: usize> = [String; N];

pub(crate) struct Family<C, const N: usize> {
    pub(crate) desc: Desc<N>,
    children: Mutex<BTreeMap<Key<N>, C>>,
}

impl<C: Sample, const N: usize> Family<C, N> {
    pub(crate) fn new(desc: Desc<N>) -> Self {
        Family {
            desc,
            children: Mutex::new(BTreeMap::new()),
        }
    }

    /// The children map. A panic elsewhere while it was held cannot leave it half-updated
    /// (every update is a single map operation), so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, BTreeMap<Key<N>, C>> {
        self.children.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The child for `values`, created by `make` if it does not exist yet.
    pub(crate) fn get_or_insert(&self, values: &[&str; N], make: impl FnOnce() -> C) -> C {
        self.lock().entry(key(values)).or_insert_with(make).clone()
    }

    pub(crate) fn get(&self, values: &[&str; N]) -> Option<C> {
        self.lock().get(&key(values)).cloned()
    }

    pub(crate) fn remove(&self, values: &[&str; N]) -> bool {
        self.lock().remove(&key(values)).is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Keeps the children whose label values `keep` accepts; returns how many were removed.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&Key<N>) -> bool) -> usize {
        let mut children = self.lock();
        let before = children.len();
        children.retain(|k, _| keep(k));
        before - children.len()
    }
}

impl<C: Sample, const N: usize> Collect for Family<C, N> {
    /// Families without children are left out, as the Go and Rust Prometheus clients do.
    fn render(&self, out: &mut String) {
        let children: Vec<(Key<N>, C)> = self
            .lock()
            .iter()
            .map(|(k, c)| (k.clone(), c.clone()))
            .collect();
        if children.is_empty() {
            return;
        }
        let d = &self.desc;
        text::write_header(out, &d.name, &d.help, d.kind);
        for (values, child) in &children {
            let series = Series {
                name: &d.name,
                labels: &d.labels,
                values,
            };
            child.write(&series, out);
        }
    }
}

pub(crate) fn key<const N: usize>(values: &[&str; N]) -> Key<N> {
    values.map(str::to_owned)
}
