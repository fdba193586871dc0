use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use fulcrum_guard::{AccessList, Verdict};

/// 100k entries: IPv4 networks of lengths 16..=32 and IPv6 /48s, as a big blocklist would be.
pub fn entries(n: usize) -> Vec<(IpAddr, u8)> {
    let mut rng = fastrand::Rng::with_seed(10);
    (0..n)
        .map(|i| {
            if i % 4 == 3 {
                let a = Ipv6Addr::new(0x2001, 0xdb8, rng.u16(..), 0, 0, 0, 0, 0);
                (IpAddr::V6(a), 48)
            } else {
                (IpAddr::V4(Ipv4Addr::from(rng.u32(..))), rng.u8(16..=32))
            }
        })
        .collect()
}

/// Issue 10 item 3: 100k entries load in under a second, and still decide by longest prefix.
#[test]
fn a_hundred_thousand_entries_load_in_under_a_second() {
    let deny = entries(100_000);
    let start = Instant::now();
    let list = AccessList::new([("10.0.0.0".parse().unwrap(), 8)], deny.iter().copied());
    let took = start.elapsed();
    assert!(took.as_secs_f64() < 1.0, "loading took {took:?}");
    assert!(list.len() > 90_000);
    let (ip, _) = deny[0];
    assert_eq!(list.check(ip), Verdict::Denied);
    println!("100k entries loaded in {took:?}");
}
