//! `GET /api/v1/guards`: every listener's and route's protections as configured and as they
//! stand — the connection limits and how many addresses they track, each rate limit with the
//! keys its table holds and has evicted, access lists, authentication (key and user names,
//! where the JWT keys come from; never a hash, a secret or a key), the firewall's mode and
//! paranoia level, each route's guards with
//! where each kind comes from (its own, or the listener's), and the decisions counted so far.
//!
//! Read from the configuration in force and the live snapshots; it changes nothing.

use fulcrum_config::model::{self, ApiKeySource, AuthKind, Cidr, JwksSource, RateKey};
use fulcrum_dataplane::{GuardCounters, ListenerState, RequestGuards};
use serde_json::{json, Map, Value};

use crate::Control;

/// Entries of an access list shown (the count is always given): a list may hold 100k.
const SHOWN_NETS: usize = 50;

impl Control {
    /// The body of `GET /api/v1/guards`.
    pub fn guards_json(&self) -> Value {
        let inner = self.lock();
        let mut names: Vec<&String> = inner.listeners.keys().collect();
        names.sort();
        let listeners: Vec<Value> = names
            .into_iter()
            .filter_map(|name| {
                let rt = inner.listeners.get(name)?;
                Some(listener(&rt.spec, &rt.state.load()))
            })
            .collect();
        json!({ "listeners": listeners })
    }
}

fn listener(spec: &model::Listener, live: &ListenerState) -> Value {
    let limits = &spec.limits;
    let conn_limits = live.conn_guards.limits.as_ref();
    let mut connections = Map::new();
    connections.insert(
        "max_connections_per_ip".into(),
        json!(limits.max_connections_per_ip),
    );
    connections.insert(
        "new_connections_per_ip".into(),
        json!(limits.new_connections_per_ip.map(|n| format!("{n}/s"))),
    );
    connections.insert(
        "addresses_tracked".into(),
        json!(conn_limits.map_or(0, |l| l.addresses())),
    );
    if let Some(c) = &live.conn_guards.counters {
        connections.insert(
            "decisions".into(),
            json!({
                "access": decisions(&c[0]),
                "max_connections_per_ip": decisions(&c[1]),
                "new_connections_per_ip": decisions(&c[2]),
            }),
        );
    }
    let routes: Vec<Value> = spec
        .routes
        .iter()
        .map(|r| {
            let live_rules = live
                .route_names
                .iter()
                .position(|n| *n == r.name)
                .and_then(|i| live.route_rules.get(i));
            json!({
                "name": r.name,
                "guards": guards(&r.guards, Some(&spec.guards), live_rules.map(|r| &r.guards)),
            })
        })
        .collect();
    json!({
        "name": spec.name,
        "protocol": protocol(spec.protocol),
        "connections": connections,
        "guards": guards(&spec.guards, None, Some(&live.guards)),
        "routes": routes,
    })
}

fn protocol(p: model::Protocol) -> &'static str {
    match p {
        model::Protocol::Http => "http",
        model::Protocol::Https => "https",
        model::Protocol::TlsPassthrough => "tls_passthrough",
        model::Protocol::Tcp => "tcp",
        model::Protocol::Udp => "udp",
    }
}

/// The guards in force where `own` is written: each kind its own, else (a route) the
/// listener's, marked with where it comes from.
fn guards(
    own: &model::Guards,
    listener: Option<&model::Guards>,
    live: Option<&RequestGuards>,
) -> Value {
    let pick = |mine: bool, theirs: bool| match (mine, theirs) {
        (true, _) => Some(if listener.is_some() {
            "route"
        } else {
            "listener"
        }),
        (false, true) => Some("listener"),
        (false, false) => None,
    };
    let mut out = Map::new();
    let rl = own
        .rate_limit
        .as_ref()
        .or(listener.and_then(|l| l.rate_limit.as_ref()));
    let from = pick(
        own.rate_limit.is_some(),
        listener.is_some_and(|l| l.rate_limit.is_some()),
    );
    if let (Some(rl), Some(from)) = (rl, from) {
        let table = live.and_then(|g| g.rate_limit.as_ref());
        out.insert(
            "rate_limit".into(),
            json!({
                "from": from,
                "requests_per_second": rl.requests_per_second,
                "burst": rl.burst,
                "key": rate_key(&rl.key),
                "scope": "local",
                "max_keys": rl.max_keys,
                "keys": table.map(|t| t.limiter.len()),
                "evictions": table.map(|t| t.limiter.evictions()),
                "decisions": live.and_then(|g| g.rate_counters.as_ref()).map(decisions),
            }),
        );
    }
    let access = own
        .access
        .as_ref()
        .or(listener.and_then(|l| l.access.as_ref()));
    let from = pick(
        own.access.is_some(),
        listener.is_some_and(|l| l.access.is_some()),
    );
    if let (Some(a), Some(from)) = (access, from) {
        out.insert(
            "access".into(),
            json!({
                "from": from,
                "allow": nets(&a.allow),
                "deny": nets(&a.deny),
                "decisions": live.and_then(|g| g.access_counters.as_ref()).map(decisions),
            }),
        );
    }
    let auth = own.auth.as_ref().or(listener.and_then(|l| l.auth.as_ref()));
    let from = pick(
        own.auth.is_some(),
        listener.is_some_and(|l| l.auth.is_some()),
    );
    if let (Some(a), Some(from)) = (auth, from) {
        let mut v = auth_json(a);
        if let Some(m) = v.as_object_mut() {
            m.insert("from".into(), json!(from));
            m.insert(
                "decisions".into(),
                json!(live.and_then(|g| g.auth_counters.as_ref()).map(decisions)),
            );
        }
        out.insert("auth".into(), v);
    }
    let waf = own.waf.as_ref().or(listener.and_then(|l| l.waf.as_ref()));
    let from = pick(own.waf.is_some(), listener.is_some_and(|l| l.waf.is_some()));
    if let (Some(w), Some(from)) = (waf, from) {
        let counts = live.and_then(|g| g.waf_counters.as_ref()).map(|c| {
            let (allowed, refused, detected) = c.totals();
            json!({ "allowed": allowed, "refused": refused, "detected": detected })
        });
        out.insert(
            "waf".into(),
            json!({
                "from": from,
                "mode": match w.mode {
                    model::WafMode::Block => "block",
                    model::WafMode::Detect => "detect",
                    model::WafMode::Off => "off",
                },
                "paranoia": w.paranoia,
                "max_body_inspect": w.max_body_inspect,
                "decisions": counts,
            }),
        );
    }
    Value::Object(out)
}

fn rate_key(k: &RateKey) -> String {
    match k {
        RateKey::ClientIp => "client_ip".into(),
        RateKey::Header(h) => format!("header:{h}"),
        RateKey::ApiKey => "api_key".into(),
        RateKey::Jwt(claim) => format!("jwt:{claim}"),
    }
}

/// A list's size and its first entries.
fn nets(list: &[Cidr]) -> Value {
    let shown: Vec<String> = list.iter().take(SHOWN_NETS).map(Cidr::to_string).collect();
    json!({ "count": list.len(), "entries": shown, "truncated": list.len() > SHOWN_NETS })
}

/// What an auth block says, without a secret: kinds, sources, names, what is required.
fn auth_json(a: &model::Auth) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!(a.kind.name()));
    match &a.kind {
        AuthKind::ApiKey { source, keys } => {
            let source = match source {
                ApiKeySource::Header(h) => json!({ "header": h.as_str() }),
                ApiKeySource::Query(q) => json!({ "query": q }),
            };
            m.insert("source".into(), source);
            let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
            m.insert("keys".into(), json!(names));
        }
        AuthKind::Basic { users } => {
            let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
            m.insert("users".into(), json!(names));
        }
        AuthKind::Jwt {
            jwks,
            issuer,
            audience,
            clock_skew,
        } => {
            let jwks = match jwks {
                JwksSource::File { path, .. } => json!({ "file": path.display().to_string() }),
                JwksSource::Url {
                    url,
                    refresh,
                    min_refresh,
                    ..
                } => json!({
                    "url": url,
                    "refresh_s": refresh.as_secs_f64(),
                    "min_refresh_s": min_refresh.as_secs_f64(),
                }),
            };
            m.insert("jwks".into(), jwks);
            m.insert("issuer".into(), json!(issuer));
            m.insert("audience".into(), json!(audience));
            m.insert("clock_skew_s".into(), json!(clock_skew.as_secs_f64()));
        }
        AuthKind::Mtls => {}
    }
    let r = &a.require;
    let claims: Map<String, Value> = r
        .claims
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    m.insert(
        "require".into(),
        json!({ "names": r.names, "claims": claims, "subjects": r.subjects, "sans": r.sans }),
    );
    m.insert(
        "forward_identity".into(),
        json!(a.forward_identity.as_ref().map(|h| h.as_str())),
    );
    Value::Object(m)
}

/// Allowed and refused so far (summed over the workers).
fn decisions(c: &GuardCounters) -> Value {
    let (allowed, refused) = c.totals();
    json!({ "allowed": allowed, "refused": refused })
}
