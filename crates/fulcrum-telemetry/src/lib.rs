//! Fulcrum's metrics: a registry of metric families and their Prometheus text exposition.
//!
//! This crate owns the metric types ([`Counter`], [`Gauge`], [`Histogram`] and their labelled
//! families [`CounterVec`], [`GaugeVec`], [`HistogramVec`]), the [`Registry`] that renders them
//! in the Prometheus text format 0.0.4, and [`FulcrumMetrics`], the metrics named in the SPEC.
//! It does not serve HTTP (the admin listener calls [`Registry::render`] for `GET /metrics`),
//! read clocks, or keep any global state: a registry is created by the binary and passed down
//! as `Arc<Registry>`.
//!
//! # Cost on the data path
//!
//! Handles are looked up once, when a snapshot is built, and kept in it. Recording through a
//! handle takes no lock and allocates nothing:
//!
//! - [`Counter::add`] and [`Histogram::observe`] are relaxed `fetch_add`s on the calling
//!   worker's own shard. Shards are padded to 128 bytes, so workers never write the same cache
//!   line. The worker id is only a spreading hint: it is masked into range, and two threads
//!   using the same id still count exactly (just with a shared line).
//! - [`Gauge`] is a single padded atomic: gauges move per connection or per backend, not per
//!   request, and must be one number anyway.
//! - [`StatusCounters`] turns a status code into a `requests_total` child with two array
//!   indexes; the family's mutex is taken only the first time a code is seen.
//!
//! Labelled families keep their children in a `Mutex<BTreeMap>` that is locked only to create,
//! remove or render children — never per request.
//!
//! It must not panic on any input: invalid names and buckets are errors at registration, and
//! label arity is checked by the compiler (`CounterVec<N>` takes `[&str; N]`).

mod cells;
mod counter;
mod desc;
mod error;
mod family;
mod fulcrum;
mod gauge;
mod histogram;
mod registry;
mod status;
mod text;

pub use counter::{Counter, CounterVec};
pub use error::MetricError;
pub use fulcrum::{names, Direction, FulcrumMetrics, ReloadResult};
pub use gauge::{Gauge, GaugeVec};
pub use histogram::{Buckets, Histogram, HistogramSnapshot, HistogramVec, LATENCY_BUCKETS};
pub use registry::{Registry, CONTENT_TYPE};
pub use status::StatusCounters;
