//! Metric series of things that are gone: a removed backend's `backend_up` and
//! `backend_inflight` once its drain ended; the request series of routes, pools and listeners a
//! reload removed; a removed listener's connection and byte series once its last connection
//! closed (and, for udp listeners, its last flow ended). Left in place they would report a dead backend as down forever (an alert that never
//! clears) and grow without bound under autoscaling.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use fulcrum_config::model::{Action, Config};
use fulcrum_dataplane::BackendState;
use fulcrum_telemetry::FulcrumMetrics;

use crate::{Draining, Inner};

/// A drain ended: drop the backend's series, unless the same address is back in its pool (a
/// re-added backend registered its own series under the same labels).
pub(crate) fn drain_ended(
    backends: &HashMap<(String, SocketAddr), Arc<BackendState>>,
    metrics: &FulcrumMetrics,
    d: &Draining,
) {
    if !backends.contains_key(&(d.pool.clone(), d.backend.addr)) {
        metrics.remove_backend(&d.pool, &d.backend.label);
    }
}

/// Drop the request series of (listener, route, pool) triples `cfg` no longer has, and the
/// connection series of listeners it no longer has once none of their connections is open.
pub(crate) fn prune(inner: &Inner, metrics: &FulcrumMetrics) {
    let cfg = &inner.config;
    let live = triples(cfg);
    let removed = metrics.retain_routes(|l, r, p| live.contains(&(l, r, p)));
    if removed > 0 {
        tracing::debug!(removed, "dropped the request series of removed routes");
    }
    let guarded: HashSet<(&str, &str)> = cfg
        .listeners
        .iter()
        .flat_map(|l| {
            std::iter::once((l.name.as_str(), ""))
                .chain(l.routes.iter().map(|r| (l.name.as_str(), r.name.as_str())))
        })
        .collect();
    metrics.retain_guards(|l, r| guarded.contains(&(l, r)));
    let listeners: HashSet<&str> = cfg.listeners.iter().map(|l| l.name.as_str()).collect();
    let mut gone = Vec::new();
    metrics.connections_total.retain(|[l]| {
        if !listeners.contains(l.as_str()) {
            gone.push(l.clone());
        }
        true
    });
    for l in gone {
        let open = metrics.connections_active.value(&[&l]).unwrap_or(0)
            + metrics.udp_flows_active.value(&[&l]).unwrap_or(0);
        if open <= 0 {
            metrics.remove_listener(&l);
        }
    }
}

/// Every (listener, route, pool) the data path may record for `cfg`: one per pool a route can
/// choose, `""` for routes answered locally, and each listener's unrouted series.
fn triples(cfg: &Config) -> HashSet<(&str, &str, &str)> {
    let mut out = HashSet::new();
    for l in &cfg.listeners {
        out.insert((l.name.as_str(), "", ""));
        for r in &l.routes {
            match &r.action {
                Action::Pool(p) => {
                    out.insert((l.name.as_str(), r.name.as_str(), p.as_str()));
                }
                Action::Split(targets) => {
                    for t in targets {
                        out.insert((l.name.as_str(), r.name.as_str(), t.pool.as_str()));
                    }
                }
                Action::Redirect { .. } | Action::Respond { .. } => {
                    out.insert((l.name.as_str(), r.name.as_str(), ""));
                }
            }
        }
    }
    out
}
