//! `[listener.auth]` / `[listener.route.auth]` (SPEC "Protections"): the kind of credential
//! (`api_key`, `basic`, `jwt`, `mtls`), its keys, users or key set, `require` and
//! `forward_identity`, decoded into [`Auth`] with every error at its file:line:column.
//!
//! Hashes and key sets are checked here with the guard's own parsers (a bcrypt hash that
//! does not parse, a JWKS without a usable key, are errors of `fulcrum check`, not of the
//! first request). A `jwks_file` is read here, so a reload reads it again; a `jwks` URL is
//! only checked (https, or http to a loopback address). What it must not do: fetch anything
//! (`fulcrum-control/jwks.rs` fetches).

use std::collections::HashMap;

use crate::decode::{self, Ctx, Table, Value, Where};
use std::time::Duration;

use crate::model::{ApiKey, ApiKeySource, Auth, AuthKind, AuthRequire, BasicUser, JwksSource};

const KEYS: &[&str] = &[
    "kind",
    "header",
    "query",
    "keys",
    "users",
    "jwks",
    "jwks_file",
    "jwks_ca",
    "jwks_refresh",
    "jwks_min_refresh",
    "issuer",
    "audience",
    "clock_skew",
    "require",
    "forward_identity",
];

/// Which keys each kind takes (besides `kind`, `require`, `forward_identity`).
fn kind_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "api_key" => &["header", "query", "keys"],
        "basic" => &["users"],
        "jwt" => &[
            "jwks",
            "jwks_file",
            "jwks_ca",
            "jwks_refresh",
            "jwks_min_refresh",
            "issuer",
            "audience",
            "clock_skew",
        ],
        _ => &[],
    }
}

/// `client_auth`: whether the listener verifies client certificates (`None`: unknown).
pub(crate) fn auth(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    client_auth: Option<bool>,
) -> Option<Auth> {
    let t = Table::open(ctx, v, at, KEYS)?;
    let kind = t.required(ctx, "kind", |ctx, v, at| {
        let s = decode::string(ctx, v, at.clone())?;
        if !["api_key", "basic", "jwt", "mtls"].contains(&s.as_str()) {
            let msg = format!("unknown kind {s:?} (expected one of: api_key, basic, jwt, mtls)");
            ctx.error(&v.span(), &at, msg);
            return None;
        }
        Some(s)
    })?;
    for (key, span, _) in t.iter() {
        let common = ["kind", "require", "forward_identity"].contains(&key);
        if !common && KEYS.contains(&key) && !kind_keys(&kind).contains(&key) {
            let msg = format!("{key:?} is not a key of kind = {kind:?}");
            ctx.error(&span, &t.at(key), msg);
        }
    }
    let forward_identity = t.or(ctx, "forward_identity", None, |ctx, v, at| {
        let s = decode::non_empty(ctx, v, at.clone())?;
        match http::HeaderName::from_bytes(s.as_bytes()) {
            Ok(n) => Some(Some(n)),
            Err(_) => {
                ctx.error(&v.span(), &at, format!("{s:?} is not a valid header name"));
                None
            }
        }
    });
    let method = match kind.as_str() {
        "api_key" => api_key(ctx, &t),
        "basic" => basic(ctx, &t),
        "jwt" => jwt(ctx, &t),
        _ => {
            if client_auth == Some(false) {
                ctx.error(
                    &t.span,
                    &t.at,
                    "kind = \"mtls\" needs an https listener with [listener.tls.client_auth]",
                );
            }
            Some(AuthKind::Mtls)
        }
    };
    let require = t.or(ctx, "require", AuthRequire::default(), |ctx, v, at| {
        require(ctx, v, at, &kind)
    });
    Some(Auth {
        kind: method?,
        require: require?,
        forward_identity: forward_identity?,
    })
}

fn api_key(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> Option<AuthKind> {
    let source = match (t.get("header"), t.get("query")) {
        (Some(_), Some(q)) => {
            ctx.error(
                &q.span(),
                &t.at("query"),
                "give either header or query, not both",
            );
            None
        }
        (Some(h), None) => {
            let s = decode::non_empty(ctx, h, t.at("header"))?;
            match http::HeaderName::from_bytes(s.as_bytes()) {
                Ok(n) => Some(ApiKeySource::Header(n)),
                Err(_) => {
                    let msg = format!("{s:?} is not a valid header name");
                    ctx.error(&h.span(), &t.at("header"), msg);
                    None
                }
            }
        }
        (None, Some(q)) => decode::non_empty(ctx, q, t.at("query")).map(ApiKeySource::Query),
        (None, None) => {
            ctx.error(
                &t.span,
                &t.at,
                "kind = \"api_key\" needs header = \"NAME\" or query = \"NAME\"",
            );
            None
        }
    };
    let keys = t.required(ctx, "keys", |ctx, v, at| {
        named_list(ctx, v, at, "sha256", |ctx, v, at| {
            let s = decode::string(ctx, v, at.clone())?;
            let hash = hex32(&s);
            if hash.is_none() {
                ctx.error(
                    &v.span(),
                    &at,
                    "expected the key's SHA-256 as 64 hexadecimal digits",
                );
            }
            hash
        })
    });
    let keys = keys?
        .into_iter()
        .map(|(name, sha256)| ApiKey { name, sha256 })
        .collect();
    Some(AuthKind::ApiKey {
        source: source?,
        keys,
    })
}

fn basic(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> Option<AuthKind> {
    let users = t.required(ctx, "users", |ctx, v, at| {
        named_list(ctx, v, at, "hash", |ctx, v, at| {
            let s = decode::string(ctx, v, at.clone())?;
            match fulcrum_guard::auth::check_password_hash(&s) {
                Ok(()) => Some(s),
                Err(why) => {
                    ctx.error(&v.span(), &at, why);
                    None
                }
            }
        })
    })?;
    Some(AuthKind::Basic {
        users: users
            .into_iter()
            .map(|(name, hash)| BasicUser { name, hash })
            .collect(),
    })
}

fn jwt(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> Option<AuthKind> {
    let jwks = match (t.get("jwks"), t.get("jwks_file")) {
        (Some(_), Some(f)) => {
            ctx.error(
                &f.span(),
                &t.at("jwks_file"),
                "give either jwks (a URL) or jwks_file, not both",
            );
            None
        }
        (Some(u), None) => jwks_url(ctx, t, u),
        (None, Some(f)) => {
            let at = t.at("jwks_file");
            let path = decode::file_path(ctx, f, at.clone())?;
            match std::fs::read_to_string(&path) {
                Ok(json) => match fulcrum_guard::auth::JwtKeys::parse(&json) {
                    Ok(_) => Some(JwksSource::File { path, json }),
                    Err(why) => {
                        let msg = format!("{}: {why}", path.display());
                        ctx.error(&f.span(), &at, msg);
                        None
                    }
                },
                Err(e) => {
                    ctx.error(
                        &f.span(),
                        &at,
                        format!("cannot read {}: {e}", path.display()),
                    );
                    None
                }
            }
        }
        (None, None) => {
            ctx.error(
                &t.span,
                &t.at,
                "kind = \"jwt\" needs jwks = \"https://...\" or jwks_file = \"/path/jwks.json\"",
            );
            None
        }
    };
    let issuer = t.or(ctx, "issuer", None, |ctx, v, at| {
        decode::non_empty(ctx, v, at).map(Some)
    });
    let audience = t.or(ctx, "audience", None, |ctx, v, at| {
        decode::non_empty(ctx, v, at).map(Some)
    });
    let skew = t.or(
        ctx,
        "clock_skew",
        std::time::Duration::from_secs(fulcrum_guard::auth::DEFAULT_CLOCK_SKEW),
        |ctx, v, at| {
            decode::duration_up_to(
                ctx,
                v,
                at,
                decode::Zero::Allowed,
                std::time::Duration::from_secs(3600),
            )
        },
    );
    if t.get("jwks").is_none() {
        for key in ["jwks_ca", "jwks_refresh", "jwks_min_refresh"] {
            if let Some(span) = t.key_span(key) {
                ctx.error(&span, &t.at(key), format!("{key} is for jwks (a URL)"));
            }
        }
    }
    Some(AuthKind::Jwt {
        jwks: jwks?,
        issuer: issuer?,
        audience: audience?,
        clock_skew: skew?,
    })
}

/// `jwks = "https://..."` and its `jwks_ca`, `jwks_refresh`, `jwks_min_refresh`.
fn jwks_url(ctx: &mut Ctx<'_>, t: &Table<'_, '_>, v: &Value<'_>) -> Option<JwksSource> {
    let at = t.at("jwks");
    let url = decode::non_empty(ctx, v, at.clone())?;
    let problem = match url.parse::<http::Uri>() {
        Err(_) => Some("not a valid URL".to_owned()),
        Ok(u) => match (u.scheme_str(), u.host()) {
            (_, None) => Some("the URL names no host".to_owned()),
            (Some("https"), Some(_)) => None,
            (Some("http"), Some(h)) if is_loopback(h) => None,
            (Some("http"), Some(_)) => Some(
                "plain http is only for loopback addresses (127.0.0.1, [::1], localhost): use \
                 https"
                    .to_owned(),
            ),
            (s, _) => Some(format!(
                "unsupported scheme {:?} (expected https)",
                s.unwrap_or("")
            )),
        },
    };
    if let Some(p) = problem {
        ctx.error(&v.span(), &at, format!("{url:?}: {p}"));
        return None;
    }
    let ca = t.or(ctx, "jwks_ca", None, |ctx, v, at| {
        decode::file_path(ctx, v, at).map(Some)
    });
    let max = Duration::from_secs(24 * 3600);
    let refresh = t.or(
        ctx,
        "jwks_refresh",
        Duration::from_secs(300),
        |ctx, v, at| decode::duration_up_to(ctx, v, at, decode::Zero::Rejected, max),
    );
    let min_refresh = t.or(
        ctx,
        "jwks_min_refresh",
        Duration::from_secs(10),
        |ctx, v, at| decode::duration_up_to(ctx, v, at, decode::Zero::Rejected, max),
    );
    Some(JwksSource::Url {
        url,
        ca: ca?,
        refresh: refresh?,
        min_refresh: min_refresh?,
    })
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `[{ name = "...", FIELD = ... }, ...]`: at least one, names unique.
fn named_list<T>(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    at: Where,
    field: &str,
    read: impl Fn(&mut Ctx<'_>, &Value<'_>, Where) -> Option<T>,
) -> Option<Vec<(String, T)>> {
    let expected = format!("an array of {{ name, {field} }} tables");
    let items = decode::array(ctx, v, &at, &expected)?;
    if items.is_empty() {
        ctx.error(&v.span(), &at, "must list at least one entry");
        return None;
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Some(Vec::new());
    let mut duplicate = false;
    for (i, item) in items.iter().enumerate() {
        let Some(t) = Table::open(ctx, item, at.index(i), &["name", field]) else {
            out = None;
            continue;
        };
        let name = t.required(ctx, "name", decode::non_empty);
        if let (Some(n), Some(nv)) = (&name, t.get("name")) {
            if let Some(first) = seen.insert(n.clone(), i) {
                let msg = format!("duplicate name {n:?} (also [{first}])");
                ctx.error(&nv.span(), &t.at("name"), msg);
                duplicate = true;
            }
        }
        let value = t.required(ctx, field, &read);
        out = match (out, name, value) {
            (Some(mut o), Some(n), Some(v)) => {
                o.push((n, v));
                Some(o)
            }
            _ => None,
        };
    }
    out.filter(|_| !duplicate)
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digit(b[2 * i])? << 4 | digit(b[2 * i + 1])?;
    }
    Some(out)
}

/// `require = { ... }`: `name` for api_key and basic, claims for jwt, `subject` and `san`
/// for mtls; each value a string or an array of strings.
fn require(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where, kind: &str) -> Option<AuthRequire> {
    let allowed: &[&str] = match kind {
        "api_key" | "basic" => &["name"],
        "mtls" => &["subject", "san"],
        _ => &[],
    };
    let t = match kind {
        // Any claim name: the table is only checked to be one.
        "jwt" => match Table::open_quiet(v) {
            Some(mut t) => {
                t.at = at.clone();
                t
            }
            None => Table::open(ctx, v, at.clone(), &[])?,
        },
        _ => Table::open(ctx, v, at.clone(), allowed)?,
    };
    let mut r = AuthRequire::default();
    let mut ok = true;
    for (key, _, value) in t.iter() {
        let Some(values) = strings(ctx, value, t.at(key)) else {
            ok = false;
            continue;
        };
        match (kind, key) {
            ("jwt", claim) => r.claims.push((claim.to_owned(), values)),
            (_, "name") => r.names = values,
            (_, "subject") => r.subjects = values,
            (_, "san") => r.sans = values,
            _ => {}
        }
    }
    ok.then_some(r)
}

/// A string, or an array of at least one string.
fn strings(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Vec<String>> {
    if let toml::de::DeValue::String(_) = v.get_ref() {
        return decode::string(ctx, v, at).map(|s| vec![s]);
    }
    let items = decode::array(ctx, v, &at, "a string or an array of strings")?;
    if items.is_empty() {
        ctx.error(&v.span(), &at, "must list at least one value");
        return None;
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        out.push(decode::string(ctx, item, at.index(i))?);
    }
    Some(out)
}
