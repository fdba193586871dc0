//! The guards a snapshot carries (`fulcrum-guard`'s tables with what the engines need beside
//! them: the rate limit's key and header values, the metric handles), per route and per
//! listener, and the web application firewall with its mode. The tables are shared (`Arc`): a route without protections of its own holds the
//! listener's, so a listener's limit counts the requests of all those routes together.

use std::sync::Arc;

use fulcrum_config::model::{self, ApiKeySource, RateKey};
use fulcrum_guard::auth::Authenticator;
use fulcrum_guard::waf::Waf;
use fulcrum_guard::{AccessList, ConnLimits, GuardKind, RateLimiter};
use fulcrum_telemetry::{Counter, FulcrumMetrics};
use http::{HeaderName, HeaderValue};

/// `fulcrum_guard_decisions_total` for one (listener, route, guard): allow and deny.
#[derive(Clone)]
pub struct GuardCounters {
    allow: Counter,
    deny: Counter,
}

impl std::fmt::Debug for GuardCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuardCounters")
    }
}

impl GuardCounters {
    pub fn new(m: &FulcrumMetrics, listener: &str, route: &str, kind: GuardKind) -> Self {
        let g = kind.as_str();
        GuardCounters {
            allow: m.guard_decisions_total.with(&[listener, route, g, "allow"]),
            deny: m.guard_decisions_total.with(&[listener, route, g, "deny"]),
        }
    }

    /// Allowed and refused so far, over every worker.
    pub fn totals(&self) -> (u64, u64) {
        (self.allow.get(), self.deny.get())
    }

    #[inline]
    pub fn record(&self, worker: usize, allowed: bool) {
        match allowed {
            true => self.allow.inc(worker),
            false => self.deny.inc(worker),
        }
    }
}

/// `fulcrum_guard_decisions_total{guard="waf"}`: allow, deny (blocked) and detect (matched
/// in `detect` mode, let through).
#[derive(Clone)]
pub struct WafCounters {
    allow: Counter,
    deny: Counter,
    detect: Counter,
}

impl std::fmt::Debug for WafCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WafCounters")
    }
}

impl WafCounters {
    pub fn new(m: &FulcrumMetrics, listener: &str, route: &str) -> Self {
        let g = GuardKind::Waf.as_str();
        WafCounters {
            allow: m.guard_decisions_total.with(&[listener, route, g, "allow"]),
            deny: m.guard_decisions_total.with(&[listener, route, g, "deny"]),
            detect: m
                .guard_decisions_total
                .with(&[listener, route, g, "detect"]),
        }
    }

    /// Allowed, refused and detected (let through) so far, over every worker.
    pub fn totals(&self) -> (u64, u64, u64) {
        (self.allow.get(), self.deny.get(), self.detect.get())
    }

    #[inline]
    pub fn record(&self, worker: usize, decision: WafDecision) {
        match decision {
            WafDecision::Allow => self.allow.inc(worker),
            WafDecision::Deny => self.deny.inc(worker),
            WafDecision::Detect => self.detect.inc(worker),
        }
    }
}

/// What the firewall decided about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WafDecision {
    Allow,
    Deny,
    Detect,
}

/// The firewall as a request meets it: the detectors and whether a match blocks.
#[derive(Debug)]
pub struct WafGuard {
    pub waf: Waf,
    /// `mode = "block"` (else `detect`; `off` builds no guard).
    pub block: bool,
}

/// A rate limit as a request meets it.
#[derive(Debug)]
pub struct RateLimit {
    pub limiter: RateLimiter,
    pub key: RateKey,
    /// The policy's name in the RateLimit headers (`default` for a listener's, else the
    /// route's name, reduced to characters a structured-field string may hold).
    pub name: Box<str>,
    /// `RateLimit-Policy`: `"NAME";q=RATE;w=1`.
    pub policy: HeaderValue,
}

impl RateLimit {
    pub fn new(limiter: RateLimiter, key: RateKey, name: &str) -> Self {
        let name: Box<str> = name
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' | '/' | ':' => c,
                _ => '_',
            })
            .collect();
        let policy = HeaderValue::from_str(&limiter.policy_header(&name))
            .unwrap_or_else(|_| HeaderValue::from_static("\"default\""));
        RateLimit {
            limiter,
            key,
            name,
            policy,
        }
    }
}

/// Authentication as a request meets it: the checker, where its API key is read, the field
/// the identity is forwarded in.
#[derive(Debug)]
pub struct Auth {
    pub authenticator: Authenticator,
    /// api_key: the header or query parameter holding the key.
    pub api_key: Option<ApiKeySource>,
    pub forward_identity: Option<HeaderName>,
    /// jwt with a JWKS URL: the cell the control plane's fetcher fills, and from where.
    pub jwks: Option<JwksRemote>,
    /// The settings it was built from: a reload with the same ones keeps this (and the
    /// Basic cache in it).
    pub config: model::Auth,
}

/// A JWKS URL and the key cell its fetcher fills (`fulcrum-control/jwks.rs`).
#[derive(Debug, Clone)]
pub struct JwksRemote {
    pub url: String,
    pub ca: Option<std::path::PathBuf>,
    pub refresh: std::time::Duration,
    pub min_refresh: std::time::Duration,
    pub cell: Arc<fulcrum_guard::auth::JwksCell>,
}

/// The request guards of a route (or of a listener, for the routes without their own).
#[derive(Debug, Clone, Default)]
pub struct RequestGuards {
    pub access: Option<Arc<AccessList>>,
    pub rate_limit: Option<Arc<RateLimit>>,
    pub auth: Option<Arc<Auth>>,
    /// `None` when nothing collects metrics.
    pub access_counters: Option<GuardCounters>,
    pub rate_counters: Option<GuardCounters>,
    pub auth_counters: Option<GuardCounters>,
    /// `None` when the WAF is absent or `off`.
    pub waf: Option<Arc<WafGuard>>,
    pub waf_counters: Option<WafCounters>,
}

impl RequestGuards {
    pub fn is_empty(&self) -> bool {
        self.access.is_none()
            && self.rate_limit.is_none()
            && self.auth.is_none()
            && self.waf.is_none()
    }
}

/// A listener's connection guards, checked at accept: its access list (tcp and
/// tls_passthrough listeners) and its per-address connection limits.
#[derive(Debug, Default)]
pub struct ConnGuards {
    pub access: Option<Arc<AccessList>>,
    pub limits: Option<Arc<ConnLimits>>,
    /// Access, `max_connections_per_ip`, `new_connections_per_ip` (route label empty).
    pub counters: Option<[GuardCounters; 3]>,
}

impl ConnGuards {
    pub fn is_empty(&self) -> bool {
        self.access.is_none() && self.limits.is_none()
    }
}
