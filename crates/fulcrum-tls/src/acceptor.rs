//! Accepting TLS connections on a listener: the handshake, bounded in time, and what it told us.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

use crate::{ClientIdentity, ServerTls, SniCerts, TlsError};

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
    serving: Arc<ArcSwap<Serving>>,
    handshake_timeout: Duration,
}

/// A configuration and the certificates it serves (to tell which one a name selects), replaced
/// together.
struct Serving {
    config: Arc<ServerConfig>,
    certs: Option<Arc<SniCerts>>,
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
    /// Its certificates are not known to it: [`same_certificate`](Self::same_certificate) is
    /// always true.
    pub fn new(config: Arc<ServerConfig>, handshake_timeout: Duration) -> TlsAcceptor {
        TlsAcceptor {
            serving: Arc::new(ArcSwap::from_pointee(Serving {
                config,
                certs: None,
            })),
            handshake_timeout,
        }
    }

    /// An acceptor serving `server` (its configuration, knowing its certificates).
    pub fn for_server(server: &ServerTls, handshake_timeout: Duration) -> TlsAcceptor {
        let a = TlsAcceptor::new(server.config(), handshake_timeout);
        a.replace(server);
        a
    }

    /// Handshakes from now on use `config` (certificates unknown, as with [`TlsAcceptor::new`]).
    pub fn replace_config(&self, config: Arc<ServerConfig>) {
        self.serving.store(Arc::new(Serving {
            config,
            certs: None,
        }));
    }

    /// Handshakes from now on use `server`'s configuration and certificates.
    pub fn replace(&self, server: &ServerTls) {
        self.serving.store(Arc::new(Serving {
            config: server.config(),
            certs: Some(server.certs()),
        }));
    }

    /// Whether the server names `a` and `b` select the same certificate (as SNI would), so a
    /// request for `b` may be answered on a connection whose handshake named `a` (RFC 9110
    /// §7.4, RFC 9113 §9.1.1: otherwise it is misdirected). `true` when the certificates are
    /// not known.
    pub fn same_certificate(&self, a: &str, b: &str) -> bool {
        let serving = self.serving.load();
        serving
            .certs
            .as_ref()
            .is_none_or(|c| Arc::ptr_eq(c.select(Some(a)), c.select(Some(b))))
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
        let acceptor = tokio_rustls::TlsAcceptor::from(self.serving.load().config.clone());
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
