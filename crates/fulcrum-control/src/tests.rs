//! The control plane's timers with injected time: ejection return and doubling, slow start,
//! drain completion. No sleeping: `tick(now)` is called with chosen instants.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_http::state::{BackendState, HealthEvent};

use crate::Control;

fn control(extra_pool: &str) -> Arc<Control> {
    let text = format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n[admin]\naudit_log = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbackends = [{{ address = \"127.0.0.1:9101\" }}, {{ address = \"127.0.0.1:9102\", weight = 10 }}]\n{extra_pool}"
    );
    let cfg = fulcrum_config::parse_str(&text, "t.toml", &|_| None).unwrap();
    Control::start(cfg, None).unwrap()
}

fn backend(c: &Control, port: u16) -> Arc<BackendState> {
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    c.lock().backends[&("app".to_string(), addr)].clone()
}

#[test]
fn ejected_backend_returns_after_its_time_and_repeat_ejections_double() {
    let c =
        control("[pool.app.outlier]\nbase_ejection_time = \"10s\"\nmax_ejection_time = \"40s\"\n");
    let b = backend(&c, 9101);
    let t0 = Instant::now();
    // What the data path does on ejection, then the event it sends.
    b.ejected.store(true, Ordering::Relaxed);
    c.lock().shared["app"].ejected.store(1, Ordering::Relaxed);
    let shared = c.lock().shared["app"].clone();
    c.on_event(HealthEvent::Ejected(b.clone(), shared.clone()), t0);
    c.tick(t0 + Duration::from_millis(9_900), false);
    assert!(b.ejected.load(Ordering::Relaxed));
    assert_eq!(b.effective.load(Ordering::Relaxed), 0);
    c.tick(t0 + Duration::from_secs(10), false);
    assert!(!b.ejected.load(Ordering::Relaxed));
    assert_eq!(b.effective.load(Ordering::Relaxed), 1);
    assert_eq!(
        c.lock().shared["app"].ejected.load(Ordering::Relaxed),
        0,
        "budget slot released"
    );

    // Ejected again soon after: twice as long.
    let t1 = t0 + Duration::from_secs(11);
    b.ejected.store(true, Ordering::Relaxed);
    c.on_event(HealthEvent::Ejected(b.clone(), shared), t1);
    c.tick(t1 + Duration::from_millis(19_900), false);
    assert!(b.ejected.load(Ordering::Relaxed));
    c.tick(t1 + Duration::from_secs(20), false);
    assert!(!b.ejected.load(Ordering::Relaxed));
    c.shutdown();
}

#[test]
fn slow_start_ramps_a_new_backend_through_ticks() {
    let c = control("slow_start = \"10s\"\n");
    // Backends present at startup are not ramped.
    let t0 = Instant::now();
    c.tick(t0, false);
    assert_eq!(backend(&c, 9102).effective.load(Ordering::Relaxed), 10);
    // One added later is.
    c.add_backend("test", "app", "127.0.0.1:9103", 10).unwrap();
    let added = backend(&c, 9103);
    let start = c.lock().usable_since[&("app".to_string(), added.addr)];
    c.tick(start + Duration::from_secs(1), false);
    assert_eq!(added.effective.load(Ordering::Relaxed), 1);
    c.tick(start + Duration::from_secs(5), false);
    assert_eq!(added.effective.load(Ordering::Relaxed), 5);
    c.tick(start + Duration::from_secs(10), false);
    assert_eq!(added.effective.load(Ordering::Relaxed), 10);
    c.shutdown();
}

#[test]
fn drain_ends_when_idle_or_at_its_deadline() {
    let c = control("drain_timeout = \"5s\"\n");
    let b = backend(&c, 9101);
    b.inflight.store(1, Ordering::Relaxed);
    let t0 = Instant::now();
    c.remove_backend("test", "app", "127.0.0.1:9101").unwrap();
    assert!(b.draining.load(Ordering::Relaxed));
    assert_eq!(b.effective.load(Ordering::Relaxed), 0);
    c.tick(t0 + Duration::from_secs(1), false);
    assert_eq!(c.lock().draining.len(), 1, "still finishing its request");
    assert!(!b.drain_expired.load(Ordering::Relaxed));
    c.tick(t0 + Duration::from_secs(6), false);
    assert!(c.lock().draining.is_empty());
    assert!(
        b.drain_expired.load(Ordering::Relaxed),
        "past the deadline its responses are cut"
    );

    let b2 = backend(&c, 9102);
    c.remove_backend("test", "app", "127.0.0.1:9102").unwrap();
    c.tick(t0 + Duration::from_millis(100), false);
    assert!(
        c.lock().draining.is_empty(),
        "nothing in flight: drained at once"
    );
    assert!(!b2.drain_expired.load(Ordering::Relaxed));
    c.shutdown();
}

#[test]
fn retry_budget_decays() {
    let c = control("");
    let shared = c.lock().shared["app"].clone();
    shared.recent_requests.store(100, Ordering::Relaxed);
    for _ in 0..20 {
        assert!(shared.try_retry(20));
    }
    assert!(
        !shared.try_retry(20),
        "21st retry within 100 requests exceeds 20%"
    );
    c.tick(Instant::now(), true);
    assert_eq!(shared.recent_requests.load(Ordering::Relaxed), 50);
    assert_eq!(shared.recent_retries.load(Ordering::Relaxed), 10);
    c.shutdown();
}
