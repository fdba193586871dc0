//! The control plane's timers with injected time: ejection return and doubling, slow start,
//! drain completion. No sleeping: `tick(now)` is called with chosen instants. And which
//! changes restart a backend's health checker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_dataplane::{BackendInflight, BackendState, PoolState};

use crate::Control;

fn control(extra_pool: &str) -> Arc<Control> {
    Control::start(config(extra_pool), None).unwrap()
}

/// Listener `web` → pool `app` (backends on ports 9101 and 9102), then `extra_pool`.
fn config(extra_pool: &str) -> fulcrum_config::model::Config {
    let text = format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n[admin]\naudit_log = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbackends = [{{ address = \"127.0.0.1:9101\" }}, {{ address = \"127.0.0.1:9102\", weight = 10 }}]\n{extra_pool}"
    );
    fulcrum_config::parse_str(&text, "t.toml", &|_| None).unwrap()
}

fn backend(c: &Control, port: u16) -> Arc<BackendState> {
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    c.lock().backends[&("app".to_string(), addr)].clone()
}

/// The pool snapshot the data path uses.
fn pool(c: &Control) -> Arc<PoolState> {
    c.lock()
        .pools
        .iter()
        .find(|p| p.name == "app")
        .unwrap()
        .clone()
}

/// Eject `b` the way the data path does: `failures` failed requests reported to the pool at
/// `now`.
fn eject(c: &Control, b: &Arc<BackendState>, failures: usize, now: Instant) {
    let p = pool(c);
    for _ in 0..failures {
        p.report_at(b, true, now);
    }
    assert!(b.is_ejected(), "not ejected");
}

/// Issue 7 item 24: driven by the data path's own `PoolState::report`; the ejection is timed
/// where it happens (the data plane's outlier state) and the control plane's timer readmits.
#[test]
fn ejected_backend_returns_after_its_time_and_repeat_ejections_double() {
    let c = control(
        "[pool.app.outlier]\nconsecutive_failures = 3\nbase_ejection_time = \"10s\"\n\
         max_ejection_time = \"40s\"\n",
    );
    let b = backend(&c, 9101);
    let t0 = Instant::now();
    let shared = c.lock().shared["app"].clone();
    assert!(Arc::ptr_eq(&shared, pool(&c).shared()));
    eject(&c, &b, 3, t0);
    assert_eq!(shared.ejected(), 1, "budget slot taken");
    c.tick(t0 + Duration::from_millis(9_900), false);
    assert!(b.is_ejected());
    assert_eq!(b.effective_weight(), 0);
    c.tick(t0 + Duration::from_secs(10), false);
    assert!(!b.is_ejected());
    assert_eq!(b.effective_weight(), 1);
    assert_eq!(shared.ejected(), 0, "budget slot released");

    // Ejected again soon after: twice as long.
    let t1 = t0 + Duration::from_secs(11);
    eject(&c, &b, 3, t1);
    c.tick(t1 + Duration::from_millis(19_900), false);
    assert!(b.is_ejected());
    c.tick(t1 + Duration::from_secs(20), false);
    assert!(!b.is_ejected());
    assert_eq!(shared.ejected(), 0, "budget slot released");
    c.shutdown();
}

/// Issue 7 item 24: a backend removed while ejected gives its budget slot back (else the pool
/// could never eject again).
#[test]
fn an_ejected_backend_removed_meanwhile_gives_its_budget_slot_back() {
    let c = control("[pool.app.outlier]\nconsecutive_failures = 2\nmax_ejection_percent = 50\n");
    let b = backend(&c, 9101);
    let shared = c.lock().shared["app"].clone();
    eject(&c, &b, 2, Instant::now());
    assert_eq!(shared.ejected(), 1);
    c.remove_backend("test", "app", "127.0.0.1:9101").unwrap();
    assert_eq!(shared.ejected(), 0, "budget slot leaked");
    // One backend is left: 50 % of one is none, so it is never ejected.
    let other = backend(&c, 9102);
    let p = pool(&c);
    assert_eq!(p.backends.len(), 1);
    for _ in 0..5 {
        p.report(&other, true);
    }
    assert!(!other.is_ejected());
    c.shutdown();
}

#[test]
fn slow_start_ramps_a_new_backend_through_ticks() {
    let c = control("slow_start = \"10s\"\n");
    // Backends present at startup are not ramped.
    let t0 = Instant::now();
    c.tick(t0, false);
    assert_eq!(backend(&c, 9102).effective_weight(), 10);
    // One added later is.
    c.add_backend("test", "app", "127.0.0.1:9103", 10).unwrap();
    let added = backend(&c, 9103);
    let start = c.lock().usable_since[&("app".to_string(), added.addr)];
    c.tick(start + Duration::from_secs(1), false);
    assert_eq!(added.effective_weight(), 1);
    c.tick(start + Duration::from_secs(5), false);
    assert_eq!(added.effective_weight(), 5);
    c.tick(start + Duration::from_secs(10), false);
    assert_eq!(added.effective_weight(), 10);
    c.shutdown();
}

#[test]
fn drain_ends_when_idle_or_at_its_deadline() {
    let c = control("drain_timeout = \"5s\"\n");
    let b = backend(&c, 9101);
    let _request = BackendInflight::new(&b);
    let t0 = Instant::now();
    c.remove_backend("test", "app", "127.0.0.1:9101").unwrap();
    assert!(b.is_draining());
    assert_eq!(b.effective_weight(), 0);
    c.tick(t0 + Duration::from_secs(1), false);
    assert_eq!(c.lock().draining.len(), 1, "still finishing its request");
    assert!(!b.is_drain_expired());
    c.tick(t0 + Duration::from_secs(6), false);
    assert!(c.lock().draining.is_empty());
    assert!(
        b.is_drain_expired(),
        "past the deadline its responses are cut"
    );

    let b2 = backend(&c, 9102);
    c.remove_backend("test", "app", "127.0.0.1:9102").unwrap();
    c.tick(t0 + Duration::from_millis(100), false);
    assert!(
        c.lock().draining.is_empty(),
        "nothing in flight: drained at once"
    );
    assert!(!b2.is_drain_expired());
    c.shutdown();
}

#[test]
fn retry_budget_decays() {
    let c = control("");
    let shared = c.lock().shared["app"].clone();
    for _ in 0..100 {
        shared.count_request();
    }
    for _ in 0..20 {
        assert!(shared.try_retry(20));
    }
    assert!(
        !shared.try_retry(20),
        "21st retry within 100 requests exceeds 20%"
    );
    c.tick(Instant::now(), true);
    assert_eq!(shared.retry_window(), (50, 10));
    c.shutdown();
}

/// The checker of backend 127.0.0.1:9101 of pool `app`: its spec and a view of its stop switch.
fn checker(
    c: &Control,
) -> (
    fulcrum_config::model::HealthCheck,
    tokio::sync::watch::Receiver<bool>,
) {
    let addr = "127.0.0.1:9101".parse().unwrap();
    let checkers = crate::locked(&c.checkers);
    let ((spec, _), stop) = &checkers[&("app".to_string(), addr)];
    (spec.clone(), stop.subscribe())
}

/// The checker map compares whole specs: a change of a UDP probe's payload (as text or hex),
/// of its expected reply, of the check port, or between probe kinds stops the running checker
/// and starts one with the new spec; applying the same table again keeps it running.
#[tokio::test]
async fn a_change_of_the_udp_probe_or_the_check_port_restarts_the_checker() {
    let health = |keys: &str| format!("[pool.app.health]\n{keys}");
    let first = health("udp_send = \"ping\"\nudp_expect = \"pong\"\n");
    let c = control(&first);
    c.reconcile_checkers();
    let (spec, mut stop) = checker(&c);
    assert_eq!(Some(&spec), config(&first).pools[0].health.as_ref());

    c.apply(config(&first)).unwrap();
    c.reconcile_checkers();
    assert!(
        !*stop.borrow_and_update(),
        "an unchanged spec restarted its checker"
    );

    for keys in [
        "udp_send = \"ping!\"\nudp_expect = \"pong\"\n",
        "udp_send = \"ping!\"\nudp_expect_hex = \"706f6e67 21\"\n",
        "udp_send = \"ping!\"\n",
        "udp_send_hex = \"00\"\n",
        "udp_send_hex = \"00\"\nport = 5353\n",
        "udp_send_hex = \"00\"\nport = 5354\n",
        "port = 5354\n",
        "path = \"/\"\nport = 5354\n",
        "path = \"/\"\n",
    ] {
        let cfg = config(&health(keys));
        let want = cfg.pools[0].health.clone().unwrap();
        c.apply(cfg).unwrap();
        c.reconcile_checkers();
        assert!(
            *stop.borrow_and_update(),
            "{keys}: the old checker was not stopped"
        );
        let (spec, next) = checker(&c);
        assert_eq!(spec, want, "{keys}");
        stop = next;
    }
}
