//! TLS material for listeners and pools, prepared before a configuration is applied so that a
//! bad certificate, key or CA file rejects the change and the old configuration keeps serving.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fulcrum_config::model::{Config, ListenerTls};
use fulcrum_http::upstream::UpstreamTls;
use fulcrum_tls::{CertStore, TlsAcceptor};

/// A listener's live TLS: the spec it was built from, its reloadable certificate store and the
/// acceptor handed to the data path.
pub(crate) struct ListenerTlsRt {
    spec: ListenerTls,
    handshake_timeout: Duration,
    pub store: Arc<CertStore>,
    pub acceptor: Arc<TlsAcceptor>,
}

/// Acceptors for every https listener of `cfg`, reusing (and re-reading) the stores of
/// listeners whose TLS settings did not change. Nothing is replaced unless all succeed.
pub(crate) fn prepare_listeners(
    current: &HashMap<String, ListenerTlsRt>,
    cfg: &Config,
) -> Result<HashMap<String, ListenerTlsRt>, String> {
    let mut out = HashMap::new();
    for l in &cfg.listeners {
        let Some(spec) = &l.tls else { continue };
        let timeout = l.timeouts.header;
        if let Some(rt) = current.get(&l.name) {
            if rt.spec == *spec && rt.handshake_timeout == timeout {
                // Same files: read them again (a reload is how new certificates are picked up).
                rt.store
                    .reload()
                    .map_err(|e| format!("listener \"{}\": {e}", l.name))?;
                out.insert(
                    l.name.clone(),
                    ListenerTlsRt {
                        spec: spec.clone(),
                        handshake_timeout: timeout,
                        store: rt.store.clone(),
                        acceptor: rt.acceptor.clone(),
                    },
                );
                continue;
            }
        }
        let store =
            CertStore::load(&spec.certs).map_err(|e| format!("listener \"{}\": {e}", l.name))?;
        let config = fulcrum_tls::server_config_with_store(spec, &store)
            .map_err(|e| format!("listener \"{}\": {e}", l.name))?;
        let acceptor = TlsAcceptor::new(config, timeout).with_certs(store.resolver());
        out.insert(
            l.name.clone(),
            ListenerTlsRt {
                spec: spec.clone(),
                handshake_timeout: timeout,
                store,
                acceptor: Arc::new(acceptor),
            },
        );
    }
    Ok(out)
}

/// Ids for pools' TLS settings (0 is cleartext).
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Client TLS for every pool with `[pool.X.tls]`.
pub(crate) fn prepare_pools(cfg: &Config) -> Result<HashMap<String, UpstreamTls>, String> {
    let mut out = HashMap::new();
    for p in &cfg.pools {
        let Some(tls) = &p.tls else { continue };
        let config =
            fulcrum_tls::client_config(tls).map_err(|e| format!("pool \"{}\": {e}", p.name))?;
        let server_name = tls.sni.as_ref().map(|_| {
            // `client_config` validated the name; `server_name` returns it.
            fulcrum_tls::server_name(tls, std::net::SocketAddr::from(([0, 0, 0, 0], 0)))
        });
        out.insert(
            p.name.clone(),
            UpstreamTls {
                id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                config,
                server_name,
            },
        );
    }
    Ok(out)
}

/// Re-read certificate files that changed on disk; a bad new file is reported and the old
/// certificate keeps serving.
pub(crate) fn reload_changed(listeners: &HashMap<String, ListenerTlsRt>) {
    for (name, rt) in listeners {
        if rt.store.changed() {
            match rt.store.reload() {
                Ok(()) => tracing::info!(listener = %name, "certificates reloaded"),
                Err(e) => {
                    tracing::error!(listener = %name, error = %e, "certificate reload failed; the old certificates keep serving")
                }
            }
        }
    }
}
