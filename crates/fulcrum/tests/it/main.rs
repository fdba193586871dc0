//! End-to-end tests: real clients → Fulcrum → real backends, over loopback sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod admin_api;
mod balancing;
mod cli;
mod corpus;
mod dns;
mod forwarding;
mod host_check;
mod hostile;
mod limits;
mod observability;
mod path_hygiene;
mod proxy;
mod reload;
mod resilience;
mod response_framing;
mod streaming;
mod testssl;
mod tls;
mod upgrades;
