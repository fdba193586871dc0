//! What the data path holds to reach a pool's backends over TLS: a built client configuration
//! and the server name to send, under an id that keeps pooled connections of different
//! settings apart.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use crate::ClientTls;

/// How to reach a backend over TLS.
#[derive(Clone)]
pub struct UpstreamTls {
    /// Distinguishes pools' TLS settings: connections are only reused under the same one
    /// (a connection verified for one pool must never carry another pool's requests).
    pub id: u64,
    pub config: Arc<ClientConfig>,
    /// The name to send and verify; `None`: each backend's host name (DNS backends) or IP.
    pub server_name: Option<ServerName<'static>>,
}

/// Ids for pools' TLS settings (0 is cleartext).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl UpstreamTls {
    /// The data path's view of `client`, under an id of its own.
    pub fn new(client: &ClientTls) -> UpstreamTls {
        let tls = client.spec();
        let server_name = tls.sni.as_ref().map(|_| {
            // `ClientTls::load` validated the name; `server_name` returns it.
            crate::server_name(tls, SocketAddr::from(([0, 0, 0, 0], 0)))
        });
        UpstreamTls {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            config: client.config(),
            server_name,
        }
    }
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("server_name", &self.server_name)
            .finish()
    }
}
