//! `kind = "api_key"`: named keys, configured as SHA-256 hashes. The presented key is hashed
//! and compared in constant time with every configured hash (never stopping at the first
//! match), so neither which key matched nor how many leading bytes agreed shows in the time
//! taken. (A map lookup by hash would leak little, the hash being a one-way function of the
//! key, but the keys are few and the loop is simpler to reason about.)

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Failure, Identity};

#[derive(Debug)]
pub struct ApiKeys {
    keys: Vec<(String, [u8; 32])>,
}

impl ApiKeys {
    /// `keys`: (name, SHA-256 of the key); names are unique (the configuration sees to it).
    pub fn new(keys: Vec<(String, [u8; 32])>) -> Self {
        ApiKeys { keys }
    }

    pub(super) fn check(&self, presented: Option<&[u8]>) -> Result<Identity, Failure> {
        let key = presented
            .filter(|k| !k.is_empty())
            .ok_or(Failure::Unauthenticated("an API key is required"))?;
        let hash: [u8; 32] = Sha256::digest(key).into();
        let mut found = None;
        for (i, (_, h)) in self.keys.iter().enumerate() {
            if bool::from(h.ct_eq(&hash)) {
                found = Some(i);
            }
        }
        match found.and_then(|i| self.keys.get(i)) {
            Some((name, _)) => Ok(Identity::named(name.as_str())),
            None => Err(Failure::Unauthenticated("the API key is not valid")),
        }
    }
}

/// SHA-256 of `key`, as configured (`sha256 = "<64 hex>"`).
pub(crate) fn sha256(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}
