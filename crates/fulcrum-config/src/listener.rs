//! `[[listener]]`: name, binds, protocol, timeouts, limits, and which of the TLS-related
//! options (`tls`, `https_redirect`, `hsts`) the protocol allows. Routes are in `route.rs`,
//! the TLS tables themselves in `tls.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;

use toml::de::DeValue;

use crate::decode::{self, Ctx, Table, Value, Where, Zero};
use crate::model::{Engine, Limits, Listener, Protocol, Timeouts};
use crate::pool::PoolNames;
use crate::route::{self, RouteRules};
use crate::tls;

const LISTENER_KEYS: &[&str] = &[
    "name",
    "bind",
    "protocol",
    "pool",
    "timeouts",
    "limits",
    "tls",
    "https_redirect",
    "https_port",
    "hsts",
    "route",
    "trusted_proxies",
    "engine",
    "proxy_protocol",
    "rate_limit",
    "access",
    "auth",
    "waf",
];
const PROXY_PROTOCOL_KEYS: &[&str] = &["trusted"];
const TIMEOUT_KEYS: &[&str] = &["header", "idle", "request", "send"];
const LIMIT_KEYS: &[&str] = &[
    "max_header_bytes",
    "max_body_bytes",
    "max_connections",
    "h2_max_concurrent_streams",
    "h2_max_backend_connections",
    "max_flows",
    "max_connections_per_ip",
    "new_connections_per_ip",
];
pub(crate) const PROTOCOLS: &[&str] = &["http", "https", "tcp", "udp", "tls_passthrough"];

pub(crate) const MIN_HEADER_BYTES: u64 = 8 * 1024;
pub(crate) const MAX_HEADER_BYTES: u64 = 1024 * 1024;
pub(crate) const MAX_CONNECTIONS: i64 = u32::MAX as i64;
/// Upper bound of `max_flows`.
pub(crate) const MAX_FLOWS: i64 = u32::MAX as i64;
/// Upper bound of `h2_max_concurrent_streams` and `h2_max_backend_connections`.
pub(crate) const MAX_H2_STREAMS: i64 = 10_000;
/// `https_port` when `https_redirect = true` leaves it out.
pub(crate) const DEFAULT_HTTPS_PORT: u16 = 443;

/// The protocol's name as written in the file.
pub(crate) fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Http => "http",
        Protocol::Https => "https",
        Protocol::TlsPassthrough => "tls_passthrough",
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// Addresses already bound by the admin API or an earlier listener, TCP and UDP apart (they
/// are separate port spaces: DNS listens on port 53 of both).
#[derive(Default)]
pub(crate) struct Binds(HashMap<(bool, SocketAddr), String>);

impl Binds {
    /// Claims `addr` (a UDP port when `udp`) for `owner`; reports it if someone already has
    /// it. Port 0 (an ephemeral port picked at bind time) never conflicts.
    pub(crate) fn claim(
        &mut self,
        ctx: &mut Ctx<'_>,
        (udp, addr): (bool, SocketAddr),
        span: &Range<usize>,
        at: &Where,
        owner: &str,
    ) {
        if addr.port() == 0 {
            return;
        }
        match self.0.get(&(udp, addr)) {
            Some(first) => ctx.error(span, at, format!("{addr} is already bound by {first}")),
            None => {
                self.0.insert((udp, addr), owner.to_owned());
            }
        }
    }
}

/// The `[[listener]]` array.
pub(crate) fn listeners(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    pools: &PoolNames,
    binds: &mut Binds,
) -> Option<Vec<Listener>> {
    let items = decode::array(ctx, v, &at, "an array of tables ([[listener]])")?;
    let mut names: HashMap<String, ()> = HashMap::new();
    let mut out = Some(Vec::with_capacity(items.len()));
    for (i, item) in items.iter().enumerate() {
        let label = match Table::peek_str(item, "name") {
            Some(name) => format!("listener {name:?}"),
            None => format!("listener #{}", i + 1),
        };
        let l = listener(
            ctx,
            item,
            Where::root().entity(&label),
            &label,
            pools,
            binds,
        );
        if let Some(l) = &l {
            if names.insert(l.name.clone(), ()).is_some() {
                let span = Table::open_quiet(item)
                    .and_then(|t| t.get("name"))
                    .map_or(item.span(), Value::span);
                ctx.error(
                    &span,
                    &Where::root().entity(&label),
                    format!("duplicate listener name {:?}", l.name),
                );
            }
        }
        out = out.zip(l).map(|(mut all, l)| {
            all.push(l);
            all
        });
    }
    out
}

fn listener(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    label: &str,
    pools: &PoolNames,
    binds: &mut Binds,
) -> Option<Listener> {
    let t = Table::open(ctx, v, at, LISTENER_KEYS)?;
    let name = t.required(ctx, "name", decode::non_empty);
    let addrs = t.required(ctx, "bind", bind_list);
    let protocol = t.or(ctx, "protocol", Protocol::Http, |ctx, v, at| {
        let s = decode::string(ctx, v, at)?;
        match s.as_str() {
            "http" => Some(Protocol::Http),
            "https" => Some(Protocol::Https),
            "tls_passthrough" => Some(Protocol::TlsPassthrough),
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            other => {
                let expected = decode::one_of(PROTOCOLS);
                let msg = format!("unknown protocol {other:?} (expected one of: {expected})");
                ctx.error(&v.span(), &t.at, msg);
                None
            }
        }
    });
    if let Some(addrs) = &addrs {
        let udp = protocol == Some(Protocol::Udp);
        for (addr, span, at) in addrs {
            binds.claim(ctx, (udp, *addr), span, at, label);
        }
    }
    let pool = listener_pool(ctx, &t, protocol, pools);
    let relayed = match protocol {
        Some(Protocol::Tcp) => {
            Some("a tcp listener has no routes: it relays every connection to its pool")
        }
        Some(Protocol::Udp) => {
            Some("a udp listener has no routes: it relays every client's datagrams to its pool")
        }
        _ => None,
    };
    if let Some(no_routes) = relayed {
        for (key, why) in [
            ("route", no_routes),
            ("engine", "engine is for http and https listeners"),
        ] {
            if let Some(span) = t.key_span(key) {
                ctx.error(&span, &t.at(key), why);
            }
        }
    }
    let tls = listener_tls(ctx, &t, protocol);
    let https_redirect = https_redirect(ctx, &t, protocol);
    let hsts = match (t.get("hsts"), t.key_span("hsts"), protocol) {
        (Some(_), Some(span), Some(p)) if p != Protocol::Https => {
            let why = match p {
                Protocol::TlsPassthrough | Protocol::Tcp | Protocol::Udp => format!(
                    "a {} listener does not see the HTTP inside; the backends send their own \
                     headers",
                    protocol_name(p)
                ),
                _ => "browsers ignore Strict-Transport-Security over plain http".to_owned(),
            };
            let msg = format!(
                "[listener.hsts] is only for https listeners (this one is {}); {why}",
                protocol_name(p)
            );
            ctx.error(&span, &t.at, msg);
            None
        }
        (Some(v), _, _) => tls::hsts(ctx, v, t.at("hsts")).map(Some),
        _ => Some(None),
    };
    let trusted_proxies = trusted_proxies(ctx, &t, protocol);
    let engine = t.or(ctx, "engine", Engine::default(), |ctx, v, at| {
        let s = decode::string(ctx, v, at)?;
        match Engine::from_name(&s) {
            Some(e) => Some(e),
            None => {
                let msg = format!(
                    "unknown engine {s:?} (expected one of: {})",
                    decode::one_of(Engine::NAMES)
                );
                ctx.error(&v.span(), &t.at, msg);
                None
            }
        }
    });
    if let (Some(span), Some(Protocol::Udp)) = (t.key_span("proxy_protocol"), protocol) {
        ctx.error(
            &span,
            &t.at("proxy_protocol"),
            "[listener.proxy_protocol] is for tcp, tls_passthrough, http and https listeners: \
             a udp listener does not read PROXY headers from front balancers (its pool may \
             send them to its backends: proxy_protocol = \"v2\" in [pool.NAME])",
        );
    }
    let proxy_protocol = t.or(ctx, "proxy_protocol", None, |ctx, v, at| {
        if protocol == Some(Protocol::Udp) {
            return None;
        }
        let pp = Table::open(ctx, v, at, PROXY_PROTOCOL_KEYS)?;
        let trusted = pp.required(ctx, "trusted", crate::cidr::list)?;
        if trusted.is_empty() {
            let span = pp.get("trusted").map_or(pp.span.clone(), Value::span);
            ctx.error(
                &span,
                &pp.at("trusted"),
                "must list the front load balancers (CIDRs) that send the header",
            );
            return None;
        }
        Some(Some(crate::model::ProxyProtocolIn { trusted }))
    });
    let timeouts = t.or(
        ctx,
        "timeouts",
        Timeouts::defaults_for(protocol),
        |ctx, v, at| timeouts(ctx, v, at, protocol),
    );
    let limits = t.or(ctx, "limits", Limits::default(), |ctx, v, at| {
        limits(ctx, v, at, protocol)
    });
    let client_auth = tls
        .as_ref()
        .map(|tls| tls.as_ref().is_some_and(|tls| tls.client_auth.is_some()));
    let guards = crate::guard::guards(
        ctx,
        &t,
        crate::guard::Place::Listener(protocol),
        crate::guard::On {
            protocol,
            client_auth,
        },
    );
    let rules = RouteRules {
        protocol,
        client_auth,
        auth: guards
            .as_ref()
            .and_then(|g| g.auth.as_ref())
            .map(|a| a.kind.name()),
    };
    let routes = t.or(ctx, "route", Vec::new(), |ctx, v, key_at| {
        route::routes(ctx, v, key_at, &t.at, pools, &rules)
    });
    Some(Listener {
        name: name?,
        binds: addrs?.into_iter().map(|(a, _, _)| a).collect(),
        protocol: protocol?,
        timeouts: timeouts?,
        limits: limits?,
        routes: routes?,
        tls: tls?,
        https_redirect: https_redirect?,
        hsts: hsts?,
        trusted_proxies: trusted_proxies?,
        engine: engine?,
        pool: pool?,
        proxy_protocol: proxy_protocol?,
        guards: guards?,
    })
}

/// `pool`: required on tcp and udp listeners (a defined pool), refused on the others, which
/// name their pools in routes.
fn listener_pool(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    protocol: Option<Protocol>,
    pools: &PoolNames,
) -> Option<Option<String>> {
    match (t.get("pool"), protocol) {
        (Some(v), Some(p)) if p.has_pool() => {
            crate::action::pool_ref(ctx, v, t.at("pool"), pools).map(Some)
        }
        (None, Some(p)) if p.has_pool() => {
            let span = t.get("protocol").map_or(t.span.clone(), Value::span);
            let what = match p {
                Protocol::Udp => "a udp listener needs pool = \"NAME\": the pool its clients' datagrams are relayed to",
                _ => "a tcp listener needs pool = \"NAME\": the pool its connections are relayed to",
            };
            ctx.error(&span, &t.at, what);
            None
        }
        (Some(_), Some(p)) => {
            let span = t.key_span("pool").unwrap_or_else(|| t.span.clone());
            let msg = format!(
                "pool is for tcp and udp listeners (this one is {}); {} listeners name their \
                 pools in [[listener.route]]",
                protocol_name(p),
                protocol_name(p)
            );
            ctx.error(&span, &t.at, msg);
            None
        }
        (_, None) => None,
        (None, Some(_)) => Some(None),
    }
}

/// Refuses `key` of `t` on a tcp or udp listener, which does not use it.
fn http_only(ctx: &mut Ctx<'_>, t: &Table<'_, '_>, key: &str, protocol: Option<Protocol>) {
    let Some(p @ (Protocol::Tcp | Protocol::Udp)) = protocol else {
        return;
    };
    if let Some(span) = t.key_span(key) {
        let msg = format!(
            "{key} is for http listeners; a {} listener does not use it",
            protocol_name(p)
        );
        ctx.error(&span, &t.at(key), msg);
    }
}

/// Refuses `key` of `t` on a udp listener, which does not use it (`why` says what it is for).
fn not_udp(ctx: &mut Ctx<'_>, t: &Table<'_, '_>, key: &str, protocol: Option<Protocol>, why: &str) {
    if protocol != Some(Protocol::Udp) {
        return;
    }
    if let Some(span) = t.key_span(key) {
        let msg = format!("{key} is {why}; a udp listener does not use it");
        ctx.error(&span, &t.at(key), msg);
    }
}

/// `trusted_proxies`: CIDRs of the front proxies whose forwarding headers count; not for
/// `tls_passthrough` listeners, which see no HTTP.
fn trusted_proxies(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    protocol: Option<Protocol>,
) -> Option<Vec<crate::model::Cidr>> {
    if let (Some(span), Some(p @ (Protocol::TlsPassthrough | Protocol::Tcp | Protocol::Udp))) =
        (t.key_span("trusted_proxies"), protocol)
    {
        let msg = format!(
            "trusted_proxies is for http and https listeners; a {} listener does not see the \
             HTTP headers it would apply to",
            protocol_name(p)
        );
        ctx.error(&span, &t.at("trusted_proxies"), msg);
        return None;
    }
    t.or(ctx, "trusted_proxies", Vec::new(), crate::cidr::list)
}

/// `[listener.tls]`: required for https, refused for every other protocol. `protocol` is
/// `None` when it is itself in error: the table is then checked on its own.
fn listener_tls(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    protocol: Option<Protocol>,
) -> Option<Option<crate::model::ListenerTls>> {
    match (t.get("tls"), t.key_span("tls"), protocol) {
        (Some(_), Some(span), Some(p)) if p != Protocol::Https => {
            let why = match p {
                Protocol::TlsPassthrough => {
                    "tls_passthrough listeners do not terminate TLS: the backends present \
                     their own certificates"
                }
                Protocol::Udp => {
                    "a udp listener relays datagrams as they come (DTLS is not \
                                  terminated)"
                }
                _ => "set protocol = \"https\" to terminate TLS here",
            };
            let msg = format!(
                "[listener.tls] is only for https listeners (this one is {}); {why}",
                protocol_name(p)
            );
            ctx.error(&span, &t.at, msg);
            None
        }
        (Some(v), _, _) => tls::listener_tls(ctx, v, t.at("tls")).map(Some),
        (None, _, Some(Protocol::Https)) => {
            let span = t.get("protocol").map_or(t.span.clone(), Value::span);
            ctx.error(
                &span,
                &t.at,
                "protocol \"https\" needs a [listener.tls] table with at least one \
                 [[listener.tls.cert]] (cert and key files)",
            );
            None
        }
        (None, _, _) => Some(None),
    }
}

/// `https_redirect` and `https_port`: `Some(port)` when the listener redirects to https.
fn https_redirect(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    protocol: Option<Protocol>,
) -> Option<Option<u16>> {
    let redirect = t.or(ctx, "https_redirect", false, decode::boolean);
    let port = t.or(ctx, "https_port", DEFAULT_HTTPS_PORT, |ctx, v, at| {
        let n = decode::integer(ctx, v, at, 1, i64::from(u16::MAX))?;
        u16::try_from(n).ok()
    });
    if let (Some(true), Some(span), Some(p)) = (redirect, t.key_span("https_redirect"), protocol) {
        if p != Protocol::Http {
            let msg = format!(
                "https_redirect is only for http listeners (this one is {})",
                protocol_name(p)
            );
            ctx.error(&span, &t.at, msg);
            return None;
        }
    }
    if let (Some(false), Some(span)) = (redirect, t.key_span("https_port")) {
        ctx.error(
            &span,
            &t.at,
            "https_port is only used with https_redirect = true",
        );
        return None;
    }
    match redirect? {
        true => port.map(Some),
        false => Some(None),
    }
}

/// `bind`: one address or a non-empty list, each with its span and path.
fn bind_list(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
) -> Option<Vec<(SocketAddr, Range<usize>, Where)>> {
    let items: Vec<(&Value<'_>, Where)> = match v.get_ref() {
        DeValue::String(_) => vec![(v, at)],
        DeValue::Array(items) if items.is_empty() => {
            ctx.error(&v.span(), &at, "must list at least one address");
            return None;
        }
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (v, at.index(i)))
            .collect(),
        _ => {
            let msg = format!(
                "expected an address string or a list of them, found {}",
                decode::kind(v)
            );
            ctx.error(&v.span(), &at, msg);
            return None;
        }
    };
    let mut out = Some(Vec::with_capacity(items.len()));
    for (v, at) in items {
        let addr = decode::bind_addr(ctx, v, at.clone());
        out = out.zip(addr).map(|(mut all, addr)| {
            all.push((addr, v.span(), at));
            all
        });
    }
    out
}

fn timeouts(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    protocol: Option<Protocol>,
) -> Option<Timeouts> {
    let t = Table::open(ctx, v, at, TIMEOUT_KEYS)?;
    let d = Timeouts::defaults_for(protocol);
    for key in ["request", "send"] {
        http_only(ctx, &t, key, protocol);
    }
    not_udp(
        ctx,
        &t,
        "header",
        protocol,
        "for request heads and PROXY headers, which datagrams do not have",
    );
    let positive =
        |ctx: &mut Ctx<'_>, v: &Value<'_>, at| decode::duration(ctx, v, at, Zero::Rejected);
    let header = t.or(ctx, "header", d.header, positive);
    let idle = t.or(ctx, "idle", d.idle, positive);
    let request = t.or(ctx, "request", d.request, positive);
    let send = t.or(ctx, "send", d.send, positive);
    Some(Timeouts {
        header: header?,
        idle: idle?,
        request: request?,
        send: send?,
    })
}

fn limits(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    protocol: Option<Protocol>,
) -> Option<Limits> {
    let t = Table::open(ctx, v, at, LIMIT_KEYS)?;
    for key in [
        "max_header_bytes",
        "max_body_bytes",
        "h2_max_concurrent_streams",
        "h2_max_backend_connections",
    ] {
        http_only(ctx, &t, key, protocol);
    }
    not_udp(
        ctx,
        &t,
        "max_connections",
        protocol,
        "for connections (a udp listener is bounded by max_flows)",
    );
    if let (Some(span), Some(p)) = (t.key_span("max_flows"), protocol) {
        if p != Protocol::Udp {
            let msg = format!(
                "max_flows is for udp listeners (this one is {}); connections are bounded by \
                 max_connections",
                protocol_name(p)
            );
            ctx.error(&span, &t.at("max_flows"), msg);
        }
    }
    for key in ["max_connections_per_ip", "new_connections_per_ip"] {
        not_udp(
            ctx,
            &t,
            key,
            protocol,
            "for connections (a udp listener is bounded by max_flows)",
        );
    }
    let d = Limits::default();
    let per_ip = t.or(ctx, "max_connections_per_ip", None, |ctx, v, at| {
        decode::integer(ctx, v, at, 1, i64::from(u32::MAX))
            .and_then(|n| u32::try_from(n).ok().map(Some))
    });
    let new_per_ip = t.or(ctx, "new_connections_per_ip", None, |ctx, v, at| {
        crate::guard::per_second(ctx, v, at).map(Some)
    });
    let header = t.or(
        ctx,
        "max_header_bytes",
        d.max_header_bytes as u64,
        |ctx, v, at| decode::size(ctx, v, at, MIN_HEADER_BYTES, MAX_HEADER_BYTES),
    );
    let body = t.or(ctx, "max_body_bytes", d.max_body_bytes, |ctx, v, at| {
        decode::size(ctx, v, at, 0, u64::MAX)
    });
    let connections = t.or(
        ctx,
        "max_connections",
        d.max_connections as i64,
        |ctx, v, at| decode::integer(ctx, v, at, 1, MAX_CONNECTIONS),
    );
    let streams = t.or(
        ctx,
        "h2_max_concurrent_streams",
        i64::from(d.h2_max_concurrent_streams),
        |ctx, v, at| decode::integer(ctx, v, at, 1, MAX_H2_STREAMS),
    );
    let backend_conns = t.or(
        ctx,
        "h2_max_backend_connections",
        d.h2_max_backend_connections as i64,
        |ctx, v, at| decode::integer(ctx, v, at, 1, MAX_H2_STREAMS),
    );
    let flows = t.or(ctx, "max_flows", i64::from(d.max_flows), |ctx, v, at| {
        decode::integer(ctx, v, at, 1, MAX_FLOWS)
    });
    Some(Limits {
        max_flows: u32::try_from(flows?).ok()?,
        max_header_bytes: usize::try_from(header?).ok()?,
        max_body_bytes: body?,
        max_connections: usize::try_from(connections?).ok()?,
        h2_max_concurrent_streams: u32::try_from(streams?).ok()?,
        h2_max_backend_connections: usize::try_from(backend_conns?).ok()?,
        max_connections_per_ip: per_ip?,
        new_connections_per_ip: new_per_ip?,
    })
}
