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
use std::sync::Arc;

use fulcrum_config::model::Config;
use fulcrum_tls::{listener_files, ClientTls, ServerTls, Stamps, TlsAcceptor, UpstreamTls};

/// The TLS of the running configuration (kept in the control plane's state, so only ever
/// touched under its lock).
#[derive(Default)]
pub(crate) struct TlsRt {
    /// https listeners, by name.
    listeners: HashMap<String, ListenerTlsRt>,
    /// Pools with `[pool.X.tls]`, by name.
    pools: HashMap<String, PoolTlsRt>,
}

/// A listener's live TLS: its acceptor, what the acceptor serves, and the stamps of its files
/// when last looked at (by a reload or the poll), so the poll rebuilds once per change of the
/// files, not every second.
struct ListenerTlsRt {
    acceptor: Arc<TlsAcceptor>,
    server: Arc<ServerTls>,
    seen: Stamps,
}

/// A pool's client TLS: what the data path uses, and what it was built from.
#[derive(Clone)]
struct PoolTlsRt {
    upstream: UpstreamTls,
    client: Arc<ClientTls>,
}

impl PoolTlsRt {
    fn new(client: ClientTls) -> PoolTlsRt {
        PoolTlsRt {
            upstream: UpstreamTls::new(&client),
            client: Arc::new(client),
        }
    }
}

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
            let old = self.listeners.get(&l.name);
            let server = match old {
                Some(old) => match old.server.reload(spec).map_err(err)? {
                    Some(new) => Arc::new(new),
                    None => old.server.clone(),
                },
                None => Arc::new(ServerTls::load(spec).map_err(err)?),
            };
            // The serving acceptor stays while what it serves and its timeout do.
            let acceptor = match old {
                Some(old)
                    if Arc::ptr_eq(&old.server, &server)
                        && old.acceptor.handshake_timeout() == timeout =>
                {
                    old.acceptor.clone()
                }
                _ => Arc::new(TlsAcceptor::for_server(&server, timeout)),
            };
            out.listeners.insert(
                l.name.clone(),
                ListenerTlsRt {
                    acceptor,
                    server,
                    seen,
                },
            );
        }
        for p in &cfg.pools {
            let Some(tls) = &p.tls else { continue };
            let err = |e: fulcrum_tls::TlsError| format!("pool \"{}\": {e}", p.name);
            let rt = match self.pools.get(&p.name) {
                Some(old) => match old.client.reload(tls).map_err(err)? {
                    Some(new) => PoolTlsRt::new(new),
                    None => old.clone(),
                },
                None => PoolTlsRt::new(ClientTls::load(tls).map_err(err)?),
            };
            out.pools.insert(p.name.clone(), rt);
        }
        Ok(out)
    }

    /// The acceptor of https listener `name`.
    pub(crate) fn acceptor(&self, name: &str) -> Option<Arc<TlsAcceptor>> {
        self.listeners.get(name).map(|rt| rt.acceptor.clone())
    }

    /// How the data path reaches pool `name`'s backends over TLS.
    pub(crate) fn upstream(&self, name: &str) -> Option<UpstreamTls> {
        self.pools.get(name).map(|p| p.upstream.clone())
    }
}

/// The poll: rebuild the TLS of each listener whose files were written since last looked at,
/// and put it in service; a bad new file is reported (once per change) and the old
/// configuration keeps serving.
pub(crate) fn reload_changed(tls: &mut TlsRt) {
    for (name, rt) in &mut tls.listeners {
        let now = Stamps::of(&listener_files(rt.server.spec()));
        if now == rt.seen {
            continue;
        }
        rt.seen = now;
        match rt.server.reload(rt.server.spec()) {
            // Touched, or rewritten with the same bytes.
            Ok(None) => {}
            Ok(Some(new)) => {
                rt.acceptor.replace(&new);
                rt.server = Arc::new(new);
                tracing::info!(listener = %name, "TLS files changed: certificates and client CA reloaded");
            }
            Err(e) => {
                tracing::error!(listener = %name, error = %e, "TLS reload failed; the old certificates and client CA keep serving")
            }
        }
    }
}
