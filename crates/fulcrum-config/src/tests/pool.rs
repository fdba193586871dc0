//! `[pool.NAME]`: balance, backends by IP and by DNS name, timeouts, keys.

use std::time::Duration;

use super::{error, errors, ok};
use crate::model::{Backend, Balance, DnsBackend};

/// `[pool.api]` with one backend and `extra` lines.
fn api(extra: &str) -> String {
    format!("[pool.api]\nbackends = [{{ address = \"127.0.0.1:9001\" }}]\n{extra}")
}

#[test]
fn defaults() {
    let p = ok(&api("")).pools.remove(0);
    assert_eq!(p.balance, Balance::RoundRobin);
    assert_eq!(p.backends[0].weight, 1);
    assert_eq!(p.connect_timeout, Duration::from_secs(2));
    assert_eq!(p.drain_timeout, Duration::from_secs(30));
    assert_eq!(p.slow_start, Duration::ZERO);
    assert_eq!(p.dns_refresh, Duration::from_secs(5));
    assert!(p.dns.is_empty());
    assert_eq!(p.health, None);
    assert_eq!(p.outlier, crate::model::Outlier::default());
    assert_eq!(p.retry, crate::model::Retry::default());
}

#[test]
fn every_balance_name_parses() {
    for &name in Balance::NAMES {
        let p = ok(&api(&format!("balance = \"{name}\"\n"))).pools.remove(0);
        assert_eq!(p.balance.as_str(), name);
    }
    assert_eq!(
        error(&api("balance = \"round-robbin\"\n")),
        "3:11: pool \"api\": unknown balance \"round-robbin\" (expected one of: round_robin, \
         least_request, random, ip_hash, ring_hash)"
    );
}

#[test]
fn backends_are_required_and_non_empty() {
    assert_eq!(
        error("[pool.api]\n"),
        "1:1: pool \"api\": missing required key \"backends\""
    );
    assert_eq!(
        error("[pool.api]\nbackends = []\n"),
        "2:12: pool \"api\": backends: must list at least one backend"
    );
    assert_eq!(
        error("[pool.api]\nbackends = \"127.0.0.1:1\"\n"),
        "2:12: pool \"api\": backends: expected an array of { address, weight } tables, found a string"
    );
}

#[test]
fn backend_addresses() {
    assert_eq!(
        errors(
            "[pool.api]\nbackends = [\n  { address = \"10.0.0.1\" },\n  \
             { address = \"10.0.0.1:0\" },\n  { weight = 2 },\n  { address = \"::1:80\" },\n  \
             { address = 9001 },\n]\n"
        ),
        [
            "3:15: pool \"api\": backends[0].address: invalid address \"10.0.0.1\": missing the port \
             (expected IP:PORT or HOST:PORT, e.g. \"127.0.0.1:9001\", \"[::1]:9001\" or \"app.internal:9001\")",
            "4:15: pool \"api\": backends[1].address: invalid address \"10.0.0.1:0\": port 0 cannot be connected to",
            "5:3: pool \"api\": backends[2]: missing required key \"address\"",
            "6:15: pool \"api\": backends[3].address: invalid address \"::1:80\" (expected IP:PORT or \
             HOST:PORT, e.g. \"127.0.0.1:9001\", \"[::1]:9001\" or \"app.internal:9001\")",
            "7:15: pool \"api\": backends[4].address: expected a string, found an integer",
        ]
    );
}

#[test]
fn dns_names_become_dns_backends() {
    let p = ok(
        "[pool.api]\nbackends = [\n  { address = \"10.0.0.1:80\" },\n  \
         { address = \"App.Internal:8080\", weight = 3 },\n  { address = \"localhost:9001\" },\n  \
         { address = \"a-1.b2.example.com:443\" },\n]\ndns_refresh = \"30s\"\n",
    )
    .pools
    .remove(0);
    assert_eq!(
        p.backends,
        [Backend {
            address: "10.0.0.1:80".parse().unwrap(),
            weight: 1
        }]
    );
    let dns = |host: &str, port, weight| DnsBackend {
        host: host.into(),
        port,
        weight,
    };
    assert_eq!(
        p.dns,
        [
            dns("app.internal", 8080, 3),
            dns("localhost", 9001, 1),
            dns("a-1.b2.example.com", 443, 1),
        ]
    );
    assert_eq!(p.dns_refresh, Duration::from_secs(30));

    // A pool of DNS backends only is complete.
    let p = ok("[pool.api]\nbackends = [{ address = \"db.internal:5432\" }]\n")
        .pools
        .remove(0);
    assert!(p.backends.is_empty());
    assert_eq!(p.dns, [dns("db.internal", 5432, 1)]);

    // Limits: 63-character labels, 253-character names, port 65535.
    let label = "a".repeat(63);
    let long = [label.as_str(); 4].join(".")[..253].to_owned();
    for host in [label.clone(), long] {
        let src = format!("[pool.api]\nbackends = [{{ address = \"{host}:65535\" }}]\n");
        assert_eq!(ok(&src).pools[0].dns, [dns(&host, 65535, 1)]);
    }
}

#[test]
fn invalid_dns_names_say_why() {
    let bad = |address: &str| {
        error(&format!(
            "[pool.api]\nbackends = [{{ address = \"{address}\" }}]\n"
        ))
    };
    let at = "2:25: pool \"api\": backends[0].address: ";
    let eg = " (e.g. \"app.internal:9001\")";
    assert_eq!(
        bad("db_1.internal:5432"),
        format!("{at}invalid host name \"db_1.internal\": label \"db_1\" may only contain letters, digits and \"-\"{eg}")
    );
    assert_eq!(
        bad("-db.internal:5432"),
        format!("{at}invalid host name \"-db.internal\": label \"-db\" must not start or end with \"-\"{eg}")
    );
    assert_eq!(
        bad("db-.internal:5432"),
        format!("{at}invalid host name \"db-.internal\": label \"db-\" must not start or end with \"-\"{eg}")
    );
    assert_eq!(
        bad("db..internal:5432"),
        format!("{at}invalid host name \"db..internal\": has an empty label (a dot at the start or end, or two in a row){eg}")
    );
    assert_eq!(
        bad("db.internal.:5432"),
        format!("{at}invalid host name \"db.internal.\": has an empty label (a dot at the start or end, or two in a row){eg}")
    );
    let label = "b".repeat(64);
    assert_eq!(
        bad(&format!("{label}.internal:1")),
        format!("{at}invalid host name \"{label}.internal\": label \"{label}\" is 64 characters long, at most 63 are allowed{eg}")
    );
    let long = vec!["c".repeat(60); 5].join(".");
    assert_eq!(
        bad(&format!("{long}:1")),
        format!(
            "{at}invalid host name \"{long}\": is 304 characters long, at most 253 are allowed{eg}"
        )
    );
    let expected =
        "(expected IP:PORT or HOST:PORT, e.g. \"127.0.0.1:9001\", \"[::1]:9001\" or \"app.internal:9001\")";
    assert_eq!(
        bad("10.0.0.256:80"),
        format!("{at}invalid address \"10.0.0.256:80\": \"10.0.0.256\" is not a valid IP address {expected}")
    );
    assert_eq!(
        bad("db.internal"),
        format!("{at}invalid address \"db.internal\": missing the port {expected}")
    );
    assert_eq!(
        bad("db.internal:0"),
        format!("{at}invalid address \"db.internal:0\": port 0 cannot be connected to")
    );
    assert_eq!(
        bad("db.internal:65536"),
        format!("{at}invalid address \"db.internal:65536\": port \"65536\" is not a number from 1 to 65535")
    );
    assert_eq!(
        bad("db.internal:http"),
        format!("{at}invalid address \"db.internal:http\": port \"http\" is not a number from 1 to 65535")
    );
    assert_eq!(
        bad("http://db.internal:80"),
        format!("{at}invalid address \"http://db.internal:80\": no scheme, only the host and port {expected}")
    );
}

#[test]
fn dns_refresh_must_be_positive() {
    assert_eq!(
        error(&api("dns_refresh = \"0s\"\n")),
        "3:15: pool \"api\": dns_refresh: must be greater than 0"
    );
    assert_eq!(
        error(&api("dns_refresh = 5\n")),
        "3:15: pool \"api\": dns_refresh: expected a duration string with a unit, e.g. \"10s\", found an integer"
    );
}

#[test]
fn backend_weights_are_positive() {
    let p = ok("[pool.api]\nbackends = [{ address = \"127.0.0.1:1\", weight = 7 }]\n")
        .pools
        .remove(0);
    assert_eq!(p.backends[0].weight, 7);
    assert_eq!(
        errors("[pool.api]\nbackends = [\n{ address = \"127.0.0.1:1\", weight = 0 },\n{ address = \"127.0.0.1:2\", weight = -3 },\n{ address = \"127.0.0.1:3\", weight = 1.5 },\n]\n"),
        [
            "3:37: pool \"api\": backends[0].weight: must be between 1 and 4294967295, found 0",
            "4:37: pool \"api\": backends[1].weight: must be between 1 and 4294967295, found -3",
            "5:37: pool \"api\": backends[2].weight: expected an integer, found a float",
        ]
    );
}

#[test]
fn duplicate_backends_are_errors() {
    assert_eq!(
        error("[pool.api]\nbackends = [\n{ address = \"127.0.0.1:1\" },\n{ address = \"127.0.0.1:2\" },\n{ address = \"127.0.0.1:1\" },\n]\n"),
        "5:13: pool \"api\": backends[2].address: duplicate backend 127.0.0.1:1 (also backends[0])"
    );
    // DNS names compare case-insensitively, across both kinds of backend.
    assert_eq!(
        errors("[pool.api]\nbackends = [\n{ address = \"app.internal:80\" },\n{ address = \"127.0.0.1:80\" },\n\
                { address = \"APP.Internal:80\", weight = 2 },\n{ address = \"app.internal:81\" },\n\
                { address = \"127.0.0.1:80\" },\n]\n"),
        [
            "5:13: pool \"api\": backends[2].address: duplicate backend app.internal:80 (also backends[0])",
            "7:13: pool \"api\": backends[4].address: duplicate backend 127.0.0.1:80 (also backends[1])",
        ]
    );
    // The same port on another name, or the IP a name may resolve to, is not a duplicate.
    let p = ok(
        "[pool.api]\nbackends = [{ address = \"localhost:80\" }, { address = \"127.0.0.1:80\" }]\n",
    )
    .pools
    .remove(0);
    assert_eq!((p.backends.len(), p.dns.len()), (1, 1));
}

#[test]
fn pool_timeouts() {
    let p = ok(&api(
        "connect_timeout = \"250ms\"\ndrain_timeout = \"0s\"\nslow_start = \"0s\"\n",
    ))
    .pools
    .remove(0);
    assert_eq!(
        (p.connect_timeout, p.drain_timeout, p.slow_start),
        (Duration::from_millis(250), Duration::ZERO, Duration::ZERO)
    );
    assert_eq!(
        errors(&api("connect_timeout = \"0ms\"\nslow_start = \"soon\"\n")),
        [
            "3:19: pool \"api\": connect_timeout: must be greater than 0",
            "4:14: pool \"api\": slow_start: invalid duration \"soon\" (expected a number followed by \
             one of the units ms, s, m, h, e.g. \"10s\")",
        ]
    );
}

#[test]
fn slow_start_takes_any_duration() {
    for (text, d) in [
        ("0s", Duration::ZERO),
        ("30s", Duration::from_secs(30)),
        ("1m", Duration::from_secs(60)),
        ("1.5s", Duration::from_millis(1500)),
    ] {
        let p = ok(&api(&format!("slow_start = \"{text}\"\n")))
            .pools
            .remove(0);
        assert_eq!(p.slow_start, d, "{text}");
    }
}

#[test]
fn pool_names_and_keys() {
    assert_eq!(
        error("[pool.\"a b\"]\nbackends = [{ address = \"127.0.0.1:1\" }]\n"),
        "1:7: pool \"a b\": invalid pool name (use letters, digits, \"_\", \".\" and \"-\")"
    );
    ok("[pool.\"v1.api_x-2\"]\nbackends = [{ address = \"127.0.0.1:1\" }]\n");
    assert_eq!(
        error(&api("balanse = \"random\"\n")),
        "3:1: pool \"api\": unknown key \"balanse\" (expected one of: balance, backends, \
         connect_timeout, drain_timeout, slow_start, dns_refresh, health, outlier, retry, tls, proxy_protocol)"
    );
    assert_eq!(
        error("pool = 1\n"),
        "1:8: pool: expected a table of pools ([pool.NAME]), found an integer"
    );
    assert_eq!(
        error("[pool]\napi = 1\n"),
        "2:7: pool \"api\": expected a table, found an integer"
    );
}
