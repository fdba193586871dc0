//! Reading PEM files: certificate chains, private keys, CA bundles.
//!
//! Files are read with blocking `std::fs` calls: they are small and are only read when a
//! configuration is built or reloaded, never on the data path.

use std::path::Path;
use std::sync::Arc;

use fulcrum_config::model::CertKey;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::TlsError;

/// A certificate and key, loaded, checked to belong together, with the DNS names it serves.
#[derive(Debug, Clone)]
pub(crate) struct LoadedCert {
    pub(crate) key: Arc<CertifiedKey>,
    /// Lowercase; `*.example.com` kept as written.
    pub(crate) names: Vec<String>,
    /// Expiry of the leaf, seconds since the Unix epoch.
    pub(crate) not_after: i64,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, source: pem::Error) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        source,
    }
}

/// Every `CERTIFICATE` block of a PEM file, leaf first; at least one.
pub(crate) fn cert_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_owned(),
        },
        e => pem_error(path, e),
    })
}

/// A chain and key checked to belong together, ready to sign handshakes.
pub(crate) fn certified_key(
    pair: &CertKey,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = cert_chain(&pair.cert)?;
    let key = private_key(&pair.key)?;
    CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::KeyPair {
        cert: pair.cert.clone(),
        key: pair.key.clone(),
        source,
    })
}

/// [`certified_key`] plus the names read from the leaf certificate.
pub(crate) fn load_cert(pair: &CertKey, provider: &CryptoProvider) -> Result<LoadedCert, TlsError> {
    let key = certified_key(pair, provider)?;
    let leaf = key.cert.first().ok_or_else(|| TlsError::NoCertificate {
        path: pair.cert.clone(),
    })?;
    let (names, not_after) = dns_names(leaf).map_err(|reason| TlsError::Certificate {
        path: pair.cert.clone(),
        reason,
    })?;
    Ok(LoadedCert {
        key: Arc::new(key),
        names,
        not_after,
    })
}

/// The DNS names a server certificate is valid for: its SAN `dNSName` entries, or its subject
/// CNs when it has no SAN extension (legacy certificates). Lowercase, trailing dot removed.
/// Also returns the expiry (`notAfter`, Unix seconds).
pub(crate) fn dns_names(der: &CertificateDer<'_>) -> Result<(Vec<String>, i64), String> {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).map_err(|e| e.to_string())?;
    let not_after = cert.validity().not_after.timestamp();
    let normalise = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
    let names = match cert.subject_alternative_name().map_err(|e| e.to_string())? {
        Some(san) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(name) => Some(normalise(name)),
                _ => None,
            })
            .collect(),
        None => cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .map(normalise)
            .collect(),
    };
    Ok((names, not_after))
}

/// A CA bundle as trust anchors; fails when no certificate in it is usable.
pub(crate) fn root_store(path: &Path) -> Result<RootCertStore, TlsError> {
    let certs = cert_chain(path).map_err(|e| match e {
        TlsError::NoCertificate { path } => TlsError::CaBundle {
            path,
            reason: "no CERTIFICATE block".into(),
        },
        e => e,
    })?;
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsError::CaBundle {
            path: path.to_owned(),
            reason: format!("{ignored} certificate(s), none parsable as a trust anchor"),
        });
    }
    if ignored > 0 {
        tracing::warn!(path = %path.display(), ignored, "CA bundle: unparsable certificates skipped");
    }
    Ok(roots)
}
