//! The crate's one error type.

use std::io;

/// Why a layer-4 connection could not be routed.
///
/// All of these are the client's doing or the client's connection failing (downstream), and
/// none is retryable: nothing has been sent to a backend yet.
#[derive(Debug, thiserror::Error)]
pub enum L4Error {
    /// The client sent bytes that are not a ClientHello we accept.
    #[error("not a TLS client hello: {0}")]
    NotTls(&'static str),
    /// The client did not send a whole ClientHello in time.
    #[error("timed out waiting for the client hello")]
    Timeout,
    /// The client closed the connection before its ClientHello was complete.
    #[error("the client closed the connection after {0} bytes, before its client hello ended")]
    Closed(usize),
    /// Reading from the client failed.
    #[error("reading the client hello failed")]
    Io(#[from] io::Error),
    /// A trusted peer's PROXY protocol header was missing, malformed or late.
    #[error("PROXY protocol: {0}")]
    ProxyHeader(String),
}
