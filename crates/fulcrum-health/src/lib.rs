//! Fulcrum's backend health: whether each backend of a pool may take traffic, and with what
//! share.
//!
//! This crate owns the health state machines and the active-check loop:
//!
//! - [`ActiveHealth`]: the verdict of active checks (thresholds of consecutive results), with
//!   [`Schedule`] for jittered check times;
//! - [`PoolOutlier`]: passive health (Envoy-style outlier ejection) from results on real
//!   traffic, bounded by an [`EjectionBudget`];
//! - [`ramp_weight`]: slow start for a backend that just became usable;
//! - [`check_once`] and [`run_checks`]: the thin tokio shell that runs TCP, HTTP or UDP
//!   checks.
//!
//! The state machines are socket-free and clock-free: time is passed in (`now: Instant`), so
//! they are tested by simulation without sleeping. The control plane runs the active checks
//! and slow start and publishes effective weights; the data plane (`fulcrum-dataplane`) runs
//! each pool's [`PoolOutlier`] on the outcomes requests report. This crate must not know about
//! pool snapshots, selection or the data path, and must not panic on any input.

mod active;
mod checker;
mod error;
mod outlier;
mod slow_start;
mod udp;

pub use active::{ActiveHealth, Schedule, Transition, Verdict};
pub use checker::{
    check_once, check_once_with, probe, probe_with, run_checks, run_checks_with, USER_AGENT_VALUE,
};
pub use error::CheckError;
pub use outlier::{EjectionBudget, Event, OutlierState, PoolOutlier};
pub use slow_start::ramp_weight;
