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
}
