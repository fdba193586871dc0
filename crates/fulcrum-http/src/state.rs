//! The snapshots this engine reads, owned by `fulcrum-dataplane` (re-exported under the path
//! the engine has always used).

pub use fulcrum_dataplane::{
    BackendState, Health, ListenerState, PoolShared, PoolState, RouteAction, RouteRules,
};
