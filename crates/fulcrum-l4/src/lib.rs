//! Fulcrum's layer-4 engine: connections forwarded as bytes, not as requests.
//!
//! This crate owns TLS passthrough today — reading the server name from a client's ClientHello
//! without terminating TLS ([`client_hello`]), choosing a pool by that name through the
//! listener snapshot's SNI table, a backend through the pool's balancer, and relaying the
//! connection, ClientHello included, to it unchanged ([`passthrough::serve`], [`relay`]). The
//! relay, with its idle timeout and stop signal, also carries Fulcrum's upgraded HTTP
//! connections (WebSocket tunnels). `tcp` listeners' connections are served by [`tcp::serve`]:
//! a backend of the listener's pool, connect retries on another, and a zero-copy relay
//! (splice(2) through pipes, [`zero_copy`]) on Linux. For UDP it owns the flow table, a
//! socket-free state machine with time passed in, and batched datagram I/O (`recvmmsg` /
//! `sendmmsg` on Linux) ([`udp`]).
//!
//! It reads the data plane's snapshots (`fulcrum-dataplane`) and reports connect outcomes to
//! them, like any engine; it never builds them. It must not terminate TLS (no keys, no rustls
//! on the data path: the backend's certificate is what the client sees) and it knows nothing of
//! HTTP. Parsers are socket-free and tested on their own; the tokio functions around them are
//! thin.

pub mod client_hello;
mod error;
pub mod passthrough;
pub mod proxy_header;
mod relay;
/// The crate's only `unsafe` (system calls): see its own documentation.
#[allow(unsafe_code)]
mod sys;
pub mod tcp;
pub mod udp;
#[cfg(target_os = "linux")]
pub mod zero_copy;

pub use client_hello::{parse, Parsed};
pub use error::L4Error;
pub use passthrough::read_client_hello;
pub use relay::{cut_expired, relay, Cut, NoCut, RelayEnd, Relayed};
