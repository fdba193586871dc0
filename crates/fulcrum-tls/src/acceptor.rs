//! Accepting TLS connections on a listener: the handshake, bounded in time, and what it told us.

use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

use crate::{ClientIdentity, SniResolver, TlsError};

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
#[derive(Clone)]
pub struct TlsAcceptor {
    inner: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
    /// The certificates the configuration serves, to tell which one a name selects.
    certs: Option<Arc<SniResolver>>,
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
            inner: tokio_rustls::TlsAcceptor::from(config),
            handshake_timeout,
            certs: None,
        }
    }

    /// The acceptor knowing the certificates its configuration serves (the resolver of the
    /// `CertStore` the configuration was built with), for [`TlsAcceptor::same_certificate`].
    pub fn with_certs(mut self, certs: Arc<SniResolver>) -> TlsAcceptor {
        self.certs = Some(certs);
        self
    }

    /// Whether the server names `a` and `b` select the same certificate (as SNI would), so a
    /// request for `b` may be answered on a connection whose handshake named `a` (RFC 9110
    /// §7.4, RFC 9113 §9.1.1: otherwise it is misdirected). `true` when the certificates are
    /// not known.
    pub fn same_certificate(&self, a: &str, b: &str) -> bool {
        self.certs.as_ref().is_none_or(|r| {
            let certs = r.snapshot();
            Arc::ptr_eq(certs.select(Some(a)), certs.select(Some(b)))
        })
    }

    /// Completes the server handshake on `io` (a `TcpStream`, or a stream that already had a
    /// PROXY header read off it).
    pub async fn accept<IO>(&self, io: IO) -> Result<(TlsStream<IO>, HandshakeInfo), TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let stream = tokio::time::timeout(self.handshake_timeout, self.inner.accept(io))
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
