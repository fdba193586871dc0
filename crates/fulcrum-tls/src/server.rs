//! `rustls::ServerConfig` for `https` listeners.

use std::sync::Arc;

use fulcrum_config::model::{ClientAuthMode, ListenerTls, TlsVersion};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{ServerConfig, SupportedProtocolVersion};

use crate::files::TlsFiles;
use crate::load::root_store;
use crate::reload::ServerTls;
use crate::sni::SniResolver;
use crate::{TlsError, ALPN};

/// TLS 1.2 sessions kept by session ID for resumption, per listener (TLS 1.3, and TLS 1.2
/// clients that support them, resume with stateless tickets instead). A few hundred bytes
/// each, so at most a few MiB.
const SESSION_CACHE: usize = 16 * 1024;

/// The protocol versions a listener accepts from `min_version`; never below TLS 1.2.
pub(crate) fn versions(min: TlsVersion) -> &'static [&'static SupportedProtocolVersion] {
    static FROM_1_2: [&SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    static ONLY_1_3: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match min {
        TlsVersion::V1_2 => &FROM_1_2,
        TlsVersion::V1_3 => &ONLY_1_3,
    }
}

/// A server configuration for `tls`, its files read now (see [`ServerTls`] to reload them).
pub fn server_config(tls: &ListenerTls) -> Result<Arc<ServerConfig>, TlsError> {
    ServerTls::load(tls).map(|s| s.config())
}

/// The server configuration of `tls` serving the certificates of `resolver`, with the CA
/// bundle taken from `files`:
///
/// - versions: TLS 1.3 and 1.2, or 1.3 only (`min_version`);
/// - cipher suites: AEAD only (see [`crate::provider`]);
/// - ALPN: `h2`, `http/1.1`;
/// - resumption: TLS 1.3 tickets (rotating ticket keys, new ones for every configuration) and
///   a session cache of its own;
/// - client certificates per `client_auth`: verified against the CA bundle, `required` or
///   `optional`.
pub(crate) fn build(
    tls: &ListenerTls,
    files: &TlsFiles,
    resolver: Arc<SniResolver>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions(tls.min_version))?;
    let builder = match &tls.client_auth {
        None => builder.with_no_client_auth(),
        Some(auth) => {
            let roots = Arc::new(root_store(files, &auth.ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier: Arc<dyn ClientCertVerifier> = match auth.mode {
                ClientAuthMode::Required => verifier.build()?,
                ClientAuthMode::Optional => verifier.allow_unauthenticated().build()?,
            };
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    // The server's suite order (AEAD only, strongest first) wins over the client's.
    config.ignore_client_order = true;
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    Ok(Arc::new(config))
}
