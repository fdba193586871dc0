//! `require`: which authenticated identities may in (403 for the others).
//!
//! - api_key and basic: `name = ["ci", "deploy"]` (or one string): the key's or user's name.
//! - jwt: claim name -> a string or an array of strings. Every listed claim must hold one of
//!   the listed values: a string claim equal to it or, split at spaces (OAuth `scope`),
//!   having it among its words; an array claim having it among its elements; a number or
//!   boolean claim written out equal to it.
//! - mtls: `subject` (the certificate's subject, exactly as forwarded, e.g.
//!   `CN=ops,O=Example`) and/or `san` (one of its SANs, with its prefix: `DNS:ops.example`,
//!   `URI:spiffe://example/ops`, `email:ops@example.com`); each a string or an array.

use super::{Cert, Failure, Identity};

#[derive(Debug, Clone, Default)]
pub struct Require {
    /// api_key, basic: allowed names (empty: any).
    pub names: Vec<String>,
    /// jwt: (claim, allowed values).
    pub claims: Vec<(String, Vec<String>)>,
    /// mtls: allowed subjects (empty: any).
    pub subjects: Vec<String>,
    /// mtls: allowed SANs (empty: any).
    pub sans: Vec<String>,
}

impl Require {
    pub(super) fn allows(&self, id: &Identity, cert: Option<Cert<'_>>) -> Result<(), Failure> {
        if !self.names.is_empty() && !self.names.contains(&id.subject) {
            return Err(Failure::Forbidden(
                "this identity is not allowed on this route",
            ));
        }
        for (claim, allowed) in &self.claims {
            let ok = id
                .claims
                .as_ref()
                .and_then(|c| c.get(claim))
                .is_some_and(|v| holds(v, allowed));
            if !ok {
                return Err(Failure::Forbidden(
                    "the token's claims do not allow this route",
                ));
            }
        }
        if !self.subjects.is_empty() || !self.sans.is_empty() {
            let Some(cert) = cert else {
                return Err(Failure::Forbidden("a client certificate is required"));
            };
            if !self.subjects.is_empty() && !self.subjects.iter().any(|s| s == cert.subject) {
                return Err(Failure::Forbidden(
                    "the certificate's subject is not allowed on this route",
                ));
            }
            if !self.sans.is_empty() && !cert.sans().any(|s| self.sans.iter().any(|a| a == s)) {
                return Err(Failure::Forbidden(
                    "the certificate's names are not allowed on this route",
                ));
            }
        }
        Ok(())
    }
}

fn holds(v: &serde_json::Value, allowed: &[String]) -> bool {
    use serde_json::Value;
    let one = |s: &str| allowed.iter().any(|a| a == s);
    match v {
        Value::String(s) => one(s) || s.split(' ').any(one),
        Value::Array(items) => items.iter().any(|i| match i {
            Value::String(s) => one(s),
            Value::Number(n) => one(&n.to_string()),
            _ => false,
        }),
        Value::Number(n) => one(&n.to_string()),
        Value::Bool(b) => one(if *b { "true" } else { "false" }),
        _ => false,
    }
}
