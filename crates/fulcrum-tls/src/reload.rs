//! Certificate reload: re-read a listener's certificate files and swap them in.
//!
//! The control plane calls [`CertStore::reload`] on a configuration reload, and polls
//! [`CertStore::changed`] (every second) to reload when an operator or an ACME client replaces
//! the files. A reload is all or nothing: if any file is unreadable or any key does not match its
//! certificate, the certificates that were serving keep serving and the error is returned for
//! the caller to log.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use fulcrum_config::model::CertKey;
use rustls::crypto::CryptoProvider;

use crate::load::load_cert;
use crate::sni::{SniCerts, SniResolver};
use crate::TlsError;

/// The certificates of one `https` listener: the files they come from and the resolver that
/// serves them to handshakes.
#[derive(Debug)]
pub struct CertStore {
    pairs: Vec<CertKey>,
    provider: Arc<CryptoProvider>,
    resolver: Arc<SniResolver>,
    /// Stamps of every file at the last load attempt, in `files()` order. Only the control
    /// plane touches this (poll and reload), never a handshake.
    stamps: Mutex<Vec<Option<FileStamp>>>,
}

/// What we remember of a file to notice it changed without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    /// A file replaced by rename (the safe way to rotate) gets a new inode even when its size
    /// and mtime happen to match.
    #[cfg(unix)]
    ino: u64,
}

impl FileStamp {
    fn of(path: &std::path::Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            #[cfg(unix)]
            ino: std::os::unix::fs::MetadataExt::ino(&meta),
        })
    }
}

/// One certificate as loaded, for logs and the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    pub cert: PathBuf,
    /// DNS names read from the certificate (SAN, or CN without SAN), lowercase.
    pub names: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertStore {
    /// Loads every certificate and key of `pairs` (the first is the default certificate).
    pub fn load(pairs: &[CertKey]) -> Result<Arc<CertStore>, TlsError> {
        Self::load_with(pairs, crate::provider())
    }

    pub(crate) fn load_with(
        pairs: &[CertKey],
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<CertStore>, TlsError> {
        let stamps = stamps(pairs);
        let certs = read_all(pairs, &provider)?;
        Ok(Arc::new(CertStore {
            pairs: pairs.to_vec(),
            provider,
            resolver: Arc::new(SniResolver::new(certs)),
            stamps: Mutex::new(stamps),
        }))
    }

    /// The resolver to put in a `rustls::ServerConfig`.
    pub fn resolver(&self) -> Arc<SniResolver> {
        Arc::clone(&self.resolver)
    }

    /// The configured certificate/key pairs.
    pub fn pairs(&self) -> &[CertKey] {
        &self.pairs
    }

    /// Re-reads every certificate and key. On success new handshakes use the new certificates;
    /// on any error nothing changes and the error is returned.
    ///
    /// The file stamps are recorded even when the reload fails, so [`changed`](Self::changed)
    /// turns true again only when the files are written again (a broken file is reported once,
    /// not every poll).
    pub fn reload(&self) -> Result<(), TlsError> {
        let stamps = stamps(&self.pairs);
        let result = read_all(&self.pairs, &self.provider);
        *self.stamps.lock().unwrap_or_else(PoisonError::into_inner) = stamps;
        let certs = result?;
        self.resolver.store(certs);
        Ok(())
    }

    /// Whether any certificate or key file differs (mtime, size, inode; or appeared or
    /// vanished) from the last load attempt. Reads metadata only.
    pub fn changed(&self) -> bool {
        let now = stamps(&self.pairs);
        *self.stamps.lock().unwrap_or_else(PoisonError::into_inner) != now
    }

    /// The certificates serving now.
    pub fn summary(&self) -> Vec<CertSummary> {
        let snapshot = self.resolver.snapshot();
        self.pairs
            .iter()
            .zip(snapshot.certs())
            .map(|(pair, cert)| CertSummary {
                cert: pair.cert.clone(),
                names: cert.names.clone(),
                not_after: cert.not_after,
            })
            .collect()
    }
}

fn stamps(pairs: &[CertKey]) -> Vec<Option<FileStamp>> {
    pairs
        .iter()
        .flat_map(|p| [FileStamp::of(&p.cert), FileStamp::of(&p.key)])
        .collect()
}

fn read_all(pairs: &[CertKey], provider: &CryptoProvider) -> Result<SniCerts, TlsError> {
    let certs = pairs
        .iter()
        .map(|pair| {
            let cert = load_cert(pair, provider)?;
            if cert.names.is_empty() {
                tracing::warn!(cert = %pair.cert.display(), "certificate has no DNS name; served only as the default");
            }
            Ok(cert)
        })
        .collect::<Result<Vec<_>, TlsError>>()?;
    SniCerts::new(certs).ok_or(TlsError::NoCertificates)
}
