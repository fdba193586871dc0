//! A backend's live state, owned by `fulcrum-dataplane` (re-exported under the path the
//! engine has always used).

pub use fulcrum_dataplane::{BackendInflight, BackendState, BackendStats, Health, PoolShared};
