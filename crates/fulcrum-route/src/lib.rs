//! Fulcrum's request routing: which route (and so which action) a request takes.
//!
//! This crate owns the matchers — host (exact or `*.` wildcard), path prefix and exact header
//! values — and the [`RouteTable`] they are compiled into. The table is immutable: the control
//! plane builds a new one from a new configuration and swaps it in (building is linear in the
//! size of the routes); the data path only calls [`RouteTable::find_where`] on a path it
//! normalised once ([`normalize_path`], which does not allocate for paths already in normal
//! form). That normal form is also the form the proxy forwards, so encoded or dotted variants
//! of a path take the route of the path the backend acts on.
//!
//! The first route in table order whose every matcher accepts wins, but a lookup does not scan
//! the table: an index (exact hosts by hash, wildcard hosts by a trie of labels, path prefixes
//! by a radix tree) yields the routes the request could match, which are checked in table
//! order. Its cost does not grow with the number of routes, and it allocates nothing.
//!
//! It does not know what an action means (`A` is the caller's type), nor anything about
//! connections or hyper: a request is seen as its host, path and header fields ([`Headers`],
//! implemented for `http::HeaderMap` and by the HTTP/1.1 fast path over its read buffer), a
//! `tls_passthrough` connection as the server name of its ClientHello ([`SniTable`]). It
//! depends on no other Fulcrum crate, so the configuration model is converted at the caller.

mod host;
mod path;
mod sni;
mod table;

pub use host::{request_host, HostPattern};
pub use path::{normalize_path, NormalPath, PathError};
pub use sni::{SniPattern, SniTable};
pub use table::{Headers, RouteSpec, RouteTable};
