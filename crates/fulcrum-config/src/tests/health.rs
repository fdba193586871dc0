//! `[pool.NAME.health]`, `[pool.NAME.outlier]` and `[pool.NAME.retry]`.

use std::time::Duration;

use super::{error, errors, ok};
use crate::model::{HealthCheck, Outlier, Pool, Retry};

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
            path: None,
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        })
    );
    // An inline table is the same thing.
    let p = pool("[pool.api]\nbackends = [{ address = \"127.0.0.1:1\" }]\nhealth = {}\n");
    assert_eq!(p.health.unwrap().path, None);
}

#[test]
fn health_every_key() {
    let p = pool(&with(
        "health",
        "path = \"/healthz?full=1\"\ninterval = \"10s\"\ntimeout = \"10s\"\n\
         healthy_threshold = 1\nunhealthy_threshold = 100\n",
    ));
    assert_eq!(
        p.health,
        Some(HealthCheck {
            path: Some("/healthz?full=1".into()),
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
        "4:1: pool \"api\": health: unknown key \"paht\" (expected one of: path, interval, timeout, \
         healthy_threshold, unhealthy_threshold)"
    );
    assert_eq!(
        error("[pool.api]\nbackends = [{ address = \"127.0.0.1:1\" }]\nhealth = true\n"),
        "3:10: pool \"api\": health: expected a table, found a boolean"
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
