//! `[pool.NAME]`: balance, backends, timeouts, unsupported health checks.

use std::time::Duration;

use super::{error, errors, ok};
use crate::model::Balance;

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
            "[pool.api]\nbackends = [\n  { address = \"db.internal:5432\" },\n  { address = \"10.0.0.1\" },\n  \
             { address = \"10.0.0.1:0\" },\n  { weight = 2 },\n]\n"
        ),
        [
            "3:15: pool \"api\": backends[0].address: DNS names are not supported yet (\"db.internal:5432\"); \
             use an IP address such as \"10.0.0.5:8080\"",
            "4:15: pool \"api\": backends[1].address: invalid address \"10.0.0.1\" (expected IP:PORT, \
             e.g. \"127.0.0.1:9001\" or \"[::1]:9001\")",
            "5:15: pool \"api\": backends[2].address: invalid address \"10.0.0.1:0\": port 0 cannot be connected to",
            "6:3: pool \"api\": backends[3]: missing required key \"address\"",
        ]
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
        errors(&api("slow_start = \"1m\"\n")),
        ["3:14: pool \"api\": slow_start: slow start is not supported yet (only \"0s\")"]
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
fn health_checks_are_not_supported_yet() {
    assert_eq!(
        error(&api("[pool.api.health]\npath = \"/healthz\"\n")),
        "3:11: pool \"api\": health checks are not supported yet"
    );
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
         connect_timeout, drain_timeout, slow_start, health)"
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
