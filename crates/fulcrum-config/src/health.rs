//! `[pool.NAME.health]`: what an active check does (TCP connect, HTTP GET, or a UDP probe),
//! to which port, and how often.

use std::time::Duration;

use crate::decode::{self, Ctx, Table, Value, Where, Zero};
use crate::model::{HealthCheck, Probe};
use crate::summary::duration as show;

const HEALTH_KEYS: &[&str] = &[
    "path",
    "port",
    "udp_send",
    "udp_send_hex",
    "udp_expect",
    "udp_expect_hex",
    "interval",
    "timeout",
    "healthy_threshold",
    "unhealthy_threshold",
];

/// The keys that make a check a UDP probe.
const UDP_KEYS: &[&str] = &["udp_send", "udp_send_hex", "udp_expect", "udp_expect_hex"];

/// Health check thresholds are `1..=MAX_THRESHOLD`.
const MAX_THRESHOLD: u32 = 100;

/// `[pool.NAME.health]`: active checks.
pub(crate) fn health(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<HealthCheck> {
    let t = Table::open(ctx, v, at, HEALTH_KEYS)?;
    let path = t.or(ctx, "path", None, |ctx, v, at| {
        health_path(ctx, v, at).map(Some)
    });
    let port = t.or(ctx, "port", None, |ctx, v, at| {
        let n = decode::integer(ctx, v, at, 1, i64::from(u16::MAX))?;
        u16::try_from(n).ok().map(Some)
    });
    let send = payload(ctx, &t, Payload::SEND);
    let expect = payload(ctx, &t, Payload::EXPECT);
    let positive =
        |ctx: &mut Ctx<'_>, v: &Value<'_>, at| decode::duration(ctx, v, at, Zero::Rejected);
    let interval = t.or(ctx, "interval", Duration::from_secs(2), positive);
    let timeout = t.or(ctx, "timeout", Duration::from_secs(1), positive);
    let threshold =
        |ctx: &mut Ctx<'_>, v: &Value<'_>, at| decode::u32_in(ctx, v, at, 1, MAX_THRESHOLD);
    let healthy_threshold = t.or(ctx, "healthy_threshold", 2, threshold);
    let unhealthy_threshold = t.or(ctx, "unhealthy_threshold", 3, threshold);
    let probe = probe_kind(ctx, &t, path, send, expect);
    let (interval, timeout) = (interval?, timeout?);
    if timeout > interval {
        // Blame the key the user wrote: `timeout` if present, else the too short `interval`.
        match (t.get("timeout"), t.get("interval")) {
            (Some(tv), _) => ctx.error(
                &tv.span(),
                &t.at("timeout"),
                format!(
                    "must not be longer than interval ({}), found {}",
                    show(interval),
                    show(timeout)
                ),
            ),
            (None, Some(iv)) => ctx.error(
                &iv.span(),
                &t.at("interval"),
                format!(
                    "must not be shorter than timeout ({}, the default), found {}; \
                     set a shorter timeout",
                    show(timeout),
                    show(interval)
                ),
            ),
            // The defaults are consistent; nothing else can get here.
            (None, None) => ctx.error(&t.span, &t.at, "timeout is longer than interval"),
        }
        return None;
    }
    Some(HealthCheck {
        probe: probe?,
        port: port?,
        interval,
        timeout,
        healthy_threshold: healthy_threshold?,
        unhealthy_threshold: unhealthy_threshold?,
    })
}

/// The kind of check from the keys present: `path` (HTTP), `udp_*` (UDP) or neither (TCP).
/// The values were read already (`None`: invalid, reported); this reports the combinations.
fn probe_kind(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    path: Option<Option<String>>,
    send: Option<Option<Vec<u8>>>,
    expect: Option<Option<Vec<u8>>>,
) -> Option<Probe> {
    // The first UDP key in the file, to point at.
    let udp = UDP_KEYS
        .iter()
        .filter_map(|&k| t.key_span(k).map(|span| (k, span)))
        .min_by_key(|(_, span)| span.start);
    if let (Some((key, span)), Some(_)) = (&udp, t.key_span("path")) {
        let msg = format!(
            "not combinable with path: a check is an HTTP GET (path) or a UDP probe ({key}), \
             not both; remove one of them"
        );
        ctx.error(span, &t.at(key), msg);
        return None;
    }
    let (path, send, expect) = (path?, send?, expect?);
    match (path, send, expect) {
        (Some(path), _, _) => Some(Probe::Http { path }),
        (None, Some(send), expect) => Some(Probe::Udp {
            send,
            expect: expect.unwrap_or_default(),
        }),
        (None, None, Some(_)) => {
            // `expect` was given (it is `Some`), so one of its keys is there.
            let key = ["udp_expect", "udp_expect_hex"]
                .into_iter()
                .find(|k| t.get(k).is_some())
                .unwrap_or("udp_expect");
            let span = t.key_span(key).unwrap_or_else(|| t.span.clone());
            let msg = format!(
                "needs udp_send or udp_send_hex: {key} is what the reply to that probe must \
                 start with"
            );
            ctx.error(&span, &t.at(key), msg);
            None
        }
        (None, None, None) => Some(Probe::Tcp),
    }
}

/// One UDP payload, written as text (`text` key) or as hex digits (`hex` key).
struct Payload {
    text: &'static str,
    hex: &'static str,
    max: usize,
    /// Why at most `max` bytes.
    why_max: &'static str,
    /// `None`: may be empty; else why not.
    why_not_empty: Option<&'static str>,
}

impl Payload {
    const SEND: Payload = Payload {
        text: "udp_send",
        hex: "udp_send_hex",
        max: Probe::MAX_UDP_SEND,
        why_max: "what one datagram carries unfragmented over IPv4 on a 1500-byte MTU",
        why_not_empty: Some("it is the datagram each check sends"),
    };
    const EXPECT: Payload = Payload {
        text: "udp_expect",
        hex: "udp_expect_hex",
        max: Probe::MAX_UDP_EXPECT,
        why_max: "only a prefix of the reply is compared; a shorter one is enough",
        why_not_empty: None,
    };
}

/// The bytes of payload `p`: `Some(None)` when neither key is written, `None` on an error.
fn payload(ctx: &mut Ctx<'_>, t: &Table<'_, '_>, p: Payload) -> Option<Option<Vec<u8>>> {
    if let (Some(_), Some(span)) = (t.get(p.text), t.key_span(p.hex)) {
        let msg = format!(
            "not both {} and {}: write the bytes once, as text ({}) or as hex digits ({})",
            p.text, p.hex, p.text, p.hex
        );
        ctx.error(&span, &t.at(p.hex), msg);
        return None;
    }
    let (v, at, bytes) = if let Some(v) = t.get(p.text) {
        let s = decode::string(ctx, v, t.at(p.text))?;
        (v, t.at(p.text), s.into_bytes())
    } else if let Some(v) = t.get(p.hex) {
        let s = decode::string(ctx, v, t.at(p.hex))?;
        match parse_hex(&s) {
            Ok(b) => (v, t.at(p.hex), b),
            Err(why) => {
                ctx.error(&v.span(), &t.at(p.hex), format!("invalid hex: {why}"));
                return None;
            }
        }
    } else {
        return Some(None);
    };
    if let (Some(why), true) = (p.why_not_empty, bytes.is_empty()) {
        ctx.error(&v.span(), &at, format!("must not be empty: {why}"));
        return None;
    }
    if bytes.len() > p.max {
        let msg = format!(
            "is {} bytes long, at most {} are allowed ({})",
            bytes.len(),
            p.max,
            p.why_max
        );
        ctx.error(&v.span(), &at, msg);
        return None;
    }
    Some(Some(bytes))
}

/// Pairs of hex digits (either case), whitespace allowed between bytes, not within one.
pub(crate) fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    const HOW: &str = "each byte is two hex digits written together, e.g. \"0a\" \
                       (spaces are allowed between bytes)";
    let mut out = Vec::with_capacity(s.len() / 2);
    let mut high: Option<(usize, char, u8)> = None;
    for (i, c) in s.chars().enumerate() {
        let at = i + 1;
        if c.is_whitespace() {
            if let Some((at, c, _)) = high {
                return Err(format!("a lone hex digit {c:?} at character {at}: {HOW}"));
            }
            continue;
        }
        let Some(d) = nibble(c) else {
            return Err(format!(
                "{c:?} at character {at} is not a hex digit (0-9, a-f): {HOW}"
            ));
        };
        match high.take() {
            None => high = Some((at, c, d)),
            Some((_, _, h)) => out.push(h << 4 | d),
        }
    }
    if let Some((at, c, _)) = high {
        return Err(format!("a lone hex digit {c:?} at character {at}: {HOW}"));
    }
    Ok(out)
}

/// The value of hex digit `c`.
fn nibble(c: char) -> Option<u8> {
    match u8::try_from(c).ok()? {
        b @ b'0'..=b'9' => Some(b - b'0'),
        b @ b'a'..=b'f' => Some(b - b'a' + 10),
        b @ b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `health.path`: what is sent as the request target of the check's `GET`.
fn health_path(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<String> {
    let p = decode::string(ctx, v, at.clone())?;
    let why = if !p.starts_with('/') {
        "must start with \"/\" (e.g. \"/healthz\"; remove the key for a TCP connect check)"
    } else if p.contains('#') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "must be a path, optionally with a query (no fragment, spaces or control characters)"
    } else {
        return Some(p);
    };
    ctx.error(&v.span(), &at, format!("invalid path {p:?}: {why}"));
    None
}
