//! Authentication and authorization of a request (`[listener.auth]`, `[listener.route.auth]`):
//! who the request says it is (an API key, a Basic user and password, a JWT, a verified
//! client certificate), whether that holds, and whether `require` lets that identity in.
//!
//! [`Authenticator::check`] takes what the request presents ([`Presented`]: the bytes of its
//! `Authorization` field, of its API key, its certificate's subject and SANs) and answers an
//! [`Identity`] or a [`Failure`] (401: no or bad credentials; 403: authenticated, not
//! allowed). Reasons are static text: never the token, the key or the password.
//!
//! What it must not do: read sockets, files or the clock (`now` and `unix_now` come with the
//! request), log, or echo a credential. JWKS fetching is not here (the control plane fills
//! a [`JwksCell`]).

mod api_key;
mod basic;
mod jwt;
mod require;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::time::Instant;

pub use api_key::ApiKeys;
pub use basic::{check_password_hash, BasicUsers, DEFAULT_CACHE_CAP, DEFAULT_CACHE_TTL};
pub use jwt::{JwksCell, JwtKeys, JwtVerifier, KeySource, DEFAULT_CLOCK_SKEW};
pub use require::Require;

/// What a request presents, as the engine read it.
#[derive(Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The first `Authorization` field's value.
    pub authorization: Option<&'a [u8]>,
    /// The API key (from the configured header or query parameter, already decoded).
    pub api_key: Option<&'a [u8]>,
    /// The connection's verified client certificate.
    pub cert: Option<Cert<'a>>,
}

/// A verified client certificate: its subject (`CN=ops,O=Example`) and its SANs as the TLS
/// layer forwards them (`DNS:a.example, URI:spiffe://x, email:a@b`, comma-space separated).
#[derive(Clone, Copy)]
pub struct Cert<'a> {
    pub subject: &'a str,
    pub sans: &'a str,
}

impl<'a> Cert<'a> {
    pub fn sans(&self) -> impl Iterator<Item = &'a str> {
        self.sans.split(", ").filter(|s| !s.is_empty())
    }
}

/// Who the request is, once authenticated.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The key's name, the user's name, the JWT's `sub` (empty when it has none), the
    /// certificate's subject: what `forward_identity` sends.
    pub subject: String,
    /// A JWT's claims (for `require` and rate limit keys `jwt:CLAIM`).
    claims: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

impl Identity {
    fn named(subject: impl Into<String>) -> Self {
        Identity {
            subject: subject.into(),
            claims: None,
        }
    }

    /// A claim's value as text (strings as they are, numbers and booleans written out),
    /// `None` for other JSON values or without claims.
    pub fn claim(&self, name: &str) -> Option<Cow<'_, str>> {
        match self.claims.as_ref()?.get(name)? {
            serde_json::Value::String(s) => Some(Cow::Borrowed(s)),
            serde_json::Value::Number(n) => Some(Cow::Owned(n.to_string())),
            serde_json::Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 401: credentials missing or not valid.
    Unauthenticated(&'static str),
    /// 403: authenticated, but `require` does not let this identity in.
    Forbidden(&'static str),
}

impl Failure {
    pub fn reason(self) -> &'static str {
        match self {
            Failure::Unauthenticated(r) | Failure::Forbidden(r) => r,
        }
    }
}

/// How credentials are checked.
#[derive(Debug)]
pub enum Method {
    ApiKey(ApiKeys),
    Basic(BasicUsers),
    Jwt(JwtVerifier),
    /// The verified client certificate is the identity (its subject).
    Mtls,
}

/// One route's (or listener's) authentication and authorization.
#[derive(Debug)]
pub struct Authenticator {
    method: Method,
    require: Require,
}

/// The realm named in challenges.
pub const REALM: &str = "fulcrum";

impl Authenticator {
    pub fn new(method: Method, require: Require) -> Self {
        Authenticator { method, require }
    }

    /// The kind's name, as in the configuration (`api_key`, `basic`, `jwt`, `mtls`).
    pub fn kind(&self) -> &'static str {
        match self.method {
            Method::ApiKey(_) => "api_key",
            Method::Basic(_) => "basic",
            Method::Jwt(_) => "jwt",
            Method::Mtls => "mtls",
        }
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Authenticate, then authorize. `now` is the monotonic clock (the Basic cache's expiry),
    /// `unix_now` the wall clock in seconds (a JWT's `exp` and `nbf`).
    pub fn check(
        &self,
        p: &Presented<'_>,
        now: Instant,
        unix_now: u64,
    ) -> Result<Identity, Failure> {
        let id = match &self.method {
            Method::ApiKey(keys) => keys.check(p.api_key)?,
            Method::Basic(users) => users.check(p.authorization, now)?,
            Method::Jwt(v) => v.check(p.authorization, unix_now)?,
            Method::Mtls => match p.cert {
                Some(c) => Identity::named(c.subject),
                None => return Err(Failure::Unauthenticated("a client certificate is required")),
            },
        };
        self.require.allows(&id, p.cert)?;
        Ok(id)
    }

    /// The `WWW-Authenticate` value of a 401 (RFC 7617 for basic, RFC 6750 for bearer
    /// tokens; `ApiKey realm=...` for keys, `Mutual` for certificates, as no RFC names
    /// those). `reason` is one of this module's static reasons (no quote in any of them).
    pub fn challenge(&self, reason: &str) -> String {
        match self.method {
            Method::Basic(_) => format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""),
            Method::Jwt(_) => format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{}\"",
                reason.replace(['"', '\\'], "'")
            ),
            Method::ApiKey(_) => format!("ApiKey realm=\"{REALM}\""),
            Method::Mtls => format!("Mutual realm=\"{REALM}\""),
        }
    }
}

/// The credentials of an `Authorization` value of `scheme` (case-insensitive), trimmed.
fn credentials<'a>(authorization: &'a [u8], scheme: &str) -> Option<&'a [u8]> {
    let s = scheme.len();
    let (head, rest) = (authorization.get(..s)?, authorization.get(s..)?);
    if !head.eq_ignore_ascii_case(scheme.as_bytes()) || rest.first() != Some(&b' ') {
        return None;
    }
    Some(rest.trim_ascii())
}
