//! The index a [`RouteTable`](super::RouteTable) is looked up through.
//!
//! Routes are grouped by their host matcher: no host, an exact name (a hash map), a wildcard
//! suffix (a trie of labels read from the right). A request's candidates are the routes of
//! the groups its host can match — at most one exact group, one per matching wildcard, and the
//! host-less group — narrowed by path prefix inside large groups. Candidates come as ascending
//! lists merged in lockstep and each is checked with every matcher, so the winner is the first
//! route in table order that accepts the request, as in a scan of the whole table; the work
//! depends on how many routes could match, not on how many there are.

use super::group::Group;
use super::hosts::{lookup, Name, NameMap, Suffixes};
use super::merge::{Cursors, TooMany};
use super::RouteSpec;
use crate::host::HostPattern;

#[derive(Debug, Clone)]
pub(super) struct Index {
    /// Routes without a host matcher: candidates for every request.
    any: Group,
    /// Routes with an exact host, by that host (canonical; looked up ignoring ASCII case).
    exact: NameMap<Group>,
    /// Routes with a wildcard host.
    wildcards: Suffixes,
}

impl Index {
    /// Indexes `routes` (host patterns already canonical). Linear in the total size of the
    /// patterns and prefixes.
    pub(super) fn build<A>(routes: &[RouteSpec<A>]) -> Index {
        let mut any = Group::default();
        let mut exact = NameMap::<Group>::default();
        let mut wildcards = Suffixes::new();
        for (i, route) in routes.iter().enumerate() {
            match &route.host {
                None => any.add(i),
                Some(HostPattern::Exact(name)) => exact.entry(Name::new(name)).or_default().add(i),
                Some(HostPattern::Wildcard(suffix)) => match suffix.strip_prefix('.') {
                    Some(labels) => wildcards.group_mut(labels).add(i),
                    // Not canonical (cannot happen): a candidate everywhere, still correct.
                    None => any.add(i),
                },
            }
        }
        let prefix_of = |i: usize| routes.get(i).and_then(|r| r.path_prefix.as_deref());
        any.finish(prefix_of);
        exact.values_mut().for_each(|g| g.finish(prefix_of));
        wildcards.groups_mut().for_each(|g| g.finish(prefix_of));
        Index {
            any,
            exact,
            wildcards,
        }
    }

    /// The first candidate, in table order, that `check` accepts; `host` as returned by
    /// [`request_host`](crate::request_host). `check` must apply every matcher: candidates
    /// are only those the host and path could match. `Err` when the request has more
    /// candidate lists than one lookup merges (the caller then scans the table).
    pub(super) fn first(
        &self,
        host: Option<&str>,
        path: &str,
        check: impl FnMut(usize) -> bool,
    ) -> Result<Option<usize>, TooMany> {
        let path = path.as_bytes();
        let mut out = Cursors::new();
        self.any.candidates(path, &mut out)?;
        if let Some(host) = host.map(str::as_bytes) {
            if let Some(group) = lookup(&self.exact, host) {
                group.candidates(path, &mut out)?;
            }
            if !self.wildcards.is_empty() {
                let mut added = Ok(());
                self.wildcards.each_match(host, |group| {
                    added = group.candidates(path, &mut out);
                    added.is_ok()
                });
                added?;
            }
        }
        Ok(out.first(check))
    }
}

#[cfg(test)]
mod tests;
