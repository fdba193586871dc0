//! The data path's metric handles, resolved once per snapshot so a request records with an
//! index and an atomic add (see `fulcrum-telemetry`).

use std::sync::Arc;

use fulcrum_telemetry::{Counter, Direction, FulcrumMetrics, Gauge, Histogram, StatusCounters};

use crate::{PoolState, RouteAction};

/// `requests_total` and `request_duration_seconds` for one (listener, route, pool).
pub struct Series {
    /// The pool this series is for (`None`: answered locally or no route).
    pool: Option<Arc<PoolState>>,
    pub status: StatusCounters,
    pub duration: Histogram,
}

/// A udp listener's handles, beside its byte counters.
#[derive(Clone)]
pub struct UdpMetrics {
    pub flows_active: Gauge,
    pub flows_evicted: Counter,
    pub datagrams_dropped: Counter,
}

impl UdpMetrics {
    pub fn new(m: &FulcrumMetrics, listener: &str) -> Self {
        UdpMetrics {
            flows_active: m.udp_flows_active.with(&[listener]),
            flows_evicted: m.udp_flows_evicted_total.with(&[listener]),
            datagrams_dropped: m.udp_datagrams_dropped_total.with(&[listener]),
        }
    }
}

/// A listener's handles.
pub struct ListenerMetrics {
    pub connections_active: Gauge,
    pub connections_total: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    /// udp listeners: their flow and dropped-datagram series (`None` on the others, which
    /// export none).
    pub udp: Option<UdpMetrics>,
    /// Index-aligned with the route table; one series per pool the route can choose.
    routes: Vec<Vec<Series>>,
    unrouted: Series,
}

impl std::fmt::Debug for ListenerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListenerMetrics")
    }
}

fn series(
    m: &FulcrumMetrics,
    listener: &str,
    route: &str,
    pool: Option<&Arc<PoolState>>,
) -> Series {
    let pool_name = pool.map_or("", |p| p.name.as_str());
    Series {
        pool: pool.cloned(),
        status: m.status_counters(listener, route, pool_name),
        duration: m
            .request_duration_seconds
            .with(&[listener, route, pool_name]),
    }
}

impl ListenerMetrics {
    pub fn new(m: &FulcrumMetrics, listener: &str, routes: &[(String, &RouteAction)]) -> Self {
        let routes = routes
            .iter()
            .map(|(name, action)| match action {
                RouteAction::Pool(p) => vec![series(m, listener, name, Some(p))],
                RouteAction::Split { targets, .. } => targets
                    .iter()
                    .map(|(p, _)| series(m, listener, name, Some(p)))
                    .collect(),
                RouteAction::Redirect { .. } | RouteAction::Respond { .. } => {
                    vec![series(m, listener, name, None)]
                }
            })
            .collect();
        ListenerMetrics {
            connections_active: m.connections_active.with(&[listener]),
            connections_total: m.connections_total.with(&[listener]),
            bytes_in: m.bytes_total.with(&[listener, Direction::In.as_str()]),
            bytes_out: m.bytes_total.with(&[listener, Direction::Out.as_str()]),
            udp: None,
            routes,
            unrouted: series(m, listener, "", None),
        }
    }

    /// The series for a request answered by `route` through `pool`.
    pub fn series(&self, route: Option<usize>, pool: Option<&Arc<PoolState>>) -> &Series {
        let Some(list) = route.and_then(|r| self.routes.get(r)) else {
            return &self.unrouted;
        };
        list.iter()
            .find(|s| match (&s.pool, pool) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            })
            .or_else(|| list.first())
            .unwrap_or(&self.unrouted)
    }
}
