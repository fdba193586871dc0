//! The routes that share one host matcher (none, one exact name or one wildcard suffix).

use super::merge::{Cursors, TooMany};
use super::prefixes::Prefixes;

/// From this many routes on, a group indexes its path prefixes; below, its candidates are all
/// its routes (each then compares its prefix: cheaper than a walk for a handful).
const PATH_INDEX_MIN: usize = 8;

/// One host matcher's routes, ascending.
#[derive(Debug, Clone)]
pub(super) enum Group {
    /// Every route is a candidate for every path.
    Scan(Vec<usize>),
    /// Candidates by path prefix.
    Tree(Prefixes),
}

impl Default for Group {
    fn default() -> Group {
        Group::Scan(Vec::new())
    }
}

impl Group {
    /// Adds a route while the table is built, in ascending order.
    pub(super) fn add(&mut self, route: usize) {
        if let Group::Scan(routes) = self {
            routes.push(route);
        }
    }

    /// Ends building: a large group indexes its routes by `prefix_of` (`None`: no prefix).
    pub(super) fn finish<'a>(&mut self, prefix_of: impl Fn(usize) -> Option<&'a str>) {
        let Group::Scan(routes) = self else { return };
        if routes.len() < PATH_INDEX_MIN {
            routes.shrink_to_fit();
            return;
        }
        let mut tree = Prefixes::new();
        for &route in routes.iter() {
            tree.insert(prefix_of(route).unwrap_or_default().as_bytes(), route);
        }
        *self = Group::Tree(tree);
    }

    /// Adds to `out` this group's candidates for `path`: a superset, in ascending lists, of
    /// its routes whose prefix `path` starts with.
    pub(super) fn candidates<'g>(
        &'g self,
        path: &[u8],
        out: &mut Cursors<'g>,
    ) -> Result<(), TooMany> {
        match self {
            Group::Scan(routes) => out.push(routes),
            Group::Tree(tree) => tree.candidates(path, out),
        }
    }
}
