//! Parsing PEM files: certificate chains, private keys, CA bundles — from the bytes of a
//! [`TlsFiles`] read beforehand. A private key file that group or others may read is warned
//! about when it is loaded.

use std::path::Path;
use std::sync::Arc;

use fulcrum_config::model::CertKey;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::files::TlsFiles;
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

fn pem_error(path: &Path, source: pem::Error) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        source,
    }
}

/// Every `CERTIFICATE` block of a PEM file, leaf first; at least one.
pub(crate) fn cert_chain(
    files: &TlsFiles,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = files.get(path)?;
    let chain = CertificateDer::pem_slice_iter(bytes)
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
pub(crate) fn private_key(
    files: &TlsFiles,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = files.get(path)?;
    if let Some(mode) = exposed_mode(path) {
        tracing::warn!(
            key = %path.display(),
            mode = %format_args!("{mode:04o}"),
            "private key file is readable by group or others: restrict it to the user \
             Fulcrum runs as (chmod 600)"
        );
    }
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_owned(),
        },
        e => pem_error(path, e),
    })
}

/// A chain and key checked to belong together, ready to sign handshakes.
pub(crate) fn certified_key(
    files: &TlsFiles,
    pair: &CertKey,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = cert_chain(files, &pair.cert)?;
    let key = private_key(files, &pair.key)?;
    CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::KeyPair {
        cert: pair.cert.clone(),
        key: pair.key.clone(),
        source,
    })
}

/// [`certified_key`] plus the names read from the leaf certificate.
pub(crate) fn load_cert(
    files: &TlsFiles,
    pair: &CertKey,
    provider: &CryptoProvider,
) -> Result<LoadedCert, TlsError> {
    let key = certified_key(files, pair, provider)?;
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
pub(crate) fn root_store(files: &TlsFiles, path: &Path) -> Result<RootCertStore, TlsError> {
    let certs = cert_chain(files, path).map_err(|e| match e {
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

/// The permission bits of a private key file when group or others may read it (`None` when
/// only its owner can, or its metadata cannot be read). Symbolic links are followed: what
/// matters is the file the key is read from.
pub fn exposed_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
        (mode & 0o044 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}
