//! Fulcrum's data plane: the snapshots every engine reads and the live state of backends and
//! pools.

mod backend;
mod metrics;
mod state;
mod worker;

pub use backend::{BackendInflight, BackendState, Health, HealthEvent, PoolShared};
pub use metrics::{ListenerMetrics, Series};
pub use state::{hsts_value, ListenerState, PoolState, RouteAction, RouteRules};
pub use worker::{WorkerCmd, WorkerHandle, WorkerListener};
