//! A bounded key table shared by every worker: `SHARDS` mutexes, each over a map from a
//! 64-bit key hash to a small value. A key's shard comes from bits its map does not use, so
//! two workers contend only when their keys share a shard, for the length of one update.
//!
//! Bounded twice: entries whose state says they are idle (`expired`) are swept when a shard
//! fills (at most once per [`SWEEP_GAP`] nanoseconds, so a spray of fresh keys does not sweep
//! on every insert), and a shard that is still full evicts one entry per new key, counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::hash::BuildFold;

pub(crate) const SHARDS: usize = 64;
/// Nanoseconds between two sweeps of one full shard.
const SWEEP_GAP: u64 = 1_000_000;

struct Shard<V> {
    map: HashMap<u64, V, BuildFold>,
    last_sweep: Option<u64>,
}

pub(crate) struct Table<V> {
    shards: Box<[Mutex<Shard<V>>]>,
    per_shard: usize,
    evictions: AtomicU64,
}

impl<V> Table<V> {
    /// What a table made for `max_keys` holds at most: rounded up to a multiple of the shard
    /// count.
    pub(crate) fn capacity_for(max_keys: usize) -> usize {
        max_keys.div_ceil(SHARDS).max(1) * SHARDS
    }

    /// A table of at most [`Table::capacity_for`] `max_keys` entries.
    pub(crate) fn new(max_keys: usize) -> Self {
        let per_shard = max_keys.div_ceil(SHARDS).max(1);
        Table {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::with_hasher(BuildFold),
                        last_sweep: None,
                    })
                })
                .collect(),
            per_shard,
            evictions: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: u64) -> MutexGuard<'_, Shard<V>> {
        // Bits 32..38: the map uses the low bits for buckets and the top 7 as tags.
        let i = ((key >> 32) as usize) % SHARDS;
        let m = &self.shards[i];
        // A panic while holding a shard leaves plain numbers behind: carry on with them.
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `f` on `key`'s entry, made with `fresh` when absent (room is made first: idle
    /// entries swept, else one evicted). `expired(v, now)` says an entry may go unnoticed.
    pub(crate) fn update<R>(
        &self,
        key: u64,
        now: u64,
        fresh: impl FnOnce() -> V,
        expired: impl Fn(&V, u64) -> bool,
        f: impl FnOnce(&mut V) -> R,
    ) -> R {
        let mut s = self.shard(key);
        if !s.map.contains_key(&key) && s.map.len() >= self.per_shard {
            let due = s
                .last_sweep
                .is_none_or(|at| now.saturating_sub(at) >= SWEEP_GAP);
            if due {
                s.last_sweep = Some(now);
                s.map.retain(|_, v| !expired(v, now));
            }
            if s.map.len() >= self.per_shard {
                if let Some(victim) = s.map.keys().next().copied() {
                    s.map.remove(&victim);
                    self.evictions.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        f(s.map.entry(key).or_insert_with(fresh))
    }

    /// Run `f` on `key`'s entry if there is one; `f` returning true removes it.
    pub(crate) fn with_existing(&self, key: u64, f: impl FnOnce(&mut V) -> bool) {
        let mut s = self.shard(key);
        if let Some(v) = s.map.get_mut(&key) {
            if f(v) {
                s.map.remove(&key);
            }
        }
    }

    /// Entries held now.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|m| {
                m.lock()
                    .map_or_else(|e| e.into_inner().map.len(), |s| s.map.len())
            })
            .sum()
    }

    /// The most entries it can hold.
    pub(crate) fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    /// Entries pushed out to make room for new keys.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}
