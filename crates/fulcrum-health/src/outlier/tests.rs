//! Simulations of outlier detection with injected time (no sleeping).

use std::time::{Duration, Instant};

use fulcrum_config::model::Outlier;

use super::{EjectionBudget, Event, OutlierState, PoolOutlier};

const BASE: Duration = Duration::from_secs(10);

fn config(consecutive_failures: u32) -> Outlier {
    Outlier {
        consecutive_failures,
        base_ejection_time: BASE,
        max_ejection_time: Duration::from_secs(45),
        max_ejection_percent: 50,
    }
}

fn fail_n(s: &mut OutlierState, n: u32, now: Instant) -> Vec<bool> {
    (0..n).map(|_| s.on_result(true, now)).collect()
}

#[test]
fn ejects_after_n_consecutive_failures() {
    let now = Instant::now();
    let mut s = OutlierState::new(&config(3));
    assert_eq!(fail_n(&mut s, 3, now), [false, false, true]);
    assert_eq!(s.eject(now), now + BASE);
    assert!(s.is_ejected());
    assert_eq!(s.ejections(), 1);
    assert_eq!(s.consecutive_failures(), 0);
}

#[test]
fn success_resets_the_count() {
    let now = Instant::now();
    let mut s = OutlierState::new(&config(3));
    assert_eq!(fail_n(&mut s, 2, now), [false, false]);
    assert!(!s.on_result(false, now));
    assert_eq!(fail_n(&mut s, 2, now), [false, false]);
    assert!(s.on_result(true, now));
}

#[test]
fn zero_consecutive_failures_disables_detection() {
    let now = Instant::now();
    let mut s = OutlierState::new(&config(0));
    assert!(fail_n(&mut s, 1000, now).iter().all(|&eject| !eject));
    let mut pool = PoolOutlier::new(&config(0), 0..4);
    for _ in 0..1000 {
        assert_eq!(pool.on_result(&0, true, now), None);
    }
    assert!(!pool.is_ejected(&0));
}

#[test]
fn returns_on_its_own_at_the_right_instant() {
    let t0 = Instant::now();
    let mut pool = PoolOutlier::new(&config(2), 0..2);
    assert_eq!(pool.on_result(&1, true, t0), None);
    let until = t0 + BASE;
    assert_eq!(
        pool.on_result(&1, true, t0),
        Some(Event::Ejected { backend: 1, until })
    );
    assert_eq!(pool.next_deadline(), Some(until));
    assert_eq!(pool.tick(until - Duration::from_nanos(1)), []);
    assert!(pool.is_ejected(&1));
    assert_eq!(pool.tick(until), [Event::Returned { backend: 1 }]);
    assert!(!pool.is_ejected(&1));
    assert_eq!(pool.next_deadline(), None);
    assert_eq!(pool.tick(until + BASE * 100), [], "returns once");
}

#[test]
fn results_while_ejected_are_ignored() {
    let t0 = Instant::now();
    let mut s = OutlierState::new(&config(2));
    fail_n(&mut s, 2, t0);
    s.eject(t0);
    assert_eq!(fail_n(&mut s, 5, t0), [false; 5]);
    assert_eq!(s.consecutive_failures(), 0);
}

#[test]
fn ejection_time_doubles_on_repeat_up_to_the_cap() {
    let mut t = Instant::now();
    let mut s = OutlierState::new(&config(1));
    let mut times = Vec::new();
    for _ in 0..6 {
        assert!(s.on_result(true, t));
        let until = s.eject(t);
        times.push(until - t);
        assert!(!s.maybe_return(until - Duration::from_nanos(1)));
        assert!(s.maybe_return(until));
        t = until; // fail again right away: no time to decay
    }
    let secs: Vec<u64> = times.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [10, 20, 40, 45, 45, 45]);
    // The multiplier stops growing at the cap, so decay brings it back in bounded time.
    assert_eq!(s.ejections(), 3);
}

#[test]
fn ejection_count_decays_one_per_base_period_un_ejected() {
    let t0 = Instant::now();
    let mut s = OutlierState::new(&config(1));
    let mut t = t0;
    for _ in 0..3 {
        s.on_result(true, t);
        t = s.eject(t);
        s.maybe_return(t);
    }
    assert_eq!(s.ejections(), 3);
    let back = t;
    s.decay(back + BASE - Duration::from_nanos(1));
    assert_eq!(s.ejections(), 3);
    s.decay(back + BASE);
    assert_eq!(s.ejections(), 2);
    s.decay(back + BASE + BASE / 2); // calling often does not speed decay up
    assert_eq!(s.ejections(), 2);
    s.decay(back + BASE * 2);
    assert_eq!(s.ejections(), 1);
    // Next ejection is 2x base, not 8x.
    assert!(s.on_result(true, back + BASE * 2));
    assert_eq!(s.ejection_time(), BASE * 2);
    // A long quiet time forgets everything at once, and never below zero.
    s.decay(back + BASE * 1000);
    assert_eq!(s.ejections(), 0);
    assert_eq!(s.ejection_time(), BASE);
}

#[test]
fn no_decay_while_ejected() {
    let t0 = Instant::now();
    let mut s = OutlierState::new(&config(1));
    s.on_result(true, t0);
    let until = s.eject(t0);
    s.maybe_return(until);
    s.on_result(true, until);
    s.eject(until); // second ejection: 20s, multiplier 2
    s.decay(until + BASE * 2 - Duration::from_nanos(1));
    assert_eq!(s.ejections(), 2, "time spent ejected does not decay");
}

#[test]
fn budget_rounds_down() {
    let b = EjectionBudget::new(50);
    assert_eq!(b.max_ejected(1), 0);
    assert_eq!(b.max_ejected(2), 1);
    assert_eq!(b.max_ejected(3), 1);
    assert_eq!(b.max_ejected(4), 2);
    assert!(b.allows(1, 4));
    assert!(!b.allows(2, 4));
    assert_eq!(EjectionBudget::new(0).max_ejected(100), 0);
    assert_eq!(EjectionBudget::new(100).max_ejected(7), 7);
    assert_eq!(
        EjectionBudget::new(250).max_ejected(7),
        7,
        "clamped to 100%"
    );
}

#[test]
fn budget_caps_ejections_at_once() {
    let t0 = Instant::now();
    let mut pool = PoolOutlier::new(&config(1), 0..4);
    assert!(pool.on_result(&0, true, t0).is_some());
    assert!(pool.on_result(&1, true, t0).is_some());
    assert_eq!(pool.on_result(&2, true, t0), None, "2 of 4 out at 50%");
    assert!(!pool.is_ejected(&2));
    assert_eq!(pool.ejected_count(), 2);
    // Still failing: ejected as soon as one returns and frees the budget.
    let back = pool.tick(t0 + BASE);
    assert_eq!(back.len(), 2);
    let t1 = t0 + BASE;
    assert_eq!(
        pool.on_result(&2, true, t1),
        Some(Event::Ejected {
            backend: 2,
            until: t1 + BASE
        })
    );
}

#[test]
fn single_backend_pool_is_never_ejected() {
    let t0 = Instant::now();
    let mut pool = PoolOutlier::new(&config(1), [0]);
    for _ in 0..10 {
        assert_eq!(pool.on_result(&0, true, t0), None);
    }
}

#[test]
fn members_come_and_go_and_a_leaving_ejected_one_frees_its_slot() {
    let t0 = Instant::now();
    let mut pool = PoolOutlier::new(&config(1), ["a", "b"]);
    assert_eq!(pool.on_result(&"x", true, t0), None, "not a member");
    assert!(!pool.is_ejected(&"x"));
    assert!(pool.state(&"x").is_none());
    assert!(pool.on_result(&"b", true, t0).is_some());
    assert_eq!(pool.ejected_count(), 1);
    // "b" stays (and stays ejected), "c" joins.
    pool.set_members(["b", "c"]);
    assert_eq!(pool.len(), 2);
    assert!(pool.is_ejected(&"b"));
    assert_eq!(pool.ejected_count(), 1);
    // "b" leaves while ejected: its budget slot is free again, and it is never returned.
    pool.set_members(["c", "d"]);
    assert_eq!(pool.ejected_count(), 0);
    assert!(pool.on_result(&"c", true, t0).is_some());
    assert_eq!(pool.tick(t0 + BASE), [Event::Returned { backend: "c" }]);
}

#[test]
fn a_new_config_keeps_who_is_out_and_the_multiplier() {
    let t0 = Instant::now();
    let mut pool = PoolOutlier::new(&config(1), [0, 1]);
    assert!(pool.on_result(&0, true, t0).is_some());
    let mut stricter = config(3);
    stricter.base_ejection_time = BASE * 2;
    pool.set_config(&stricter);
    assert!(pool.is_ejected(&0));
    assert_eq!(pool.state(&0).map(OutlierState::ejections), Some(1));
    // Backend 1 now needs three failures; the 50% budget of two backends allows one, taken.
    assert_eq!(pool.on_result(&1, true, t0), None);
    assert_eq!(pool.on_result(&1, true, t0), None);
    assert_eq!(pool.on_result(&1, true, t0), None, "budget full");
    // Back at the old instant (the ejection was timed when it began) ...
    assert_eq!(pool.tick(t0 + BASE), [Event::Returned { backend: 0 }]);
    // ... and its next ejection lasts the new base, doubled once.
    assert_eq!(
        pool.state(&0).map(OutlierState::ejection_time),
        Some(BASE * 4)
    );
}
