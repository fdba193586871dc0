//! `kind = "basic"`: users with argon2 (`$argon2id$`, `$argon2i$` PHC strings) or bcrypt
//! (`$2b$`, `$2a$`, `$2y$`) password hashes, and a small cache of verified credentials.
//!
//! A hash check costs what its parameters say (argon2id at the OWASP parameters: tens of
//! milliseconds of one core), and runs inline on the worker that received the request. The
//! cache spares repeated requests of one user that cost: it is keyed by the SHA-256 of the
//! whole `Authorization` value (never the password itself), holds only credentials that
//! verified (so a flood of wrong passwords adds nothing to it), entries expire after a TTL,
//! and it never holds more than its cap (expired entries go first, then arbitrary ones).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use base64::Engine;

use super::{Failure, Identity};

/// Verified credentials a route keeps.
pub const DEFAULT_CACHE_CAP: usize = 1024;
/// How long a verified credential is believed without checking its hash again.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

#[derive(Debug)]
enum Hash {
    /// A PHC string, checked to parse.
    Argon2(String),
    Bcrypt(String),
}

#[derive(Debug)]
pub struct BasicUsers {
    users: Vec<(String, Hash)>,
    cache: Mutex<HashMap<[u8; 32], (usize, Instant)>>,
    cap: usize,
    ttl: Duration,
}

/// Whether `hash` is one this guard can check: an argon2id/argon2i PHC string or a bcrypt
/// hash. The error says why not.
pub fn check_password_hash(hash: &str) -> Result<(), &'static str> {
    parse(hash).map(|_| ())
}

fn parse(hash: &str) -> Result<Hash, &'static str> {
    if hash.starts_with("$argon2") {
        let bad = "not a valid argon2 PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)";
        let h = PasswordHash::new(hash).map_err(|_| bad)?;
        if h.salt.is_none() || h.hash.is_none() || argon2::Params::try_from(&h).is_err() {
            return Err(bad);
        }
        match h.algorithm.as_str() {
            "argon2id" | "argon2i" => Ok(Hash::Argon2(hash.to_owned())),
            _ => Err("argon2d hashes are not accepted (use argon2id)"),
        }
    } else if ["$2b$", "$2a$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        hash.parse::<bcrypt::HashParts>()
            .map_err(|_| "not a valid bcrypt hash")?;
        Ok(Hash::Bcrypt(hash.to_owned()))
    } else {
        Err("not an argon2 ($argon2id$...) or bcrypt ($2b$...) hash")
    }
}

impl BasicUsers {
    /// `users`: (name, hash); names unique, hashes as [`check_password_hash`] accepts.
    pub fn try_new(
        users: Vec<(String, String)>,
        cap: usize,
        ttl: Duration,
    ) -> Result<Self, &'static str> {
        let users = users
            .into_iter()
            .map(|(n, h)| parse(&h).map(|h| (n, h)))
            .collect::<Result<_, _>>()?;
        Ok(BasicUsers {
            users,
            cache: Mutex::new(HashMap::new()),
            cap: cap.max(1),
            ttl,
        })
    }

    /// Entries in the verified-credential cache (never more than its cap).
    pub fn cached(&self) -> usize {
        self.cache.lock().map_or(0, |c| c.len())
    }

    pub(super) fn check(
        &self,
        authorization: Option<&[u8]>,
        now: Instant,
    ) -> Result<Identity, Failure> {
        let value = authorization.ok_or(Failure::Unauthenticated("credentials are required"))?;
        let key = super::api_key::sha256(value);
        if let Some(i) = self.lookup(&key, now) {
            if let Some((name, _)) = self.users.get(i) {
                return Ok(Identity::named(name.as_str()));
            }
        }
        let bad = Failure::Unauthenticated("the user name or password is not valid");
        let encoded = super::credentials(value, "Basic")
            .ok_or(Failure::Unauthenticated("expected Basic credentials"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| Failure::Unauthenticated("the Basic credentials are not base64"))?;
        let colon = decoded.iter().position(|&b| b == b':').ok_or(bad)?;
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let i = self
            .users
            .iter()
            .position(|(n, _)| n.as_bytes() == user)
            .ok_or(bad)?;
        let (name, hash) = self.users.get(i).ok_or(bad)?;
        let ok = match hash {
            Hash::Argon2(phc) => PasswordHash::new(phc).is_ok_and(|h| {
                argon2::Argon2::default()
                    .verify_password(password, &h)
                    .is_ok()
            }),
            Hash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
        };
        if !ok {
            return Err(bad);
        }
        self.remember(key, i, now);
        Ok(Identity::named(name.as_str()))
    }

    fn lookup(&self, key: &[u8; 32], now: Instant) -> Option<usize> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(i, _)| *i)
    }

    fn remember(&self, key: [u8; 32], user: usize, now: Instant) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= self.cap {
            cache.retain(|_, (_, expires)| *expires > now);
            while cache.len() >= self.cap && !cache.contains_key(&key) {
                let Some(k) = cache.keys().next().copied() else {
                    break;
                };
                cache.remove(&k);
            }
        }
        cache.insert(key, (user, now + self.ttl));
    }
}
