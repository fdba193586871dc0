//! A listener's server TLS as built from its files at one moment, and its reload.
//!
//! A [`ServerTls`] is immutable: its certificates, its client-certificate verifier (the CA
//! bundle), its settings and the `rustls::ServerConfig` made of them, with its own session
//! cache and ticket keys. A reload ([`ServerTls::reload`]) re-reads every file and builds a
//! whole new one when anything differs — a certificate, a key, the CA bundle or a setting —
//! so a replaced CA takes effect for new handshakes and sessions resumed from the old
//! configuration's tickets are not accepted by the new one (a resumed session is not shown a
//! certificate again). Nothing serving is touched: the caller decides when the new
//! configuration goes live (the control plane only after the whole change succeeded), and a
//! bad file leaves it with the old one and the error.

use std::path::PathBuf;
use std::sync::Arc;

use fulcrum_config::model::ListenerTls;
use rustls::crypto::CryptoProvider;
use rustls::ServerConfig;

use crate::files::{listener_files, TlsFiles};
use crate::load::load_cert;
use crate::sni::{SniCerts, SniResolver};
use crate::TlsError;

/// The TLS of one `https` listener, built from its files.
#[derive(Debug)]
pub struct ServerTls {
    spec: ListenerTls,
    files: TlsFiles,
    certs: Arc<SniCerts>,
    config: Arc<ServerConfig>,
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

impl ServerTls {
    /// Reads every file of `spec` and builds its server configuration (the first certificate
    /// is the default one).
    pub fn load(spec: &ListenerTls) -> Result<ServerTls, TlsError> {
        let files = TlsFiles::read(&listener_files(spec))?;
        Self::build(spec, files, crate::provider())
    }

    fn build(
        spec: &ListenerTls,
        files: TlsFiles,
        provider: Arc<CryptoProvider>,
    ) -> Result<ServerTls, TlsError> {
        let certs = Arc::new(read_certs(spec, &files, &provider)?);
        let resolver = Arc::new(SniResolver::new(Arc::clone(&certs)));
        let config = crate::server::build(spec, &files, resolver, provider)?;
        Ok(ServerTls {
            spec: spec.clone(),
            files,
            certs,
            config,
        })
    }

    /// What `spec` serves now: `None` when it is the spec this was built from and every file
    /// still holds the same bytes (nothing to change: sessions keep resuming); otherwise a new
    /// [`ServerTls`] built from the files as just read. On any error (unreadable file, bad
    /// PEM, a key that is not the certificate's, an unusable CA bundle) `self` stays as it is.
    pub fn reload(&self, spec: &ListenerTls) -> Result<Option<ServerTls>, TlsError> {
        let files = TlsFiles::read(&listener_files(spec))?;
        if *spec == self.spec && files == self.files {
            return Ok(None);
        }
        Self::build(spec, files, crate::provider()).map(Some)
    }

    /// The configuration to hand to a [`TlsAcceptor`](crate::TlsAcceptor).
    pub fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }

    /// The certificates it serves, indexed by name.
    pub fn certs(&self) -> Arc<SniCerts> {
        Arc::clone(&self.certs)
    }

    /// The settings this was built from.
    pub fn spec(&self) -> &ListenerTls {
        &self.spec
    }

    /// The certificates it serves.
    pub fn summary(&self) -> Vec<CertSummary> {
        self.spec
            .certs
            .iter()
            .zip(self.certs.certs())
            .map(|(pair, cert)| CertSummary {
                cert: pair.cert.clone(),
                names: cert.names.clone(),
                not_after: cert.not_after,
            })
            .collect()
    }
}

fn read_certs(
    spec: &ListenerTls,
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<SniCerts, TlsError> {
    let certs = spec
        .certs
        .iter()
        .map(|pair| {
            let cert = load_cert(files, pair, provider)?;
            if cert.names.is_empty() {
                tracing::warn!(cert = %pair.cert.display(), "certificate has no DNS name; served only as the default");
            }
            Ok(cert)
        })
        .collect::<Result<Vec<_>, TlsError>>()?;
    SniCerts::new(certs).ok_or(TlsError::NoCertificates)
}
