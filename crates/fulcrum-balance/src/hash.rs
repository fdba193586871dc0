//! Stable 64-bit hashing for balancing keys and backend identities.
//!
//! Everything here is part of Fulcrum's compatibility surface: the same input must give the same
//! output in every process, on every platform and in every version, because workers (and
//! restarted processes) must agree on which backend a client hashes to. Changing any constant is
//! a breaking change; `tests` pins values.

use std::net::IpAddr;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Tag byte hashed before IPv4 octets, so no IPv4 address collides by construction with an IPv6 one.
const TAG_V4: u8 = 4;
/// Tag byte hashed before IPv6 octets.
const TAG_V6: u8 = 6;

/// FNV-1a over `bytes`, continuing from `state`.
fn fnv1a(mut state: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        state ^= u64::from(b);
        state = state.wrapping_mul(FNV_PRIME);
    }
    state
}

/// The splitmix64 finaliser: a bijection on `u64` with full avalanche.
///
/// Used after FNV-1a (whose low-entropy inputs leave high bits poorly mixed) and to derive
/// independent values from a hash and a counter.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Stable hash of arbitrary bytes: FNV-1a (64-bit) followed by the splitmix64 finaliser.
///
/// Callers use it to give backends a stable identity for [`crate::Selector::new_with_ids`], e.g.
/// `hash_bytes(backend.address.to_string().as_bytes())`.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    mix64(fnv1a(FNV_OFFSET, bytes))
}

/// Stable, well-mixed hash of a client address, for the `key` of [`crate::Selector::pick`].
///
/// Defined as `mix64(fnv1a(tag ++ octets))` where `tag` is `4` followed by the 4 octets of an
/// IPv4 address, or `6` followed by the 16 octets of an IPv6 address (network order). An
/// IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4 clients) is
/// hashed as the IPv4 address it carries, so a client keeps its backend whichever way it arrived.
pub fn hash_ip(ip: IpAddr) -> u64 {
    let state = match ip.to_canonical() {
        IpAddr::V4(v4) => fnv1a(fnv1a(FNV_OFFSET, &[TAG_V4]), &v4.octets()),
        IpAddr::V6(v6) => fnv1a(fnv1a(FNV_OFFSET, &[TAG_V6]), &v6.octets()),
    };
    mix64(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn fnv1a_matches_reference_vectors() {
        // Published FNV-1a 64-bit test vectors.
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn hash_ip_is_pinned() {
        // These values are a compatibility promise; see the module docs before changing them.
        // Cross-checked against an independent Python implementation of the definition above.
        let v4 = hash_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        let v6 = hash_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(v4, PINNED_V4, "{v4:#018x}");
        assert_eq!(v6, PINNED_V6, "{v6:#018x}");
    }
    const PINNED_V4: u64 = 0xb886_a149_d105_d033;
    const PINNED_V6: u64 = 0x3884_9cec_ae79_b513;

    #[test]
    fn hash_ip_distinguishes_families() {
        // Same trailing bytes in both families must not collide.
        let v4 = hash_ip(IpAddr::V4(Ipv4Addr::new(0, 0, 0, 1)));
        let v6 = hash_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_ne!(v4, v6);
        let v4 = hash_ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let v6 = hash_ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_ne!(v4, v6);
    }

    #[test]
    fn mapped_v6_hashes_as_v4() {
        let v4 = Ipv4Addr::new(203, 0, 113, 7);
        assert_eq!(
            hash_ip(IpAddr::V4(v4)),
            hash_ip(IpAddr::V6(v4.to_ipv6_mapped()))
        );
    }

    #[test]
    fn hash_ip_is_well_mixed() {
        // Adjacent addresses should differ in about half of their bits.
        let mut total_bits = 0u32;
        for i in 0..1000u32 {
            let a = hash_ip(IpAddr::V4(Ipv4Addr::from(i)));
            let b = hash_ip(IpAddr::V4(Ipv4Addr::from(i + 1)));
            total_bits += (a ^ b).count_ones();
        }
        let mean = f64::from(total_bits) / 1000.0;
        assert!((30.0..34.0).contains(&mean), "mean flipped bits {mean}");
        // The top bits (used to scale keys into ranges) must be spread too.
        let mut buckets = [0u32; 16];
        for i in 0..16_000u32 {
            let h = hash_ip(IpAddr::V4(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8)));
            buckets[(h >> 60) as usize] += 1;
        }
        for (i, &n) in buckets.iter().enumerate() {
            assert!((850..1150).contains(&n), "bucket {i} has {n}");
        }
    }
}
