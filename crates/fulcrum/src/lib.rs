//! The `fulcrum` program: command line, process lifecycle (workers, admin, signals) and the
//! embedded demo. The only crate that uses `anyhow`; everything below it has typed errors.

pub mod cli;
pub mod demo;
pub mod running;
