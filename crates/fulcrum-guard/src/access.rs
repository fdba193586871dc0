//! CIDR allow/deny lists: the longest prefix that contains the address decides (a `deny`
//! /24 inside an `allow` /8 denies; an `allow` /32 inside a `deny` /8 allows). An address
//! no entry contains is allowed when the list has no `allow` entry, denied otherwise (an
//! allow list names who may come). The same network in both lists denies.
//!
//! One hash map per prefix length in use, probed from the longest: a lookup costs at most
//! one probe per distinct length (33 for IPv4, 129 for IPv6), whatever the entry count.
//! IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) are their IPv4 address, and a mapped
//! network (`::ffff:10.0.0.0/104`) is the IPv4 one.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::hash::BuildFold;

/// What the list says of one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Contained in a `deny` entry longer than any `allow` one.
    Denied,
    /// In no entry, and the list allows only what its `allow` entries name.
    NotAllowed,
}

impl Verdict {
    pub fn allowed(self) -> bool {
        self == Verdict::Allow
    }

    /// Why the address was refused, for the 403's body.
    pub fn reason(self) -> &'static str {
        match self {
            Verdict::Allow => "allowed",
            Verdict::Denied => "the client address is denied by the access list",
            Verdict::NotAllowed => "the client address is not in the access list's allow entries",
        }
    }
}

/// Per prefix length (longest first), the networks of that length and whether they allow.
struct Family<K> {
    lengths: Vec<(u8, HashMap<K, bool, BuildFold>)>,
}

impl<K: std::hash::Hash + Eq + Copy> Family<K> {
    fn new() -> Self {
        Family {
            lengths: Vec::new(),
        }
    }

    fn insert(&mut self, prefix: u8, net: K, allow: bool) {
        let pos = match self.lengths.iter().position(|(p, _)| *p <= prefix) {
            Some(i) if self.lengths[i].0 == prefix => i,
            Some(i) => {
                self.lengths
                    .insert(i, (prefix, HashMap::with_hasher(BuildFold)));
                i
            }
            None => {
                self.lengths.push((prefix, HashMap::with_hasher(BuildFold)));
                self.lengths.len() - 1
            }
        };
        // Deny wins a tie.
        let e = self.lengths[pos].1.entry(net).or_insert(allow);
        *e = *e && allow;
    }

    fn find(&self, mask: impl Fn(u8) -> K) -> Option<bool> {
        self.lengths
            .iter()
            .find_map(|(p, map)| map.get(&mask(*p)).copied())
    }

    fn len(&self) -> usize {
        self.lengths.iter().map(|(_, m)| m.len()).sum()
    }
}

fn mask4(ip: u32, prefix: u8) -> u32 {
    ip & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask6(ip: u128, prefix: u8) -> u128 {
    ip & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// A compiled allow/deny list; immutable, shared by `Arc`.
pub struct AccessList {
    v4: Family<u32>,
    v6: Family<u128>,
    has_allow: bool,
}

impl std::fmt::Debug for AccessList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessList")
            .field("entries", &self.len())
            .field("has_allow", &self.has_allow)
            .finish()
    }
}

impl AccessList {
    /// The list of `allow` and `deny` networks, each an address and a prefix length (bits
    /// past the prefix are ignored; a prefix longer than the family's is clamped).
    pub fn new(
        allow: impl IntoIterator<Item = (IpAddr, u8)>,
        deny: impl IntoIterator<Item = (IpAddr, u8)>,
    ) -> Self {
        let mut list = AccessList {
            v4: Family::new(),
            v6: Family::new(),
            has_allow: false,
        };
        for (ip, prefix) in allow {
            list.has_allow = true;
            list.insert(ip, prefix, true);
        }
        for (ip, prefix) in deny {
            list.insert(ip, prefix, false);
        }
        list
    }

    fn insert(&mut self, ip: IpAddr, prefix: u8, allow: bool) {
        match ip {
            IpAddr::V4(v4) => {
                let p = prefix.min(32);
                self.v4.insert(p, mask4(u32::from(v4), p), allow);
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => {
                    let p = prefix - 96;
                    self.v4.insert(p, mask4(u32::from(v4), p), allow);
                }
                _ => {
                    let p = prefix.min(128);
                    self.v6.insert(p, mask6(u128::from(v6), p), allow);
                }
            },
        }
    }

    /// What the list says of `ip`.
    pub fn check(&self, ip: IpAddr) -> Verdict {
        let found = match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                self.v4.find(|p| mask4(bits, p))
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                self.v6.find(|p| mask6(bits, p))
            }
        };
        match found {
            Some(true) => Verdict::Allow,
            Some(false) => Verdict::Denied,
            None if self.has_allow => Verdict::NotAllowed,
            None => Verdict::Allow,
        }
    }

    /// Distinct networks held.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> (IpAddr, u8) {
        let (ip, p) = s.split_once('/').unwrap();
        (ip.parse().unwrap(), p.parse().unwrap())
    }

    fn list(allow: &[&str], deny: &[&str]) -> AccessList {
        AccessList::new(allow.iter().map(|s| net(s)), deny.iter().map(|s| net(s)))
    }

    fn check(l: &AccessList, ip: &str) -> Verdict {
        l.check(ip.parse().unwrap())
    }

    #[test]
    fn longest_prefix_wins_both_ways() {
        let l = list(
            &["10.0.0.0/8", "10.6.6.7/32"],
            &["10.6.6.0/24", "192.168.0.0/16"],
        );
        assert_eq!(check(&l, "10.1.2.3"), Verdict::Allow);
        assert_eq!(
            check(&l, "10.6.6.1"),
            Verdict::Denied,
            "deny /24 inside allow /8"
        );
        assert_eq!(
            check(&l, "10.6.6.7"),
            Verdict::Allow,
            "allow /32 inside deny /24"
        );
        assert_eq!(check(&l, "192.168.1.1"), Verdict::Denied);
        assert_eq!(check(&l, "11.0.0.1"), Verdict::NotAllowed);
        let deny_only = list(&[], &["10.0.0.0/8"]);
        assert_eq!(check(&deny_only, "11.0.0.1"), Verdict::Allow);
        assert_eq!(check(&deny_only, "10.0.0.1"), Verdict::Denied);
        let inner_allow = list(&["10.1.1.1/32"], &["10.0.0.0/8"]);
        assert_eq!(check(&inner_allow, "10.1.1.1"), Verdict::Allow);
        assert_eq!(check(&inner_allow, "10.1.1.2"), Verdict::Denied);
    }

    #[test]
    fn ipv6_and_mapped_addresses() {
        let l = list(
            &["2001:db8::/32", "::1/128"],
            &["2001:db8:6::/48", "10.0.0.0/8"],
        );
        assert_eq!(check(&l, "2001:db8:1::1"), Verdict::Allow);
        assert_eq!(check(&l, "2001:db8:6::1"), Verdict::Denied);
        assert_eq!(check(&l, "::1"), Verdict::Allow);
        assert_eq!(check(&l, "2001:db9::1"), Verdict::NotAllowed);
        assert_eq!(
            check(&l, "::ffff:10.1.2.3"),
            Verdict::Denied,
            "mapped is IPv4"
        );
        let mapped_net = list(&["::ffff:192.0.2.0/120"], &[]);
        assert_eq!(check(&mapped_net, "192.0.2.9"), Verdict::Allow);
        assert_eq!(check(&mapped_net, "192.0.3.9"), Verdict::NotAllowed);
    }

    #[test]
    fn zero_prefixes_and_ties() {
        let l = list(&["0.0.0.0/0"], &["0.0.0.0/0"]);
        assert_eq!(check(&l, "1.2.3.4"), Verdict::Denied, "deny wins a tie");
        let all = list(&["::/0", "0.0.0.0/0"], &["2001:db8::/32"]);
        assert_eq!(check(&all, "2001:db8::1"), Verdict::Denied);
        assert_eq!(check(&all, "2001:db9::1"), Verdict::Allow);
        assert_eq!(check(&all, "8.8.8.8"), Verdict::Allow);
    }
}
