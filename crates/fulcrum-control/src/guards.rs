//! The protections of the configuration turned into the guards snapshots carry, reusing the
//! previous snapshot's tables where the settings did not change: a reload (or a DNS answer,
//! or an API backend change, which rebuild every snapshot) keeps each rate limit's key table
//! and each listener's connection counts while their settings stay the same; a changed
//! limit starts with an empty table. The open-connection counts always carry over.

use std::sync::Arc;
use std::time::Instant;

use fulcrum_config::model::{self, Cidr};
use fulcrum_dataplane::{
    Auth, ConnGuards, GuardCounters, JwksRemote, ListenerState, RateLimit, RequestGuards,
    WafCounters, WafGuard,
};
use fulcrum_guard::auth::{self, Authenticator, Method, Require};
use fulcrum_guard::{AccessList, ConnLimits, GuardKind, RateLimiter};
use fulcrum_telemetry::FulcrumMetrics;

/// The policy name of a listener's own rate limit in the RateLimit headers.
const LISTENER_POLICY: &str = "default";

fn nets(list: &[Cidr]) -> impl Iterator<Item = (std::net::IpAddr, u8)> + '_ {
    list.iter().map(|c| (c.addr(), c.prefix()))
}

fn access_list(a: &model::Access) -> Arc<AccessList> {
    Arc::new(AccessList::new(nets(&a.allow), nets(&a.deny)))
}

/// `cfg` as a limiter named `name`, or `previous` itself when it limits the same way.
fn rate_limit(
    cfg: &model::RateLimit,
    name: &str,
    previous: Option<&Arc<RateLimit>>,
) -> Arc<RateLimit> {
    if let Some(p) = previous {
        if p.key == cfg.key
            && &*p.name == name
            && p.limiter
                .same_policy(cfg.requests_per_second, cfg.burst, cfg.max_keys)
        {
            return p.clone();
        }
    }
    let limiter = RateLimiter::new(
        cfg.requests_per_second,
        cfg.burst,
        cfg.max_keys,
        Instant::now(),
    );
    Arc::new(RateLimit::new(limiter, cfg.key.clone(), name))
}

/// `cfg` as a request's authentication, or `previous` itself when its settings are the same
/// (keeping its Basic cache). `None` when the checker cannot be built, which the
/// configuration's own checks make impossible (a route then refuses every request: see
/// [`refuse_all`]).
fn auth(cfg: &model::Auth, previous: Option<&Arc<Auth>>) -> Arc<Auth> {
    if let Some(p) = previous.filter(|p| p.config == *cfg) {
        return p.clone();
    }
    let mut remote = None;
    let method = match &cfg.kind {
        model::AuthKind::ApiKey { keys, .. } => Some(Method::ApiKey(auth::ApiKeys::new(
            keys.iter().map(|k| (k.name.clone(), k.sha256)).collect(),
        ))),
        model::AuthKind::Basic { users } => auth::BasicUsers::try_new(
            users
                .iter()
                .map(|u| (u.name.clone(), u.hash.clone()))
                .collect(),
            auth::DEFAULT_CACHE_CAP,
            auth::DEFAULT_CACHE_TTL,
        )
        .ok()
        .map(Method::Basic),
        model::AuthKind::Jwt {
            jwks,
            issuer,
            audience,
            clock_skew,
        } => {
            let keys = match jwks {
                model::JwksSource::File { json, .. } => {
                    auth::JwtKeys::parse(json).ok().map(auth::KeySource::Static)
                }
                model::JwksSource::Url {
                    url,
                    ca,
                    refresh,
                    min_refresh,
                } => {
                    // Same URL as before: start from the keys already fetched.
                    let cell = Arc::new(auth::JwksCell::new());
                    let before = previous
                        .and_then(|p| p.jwks.as_ref())
                        .filter(|r| r.url == *url);
                    if let Some(k) = before.and_then(|r| r.cell.get()) {
                        cell.set((*k).clone());
                    }
                    remote = Some(JwksRemote {
                        url: url.clone(),
                        ca: ca.clone(),
                        refresh: *refresh,
                        min_refresh: *min_refresh,
                        cell: cell.clone(),
                    });
                    Some(auth::KeySource::Remote(cell))
                }
            };
            keys.map(|keys| {
                Method::Jwt(auth::JwtVerifier::new(
                    keys,
                    issuer.clone(),
                    audience.clone(),
                    clock_skew.as_secs(),
                ))
            })
        }
        model::AuthKind::Mtls => Some(Method::Mtls),
    };
    let r = &cfg.require;
    let require = Require {
        names: r.names.clone(),
        claims: r.claims.clone(),
        subjects: r.subjects.clone(),
        sans: r.sans.clone(),
    };
    let authenticator = match method {
        Some(m) => Authenticator::new(m, require),
        None => refuse_all(),
    };
    Arc::new(Auth {
        authenticator,
        api_key: match &cfg.kind {
            model::AuthKind::ApiKey { source, .. } => Some(source.clone()),
            _ => None,
        },
        forward_identity: cfg.forward_identity.clone(),
        jwks: remote,
        config: cfg.clone(),
    })
}

/// A checker no request passes (API keys, of which there are none): fails closed.
fn refuse_all() -> Authenticator {
    tracing::error!("an authentication setting could not be built; its routes refuse requests");
    Authenticator::new(
        Method::ApiKey(auth::ApiKeys::new(Vec::new())),
        Require::default(),
    )
}

/// `cfg` as a firewall, or `previous` itself when it is set the same way (`off`: none).
fn waf(cfg: &model::Waf, previous: Option<&Arc<WafGuard>>) -> Option<Arc<WafGuard>> {
    let block = match cfg.mode {
        model::WafMode::Off => return None,
        model::WafMode::Block => true,
        model::WafMode::Detect => false,
    };
    if let Some(p) =
        previous.filter(|p| p.block == block && p.waf.same(cfg.paranoia, cfg.max_body_inspect))
    {
        return Some(p.clone());
    }
    let waf = fulcrum_guard::waf::Waf::new(cfg.paranoia, cfg.max_body_inspect);
    Some(Arc::new(WafGuard { waf, block }))
}

/// The listener's own request guards.
pub(crate) fn listener_guards(
    l: &model::Listener,
    previous: Option<&ListenerState>,
    metrics: Option<&FulcrumMetrics>,
) -> RequestGuards {
    let g = &l.guards;
    RequestGuards {
        access: g.access.as_ref().map(access_list),
        rate_limit: g.rate_limit.as_ref().map(|r| {
            rate_limit(
                r,
                LISTENER_POLICY,
                previous.and_then(|p| p.guards.rate_limit.as_ref()),
            )
        }),
        auth: g
            .auth
            .as_ref()
            .map(|a| auth(a, previous.and_then(|p| p.guards.auth.as_ref()))),
        access_counters: None,
        rate_counters: None,
        auth_counters: None,
        waf: g
            .waf
            .as_ref()
            .and_then(|w| waf(w, previous.and_then(|p| p.guards.waf.as_ref()))),
        waf_counters: None,
    }
    .with_counters(metrics, &l.name, "")
}

/// Route `r`'s guards: its own kinds, the listener's (`own`) for the others.
pub(crate) fn route_guards(
    l: &model::Listener,
    r: &model::Route,
    own: &RequestGuards,
    previous: Option<&ListenerState>,
    metrics: Option<&FulcrumMetrics>,
) -> RequestGuards {
    let prev_route = previous.and_then(|p| {
        let i = p.route_names.iter().position(|n| *n == r.name)?;
        p.route_rules.get(i)
    });
    let g = &r.guards;
    RequestGuards {
        access: match &g.access {
            Some(a) => Some(access_list(a)),
            None => own.access.clone(),
        },
        rate_limit: match &g.rate_limit {
            Some(cfg) => Some(rate_limit(
                cfg,
                &r.name,
                prev_route.and_then(|p| p.guards.rate_limit.as_ref()),
            )),
            None => own.rate_limit.clone(),
        },
        auth: match &g.auth {
            Some(cfg) => Some(auth(cfg, prev_route.and_then(|p| p.guards.auth.as_ref()))),
            None => own.auth.clone(),
        },
        access_counters: None,
        rate_counters: None,
        auth_counters: None,
        waf: match &g.waf {
            Some(cfg) => waf(cfg, prev_route.and_then(|p| p.guards.waf.as_ref())),
            None => own.waf.clone(),
        },
        waf_counters: None,
    }
    .with_counters(metrics, &l.name, &r.name)
}

trait WithCounters {
    fn with_counters(self, m: Option<&FulcrumMetrics>, listener: &str, route: &str) -> Self;
}

impl WithCounters for RequestGuards {
    fn with_counters(mut self, m: Option<&FulcrumMetrics>, listener: &str, route: &str) -> Self {
        if let Some(m) = m {
            if self.access.is_some() {
                self.access_counters =
                    Some(GuardCounters::new(m, listener, route, GuardKind::Access));
            }
            if self.rate_limit.is_some() {
                self.rate_counters =
                    Some(GuardCounters::new(m, listener, route, GuardKind::RateLimit));
            }
            if self.auth.is_some() {
                self.auth_counters = Some(GuardCounters::new(m, listener, route, GuardKind::Auth));
            }
            if self.waf.is_some() {
                self.waf_counters = Some(WafCounters::new(m, listener, route));
            }
        }
        self
    }
}

/// The guards checked at accept: connection limits, and the access list of listeners
/// without requests (tcp, tls_passthrough).
pub(crate) fn conn_guards(
    l: &model::Listener,
    own: &RequestGuards,
    previous: Option<&ListenerState>,
    metrics: Option<&FulcrumMetrics>,
) -> ConnGuards {
    let access = match l.protocol {
        model::Protocol::Tcp | model::Protocol::TlsPassthrough => own.access.clone(),
        _ => None,
    };
    let (per_ip, per_second) = (
        l.limits.max_connections_per_ip,
        l.limits.new_connections_per_ip,
    );
    let prev = previous.and_then(|p| p.conn_guards.limits.as_ref());
    let limits = match prev {
        Some(p) if p.same(per_ip, per_second) => Some(p.clone()),
        _ if per_ip.is_none() && per_second.is_none() => None,
        _ => Some(Arc::new(ConnLimits::new(
            per_ip,
            per_second,
            l.limits.max_connections,
            prev.map(|p| &**p),
            Instant::now(),
        ))),
    };
    let guards = ConnGuards {
        access,
        limits,
        counters: None,
    };
    if guards.is_empty() {
        return guards;
    }
    ConnGuards {
        counters: metrics.map(|m| {
            [
                GuardKind::Access,
                GuardKind::MaxConnectionsPerIp,
                GuardKind::NewConnectionsPerIp,
            ]
            .map(|k| GuardCounters::new(m, &l.name, "", k))
        }),
        ..guards
    }
}
