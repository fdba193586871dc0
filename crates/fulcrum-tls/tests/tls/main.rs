//! fulcrum-tls over real loopback sockets, with certificates made by rcgen at test time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod client;
mod mtls;
mod reload;
mod server;
mod sni;
