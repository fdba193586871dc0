//! UDP load balancing, built from parts that know nothing of each other: the flow table
//! ([`flows`], which client goes to which backend, with time passed in) and batched datagram
//! I/O ([`batch`], many datagrams per system call). The listener that joins them to sockets,
//! pools and metrics is a thin tokio shell around these ([`serve`]).
//!
//! Must not: read config types or the clock inside the table, or hold sockets in it.

pub mod batch;
pub mod flows;
pub mod serve;

pub use batch::{Datagram, Flushed, RecvBatch, SendBatch};
pub use flows::{FlowId, FlowStats, FlowTable, Outcome, Reason, Removed, Traffic, Verdict};
pub use serve::{serve, FlowDone, FlowEnd, UdpLoop};
