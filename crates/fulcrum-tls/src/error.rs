//! The crate's one error type.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong loading TLS material, building a configuration or running a
/// handshake.
///
/// Loading errors name the file; the caller (config load, reload, the control plane's file
/// poller) logs them and keeps what was serving before.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file could not be read (or its metadata could not be read).
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },

    /// A PEM file is malformed.
    #[error("{}: bad PEM: {source}", path.display())]
    Pem {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },

    /// A certificate file holds no `CERTIFICATE` block.
    #[error("{}: no certificate found", path.display())]
    NoCertificate { path: PathBuf },

    /// A key file holds no private key (PKCS#8, PKCS#1 or SEC1 PEM block).
    #[error("{}: no private key found", path.display())]
    NoPrivateKey { path: PathBuf },

    /// The key cannot be used (unsupported algorithm) or does not belong to the certificate.
    #[error("{} with {}: {source}", cert.display(), key.display())]
    KeyPair {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },

    /// A certificate could not be parsed as X.509.
    #[error("{}: unparsable certificate: {reason}", path.display())]
    Certificate { path: PathBuf, reason: String },

    /// A CA bundle held nothing usable as a trust anchor.
    #[error("{}: no usable CA certificate: {reason}", path.display())]
    CaBundle { path: PathBuf, reason: String },

    /// A listener was given no certificate.
    #[error("no certificate configured")]
    NoCertificates,

    /// The client-certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),

    /// A pool's `sni` is neither a DNS name nor an IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),

    /// rustls refused the configuration (e.g. no protocol version usable with the suites).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),

    /// The handshake failed (peer refused, bad certificate, I/O error).
    #[error("TLS handshake: {0}")]
    Handshake(io::Error),

    /// The handshake did not finish in time.
    #[error("TLS handshake timed out after {0:?}")]
    HandshakeTimeout(Duration),

    /// A verified peer certificate could not be read for its identity.
    #[error("peer certificate: {0}")]
    PeerCertificate(String),
}
