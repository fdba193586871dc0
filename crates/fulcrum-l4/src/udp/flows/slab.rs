//! The flow table's storage: a slab of values threaded on an intrusive, doubly linked recency
//! list, by index.
//!
//! Values live in one `Vec`; a freed slot joins a free list and is the next one filled, so the
//! slab never holds more slots than the most values it has held at once, and never more than
//! `max`. The list runs from the least recently used value (the front) to the most recently
//! used (the back); moving a value to the back, taking the front and removing any value are
//! O(1). It knows nothing of flows or time: the table above decides what "used" means.
//!
//! Must not: allocate per value (the `Vec` grows, by doubling, up to `max` slots and no
//! further), or panic on an index that came from outside (`get` answers `None`).

/// "No slot": the end of a list. Never a valid index, as `max` is at most `u32::MAX`.
const NIL: u32 = u32::MAX;

enum Slot<T> {
    Live { value: T, prev: u32, next: u32 },
    Free { next: u32 },
}

pub(super) struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// The first free slot, or NIL.
    free: u32,
    /// The least recently used live slot, or NIL.
    front: u32,
    /// The most recently used live slot, or NIL.
    back: u32,
    len: u32,
    max: u32,
}

impl<T> Slab<T> {
    /// An empty slab that will hold at most `max` values. Allocates nothing yet.
    pub(super) fn new(max: u32) -> Self {
        Self {
            slots: Vec::new(),
            free: NIL,
            front: NIL,
            back: NIL,
            len: 0,
            max,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len as usize
    }

    pub(super) fn is_full(&self) -> bool {
        self.len >= self.max
    }

    pub(super) fn max(&self) -> u32 {
        self.max
    }

    /// A new bound. Lowering it below `len` leaves the slab over it (full) until values are
    /// removed: the caller takes them out. Slots already allocated beyond it are kept.
    pub(super) fn set_max(&mut self, max: u32) {
        self.max = max;
    }

    /// The slots allocated: at most `max`.
    pub(super) fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// The heap bytes one slot takes.
    pub(super) const SLOT_BYTES: usize = std::mem::size_of::<Slot<T>>();

    /// Stores `value` as the most recently used and returns its index; `None` when full.
    pub(super) fn push_back(&mut self, value: T) -> Option<u32> {
        if self.is_full() {
            return None;
        }
        let slot = Slot::Live {
            value,
            prev: self.back,
            next: NIL,
        };
        let index = if self.free != NIL {
            let index = self.free;
            let reused = &mut self.slots[index as usize];
            if let Slot::Free { next } = *reused {
                self.free = next;
            }
            *reused = slot;
            index
        } else {
            if self.slots.len() == self.slots.capacity() {
                // Double, but never past `max` (`reserve` alone could round up beyond it). Not
                // full and no free slot means every slot is live, so there is room for one.
                let room = self.max as usize - self.slots.len();
                self.slots.reserve_exact(self.slots.len().max(4).min(room));
            }
            self.slots.push(slot);
            (self.slots.len() - 1) as u32
        };
        self.link_back_of(index);
        self.len += 1;
        Some(index)
    }

    pub(super) fn get(&self, index: u32) -> Option<&T> {
        match self.slots.get(index as usize) {
            Some(Slot::Live { value, .. }) => Some(value),
            _ => None,
        }
    }

    pub(super) fn get_mut(&mut self, index: u32) -> Option<&mut T> {
        match self.slots.get_mut(index as usize) {
            Some(Slot::Live { value, .. }) => Some(value),
            _ => None,
        }
    }

    /// The least recently used value and its index.
    pub(super) fn front(&self) -> Option<(u32, &T)> {
        self.get(self.front).map(|value| (self.front, value))
    }

    /// Makes the value at `index` the most recently used. No-op on a free or unknown index.
    pub(super) fn move_to_back(&mut self, index: u32) {
        if index == self.back || self.get(index).is_none() {
            return;
        }
        self.unlink(index);
        if let Some(Slot::Live { prev, next, .. }) = self.slots.get_mut(index as usize) {
            *prev = self.back;
            *next = NIL;
        }
        self.link_back_of(index);
    }

    /// Takes the value at `index` out; its slot is the next one filled.
    pub(super) fn remove(&mut self, index: u32) -> Option<T> {
        self.get(index)?;
        self.unlink(index);
        let freed = Slot::Free { next: self.free };
        let Slot::Live { value, .. } = std::mem::replace(&mut self.slots[index as usize], freed)
        else {
            return None;
        };
        self.free = index;
        self.len -= 1;
        Some(value)
    }

    /// Live values with their indices, least recently used first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &T)> + '_ {
        let mut at = self.front;
        std::iter::from_fn(move || match self.slots.get(at as usize) {
            Some(Slot::Live { value, next, .. }) => {
                let index = at;
                at = *next;
                Some((index, value))
            }
            _ => None,
        })
    }

    /// Ties a slot whose `prev` already names the old back onto the back of the list.
    fn link_back_of(&mut self, index: u32) {
        match self.slots.get_mut(self.back as usize) {
            Some(Slot::Live { next, .. }) => *next = index,
            _ => self.front = index,
        }
        self.back = index;
    }

    /// Detaches a live slot from its neighbours (its own links are left stale).
    fn unlink(&mut self, index: u32) {
        let Some(&Slot::Live { prev, next, .. }) = self.slots.get(index as usize) else {
            return;
        };
        match self.slots.get_mut(prev as usize) {
            Some(Slot::Live { next: n, .. }) => *n = next,
            _ => self.front = next,
        }
        match self.slots.get_mut(next as usize) {
            Some(Slot::Live { prev: p, .. }) => *p = prev,
            _ => self.back = prev,
        }
    }
}
