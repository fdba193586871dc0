//! `rustls::ClientConfig` for TLS to backends (`[pool.X.tls]`).

use std::net::SocketAddr;
use std::sync::Arc;

use fulcrum_config::model::PoolTls;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};

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
            Some(ca) => root_store(ca)?,
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
            let chain = cert_chain(&pair.cert)?;
            let key = private_key(&pair.key)?;
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
