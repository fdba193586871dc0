use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_guard::RateLimiter;

/// Issue 10 item 1: a spray of 1M distinct keys cannot grow the table past its bound; the
/// memory it holds is measured by the counting allocator.
#[test]
fn a_million_distinct_keys_stay_within_the_bound() {
    let t0 = Instant::now();
    let before = crate::alloc::held();
    let l = RateLimiter::new(100, 50, 100_000, t0);
    let mut peak_len = 0;
    let mut peak_bytes = 0;
    for i in 0u32..1_000_000 {
        // All at once (no key expires): the worst case, only eviction makes room.
        assert!(
            l.check(&i.to_le_bytes(), t0).allowed(),
            "a fresh key is allowed"
        );
        if i % 50_000 == 0 {
            peak_len = peak_len.max(l.len());
            peak_bytes = peak_bytes.max(crate::alloc::held() - before);
        }
    }
    peak_len = peak_len.max(l.len());
    let bytes = crate::alloc::held() - before;
    peak_bytes = peak_bytes.max(bytes);
    assert!(peak_len <= l.max_keys(), "{peak_len} > {}", l.max_keys());
    assert!(l.max_keys() < 100_100);
    assert_eq!(
        l.evictions() as usize,
        1_000_000 - l.max_keys(),
        "each key past the bound evicts one"
    );
    // 16 bytes per entry, a control byte, at most half empty: under 5 MiB for 100k keys.
    assert!(
        peak_bytes < 5 << 20,
        "{peak_bytes} bytes for {peak_len} keys"
    );
    println!(
        "1M keys: {} held (max {}), {} evicted, {:.2} MiB",
        l.len(),
        l.max_keys(),
        l.evictions(),
        peak_bytes as f64 / (1 << 20) as f64
    );
}

/// Idle keys expire: once time passes, a new spray sweeps them instead of evicting live ones.
#[test]
fn idle_keys_are_swept_before_live_ones_are_evicted() {
    let t0 = Instant::now();
    let l = RateLimiter::new(100, 1, 6_400, t0);
    for i in 0u32..3_000 {
        l.check(&i.to_le_bytes(), t0);
    }
    assert_eq!(l.evictions(), 0);
    let later = t0 + Duration::from_secs(1);
    for i in 10_000u32..13_000 {
        l.check(&i.to_le_bytes(), later);
    }
    assert_eq!(l.evictions(), 0, "expired keys made the room");
    assert!(l.len() <= l.max_keys());
}

/// 100 r/s means 100 r/s for the listener, from however many workers: one table, shared.
#[test]
fn the_limit_holds_across_threads() {
    let t0 = Instant::now();
    let l = Arc::new(RateLimiter::new(100, 100, 1000, t0));
    let allowed: u32 = (0..4)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || (0..1000).filter(|_| l.check(b"one", t0).allowed()).count())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap() as u32)
        .sum();
    assert_eq!(allowed, 100, "the burst, once, over four threads");
}
