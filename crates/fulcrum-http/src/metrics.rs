//! The snapshot's metric handles, owned by `fulcrum-dataplane` (re-exported under the path
//! the engine has always used).

pub use fulcrum_dataplane::{ListenerMetrics, Series};
