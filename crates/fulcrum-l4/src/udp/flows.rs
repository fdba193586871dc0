//! A UDP listener's flow table: which backend each client (address and port) is sent to, as a
//! socket-free state machine with time passed in.
//!
//! A client's first datagram picks a backend and creates a flow; later datagrams, and replies
//! ([`FlowTable::touch_reply`]), keep the flow alive and on that backend. A flow whose backend
//! is no longer usable is moved to a new pick on its next datagram, and only then. The table
//! holds at most `max_flows`: a new flow beyond that evicts the least recently active one.
//!
//! **Expiry rule.** A flow is alive while `now < last_active + idle`: one idle for exactly `idle`
//! has expired. Whichever call meets an expired flow first removes it — [`FlowTable::expire`] on
//! the shell's timer (sleep until [`FlowTable::next_expiry`]), or a datagram from its client,
//! which then starts a new flow with a fresh pick — so when a flow ends never depends on how late
//! the timer fires. Time that seems to go backwards counts as no time passing.
//!
//! Every call is O(1) amortised (one hash lookup, list links by index), `expire` O(expired):
//! flows sit on a recency list (`slab.rs`), least recently active first, so the expired ones are
//! always at its front. Memory is bounded by `max_flows`: the slab grows up to it and reuses
//! freed slots, and the index (`index.rs`) grows only with the flows it holds, never with churn.
//!
//! Must not: touch sockets, read the clock, or decide health — `usable` and `pick` are the
//! caller's (the pool's snapshot and balancer). Removed flows are handed back so the caller can
//! close whatever it holds for them (a backend socket).

mod index;
mod slab;
#[cfg(test)]
mod tests;

use index::Index;
use slab::Slab;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// A flow's slot in the table, stable for the flow's life and reused after it: the caller can
/// keep per-flow state (a backend socket) in a `Vec` indexed by it. Below `max_flows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(u32);

impl FlowId {
    /// The slot as an index, below `max_flows`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Datagrams and bytes one way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub datagrams: u64,
    pub bytes: u64,
}

impl Traffic {
    fn count(&mut self, len: usize) {
        self.datagrams += 1;
        self.bytes += len as u64;
    }
}

/// One client's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow<B> {
    /// The client's address and port (an IPv6 flow label is not part of it).
    pub client: SocketAddr,
    /// The backend the flow is sent to.
    pub backend: B,
    /// When the flow's first datagram came.
    pub created: Instant,
    /// The last datagram either way.
    pub last_active: Instant,
    /// Client → backend: datagrams given to [`FlowTable::lookup_or_insert`].
    pub from_client: Traffic,
    /// Backend → client: datagrams given to [`FlowTable::touch_reply`].
    pub to_client: Traffic,
}

/// Why a flow left the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Idle for `idle` or longer.
    Expired,
    /// The least recently active flow, pushed out by a new one beyond `max_flows`.
    Evicted,
    /// Taken out by [`FlowTable::remove`].
    Removed,
}

/// A flow that has left the table. Its `id` may already belong to a new flow (in the same
/// [`Outcome`]): release what was kept under it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed<B> {
    pub id: FlowId,
    pub flow: Flow<B>,
    pub reason: Reason,
}

/// Where a client's datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<B> {
    /// The flow's backend, still usable.
    Kept { id: FlowId, backend: B },
    /// A new flow on a newly picked backend.
    New { id: FlowId, backend: B },
    /// The flow's backend `from` was no longer usable; it is now on `to`.
    Moved { id: FlowId, from: B, to: B },
    /// No usable backend: drop the datagram. No flow was created; an existing one was left as
    /// it was (on its old backend, not refreshed), so it expires on time unless a backend comes
    /// back.
    NoBackend,
}

impl<B: Copy> Verdict<B> {
    /// The flow and the backend to send to, unless there is none.
    pub fn target(&self) -> Option<(FlowId, B)> {
        match *self {
            Verdict::Kept { id, backend } | Verdict::New { id, backend } => Some((id, backend)),
            Verdict::Moved { id, to, .. } => Some((id, to)),
            Verdict::NoBackend => None,
        }
    }
}

/// What [`FlowTable::lookup_or_insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a removed flow's backend socket must be closed"]
pub struct Outcome<B> {
    pub verdict: Verdict<B>,
    /// A flow that left the table on the way: the client's own expired flow, or the one evicted
    /// to make room. Never more than one.
    pub removed: Option<Removed<B>>,
}

/// Totals since the table was made; `created = active + expired + evicted + removed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub active: usize,
    pub created: u64,
    pub expired: u64,
    pub evicted: u64,
    pub removed: u64,
    /// Flows moved off a backend that was no longer usable.
    pub moved: u64,
}

/// What the table has allocated, in entries: both stay bounded by `max_flows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Flow slots: at most `max_flows`.
    pub slots: usize,
    /// Keys the index can hold before it grows: at least the flows it holds, and below
    /// `2 × max_flows`.
    pub index: usize,
}

/// See the [module](self) documentation.
pub struct FlowTable<B> {
    /// Client hash → slot.
    index: Index,
    /// std's randomly keyed SipHash: the keys are chosen by whoever sends us datagrams, so a
    /// fixed hash would let them pick collisions.
    hasher: RandomState,
    flows: Slab<Entry<B>>,
    idle: Duration,
    /// The latest time seen; activity is never stamped earlier.
    latest: Option<Instant>,
    stats: FlowStats,
}

impl<B: Copy + Eq> FlowTable<B> {
    /// An empty table for at most `max_flows` flows, each expiring after `idle` without a
    /// datagram either way. Allocates nothing until flows arrive.
    pub fn new(max_flows: NonZeroU32, idle: Duration) -> Self {
        Self {
            index: Index::new(),
            hasher: RandomState::new(),
            flows: Slab::new(max_flows.get()),
            idle,
            latest: None,
            stats: FlowStats::default(),
        }
    }

    /// A datagram of `len` bytes from `client` at `now`: finds or makes its flow and says where
    /// it goes. `usable` is asked about an existing flow's backend; `pick` is called at most
    /// once, for a new flow or one that must move. Counts the datagram against the flow unless
    /// the verdict is [`Verdict::NoBackend`].
    pub fn lookup_or_insert(
        &mut self,
        client: SocketAddr,
        now: Instant,
        len: usize,
        usable: impl FnOnce(B) -> bool,
        pick: impl FnOnce() -> Option<B>,
    ) -> Outcome<B> {
        let now = self.observe(now);
        let client = key(client);
        let hash = self.hash(client);
        let mut removed = None;
        if let Some((slot, flow)) = self.find(client, hash) {
            if !self.alive(flow, now) {
                removed = self.take(slot, Reason::Expired);
            } else {
                let id = FlowId(slot);
                let from = flow.backend;
                let verdict = if usable(from) {
                    Verdict::Kept { id, backend: from }
                } else if let Some(to) = pick() {
                    self.stats.moved += 1;
                    Verdict::Moved { id, from, to }
                } else {
                    return Outcome {
                        verdict: Verdict::NoBackend,
                        removed: None,
                    };
                };
                if let Some(entry) = self.flows.get_mut(slot) {
                    if let Verdict::Moved { to, .. } = verdict {
                        entry.flow.backend = to;
                    }
                    entry.flow.last_active = now;
                    entry.flow.from_client.count(len);
                }
                self.flows.move_to_back(slot);
                return Outcome { verdict, removed };
            }
        }
        let Some(backend) = pick() else {
            return Outcome {
                verdict: Verdict::NoBackend,
                removed,
            };
        };
        if self.flows.is_full() {
            // Not after taking the client's own expired flow: that made room.
            debug_assert!(removed.is_none());
            if let Some((slot, lru)) = self.flows.front() {
                let reason = if self.alive(&lru.flow, now) {
                    Reason::Evicted
                } else {
                    Reason::Expired
                };
                removed = self.take(slot, reason);
            }
        }
        let flow = Flow {
            client,
            backend,
            created: now,
            last_active: now,
            from_client: Traffic {
                datagrams: 1,
                bytes: len as u64,
            },
            to_client: Traffic::default(),
        };
        let Some(slot) = self.flows.push_back(Entry { hash, flow }) else {
            // Unreachable: there was room, or a flow was just taken to make it.
            return Outcome {
                verdict: Verdict::NoBackend,
                removed,
            };
        };
        self.index.insert(hash, slot);
        self.stats.created += 1;
        Outcome {
            verdict: Verdict::New {
                id: FlowId(slot),
                backend,
            },
            removed,
        }
    }

    /// A reply of `len` bytes from the backend to `client` at `now`: refreshes the flow and
    /// counts the reply. `false` when there is no live flow for `client` (none, or expired):
    /// drop the reply. An expired flow is left for [`expire`](Self::expire).
    pub fn touch_reply(&mut self, client: SocketAddr, now: Instant, len: usize) -> bool {
        let now = self.observe(now);
        let client = key(client);
        let slot = match self.find(client, self.hash(client)) {
            Some((slot, flow)) if self.alive(flow, now) => slot,
            _ => return false,
        };
        if let Some(entry) = self.flows.get_mut(slot) {
            entry.flow.last_active = now;
            entry.flow.to_client.count(len);
        }
        self.flows.move_to_back(slot);
        true
    }

    /// Takes the flows that have expired at `now` out of the table, least recently active
    /// first; the iterator removes each as it yields it, so drop it early to leave the rest for
    /// the next call. O(flows taken).
    pub fn expire(&mut self, now: Instant) -> Expired<'_, B> {
        let now = self.observe(now);
        Expired { table: self, now }
    }

    /// When the next flow expires, if there is one to wait for: the shell's timer.
    pub fn next_expiry(&self) -> Option<Instant> {
        let (_, entry) = self.flows.front()?;
        entry.flow.last_active.checked_add(self.idle)
    }

    /// Whether `client` has a flow that is alive at `now`: its next datagram would be
    /// [`Verdict::Kept`] or [`Verdict::Moved`], not a new flow. Changes nothing.
    pub fn is_live(&self, client: SocketAddr, now: Instant) -> bool {
        let now = match self.latest {
            Some(latest) if latest > now => latest,
            _ => now,
        };
        let client = key(client);
        self.find(client, self.hash(client))
            .is_some_and(|(_, flow)| self.alive(flow, now))
    }

    /// Takes the least recently active flow out to make room — evicted, or expired if it is
    /// past its deadline at `now` — as a full table would for a new flow. For a shell whose
    /// bound is shared with other tables (one per worker): when the listener as a whole is at
    /// its limit, a new flow here pushes out this table's oldest.
    pub fn evict_oldest(&mut self, now: Instant) -> Option<Removed<B>> {
        let now = self.observe(now);
        let (slot, entry) = self.flows.front()?;
        let reason = if self.alive(&entry.flow, now) {
            Reason::Evicted
        } else {
            Reason::Expired
        };
        self.take(slot, reason)
    }

    /// A new idle time, from now on: flows expire `idle` after their last datagram, whenever
    /// that was (a shorter one may expire flows at once, at the next [`expire`](Self::expire)).
    /// Recency order does not depend on it, so nothing moves.
    pub fn set_idle(&mut self, idle: Duration) {
        self.idle = idle;
    }

    /// A new bound. Raising it lets the slab grow further; lowering it takes the least
    /// recently active flows out (evicted, or expired when past their deadline at `now`) until
    /// at most `max_flows` are left — the iterator removes each as it yields it, so run it to
    /// the end. Slots already allocated are kept (capacity may stay above the new bound).
    pub fn set_max_flows(&mut self, max_flows: NonZeroU32, now: Instant) -> Shrunk<'_, B> {
        self.flows.set_max(max_flows.get());
        let now = self.observe(now);
        Shrunk { table: self, now }
    }

    /// The most flows the table holds.
    pub fn max_flows(&self) -> u32 {
        self.flows.max()
    }

    /// Takes `client`'s flow out (counted as removed), e.g. to close flows of a removed backend.
    pub fn remove(&mut self, client: SocketAddr) -> Option<Removed<B>> {
        let client = key(client);
        let (slot, _) = self.find(client, self.hash(client))?;
        self.take(slot, Reason::Removed)
    }

    /// `client`'s flow, live or expired-but-not-yet-removed.
    pub fn get(&self, client: SocketAddr) -> Option<(FlowId, &Flow<B>)> {
        let client = key(client);
        let (slot, flow) = self.find(client, self.hash(client))?;
        Some((FlowId(slot), flow))
    }

    /// The flow in slot `id`, if one is there.
    pub fn flow(&self, id: FlowId) -> Option<&Flow<B>> {
        self.flows.get(id.0).map(|entry| &entry.flow)
    }

    /// Every flow, least recently active first.
    pub fn iter(&self) -> impl Iterator<Item = (FlowId, &Flow<B>)> + '_ {
        self.flows
            .iter()
            .map(|(slot, entry)| (FlowId(slot), &entry.flow))
    }

    /// The flows on `backend`, least recently active first. A scan of every flow: for rare
    /// events (a backend removed), not per datagram.
    pub fn flows_of(&self, backend: B) -> impl Iterator<Item = (FlowId, &Flow<B>)> + '_ {
        self.iter().filter(move |(_, flow)| flow.backend == backend)
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.len() == 0
    }

    pub fn idle(&self) -> Duration {
        self.idle
    }

    pub fn stats(&self) -> FlowStats {
        FlowStats {
            active: self.flows.len(),
            ..self.stats
        }
    }

    pub fn capacity(&self) -> Capacity {
        Capacity {
            slots: self.flows.capacity(),
            index: self.index.capacity(),
        }
    }

    /// The heap the table holds, in bytes: its slots and its index's buckets.
    pub fn heap_bytes(&self) -> usize {
        self.flows.capacity() * Slab::<Entry<B>>::SLOT_BYTES + self.index.heap_bytes()
    }

    /// Advances the table's clock to `now`, unless that would go back.
    fn observe(&mut self, now: Instant) -> Instant {
        let now = match self.latest {
            Some(latest) if latest > now => latest,
            _ => now,
        };
        self.latest = Some(now);
        now
    }

    fn hash(&self, client: SocketAddr) -> u32 {
        // The low bits of SipHash are as good as any.
        self.hasher.hash_one(client) as u32
    }

    /// The slot and flow of a client already passed through [`key`].
    fn find(&self, client: SocketAddr, hash: u32) -> Option<(u32, &Flow<B>)> {
        let is_client = |slot| {
            self.flows
                .get(slot)
                .is_some_and(|entry| entry.flow.client == client)
        };
        let slot = self.index.find(hash, is_client)?;
        self.flows.get(slot).map(|entry| (slot, &entry.flow))
    }

    fn alive(&self, flow: &Flow<B>, now: Instant) -> bool {
        match flow.last_active.checked_add(self.idle) {
            Some(deadline) => now < deadline,
            None => true,
        }
    }

    fn take(&mut self, slot: u32, reason: Reason) -> Option<Removed<B>> {
        let Entry { hash, flow } = self.flows.remove(slot)?;
        self.index.remove(hash, slot);
        match reason {
            Reason::Expired => self.stats.expired += 1,
            Reason::Evicted => self.stats.evicted += 1,
            Reason::Removed => self.stats.removed += 1,
        }
        Some(Removed {
            id: FlowId(slot),
            flow,
            reason,
        })
    }
}

/// A flow in its slot, with its key's hash (the index's, kept to take it out again).
struct Entry<B> {
    hash: u32,
    flow: Flow<B>,
}

/// The flows [`FlowTable::expire`] takes out, least recently active first.
#[must_use = "nothing expires until the iterator is run"]
pub struct Expired<'a, B> {
    table: &'a mut FlowTable<B>,
    now: Instant,
}

impl<B: Copy + Eq> Iterator for Expired<'_, B> {
    type Item = Removed<B>;

    fn next(&mut self) -> Option<Removed<B>> {
        let (slot, entry) = self.table.flows.front()?;
        if self.table.alive(&entry.flow, self.now) {
            return None;
        }
        self.table.take(slot, Reason::Expired)
    }
}

/// The flows [`FlowTable::set_max_flows`] takes out to fit a lower bound, least recently
/// active first.
#[must_use = "the table is over its bound until the iterator is run"]
pub struct Shrunk<'a, B> {
    table: &'a mut FlowTable<B>,
    now: Instant,
}

impl<B: Copy + Eq> Iterator for Shrunk<'_, B> {
    type Item = Removed<B>;

    fn next(&mut self) -> Option<Removed<B>> {
        if self.table.flows.len() <= self.table.flows.max() as usize {
            return None;
        }
        self.table.evict_oldest(self.now)
    }
}

/// The key a client is known by: its address and port, and an IPv6 scope; never the flow label,
/// which a sender may vary per datagram.
fn key(client: SocketAddr) -> SocketAddr {
    match client {
        SocketAddr::V6(mut v6) => {
            v6.set_flowinfo(0);
            SocketAddr::V6(v6)
        }
        v4 => v4,
    }
}
