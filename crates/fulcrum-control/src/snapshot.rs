//! The configuration turned into data-plane snapshots: a pool's spec, and a listener's route
//! table whose actions hold the pools its routes name. The one place where the configuration
//! model meets `fulcrum-dataplane`, which knows nothing of it.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use fulcrum_balance::Algorithm;
use fulcrum_config::model::{self, Action, Balance, HostMatch};
use fulcrum_dataplane::{
    ListenerMetrics, ListenerState, PoolSpec, PoolState, RouteAction, RouteRules, UdpMetrics,
};
use fulcrum_route::{HostPattern, RouteSpec, RouteTable, SniPattern, SniTable};
use fulcrum_telemetry::FulcrumMetrics;
use fulcrum_tls::{TlsAcceptor, UpstreamTls};
use http::HeaderValue;

/// What pool `p`'s snapshots are built from, besides its backends.
pub(crate) fn pool_spec(p: &model::Pool, tls: Option<UpstreamTls>) -> PoolSpec {
    PoolSpec {
        name: p.name.clone(),
        balance: algorithm(p.balance),
        connect_timeout: p.connect_timeout,
        outlier: p.outlier,
        retry: p.retry,
        tls,
        proxy_protocol: p.proxy_protocol,
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

/// The pool snapshots of one build by name, made once for all its listeners: each route
/// finds its pools here (a scan of the list per route is quadratic with thousands of routes
/// over thousands of pools).
#[derive(Default)]
pub(crate) struct PoolIndex<'a>(HashMap<&'a str, &'a Arc<PoolState>>);

impl<'a> PoolIndex<'a> {
    /// `pools` by name (the first of a name, as a scan would find).
    pub(crate) fn new(pools: &'a [Arc<PoolState>]) -> Self {
        let mut map = HashMap::with_capacity(pools.len());
        for p in pools {
            map.entry(p.name.as_str()).or_insert(p);
        }
        PoolIndex(map)
    }

    fn get(&self, name: &str) -> Option<Arc<PoolState>> {
        self.0.get(name).map(|p| Arc::clone(p))
    }
}

/// Listener `l`'s snapshot over `pools` (routes to a pool not among them are left out: the
/// validation guarantees they exist, so only the placeholder built before binding has none),
/// with its metric handles when `metrics` collects them and `tls` on https listeners; its
/// guards keep the tables of `previous` (the snapshot it replaces) whose settings stayed.
pub(crate) fn listener(
    l: &model::Listener,
    pools: &PoolIndex<'_>,
    metrics: Option<&FulcrumMetrics>,
    tls: Option<Arc<TlsAcceptor>>,
    previous: Option<&ListenerState>,
) -> ListenerState {
    let find = |name: &str| pools.get(name);
    let own = crate::guards::listener_guards(l, previous, metrics);
    let conn_guards = crate::guards::conn_guards(l, &own, previous, metrics);
    let mut specs = Vec::with_capacity(l.routes.len());
    let mut names = Vec::with_capacity(l.routes.len());
    let mut rules = Vec::with_capacity(l.routes.len());
    for r in &l.routes {
        let Some(action) = action(&r.action, &find) else {
            continue;
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
            guards: crate::guards::route_guards(l, r, &own, previous, metrics),
        });
    }
    let routes = RouteTable::new(specs);
    let metrics = metrics.map(|m| {
        let list: Vec<(String, &RouteAction)> = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| routes.get(i).map(|a| (n.clone(), a)))
            .collect();
        let mut lm = ListenerMetrics::new(m, &l.name, &list);
        if l.protocol == model::Protocol::Udp {
            lm.udp = Some(UdpMetrics::new(m, &l.name));
        }
        lm
    });
    let client_auth = l.tls.as_ref().and_then(|t| t.client_auth.as_ref());
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
            model::Protocol::Http
            | model::Protocol::TlsPassthrough
            | model::Protocol::Tcp
            | model::Protocol::Udp => "http",
            model::Protocol::Https => "https",
        }),
        https_redirect: l.https_redirect,
        hsts: l.hsts.as_ref().map(hsts_value),
        client_subject_header: client_auth.and_then(|c| c.subject_header.clone()),
        client_san_header: client_auth.and_then(|c| c.san_header.clone()),
        passthrough: (l.protocol == model::Protocol::TlsPassthrough).then(|| {
            SniTable::new(l.routes.iter().filter_map(|r| {
                let Action::Pool(p) = &r.action else {
                    return None;
                };
                let pattern = r.sni.as_ref().map(|h| match h {
                    HostMatch::Exact(s) => SniPattern::Exact(s.clone()),
                    HostMatch::Wildcard(s) => SniPattern::Wildcard(s.clone()),
                });
                find(p).map(|pool| (pattern, pool))
            }))
        }),
        l4_pool: l.pool.as_deref().and_then(find),
        proxy_trusted: l
            .proxy_protocol
            .as_ref()
            .map(|p| p.trusted.clone().into_boxed_slice()),
        tls,
        engine: l.engine,
        conn_guards,
        guards: own,
    }
}

/// What a route does, with its pools resolved (`None`: its pool is not among them).
fn action(a: &Action, find: &impl Fn(&str) -> Option<Arc<PoolState>>) -> Option<RouteAction> {
    Some(match a {
        Action::Pool(p) => RouteAction::Pool(find(p)?),
        Action::Split(targets) => {
            let targets: Vec<_> = targets
                .iter()
                .filter_map(|t| find(&t.pool).map(|p| (p, t.weight)))
                .collect();
            let total = targets.iter().map(|(_, w)| *w).sum();
            RouteAction::Split { targets, total }
        }
        Action::Redirect { to, status } => RouteAction::Redirect {
            location: HeaderValue::from_str(to).unwrap_or_else(|_| HeaderValue::from_static("/")),
            status: *status,
        },
        Action::Respond { status, body } => RouteAction::Respond {
            status: *status,
            body: Bytes::from(body.clone()),
        },
    })
}

/// The `Strict-Transport-Security` value for `hsts`.
fn hsts_value(h: &model::Hsts) -> HeaderValue {
    let mut v = format!("max-age={}", h.max_age.as_secs());
    if h.include_subdomains {
        v.push_str("; includeSubDomains");
    }
    if h.preload {
        v.push_str("; preload");
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("max-age=31536000"))
}
