//! `[pool.NAME]`: balance, backends and the pool's timeouts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use toml::de::DeValue;

use crate::decode::{self, one_of, Ctx, Table, Value, Where, Zero};
use crate::model::{Backend, Balance, Pool};

const POOL_KEYS: &[&str] = &[
    "balance",
    "backends",
    "connect_timeout",
    "drain_timeout",
    "slow_start",
    "health",
];
const BACKEND_KEYS: &[&str] = &["address", "weight"];

/// Every pool name written in the file, valid or not: route references are checked against
/// these so that one broken pool does not also make every route using it an error.
pub(crate) fn declared_names(v: &Value<'_>) -> Vec<String> {
    match v.get_ref() {
        DeValue::Table(t) => t.iter().map(|(k, _)| k.get_ref().to_string()).collect(),
        _ => Vec::new(),
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
    let connect_timeout = t.or(
        ctx,
        "connect_timeout",
        Duration::from_secs(2),
        |ctx, v, at| decode::duration(ctx, v, at, Zero::Rejected),
    );
    let any = |ctx: &mut Ctx<'_>, v: &Value<'_>, at| decode::duration(ctx, v, at, Zero::Allowed);
    let drain_timeout = t.or(ctx, "drain_timeout", Duration::from_secs(30), any);
    // Slow start needs health state to ramp from; until health checks land, only "0s" (off)
    // is accepted, so a file never means more than Fulcrum does.
    let slow_start = t.or(ctx, "slow_start", Duration::ZERO, |ctx, v, at| {
        let d = decode::duration(ctx, v, at.clone(), Zero::Allowed)?;
        if !d.is_zero() {
            ctx.error(&v.span(), &at, "slow start is not supported yet (only \"0s\")");
            return None;
        }
        Some(d)
    });
    t.not_supported(ctx, "health", "health checks are not supported yet");
    Some(Pool {
        name: name.to_owned(),
        balance: balance?,
        backends: backends?,
        connect_timeout: connect_timeout?,
        drain_timeout: drain_timeout?,
        slow_start: slow_start?,
    })
}

fn backends(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Vec<Backend>> {
    let expected = "an array of { address, weight } tables";
    let items = decode::array(ctx, v, &at, expected)?;
    if items.is_empty() {
        ctx.error(&v.span(), &at, "must list at least one backend");
        return None;
    }
    let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
    let mut out = Some(Vec::with_capacity(items.len()));
    for (i, item) in items.iter().enumerate() {
        let Some(t) = Table::open(ctx, item, at.index(i), BACKEND_KEYS) else {
            out = None;
            continue;
        };
        let address = t.required(ctx, "address", backend_addr);
        if let (Some(a), Some(av)) = (address, t.get("address")) {
            if let Some(first) = seen.insert(a, i) {
                let msg = format!("duplicate backend {a} (also backends[{first}])");
                ctx.error(&av.span(), &t.at("address"), msg);
            }
        }
        let weight = t.or(ctx, "weight", 1, |ctx, v, at| {
            decode::u32_at_least(ctx, v, at, 1)
        });
        out = match (out, address, weight) {
            (Some(mut all), Some(address), Some(weight)) => {
                all.push(Backend { address, weight });
                Some(all)
            }
            _ => None,
        };
    }
    out
}

/// An IP socket address. Host names are recognised, to say that DNS is not supported yet.
fn backend_addr(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<SocketAddr> {
    let s = decode::string(ctx, v, at.clone())?;
    let msg = match s.parse::<SocketAddr>() {
        Ok(a) if a.port() != 0 => return Some(a),
        Ok(_) => format!("invalid address {s:?}: port 0 cannot be connected to"),
        Err(_) if looks_like_host_port(&s) => format!(
            "DNS names are not supported yet ({s:?}); use an IP address such as \"10.0.0.5:8080\""
        ),
        Err(_) => format!(
            "invalid address {s:?} (expected IP:PORT, e.g. \"127.0.0.1:9001\" or \"[::1]:9001\")"
        ),
    };
    ctx.error(&v.span(), &at, msg);
    None
}

fn looks_like_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    port.parse::<u16>().is_ok()
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && host.bytes().any(|b| b.is_ascii_alphabetic())
}
