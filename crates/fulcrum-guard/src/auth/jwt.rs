//! `kind = "jwt"`: bearer tokens (`Authorization: Bearer ...`) signed with a key of a JWKS:
//! HS256 (`kty = "oct"`), RS256 (`RSA`), ES256 (`EC`, P-256) and EdDSA (`OKP`, Ed25519).
//!
//! The signature is checked by `jsonwebtoken` (on aws-lc-rs, the provider rustls uses here);
//! the claims (`iss`, `aud`, `exp`, `nbf` with a clock skew) are checked here against the
//! time handed in. `alg: none` is refused (the header does not parse), and so is any
//! algorithm the chosen key does not fit: a key's family (its `kty`) must be the header
//! algorithm's, and a key that names its `alg` must name that one, so an RSA public key is
//! never used as an HMAC secret.
//!
//! A token whose `kid` is in no configured key is refused (401). Keys come from a file
//! ([`JwtKeys`] handed in) or from a [`JwksCell`] that the control plane's fetcher fills
//! (a JWKS URL): the data path only reads the cell, and asks for a refresh (a flag) when a
//! token names a key it does not hold or the set has not arrived yet; the fetcher decides
//! when to fetch. There is no fetching here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::{Failure, Identity};

/// Seconds a token's `exp` and `nbf` may be off.
pub const DEFAULT_CLOCK_SKEW: u64 = 60;

/// The usable keys of a JWKS.
#[derive(Clone)]
pub struct JwtKeys {
    keys: Vec<Key>,
}

#[derive(Clone)]
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    decoding: DecodingKey,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| (&k.kid, k.alg)).collect();
        f.debug_struct("JwtKeys").field("keys", &kids).finish()
    }
}

impl JwtKeys {
    /// Parse a JWKS document (`{"keys": [...]}`). Keys of other kinds or algorithms are
    /// skipped; a set with no usable key, or JSON that is not a JWKS, is an error.
    pub fn parse(json: &str) -> Result<Self, String> {
        let set: JwkSet =
            serde_json::from_str(json).map_err(|e| format!("not a JWKS document: {e}"))?;
        let keys: Vec<Key> = set.keys.iter().filter_map(key).collect();
        if keys.is_empty() {
            return Err(format!(
                "none of its {} keys is usable (expected oct/HS256, RSA/RS256, EC P-256/ES256 \
                 or OKP Ed25519/EdDSA keys)",
                set.keys.len()
            ));
        }
        Ok(JwtKeys { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The one algorithm a JWK is used with: its own `alg` if it names one we verify, else the
/// one its `kty` (and curve) implies.
fn key(jwk: &Jwk) -> Option<Key> {
    let implied = match &jwk.algorithm {
        AlgorithmParameters::OctetKey(_) => Algorithm::HS256,
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
    };
    let alg = match jwk.common.key_algorithm {
        None => implied,
        Some(KeyAlgorithm::HS256) if implied == Algorithm::HS256 => implied,
        Some(KeyAlgorithm::RS256) if implied == Algorithm::RS256 => implied,
        Some(KeyAlgorithm::ES256) if implied == Algorithm::ES256 => implied,
        Some(KeyAlgorithm::EdDSA) if implied == Algorithm::EdDSA => implied,
        Some(_) => return None,
    };
    if let AlgorithmParameters::EllipticCurve(ec) = &jwk.algorithm {
        if ec.curve != jsonwebtoken::jwk::EllipticCurve::P256 {
            return None;
        }
    }
    if let AlgorithmParameters::OctetKeyPair(okp) = &jwk.algorithm {
        if okp.curve != jsonwebtoken::jwk::EllipticCurve::Ed25519 {
            return None;
        }
    }
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key {
        kid: jwk.common.key_id.clone(),
        alg,
        decoding,
    })
}

/// The key set of a JWKS URL: empty until the first fetch, replaced by each one.
#[derive(Debug, Default)]
pub struct JwksCell {
    keys: ArcSwapOption<JwtKeys>,
    wanted: AtomicBool,
}

impl JwksCell {
    pub fn new() -> Self {
        JwksCell::default()
    }

    /// A fetched set (the fetcher's).
    pub fn set(&self, keys: JwtKeys) {
        self.keys.store(Some(Arc::new(keys)));
    }

    pub fn get(&self) -> Option<Arc<JwtKeys>> {
        self.keys.load_full()
    }

    /// Whether a request asked for a refresh since [`JwksCell::clear_wanted`].
    pub fn wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed)
    }

    pub fn clear_wanted(&self) {
        self.wanted.store(false, Ordering::Relaxed);
    }

    fn want(&self) {
        if !self.wanted.load(Ordering::Relaxed) {
            self.wanted.store(true, Ordering::Relaxed);
        }
    }
}

/// Where a verifier's keys are.
#[derive(Debug)]
pub enum KeySource {
    Static(JwtKeys),
    Remote(Arc<JwksCell>),
}

/// A route's token check.
#[derive(Debug)]
pub struct JwtVerifier {
    keys: KeySource,
    issuer: Option<String>,
    audience: Option<String>,
    skew: u64,
}

impl JwtVerifier {
    pub fn new(
        keys: KeySource,
        issuer: Option<String>,
        audience: Option<String>,
        skew: u64,
    ) -> Self {
        JwtVerifier {
            keys,
            issuer,
            audience,
            skew,
        }
    }

    pub(super) fn check(
        &self,
        authorization: Option<&[u8]>,
        unix_now: u64,
    ) -> Result<Identity, Failure> {
        let value = authorization.ok_or(Failure::Unauthenticated("a bearer token is required"))?;
        let token = super::credentials(value, "Bearer")
            .and_then(|t| std::str::from_utf8(t).ok())
            .ok_or(Failure::Unauthenticated("expected a bearer token"))?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            Failure::Unauthenticated("the token is malformed or its algorithm is not accepted")
        })?;
        if !matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
        ) {
            return Err(Failure::Unauthenticated(
                "the token's algorithm is not accepted",
            ));
        }
        let fetched;
        let (set, cell) = match &self.keys {
            KeySource::Static(k) => (k, None),
            KeySource::Remote(cell) => match cell.get() {
                Some(k) => {
                    fetched = k;
                    (&*fetched, Some(cell))
                }
                None => {
                    cell.want();
                    return Err(Failure::Unauthenticated("the key set is not available yet"));
                }
            },
        };
        let fits = |k: &&Key| k.alg == header.alg;
        let candidates: Vec<&Key> = match &header.kid {
            Some(kid) => {
                let by_kid: Vec<&Key> = set
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .collect();
                if by_kid.is_empty() {
                    if let Some(c) = cell {
                        c.want();
                    }
                    return Err(Failure::Unauthenticated("the token's key id is unknown"));
                }
                by_kid.into_iter().filter(|k| fits(k)).collect()
            }
            None => set.keys.iter().filter(fits).collect(),
        };
        if candidates.is_empty() {
            return Err(Failure::Unauthenticated("no key of this token's algorithm"));
        }
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let mut last = Failure::Unauthenticated("the token's signature is not valid");
        for k in candidates {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &k.decoding, &validation) {
                Ok(data) => return self.claims(data.claims, unix_now),
                Err(e) => {
                    last = Failure::Unauthenticated(match e.kind() {
                        jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                            "the token's signature is not valid"
                        }
                        jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                            "the token's algorithm does not fit its key"
                        }
                        _ => "the token is malformed",
                    })
                }
            }
        }
        Err(last)
    }

    fn claims(&self, claims: Map<String, Value>, now: u64) -> Result<Identity, Failure> {
        let fail = Failure::Unauthenticated;
        let time = |name: &str| -> Result<Option<u64>, Failure> {
            match claims.get(name) {
                None => Ok(None),
                Some(v) => v
                    .as_f64()
                    .filter(|t| *t >= 0.0)
                    .map(|t| Some(t as u64))
                    .ok_or(fail("the token's exp or nbf is not a number")),
            }
        };
        if let Some(exp) = time("exp")? {
            if now >= exp.saturating_add(self.skew) {
                return Err(fail("the token has expired"));
            }
        }
        if let Some(nbf) = time("nbf")? {
            if now.saturating_add(self.skew) < nbf {
                return Err(fail("the token is not valid yet"));
            }
        }
        if let Some(iss) = &self.issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(iss) {
                return Err(fail("the token's issuer is not the expected one"));
            }
        }
        if let Some(aud) = &self.audience {
            let ok = match claims.get("aud") {
                Some(Value::String(s)) => s == aud,
                Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud)),
                _ => false,
            };
            if !ok {
                return Err(fail("the token is not for this audience"));
            }
        }
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        Ok(Identity {
            subject,
            claims: Some(Box::new(claims)),
        })
    }
}
