//! Test helpers for Fulcrum: real HTTP, TCP and UDP backends on loopback, raw-socket and hyper clients,
//! polling helpers, and backends that fail below HTTP. Everything here uses real sockets on
//! `127.0.0.1:0` or `[::1]:0`.
//!
//! Test-only code: it may panic (that is how a test fails).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod backend;
pub mod client;
pub mod datagram;
pub mod raw;
pub mod stream;
pub mod tls;

use std::time::{Duration, Instant};

pub use backend::{Backend, Recorded};
pub use client::{get, raw_exchange, read_until_close, Client, RawReply, Reply};
pub use datagram::DatagramBackend;
pub use raw::{free_dual_stack_port, Blackhole, ResetBackend};
pub use stream::{StreamBackend, StreamMode, StreamSeen};

/// Poll `cond` until it holds or `timeout` passes; returns whether it held (which the caller
/// must look at: a dropped result turns the wait into a sleep).
#[must_use]
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A free loopback port right now (for configs that need a concrete port that nothing
/// listens on, e.g. a refused backend). Binding port 0 in the server itself is preferred.
pub fn closed_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}
