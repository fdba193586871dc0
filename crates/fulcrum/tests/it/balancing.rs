//! Balancing through the whole proxy: the algorithms as users see them.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use fulcrum_testkit::{Backend, Client};

use crate::support::{delete_backend, post_backend, Lb};

fn config(balance: &str, backends: &[(&Backend, u32)], workers: usize) -> String {
    let list: Vec<String> = backends
        .iter()
        .map(|(b, w)| format!("{{ address = \"{}\", weight = {w} }}", b.addr))
        .collect();
    format!(
        "[runtime]\nworkers = {workers}\n[access_log]\ntarget = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbalance = \"{balance}\"\nbackends = [{}]\n",
        list.join(", ")
    )
}

fn count(cl: &mut Client, n: usize) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for _ in 0..n {
        let r = cl.get("a", "/", &[]).unwrap();
        assert_eq!(r.status, 200);
        *m.entry(r.header("x-backend").unwrap()).or_default() += 1;
    }
    m
}

#[test]
fn round_robin_follows_weights_exactly_per_worker() {
    let (a, b, c) = (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    );
    let lb = Lb::start(&config("round_robin", &[(&a, 3), (&b, 2), (&c, 1)], 1));
    let mut cl = Client::http1(lb.addr());
    let m = count(&mut cl, 600);
    assert_eq!((m["a"], m["b"], m["c"]), (300, 200, 100), "{m:?}");
}

#[test]
fn random_follows_weights_within_tolerance() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let lb = Lb::start(&config("random", &[(&a, 3), (&b, 1)], 2));
    let mut cl = Client::http1(lb.addr());
    let m = count(&mut cl, 2000);
    let share = m["a"] as f64 / 2000.0;
    assert!((share - 0.75).abs() < 0.05, "{m:?}");
}

#[test]
fn split_routes_by_weight() {
    let (v1, v2) = (Backend::start("v1"), Backend::start("v2"));
    let cfg = format!(
        "[access_log]\ntarget = \"off\"\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\nsplit = [{{ pool = \"v1\", weight = 90 }}, {{ pool = \"v2\", weight = 10 }}]\n\
         [pool.v1]\nbackends = [{{ address = \"{}\" }}]\n[pool.v2]\nbackends = [{{ address = \"{}\" }}]\n",
        v1.addr, v2.addr
    );
    let lb = Lb::start(&cfg);
    let mut cl = Client::http1(lb.addr());
    let m = count(&mut cl, 2000);
    let share = *m.get("v2").unwrap_or(&0) as f64 / 2000.0;
    assert!((share - 0.10).abs() < 0.03, "{m:?}");
}

fn sticky_by_source(balance: &str) {
    let bs: Vec<Backend> = (0..4).map(|i| Backend::start(&format!("b{i}"))).collect();
    let pairs: Vec<(&Backend, u32)> = bs.iter().map(|b| (b, 1)).collect();
    let lb = Lb::start(&config(balance, &pairs, 2));
    let mut owners = HashMap::new();
    for i in 1..=40u8 {
        let src = IpAddr::V4(Ipv4Addr::new(127, 0, 3, i));
        let mut seen = Vec::new();
        // Several connections from the same address land on the same backend.
        for _ in 0..3 {
            let mut cl = Client::http1_from(Some(src), lb.addr());
            seen.push(cl.get("a", "/", &[]).unwrap().header("x-backend").unwrap());
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{src}: {seen:?}");
        *owners.entry(seen[0].clone()).or_insert(0) += 1;
    }
    // 40 addresses spread over the 4 backends (each gets some).
    assert_eq!(owners.len(), 4, "{owners:?}");
}

#[test]
fn ip_hash_is_sticky_per_client_address() {
    sticky_by_source("ip_hash");
}

#[test]
fn ring_hash_is_sticky_per_client_address() {
    sticky_by_source("ring_hash");
}

/// The backend that answers a fresh connection from `src`.
fn owner(lb: std::net::SocketAddr, src: IpAddr) -> String {
    let r = Client::http1_from(Some(src), lb)
        .get("a", "/", &[])
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("x-backend").unwrap()
}

/// Issue 7 item 22: what makes a ring hash a ring hash (the sticky test above passes for ip_hash,
/// or any mod-N hash, too). Adding a backend moves clients only *to* the newcomer; removing one
/// moves only *its* clients; every other client keeps its backend.
#[test]
fn ring_hash_moves_only_the_changed_backends_clients() {
    let bs: Vec<Backend> = (0..5).map(|i| Backend::start(&format!("b{i}"))).collect();
    let pairs: Vec<(&Backend, u32)> = bs[..4].iter().map(|b| (b, 1)).collect();
    let cfg = config("ring_hash", &pairs, 2).replace(
        "[[listener]]",
        "[admin]\nbind = \"127.0.0.1:0\"\naudit_log = \"off\"\n[[listener]]",
    );
    let lb = Lb::start(&cfg);
    let srcs: Vec<IpAddr> = (1..=100u8)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 4, i)))
        .collect();
    let before: Vec<String> = srcs.iter().map(|s| owner(lb.addr(), *s)).collect();

    let body = format!("{{\"address\": \"{}\"}}", bs[4].addr);
    let r = post_backend(lb.admin(), "app", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let added: Vec<String> = srcs.iter().map(|s| owner(lb.addr(), *s)).collect();
    let moved: Vec<usize> = (0..srcs.len()).filter(|&i| added[i] != before[i]).collect();
    for &i in &moved {
        assert_eq!(
            added[i], "b4",
            "{} moved from {} to {}, not to the new backend",
            srcs[i], before[i], added[i]
        );
    }
    // About a fifth move to the newcomer; a mod-N hash would move about four fifths.
    assert!(
        (5..=40).contains(&moved.len()),
        "{} of 100 clients moved to the new backend",
        moved.len()
    );

    let gone = bs[0].addr.to_string();
    let r = delete_backend(lb.admin(), "app", &gone.to_string());
    assert_eq!(r.status, 202, "{}", r.text());
    let removed: Vec<String> = srcs.iter().map(|s| owner(lb.addr(), *s)).collect();
    for i in 0..srcs.len() {
        if added[i] == "b0" {
            assert_ne!(removed[i], "b0", "{} still on the removed backend", srcs[i]);
        } else {
            assert_eq!(
                removed[i], added[i],
                "{} moved though its backend stayed",
                srcs[i]
            );
        }
    }
    assert!(
        added.iter().any(|o| o == "b0"),
        "b0 owned no client: {added:?}"
    );
}

#[test]
fn least_request_avoids_the_slow_backend() {
    let slow = Backend::start_with_delay("slow", Duration::from_millis(200));
    let fast = Backend::start("fast");
    let lb = Lb::start(&config("least_request", &[(&slow, 1), (&fast, 1)], 1));
    let addr = lb.addr();
    // 8 clients, 15 requests each, concurrently: the slow backend keeps requests in flight,
    // so least_request sends most traffic to the fast one (round robin would split 50/50).
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut cl = Client::http1(addr);
                count(&mut cl, 15)
            })
        })
        .collect();
    let mut total: HashMap<String, usize> = HashMap::new();
    for t in threads {
        for (k, v) in t.join().unwrap() {
            *total.entry(k).or_default() += v;
        }
    }
    let fast_share = total["fast"] as f64 / 120.0;
    assert!(fast_share > 0.75, "{total:?}");
}
