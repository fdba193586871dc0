//! `[[listener.route]]`: the match (host, path prefix, headers) and its one action.

use std::collections::HashSet;

use http::{HeaderName, HeaderValue};
use toml::de::DeValue;

use crate::action;
use crate::decode::{self, Ctx, Table, Value, Where};
use crate::model::{HostMatch, Route};

const ROUTE_KEYS: &[&str] = &[
    "name",
    "host",
    "path_prefix",
    "headers",
    "pool",
    "split",
    "redirect",
    "respond",
];
pub(crate) const ACTIONS: &[&str] = &["pool", "split", "redirect", "respond"];

/// The `route` array of one listener; `listener` is the listener's path.
pub(crate) fn routes(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    listener: &Where,
    pools: &[String],
) -> Option<Vec<Route>> {
    let items = decode::array(ctx, v, &at, "an array of tables ([[listener.route]])")?;
    let mut names = HashSet::new();
    let mut out = Some(Vec::with_capacity(items.len()));
    for (i, item) in items.iter().enumerate() {
        let default_name = format!("#{}", i + 1);
        let label = Table::peek_str(item, "name").unwrap_or(&default_name);
        let at = listener.entity(format!("route {label:?}"));
        let r = route(ctx, item, at.clone(), default_name.clone(), pools);
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
    pools: &[String],
) -> Option<Route> {
    let t = Table::open(ctx, v, at, ROUTE_KEYS)?;
    let name = t.or(ctx, "name", default_name, decode::non_empty);
    let host = t.or(ctx, "host", None, |ctx, v, at| host(ctx, v, at).map(Some));
    let path_prefix = t.or(ctx, "path_prefix", None, |ctx, v, at| {
        path_prefix(ctx, v, at).map(Some)
    });
    let headers = t.or(ctx, "headers", Vec::new(), headers);
    let action = action::action(ctx, &t, pools);
    Some(Route {
        name: name?,
        host: host?,
        path_prefix: path_prefix?,
        headers: headers?,
        action: action?,
    })
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

fn path_prefix(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<String> {
    let p = decode::string(ctx, v, at.clone())?;
    let why = if !p.starts_with('/') {
        "must start with \"/\""
    } else if p.contains(['?', '#']) || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "must be a plain path (no query, fragment, spaces or control characters)"
    } else {
        return Some(p);
    };
    ctx.error(&v.span(), &at, format!("invalid path_prefix {p:?}: {why}"));
    None
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
