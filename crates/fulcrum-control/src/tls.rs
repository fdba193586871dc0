//! TLS material for listeners and pools, prepared before a configuration is applied so that a
//! bad certificate, key or CA file rejects the change and the old configuration keeps serving.
//!
//! Preparing changes nothing that serves: where a listener's certificates, keys, client CA or
//! TLS settings changed, a new acceptor is built around a new server configuration, and it goes
//! live only with the listener's new snapshot, once the whole change succeeded (so a reload is
//! all or nothing across listeners and pools). Where nothing changed, the serving acceptor and
//! pool client configuration are kept (sessions keep resuming, pooled backend connections stay
//! usable).
//!
//! The control timer also polls the listeners' files (certificates, keys and the client CA)
//! once a second and puts a listener's rebuilt configuration in service on its own: a renewed
//! certificate needs no reload, and one listener's broken file does not hold up another's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fulcrum_config::model::Config;
use fulcrum_http::upstream::UpstreamTls;
use fulcrum_tls::{listener_files, ClientTls, ServerTls, Stamps, TlsAcceptor};

use crate::locked;

/// The TLS of the running configuration.
#[derive(Default)]
pub(crate) struct TlsRt {
    /// https listeners, by name.
    listeners: HashMap<String, ListenerTlsRt>,
    /// Pools with `[pool.X.tls]`: what the data path uses, by pool name.
    pub pools: HashMap<String, UpstreamTls>,
    /// What each pool's client configuration was built from.
    clients: HashMap<String, Arc<ClientTls>>,
}

/// A listener's live TLS.
struct ListenerTlsRt {
    acceptor: Arc<TlsAcceptor>,
    live: Mutex<Live>,
}

/// What an acceptor serves, and the stamps of its files when last looked at (by a reload or
/// the poll), so the poll rebuilds once per change of the files, not every second.
struct Live {
    server: Arc<ServerTls>,
    seen: Stamps,
}

/// Ids for pools' TLS settings (0 is cleartext).
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl TlsRt {
    /// The TLS of `cfg`, every file read again: acceptors and pool configurations are kept
    /// where settings and file contents are unchanged, new ones built where anything differs.
    /// Nothing serving changes, whatever the outcome.
    pub(crate) fn prepare(&self, cfg: &Config) -> Result<TlsRt, String> {
        let mut out = TlsRt::default();
        for l in &cfg.listeners {
            let Some(spec) = &l.tls else { continue };
            let timeout = l.timeouts.header;
            let err = |e: fulcrum_tls::TlsError| format!("listener \"{}\": {e}", l.name);
            // Taken before reading: a file written while we read is seen by the next poll.
            let seen = Stamps::of(&listener_files(spec));
            let current = self.listeners.get(&l.name).map(|rt| {
                let live = locked(&rt.live);
                (rt.acceptor.clone(), live.server.clone())
            });
            let (server, acceptor) = match current {
                Some((acceptor, server)) => match server.reload(spec).map_err(err)? {
                    None if acceptor.handshake_timeout() == timeout => (server, acceptor),
                    None => {
                        let acceptor = TlsAcceptor::for_server(&server, timeout);
                        (server, Arc::new(acceptor))
                    }
                    Some(new) => {
                        let acceptor = TlsAcceptor::for_server(&new, timeout);
                        (Arc::new(new), Arc::new(acceptor))
                    }
                },
                None => {
                    let server = ServerTls::load(spec).map_err(err)?;
                    let acceptor = TlsAcceptor::for_server(&server, timeout);
                    (Arc::new(server), Arc::new(acceptor))
                }
            };
            out.listeners.insert(
                l.name.clone(),
                ListenerTlsRt {
                    acceptor,
                    live: Mutex::new(Live { server, seen }),
                },
            );
        }
        for p in &cfg.pools {
            let Some(tls) = &p.tls else { continue };
            let err = |e: fulcrum_tls::TlsError| format!("pool \"{}\": {e}", p.name);
            let kept = match (self.clients.get(&p.name), self.pools.get(&p.name)) {
                (Some(client), Some(upstream)) => match client.reload(tls).map_err(err)? {
                    None => Some((client.clone(), upstream.clone())),
                    Some(new) => {
                        out.insert_pool(&p.name, new);
                        None
                    }
                },
                _ => {
                    out.insert_pool(&p.name, ClientTls::load(tls).map_err(err)?);
                    None
                }
            };
            if let Some((client, upstream)) = kept {
                out.clients.insert(p.name.clone(), client);
                out.pools.insert(p.name.clone(), upstream);
            }
        }
        Ok(out)
    }

    fn insert_pool(&mut self, name: &str, client: ClientTls) {
        let tls = client.spec();
        let server_name = tls.sni.as_ref().map(|_| {
            // `ClientTls::load` validated the name; `server_name` returns it.
            fulcrum_tls::server_name(tls, std::net::SocketAddr::from(([0, 0, 0, 0], 0)))
        });
        self.pools.insert(
            name.to_string(),
            UpstreamTls {
                id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                config: client.config(),
                server_name,
            },
        );
        self.clients.insert(name.to_string(), Arc::new(client));
    }

    /// The acceptor of https listener `name`.
    pub(crate) fn acceptor(&self, name: &str) -> Option<Arc<TlsAcceptor>> {
        self.listeners.get(name).map(|rt| rt.acceptor.clone())
    }
}

/// The poll: rebuild the TLS of each listener whose files were written since last looked at,
/// and put it in service; a bad new file is reported (once per change) and the old
/// configuration keeps serving.
pub(crate) fn reload_changed(tls: &TlsRt) {
    for (name, rt) in &tls.listeners {
        let mut live = locked(&rt.live);
        let now = Stamps::of(&listener_files(live.server.spec()));
        if now == live.seen {
            continue;
        }
        live.seen = now;
        match live.server.reload(live.server.spec()) {
            // Touched, or rewritten with the same bytes.
            Ok(None) => {}
            Ok(Some(new)) => {
                rt.acceptor.replace(&new);
                live.server = Arc::new(new);
                tracing::info!(listener = %name, "TLS files changed: certificates and client CA reloaded");
            }
            Err(e) => {
                tracing::error!(listener = %name, error = %e, "TLS reload failed; the old certificates and client CA keep serving")
            }
        }
    }
}
