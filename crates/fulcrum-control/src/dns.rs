//! Backends named by DNS: each `host:port` entry is resolved every `dns_refresh`; every address
//! becomes a backend with the entry's weight, and addresses that disappear are drained.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Control;

/// Name resolution, a seam so tests can control what a name resolves to.
pub trait Resolve: Send + Sync + 'static {
    /// Every address of `host`, with `port`.
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

/// The system resolver (`getaddrinfo`: /etc/hosts, then DNS as the machine is configured).
#[derive(Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok((host, port).to_socket_addrs()?.collect())
    }
}

/// One DNS entry of one pool.
pub(crate) type DnsKey = (String, String, u16);

/// Resolve every DNS entry of `cfg` now (startup: backends are known before serving).
pub(crate) fn resolve_all(
    resolver: &dyn Resolve,
    cfg: &fulcrum_config::model::Config,
) -> HashMap<DnsKey, Vec<SocketAddr>> {
    let mut out = HashMap::new();
    for p in &cfg.pools {
        for d in &p.dns {
            let key = (p.name.clone(), d.host.clone(), d.port);
            out.insert(
                key,
                resolve_logged(resolver, &p.name, &d.host, d.port).unwrap_or_default(),
            );
        }
    }
    out
}

fn resolve_logged(
    resolver: &dyn Resolve,
    pool: &str,
    host: &str,
    port: u16,
) -> Option<Vec<SocketAddr>> {
    match resolver.resolve(host, port) {
        Ok(mut addrs) => {
            addrs.sort();
            addrs.dedup();
            Some(addrs)
        }
        Err(e) => {
            tracing::warn!(pool, host, error = %e, "cannot resolve backend name; keeping the last answer");
            None
        }
    }
}

impl Control {
    /// Re-resolve the entries whose refresh is due; apply the configuration again when an
    /// answer changed. Blocking lookups run on the blocking pool.
    pub(crate) async fn refresh_dns(self: &Arc<Self>, due: &mut HashMap<DnsKey, Instant>) {
        let now = Instant::now();
        let entries: Vec<(DnsKey, Duration)> = {
            let inner = self.lock();
            inner
                .config
                .pools
                .iter()
                .flat_map(|p| {
                    p.dns
                        .iter()
                        .map(move |d| ((p.name.clone(), d.host.clone(), d.port), p.dns_refresh))
                })
                .collect()
        };
        // A set: a scan of the entries per entry is quadratic with thousands of DNS pools.
        let live: std::collections::HashSet<&DnsKey> = entries.iter().map(|(k, _)| k).collect();
        due.retain(|k, _| live.contains(k));
        for (key, every) in entries {
            let next = *due
                .entry(key.clone())
                .or_insert(fulcrum_core::time::later(now, every));
            if now < next {
                continue;
            }
            due.insert(key.clone(), fulcrum_core::time::later(now, every));
            let resolver = self.resolver.clone();
            let (pool, host, port) = key.clone();
            let answer =
                tokio::task::spawn_blocking(move || resolve_logged(&*resolver, &pool, &host, port))
                    .await
                    .ok()
                    .flatten();
            let Some(addrs) = answer else { continue };
            let result = self.reapply(
                |inner| {
                    if inner.resolved.get(&key) == Some(&addrs) {
                        return Err(None);
                    }
                    tracing::info!(pool = %key.0, host = %key.1, addresses = ?addrs, "backend name resolves differently");
                    inner.resolved.insert(key, addrs);
                    Ok(())
                },
                Some,
            );
            if let Err(Some(e)) = result {
                tracing::error!(error = %e, "applying new DNS answers failed");
            }
        }
    }
}
