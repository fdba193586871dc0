//! fulcrum-guard's integration tests: the bounds and costs the issue asks to show.

mod access;
mod alloc;
mod rate;
