//! The flow table's index: client hash → slab slot, an open-addressing table with linear probing
//! and backward-shift deletion, sized by the flows it holds and never by how many came and went.
//!
//! Why not `std::collections::HashMap`: under churn at the cap (a flow evicted for every flow
//! made) its deletions leave tombstones, and clearing them doubles its buckets — measured at a
//! 100,000-flow cap, 229,376 keys of room (~97 bytes per flow) for 100,000 keys. Backward-shift
//! deletion leaves no tombstones, so the index only grows when it holds more keys: at most
//! `next_power_of_two(2 × max)` buckets of 8 bytes (~21 bytes per flow at a 100,000 cap), at
//! most half full. The keys stay in the slab; a bucket keeps 32 bits of the key's hash, so a
//! probe only looks at the slab when those match.
//!
//! Must not: hash (the table does, with a randomly keyed hasher: clients choose their
//! addresses, and must not be able to choose collisions), or hold a slot twice.

/// An empty bucket's slot.
const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Bucket {
    hash: u32,
    slot: u32,
}

const VACANT: Bucket = Bucket {
    hash: 0,
    slot: EMPTY,
};

pub(super) struct Index {
    /// A power of two long, or empty; at most half full.
    buckets: Vec<Bucket>,
    len: usize,
}

impl Index {
    pub(super) fn new() -> Self {
        Self {
            buckets: Vec::new(),
            len: 0,
        }
    }

    /// Keys it holds before it grows.
    pub(super) fn capacity(&self) -> usize {
        self.buckets.len() / 2
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }

    /// The slot whose key has `hash` and satisfies `is_key`.
    pub(super) fn find(&self, hash: u32, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.buckets.len().checked_sub(1)?;
        let mut at = hash as usize & mask;
        loop {
            let bucket = self.buckets.get(at)?;
            if bucket.slot == EMPTY {
                return None;
            }
            if bucket.hash == hash && is_key(bucket.slot) {
                return Some(bucket.slot);
            }
            at = (at + 1) & mask;
        }
    }

    /// Adds `slot` under `hash`; the caller knows its key is not there yet.
    pub(super) fn insert(&mut self, hash: u32, slot: u32) {
        if (self.len + 1) * 2 > self.buckets.len() {
            self.grow();
        }
        self.place(Bucket { hash, slot });
        self.len += 1;
    }

    /// Takes `slot`, found under `hash`, out, shifting back the buckets its probe run held up.
    pub(super) fn remove(&mut self, hash: u32, slot: u32) -> bool {
        let Some(mask) = self.buckets.len().checked_sub(1) else {
            return false;
        };
        let mut hole = hash as usize & mask;
        loop {
            match self.buckets.get(hole) {
                Some(bucket) if bucket.slot == slot => break,
                Some(bucket) if bucket.slot != EMPTY => hole = (hole + 1) & mask,
                _ => return false,
            }
        }
        // Every bucket after the hole, up to the next empty one, either stays (its home is
        // cyclically in (hole, at]) or moves into the hole, which then moves to it.
        let mut at = hole;
        loop {
            at = (at + 1) & mask;
            let Some(&next) = self.buckets.get(at) else {
                break;
            };
            if next.slot == EMPTY {
                break;
            }
            let home = next.hash as usize & mask;
            let stays = if hole <= at {
                hole < home && home <= at
            } else {
                hole < home || home <= at
            };
            if !stays {
                self.buckets[hole] = next;
                hole = at;
            }
        }
        self.buckets[hole] = VACANT;
        self.len -= 1;
        true
    }

    /// Doubles the buckets (8 to start) and places every key again.
    fn grow(&mut self) {
        let size = (self.buckets.len() * 2).max(8);
        let old = std::mem::replace(&mut self.buckets, vec![VACANT; size]);
        for bucket in old.into_iter().filter(|b| b.slot != EMPTY) {
            self.place(bucket);
        }
    }

    /// Puts `bucket` in the first empty bucket from its home; there is one, as at most half
    /// are full.
    fn place(&mut self, bucket: Bucket) {
        let mask = self.buckets.len() - 1;
        let mut at = bucket.hash as usize & mask;
        while let Some(taken) = self.buckets.get(at) {
            if taken.slot == EMPTY {
                self.buckets[at] = bucket;
                return;
            }
            at = (at + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Hashes chosen to collide and wrap: every key's home is in the last few buckets of a
    /// small table, so runs wrap around the end and deletions shift across it.
    #[test]
    fn colliding_and_wrapping_runs_against_a_map() {
        for seed in 0..300 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut index = Index::new();
            let mut model: HashMap<u32, u32> = HashMap::new(); // slot -> hash
            let mut next_slot = 0;
            for step in 0..400 {
                let ctx = format!("seed {seed} step {step}");
                if rng.bool() && model.len() < 20 {
                    let hash = [5, 6, 7, 13, 14, 15, 31][rng.usize(..7)] + 32 * rng.u32(0..2);
                    index.insert(hash, next_slot);
                    model.insert(next_slot, hash);
                    next_slot += 1;
                } else if let Some((&slot, &hash)) =
                    model.iter().nth(rng.usize(..model.len().max(1)))
                {
                    assert!(index.remove(hash, slot), "{ctx}");
                    model.remove(&slot);
                    assert!(!index.remove(hash, slot), "{ctx}: gone");
                }
                assert_eq!(index.len, model.len(), "{ctx}");
                assert!(
                    index.len * 2 <= index.buckets.len(),
                    "{ctx}: at most half full"
                );
                for (&slot, &hash) in &model {
                    assert_eq!(index.find(hash, |s| s == slot), Some(slot), "{ctx}");
                }
                assert_eq!(index.find(5, |s| !model.contains_key(&s)), None, "{ctx}");
            }
        }
    }

    #[test]
    fn churn_at_a_fixed_size_never_grows_it() {
        let mut index = Index::new();
        for slot in 0..1000u32 {
            index.insert(slot.wrapping_mul(2_654_435_761), slot);
        }
        let buckets = index.buckets.len();
        assert_eq!(buckets, 2048);
        for slot in 1000..200_000u32 {
            let old = slot - 1000;
            assert!(index.remove(old.wrapping_mul(2_654_435_761), old));
            index.insert(slot.wrapping_mul(2_654_435_761), slot);
        }
        assert_eq!(index.buckets.len(), buckets);
    }
}
