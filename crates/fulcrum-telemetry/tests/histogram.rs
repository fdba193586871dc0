//! Histogram buckets are cumulative and sum/count are right.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use fulcrum_telemetry::{Buckets, Registry, LATENCY_BUCKETS};

#[test]
fn buckets_cumulative_sum_and_count() {
    let r = Registry::new();
    let h = r
        .histogram("t_seconds", "T.", Buckets::latency(), 3)
        .unwrap();
    // One observation exactly on each bound (bounds are inclusive), plus two above the last.
    for (i, &b) in LATENCY_BUCKETS.iter().enumerate() {
        h.observe(i, b);
    }
    h.observe_duration(7, Duration::from_secs(11));
    h.observe(0, f64::INFINITY); // saturates to u64::MAX ns: lands in +Inf
    h.observe(1, -3.0); // counts as 0 s: lands in the first bucket

    let s = h.snapshot();
    assert_eq!(s.bounds(), LATENCY_BUCKETS);
    let expected: Vec<u64> = (1..=14).map(|n| n + 1).collect();
    assert_eq!(s.cumulative, expected);
    assert_eq!(s.count, 17);

    // Without the saturated value, the sum is exact.
    let h2 = r
        .histogram("u_seconds", "U.", Buckets::latency(), 3)
        .unwrap();
    for &b in &LATENCY_BUCKETS {
        h2.observe(5, b);
    }
    h2.observe_duration(2, Duration::from_millis(1500));
    let s2 = h2.snapshot();
    // 0.0005+0.001+0.0025+0.005+0.01+0.025+0.05+0.1+0.25+0.5+1+2.5+5+10 = 19.444 s, + 1.5 s.
    assert_eq!(s2.sum_nanos, 20_944_000_000);
    assert!((s2.sum_seconds() - 20.944).abs() < 1e-9);

    let text = r.render();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("u_seconds"))
        .collect();
    assert_eq!(lines[0], "u_seconds_bucket{le=\"0.0005\"} 1");
    assert_eq!(lines[10], "u_seconds_bucket{le=\"1\"} 11");
    assert_eq!(lines[11], "u_seconds_bucket{le=\"2.5\"} 13"); // 1.5 s and 2.5 s
    assert_eq!(lines[13], "u_seconds_bucket{le=\"10\"} 15");
    assert_eq!(lines[14], "u_seconds_bucket{le=\"+Inf\"} 15");
    assert_eq!(lines[15], "u_seconds_sum 20.944");
    assert_eq!(lines[16], "u_seconds_count 15");
    // Cumulative: never decreasing.
    let counts: Vec<u64> = lines[..15]
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]));
}
