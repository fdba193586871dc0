//! The immutable snapshots the data path reads: listeners with their compiled route tables,
//! pools with their backends. Built from a validated [`fulcrum_config::model::Config`]; a
//! request holds `Arc`s to the snapshot it started with, so a swap never disturbs it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fulcrum_balance::{Algorithm, BackendView, Selector};
use fulcrum_config::model::{self, Action, Balance, HostMatch};
use fulcrum_route::{HostPattern, RouteSpec, RouteTable};
use http::{HeaderValue, StatusCode};

use crate::backend::{BackendState, HealthEvent, PoolShared};

/// Per-worker selector slot, on its own cache line so workers never share one.
#[repr(align(64))]
#[derive(Debug)]
struct SelectorSlot(Mutex<Selector>);

/// A pool as the data path sees it.
#[derive(Debug)]
pub struct PoolState {
    pub name: String,
    pub backends: Vec<Arc<BackendState>>,
    pub connect_timeout: Duration,
    pub outlier: model::Outlier,
    pub retry: model::Retry,
    pub shared: Arc<PoolShared>,
    /// Most backends passive health may eject at once (`max_ejection_percent` of the pool).
    pub max_ejected: u32,
    /// `[pool.X.tls]`: how to reach the backends over TLS; `None` is cleartext.
    pub tls: Option<fulcrum_tls::UpstreamTls>,
    /// One selector per worker: the lock is only ever taken by its own worker, so it is never
    /// contended; it exists because the pool is shared across threads.
    selectors: Box<[SelectorSlot]>,
}

impl BackendView for PoolState {
    fn len(&self) -> usize {
        self.backends.len()
    }
    fn weight(&self, i: usize) -> u32 {
        self.backends
            .get(i)
            .map_or(0, |b| b.effective.load(Ordering::Relaxed))
    }
    fn inflight(&self, i: usize) -> u32 {
        self.backends
            .get(i)
            .map_or(0, |b| b.inflight.load(Ordering::Relaxed))
    }
}

impl PoolState {
    /// A pool over `backends` (the control plane passes the states it keeps across reloads).
    pub fn new(
        spec: &model::Pool,
        backends: Vec<Arc<BackendState>>,
        shared: Arc<PoolShared>,
        workers: usize,
    ) -> Self {
        let weights: Vec<u32> = backends
            .iter()
            .map(|b| b.weight.load(Ordering::Relaxed))
            .collect();
        let ids: Vec<u64> = backends
            .iter()
            .map(|b| fulcrum_balance::hash_bytes(b.label.as_bytes()))
            .collect();
        let alg = algorithm(spec.balance);
        let selectors = (0..workers.max(1))
            .map(|w| {
                let seed = fulcrum_balance::mix64(w as u64 ^ fastrand::u64(..));
                SelectorSlot(Mutex::new(Selector::new_with_ids(
                    alg, &weights, &ids, seed,
                )))
            })
            .collect();
        let pct = u64::from(spec.outlier.max_ejection_percent.min(100));
        let max_ejected = u32::try_from(backends.len() as u64 * pct / 100).unwrap_or(u32::MAX);
        PoolState {
            name: spec.name.clone(),
            backends,
            connect_timeout: spec.connect_timeout,
            outlier: spec.outlier,
            retry: spec.retry,
            shared,
            max_ejected,
            tls: None,
            selectors,
        }
    }

    /// The pool with TLS to its backends.
    pub fn with_tls(mut self, tls: Option<fulcrum_tls::UpstreamTls>) -> Self {
        self.tls = tls;
        self
    }

    /// A pool with fresh backend states and no control plane attached.
    pub fn build(spec: &model::Pool, workers: usize) -> Self {
        let backends = spec
            .backends
            .iter()
            .map(|b| BackendState::new(b.address, b.weight))
            .collect();
        Self::new(spec, backends, PoolShared::new(None), workers)
    }

    /// Choose a backend for a client whose address hashes to `key`, on worker `worker`.
    pub fn pick(&self, worker: usize, key: u64) -> Option<&Arc<BackendState>> {
        let slot = self.selectors.get(worker % self.selectors.len().max(1))?;
        let i = match slot.0.lock() {
            Ok(mut s) => s.pick(key, self),
            Err(poisoned) => poisoned.into_inner().pick(key, self),
        }?;
        self.backends.get(i)
    }

    /// Choose a backend other than `not` (for a retry): the balancer's next choice, or the
    /// first other eligible backend when it keeps choosing `not`.
    pub fn pick_other(
        &self,
        worker: usize,
        key: u64,
        not: &BackendState,
    ) -> Option<&Arc<BackendState>> {
        for attempt in 0..3u64 {
            let b = self.pick(worker, key ^ fulcrum_balance::mix64(attempt + 1))?;
            if !std::ptr::eq(Arc::as_ptr(b), not) {
                return Some(b);
            }
        }
        self.backends
            .iter()
            .find(|b| !std::ptr::eq(Arc::as_ptr(b), not) && b.effective.load(Ordering::Relaxed) > 0)
    }

    /// Passive health: the outcome of one request to `b`. Enough consecutive failures eject
    /// it at once (within the pool's ejection budget); the control plane brings it back.
    pub fn report(&self, b: &Arc<BackendState>, failure: bool) {
        b.requests.fetch_add(1, Ordering::Relaxed);
        if !failure {
            if b.consecutive_failures.load(Ordering::Relaxed) != 0 {
                b.consecutive_failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        b.failures.fetch_add(1, Ordering::Relaxed);
        // A draining backend is on its way out: no ejection (its budget slot could leak).
        if b.draining.load(Ordering::Relaxed) {
            return;
        }
        let n = b.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        let threshold = self.outlier.consecutive_failures;
        if threshold == 0 || n < threshold {
            return;
        }
        if b.ejected
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let budget = self
            .shared
            .ejected
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < self.max_ejected).then_some(n + 1)
            });
        if budget.is_err() {
            b.ejected.store(false, Ordering::Release);
            return;
        }
        b.effective.store(0, Ordering::Relaxed);
        b.consecutive_failures.store(0, Ordering::Relaxed);
        tracing::warn!(pool = %self.name, backend = %b.label, failures = n, "backend ejected");
        if let Some(tx) = &self.shared.events {
            let _ = tx.send(HealthEvent::Ejected(b.clone(), self.shared.clone()));
        }
    }
}

fn algorithm(b: Balance) -> Algorithm {
    match b {
        Balance::RoundRobin => Algorithm::RoundRobin,
        Balance::LeastRequest => Algorithm::LeastRequest,
        Balance::Random => Algorithm::Random,
        Balance::IpHash => Algorithm::IpHash,
        Balance::RingHash => Algorithm::RingHash,
    }
}

/// What a matched route does.
#[derive(Debug)]
pub enum RouteAction {
    Pool(Arc<PoolState>),
    /// Weighted choice; `total` is the sum of weights (> 0).
    Split {
        targets: Vec<(Arc<PoolState>, u32)>,
        total: u32,
    },
    Redirect {
        location: HeaderValue,
        status: StatusCode,
    },
    Respond {
        status: StatusCode,
        body: Bytes,
    },
}

impl RouteAction {
    /// The pool for this request, for `Pool` and `Split` actions.
    pub fn pool(&self) -> Option<&Arc<PoolState>> {
        match self {
            RouteAction::Pool(p) => Some(p),
            RouteAction::Split { targets, total } => {
                let mut n = fastrand::u32(..(*total).max(1));
                for (p, w) in targets {
                    if n < *w {
                        return Some(p);
                    }
                    n -= w;
                }
                targets.last().map(|(p, _)| p)
            }
            _ => None,
        }
    }
}

/// Per route, what a request that takes it may do beyond matching.
#[derive(Debug, Clone, Default)]
pub struct RouteRules {
    /// `Upgrade` protocols tunnelled (lowercase); an upgrade asking for anything else is
    /// forwarded as a plain request.
    pub upgrades: Box<[String]>,
    /// Paths with `%2F`/`%5C` may take this route.
    pub allow_encoded_slashes: bool,
    /// Only connections with a verified client certificate match (`client_cert = true`).
    pub needs_client_cert: bool,
}

impl RouteRules {
    /// Whether every protocol the `Upgrade` values offer is allowed here.
    pub fn allows_upgrade<'a>(&self, offered: impl Iterator<Item = &'a HeaderValue>) -> bool {
        let mut any = false;
        for v in offered {
            let Ok(v) = v.to_str() else { return false };
            for p in v.split(',') {
                let p = p.trim_matches([' ', '\t']);
                // Empty list elements are allowed and mean nothing (RFC 9110 §5.6.1).
                if p.is_empty() {
                    continue;
                }
                if !self.upgrades.iter().any(|u| u.eq_ignore_ascii_case(p)) {
                    return false;
                }
                any = true;
            }
        }
        any
    }
}

/// A listener as the data path sees it.
#[derive(Debug)]
pub struct ListenerState {
    pub name: String,
    pub routes: RouteTable<RouteAction>,
    pub route_names: Vec<String>,
    pub timeouts: model::Timeouts,
    pub limits: model::Limits,
    /// Metric handles; `None` when nothing collects metrics (some tests).
    pub metrics: Option<crate::metrics::ListenerMetrics>,
    /// Per route (index-aligned): upgrades and encoded slashes allowed, client certificate
    /// required.
    pub route_rules: Vec<RouteRules>,
    /// `trusted_proxies`: peers whose forwarding headers are believed.
    pub trusted_proxies: Box<[model::Cidr]>,
    /// `http` or `https`, for `X-Forwarded-Proto`.
    pub proto: HeaderValue,
    /// http listeners with `https_redirect`: the https port for the 308's `Location`.
    pub https_redirect: Option<u16>,
    /// https listeners with `[listener.hsts]`: the `Strict-Transport-Security` value.
    pub hsts: Option<HeaderValue>,
    /// mTLS: headers that carry the verified client's subject and SANs to backends (and are
    /// always removed from what clients send).
    pub client_subject_header: Option<http::HeaderName>,
    pub client_san_header: Option<http::HeaderName>,
    /// `tls_passthrough` listeners: pools by the ClientHello's SNI.
    pub passthrough: Option<fulcrum_route::SniTable<Arc<PoolState>>>,
    /// `https` listeners: the TLS acceptor (its certificates reload in place).
    pub tls: Option<Arc<fulcrum_tls::TlsAcceptor>>,
}

impl ListenerState {
    /// The listener with TLS termination.
    pub fn with_tls(mut self, tls: Option<Arc<fulcrum_tls::TlsAcceptor>>) -> Self {
        self.tls = tls;
        self
    }
}

/// The `Strict-Transport-Security` value for `hsts`.
pub fn hsts_value(h: &model::Hsts) -> HeaderValue {
    let mut v = format!("max-age={}", h.max_age.as_secs());
    if h.include_subdomains {
        v.push_str("; includeSubDomains");
    }
    if h.preload {
        v.push_str("; preload");
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("max-age=31536000"))
}

impl ListenerState {
    pub fn build(l: &model::Listener, pools: &[Arc<PoolState>]) -> Self {
        Self::build_with_metrics(l, pools, None)
    }

    pub fn build_with_metrics(
        l: &model::Listener,
        pools: &[Arc<PoolState>],
        metrics: Option<&fulcrum_telemetry::FulcrumMetrics>,
    ) -> Self {
        let find = |name: &str| pools.iter().find(|p| p.name == name).cloned();
        let mut specs = Vec::with_capacity(l.routes.len());
        let mut names = Vec::with_capacity(l.routes.len());
        let mut rules = Vec::with_capacity(l.routes.len());
        for r in &l.routes {
            let action = match &r.action {
                Action::Pool(p) => match find(p) {
                    Some(p) => RouteAction::Pool(p),
                    None => continue, // validation guarantees pools exist
                },
                Action::Split(targets) => {
                    let targets: Vec<_> = targets
                        .iter()
                        .filter_map(|t| find(&t.pool).map(|p| (p, t.weight)))
                        .collect();
                    let total = targets.iter().map(|(_, w)| *w).sum();
                    RouteAction::Split { targets, total }
                }
                Action::Redirect { to, status } => RouteAction::Redirect {
                    location: HeaderValue::from_str(to)
                        .unwrap_or_else(|_| HeaderValue::from_static("/")),
                    status: *status,
                },
                Action::Respond { status, body } => RouteAction::Respond {
                    status: *status,
                    body: Bytes::from(body.clone()),
                },
            };
            specs.push(RouteSpec {
                host: r.host.as_ref().map(|h| match h {
                    HostMatch::Exact(s) => HostPattern::Exact(s.clone()),
                    HostMatch::Wildcard(s) => HostPattern::Wildcard(s.clone()),
                }),
                path_prefix: r.path_prefix.clone(),
                headers: r.headers.clone(),
                action,
            });
            names.push(r.name.clone());
            rules.push(RouteRules {
                upgrades: r.upgrades.clone().into_boxed_slice(),
                allow_encoded_slashes: r.allow_encoded_slashes,
                needs_client_cert: r.client_cert,
            });
        }
        let routes = RouteTable::new(specs);
        let metrics = metrics.map(|m| {
            let list: Vec<(String, &RouteAction)> = names
                .iter()
                .enumerate()
                .filter_map(|(i, n)| routes.get(i).map(|a| (n.clone(), a)))
                .collect();
            crate::metrics::ListenerMetrics::new(m, &l.name, &list)
        });
        ListenerState {
            name: l.name.clone(),
            routes,
            route_names: names,
            timeouts: l.timeouts,
            limits: l.limits,
            metrics,
            route_rules: rules,
            trusted_proxies: l.trusted_proxies.clone().into_boxed_slice(),
            proto: HeaderValue::from_static(match l.protocol {
                model::Protocol::Http | model::Protocol::TlsPassthrough => "http",
                model::Protocol::Https => "https",
            }),
            https_redirect: l.https_redirect,
            hsts: l.hsts.as_ref().map(hsts_value),
            client_subject_header: l
                .tls
                .as_ref()
                .and_then(|t| t.client_auth.as_ref())
                .and_then(|c| c.subject_header.clone()),
            client_san_header: l
                .tls
                .as_ref()
                .and_then(|t| t.client_auth.as_ref())
                .and_then(|c| c.san_header.clone()),
            passthrough: (l.protocol == model::Protocol::TlsPassthrough).then(|| {
                fulcrum_route::SniTable::new(l.routes.iter().filter_map(|r| {
                    let Action::Pool(p) = &r.action else {
                        return None;
                    };
                    let pattern = r.sni.as_ref().map(|h| match h {
                        HostMatch::Exact(s) => fulcrum_route::SniPattern::Exact(s.clone()),
                        HostMatch::Wildcard(s) => fulcrum_route::SniPattern::Wildcard(s.clone()),
                    });
                    find(p).map(|pool| (pattern, pool))
                }))
            }),
            tls: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(rules: &RouteRules, values: &[&'static str]) -> bool {
        let v: Vec<HeaderValue> = values.iter().map(|s| HeaderValue::from_static(s)).collect();
        rules.allows_upgrade(v.iter())
    }

    /// Issue 7 item 9 (review): only listed protocols are tunnelled, in any case; empty list
    /// elements (`websocket,`) are no protocol at all; nothing offered is no upgrade.
    #[test]
    fn upgrades_are_allowed_only_when_every_offer_is_listed() {
        let rules = RouteRules {
            upgrades: vec!["websocket".to_owned()].into_boxed_slice(),
            allow_encoded_slashes: false,
            needs_client_cert: false,
        };
        assert!(allows(&rules, &["WebSocket"]));
        assert!(allows(&rules, &["websocket, ", ", websocket"]));
        assert!(!allows(&rules, &["websocket, h2c"]));
        assert!(!allows(&rules, &["websocket", "h2c"]));
        assert!(!allows(&rules, &[""]));
        assert!(!allows(&rules, &[]));
        assert!(!allows(&RouteRules::default(), &["websocket"]));
    }
}
