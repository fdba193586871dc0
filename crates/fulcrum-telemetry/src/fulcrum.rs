//! The metrics named in the SPEC, registered together: [`FulcrumMetrics`].

use crate::counter::CounterVec;
use crate::error::MetricError;
use crate::gauge::GaugeVec;
use crate::histogram::{Buckets, HistogramVec};
use crate::registry::Registry;
use crate::status::StatusCounters;

/// The SPEC's metric names ("Metric names (Prometheus)"). Renaming one is a breaking change.
pub mod names {
    /// Counter `{listener,route,pool,code}`: responses sent.
    pub const REQUESTS_TOTAL: &str = "fulcrum_requests_total";
    /// Histogram `{listener,route,pool}`: request duration in seconds.
    pub const REQUEST_DURATION_SECONDS: &str = "fulcrum_request_duration_seconds";
    /// Gauge `{pool,backend}`: 1 if the backend is healthy, else 0.
    pub const BACKEND_UP: &str = "fulcrum_backend_up";
    /// Gauge `{pool,backend}`: requests in flight to the backend.
    pub const BACKEND_INFLIGHT: &str = "fulcrum_backend_inflight";
    /// Gauge `{listener}`: open client connections.
    pub const CONNECTIONS_ACTIVE: &str = "fulcrum_connections_active";
    /// Counter `{listener}`: accepted client connections.
    pub const CONNECTIONS_TOTAL: &str = "fulcrum_connections_total";
    /// Counter `{listener,direction}`: bytes exchanged with clients.
    pub const BYTES_TOTAL: &str = "fulcrum_bytes_total";
    /// Counter `{result}`: configuration reloads.
    pub const CONFIG_RELOADS_TOTAL: &str = "fulcrum_config_reloads_total";
    /// Gauge `{listener}`: UDP flows (clients by address and port) in a udp listener's flow
    /// tables.
    pub const UDP_FLOWS_ACTIVE: &str = "fulcrum_udp_flows_active";
    /// Counter `{listener}`: UDP flows pushed out, least recently active first, to make room
    /// under `max_flows`.
    pub const UDP_FLOWS_EVICTED_TOTAL: &str = "fulcrum_udp_flows_evicted_total";
    /// Counter `{listener}`: datagrams a udp listener received or was sent and did not pass
    /// on (no usable backend, a socket that could not take it at once, too large, refused).
    pub const UDP_DATAGRAMS_DROPPED_TOTAL: &str = "fulcrum_udp_datagrams_dropped_total";

    /// Counter `{listener,route,guard,decision}`: what the guards decided (`decision` is
    /// `allow` or `deny`; `route` is empty for connection guards, decided at accept).
    pub const GUARD_DECISIONS_TOTAL: &str = "fulcrum_guard_decisions_total";

    /// Every name above.
    pub const ALL: [&str; 12] = [
        REQUESTS_TOTAL,
        REQUEST_DURATION_SECONDS,
        BACKEND_UP,
        BACKEND_INFLIGHT,
        CONNECTIONS_ACTIVE,
        CONNECTIONS_TOTAL,
        BYTES_TOTAL,
        CONFIG_RELOADS_TOTAL,
        UDP_FLOWS_ACTIVE,
        UDP_FLOWS_EVICTED_TOTAL,
        UDP_DATAGRAMS_DROPPED_TOTAL,
        GUARD_DECISIONS_TOTAL,
    ];
}

/// The `direction` label of `fulcrum_bytes_total`, seen from Fulcrum's client side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received from clients: `"in"`.
    In,
    /// Sent to clients: `"out"`.
    Out,
}

impl Direction {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// The `result` label of `fulcrum_config_reloads_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReloadResult {
    /// The new configuration was applied: `"ok"`.
    Success,
    /// The new configuration was rejected and the old one kept: `"error"`.
    Failure,
}

impl ReloadResult {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Success => "ok",
            ReloadResult::Failure => "error",
        }
    }
}

/// Every metric of the SPEC, with its labels in the SPEC's order.
#[derive(Debug, Clone)]
pub struct FulcrumMetrics {
    /// `fulcrum_requests_total{listener,route,pool,code}`; record through [`StatusCounters`].
    pub requests_total: CounterVec<4>,
    /// `fulcrum_request_duration_seconds{listener,route,pool}`, [`Buckets::latency`].
    pub request_duration_seconds: HistogramVec<3>,
    /// `fulcrum_backend_up{pool,backend}`: 1 or 0.
    pub backend_up: GaugeVec<2>,
    /// `fulcrum_backend_inflight{pool,backend}`; usually a [`GaugeVec::with_fn`] reading the
    /// pool's own in-flight counter.
    pub backend_inflight: GaugeVec<2>,
    /// `fulcrum_connections_active{listener}`.
    pub connections_active: GaugeVec<1>,
    /// `fulcrum_connections_total{listener}`.
    pub connections_total: CounterVec<1>,
    /// `fulcrum_bytes_total{listener,direction}`; see [`Direction`].
    pub bytes_total: CounterVec<2>,
    /// `fulcrum_config_reloads_total{result}`; see [`ReloadResult`].
    pub config_reloads_total: CounterVec<1>,
    /// `fulcrum_udp_flows_active{listener}`.
    pub udp_flows_active: GaugeVec<1>,
    /// `fulcrum_udp_flows_evicted_total{listener}`.
    pub udp_flows_evicted_total: CounterVec<1>,
    /// `fulcrum_udp_datagrams_dropped_total{listener}`.
    pub udp_datagrams_dropped_total: CounterVec<1>,
    /// `fulcrum_guard_decisions_total{listener,route,guard,decision}`.
    pub guard_decisions_total: CounterVec<4>,
}

impl FulcrumMetrics {
    /// Registers every SPEC metric in `registry`, counters and histograms sharded for
    /// `workers` worker threads. Fails if one of the names is already registered.
    pub fn register(registry: &Registry, workers: usize) -> Result<Self, MetricError> {
        use names::*;
        let r = registry;
        Ok(FulcrumMetrics {
            requests_total: r.counter_vec(
                REQUESTS_TOTAL,
                "HTTP responses sent, by listener, route, pool and status code.",
                ["listener", "route", "pool", "code"],
                workers,
            )?,
            request_duration_seconds: r.histogram_vec(
                REQUEST_DURATION_SECONDS,
                "Time from request head received to response head sent, in seconds.",
                ["listener", "route", "pool"],
                Buckets::latency(),
                workers,
            )?,
            backend_up: r.gauge_vec(
                BACKEND_UP,
                "Whether the backend is healthy and eligible for traffic (1) or not (0).",
                ["pool", "backend"],
            )?,
            backend_inflight: r.gauge_vec(
                BACKEND_INFLIGHT,
                "Requests currently in flight to the backend.",
                ["pool", "backend"],
            )?,
            connections_active: r.gauge_vec(
                CONNECTIONS_ACTIVE,
                "Client connections currently open.",
                ["listener"],
            )?,
            connections_total: r.counter_vec(
                CONNECTIONS_TOTAL,
                "Client connections accepted.",
                ["listener"],
                workers,
            )?,
            bytes_total: r.counter_vec(
                BYTES_TOTAL,
                "Bytes received from (in) and sent to (out) clients.",
                ["listener", "direction"],
                workers,
            )?,
            config_reloads_total: r.counter_vec(
                CONFIG_RELOADS_TOTAL,
                "Configuration reloads, by result (success or failure).",
                ["result"],
                workers,
            )?,
            udp_flows_active: r.gauge_vec(
                UDP_FLOWS_ACTIVE,
                "UDP flows (clients by address and port) currently in the listener's flow tables.",
                ["listener"],
            )?,
            udp_flows_evicted_total: r.counter_vec(
                UDP_FLOWS_EVICTED_TOTAL,
                "UDP flows evicted, least recently active first, to stay within max_flows.",
                ["listener"],
                workers,
            )?,
            udp_datagrams_dropped_total: r.counter_vec(
                UDP_DATAGRAMS_DROPPED_TOTAL,
                "Datagrams not passed on: no usable backend, a socket that could not take them \
                 at once, too large, or refused.",
                ["listener"],
                workers,
            )?,
            guard_decisions_total: r.counter_vec(
                GUARD_DECISIONS_TOTAL,
                "Guard decisions (rate limits, access lists, connection limits), by listener, \
                 route, guard and decision (allow or deny).",
                ["listener", "route", "guard", "decision"],
                workers,
            )?,
        })
    }

    /// The `requests_total` cache for one (listener, route, pool); build it with the snapshot.
    pub fn status_counters(&self, listener: &str, route: &str, pool: &str) -> StatusCounters {
        StatusCounters::new(&self.requests_total, listener, route, pool)
    }

    /// Stops exporting a backend's series (`backend_up`, `backend_inflight`) once it is gone.
    pub fn remove_backend(&self, pool: &str, backend: &str) {
        self.backend_up.remove(&[pool, backend]);
        self.backend_inflight.remove(&[pool, backend]);
    }

    /// Stops exporting the request series (`requests_total`, `request_duration_seconds`) of
    /// every (listener, route, pool) that `keep` refuses: routes, pools and listeners a reload
    /// removed. Returns how many series were removed.
    pub fn retain_routes(&self, mut keep: impl FnMut(&str, &str, &str) -> bool) -> usize {
        self.requests_total.retain(|[l, r, p, _]| keep(l, r, p))
            + self
                .request_duration_seconds
                .retain(|[l, r, p]| keep(l, r, p))
    }

    /// Stops exporting the guard series of every (listener, route) that `keep` refuses.
    pub fn retain_guards(&self, mut keep: impl FnMut(&str, &str) -> bool) -> usize {
        self.guard_decisions_total.retain(|[l, r, _, _]| keep(l, r))
    }

    /// Stops exporting a listener's connection, flow and byte series once it is gone.
    pub fn remove_listener(&self, listener: &str) {
        self.connections_active.remove(&[listener]);
        self.connections_total.remove(&[listener]);
        self.udp_flows_active.remove(&[listener]);
        self.udp_flows_evicted_total.remove(&[listener]);
        self.udp_datagrams_dropped_total.remove(&[listener]);
        for d in [Direction::In, Direction::Out] {
            self.bytes_total.remove(&[listener, d.as_str()]);
        }
    }
}
