//! Active health checks: one checker task per backend per process (not per worker), started
//! and stopped as backends and pools' `[health]` tables come and go.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use fulcrum_config::model::HealthCheck;
use fulcrum_dataplane::{BackendState, Health};
use fulcrum_health::{ActiveHealth, Verdict};
use tokio::sync::watch;

use crate::Control;

/// Running checkers by (pool, backend address): the spec they run with and their stop switch.
/// A running checker per (pool, backend): what it checks with (the spec and the bytes each
/// check starts with) and its stop switch.
pub(crate) type Checkers = HashMap<(String, SocketAddr), (Check, watch::Sender<bool>)>;

/// What a backend is checked with: the pool's spec and the bytes each check starts with.
type Check = (HealthCheck, Vec<u8>);

/// What a check of a pool's backends starts with: a PROXY header saying it is Fulcrum's own
/// connection (v2 `LOCAL`, v1 `UNKNOWN`) when the backends expect one.
fn preface(version: Option<fulcrum_config::model::ProxyVersion>) -> Vec<u8> {
    use fulcrum_config::model::ProxyVersion;
    let mut out = Vec::new();
    match version {
        None => {}
        Some(ProxyVersion::V1) => fulcrum_net::proxy_protocol::encode_v1_unknown(&mut out),
        Some(ProxyVersion::V2) => fulcrum_net::proxy_protocol::encode_v2_local(&mut out),
    }
    out
}

fn health_of(v: Verdict) -> Health {
    match v {
        Verdict::Unknown => Health::Unknown,
        Verdict::Healthy => Health::Healthy,
        Verdict::Unhealthy => Health::Unhealthy,
    }
}

impl Control {
    /// Start checkers for backends that need one, stop those whose backend or `[health]` table
    /// went away (or changed). Must run inside the control runtime.
    pub(crate) fn reconcile_checkers(self: &Arc<Self>) {
        // Runs every tick: by key, so that thousands of checked backends cost no more than a
        // pass over them.
        let desired: HashMap<(String, SocketAddr), (Arc<BackendState>, Check)> = {
            let inner = self.lock();
            let pools = crate::pools_by_name(&inner.config);
            inner
                .backends
                .iter()
                .filter_map(|(key, st)| {
                    let pool = pools.get(key.0.as_str())?;
                    let spec = pool.health.clone()?;
                    Some((
                        key.clone(),
                        (st.clone(), (spec, preface(pool.proxy_protocol))),
                    ))
                })
                .collect()
        };
        let mut checkers = crate::locked(&self.checkers);
        checkers.retain(|key, (spec, stop)| {
            let keep = desired.get(key).is_some_and(|(_, s)| s == spec);
            if !keep {
                let _ = stop.send(true);
            }
            keep
        });
        // Backends that lost their checks go back to "unknown" (usable).
        {
            let inner = self.lock();
            for (key, st) in &inner.backends {
                if !desired.contains_key(key) && st.health() != Health::Unknown {
                    st.set_health(Health::Unknown);
                }
            }
        }
        for (key, (st, spec)) in desired {
            if checkers.contains_key(&key) {
                continue;
            }
            let (stop, stopped) = watch::channel(false);
            checkers.insert(key.clone(), (spec.clone(), stop));
            let ctl = Arc::downgrade(self);
            let (spec, preface) = spec;
            tokio::spawn(async move {
                let mut active = ActiveHealth::new(&spec);
                let addr = st.addr;
                fulcrum_health::run_checks_with(
                    addr,
                    &spec,
                    &preface,
                    |ok, now| {
                        let Some(t) = active.record(ok) else { return };
                        let h = health_of(t.to);
                        // Unhealthy takes it out at once; a return waits for the timer (slow start).
                        st.set_health(h);
                        if h == Health::Unhealthy {
                            tracing::warn!(pool = %key.0, backend = %st.label, "backend unhealthy");
                        } else {
                            tracing::info!(pool = %key.0, backend = %st.label, health = h.as_str(), "backend health");
                            if t.from == Verdict::Unhealthy {
                                if let Some(ctl) = ctl.upgrade() {
                                    ctl.mark_usable(&key, now);
                                }
                            }
                        }
                    },
                    stopped,
                )
                .await;
            });
        }
    }

    /// A backend became usable again: slow start ramps from `now`.
    fn mark_usable(&self, key: &(String, SocketAddr), now: Instant) {
        self.lock().usable_since.insert(key.clone(), now);
    }
}
