//! Per-lookup cost of an access list at 10 and at 100k entries, and of a rate-limit check.
//! `cargo bench -p fulcrum-guard`

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fulcrum_guard::{AccessList, RateLimiter};

fn entries(n: usize) -> Vec<(IpAddr, u8)> {
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

fn lookups(c: &mut Criterion) {
    let mut rng = fastrand::Rng::with_seed(7);
    let probes: Vec<IpAddr> = (0..1024)
        .map(|_| IpAddr::V4(Ipv4Addr::from(rng.u32(..))))
        .collect();
    for n in [10, 100_000] {
        let list = AccessList::new([(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8)], entries(n));
        let mut i = 0;
        c.bench_function(&format!("access_check_{n}_entries"), |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                black_box(list.check(black_box(probes[i])))
            })
        });
    }
    let t0 = Instant::now();
    let limiter = RateLimiter::new(1_000_000, 1_000_000, 100_000, t0);
    let mut i = 0;
    c.bench_function("rate_limit_check_ip", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(limiter.check_ip(black_box(probes[i]), t0))
        })
    });
}

criterion_group!(benches, lookups);
criterion_main!(benches);
