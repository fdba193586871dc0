//! Path prefixes as a radix tree: each node holds the routes whose prefix it spells, so a path
//! finds every route whose prefix it starts with in one walk down its own bytes.
//!
//! Prefixes are byte strings compared case-sensitively, as the matcher compares them.

use super::merge::{Cursors, TooMany};

#[derive(Debug, Clone)]
pub(super) struct Prefixes {
    /// `nodes[0]` is the root: the empty prefix (a route without a prefix sits there too).
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// The bytes from the parent to this node; empty only for the root.
    label: Box<[u8]>,
    /// `(first byte of the child's label, child)`, sorted by that byte.
    children: Vec<(u8, usize)>,
    /// The routes whose prefix ends here, ascending.
    routes: Vec<usize>,
}

impl Prefixes {
    pub(super) fn new() -> Prefixes {
        Prefixes {
            nodes: vec![Node::default()],
        }
    }

    /// Adds `route` under `prefix`; routes must come in ascending order.
    pub(super) fn insert(&mut self, prefix: &[u8], route: usize) {
        let mut node = 0;
        let mut rest = prefix;
        while let Some(&first) = rest.first() {
            let slot = self.nodes[node]
                .children
                .binary_search_by_key(&first, |c| c.0);
            let child = match slot {
                Ok(at) => self.nodes[node].children[at].1,
                Err(at) => {
                    let leaf = self.add(rest, Vec::new());
                    self.nodes[node].children.insert(at, (first, leaf));
                    node = leaf;
                    break;
                }
            };
            let label = &self.nodes[child].label;
            let common = label.iter().zip(rest).take_while(|(a, b)| a == b).count();
            if common < label.len() {
                // Split the edge: a new node for the shared part, the old child below it.
                let (shared, tail) = label.split_at(common);
                let (shared, tail): (Box<[u8]>, Box<[u8]>) = (shared.into(), tail.into());
                let tail_first = tail.first().copied().unwrap_or_default();
                self.nodes[child].label = tail;
                let mid = self.add(&shared, vec![(tail_first, child)]);
                if let Ok(at) = slot {
                    self.nodes[node].children[at].1 = mid;
                }
                node = mid;
            } else {
                node = child;
            }
            rest = &rest[common..];
        }
        self.nodes[node].routes.push(route);
    }

    fn add(&mut self, label: &[u8], children: Vec<(u8, usize)>) -> usize {
        self.nodes.push(Node {
            label: label.into(),
            children,
            routes: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Adds to `out` the routes of every prefix of `path` (the empty prefix first).
    pub(super) fn candidates<'s>(
        &'s self,
        path: &[u8],
        out: &mut Cursors<'s>,
    ) -> Result<(), TooMany> {
        let mut node = self.nodes.first();
        let mut rest = path;
        while let Some(n) = node {
            out.push(&n.routes)?;
            let Some(&first) = rest.first() else { break };
            node = n
                .children
                .binary_search_by_key(&first, |c| c.0)
                .ok()
                .and_then(|at| n.children.get(at))
                .and_then(|&(_, child)| self.nodes.get(child))
                .filter(|child| rest.starts_with(&child.label));
            if let Some(child) = node {
                rest = rest.get(child.label.len()..).unwrap_or_default();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(tree: &Prefixes, path: &str) -> Vec<usize> {
        let mut out = Cursors::new();
        tree.candidates(path.as_bytes(), &mut out).unwrap();
        let mut all = Vec::new();
        out.first(|i| {
            all.push(i);
            false
        });
        all
    }

    #[test]
    fn finds_every_prefix_of_the_path() {
        let mut tree = Prefixes::new();
        let prefixes = [
            "/api/v1", "/api", "/", "/apiary", "", "/api/v2", "/b", "/api",
        ];
        for (i, p) in prefixes.iter().enumerate() {
            tree.insert(p.as_bytes(), i);
        }
        assert_eq!(hits(&tree, "/api/v1/users"), [0, 1, 2, 4, 7]);
        assert_eq!(hits(&tree, "/apiary/x"), [1, 2, 3, 4, 7]);
        assert_eq!(hits(&tree, "/api"), [1, 2, 4, 7]);
        assert_eq!(hits(&tree, "/ap"), [2, 4]);
        assert_eq!(hits(&tree, "/API"), [2, 4], "case-sensitive");
        assert_eq!(hits(&tree, ""), [4]);
        assert_eq!(hits(&tree, "x"), [4]);
        assert_eq!(hits(&tree, "/b"), [2, 4, 6]);
    }
}
