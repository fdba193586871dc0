//! `rustls::ClientConfig` for TLS to backends (`[pool.X.tls]`), and [`ClientTls`]: that
//! configuration with the files it was built from, so a reload rebuilds it only when a setting
//! or a file changed.

use std::net::SocketAddr;
use std::sync::Arc;

use fulcrum_config::model::PoolTls;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};

use crate::files::{pool_files, TlsFiles};
use crate::insecure::AcceptAnyServerCert;
use crate::load::{cert_chain, private_key, root_store};
use crate::{TlsError, ALPN};

/// A client configuration for a pool's backends.
///
/// - trust: the pool's `ca` bundle, else the Mozilla roots compiled in (`webpki-roots`);
/// - `verify = false`: **no certificate verification at all** (see the `insecure` module:
///   encrypted, not authenticated);
/// - `client_cert`: presented to backends that ask (backend mTLS);
/// - versions TLS 1.3 and 1.2, AEAD suites only; ALPN `h2`, `http/1.1`; resumption on.
///
/// Also checks that `sni`, when set, is a valid server name, so [`server_name`] never has to
/// fall back.
pub fn client_config(tls: &PoolTls) -> Result<Arc<ClientConfig>, TlsError> {
    ClientTls::load(tls).map(|c| c.config())
}

/// A pool's client TLS, built from its files.
#[derive(Debug)]
pub struct ClientTls {
    spec: PoolTls,
    files: TlsFiles,
    config: Arc<ClientConfig>,
}

impl ClientTls {
    /// Reads the pool's files and builds its client configuration (see [`client_config`]).
    pub fn load(spec: &PoolTls) -> Result<ClientTls, TlsError> {
        let files = TlsFiles::read(&pool_files(spec))?;
        let config = build(spec, &files)?;
        Ok(ClientTls {
            spec: spec.clone(),
            files,
            config,
        })
    }

    /// `None` when `spec` is the one this was built from and its files hold the same bytes;
    /// otherwise a new one built from the files as just read.
    pub fn reload(&self, spec: &PoolTls) -> Result<Option<ClientTls>, TlsError> {
        let files = TlsFiles::read(&pool_files(spec))?;
        if *spec == self.spec && files == self.files {
            return Ok(None);
        }
        let config = build(spec, &files)?;
        Ok(Some(ClientTls {
            spec: spec.clone(),
            files,
            config,
        }))
    }

    pub fn config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.config)
    }

    /// The settings this was built from.
    pub fn spec(&self) -> &PoolTls {
        &self.spec
    }
}

fn build(tls: &PoolTls, files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsError> {
    if let Some(sni) = &tls.sni {
        ServerName::try_from(sni.as_str()).map_err(|_| TlsError::ServerName(sni.clone()))?;
    }
    let provider = crate::provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(crate::server::versions(
            fulcrum_config::model::TlsVersion::V1_2,
        ))?;
    let builder = if tls.verify {
        let roots = match &tls.ca {
            Some(ca) => root_store(files, ca)?,
            None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        builder.with_root_certificates(roots)
    } else {
        tracing::warn!(
            "backend TLS with verify = false: backend certificates are NOT verified \
             (encrypted, not authenticated)"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert::new(provider)))
    };
    let mut config = match &tls.client_cert {
        Some(pair) => {
            let chain = cert_chain(files, &pair.cert)?;
            let key = private_key(files, &pair.key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|source| TlsError::KeyPair {
                    cert: pair.cert.clone(),
                    key: pair.key.clone(),
                    source,
                })?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The name sent as SNI and verified in the backend's certificate: the pool's `sni` when set,
/// else the backend's IP address (no SNI is sent for an IP; the certificate must carry it as
/// an IP SAN).
///
/// An `sni` that is not a valid name (which [`client_config`] refuses) falls back to the IP.
pub fn server_name(tls: &PoolTls, backend: SocketAddr) -> ServerName<'static> {
    tls.sni
        .as_deref()
        .and_then(|sni| ServerName::try_from(sni).ok())
        .map(|name| name.to_owned())
        .unwrap_or_else(|| ServerName::IpAddress(backend.ip().into()))
}
