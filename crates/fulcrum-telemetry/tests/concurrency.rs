//! Counters and histograms stay exact under concurrent recording.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::thread;

use fulcrum_telemetry::{Buckets, Registry};

const THREADS: usize = 4;
const PER_THREAD: u64 = 100_000;

#[test]
fn four_threads_count_exactly() {
    let r = Arc::new(Registry::new());
    let c = r.counter("ops_total", "Ops.", THREADS).unwrap();
    let h = r
        .histogram("op_seconds", "Op time.", Buckets::latency(), THREADS)
        .unwrap();
    let shared_id = r
        .counter("shared_total", "Same worker id.", THREADS)
        .unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|worker| {
            let (c, h, s) = (c.clone(), h.clone(), shared_id.clone());
            thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    c.inc(worker);
                    s.inc(0);
                    h.observe(worker, 0.002);
                }
            })
        })
        .collect();
    for t in handles {
        t.join().unwrap();
    }
    let total = THREADS as u64 * PER_THREAD;
    assert_eq!(c.get(), total);
    assert_eq!(shared_id.get(), total);
    let s = h.snapshot();
    assert_eq!(s.count, total);
    assert_eq!(s.sum_nanos, total * 2_000_000);
    assert!(r.render().contains(&format!("ops_total {total}\n")));
}
