//! Why an active check failed (for logs; the verdict only needs pass or fail).

use std::time::Duration;

use http::StatusCode;

/// Boxed so that hyper's error type stays out of this crate's interface.
type Source = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The configured path or host does not make a valid request (a configuration bug).
    #[error("bad request: {0}")]
    Request(#[source] http::Error),
    #[error("http: {0}")]
    Http(#[source] Source),
    #[error("status {0}")]
    Status(StatusCode),
    /// A UDP probe's socket, send or receive failed; `ConnectionRefused` is an ICMP port
    /// unreachable from the backend.
    #[error("udp: {0}")]
    Udp(#[source] std::io::Error),
    /// A UDP probe's reply did not start with the expected bytes; its first bytes.
    #[error("unexpected reply, starting {}", Hex(.0))]
    Reply(Vec<u8>),
}

/// Bytes as hex pairs, for the log.
struct Hex<'a>(&'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(empty)");
        }
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
