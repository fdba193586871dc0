//! The protections of a listener or a route (SPEC "Protections"): `[listener.rate_limit]`,
//! `[listener.access]`, `[listener.auth]` (`auth.rs`), `[listener.waf]` and their route
//! forms, which replace the listener's for that route. The connection
//! limits (`max_connections_per_ip`, `new_connections_per_ip`) are in `[listener.limits]`
//! (`listener.rs`, read by [`per_second`] here).

use crate::decode::{self, Ctx, Table, Value, Where};
use crate::model::{Access, Guards, Protocol, RateKey, RateLimit, Waf, WafMode};

const RATE_LIMIT_KEYS: &[&str] = &["requests_per_second", "burst", "key", "scope", "max_keys"];
const ACCESS_KEYS: &[&str] = &["allow", "deny"];
const WAF_KEYS: &[&str] = &["mode", "paranoia", "max_body_inspect"];
/// Upper bound of `max_body_inspect`.
const MAX_BODY_INSPECT: u64 = 16 << 20;

/// Upper bound of `requests_per_second` and of `new_connections_per_ip`.
pub(crate) const MAX_RATE: i64 = 1_000_000_000;
/// Upper bound of `max_keys`.
const MAX_KEYS: i64 = 10_000_000;

/// Where the protections are written: a listener of `protocol`, or one of its routes.
#[derive(Clone, Copy)]
pub(crate) enum Place {
    Listener(Option<Protocol>),
    /// `auth`: the kind of the listener's own authentication, if any (rate limit keys
    /// `api_key` and `jwt:CLAIM` need one of their kind on the route or the listener).
    Route {
        auth: Option<&'static str>,
    },
}

/// What the listener is, for the checks of its protections: its protocol and whether it
/// verifies client certificates (`None` when unknown).
#[derive(Clone, Copy)]
pub(crate) struct On {
    pub(crate) protocol: Option<Protocol>,
    pub(crate) client_auth: Option<bool>,
}

/// The protections among `t`'s keys.
pub(crate) fn guards(ctx: &mut Ctx<'_>, t: &Table<'_, '_>, place: Place, on: On) -> Option<Guards> {
    let section = match place {
        Place::Listener(_) => "listener",
        Place::Route { .. } => "listener.route",
    };
    let protocol = match place {
        Place::Listener(p) => p,
        Place::Route { .. } => None,
    };
    if let (Some(span), Some(p)) = (t.key_span("auth"), on.protocol) {
        if !p.is_http() {
            let msg = format!(
                "[{section}.auth] authenticates HTTP requests; a {} listener has none",
                crate::listener::protocol_name(p)
            );
            ctx.error(&span, &t.at("auth"), msg);
        }
    }
    let auth = t.or(ctx, "auth", None, |ctx, v, at| {
        crate::auth::auth(ctx, v, at, on.client_auth).map(Some)
    });
    if let (Some(span), Some(p)) = (t.key_span("rate_limit"), protocol) {
        if !p.is_http() {
            let msg = format!(
                "[listener.rate_limit] limits HTTP requests; a {} listener has none (limit its \
                 connections with new_connections_per_ip in [listener.limits])",
                crate::listener::protocol_name(p)
            );
            ctx.error(&span, &t.at("rate_limit"), msg);
        }
    }
    if let (Some(span), Some(p)) = (t.key_span("waf"), protocol) {
        if !p.is_http() {
            let msg = format!(
                "[listener.waf] inspects HTTP requests; a {} listener has none",
                crate::listener::protocol_name(p)
            );
            ctx.error(&span, &t.at("waf"), msg);
        }
    }
    if let (Some(span), Some(Protocol::Udp)) = (t.key_span("access"), protocol) {
        ctx.error(
            &span,
            &t.at("access"),
            "[listener.access] is for tcp, tls_passthrough, http and https listeners; udp \
             listeners do not support it yet",
        );
    }
    let rate_limit = t.or(ctx, "rate_limit", None, |ctx, v, at| {
        rate_limit(ctx, v, at).map(Some)
    });
    let access = t.or(ctx, "access", None, |ctx, v, at| {
        access(ctx, v, at).map(Some)
    });
    // Decoded before any early return below, so that its errors are reported too.
    let waf = t.or(ctx, "waf", None, |ctx, v, at| waf(ctx, v, at).map(Some));
    let (rate_limit, auth) = (rate_limit?, auth?);
    if let (Some(rl), Some(v)) = (&rate_limit, t.get("rate_limit")) {
        let needs = match &rl.key {
            RateKey::ApiKey => Some("api_key"),
            RateKey::Jwt(_) => Some("jwt"),
            _ => None,
        };
        let here = auth.as_ref().map(|a| a.kind.name());
        let listener = match place {
            Place::Route { auth } => auth,
            Place::Listener(_) => None,
        };
        if let Some(kind) = needs.filter(|k| here.or(listener) != Some(*k)) {
            let key_at = Table::open_quiet(v).and_then(|rt| rt.key_span("key"));
            let msg = format!(
                "this key needs authentication of kind = \"{kind}\" on the route or its \
                 listener ([listener.auth] or [listener.route.auth])"
            );
            ctx.error(
                &key_at.unwrap_or_else(|| v.span()),
                &t.at("rate_limit").key("key"),
                msg,
            );
            return None;
        }
    }
    Some(Guards {
        rate_limit,
        access: access?,
        auth,
        waf: waf?,
    })
}

/// `[listener.waf]`: `mode` (block | detect | off, default block), `paranoia` (1..4,
/// default 1), `max_body_inspect` (a size, default 64KiB, at most 16MiB).
fn waf(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Waf> {
    let t = Table::open(ctx, v, at, WAF_KEYS)?;
    let mode = t.or(ctx, "mode", WafMode::Block, |ctx, v, at| {
        let s = decode::string(ctx, v, at.clone())?;
        match s.as_str() {
            "block" => Some(WafMode::Block),
            "detect" => Some(WafMode::Detect),
            "off" => Some(WafMode::Off),
            other => {
                let msg = format!("unknown mode {other:?} (expected one of: block, detect, off)");
                ctx.error(&v.span(), &at, msg);
                None
            }
        }
    });
    let paranoia = t.or(ctx, "paranoia", 1, |ctx, v, at| {
        decode::integer(ctx, v, at, 1, 4)
    });
    let max_body = t.or(
        ctx,
        "max_body_inspect",
        Waf::DEFAULT_MAX_BODY_INSPECT as u64,
        |ctx, v, at| decode::size(ctx, v, at, 0, MAX_BODY_INSPECT),
    );
    Some(Waf {
        mode: mode?,
        paranoia: u8::try_from(paranoia?).ok()?,
        max_body_inspect: usize::try_from(max_body?).ok()?,
    })
}

fn rate_limit(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<RateLimit> {
    let t = Table::open(ctx, v, at, RATE_LIMIT_KEYS)?;
    let rate = t.required(ctx, "requests_per_second", |ctx, v, at| {
        decode::integer(ctx, v, at, 1, MAX_RATE)
    });
    let burst = t.or(ctx, "burst", None, |ctx, v, at| {
        decode::integer(ctx, v, at, 1, MAX_RATE).map(Some)
    });
    let key = t.or(ctx, "key", RateKey::ClientIp, rate_key);
    let scope = t.or(ctx, "scope", (), |ctx, v, at| {
        let s = decode::string(ctx, v, at.clone())?;
        match s.as_str() {
            "local" => Some(()),
            "cluster" => {
                ctx.error(
                    &v.span(),
                    &at,
                    "scope = \"cluster\" needs [cluster].redis, and cluster mode is not \
                     supported yet (use scope = \"local\": each instance limits on its own)",
                );
                None
            }
            other => {
                let msg = format!("unknown scope {other:?} (expected one of: local, cluster)");
                ctx.error(&v.span(), &at, msg);
                None
            }
        }
    });
    let max_keys = t.or(
        ctx,
        "max_keys",
        RateLimit::DEFAULT_MAX_KEYS as i64,
        |ctx, v, at| decode::integer(ctx, v, at, 1, MAX_KEYS),
    );
    scope?;
    let rate = u32::try_from(rate?).ok()?;
    Some(RateLimit {
        requests_per_second: rate,
        burst: match burst? {
            Some(b) => u32::try_from(b).ok()?,
            None => rate,
        },
        key: key?,
        max_keys: usize::try_from(max_keys?).ok()?,
    })
}

/// `key`: `client_ip`, `header:NAME`; `api_key` and `jwt:CLAIM` (which need authentication
/// of their kind, checked in [`guards`]).
fn rate_key(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<RateKey> {
    let s = decode::string(ctx, v, at.clone())?;
    let why = if s == "client_ip" {
        return Some(RateKey::ClientIp);
    } else if s == "api_key" {
        return Some(RateKey::ApiKey);
    } else if let Some(claim) = s.strip_prefix("jwt:").filter(|c| !c.trim().is_empty()) {
        return Some(RateKey::Jwt(claim.trim().to_owned()));
    } else if let Some(name) = s.strip_prefix("header:") {
        match http::HeaderName::from_bytes(name.trim().as_bytes()) {
            Ok(n) => return Some(RateKey::Header(n)),
            Err(_) => format!("{name:?} is not a valid header name"),
        }
    } else if s.starts_with("jwt:") {
        format!("key {s:?} names no claim (expected \"jwt:CLAIM\", e.g. \"jwt:sub\")")
    } else {
        format!(
            "unknown key {s:?} (expected one of: client_ip, \"header:NAME\", api_key, \
             \"jwt:CLAIM\")"
        )
    };
    ctx.error(&v.span(), &at, why);
    None
}

fn access(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Access> {
    let t = Table::open(ctx, v, at, ACCESS_KEYS)?;
    let allow = t.or(ctx, "allow", Vec::new(), crate::cidr::list);
    let deny = t.or(ctx, "deny", Vec::new(), crate::cidr::list);
    let (allow, deny) = (allow?, deny?);
    if allow.is_empty() && deny.is_empty() {
        ctx.error(
            &t.span,
            &t.at,
            "lists no network: give allow = [...] (only these may come), deny = [...], or both",
        );
        return None;
    }
    Some(Access { allow, deny })
}

/// `new_connections_per_ip`: `"50/s"` (or a bare integer, per second).
pub(crate) fn per_second(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<u32> {
    if let toml::de::DeValue::Integer(_) = v.get_ref() {
        return decode::integer(ctx, v, at, 1, MAX_RATE).and_then(|n| u32::try_from(n).ok());
    }
    let s = decode::string(ctx, v, at.clone())?;
    let parsed = s
        .strip_suffix("/s")
        .and_then(|n| n.trim().parse::<u32>().ok())
        .filter(|n| *n >= 1 && i64::from(*n) <= MAX_RATE);
    if parsed.is_none() {
        let msg = format!("invalid rate {s:?} (expected connections per second, e.g. \"50/s\")");
        ctx.error(&v.span(), &at, msg);
    }
    parsed
}
