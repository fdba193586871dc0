//! End-to-end tests: real clients → Fulcrum → real backends, over loopback sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod admin_api;
mod balancing;
mod cli;
mod corpus;
mod dns;
mod h2_conformance;
mod h2_frames;
mod h2_hardening;
mod hostile;
mod limits;
mod observability;
mod proxy;
mod reload;
mod resilience;
mod streaming;
mod testssl;
mod tls;
