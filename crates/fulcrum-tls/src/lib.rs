//! Fulcrum's TLS: the rustls configuration of both directions.
//!
//! This crate owns:
//! - the server side of `https` listeners ([`server_config`]): TLS 1.2/1.3 (or 1.3 only), AEAD
//!   cipher suites only, ALPN `h2`/`http/1.1`, session resumption, and mutual TLS against a CA
//!   bundle (`required` or `optional`);
//! - choosing the certificate by SNI ([`SniResolver`]) from the names read out of the
//!   certificates themselves, with the first certificate as the default;
//! - reloading without a restart ([`ServerTls`], [`ClientTls`]): a new configuration built from
//!   the files as they are now — certificates, keys, CA bundles and settings — whenever any of
//!   them changed, handed to the caller to put in service (old ones keep serving when the new
//!   files are bad); [`Stamps`] lets a poller notice written files from their metadata;
//! - warning about private key files that group or others may read;
//! - the handshake itself with a time limit, and what it settled ([`TlsAcceptor`],
//!   [`HandshakeInfo`], [`ClientIdentity`]);
//! - the client side towards backends ([`client_config`], [`server_name`]), and what the data
//!   path holds of it ([`UpstreamTls`]).
//!
//! It must not know about HTTP routing, pools or headers: it hands the negotiated ALPN, SNI and
//! client identity to its caller, which decides what to do with them. Files are read only when
//! a configuration is built or reloaded, never during a handshake.
//!
//! The crypto provider is aws-lc-rs (issue 4), built with only a C compiler (no cmake).

mod acceptor;
mod client;
mod client_identity;
mod error;
mod files;
mod insecure;
mod load;
mod reload;
mod server;
mod sni;
mod upstream;

use std::sync::Arc;

use rustls::crypto::{aws_lc_rs, CryptoProvider};

pub use acceptor::{HandshakeInfo, TlsAcceptor};
pub use client::{client_config, server_name, ClientTls};
pub use client_identity::ClientIdentity;
pub use error::TlsError;
pub use files::{listener_files, Stamps};
pub use load::exposed_mode;
pub use reload::{CertSummary, ServerTls};
pub use server::server_config;
pub use sni::{SniCerts, SniResolver};
pub use upstream::UpstreamTls;

/// Re-exported so callers name the same rustls (and stream type) as this crate.
pub use rustls;
pub use tokio_rustls::server::TlsStream;

/// ALPN protocols offered and accepted, in preference order.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// What this build speaks, for `fulcrum version`: the TLS versions a listener can accept and
/// the library behind them, e.g. `1.2, 1.3 (rustls, aws-lc-rs)`. Read from the same version
/// list the server configurations use.
pub fn description() -> String {
    let mut names: Vec<&str> = server::versions(fulcrum_config::model::TlsVersion::V1_2)
        .iter()
        .map(|v| match v.version {
            rustls::ProtocolVersion::TLSv1_2 => "1.2",
            rustls::ProtocolVersion::TLSv1_3 => "1.3",
            _ => "?",
        })
        .collect();
    names.sort_unstable();
    format!("{} (rustls, aws-lc-rs)", names.join(", "))
}

/// The aws-lc-rs provider restricted to AEAD cipher suites with forward secrecy, spelled out
/// rather than inherited from rustls' defaults so a future default cannot widen them:
/// TLS 1.3 AES-GCM and ChaCha20-Poly1305; TLS 1.2 ECDHE (ECDSA or RSA) with AES-GCM or
/// ChaCha20-Poly1305.
pub fn provider() -> Arc<CryptoProvider> {
    use aws_lc_rs::cipher_suite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    };
    Arc::new(CryptoProvider {
        cipher_suites: vec![
            TLS13_AES_256_GCM_SHA384,
            TLS13_AES_128_GCM_SHA256,
            TLS13_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        ..aws_lc_rs::default_provider()
    })
}
