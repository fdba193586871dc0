//! Connection limits per client address, decided at accept: how many connections one address
//! may hold open at once (`max_connections_per_ip`), and how many it may open per second
//! (`new_connections_per_ip`, a GCRA limit whose burst is its rate).
//!
//! The open-connection counts are their own table ([`ConnCounts`]), held by every
//! [`ConnSlot`] and carried over by reloads whatever the limits become (the counts are facts,
//! not settings). It holds an entry only per address with an open connection, so it is
//! bounded by the listener's `max_connections`.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::table::Table;
use crate::RateLimiter;

/// Open connections by address hash.
pub struct ConnCounts {
    table: Table<u32>,
    keys: std::hash::RandomState,
}

impl std::fmt::Debug for ConnCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnCounts")
    }
}

impl ConnCounts {
    fn key(&self, ip: IpAddr) -> u64 {
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.keys.hash_one(v4.octets()),
            IpAddr::V6(v6) => self.keys.hash_one(v6.octets()),
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnRefusal {
    /// The address holds `max_connections_per_ip` open connections already.
    TooMany,
    /// The address opened more than `new_connections_per_ip` lately.
    TooFast,
}

/// A listener's connection limits; shared by all workers.
#[derive(Debug)]
pub struct ConnLimits {
    max_per_ip: Option<u32>,
    new_per_second: Option<RateLimiter>,
    counts: Arc<ConnCounts>,
}

/// One open connection's place in its address's count; given back on drop.
#[derive(Debug)]
pub struct ConnSlot {
    counts: Arc<ConnCounts>,
    key: u64,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.counts.table.with_existing(self.key, |n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
    }
}

impl ConnLimits {
    /// Limits for a listener of at most `max_connections` connections. `previous` carries
    /// the open-connection counts over from the limits this replaces.
    pub fn new(
        max_per_ip: Option<u32>,
        new_per_second: Option<u32>,
        max_connections: usize,
        previous: Option<&ConnLimits>,
        base: Instant,
    ) -> Self {
        let counts = match previous {
            Some(p) => p.counts.clone(),
            None => Arc::new(ConnCounts {
                // Never evicts in practice: one entry per address with an open connection.
                table: Table::new(max_connections.saturating_add(1)),
                keys: std::hash::RandomState::new(),
            }),
        };
        // The new-connection table is bounded like a rate limit's (a spray of addresses
        // evicts, never grows it).
        let keys = max_connections.clamp(1024, 1 << 20);
        ConnLimits {
            max_per_ip,
            new_per_second: new_per_second.map(|n| RateLimiter::new(n, n, keys, base)),
            counts,
        }
    }

    /// Whether these limits are `max_per_ip` and `new_per_second` (a reload may keep them,
    /// and the new-connection table with them).
    pub fn same(&self, max_per_ip: Option<u32>, new_per_second: Option<u32>) -> bool {
        self.max_per_ip == max_per_ip
            && self.new_per_second.as_ref().map(RateLimiter::per_second) == new_per_second
    }

    /// Admit a new connection from `ip` at `now`: its slot (held while it is open), or why not.
    pub fn admit(&self, ip: IpAddr, now: Instant) -> Result<ConnSlot, ConnRefusal> {
        if let Some(rate) = &self.new_per_second {
            if !rate.check_ip(ip, now).allowed() {
                return Err(ConnRefusal::TooFast);
            }
        }
        let key = self.counts.key(ip);
        let max = self.max_per_ip.unwrap_or(u32::MAX);
        let taken = self.counts.table.update(
            key,
            0,
            || 0,
            // Never swept: an entry exists only while connections are open.
            |_, _| false,
            |n| {
                if *n >= max {
                    return false;
                }
                *n += 1;
                true
            },
        );
        if !taken {
            // A refused first connection must not leave an entry at 0 behind.
            self.counts.table.with_existing(key, |n| *n == 0);
            return Err(ConnRefusal::TooMany);
        }
        Ok(ConnSlot {
            counts: self.counts.clone(),
            key,
        })
    }

    /// Whether `max_connections_per_ip` is set.
    pub fn limits_open(&self) -> bool {
        self.max_per_ip.is_some()
    }

    /// Whether `new_connections_per_ip` is set.
    pub fn limits_new(&self) -> bool {
        self.new_per_second.is_some()
    }

    /// Addresses with an open connection.
    pub fn addresses(&self) -> usize {
        self.counts.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn concurrent_connections_per_address() {
        let t0 = Instant::now();
        let l = ConnLimits::new(Some(2), None, 100, None, t0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let s1 = l.admit(a, t0).unwrap();
        let s2 = l.admit(a, t0).unwrap();
        assert_eq!(l.admit(a, t0).unwrap_err(), ConnRefusal::TooMany);
        assert!(l.admit("10.0.0.2".parse().unwrap(), t0).is_ok());
        drop(s1);
        let s3 = l.admit(a, t0).unwrap();
        drop((s2, s3));
        assert_eq!(l.addresses(), 0, "closed connections leave no entry");
        // Counts survive a reload that changes the limit.
        let held = l.admit(a, t0).unwrap();
        let next = ConnLimits::new(Some(1), None, 100, Some(&l), t0);
        assert_eq!(next.admit(a, t0).unwrap_err(), ConnRefusal::TooMany);
        drop(held);
        assert!(next.admit(a, t0).is_ok());
    }

    #[test]
    fn new_connections_per_second() {
        let t0 = Instant::now();
        let l = ConnLimits::new(None, Some(3), 100, None, t0);
        let a: IpAddr = "::1".parse().unwrap();
        for _ in 0..3 {
            drop(l.admit(a, t0).unwrap());
        }
        assert_eq!(l.admit(a, t0).unwrap_err(), ConnRefusal::TooFast);
        assert!(l.admit(a, t0 + Duration::from_millis(334)).is_ok());
    }
}
