//! `[runtime]`, `[access_log]`, `[admin]`.

use std::path::PathBuf;

use super::{error, errors, ok};
use crate::model::LogTarget;

#[test]
fn workers_zero_means_one_per_cpu() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(ok("[runtime]\nworkers = 0\n").runtime.workers, cpus);
    assert_eq!(ok("[runtime]\n").runtime.workers, cpus);
    assert_eq!(ok("[runtime]\nworkers = 1_024\n").runtime.workers, 1024);
}

#[test]
fn workers_out_of_range() {
    assert_eq!(
        error("[runtime]\nworkers = 1025\n"),
        "2:11: runtime.workers: must be between 0 and 1024, found 1025"
    );
    assert_eq!(
        error("[runtime]\nworkers = -2\n"),
        "2:11: runtime.workers: must be between 0 and 1024, found -2"
    );
    assert_eq!(
        error("[runtime]\nworkers = \"4\"\n"),
        "2:11: runtime.workers: expected an integer, found a string"
    );
    assert_eq!(
        error("[runtime]\nthreads = 4\n"),
        "2:1: runtime: unknown key \"threads\" (expected one of: workers, drain_delay, shutdown_grace)"
    );
}

/// Issue 7 item 12: the SIGTERM drain delay and the shutdown grace are settings.
#[test]
fn drain_delay_and_shutdown_grace() {
    use std::time::Duration;
    let rt = ok("[runtime]\n").runtime;
    assert_eq!(rt.drain_delay, Duration::from_secs(5));
    assert_eq!(rt.shutdown_grace, Duration::from_secs(25));
    assert_eq!(ok("").runtime.drain_delay, Duration::from_secs(5));
    let rt = ok("[runtime]\ndrain_delay = \"0s\"\nshutdown_grace = \"1500ms\"\n").runtime;
    assert_eq!(rt.drain_delay, Duration::ZERO);
    assert_eq!(rt.shutdown_grace, Duration::from_millis(1500));
    assert_eq!(
        error("[runtime]\ndrain_delay = \"2h\"\n"),
        "2:15: runtime.drain_delay: must be at most \"1h\""
    );
    assert_eq!(
        error("[runtime]\nshutdown_grace = 30\n"),
        "2:18: runtime.shutdown_grace: expected a duration string with a unit, e.g. \"10s\", found an integer"
    );
}

#[test]
fn access_log_targets() {
    let target = |t: &str| {
        ok(&format!("[access_log]\ntarget = \"{t}\"\n"))
            .access_log
            .target
    };
    assert_eq!(target("stderr"), LogTarget::Stderr);
    assert_eq!(target("off"), LogTarget::Off);
    assert_eq!(
        target("logs/access.log"),
        LogTarget::File(PathBuf::from("logs/access.log"))
    );
    assert_eq!(
        error("[access_log]\ntarget = \"\"\n"),
        "2:10: access_log.target: must be \"stderr\", \"off\" or a file path"
    );
}

#[test]
fn access_log_sample_is_a_fraction() {
    assert_eq!(ok("[access_log]\nsample = 0.25\n").access_log.sample, 0.25);
    assert_eq!(ok("[access_log]\nsample = 0\n").access_log.sample, 0.0);
    assert_eq!(ok("[access_log]\nsample = 1\n").access_log.sample, 1.0);
    for bad in ["1.5", "-0.1", "2", "nan"] {
        assert_eq!(
            error(&format!("[access_log]\nsample = {bad}\n")),
            "2:10: access_log.sample: must be between 0.0 and 1.0"
        );
    }
}

#[test]
fn admin_is_optional_and_bind_defaults() {
    assert_eq!(ok("").admin, None);
    let admin = ok("[admin]\n").admin.unwrap();
    assert_eq!(admin.bind, "127.0.0.1:9900".parse().unwrap());
    assert_eq!(admin.token, None);
    let admin = ok("[admin]\nbind = \"[::1]:9901\"\ntoken = \"x\"\n")
        .admin
        .unwrap();
    assert_eq!(admin.bind, "[::1]:9901".parse().unwrap());
    assert_eq!(admin.token.as_deref(), Some("x"));
}

#[test]
fn admin_metrics_token() {
    assert_eq!(ok("[admin]\n").admin.unwrap().metrics_token, None);
    let admin = ok("[admin]\nmetrics_token = \"m\"\n").admin.unwrap();
    assert_eq!(admin.metrics_token.as_deref(), Some("m"));
    assert_eq!(
        error("[admin]\nmetrics_token = \"\"\n"),
        "2:17: admin.metrics_token: must not be empty (remove the key to leave /metrics open)"
    );
}

/// Issue 7 item 4: an admin listener other hosts can reach needs a token.
#[test]
fn admin_on_a_non_loopback_address_without_a_token_is_refused() {
    for bind in ["0.0.0.0:9900", "[::]:9900", "192.0.2.1:9900"] {
        let src = format!("[admin]\nbind = \"{bind}\"\n");
        let want = format!(
            "2:8: admin.bind: {} is not a loopback address: an admin listener reachable from \
             other hosts needs a token (set admin.token), or bind it to 127.0.0.1 or [::1]",
            bind.parse::<std::net::SocketAddr>().unwrap()
        );
        assert_eq!(error(&src), want, "{bind}");
        let with_token = format!("[admin]\nbind = \"{bind}\"\ntoken = \"t\"\n");
        assert!(ok(&with_token).admin.unwrap().token.is_some(), "{bind}");
    }
    for bind in [
        "127.0.0.1:9900",
        "127.1.2.3:9900",
        "[::1]:9900",
        "[::ffff:127.0.0.1]:9900",
    ] {
        ok(&format!("[admin]\nbind = \"{bind}\"\n"));
    }
    // A metrics token is not an admin token.
    assert!(!errors("[admin]\nbind = \"0.0.0.0:9900\"\nmetrics_token = \"m\"\n").is_empty());
}

#[test]
fn admin_watch_config_and_audit_log() {
    let admin = ok("[admin]\n").admin.unwrap();
    assert!(!admin.watch_config);
    assert_eq!(admin.audit_log, LogTarget::Stderr);
    let admin = ok("[admin]\nwatch_config = true\naudit_log = \"/var/log/fulcrum/audit.log\"\n")
        .admin
        .unwrap();
    assert!(admin.watch_config);
    assert_eq!(
        admin.audit_log,
        LogTarget::File(PathBuf::from("/var/log/fulcrum/audit.log"))
    );
    let admin = ok("[admin]\nwatch_config = false\naudit_log = \"off\"\n")
        .admin
        .unwrap();
    assert!(!admin.watch_config);
    assert_eq!(admin.audit_log, LogTarget::Off);
    assert_eq!(
        ok("[admin]\naudit_log = \"stderr\"\n")
            .admin
            .unwrap()
            .audit_log,
        LogTarget::Stderr
    );
    assert_eq!(
        errors("[admin]\nwatch_config = \"yes\"\naudit_log = \"\"\n"),
        [
            "2:16: admin.watch_config: expected a boolean (true or false), found a string",
            "3:13: admin.audit_log: must be \"stderr\", \"off\" or a file path",
        ]
    );
    assert_eq!(
        error("[admin]\naudit_log = 1\n"),
        "2:13: admin.audit_log: expected a string, found an integer"
    );
}

#[test]
fn admin_errors() {
    assert_eq!(
        errors("[admin]\nbind = \"localhost:9900\"\ntoken = \"${EMPTY}\"\nuser = \"x\"\n"),
        [
            "2:8: admin.bind: invalid address \"localhost:9900\" (expected IP:PORT, e.g. \
             \"0.0.0.0:8080\" or \"[::]:8080\")",
            "3:9: admin.token: must not be empty (remove the key to run the admin API without a token)",
            "4:1: admin: unknown key \"user\" (expected one of: bind, token, metrics_token, watch_config, audit_log)",
        ]
    );
}
