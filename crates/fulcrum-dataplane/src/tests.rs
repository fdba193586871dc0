//! Passive ejection as the data path runs it: [`PoolState::report`] through the pool's outlier
//! state, with injected time (issue 7 item 24 pinned this path; issue 8 made it the only one).
//! Also the backend's own transitions (health, drain, in-flight slots) and the retry budget.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_balance::Algorithm;
use fulcrum_config::model::{Outlier, Retry};

use crate::{BackendInflight, BackendState, Health, PoolShared, PoolSpec, PoolState};

const BASE: Duration = Duration::from_secs(10);

fn outlier(consecutive_failures: u32, max_ejection_percent: u32) -> Outlier {
    Outlier {
        consecutive_failures,
        base_ejection_time: BASE,
        max_ejection_time: Duration::from_secs(40),
        max_ejection_percent,
    }
}

fn spec(outlier: Outlier) -> PoolSpec {
    PoolSpec {
        proxy_protocol: None,
        name: "app".into(),
        balance: Algorithm::RoundRobin,
        connect_timeout: Duration::from_secs(1),
        outlier,
        retry: Retry::default(),
        tls: None,
    }
}

fn backends(n: usize) -> Vec<Arc<BackendState>> {
    (0..n)
        .map(|i| BackendState::new(([127, 0, 0, 1], 9001 + i as u16).into(), 1))
        .collect()
}

/// Pool `app` of `n` fresh backends.
fn pool(n: usize, outlier: Outlier) -> PoolState {
    PoolState::new(spec(outlier), backends(n), PoolShared::new(), 1)
}

fn fail(p: &PoolState, i: usize, times: usize, now: Instant) {
    for _ in 0..times {
        p.report_at(&p.backends[i], true, now);
    }
}

fn ejected(p: &PoolState) -> Vec<usize> {
    (0..p.backends.len())
        .filter(|&i| p.backends[i].is_ejected())
        .collect()
}

fn slots(p: &PoolState) -> usize {
    p.shared().ejected()
}

#[test]
fn a_backend_is_ejected_at_exactly_consecutive_failures() {
    let t0 = Instant::now();
    let p = pool(4, outlier(3, 50));
    fail(&p, 1, 2, t0);
    assert_eq!(ejected(&p), [0usize; 0]);
    assert_eq!(p.backends[1].effective_weight(), 1);
    fail(&p, 1, 1, t0);
    assert_eq!(ejected(&p), [1], "not ejected at the third failure");
    assert_eq!(p.backends[1].effective_weight(), 0, "still chosen");
    assert!(!p.backends[1].usable());
    assert_eq!(slots(&p), 1);
    let stats = p.backends[1].stats();
    assert_eq!((stats.requests, stats.failures), (3, 3));
    assert!(stats.ejected);
}

#[test]
fn a_success_resets_the_count() {
    let t0 = Instant::now();
    let p = pool(4, outlier(3, 50));
    fail(&p, 0, 2, t0);
    assert!(p.backends[0].is_failing());
    p.report_at(&p.backends[0], false, t0);
    assert!(!p.backends[0].is_failing(), "the success reset nothing");
    fail(&p, 0, 2, t0);
    assert_eq!(
        ejected(&p),
        [0usize; 0],
        "ejected for failures a success separated"
    );
    fail(&p, 0, 1, t0);
    assert_eq!(ejected(&p), [0]);
}

#[test]
fn successes_alone_never_touch_the_outlier_state() {
    let t0 = Instant::now();
    let p = pool(2, outlier(1, 50));
    for _ in 0..100 {
        p.report_at(&p.backends[0], false, t0);
    }
    assert!(!p.backends[0].is_failing());
    assert_eq!(p.backends[0].stats().requests, 100);
    assert_eq!(p.backends[0].stats().failures, 0);
}

#[test]
fn zero_consecutive_failures_never_ejects() {
    let t0 = Instant::now();
    let p = pool(4, outlier(0, 50));
    fail(&p, 0, 1000, t0);
    assert_eq!(ejected(&p), [0usize; 0]);
    assert_eq!(slots(&p), 0);
    assert!(!p.backends[0].is_failing());
    assert_eq!(p.backends[0].stats().failures, 1000);
}

#[test]
fn max_ejection_percent_caps_the_ejected_backends_and_a_freed_slot_is_used() {
    let t0 = Instant::now();
    let p = pool(4, outlier(2, 50));
    for i in 0..3 {
        fail(&p, i, 2, t0);
    }
    assert_eq!(ejected(&p), [0, 1], "2 of 4 at 50%");
    assert_eq!(slots(&p), 2);
    // Refused by the budget: still chosen, and further failures are still refused.
    assert_eq!(p.backends[2].effective_weight(), 1);
    fail(&p, 2, 5, t0);
    assert_eq!(ejected(&p), [0, 1]);
    assert_eq!(slots(&p), 2);

    // Their time is up: both come back, and the next failure of the still-failing backend 2
    // ejects it at once.
    let back = p.shared().readmit_due(t0 + BASE);
    assert_eq!(back.len(), 2);
    assert_eq!(slots(&p), 0);
    fail(&p, 2, 1, t0 + BASE);
    assert_eq!(ejected(&p), [2], "a freed budget slot was not used");
    assert_eq!(slots(&p), 1);
}

#[test]
fn the_budget_rounds_down_so_a_lone_backend_is_never_ejected() {
    let t0 = Instant::now();
    let p = pool(1, outlier(1, 50));
    fail(&p, 0, 10, t0);
    assert_eq!(ejected(&p), [0usize; 0]);

    let p = pool(3, outlier(1, 50));
    for i in 0..3 {
        fail(&p, i, 1, t0);
    }
    assert_eq!(slots(&p), 1, "50% of 3 is 1");
    let p = pool(3, outlier(1, 100));
    for i in 0..3 {
        fail(&p, i, 1, t0);
    }
    assert_eq!(slots(&p), 3);
}

#[test]
fn a_draining_backend_is_not_ejected_and_takes_no_slot() {
    let t0 = Instant::now();
    let p = pool(4, outlier(1, 50));
    p.backends[0].drain();
    assert_eq!(p.backends[0].effective_weight(), 0);
    fail(&p, 0, 5, t0);
    assert_eq!(ejected(&p), [0usize; 0]);
    assert_eq!(slots(&p), 0);
    assert_eq!(p.backends[0].stats().failures, 5);
    assert!(p.backends[0].stats().draining);
}

#[test]
fn failures_reported_while_ejected_take_no_second_slot() {
    let t0 = Instant::now();
    let p = pool(4, outlier(2, 50));
    fail(&p, 3, 2, t0);
    assert_eq!(ejected(&p), [3]);
    // Requests sent before the ejection finish and fail too.
    fail(&p, 3, 10, t0);
    assert_eq!(slots(&p), 1);
}

#[test]
fn an_ejected_backend_is_readmitted_at_its_time_and_a_repeat_lasts_twice_as_long() {
    let t0 = Instant::now();
    let p = pool(4, outlier(3, 50));
    let b = &p.backends[0];
    fail(&p, 0, 3, t0);
    assert!(b.is_ejected());
    assert!(p
        .shared()
        .readmit_due(t0 + BASE - Duration::from_millis(1))
        .is_empty());
    assert!(b.is_ejected());
    let back = p.shared().readmit_due(t0 + BASE);
    assert_eq!(back.len(), 1);
    assert!(Arc::ptr_eq(&back[0], b));
    assert!(!b.is_ejected());
    assert_eq!(slots(&p), 0);
    // Its weight comes back with the control plane's refresh.
    assert_eq!(b.effective_weight(), 0);
    b.refresh(|w| w);
    assert_eq!(b.effective_weight(), 1);
    assert!(
        p.shared().readmit_due(t0 + BASE * 100).is_empty(),
        "returns once"
    );

    // Its record restarted: the threshold counts afresh ...
    let t1 = t0 + BASE + Duration::from_secs(1);
    fail(&p, 0, 2, t1);
    assert!(!b.is_ejected());
    // ... and a repeat ejection soon after lasts twice as long.
    fail(&p, 0, 1, t1);
    assert!(b.is_ejected());
    assert!(p
        .shared()
        .readmit_due(t1 + BASE * 2 - Duration::from_millis(1))
        .is_empty());
    assert_eq!(p.shared().readmit_due(t1 + BASE * 2).len(), 1);
}

#[test]
fn a_backend_that_leaves_the_pool_gives_its_slot_back() {
    let t0 = Instant::now();
    let list = backends(4);
    let shared = PoolShared::new();
    let p = PoolState::new(spec(outlier(1, 50)), list.clone(), shared.clone(), 1);
    fail(&p, 0, 1, t0);
    fail(&p, 1, 1, t0);
    assert_eq!(shared.ejected(), 2);
    // A rebuild without backend 0 (it drains): its slot is free, backend 1 keeps its own.
    let rebuilt = PoolState::new(spec(outlier(1, 50)), list[1..].to_vec(), shared.clone(), 1);
    list[0].drain();
    assert_eq!(shared.ejected(), 1);
    // 50% of 3 is one, held by backend 1: backend 2 is refused, until 1 returns.
    fail(&rebuilt, 2, 1, t0);
    assert!(!list[2].is_ejected());
    assert_eq!(shared.ejected(), 1);
    assert_eq!(
        shared.readmit_due(t0 + BASE).len(),
        1,
        "the leaver is not readmitted"
    );
    assert!(!list[1].is_ejected());
    // A failure reported on the old snapshot counts for the same backend state.
    fail(&p, 2, 1, t0 + BASE);
    assert!(list[2].is_ejected());
}

/// Workers report at the same time: the budget holds exactly (one lock per pool).
#[test]
fn concurrent_reports_never_overrun_the_budget() {
    let p = Arc::new(pool(16, outlier(3, 25)));
    let t0 = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    for i in 0..16 {
                        p.report_at(&p.backends[i], true, t0);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ejected(&p).len(), 4, "{:?}", ejected(&p));
    assert_eq!(slots(&p), 4);
}

#[test]
fn health_and_drain_take_a_backend_out_and_refresh_applies_the_ramp() {
    let b = BackendState::new(([127, 0, 0, 1], 9001).into(), 10);
    b.refresh(|w| w / 2);
    assert_eq!(b.effective_weight(), 5);
    b.set_health(Health::Unhealthy);
    assert_eq!(b.effective_weight(), 0, "out at once");
    b.set_health(Health::Healthy);
    assert_eq!(b.effective_weight(), 0, "back only at the refresh");
    b.refresh(|_| 0);
    assert_eq!(
        b.effective_weight(),
        1,
        "a usable backend never ramps below 1"
    );
    b.set_weight(4);
    b.refresh(|w| w);
    assert_eq!((b.weight(), b.effective_weight()), (4, 4));
    b.drain();
    b.refresh(|w| w);
    assert_eq!(b.effective_weight(), 0);
    assert!(!b.is_drain_expired());
    b.expire_drain();
    assert!(b.is_drain_expired());
}

#[test]
fn inflight_slots_are_released_however_they_end() {
    let b = BackendState::new(([127, 0, 0, 1], 9001).into(), 1);
    let one = BackendInflight::new(&b);
    let two = BackendInflight::new(&b);
    assert_eq!(b.inflight(), 2);
    assert!(Arc::ptr_eq(one.backend(), &b));
    drop(one);
    assert_eq!(b.inflight(), 1);
    drop(two);
    assert_eq!(b.inflight(), 0);
}

#[test]
fn the_retry_budget_is_a_share_of_recent_requests_and_decays() {
    let p = pool(2, outlier(0, 50));
    for _ in 0..3 {
        assert!(p.try_retry(), "a quiet pool may still retry 3 times");
    }
    assert!(!p.try_retry());
    for _ in 0..100 {
        p.count_request();
    }
    for _ in 3..20 {
        assert!(p.try_retry());
    }
    assert!(!p.try_retry(), "21st retry within 100 requests exceeds 20%");
    p.shared().decay_retries();
    assert_eq!(p.shared().retry_window(), (50, 10));
    assert!(!PoolShared::new().try_retry(0), "0% allows none");
}
