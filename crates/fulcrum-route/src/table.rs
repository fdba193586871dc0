//! Route specifications and the immutable table they compile into.
//!
//! The first route in table order whose every matcher accepts the request wins. A lookup goes
//! through an index (`index.rs`): exact hosts by hash, wildcard hosts by a trie of labels, path
//! prefixes by a radix tree inside large groups; the candidates it yields are merged in table
//! order and each is checked with every matcher (and the caller's condition), so the result and
//! the order in which the caller's condition is asked are those of a scan of the whole table,
//! at a cost that depends on how many routes could match rather than on the size of the table.
//! Each matcher is a comparison on borrowed data and candidates are merged on the stack, so a
//! lookup allocates nothing.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::host::{request_host, HostPattern};
use crate::path::{normalize_path, NormalPath};

mod group;
mod hosts;
mod index;
mod merge;
mod prefixes;

/// Tables with at most this many routes are looked up by a plain scan (the index pays off
/// from about a dozen routes on; both give the same answer).
const SCAN_BELOW: usize = 8;

/// A request's header fields as routing sees them: whichever engine parsed the request
/// answers, from a `HeaderMap` or from offsets into its read buffer.
pub trait Headers {
    /// Whether a field `name` has exactly `value` (any of its lines).
    fn has_value(&self, name: &HeaderName, value: &HeaderValue) -> bool;
}

impl Headers for HeaderMap {
    fn has_value(&self, name: &HeaderName, value: &HeaderValue) -> bool {
        self.get_all(name).iter().any(|v| v == value)
    }
}

/// One route as configured: its matchers and what to do on a match. A matcher that is absent
/// (or an empty header list) accepts every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec<A> {
    /// Host to match; a route with a host never matches a request without one.
    pub host: Option<HostPattern>,
    /// Byte-wise, case-sensitive prefix of the request path (`/api` also matches `/apiary`).
    pub path_prefix: Option<String>,
    /// Each header must be present with exactly this value; when a name appears on several
    /// lines, any one of them may match (a comma-joined list in one line is not split).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// What the caller does with a request this route matches.
    pub action: A,
}

impl<A> RouteSpec<A> {
    /// Whether this (compiled) route accepts the request; `host` is already normalised.
    fn matches<H: Headers + ?Sized>(&self, host: Option<&str>, path: &str, headers: &H) -> bool {
        let host_ok = match (&self.host, host) {
            (None, _) => true,
            (Some(pattern), Some(host)) => pattern.matches(host),
            (Some(_), None) => false,
        };
        host_ok
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|prefix| path.as_bytes().starts_with(prefix.as_bytes()))
            && self
                .headers
                .iter()
                .all(|(name, value)| headers.has_value(name, value))
    }
}

/// Routes compiled for lookup; immutable once built. Share it behind an `Arc`.
#[derive(Debug, Clone)]
pub struct RouteTable<A> {
    routes: Vec<RouteSpec<A>>,
    index: index::Index,
}

impl<A> RouteTable<A> {
    /// Compiles `routes`, keeping their order (which is the match priority). Host patterns are
    /// put in canonical form (lowercase, no trailing dot, no IPv6 brackets). Linear in the
    /// size of the routes.
    pub fn new(routes: Vec<RouteSpec<A>>) -> Self {
        let routes: Vec<_> = routes
            .into_iter()
            .map(|route| RouteSpec {
                host: route.host.map(HostPattern::canonical),
                ..route
            })
            .collect();
        let index = index::Index::build(&routes);
        RouteTable { routes, index }
    }

    /// First match wins, in order. `host` is the request's Host header or URI authority (may
    /// contain a port, may be any case; may be None); `path` is normalised here (a path
    /// [`normalize_path`] refuses matches nothing). Returns the route's index and action.
    pub fn find<H: Headers + ?Sized>(
        &self,
        host: Option<&str>,
        path: &str,
        headers: &H,
    ) -> Option<(usize, &A)> {
        let path = normalize_path(path).ok()?;
        self.find_where(host, &path, headers, |_| true)
    }

    /// [`RouteTable::find`] on a path the caller has normalised (it forwards the same form),
    /// with one more condition a route must meet, judged by the caller on the route's index
    /// (e.g. "requires a client certificate" against the connection). `accept` is asked only
    /// about routes whose matchers all accept the request, in table order, until it says yes.
    pub fn find_where<H: Headers + ?Sized>(
        &self,
        host: Option<&str>,
        path: &NormalPath<'_>,
        headers: &H,
        accept: impl Fn(usize) -> bool,
    ) -> Option<(usize, &A)> {
        // A short table is scanned: cheaper than the index below a few routes.
        if self.routes.len() <= SCAN_BELOW {
            let host = host.and_then(request_host);
            let path = path.as_str();
            return self
                .routes
                .iter()
                .enumerate()
                .find(|(i, route)| route.matches(host, path, headers) && accept(*i))
                .map(|(i, route)| (i, &route.action));
        }
        self.find_indexed(host, path, headers, accept)
    }

    /// [`RouteTable::find_where`] through the index, whatever the table's size.
    pub(crate) fn find_indexed<H: Headers + ?Sized>(
        &self,
        host: Option<&str>,
        path: &NormalPath<'_>,
        headers: &H,
        accept: impl Fn(usize) -> bool,
    ) -> Option<(usize, &A)> {
        let host = host.and_then(request_host);
        let path = path.as_str();
        let check = |i: usize| {
            self.routes
                .get(i)
                .is_some_and(|route| route.matches(host, path, headers))
                && accept(i)
        };
        let found = match self.index.first(host, path, check) {
            Ok(found) => found,
            // More candidate lists than a lookup merges: the plain scan (same answer).
            Err(merge::TooMany) => (0..self.routes.len()).find(|&i| check(i)),
        };
        found.and_then(|i| Some((i, &self.routes.get(i)?.action)))
    }

    /// The action of route `i`, as numbered by [`RouteTable::find`].
    pub fn get(&self, i: usize) -> Option<&A> {
        self.routes.get(i).map(|route| &route.action)
    }

    /// The compiled routes, in match order.
    pub fn iter(&self) -> impl Iterator<Item = &RouteSpec<A>> {
        self.routes.iter()
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no routes (every lookup then finds nothing).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests;
