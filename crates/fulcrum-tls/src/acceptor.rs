//! Accepting TLS connections on a listener: the handshake, bounded in time, and what it told us.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

use crate::{ClientIdentity, TlsError};

/// What the handshake settled, for routing, headers and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeInfo {
    /// The negotiated ALPN protocol (`h2`, `http/1.1`), if any.
    pub alpn: Option<Vec<u8>>,
    /// The SNI the client sent.
    pub sni: Option<String>,
    /// The verified client certificate's identity (mutual TLS), if the client presented one.
    pub client: Option<ClientIdentity>,
}

impl HandshakeInfo {
    /// Whether the client asked for HTTP/2.
    pub fn is_h2(&self) -> bool {
        self.alpn.as_deref() == Some(b"h2")
    }
}

/// Runs server handshakes with a listener's configuration.
///
/// The configuration can be replaced in place ([`replace_config`](Self::replace_config)):
/// handshakes that start afterwards use the new one, those in flight finish on the old one.
/// Clones share the configuration.
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ArcSwap<ServerConfig>>,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// An acceptor whose handshakes must finish within `handshake_timeout`.
    pub fn new(config: Arc<ServerConfig>, handshake_timeout: Duration) -> TlsAcceptor {
        TlsAcceptor {
            config: Arc::new(ArcSwap::new(config)),
            handshake_timeout,
        }
    }

    /// Handshakes from now on use `config`.
    pub fn replace_config(&self, config: Arc<ServerConfig>) {
        self.config.store(config);
    }

    /// The handshake time limit.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Completes the server handshake on `io` (a `TcpStream`, or a stream that already had a
    /// PROXY header read off it).
    pub async fn accept<IO>(&self, io: IO) -> Result<(TlsStream<IO>, HandshakeInfo), TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.load_full());
        let stream = tokio::time::timeout(self.handshake_timeout, acceptor.accept(io))
            .await
            .map_err(|_| TlsError::HandshakeTimeout(self.handshake_timeout))?
            .map_err(TlsError::Handshake)?;
        let (_, conn) = stream.get_ref();
        let client = match conn.peer_certificates().and_then(|chain| chain.first()) {
            Some(leaf) => Some(ClientIdentity::from_der(leaf)?),
            None => None,
        };
        let info = HandshakeInfo {
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            sni: conn.server_name().map(str::to_owned),
            client,
        };
        Ok((stream, info))
    }
}
