//! Passive ejection as the data path runs it: [`PoolState::report`] on the atomics the balancer
//! reads (issue 7 item 24: the unit tests pinned `fulcrum-health`'s `PoolOutlier` and
//! `EjectionBudget`, which nothing on the data path calls, while this code had no test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::sync::Arc;

use fulcrum_dataplane::{BackendState, HealthEvent, PoolShared, PoolState};
use tokio::sync::mpsc;

/// Pool `app` of `n` backends with `outlier` as its `[pool.app.outlier]` table, and the
/// channel its ejection events go to.
fn pool(n: usize, outlier: &str) -> (PoolState, mpsc::UnboundedReceiver<HealthEvent>) {
    let list: Vec<String> = (0..n)
        .map(|i| format!("{{ address = \"127.0.0.1:{}\" }}", 9001 + i))
        .collect();
    let text = format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbackends = [{}]\n[pool.app.outlier]\n{outlier}\n",
        list.join(", ")
    );
    let cfg = fulcrum_config::parse_str(&text, "t.toml", &|_| None).unwrap();
    let spec = cfg.pool("app").unwrap();
    let backends = spec
        .backends
        .iter()
        .map(|b| BackendState::new(b.address, b.weight))
        .collect();
    let (tx, rx) = mpsc::unbounded_channel();
    (
        PoolState::new(spec, backends, PoolShared::new(Some(tx)), 1),
        rx,
    )
}

fn fail(p: &PoolState, i: usize, times: usize) {
    for _ in 0..times {
        p.report(&p.backends[i], true);
    }
}

fn ejected(p: &PoolState, i: usize) -> bool {
    p.backends[i].ejected.load(Ordering::Relaxed)
}

fn slots(p: &PoolState) -> u32 {
    p.shared.ejected.load(Ordering::Relaxed)
}

/// The backends named by the events sent so far, by index.
fn events(p: &PoolState, rx: &mut mpsc::UnboundedReceiver<HealthEvent>) -> Vec<usize> {
    let mut out = Vec::new();
    while let Ok(HealthEvent::Ejected(b, shared)) = rx.try_recv() {
        assert!(Arc::ptr_eq(&shared, &p.shared), "event for another pool");
        out.push(p.backends.iter().position(|x| Arc::ptr_eq(x, &b)).unwrap());
    }
    out
}

#[test]
fn a_backend_is_ejected_at_exactly_consecutive_failures() {
    let (p, mut rx) = pool(4, "consecutive_failures = 3");
    fail(&p, 1, 2);
    assert!(!ejected(&p, 1));
    assert_eq!(p.backends[1].effective.load(Ordering::Relaxed), 1);
    assert_eq!(
        p.backends[1].consecutive_failures.load(Ordering::Relaxed),
        2
    );
    assert!(events(&p, &mut rx).is_empty());
    fail(&p, 1, 1);
    assert!(ejected(&p, 1), "not ejected at the third failure");
    assert_eq!(
        p.backends[1].effective.load(Ordering::Relaxed),
        0,
        "still chosen"
    );
    assert_eq!(slots(&p), 1);
    assert_eq!(events(&p, &mut rx), [1], "the control plane was not told");
    assert_eq!(
        p.backends[1].consecutive_failures.load(Ordering::Relaxed),
        0
    );
    assert_eq!(p.backends[1].requests.load(Ordering::Relaxed), 3);
    assert_eq!(p.backends[1].failures.load(Ordering::Relaxed), 3);
    // The others are untouched.
    assert!((0..4).filter(|&i| i != 1).all(|i| !ejected(&p, i)));
}

#[test]
fn a_success_resets_the_count() {
    let (p, mut rx) = pool(4, "consecutive_failures = 3");
    fail(&p, 0, 2);
    p.report(&p.backends[0], false);
    assert_eq!(
        p.backends[0].consecutive_failures.load(Ordering::Relaxed),
        0
    );
    fail(&p, 0, 2);
    assert!(!ejected(&p, 0), "ejected for failures a success separated");
    fail(&p, 0, 1);
    assert!(ejected(&p, 0));
    assert_eq!(events(&p, &mut rx), [0]);
}

#[test]
fn zero_consecutive_failures_never_ejects() {
    let (p, mut rx) = pool(4, "consecutive_failures = 0");
    fail(&p, 0, 1000);
    assert!(!ejected(&p, 0));
    assert_eq!(slots(&p), 0);
    assert!(events(&p, &mut rx).is_empty());
    assert_eq!(p.backends[0].failures.load(Ordering::Relaxed), 1000);
}

#[test]
fn max_ejection_percent_caps_the_ejected_backends_and_a_freed_slot_is_used() {
    let (p, mut rx) = pool(4, "consecutive_failures = 2\nmax_ejection_percent = 50");
    assert_eq!(p.max_ejected, 2);
    for i in 0..3 {
        fail(&p, i, 2);
    }
    assert_eq!(
        (ejected(&p, 0), ejected(&p, 1), ejected(&p, 2)),
        (true, true, false)
    );
    assert_eq!(slots(&p), 2);
    assert_eq!(events(&p, &mut rx), [0, 1]);
    // Refused by the budget: still chosen, and further failures are still refused.
    assert_eq!(p.backends[2].effective.load(Ordering::Relaxed), 1);
    fail(&p, 2, 5);
    assert!(!ejected(&p, 2));
    assert_eq!(slots(&p), 2);

    // The control plane brings backend 0 back and gives its slot back (tick.rs): the next
    // failure of the still-failing backend 2 ejects it at once.
    p.shared.ejected.fetch_sub(1, Ordering::AcqRel);
    p.backends[0].ejected.store(false, Ordering::Release);
    fail(&p, 2, 1);
    assert!(ejected(&p, 2), "a freed budget slot was not used");
    assert_eq!(slots(&p), 2);
    assert_eq!(events(&p, &mut rx), [2]);
}

#[test]
fn the_budget_rounds_down_so_a_lone_backend_is_never_ejected() {
    let (p, mut rx) = pool(1, "consecutive_failures = 1\nmax_ejection_percent = 50");
    assert_eq!(p.max_ejected, 0);
    fail(&p, 0, 10);
    assert!(!ejected(&p, 0));
    assert!(events(&p, &mut rx).is_empty());

    let (p, _rx) = pool(3, "consecutive_failures = 1\nmax_ejection_percent = 50");
    assert_eq!(p.max_ejected, 1);
    let (p, _rx) = pool(3, "consecutive_failures = 1\nmax_ejection_percent = 100");
    fail(&p, 0, 1);
    fail(&p, 1, 1);
    fail(&p, 2, 1);
    assert_eq!(slots(&p), 3);
}

#[test]
fn a_draining_backend_is_not_ejected_and_takes_no_slot() {
    let (p, mut rx) = pool(4, "consecutive_failures = 1");
    p.backends[0].draining.store(true, Ordering::Relaxed);
    fail(&p, 0, 5);
    assert!(!ejected(&p, 0));
    assert_eq!(slots(&p), 0);
    assert!(events(&p, &mut rx).is_empty());
    assert_eq!(p.backends[0].failures.load(Ordering::Relaxed), 5);
}

#[test]
fn failures_reported_while_ejected_take_no_second_slot() {
    let (p, mut rx) = pool(4, "consecutive_failures = 2");
    fail(&p, 3, 2);
    assert!(ejected(&p, 3));
    // Requests sent before the ejection finish and fail too.
    fail(&p, 3, 10);
    assert_eq!(slots(&p), 1);
    assert_eq!(events(&p, &mut rx), [3], "one ejection, one event");
}

/// Workers report at the same time: the budget holds exactly (one atomic slot count).
#[test]
fn concurrent_reports_never_overrun_the_budget() {
    let (p, mut rx) = pool(16, "consecutive_failures = 3\nmax_ejection_percent = 25");
    let p = Arc::new(p);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    for i in 0..16 {
                        p.report(&p.backends[i], true);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let out: Vec<usize> = (0..16).filter(|&i| ejected(&p, i)).collect();
    assert_eq!(out.len(), 4, "{out:?}");
    assert_eq!(slots(&p), 4);
    let mut ev = events(&p, &mut rx);
    ev.sort_unstable();
    assert_eq!(ev, out);
}
