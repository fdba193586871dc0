//! Issue 7 item 7: what a backend learns about the client. Forwarding headers a client writes
//! are replaced or removed unless its peer is in `trusted_proxies`; from a trusted peer the
//! `X-Forwarded-For` chain counts, and its right-most untrusted address is the client for
//! `X-Real-IP`, balancing and the access log.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use fulcrum_testkit::{wait_until, Backend, Client};

use crate::support::{Lb, TempDir};

/// Every forwarding header a client could try to forge.
const FORGED: &[(&str, &str)] = &[
    ("x-forwarded-for", "1.1.1.1, 203.0.113.9"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-host", "evil.example"),
    ("x-forwarded-port", "1"),
    ("x-forwarded-prefix", "/evil"),
    ("x-real-ip", "1.1.1.1"),
    ("forwarded", "for=1.1.1.1;proto=https"),
    ("x-original-url", "/admin"),
    ("x-rewrite-url", "/admin"),
];

/// Listener `web` on 127.0.0.1 and [::1] trusting `trusted`, one route to `pool`.
fn config(trusted: &str, pool: &str, log: &str) -> String {
    format!(
        "[runtime]\nworkers = 2\n[access_log]\ntarget = {log:?}\n\
         [[listener]]\nname = \"web\"\nbind = [\"127.0.0.1:0\", \"[::1]:0\"]\n\
         trusted_proxies = {trusted}\n\
         [[listener.route]]\npool = \"app\"\n{pool}"
    )
}

fn single(be: &Backend) -> String {
    format!("[pool.app]\nbackends = [{{ address = \"{}\" }}]\n", be.addr)
}

fn get_from(src: IpAddr, to: SocketAddr, headers: &[(&str, &str)]) -> u16 {
    Client::http1_from(Some(src), to)
        .get("shop.example", "/", headers)
        .unwrap()
        .status
        .as_u16()
}

/// Issue 7 item 7: a client's `Forwarded`, `X-Real-IP`, `X-Forwarded-*`, `X-Original-URL`
/// reached the backend as sent; now the backend sees this hop's view only.
#[test]
fn forged_forwarding_headers_do_not_reach_the_backend() {
    let be = Backend::start("be");
    let lb = Lb::start(&config("[\"127.0.0.2/32\"]", &single(&be), "off"));
    let addr = lb.addr();
    assert_eq!(get_from("127.0.0.1".parse().unwrap(), addr, FORGED), 200);
    let h = &be.recorded()[0].headers;
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "{h:?}");
    assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
    assert_eq!(h["x-real-ip"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "shop.example");
    assert_eq!(h["x-forwarded-port"], addr.port().to_string().as_str());
    for gone in [
        "forwarded",
        "x-forwarded-prefix",
        "x-original-url",
        "x-rewrite-url",
    ] {
        assert!(h.get(gone).is_none(), "{gone} reached the backend: {h:?}");
    }
}

/// From a trusted proxy (IPv4 or IPv6) the chain is kept and appended to, its view of the
/// original request is kept, and `X-Real-IP` and the access log name the right-most address
/// that is not a trusted proxy.
#[test]
fn a_trusted_proxy_chain_counts_and_names_the_client() {
    let be = Backend::start("be");
    let dir = TempDir::new("xff-log");
    let log = dir.0.join("access.log");
    let trusted = "[\"127.0.0.2/32\", \"10.0.0.0/8\", \"::1/128\"]";
    let lb = Lb::start(&config(trusted, &single(&be), log.to_str().unwrap()));
    let addrs = lb.all_addrs("web");
    let (v4, v6) = (addrs[0], addrs[1]);
    assert!(v6.is_ipv6());
    let chain = [("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.9.9.9")];
    let mut with_view = chain.to_vec();
    with_view.extend([("x-forwarded-proto", "https"), ("x-forwarded-port", "443")]);
    assert_eq!(get_from("127.0.0.2".parse().unwrap(), v4, &with_view), 200);
    assert_eq!(get_from("::1".parse().unwrap(), v6, &chain), 200);
    // The same headers from an untrusted peer count for nothing.
    assert_eq!(get_from("127.0.0.3".parse().unwrap(), v4, &with_view), 200);

    let seen = be.recorded();
    let h = &seen[0].headers;
    assert_eq!(
        h["x-forwarded-for"],
        "1.1.1.1, 203.0.113.9, 10.9.9.9, 127.0.0.2"
    );
    assert_eq!(h["x-real-ip"], "203.0.113.9");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-port"], "443");
    let h = &seen[1].headers;
    assert_eq!(h["x-forwarded-for"], "1.1.1.1, 203.0.113.9, 10.9.9.9, ::1");
    assert_eq!(h["x-real-ip"], "203.0.113.9");
    assert_eq!(
        h["x-forwarded-proto"], "http",
        "filled in when the proxy sent none"
    );
    assert_eq!(h["x-forwarded-port"], v6.port().to_string().as_str());
    let h = &seen[2].headers;
    assert_eq!(h["x-forwarded-for"], "127.0.0.3");
    assert_eq!(h["x-real-ip"], "127.0.0.3");
    assert_eq!(h["x-forwarded-proto"], "http");

    // The access log's client is the same address the backend was told.
    let mut clients = Vec::new();
    let logged = wait_until(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        clients = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["client"].as_str().map(str::to_owned))
            .collect();
        clients.len() >= 3
    });
    assert!(logged, "access log lines: {clients:?}");
    clients.sort();
    assert_eq!(clients, ["127.0.0.3", "203.0.113.9", "203.0.113.9"]);
}

/// `ip_hash` keys on the client a trusted proxy names, not on the proxy: behind a front load
/// balancer every request comes from its few addresses, which would pin all clients to one
/// backend.
#[test]
fn ip_hash_keys_on_the_client_behind_a_trusted_proxy() {
    let backends: Vec<Backend> = (0..4).map(|i| Backend::start(&format!("b{i}"))).collect();
    let list: Vec<String> = backends
        .iter()
        .map(|b| format!("{{ address = \"{}\" }}", b.addr))
        .collect();
    let pool = format!(
        "[pool.app]\nbalance = \"ip_hash\"\nbackends = [{}]\n",
        list.join(", ")
    );
    let lb = Lb::start(&config("[\"127.0.0.2/32\"]", &pool, "off"));
    let mut cl = Client::http1_from(Some("127.0.0.2".parse().unwrap()), lb.addr());
    let mut chosen = HashSet::new();
    for i in 0..32 {
        let client = format!("198.51.100.{i}");
        let mut first = None;
        for _ in 0..3 {
            let r = cl
                .get("a", "/", &[("x-forwarded-for", client.as_str())])
                .unwrap();
            let b = r.header("x-backend").unwrap();
            assert_eq!(
                *first.get_or_insert_with(|| b.clone()),
                b,
                "{client} moved between backends"
            );
        }
        chosen.extend(first);
    }
    assert!(
        chosen.len() >= 3,
        "32 clients behind one proxy reached only {chosen:?}"
    );
}
