//! Readers for scalar values. Each checks the type, reports a positioned error and returns
//! `None` when the value is unusable. Every string goes through `${ENV}` interpolation.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::de::DeValue;

use super::{Ctx, Value, Where};
use crate::env::interpolate;
use crate::units::{parse_duration, parse_size};

/// The TOML type of a value, for "expected X, found Y".
pub(crate) fn kind(v: &Value<'_>) -> &'static str {
    match v.get_ref() {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn wrong_type(ctx: &mut Ctx<'_>, v: &Value<'_>, at: &Where, expected: &str) {
    ctx.error(
        &v.span(),
        at,
        format!("expected {expected}, found {}", kind(v)),
    );
}

/// A string, with `${ENV}` references replaced.
pub(crate) fn string(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<String> {
    let DeValue::String(s) = v.get_ref() else {
        wrong_type(ctx, v, &at, "a string");
        return None;
    };
    match interpolate(s, ctx.env()) {
        Ok(value) => {
            if s.contains("${") {
                ctx.interpolated(v.span().start, &value, s);
            }
            Some(value)
        }
        Err(msg) => {
            ctx.error(&v.span(), &at, msg);
            None
        }
    }
}

/// A string that must not be empty (after interpolation).
pub(crate) fn non_empty(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<String> {
    let s = string(ctx, v, at.clone())?;
    if s.is_empty() {
        ctx.error(&v.span(), &at, "must not be empty");
        return None;
    }
    Some(s)
}

/// An integer in `min..=max`.
pub(crate) fn integer(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    min: i64,
    max: i64,
) -> Option<i64> {
    let DeValue::Integer(i) = v.get_ref() else {
        wrong_type(ctx, v, &at, "an integer");
        return None;
    };
    let n = i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok();
    match n {
        Some(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            ctx.error(
                &v.span(),
                &at,
                format!("must be between {min} and {max}, found {}", i.as_str()),
            );
            None
        }
    }
}

/// An integer that fits a `u32` and is at least `min`.
pub(crate) fn u32_at_least(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where, min: u32) -> Option<u32> {
    let n = integer(ctx, v, at, i64::from(min), i64::from(u32::MAX))?;
    u32::try_from(n).ok()
}

/// An integer in `min..=max` that fits a `u32`.
pub(crate) fn u32_in(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    min: u32,
    max: u32,
) -> Option<u32> {
    let n = integer(ctx, v, at, i64::from(min), i64::from(max))?;
    u32::try_from(n).ok()
}

/// `true` or `false`.
pub(crate) fn boolean(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<bool> {
    match v.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        _ => {
            wrong_type(ctx, v, &at, "a boolean (true or false)");
            None
        }
    }
}

/// A number (integer or float) in `0.0..=1.0`.
pub(crate) fn fraction(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<f64> {
    let n = match v.get_ref() {
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
        DeValue::Integer(i) => i.as_str().replace('_', "").parse::<f64>().ok(),
        _ => {
            wrong_type(ctx, v, &at, "a number between 0.0 and 1.0");
            return None;
        }
    };
    match n {
        Some(n) if (0.0..=1.0).contains(&n) => Some(n),
        _ => {
            ctx.error(&v.span(), &at, "must be between 0.0 and 1.0");
            None
        }
    }
}

/// Whether a duration may be zero.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zero {
    Allowed,
    Rejected,
}

/// The longest duration a setting takes unless it says otherwise: every timer fits in an
/// `Instant` with room to spare, and a typo (`"100000h"`) is an error, not a connection that
/// can never time out.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// A duration string such as `"10s"`, at most [`MAX_DURATION`].
pub(crate) fn duration(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    zero: Zero,
) -> Option<Duration> {
    duration_up_to(ctx, v, at, zero, MAX_DURATION)
}

/// A duration string such as `"10s"`, at most `max` (a whole number of hours or more).
pub(crate) fn duration_up_to(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    zero: Zero,
    max: Duration,
) -> Option<Duration> {
    if !matches!(v.get_ref(), DeValue::String(_)) {
        wrong_type(ctx, v, &at, "a duration string with a unit, e.g. \"10s\"");
        return None;
    }
    let s = string(ctx, v, at.clone())?;
    match parse_duration(&s) {
        Ok(d) if d.is_zero() && zero == Zero::Rejected => {
            ctx.error(&v.span(), &at, "must be greater than 0");
            None
        }
        Ok(d) if d > max => {
            let msg = format!("must be at most {}h, found \"{s}\"", max.as_secs() / 3600);
            ctx.error(&v.span(), &at, msg);
            None
        }
        Ok(d) => Some(d),
        Err(msg) => {
            // The detail quotes parts of the value; one from the environment is not echoed.
            let from_env = matches!(v.get_ref(), DeValue::String(raw) if raw.contains("${"));
            let msg = if from_env {
                format!("invalid duration \"{s}\" ({})", crate::units::DURATION_HELP)
            } else {
                msg
            };
            ctx.error(&v.span(), &at, msg);
            None
        }
    }
}

/// A size: an integer number of bytes or a string with a unit, in `min..=max`.
pub(crate) fn size(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where, min: u64, max: u64) -> Option<u64> {
    let n = match v.get_ref() {
        DeValue::Integer(_) => {
            let n = integer(ctx, v, at.clone(), 0, i64::MAX)?;
            u64::try_from(n).ok()?
        }
        DeValue::String(_) => {
            let s = string(ctx, v, at.clone())?;
            match parse_size(&s) {
                Ok(n) => n,
                Err(msg) => {
                    ctx.error(&v.span(), &at, msg);
                    return None;
                }
            }
        }
        _ => {
            wrong_type(
                ctx,
                v,
                &at,
                "a size (bytes as an integer, or a string such as \"16KiB\")",
            );
            return None;
        }
    };
    if !(min..=max).contains(&n) {
        ctx.error(
            &v.span(),
            &at,
            format!(
                "must be between {} and {}, found {}",
                human_size(min),
                human_size(max),
                human_size(n)
            ),
        );
        return None;
    }
    Some(n)
}

/// `32768` as `32KiB`, for messages and the summary.
pub(crate) fn human_size(n: u64) -> String {
    for (unit, m) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= m && n.is_multiple_of(m) {
            return format!("{}{unit}", n / m);
        }
    }
    if n == u64::MAX {
        return "unlimited".to_owned();
    }
    format!("{n}B")
}

/// An IP socket address for binding, `0.0.0.0:8080` or `[::]:8080`.
pub(crate) fn bind_addr(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<SocketAddr> {
    let s = string(ctx, v, at.clone())?;
    match s.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            ctx.error(
                &v.span(),
                &at,
                format!(
                    "invalid address \"{s}\" (expected IP:PORT, e.g. \"0.0.0.0:8080\" or \"[::]:8080\")"
                ),
            );
            None
        }
    }
}

/// The elements of an array.
pub(crate) fn array<'a, 'i>(
    ctx: &mut Ctx<'_>,
    v: &'a Value<'i>,
    at: &Where,
    expected: &str,
) -> Option<&'a [Value<'i>]> {
    match v.get_ref() {
        DeValue::Array(items) => Some(items),
        _ => {
            wrong_type(ctx, v, at, expected);
            None
        }
    }
}

/// A path to a file that must exist and be readable now (certificates, keys, CA bundles): a
/// typo is reported by `fulcrum check`, not at the first handshake. The content is not read
/// here. Relative paths are relative to the working directory, as the process will see them.
pub(crate) fn file_path(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<PathBuf> {
    let s = non_empty(ctx, v, at.clone())?;
    let path = PathBuf::from(&s);
    let problem = match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => format!("{s:?} is a directory, not a file"),
        Ok(_) => match std::fs::File::open(&path) {
            Ok(_) => return Some(path),
            Err(e) => format!("cannot read {s:?}: {e}"),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let relative = if path.is_relative() {
                match std::env::current_dir() {
                    Ok(dir) => format!(" (relative to the working directory {})", dir.display()),
                    Err(_) => " (relative to the working directory)".to_owned(),
                }
            } else {
                String::new()
            };
            format!("file {s:?} does not exist{relative}")
        }
        Err(e) => format!("cannot read {s:?}: {e}"),
    };
    ctx.error(&v.span(), &at, problem);
    None
}
