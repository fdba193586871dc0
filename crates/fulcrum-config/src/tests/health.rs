//! `[pool.NAME.health]`, `[pool.NAME.outlier]` and `[pool.NAME.retry]`.

use std::time::Duration;

use super::{error, errors, ok};
use crate::model::{HealthCheck, Outlier, Pool, Probe, Retry};

/// `[pool.api]` with one backend, then `table` (e.g. `"health"`) holding `body`.
fn with(table: &str, body: &str) -> String {
    format!(
        "[pool.api]\nbackends = [{{ address = \"127.0.0.1:9001\" }}]\n[pool.api.{table}]\n{body}"
    )
}

fn pool(src: &str) -> Pool {
    ok(src).pools.remove(0)
}

#[test]
fn health_defaults_to_a_tcp_check() {
    assert_eq!(
        pool(&with("health", "")).health,
        Some(HealthCheck {
            probe: Probe::Tcp,
            port: None,
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        })
    );
    // An inline table is the same thing.
    let p = pool("[pool.api]\nbackends = [{ address = \"127.0.0.1:1\" }]\nhealth = {}\n");
    assert_eq!(p.health.unwrap().probe, Probe::Tcp);
}

#[test]
fn health_every_key() {
    let p = pool(&with(
        "health",
        "path = \"/healthz?full=1\"\nport = 8081\ninterval = \"10s\"\ntimeout = \"10s\"\n\
         healthy_threshold = 1\nunhealthy_threshold = 100\n",
    ));
    assert_eq!(
        p.health,
        Some(HealthCheck {
            probe: Probe::Http {
                path: "/healthz?full=1".into()
            },
            port: Some(8081),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            healthy_threshold: 1,
            unhealthy_threshold: 100,
        })
    );
}

#[test]
fn health_path_must_be_a_path() {
    assert_eq!(
        error(&with("health", "path = \"healthz\"\n")),
        "4:8: pool \"api\": health.path: invalid path \"healthz\": must start with \"/\" \
         (e.g. \"/healthz\"; remove the key for a TCP connect check)"
    );
    assert_eq!(
        error(&with("health", "path = \"\"\n")),
        "4:8: pool \"api\": health.path: invalid path \"\": must start with \"/\" \
         (e.g. \"/healthz\"; remove the key for a TCP connect check)"
    );
    assert_eq!(
        error(&with("health", "path = \"/health check\"\n")),
        "4:8: pool \"api\": health.path: invalid path \"/health check\": must be a path, \
         optionally with a query (no fragment, spaces or control characters)"
    );
}

#[test]
fn health_durations_and_thresholds_are_in_range() {
    assert_eq!(
        errors(&with(
            "health",
            "interval = \"0s\"\ntimeout = \"0ms\"\nhealthy_threshold = 0\nunhealthy_threshold = 101\n"
        )),
        [
            "4:12: pool \"api\": health.interval: must be greater than 0",
            "5:11: pool \"api\": health.timeout: must be greater than 0",
            "6:21: pool \"api\": health.healthy_threshold: must be between 1 and 100, found 0",
            "7:23: pool \"api\": health.unhealthy_threshold: must be between 1 and 100, found 101",
        ]
    );
    assert_eq!(
        error(&with("health", "interval = 2\n")),
        "4:12: pool \"api\": health.interval: expected a duration string with a unit, e.g. \"10s\", \
         found an integer"
    );
}

#[test]
fn health_timeout_must_not_exceed_interval() {
    assert_eq!(
        error(&with("health", "interval = \"2s\"\ntimeout = \"2500ms\"\n")),
        "5:11: pool \"api\": health.timeout: must not be longer than interval (2s), found 2500ms"
    );
    // With only the default timeout (1s) in play, the short interval is what to fix.
    assert_eq!(
        error(&with("health", "interval = \"500ms\"\n")),
        "4:12: pool \"api\": health.interval: must not be shorter than timeout (1s, the default), \
         found 500ms; set a shorter timeout"
    );
    assert_eq!(
        error(&with("health", "timeout = \"3s\"\n")),
        "4:11: pool \"api\": health.timeout: must not be longer than interval (2s), found 3s"
    );
    let h = pool(&with(
        "health",
        "interval = \"500ms\"\ntimeout = \"200ms\"\n",
    ))
    .health
    .unwrap();
    assert_eq!(
        (h.interval, h.timeout),
        (Duration::from_millis(500), Duration::from_millis(200))
    );
}

#[test]
fn health_unknown_keys_list_the_valid_ones() {
    assert_eq!(
        error(&with("health", "paht = \"/\"\n")),
        "4:1: pool \"api\": health: unknown key \"paht\" (expected one of: path, port, udp_send, \
         udp_send_hex, udp_expect, udp_expect_hex, interval, timeout, healthy_threshold, \
         unhealthy_threshold)"
    );
    assert_eq!(
        error("[pool.api]\nbackends = [{ address = \"127.0.0.1:1\" }]\nhealth = true\n"),
        "3:10: pool \"api\": health: expected a table, found a boolean"
    );
}

/// The probe of a `[pool.api.health]` table holding `body`.
fn probe(body: &str) -> Probe {
    pool(&with("health", body)).health.unwrap().probe
}

#[test]
fn health_udp_probe_as_text_or_hex() {
    assert_eq!(
        probe("udp_send = \"ping\\n\"\nudp_expect = \"pong\"\n"),
        Probe::Udp {
            send: b"ping\n".to_vec(),
            expect: b"pong".to_vec()
        }
    );
    // Without an expectation any reply passes; an empty one is the same thing.
    let any = Probe::Udp {
        send: b"ping".to_vec(),
        expect: vec![],
    };
    assert_eq!(probe("udp_send = \"ping\"\n"), any);
    assert_eq!(probe("udp_send = \"ping\"\nudp_expect_hex = \"\"\n"), any);
    // Hex in either case, spaces and newlines between bytes (a multi-line string).
    assert_eq!(
        probe("udp_send_hex = \"\"\"\n12 34 01 00\n00 01\"\"\"\nudp_expect_hex = \"1234 81\"\n"),
        Probe::Udp {
            send: vec![0x12, 0x34, 0x01, 0x00, 0x00, 0x01],
            expect: vec![0x12, 0x34, 0x81]
        }
    );
    assert_eq!(
        probe("udp_send_hex = \"fF00aB\"\nudp_expect = \"ok\"\n"),
        Probe::Udp {
            send: vec![0xff, 0x00, 0xab],
            expect: b"ok".to_vec()
        }
    );
    // The port override applies to UDP probes too.
    let h = pool(&with("health", "udp_send = \"x\"\nport = 65535\n"))
        .health
        .unwrap();
    assert_eq!(h.port, Some(65535));
}

#[test]
fn health_udp_hex_errors_say_where_and_how() {
    assert_eq!(
        error(&with("health", "udp_send_hex = \"12 3g\"\n")),
        "4:16: pool \"api\": health.udp_send_hex: invalid hex: 'g' at character 5 is not a hex \
         digit (0-9, a-f): each byte is two hex digits written together, e.g. \"0a\" (spaces \
         are allowed between bytes)"
    );
    assert_eq!(
        error(&with("health", "udp_send_hex = \"0x12\"\n")),
        "4:16: pool \"api\": health.udp_send_hex: invalid hex: 'x' at character 2 is not a hex \
         digit (0-9, a-f): each byte is two hex digits written together, e.g. \"0a\" (spaces \
         are allowed between bytes)"
    );
    assert_eq!(
        error(&with("health", "udp_send_hex = \"12 3 45\"\n")),
        "4:16: pool \"api\": health.udp_send_hex: invalid hex: a lone hex digit '3' at \
         character 4: each byte is two hex digits written together, e.g. \"0a\" (spaces are \
         allowed between bytes)"
    );
    assert_eq!(
        error(&with(
            "health",
            "udp_send = \"x\"\nudp_expect_hex = \"abc\"\n"
        )),
        "5:18: pool \"api\": health.udp_expect_hex: invalid hex: a lone hex digit 'c' at \
         character 3: each byte is two hex digits written together, e.g. \"0a\" (spaces are \
         allowed between bytes)"
    );
    assert_eq!(
        error(&with("health", "udp_send_hex = 1234\n")),
        "4:16: pool \"api\": health.udp_send_hex: expected a string, found an integer"
    );
}

#[test]
fn health_udp_payloads_are_bounded_and_the_probe_not_empty() {
    let max_send = "ab".repeat(Probe::MAX_UDP_SEND);
    assert_eq!(
        probe(&format!("udp_send_hex = \"{max_send}\"\n")),
        Probe::Udp {
            send: vec![0xab; 1472],
            expect: vec![]
        }
    );
    assert_eq!(
        error(&with(
            "health",
            &format!("udp_send = \"{}\"\n", "x".repeat(1473))
        )),
        "4:12: pool \"api\": health.udp_send: is 1473 bytes long, at most 1472 are allowed \
         (what one datagram carries unfragmented over IPv4 on a 1500-byte MTU)"
    );
    assert_eq!(
        error(&with(
            "health",
            &format!(
                "udp_send = \"x\"\nudp_expect_hex = \"{}\"\n",
                "00".repeat(513)
            )
        )),
        "5:18: pool \"api\": health.udp_expect_hex: is 513 bytes long, at most 512 are allowed \
         (only a prefix of the reply is compared; a shorter one is enough)"
    );
    let max_expect = "y".repeat(Probe::MAX_UDP_EXPECT);
    assert_eq!(
        probe(&format!(
            "udp_send = \"x\"\nudp_expect = \"{max_expect}\"\n"
        )),
        Probe::Udp {
            send: b"x".to_vec(),
            expect: max_expect.into_bytes()
        }
    );
    for body in ["udp_send = \"\"\n", "udp_send_hex = \"  \"\n"] {
        let e = error(&with("health", body));
        assert!(
            e.ends_with("must not be empty: it is the datagram each check sends"),
            "{e}"
        );
    }
}

#[test]
fn health_udp_keys_conflicts_name_both_keys() {
    assert_eq!(
        error(&with("health", "udp_send = \"a\"\nudp_send_hex = \"61\"\n")),
        "5:1: pool \"api\": health.udp_send_hex: not both udp_send and udp_send_hex: write the \
         bytes once, as text (udp_send) or as hex digits (udp_send_hex)"
    );
    assert_eq!(
        error(&with(
            "health",
            "udp_send = \"a\"\nudp_expect_hex = \"61\"\nudp_expect = \"a\"\n"
        )),
        "5:1: pool \"api\": health.udp_expect_hex: not both udp_expect and udp_expect_hex: \
         write the bytes once, as text (udp_expect) or as hex digits (udp_expect_hex)"
    );
    assert_eq!(
        error(&with(
            "health",
            "path = \"/healthz\"\nudp_send = \"ping\"\n"
        )),
        "5:1: pool \"api\": health.udp_send: not combinable with path: a check is an HTTP GET \
         (path) or a UDP probe (udp_send), not both; remove one of them"
    );
    // The first UDP key in the file is the one named, whatever the order.
    assert_eq!(
        error(&with(
            "health",
            "udp_expect = \"pong\"\npath = \"/\"\nudp_send_hex = \"00\"\n"
        )),
        "4:1: pool \"api\": health.udp_expect: not combinable with path: a check is an HTTP GET \
         (path) or a UDP probe (udp_expect), not both; remove one of them"
    );
    assert_eq!(
        error(&with("health", "udp_expect = \"pong\"\n")),
        "4:1: pool \"api\": health.udp_expect: needs udp_send or udp_send_hex: udp_expect is \
         what the reply to that probe must start with"
    );
    assert_eq!(
        error(&with(
            "health",
            "interval = \"5s\"\nudp_expect_hex = \"00\"\n"
        )),
        "5:1: pool \"api\": health.udp_expect_hex: needs udp_send or udp_send_hex: \
         udp_expect_hex is what the reply to that probe must start with"
    );
}

/// The DNS pool of docs/configuration.md parses into the query and prefix it explains.
#[test]
fn health_docs_dns_example_is_the_query_it_describes() {
    let docs = include_str!("../../../../docs/configuration.md");
    // The example whose pool is probed (the udp listener section has a `[pool.dns]` too).
    let block = docs
        .match_indices("[pool.dns]\n")
        .map(|(start, _)| {
            let end = start + docs[start..].find("```").unwrap();
            &docs[start..end]
        })
        .find(|b| b.contains("udp_send_hex"))
        .expect("the DNS health example");
    let p = pool(block);
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    query.extend_from_slice(b"\x06health\x07example\x00\x00\x01\x00\x01");
    assert_eq!(
        p.health.unwrap().probe,
        Probe::Udp {
            send: query,
            expect: vec![0x12, 0x34, 0x81, 0x80]
        }
    );
}

#[test]
fn summary_shows_the_probe_and_the_check_port() {
    let text = crate::summary(&ok(&with(
        "health",
        "udp_send = \"ping\"\nudp_expect = \"pong\"\nport = 5353\n",
    )));
    assert!(
        text.contains(
            "  health: udp probe of 4 bytes, reply starting with 4 bytes on port 5353 every 2s \
             (timeout 1s, up 2, down 3)\n"
        ),
        "{text}"
    );
    let text = crate::summary(&ok(&with("health", "path = \"/\"\nport = 8081\n")));
    assert!(
        text.contains("  health: GET / on port 8081 every 2s"),
        "{text}"
    );
}

#[test]
fn health_port_is_a_port() {
    let h = pool(&with("health", "port = 1\n")).health.unwrap();
    assert_eq!((h.probe, h.port), (Probe::Tcp, Some(1)));
    assert_eq!(
        errors(&with("health", "port = 0\n")),
        ["4:8: pool \"api\": health.port: must be between 1 and 65535, found 0"]
    );
    assert_eq!(
        error(&with("health", "port = 65536\n")),
        "4:8: pool \"api\": health.port: must be between 1 and 65535, found 65536"
    );
    assert_eq!(
        error(&with("health", "port = \"8080\"\n")),
        "4:8: pool \"api\": health.port: expected an integer, found a string"
    );
}

#[test]
fn health_udp_errors_are_reported_with_the_others() {
    // Every error at once, in file order.
    assert_eq!(
        errors(&with(
            "health",
            "udp_send_hex = \"zz\"\nport = 0\ntimeout = \"0s\"\npath = \"nope\"\n"
        )),
        [
            "4:1: pool \"api\": health.udp_send_hex: not combinable with path: a check is an \
             HTTP GET (path) or a UDP probe (udp_send_hex), not both; remove one of them",
            "4:16: pool \"api\": health.udp_send_hex: invalid hex: 'z' at character 1 is not a \
             hex digit (0-9, a-f): each byte is two hex digits written together, e.g. \"0a\" \
             (spaces are allowed between bytes)",
            "5:8: pool \"api\": health.port: must be between 1 and 65535, found 0",
            "6:11: pool \"api\": health.timeout: must be greater than 0",
            "7:8: pool \"api\": health.path: invalid path \"nope\": must start with \"/\" \
             (e.g. \"/healthz\"; remove the key for a TCP connect check)",
        ]
    );
}

#[test]
fn outlier_defaults_and_every_key() {
    let d = Outlier::default();
    assert_eq!(
        d,
        Outlier {
            consecutive_failures: 5,
            base_ejection_time: Duration::from_secs(10),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 50,
        }
    );
    assert_eq!(pool(&with("outlier", "")).outlier, d);
    assert_eq!(
        pool(&with(
            "outlier",
            "consecutive_failures = 0\nbase_ejection_time = \"1s\"\nmax_ejection_time = \"1s\"\n\
             max_ejection_percent = 100\n"
        ))
        .outlier,
        Outlier {
            consecutive_failures: 0,
            base_ejection_time: Duration::from_secs(1),
            max_ejection_time: Duration::from_secs(1),
            max_ejection_percent: 100,
        }
    );
    let o = pool(&with(
        "outlier",
        "consecutive_failures = 1000\nmax_ejection_percent = 0\n",
    ))
    .outlier;
    assert_eq!((o.consecutive_failures, o.max_ejection_percent), (1000, 0));
}

#[test]
fn outlier_ranges() {
    assert_eq!(
        errors(&with(
            "outlier",
            "consecutive_failures = 1001\nbase_ejection_time = \"0s\"\nmax_ejection_time = \"0s\"\n\
             max_ejection_percent = 101\n"
        )),
        [
            "4:24: pool \"api\": outlier.consecutive_failures: must be between 0 and 1000, found 1001",
            "5:22: pool \"api\": outlier.base_ejection_time: must be greater than 0",
            "6:21: pool \"api\": outlier.max_ejection_time: must be greater than 0",
            "7:24: pool \"api\": outlier.max_ejection_percent: must be between 0 and 100, found 101",
        ]
    );
    assert_eq!(
        error(&with("outlier", "consecutive_failures = -1\n")),
        "4:24: pool \"api\": outlier.consecutive_failures: must be between 0 and 1000, found -1"
    );
}

#[test]
fn outlier_max_ejection_time_is_at_least_the_base() {
    assert_eq!(
        error(&with(
            "outlier",
            "base_ejection_time = \"30s\"\nmax_ejection_time = \"10s\"\n"
        )),
        "5:21: pool \"api\": outlier.max_ejection_time: must not be shorter than \
         base_ejection_time (30s), found 10s"
    );
    assert_eq!(
        error(&with("outlier", "max_ejection_time = \"5s\"\n")),
        "4:21: pool \"api\": outlier.max_ejection_time: must not be shorter than \
         base_ejection_time (10s), found 5s"
    );
    assert_eq!(
        error(&with("outlier", "base_ejection_time = \"10m\"\n")),
        "4:22: pool \"api\": outlier.base_ejection_time: must not be longer than \
         max_ejection_time (5m, the default), found 10m; set a longer max_ejection_time"
    );
}

#[test]
fn outlier_unknown_keys_list_the_valid_ones() {
    assert_eq!(
        error(&with("outlier", "failures = 3\n")),
        "4:1: pool \"api\": outlier: unknown key \"failures\" (expected one of: \
         consecutive_failures, base_ejection_time, max_ejection_time, max_ejection_percent)"
    );
}

#[test]
fn retry_defaults_and_ranges() {
    assert_eq!(
        Retry::default(),
        Retry {
            attempts: 1,
            budget_percent: 20
        }
    );
    assert_eq!(pool(&with("retry", "")).retry, Retry::default());
    for (attempts, budget) in [(0, 0), (5, 100), (2, 10)] {
        let r = pool(&with(
            "retry",
            &format!("attempts = {attempts}\nbudget_percent = {budget}\n"),
        ))
        .retry;
        assert_eq!(
            r,
            Retry {
                attempts,
                budget_percent: budget
            }
        );
    }
    assert_eq!(
        errors(&with("retry", "attempts = 6\nbudget_percent = 101\n")),
        [
            "4:12: pool \"api\": retry.attempts: must be between 0 and 5, found 6",
            "5:18: pool \"api\": retry.budget_percent: must be between 0 and 100, found 101",
        ]
    );
    assert_eq!(
        error(&with("retry", "attempts = \"2\"\n")),
        "4:12: pool \"api\": retry.attempts: expected an integer, found a string"
    );
}

#[test]
fn retry_unknown_keys_list_the_valid_ones() {
    assert_eq!(
        error(&with("retry", "tries = 2\n")),
        "4:1: pool \"api\": retry: unknown key \"tries\" (expected one of: attempts, budget_percent)"
    );
}

#[test]
fn errors_in_every_table_are_reported_together() {
    let src = "[pool.api]\nbackends = [{ address = \"bad_name:80\" }]\n\
               [pool.api.health]\ntimeout = \"0s\"\n\
               [pool.api.outlier]\nmax_ejection_percent = 200\n\
               [pool.api.retry]\nattempts = 9\n";
    assert_eq!(errors(src).len(), 4, "{:#?}", errors(src));
}
