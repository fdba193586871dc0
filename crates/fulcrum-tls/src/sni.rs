//! Choosing the server certificate by the ClientHello's SNI.
//!
//! A [`SniCerts`] is an immutable snapshot: the certificates of one listener with the names read
//! from them. [`SniResolver`] serves one snapshot; a reload builds a new server configuration
//! around a new resolver (see [`ServerTls`](crate::ServerTls)), and handshakes in flight finish
//! on the old one.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::load::LoadedCert;

/// The certificates of one listener, indexed by name. Never empty.
#[derive(Debug)]
pub struct SniCerts {
    /// In configuration order; the first is the default.
    certs: Vec<LoadedCert>,
    /// The first certificate's key, served without SNI or when no name matches.
    default: Arc<CertifiedKey>,
    index: NameIndex,
}

impl SniCerts {
    /// Indexes `certs`; `None` when empty.
    pub(crate) fn new(certs: Vec<LoadedCert>) -> Option<SniCerts> {
        let default = Arc::clone(&certs.first()?.key);
        let index = NameIndex::new(certs.iter().map(|c| c.names.as_slice()));
        Some(SniCerts {
            certs,
            default,
            index,
        })
    }

    /// The certificate for `sni`: an exact name first, then a wildcard (one label only), then
    /// the default (also used without SNI). Case-insensitive.
    pub fn select(&self, sni: Option<&str>) -> &Arc<CertifiedKey> {
        sni.and_then(|sni| self.index.lookup(sni))
            .and_then(|i| self.certs.get(i))
            .map_or(&self.default, |cert| &cert.key)
    }

    /// The names of each certificate, in configuration order, for logs and the admin summary.
    pub fn names(&self) -> impl Iterator<Item = &[String]> {
        self.certs.iter().map(|c| c.names.as_slice())
    }

    pub(crate) fn certs(&self) -> &[LoadedCert] {
        &self.certs
    }
}

/// Name → position of the certificate that serves it.
#[derive(Debug, Default)]
struct NameIndex {
    exact: HashMap<String, usize>,
    /// `*.example.com` stored as `example.com`.
    wildcard: HashMap<String, usize>,
}

impl NameIndex {
    /// `names[i]` are the (lowercase) names of certificate `i`. When two certificates claim a
    /// name, the earlier one (in configuration order) wins.
    fn new<'a>(names: impl Iterator<Item = &'a [String]>) -> NameIndex {
        let mut index = NameIndex::default();
        for (i, names) in names.enumerate() {
            for name in names {
                match name.strip_prefix("*.") {
                    Some(parent) => index.wildcard.entry(parent.to_owned()).or_insert(i),
                    None => index.exact.entry(name.clone()).or_insert(i),
                };
            }
        }
        index
    }

    fn lookup(&self, sni: &str) -> Option<usize> {
        let sni = sni.strip_suffix('.').unwrap_or(sni);
        let sni: Cow<'_, str> = if sni.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(sni.to_ascii_lowercase())
        } else {
            Cow::Borrowed(sni)
        };
        if let Some(&i) = self.exact.get(sni.as_ref()) {
            return Some(i);
        }
        // `*.example.com` matches `a.example.com`: exactly one non-empty label before the parent.
        let (label, parent) = sni.split_once('.')?;
        if label.is_empty() {
            return None;
        }
        self.wildcard.get(parent).copied()
    }
}

/// rustls' certificate resolver for a listener: serves its [`SniCerts`] snapshot.
pub struct SniResolver {
    certs: Arc<SniCerts>,
}

impl SniResolver {
    pub(crate) fn new(certs: Arc<SniCerts>) -> SniResolver {
        SniResolver { certs }
    }
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SniResolver")
            .field("names", &self.certs.names().collect::<Vec<_>>())
            .finish()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(self.certs.select(hello.server_name())))
    }
}

#[cfg(test)]
mod tests {
    use super::NameIndex;

    fn index(certs: &[&[&str]]) -> NameIndex {
        let owned: Vec<Vec<String>> = certs
            .iter()
            .map(|names| names.iter().map(|n| n.to_string()).collect())
            .collect();
        NameIndex::new(owned.iter().map(Vec::as_slice))
    }

    #[test]
    fn exact_before_wildcard() {
        let idx = index(&[&["default.test"], &["*.example.com"], &["api.example.com"]]);
        assert_eq!(idx.lookup("api.example.com"), Some(2));
        assert_eq!(idx.lookup("www.example.com"), Some(1));
        assert_eq!(idx.lookup("default.test"), Some(0));
    }

    #[test]
    fn wildcard_matches_one_label_only() {
        let idx = index(&[&["default.test"], &["*.example.com"]]);
        assert_eq!(idx.lookup("example.com"), None);
        assert_eq!(idx.lookup("a.b.example.com"), None);
        assert_eq!(idx.lookup(".example.com"), None);
        assert_eq!(idx.lookup("xexample.com"), None);
    }

    #[test]
    fn case_insensitive_and_trailing_dot() {
        let idx = index(&[&["api.example.com"], &["*.example.org"]]);
        assert_eq!(idx.lookup("API.Example.COM"), Some(0));
        assert_eq!(idx.lookup("api.example.com."), Some(0));
        assert_eq!(idx.lookup("WWW.EXAMPLE.ORG"), Some(1));
    }

    #[test]
    fn first_certificate_wins_a_shared_name() {
        let idx = index(&[&["a.test", "*.w.test"], &["a.test", "*.w.test"]]);
        assert_eq!(idx.lookup("a.test"), Some(0));
        assert_eq!(idx.lookup("x.w.test"), Some(0));
    }
}
