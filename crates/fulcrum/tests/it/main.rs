//! End-to-end tests: real clients → Fulcrum → real backends, over loopback sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// Counts allocations, for `alloc.rs` (nextest runs each test in its own process).
#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

mod admin_api;
mod alloc;

mod admin_hardening;
mod auth;
mod balancing;
mod cli;
mod config_hardening;
mod corpus;
mod dns;
mod engines;
mod forwarding;
mod guard;
mod h2_conformance;
mod h2_frames;
mod h2_hardening;
mod host_check;
mod hostile;
mod lifecycle;
mod limits;
mod observability;
mod parse_false_positives;
mod path_hygiene;
mod pool_faults;
mod proxy;
mod proxy_protocol;
mod reload;
mod reload_gaps;
mod resilience;
mod response_framing;
mod route_scale;
mod streaming;
mod tcp;
mod testssl;
mod tls;
mod tls_reload;
mod udp;
mod udp_health;
mod upgrades;
mod waf;
