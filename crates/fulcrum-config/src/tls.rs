//! TLS tables: `[listener.tls]` (certificates, minimum version, client authentication),
//! `[listener.hsts]` and `[pool.NAME.tls]`. Certificate, key and CA files must exist and be
//! readable; their PEM content is parsed where TLS is set up, not here.

use std::net::IpAddr;
use std::time::Duration;

use http::HeaderName;
use toml::de::DeValue;

use crate::decode::{self, one_of, Ctx, Table, Value, Where, Zero};
use crate::model::{CertKey, ClientAuth, ClientAuthMode, Hsts, ListenerTls, PoolTls, TlsVersion};
use crate::pool::check_dns_name;

const TLS_KEYS: &[&str] = &["cert", "min_version", "client_auth"];
const CERT_KEYS: &[&str] = &["cert", "key"];
const CLIENT_AUTH_KEYS: &[&str] = &["ca", "mode", "subject_header", "san_header"];
const HSTS_KEYS: &[&str] = &["max_age", "include_subdomains", "preload"];
const POOL_TLS_KEYS: &[&str] = &["verify", "ca", "sni", "cert", "key"];
pub(crate) const TLS_VERSIONS: &[&str] = &["1.2", "1.3"];
pub(crate) const CLIENT_AUTH_MODES: &[&str] = &["required", "optional"];
/// `hsts.max_age` when left out: one year.
pub(crate) const DEFAULT_HSTS_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 3600);

/// `[listener.tls]` of an https listener.
pub(crate) fn listener_tls(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<ListenerTls> {
    let t = Table::open(ctx, v, at, TLS_KEYS)?;
    let certs = match t.get("cert") {
        Some(v) => certs(ctx, v, t.at("cert")),
        None => {
            ctx.error(
                &t.span,
                &t.at,
                "missing required key \"cert\" (at least one [[listener.tls.cert]] with cert \
                 and key files)",
            );
            None
        }
    };
    let min_version = t.or(ctx, "min_version", TlsVersion::V1_2, min_version);
    let client_auth = t.or(ctx, "client_auth", None, |ctx, v, at| {
        client_auth(ctx, v, at).map(Some)
    });
    Some(ListenerTls {
        certs: certs?,
        min_version: min_version?,
        client_auth: client_auth?,
    })
}

/// `[[listener.tls.cert]]`: a non-empty array of `{ cert, key }`.
fn certs(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Vec<CertKey>> {
    let expected = "an array of tables ([[listener.tls.cert]]) with cert and key";
    let items = decode::array(ctx, v, &at, expected)?;
    if items.is_empty() {
        ctx.error(&v.span(), &at, "must list at least one { cert, key }");
        return None;
    }
    let mut out = Some(Vec::with_capacity(items.len()));
    for (i, item) in items.iter().enumerate() {
        let Some(t) = Table::open(ctx, item, at.index(i), CERT_KEYS) else {
            out = None;
            continue;
        };
        let cert = t.required(ctx, "cert", decode::file_path);
        let key = t.required(ctx, "key", decode::file_path);
        out = match (out, cert, key) {
            (Some(mut all), Some(cert), Some(key)) => {
                all.push(CertKey { cert, key });
                Some(all)
            }
            _ => None,
        };
    }
    out
}

fn min_version(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<TlsVersion> {
    let valid = "\"1.2\" or \"1.3\"";
    if !matches!(v.get_ref(), DeValue::String(_)) {
        let msg = format!(
            "expected a string, {valid} (quoted), found {}",
            decode::kind(v)
        );
        ctx.error(&v.span(), &at, msg);
        return None;
    }
    let s = decode::string(ctx, v, at.clone())?;
    match s.as_str() {
        "1.2" => Some(TlsVersion::V1_2),
        "1.3" => Some(TlsVersion::V1_3),
        other => {
            let old = if matches!(other, "1.0" | "1.1" | "1") {
                "; TLS 1.0 and 1.1 are insecure and never accepted"
            } else {
                ""
            };
            let msg = format!(
                "unsupported TLS version {other:?} (expected one of: {}{old})",
                one_of(TLS_VERSIONS)
            );
            ctx.error(&v.span(), &at, msg);
            None
        }
    }
}

/// `[listener.tls.client_auth]`: mutual TLS.
fn client_auth(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<ClientAuth> {
    let t = Table::open(ctx, v, at, CLIENT_AUTH_KEYS)?;
    let ca = t.required(ctx, "ca", decode::file_path);
    let mode = t.or(ctx, "mode", ClientAuthMode::Required, |ctx, v, at| {
        let s = decode::string(ctx, v, at.clone())?;
        match s.as_str() {
            "required" => Some(ClientAuthMode::Required),
            "optional" => Some(ClientAuthMode::Optional),
            other => {
                let msg = format!(
                    "unknown mode {other:?} (expected one of: {})",
                    one_of(CLIENT_AUTH_MODES)
                );
                ctx.error(&v.span(), &at, msg);
                None
            }
        }
    });
    let subject_header = t.or(ctx, "subject_header", None, |ctx, v, at| {
        header_name(ctx, v, at).map(Some)
    });
    let san_header = t.or(ctx, "san_header", None, |ctx, v, at| {
        header_name(ctx, v, at).map(Some)
    });
    if let (Some(Some(subject)), Some(Some(san)), Some(sv)) =
        (&subject_header, &san_header, t.get("san_header"))
    {
        if subject == san {
            let msg = format!("must differ from subject_header (both are {san})");
            ctx.error(&sv.span(), &t.at("san_header"), msg);
            return None;
        }
    }
    Some(ClientAuth {
        ca: ca?,
        mode: mode?,
        subject_header: subject_header?,
        san_header: san_header?,
    })
}

/// A header name to send to backends, lowercased.
fn header_name(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<HeaderName> {
    let s = decode::non_empty(ctx, v, at.clone())?;
    match HeaderName::from_bytes(s.as_bytes()) {
        Ok(name) => Some(name),
        Err(_) => {
            let msg = format!(
                "invalid header name {s:?} (letters, digits and \"-\", e.g. \"x-client-subject\")"
            );
            ctx.error(&v.span(), &at, msg);
            None
        }
    }
}

/// HSTS `max_age` may be up to two years (preload lists ask for at least one).
const MAX_HSTS_MAX_AGE: Duration = Duration::from_secs(2 * 365 * 24 * 3600);

/// `[listener.hsts]`.
pub(crate) fn hsts(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Hsts> {
    let t = Table::open(ctx, v, at, HSTS_KEYS)?;
    let max_age = t.or(ctx, "max_age", DEFAULT_HSTS_MAX_AGE, |ctx, v, at| {
        let d = decode::duration_up_to(ctx, v, at.clone(), Zero::Rejected, MAX_HSTS_MAX_AGE)?;
        if d.subsec_nanos() != 0 {
            let msg = "must be a whole number of seconds (max-age is sent in seconds)";
            ctx.error(&v.span(), &at, msg);
            return None;
        }
        Some(d)
    });
    let include_subdomains = t.or(ctx, "include_subdomains", false, decode::boolean);
    let preload = t.or(ctx, "preload", false, decode::boolean);
    Some(Hsts {
        max_age: max_age?,
        include_subdomains: include_subdomains?,
        preload: preload?,
    })
}

/// `[pool.NAME.tls]`: TLS to the backends. An empty table is TLS with the defaults.
pub(crate) fn pool_tls(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<PoolTls> {
    let t = Table::open(ctx, v, at, POOL_TLS_KEYS)?;
    let verify = t.or(ctx, "verify", true, decode::boolean);
    let ca = t.or(ctx, "ca", None, |ctx, v, at| {
        decode::file_path(ctx, v, at).map(Some)
    });
    let sni = t.or(ctx, "sni", None, |ctx, v, at| {
        server_name(ctx, v, at).map(Some)
    });
    let cert = t.or(ctx, "cert", None, |ctx, v, at| {
        decode::file_path(ctx, v, at).map(Some)
    });
    let key = t.or(ctx, "key", None, |ctx, v, at| {
        decode::file_path(ctx, v, at).map(Some)
    });
    let client_cert = match (t.key_span("cert"), t.key_span("key")) {
        (Some(span), None) => {
            let msg = "needs key as well: a client certificate for the backends takes both \
                       cert and key, or neither";
            ctx.error(&span, &t.at("cert"), msg);
            None
        }
        (None, Some(span)) => {
            let msg = "needs cert as well: a client certificate for the backends takes both \
                       cert and key, or neither";
            ctx.error(&span, &t.at("key"), msg);
            None
        }
        _ => match (cert, key) {
            (Some(Some(cert)), Some(Some(key))) => Some(Some(CertKey { cert, key })),
            (Some(None), Some(None)) => Some(None),
            _ => None,
        },
    };
    Some(PoolTls {
        verify: verify?,
        ca: ca?,
        sni: sni?,
        client_cert: client_cert?,
    })
}

/// The server name sent to backends: a DNS name (lowercased) or an IP address.
fn server_name(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<String> {
    let s = decode::string(ctx, v, at.clone())?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    let why = if s.is_empty() {
        "must not be empty".to_owned()
    } else if s.contains(':') {
        "no port or scheme, only the name".to_owned()
    } else if !s.bytes().any(|b| b.is_ascii_alphabetic()) {
        "is not a valid IP address".to_owned()
    } else {
        match check_dns_name(&s) {
            Ok(()) => return Some(s.to_ascii_lowercase()),
            Err(why) => why,
        }
    };
    let msg = format!(
        "invalid sni {s:?}: {why} (expected a DNS name such as \"api.internal\" or an IP address)"
    );
    ctx.error(&v.span(), &at, msg);
    None
}
