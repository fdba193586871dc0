//! Host names as hash keys, and the trie of wildcard suffixes.
//!
//! Patterns are stored in canonical (lowercase) form; a request's host is looked up as it came,
//! hashed and compared ignoring ASCII case, so a lookup makes no lowercase copy.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::group::Group;

/// A name hashed and compared ignoring ASCII case. Stored keys ([`Name`]) and request names
/// ([`Seen`]) meet as `dyn Folded`, so a map keyed by `Name` can be asked about a borrowed
/// request name.
trait Folded {
    fn bytes(&self) -> &[u8];
}

impl Hash for dyn Folded + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for &b in self.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

/// A map keyed by names, hashed with [`NameHasher`].
pub(super) type NameMap<V> = HashMap<Name, V, BuildHasherDefault<NameHasher>>;

/// The hasher of the name maps: FxHash's step per byte, finished with murmur3's `fmix64` so
/// that the bucket (low) and tag (high) bits both depend on every byte. A few instructions
/// per byte where SipHash costs hundreds per name. It is not keyed, and need not be: its keys
/// come from the configuration; a request only looks up, so it cannot lengthen a probe
/// sequence, only land on one the configuration made.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u8(b);
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

impl PartialEq for dyn Folded + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.bytes().eq_ignore_ascii_case(other.bytes())
    }
}

impl Eq for dyn Folded + '_ {}

/// A stored name (a canonical exact host, or one label of a wildcard suffix).
#[derive(Debug, Clone)]
pub(super) struct Name(Box<[u8]>);

impl Name {
    pub(super) fn new(name: &str) -> Name {
        Name(name.as_bytes().into())
    }
}

impl Folded for Name {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn Folded).hash(state);
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        (self as &dyn Folded) == (other as &dyn Folded)
    }
}

impl Eq for Name {}

impl<'a> Borrow<dyn Folded + 'a> for Name {
    fn borrow(&self) -> &(dyn Folded + 'a) {
        self
    }
}

/// A name borrowed from a request, any case.
struct Seen<'a>(&'a [u8]);

impl Folded for Seen<'_> {
    fn bytes(&self) -> &[u8] {
        self.0
    }
}

/// `map[name]`, ignoring ASCII case, without copying `name`.
pub(super) fn lookup<'m, V>(map: &'m NameMap<V>, name: &[u8]) -> Option<&'m V> {
    map.get(&Seen(name) as &dyn Folded)
}

/// Wildcard suffixes as a trie of labels read from the right: `.b.example.com` is the path
/// `com` → `example` → `b`. A host walks down its own labels, so the work is one hash per label
/// of the host however many wildcards there are.
#[derive(Debug, Clone)]
pub(super) struct Suffixes {
    /// `nodes[0]` is the root (the empty suffix, never a pattern).
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    children: NameMap<usize>,
    /// The routes whose pattern is the suffix this node spells, if any.
    group: Option<Group>,
}

impl Suffixes {
    pub(super) fn new() -> Suffixes {
        Suffixes {
            nodes: vec![Node::default()],
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.nodes.len() == 1
    }

    /// The group of the pattern `.{labels}` (canonical, so `labels` is lowercase), created
    /// empty on first use.
    pub(super) fn group_mut(&mut self, labels: &str) -> &mut Group {
        let mut node = 0;
        for label in labels.rsplit('.') {
            let next = self.nodes.len();
            let child = *self.nodes[node]
                .children
                .entry(Name::new(label))
                .or_insert(next);
            if child == next {
                self.nodes.push(Node::default());
            }
            node = child;
        }
        self.nodes[node].group.get_or_insert_with(Group::default)
    }

    pub(super) fn groups_mut(&mut self) -> impl Iterator<Item = &mut Group> {
        self.nodes.iter_mut().filter_map(|n| n.group.as_mut())
    }

    /// Calls `f` with the group of every pattern that matches `host` (any case): a suffix
    /// `.{labels}` of it with at least one byte before that dot — from the shortest suffix to
    /// the longest. Stops early when `f` says so (returns `false`).
    pub(super) fn each_match<'s>(
        &'s self,
        host: &[u8],
        mut f: impl FnMut(&'s Group) -> bool,
    ) -> bool {
        let mut node = 0;
        let mut rest = host;
        loop {
            let (before, label) = match rest.iter().rposition(|&b| b == b'.') {
                Some(dot) => (Some(&rest[..dot]), &rest[dot + 1..]),
                None => (None, rest),
            };
            let Some(&child) = self
                .nodes
                .get(node)
                .and_then(|n| lookup(&n.children, label))
            else {
                return true;
            };
            // The pattern `.{labels}` needs the dot before its first label, and a byte
            // before that dot.
            let Some(before) = before else {
                return true;
            };
            if !before.is_empty() {
                if let Some(group) = self.nodes.get(child).and_then(|n| n.group.as_ref()) {
                    if !f(group) {
                        return false;
                    }
                }
            }
            node = child;
            rest = before;
        }
    }
}
