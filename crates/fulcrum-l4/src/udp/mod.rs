//! UDP load balancing: the flow table ([`flows`], which client goes to which backend, with time
//! passed in). The listener that joins it to sockets, pools and metrics is a thin tokio shell
//! around it.
//!
//! Must not: read config types or the clock inside the table, or hold sockets in it.

pub mod flows;

pub use flows::{FlowId, FlowStats, FlowTable, Outcome, Reason, Removed, Verdict};
