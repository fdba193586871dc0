//! The HTTP/1 framing guard: a strict scanner in front of hyper's parser.
//!
//! hyper is lenient where RFC 9112 lets it be (it picks Transfer-Encoding over Content-Length,
//! accepts bare LF line endings, ...). A proxy must not be: any byte that two HTTP parsers could
//! read differently is a smuggling vector. The guard sees every byte the client sends before
//! hyper does and stops the connection at the first one that breaks a framing rule.

pub(crate) mod io;
pub mod scan;
mod spans;

pub use io::{ByteCounters, ConnActivity, GuardedIo};
pub use scan::{Scan, Scanner, Violation};
