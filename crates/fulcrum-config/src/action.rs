//! A route's action: exactly one of `pool`, `split`, `redirect`, `respond`.

use std::collections::HashSet;

use http::{HeaderValue, StatusCode};

use crate::decode::{self, one_of, Ctx, Table, Value, Where};
use crate::model::{Action, SplitTarget};
use crate::pool::PoolNames;
use crate::route::ACTIONS;

const SPLIT_KEYS: &[&str] = &["pool", "weight"];
const REDIRECT_KEYS: &[&str] = &["to", "status"];
const RESPOND_KEYS: &[&str] = &["status", "body"];
pub(crate) const REDIRECT_STATUSES: &[u16] = &[301, 302, 303, 307, 308];

/// Reads the route's action keys; every present action is validated, and exactly one is
/// required.
pub(crate) fn action(
    ctx: &mut Ctx<'_>,
    route: &Table<'_, '_>,
    pools: &PoolNames,
) -> Option<Action> {
    let present: Vec<&str> = ACTIONS
        .iter()
        .copied()
        .filter(|a| route.get(a).is_some())
        .collect();
    let mut decoded = Vec::new();
    for &key in &present {
        let a = route.get(key).and_then(|v| {
            let at = route.at(key);
            match key {
                "pool" => pool_ref(ctx, v, at, pools).map(Action::Pool),
                "split" => split(ctx, v, at, pools).map(Action::Split),
                "redirect" => redirect(ctx, v, at),
                _ => respond(ctx, v, at),
            }
        });
        decoded.push(a);
    }
    match present.as_slice() {
        [] => {
            let msg = format!("no action (expected exactly one of: {})", one_of(ACTIONS));
            ctx.error(&route.span, &route.at, msg);
            None
        }
        [_] => decoded.pop().flatten(),
        [_, extra @ ..] => {
            for key in extra {
                if let Some(span) = route.key_span(key) {
                    let msg = format!(
                        "more than one action ({}); a route takes exactly one of: {}",
                        present.join(", "),
                        one_of(ACTIONS)
                    );
                    ctx.error(&span, &route.at, msg);
                }
            }
            None
        }
    }
}

/// A pool name that must be defined in the file.
pub(crate) fn pool_ref(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    pools: &PoolNames,
) -> Option<String> {
    let name = decode::non_empty(ctx, v, at.clone())?;
    if pools.contains(&name) {
        return Some(name);
    }
    let defined = if pools.is_empty() {
        "no pools are defined".to_owned()
    } else {
        format!("defined pools: {}", pools.list())
    };
    ctx.error(&v.span(), &at, format!("unknown pool {name:?} ({defined})"));
    None
}

/// `split = [{ pool, weight }, ...]`: weights may be 0 but not all of them; zero-weight
/// targets are validated, then left out of the model.
fn split(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    pools: &PoolNames,
) -> Option<Vec<SplitTarget>> {
    let expected = "an array of { pool, weight } tables";
    let items = decode::array(ctx, v, &at, expected)?;
    if items.is_empty() {
        ctx.error(&v.span(), &at, "must list at least one { pool, weight }");
        return None;
    }
    let mut seen = HashSet::new();
    let mut out = Some(Vec::new());
    for (i, item) in items.iter().enumerate() {
        let Some(t) = Table::open(ctx, item, at.index(i), SPLIT_KEYS) else {
            out = None;
            continue;
        };
        let pool = t.required(ctx, "pool", |ctx, v, at| pool_ref(ctx, v, at, pools));
        if let (Some(p), Some(pv)) = (&pool, t.get("pool")) {
            if !seen.insert(p.clone()) {
                ctx.error(
                    &pv.span(),
                    &t.at("pool"),
                    format!("pool {p:?} is listed twice in this split"),
                );
            }
        }
        let weight = t.required(ctx, "weight", |ctx, v, at| {
            decode::u32_at_least(ctx, v, at, 0)
        });
        out = match (out, pool, weight) {
            (Some(mut all), Some(pool), Some(weight)) => {
                all.push(SplitTarget { pool, weight });
                Some(all)
            }
            _ => None,
        };
    }
    let mut targets = out?;
    if targets.iter().all(|t| t.weight == 0) {
        ctx.error(&v.span(), &at, "weights must not all be 0");
        return None;
    }
    targets.retain(|t| t.weight > 0);
    Some(targets)
}

fn redirect(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Action> {
    let t = Table::open(ctx, v, at, REDIRECT_KEYS)?;
    let to = t.required(ctx, "to", |ctx, v, at| {
        let to = decode::non_empty(ctx, v, at.clone())?;
        if HeaderValue::from_str(&to).is_err() {
            let msg = format!("{to:?} cannot be sent in a Location header");
            ctx.error(&v.span(), &at, msg);
            return None;
        }
        Some(to)
    });
    let status = t.or(
        ctx,
        "status",
        StatusCode::MOVED_PERMANENTLY,
        |ctx, v, at| {
            let n = decode::integer(ctx, v, at.clone(), i64::MIN, i64::MAX)?;
            let allowed = REDIRECT_STATUSES.iter().find(|&&s| i64::from(s) == n);
            match allowed.and_then(|&s| StatusCode::from_u16(s).ok()) {
                Some(s) => Some(s),
                None => {
                    let list: Vec<String> = REDIRECT_STATUSES.iter().map(u16::to_string).collect();
                    let msg = format!(
                        "invalid redirect status {n} (expected one of: {})",
                        list.join(", ")
                    );
                    ctx.error(&v.span(), &at, msg);
                    None
                }
            }
        },
    );
    Some(Action::Redirect {
        to: to?,
        status: status?,
    })
}

fn respond(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Action> {
    let t = Table::open(ctx, v, at, RESPOND_KEYS)?;
    let status = t.or(ctx, "status", StatusCode::OK, |ctx, v, at| {
        let n = decode::integer(ctx, v, at, 100, 599)?;
        StatusCode::from_u16(u16::try_from(n).ok()?).ok()
    });
    let body = t.or(ctx, "body", String::new(), decode::string);
    Some(Action::Respond {
        status: status?,
        body: body?,
    })
}
