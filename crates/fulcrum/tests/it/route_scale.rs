//! A large configuration (issue 8 item 6): 10,000 host routes over 10,000 pools of one backend
//! each, reloaded under load without a failed request; the time each reload takes is printed.
//!
//! One pool per route is the shape that found the control plane's scans of the pool list per
//! backend (every 100 ms tick and every health-check reconcile): with them a reload of this
//! file took minutes and the load stalled.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fulcrum_testkit::{Backend, Client};

use crate::support::{admin_call, backends_list, Lb, TempDir};

const ROUTES: usize = 10_000;
/// Backends that exist only on paper (no health checks, no route the test sends to), one per
/// pool `idle{n}`; with the four live ones, 10,000.
const IDLE_BACKENDS: usize = 10_000 - 4;
const RELOADS: usize = 3;

/// The hosts the clients send, with the backend each must reach: three exact hosts at the
/// start, middle and end of the routes, and a wildcard after all of them.
const EXERCISED: [(&str, &str); 4] = [
    ("host-0.example.com", "b0"),
    ("host-5000.example.com", "b1"),
    ("host-9999.example.com", "b2"),
    ("a.wild.example.com", "b3"),
];

/// Variant `k`: the 10,000 host routes in file order (even `k`) or reversed (odd), a route
/// `extra-{k}.example.com` first, the wildcard last; idle pool `k`'s backend replaced by
/// another (one drains, one is new).
fn variant(k: usize, live: &[Backend]) -> String {
    let mut s = String::from(
        "[runtime]\nworkers = 2\n[access_log]\ntarget = \"off\"\n\
         [admin]\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n",
    );
    s += &format!("[[listener.route]]\nhost = \"extra-{k}.example.com\"\npool = \"live3\"\n");
    let pool_of = |i: usize| match i {
        0 => "live0".to_string(),
        5000 => "live1".to_string(),
        9999 => "live2".to_string(),
        _ => format!("idle{}", i % IDLE_BACKENDS),
    };
    let order: Box<dyn Iterator<Item = usize>> = match k % 2 {
        0 => Box::new(0..ROUTES),
        _ => Box::new((0..ROUTES).rev()),
    };
    for i in order {
        s += &format!(
            "[[listener.route]]\nhost = \"host-{i}.example.com\"\npool = \"{}\"\n",
            pool_of(i)
        );
    }
    s += "[[listener.route]]\nhost = \"*.wild.example.com\"\npool = \"live3\"\n";
    for (i, b) in live.iter().enumerate() {
        s += &format!("[pool.live{i}]\nbackends = {}\n", backends_list(&[b]));
    }
    for n in 0..IDLE_BACKENDS {
        let address = match n == k {
            true => format!("127.2.0.{k}:9"),
            false => format!("127.1.{}.{}:9", n / 250, n % 250 + 1),
        };
        s += &format!("[pool.idle{n}]\nbackends = [{{ address = \"{address}\" }}]\n");
    }
    s
}

#[test]
fn reload_of_10k_routes_and_10k_backends_under_load_loses_nothing() {
    let live: Vec<Backend> = (0..4).map(|i| Backend::start(&format!("b{i}"))).collect();
    let dir = TempDir::new("route-scale");
    let text = variant(0, &live);
    assert_eq!(
        text.matches("address = ").count(),
        10_000,
        "backends in all"
    );
    let path = dir.write("fulcrum.toml", &text);
    let started = Instant::now();
    let lb = Lb::start_file(&path);
    eprintln!(
        "start with {ROUTES} routes and 10,000 backends: {:.2}s",
        started.elapsed().as_secs_f64()
    );
    let (addr, admin) = (lb.addr(), lb.admin());

    // Four keep-alive clients, each cycling through the exercised hosts.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(Mutex::new((0usize, Vec::<String>::new())));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || load(addr, t, &stop, &done))
        })
        .collect();
    let count = || done.lock().unwrap().0;
    let wait_more = |n: usize| {
        let target = count() + n;
        fulcrum_testkit::wait_until(Duration::from_secs(10), || count() >= target)
    };
    assert!(wait_more(200), "load did not start");

    let mut took = Vec::new();
    for k in 1..=RELOADS {
        std::fs::write(&path, variant(k, &live)).unwrap();
        let started = Instant::now();
        let r = admin_call(admin, "POST", "/api/v1/reload", None, None);
        took.push(started.elapsed());
        assert_eq!(r.status, 200, "reload {k}: {}", r.text());
        // The new file is in force: its new first route answers.
        let extra = format!("extra-{k}.example.com");
        let r = Client::http1(addr).get(&extra, "/", &[]).unwrap();
        assert_eq!((r.status.as_u16(), r.text()), (200, "b3".into()), "{extra}");
        assert!(wait_more(200), "load stalled after reload {k}");
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (requests, failures) = std::mem::take(&mut *done.lock().unwrap());
    let took: Vec<String> = took
        .iter()
        .map(|d| format!("{:.2}s", d.as_secs_f64()))
        .collect();
    eprintln!(
        "{requests} requests over {RELOADS} reloads of {ROUTES} routes x 10,000 backends ({}), {} failed",
        took.join(", "),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed; first ones: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

/// Client `t`: GETs on one keep-alive connection (a new one after a transport error, which
/// counts as a failure) until `stop`, at most 60 s.
fn load(addr: SocketAddr, t: usize, stop: &AtomicBool, done: &Mutex<(usize, Vec<String>)>) {
    let started = Instant::now();
    let mut client = Client::http1(addr);
    for i in t.. {
        if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        let (host, want) = EXERCISED[i % EXERCISED.len()];
        let failure = match client.get(host, "/", &[]) {
            Ok(r) if r.status == 200 && r.text() == want => None,
            Ok(r) => Some(format!("{host}: {} {:?}", r.status, r.text())),
            Err(e) => {
                client = Client::http1(addr);
                Some(format!("{host}: {e}"))
            }
        };
        let mut done = done.lock().unwrap();
        done.0 += 1;
        done.1.extend(failure);
    }
}
