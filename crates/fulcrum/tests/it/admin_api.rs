//! The admin API (SPEC "Admin API"): probes, the pool listing, the bearer token, live backends
//! added and drained, the audit log, and reloads that fail without harm.

use std::net::SocketAddr;
use std::time::Duration;

use fulcrum_testkit::{wait_until, Backend, Client, Reply};

use crate::support::{
    admin_call, backend_entry, backend_field, delete_backend, pool, pools_json, post_backend, Lb,
    TempDir,
};

/// One listener `web` routing everything to pool `app` (round robin over `backends`), with an
/// admin listener on a free loopback port; `admin_extra` goes into the `[admin]` table.
fn config(backends: &[&Backend], admin_extra: &str) -> String {
    format!(
        "[runtime]\nworkers = 2\n[access_log]\ntarget = \"off\"\n\
         [admin]\nbind = \"127.0.0.1:0\"\n{admin_extra}\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npool = \"app\"\n{}",
        pool("app", "round_robin", backends)
    )
}

fn start(dir: &TempDir, toml: &str) -> (Lb, std::path::PathBuf) {
    let path = dir.write("fulcrum.toml", toml);
    (Lb::start_file(&path), path)
}

/// Which backend answered each of `n` GETs on one keep-alive connection.
fn answers(addr: SocketAddr, n: usize) -> Vec<String> {
    let mut cl = Client::http1(addr);
    (0..n)
        .map(|_| {
            let r = cl.get("test.local", "/", &[]).unwrap();
            assert_eq!(r.status, 200, "{}", r.text());
            r.header("x-backend").unwrap()
        })
        .collect()
}

#[test]
fn probes_answer_and_pools_are_listed_with_their_backends() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let dir = TempDir::new("admin-list");
    let (lb, _) = start(&dir, &config(&[&a, &b], ""));
    let admin = lb.admin();
    assert_eq!(admin_call(admin, "GET", "/healthz", None, None).status, 200);
    assert_eq!(admin_call(admin, "GET", "/ready", None, None).status, 200);

    let v = pools_json(admin, None);
    let pools = v["pools"].as_array().unwrap();
    assert_eq!(pools.len(), 1, "{v:#}");
    assert_eq!(pools[0]["name"], "app");
    let backends = pools[0]["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 2, "{v:#}");
    for (be, entry) in [&a, &b].iter().zip(backends) {
        assert_eq!(entry["address"], be.addr.to_string(), "{v:#}");
        assert_eq!(entry["state"], "active", "{v:#}");
        assert_eq!(entry["weight"], 1, "{v:#}");
        assert_eq!(entry["inflight"], 0, "{v:#}");
        // Issue 7 item 22: no [health] table, so no verdict ("unknown", docs/admin-api.md),
        // and usable at full weight.
        assert_eq!(entry["health"], "unknown", "{v:#}");
        assert_eq!(entry["ejected"], false, "{v:#}");
        assert_eq!(entry["effective_weight"], 1, "{v:#}");
    }
}

#[test]
fn token_guards_the_api_and_leaves_probes_and_metrics_open() {
    let a = Backend::start("a");
    let dir = TempDir::new("admin-token");
    let (lb, _) = start(&dir, &config(&[&a], "token = \"s3cret-token\""));
    let admin = lb.admin();
    for (token, want) in [
        (None, 401),
        (Some("wrong"), 401),
        (Some("s3cret-toke"), 401),
        (Some("s3cret-token!"), 401),
        (Some("s3cret-token"), 200),
    ] {
        let r = admin_call(admin, "GET", "/api/v1/pools", token, None);
        assert_eq!(r.status, want, "token {token:?}: {}", r.text());
    }
    // Changes need the token too, and a refused one changes nothing.
    let c = Backend::start("c");
    let body = format!("{{\"address\": \"{}\"}}", c.addr);
    let r = admin_call(
        admin,
        "POST",
        "/api/v1/pools/app/backends",
        None,
        Some(&body),
    );
    assert_eq!(r.status, 401, "{}", r.text());
    let r = admin_call(admin, "POST", "/api/v1/reload", Some("nope"), None);
    assert_eq!(r.status, 401, "{}", r.text());
    let v = pools_json(admin, Some("s3cret-token"));
    assert_eq!(v["pools"][0]["backends"].as_array().unwrap().len(), 1);

    for path in ["/healthz", "/ready", "/metrics"] {
        let r = admin_call(admin, "GET", path, None, None);
        assert_eq!(r.status, 200, "{path} must stay open: {}", r.text());
    }
}

#[test]
fn added_backend_takes_traffic_and_bad_additions_are_refused() {
    let (a, b, c) = (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    );
    let dir = TempDir::new("admin-add");
    let (lb, _) = start(&dir, &config(&[&a, &b], ""));
    let admin = lb.admin();

    let r = post_backend(
        admin,
        "app",
        &format!("{{\"address\": \"{}\", \"weight\": 1}}", c.addr),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let entry = backend_entry(admin, "app", &c.addr.to_string()).expect("c listed");
    assert_eq!(entry["state"], "active");
    // Round robin over three equal weights, one connection (one worker): exactly a third each.
    let seen = answers(lb.addr(), 30);
    for name in ["a", "b", "c"] {
        let n = seen.iter().filter(|s| *s == name).count();
        assert_eq!(n, 10, "{name} got {n} of 30: {seen:?}");
    }

    for (body, pool_name, want) in [
        ("{not json", "app", 400),
        ("{\"weight\": 1}", "app", 400),
        ("{\"address\": \"nope\"}", "app", 400),
        (
            &format!("{{\"address\": \"{}\", \"weight\": 0}}", b.addr) as &str,
            "app",
            400,
        ),
        (&format!("{{\"address\": \"{}\"}}", c.addr), "nosuch", 404),
        (&format!("{{\"address\": \"{}\"}}", a.addr), "app", 409),
        (&format!("{{\"address\": \"{}\"}}", c.addr), "app", 409),
    ] {
        let r = post_backend(admin, pool_name, body);
        assert_eq!(r.status, want, "POST {pool_name} {body}: {}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {}", r.text()));
        assert!(v["error"].is_string(), "{v}");
    }
    let v = pools_json(admin, None);
    assert_eq!(
        v["pools"][0]["backends"].as_array().unwrap().len(),
        3,
        "{v:#}"
    );
}

#[test]
fn deleted_backend_drains_its_inflight_request_then_disappears() {
    let a = Backend::start("a");
    let slow = Backend::start_with_delay("slow", Duration::from_millis(1500));
    let dir = TempDir::new("admin-delete");
    let (lb, _) = start(&dir, &config(&[&a, &slow], ""));
    let admin = lb.admin();
    let slow_addr = slow.addr.to_string();

    // One client keeps asking until round robin hands it the slow backend (the 2nd request at
    // the latest); that request is then in flight for 1.5 s.
    let addr = lb.addr();
    let client = std::thread::spawn(move || {
        let mut cl = Client::http1(addr);
        let mut got = Vec::new();
        for _ in 0..10 {
            let r = cl.get("test.local", "/", &[]).unwrap();
            let name = r.header("x-backend").unwrap_or_default();
            got.push((r.status.as_u16(), name.clone(), r.text()));
            if name == "slow" {
                break;
            }
        }
        got
    });
    assert!(
        wait_until(Duration::from_secs(5), || backend_field(
            admin, "app", &slow_addr, "inflight"
        ) == 1),
        "the slow backend never had a request in flight"
    );
    let r = delete_backend(admin, "app", &slow_addr);
    assert_eq!(r.status, 202, "{}", r.text());

    // Draining while its request runs: listed as such, and no new requests.
    let entry = backend_entry(admin, "app", &slow_addr).expect("draining backend still listed");
    assert_eq!(entry["state"], "draining", "{entry}");
    assert_eq!(entry["inflight"], 1, "{entry}");
    let seen = answers(lb.addr(), 20);
    assert!(seen.iter().all(|s| s == "a"), "{seen:?}");

    let got = client.join().unwrap();
    let last = got.last().unwrap();
    assert_eq!(
        (last.0, last.1.as_str(), last.2.as_str()),
        (200, "slow", "slow"),
        "the in-flight request must complete: {got:?}"
    );
    assert!(
        wait_until(Duration::from_secs(3), || backend_entry(
            admin, "app", &slow_addr
        )
        .is_none()),
        "drained backend still listed: {:#}",
        pools_json(admin, None)
    );
    assert_eq!(
        slow.request_count(),
        1,
        "the drained backend got new requests"
    );
    // Deleting it again: it is gone.
    assert_eq!(delete_backend(admin, "app", &slow_addr).status, 404);
}

#[test]
fn ipv6_backend_is_deleted_by_its_percent_encoded_address() {
    let a = Backend::start("a");
    let v6 = Backend::start_on("v6", "[::1]:0".parse().unwrap());
    let dir = TempDir::new("admin-v6");
    let (lb, _) = start(&dir, &config(&[&a], ""));
    let admin = lb.admin();
    let label = v6.addr.to_string(); // "[::1]:PORT"
    let r = post_backend(admin, "app", &format!("{{\"address\": \"{label}\"}}"));
    assert_eq!(r.status, 201, "{}", r.text());
    let seen = answers(lb.addr(), 10);
    assert!(seen.iter().any(|s| s == "v6"), "{seen:?}");

    let encoded = format!("%5B%3A%3A1%5D%3A{}", v6.addr.port());
    let r = delete_backend(admin, "app", &encoded);
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(
        wait_until(Duration::from_secs(3), || backend_entry(
            admin, "app", &label
        )
        .is_none()),
        "{:#}",
        pools_json(admin, None)
    );
    let before = v6.request_count();
    let seen = answers(lb.addr(), 10);
    assert!(seen.iter().all(|s| s == "a"), "{seen:?}");
    assert_eq!(v6.request_count(), before);
}

#[test]
fn every_change_writes_one_json_audit_line() {
    let (a, c) = (Backend::start("a"), Backend::start("c"));
    let dir = TempDir::new("admin-audit");
    let audit = dir.0.join("audit.log");
    let good = config(&[&a], &format!("audit_log = \"{}\"", audit.display()));
    let (lb, path) = start(&dir, &good);
    let admin = lb.admin();
    let add = format!("{{\"address\": \"{}\"}}", c.addr);
    let c_addr = c.addr.to_string();

    let mut expected: Vec<(&str, &str)> = Vec::new();
    let mut step = |r: Reply, want: u16, action: &'static str, result: &'static str| {
        assert_eq!(r.status, want, "{action}: {}", r.text());
        expected.push((action, result));
    };
    step(post_backend(admin, "app", &add), 201, "add_backend", "ok");
    step(
        post_backend(admin, "app", &add),
        409,
        "add_backend",
        "error",
    );
    step(
        post_backend(admin, "nosuch", &add),
        404,
        "add_backend",
        "error",
    );
    step(
        delete_backend(admin, "app", &c_addr),
        202,
        "remove_backend",
        "ok",
    );
    step(
        delete_backend(admin, "app", "127.0.0.1:1"),
        404,
        "remove_backend",
        "error",
    );
    step(
        admin_call(admin, "POST", "/api/v1/reload", None, None),
        200,
        "reload",
        "ok",
    );
    std::fs::write(&path, good.replace("round_robin", "round-robbin")).unwrap();
    step(
        admin_call(admin, "POST", "/api/v1/reload", None, None),
        400,
        "reload",
        "error",
    );

    let text = std::fs::read_to_string(&audit).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), expected.len(), "one line per change:\n{text}");
    for (line, (action, result)) in lines.iter().zip(&expected) {
        assert!(line["ts"].as_f64().is_some_and(|t| t > 1.0e9), "{line}");
        assert!(
            line["client"]
                .as_str()
                .is_some_and(|c| c.starts_with("127.0.0.1:")),
            "{line}"
        );
        assert_eq!(line["action"], *action, "{line}");
        assert!(
            line["object"].as_str().is_some_and(|o| !o.is_empty()),
            "{line}"
        );
        assert_eq!(line["result"], *result, "{line}");
    }
    assert!(
        lines[0]["object"].as_str().unwrap().contains(&c_addr),
        "{}",
        lines[0]
    );
}

#[test]
fn broken_reload_answers_400_with_the_position_and_the_old_config_keeps_serving() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let dir = TempDir::new("admin-bad-reload");
    let good = config(&[&a], "");
    let (lb, path) = start(&dir, &good);
    let admin = lb.admin();

    // The broken file would also move traffic to b, if it were ever applied.
    let broken = config(&[&b], "").replace("round_robin", "round-robbin");
    let line = broken
        .lines()
        .position(|l| l.contains("round-robbin"))
        .unwrap()
        + 1;
    std::fs::write(&path, &broken).unwrap();
    let r = admin_call(admin, "POST", "/api/v1/reload", None, None);
    assert_eq!(r.status, 400, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let err = v["error"].as_str().unwrap_or_else(|| panic!("{v}"));
    let prefix = format!("{}:{line}:", path.display());
    let at = err
        .find(&prefix)
        .unwrap_or_else(|| panic!("no {prefix} in: {err}"));
    let col: String = err[at + prefix.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(!col.is_empty(), "no column after {prefix}: {err}");
    assert!(err.contains("round-robbin"), "{err}");

    let seen = answers(lb.addr(), 5);
    assert!(seen.iter().all(|s| s == "a"), "{seen:?}");
    let m = admin_call(admin, "GET", "/metrics", None, None).text();
    assert!(
        m.lines()
            .any(|l| l == "fulcrum_config_reloads_total{result=\"error\"} 1"),
        "{m}"
    );
    assert!(
        m.lines()
            .any(|l| l == "fulcrum_config_reloads_total{result=\"ok\"} 0"),
        "{m}"
    );
}
