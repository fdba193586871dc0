//! Fulcrum's guards: the decisions that refuse a request or a connection before any backend
//! is involved, written once for every engine.
//!
//! - [`RateLimiter`]: GCRA (the generic cell rate algorithm: a rate and a burst) per key, over
//!   a bounded, sharded key table ([`RateLimiter::len`] never exceeds its `max_keys`; idle keys
//!   expire and, when full, keys are evicted and counted), shared by every worker thread.
//! - [`AccessList`]: CIDR allow/deny for IPv4 and IPv6, longest prefix wins.
//! - [`ConnLimits`]: concurrent and new connections per client address.
//!
//! What it must not do: touch sockets, read the clock (every decision takes `now`), parse
//! configuration files or know HTTP framing. Engines hand it the facts (a client address, a
//! header's bytes) and act on the answer (`fulcrum-http/admission.rs`, the accept loops).
//! - [`auth::Authenticator`]: API keys, Basic users, JWTs and client certificates, then the
//!   route's `require` (401 / 403).
//! - [`waf`]: the web application firewall's detectors (SQLi, XSS, traversal, file
//!   inclusion, command and PHP injection, protocol anomalies), linear in their input.
//!
//! Not tower layers (as the house style suggests for middleware): the HTTP/1.1 fast path has
//! no tower stack, so both engines call these decisions from one admission step instead.

mod access;
pub mod auth;
mod conn;
mod hash;
mod rate;
mod table;
pub mod waf;

pub use access::{AccessList, Verdict};
pub use conn::{ConnLimits, ConnRefusal, ConnSlot};
pub use rate::{ceil_secs, ratelimit_header, Decision, RateLimiter};

/// Which guard acted, as named in metrics (`guard` label) and access logs (`guard` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuardKind {
    /// `[listener.rate_limit]` / `[listener.route.rate_limit]`.
    RateLimit,
    /// `[listener.access]` / `[listener.route.access]`.
    Access,
    /// `[listener.limits] max_connections_per_ip`.
    MaxConnectionsPerIp,
    /// `[listener.limits] new_connections_per_ip`.
    NewConnectionsPerIp,
    /// `[listener.auth]` / `[listener.route.auth]`.
    Auth,
    /// `[listener.waf]` / `[listener.route.waf]`.
    Waf,
}

impl GuardKind {
    pub const ALL: [GuardKind; 6] = [
        GuardKind::RateLimit,
        GuardKind::Access,
        GuardKind::MaxConnectionsPerIp,
        GuardKind::NewConnectionsPerIp,
        GuardKind::Auth,
        GuardKind::Waf,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardKind::RateLimit => "rate_limit",
            GuardKind::Access => "access",
            GuardKind::MaxConnectionsPerIp => "max_connections_per_ip",
            GuardKind::NewConnectionsPerIp => "new_connections_per_ip",
            GuardKind::Auth => "auth",
            GuardKind::Waf => "waf",
        }
    }
}
