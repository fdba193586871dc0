//! Issue 7 items 10 and 11 end to end: environment values stay out of reload errors, and the
//! longest durations the configuration allows run without a panic.

use std::time::Duration;

use fulcrum_testkit::{get, wait_until, Backend};

use crate::support::{pool, Lb, TempDir};

/// Issue 7 item 10: a reload rejected because a new address cannot be bound names the
/// address as written (`${VAR}`), never the environment's value, in the reply (and so in the
/// audit line and the log, which carry the same text).
#[test]
fn reload_errors_print_env_references_not_values() {
    let b = Backend::start("b");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    // Nextest runs each test in its own process: the variable is this test's alone.
    std::env::set_var("FULCRUM_IT_TAKEN_BIND", &taken_addr);
    let base = format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npool = \"app\"\n{}",
        pool("app", "round_robin", &[&b])
    );
    let dir = TempDir::new("env-redact");
    let path = dir.write("fulcrum.toml", &base);
    let lb = Lb::start_file(&path);
    let addr = lb.addr();
    std::fs::write(
        &path,
        format!(
            "{base}[[listener]]\nname = \"second\"\nbind = \"${{FULCRUM_IT_TAKEN_BIND}}\"\n\
             [[listener.route]]\npool = \"app\"\n"
        ),
    )
    .unwrap();
    let err = lb.reload().expect_err("the address is taken");
    assert!(err.contains("${FULCRUM_IT_TAKEN_BIND}"), "{err}");
    assert!(!err.contains(&taken_addr), "the value leaked: {err}");
    // The old configuration keeps serving.
    assert_eq!(get(addr, "/").status, 200);
    drop(taken);
}

/// Issue 7 item 11: the longest `idle` and `drain_timeout` allowed (24h) serve requests, and a
/// reload that removes a backend (whose drain deadline is 24h away) neither panics nor drops
/// what is in flight.
#[test]
fn longest_allowed_durations_serve_and_reload() {
    let (a, c) = (Backend::start("a"), Backend::start("c"));
    let text = |bs: &[&Backend]| {
        format!(
            "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n\
             [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
             timeouts = {{ idle = \"24h\", header = \"24h\", request = \"24h\" }}\n\
             [[listener.route]]\npool = \"app\"\n{}drain_timeout = \"24h\"\n\
             slow_start = \"0s\"\noutlier = {{ max_ejection_time = \"24h\", base_ejection_time = \"24h\" }}\n",
            pool("app", "round_robin", bs)
        )
    };
    let dir = TempDir::new("max-durations");
    let path = dir.write("fulcrum.toml", &text(&[&a, &c]));
    let lb = Lb::start_file(&path);
    let addr = lb.addr();
    for _ in 0..4 {
        assert_eq!(get(addr, "/").status, 200);
    }
    std::fs::write(&path, text(&[&a])).unwrap();
    lb.reload().expect("reload removing a backend");
    assert!(
        wait_until(Duration::from_secs(5), || get(addr, "/").text() == "a"),
        "the remaining backend serves"
    );
    for _ in 0..4 {
        let r = get(addr, "/");
        assert_eq!((r.status.as_u16(), r.text()), (200, "a".to_owned()));
    }
}
