//! `[[listener.route]]`: the match (host, path prefix, headers, client certificate) and its
//! one action; on `tls_passthrough` listeners only `sni` and a pool.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use http::{HeaderName, HeaderValue};
use toml::de::DeValue;

use crate::action;
use crate::decode::{self, Ctx, Table, Value, Where};
use crate::model::{Action, HostMatch, Protocol, Route};
use crate::pool::PoolNames;

const ROUTE_KEYS: &[&str] = &[
    "name",
    "host",
    "path_prefix",
    "headers",
    "sni",
    "client_cert",
    "upgrades",
    "allow_encoded_slashes",
    "pool",
    "split",
    "redirect",
    "respond",
    "rate_limit",
    "access",
    "auth",
    "waf",
];
/// The keys of a route on a `tls_passthrough` listener.
const PASSTHROUGH_ROUTE_KEYS: &[&str] = &["name", "sni", "pool"];
const PASSTHROUGH_ONLY: &str =
    "passthrough routes only route by sni to a pool (keys: name, sni, pool)";
pub(crate) const ACTIONS: &[&str] = &["pool", "split", "redirect", "respond"];

/// What the listener allows in its routes.
pub(crate) struct RouteRules {
    /// `None` when the listener's protocol is itself in error: no protocol rules are applied.
    pub(crate) protocol: Option<Protocol>,
    /// Whether the listener verifies client certificates (`[listener.tls.client_auth]`);
    /// `None` when unknown (its TLS table is in error).
    pub(crate) client_auth: Option<bool>,
    /// The kind of the listener's own `[listener.auth]`, if any.
    pub(crate) auth: Option<&'static str>,
}

/// The `route` array of one listener; `listener` is the listener's path.
pub(crate) fn routes(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    listener: &Where,
    pools: &PoolNames,
    rules: &RouteRules,
) -> Option<Vec<Route>> {
    let items = decode::array(ctx, v, &at, "an array of tables ([[listener.route]])")?;
    let mut names = HashSet::new();
    // Passthrough routes: the sni (or its absence) of every earlier route, and its name (a
    // map: thousands of routes must not each scan the earlier ones).
    let mut snis: HashMap<Option<HostMatch>, String> = HashMap::new();
    let mut out = Some(Vec::with_capacity(items.len()));
    for (i, item) in items.iter().enumerate() {
        let default_name = format!("#{}", i + 1);
        let label = Table::peek_str(item, "name").unwrap_or(&default_name);
        let at = listener.entity(format!("route {label:?}"));
        let r = if rules.protocol == Some(Protocol::TlsPassthrough) {
            passthrough_route(ctx, item, at.clone(), default_name.clone(), pools)
        } else {
            route(ctx, item, at.clone(), default_name.clone(), pools, rules)
        };
        if let (Some(r), Some(Protocol::TlsPassthrough)) = (&r, rules.protocol) {
            if let Some(first) = snis.get(&r.sni) {
                let quiet = Table::open_quiet(item);
                let msg = match &r.sni {
                    Some(sni) => format!(
                        "sni {} is already routed by route {first:?}; this route would never match",
                        show_host(sni)
                    ),
                    None => format!(
                        "route {first:?} is already the default route (no sni); only one \
                         passthrough route may leave out sni"
                    ),
                };
                let span = quiet
                    .as_ref()
                    .and_then(|t| t.get("sni"))
                    .map_or(item.span(), Value::span);
                ctx.error(&span, &at, msg);
            } else {
                snis.insert(r.sni.clone(), r.name.clone());
            }
        }
        if let Some(r) = &r {
            if !names.insert(r.name.clone()) {
                let span = Table::open_quiet(item)
                    .and_then(|t| t.get("name"))
                    .map_or(item.span(), Value::span);
                let msg = format!("duplicate route name {:?} in this listener", r.name);
                ctx.error(&span, &at, msg);
            }
        }
        out = out.zip(r).map(|(mut all, r)| {
            all.push(r);
            all
        });
    }
    out
}

fn route(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    default_name: String,
    pools: &PoolNames,
    rules: &RouteRules,
) -> Option<Route> {
    let t = Table::open(ctx, v, at, ROUTE_KEYS)?;
    let name = t.or(ctx, "name", default_name, decode::non_empty);
    let host = t.or(ctx, "host", None, |ctx, v, at| host(ctx, v, at).map(Some));
    let encoded_slashes = t.or(ctx, "allow_encoded_slashes", false, decode::boolean);
    let path_prefix = t.or(ctx, "path_prefix", None, |ctx, v, at| {
        path_prefix(ctx, v, at, encoded_slashes.unwrap_or(true)).map(Some)
    });
    let upgrades = t.or(
        ctx,
        "upgrades",
        crate::model::DEFAULT_UPGRADES
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        upgrades,
    );
    let headers = t.or(ctx, "headers", Vec::new(), headers);
    let sni = match (t.key_span("sni"), rules.protocol) {
        (Some(span), Some(p)) => {
            let msg = format!(
                "sni is only for routes of tls_passthrough listeners (this one is {}); \
                 match the Host header with host",
                crate::listener::protocol_name(p)
            );
            ctx.error(&span, &t.at("sni"), msg);
            None
        }
        _ => t.or(ctx, "sni", None, |ctx, v, at| sni(ctx, v, at).map(Some)),
    };
    let client_cert = t.or(ctx, "client_cert", false, decode::boolean);
    if let (Some(true), Some(span)) = (client_cert, t.key_span("client_cert")) {
        let why = match (rules.protocol, rules.client_auth) {
            (Some(Protocol::Https), Some(false)) => Some(
                "client_cert = true needs [listener.tls.client_auth] on this listener \
                 (mode \"optional\" lets clients without a certificate use other routes)"
                    .to_owned(),
            ),
            (Some(p), _) if p != Protocol::Https => Some(format!(
                "client_cert = true is only for https listeners with \
                 [listener.tls.client_auth] (this one is {})",
                crate::listener::protocol_name(p)
            )),
            _ => None,
        };
        if let Some(why) = why {
            ctx.error(&span, &t.at("client_cert"), why);
        }
    }
    let action = action::action(ctx, &t, pools);
    let guards = crate::guard::guards(
        ctx,
        &t,
        crate::guard::Place::Route { auth: rules.auth },
        crate::guard::On {
            protocol: rules.protocol,
            client_auth: rules.client_auth,
        },
    );
    Some(Route {
        name: name?,
        host: host?,
        path_prefix: path_prefix?,
        headers: headers?,
        sni: sni?,
        client_cert: client_cert?,
        upgrades: upgrades?,
        allow_encoded_slashes: encoded_slashes?,
        action: action?,
        guards: guards?,
    })
}

/// A route of a `tls_passthrough` listener: `name`, `sni` (none: the default route) and
/// `pool`; every other route key is refused with the reason.
fn passthrough_route(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    default_name: String,
    pools: &PoolNames,
) -> Option<Route> {
    let t = Table::open_restricted(
        ctx,
        v,
        at,
        PASSTHROUGH_ROUTE_KEYS,
        ROUTE_KEYS,
        PASSTHROUGH_ONLY,
    )?;
    let name = t.or(ctx, "name", default_name, decode::non_empty);
    let sni = t.or(ctx, "sni", None, |ctx, v, at| sni(ctx, v, at).map(Some));
    let pool = match t.get("pool") {
        Some(v) => action::pool_ref(ctx, v, t.at("pool"), pools),
        None => {
            // Another action was written instead: already reported as not allowed.
            if !ACTIONS.iter().any(|a| t.get(a).is_some()) {
                let msg = format!("missing required key \"pool\" ({PASSTHROUGH_ONLY})");
                ctx.error(&t.span, &t.at, msg);
            }
            None
        }
    };
    Some(Route {
        name: name?,
        host: None,
        path_prefix: None,
        headers: Vec::new(),
        sni: sni?,
        client_cert: false,
        upgrades: Vec::new(),
        allow_encoded_slashes: false,
        action: Action::Pool(pool?),
        guards: crate::model::Guards::default(),
    })
}

/// `sni`: a server name as in `host` (exact or `*.` wildcard, lowercased); never an IP
/// address, which clients do not send as SNI.
fn sni(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<HostMatch> {
    let raw = decode::string(ctx, v, at.clone())?;
    let unbracketed = raw.trim_start_matches('[').trim_end_matches(']');
    let parsed = if unbracketed.parse::<IpAddr>().is_ok() {
        Err(
            "clients never send an IP address as SNI; a route without sni catches \
             connections that send none",
        )
    } else {
        parse_host(&raw)
    };
    match parsed {
        Ok(h) => Some(h),
        Err(why) => {
            let msg = format!(
                "invalid sni {raw:?}: {why} (expected a server name such as \"db.example.com\" \
                 or a wildcard such as \"*.example.com\")"
            );
            ctx.error(&v.span(), &at, msg);
            None
        }
    }
}

/// `api.example.com` or `*.example.com`, as written in the file.
pub(crate) fn show_host(h: &HostMatch) -> String {
    match h {
        HostMatch::Exact(name) => name.clone(),
        HostMatch::Wildcard(suffix) => format!("*{suffix}"),
    }
}

/// `host`: `api.example.com` or `*.example.com`, lowercased; no port.
fn host(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<HostMatch> {
    let raw = decode::string(ctx, v, at.clone())?;
    match parse_host(&raw) {
        Ok(h) => Some(h),
        Err(why) => {
            let msg = format!(
                "invalid host {raw:?}: {why} (expected a host name such as \"api.example.com\" \
                 or a wildcard such as \"*.example.com\")"
            );
            ctx.error(&v.span(), &at, msg);
            None
        }
    }
}

pub(crate) fn parse_host(raw: &str) -> Result<HostMatch, &'static str> {
    let host = raw.to_ascii_lowercase();
    if host.is_empty() {
        return Err("must not be empty");
    }
    if host.contains(':') {
        return Err("ports are not matched; remove the port");
    }
    let (wildcard, name) = match host.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, host.as_str()),
    };
    if name.contains('*') {
        return Err("\"*\" is only allowed as a whole first label, as in \"*.example.com\"");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !name.split('.').all(label_ok) {
        return Err("labels must be non-empty and use only letters, digits, \"-\" and \"_\"");
    }
    Ok(if wildcard {
        HostMatch::Wildcard(format!(".{name}"))
    } else {
        HostMatch::Exact(host)
    })
}

/// `path_prefix`: a plain path already in the normal form requests are matched in (see
/// `fulcrum_route::normalize_path`), since a prefix in any other form could never match.
fn path_prefix(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    encoded_slashes: bool,
) -> Option<String> {
    let p = decode::string(ctx, v, at.clone())?;
    let why = if !p.starts_with('/') {
        "must start with \"/\"".to_owned()
    } else if p.contains(['?', '#']) || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "must be a plain path (no query, fragment, spaces or control characters)".to_owned()
    } else {
        match fulcrum_route::normalize_path(&p) {
            Err(e) => format!(
                "{} is refused in requests, so it could never match",
                e.as_str()
            ),
            Ok(n) if n.is_rewritten() => format!(
                "requests are matched in normal form (escapes of unreserved characters \
                 decoded, repeated slashes merged, \".\" and \"..\" resolved), so this could \
                 never match; write {:?}",
                n.as_str()
            ),
            Ok(n) if n.has_encoded_slash() && !encoded_slashes => {
                "requests with an encoded slash (%2F or %5C) are refused unless the route has \
                 allow_encoded_slashes = true, so this could never match"
                    .to_owned()
            }
            Ok(_) => return Some(p),
        }
    };
    ctx.error(&v.span(), &at, format!("invalid path_prefix {p:?}: {why}"));
    None
}

/// `upgrades = ["websocket"]`: protocol names as in `Upgrade` (RFC 9110 §7.8: a token, an
/// optional `/version`), lowercased; `h2c` is refused.
fn upgrades(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Vec<String>> {
    let items = decode::array(
        ctx,
        v,
        &at,
        "an array of protocol names, e.g. [\"websocket\"]",
    )?;
    let mut out = Some(Vec::with_capacity(items.len()));
    for (i, item) in items.iter().enumerate() {
        let at = at.index(i);
        let Some(raw) = decode::string(ctx, item, at.clone()) else {
            out = None;
            continue;
        };
        let name = raw.to_ascii_lowercase();
        let token = |s: &str| !s.is_empty() && s.bytes().all(is_tchar);
        let why = match name.split_once('/') {
            _ if name == "h2c" => Some(
                "h2c is never tunnelled: HTTP/2 inside the tunnel would bypass routes and \
                 limits (clients speak HTTP/2 to Fulcrum directly, by TLS ALPN or prior \
                 knowledge)",
            ),
            Some((p, ver)) if token(p) && token(ver) => None,
            None if token(&name) => None,
            _ => Some("expected a protocol name such as \"websocket\""),
        };
        if let Some(why) = why {
            ctx.error(&item.span(), &at, format!("invalid upgrade {raw:?}: {why}"));
            out = None;
            continue;
        }
        if out
            .as_ref()
            .is_some_and(|o: &Vec<String>| o.contains(&name))
        {
            ctx.error(
                &item.span(),
                &at,
                format!("upgrade {raw:?} is listed twice"),
            );
            out = None;
            continue;
        }
        if let Some(o) = out.as_mut() {
            o.push(name);
        }
    }
    out
}

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `headers = { "x-canary" = "1" }`: valid names (lowercased) and values.
fn headers(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let DeValue::Table(_) = v.get_ref() else {
        let msg = format!(
            "expected a table of header names to values, e.g. {{ \"x-canary\" = \"1\" }}, found {}",
            decode::kind(v)
        );
        ctx.error(&v.span(), &at, msg);
        return None;
    };
    let t = Table::open_quiet(v)?;
    let mut seen: Vec<HeaderName> = Vec::new();
    let mut out = Some(Vec::new());
    for (key, key_span, value) in t.iter() {
        let name = match HeaderName::from_bytes(key.as_bytes()) {
            Ok(name) => Some(name),
            Err(_) => {
                ctx.error(&key_span, &at, format!("invalid header name {key:?}"));
                None
            }
        };
        if let Some(name) = &name {
            if seen.contains(name) {
                ctx.error(&key_span, &at, format!("header {name} is listed twice"));
            }
            seen.push(name.clone());
        }
        let value_at = at.key(key);
        let value = decode::string(ctx, value, value_at.clone()).and_then(|s| {
            HeaderValue::from_str(&s).ok().or_else(|| {
                ctx.error(
                    &value.span(),
                    &value_at,
                    format!("invalid header value {s:?}"),
                );
                None
            })
        });
        out = match (out, name, value) {
            (Some(mut all), Some(n), Some(v)) => {
                all.push((n, v));
                Some(all)
            }
            _ => None,
        };
    }
    out
}
