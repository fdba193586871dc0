//! `StatusCounters`: a per-route cache of `requests_total` children, one per status code.
//!
//! `requests_total{listener,route,pool,code}` needs a child per code, and the code is known
//! only when the response arrives. Looking it up in the family (mutex + map + allocation) per
//! request is what this type avoids. It holds a table per code class (1xx … 9xx), allocated on
//! the first code of that class, of 100 lazily filled slots:
//!
//! - hot path: `code / 100` and `code % 100` index two `OnceLock`s (plain acquire loads once
//!   filled), then the counter adds on the worker's shard — no lock, no allocation;
//! - first sight of a code: the `OnceLock` runs `CounterVec::with` once (the family mutex),
//!   racing workers wait for that one initialisation.
//!
//! A route that sees only 2xx and 5xx holds two 1.6 KiB tables. Codes outside 100..=999
//! (which `http::StatusCode` cannot hold) fall back to `CounterVec::with` on every call.
//!
//! Build one per (listener, route, pool) when the snapshot is built. Because `with` returns
//! existing children, a rebuilt cache keeps counting into the same series across reloads.

use std::fmt;
use std::sync::OnceLock;

use crate::counter::{Counter, CounterVec};

const CLASSES: usize = 9;
const PER_CLASS: usize = 100;

type ClassTable = Box<[OnceLock<Counter>]>;

/// Status-code counters of one (listener, route, pool), for the request hot path.
pub struct StatusCounters {
    family: CounterVec<4>,
    /// listener, route, pool.
    labels: [String; 3],
    classes: [OnceLock<ClassTable>; CLASSES],
}

impl StatusCounters {
    /// A cache over `family` (labels `listener, route, pool, code`) for one route and pool.
    /// Allocates nothing per code until a code is seen.
    pub fn new(family: &CounterVec<4>, listener: &str, route: &str, pool: &str) -> Self {
        StatusCounters {
            family: family.clone(),
            labels: [listener.to_owned(), route.to_owned(), pool.to_owned()],
            classes: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Counts one response with status `code`.
    #[inline]
    pub fn inc(&self, worker: usize, code: u16) {
        self.add(worker, code, 1);
    }

    /// Counts `n` responses with status `code`.
    #[inline]
    pub fn add(&self, worker: usize, code: u16, n: u64) {
        match self.slot(code) {
            Some(slot) => slot.get_or_init(|| self.create(code)).add(worker, n),
            None => self.create(code).add(worker, n),
        }
    }

    /// The counter for `code` (created if needed).
    pub fn counter(&self, code: u16) -> Counter {
        match self.slot(code) {
            Some(slot) => slot.get_or_init(|| self.create(code)).clone(),
            None => self.create(code),
        }
    }

    #[inline]
    fn slot(&self, code: u16) -> Option<&OnceLock<Counter>> {
        let code = usize::from(code);
        let class = (code / PER_CLASS).checked_sub(1)?;
        let table = self
            .classes
            .get(class)?
            .get_or_init(|| (0..PER_CLASS).map(|_| OnceLock::new()).collect());
        table.get(code % PER_CLASS)
    }

    #[cold]
    fn create(&self, code: u16) -> Counter {
        let [listener, route, pool] = &self.labels;
        self.family
            .with(&[listener, route, pool, &code.to_string()])
    }
}

impl fmt::Debug for StatusCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusCounters")
            .field("family", &self.family.name())
            .field("labels", &self.labels)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[test]
    fn codes_map_to_their_own_series() {
        let r = Registry::new();
        let vec = r
            .counter_vec("req", "", ["listener", "route", "pool", "code"], 2)
            .unwrap();
        let s = StatusCounters::new(&vec, "web", "api", "p");
        for code in [200, 200, 404, 599, 999, 100, 42, 1000] {
            s.inc(1, code);
        }
        s.add(0, 200, 3);
        let get = |code: &str| vec.get(&["web", "api", "p", code]).map(|c| c.get());
        assert_eq!(get("200"), Some(5));
        assert_eq!(get("404"), Some(1));
        assert_eq!(get("599"), Some(1));
        assert_eq!(get("999"), Some(1));
        assert_eq!(get("100"), Some(1));
        assert_eq!(get("42"), Some(1));
        assert_eq!(get("1000"), Some(1));
        assert_eq!(vec.len(), 7);
        assert_eq!(s.counter(200).get(), 5);
        // Only the classes seen were allocated.
        let allocated: Vec<bool> = s.classes.iter().map(|c| c.get().is_some()).collect();
        assert_eq!(
            allocated,
            [true, true, false, true, true, false, false, false, true]
        );
    }
}
