//! `[pool.NAME]`: balance, backends (by IP or by DNS name), the pool's timeouts, and its
//! `health`, `outlier`, `retry` and `tls` tables (`health` is read in `health.rs`, `tls` in
//! `tls.rs`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use toml::de::DeValue;

use crate::decode::{self, one_of, Ctx, Table, Value, Where, Zero};
use crate::model::{Backend, Balance, DnsBackend, Outlier, Pool, ProxyVersion, Retry};
use crate::summary::duration as show;

const POOL_KEYS: &[&str] = &[
    "balance",
    "backends",
    "connect_timeout",
    "drain_timeout",
    "slow_start",
    "dns_refresh",
    "health",
    "outlier",
    "retry",
    "tls",
    "proxy_protocol",
];
const BACKEND_KEYS: &[&str] = &["address", "weight"];
const OUTLIER_KEYS: &[&str] = &[
    "consecutive_failures",
    "base_ejection_time",
    "max_ejection_time",
    "max_ejection_percent",
];
const RETRY_KEYS: &[&str] = &["attempts", "budget_percent"];

/// `outlier.consecutive_failures` is `0..=MAX_CONSECUTIVE_FAILURES`.
const MAX_CONSECUTIVE_FAILURES: u32 = 1000;
/// `retry.attempts` is `0..=MAX_RETRY_ATTEMPTS`.
const MAX_RETRY_ATTEMPTS: u32 = 5;

/// Every pool name written in the file, valid or not: route references are checked against
/// these so that one broken pool does not also make every route using it an error.
pub(crate) fn declared_names(v: &Value<'_>) -> PoolNames {
    let ordered: Vec<String> = match v.get_ref() {
        DeValue::Table(t) => t.iter().map(|(k, _)| k.get_ref().to_string()).collect(),
        _ => Vec::new(),
    };
    PoolNames {
        set: ordered.iter().cloned().collect(),
        ordered,
    }
}

/// The pool names of a file, in file order (for messages) and as a set (each route looks its
/// pool up: thousands of routes over thousands of pools must not scan the list each time).
#[derive(Debug, Default)]
pub(crate) struct PoolNames {
    ordered: Vec<String>,
    set: HashSet<String>,
}

impl PoolNames {
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.set.contains(name)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }

    /// `a, b, c`, in file order.
    pub(crate) fn list(&self) -> String {
        self.ordered.join(", ")
    }
}

/// The `[pool]` table of tables.
pub(crate) fn pools(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Vec<Pool>> {
    let DeValue::Table(_) = v.get_ref() else {
        let msg = format!(
            "expected a table of pools ([pool.NAME]), found {}",
            decode::kind(v)
        );
        ctx.error(&v.span(), &at, msg);
        return None;
    };
    let all = Table::open_quiet(v)?;
    let mut out = Some(Vec::new());
    for (name, key_span, value) in all.iter() {
        let at = Where::root().entity(format!("pool {name:?}"));
        if !valid_pool_name(name) {
            ctx.error(
                &key_span,
                &at,
                "invalid pool name (use letters, digits, \"_\", \".\" and \"-\")",
            );
        }
        let p = pool(ctx, value, at, name);
        out = out.zip(p).map(|(mut all, p)| {
            all.push(p);
            all
        });
    }
    out
}

pub(crate) fn valid_pool_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn pool(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where, name: &str) -> Option<Pool> {
    let t = Table::open(ctx, v, at, POOL_KEYS)?;
    let balance = t.or(ctx, "balance", Balance::default(), |ctx, v, at| {
        let s = decode::string(ctx, v, at)?;
        match Balance::from_name(&s) {
            Some(b) => Some(b),
            None => {
                let msg = format!(
                    "unknown balance {s:?} (expected one of: {})",
                    one_of(Balance::NAMES)
                );
                ctx.error(&v.span(), &t.at, msg);
                None
            }
        }
    });
    let backends = t.required(ctx, "backends", backends);
    let positive =
        |ctx: &mut Ctx<'_>, v: &Value<'_>, at| decode::duration(ctx, v, at, Zero::Rejected);
    let any = |ctx: &mut Ctx<'_>, v: &Value<'_>, at| decode::duration(ctx, v, at, Zero::Allowed);
    let connect_timeout = t.or(ctx, "connect_timeout", Duration::from_secs(2), positive);
    let drain_timeout = t.or(ctx, "drain_timeout", Duration::from_secs(30), any);
    let slow_start = t.or(ctx, "slow_start", Duration::ZERO, any);
    let dns_refresh = t.or(ctx, "dns_refresh", Duration::from_secs(5), positive);
    let health = t.or(ctx, "health", None, |ctx, v, at| {
        crate::health::health(ctx, v, at).map(Some)
    });
    let outlier = t.or(ctx, "outlier", Outlier::default(), outlier);
    let retry = t.or(ctx, "retry", Retry::default(), retry);
    let tls = t.or(ctx, "tls", None, |ctx, v, at| {
        crate::tls::pool_tls(ctx, v, at).map(Some)
    });
    let proxy_protocol = t.or(ctx, "proxy_protocol", None, |ctx, v, at| {
        let s = decode::string(ctx, v, at.clone())?;
        match s.as_str() {
            "v1" => Some(Some(ProxyVersion::V1)),
            "v2" => Some(Some(ProxyVersion::V2)),
            other => {
                let msg =
                    format!("unknown PROXY protocol version {other:?} (expected one of: v1, v2)");
                ctx.error(&v.span(), &at, msg);
                None
            }
        }
    });
    let (backends, dns) = backends?;
    Some(Pool {
        name: name.to_owned(),
        balance: balance?,
        backends,
        dns,
        dns_refresh: dns_refresh?,
        connect_timeout: connect_timeout?,
        drain_timeout: drain_timeout?,
        slow_start: slow_start?,
        health: health?,
        outlier: outlier?,
        retry: retry?,
        tls: tls?,
        proxy_protocol: proxy_protocol?,
    })
}

/// `[pool.NAME.outlier]`: passive health.
fn outlier(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Outlier> {
    let t = Table::open(ctx, v, at, OUTLIER_KEYS)?;
    let d = Outlier::default();
    let consecutive_failures = t.or(
        ctx,
        "consecutive_failures",
        d.consecutive_failures,
        |ctx, v, at| decode::u32_in(ctx, v, at, 0, MAX_CONSECUTIVE_FAILURES),
    );
    let positive =
        |ctx: &mut Ctx<'_>, v: &Value<'_>, at| decode::duration(ctx, v, at, Zero::Rejected);
    let base = t.or(ctx, "base_ejection_time", d.base_ejection_time, positive);
    let max = t.or(ctx, "max_ejection_time", d.max_ejection_time, positive);
    let max_ejection_percent = t.or(
        ctx,
        "max_ejection_percent",
        d.max_ejection_percent,
        |ctx, v, at| decode::u32_in(ctx, v, at, 0, 100),
    );
    let (base, max) = (base?, max?);
    if max < base {
        match (t.get("max_ejection_time"), t.get("base_ejection_time")) {
            (Some(mv), _) => ctx.error(
                &mv.span(),
                &t.at("max_ejection_time"),
                format!(
                    "must not be shorter than base_ejection_time ({}), found {}",
                    show(base),
                    show(max)
                ),
            ),
            (None, Some(bv)) => ctx.error(
                &bv.span(),
                &t.at("base_ejection_time"),
                format!(
                    "must not be longer than max_ejection_time ({}, the default), found {}; \
                     set a longer max_ejection_time",
                    show(max),
                    show(base)
                ),
            ),
            (None, None) => ctx.error(
                &t.span,
                &t.at,
                "max_ejection_time is shorter than base_ejection_time",
            ),
        }
        return None;
    }
    Some(Outlier {
        consecutive_failures: consecutive_failures?,
        base_ejection_time: base,
        max_ejection_time: max,
        max_ejection_percent: max_ejection_percent?,
    })
}

/// `[pool.NAME.retry]`.
fn retry(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Retry> {
    let t = Table::open(ctx, v, at, RETRY_KEYS)?;
    let d = Retry::default();
    let attempts = t.or(ctx, "attempts", d.attempts, |ctx, v, at| {
        decode::u32_in(ctx, v, at, 0, MAX_RETRY_ATTEMPTS)
    });
    let budget_percent = t.or(ctx, "budget_percent", d.budget_percent, |ctx, v, at| {
        decode::u32_in(ctx, v, at, 0, 100)
    });
    Some(Retry {
        attempts: attempts?,
        budget_percent: budget_percent?,
    })
}

/// A backend address as written: an IP socket address, or a DNS name and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Address {
    Ip(SocketAddr),
    /// The host is lowercased.
    Dns(String, u16),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(a) => write!(f, "{a}"),
            Address::Dns(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

/// The `backends` array, split into backends by IP and backends by DNS name (in file order
/// within each list). Never both empty.
fn backends(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
) -> Option<(Vec<Backend>, Vec<DnsBackend>)> {
    let expected = "an array of { address, weight } tables";
    let items = decode::array(ctx, v, &at, expected)?;
    if items.is_empty() {
        ctx.error(&v.span(), &at, "must list at least one backend");
        return None;
    }
    let mut seen: HashMap<Address, usize> = HashMap::new();
    let mut out = Some((Vec::new(), Vec::new()));
    for (i, item) in items.iter().enumerate() {
        let Some(t) = Table::open(ctx, item, at.index(i), BACKEND_KEYS) else {
            out = None;
            continue;
        };
        let address = t.required(ctx, "address", backend_addr);
        if let (Some(a), Some(av)) = (&address, t.get("address")) {
            if let Some(first) = seen.insert(a.clone(), i) {
                let msg = format!("duplicate backend {a} (also backends[{first}])");
                ctx.error(&av.span(), &t.at("address"), msg);
            }
        }
        let weight = t.or(ctx, "weight", 1, |ctx, v, at| {
            decode::u32_at_least(ctx, v, at, 1)
        });
        out = match (out, address, weight) {
            (Some((mut ips, dns)), Some(Address::Ip(address)), Some(weight)) => {
                ips.push(Backend { address, weight });
                Some((ips, dns))
            }
            (Some((ips, mut dns)), Some(Address::Dns(host, port)), Some(weight)) => {
                dns.push(DnsBackend { host, port, weight });
                Some((ips, dns))
            }
            _ => None,
        };
    }
    out
}

fn backend_addr(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Address> {
    let s = decode::string(ctx, v, at.clone())?;
    match parse_address(&s) {
        Ok(a) => Some(a),
        Err(msg) => {
            ctx.error(&v.span(), &at, msg);
            None
        }
    }
}

/// What a backend address may look like, for error messages.
const EXPECTED_ADDRESS: &str = "(expected IP:PORT or HOST:PORT, e.g. \"127.0.0.1:9001\", \
     \"[::1]:9001\" or \"app.internal:9001\")";

/// `IP:PORT` or `HOST:PORT`, port not 0; the error says what is wrong and what is valid.
fn parse_address(s: &str) -> Result<Address, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        if a.port() == 0 {
            return Err(format!(
                "invalid address {s:?}: port 0 cannot be connected to"
            ));
        }
        return Ok(Address::Ip(a));
    }
    if s.contains("://") {
        return Err(format!(
            "invalid address {s:?}: no scheme, only the host and port {EXPECTED_ADDRESS}"
        ));
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!(
            "invalid address {s:?}: missing the port {EXPECTED_ADDRESS}"
        ));
    };
    // An unbracketed or malformed IPv6 address, or nothing before the colon.
    if host.is_empty() || host.contains([':', '[', ']']) {
        return Err(format!("invalid address {s:?} {EXPECTED_ADDRESS}"));
    }
    let port = match port.parse::<u16>() {
        Ok(0) => {
            return Err(format!(
                "invalid address {s:?}: port 0 cannot be connected to"
            ))
        }
        Ok(p) => p,
        Err(_) => {
            return Err(format!(
                "invalid address {s:?}: port {port:?} is not a number from 1 to 65535"
            ))
        }
    };
    // Without a letter this is a mistyped IP address (`10.0.0.256`), not a name.
    if !host.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(format!(
            "invalid address {s:?}: {host:?} is not a valid IP address {EXPECTED_ADDRESS}"
        ));
    }
    if let Err(why) = check_dns_name(host) {
        return Err(format!(
            "invalid host name {host:?}: {why} (e.g. \"app.internal:9001\")"
        ));
    }
    Ok(Address::Dns(host.to_ascii_lowercase(), port))
}

/// A DNS name: dot-separated labels of 1 to 63 letters, digits and `-` (not first or last),
/// at most 253 characters in all.
pub(crate) fn check_dns_name(host: &str) -> Result<(), String> {
    if host.len() > 253 {
        return Err(format!(
            "is {} characters long, at most 253 are allowed",
            host.len()
        ));
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err("has an empty label (a dot at the start or end, or two in a row)".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!(
                "label {label:?} may only contain letters, digits and \"-\""
            ));
        }
        if label.len() > 63 {
            return Err(format!(
                "label {label:?} is {} characters long, at most 63 are allowed",
                label.len()
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} must not start or end with \"-\""));
        }
    }
    Ok(())
}
