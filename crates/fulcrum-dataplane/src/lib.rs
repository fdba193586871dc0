//! Fulcrum's data plane: the snapshots every engine reads and the live state of backends and
//! pools, behind methods.
//!
//! This crate owns:
//! - the immutable snapshots ([`ListenerState`] with its route table of [`RouteAction`]s and
//!   [`RouteRules`], [`PoolState`] with its backends and per-worker balancer states) and the
//!   metric handles resolved into them ([`ListenerMetrics`]);
//! - each backend's live state ([`BackendState`]: weights, health verdict, ejection,
//!   draining, in-flight count, statistics) and each pool's ([`PoolShared`]: passive health
//!   and the retry budget), which outlive snapshots;
//! - passive health on real traffic: [`PoolState::report`] runs `fulcrum-health`'s
//!   `PoolOutlier` (consecutive failures, `max_ejection_percent`, doubling ejection times),
//!   and [`PoolShared::readmit_due`] brings ejected backends back;
//! - the commands the control plane sends to running workers ([`WorkerCmd`]).
//!
//! The control plane builds snapshots (converting the configuration into [`PoolSpec`] and
//! [`ListenerState`]) and changes live state only through methods; engines (`fulcrum-http`,
//! `fulcrum-l4`) read snapshots, hold [`BackendInflight`] slots and report outcomes.
//!
//! Must not: depend on an engine or on the control plane, read configuration files or take
//! the configuration's listener, pool or route tables (only the validated values snapshots
//! hold: timeouts, limits, CIDRs, outlier and retry settings), take a lock shared between
//! workers on a request's way unless it failed (a failure report takes its pool's lock; each
//! worker's balancer lock is its own) or it is rate limited (one of the limiter's 64 shard
//! locks, for one update), hold a lock across an `.await`, or panic on anything a
//! client or backend sends.

mod backend;
mod guards;
mod listener;
mod metrics;
mod pool;
mod shared;
mod worker;

#[cfg(test)]
mod tests;

pub use backend::{BackendInflight, BackendState, BackendStats, DrainExpired, Health};
pub use guards::{
    Auth, ConnGuards, GuardCounters, JwksRemote, RateLimit, RequestGuards, WafCounters,
    WafDecision, WafGuard,
};
pub use listener::{ListenerState, RouteAction, RouteRules};
pub use metrics::{ListenerMetrics, Series, UdpMetrics};
pub use pool::{PoolSpec, PoolState};
pub use shared::PoolShared;
pub use worker::{ListenSocket, WorkerCmd, WorkerHandle, WorkerListener};
