//! GCRA rate limiting per key: a key may send `burst` requests at once, then one every
//! `1/rate` seconds. Per key, the state is one number, its theoretical arrival time (TAT):
//! when the key's bucket would be full again. A request at `now` is allowed when
//! `max(tat, now) - now <= tau` (`tau` = `(burst - 1)` emission intervals) and moves the TAT one
//! interval on; a key whose TAT has passed holds nothing and may be dropped (expiry).

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::table::Table;

/// What the limiter decided for one request, with the numbers the IETF RateLimit headers
/// carry (draft-ietf-httpapi-ratelimit-headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow {
        /// Requests the key may still send at once.
        remaining: u32,
        /// Until its quota is whole again.
        reset: Duration,
    },
    Deny {
        /// Until one more request would be allowed (`Retry-After`).
        retry_after: Duration,
    },
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// A GCRA limiter over a bounded key table, shared by all workers (`Arc`).
pub struct RateLimiter {
    per_second: u32,
    burst: u32,
    /// Nanoseconds between two requests at the steady rate.
    interval: u64,
    /// How far ahead of `now` a key's TAT may be and a request still pass.
    tau: u64,
    table: Table<u64>,
    keys: std::hash::RandomState,
    base: Instant,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .field("max_keys", &self.table.capacity())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// `per_second` requests a second per key, `burst` of them at once (both at least 1),
    /// over at most `max_keys` keys. `base` is the origin of its clock (any `now` before it
    /// counts as `base`).
    pub fn new(per_second: u32, burst: u32, max_keys: usize, base: Instant) -> Self {
        let per_second = per_second.max(1);
        let burst = burst.max(1);
        let interval = 1_000_000_000 / u64::from(per_second);
        RateLimiter {
            per_second,
            burst,
            interval,
            tau: interval * u64::from(burst - 1),
            table: Table::new(max_keys),
            keys: std::hash::RandomState::new(),
            base,
        }
    }

    /// Whether this limiter limits as one made with these settings would (a reload may then
    /// keep it, and its table).
    pub fn same_policy(&self, per_second: u32, burst: u32, max_keys: usize) -> bool {
        self.per_second == per_second.max(1)
            && self.burst == burst.max(1)
            && self.table.capacity() == Table::<u64>::capacity_for(max_keys)
    }

    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    fn nanos(&self, now: Instant) -> u64 {
        // + 1: a TAT of 0 is a key never seen.
        u64::try_from(now.saturating_duration_since(self.base).as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// The decision for one request of the key whose bytes are `key`.
    pub fn check(&self, key: &[u8], now: Instant) -> Decision {
        self.check_hash(self.keys.hash_one(key), now)
    }

    /// [`RateLimiter::check`] keyed by a client address (IPv4-mapped IPv6 as IPv4).
    pub fn check_ip(&self, ip: IpAddr, now: Instant) -> Decision {
        let h = match ip.to_canonical() {
            IpAddr::V4(v4) => self.keys.hash_one(v4.octets()),
            IpAddr::V6(v6) => self.keys.hash_one(v6.octets()),
        };
        self.check_hash(h, now)
    }

    fn check_hash(&self, key: u64, now: Instant) -> Decision {
        let now = self.nanos(now);
        let (interval, tau) = (self.interval, self.tau);
        self.table.update(
            key,
            now,
            || 0,
            |tat, now| *tat <= now,
            |tat| {
                let t = (*tat).max(now);
                if t - now > tau {
                    return Decision::Deny {
                        retry_after: Duration::from_nanos(t - tau - now),
                    };
                }
                let next = t.saturating_add(interval);
                *tat = next;
                let ahead = next - now;
                Decision::Allow {
                    remaining: u32::try_from((tau + interval).saturating_sub(ahead) / interval)
                        .unwrap_or(u32::MAX),
                    reset: Duration::from_nanos(ahead),
                }
            },
        )
    }

    /// Keys held now (at most [`RateLimiter::max_keys`]).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn max_keys(&self) -> usize {
        self.table.capacity()
    }

    /// Keys pushed out, while still limited, to make room for new ones.
    pub fn evictions(&self) -> u64 {
        self.table.evictions()
    }

    /// `RateLimit-Policy` for this limiter, named `name`: `"name";q=RATE;w=1` (the steady
    /// quota per one-second window; the burst is what `RateLimit` shows as remaining).
    pub fn policy_header(&self, name: &str) -> String {
        format!("\"{name}\";q={};w=1", self.per_second)
    }
}

/// `RateLimit` for a decision of the policy `name`: `"name";r=REMAINING;t=SECONDS`, `t` the
/// seconds (rounded up) until the quota is whole (allowed) or the next request passes (denied).
pub fn ratelimit_header(name: &str, d: &Decision) -> String {
    let (r, t) = match d {
        Decision::Allow { remaining, reset } => (*remaining, ceil_secs(*reset)),
        Decision::Deny { retry_after } => (0, ceil_secs(*retry_after)),
    };
    format!("\"{name}\";r={r};t={t}")
}

/// Whole seconds, rounded up, at least 1: `Retry-After` and `t` are integers, and 0 would
/// invite an immediate retry that is still refused.
pub fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate_then_recovery() {
        let t0 = Instant::now();
        let l = RateLimiter::new(10, 5, 1000, t0);
        for i in 0..5 {
            let d = l.check(b"k", t0);
            assert_eq!(
                d,
                Decision::Allow {
                    remaining: 4 - i,
                    reset: Duration::from_millis(100 * u64::from(i + 1))
                },
                "request {i}"
            );
        }
        let Decision::Deny { retry_after } = l.check(b"k", t0) else {
            panic!("the sixth request at once passed");
        };
        assert_eq!(retry_after, Duration::from_millis(100));
        assert!(!l.check(b"k", t0 + Duration::from_millis(99)).allowed());
        assert!(l.check(b"k", t0 + Duration::from_millis(100)).allowed());
        // Another key is not affected.
        assert!(l.check(b"other", t0).allowed());
        // After a second of silence the whole burst is back.
        let later = t0 + Duration::from_secs(2);
        for _ in 0..5 {
            assert!(l.check(b"k", later).allowed());
        }
        assert!(!l.check(b"k", later).allowed());
    }

    #[test]
    fn steady_rate_over_a_second_is_the_rate() {
        let t0 = Instant::now();
        let l = RateLimiter::new(100, 1, 10, t0);
        let mut allowed = 0;
        // A request every millisecond for one second: 100 pass.
        for ms in 0..1000 {
            allowed += u32::from(l.check(b"k", t0 + Duration::from_millis(ms)).allowed());
        }
        assert_eq!(allowed, 100);
    }

    #[test]
    fn mapped_addresses_share_a_key_with_ipv4() {
        let t0 = Instant::now();
        let l = RateLimiter::new(1, 1, 10, t0);
        assert!(l.check_ip("10.0.0.1".parse().unwrap(), t0).allowed());
        assert!(!l.check_ip("::ffff:10.0.0.1".parse().unwrap(), t0).allowed());
        assert!(l.check_ip("10.0.0.2".parse().unwrap(), t0).allowed());
    }

    #[test]
    fn headers_follow_the_draft() {
        let l = RateLimiter::new(100, 50, 10, Instant::now());
        assert_eq!(l.policy_header("default"), "\"default\";q=100;w=1");
        let deny = Decision::Deny {
            retry_after: Duration::from_millis(1500),
        };
        assert_eq!(ratelimit_header("default", &deny), "\"default\";r=0;t=2");
        let allow = Decision::Allow {
            remaining: 7,
            reset: Duration::from_millis(10),
        };
        assert_eq!(ratelimit_header("api", &allow), "\"api\";r=7;t=1");
    }
}
