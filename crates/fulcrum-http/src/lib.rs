//! Fulcrum's HTTP engine.
//!
//! Owns: the worker threads and their accept loops (backoff when out of descriptors, backlog
//! drained when a listener stops), the strict HTTP/1 framing guard in front of hyper, the
//! per-connection driver (header and idle timeouts, graceful shutdown within a grace
//! deadline), the proxy service (route → pool → backend, header rules, streaming bodies,
//! upgraded tunnels), the per-worker backend connection pools, and the single place where
//! errors become responses.
//!
//! It reads the data plane's snapshots (`fulcrum-dataplane`; `state`, `backend` and
//! `metrics` re-export them under their old paths) and reports outcomes to them; it never
//! builds them. Must not: read configuration files, hold locks shared between workers, or
//! panic on anything a client or backend sends.

mod accept;
pub mod access_log;
pub mod admission;
pub mod authority;
pub mod backend;
pub mod body;
mod conn_guard;
mod connect;
pub mod error;
pub mod forwarded;
pub mod guard;
pub mod h1;
pub mod h2conn;
pub mod headers;
pub mod layer4;
pub mod metrics;
pub mod proxy;
pub mod server;
pub mod state;
pub mod stop;
pub mod tunnel;
pub mod upstream;
pub mod worker;
